"""What d2l 5.1's activations share with its exercises: the grid, pReLU and the comparison of an activation and
its derivative with PyTorch's (a support module, not an experiment)."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from experiments.harness.result import Result, Tolerance

GRID = (-8.0, 8.0, 0.1)  # d2l: x = torch.arange(-8.0, 8.0, 0.1)

# 5.1's "values" entry (its TOLERANCES table holds it), the default of compare_activation
VALUES = Tolerance(rtol=1e-6, atol=1e-7, why="a float32 function evaluated by two libraries may differ in its "
                   "last bits (ulp ~ 6e-8 relative)")
VALUE_TOL = VALUES


def prelu(x: jax.Array, alpha: float | jax.Array) -> jax.Array:
    """pReLU(x) = max(0, x) + alpha min(0, x): jax.nn.leaky_relu, whose slope may be a traced (learnable) value."""
    return jax.nn.leaky_relu(x, alpha)


def grid() -> jax.Array:
    """d2l's x: jnp.arange(-8.0, 8.0, 0.1) in float32."""
    return jnp.arange(*GRID)


def value_and_derivative(f: Callable[[jax.Array], jax.Array], x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """f(x) and f'(x) at every point of x: jax.value_and_grad of the scalar function, vmapped over x.

    PyTorch gets the same derivative as y.backward(torch.ones_like(x)) because each y_i depends on x_i only.
    """
    return jax.vmap(jax.value_and_grad(f))(x)


def prelu_alpha_gradient(x: jax.Array, alpha: float) -> jax.Array:
    """d/d alpha of sum_i pReLU(x_i, alpha) = sum_i min(0, x_i): what PyTorch accumulates in the slope's .grad."""
    return jax.grad(lambda a: prelu(x, a).sum())(jnp.float32(alpha))


def compare_activation(result: Result, name: str, f: Callable, x_ref: jax.Array, ref: dict[str, Any],
                       tolerances: tuple[Tolerance, Tolerance] = (VALUE_TOL, VALUE_TOL)) -> None:
    """Values and derivatives of f on PyTorch's own grid against the stored ones."""
    y, dy = value_and_derivative(f, x_ref)
    result.compare(f"{name}(x)", y, ref["y"], tol=tolerances[0])
    result.compare(f"d {name}(x) / dx", dy, ref["grad"], tol=tolerances[1])
