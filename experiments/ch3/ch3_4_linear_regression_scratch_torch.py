"""PyTorch reference numbers for d2l 3.4 Linear regression implementation from scratch and its exercises, computed as d2l 1.0.3 does.

Two kinds of training reference (see the project rules):
- replay: data, initial parameters and minibatch orders come from a NumPy generator and are stored, so jaxdl
  follows the same trajectory step by step;
- book: d2l's own run under torch.manual_seed(seed) for several seeds, so jaxdl's own run can be checked
  against the spread.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from experiments.ch3.ch3_3_synthetic_data_torch import (
    BATCH_SIZE,
    NOISE,
    NUM_TRAIN,
    NUM_VAL,
    SyntheticRegressionData,
    TRUE_B,
    TRUE_W,
)
from experiments.harness.torch_d2l import SGD


LR = 0.03

EPOCHS = 3

REPLAY_SEED = 3

BOOK_SEEDS = tuple(range(20))  # a run takes ~20 ms, so the bands can rest on 20 seeds


def replay_data(seed: int = REPLAY_SEED) -> dict[str, Any]:
    """float32 data, a standard-normal draw for the initial w and one order per epoch, all from NumPy."""
    rng = np.random.default_rng(seed)
    n = NUM_TRAIN + NUM_VAL
    X = rng.normal(size=(n, 2)).astype(np.float32)
    w = np.array(TRUE_W, np.float32).reshape(-1, 1)
    y = (X @ w + np.float32(TRUE_B) + np.float32(NOISE) * rng.normal(size=(n, 1)).astype(np.float32)).astype(np.float32)
    z = rng.normal(size=(2, 1)).astype(np.float32)
    orders = np.stack([rng.permutation(NUM_TRAIN) for _ in range(EPOCHS)])
    return {
        "seed": seed,
        "X_train": X[:NUM_TRAIN], "y_train": y[:NUM_TRAIN], "X_val": X[NUM_TRAIN:], "y_val": y[NUM_TRAIN:],
        "w_true": w[:, 0], "b_true": TRUE_B,
        "w_init_standard_normal": z,
        "orders": orders,
        "batch_size": BATCH_SIZE,
    }


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d2l 3.4's loss: mean of (y_hat - y)^2 / 2."""
    return ((y_hat - y) ** 2 / 2).mean()


def absolute_loss_mean(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """3.4 exercise: |y_hat - y| in place of the squared error, keeping d2l's mean over the minibatch."""
    return (y_hat - y).abs().mean()


def absolute_loss_sum(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """3.4 exercise: the sum of |y_hat - y| over the minibatch."""
    return (y_hat - y).abs().sum()


class LinearRegressionScratch(nn.Module):
    """d2l 3.4's model; the initial w is given (replay) or drawn from torch's RNG (book)."""

    def __init__(self, num_inputs: int, sigma: float = 0.01, w: np.ndarray | None = None):
        super().__init__()
        w0 = torch.normal(0, sigma, (num_inputs, 1)) if w is None else torch.tensor(w)
        self.w = nn.Parameter(w0)
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.matmul(X, self.w) + self.b

    def get_w_b(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.w.detach().reshape(-1), self.b.detach()


class LinearRegressionConcise(nn.Module):
    """d2l 3.5's model: nn.LazyLinear(1), then weight.data.normal_(0, 0.01) and bias.data.fill_(0).

    init="d2l" runs the book's lines as they are. On a lazy layer they touch an uninitialized parameter and
    change nothing: the first forward pass materialises the layer with nn.Linear's default init
    (U(-1/sqrt(2), 1/sqrt(2)) for both weight and bias). init="intended" materialises the layer first, so
    N(0, 0.01^2) and zero bias take effect as the text says. A given w (replay) is copied in, bias zero.
    """

    def __init__(self, init: str = "d2l", w: np.ndarray | None = None):
        super().__init__()
        self.net = nn.LazyLinear(1)
        if init == "intended" or w is not None:
            self.net(torch.zeros(1, 2))
        if w is None:
            self.net.weight.data.normal_(0, 0.01)
        else:
            self.net.weight.data = torch.tensor(w).reshape(1, -1)  # nn.Linear keeps (out, in)
        self.net.bias.data.fill_(0)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)

    def get_w_b(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.weight.data.reshape(-1), self.net.bias.data


def _params(model: nn.Module) -> dict[str, np.ndarray]:
    w, b = model.get_w_b()
    return {"w": w.numpy().copy(), "b": b.numpy().copy()}


def _val_loss(model: nn.Module, loss: Callable, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return loss(model(X), y).item()


def replay(model: nn.Module, loss: Callable, optimizer: Any, d: dict[str, Any]) -> dict[str, Any]:
    """Trains on the stored data in the stored minibatch orders; returns every step's loss and the end state."""
    X, y = torch.from_numpy(d["X_train"]), torch.from_numpy(d["y_train"])
    X_val, y_val = torch.from_numpy(d["X_val"]), torch.from_numpy(d["y_val"])
    step_losses, val_losses = [], []
    for order in d["orders"]:
        for start in range(0, len(order), d["batch_size"]):
            rows = torch.from_numpy(order[start : start + d["batch_size"]])
            value = loss(model(X[rows]), y[rows])
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            step_losses.append(value.item())
        val_losses.append(_val_loss(model, loss, X_val, y_val))
    final = _params(model)
    return {
        "step_losses": np.array(step_losses, np.float32),
        "val_loss": np.array(val_losses, np.float32),
        "final": final,
        "w_error": d["w_true"] - final["w"],
        "b_error": np.float32(d["b_true"]) - final["b"],
    }


def grads_at_init(model: nn.Module, loss: Callable, d: dict[str, Any]) -> dict[str, Any]:
    """The loss and its gradients at the initial parameters on the first replay minibatch."""
    rows = torch.from_numpy(d["orders"][0][: d["batch_size"]])
    value = loss(model(torch.from_numpy(d["X_train"])[rows]), torch.from_numpy(d["y_train"])[rows])
    value.backward()
    params = dict(model.named_parameters())
    grads = {name: p.grad.numpy().copy() for name, p in params.items()}
    model.zero_grad()
    return {"loss": value.item(), "grads": grads}


def book_run(seed: int, concise: str | None = None) -> dict[str, Any]:
    """d2l's own 3.4 run (or 3.5's with concise="d2l" or "intended"): torch.manual_seed(seed), the model,
    then the data, 3 epochs of lr 0.03."""
    torch.manual_seed(seed)
    model = LinearRegressionConcise(concise) if concise else LinearRegressionScratch(2)
    data = SyntheticRegressionData(w=torch.tensor(TRUE_W), b=TRUE_B)
    loss = nn.MSELoss() if concise else squared_loss
    optimizer = torch.optim.SGD(model.parameters(), LR) if concise else SGD(model.parameters(), LR)
    X_val, y_val = data.X[NUM_TRAIN:], data.y[NUM_TRAIN:]
    epoch_train_loss, val_loss = [], []
    start = time.perf_counter()
    for _ in range(EPOCHS):
        values = []
        for X, y in data.get_dataloader(train=True):
            value = loss(model(X), y)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            values.append(value.item())
        epoch_train_loss.append(np.mean(values))
        val_loss.append(_val_loss(model, loss, X_val, y_val))
    seconds = time.perf_counter() - start
    w, b = model.get_w_b()
    return {
        "seed": seed,
        "epoch_train_loss": np.array(epoch_train_loss),
        "val_loss": np.array(val_loss, np.float32),
        "w_error": (data.w - w.reshape(data.w.shape)).numpy(),
        "b_error": (data.b - b).numpy(),
        "timing": {"seconds": seconds},
    }


def scratch() -> dict[str, Any]:
    """d2l 3.4 from scratch: replays with the hand-written SGD and torch.optim.SGD, gradients, the book band."""
    d = replay_data()
    w0 = np.float32(0.01) * d["w_init_standard_normal"]

    def fresh() -> LinearRegressionScratch:
        return LinearRegressionScratch(2, w=w0)

    model = fresh()
    hand = replay(model, squared_loss, SGD(model.parameters(), LR), d)
    model = fresh()
    optim = replay(model, squared_loss, torch.optim.SGD(model.parameters(), LR), d)
    return {
        "hyperparameters": {"lr": LR, "epochs": EPOCHS, "batch_size": BATCH_SIZE, "sigma": 0.01},
        "replay_data": d,
        "init": {"w": w0, "b": np.zeros(1, np.float32)},
        "grads_at_init": grads_at_init(fresh(), squared_loss, d),
        "replay_hand_sgd": hand,
        "replay_torch_optim_sgd": optim,
        "book": [book_run(seed) for seed in BOOK_SEEDS],
    }


EXERCISE_LRS = (0.01, 0.03, 0.05)

LARGE_SIGMA = math.sqrt(1000)


def scratch_exercises() -> dict[str, Any]:
    """3.4 exercises as replays on the 3.4 replay data: learning rates, zero and large initial weights, |error|."""
    d = replay_data()
    z = d["w_init_standard_normal"]
    runs: dict[str, Any] = {}

    def run(name: str, w0: np.ndarray, lr: float, loss: Callable) -> None:
        model = LinearRegressionScratch(2, w=w0)
        runs[name] = {"init_w": w0, "lr": lr, **replay(model, loss, SGD(model.parameters(), lr), d)}
        runs[name]["grads_at_init"] = grads_at_init(LinearRegressionScratch(2, w=w0), loss, d)

    small = np.float32(0.01) * z
    for lr in EXERCISE_LRS:
        run(f"lr_{lr:g}", small, lr, squared_loss)
    run("zero_init", np.zeros_like(z), LR, squared_loss)
    run("sigma_sqrt_1000", np.float32(LARGE_SIGMA) * z, LR, squared_loss)
    run("absolute_sum", small, LR, absolute_loss_sum)
    run("absolute_mean", small, LR, absolute_loss_mean)
    return {"replay_seed": d["seed"], "large_sigma": LARGE_SIGMA, "runs": runs}


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch3_4_linear_regression_scratch": scratch(),
            "ch3_4_linear_regression_scratch_exercises": scratch_exercises()}
