"""PyTorch reference numbers for d2l 4.5 Concise implementation of softmax regression, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.ch4.ch4_2_image_classification_dataset_torch import fashion_mnist_uint8
from experiments.ch4.ch4_4_softmax_regression_scratch_torch import book_band, EPOCHS, full_data, LR, replay, torch_sgd
from experiments.harness.torch_d2l import one_thread


class SoftmaxRegression(nn.Module):
    """d2l 4.5's concise model: Flatten then LazyLinear, trained on F.cross_entropy of the logits."""

    def __init__(self, num_outputs: int = 10, weight: np.ndarray | None = None, bias: np.ndarray | None = None):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_outputs))
        if weight is not None:
            self.net(torch.zeros(1, weight.shape[1]))  # materialise the lazy layer, then overwrite it
            with torch.no_grad():
                self.net[1].weight.copy_(torch.from_numpy(weight))
                self.net[1].bias.copy_(torch.from_numpy(bias))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)

    def loss(self, Y_hat: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(Y_hat, Y, reduction="mean")

    def named(self) -> dict[str, torch.Tensor]:
        """Parameters in jaxdl's layout: nn.Linear's weight (outputs, inputs) transposed."""
        return {"W": self.net[1].weight.T, "b": self.net[1].bias}

    def grads(self) -> dict[str, torch.Tensor]:
        return {"W": self.net[1].weight.grad.T, "b": self.net[1].bias.grad}


def softmax_concise(data: dict[str, torch.Tensor]) -> dict[str, Any]:
    """d2l 4.5: nn.LazyLinear + F.cross_entropy + torch.optim.SGD; replay with NumPy-drawn init, book band."""
    make = lambda p: SoftmaxRegression(weight=np.ascontiguousarray(p["W"].T), bias=p["b"])  # noqa: E731
    return {
        "replay": replay(data, make, "uniform", {"torch_sgd": torch_sgd}),
        "book": book_band(SoftmaxRegression, torch_sgd, LR, full_data(data), EPOCHS),
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        data = fashion_mnist_uint8()
        return {"ch4_5_softmax_regression_concise": softmax_concise(data)}
