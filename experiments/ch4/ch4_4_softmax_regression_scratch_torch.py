"""PyTorch reference numbers for d2l 4.4 Softmax regression implementation from scratch and its exercises, computed as d2l 1.0.3 does."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from experiments.ch4.ch4_2_image_classification_dataset_torch import fashion_mnist_uint8, to_tensor
from experiments.ch4.ch4_3_base_classification_torch import accuracy
from experiments.harness import replay as draws
from experiments.harness.torch_d2l import one_thread, SGD


# d2l's hyperparameters for 4.4 and 4.5.
LR, BATCH_SIZE, EPOCHS, SIGMA = 0.1, 256, 10, 0.01

# Book runs: seeds of torch's own RNG (model init and DataLoader shuffling).
BOOK_SEEDS = (0, 1, 2, 3, 4)

# Replay: a fixed subset and a NumPy generator that draws the initial parameters and the batch orders.
REPLAY = {"seed": 4, "num_train": 5000, "num_val": 1000, "batch_size": BATCH_SIZE, "lr": LR, "epochs": EPOCHS}

# A slice of W (rows = pixels 400..405, near the image centre, where the weights move) stored in full.
W_ROWS = (400, 406)


def naive_softmax(X: torch.Tensor) -> torch.Tensor:
    """d2l 4.4.1's softmax, straight from the definition."""
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdims=True)
    return X_exp / partition


def scratch_cross_entropy(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d2l 4.4.3's cross-entropy from probabilities, averaged over the batch."""
    return -torch.log(y_hat[list(range(len(y_hat))), y]).mean()


class SoftmaxRegressionScratch:
    """d2l 4.4.2's model: W ~ N(0, sigma^2) (inputs, outputs), b = 0, naive softmax of X W + b."""

    def __init__(self, num_inputs: int = 784, num_outputs: int = 10, sigma: float = SIGMA,
                 W: np.ndarray | None = None):
        W = torch.normal(0, sigma, size=(num_inputs, num_outputs)) if W is None else torch.from_numpy(W)
        self.W = W.clone().requires_grad_(True)
        self.b = torch.zeros(num_outputs, requires_grad=True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.W, self.b]

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        X = X.reshape((-1, self.W.shape[0]))
        return naive_softmax(torch.matmul(X, self.W) + self.b)

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return scratch_cross_entropy(y_hat, y)

    def named(self) -> dict[str, torch.Tensor]:
        """Parameters in jaxdl's layout: W (inputs, outputs), b (outputs,)."""
        return {"W": self.W, "b": self.b}

    def grads(self) -> dict[str, torch.Tensor]:
        return {"W": self.W.grad, "b": self.b.grad}


def param_summary(named: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Large parameters as norms, column sums and a slice of rows; b in full."""
    W, b = named["W"].detach(), named["b"].detach()
    return {
        "W_norm": torch.linalg.norm(W.double()),
        "W_sum": W.double().sum(),
        "W_column_sums": W.double().sum(0),
        "W_rows": W[W_ROWS[0] : W_ROWS[1]],
        "b": b,
    }


def full_data(data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return (to_tensor(data["train_images"]), data["train_labels"], to_tensor(data["val_images"]), data["val_labels"])


def evaluate(model: Any, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean loss and accuracy over a whole set (model.loss averages over the batch)."""
    with torch.no_grad():
        Y_hat = model(X)
        return model.loss(Y_hat, y).item(), accuracy(Y_hat, y).item()


MakeOptimizer = Callable[[Any, float], Any]  # (model, lr) -> optimizer with zero_grad() and step()


def book_run(make_model: Callable[[], Any], make_optimizer: MakeOptimizer, lr: float,
             data: tuple[torch.Tensor, ...], seed: int, epochs: int) -> dict[str, Any]:
    """d2l's Trainer.fit as the book runs it: torch's RNG, shuffled DataLoader (last partial batch kept)."""
    X_train, y_train, X_val, y_val = data
    torch.manual_seed(seed)
    model = make_model()
    optimizer = make_optimizer(model, lr)
    loader = DataLoader(TensorDataset(X_train, y_train), BATCH_SIZE, shuffle=True)
    train_loss, val_loss, val_acc = [], [], []
    start = time.perf_counter()
    for _ in range(epochs):
        step_losses = []
        for X, y in loader:
            loss = model.loss(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step_losses.append(loss.item())
        train_loss.append(np.mean(np.array(step_losses, np.float32), dtype=np.float64))
        v_loss, v_acc = evaluate(model, X_val, y_val)
        val_loss.append(v_loss)
        val_acc.append(v_acc)
    seconds = time.perf_counter() - start
    return {"seed": seed, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc,
            "timing": {"seconds": seconds}}


def book_band(make_model: Callable[[], Any], make_optimizer: MakeOptimizer, lr: float,
              data: tuple[torch.Tensor, ...], epochs: int) -> dict[str, Any]:
    """Book runs over BOOK_SEEDS."""
    runs = [book_run(make_model, make_optimizer, lr, data, seed, epochs) for seed in BOOK_SEEDS]
    return {"seeds": list(BOOK_SEEDS), "epochs": epochs, "lr": lr, "batch_size": BATCH_SIZE, "runs": runs}


def hand_sgd(model: Any, lr: float) -> SGD:
    """d2l's optimizer for the from-scratch models."""
    return SGD(list(model.parameters()), lr)


def torch_sgd(model: Any, lr: float) -> torch.optim.SGD:
    """d2l's optimizer for the concise models."""
    return torch.optim.SGD(model.parameters(), lr=lr)


def replay_draws(init: str) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """The NumPy draws both sides use: the initial parameters, then one permutation per epoch.

    init="normal": W ~ N(0, 0.01^2), b = 0 (d2l 4.4); init="uniform": W, b ~ U(-1/sqrt(784), 1/sqrt(784))
    (nn.Linear's default, d2l 4.5). W is drawn in jaxdl's (inputs, outputs) layout.
    """
    (W, b), orders = draws.softmax_replay_draws(REPLAY["seed"], init, SIGMA, REPLAY["num_train"], REPLAY["epochs"])
    return {"W": W, "b": b}, orders


order_checksum = draws.order_checksum  # a position-weighted sum of the batch orders


def replay_run(model: Any, optimizer: Any, data: tuple[torch.Tensor, ...], orders: list[np.ndarray]) -> dict:
    """Trains on the given batch orders; per-step losses, per-epoch subset validation, final parameters."""
    X_train, y_train, X_val, y_val = data
    losses, val_loss, val_acc = [], [], []
    for order in orders:
        for start in range(0, len(order), REPLAY["batch_size"]):
            rows = torch.from_numpy(order[start : start + REPLAY["batch_size"]])
            loss = model.loss(model(X_train[rows]), y_train[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        v_loss, v_acc = evaluate(model, X_val, y_val)
        val_loss.append(v_loss)
        val_acc.append(v_acc)
    return {"step_losses": np.array(losses, np.float32), "val_loss": val_loss, "val_acc": val_acc,
            "final_params": param_summary(model.named())}


def first_batch_gradients(model: Any, data: tuple[torch.Tensor, ...], order: np.ndarray) -> dict[str, Any]:
    """PyTorch's gradients of the mean loss on the first replay batch at the initial parameters."""
    X_train, y_train = data[:2]
    rows = torch.from_numpy(order[: REPLAY["batch_size"]])
    loss = model.loss(model(X_train[rows]), y_train[rows])
    loss.backward()
    return {"loss": loss.detach(), **{f"grad_{k}": v for k, v in param_summary(model.grads()).items()}}


def replay(data: dict[str, torch.Tensor], make_model: Callable[[dict], Any], init: str,
           optimizers: dict[str, MakeOptimizer]) -> dict[str, Any]:
    """The replay reference on the fixed subset: setup and checksums, init gradients, one run per optimizer."""
    params, orders = replay_draws(init)
    n, m = REPLAY["num_train"], REPLAY["num_val"]
    subset = (to_tensor(data["train_images"][:n]), data["train_labels"][:n],
              to_tensor(data["val_images"][:m]), data["val_labels"][:m])
    out: dict[str, Any] = {
        "setup": {**REPLAY, "init": init, "train_rows": [0, n], "val_rows": [0, m],
                  "order_checksum": order_checksum(orders),
                  "init_W_sum": params["W"].astype(np.float64).sum(), "init_b_sum": params["b"].astype(np.float64).sum()},
        "init_gradients": first_batch_gradients(make_model(params), subset, orders[0]),
    }
    for name, make_optimizer in optimizers.items():
        model = make_model(params)
        out[name] = replay_run(model, make_optimizer(model, REPLAY["lr"]), subset, orders)
    return out


def softmax_scratch(data: dict[str, torch.Tensor]) -> dict[str, Any]:
    """d2l 4.4: the softmax and cross-entropy examples, replay on a subset, the book band, timing."""
    X = torch.from_numpy(np.random.default_rng(44).random((2, 5), dtype=np.float32))
    y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = torch.tensor([0, 2])
    make = lambda p: SoftmaxRegressionScratch(W=p["W"])  # noqa: E731
    book = book_band(SoftmaxRegressionScratch, hand_sgd, LR, full_data(data), EPOCHS)
    return {
        "softmax_example": {"X": X, "softmax": naive_softmax(X), "row_sums": naive_softmax(X).sum(1)},
        "cross_entropy_example": {
            "y_hat": y_hat, "y": y,
            "picked": y_hat[[0, 1], y],
            "cross_entropy": scratch_cross_entropy(y_hat, y),
            "accuracy": accuracy(y_hat, y),
        },
        "replay": replay(data, make, "normal", {"hand_sgd": hand_sgd, "torch_sgd": torch_sgd}),
        "book": book,
    }  # fmt: skip


def overflow_cases() -> dict[str, Any]:
    """d2l 4.4 exercise 1: the naive softmax on large and very negative inputs, the max-shifted fix."""
    cases = {
        "one_input_100": [[0.0, 1.0, 100.0]],
        "inputs_100_and_200": [[100.0, 200.0, 0.0]],
        "all_below_minus_100": [[-120.0, -130.0, -140.0]],
    }
    out = {}
    for name, values in cases.items():
        X = torch.tensor(values)
        shifted = X - X.max(dim=1, keepdim=True).values
        out[name] = {
            "X": X,
            "exp": torch.exp(X),
            "naive_softmax": naive_softmax(X),
            "max_shifted_softmax": naive_softmax(shifted),
            "torch_softmax": torch.softmax(X, dim=1),
            "naive_cross_entropy_label0": scratch_cross_entropy(naive_softmax(X), torch.tensor([0])),
            "stable_cross_entropy_label0": F.cross_entropy(X, torch.tensor([0])),
        }
    return out


def softmax_exercises(data: dict[str, torch.Tensor]) -> dict[str, Any]:
    """d2l 4.4 exercises: overflow cases; the from-scratch model with lr 0.2 for 5 epochs (book band)."""
    return {
        "overflow": overflow_cases(),
        "lr_0.2_5_epochs": book_band(SoftmaxRegressionScratch, hand_sgd, 0.2, full_data(data), 5),
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        data = fashion_mnist_uint8()
        return {"ch4_4_softmax_regression_scratch": softmax_scratch(data),
                "ch4_4_softmax_regression_scratch_exercises": softmax_exercises(data)}
