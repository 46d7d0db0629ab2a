"""PyTorch reference numbers for d2l 5.6 (dropout) and its exercises, computed as d2l 1.0.3 does.

- replay: initial parameters, minibatch orders AND every dropout mask are drawn by NumPy, so PyTorch and
  jaxdl run the same trajectory (masks through d2l's `mask * X / (1.0 - dropout)`);
- book: d2l's DropoutMLPScratch and DropoutMLP on the full data under torch.manual_seed, several seeds;
- masks: what d2l's dropout_layer and nn.Dropout draw from PyTorch's global generator (fractions kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from experiments.harness import replay as draws
from experiments.ch5.ch5_2_mlp_implementation_torch import _checksum, _fashion_mnist, _summary, book, loss_fn

NUM_HIDDENS = (256, 256)
DROPOUT = (0.5, 0.5)
LR, BATCH_SIZE = 0.1, 256

REPLAY_SEED = 56
REPLAY_TRAIN, REPLAY_VAL, REPLAY_EPOCHS = 5000, 1000, 4

BOOK_SEEDS = (0, 1, 2)
EXERCISE_SEEDS = (0, 1)
# 5.6 exercises: no dropout, and the first layer's and second layer's rates swapped.
EXERCISE_RATES = {"no_dropout": (0.0, 0.0), "rates_0.2_0.5": (0.2, 0.5), "rates_0.5_0.2": (0.5, 0.2)}

MASK_SEED, MASK_SHAPE, MASK_RATES = 0, (1000, 1000), (0.0, 0.1, 0.5, 0.9, 1.0)


def dropout_layer(X: torch.Tensor, dropout: float) -> torch.Tensor:
    """d2l 5.6.1's dropout_layer: keep where U[0, 1) > dropout, scale the kept by 1 / (1 - dropout)."""
    assert 0 <= dropout <= 1
    if dropout == 1:
        return torch.zeros_like(X)
    mask = (torch.rand(X.shape) > dropout).float()
    return mask * X / (1.0 - dropout)


class DropoutMLPScratch(nn.Module):
    """d2l 5.6.1's model: three LazyLinear layers, ReLU, dropout_layer after each hidden layer in training.

    masks: for the replay, a function step -> (mask1, mask2) of given 0/1 masks used in place of torch.rand.
    """

    def __init__(self, num_outputs: int, num_hiddens: tuple[int, int], dropout: tuple[float, float]):
        super().__init__()
        self.lin1, self.lin2 = nn.LazyLinear(num_hiddens[0]), nn.LazyLinear(num_hiddens[1])
        self.lin3 = nn.LazyLinear(num_outputs)
        self.relu = nn.ReLU()
        self.dropout = dropout
        self.given_masks: tuple[torch.Tensor, torch.Tensor] | None = None

    def drop(self, H: torch.Tensor, i: int) -> torch.Tensor:
        if self.given_masks is None:
            return dropout_layer(H, self.dropout[i])
        mask = self.given_masks[i][: H.shape[0]].float()
        return mask * H / (1.0 - self.dropout[i])

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        H1 = self.relu(self.lin1(X.reshape((X.shape[0], -1))))
        if self.training:
            H1 = self.drop(H1, 0)
        H2 = self.relu(self.lin2(H1))
        if self.training:
            H2 = self.drop(H2, 1)
        return self.lin3(H2)

    def layers(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        return [(m.weight, m.bias) for m in (self.lin1, self.lin2, self.lin3)]


def dropout_mlp(num_outputs: int, num_hiddens: tuple[int, int], dropout: tuple[float, float]) -> nn.Sequential:
    """d2l 5.6.2's DropoutMLP.net: Flatten, LazyLinear, ReLU, nn.Dropout, twice, then LazyLinear."""
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_hiddens[0]), nn.ReLU(), nn.Dropout(dropout[0]),
                         nn.LazyLinear(num_hiddens[1]), nn.ReLU(), nn.Dropout(dropout[1]), nn.LazyLinear(num_outputs))


# ----------------------------------------------------------------------------- replay


def replay_draws(seed: int = REPLAY_SEED) -> dict[str, Any]:
    """Everything random in the replay, from one NumPy generator in this order: the initial (W (in, out), b)
    of the three layers (nn.Linear's uniform init), one order per epoch, then per epoch and step two keep-masks
    (batch_size, hidden) = U[0, 1) > dropout, drawn at full batch size even for the last, partial batch."""
    return draws.dropout_replay_draws(seed, 784, NUM_HIDDENS, 10, DROPOUT, REPLAY_TRAIN, BATCH_SIZE, REPLAY_EPOCHS)


def replay(data: dict[str, torch.Tensor]) -> dict[str, Any]:
    """DropoutMLPScratch with torch.optim.SGD on a subset, consuming the NumPy-drawn parameters, orders, masks."""
    d = replay_draws()
    X, y = data["X_train"][:REPLAY_TRAIN], data["y_train"][:REPLAY_TRAIN]
    X_val, y_val = data["X_val"][:REPLAY_VAL], data["y_val"][:REPLAY_VAL]
    model = DropoutMLPScratch(10, NUM_HIDDENS, DROPOUT)
    model.eval()
    model(X[:1])  # materialise the lazy layers before overwriting them
    with torch.no_grad():
        for (W, b), (W0, b0) in zip(model.layers(), d["init"]):
            W.copy_(torch.from_numpy(W0).T)
            b.copy_(torch.from_numpy(b0))
    optim = torch.optim.SGD(model.parameters(), lr=LR)
    model.train()

    def set_masks(epoch: int, step: int) -> None:
        model.given_masks = tuple(torch.from_numpy(m) for m in d["masks"][epoch][step])

    first = torch.from_numpy(d["orders"][0][:BATCH_SIZE])
    set_masks(0, 0)
    loss = loss_fn(model(X[first]), y[first])
    loss.backward()
    init_grads = {"loss": loss.detach().numpy(),
                  "layers": [{"W": _summary(W.grad.T), "b": b.grad.numpy().copy()} for W, b in model.layers()]}
    optim.zero_grad()

    step_losses = []
    for epoch, order in enumerate(d["orders"]):
        for step, start in enumerate(range(0, REPLAY_TRAIN, BATCH_SIZE)):
            rows = torch.from_numpy(order[start : start + BATCH_SIZE])
            set_masks(epoch, step)
            loss = loss_fn(model(X[rows]), y[rows])
            optim.zero_grad()
            loss.backward()
            optim.step()
            step_losses.append(loss.detach().numpy())
    model.eval()
    with torch.no_grad():
        Y_hat = model(X_val)
        val_loss = loss_fn(Y_hat, y_val)
        val_acc = (Y_hat.argmax(axis=1) == y_val).float().mean()
    all_masks = [m for epoch in d["masks"] for step in epoch for m in step]
    return {
        "seed": REPLAY_SEED, "num_train": REPLAY_TRAIN, "num_val": REPLAY_VAL, "epochs": REPLAY_EPOCHS,
        "batch_size": BATCH_SIZE, "lr": LR, "num_hiddens": list(NUM_HIDDENS), "dropout": list(DROPOUT),
        "optimizer": "torch.optim.SGD",
        "init_checksum": _checksum(*(a for layer in d["init"] for a in layer)),
        "orders_checksum": _checksum(*d["orders"]),
        "masks_checksum": _checksum(*all_masks),
        "masks_kept_fraction": float(np.mean([m.mean() for m in all_masks])),
        "init_grads": init_grads,
        "step_losses": np.array(step_losses),
        "final": [{"W": _summary(W.T), "b": b.detach().numpy().copy()} for W, b in model.layers()],
        "val_logits_first_8": Y_hat[:8].numpy(),
        "val_loss": val_loss.numpy(),
        "val_acc": val_acc.numpy(),
    }


# ----------------------------------------------------------------------------- masks


def mask_statistics() -> dict[str, Any]:
    """Fractions kept and output means of d2l's dropout_layer and nn.Dropout on a tensor of ones, per rate."""
    torch.manual_seed(MASK_SEED)
    X = torch.ones(MASK_SHAPE)
    rows = []
    for p in MASK_RATES:
        scratch = dropout_layer(X, p)
        concise = nn.Dropout(p).train()(X)
        rows.append({"p": p,
                     "scratch_kept": (scratch != 0).float().mean().item(), "scratch_mean": scratch.mean().item(),
                     "concise_kept": (concise != 0).float().mean().item(), "concise_mean": concise.mean().item(),
                     "kept_value": scratch.max().item()})
    return {"seed": MASK_SEED, "shape": list(MASK_SHAPE), "rates": rows}


def generate() -> dict[str, dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as torch_ch5: fixed reductions, and faster on the shared machine
    try:
        data = _fashion_mnist()
        scratch = lambda: DropoutMLPScratch(10, NUM_HIDDENS, DROPOUT)  # noqa: E731
        concise = lambda: dropout_mlp(10, NUM_HIDDENS, DROPOUT)  # noqa: E731
        return {
            "ch5_6_dropout": {
                "hyperparameters": {"num_hiddens": list(NUM_HIDDENS), "dropout": list(DROPOUT), "lr": LR,
                                    "batch_size": BATCH_SIZE},
                "masks": mask_statistics(),
                "replay": replay(data),
                "book": {"scratch": book("scratch", scratch, "torch.optim.SGD", data, BOOK_SEEDS),
                         "concise": book("concise", concise, "torch.optim.SGD", data, BOOK_SEEDS)},
            },
            "ch5_6_dropout_exercises": {
                "rates": {name: list(rates) for name, rates in EXERCISE_RATES.items()},
                "book": {name: book(name, lambda r=rates: dropout_mlp(10, NUM_HIDDENS, r), "torch.optim.SGD", data,
                                    EXERCISE_SEEDS)
                         for name, rates in EXERCISE_RATES.items()},
            },
        }
    finally:
        torch.set_num_threads(threads)
