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
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def batch_plan(order: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """Cuts an order of example indices into a minibatch plan: indices (num_batches, batch_size) and a
    0/1 mask of the same shape.

    As PyTorch's DataLoader with drop_last=False, the last batch may be partial: its tail is padded
    with index 0 and masked out, so every batch has one static shape and the plan can drive lax.scan.
    """
    order = jnp.asarray(order)
    num_examples = order.shape[0]
    check_batching(num_examples, batch_size)
    num_batches = -(-num_examples // batch_size)
    pad = num_batches * batch_size - num_examples
    idx = jnp.concatenate([order, jnp.zeros(pad, order.dtype)]).reshape(num_batches, batch_size)
    mask = (jnp.arange(num_batches * batch_size) < num_examples).reshape(num_batches, batch_size)
    return idx, mask.astype(jnp.float32)


def batch_indices(
    key: jax.Array | None, num_examples: int, batch_size: int, shuffle: bool = True
) -> tuple[jax.Array, jax.Array]:
    """One epoch's minibatch plan (see batch_plan) over a random permutation drawn from key."""
    check_batching(num_examples, batch_size)
    order = jax.random.permutation(key, num_examples) if shuffle else jnp.arange(num_examples)
    return batch_plan(order, batch_size)


def minibatches(
    key: jax.Array | None, X: jax.Array, y: jax.Array, batch_size: int, shuffle: bool = True
) -> Iterator[tuple[jax.Array, jax.Array]]:
    """Yields (X, y) minibatches in a shuffled order, the last one possibly smaller (for teaching loops)."""
    n = X.shape[0]
    check_batching(n, batch_size)
    order = jax.random.permutation(key, n) if shuffle else jnp.arange(n)
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]
        yield X[batch], y[batch]
