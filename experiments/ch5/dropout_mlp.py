"""What d2l 5.6's dropout MLP shares with its exercises: the model, its training on many keys and the book band
with 5.6's margins (a support module, not an experiment)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from experiments.ch5.mlp import check_band as check_mean_band
from experiments.harness.result import Margin, model_devices, Result
from jaxdl import losses, models, nn
from jaxdl.data import Dataset
from jaxdl.many import stack, unstack
from jaxdl.training import fit_many, History

NUM_INPUTS, NUM_HIDDENS, NUM_OUTPUTS = 784, (256, 256), 10
RATES = (0.5, 0.5)
LR, BATCH_SIZE, EPOCHS = 0.1, 256, 10
# The book rows are decided by the mean over BOOK_KEYS jaxdl keys (5.2's rule), not by any one key.
BOOK_KEYS = 4

# 5.6's book band margins; 5.6's and its exercises' TOLERANCES tables hold them.
BAND_VAL_ACC = Margin(0.01, why="book band: the project's goal, within one point of validation accuracy of "
                      "PyTorch's seeds")
BAND_LOSSES = Margin(0.03, why="book band, losses: one accuracy point is worth ~0.026 of validation loss (5.2)")


def make_model(rates: Sequence[float] = RATES, mask: Callable = nn.keep_mask,
               num_hiddens: Sequence[int] = NUM_HIDDENS) -> nn.Layer:
    """d2l's dropout MLP (784 inputs, 10 outputs, nn.Linear's default init); mask=nn.keep_mask is d2l's
    dropout_layer, nn.bernoulli_mask the concise nn.Dropout, nn.given_mask a replay's masks."""
    return models.dropout_mlp(list(num_hiddens), tuple(rates), NUM_OUTPUTS, sigma=None, mask=mask)


def init(key: jax.Array, num_hiddens: tuple[int, ...] = NUM_HIDDENS) -> nn.Params:
    """d2l's LazyLinear layers: nn.Linear's default uniform init, in models.dropout_mlp's params structure
    ``((), l0, (), (), l1, (), (), l2)``."""
    return models.init(make_model((0.5,) * len(num_hiddens), num_hiddens=num_hiddens), key, (1, NUM_INPUTS))


def dropout_params(layers: Sequence[nn.Params]) -> tuple:
    """Hand-built dense layers (a replay's NumPy draws) in models.dropout_mlp's params structure: the
    flatten, then per hidden layer its dense layer, activation and dropout, then the output layer."""
    out: list[Any] = [()]
    for layer in layers[:-1]:
        out += [layer, (), ()]
    return tuple(out + [layers[-1]])


def train_many(keys: list[jax.Array], data: Dataset, *, rates: tuple[float, float] = RATES,
               mask: Callable = nn.keep_mask, optimizer: optax.GradientTransformation,
               epochs: int) -> tuple[list[nn.Params], list[History]]:
    """d2l's Trainer on the dropout MLP for every key, all in one compiled call (fit_many, the keys spread over
    the local devices): key i split into three gives the init, the batch orders and the dropout masks, and
    its run is what fit(..., step_rng=...) gives that key alone."""
    splits = [jax.random.split(key, 3) for key in keys]
    model = make_model(rates, mask)
    params, _, histories = fit_many(model, losses.softmax_cross_entropy, stack([init(k) for k, _, _ in splits]),
                                    data, optimizer, keys=jnp.stack([k for _, k, _ in splits]), epochs=epochs,
                                    batch_size=BATCH_SIZE, step_rng=jnp.stack([k for _, _, k in splits]),
                                    devices=model_devices(len(keys)), callbacks=())
    return unstack(params), histories


def check_band(result: Result, label: str, histories: list[History], book: dict[str, Any]) -> None:
    """The mean of jaxdl's keys after the last epoch against the spread of PyTorch's seeds after the same
    epoch, widened by this section's margins (5.2's rule)."""
    check_mean_band(result, label, histories, book, BAND_VAL_ACC.value, BAND_LOSSES.value)
