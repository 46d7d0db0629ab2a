"""PyTorch reference numbers for d2l chapter 4 (linear neural networks for classification), as d2l 1.0.3 computes them.

torchvision is not needed: the IDX files are parsed here with numpy (as torchvision's
read_sn3_pascalvincent_tensor does) and scaled as transforms.ToTensor() does, uint8 -> float32 / 255,
with a channel axis in front, (1, 28, 28) per image.
"""

from __future__ import annotations

import gzip
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from experiments.harness.torch_d2l import SGD
from jaxdl.datasets.fashion_mnist import FILES, locate

TEXT_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip

# d2l's hyperparameters for 4.4 and 4.5.
LR, BATCH_SIZE, EPOCHS, SIGMA = 0.1, 256, 10, 0.01
# Book runs: seeds of torch's own RNG (model init and DataLoader shuffling).
BOOK_SEEDS = (0, 1, 2, 3, 4)
# Replay: a fixed subset and a NumPy generator that draws the initial parameters and the batch orders.
REPLAY = {"seed": 4, "num_train": 5000, "num_val": 1000, "batch_size": BATCH_SIZE, "lr": LR, "epochs": EPOCHS}
# A slice of W (rows = pixels 400..405, near the image centre, where the weights move) stored in full.
W_ROWS = (400, 406)


# ---------------------------------------------------------------- data, as torchvision reads it


def read_idx(path: Path) -> torch.Tensor:
    """An IDX(.gz) file as a tensor: magic 0x00000801 (labels) or 0x00000803 (images), big-endian sizes."""
    raw = gzip.open(path).read()
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic % 256
    assert magic // 256 == 0x08, f"{path}: not unsigned-byte IDX data"
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)
    return torch.from_numpy(data.copy())


def fashion_mnist_uint8() -> dict[str, torch.Tensor]:
    """The four arrays as torchvision.datasets.FashionMNIST keeps them (.data uint8, .targets int64)."""
    directory = locate()
    assert directory is not None, "Fashion-MNIST not found; run `python -m jaxdl` first"
    out = {key: read_idx(directory / name) for key, (name, _) in FILES.items()}
    return {k: v.long() if k.endswith("labels") else v for k, v in out.items()}


def to_tensor(images: torch.Tensor) -> torch.Tensor:
    """transforms.ToTensor() on a stack of uint8 images: (N, 1, H, W) float32 in [0, 1]."""
    return images.unsqueeze(1).float().div(255)


# ---------------------------------------------------------------- 4.1


def softmax_regression_basics() -> dict[str, Any]:
    """d2l 4.1: softmax, entropy, cross-entropy, one-hot labels and the gradient softmax(o) - y."""
    P = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1], [1.0, 0.0, 0.0, 0.0]])
    Q = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.6, 0.2, 0.1, 0.1], [0.9, 0.05, 0.03, 0.02]])
    entropy = torch.special.entr(P).sum(dim=1)  # entr(0) = 0, the limit of -p log p
    cross_entropy = -(torch.special.xlogy(P, Q)).sum(dim=1)
    labels = torch.tensor([0, 2, 1, 2, 3])
    o = torch.tensor([[1.0, -1.0, 2.0], [0.5, 0.5, 0.5], [3.0, 0.0, -3.0]], requires_grad=True)
    y = torch.tensor([2, 0, 1])
    loss = F.cross_entropy(o, y, reduction="sum")
    loss.backward()
    return {
        "P": P, "Q": Q,
        "entropy_nats": entropy,
        "entropy_bits": entropy / math.log(2),
        "cross_entropy": cross_entropy,
        "kl_divergence": cross_entropy - entropy,
        "labels": labels,
        "one_hot": F.one_hot(labels, 4),
        "one_hot_dtype": str(F.one_hot(labels, 4).dtype).removeprefix("torch."),
        "o": o.detach(), "y": y,
        "softmax_o": torch.softmax(o.detach(), dim=1),
        "loss_per_example": F.cross_entropy(o.detach(), y, reduction="none"),
        "grad_loss_o": o.grad,
        "softmax_minus_one_hot": torch.softmax(o.detach(), dim=1) - F.one_hot(y, 3),
    }  # fmt: skip


# ---------------------------------------------------------------- 4.2


def read_times(X: torch.Tensor, y: torch.Tensor, batch_sizes: tuple[int, ...]) -> dict[str, float]:
    """Seconds for one shuffled pass of a DataLoader (no workers) over in-memory tensors, per batch size."""
    out = {}
    for batch_size in batch_sizes:
        loader = DataLoader(TensorDataset(X, y), batch_size, shuffle=True)
        start = time.perf_counter()
        for _ in loader:
            continue
        out[str(batch_size)] = time.perf_counter() - start
    return out


def resize_bilinear_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (half-pixel centres, as PIL's resize behind transforms.Resize), rounded to uint8."""
    out = F.interpolate(images.unsqueeze(1).float(), size=size, mode="bilinear", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8).squeeze(1)


def image_classification_dataset(data: dict[str, torch.Tensor]) -> dict[str, Any]:
    """d2l 4.2: sizes, shapes, dtypes, label counts, pixel checksums, the first val batch, 32x32 resizing."""
    out: dict[str, Any] = {}
    for split in ("train", "val"):
        images, labels = data[f"{split}_images"], data[f"{split}_labels"]
        X = to_tensor(images)
        out[split] = {
            "size": len(labels),
            "example_shape": list(X[0].shape),
            "example_dtype": str(X.dtype).removeprefix("torch."),
            "label_dtype": str(labels.dtype).removeprefix("torch."),
            "label_counts": torch.bincount(labels, minlength=10),
            "uint8_pixel_sum": images.long().sum(),
            "scaled_pixel_sum": X.double().sum(),
            "scaled_pixel_mean": X.double().mean(),
            "scaled_pixel_std": X.double().std(),
            "scaled_min": X.min(),
            "scaled_max": X.max(),
        }
    # d2l shows the first validation batch (shuffle=False): the first images of the test file.
    first = data["val_labels"][:8]
    out["first_val_labels"] = first
    out["first_val_text_labels"] = [TEXT_LABELS[int(i)] for i in first]
    resized = resize_bilinear_uint8(data["val_images"][:1000], (32, 32))
    out["resize_32"] = {
        "example_shape": [1, *resized.shape[1:]],
        "first_1000_val_uint8_sum": resized.long().sum(),
        "first_8_val": resized[:8],
    }
    train_X = to_tensor(data["train_images"])
    out["timing"] = {"dataloader_epoch_seconds": read_times(train_X, data["train_labels"], (1, 64, 256))}
    return out


# ---------------------------------------------------------------- 4.3


def accuracy(Y_hat: torch.Tensor, Y: torch.Tensor, averaged: bool = True) -> torch.Tensor:
    """d2l 4.3's Classifier.accuracy."""
    Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
    preds = Y_hat.argmax(axis=1).type(Y.dtype)
    compare = (preds == Y.reshape(-1)).type(torch.float32)
    return compare.mean() if averaged else compare


def base_classification() -> dict[str, Any]:
    """d2l 4.3: accuracy of fixed predictions (the 4.4 example, a tie, random logits from a NumPy seed)."""
    rng = np.random.default_rng(43)
    logits = rng.normal(size=(100, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=100)
    cases = {
        "book": (torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]), torch.tensor([0, 2])),
        # torch.argmax returns the first of tied maxima, so the tie is predicted as class 0.
        "tie": (torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]]), torch.tensor([1, 1])),
        "random": (torch.from_numpy(logits), torch.from_numpy(labels)),
    }
    out = {}
    for name, (Y_hat, Y) in cases.items():
        out[name] = {
            "accuracy": accuracy(Y_hat, Y),
            "correct": accuracy(Y_hat, Y, averaged=False),
            "preds": Y_hat.argmax(axis=1),
        }
        if name != "random":
            out[name] |= {"Y_hat": Y_hat, "Y": Y}
    out["random"] |= {"seed": 43}
    return out


# ---------------------------------------------------------------- 4.4 and 4.5 models


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


# ---------------------------------------------------------------- replay


def replay_draws(init: str) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """The NumPy draws both sides use: the initial parameters, then one permutation per epoch.

    init="normal": W ~ N(0, 0.01^2), b = 0 (d2l 4.4); init="uniform": W, b ~ U(-1/sqrt(784), 1/sqrt(784))
    (nn.Linear's default, d2l 4.5). W is drawn in jaxdl's (inputs, outputs) layout.
    """
    rng = np.random.default_rng(REPLAY["seed"])
    if init == "normal":
        params = {"W": rng.normal(0.0, SIGMA, size=(784, 10)).astype(np.float32), "b": np.zeros(10, np.float32)}
    else:
        bound = 1 / math.sqrt(784)
        params = {"W": rng.uniform(-bound, bound, size=(784, 10)).astype(np.float32),
                  "b": rng.uniform(-bound, bound, size=10).astype(np.float32)}
    orders = [rng.permutation(REPLAY["num_train"]) for _ in range(REPLAY["epochs"])]
    return params, orders


def order_checksum(orders: list[np.ndarray]) -> int:
    """A position-weighted sum that changes if any index moves."""
    flat = np.concatenate(orders).astype(np.int64)
    return int((flat * (np.arange(flat.size) % 9973 + 1)).sum())


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


# ---------------------------------------------------------------- 4.4, its exercises, 4.5


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


def softmax_concise(data: dict[str, torch.Tensor]) -> dict[str, Any]:
    """d2l 4.5: nn.LazyLinear + F.cross_entropy + torch.optim.SGD; replay with NumPy-drawn init, book band."""
    make = lambda p: SoftmaxRegression(weight=np.ascontiguousarray(p["W"].T), bias=p["b"])  # noqa: E731
    return {
        "replay": replay(data, make, "uniform", {"torch_sgd": torch_sgd}),
        "book": book_band(SoftmaxRegression, torch_sgd, LR, full_data(data), EPOCHS),
    }


def generate() -> dict[str, dict]:
    """All chapter 4 reference files: {file name: data}.

    Runs on one thread: these ops are so small (256 x 784 x 10) that a second OpenMP thread only
    spins, and on a busy 2-core machine that made the from-scratch model ~40x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = fashion_mnist_uint8()
        return {
            "ch4_1_softmax_regression": softmax_regression_basics(),
            "ch4_2_image_classification_dataset": image_classification_dataset(data),
            "ch4_3_base_classification": base_classification(),
            "ch4_4_softmax_regression_scratch": softmax_scratch(data),
            "ch4_4_softmax_regression_scratch_exercises": softmax_exercises(data),
            "ch4_5_softmax_regression_concise": softmax_concise(data),
        }
    finally:
        torch.set_num_threads(threads)
