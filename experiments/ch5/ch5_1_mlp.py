"""d2l 5.1 Multilayer perceptrons: ReLU, sigmoid, tanh and pReLU with their derivatives, beside PyTorch's autograd."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import plotting
from experiments.harness import references
from experiments.ch5.activations import (
    VALUES,
    compare_activation,
    grid,
    prelu,
    prelu_alpha_gradient,
    value_and_derivative,
    VALUE_TOL,
)

SECTION = "5.1"
TITLE = "Multilayer perceptrons"
REFERENCE = "ch5_1_mlp"

TOLERANCES: Tolerances = {
    "values": VALUES,
    "tanh": Tolerance(rtol=1e-6, atol=2.5e-7, why="XLA's float32 tanh is a fast approximation that can be 2 ulp of 1.0 "
                                                  "(2.4e-7) away from PyTorch's near |tanh| = 1"),
    "tanh grad": Tolerance(rtol=1e-6, atol=5e-7, why="1 - tanh^2 turns tanh's 2.4e-7 into up to 2 * 2.4e-7 absolute"),
    "grid": Tolerance(atol=2e-6, why="float32 arange: each library rounds start + i * step its own way, so the grids "
                                  "differ by an ulp or two of 8 (9.5e-7 each)"),
    "grad alpha": Tolerance(rtol=1e-6, why="a float32 sum over the negative grid points, in another order"),
}

PRELU_ALPHA = 0.25  # nn.PReLU's initial slope

TANH_TOL = (TOLERANCES["tanh"], TOLERANCES["tanh grad"])


def activations() -> dict[str, Callable[[jax.Array], jax.Array]]:
    """The activations of d2l 5.1.2 as scalar functions."""
    return {
        "relu": jax.nn.relu,
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "prelu": partial(prelu, alpha=PRELU_ALPHA),
    }


def plot_with_derivative(x: jax.Array, y: jax.Array, dy: jax.Array, name: str) -> Any:
    """d2l's pair of plots: the activation and its gradient over x."""
    fig, (ax_y, ax_dy) = plt.subplots(1, 2, figsize=(7, 2.5))
    plotting.plot(x, y, "x", f"{name}(x)", axes=ax_y)
    plotting.plot(x, dy, "x", f"grad of {name}", axes=ax_dy)
    fig.tight_layout()
    return fig


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    x = grid()
    x_ref = jnp.asarray(ref["x"], jnp.float32)
    # float32 arange: each library rounds start + i * step its own way, so the grids differ by an ulp or two.
    result.compare("x = arange(-8, 8, 0.1)", x, ref["x"], tol=TOLERANCES["grid"])
    for name, f in activations().items():
        compare_activation(result, name, f, x_ref, ref[name], TANH_TOL if name == "tanh" else (VALUE_TOL, VALUE_TOL))
        y, dy = value_and_derivative(f, x)
        result.save_figure(plot_with_derivative(x, y, dy, name), f"{name}.png")
    result.compare(
        f"d sum pReLU(x, alpha={PRELU_ALPHA}) / d alpha", prelu_alpha_gradient(x_ref, PRELU_ALPHA),
        ref["prelu"]["grad_alpha"], tol=TOLERANCES["grad alpha"],
    )

    i0 = int(np.argmin(np.abs(np.asarray(x))))
    _, relu_at_zero = value_and_derivative(jax.nn.relu, x[i0 : i0 + 1])
    _, relu_at_torch = value_and_derivative(jax.nn.relu, x_ref[i0 : i0 + 1])
    result.text(
        "All four derivatives come from one line, `jax.vmap(jax.value_and_grad(f))(x)`: the derivative of the "
        "scalar function, mapped over the grid. d2l gets them with `y.backward(torch.ones_like(x))`, a "
        "vector-Jacobian product that equals the elementwise derivative because each output depends on one "
        "input only. The comparisons run on PyTorch's own grid: `jnp.arange(-8.0, 8.0, 0.1)` and "
        "`torch.arange` round start + i * step differently in float32, and the grid point near zero shows why "
        f"that matters: jaxdl's is x = {float(x[i0]):.3g}, where ReLU's derivative is {float(relu_at_zero[0]):g} "
        f"(JAX, like PyTorch, takes 0 at the kink), while PyTorch's is x = {float(x_ref[i0]):.3g} > 0, where "
        f"it is {float(relu_at_torch[0]):g}."
    )
    tanh_y, tanh_dy = value_and_derivative(jnp.tanh, x_ref)
    worst = int(np.argmax(np.abs(np.asarray(tanh_y) - np.asarray(ref["tanh"]["y"]))))
    result.text(
        "tanh is the one activation whose float32 values differ: XLA's CPU tanh is a fast approximation that "
        f"reaches +-1 sooner than PyTorch's. The largest gap is at x = {ref['x'][worst]:.1f}: tanh = "
        f"{float(tanh_y[worst]):.8f} (JAX) against {ref['tanh']['y'][worst]:.8f} (PyTorch) and "
        f"{np.tanh(ref['x'][worst]):.8f} (float64), "
        f"{abs(float(tanh_y[worst]) - ref['tanh']['y'][worst]) / np.spacing(np.float32(1)):.0f} ulp of 1.0 apart, "
        f"and the derivative 1 - tanh^2 there is {float(tanh_dy[worst]):.3g} against "
        f"{ref['tanh']['grad'][worst]:.3g}: the absolute tolerance of these two rows is that size."
    )
    result.text(
        "pReLU uses `jax.nn.leaky_relu(x, alpha)`: the slope is an ordinary argument, so `jax.grad` with "
        "respect to it gives the gradient PyTorch accumulates in `nn.PReLU`'s weight, the sum of min(0, x) "
        "over the inputs."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
