"""PyTorch reference numbers for d2l 5.2 Implementation of multilayer perceptrons and its exercises, computed as d2l 1.0.3 does."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.harness import replay as draws
from experiments.harness.torch_d2l import one_thread, SGD
from jaxdl.datasets import fashion_mnist


# Replay (kind 1): a fixed subset of the real data, everything random drawn by NumPy.
REPLAY_TRAIN, REPLAY_VAL = 5000, 1000

REPLAY_EPOCHS = 10

REPLAY_SEEDS = {"scratch": 0, "concise": 1}

# Book (kind 2): d2l's own training on the full data, several torch seeds.
BATCH_SIZE, LR, EPOCHS, NUM_HIDDENS = 256, 0.1, 10, 256

BOOK_SEEDS = (0, 1, 2, 3)

EXERCISE_SEEDS = (0, 1, 2)

EXERCISE_HIDDENS = (256, 128)


def _fashion_mnist() -> dict[str, torch.Tensor]:
    """The four arrays as tensors: images (N, 1, 28, 28) float32 = ToTensor()'s x / 255, labels int64."""
    a = fashion_mnist.load_arrays()
    out = {}
    for split in ("train", "val"):
        out[f"X_{split}"] = torch.from_numpy(a[f"{split}_images"].astype(np.float32) / np.float32(255))[:, None]
        out[f"y_{split}"] = torch.from_numpy(a[f"{split}_labels"].astype(np.int64))
    return out


_checksum = draws.checksum


def _summary(W: torch.Tensor) -> dict[str, Any]:
    """A weight matrix (in, out) as its norm, sum and an 8 x 8 slice from the middle rows (harness.replay.summary)."""
    return draws.summary(W.detach().numpy().copy())  # .numpy() shares memory, and d2l's SGD zeroes gradients in place


def relu(X: torch.Tensor) -> torch.Tensor:
    """d2l 5.2.1's relu: torch.max(X, zeros)."""
    return torch.max(X, torch.zeros_like(X))


class MLPScratch(nn.Module):
    """d2l 5.2.1: W1 (784, 256), W2 (256, 10) ~ N(0, sigma^2), zero biases, its own relu."""

    def __init__(self, num_inputs: int, num_outputs: int, num_hiddens: int, sigma: float = 0.01):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens) * sigma)
        self.b1 = nn.Parameter(torch.zeros(num_hiddens))
        self.W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs) * sigma)
        self.b2 = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = X.reshape((-1, self.W1.shape[0]))
        H = relu(X @ self.W1 + self.b1)
        return H @ self.W2 + self.b2

    def layers(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """(W, b) per layer; W is (in, out), jaxdl's layout."""
        return [(self.W1, self.b1), (self.W2, self.b2)]


class MLPConcise(nn.Sequential):
    """d2l 5.2.2: Flatten, LazyLinear, activation, ..., LazyLinear(outputs), PyTorch's default init."""

    def __init__(self, num_outputs: int, num_hiddens: tuple[int, ...], activation: type[nn.Module] = nn.ReLU):
        layers: list[nn.Module] = [nn.Flatten()]
        for h in num_hiddens:
            layers += [nn.LazyLinear(h), activation()]
        super().__init__(*layers, nn.LazyLinear(num_outputs))

    def layers(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """(weight, bias) per layer; weight is (out, in), the transpose of jaxdl's W."""
        return [(m.weight, m.bias) for m in self if isinstance(m, nn.Linear)]


def loss_fn(Y_hat: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """d2l's Classifier.loss: mean cross-entropy from logits."""
    return F.cross_entropy(Y_hat.reshape((-1, Y_hat.shape[-1])), Y.reshape((-1,)), reduction="mean")


def _in_out(model: nn.Module, W: torch.Tensor) -> torch.Tensor:
    """A weight (or its gradient) in jaxdl's (in, out) layout."""
    return W.T if isinstance(model, MLPConcise) else W


def _set_params(model: nn.Module, init: list[tuple[np.ndarray, np.ndarray]]) -> None:
    with torch.no_grad():
        for (W, b), (W0, b0) in zip(model.layers(), init):
            _in_out(model, W).copy_(torch.from_numpy(W0))
            b.copy_(torch.from_numpy(b0))


def _layers_summary(model: nn.Module, grads: bool) -> list[dict[str, Any]]:
    """Per layer: W (or its gradient) summarised, b (or its gradient) in full."""
    pick = (lambda t: t.grad) if grads else (lambda t: t)
    return [{"W": _summary(_in_out(model, pick(W))), "b": pick(b).detach().numpy().copy()}
            for W, b in model.layers()]


def replay(kind: str, data: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Trains on a fixed subset with NumPy-drawn initial parameters and minibatch orders.

    scratch: MLPScratch with d2l's hand-written SGD; concise: the nn.Sequential model with torch.optim.SGD.
    """
    seed = REPLAY_SEEDS[kind]
    init, orders = draws.mlp_replay_draws(seed, kind, [784, NUM_HIDDENS, 10], REPLAY_TRAIN, REPLAY_EPOCHS)
    X, y = data["X_train"][:REPLAY_TRAIN], data["y_train"][:REPLAY_TRAIN]
    X_val, y_val = data["X_val"][:REPLAY_VAL], data["y_val"][:REPLAY_VAL]

    if kind == "scratch":
        model = MLPScratch(784, 10, NUM_HIDDENS)
    else:
        model = MLPConcise(10, (NUM_HIDDENS,))
        model(X[:1])  # materialise the lazy layers before overwriting them
    _set_params(model, init)
    optim = SGD(model.parameters(), LR) if kind == "scratch" else torch.optim.SGD(model.parameters(), lr=LR)

    # PyTorch's gradients at the initial parameters on the first minibatch.
    first = torch.from_numpy(orders[0][:BATCH_SIZE])
    loss = loss_fn(model(X[first]), y[first])
    loss.backward()
    init_grads = {"loss": loss.detach().numpy(), "layers": _layers_summary(model, grads=True)}
    optim.zero_grad()

    step_losses = []
    for order in orders:
        for start in range(0, REPLAY_TRAIN, BATCH_SIZE):
            rows = torch.from_numpy(order[start : start + BATCH_SIZE])
            loss = loss_fn(model(X[rows]), y[rows])
            optim.zero_grad()
            loss.backward()
            optim.step()
            step_losses.append(loss.detach().numpy())
    with torch.no_grad():
        Y_hat = model(X_val)
        val_loss = loss_fn(Y_hat, y_val)
        val_acc = (Y_hat.argmax(axis=1) == y_val).float().mean()
    return {
        "kind": kind,
        "seed": seed,
        "optimizer": "d2l SGD (param -= lr * grad)" if kind == "scratch" else "torch.optim.SGD",
        "num_train": REPLAY_TRAIN,
        "num_val": REPLAY_VAL,
        "epochs": REPLAY_EPOCHS,
        "batch_size": BATCH_SIZE,
        "lr": LR,
        "init_checksum": _checksum(*(a for layer in init for a in layer)),
        "orders_checksum": _checksum(*orders),
        "init_grads": init_grads,
        "step_losses": np.array(step_losses),
        "final": _layers_summary(model, grads=False),
        "val_loss": val_loss.numpy(),
        "val_acc": val_acc.numpy(),
    }


def book_run(make_model: Callable[[], nn.Module], optimizer: str, data: dict[str, torch.Tensor], seed: int
             ) -> dict[str, Any]:
    """One d2l training run: torch.manual_seed(seed), model, then d2l's Trainer loop over shuffled DataLoaders.

    The order of random draws is d2l's: model init (the lazy layers of the concise model initialise at the
    first forward, after the epoch's DataLoader has drawn its seeds), then per epoch a shuffled training
    loader and an unshuffled validation loader, each drawing from the global generator. The images come
    from a TensorDataset of x / 255, the same float32 values torchvision's ToTensor gives, and the loaders
    run without d2l's 4 workers (a loader draws the same seeds with or without them).
    """
    torch.manual_seed(seed)
    model = make_model()
    optim = SGD(model.parameters(), LR) if optimizer == "d2l" else torch.optim.SGD(model.parameters(), lr=LR)
    train = torch.utils.data.TensorDataset(data["X_train"], data["y_train"])
    val = torch.utils.data.TensorDataset(data["X_val"], data["y_val"])
    train_loader = torch.utils.data.DataLoader(train, BATCH_SIZE, shuffle=True)
    val_loader = torch.utils.data.DataLoader(val, BATCH_SIZE, shuffle=False)
    epoch_loss, val_loss, val_acc = [], [], []
    start = time.perf_counter()
    for _ in range(EPOCHS):
        model.train()
        losses = []
        for X, y in train_loader:
            loss = loss_fn(model(X), y)
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(loss.item())
        epoch_loss.append(np.mean(np.array(losses, np.float32), dtype=np.float64))
        model.eval()
        total_loss, total_correct = 0.0, 0.0
        with torch.no_grad():
            for X, y in val_loader:
                Y_hat = model(X)
                total_loss += F.cross_entropy(Y_hat, y, reduction="sum").item()
                total_correct += (Y_hat.argmax(axis=1) == y).sum().item()
        val_loss.append(total_loss / len(val))
        val_acc.append(total_correct / len(val))
    return {"seed": seed, "epoch_train_loss": epoch_loss, "val_loss": val_loss, "val_acc": val_acc,
            "seconds": time.perf_counter() - start}


def book(name: str, make_model: Callable[[], nn.Module], optimizer: str, data: dict[str, torch.Tensor],
         seeds: tuple[int, ...]) -> dict[str, Any]:
    runs = [book_run(make_model, optimizer, data, seed) for seed in seeds]
    out: dict[str, Any] = {"model": name, "optimizer": optimizer, "lr": LR, "batch_size": BATCH_SIZE,
                           "epochs": EPOCHS, "seeds": list(seeds)}
    for key in ("epoch_train_loss", "val_loss", "val_acc"):
        out[key] = [run[key] for run in runs]
    out["timing"] = {"seconds_per_run": [run["seconds"] for run in runs]}
    print(f"{name}: final val_acc {[round(r['val_acc'][-1], 4) for r in runs]}", flush=True)
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        data = _fashion_mnist()
        scratch = lambda: MLPScratch(784, 10, NUM_HIDDENS)  # noqa: E731
        concise = lambda: MLPConcise(10, (NUM_HIDDENS,))  # noqa: E731
        return {
            "ch5_2_mlp_implementation": {
                "replay": {kind: replay(kind, data) for kind in REPLAY_SEEDS},
                "book": {
                    "scratch": book("scratch", scratch, "d2l", data, BOOK_SEEDS),
                    "concise": book("concise", concise, "torch.optim.SGD", data, BOOK_SEEDS),
                },
            },
            "ch5_2_mlp_implementation_exercises": {
                "hiddens": list(EXERCISE_HIDDENS),
                "book": {
                    name: book(name, lambda act=act: MLPConcise(10, EXERCISE_HIDDENS, act), "torch.optim.SGD",
                               data, EXERCISE_SEEDS)
                    for name, act in (("relu_2hidden", nn.ReLU), ("sigmoid_2hidden", nn.Sigmoid))
                },
            },
        }
