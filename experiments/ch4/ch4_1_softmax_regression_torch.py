"""PyTorch reference numbers for d2l 4.1 Softmax regression, computed as d2l 1.0.3 does."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from experiments.harness.torch_d2l import one_thread


def softmax_regression_basics() -> dict[str, Any]:
    """d2l 4.1: softmax, entropy, cross-entropy, one-hot labels and the gradient softmax(o) - y."""
    P = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1], [1.0, 0.0, 0.0, 0.0]])
    Q = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.6, 0.2, 0.1, 0.1], [0.9, 0.05, 0.03, 0.02]])
    entropy = torch.special.entr(P).sum(dim=1)  # entr(0) = 0, the limit of -p log p
    cross_entropy = -(torch.special.xlogy(P, Q)).sum(dim=1)
    labels = torch.tensor([0, 2, 1, 2, 3])
    o = torch.tensor([[1.0, -1.0, 2.0], [0.5, 0.5, 0.5], [3.0, 0.0, -3.0]], requires_grad=True)
    y = torch.tensor([2, 0, 1])
    loss = F.cross_entropy(o, y, reduction="sum")
    loss.backward()
    return {
        "P": P, "Q": Q,
        "entropy_nats": entropy,
        "entropy_bits": entropy / math.log(2),
        "cross_entropy": cross_entropy,
        "kl_divergence": cross_entropy - entropy,
        "labels": labels,
        "one_hot": F.one_hot(labels, 4),
        "one_hot_dtype": str(F.one_hot(labels, 4).dtype).removeprefix("torch."),
        "o": o.detach(), "y": y,
        "softmax_o": torch.softmax(o.detach(), dim=1),
        "loss_per_example": F.cross_entropy(o.detach(), y, reduction="none"),
        "grad_loss_o": o.grad,
        "softmax_minus_one_hot": torch.softmax(o.detach(), dim=1) - F.one_hot(y, 3),
    }  # fmt: skip


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch4_1_softmax_regression": softmax_regression_basics()}
