"""d2l 7.3 Padding and stride: output shapes of the book's comp_conv2d calls and more, against PyTorch and against
floor((n + 2p - k) / s) + 1, and the outputs' values with the same kernels."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness import references
from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import nn

SECTION = "7.3"
TITLE = "Padding and stride"
REFERENCE = "ch7_3_padding_and_strides"

TOLERANCES: Tolerances = {
    "values": Tolerance(rtol=1e-5, atol=1e-6, why="float32 sums of up to 64 products of U[0, 1) pixels and N(0, 1) "
                                                  "weights in another order (|Y| up to ~10: last bits; atol near 0)"),
}


def comp_conv2d(layer: nn.Layer, params: nn.Params, X: jax.Array) -> jax.Array:
    """d2l 7.3's helper: add the batch and channel axes, convolve, strip them."""
    return layer(params, X[None, None])[0, 0]


def pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    X = jnp.asarray(ref["X"], jnp.float32)
    rows = []
    for case in ref["cases"]:
        k, p, s = case["kernel_size"], case["padding"], case["stride"]
        label = f"kernel {k}, padding {p}, stride {s}"
        layer = nn.conv2d(1, pair(k), stride=pair(s), padding=pair(p))
        shape, _, _ = layer.init(jax.random.key(0), (1, 1, *X.shape))
        formula = [nn.output_size(n, kk, pp, ss) for n, kk, pp, ss in zip(X.shape, pair(k), pair(p), pair(s))]
        result.compare(f"{label}: shape vs PyTorch", list(shape[2:]), case["shape"])
        result.compare(f"{label}: shape vs floor((n + 2p - k) / s) + 1", list(shape[2:]), formula)
        params = {"W": jnp.asarray(case["W"], jnp.float32), "b": jnp.asarray(case["b"], jnp.float32)}
        result.compare(f"{label}: values with PyTorch's kernel", comp_conv2d(layer, params, X), case["Y"],
                       tol=TOLERANCES["values"])
        rows.append(f"| {k} | {p} | {s} | {tuple(shape[2:])} | {tuple(case['shape'])} |")
    result.text(
        "On an 8 x 8 input, every output shape equals PyTorch's and the formula floor((n_h + 2 p_h - k_h) / s_h) + 1 "
        "per axis (the book writes the padding as the total p_h; `padding` here is one side's, as nn.Conv2d's); the "
        "first four rows are the book's comp_conv2d calls. With the same NumPy kernel loaded into both, the outputs "
        "agree too, so padding and stride are applied alike (zeros on both sides, windows from the top left):\n\n"
        "| kernel | padding | stride | jaxdl shape | PyTorch shape |\n|---|---|---|---|---|\n" + "\n".join(rows)
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
