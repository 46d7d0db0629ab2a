"""d2l 8.5's batch normalisation in jaxdl: the from-scratch batch_norm function written functionally (it returns
the new moving statistics instead of assigning them), BNLeNet as a jaxdl layer value, its layer summary, and the
replay of a stored PyTorch run (a support module, not an experiment)."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness import replay as draws
from jaxdl import losses, nn, optimizers, training
from jaxdl.data import Dataset
from jaxdl.initializers import xavier

LR, BATCH_SIZE, EPOCHS = 0.1, 128, 10
# Positions in bn_lenet_layers of the convolutions and dense layers, and of the BatchNorm layers.
WEIGHTED = (0, 4, 9, 12, 15)
NORMS = (1, 5, 10, 13)
XAVIER_CONV = jax.nn.initializers.variance_scaling(1.0, "fan_avg", "uniform", in_axis=1, out_axis=0)


def batch_norm(X: jax.Array, gamma: jax.Array, beta: jax.Array, moving_mean: jax.Array, moving_var: jax.Array,
               eps: float = 1e-5, momentum: float = 0.1, *, train: bool) -> tuple[jax.Array, jax.Array, jax.Array]:
    """d2l 8.5's from-scratch batch normalisation as a pure function.

    Args:
      X: (N, C) or (N, C, H, W) input.
      gamma, beta: scale and shift, broadcastable to X ((1, C) or (1, C, 1, 1), as d2l keeps them).
      moving_mean, moving_var: the moving statistics, shaped as gamma.
      eps: added to the variance under the square root.
      momentum: how far one training step moves the moving statistics towards the batch's.
      train: True normalises with the batch's mean and biased variance and moves the statistics (with that biased
        variance, as d2l's function does: PyTorch's layer keeps the unbiased one); False normalises with the moving
        statistics and returns them unchanged.

    Returns:
      (Y, new moving_mean, new moving_var).
    """
    if X.ndim not in (2, 4):
        raise ValueError(f"batch_norm takes (N, C) or (N, C, H, W) inputs, got shape {X.shape}")
    if not train:
        return gamma * (X - moving_mean) / jnp.sqrt(moving_var + eps) + beta, moving_mean, moving_var
    axes = (0,) if X.ndim == 2 else (0, 2, 3)
    mean = X.mean(axis=axes, keepdims=True)
    var = ((X - mean) ** 2).mean(axis=axes, keepdims=True)
    X_hat = (X - mean) / jnp.sqrt(var + eps)
    mean, var = mean.reshape(moving_mean.shape), var.reshape(moving_var.shape)
    return (gamma * X_hat + beta, (1.0 - momentum) * moving_mean + momentum * mean,
            (1.0 - momentum) * moving_var + momentum * var)


def bn_lenet_layers(num_classes: int = 10) -> list[nn.Layer]:
    """d2l 8.5's concise BNLeNet, layer by layer: conv 6@5x5, BatchNorm, sigmoid, 2 x 2 average pooling, conv
    16@5x5, BatchNorm, sigmoid, pooling, flatten, dense 120, BatchNorm, sigmoid, dense 84, BatchNorm, sigmoid, dense
    num_classes, with d2l's init_cnn (Xavier-uniform weights)."""
    dense = lambda n: nn.linear(n, sigma=None, W_init=xavier())  # noqa: E731
    conv = lambda c: nn.conv2d(c, 5, W_init=XAVIER_CONV)  # noqa: E731
    return [conv(6), nn.batch_norm(), nn.sigmoid(), nn.avg_pool2d(2, 2),
            conv(16), nn.batch_norm(), nn.sigmoid(), nn.avg_pool2d(2, 2),
            nn.flatten(), dense(120), nn.batch_norm(), nn.sigmoid(),
            dense(84), nn.batch_norm(), nn.sigmoid(), dense(num_classes)]


def bn_lenet(num_classes: int = 10) -> nn.Layer:
    """BNLeNet as one serial model (see bn_lenet_layers)."""
    return nn.serial(*bn_lenet_layers(num_classes))


def layer_summary(layers: Sequence[nn.Layer], input_shape: Sequence[int]) -> list[tuple[str, tuple[int, ...]]]:
    """d2l's layer_summary: each layer's class name (as PyTorch names it, up to its arguments) and output shape.
    jaxdl's one BatchNorm takes both ranks; it is named as the PyTorch class its input's rank calls for
    (BatchNorm1d for (N, C), BatchNorm2d for (N, C, H, W))."""
    shape, rows = tuple(input_shape), []
    for layer in layers:
        rank = len(shape)
        shape, _, _ = layer.init(jax.random.key(0), shape)
        name = layer.name.split("(")[0]
        if name == "BatchNorm":
            name += "1d" if rank == 2 else "2d"
        rows.append((name, tuple(shape)))
    return rows


def num_params(params: Any) -> int:
    """The number of parameters (entries of every array)."""
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))


def params_from(init: Sequence[tuple[np.ndarray, np.ndarray]], dtype: Any = np.float32) -> tuple[tuple, tuple]:
    """BNLeNet's (params, state) from the weighted layers' (W, b) in PyTorch's layout (a replay's NumPy draws):
    BatchNorm at gamma 1, beta 0, running mean 0 and variance 1, as PyTorch's fresh layers, all in `dtype`."""
    params, state = nn.init(bn_lenet(), jax.random.key(0), (1, 1, 28, 28))
    params, state = list(params), list(state)
    for position, (W, b) in zip(WEIGHTED, init):
        if params[position]["W"].shape != W.shape:
            raise ValueError(f"layer {position}: drawn weight {W.shape}, model expects {params[position]['W'].shape}")
        params[position] = {"W": jnp.asarray(W.astype(dtype)), "b": jnp.asarray(b.astype(dtype))}
    cast = lambda tree: jax.tree.map(lambda a: jnp.asarray(a, dtype), tree)  # noqa: E731
    for position in NORMS:
        params[position], state[position] = cast(params[position]), cast(state[position])
    return tuple(params), tuple(state)


def images(dtype: Any = jnp.float32) -> Any:
    """fit's preprocess: uint8 (N, 28, 28) to (N, 1, 28, 28) in [0, 1], as ToTensor's x / 255 in `dtype`."""
    return lambda X: (X.astype(dtype) / jnp.asarray(255, dtype))[:, None]


def summary(W: Any) -> dict[str, Any]:
    """A weight as the generator stores it: norm and sum (float64) of its (out, in * kh * kw) matrix, its first 8 x 8."""
    M = np.asarray(W).reshape(W.shape[0], -1)
    return {"norm": float(np.linalg.norm(M.astype(np.float64))), "sum": float(M.astype(np.float64).sum()),
            "head": M[:8, :8]}


def replay(stored: dict[str, Any], data: Dataset, dtype: Any = np.float32) -> dict[str, Any]:
    """Replays one stored PyTorch run: its NumPy initial layers and batch orders (harness.replay) through jaxdl's
    fit (the last, partial minibatch padded and masked out of the loss and of BatchNorm's statistics).

    Args:
      stored: the reference's replay entry (seed, num_train, num_val, epochs, lr, batch_size).
      data: Fashion-MNIST (uint8 images).
      dtype: np.float32, or np.float64 inside jax.enable_x64.

    Returns:
      step losses, final weighted layers' summaries, the BatchNorm layers' gamma, beta and running statistics,
      validation loss and accuracy, the draws' checksums and the seconds fit took.
    """
    init, orders = draws.bn_lenet_replay_draws(stored["seed"], stored["num_train"], stored["epochs"])
    n, n_val = stored["num_train"], stored["num_val"]
    subset = Dataset(data.X_train[:n], data.y_train[:n], data.X_val[:n_val], data.y_val[:n_val])
    params, state = params_from(init, dtype)
    fitted = training.fit(bn_lenet(), losses.softmax_cross_entropy, params, subset, optimizers.sgd(stored["lr"]),
                          state=state, orders=orders, batch_size=stored["batch_size"],
                          preprocess=images(jnp.float64 if dtype == np.float64 else jnp.float32), callbacks=())
    p, s, history = fitted.params, fitted.state, fitted.history
    return {"init_checksum": draws.checksum(*(x for layer in init for x in layer)),
            "orders_checksum": draws.checksum(*orders),
            "step_losses": np.asarray(history.train_loss),
            "final": [{"W": summary(p[i]["W"]), "b": np.asarray(p[i]["b"])} for i in WEIGHTED],
            "norms": [{"gamma": np.asarray(p[i]["gamma"]), "beta": np.asarray(p[i]["beta"]),
                       "running_mean": np.asarray(s[i]["mean"]), "running_var": np.asarray(s[i]["var"])} for i in NORMS],
            "val_loss": float(history.val_loss[-1]), "val_acc": float(history.val_metric[-1]), "num_val": n_val,
            "seconds": history.compile_seconds + history.train_seconds}
