"""d2l 2.3 Linear algebra: scalars to tensors, reductions, products and norms in jax.numpy beside PyTorch."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from experiments.harness.result import Result, Tolerances, cli
from experiments.harness import references

SECTION = "2.3"
TITLE = "Linear algebra"
REFERENCE = "ch2_3_linear_algebra"

# No tolerance of its own: scalars compare exactly, stored tensors at compare_tree's rtol per dtype
# (experiments.harness.references.TREE_RTOL, pinned with the tables).
TOLERANCES: Tolerances = {}


def objects() -> dict[str, Any]:
    """2.3.1-2.3.4: scalars, vectors, matrices (transpose, symmetry) and a third-order tensor."""
    x, y = jnp.array(3.0), jnp.array(2.0)
    v = jnp.arange(3)
    M = jnp.arange(6).reshape(3, 2)
    S = jnp.array([[1, 2, 3], [2, 0, 4], [3, 4, 5]])
    return {
        "scalars": {"add": x + y, "mul": x * y, "div": x / y, "pow": x**y},
        "vector": {"x": v, "x2": v[2], "len": len(v), "shape": list(v.shape)},
        "matrix": {"A": M, "A_T": M.T},
        "symmetric": {"A": S, "A_eq_A_T": S == S.T},
        "tensor_2_3_4": jnp.arange(24).reshape(2, 3, 4),
    }


def arithmetic() -> dict[str, Any]:
    """2.3.5: elementwise sums and the Hadamard product; a scalar broadcast over a tensor."""
    A = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
    B = A  # PyTorch needs A.clone() to get a separate copy; a JAX array can never change, so sharing is safe
    a = 2
    X = jnp.arange(24).reshape(2, 3, 4)
    return {
        "A": A,
        "A_plus_B": A + B,
        "A_times_B": A * B,
        "a_plus_X": a + X,
        "a_times_X_shape": list((a * X).shape),
    }


def reductions(A: jax.Array) -> dict[str, Any]:
    """2.3.6-2.3.7: sums and means over all or some axes, keepdims, broadcasting A / sum_A, cumsum."""
    x = jnp.arange(3, dtype=jnp.float32)
    sum_A = A.sum(axis=1, keepdims=True)
    return {
        "x": x,
        "x_sum": x.sum(),
        "A_sum": A.sum(),
        "A_sum_axis0": A.sum(axis=0),
        "A_sum_axis1": A.sum(axis=1),
        "A_sum_axis01_eq_sum": A.sum(axis=(0, 1)) == A.sum(),
        "A_mean": A.mean(),
        "A_sum_over_numel": A.sum() / A.size,
        "A_mean_axis0": A.mean(axis=0),
        "A_sum_axis0_over_rows": A.sum(axis=0) / A.shape[0],
        "sum_A_keepdims": sum_A,
        "A_div_sum_A": A / sum_A,
        "A_cumsum_axis0": A.cumsum(axis=0),
    }


def products(A: jax.Array, x: jax.Array) -> dict[str, Any]:
    """2.3.8-2.3.10: dot product, matrix-vector and matrix-matrix products."""
    y = jnp.ones(3, dtype=jnp.float32)
    B = jnp.ones((3, 4))
    return {
        "dot": jnp.dot(x, y),
        "sum_x_times_y": jnp.sum(x * y),
        "mv": jnp.matmul(A, x),
        "A_matmul_x": A @ x,
        "mm": jnp.matmul(A, B),
        "A_matmul_B": A @ B,
    }


def norms() -> dict[str, Any]:
    """2.3.11: the l2 and l1 norms of a vector and the Frobenius norm of a matrix."""
    u = jnp.array([3.0, -4.0])
    return {
        "l2_norm_u": jnp.linalg.norm(u),
        "l1_norm_u": jnp.abs(u).sum(),
        "frobenius_ones_4_9": jnp.linalg.norm(jnp.ones((4, 9))),
    }


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    references.compare_tree(result.compare, objects(), ref)
    made = arithmetic()
    references.compare_tree(result.compare, made, ref)
    reduced = reductions(made["A"])
    references.compare_tree(result.compare, reduced, ref)
    references.compare_tree(result.compare, products(made["A"], reduced["x"]), ref)
    references.compare_tree(result.compare, norms(), ref)
    result.text(
        "Where the JAX code differs from d2l's: `B = A` replaces `A.clone()` (an immutable array can be shared); "
        "`A.sum(axis=(0, 1))` takes a tuple where PyTorch takes `axis=[0, 1]`; `torch.mv` and `torch.mm` are "
        "both `jnp.matmul` (or `@`); `torch.norm` is `jnp.linalg.norm`, which is the Frobenius norm for a "
        "matrix. Integer arrays are int32 in JAX (int64 in PyTorch), and `2 + X` stays int32 because a Python "
        "scalar is 'weakly typed' and does not promote the array."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
