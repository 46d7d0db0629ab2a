"""d2l 5.1 exercises: pReLU for several slopes and Swish x * sigmoid(x), with their derivatives, beside PyTorch."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt

from experiments.ch5.activations import compare_activation, grid, prelu, prelu_alpha_gradient, value_and_derivative
from experiments.harness.result import Margin, Result, Tolerance, Tolerances, cli
from jaxdl import plotting
from experiments.harness import references

SECTION = "5.1"
TITLE = "Multilayer perceptrons: exercises"
REFERENCE = "ch5_1_mlp_exercises"

TOLERANCES: Tolerances = {
    "grad alpha": Tolerance(rtol=1e-6, why="a float32 sum of x over the negative grid points, in another order"),
    "swish'(x_min)": Tolerance(atol=1e-6, why="the minimiser is found to float32 precision; swish'' ~ 1/2 there"),
    "swish grid": Margin(0.5 * 0.5 * 0.05**2, why="a grid point lies within 0.05 of the minimum and swish'' <= 1/2, so "
                                                 "the lowest grid value is at most 0.5 * 0.5 * 0.05^2 above the minimum"),
}

ALPHAS = (0.1, 0.2, 0.5)


def swish(x: jax.Array) -> jax.Array:
    """Swish with beta = 1, x * sigmoid(x): jax.nn.swish (also named silu)."""
    return jax.nn.swish(x)


def swish_minimum(x0: float = -1.0, steps: int = 8) -> tuple[jax.Array, jax.Array]:
    """Where Swish is lowest: Newton's method on swish'(x) = 0, with both derivatives from jax.grad."""
    d1 = jax.grad(swish)
    d2 = jax.grad(d1)

    def newton(x, _):
        return x - d1(x) / d2(x), None

    x, _ = jax.lax.scan(newton, jnp.float32(x0), None, length=steps)
    return x, swish(x)


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    x, x_ref = grid(), jnp.asarray(ref["x"], jnp.float32)

    fig, (ax_y, ax_dy) = plt.subplots(1, 2, figsize=(7, 2.5))
    curves = []
    for alpha, theirs in zip(ALPHAS, ref["prelu"]):
        result.compare(f"pReLU slope {alpha:g}", alpha, theirs["alpha"])
        f = partial(prelu, alpha=alpha)
        compare_activation(result, f"pReLU_{alpha:g}", f, x_ref, theirs)
        result.compare(f"d sum pReLU(x, {alpha:g}) / d alpha", prelu_alpha_gradient(x_ref, alpha),
                       theirs["grad_alpha"], tol=TOLERANCES["grad alpha"])
        curves.append(value_and_derivative(f, x))
    legend = [f"alpha={a:g}" for a in ALPHAS]
    plotting.plot(x, [y for y, _ in curves], "x", "pReLU(x)", legend=legend, axes=ax_y)
    plotting.plot(x, [dy for _, dy in curves], "x", "grad of pReLU", legend=legend, axes=ax_dy)
    fig.tight_layout()
    result.save_figure(fig, "prelu_alphas.png")

    compare_activation(result, "swish", swish, x_ref, ref["swish"])
    y, dy = value_and_derivative(swish, x)
    relu_y, relu_dy = value_and_derivative(jax.nn.relu, x)
    fig, (ax_y, ax_dy) = plt.subplots(1, 2, figsize=(7, 2.5))
    plotting.plot(x, [y, relu_y], "x", "f(x)", legend=["swish", "relu"], axes=ax_y)
    plotting.plot(x, [dy, relu_dy], "x", "f'(x)", legend=["swish", "relu"], axes=ax_dy)
    fig.tight_layout()
    result.save_figure(fig, "swish.png")

    x_min, y_min = swish_minimum()
    i = int(jnp.argmin(jnp.asarray(ref["swish"]["y"])))
    lowest = ref["swish"]["y"][i]
    # A grid point lies within 0.05 of the minimum and swish'' <= 1/2, so the lowest grid value is at most
    # 0.5 * 0.5 * 0.05^2 above the true minimum.
    result.compare("swish'(x_min) = 0", jax.grad(swish)(x_min), 0.0, tol=TOLERANCES["swish'(x_min)"])
    result.within("swish minimum vs PyTorch's lowest grid value", float(y_min), lowest - TOLERANCES["swish grid"].value,
                  lowest, reference=f"{lowest:.6g} at x = {ref['x'][i]:.2f}")
    result.text(
        f"pReLU's derivative is 1 for x > 0 and alpha for x < 0 (rows above, for alpha = "
        f"{', '.join(f'{a:g}' for a in ALPHAS)}); its derivative with respect to the slope is min(0, x), so "
        "alpha can be learnt like a weight. Swish, x * sigmoid(x) (`jax.nn.swish`), is smooth and not "
        f"monotonic: Newton's method on swish'(x) = 0, both derivatives from `jax.grad`, puts its minimum at "
        f"x = {float(x_min):.6f}, swish = {float(y_min):.6f} (PyTorch's grid has its lowest value "
        f"{lowest:.6f} at x = {ref['x'][i]:.2f}). For large |x| it behaves like ReLU, with "
        "derivative tending to 1 on the right and 0 on the left, but its derivative is negative left of the "
        f"minimum (lowest {float(dy.min()):.4f} at x = {float(x[jnp.argmin(dy)]):.1f}) and overshoots 1 "
        f"(highest {float(dy.max()):.4f} at x = {float(x[jnp.argmax(dy)]):.1f})."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
