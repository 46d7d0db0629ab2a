"""The pieces of d2l 1.0.3's PyTorch code that several chapter generators re-create (d2l is not installed)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator

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


def dtype_name(t: torch.Tensor) -> str:
    """A tensor's dtype as d2l prints it without the module: "float32"."""
    return str(t.dtype).removeprefix("torch.")


def tensor_record(t: torch.Tensor) -> dict[str, Any]:
    """A tensor as the book prints it: values, shape and dtype (chapter 2's reference files store these)."""
    return {"values": t.detach().numpy().copy(), "shape": list(t.shape), "dtype": dtype_name(t)}


@contextmanager
def one_thread() -> Iterator[None]:
    """Runs torch on one thread inside the block: chapters 4 and 5's ops are so small (256 x 784 x 10) that a second
    OpenMP thread only spins (on a busy 2-core machine the from-scratch model ran ~40x slower), and a fixed thread
    count keeps reductions, and so the files, identical from run to run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
