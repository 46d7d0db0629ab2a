"""The NumPy draws of every replay, written once: imported by the PyTorch generator that stores a reference run
and by the experiment that replays it, so both sides start from the same bits.

A replay trains jaxdl through exactly the run PyTorch made: the same initial parameters, the same minibatch
orders and (5.6) the same dropout masks, all drawn from one seeded ``np.random.default_rng`` in a fixed order.
Each function below is one such order; changing a call's order or its arguments changes every stored replay,
so the stored checksums (and the replays' comparison rows) catch it.

NumPy only: the generators import this without jax, the experiments without torch.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

Layer = tuple[np.ndarray, np.ndarray]  # (W in d2l's (in, out) layout, b), float32


def epoch_orders(rng: np.random.Generator, num_train: int, epochs: int) -> list[np.ndarray]:
    """One permutation of the training rows per epoch: the minibatches are its consecutive slices."""
    return [rng.permutation(num_train) for _ in range(epochs)]


# ----------------------------------------------------------------------------- 4.4, 4.5: softmax regression


def softmax_init(rng: np.random.Generator, init: str, sigma: float, num_inputs: int = 784,
                 num_outputs: int = 10) -> Layer:
    """init "normal": W ~ N(0, sigma^2), b = 0 (d2l 4.4); "uniform": W, b ~ U(-1/sqrt(in), 1/sqrt(in)) (nn.Linear's
    default, d2l 4.5), W before b. W in (inputs, outputs) layout."""
    if init == "normal":
        return rng.normal(0.0, sigma, size=(num_inputs, num_outputs)).astype(np.float32), np.zeros(num_outputs, np.float32)
    bound = 1 / np.sqrt(num_inputs)
    W = rng.uniform(-bound, bound, size=(num_inputs, num_outputs)).astype(np.float32)
    return W, rng.uniform(-bound, bound, size=num_outputs).astype(np.float32)


def softmax_replay_draws(seed: int, init: str, sigma: float, num_train: int, epochs: int) -> tuple[Layer, list[np.ndarray]]:
    """4.4's and 4.5's replay: the initial parameters, then one order per epoch."""
    rng = np.random.default_rng(seed)
    params = softmax_init(rng, init, sigma)
    return params, epoch_orders(rng, num_train, epochs)


def order_checksum(orders: list[np.ndarray]) -> int:
    """A position-weighted sum of the batch orders (4.4 stores it beside the orders' seed)."""
    flat = np.concatenate(orders).astype(np.int64)
    return int((flat * (np.arange(flat.size) % 9973 + 1)).sum())


# ----------------------------------------------------------------------------- 5.2, 5.6, 13.5: MLPs


def mlp_init(rng: np.random.Generator, kind: str, sizes: Sequence[int]) -> list[Layer]:
    """Initial (W (in, out), b) per layer, layer by layer, W before b: N(0, 0.01^2) and zeros ("scratch", d2l
    5.2's MLPScratch) or U(-1/sqrt(in), 1/sqrt(in)) for both ("concise", nn.Linear's default)."""
    layers = []
    for m, n in zip(sizes[:-1], sizes[1:]):
        if kind == "scratch":
            W = (0.01 * rng.standard_normal((m, n))).astype(np.float32)
            b = np.zeros(n, np.float32)
        else:
            bound = 1 / np.sqrt(m)
            W = rng.uniform(-bound, bound, (m, n)).astype(np.float32)
            b = rng.uniform(-bound, bound, n).astype(np.float32)
        layers.append((W, b))
    return layers


def mlp_replay_draws(seed: int, kind: str, sizes: Sequence[int], num_train: int,
                     epochs: int) -> tuple[list[Layer], list[np.ndarray]]:
    """5.2's replay (and 13.5's, which replays 5.2's runs): the initial layers, then one order per epoch."""
    rng = np.random.default_rng(seed)
    init = mlp_init(rng, kind, sizes)
    return init, epoch_orders(rng, num_train, epochs)


def dropout_masks(rng: np.random.Generator, num_train: int, batch_size: int, epochs: int,
                  hiddens: Sequence[int], rates: Sequence[float]) -> list[list[tuple[np.ndarray, ...]]]:
    """Per epoch and step, one keep-mask (batch_size, hidden) = U[0, 1) > rate per hidden layer, drawn at full
    batch size even for the last, partial batch."""
    steps = -(-num_train // batch_size)
    return [[tuple(rng.random((batch_size, h)) > p for h, p in zip(hiddens, rates)) for _ in range(steps)]
            for _ in range(epochs)]


def dropout_replay_draws(seed: int, num_inputs: int, hiddens: Sequence[int], num_outputs: int,
                         rates: Sequence[float], num_train: int, batch_size: int, epochs: int) -> dict[str, Any]:
    """5.6's replay, from one generator in this order: nn.Linear's initial layers, one order per epoch, then
    the masks of every step."""
    rng = np.random.default_rng(seed)
    init = mlp_init(rng, "concise", [num_inputs, *hiddens, num_outputs])
    orders = epoch_orders(rng, num_train, epochs)
    return {"init": init, "orders": orders, "masks": dropout_masks(rng, num_train, batch_size, epochs, hiddens, rates)}


def checksum(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' bytes, to confirm both sides drew the same numbers."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def summary(a: np.ndarray) -> dict[str, Any]:
    """A weight matrix in d2l's (in, out) layout as the references store it: its norm and sum (float64) and the
    8 x 8 slice from its middle rows (for W1 the centre pixels, which are rarely blank)."""
    r = a.shape[0] // 2
    return {"norm": np.linalg.norm(a.astype(np.float64)), "sum": a.astype(np.float64).sum(), "slice": a[r : r + 8, :8]}


# ----------------------------------------------------------------------------- 5.7: K-fold linear regression


def linear_init(rng: np.random.Generator, num_inputs: int) -> Layer:
    """One fold's initial weight (1, inputs) and bias (1,): nn.Linear's U(-1/sqrt(in), 1/sqrt(in)), weight first."""
    bound = 1 / np.sqrt(num_inputs)
    return (rng.uniform(-bound, bound, (1, num_inputs)).astype(np.float32),
            rng.uniform(-bound, bound, 1).astype(np.float32))


def fold_draws(rng: np.random.Generator, num_inputs: int, num_rows: int, epochs: int) -> tuple[Layer, list[np.ndarray]]:
    """One fold of 5.7's replay, from the generator shared by all folds: its initial parameters, then one
    order of its training rows per epoch."""
    init = linear_init(rng, num_inputs)
    return init, epoch_orders(rng, num_rows, epochs)


# ----------------------------------------------------------------------------- 7.2, 7.6: convolutions
# Convolution kernels are drawn in PyTorch's (and jaxdl's) OIHW layout, dense weights as (out, in): both sides load
# them as they are.


def kernel_draw(seed: int, shape: Sequence[int] = (1, 1, 1, 2)) -> np.ndarray:
    """7.2's initial kernel: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as nn.LazyConv2d draws it, fan_in = in * kh * kw."""
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(np.prod(shape[1:]))
    return rng.uniform(-bound, bound, size=tuple(shape)).astype(np.float32)


# d2l 7.6's LeNet on 1 x 28 x 28 images: (conv out channels, in channels, kernel) then (dense out, in).
LENET_SHAPES: tuple[tuple[int, ...], ...] = ((6, 1, 5, 5), (16, 6, 5, 5), (120, 400), (84, 120), (10, 84))


def lenet_init(rng: np.random.Generator, shapes: Sequence[Sequence[int]] = LENET_SHAPES) -> list[Layer]:
    """d2l's init_cnn, layer by layer, W before b: W ~ Xavier uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out))
    (fan = channels times the kernel's area), b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default, which
    init_cnn leaves). W in PyTorch's layout (out, in[, kh, kw]), float32."""
    layers = []
    for shape in shapes:
        receptive = int(np.prod(shape[2:]))
        fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
        a = np.sqrt(6 / (fan_in + fan_out))
        W = rng.uniform(-a, a, size=tuple(shape)).astype(np.float32)
        bound = 1 / np.sqrt(fan_in)
        layers.append((W, rng.uniform(-bound, bound, size=shape[0]).astype(np.float32)))
    return layers


def lenet_replay_draws(seed: int, num_train: int, epochs: int,
                       shapes: Sequence[Sequence[int]] = LENET_SHAPES) -> tuple[list[Layer], list[np.ndarray]]:
    """7.6's replay: LeNet's initial layers, then one order of the training rows per epoch."""
    rng = np.random.default_rng(seed)
    init = lenet_init(rng, shapes)
    return init, epoch_orders(rng, num_train, epochs)


# ----------------------------------------------------------------------------- 8.5: batch normalisation

# d2l 8.5's BNLeNet on 1 x 28 x 28 images (its first convolution has no padding): the convolutions' and dense
# layers' shapes in PyTorch's layout; the BatchNorm layers start at gamma = 1, beta = 0 on both sides (no draws).
BN_LENET_SHAPES: tuple[tuple[int, ...], ...] = ((6, 1, 5, 5), (16, 6, 5, 5), (120, 256), (84, 120), (10, 84))


def bn_lenet_replay_draws(seed: int, num_train: int, epochs: int) -> tuple[list[Layer], list[np.ndarray]]:
    """8.5's replay: BNLeNet's initial weighted layers (d2l's init_cnn, as lenet_init), then one order per epoch."""
    rng = np.random.default_rng(seed)
    init = lenet_init(rng, BN_LENET_SHAPES)
    return init, epoch_orders(rng, num_train, epochs)


def batch_norm_draws(seed: int, shape: Sequence[int], steps: int) -> dict[str, Any]:
    """8.5's batch-normalisation steps on their own, in this order: per step an input X ~ N(2, 3^2) of `shape`
    (off centre, so the running statistics move) and an upstream gradient G ~ N(0, 1) of `shape` (the step's loss
    is sum(Y * G)), then one evaluation input ~ N(2, 3^2). float32."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    X, G = [], []
    for _ in range(steps):
        X.append((2.0 + 3.0 * rng.standard_normal(shape)).astype(np.float32))
        G.append(rng.standard_normal(shape).astype(np.float32))
    return {"X": X, "G": G, "X_eval": (2.0 + 3.0 * rng.standard_normal(shape)).astype(np.float32)}
