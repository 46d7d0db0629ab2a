"""d2l 7.3's exercises: the last example's shape by hand, mirror padding, and what a stride saves in arithmetic
(XLA's FLOP count)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness import references
from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import nn

SECTION = "7.3"
TITLE = "Padding and stride: exercises"
REFERENCE = "ch7_3_padding_and_strides_exercises"

TOLERANCES: Tolerances = {
    "mirror conv": Tolerance(rtol=1e-5, atol=1e-6, why="float32 sums of 9 products in another order (last bits; atol "
                                                       "for sums near 0)"),
    "ratios": Tolerance(rtol=1e-12, why="ratios of exact integer counts, each side divided in float64 in its own order"),
}


def mirror_pad(X: jax.Array, top: int, bottom: int, left: int, right: int) -> jax.Array:
    """Exercise 3: pads the last two axes by mirroring the border about its edge row or column (which is not
    repeated): F.pad's 'reflect', np.pad's 'reflect'."""
    return jnp.pad(X, ((0, 0),) * (X.ndim - 2) + ((top, bottom), (left, right)), mode="reflect")


def conv_flops(shape: tuple[int, ...], kernel: int, stride: int) -> float:
    """FLOPs of one 1-channel k x k convolution of an image of `shape`, by XLA's cost analysis of the compiled call."""
    W = jnp.ones((1, 1, kernel, kernel))
    compiled = jax.jit(lambda X: nn.conv2d_apply(X, W, stride=(stride, stride), method="xla")).lower(
        jax.ShapeDtypeStruct(shape, jnp.float32)).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    # exercise 1: kernel (3, 5), padding (0, 1), stride (3, 4) on 8 x 8
    by_hand = [(8 + 2 * 0 - 3) // 3 + 1, (8 + 2 * 1 - 5) // 4 + 1]
    shape, _, _ = nn.conv2d(1, (3, 5), stride=(3, 4), padding=(0, 1)).init(jax.random.key(0), (1, 1, 8, 8))
    result.compare("exercise 1: floor((8 - 3) / 3) + 1, floor((8 + 2 - 5) / 4) + 1 vs conv2d", by_hand, list(shape[2:]))
    result.compare("exercise 1: ... = 2 x 2, the book's printed shape", by_hand, [2, 2])

    m = ref["mirror"]
    X, K = jnp.asarray(m["X"], jnp.float32), jnp.asarray(m["K"], jnp.float32)
    padded = mirror_pad(X, 1, 2, 2, 1)
    result.compare("exercise 3: mirror padding vs F.pad(mode='reflect')", padded, m["padded"])
    result.compare("exercise 3: then a 3 x 3 convolution vs F.conv2d", nn.conv2d_apply(padded, K), m["conv"],
                   tol=TOLERANCES["mirror conv"])

    size = (1, 1, 64, 64)
    flops = {s: conv_flops(size, 3, s) for s in (1, 2, 4)}
    outputs = {s: nn.output_size(64, 3, 0, s) ** 2 for s in flops}
    for s in (2, 4):
        result.compare(f"exercise 4: FLOPs at stride 1 / stride {s} = outputs at stride 1 / stride {s}",
                       flops[1] / flops[s], outputs[1] / outputs[s], tol=TOLERANCES["ratios"])
    result.text(
        "Exercise 1: (8 + 0 - 3) // 3 + 1 = 2 rows and (8 + 2 - 5) // 4 + 1 = 2 columns, the 2 x 2 the book prints.\n\n"
        "Exercise 2: on audio, a stride of 2 keeps every second sample: it halves the sampling rate (after the "
        "kernel's filtering, like decimation).\n\n"
        "Exercise 3: mirror padding (`jnp.pad(mode='reflect')`) gives F.pad's numbers exactly.\n\n"
        "Exercise 4: the arithmetic is proportional to the number of outputs: XLA counts "
        f"{flops[1]:.0f}, {flops[2]:.0f} and {flops[4]:.0f} FLOPs for a 3 x 3 kernel on 64 x 64 at strides 1, 2 "
        f"and 4, as many per output ({flops[1] / outputs[1]:.0f}, i.e. 9 multiply-adds); a stride s cuts it by "
        "about s^2 (exactly by the ratio of output counts). Exercise 5: a larger stride also averages out small "
        "shifts and widens each later unit's receptive field."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
