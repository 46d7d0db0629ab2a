"""d2l 7.5 Pooling: pool2d by the book's loops, max and average pooling layers with padding and stride on one and two
channels, their values and gradients against PyTorch, and which input receives the gradient when several tie."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch7.conv import pool2d
from experiments.harness import references
from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import nn

SECTION = "7.5"
TITLE = "Pooling"
REFERENCE = "ch7_5_pooling"

TOLERANCES: Tolerances = {
    "avg values": Tolerance(rtol=1e-6, atol=1e-7, why="float32 means of up to 9 N(0, 1) values, summed in another "
                                                      "order (last bits; atol for means near 0)"),
    "avg gradients": Tolerance(rtol=1e-6, atol=1e-7, why="sums of up to 4 overlapping windows' G / (k_h k_w), in "
                                                         "another order"),
}
# Max pooling picks one input per window and copies it, and its gradient copies G to that input: both exact.


def parse(key: str) -> tuple[Any, Any, Any]:
    """The generator's "kind kernel stride padding" key back into arguments."""
    def value(text: str) -> Any:
        return None if text == "None" else tuple(int(v) for v in text.strip("[]()").split(",")) if "," in text else int(text)

    parts = key.replace(", ", ",").split(" ")
    return tuple(value(p) for p in parts[1:])  # type: ignore[return-value]


def pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def layer(kind: str, kernel: Any, stride: Any, padding: Any) -> nn.Layer:
    return (nn.max_pool2d if kind == "max" else nn.avg_pool2d)(kernel, stride, padding)


def pooled_and_grad(pool: nn.Layer, X: jax.Array, G: jax.Array) -> tuple[jax.Array, jax.Array]:
    """pool(X) and the gradient of sum(pool(X) * G) with respect to X."""
    return pool((), X), jax.grad(lambda x: (pool((), x) * G).sum())(X)


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    X = jnp.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    result.compare("pool2d max, 2 x 2 (the book's loops)", pool2d(X, (2, 2)), ref["pool2d max"])
    result.compare("pool2d avg, 2 x 2 (the book's loops)", pool2d(X, (2, 2), "avg"), ref["pool2d avg"])
    X4 = jnp.arange(16, dtype=jnp.float32).reshape(1, 1, 4, 4)
    X2 = jnp.concatenate((X4, X4 + 1), 1)
    for key, theirs in ref["layers"].items():
        kind, (kernel, stride, padding) = key.split(" ")[0], parse(key)
        pool = layer(kind, kernel, stride, padding)
        tol = TOLERANCES["avg values"] if kind == "avg" else None
        label = f"{kind} pool kernel {kernel}, stride {stride}, padding {padding}"
        result.compare(f"{label} on arange(16)", pool((), X4), theirs["one channel"], tol=tol)
        result.compare(f"{label} on two channels (X, X + 1)", pool((), X2), theirs["two channels"], tol=tol)

    X_grad = jnp.asarray(ref["X_grad"], jnp.float32)
    for key, theirs in ref["grads"].items():
        kind, (kernel, stride, padding) = key.split(" ")[0], parse(key)
        Y, dX = pooled_and_grad(layer(kind, kernel, stride, padding), X_grad, jnp.asarray(theirs["G"], jnp.float32))
        label = f"{kind} pool kernel {kernel}, stride {stride}, padding {padding}, (2, 3, 7, 6) N(0, 1)"
        result.compare(f"{label}: values", Y, theirs["Y"], tol=TOLERANCES["avg values"] if kind == "avg" else None)
        result.compare(f"{label}: gradient", dX, theirs["dX"], tol=TOLERANCES["avg gradients"] if kind == "avg" else None)

    ones = jnp.ones((1, 1, 3, 3))
    rows = []
    for key, theirs in ref["ties"]["layer"].items():
        kernel, stride, padding = parse("max " + key)
        pool = nn.max_pool2d(kernel, stride, padding)
        g = jax.grad(lambda x: pool((), x).sum())(ones)
        result.compare(f"ties: max_pool2d({kernel}, {stride}, {padding}) on ones(3, 3), gradient vs PyTorch's", g, theirs)
        first = first_in_window(ones.shape[2:], pair(kernel), pair(kernel if stride is None else stride), pair(padding))
        result.compare(f"ties: ... = one per window to its first (top-left) real input", g[0, 0], first)
        rows.append(f"| max_pool2d({kernel}, stride={stride}, padding={padding}) | {np.asarray(g[0, 0]).astype(int).tolist()} |")
    scratch = jax.grad(lambda x: pool2d(x, (2, 2)).sum())(ones[0, 0])
    result.compare("ties: the book's pool2d (jnp.max of each window) vs PyTorch's (X[...].max())", scratch,
                   ref["ties"]["pool2d"])
    result.compare("ties: ... splits each window's gradient evenly among its 4 maxima", scratch,
                   np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)
    rows.append(f"| the book's pool2d, (2, 2) | {np.asarray(scratch).tolist()} |")
    result.text(
        "The layers pad max pooling with -inf and average pooling with zeros that count in the mean (PyTorch's "
        "count_include_pad=True), and step by the window unless told otherwise; on one and two channels, values and "
        "gradients of sum(pool(X) * G) equal PyTorch's, the max pool's exactly.\n\n"
        "Ties: on an all-ones image every input of a window is its maximum. Both frameworks' layers send each "
        "window's gradient to one input, the first one in row-major order inside the image (PyTorch's CPU kernel "
        "keeps the first index whose value is greater; XLA's select-and-scatter keeps the first that is greater or "
        "equal), so overlapping windows pile it on the top-left input. The book's from-scratch pool2d takes "
        "`max()` of a slice, a reduction whose gradient both frameworks split evenly among the tied maxima, so its "
        "gradient differs from the layers' on the same input. Gradient on ones(3, 3) of the summed outputs:\n\n"
        "| pooling | gradient |\n|---|---|\n" + "\n".join(rows)
    )


def first_in_window(shape: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                    padding: tuple[int, int]) -> np.ndarray:
    """The gradient that sends each window's 1 to its first real input (row-major), the rule the layers share."""
    H, W = shape
    g = np.zeros(shape)
    for i in range(nn.output_size(H, kernel[0], padding[0], stride[0])):
        for j in range(nn.output_size(W, kernel[1], padding[1], stride[1])):
            g[max(i * stride[0] - padding[0], 0), max(j * stride[1] - padding[1], 0)] += 1
    return g


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
