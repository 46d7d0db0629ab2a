"""Models as pairs of pure functions: init(key, ...) -> params pytree, apply(params, X) -> outputs."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

Params = dict[str, jax.Array]


def dense_init(key: jax.Array, num_inputs: int, num_outputs: int, sigma: float | None = 0.01) -> Params:
    """One dense layer: W (outputs, inputs), as torch.nn.Linear stores it, and b (outputs,).

    sigma: W ~ N(0, sigma^2) and b = 0, as d2l's from-scratch models; None: PyTorch's nn.Linear default,
    W and b ~ U(-1/sqrt(inputs), 1/sqrt(inputs)), as d2l's concise models.
    """
    key_W, key_b = jax.random.split(key)
    if sigma is None:
        bound = 1.0 / jnp.sqrt(num_inputs)
        W = jax.random.uniform(key_W, (num_outputs, num_inputs), minval=-bound, maxval=bound)
        b = jax.random.uniform(key_b, (num_outputs,), minval=-bound, maxval=bound)
        return {"W": W, "b": b}
    return {"W": sigma * jax.random.normal(key_W, (num_outputs, num_inputs)), "b": jnp.zeros(num_outputs)}


def dense_apply(params: Params, X: jax.Array) -> jax.Array:
    """X @ W.T + b (torch.nn.functional.linear).

    d2l's from-scratch chapters keep W as (inputs, outputs) and write X @ W; jaxdl keeps nn.Linear's
    (outputs, inputs), the layout d2l 5.3 uses too, because XLA on the CPU computes the weight
    gradient about twice as fast in it (softmax regression trains ~25% faster).
    """
    return X @ params["W"].T + params["b"]


def linreg_init(key: jax.Array, num_inputs: int, sigma: float | None = 0.01) -> Params:
    """d2l 3.4's linear regression: w ~ N(0, sigma^2) stored as W (1, inputs), b = 0."""
    return dense_init(key, num_inputs, 1, sigma)


linreg_apply = dense_apply


def flatten(X: jax.Array) -> jax.Array:
    """(N, ...) -> (N, features), as d2l's X.reshape((-1, W.shape[0]))."""
    return X.reshape(X.shape[0], -1)


def softmax_init(key: jax.Array, num_inputs: int = 784, num_outputs: int = 10, sigma: float | None = 0.01) -> Params:
    """d2l 4.4's softmax regression: W (outputs, inputs) ~ N(0, sigma^2), b = 0."""
    return dense_init(key, num_inputs, num_outputs, sigma)


def softmax_apply(params: Params, X: jax.Array) -> jax.Array:
    """Logits of softmax regression; images are flattened first."""
    return dense_apply(params, flatten(X))


def mlp_init(
    key: jax.Array,
    num_inputs: int = 784,
    num_hiddens: int | Sequence[int] = 256,
    num_outputs: int = 10,
    sigma: float | None = 0.01,
) -> list[Params]:
    """d2l 5.2's MLP: one dense layer per hidden size, then the output layer."""
    hiddens = [num_hiddens] if isinstance(num_hiddens, int) else list(num_hiddens)
    sizes = [num_inputs, *hiddens, num_outputs]
    keys = jax.random.split(key, len(sizes) - 1)
    return [dense_init(k, m, n, sigma) for k, m, n in zip(keys, sizes[:-1], sizes[1:])]


def mlp_apply(
    params: list[Params], X: jax.Array, activation: Callable[[jax.Array], jax.Array] = jax.nn.relu
) -> jax.Array:
    """Logits of the MLP: activation after every layer but the last."""
    H = flatten(X)
    for layer in params[:-1]:
        H = activation(dense_apply(layer, H))
    return dense_apply(params[-1], H)
