"""d2l 6.4 Lazy initialization: a jaxdl model holds no parameters until init meets an input shape; the shapes are
traced with jax.eval_shape (no arithmetic, nothing allocated) and equal PyTorch's LazyLinear shapes."""

from __future__ import annotations

import time

import jax
import numpy as np

from experiments.ch6 import modules
from experiments.harness import references
from experiments.harness.result import Result, Tolerances, cli
from jaxdl import nn

SECTION = "6.4"
TITLE = "Lazy initialization"
REFERENCE = "ch6_4_lazy_init"

TOLERANCES: Tolerances = {}  # shapes and names: exact
HUGE = 100_000  # a Linear(HUGE) on HUGE inputs: 1e10 parameters, 40 GB in float32


def net() -> nn.Layer:
    """d2l's nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))."""
    return nn.serial(nn.linear(256, sigma=None), nn.relu(), nn.linear(10, sigma=None))


def shape_rows(params: object) -> list[list]:
    """[[name, shape]] in named_parameters() order."""
    return [[name, list(shape)] for name, shape in modules.shapes_of(params)]


def show(rows: list[list]) -> str:
    return ", ".join(f"{name} {shape}" for name, shape in rows)


def run(result: Result, fast: bool) -> None:
    del fast
    ref = references.load(REFERENCE)
    model = net()
    arrays = [leaf for leaf in jax.tree.leaves(model) if isinstance(leaf, (jax.Array, np.ndarray))]
    uninitialized = sum(shape == "uninitialized" for _, shape in ref["before"])
    result.compare("before any input: [arrays the jaxdl model holds, torch's parameters 'uninitialized']",
                   [len(arrays), uninitialized], [0, len(ref["after"])])
    shape = tuple(ref["input_shape"])
    traced = nn.param_shapes(model, shape)
    kinds = {type(leaf).__name__ for leaf in jax.tree.leaves(traced)}
    result.compare("param_shapes(model, (2, 20)): ShapeDtypeStructs only, nothing drawn", sorted(kinds),
                   ["ShapeDtypeStruct"])
    result.compare("param_shapes = torch's shapes after net(X)", show(shape_rows(traced)), show(ref["after"]))
    params = nn.init(model, jax.random.key(64), shape)[0]
    result.compare("nn.init(model, key, (2, 20)): shapes = torch's after net(X)", show(shape_rows(params)),
                   show(ref["after"]))
    start = time.perf_counter()
    huge = nn.param_shapes(nn.serial(nn.linear(HUGE, sigma=None)), (1, HUGE))
    seconds = time.perf_counter() - start
    result.compare(f"param_shapes of Linear({HUGE}) on {HUGE} inputs (40 GB if drawn)", list(huge[0]["W"].shape),
                   [HUGE, HUGE])
    result.text(
        "Before any input, d2l's LazyLinear holds `<UninitializedParameter>`s:\n\n"
        f"    torch, before net(X): {show(ref['before'])}\n    torch, after net(X):  {show(ref['after'])}\n\n"
        "A jaxdl model holds no parameters at all, before or after: it is a pair of functions "
        f"({len(arrays)} arrays in it), and `init(key, input_shape)` returns new parameters sized by the input "
        "shape, as LazyLinear's first call does. `nn.param_shapes(model, (2, 20))` traces that init with "
        "`jax.eval_shape` and gives the shapes without drawing a number:\n\n"
        f"    jaxdl, param_shapes:  {show(shape_rows(traced))}\n    jaxdl, after init:    "
        f"{show(shape_rows(params))}\n\n"
        f"Nothing is computed or allocated: the shapes of a Linear({HUGE}) on {HUGE} inputs (1e10 parameters, "
        f"40 GB in float32) came back in {seconds * 1000:.0f} ms on this machine. That is how "
        "`jaxdl.state_dict.shapes` builds the `like` tree a saved file is checked against."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
