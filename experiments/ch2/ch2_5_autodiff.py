"""d2l 2.5 Automatic differentiation: jax.grad, jax.vjp and stop_gradient against PyTorch's backward()."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness.result import Result, Tolerance, Tolerances, cli
from experiments.harness import references
from experiments.ch2.common import control_flow

SECTION = "2.5"
TITLE = "Automatic differentiation"
REFERENCE = "ch2_5_autodiff"

TOLERANCES: Tolerances = {
    "control flow": Tolerance(rtol=1e-6, why="float32 values from loops of doublings; a few ulp apart at most"),
    "d2 cubic": Tolerance(rtol=1e-6, atol=1e-6, why="6x in float32 through two reverse passes; atol for x near 0"),
    "d2 sin": Tolerance(rtol=1e-6, atol=1e-7, why="-sin(x) in float32 against NumPy's float64; atol near sin's zeros"),
}


def two_dot(x: jax.Array) -> jax.Array:
    """y = 2 x.x, whose gradient is 4x."""
    return 2 * jnp.dot(x, x)


def square(x: jax.Array) -> jax.Array:
    """y = x * x, a vector-valued function."""
    return x * x


def detached_product(x: jax.Array) -> jax.Array:
    """z = u * x with u = x * x treated as a constant (PyTorch's y.detach())."""
    u = jax.lax.stop_gradient(x * x)
    return u * x


def gradients(x: jax.Array) -> dict[str, Any]:
    """2.5.1-2.5.3: the gradients d2l takes with backward(), as functions of x."""
    y, grad_y = jax.value_and_grad(two_dot)(x)
    grad_sum = jax.grad(jnp.sum)(x)
    # Non-scalar y: backward(gradient=ones) is a vector-Jacobian product with a ones cotangent ...
    y_sq, pullback = jax.vjp(square, x)
    (vjp_ones,) = pullback(jnp.ones_like(y_sq))
    # ... which equals the gradient of y.sum().
    grad_sq_sum = jax.grad(lambda x: square(x).sum())(x)
    grad_detached = jax.grad(lambda x: detached_product(x).sum())(x)
    u = x * x
    return {
        "x": x,
        "y_2_dot_xx": y,
        "grad_2_dot_xx": grad_y,
        "grad_eq_4x": grad_y == 4 * x,
        "grad_sum": grad_sum,
        "grad_x_times_x_ones_seed": vjp_ones,
        "grad_x_times_x_sum": grad_sq_sum,
        "detach": {
            "u": u,
            "z": detached_product(x),
            "grad_z_sum": grad_detached,
            "grad_eq_u": grad_detached == u,
            "grad_y_sum": grad_sq_sum,
            "grad_eq_2x": grad_sq_sum == 2 * x,
        },
    }


def control_flow_case(a: jax.Array) -> dict[str, Any]:
    """f(a), its derivative, d/a, and PyTorch's exact check `a.grad == d / a`."""
    d, grad = jax.value_and_grad(control_flow)(a)
    return {"a": a, "f": d, "grad": grad, "d_over_a": d / a, "grad_eq_d_over_a": bool(grad == d / a)}


def jit_error() -> str:
    """The error jax.jit raises on the Python control flow of `control_flow`, first line only."""
    try:
        jax.jit(control_flow)(jnp.float32(1.0))
    except jax.errors.TracerBoolConversionError as err:
        return str(err).splitlines()[0]
    return "no error"


@jax.jit
def second_derivatives() -> dict[str, Any]:
    """Second derivatives by nesting: grad of grad for scalar functions, jax.hessian for a vector input."""
    xs = jnp.linspace(-2.0, 2.0, 9)
    return {
        "d2_cubic": jax.vmap(jax.grad(jax.grad(lambda x: x**3 - 4 * x)))(xs),
        "d2_sin": jax.vmap(jax.grad(jax.grad(jnp.sin)))(xs),
        "xs": xs,
        "hessian_two_dot": jax.hessian(two_dot)(jnp.arange(4.0)),
    }


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    x = jnp.arange(4.0)
    references.compare_tree(result.compare, gradients(x), ref)
    result.text(
        "PyTorch attaches gradients to tensors: `x.requires_grad_(True)`, `y.backward()`, then read `x.grad` "
        f"(None before the first backward: {ref['grad_before_backward_is_none']}), and zero it with "
        "`x.grad.zero_()` because backward accumulates. JAX transforms functions instead: "
        "`jax.grad(f)(x)` returns the gradient as a new array, so nothing accumulates and nothing needs zeroing. "
        "For a vector y, `y.backward(gradient=torch.ones(len(y)))` is `jax.vjp(f, x)[1](jnp.ones_like(y))`, "
        "and both equal the gradient of `y.sum()`. `u = y.detach()` is `jax.lax.stop_gradient(y)` inside "
        "the function being differentiated."
    )

    cases = [control_flow_case(jnp.float32(case["a"])) for case in ref["control_flow"]]
    for ours, theirs in zip(cases, ref["control_flow"]):
        label = f"control flow a={ours['a']:.6g}"
        for key in ("f", "grad", "d_over_a"):
            result.compare(f"{label}: {key}", ours[key], theirs[key], tol=TOLERANCES["control flow"])
        result.compare(f"{label}: grad == d / a", ours["grad_eq_d_over_a"], theirs["grad_eq_d_over_a"])
    result.text(
        "The Python `while` and `if` in f(a) run on concrete numbers under `jax.grad`: its tracer "
        "carries the actual value of a (it evaluates while it records the linearisation), so "
        "`jnp.linalg.norm(b) < 1000` is an ordinary boolean and each a takes its own path. "
        "Under `jax.jit` the tracer stands for any float32 scalar, so the loop condition has no value:\n\n"
        f"    jax.jit(control_flow)(1.0) -> TracerBoolConversionError: {jit_error()}\n\n"
        "To compile it, the loop and branch must become `lax.while_loop` and `lax.cond`/`jnp.where` "
        "(see the 2.5 exercises)."
    )

    second = second_derivatives()
    xs = np.asarray(second["xs"])
    result.compare("grad(grad(x^3 - 4x)) vs 6x", second["d2_cubic"], 6 * xs, tol=TOLERANCES["d2 cubic"])
    result.compare("grad(grad(sin)) vs -sin", second["d2_sin"], -np.sin(xs), tol=TOLERANCES["d2 sin"])
    result.compare("hessian(2 x.x) vs 4 I", second["hessian_two_dot"], 4 * np.eye(4))
    result.text(
        "Higher derivatives are nested transformations: `jax.grad(jax.grad(f))` for a scalar function, "
        "`jax.hessian(f)` (forward-over-reverse) for a vector input. PyTorch's tape needs "
        "`torch.autograd.grad(..., create_graph=True)` to do the same."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
