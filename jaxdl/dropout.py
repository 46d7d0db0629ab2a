"""Dropout (d2l 5.6) with explicit keys: the layer, and an MLP that drops out after every hidden layer."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxdl.models import Params, dense_apply, flatten

Activation = Callable[[jax.Array], jax.Array]


def check_rate(p: float) -> float:
    """Returns a dropout probability as a float, or raises a ValueError that says what is wrong with it."""
    try:
        rate = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"a dropout probability must be a number in [0, 1], got {p!r}") from None
    if not 0.0 <= rate <= 1.0:  # also refuses NaN
        raise ValueError(f"a dropout probability must lie in [0, 1], got {p!r}")
    return rate


def keep_mask(key: jax.Array, shape: Sequence[int], p: float) -> jax.Array:
    """d2l's mask: True where a uniform draw on [0, 1) exceeds p, so each entry is kept with probability 1 - p."""
    return jax.random.uniform(key, shape) > check_rate(p)


def apply_mask(X: jax.Array, mask: jax.Array, p: float) -> jax.Array:
    """Zeroes X where mask is False and scales the rest by 1 / (1 - p), so the expectation stays X."""
    p = check_rate(p)
    if p == 1.0:
        return jnp.zeros_like(X)
    return mask.astype(X.dtype) * X / (1.0 - p)


def dropout_layer(key: jax.Array, X: jax.Array, p: float) -> jax.Array:
    """d2l 5.6.1's dropout_layer with an explicit key: the same key always drops the same entries."""
    return apply_mask(X, keep_mask(key, X.shape, p), p)


def dropout(key: jax.Array, X: jax.Array, p: float) -> jax.Array:
    """The concise dropout: jax.random.bernoulli keeps each entry with probability 1 - p (what nn.Dropout does)."""
    p = check_rate(p)
    return apply_mask(X, jax.random.bernoulli(key, 1.0 - p, X.shape), p)


def _mlp(params: list[Params], X: jax.Array, drop: Callable[[int, jax.Array], jax.Array],
         activation: Activation) -> jax.Array:
    H = flatten(X)
    for i, layer in enumerate(params[:-1]):
        H = drop(i, activation(dense_apply(layer, H)))
    return dense_apply(params[-1], H)


def _check_rates(params: list[Params], rates: Sequence[float]) -> list[float]:
    if len(rates) != len(params) - 1:
        raise ValueError(f"{len(params) - 1} hidden layers need {len(params) - 1} dropout rates, got {len(rates)}")
    return [check_rate(p) for p in rates]


def mlp_apply(params: list[Params], X: jax.Array, key: jax.Array | None = None, *, rates: Sequence[float],
              activation: Activation = jax.nn.relu,
              layer: Callable[[jax.Array, jax.Array, float], jax.Array] = dropout_layer) -> jax.Array:
    """Logits of an MLP with dropout after every hidden layer: training with a key (one split per hidden
    layer), evaluation (no dropout) without. layer=dropout is the concise variant."""
    rates = _check_rates(params, rates)
    if key is None:
        return _mlp(params, X, lambda i, H: H, activation)
    keys = jax.random.split(key, len(rates))
    return _mlp(params, X, lambda i, H: layer(keys[i], H, rates[i]), activation)


def mlp_apply_masks(params: list[Params], X: jax.Array, masks: Sequence[jax.Array] | None = None, *,
                    rates: Sequence[float], activation: Activation = jax.nn.relu) -> jax.Array:
    """The same MLP in training mode with given keep-masks, one (batch, hidden) array per hidden layer (replays);
    evaluation without."""
    rates = _check_rates(params, rates)
    if masks is None:
        return _mlp(params, X, lambda i, H: H, activation)
    if len(masks) != len(rates):
        raise ValueError(f"{len(rates)} hidden layers need {len(rates)} masks, got {len(masks)}")
    return _mlp(params, X, lambda i, H: apply_mask(H, masks[i][: H.shape[0]], rates[i]), activation)
