"""d2l 3.1 Linear regression: why vectorise (a Python loop over elements vs one jnp call vs jit), and the normal
density behind the squared loss, beside the stored PyTorch/NumPy values."""

from __future__ import annotations

import math
import time
from typing import Callable

import jax
import jax.numpy as jnp

from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import plotting
from experiments.harness import references

SECTION = "3.1"
TITLE = "Linear regression"
REFERENCE = "ch3_1_linear_regression"

TOLERANCES: Tolerances = {
    "density vs float64": Tolerance(rtol=5e-6, why="6.99 is rounded to float32 by ~3e-8 relative; p's relative change is "
                                                   "(x - mu) x / sigma^2 times that"),
    "density vs float32": Tolerance(rtol=1e-6, why="the same float32 formula, exp and division rounded differently"),
    "curve sum": Tolerance(rtol=1e-5, why="float32 grid points and a float32 sum of 1400 terms against NumPy's float64"),
}
REPEATS = 20


def add_elementwise(a: jax.Array, b: jax.Array) -> jax.Array:
    """d2l's loop `c[i] = a[i] + b[i]`, one element at a time; each `.at[i].set` makes a new array."""
    c = jnp.zeros_like(a)
    for i in range(a.shape[0]):
        c = c.at[i].set(a[i] + b[i])
    return c


def seconds(fn: Callable[[], jax.Array], repeats: int = 1) -> float:
    """The shortest wall time of fn() over repeats, waiting for JAX's asynchronous result each time."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def normal(x: jax.Array, mu: float, sigma: float) -> jax.Array:
    """d2l 3.1's normal density, 1 / sqrt(2 pi sigma^2) exp(-(x - mu)^2 / (2 sigma^2))."""
    p = 1 / math.sqrt(2 * math.pi * sigma**2)
    return p * jnp.exp(-0.5 * (x - mu) ** 2 / sigma**2)


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    n = ref["n"]
    a, b = jnp.ones(n), jnp.ones(n)
    loop_n = 1000 if fast else n
    start = time.perf_counter()
    looped = jax.block_until_ready(add_elementwise(a[:loop_n], b[:loop_n]))
    loop_seconds = time.perf_counter() - start
    vectorised = a + b
    add = jax.jit(jnp.add)
    jitted = add(a, b)  # the first call compiles
    result.compare(f"loop over {loop_n} elements == a + b", looped, vectorised[:loop_n])
    result.compare("jit(add)(a, b) == a + b", jitted, vectorised)
    result.compare(f"sum of a + b (n = {n})", vectorised.sum(), ref["vector_sum"])

    torch_loop = ref["timing"]["loop_seconds"]
    rows = [
        f"| method (n = {n}) | jaxdl seconds | PyTorch seconds (stored) |",
        "|---|---|---|",
        f"| Python loop, `c.at[i].set(a[i] + b[i])`{' (1000 elements)' if fast else ''} | {loop_seconds:.4g} | "
        f"{torch_loop:.4g} (`c[i] = a[i] + b[i]`) |",
        f"| `a + b` | {seconds(lambda: a + b, REPEATS):.3g} | {ref['timing']['vector_seconds']:.3g} |",
        f"| `jax.jit(jnp.add)(a, b)`, compiled | {seconds(lambda: add(a, b), REPEATS):.3g} | |",
    ]
    result.text(
        "\n".join(rows) + "\n\nThe loop pays Python and dispatch overhead per element, and in JAX also a copy of "
        "the whole array per `.at[i].set` (arrays are immutable), so it is slower still than PyTorch's in-place "
        "loop. One vectorised call does all 10000 additions at once. Times are the best of "
        f"{REPEATS} calls (one for the loop); they vary from machine to machine and run to run."
    )

    grid = ref["x_grid"]
    x = jnp.arange(grid["start"], grid["stop"], grid["step"])
    points = jnp.asarray(ref["points"], jnp.float32)
    result.compare("size of the grid np.arange(-7, 7, 0.01)", x.shape[0], grid["size"])
    curves, legend = [], []
    for name, d in ref["densities"].items():
        mu, sigma = d["mu"], d["sigma"]
        ours = normal(points, mu, sigma)
        # 6.99 is rounded to float32 by ~3e-8 relative; p's relative change is (x - mu) x / sigma^2 times that.
        result.compare(f"p(x) {name} at {len(points)} points vs NumPy float64", ours, d["numpy_float64"], tol=TOLERANCES["density vs float64"])
        result.compare(f"p(x) {name} vs torch Normal.log_prob().exp()", ours, d["torch_float32"], tol=TOLERANCES["density vs float32"])
        result.compare(f"p(x) {name} vs jax.scipy.stats.norm.pdf", ours,
                       jax.scipy.stats.norm.pdf(points, mu, sigma), tol=TOLERANCES["density vs float32"])
        curve = normal(x, mu, sigma)
        # float32 grid points and a float32 sum of 1400 terms: agree with NumPy's float64 to ~1e-6.
        result.compare(f"sum of p(x) dx over the grid, {name}", curve.sum() * grid["step"], d["curve_sum_times_dx"],
                       tol=TOLERANCES["curve sum"])
        curves.append(curve)
        legend.append(f"mean {mu:g}, std {sigma:g}")
    axes = plotting.plot(x, curves, xlabel="x", ylabel="p(x)", figsize=(4.5, 2.5), legend=legend)
    result.save_figure(axes.figure, "normal_densities.png")
    result.text(
        "Changing the mean shifts the density along x; a larger standard deviation spreads it out and lowers its "
        "peak. Maximising the likelihood of y under Gaussian noise, -log p(y | x) = (y - w^T x - b)^2 / (2 sigma^2) "
        "+ const, is minimising the squared loss."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
