"""Minibatch SGD written by hand, in the same init/update shape as optax's GradientTransformation."""

from __future__ import annotations

import math
from typing import Any

import jax
import optax


def check_learning_rate(learning_rate: float) -> float:
    """Returns the learning rate as a float, or raises a ValueError that says what is wrong with it."""
    try:
        if isinstance(learning_rate, (str, bytes, bool)):  # float() would take "1" and True
            raise TypeError
        lr = float(learning_rate)
    except (TypeError, ValueError):
        raise ValueError(f"the learning rate must be a number, got {learning_rate!r}") from None
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"the learning rate must be a finite positive number, got {learning_rate!r}")
    return lr


def sgd_update(params: Any, grads: Any, learning_rate: float) -> Any:
    """d2l's SGD step on a whole pytree: params - lr * grads."""
    return jax.tree.map(lambda p, g: p - learning_rate * g, params, grads)


def sgd(learning_rate: float | jax.Array) -> optax.GradientTransformation:
    """Hand-written SGD as a GradientTransformation: stateless, updates = -lr * grads.

    The learning rate is checked when it is a number; a jax array (a traced row of fit_many's hyperparams,
    say) is taken as it is, as optax.sgd takes it.
    """
    lr = learning_rate if isinstance(learning_rate, jax.Array) else check_learning_rate(learning_rate)

    def init(params: Any) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update(grads: Any, state: optax.EmptyState, params: Any = None) -> tuple[Any, optax.EmptyState]:
        del params
        return jax.tree.map(lambda g: -lr * g, grads), state

    return optax.GradientTransformation(init, update)


def optax_sgd(learning_rate: float | jax.Array) -> optax.GradientTransformation:
    """optax.sgd, after the same learning-rate check as the hand-written one (numbers only, as `sgd`)."""
    return optax.sgd(learning_rate if isinstance(learning_rate, jax.Array) else check_learning_rate(learning_rate))
