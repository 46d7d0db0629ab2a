"""What every experiment module shares: its result record, its command line, and its tolerance table.

Tolerances and band margins are decisions, so each experiment module keeps all of its own in ONE
module-level table, ``TOLERANCES: dict[str, Tolerance | Margin]``, next to SECTION, TITLE and REFERENCE:

* ``Tolerance(rtol=..., atol=..., why=...)`` for a comparison row, |ours - ref| <= atol + rtol |ref|
  (pass it as ``result.compare(..., tol=TOLERANCES["name"])``);
* ``Margin(value, why=...)`` for a number that sets a band or a tolerance by a rule (how far a band of
  PyTorch seeds is widened, how many standard errors a statistical bound spans, an atol scale).

Every entry says why it has its value. A module whose comparisons are all exact has ``TOLERANCES = {}``.
tests/harness/test_tolerances.py finds every experiment module, requires the table and pins each value, and the
table of tolerances in docs/proof.md is generated from these tables (``python -m experiments.harness.tolerances --write``),
so loosening one is a visible, reviewed change: never loosen one to make a run pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import matplotlib
import numpy as np

import experiments

matplotlib.use("Agg")  # experiments save figures to files; never open windows

from experiments.harness import references  # noqa: E402
from jaxdl.files import OutputError, check_writable_dir  # noqa: E402
from jaxdl.compilation_cache import enable_compilation_cache  # noqa: E402
from jaxdl.plotting import save_figure  # noqa: E402
from experiments.harness.references import Comparison  # noqa: E402

enable_compilation_cache()  # every experiment reuses programs compiled by earlier runs (opt out: JAXDL_NO_COMPILATION_CACHE=1)


def use_every_core() -> None:
    """Asks JAX for one CPU device per core, so that fit_many trains models on the cores side by side.

    XLA splits each matrix product of one model over the cores; the MLPs' 256 x 784 x 256 products run at
    about 75% of the cores' peak that way, and a core each for separate models does better (the benchmark
    measures it). Called by the command lines before JAX starts; a device count the user chose
    (XLA_FLAGS, JAX_NUM_CPU_DEVICES) is kept, and once JAX has run something the devices stay as they are.
    """
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "") or "JAX_NUM_CPU_DEVICES" in os.environ:
        return
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
    except RuntimeError:  # JAX has started (a notebook, a test): its devices are fixed now
        pass


def model_devices(n_models: int) -> int | None:
    """fit_many's devices= for n models: the most local devices that share them evenly (None for one)."""
    import jax

    count = max(d for d in range(1, jax.local_device_count() + 1) if n_models % d == 0)
    return count if count > 1 else None


@dataclass(frozen=True)
class Tolerance:
    """How far a jaxdl number may lie from PyTorch's: |ours - ref| <= atol + rtol * |ref|, and why."""

    rtol: float = 0.0
    atol: float = 0.0
    why: str = ""

    def __post_init__(self) -> None:
        references.check_tolerances(self.rtol, self.atol)
        if not self.why.strip():
            raise ValueError("a Tolerance needs its reason (why=...)")


@dataclass(frozen=True)
class Margin:
    """A number that sets a band or a tolerance by a rule (a band's widening, a count of standard errors), and why."""

    value: float
    why: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.value, (int, float)) and self.value >= 0 and self.value == self.value):
            raise ValueError(f"a Margin must be a number >= 0, got {self.value!r}")
        if not self.why.strip():
            raise ValueError("a Margin needs its reason (why=...)")


Tolerances = dict[str, "Tolerance | Margin"]


@dataclass
class Result:
    """What one experiment produced: comparison rows, markdown text blocks and saved figures."""

    section: str
    title: str
    out_dir: Path
    comparisons: list[Comparison] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def compare(self, quantity: str, ours: Any, reference: Any, *, rtol: float = 0.0, atol: float = 0.0,
                tol: Tolerance | None = None) -> Comparison:
        """Adds one jaxdl-vs-PyTorch comparison row (the table is printed when the experiment ends); tol, an
        entry of the module's TOLERANCES table, gives rtol and atol."""
        if tol is not None:
            if rtol or atol:
                raise ValueError(f"{quantity!r}: give tol= or rtol=/atol=, not both")
            rtol, atol = tol.rtol, tol.atol
        row = references.compare(quantity, ours, reference, rtol=rtol, atol=atol)
        self.comparisons.append(row)
        return row

    def within(self, quantity: str, value: float, low: float, high: float, reference: str | None = None) -> Comparison:
        """Adds a row that checks a measured value against a band of PyTorch runs."""
        row = references.within(quantity, value, low, high, reference)
        self.comparisons.append(row)
        return row

    def within_mean(self, quantity: str, values: Any, low: float, high: float, reference: str) -> Comparison:
        """Adds a band row decided by the mean of several runs' values (the book rule), the reference noting
        how many of the runs lie inside the band alone."""
        values = np.asarray(values)
        inside = int(((values >= low) & (values <= high)).sum())
        return self.within(quantity, float(values.mean()), low, high,
                           reference=f"{reference}; keys inside alone: {inside}/{len(values)}")

    def text(self, block: str) -> None:
        """Adds a markdown block (a sentence, a table of measured numbers) and prints it."""
        self.blocks.append(block)
        print(block, flush=True)

    def save_figure(self, fig: Any, name: str) -> Path:
        """Saves a matplotlib figure as PNG in the experiment's output directory."""
        import matplotlib.pyplot as plt

        path = save_figure(fig, self.out_dir / name)
        plt.close(fig)
        self.figures.append(path)
        print(f"saved figure {path}", flush=True)
        return path

    @property
    def passed(self) -> bool:
        """True when every comparison row passed; an experiment that compared nothing proves nothing and fails."""
        return bool(self.comparisons) and all(c.passed for c in self.comparisons)


RunFn = Callable[[Result, bool], None]


def execute(section: str, title: str, run: RunFn, out_dir: Path, fast: bool = False) -> Result:
    """Runs one experiment body, timing it and printing its comparison table."""
    result = Result(section=section, title=title, out_dir=Path(out_dir))
    print(f"== {section} {title}", flush=True)
    start = time.perf_counter()
    run(result, fast)
    result.seconds = time.perf_counter() - start
    if result.comparisons:
        print(references.format_table(result.comparisons), flush=True)
    n_ok = sum(c.passed for c in result.comparisons)
    print(f"{section}: {n_ok}/{len(result.comparisons)} comparisons passed in {result.seconds:.1f} s", flush=True)
    return result


def cli(section: str, title: str, run: RunFn, argv: list[str] | None = None) -> None:
    """The command line of one experiment module: `python -m experiments.<module> [--fast] [--out DIR]`."""
    parser = argparse.ArgumentParser(description=f"d2l {section}: {title}")
    parser.add_argument("--fast", action="store_true", help="a quick run on less data (used by the tests)")
    parser.add_argument("--out", type=Path, help="where to save figures (default runs/<module>)")
    args = parser.parse_args(argv)
    use_every_core()
    # Named after the module, not the section: a section and its exercises share a section number.
    module = run.__module__ if run.__module__ != "__main__" else Path(sys.argv[0]).stem
    try:
        out = check_writable_dir(args.out or Path("runs") / module.split(".")[-1])
    except OutputError as err:
        parser.error(str(err))  # exits with status 2 before the experiment runs
    experiments.start_work()  # until here a Ctrl-C ends the process at once (experiments/__init__.py)
    try:
        result = execute(section, title, run, out, fast=args.fast)
    except KeyboardInterrupt:
        print(f"interrupted; {section} did not finish (figures so far are in {out})", file=sys.stderr, flush=True)
        sys.exit(130)
    if experiments.interrupted():  # a Ctrl-C that something caught and carried on from
        print(f"interrupted; {section} did not finish as run (figures are in {out})", file=sys.stderr, flush=True)
        sys.exit(130)
    sys.exit(0 if result.passed else 1)
