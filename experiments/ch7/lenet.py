"""d2l 7.6's LeNet as a jaxdl layer value, and what 7.6 and its exercises share: the layers, d2l's init_cnn, the
layer summary, and the replay of a stored PyTorch run (a support module, not an experiment)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness import replay as draws
from jaxdl import losses, nn, optimizers, training
from jaxdl.data import Dataset
from jaxdl.initializers import xavier

LR, BATCH_SIZE, EPOCHS = 0.1, 128, 10
# Positions of the convolutions and dense layers in lenet_layers (the others hold no parameters).
WEIGHTED = (0, 3, 7, 9, 11)

# d2l's init_cnn: Xavier-uniform weights for convolutions (OIHW: fans are channels times the kernel's area) and dense
# layers; biases keep PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
XAVIER_CONV = jax.nn.initializers.variance_scaling(1.0, "fan_avg", "uniform", in_axis=1, out_axis=0)


def lenet_layers(modern: bool = False, num_classes: int = 10, conv_method: str = "auto") -> list[nn.Layer]:
    """d2l 7.6's LeNet, layer by layer: conv 6@5x5 (padding 2), sigmoid, 2 x 2 average pooling, conv 16@5x5, sigmoid,
    pooling, flatten, dense 120, sigmoid, dense 84, sigmoid, dense num_classes, with d2l's init_cnn.

    modern=True: ReLU instead of sigmoid and max pooling instead of average pooling (exercise 1). conv_method: how
    the convolutions run (nn.conv2d_apply's method)."""
    act = nn.relu if modern else nn.sigmoid
    pool = nn.max_pool2d if modern else nn.avg_pool2d
    dense = lambda n: nn.linear(n, sigma=None, W_init=xavier())  # noqa: E731
    return [nn.conv2d(6, 5, padding=2, W_init=XAVIER_CONV, method=conv_method), act(), pool(2, 2),
            nn.conv2d(16, 5, W_init=XAVIER_CONV, method=conv_method), act(), pool(2, 2),
            nn.flatten(), dense(120), act(), dense(84), act(), dense(num_classes)]


def lenet(modern: bool = False, num_classes: int = 10, conv_method: str = "auto") -> nn.Layer:
    """LeNet as one serial model (see lenet_layers)."""
    return nn.serial(*lenet_layers(modern, num_classes, conv_method))


def layer_summary(layers: Sequence[nn.Layer], input_shape: Sequence[int]) -> list[tuple[str, tuple[int, ...]]]:
    """d2l's layer_summary: each layer's class name (as PyTorch names it) and output shape, layer after layer."""
    shape, rows = tuple(input_shape), []
    for layer in layers:
        shape, _, _ = layer.init(jax.random.key(0), shape)
        rows.append((layer.name.split("(")[0], tuple(shape)))
    return rows


def num_params(params: Any) -> int:
    """The number of parameters (entries of every array)."""
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))


def params_from(layers: Sequence[tuple[np.ndarray, np.ndarray]], dtype: Any = np.float32) -> tuple:
    """LeNet's params from (W, b) pairs in PyTorch's layout (a replay's NumPy draws): () for the layers without."""
    out: list[Any] = [()] * 12
    for position, (W, b) in zip(WEIGHTED, layers):
        out[position] = {"W": jnp.asarray(np.asarray(W).astype(dtype)), "b": jnp.asarray(np.asarray(b).astype(dtype))}
    return tuple(out)


def weighted(params: Sequence[Any]) -> list[dict[str, jax.Array]]:
    """The convolutions' and dense layers' {"W", "b"}, in order."""
    return [params[i] for i in WEIGHTED]


def images(dtype: Any = jnp.float32) -> Callable[[jax.Array], jax.Array]:
    """fit's preprocess: uint8 (N, 28, 28) to (N, 1, 28, 28) in [0, 1], as ToTensor's x / 255 in `dtype`."""
    return lambda X: (X.astype(dtype) / jnp.asarray(255, dtype))[:, None]


def summary(W: Any) -> dict[str, Any]:
    """A weight as the generator stores it: norm and sum (float64) of its (out, in * kh * kw) matrix, its first 8 x 8."""
    M = np.asarray(W).reshape(W.shape[0], -1)
    return {"norm": float(np.linalg.norm(M.astype(np.float64))), "sum": float(M.astype(np.float64).sum()),
            "head": M[:8, :8]}


def replay(stored: dict[str, Any], data: Dataset, modern: bool = False, dtype: Any = np.float32,
           conv_method: str = "auto") -> dict[str, Any]:
    """Replays one stored PyTorch run: its NumPy initial layers and batch orders (harness.replay), jaxdl's fit with
    optimizers.sgd. dtype=np.float64 (inside jax.enable_x64) runs the same trajectory in double precision;
    conv_method chooses how the convolutions run."""
    init, orders = draws.lenet_replay_draws(stored["seed"], stored["num_train"], stored["epochs"])
    n, n_val = stored["num_train"], stored["num_val"]
    subset = Dataset(data.X_train[:n], data.y_train[:n], data.X_val[:n_val], data.y_val[:n_val])
    model = lenet(modern, conv_method=conv_method)
    params, _, history = training.fit(model, losses.softmax_cross_entropy, params_from(init, dtype), subset,
                                      optimizers.sgd(stored["lr"]), orders=orders, batch_size=stored["batch_size"],
                                      preprocess=images(jnp.float64 if dtype == np.float64 else jnp.float32),
                                      callbacks=())
    return {"model": model, "params": params,
            "init_checksum": draws.checksum(*(x for layer in init for x in layer)),
            "orders_checksum": draws.checksum(*orders),
            "step_losses": np.asarray(history.train_loss),
            "final": [{"W": summary(p["W"]), "b": np.asarray(p["b"])} for p in weighted(params)],
            "val_loss": float(history.val_loss[-1]), "val_acc": float(history.val_metric[-1]), "num_val": n_val,
            "seconds": history.compile_seconds + history.train_seconds}
