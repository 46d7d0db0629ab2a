"""d2l 7.4's exercises: two convolutions in a row are one convolution (with a k1 + k2 - 1 kernel), and a
convolution's arithmetic, counted by XLA, against c_o c_i k_h k_w h_o w_o."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness import references
from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import nn

SECTION = "7.4"
TITLE = "Multiple input and multiple output channels: exercises"
REFERENCE = "ch7_4_channels_exercises"

TOLERANCES: Tolerances = {
    "composed": Tolerance(rtol=1e-5, atol=1e-5, why="float32 sums of up to 120 products of N(0, 1) numbers, "
                                                    "grouped differently by the composed kernel (|Y| ~ 10-30)"),
    "ratios": Tolerance(rtol=1e-12, why="ratios of exact integer counts, each side divided in float64 in its own order"),
}


def compose(K1: np.ndarray, K2: np.ndarray) -> np.ndarray:
    """Exercise 1: the kernel K with corr(corr(X, K1), K2) = corr(X, K): K[o, c, u, v] = sum over m, a, b of
    K2[o, m, a, b] K1[m, c, u - a, v - b], of size (k1 + k2 - 1) along each axis (float64)."""
    o, m, h2, w2 = K2.shape
    _, c, h1, w1 = K1.shape
    K = np.zeros((o, c, h1 + h2 - 1, w1 + w2 - 1))
    for a in range(h2):
        for b in range(w2):
            K[:, :, a:a + h1, b:b + w1] += np.einsum("om,mcuv->ocuv", K2[:, :, a, b], K1)
    return K


def flops(x_shape: tuple[int, ...], w_shape: tuple[int, ...], padding: int = 0) -> float:
    """FLOPs of one convolution by XLA's cost analysis of its compiled convolution (method="xla": im2col, a matrix
    product, would count the products with padded zeros too)."""
    compiled = jax.jit(lambda X, W: nn.conv2d_apply(X, W, padding=(padding, padding), method="xla")).lower(
        jax.ShapeDtypeStruct(x_shape, jnp.float32), jax.ShapeDtypeStruct(w_shape, jnp.float32)).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    X, K1, K2 = (np.asarray(ref[n], np.float32) for n in ("X", "K1", "K2"))
    K = compose(K1.astype(np.float64), K2.astype(np.float64))
    once = nn.conv2d_apply(jnp.asarray(X), jnp.asarray(K, jnp.float32))
    twice = nn.conv2d_apply(nn.conv2d_apply(jnp.asarray(X), jnp.asarray(K1)), jnp.asarray(K2))
    result.compare("exercise 1: composed kernel shape (c_o, c_i, k1 + k2 - 1)", list(K.shape), [4, 2, 4, 5])
    result.compare("exercise 1: one convolution with it vs PyTorch's two", once, ref["two convolutions"],
                   tol=TOLERANCES["composed"])
    result.compare("exercise 1: jaxdl's two convolutions vs PyTorch's two", twice, ref["two convolutions"],
                   tol=TOLERANCES["composed"])

    c_i, c_o, h, w, k = 4, 8, 16, 16, 3
    counted = flops((1, c_i, h, w), (c_o, c_i, k, k))
    h_o, w_o = h - k + 1, w - k + 1
    macs = c_o * c_i * k * k * h_o * w_o
    result.compare("exercise 2: XLA's FLOPs = 2 c_o c_i k_h k_w h_o w_o (a multiply and an add each)", counted, 2 * macs)
    doubled = flops((1, 2 * c_i, h, w), (2 * c_o, 2 * c_i, k, k))
    result.compare("exercise 3: doubling c_i and c_o multiplies the FLOPs by 4", doubled / counted, 4.0)
    padded = flops((1, c_i, h, w), (c_o, c_i, k, k), padding=2)
    # With padding k - 1 every input entry meets all k taps along each axis: h k products per axis instead of h_o k.
    result.compare("exercise 3: padding 2 = k - 1: XLA counts the products with input entries only, (h k / h_o k)^2",
                   padded / counted, (h * k / (h_o * k)) ** 2, tol=TOLERANCES["ratios"])
    result.text(
        "Exercise 1: without a nonlinearity two convolutions are one: its kernel is the (full) convolution of the two "
        "kernels summed over the middle channels, of size k1 + k2 - 1 (here 3 x 2 then 2 x 4 give 4 x 5), and one "
        "convolution with it gives PyTorch's two. The converse fails in general: a 4 x 5 kernel has 20 entries per "
        "channel pair, and not every one factors into a 3 x 2 and a 2 x 4.\n\n"
        f"Exercise 2: the forward pass costs c_o c_i k_h k_w h_o w_o multiply-adds: XLA counts {counted:.0f} FLOPs for "
        f"c_i = {c_i}, c_o = {c_o}, a {k} x {k} kernel on {h} x {w}, exactly 2 x {macs}. Memory: the input, the "
        "c_o c_i k_h k_w weights and the c_o h_o w_o outputs; the backward pass keeps the input and costs about twice "
        "the forward (a gradient for the input and one for the kernel).\n\n"
        "Exercise 3: doubling both channel counts multiplies the work by 4. Doubling the padding adds outputs, "
        f"here ({h + 4 - k + 1} / {h_o})^2 = {((h + 4 - k + 1) / h_o) ** 2:.3f} times as many with padding 2 as with "
        f"none, but XLA's count grows only {padded / counted:.3f} times, ({h} / {h_o})^2: it leaves out the products "
        "with padded zeros, and with padding k - 1 each input entry meets every kernel tap once per output it "
        "reaches, which is all the arithmetic that is not multiplying by zero."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
