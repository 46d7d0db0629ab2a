"""d2l 2.2 Data preprocessing: a small CSV through pandas (dummies, mean imputation) into float64 jax.Arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import pandas as pd

from experiments.harness.result import Result, Tolerances, cli
from experiments.ch2.house_tiny import HOUSE_TINY_CSV, pandas_steps
from experiments.harness import references

SECTION = "2.2"
TITLE = "Data preprocessing"
REFERENCE = "ch2_2_preprocessing"

# No tolerance of its own: scalars compare exactly, stored tensors at compare_tree's rtol per dtype
# (experiments.harness.references.TREE_RTOL, pinned with the tables).
TOLERANCES: Tolerances = {}


def write_house_tiny(directory: Path) -> Path:
    """Writes d2l's house_tiny.csv into `directory` and returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "house_tiny.csv"
    path.write_text(HOUSE_TINY_CSV)
    return path


def preprocess(path: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.Series]:
    """Reads the CSV and runs d2l's pandas steps (house_tiny.pandas_steps): what d2l prints at each step, plus
    the final inputs frame and the targets."""
    return pandas_steps(pd.read_csv(path))


def to_arrays(inputs: pd.DataFrame, targets: pd.Series) -> tuple[jax.Array, jax.Array]:
    """The frames as jax.Arrays of float64 if 64-bit mode is on, else of float32."""
    return jnp.asarray(inputs.to_numpy(dtype=float)), jnp.asarray(targets.to_numpy(dtype=float))


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    path = write_house_tiny(result.out_dir)
    result.compare("house_tiny.csv lines", path.read_text().splitlines(), ref["csv"].splitlines())
    steps, inputs, targets = preprocess(path)
    references.compare_tree(result.compare, steps, ref)
    result.text(
        f"pandas {pd.__version__} (reference made with pandas {ref['pandas_version']}): `get_dummies` gives "
        f"{', '.join(steps['dummies']['dtypes'])} columns {steps['dummies']['columns']}; "
        f"`fillna(mean)` fills NumRooms with {steps['column_means'][0]:g}."
    )

    # torch.tensor(frame.to_numpy(dtype=float)) keeps float64. JAX keeps it only in 64-bit mode;
    # the context manager turns that mode on for this block alone.
    with jax.enable_x64(True):
        X, y = to_arrays(inputs, targets)
        references.compare_tree(result.compare, {"X": X, "y": y}, ref)
    X32, y32 = to_arrays(inputs, targets)
    references.compare_tree(result.compare, {"X": X32, "y": y32}, ref, "without x64: ")
    result.compare("64-bit mode is off again after the block", jnp.array(1.0).dtype == jnp.float32, True)
    result.text(
        "PyTorch keeps NumPy's float64. JAX computes in 32 bits unless 64-bit mode is on: without it "
        f"`jnp.asarray` of the same float64 frame silently gives {X32.dtype} (rows 'without x64'; the values "
        "survive here only because these numbers are integers below 2**24). "
        "`jax.config.update('jax_enable_x64', True)` would switch the whole process at start-up; in jax "
        f"{jax.__version__} the context manager `with jax.enable_x64(True):` (the former "
        "`jax.experimental.enable_x64`, which this version no longer has) switches it for one block, "
        "so it does not leak into other experiments run in the same process."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
