"""d2l 7.5's exercises: average pooling as a convolution, and max pooling from convolutions and ReLUs alone
(max(a, b) = a + relu(b - a)), against PyTorch's pooling layers."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness import references
from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import nn

SECTION = "7.5"
TITLE = "Pooling: exercises"
REFERENCE = "ch7_5_pooling_exercises"

TOLERANCES: Tolerances = {
    "as convolution": Tolerance(rtol=1e-6, atol=1e-6, why="the mean as a sum of x / 9 products in float32, in another "
                                                          "order than PyTorch's sum then divide (last bits)"),
    "relu max": Tolerance(rtol=1e-6, atol=1e-6, why="a + relu(b - a) rounds b - a and the sum once each: within an "
                                                    "ulp or two of max(a, b) for N(0, 1) values"),
}


def avg_pool_by_conv(X: jax.Array, k: int, stride: int, padding: int) -> jax.Array:
    """Exercise 1: a depthwise convolution (groups = channels) with the kernel 1 / k^2 everywhere."""
    C = X.shape[1]
    W = jnp.full((C, 1, k, k), 1.0 / (k * k), X.dtype)
    return nn.conv2d_apply(X, W, stride=(stride, stride), padding=(padding, padding), groups=C)


def max_pool_by_relu(X: jax.Array, k: int) -> tuple[jax.Array, int]:
    """Exercise 3: k x k max pooling (stride k) from convolutions and ReLUs: a depthwise convolution with one-hot
    kernels copies each window's k^2 entries to k^2 channels per input channel; then max(a, b) = a + relu(b - a),
    linear maps (1 x 1 convolutions) and ReLUs only, halves the candidates per layer. Returns the pooled images and
    the number of ReLU layers, ceil(log2 k^2)."""
    N, C, H, W = X.shape
    eye = jnp.eye(k * k, dtype=X.dtype).reshape(k * k, 1, k, k)
    picks = nn.conv2d_apply(X, jnp.tile(eye, (C, 1, 1, 1)), stride=(k, k), groups=C)  # (N, C k^2, H', W')
    cands = picks.reshape(N, C, k * k, *picks.shape[2:])
    layers = 0
    while cands.shape[2] > 1:
        if cands.shape[2] % 2:  # an odd one out passes unchanged: a = relu(a) - relu(-a)
            cands = jnp.concatenate([cands, cands[:, :, -1:]], axis=2)
        a, b = cands[:, :, 0::2], cands[:, :, 1::2]
        cands = a + jax.nn.relu(b - a)
        layers += 1
    return cands[:, :, 0], layers


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    X = jnp.asarray(ref["X"], jnp.float32)
    result.compare("exercise 1: avg pooling 3, stride 2, padding 1 as a depthwise convolution vs nn.AvgPool2d",
                   avg_pool_by_conv(X, 3, 2, 1), ref["avg 3 2 1"], tol=TOLERANCES["as convolution"])
    layer_counts = {}
    for k in (2, 3):
        Y, layer_counts[k] = max_pool_by_relu(X, k)
        result.compare(f"exercise 3: {k} x {k} max pooling from convolutions and ReLUs vs nn.MaxPool2d({k})", Y,
                       ref[f"max {k}"], tol=TOLERANCES["relu max"])
        result.compare(f"exercise 3: {k} x {k} needs {k * k} channels per channel and ceil(log2 {k * k}) ReLU layers",
                       layer_counts[k], math.ceil(math.log2(k * k)))
    result.text(
        "Exercise 1: average pooling is a convolution with the constant kernel 1 / (k_h k_w), applied to each "
        "channel alone (groups = channels); with zero padding it matches PyTorch's count_include_pad=True.\n\n"
        "Exercise 2: max pooling is not linear (max(x, 0) + max(-x, 0) = |x|), so no convolution alone gives it.\n\n"
        "Exercise 3: max(a, b) = a + relu(b - a). A depthwise convolution with one-hot kernels copies each "
        "window's entries into k^2 channels; each later layer (a 1 x 1 convolution, then ReLU, then another 1 x 1 "
        "convolution) halves the candidates, so a 2 x 2 window needs 4 channels and "
        f"{layer_counts[2]} ReLU layers, a 3 x 3 window 9 channels and {layer_counts[3]}; both give nn.MaxPool2d's "
        "numbers.\n\n"
        "Exercise 4: pooling a c x h x w input costs c h_o w_o p_h p_w comparisons (or additions), with "
        "h_o = floor((h + 2 p_h - k_h) / s_h) + 1; exercise 6: min pooling is -maxpool(-X)."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
