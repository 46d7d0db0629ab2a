"""d2l 7.2-7.5's from-scratch operations in PyTorch, as the book writes them: what those sections' generators share
(a support module of the generators, it imports torch)."""

from __future__ import annotations

import torch


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """d2l 7.2's corr2d: Y[i, j] = (X[i:i+h, j:j+w] * K).sum(), one entry at a time."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


def corr2d_multi_in(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """d2l 7.4: the sum over channels of each channel's corr2d."""
    return sum(corr2d(x, k) for x, k in zip(X, K))


def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """d2l 7.4: one corr2d_multi_in per output channel, stacked."""
    return torch.stack([corr2d_multi_in(X, k) for k in K], 0)


def corr2d_multi_in_out_1x1(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """d2l 7.4: a 1 x 1 convolution as (c_o, c_i) @ (c_i, h * w)."""
    c_i, h, w = X.shape
    c_o = K.shape[0]
    return torch.matmul(K.reshape((c_o, c_i)), X.reshape((c_i, h * w))).reshape((c_o, h, w))


def pool2d(X: torch.Tensor, pool_size: tuple[int, int], mode: str = "max") -> torch.Tensor:
    """d2l 7.5's pool2d: X[i:i+p_h, j:j+p_w].max() or .mean(), one entry at a time."""
    p_h, p_w = pool_size
    Y = torch.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            if mode == "max":
                Y[i, j] = X[i:i + p_h, j:j + p_w].max()
            elif mode == "avg":
                Y[i, j] = X[i:i + p_h, j:j + p_w].mean()
    return Y


def stripes() -> torch.Tensor:
    """d2l 7.2's 6 x 8 image: ones, columns 2 to 5 zero."""
    X = torch.ones((6, 8))
    X[:, 2:6] = 0
    return X
