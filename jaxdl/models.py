"""The book's models of chapters 3-5 as `jaxdl.nn` layer values.

Each function returns a `Layer`; ``model.init(key, input_shape)`` draws its parameters, and `fit` trains it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax

from jaxdl import nn

Activation = Callable[[], nn.Layer]


def linear_regression(sigma: float | None = 0.01) -> nn.Layer:
    """d2l 3.4's linear regression: one output, w ~ N(0, sigma^2) stored as W (1, inputs), b = 0; sigma=None
    gives PyTorch's nn.Linear default (d2l 3.5's concise model)."""
    return nn.linear(1, sigma=sigma)


def softmax_regression(num_outputs: int = 10, sigma: float | None = 0.01) -> nn.Layer:
    """d2l 4.4's softmax regression: images flattened, then one dense layer of logits, W ~ N(0, sigma^2)."""
    return nn.serial(nn.flatten(), nn.linear(num_outputs, sigma=sigma))


def _hiddens(num_hiddens: int | Sequence[int]) -> list[int]:
    return [num_hiddens] if isinstance(num_hiddens, int) else list(num_hiddens)


def mlp(num_hiddens: int | Sequence[int] = 256, num_outputs: int = 10, activation: Activation = nn.relu,
        sigma: float | None = 0.01) -> nn.Layer:
    """d2l 5.2's MLP: inputs flattened, one dense layer and activation per hidden size, then the output layer."""
    layers = [nn.flatten()]
    for width in _hiddens(num_hiddens):
        layers += [nn.linear(width, sigma=sigma), activation()]
    return nn.serial(*layers, nn.linear(num_outputs, sigma=sigma))


def dropout_mlp(num_hiddens: int | Sequence[int] = (256, 256), rates: Sequence[float] = (0.5, 0.5),
                num_outputs: int = 10, activation: Activation = nn.relu, sigma: float | None = 0.01,
                mask: Callable = nn.keep_mask) -> nn.Layer:
    """d2l 5.6's MLP with dropout after every hidden layer's activation (the rate of each in `rates`).

    mask: how each dropout layer draws its keep-mask from the step's rng (nn.keep_mask: d2l's from-scratch
    dropout_layer; nn.bernoulli_mask: the concise nn.Dropout; nn.given_mask: the rng holds the masks).
    """
    hiddens = _hiddens(num_hiddens)
    if len(rates) != len(hiddens):
        raise ValueError(f"{len(hiddens)} hidden layers need {len(hiddens)} dropout rates, got {len(rates)}")
    layers = [nn.flatten()]
    for width, rate in zip(hiddens, rates):
        layers += [nn.linear(width, sigma=sigma), activation(), nn.dropout(rate, mask)]
    return nn.serial(*layers, nn.linear(num_outputs, sigma=sigma))


def init(model: nn.Layer, key: jax.Array, input_shape: Sequence[int]) -> nn.Params:
    """The parameters alone of a stateless model (nn.init, the state dropped after checking there is none)."""
    params, state = nn.init(model, key, tuple(input_shape))
    if state is not None:
        raise ValueError("this model keeps layer state (BatchNorm): use nn.init, which returns it too")
    return params
