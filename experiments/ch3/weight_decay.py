"""What d2l 3.7's weight decay shares with its exercises: the penalties, the replay of the stored PyTorch runs and
its tolerance entries (a support module, not an experiment)."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.ch3.linear_regression import ReplayRun
from experiments.harness.result import Tolerance
from jaxdl import nn, training
from jaxdl.data import Dataset

NUM_TRAIN, NUM_VAL, NUM_INPUTS, BATCH_SIZE = 20, 100, 200, 5
LR, EPOCHS, SIGMA = 0.01, 10, 0.01

# 3.7's replay tolerance entries, held by 3.7's and its exercises' TOLERANCES tables.
REPLAY_STEPS = Tolerance(rtol=1e-4, atol=1e-11, why="per-step losses: float32 sums over 200 inputs in another "
                         "order, 40 steps. atol: per-step losses near 0: without decay the concise model "
                         "interpolates the 20 examples and its minibatch MSE falls to ~1e-10, a difference of "
                         "nearly equal float32 numbers; a float64 replay puts both float32 runs ~1e-3 "
                         "(relative, ~2e-13 absolute) from it")
EPOCH_LOSSES = Tolerance(rtol=1e-4, why="validation losses after each epoch (and training losses over all 20 "
                         "examples): float32 sums over 200 inputs in another order, 40 steps")
FINAL_PARAMETERS = Tolerance(atol=1e-6, why="final w and b (entries ~0.01): float32 rounding after 40 updates, "
                             "measured ~1e-8")


def l2_penalty(params: nn.Params) -> jax.Array:
    """d2l's l2_penalty of the weights: sum(w^2) / 2 (the bias is not penalised)."""
    return (params["W"] ** 2).sum() / 2


def l1_penalty(params: nn.Params) -> jax.Array:
    """The L1 penalty of the weights: sum |w|."""
    return jnp.abs(params["W"]).sum()


def scaled(penalty: Callable[[nn.Params], jax.Array], lambd: float) -> Callable[[nn.Params], jax.Array]:
    """lambd * penalty(params), the term d2l's WeightDecayScratch adds to its loss."""
    return lambda params: lambd * penalty(params)


def replay(model: nn.Layer, loss: training.Loss, params: Any, dataset: Dataset, orders: np.ndarray,
           optimizer: optax.GradientTransformation, penalty: Callable | None = None) -> tuple[ReplayRun,
                                                                                             training.History]:
    """Trains through the stored minibatch orders, the penalty (if any) added to each step's loss as d2l does."""
    params, _, history = training.fit(model, loss, params, dataset, optimizer, orders=list(orders),
                                      batch_size=BATCH_SIZE, metric=None, penalty=penalty, callbacks=())
    return ReplayRun(history.train_loss, history.val_loss, params), history
