"""PyTorch reference numbers for d2l chapter 3 (sections 3.1-3.5 and their exercises), computed as d2l 1.0.3 does.

Two kinds of training reference (see the project rules):
- replay: data, initial parameters and minibatch orders come from a NumPy generator and are stored, so jaxdl
  follows the same trajectory step by step;
- book: d2l's own run under torch.manual_seed(seed) for several seeds, so jaxdl's own run can be checked
  against the spread.
"""

from __future__ import annotations

import collections
import math
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from experiments.harness.torch_d2l import SGD

TRUE_W = (2.0, -3.4)
TRUE_B = 4.2
NOISE = 0.01
NUM_TRAIN = NUM_VAL = 1000
BATCH_SIZE = 32
LR = 0.03
EPOCHS = 3
REPLAY_SEED = 3
BOOK_SEEDS = tuple(range(20))  # a run takes ~20 ms, so the bands can rest on 20 seeds


# --------------------------------------------------------------------------------------------- 3.1


def normal(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """d2l 3.1's normal density, in NumPy float64 as the book computes it."""
    p = 1 / math.sqrt(2 * math.pi * sigma**2)
    return p * np.exp(-0.5 * (x - mu) ** 2 / sigma**2)


DENSITY_PARAMS = ((0.0, 1.0), (0.0, 2.0), (3.0, 1.0))
DENSITY_POINTS = (-7.0, -3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.5, 6.99)


def linear_regression() -> dict[str, Any]:
    """d2l 3.1: the vectorisation timing demo and the normal densities."""
    n = 10000
    a, b = torch.ones(n), torch.ones(n)
    c = torch.zeros(n)
    t = time.perf_counter()
    for i in range(n):
        c[i] = a[i] + b[i]
    loop_seconds = time.perf_counter() - t
    t = time.perf_counter()
    d = a + b
    vector_seconds = time.perf_counter() - t

    x = np.arange(-7, 7, 0.01)
    points = np.array(DENSITY_POINTS)
    densities = {}
    for mu, sigma in DENSITY_PARAMS:
        dist = torch.distributions.Normal(torch.tensor(mu), torch.tensor(sigma))
        densities[f"mu={mu:g},sigma={sigma:g}"] = {
            "mu": mu,
            "sigma": sigma,
            "numpy_float64": normal(points, mu, sigma),
            "torch_float32": dist.log_prob(torch.tensor(points, dtype=torch.float32)).exp().numpy(),
            "curve_sum_times_dx": float(normal(x, mu, sigma).sum() * 0.01),
        }
    return {
        "n": n,
        "loop_sum": c.sum().item(),
        "vector_sum": d.sum().item(),
        "loop_equals_vector": bool(torch.equal(c, d)),
        "x_grid": {"start": -7.0, "stop": 7.0, "step": 0.01, "size": len(x)},
        "points": points,
        "densities": densities,
        "timing": {"loop_seconds": loop_seconds, "vector_seconds": vector_seconds},
    }


# Exercise data: a line with Gaussian noise, 10 of 101 targets shifted far up.
OUTLIER_SEED = 31
OUTLIER_N = 101
OUTLIER_COUNT = 10
OUTLIER_SHIFT = 30.0
OUTLIER_W, OUTLIER_B = 2.0, 1.0
OUTLIER_STEPS = 2000
OUTLIER_LR = 0.1


def outlier_data() -> dict[str, np.ndarray]:
    """float32 (x, y) from a NumPy generator: y = 2x + 1 + N(0, 0.5^2), with outliers added."""
    rng = np.random.default_rng(OUTLIER_SEED)
    x = rng.normal(size=OUTLIER_N).astype(np.float32)
    y = (OUTLIER_W * x + OUTLIER_B + 0.5 * rng.normal(size=OUTLIER_N)).astype(np.float32)
    outliers = np.sort(rng.choice(OUTLIER_N, OUTLIER_COUNT, replace=False))
    y[outliers] += np.float32(OUTLIER_SHIFT)
    return {"x": x, "y": y, "outliers": outliers}


def fit_line(x: torch.Tensor, y: torch.Tensor, loss: Callable, steps: int, lr: float) -> dict[str, Any]:
    """Full-batch gradient descent on a line y = w x + b from w = b = 0, step size lr / sqrt(t + 1)."""
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    losses = []
    for t in range(steps):
        value = loss(w * x + b, y).mean()
        value.backward()
        with torch.no_grad():
            step = lr / math.sqrt(t + 1)
            w -= step * w.grad
            b -= step * b.grad
            w.grad.zero_()
            b.grad.zero_()
        losses.append(value.item())
    return {"w": w.detach().numpy()[0], "b": b.detach().numpy()[0], "first_losses": np.array(losses[:10], np.float32),
            "last_loss": losses[-1]}


def linear_regression_exercises() -> dict[str, Any]:
    """3.1 exercise 1 (the constant b minimising squared vs absolute error) and a line fitted both ways."""
    d = outlier_data()
    x, y = torch.from_numpy(d["x"]), torch.from_numpy(d["y"])
    # The least-squares line in closed form, in float64 (torch.linalg.lstsq varies in the last bit between runs).
    x64, y64 = x.double(), y.double()
    w_ls = ((x64 - x64.mean()) * (y64 - y64.mean())).sum() / ((x64 - x64.mean()) ** 2).sum()
    return {
        "data": d,
        "true": {"w": OUTLIER_W, "b": OUTLIER_B, "shift": OUTLIER_SHIFT},
        "schedule": {"steps": OUTLIER_STEPS, "lr": OUTLIER_LR, "decay": "lr / sqrt(t + 1)"},
        "constant": {"mean": y.mean().item(), "median": y.median().item(),
                     "mean_clean": np.float32(np.delete(d["y"], d["outliers"]).mean())},
        "least_squares_float64": {"w": w_ls.item(), "b": (y64.mean() - w_ls * x64.mean()).item()},
        "squared": fit_line(x, y, lambda y_hat, y: (y_hat - y) ** 2 / 2, OUTLIER_STEPS, OUTLIER_LR),
        "absolute": fit_line(x, y, lambda y_hat, y: (y_hat - y).abs(), OUTLIER_STEPS, OUTLIER_LR),
    }


# --------------------------------------------------------------------------------------------- 3.2


def progress_board_points(xs: np.ndarray, ys: np.ndarray, every_n: int) -> dict[str, np.ndarray]:
    """The points d2l's ProgressBoard.draw keeps: the mean of each complete group of every_n raw points."""
    Point = collections.namedtuple("Point", ["x", "y"])
    raw: list = []
    line: list = []
    for x, y in zip(xs, ys):
        raw.append(Point(x, y))
        if len(raw) != every_n:
            continue
        mean = lambda v: sum(v) / len(v)  # noqa: E731  (the book's own lambda)
        line.append(Point(mean([p.x for p in raw]), mean([p.y for p in raw])))
        raw.clear()
    return {"x": np.array([p.x for p in line]), "y": np.array([p.y for p in line])}


def oo_design() -> dict[str, Any]:
    """d2l 3.2's ProgressBoard demo: sin every 2 points, cos every 10, over np.arange(0, 10, 0.1)."""
    xs = np.arange(0, 10, 0.1)
    return {
        "x": {"start": 0.0, "stop": 10.0, "step": 0.1, "size": len(xs)},
        "sin_every_2": progress_board_points(xs, np.sin(xs), 2),
        "cos_every_10": progress_board_points(xs, np.cos(xs), 10),
    }


# --------------------------------------------------------------------------------------------- 3.3


class SyntheticRegressionData:
    """d2l 3.3's data module: y = Xw + b + noise with X, noise ~ N(0, 1) from torch's RNG."""

    def __init__(self, w: torch.Tensor, b: float, noise: float = NOISE, num_train: int = NUM_TRAIN,
                 num_val: int = NUM_VAL, batch_size: int = BATCH_SIZE):
        self.w, self.b, self.num_train, self.batch_size = w, b, num_train, batch_size
        n = num_train + num_val
        self.X = torch.randn(n, len(w))
        noise = torch.randn(n, 1) * noise
        self.y = torch.matmul(self.X, w.reshape((-1, 1))) + b + noise

    def get_dataloader(self, train: bool) -> torch.utils.data.DataLoader:
        i = slice(0, self.num_train) if train else slice(self.num_train, None)
        dataset = torch.utils.data.TensorDataset(self.X[i], self.y[i])
        return torch.utils.data.DataLoader(dataset, self.batch_size, shuffle=train)


def synthetic_data() -> dict[str, Any]:
    """d2l 3.3: the first example, one batch's shapes, the number of batches, and the data's statistics."""
    torch.manual_seed(0)
    data = SyntheticRegressionData(w=torch.tensor(TRUE_W), b=TRUE_B)
    loader = data.get_dataloader(train=True)
    X, y = next(iter(loader))
    residual = data.y - data.X @ data.w.reshape(-1, 1) - data.b
    return {
        "seed": 0,
        "features_0": data.X[0],
        "label_0": data.y[0],
        "X_shape": list(data.X.shape),
        "y_shape": list(data.y.shape),
        "batch_X_shape": list(X.shape),
        "batch_y_shape": list(y.shape),
        "num_train_batches": len(loader),
        "batch_sizes": [len(xb) for xb, _ in loader],
        "num_val_batches": len(data.get_dataloader(train=False)),
        "X_mean": data.X.mean(dim=0),
        "X_var": data.X.var(dim=0),
        "residual_mean": residual.mean(),
        "residual_var": residual.var(),
        "n": data.X.shape[0],
    }


# --------------------------------------------------------------------------------------------- 3.4 / 3.5


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


def concise() -> dict[str, Any]:
    """d2l 3.5: nn.LazyLinear + nn.MSELoss + torch.optim.SGD, replayed on the 3.4 data, and the book band."""
    d = replay_data()
    w0 = np.float32(0.01) * d["w_init_standard_normal"]
    model = LinearRegressionConcise(w=w0)
    grads = grads_at_init(LinearRegressionConcise(w=w0), nn.MSELoss(), d)
    return {
        "hyperparameters": {"lr": LR, "epochs": EPOCHS, "batch_size": BATCH_SIZE, "sigma": 0.01},
        "replay_seed": d["seed"],
        "init": {"weight": w0.reshape(1, -1), "bias": np.zeros(1, np.float32)},
        "grads_at_init": grads,
        "replay_torch_optim_sgd": replay(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), LR), d),
        "book_as_run": [book_run(seed, concise="d2l") for seed in BOOK_SEEDS],
        "book_intended_init": [book_run(seed, concise="intended") for seed in BOOK_SEEDS],
    }


def generate() -> dict[str, dict]:
    """All chapter 3 reference files: {file name: data}."""
    return {
        "ch3_1_linear_regression": linear_regression(),
        "ch3_1_linear_regression_exercises": linear_regression_exercises(),
        "ch3_2_oo_design": oo_design(),
        "ch3_3_synthetic_data": synthetic_data(),
        "ch3_4_linear_regression_scratch": scratch(),
        "ch3_4_linear_regression_scratch_exercises": scratch_exercises(),
        "ch3_5_linear_regression_concise": concise(),
    }
