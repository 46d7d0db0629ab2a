"""PyTorch reference numbers for d2l 3.7 (weight decay) and its exercises, computed as d2l 1.0.3 does.

- replay: d2l's high-dimensional data (200 inputs, 20 training and 100 validation examples), the initial w and
  every epoch's minibatch order drawn by NumPy; trained with the L2 penalty in the loss (d2l's hand-written
  SGD) and with the decay in torch.optim.SGD (weight_decay on the weight only), lambda 0 and 3;
- book: d2l's runs under torch.manual_seed(seed), 20 seeds (a run is 40 steps of a linear model);
- exercises: replays over a range of lambda for the L2 penalty and for an L1 penalty.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from experiments.harness.torch_d2l import SGD
from experiments.ch3.ch3_4_linear_regression_scratch_torch import squared_loss

NUM_TRAIN, NUM_VAL, NUM_INPUTS, BATCH_SIZE = 20, 100, 200, 5
TRUE_W, TRUE_B, NOISE = 0.01, 0.05, 0.01
LR, EPOCHS, SIGMA = 0.01, 10, 0.01
LAMBDAS = (0.0, 3.0)
REPLAY_SEED = 37
BOOK_SEEDS = tuple(range(20))
SWEEP_LAMBDAS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
L1_LAMBDAS = (0.01, 0.03, 0.1, 0.3)


def l2_penalty(w: torch.Tensor) -> torch.Tensor:
    """d2l 3.7's l2_penalty: sum(w^2) / 2 (what the book prints as 'L2 norm of w')."""
    return (w**2).sum() / 2


def l1_penalty(w: torch.Tensor) -> torch.Tensor:
    """The exercise's L1 penalty: sum |w|."""
    return w.abs().sum()


class Data:
    """d2l 3.7's data module: X ~ N(0, 1) (n, 200), y = X w + b + 0.01 noise with w = 0.01, b = 0.05."""

    def __init__(self) -> None:
        n = NUM_TRAIN + NUM_VAL
        self.X = torch.randn(n, NUM_INPUTS)
        noise = torch.randn(n, 1) * NOISE
        w, b = torch.ones((NUM_INPUTS, 1)) * TRUE_W, TRUE_B
        self.y = torch.matmul(self.X, w) + b + noise

    def get_dataloader(self, train: bool) -> torch.utils.data.DataLoader:
        i = slice(0, NUM_TRAIN) if train else slice(NUM_TRAIN, None)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(self.X[i], self.y[i]), BATCH_SIZE,
                                           shuffle=train)


class WeightDecayScratch(nn.Module):
    """d2l 3.7.3: LinearRegressionScratch whose loss adds lambd * penalty(w) to the mean squared loss."""

    def __init__(self, lambd: float, w: np.ndarray | None = None, penalty: Callable = l2_penalty):
        super().__init__()
        w0 = torch.normal(0, SIGMA, (NUM_INPUTS, 1)) if w is None else torch.tensor(w)
        self.w = nn.Parameter(w0)
        self.b = nn.Parameter(torch.zeros(1))
        self.lambd, self.penalty = lambd, penalty

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.matmul(X, self.w) + self.b

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return squared_loss(y_hat, y) + self.lambd * self.penalty(self.w)

    def plain_loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return squared_loss(y_hat, y)

    def weight(self) -> torch.Tensor:
        return self.w.detach().reshape(-1)

    def bias(self) -> torch.Tensor:
        return self.b.detach()

    def optimizer(self) -> Any:
        return SGD(self.parameters(), LR)


class WeightDecay(nn.Module):
    """d2l 3.7.4: LinearRegression (nn.LazyLinear(1), nn.MSELoss) with torch.optim.SGD's weight_decay=wd on the
    weight only. As in 3.5, the book's normal_(0, 0.01) on the lazy layer changes nothing (nn.Linear's default
    init applies) unless w is given (replay), which materialises the layer first."""

    def __init__(self, wd: float, w: np.ndarray | None = None):
        super().__init__()
        self.net = nn.LazyLinear(1)
        if w is not None:
            self.net(torch.zeros(1, NUM_INPUTS))
            self.net.weight.data.copy_(torch.tensor(w).reshape(1, -1))
        else:
            self.net.weight.data.normal_(0, 0.01)
        self.net.bias.data.fill_(0)
        self.wd = wd

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.MSELoss()(y_hat, y)

    plain_loss = loss

    def weight(self) -> torch.Tensor:
        return self.net.weight.data.reshape(-1)

    def bias(self) -> torch.Tensor:
        return self.net.bias.data

    def optimizer(self) -> Any:
        return torch.optim.SGD([{"params": self.net.weight, "weight_decay": self.wd}, {"params": self.net.bias}],
                               lr=LR)


def replay_data(seed: int = REPLAY_SEED) -> dict[str, Any]:
    """float32 data, a standard-normal draw for the initial w and one order per epoch, all from NumPy."""
    rng = np.random.default_rng(seed)
    n = NUM_TRAIN + NUM_VAL
    X = rng.normal(size=(n, NUM_INPUTS)).astype(np.float32)
    noise = (rng.normal(size=(n, 1)) * NOISE).astype(np.float32)
    y = (X @ np.full((NUM_INPUTS, 1), TRUE_W, np.float32) + np.float32(TRUE_B) + noise).astype(np.float32)
    z = rng.normal(size=(NUM_INPUTS, 1)).astype(np.float32)
    orders = np.stack([rng.permutation(NUM_TRAIN) for _ in range(EPOCHS)])
    return {"seed": seed, "X_train": X[:NUM_TRAIN], "y_train": y[:NUM_TRAIN], "X_val": X[NUM_TRAIN:],
            "y_val": y[NUM_TRAIN:], "w_init_standard_normal": z, "orders": orders, "batch_size": BATCH_SIZE}


def _penalty_value(model: nn.Module, penalty: Callable = l2_penalty) -> float:
    return penalty(model.weight()).item()


def replay(model: nn.Module, d: dict[str, Any]) -> dict[str, Any]:
    """Trains on the stored data in the stored orders: every step's loss (what the model trains on, penalty
    included), the plain validation loss after each epoch, the final parameters and d2l's 'L2 norm of w'."""
    X, y = torch.from_numpy(d["X_train"]), torch.from_numpy(d["y_train"])
    X_val, y_val = torch.from_numpy(d["X_val"]), torch.from_numpy(d["y_val"])
    optimizer = model.optimizer()
    step_losses, val_losses, train_losses = [], [], []
    for order in d["orders"]:
        for start in range(0, len(order), BATCH_SIZE):
            rows = torch.from_numpy(order[start : start + BATCH_SIZE])
            value = model.loss(model(X[rows]), y[rows])
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            step_losses.append(value.item())
        with torch.no_grad():
            val_losses.append(model.plain_loss(model(X_val), y_val).item())
            train_losses.append(model.plain_loss(model(X), y).item())
    return {"step_losses": np.array(step_losses, np.float32), "val_loss": np.array(val_losses, np.float32),
            "train_loss": np.array(train_losses, np.float32),
            "final": {"w": model.weight().numpy().copy(), "b": model.bias().numpy().copy()},
            "l2_penalty_w": _penalty_value(model)}


def book_run(seed: int, kind: str, lambd: float) -> dict[str, Any]:
    """d2l's run: torch.manual_seed(seed), the data, the model, 10 epochs of d2l's Trainer (batch 5, lr 0.01)."""
    torch.manual_seed(seed)
    data = Data()
    model = WeightDecayScratch(lambd) if kind == "scratch" else WeightDecay(lambd)
    optimizer = model.optimizer()
    X_val, y_val = data.X[NUM_TRAIN:], data.y[NUM_TRAIN:]
    epoch_train_loss, val_loss = [], []
    for _ in range(EPOCHS):
        values = []
        for X, y in data.get_dataloader(train=True):
            value = model.loss(model(X), y)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            values.append(value.item())
        epoch_train_loss.append(np.mean(values))
        with torch.no_grad():
            val_loss.append(model.plain_loss(model(X_val), y_val).item())
    return {"seed": seed, "epoch_train_loss": np.array(epoch_train_loss), "val_loss": np.array(val_loss, np.float32),
            "l2_penalty_w": _penalty_value(model)}


def weight_decay() -> dict[str, Any]:
    d = replay_data()
    w0 = np.float32(SIGMA) * d["w_init_standard_normal"]
    return {
        "hyperparameters": {"num_train": NUM_TRAIN, "num_val": NUM_VAL, "num_inputs": NUM_INPUTS,
                            "batch_size": BATCH_SIZE, "lr": LR, "epochs": EPOCHS, "sigma": SIGMA,
                            "true_w": TRUE_W, "true_b": TRUE_B, "noise": NOISE},
        "replay_data": d,
        "init": {"w": w0, "b": np.zeros(1, np.float32)},
        "replay_scratch": {f"{lambd:g}": replay(WeightDecayScratch(lambd, w=w0), d) for lambd in LAMBDAS},
        "replay_concise": {f"{wd:g}": replay(WeightDecay(wd, w=w0), d) for wd in LAMBDAS},
        "book_scratch": {f"{lambd:g}": [book_run(s, "scratch", lambd) for s in BOOK_SEEDS] for lambd in LAMBDAS},
        "book_concise": {f"{wd:g}": [book_run(s, "concise", wd) for s in BOOK_SEEDS] for wd in LAMBDAS},
    }


def exercises() -> dict[str, Any]:
    """3.7 exercises as replays on the 3.7 replay data: the L2 penalty over a range of lambda, and an L1 penalty."""
    d = replay_data()
    w0 = np.float32(SIGMA) * d["w_init_standard_normal"]
    return {
        "replay_seed": d["seed"],
        "l2": {f"{lambd:g}": replay(WeightDecayScratch(lambd, w=w0), d) for lambd in SWEEP_LAMBDAS},
        "l1": {f"{lambd:g}": replay(WeightDecayScratch(lambd, w=w0, penalty=l1_penalty), d) for lambd in L1_LAMBDAS},
    }


def generate() -> dict[str, dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {"ch3_7_weight_decay": weight_decay(), "ch3_7_weight_decay_exercises": exercises()}
    finally:
        torch.set_num_threads(threads)
