"""What d2l 5.6's dropout MLP shares with its exercises: the model, its training on many keys and the book band
with 5.6's margins (a support module, not an experiment)."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from experiments.ch5.mlp import check_band as check_mean_band
from experiments.harness.result import Margin, model_devices, Result
from jaxdl import dropout, losses, models
from jaxdl.data import Dataset
from jaxdl.many import fit_many, stack, unstack
from jaxdl.training import History

NUM_INPUTS, NUM_HIDDENS, NUM_OUTPUTS = 784, (256, 256), 10
RATES = (0.5, 0.5)
LR, BATCH_SIZE, EPOCHS = 0.1, 256, 10
# The book rows are decided by the mean over BOOK_KEYS jaxdl keys (5.2's rule), not by any one key.
BOOK_KEYS = 4

# 5.6's book band margins; 5.6's and its exercises' TOLERANCES tables hold them.
BAND_VAL_ACC = Margin(0.01, why="book band: the project's goal, within one point of validation accuracy of "
                      "PyTorch's seeds")
BAND_LOSSES = Margin(0.03, why="book band, losses: one accuracy point is worth ~0.026 of validation loss (5.2)")


def init(key: jax.Array, num_hiddens: tuple[int, ...] = NUM_HIDDENS) -> list[models.Params]:
    """d2l's LazyLinear layers: nn.Linear's default uniform init."""
    return models.mlp_init(key, NUM_INPUTS, list(num_hiddens), NUM_OUTPUTS, sigma=None)


def train_many(keys: list[jax.Array], data: Dataset, *, rates: tuple[float, float] = RATES,
               layer: Callable = dropout.dropout_layer, optimizer: optax.GradientTransformation,
               epochs: int) -> tuple[list[list[models.Params]], list[History]]:
    """d2l's Trainer on the dropout MLP for every key, all in one compiled call (fit_many, the keys spread over
    the local devices): key i split into three gives the init, the batch orders and the dropout masks, and
    its run is what fit(..., step_rng=...) gives that key alone."""
    splits = [jax.random.split(key, 3) for key in keys]
    apply = partial(dropout.mlp_apply, rates=rates, layer=layer)
    params, histories = fit_many(apply, losses.softmax_cross_entropy, stack([init(k) for k, _, _ in splits]), data,
                                 optimizer, keys=jnp.stack([k for _, k, _ in splits]), epochs=epochs,
                                 batch_size=BATCH_SIZE, step_rng=jnp.stack([k for _, _, k in splits]),
                                 devices=model_devices(len(keys)))
    return unstack(params), histories


def check_band(result: Result, label: str, histories: list[History], book: dict[str, Any]) -> None:
    """The mean of jaxdl's keys after the last epoch against the spread of PyTorch's seeds after the same
    epoch, widened by this section's margins (5.2's rule)."""
    check_mean_band(result, label, histories, book, BAND_VAL_ACC.value, BAND_LOSSES.value)
