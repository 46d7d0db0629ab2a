"""PyTorch reference numbers for d2l 7.5 Pooling and its exercises, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from experiments.ch7.conv_torch import pool2d
from experiments.harness.torch_d2l import one_thread

SEED = 75
# (kernel_size, stride, padding) of the book's three nn.MaxPool2d calls; stride None is the window itself.
BOOK_POOLS = ((3, None, 0), (3, 2, 1), ((2, 3), (2, 3), (0, 1)))
GRAD_POOLS = ((3, 2, 1), ((2, 3), (2, 3), (0, 1)), (2, 1, 0), (2, None, 0))
TIE_POOLS = ((2, 1, 0), (3, 1, 1), (2, None, 0))


def make(kind: str, kernel: Any, stride: Any, padding: Any) -> nn.Module:
    cls = nn.MaxPool2d if kind == "max" else nn.AvgPool2d
    return cls(kernel) if stride is None and padding == 0 else cls(kernel, stride=stride, padding=padding)


def grad_of(pool: nn.Module, X: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pool(X) and the gradient of sum(pool(X) * G) with respect to X."""
    t = torch.from_numpy(X).requires_grad_(True)
    Y = pool(t)
    (Y * torch.from_numpy(G)).sum().backward()
    return Y.detach().numpy(), t.grad.numpy()


def section() -> dict[str, Any]:
    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    X4 = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))
    X2 = torch.cat((X4, X4 + 1), 1)
    layers = {}
    for kind in ("max", "avg"):
        for kernel, stride, padding in BOOK_POOLS:
            pool = make(kind, kernel, stride, padding)
            layers[f"{kind} {kernel} {stride} {padding}"] = {"one channel": pool(X4).numpy(), "two channels": pool(X2).numpy()}
    rng = np.random.default_rng(SEED)
    X_grad = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    grads = {}
    for kind in ("max", "avg"):
        for kernel, stride, padding in GRAD_POOLS:
            pool = make(kind, kernel, stride, padding)
            G = rng.standard_normal(tuple(pool(torch.from_numpy(X_grad)).shape)).astype(np.float32)
            Y, dX = grad_of(pool, X_grad, G)
            grads[f"{kind} {kernel} {stride} {padding}"] = {"G": G, "Y": Y, "dX": dX}
    ones = np.ones((1, 1, 3, 3), np.float32)
    ties = {f"{kernel} {stride} {padding}": grad_of(make("max", kernel, stride, padding), ones,
                                                    np.ones_like(make("max", kernel, stride, padding)(
                                                        torch.from_numpy(ones)).detach().numpy()))[1]
            for kernel, stride, padding in TIE_POOLS}
    t = torch.ones((3, 3), requires_grad=True)
    pool2d(t, (2, 2)).sum().backward()
    return {
        "pool2d max": pool2d(X, (2, 2)).numpy(), "pool2d avg": pool2d(X, (2, 2), "avg").numpy(),
        "X4": X4.numpy(), "layers": layers, "X_grad": X_grad, "grads": grads,
        "ties": {"layer": ties, "pool2d": t.grad.numpy()},
    }


def exercises() -> dict[str, Any]:
    """Exercises 1 and 3: the pools that a convolution and ReLUs must reproduce."""
    rng = np.random.default_rng(SEED + 1)
    X = rng.standard_normal((2, 3, 8, 6)).astype(np.float32)
    t = torch.from_numpy(X)
    return {"X": X, "avg 3 2 1": nn.AvgPool2d(3, stride=2, padding=1)(t).numpy(), "max 2": nn.MaxPool2d(2)(t).numpy(),
            "max 3": nn.MaxPool2d(3)(t).numpy()}


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch7_5_pooling": section(), "ch7_5_pooling_exercises": exercises()}
