"""d2l 7.4 Multiple input and multiple output channels: corr2d_multi_in, corr2d_multi_in_out and the 1 x 1
convolution as a matrix product, against PyTorch (the book's loops and F.conv2d)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from experiments.ch7.conv import corr2d_multi_in, corr2d_multi_in_out, corr2d_multi_in_out_1x1
from experiments.harness import references
from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import nn

SECTION = "7.4"
TITLE = "Multiple input and multiple output channels"
REFERENCE = "ch7_4_channels"

TOLERANCES: Tolerances = {
    "1x1": Tolerance(rtol=1e-6, atol=1e-6, why="sums of 3 float32 products of N(0, 1) numbers, in another order: "
                                                "last bits (atol for sums near 0)"),
}


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    X = jnp.array([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                   [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
    K = jnp.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    result.compare("corr2d_multi_in (2 channels in)", corr2d_multi_in(X, K), ref["multi_in"])
    K3 = jnp.stack((K, K + 1, K + 2), 0)
    result.compare("K = stack((K, K + 1, K + 2)): shape", list(K3.shape), ref["K3_shape"])
    result.compare("corr2d_multi_in_out (3 channels out)", corr2d_multi_in_out(X, K3), ref["multi_in_out"])
    result.compare("nn.conv2d_apply (lax.conv_general_dilated) vs F.conv2d", nn.conv2d_apply(X[None], K3)[0],
                   ref["F.conv2d multi_in_out"])

    one = ref["one_by_one"]
    X1, K1 = jnp.asarray(one["X"], jnp.float32), jnp.asarray(one["K"], jnp.float32)
    Y1, Y2 = corr2d_multi_in_out_1x1(X1, K1), corr2d_multi_in_out(X1, K1)
    tol = TOLERANCES["1x1"]
    result.compare("1 x 1 as a matrix product vs PyTorch's", Y1, one["Y1 (matmul)"], tol=tol)
    result.compare("1 x 1 by corr2d_multi_in_out vs PyTorch's", Y2, one["Y2 (corr2d)"], tol=tol)
    result.compare("1 x 1 by lax.conv_general_dilated vs F.conv2d", nn.conv2d_apply(X1[None], K1)[0], one["F.conv2d"],
                   tol=tol)
    result.compare("1 x 1: matrix product vs corr2d_multi_in_out (the book's assert < 1e-6)", Y1, Y2, tol=tol)
    diff = float(jnp.abs(Y1 - Y2).sum())
    result.text(
        "With several input channels the cross-correlations of each channel are summed (corr2d_multi_in: [[56, 72], "
        "[104, 120]] as the book prints); with several output channels each output channel has its own kernels "
        f"(K of shape {tuple(K3.shape)} = (c_o, c_i, k_h, k_w)). A 1 x 1 convolution mixes channels at each pixel "
        "and nothing else: it is a fully connected layer applied to every pixel, one (c_o, c_i) @ (c_i, h w) matrix "
        f"product. Its |Y1 - Y2| summed is {diff:.3g} in jaxdl and {one['abs(Y1 - Y2).sum()']:.3g} in PyTorch."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
