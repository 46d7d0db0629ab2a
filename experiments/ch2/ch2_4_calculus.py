"""d2l 2.4 Calculus: difference quotients of 3x^2 - 4x tending to jax.grad's derivative, and the tangent, vs PyTorch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike

from experiments.harness.result import Margin, Result, Tolerance, Tolerances, cli
from experiments.harness import references

SECTION = "2.4"
TITLE = "Calculus"
REFERENCE = "ch2_4_calculus"

TOLERANCES: Tolerances = {
    "jit quotient atol * h": Margin(2**-22, why="jit fuses 3x^2 - 4x and rounds once: f(1 + h) moves by less than "
                                     "2^-22 (half an ulp of ~3 plus the final rounding); the quotient divides that by h"),
    "float64 quotients": Tolerance(rtol=1e-9, why="the quotient of a quadratic is exactly 2 + 3h; float64 loses about eps / h"),
    "linspace": Tolerance(rtol=float(np.finfo(np.float32).eps), why="t = i/10 is rounded to float32, so points move by about eps |x|"),
    "grad at linspace": Tolerance(rtol=1e-6, why="6x - 4 at float32 points that differ from torch's by up to eps |x|"),
}

STEPS = 10.0 ** np.arange(-1, -6, -1)  # h = 0.1, 0.01, ..., 1e-5 as in d2l
GRID = (-2.0, 3.0, 11)  # where the derivative is taken: linspace(-2, 3, 11)


def f(x: ArrayLike) -> ArrayLike:
    """d2l's example function 3x^2 - 4x (works on Python floats, NumPy and JAX arrays)."""
    return 3 * x**2 - 4 * x


def difference_quotient(x: ArrayLike, h: ArrayLike) -> ArrayLike:
    """(f(x + h) - f(x)) / h, in whatever precision x and h carry."""
    return (f(x + h) - f(x)) / h


def tangent(x0: float) -> tuple[jax.Array, jax.Array]:
    """Slope and intercept of the tangent to f at x0, the slope from jax.grad."""
    slope = jax.grad(f)(jnp.float32(x0))
    return slope, f(jnp.float32(x0)) - slope * x0


def plot_tangent(x0: float, slope: float, intercept: float) -> plt.Figure:
    """d2l's figure: f and its tangent line at x0 on [0, 3)."""
    x = np.arange(0, 3, 0.1)
    fig, ax = plt.subplots(figsize=(3.5, 2.5))
    ax.plot(x, f(x), "-", label="f(x)")
    ax.plot(x, slope * x + intercept, "m--", label=f"Tangent line (x={x0:g})")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend()
    ax.grid(True)
    return fig


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    torch64, torch32 = (np.asarray(ref[f"quotients_{t}"]["values"]) for t in ("float64", "float32"))
    x0 = ref["x0"]
    result.compare("steps h = 1e-1 ... 1e-5", STEPS, ref["steps"])

    limits_py = np.array([difference_quotient(x0, h) for h in STEPS])  # Python floats, as the book computes
    with jax.enable_x64(True):
        limits64 = np.asarray(difference_quotient(jnp.float64(x0), jnp.asarray(STEPS, jnp.float64)))
    h32 = jnp.asarray(STEPS, jnp.float32)
    limits32 = difference_quotient(jnp.float32(x0), h32)
    fused32 = jax.jit(difference_quotient)(jnp.float32(x0), h32)
    # The same IEEE operations in the same order give the same bits, so these compare exactly.
    result.compare("Python-float quotients (the book's) vs torch float64", limits_py, torch64)
    result.compare("jnp float64 quotients (enable_x64) vs torch float64", limits64, torch64)
    result.compare("jnp float32 quotients vs torch float32", limits32, torch32)
    # jit fuses f into one kernel that rounds 3x^2 - 4x once: f(1 + h) may move by half an ulp of 3x^2 ~ 3
    # plus the final rounding, less than 2^-22 in all, and the quotient divides that by h.
    for h, ours, theirs in zip(STEPS, fused32, torch32):
        result.compare(f"jit float32 quotient, h={h:.0e}, vs torch", ours, theirs, atol=TOLERANCES["jit quotient atol * h"].value / h)
    # The difference quotient of a quadratic is exactly 2 + 3h; float64 loses about eps / h of it.
    result.compare("float64 difference quotients vs 2 + 3h", limits_py, 2 + 3 * STEPS, tol=TOLERANCES["float64 quotients"])

    derivative = jax.grad(f)(jnp.float32(x0))
    result.compare("jax.grad(f)(1.0) vs torch x.grad", derivative, ref["grad_at_1"]["values"])
    result.compare("jax.grad(f)(1.0) vs 6x - 4 = 2", derivative, 2.0)
    torch_xs = jnp.asarray(ref["xs"]["values"], jnp.float32)
    xs = jnp.linspace(*GRID)
    # t = i/10 is rounded to float32, so points can move by about eps * |x|.
    result.compare("jnp.linspace(-2, 3, 11) vs torch.linspace", xs, torch_xs, tol=TOLERANCES["linspace"])
    grad_f = jax.vmap(jax.grad(f))
    result.compare("vmap(grad(f)) at torch's xs vs torch xs.grad", grad_f(torch_xs), ref["grad_at_xs"]["values"])
    result.compare("vmap(grad(f)) at jnp.linspace vs torch xs.grad", grad_f(xs), ref["grad_at_xs"]["values"], tol=TOLERANCES["grad at linspace"])
    result.compare("vmap(grad(f)) on [-2, 3] vs 6x - 4", grad_f(xs), 6 * np.asarray(xs) - 4, tol=TOLERANCES["grad at linspace"])
    slope, intercept = tangent(x0)
    result.compare("tangent at x=1: intercept vs torch", intercept, ref["tangent_intercept"]["values"])
    result.compare("tangent at x=1: intercept f(1) - f'(1) = -3", intercept, -3.0)

    rows = [
        "| h | float64 (Python, = torch) | float32, JAX eager | float32, torch | float32, JAX under jit |",
        "|---|---|---|---|---|",
    ]
    rows += [
        f"| {h:.0e} | {a:.7f} | {b:.7f} | {c:.7f} | {d:.7f} |"
        for h, a, b, c, d in zip(STEPS, limits_py, limits32, torch32, fused32)
    ]
    moved = np.flatnonzero(np.asarray(fused32) != torch32)
    off_grid = np.flatnonzero(np.asarray(xs) != np.asarray(torch_xs))
    result.text(
        "\n".join(rows)
        + "\n\nIn float64 (the book's Python floats) the quotient approaches 2 as 2 + 3h. In float32, "
        "f(1 + h) - f(1) cancels almost all digits of two numbers near -1, so the quotient loses accuracy as "
        f"h shrinks (at h = 1e-5 it is {float(limits32[-1]):.5f}). `jax.grad` differentiates the program exactly: "
        "6x - 4 with no step size and no cancellation.\n\n"
        "Op by op, JAX and PyTorch run the same IEEE operations in the same order, so their quotients agree bit for "
        "bit in both precisions. Under `jax.jit` XLA fuses f into one kernel that rounds 3x^2 - 4x once instead of "
        "twice (a fused multiply-add); f(1 + h) can move by about 1e-7, and dividing by h magnifies that: here the "
        f"jit quotient differs from torch's at h = {', '.join(f'{STEPS[i]:.0e}' for i in moved) or 'no step'}. "
        "Those rows allow 2^-22 / h (one ulp of 3x^2 near 3, divided by h).\n\n"
        "The grid differs too: `jnp.linspace` computes start * (1 - t) + stop * t with t = i/10 rounded to float32, "
        "`torch.linspace` adds multiples of the step 0.5 to an end point, exact here. "
        f"{len(off_grid)} of the 11 points differ, each by at most eps * |x| (torch -> JAX: "
        f"{', '.join(f'{float(torch_xs[i]):g} -> {float(xs[i]):.9g}' for i in off_grid)}); "
        "at the same points the gradients agree exactly."
    )
    result.save_figure(plot_tangent(x0, float(slope), float(intercept)), "tangent_line.png")


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
