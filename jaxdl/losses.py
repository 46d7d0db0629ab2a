"""Losses and metrics; each returns one value per example (reduce with .mean()), as optax's losses do."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def squared_loss(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """d2l's (y_hat - y)**2 / 2, per example."""
    return ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).reshape(y_hat.shape[0], -1).sum(axis=1)


def absolute_loss(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """|y_hat - y|, per example."""
    return jnp.abs(y_hat - y.reshape(y_hat.shape)).reshape(y_hat.shape[0], -1).sum(axis=1)


def mse(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """nn.MSELoss per example: the mean over outputs of (y_hat - y)^2, without d2l 3.4's 1/2 (d2l 3.5, 3.7, 5.7)."""
    return optax.squared_error(y_hat, y.reshape(y_hat.shape)).reshape(y_hat.shape[0], -1).mean(axis=1)


def softmax(X: jax.Array) -> jax.Array:
    """d2l 4.4's softmax written from its definition, exp(X) / sum(exp(X)): overflows for large inputs."""
    X_exp = jnp.exp(X)
    return X_exp / X_exp.sum(axis=1, keepdims=True)


def cross_entropy(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """d2l 4.4's -log(y_hat[y]) from predicted probabilities, per example."""
    return -jnp.log(jnp.take_along_axis(y_hat, y[:, None], axis=1)[:, 0])


def softmax_cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Cross-entropy from logits through log-softmax (numerically stable), per example."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, y)


def scratch_softmax_loss(logits: jax.Array, y: jax.Array) -> jax.Array:
    """d2l 4.4's from-scratch loss on logits: its naive softmax, then its cross-entropy."""
    return cross_entropy(softmax(logits), y)


def correct(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """1.0 where argmax(y_hat) equals the label, else 0.0, per example."""
    return (jnp.argmax(y_hat, axis=1) == y).astype(jnp.float32)


def accuracy(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """Fraction of examples whose argmax prediction equals the label (d2l 4.3)."""
    return correct(y_hat, y).mean()
