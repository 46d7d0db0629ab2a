"""The pieces of d2l 1.0.3's PyTorch code that several chapter generators re-create (d2l is not installed)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F


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


def init_cnn(module: torch.nn.Module) -> None:
    """d2l's init_cnn: Xavier-uniform weights of every Linear and Conv2d; biases keep PyTorch's default."""
    if type(module) is torch.nn.Linear or type(module) is torch.nn.Conv2d:
        torch.nn.init.xavier_uniform_(module.weight)


def book_run(make_model: Callable[[], torch.nn.Module], data: dict[str, torch.Tensor], seed: int, *,
             batch_size: int, lr: float, epochs: int, record: dict[str, Any],
             on_epoch: Callable[[dict[str, Any]], None] | None = None) -> tuple[dict[str, Any], torch.nn.Module]:
    """One d2l book run of a classifier (chapters 7 and 8): torch.manual_seed(seed), the model, apply_init on the
    first training batch with init_cnn, then d2l's Trainer: per epoch a shuffled training loader (SGD at lr, mean
    cross-entropy) and the validation loader in evaluation mode.

    The random draws follow d2l's order: iterating the training loader once for apply_init's batch (its base seed
    and its sampler's seed), the lazy layers' default init at that first forward, Xavier on the weights, then each
    epoch's two loaders. The loaders run without d2l's 4 workers (a loader draws the same seeds either way).

    Args:
        make_model: builds the (lazy) network.
        data: X_train, y_train, X_val, y_val tensors.
        seed, batch_size, lr, epochs: the run's settings.
        record: the dict the epochs' numbers are appended to (epoch_train_loss, val_loss, val_acc,
            epoch_seconds), with whatever else the caller keeps in it.
        on_epoch: called after every epoch with the record so far (a progress file survives a stopped run).

    Returns:
        (record, the trained model).
    """
    torch.manual_seed(seed)
    model = make_model()
    train = torch.utils.data.TensorDataset(data["X_train"], data["y_train"])
    val = torch.utils.data.TensorDataset(data["X_val"], data["y_val"])
    train_loader = torch.utils.data.DataLoader(train, batch_size, shuffle=True)
    val_loader = torch.utils.data.DataLoader(val, batch_size, shuffle=False)
    model(next(iter(train_loader))[0])
    model.apply(init_cnn)
    optim = torch.optim.SGD(model.parameters(), lr=lr)
    for key in ("epoch_train_loss", "val_loss", "val_acc", "epoch_seconds"):
        record.setdefault(key, [])
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        losses = []
        for X, y in train_loader:
            loss = F.cross_entropy(model(X), y, reduction="mean")
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(loss.item())
        model.eval()
        total_loss, total_correct = 0.0, 0.0
        with torch.no_grad():
            for X, y in val_loader:
                Y_hat = model(X)
                total_loss += F.cross_entropy(Y_hat, y, reduction="sum").item()
                total_correct += (Y_hat.argmax(axis=1) == y).sum().item()
        record["epoch_train_loss"].append(float(np.mean(np.array(losses, np.float32), dtype=np.float64)))
        record["val_loss"].append(total_loss / len(val))
        record["val_acc"].append(total_correct / len(val))
        record["epoch_seconds"].append(time.perf_counter() - start)
        if on_epoch is not None:
            on_epoch(record)
    return record, model
