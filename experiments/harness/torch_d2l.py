"""The pieces of d2l 1.0.3's PyTorch code that several chapter generators re-create (d2l is not installed)."""

from __future__ import annotations

from typing import Iterable

import torch


class SGD:
    """d2l 3.4's hand-written minibatch SGD: param -= lr * param.grad under no_grad."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float):
        self.params, self.lr = list(params), lr

    def step(self) -> None:
        with torch.no_grad():
            for param in self.params:
                param -= self.lr * param.grad

    def zero_grad(self) -> None:
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()
