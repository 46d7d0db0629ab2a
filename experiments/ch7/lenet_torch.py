"""d2l 7.6's LeNet in PyTorch, as d2l 1.0.3 builds, initialises and trains it: what 7.6's generator (its quick
replay and its opt-in seed band) needs. A support module of the generators (it imports torch), not an experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.harness import torch_d2l
from jaxdl.datasets import fashion_mnist

BATCH_SIZE, LR, EPOCHS = 128, 0.1, 10


def fashion_mnist_tensors() -> dict[str, torch.Tensor]:
    """The four arrays as tensors: images (N, 1, 28, 28) float32 = ToTensor()'s x / 255 (d2l's Resize((28, 28)) of
    a 28 x 28 image is the image itself), labels int64."""
    a = fashion_mnist.load_arrays()
    out = {}
    for split in ("train", "val"):
        out[f"X_{split}"] = torch.from_numpy(a[f"{split}_images"].astype(np.float32) / np.float32(255))[:, None]
        out[f"y_{split}"] = torch.from_numpy(a[f"{split}_labels"].astype(np.int64))
    return out


def lenet(modern: bool = False, num_classes: int = 10) -> nn.Sequential:
    """d2l 7.6's LeNet (lazy layers, sigmoid, average pooling); modern=True: ReLU and max pooling (exercise 1)."""
    act = nn.ReLU if modern else nn.Sigmoid
    pool = (lambda: nn.MaxPool2d(kernel_size=2, stride=2)) if modern else (lambda: nn.AvgPool2d(kernel_size=2, stride=2))
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5, padding=2), act(), pool(),
        nn.LazyConv2d(16, kernel_size=5), act(), pool(),
        nn.Flatten(),
        nn.LazyLinear(120), act(),
        nn.LazyLinear(84), act(),
        nn.LazyLinear(num_classes))


def weighted(net: nn.Sequential) -> list[nn.Module]:
    """The convolutions and dense layers, in order."""
    return [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]


def loss_fn(Y_hat: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """d2l's Classifier.loss: mean cross-entropy from logits."""
    return F.cross_entropy(Y_hat, Y, reduction="mean")


def book_run(data: dict[str, torch.Tensor], seed: int, make_model: Callable[[], nn.Sequential] = lenet,
             epochs: int = EPOCHS, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """One run of d2l 7.6 (LeNet, lr 0.1, batch 128) through d2l's Trainer (torch_d2l.book_run); on_epoch(record)
    is called after every epoch with the numbers so far (a progress file survives a stopped run)."""
    record: dict[str, Any] = {"seed": seed, "config": config(epochs)}
    return torch_d2l.book_run(make_model, data, seed, batch_size=BATCH_SIZE, lr=LR, epochs=epochs, record=record,
                              on_epoch=on_epoch)[0]


def config(epochs: int) -> dict[str, Any]:
    """What a progress record was trained with: a record made otherwise (another torch, other settings) is not reused."""
    return {"torch": torch.__version__, "batch_size": BATCH_SIZE, "lr": LR, "epochs": epochs,
            "threads": torch.get_num_threads()}


def read_progress(path: Path, epochs: int) -> dict[int, dict[str, Any]]:
    """The last record of every seed in a progress file (one JSON line per finished epoch) made with this config."""
    runs: dict[int, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                if record.get("config") == config(epochs):
                    runs[record["seed"]] = record
    return runs


def band(data: dict[str, torch.Tensor], seeds: tuple[int, ...], progress: Path, epochs: int = EPOCHS,
         make_model: Callable[[], nn.Sequential] = lenet) -> dict[str, Any]:
    """book_run for each seed, one after the other, each epoch appended to `progress` (JSON lines); a seed whose
    `epochs` epochs the file already holds is taken from it (a stopped band resumes where it stopped)."""
    done = read_progress(progress, epochs)
    progress.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in seeds:
        if seed in done and len(done[seed]["val_acc"]) >= epochs:
            runs.append(done[seed])
            continue

        def write(record: dict[str, Any]) -> None:
            with progress.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"seed {record['seed']} epoch {len(record['val_acc'])}: val acc {record['val_acc'][-1]:.4f} "
                  f"({record['epoch_seconds'][-1]:.1f} s)", flush=True)

        runs.append(book_run(data, seed, make_model, epochs, on_epoch=write))
    out: dict[str, Any] = {"lr": LR, "batch_size": BATCH_SIZE, "epochs": epochs, "seeds": list(seeds)}
    for key in ("epoch_train_loss", "val_loss", "val_acc"):
        out[key] = [run[key][:epochs] for run in runs]
    out["timing"] = {"seconds_per_epoch": [run["epoch_seconds"][:epochs] for run in runs]}
    return out


# ----------------------------------------------------------------------------- replays (NumPy draws)


def summary(W: np.ndarray) -> dict[str, Any]:
    """A weight (or kernel) as the replays store it: its norm and sum (float64) and the first 8 x 8 of its
    (out, in * kh * kw) matrix."""
    M = W.reshape(W.shape[0], -1)
    return {"norm": float(np.linalg.norm(M.astype(np.float64))), "sum": float(M.astype(np.float64).sum()),
            "head": M[:8, :8]}


def replay(images: np.ndarray, labels: np.ndarray, val_images: np.ndarray, val_labels: np.ndarray,
           init: list[tuple[np.ndarray, np.ndarray]], orders: list[np.ndarray], dtype: torch.dtype,
           modern: bool = False, probe: np.ndarray | None = None) -> dict[str, Any]:
    """Trains LeNet from NumPy initial layers on the given uint8 images in the given minibatch orders (SGD, lr 0.1,
    batch 128, dtype float32 or float64): every step's loss, the final layers, the validation loss and accuracy,
    and (probe: uint8 images) the first two convolutions' activations (after their nonlinearity) for those images."""
    to_x = lambda a: (torch.from_numpy(a.astype(np.float64 if dtype == torch.float64 else np.float32)) / 255)[:, None]  # noqa: E731
    X, y = to_x(images), torch.from_numpy(labels.astype(np.int64))
    model = lenet(modern)
    model(X[:1].float())
    model = model.to(dtype)
    with torch.no_grad():
        for m, (W, b) in zip(weighted(model), init):
            m.weight.copy_(torch.from_numpy(W))
            m.bias.copy_(torch.from_numpy(b))
    optim = torch.optim.SGD(model.parameters(), lr=LR)
    steps = []
    for order in orders:
        for start in range(0, len(order), BATCH_SIZE):
            rows = torch.from_numpy(order[start:start + BATCH_SIZE])
            loss = loss_fn(model(X[rows]), y[rows])
            optim.zero_grad()
            loss.backward()
            optim.step()
            steps.append(loss.item())
    out: dict[str, Any] = {"step_losses": np.array(steps),
                           "final": [{"W": summary(m.weight.detach().numpy()), "b": m.bias.detach().numpy().copy()}
                                     for m in weighted(model)]}
    with torch.no_grad():
        Y_hat = model(to_x(val_images))
        out["val_loss"] = float(loss_fn(Y_hat, torch.from_numpy(val_labels.astype(np.int64))))
        out["val_acc"] = float((Y_hat.argmax(axis=1) == torch.from_numpy(val_labels.astype(np.int64))).double().mean())
        if probe is not None:
            h1 = model[1](model[0](to_x(probe)))
            h2 = model[4](model[3](model[2](h1)))
            out["activations"] = {"layer1": h1.numpy(), "layer2": h2.numpy()}
    return out
