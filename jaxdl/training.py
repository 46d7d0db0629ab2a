"""Training: a jit-compiled update step, a whole epoch in one lax.scan, and one engine behind `fit` (one
model) and `fit_many` (N models side by side, vmapped).

A model is a `jaxdl.nn.Layer`: training calls ``model.apply(params, state, X, train=True, rng=rng)`` and
threads the returned layer state (BatchNorm's statistics) through the scan; validation calls it with
``train=False``. Everything a user hands over is checked before anything is compiled (jaxdl.checks).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import checkpoints, many, nn, sharding
from jaxdl.callbacks import Callback, EpochEnd, ProgressBar
from jaxdl.checks import (check_count, check_dataset, check_examples, check_finite, check_key, check_labels,
                          check_params, is_key, warn_unscaled_images)
from jaxdl.data import Dataset, batch_indices, batch_plan, check_batching, scale_images
from jaxdl.divergence import (TrainingDiverged, check_divergence_threshold, describe, first_divergent_step,
                              resolve_threshold)
from jaxdl.losses import correct
from jaxdl.nn import Layer

Loss = Callable[[jax.Array, jax.Array], jax.Array]  # per-example values
Metric = Callable[[jax.Array, jax.Array], jax.Array]  # per-example values
Penalty = Callable[[Any], jax.Array]  # params -> a scalar added to the minibatch objective
# (epoch, num_batches) -> a pytree whose leaves have one row per minibatch; step j's rows go to the model's rng
StepRng = Callable[[int, int], Any]
Optimizer = optax.GradientTransformation | Callable[[Any], optax.GradientTransformation]


@dataclass(frozen=True)
class History:
    """What training measured: the loss of every step, validation loss and metric after every epoch."""

    train_loss: np.ndarray  # (epochs * num_batches,)
    val_loss: np.ndarray  # (epochs,)
    val_metric: np.ndarray  # (epochs,), accuracy for classifiers; empty when no metric
    num_batches: int
    compile_seconds: float = 0.0
    train_seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.val_loss)

    def epoch_train_loss(self) -> np.ndarray:
        """Mean training loss of each complete epoch's steps."""
        usable = len(self.train_loss) // self.num_batches * self.num_batches
        return self.train_loss[:usable].reshape(-1, self.num_batches).mean(axis=1)


class Fitted(NamedTuple):
    """What `fit` returns: the trained parameters, the layer state (None for a model that keeps none) and
    the History (for `fit_many`: parameters and state with a leading model axis, one History per model)."""

    params: Any
    state: Any
    history: Any


def default_preprocess(X: jax.Array) -> jax.Array:
    """uint8 images to float32 in [0, 1]; anything else unchanged."""
    return scale_images(X) if X.dtype == jnp.uint8 else X


# ----------------------------------------------------------------------------- the compiled pieces


def make_objective(model: Layer, loss: Loss, preprocess: Callable = default_preprocess,
                   reduction: Literal["mean", "sum"] = "mean", penalty: Penalty | None = None) -> Callable:
    """The training objective (params, state, X, y, mask, rng) -> (value, new state): the mean (d2l's) or
    sum of the loss over the unmasked examples of a minibatch, plus penalty(params) if given (d2l 3.7). A
    batch-dependent model (BatchNorm) gets the mask too, so padding never enters its batch statistics."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")

    def objective(params: Any, state: Any, X: jax.Array, y: jax.Array, mask: jax.Array, rng: Any = None):
        y_hat, state = nn.apply_layer(model, params, state, preprocess(X), train=True, rng=rng, batch_mask=mask)
        per_example = loss(y_hat, y).reshape(mask.shape)
        total = jnp.where(mask > 0, per_example, 0.0).sum()
        value = total / mask.sum() if reduction == "mean" else total
        return (value if penalty is None else value + penalty(params)), state

    return objective


def make_update(objective: Callable, optimizer: optax.GradientTransformation) -> Callable:
    """One minibatch step: (params, state, opt_state, X, y, mask[, rng]) -> (params, state, opt_state, loss).
    Pure, not jitted."""

    def update(params, state, opt_state, X, y, mask, rng=None):
        (value, state), grads = jax.value_and_grad(objective, has_aux=True)(params, state, X, y, mask, rng)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, value

    return update


def make_train_step(model: Layer, loss: Loss, optimizer: optax.GradientTransformation,
                    preprocess: Callable = default_preprocess, reduction: Literal["mean", "sum"] = "mean",
                    penalty: Penalty | None = None) -> Callable:
    """The minibatch step for Python loops: (params, state, opt_state, X, y, rows, mask[, rng]) -> (params,
    state, opt_state, loss), gathering the batch's rows on device. Pure; jit it (fit does)."""
    update = make_update(make_objective(model, loss, preprocess, reduction, penalty), optimizer)

    def step(params, state, opt_state, X, y, rows, mask, rng=None):
        return update(params, state, opt_state, X[rows], y[rows], mask, rng)

    return step


def make_train_epoch(model: Layer, loss: Loss, optimizer: optax.GradientTransformation,
                     preprocess: Callable = default_preprocess, reduction: Literal["mean", "sum"] = "mean",
                     penalty: Penalty | None = None) -> Callable:
    """A whole epoch as one call: lax.scan of the step over a minibatch plan (idx, mask).

    (params, state, opt_state, X, y, idx, mask[, rngs]) -> (params, state, opt_state, per-step losses). The
    data stays on device; each step gathers its rows (and takes its row of rngs, if given). Pure; jit it.
    """
    step = make_train_step(model, loss, optimizer, preprocess, reduction, penalty)

    def epoch(params, state, opt_state, X, y, idx, mask, rngs=None):
        def body(carry, batch):
            rows, m, rng = batch
            *carry, value = step(*carry, X, y, rows, m, rng)
            return tuple(carry), value

        (params, state, opt_state), losses = jax.lax.scan(body, (params, state, opt_state), (idx, mask, rngs))
        return params, state, opt_state, losses

    return epoch


def make_evaluate(model: Layer, loss: Loss, metric: Metric | None = correct,
                  preprocess: Callable = default_preprocess) -> Callable:
    """(params, state, X, y) -> (mean loss, mean metric) over a whole set, in evaluation mode. Pure."""

    def evaluate(params, state, X, y):
        y_hat, _ = model.apply(params, state, preprocess(X), train=False)
        value = loss(y_hat, y).mean()
        return value, (metric(y_hat, y).mean() if metric is not None else jnp.nan)

    return evaluate


# ----------------------------------------------------------------------------- checks at the door


def check_model(model: Any) -> Layer:
    """Refuses anything but a jaxdl.nn.Layer, saying how to make one from functions."""
    if not isinstance(model, Layer):
        raise ValueError(f"the model must be a jaxdl.nn.Layer (built with jaxdl.nn, or nn.model(init, apply) from "
                         f"a pair of functions), got {type(model).__name__}")
    return model


def check_inputs(model: Layer, params: Any, data: Dataset, loss: Loss | None = None,
                 preprocess: Callable = default_preprocess, state: Any = None) -> None:
    """Raises a ValueError naming the problem when data, parameters, model and loss do not fit together
    (the label checks need the loss); warns when float images look unscaled."""
    data = check_dataset(data)
    check_examples(data)
    check_finite(data)
    output = check_params(lambda p, X: model.apply(p, state, X, train=False)[0], params, data.X_train, preprocess)
    if loss is not None:
        for split in ("train", "val"):
            check_labels(getattr(data, f"y_{split}"), f"y_{split}", loss, output)
    for split in ("train", "val"):
        warn_unscaled_images(getattr(data, f"X_{split}"), f"X_{split}", preprocess)


def _check_order(orders: Sequence[np.ndarray], num_examples: int) -> list[np.ndarray]:
    orders = [np.asarray(order) for order in orders]
    for i, order in enumerate(orders):
        if order.shape != (num_examples,) or not np.array_equal(np.sort(order), np.arange(num_examples)):
            raise ValueError(f"orders[{i}] is not a permutation of the {num_examples} training examples")
    return orders


def epoch_plans(num_examples: int, batch_size: int, keys: Sequence[jax.Array] | None, epochs: int | None,
                orders: Sequence[np.ndarray] | None, key_argument: str = "key") -> tuple[int, list[Callable[[int], tuple[jax.Array, jax.Array]]]]:
    """Checks the keys and epochs (or orders) and returns (epochs, one function epoch -> minibatch plan per
    key; a single one for orders). Each key draws its epochs' orders from jax.random.split(key, epochs)."""
    check_batching(num_examples, batch_size)
    if orders is None:
        if keys is None or epochs is None:
            raise ValueError(f"pass {key_argument}= and epochs= (or orders=, one order of the examples per epoch)")
        check_count(epochs, "epochs", 0)

        def plans_of(key: jax.Array) -> Callable[[int], tuple[jax.Array, jax.Array]]:
            epoch_keys = []  # split when the first epoch starts, after every check

            def plan(epoch: int) -> tuple[jax.Array, jax.Array]:
                if not epoch_keys:
                    epoch_keys.append(jax.random.split(key, max(epochs, 1)))
                return batch_indices(epoch_keys[0][epoch], num_examples, batch_size)

            return plan

        return epochs, [plans_of(key) for key in keys]
    orders = _check_order(orders, num_examples)
    if epochs is not None and epochs != len(orders):
        raise ValueError(f"epochs={epochs!r} but {len(orders)} orders were given; pass one or the other")
    return len(orders), [lambda epoch: batch_plan(orders[epoch], batch_size)]


def check_options(loop: str, reduction: str, divergence_threshold: float | None, callbacks: Any) -> list[Callback]:
    """Refuses unknown loop/reduction names, a bad divergence threshold and callbacks that are not Callbacks."""
    if loop not in ("scan", "python"):
        raise ValueError(f"loop must be 'scan' or 'python', got {loop!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    check_divergence_threshold(divergence_threshold)
    if callbacks is None:
        return [ProgressBar()]
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):  # "live", a number: not a list
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for c in callbacks:
        if not isinstance(c, Callback):
            raise ValueError(f"callbacks must be jaxdl.callbacks.Callback objects (ProgressBar(), SavePlot(path), "
                             f"...), got {type(c).__name__}")
    return callbacks


def check_transformation(optimizer: Any, factory_hint: str = "") -> None:
    """Refuses what is not an optax GradientTransformation, saying so of a factory passed uncalled (optax.sgd)."""
    if not isinstance(optimizer, optax.GradientTransformation):
        hint = (f"; {getattr(optimizer, '__name__', 'it')} looks like a factory: call it with its hyperparameters, "
                "e.g. optax.sgd(0.1)" if callable(optimizer) else "")
        raise ValueError(f"the optimizer must be an optax GradientTransformation, got {type(optimizer).__name__}"
                         f"{hint}{factory_hint}")


def check_optimizer(optimizer: Any, params: Any, hyperparams: Any = None) -> None:
    """Refuses what is not an optax GradientTransformation (a factory such as optax.sgd passed uncalled, say), one
    that cannot update these parameters, and one that steps up the gradient (a negative learning rate). With
    hyperparams (fit_many), optimizer(row) is checked for every row."""
    if hyperparams is None:
        check_transformation(optimizer)
    grads = jax.tree.map(jnp.ones_like, params)

    def descent(h: Any) -> jax.Array:  # <updates, grads>: negative for a step down the gradient
        opt = optimizer if hyperparams is None else optimizer(h)
        updates, _ = opt.update(grads, opt.init(params), params)
        same = jax.tree.map(lambda u, p: jnp.shape(u) == jnp.shape(p), updates, params)
        if not all(jax.tree.leaves(same)):
            raise ValueError(f"its updates have shapes {jax.tree.map(jnp.shape, updates)} for parameters of shapes "
                             f"{jax.tree.map(jnp.shape, params)}")
        return sum(jnp.vdot(u, g) for u, g in zip(jax.tree.leaves(updates), jax.tree.leaves(grads)))

    try:
        slopes = np.atleast_1d(np.asarray(jax.jit(descent if hyperparams is None else jax.vmap(descent))(hyperparams)))
    except (TypeError, ValueError) as err:
        where = "optimizer" if hyperparams is None else (
            f"optimizer(row) for hyperparams rows of shape {jax.tree.map(lambda a: np.shape(a)[1:], hyperparams)}")
        raise ValueError(f"the {where} cannot update these parameters ({str(err).strip().splitlines()[0]}); "
                         "each row of hyperparams is what the factory takes, e.g. shape () for a learning rate"
                         if hyperparams is not None else
                         f"the {where} cannot update these parameters ({str(err).strip().splitlines()[0]})") from None
    uphill = np.flatnonzero(slopes > 0)
    if uphill.size:
        which = "" if hyperparams is None else f" (model {int(uphill[0])}'s hyperparameters)"
        raise ValueError(f"the optimizer{which} moves the parameters up the gradient, which makes the loss grow: a "
                         "negative learning rate? give a positive one")


def check_history_size(epochs: int, num_batches: int, n_models: int) -> None:
    """Refuses a run whose history of step losses alone would not fit in this machine's memory."""
    needed = epochs * num_batches * n_models * 4 + epochs * 8  # float32 step losses, the epochs' keys
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no bound known
        return
    if needed > memory:
        raise ValueError(f"epochs={epochs} would need {needed / 2**30:.3g} GiB for its history of step losses alone "
                         f"({epochs} epochs x {num_batches} steps), more than this machine's {memory / 2**30:.3g} GiB; "
                         "train fewer epochs")


def check_penalty(penalty: Penalty, params: Any) -> None:
    """Refuses a penalty that is not a function of the parameters returning one number."""
    if not callable(penalty):
        raise ValueError(f"penalty must be a function params -> scalar, got {type(penalty).__name__}")
    try:
        shape = jax.eval_shape(penalty, params).shape
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise ValueError(f"penalty(params) fails on these parameters ({str(err).strip().splitlines()[0]})") from None
    if shape != ():
        raise ValueError(f"penalty(params) must return a scalar, got shape {shape}")


def step_keys(key: jax.Array) -> StepRng:
    """A fresh key for every step from one key: step t, counted over all epochs, gets fold_in(key, t)."""

    def rngs(epoch: int, num_batches: int) -> jax.Array:
        steps = epoch * num_batches + jnp.arange(num_batches)
        return jax.vmap(lambda t: jax.random.fold_in(key, t))(steps)

    return rngs


def _step_rngs(step_rng: jax.Array | StepRng) -> StepRng:
    """One model's step_rng as a function (epoch, num_batches) -> per-step rngs, or a ValueError."""
    if callable(step_rng):
        return step_rng
    if not (isinstance(step_rng, jax.Array) and is_key(step_rng)):
        raise ValueError(f"step_rng must be a PRNG key (jax.random.key(0)) or a function (epoch, num_batches) -> "
                         f"per-step values, got {type(step_rng).__name__}")
    return step_keys(step_rng)


def _model_step_rngs(step_rng: Any, n_models: int) -> StepRng:
    """fit_many's step_rng, one key per model, as (epoch, num_batches) -> keys (N, num_batches), each model's row
    drawn as fit(step_rng=key) draws it; or a function (epoch, num_batches) -> per-model, per-step values."""
    if callable(step_rng):
        return step_rng
    keys = jnp.stack(step_rng) if isinstance(step_rng, (list, tuple)) else step_rng
    if not (isinstance(keys, jax.Array) and is_key(keys, (n_models,))):
        shape = getattr(keys, "shape", None)
        raise ValueError(f"step_rng must hold one PRNG key per model ({n_models}), e.g. jax.random.split(key, "
                         f"{n_models}); got {type(step_rng).__name__}" + (f" of shape {shape}" if shape else ""))
    return lambda epoch, num_batches: jax.vmap(lambda key: step_keys(key)(epoch, num_batches))(keys)


def _epoch_rngs(rngs_of: StepRng, epoch: int, num_batches: int, n_models: int | None) -> Any:
    """One epoch's rngs, refused with a message unless every leaf has one row per minibatch (per model)."""
    rngs = rngs_of(epoch, num_batches)
    lead = (num_batches,) if n_models is None else (n_models, num_batches)
    shapes = {tuple(np.shape(leaf)[: len(lead)]) for leaf in jax.tree.leaves(rngs)}
    if not shapes or shapes != {lead}:
        what = "one row per minibatch" if n_models is None else "a row per model, then one per minibatch"
        raise ValueError(f"step_rng gave epoch {epoch} values with leading sizes {sorted(shapes)}; every leaf needs "
                         f"{what} {lead}")
    return rngs


def _check_stochastic(model: Layer, rngs_of: StepRng | None) -> None:
    if model.stochastic and rngs_of is None:
        raise ValueError("the model draws in training (it has dropout): pass step_rng=, a key for the steps' keys "
                         "(or given masks), e.g. step_rng=jax.random.key(1)")


def _check_training_apply(model: Layer, params: Any, state: Any, X: jax.Array, rng: Any) -> None:
    """Refuses a model that cannot run in training mode on a minibatch with the step's rng, before compiling."""
    try:
        jax.eval_shape(lambda p, s, x, r: nn.apply_layer(model, p, s, x, train=True, rng=r,
                                                         batch_mask=jnp.ones(x.shape[0])), params, state, X, rng)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:  # as check_params catches
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"the model fails in training mode on a minibatch with the step's rng ({first_line})"
                         ) from None


# ----------------------------------------------------------------------------- the engine


@dataclass
class _Run:
    """What the training loop needs, prepared and checked at the door for one model or for many."""

    n_models: int | None  # None: one model, arrays without a model axis
    epochs: int
    num_batches: int
    plan: Callable[[int], tuple[Any, Any]]  # epoch -> (idx, mask), placed
    rngs: Callable[[int], Any]  # epoch -> the steps' rngs (None without step_rng), placed
    run_epoch: Callable | None  # (params, state, opt_state, X, y, idx, mask, hyperparams, rngs) -> ... losses
    evaluate: Callable  # (params, state, X, y) -> (loss, metric), per model when many
    has_metric: bool
    compile_seconds: float


def _per_model(values: Any, n_models: int | None) -> np.ndarray:
    """Losses (steps,) of one model or (N, steps) of many, as (N, steps)."""
    values = np.asarray(values)
    return values[None] if n_models is None else values


def _index(tree: Any, i: int, n_models: int | None) -> Any:
    return tree if n_models is None else jax.tree.map(lambda leaf: leaf[i], tree)


def _loop(run: _Run, params: Any, state: Any, opt_state: Any, hyperparams: Any, data: Dataset,
          divergence_threshold: float | None, callbacks: list[Callback], identity: dict[str, str],
          resumed: checkpoints.Resumed | None) -> Fitted:
    """The epochs: one compiled call each, the divergence rule on every model's steps, validation, callbacks.
    A resumed run starts after the checkpoint's epochs, its history theirs."""
    n = 1 if run.n_models is None else run.n_models
    train_losses: list[np.ndarray] = []  # (N, steps) per epoch
    val_losses: list[np.ndarray] = []  # (N,) per epoch
    val_metrics: list[np.ndarray] = []
    train_seconds = 0.0
    thresholds: np.ndarray | None = None
    start = 0
    if resumed is not None and resumed.epoch:
        start, nb = resumed.epoch, run.num_batches
        train_losses = [resumed.train_loss[:, e * nb:(e + 1) * nb] for e in range(start)]
        val_losses = [resumed.val_loss[:, e] for e in range(start)]
        val_metrics = [resumed.val_metric[:, e] if run.has_metric else np.zeros(n) for e in range(start)]
        train_seconds = resumed.train_seconds
        thresholds = np.array([resolve_threshold(divergence_threshold, float(row[0])) for row in train_losses[0]])

    def histories() -> list[History]:
        return [History(np.concatenate([t[i] for t in train_losses]) if train_losses else np.zeros(0, np.float32),
                        np.array([v[i] for v in val_losses], np.float64),
                        np.array([m[i] for m in val_metrics] if run.has_metric else []),
                        run.num_batches, run.compile_seconds, train_seconds) for i in range(n)]

    def result() -> Any:
        hs = histories()
        return hs[0] if run.n_models is None else hs

    for c in callbacks:
        c.on_train_begin(run.epochs)
    error = None
    try:
        for epoch in range(start, run.epochs):
            idx, mask = run.plan(epoch)
            t0 = time.perf_counter()
            new_params, new_state, opt_state, losses = run.run_epoch(
                params, state, opt_state, data.X_train, data.y_train, idx, mask, hyperparams, run.rngs(epoch))
            losses = _per_model(losses, run.n_models)  # waits for the epoch to finish
            train_seconds += time.perf_counter() - t0
            if thresholds is None:
                thresholds = np.array([resolve_threshold(divergence_threshold, float(row[0])) for row in losses])
            bad = [(i, s) for i, row in enumerate(losses) if (s := first_divergent_step(row, thresholds[i])) is not None]
            if bad:
                step = min(s for _, s in bad)
                train_losses.append(losses[:, : step + 1])
                models = [i for i, s in bad]
                i, s = bad[0]
                message = describe(float(losses[i, s]), float(thresholds[i]), divergence_threshold is not None,
                                   epoch + 1, s + 1, losses.shape[1])
                if run.n_models is not None:
                    message = f"model {i} of {n}: {message}" + (
                        f" (diverged: models {models})" if len(models) > 1 else "")
                raise TrainingDiverged(message, history=result(), params=params, params_epochs=epoch,
                                       epoch=epoch + 1, step=s + 1, loss=float(losses[i, s]),
                                       threshold=float(thresholds[i]), models=models if run.n_models else None,
                                       state=state)
            train_losses.append(losses)
            val_loss, val_metric = (_per_model(v, run.n_models).astype(np.float64).reshape(n)
                                    for v in run.evaluate(new_params, new_state, data.X_val, data.y_val))
            if not np.all(np.isfinite(val_loss)):
                i = int(np.flatnonzero(~np.isfinite(val_loss))[0])
                who = "" if run.n_models is None else f"model {i} of {n}: "
                raise TrainingDiverged(
                    f"{who}the validation loss became {val_loss[i]} after epoch {epoch + 1} though every training "
                    "loss was finite; lower the learning rate", history=result(), params=params,
                    params_epochs=epoch, epoch=epoch + 1, step=losses.shape[1], loss=float(val_loss[i]),
                    threshold=float(thresholds[i]), models=[i] if run.n_models else None, state=state)
            params, state = new_params, new_state
            val_losses.append(val_loss)
            val_metrics.append(val_metric)
            end = EpochEnd(epoch + 1, run.epochs, result(), params, state, opt_state, identity)
            for c in callbacks:
                c.on_epoch_end(end)
    except BaseException as err:
        error = err
        raise
    finally:
        for c in callbacks:
            c.on_train_end(result(), error)
    return Fitted(params, state, result())


def _compile(step_fn: Callable, loop: str, n_models: int | None, in_axes: tuple | None, example: tuple,
             place: Callable) -> Callable:
    """The compiled epoch (params, state, opt_state, X, y, idx, mask, hyperparams, rngs): one scan call, or a
    jitted step in a Python loop. step_fn(hyperparams) -> (step, epoch) of one model; vmapped when many."""

    def one(kind: int) -> Callable:
        def fn(params, state, opt_state, X, y, idx, mask, hyperparams, rngs):
            return step_fn(hyperparams)[kind](params, state, opt_state, X, y, idx, mask, rngs)

        return fn if n_models is None else jax.vmap(fn, in_axes=in_axes)

    params, state, opt_state, X, y, idx, mask, hyperparams, rngs = example
    if loop == "scan":
        epoch = jax.jit(one(1)).lower(params, state, opt_state, X, y, *place(idx, mask), hyperparams, rngs).compile()

        def run_scan(params, state, opt_state, X, y, idx, mask, hyperparams, rngs):
            return epoch(params, state, opt_state, X, y, *place(idx, mask), hyperparams, rngs)

        return run_scan
    # the steps' axis: 0 for one model and for a plan all models share, 1 behind a model axis
    plan_axis = 0 if n_models is None or in_axes[5] is None else 1
    rng_axis = 0 if n_models is None else 1

    def take(tree: Any, axis: int, i: int) -> Any:
        return jax.tree.map(lambda a: a[(slice(None),) * axis + (i,)], tree)

    step = jax.jit(one(0)).lower(params, state, opt_state, X, y, *place(take(idx, plan_axis, 0),
                                 take(mask, plan_axis, 0)), hyperparams, take(rngs, rng_axis, 0)).compile()

    def run_python(params, state, opt_state, X, y, idx, mask, hyperparams, rngs):
        losses = []
        for i in range(np.shape(idx)[plan_axis]):
            params, state, opt_state, value = step(params, state, opt_state, X, y,
                                                   *place(take(idx, plan_axis, i), take(mask, plan_axis, i)),
                                                   hyperparams, take(rngs, rng_axis, i))
            losses.append(value)
        return params, state, opt_state, jnp.stack(losses, axis=rng_axis)

    return run_python


def _train(model: Layer, loss: Loss, params: Any, state: Any, data: Dataset, optimizer: Optimizer, *,
           n_models: int | None, keys: list[jax.Array] | None, epochs: int | None, batch_size: int,
           orders: Sequence[np.ndarray] | None, hyperparams: Any, per_model_data: bool, metric: Metric | None,
           preprocess: Callable, reduction: str, loop: str, divergence_threshold: float | None,
           callbacks: Any, mesh: Any, devices: Any, penalty: Penalty | None, step_rng: Any,
           resume: Any) -> Fitted:
    """The one engine: checks everything, compiles the epoch and the evaluation, then runs `_loop`."""
    check_model(model)
    resume = checkpoints.check_resume(resume)
    data = check_dataset(data)
    callbacks = check_options(loop, reduction, divergence_threshold, callbacks)
    num_examples = data.X_train.shape[1 if per_model_data else 0]
    one = (lambda tree: tree) if n_models is None else (lambda tree: _index(tree, 0, n_models))
    first_params, first_state = one(params), one(state)
    if per_model_data:
        for i in range(n_models):
            try:
                check_inputs(model, first_params, Dataset(*(a[i] for a in data)), loss, preprocess, first_state)
            except ValueError as err:
                raise ValueError(f"model {i}'s dataset: {err}") from None
    else:
        check_inputs(model, first_params, data, loss, preprocess, first_state)
    if penalty is not None:
        check_penalty(penalty, first_params)
    # after the data's checks, which name an empty split
    epochs, plans = epoch_plans(num_examples, batch_size, keys, epochs, orders, "key" if n_models is None else "keys")
    check_history_size(epochs, -(-num_examples // min(batch_size, num_examples)), n_models or 1)
    check_optimizer(optimizer, first_params, None if hyperparams is None else hyperparams)
    if mesh is not None:
        mesh = sharding.data_mesh(mesh)
    model_mesh = None if devices is None else many.model_mesh(devices, n_models)
    idx0, mask0 = batch_plan(np.arange(num_examples), batch_size)  # the shapes every epoch's plan has
    num_batches = idx0.shape[0]
    rngs_of = None
    if step_rng is not None:
        rngs_of = _step_rngs(step_rng) if n_models is None else _model_step_rngs(step_rng, n_models)
    _check_stochastic(model, rngs_of)
    rngs0 = None if rngs_of is None else _epoch_rngs(rngs_of, 0, num_batches, n_models)
    if rngs0 is not None:
        if mesh is not None:
            raise ValueError("step_rng (dropout) with mesh= is not supported yet: the per-step masks would have to "
                             "be sharded with the batch; train on one device, or without step_rng")
        X0 = data.X_train[0] if per_model_data else data.X_train
        _check_training_apply(model, first_params, first_state, preprocess(X0[idx0[0]]),
                              jax.tree.map(lambda a: a[(0,) * (1 if n_models is None else 2)], rngs0))

    # compile: everything compiled before the first epoch counts as compilation
    start = time.perf_counter()
    shared_plan = len(plans) == 1

    def make_optimizer(h: Any) -> optax.GradientTransformation:
        return optimizer if hyperparams is None else optimizer(h)

    if n_models is None:
        opt_state = optimizer.init(params)
    else:
        opt_state = (jax.vmap(optimizer.init)(params) if hyperparams is None
                     else jax.vmap(lambda p, h: optimizer(h).init(p))(params, hyperparams))
    identity = checkpoints.run_identity(keys=keys, epochs=epochs, batch_size=batch_size, num_examples=num_examples,
                                        n_models=n_models, orders=orders, step_rng=step_rng)
    resumed = None if resume is None else checkpoints.restore(resume, params, state, opt_state, identity)
    if resumed is not None:
        params, state, opt_state = resumed.params, resumed.state, resumed.opt_state
    train_preprocess, place = preprocess, (lambda idx, mask: (idx, mask))
    if mesh is not None:
        params, state, opt_state, data = sharding.replicate(mesh, (params, state, opt_state, data))
        train_preprocess = sharding.sharded_batches(mesh, preprocess)
        place = lambda idx, mask: sharding.shard_plan(mesh, idx, mask)  # noqa: E731
    if model_mesh is not None:
        params, state, opt_state, hyperparams = many.place_models(model_mesh, (params, state, opt_state, hyperparams))
        data = many.place_models(model_mesh, data, per_model=per_model_data)

    def step_fn(h: Any) -> tuple[Callable, Callable]:
        opt = make_optimizer(h)
        return (make_train_step(model, loss, opt, train_preprocess, reduction, penalty),
                make_train_epoch(model, loss, opt, train_preprocess, reduction, penalty))

    data_axis = 0 if per_model_data else None
    plan_axis = None if shared_plan else 0
    in_axes = (0, 0, 0, data_axis, data_axis, plan_axis, plan_axis, 0 if hyperparams is not None else None, 0)

    def plan(epoch: int) -> tuple[Any, Any]:
        if n_models is None or shared_plan:
            idx, mask = plans[0](epoch)
            return many.place_models(model_mesh, (idx, mask), per_model=False) if n_models else (idx, mask)
        drawn = [p(epoch) for p in plans]
        return many.place_models(model_mesh, tuple(jnp.stack([d[k] for d in drawn]) for k in (0, 1)))

    def rngs(epoch: int) -> Any:
        if rngs_of is None:
            return None
        values = rngs0 if epoch == 0 else _epoch_rngs(rngs_of, epoch, num_batches, n_models)
        return values if n_models is None else many.place_models(model_mesh, values)

    evaluate = make_evaluate(model, loss, metric, preprocess)
    if n_models is not None:
        evaluate = jax.vmap(evaluate, in_axes=(0, 0, data_axis, data_axis))
    evaluate = jax.jit(evaluate)
    run_epoch = None  # nothing is compiled for a run of no epochs
    if epochs > (0 if resumed is None else resumed.epoch):
        idx, mask = plan(0)
        run_epoch = _compile(step_fn, loop, n_models, in_axes,
                             (params, state, opt_state, data.X_train, data.y_train, idx, mask, hyperparams, rngs(0)),
                             place)
        evaluate = evaluate.lower(params, state, data.X_val, data.y_val).compile()
    compile_seconds = time.perf_counter() - start
    run = _Run(n_models, epochs, num_batches, plan, rngs, run_epoch, evaluate, metric is not None, compile_seconds)
    return _loop(run, params, state, opt_state, hyperparams, data, divergence_threshold, callbacks, identity,
                 resumed)


def fit(
    model: Layer,
    loss: Loss,
    params: Any,
    data: Dataset,
    optimizer: optax.GradientTransformation,
    *,
    state: Any = None,
    key: jax.Array | None = None,
    epochs: int | None = None,
    batch_size: int,
    orders: Sequence[np.ndarray] | None = None,
    metric: Metric | None = correct,
    preprocess: Callable = default_preprocess,
    reduction: Literal["mean", "sum"] = "mean",
    loop: Literal["scan", "python"] = "scan",
    divergence_threshold: float | None = None,
    penalty: Penalty | None = None,
    step_rng: jax.Array | StepRng | None = None,
    mesh: jax.sharding.Mesh | int | None = None,
    callbacks: Sequence[Callback] | None = None,
    resume: str | os.PathLike | None = None,
) -> Fitted:
    """Trains one model on shuffled minibatches and returns `Fitted(params, state, history)`.

    Args:
      model: a `jaxdl.nn.Layer`; training calls ``model.apply(params, state, X, train=True, rng=rng)``,
        validation ``train=False``.
      loss: per-example loss ``loss(outputs, targets)`` (jaxdl.losses).
      params: the model's initial parameters (from ``model.init``).
      data: a `Dataset` of training and validation arrays.
      optimizer: an optax `GradientTransformation` (jaxdl.optimizers.sgd, optax.sgd, ...).
      state: the model's layer state from ``model.init`` (BatchNorm's statistics); None when it keeps none.
      key: draws every epoch's order of the examples (the same key gives the same run).
      epochs: how many passes over the training set.
      batch_size: examples per minibatch; the last one may be partial (padded and masked, never dropped);
        a batch_size beyond the dataset is one batch.
      orders: instead of key and epochs, each epoch's order of the training examples (to replay the batches
        another framework saw).
      metric: per-example validation metric (accuracy by default; None for regression).
      preprocess: applied to every batch inside the compiled step (uint8 images to [0, 1] by default).
      reduction: "mean" (d2l's) or "sum" of the minibatch's losses.
      loop: "scan" compiles each whole epoch into one call; "python" runs the same jitted step in a Python
        loop over the same batches (the teaching version; same numbers, slower).
      divergence_threshold: training stops with `TrainingDiverged` when a step's loss is NaN, inf or above
        it; None: 100 times the first step's loss (jaxdl.divergence); float('inf') turns the rule off.
      penalty: ``penalty(params)`` added to every step's objective (d2l 3.7), not to the validation loss.
      step_rng: the steps' randomness (dropout): a key gives step t the key fold_in(step_rng, t) (use a key
        other than `key`); a function (epoch, num_batches) -> pytree gives step j that pytree's row j (a
        replay's given masks). Required when the model is `stochastic`.
      mesh: a `jax.sharding.Mesh` with a "data" axis, or a number of devices: every minibatch is cut over the
        data axis, parameters and states are replicated and XLA all-reduces the gradients (jaxdl.sharding).
      callbacks: what runs beside training (jaxdl.callbacks): None gives a progress bar; () nothing;
        ``[SavePlot("train.png")]`` saves d2l's training plot, ``[LivePlot()]`` redraws it in a notebook,
        ``[Checkpoint("run.ckpt")]`` (jaxdl.checkpoints) writes a checkpoint after every epoch.
      resume: a checkpoint file to start from, written by this run's Checkpoint callback: training goes on
        after its epochs, bit for bit as if it had never stopped. Pass the arguments of the run that wrote it
        (model, optimizer, keys, epochs, batch size, data); a file that does not fit is refused before any work.

    Returns:
      ``Fitted(params, state, history)``: the trained parameters, the final layer state and a `History`
      (every step's loss, the validation loss and metric after every epoch, compile and train seconds).

    Raises:
      ValueError: before any work, for input that cannot train (the message says what to change).
      TrainingDiverged: the loss diverged; it carries the history and the last good parameters.
    """
    if key is not None:
        check_key(key)
    return _train(model, loss, params, state, data, optimizer, n_models=None,
                  keys=None if key is None else [key], epochs=epochs, batch_size=batch_size, orders=orders,
                  hyperparams=None, per_model_data=False, metric=metric, preprocess=preprocess,
                  reduction=reduction, loop=loop, divergence_threshold=divergence_threshold, callbacks=callbacks,
                  mesh=mesh, devices=None, penalty=penalty, step_rng=step_rng, resume=resume)


def _model_keys(keys: Any, n_models: int) -> list[jax.Array]:
    """One key per model from a batch of N keys, or N copies of one key shared by all."""
    if isinstance(keys, (list, tuple)):
        if not keys:
            raise ValueError(f"keys must be one PRNG key or one per model ({n_models}), got an empty list")
        keys = jnp.stack(keys)
    if not (isinstance(keys, jax.Array) and (is_key(keys) or is_key(keys, (n_models,)))):
        shape = getattr(keys, "shape", None)
        raise ValueError(f"keys must be one PRNG key (jax.random.key(0)) or one per model ({n_models}, e.g. "
                         f"jax.random.split(key, {n_models})), got {type(keys).__name__}"
                         + (f" of shape {tuple(shape)}" if shape is not None else ""))
    return [keys] if is_key(keys) else list(keys)


def _check_hyperparams(optimizer: Optimizer, hyperparams: Any, n_models: int) -> None:
    if hyperparams is None:
        check_transformation(optimizer, " (or, with hyperparams= holding one row per model, a factory of one)")
        return
    if isinstance(optimizer, optax.GradientTransformation) or not callable(optimizer):
        raise ValueError("with hyperparams= the optimizer must be a function hyperparams -> optax "
                         "GradientTransformation, e.g. optimizers.sgd or lambda lr: optax.sgd(lr)")
    rows = many.num_models(hyperparams, "hyperparams")
    if rows != n_models:
        raise ValueError(f"hyperparams has {rows} rows but params holds {n_models} models; give one row per model")
    bad = [leaf for leaf in jax.tree.leaves(hyperparams) if not np.all(np.isfinite(np.asarray(leaf)))]
    if bad:
        raise ValueError(f"hyperparams must be finite numbers, got {np.asarray(bad[0])}")


def _check_stacked(model: Layer, params: Any, data: Dataset, per_model_data: bool) -> None:
    """Refuses one model's parameters where a stack is expected, and a stack of datasets without per_model_data."""
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in data}
    n_models = many.num_models(params, "params")
    if not per_model_data and n_models > 1 and sizes == {n_models}:
        raise ValueError(f"every array of data has a leading axis of {n_models}, as many as the models: for one dataset "
                         "per model pass per_model_data=True")
    example = tuple(np.shape(data.X_train)[1 if per_model_data else 0:])
    try:
        one = nn.param_shapes(model, (1, *example[1:]))
    except Exception:  # a model whose init cannot run on this data: check_inputs explains what is wrong
        return
    shapes = lambda tree: jax.tree.map(lambda leaf: tuple(np.shape(leaf)), tree)  # noqa: E731
    if jax.tree.structure(params) == jax.tree.structure(one) and shapes(params) == shapes(one):
        raise ValueError(f"params are one model's parameters (the shapes model.init gives, {shapes(one)}), not a stack "
                         "with a leading model axis; stack them with jaxdl.many.stack([...]) or jax.vmap(init)(keys), "
                         "or train one model with fit")


def fit_many(
    model: Layer,
    loss: Loss,
    params: Any,
    data: Dataset,
    optimizer: Optimizer,
    *,
    state: Any = None,
    keys: jax.Array | Sequence[jax.Array] | None = None,
    epochs: int | None = None,
    batch_size: int,
    orders: Sequence[np.ndarray] | None = None,
    hyperparams: Any = None,
    per_model_data: bool = False,
    metric: Metric | None = correct,
    preprocess: Callable = default_preprocess,
    reduction: Literal["mean", "sum"] = "mean",
    loop: Literal["scan", "python"] = "scan",
    divergence_threshold: float | None = None,
    penalty: Penalty | None = None,
    step_rng: jax.Array | StepRng | None = None,
    devices: int | Sequence[jax.Device] | None = None,
    callbacks: Sequence[Callback] | None = None,
    resume: str | os.PathLike | None = None,
) -> Fitted:
    """Trains N models at once, vmapped in one compiled call per epoch, and returns `Fitted(params, state,
    histories)` with a leading model axis on params and state and one History per model.

    The same engine as `fit` (its checks, divergence rule, callbacks; its arguments mean the same), with:

    Args:
      params: the N models' initial parameters stacked along a leading axis (`jax.vmap(init)(keys)` or
        `jaxdl.many.stack([...])`); state likewise, when the model keeps any.
      keys: one key per model, each drawing that model's epoch orders exactly as `fit(key=...)` does, or one
        key shared by all (every model sees the same batches, computed once).
      orders: instead of keys and epochs, the epochs' orders, shared by all models.
      optimizer: one optax GradientTransformation for all, or with hyperparams (a pytree with one row per
        model) a function row -> GradientTransformation, e.g. `jaxdl.optimizers.sgd` over
        `jnp.array([0.03, 0.1, 0.3])`.
      per_model_data: every array of data has a leading model axis, one dataset per model (same sizes).
      step_rng: one key per model (model i's steps get fold_in(step_rng[i], t), as fit(step_rng=step_rng[i])),
        or a function (epoch, num_batches) -> pytree with leading axes (models, steps).
      devices: a number of local devices or a list of them; the models are split evenly over them (N must
        be a multiple of their count) and the data is copied to each. On a CPU, JAX shows one device unless
        asked for more with `jax.config.update("jax_num_cpu_devices", os.cpu_count())` before its first use.

    Returns:
      ``Fitted(params, state, histories)``. Model i's history and parameters are those `fit` gives it alone,
      up to float32 rounding of the batched matrix products; the times are those of the whole batch.

    Raises:
      ValueError: before any work, for input that cannot train.
      TrainingDiverged: a model diverged; `models` lists which, `step` and `epoch` say where the first did,
        `history` holds every model's history and `params` the last good parameters of all.
    """
    n_models = many.num_models(params, "params")
    if n_models == 0:
        raise ValueError("params holds 0 models (a leading axis of size 0); stack at least one model's parameters")
    _check_stacked(model, params, check_dataset(data), per_model_data)
    if per_model_data and (datasets := many.num_models(tuple(check_dataset(data)), "data")) != n_models:
        raise ValueError(f"data holds {datasets} datasets but params {n_models} models; "
                         "give one dataset per model or per_model_data=False")
    _check_hyperparams(optimizer, hyperparams, n_models)
    if orders is not None and keys is not None:
        raise ValueError("pass orders= alone (one order per epoch, shared by all models), or keys= and epochs=")
    model_keys = None if keys is None else _model_keys(keys, n_models)
    return _train(model, loss, params, state, data, optimizer, n_models=n_models, keys=model_keys, epochs=epochs,
                  batch_size=batch_size, orders=orders, hyperparams=hyperparams, per_model_data=per_model_data,
                  metric=metric, preprocess=preprocess, reduction=reduction, loop=loop,
                  divergence_threshold=divergence_threshold, callbacks=callbacks, mesh=None, devices=devices,
                  penalty=penalty, step_rng=step_rng, resume=resume)
