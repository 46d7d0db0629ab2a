"""Datasets as arrays on device, and minibatch index plans drawn from explicit PRNG keys."""

from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np


class Dataset(NamedTuple):
    """Training and validation arrays (a pytree, so it can be passed straight into jit)."""

    X_train: jax.Array
    y_train: jax.Array
    X_val: jax.Array
    y_val: jax.Array


def scale_images(images: jax.Array) -> jax.Array:
    """uint8 pixels to float32 in [0, 1] (done inside the compiled step, so data stays uint8 on device)."""
    return images.astype(jnp.float32) / 255.0


def synthetic_regression(
    key: jax.Array,
    w: Sequence[float] = (2.0, -3.4),
    b: float = 4.2,
    noise: float = 0.01,
    num_train: int = 1000,
    num_val: int = 1000,
) -> Dataset:
    """d2l 3.3's data: y = Xw + b + noise, X ~ N(0, 1), the first num_train rows for training."""
    w = jnp.asarray(w, dtype=jnp.float32).reshape(-1, 1)
    n = num_train + num_val
    key_X, key_noise = jax.random.split(key)
    X = jax.random.normal(key_X, (n, w.shape[0]))
    y = X @ w + b + noise * jax.random.normal(key_noise, (n, 1))
    return Dataset(X[:num_train], y[:num_train], X[num_train:], y[num_train:])


def check_batching(num_examples: int, batch_size: int) -> None:
    """Raises a ValueError that says what to change when a dataset cannot be cut into minibatches."""
    if num_examples <= 0:
        raise ValueError("the dataset is empty (0 examples); load or generate some data before training")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def permutation(key: jax.Array, num_examples: int) -> np.ndarray:
    """A random order of range(num_examples), a pure function of the PRNG key.

    Drawn on the host by NumPy from the key's bits: jax.random.permutation sorts on device, and XLA's
    CPU sort takes ~35 ms for 60000 indices, more than a whole epoch of softmax regression.
    """
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, np.uint32).ravel()).permutation(num_examples)


def batch_plan(order: jax.Array | np.ndarray, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """Cuts an order of example indices into a minibatch plan: indices (num_batches, batch_size) and a
    0/1 mask of the same shape.

    As PyTorch's DataLoader with drop_last=False, the last batch may be partial: its tail is padded
    with index 0 and masked out, so every batch has one static shape and the plan can drive lax.scan.
    A batch_size beyond the number of examples gives one batch of all of them (never padding to batch_size).
    """
    order = np.asarray(order)
    num_examples = order.shape[0]
    check_batching(num_examples, batch_size)
    batch_size = min(int(batch_size), num_examples)
    num_batches = -(-num_examples // batch_size)
    idx = np.zeros(num_batches * batch_size, np.int32)
    idx[:num_examples] = order
    mask = (np.arange(num_batches * batch_size) < num_examples).astype(np.float32)
    return jnp.asarray(idx.reshape(num_batches, batch_size)), jnp.asarray(mask.reshape(num_batches, batch_size))


def batch_indices(
    key: jax.Array | None, num_examples: int, batch_size: int, shuffle: bool = True
) -> tuple[jax.Array, jax.Array]:
    """One epoch's minibatch plan (see batch_plan) over a random order drawn from key."""
    check_batching(num_examples, batch_size)
    return batch_plan(permutation(key, num_examples) if shuffle else np.arange(num_examples), batch_size)


def minibatches(
    key: jax.Array | None, X: jax.Array, y: jax.Array, batch_size: int, shuffle: bool = True
) -> Iterator[tuple[jax.Array, jax.Array]]:
    """Yields (X, y) minibatches in a shuffled order, the last one possibly smaller (for teaching loops)."""
    n = X.shape[0]
    check_batching(n, batch_size)
    order = permutation(key, n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]
        yield X[batch], y[batch]
