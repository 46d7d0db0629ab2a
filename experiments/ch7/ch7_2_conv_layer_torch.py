"""PyTorch reference numbers for d2l 7.2 Convolutions for images and its exercises, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.ch7.conv_torch import corr2d, stripes
from experiments.harness import replay as draws
from experiments.harness.torch_d2l import one_thread

# 7.2's kernel learning: the book's loop with a NumPy initial kernel.
KERNEL_SEED, LR, EPOCHS = 72, 3e-2, 10


def learn_kernel(X: torch.Tensor, Y: torch.Tensor) -> dict[str, Any]:
    """d2l 7.2.4: LazyConv2d(1, (1, 2), bias=False) from the NumPy kernel, l = (Y_hat - Y)^2, weight -= lr * grad;
    the summed loss of every epoch (before its update: the book prints every second one) and the learned kernel."""
    conv2d = nn.LazyConv2d(1, kernel_size=(1, 2), bias=False)
    X, Y = X.reshape((1, 1, 6, 8)), Y.reshape((1, 1, 6, 7))
    conv2d(X)  # materialise the lazy weight before overwriting it
    init = draws.kernel_draw(KERNEL_SEED)
    with torch.no_grad():
        conv2d.weight.copy_(torch.from_numpy(init))
    losses, grads = [], []
    for _ in range(EPOCHS):
        Y_hat = conv2d(X)
        l = (Y_hat - Y) ** 2
        conv2d.zero_grad()
        l.sum().backward()
        grads.append(conv2d.weight.grad.numpy().copy())
        conv2d.weight.data[:] -= LR * conv2d.weight.grad
        losses.append(l.sum().detach().numpy().copy())
    return {"seed": KERNEL_SEED, "lr": LR, "epochs": EPOCHS, "init": init, "losses": np.array(losses),
            "grads": np.array(grads), "kernel": conv2d.weight.data.reshape((1, 2)).numpy().copy()}


def section() -> dict[str, Any]:
    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    edges = stripes()
    K_edge = torch.tensor([[1.0, -1.0]])
    Y = corr2d(edges, K_edge)
    rng = np.random.default_rng(7)
    X_rand = rng.standard_normal((9, 11)).astype(np.float32)
    K_rand = rng.standard_normal((3, 4)).astype(np.float32)
    return {
        "corr2d_3x3": corr2d(X, K).numpy(),
        "stripes": edges.numpy(),
        "edges": Y.numpy(),
        "edges_transposed": corr2d(edges.t(), K_edge).numpy(),
        "random": {"X": X_rand, "K": K_rand, "corr2d": corr2d(torch.from_numpy(X_rand), torch.from_numpy(K_rand)).numpy(),
                   "F.conv2d": F.conv2d(torch.from_numpy(X_rand)[None, None], torch.from_numpy(K_rand)[None, None])[0, 0].numpy()},
        "learn": learn_kernel(edges, Y),
    }


def diagonal(n: int = 8) -> torch.Tensor:
    """Exercise 1's image: ones on and below the diagonal, zeros above it (one diagonal edge)."""
    return torch.tril(torch.ones((n, n)))


def exercises() -> dict[str, Any]:
    X = diagonal()
    K = torch.tensor([[1.0, -1.0]])
    conv = lambda X, K: F.conv2d(X[None, None], K[None, None])[0, 0].numpy()  # noqa: E731
    # exercise 2: a second-difference kernel on the image x^2 + y^2 (its second derivative along x is 2)
    grid = torch.arange(8.0)
    quadratic = grid[:, None] ** 2 + grid[None, :] ** 2
    return {
        "diagonal": X.numpy(),
        "K on X": conv(X, K), "K on X.T": conv(X.t(), K), "K.T on X": conv(X, K.t()),
        "second difference on x^2 + y^2": conv(quadratic, torch.tensor([[1.0, -2.0, 1.0]])),
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch7_2_conv_layer": section(), "ch7_2_conv_layer_exercises": exercises()}
