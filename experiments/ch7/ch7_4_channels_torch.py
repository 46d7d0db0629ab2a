"""PyTorch reference numbers for d2l 7.4 Multiple input and multiple output channels and its exercises, computed as
d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from experiments.ch7.conv_torch import corr2d_multi_in, corr2d_multi_in_out, corr2d_multi_in_out_1x1
from experiments.harness.torch_d2l import one_thread

SEED = 74


def section() -> dict[str, Any]:
    X = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                      [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
    K = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    K3 = torch.stack((K, K + 1, K + 2), 0)
    rng = np.random.default_rng(SEED)  # the book's normal(0, 1, (3, 3, 3)) and (2, 3, 1, 1), drawn by NumPy
    X1 = rng.standard_normal((3, 3, 3)).astype(np.float32)
    K1 = rng.standard_normal((2, 3, 1, 1)).astype(np.float32)
    Y1 = corr2d_multi_in_out_1x1(torch.from_numpy(X1), torch.from_numpy(K1))
    Y2 = corr2d_multi_in_out(torch.from_numpy(X1), torch.from_numpy(K1))
    return {
        "multi_in": corr2d_multi_in(X, K).numpy(),
        "K3_shape": list(K3.shape),
        "multi_in_out": corr2d_multi_in_out(X, K3).numpy(),
        "F.conv2d multi_in_out": F.conv2d(X[None], K3)[0].numpy(),
        "one_by_one": {"X": X1, "K": K1, "Y1 (matmul)": Y1.numpy(), "Y2 (corr2d)": Y2.numpy(),
                       "F.conv2d": F.conv2d(torch.from_numpy(X1)[None], torch.from_numpy(K1))[0].numpy(),
                       "abs(Y1 - Y2).sum()": float(torch.abs(Y1 - Y2).sum())},
    }


def exercises() -> dict[str, Any]:
    """Exercise 1: two convolutions in a row (no nonlinearity) on a random image."""
    rng = np.random.default_rng(SEED + 1)
    X = rng.standard_normal((1, 2, 9, 10)).astype(np.float32)
    K1 = rng.standard_normal((3, 2, 3, 2)).astype(np.float32)
    K2 = rng.standard_normal((4, 3, 2, 4)).astype(np.float32)
    twice = F.conv2d(F.conv2d(torch.from_numpy(X), torch.from_numpy(K1)), torch.from_numpy(K2))
    return {"X": X, "K1": K1, "K2": K2, "two convolutions": twice.numpy()}


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch7_4_channels": section(), "ch7_4_channels_exercises": exercises()}
