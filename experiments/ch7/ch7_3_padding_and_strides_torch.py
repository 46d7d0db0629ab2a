"""PyTorch reference numbers for d2l 7.3 Padding and stride and its exercises, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.harness.torch_d2l import one_thread

# (kernel_size, padding, stride) of the book's four comp_conv2d calls, then cases of the exercises' kind.
BOOK_CASES = ((3, 1, 1), ((5, 3), (2, 1), 1), (3, 1, 2), ((3, 5), (0, 1), (3, 4)))
MORE_CASES = ((2, 0, 2), (4, 1, 3), ((1, 7), (0, 3), (2, 1)), (8, 0, 1), (5, 2, (1, 3)))
SEED = 73


def comp_conv2d(conv2d: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """d2l 7.3's helper: add the batch and channel axes, convolve, strip them."""
    X = X.reshape((1, 1) + X.shape)
    Y = conv2d(X)
    return Y.reshape(Y.shape[2:])


def cases() -> list[dict[str, Any]]:
    """Each case: LazyConv2d(1, kernel, padding, stride) on an 8 x 8 NumPy image, its kernel and bias replaced by
    NumPy draws; the output's shape and values."""
    rng = np.random.default_rng(SEED)
    X = rng.random((8, 8)).astype(np.float32)
    out = []
    for kernel, padding, stride in BOOK_CASES + MORE_CASES:
        conv2d = nn.LazyConv2d(1, kernel_size=kernel, padding=padding, stride=stride)
        comp_conv2d(conv2d, torch.from_numpy(X))
        W = rng.standard_normal(tuple(conv2d.weight.shape)).astype(np.float32)
        b = rng.standard_normal(1).astype(np.float32)
        with torch.no_grad():
            conv2d.weight.copy_(torch.from_numpy(W))
            conv2d.bias.copy_(torch.from_numpy(b))
            Y = comp_conv2d(conv2d, torch.from_numpy(X))
        out.append({"kernel_size": kernel, "padding": padding, "stride": stride, "W": W, "b": b,
                    "shape": list(Y.shape), "Y": Y.numpy()})
    return [{"X": X}, *out]


def mirror() -> dict[str, Any]:
    """Exercise 3: reflection padding (the border mirrored, the edge itself not repeated), as F.pad's 'reflect', then
    a 3 x 3 convolution."""
    rng = np.random.default_rng(SEED + 1)
    X = rng.random((1, 1, 5, 6)).astype(np.float32)
    K = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    padded = F.pad(torch.from_numpy(X), (2, 1, 1, 2), mode="reflect")  # (left, right, top, bottom)
    return {"X": X, "K": K, "padded": padded.numpy(), "conv": F.conv2d(padded, torch.from_numpy(K)).numpy()}


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        all_cases = cases()
        return {"ch7_3_padding_and_strides": {"X": all_cases[0]["X"], "cases": all_cases[1:]},
                "ch7_3_padding_and_strides_exercises": {"mirror": mirror()}}
