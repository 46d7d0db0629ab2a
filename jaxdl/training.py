"""Training: a jit-compiled update step, a whole epoch in one lax.scan, and `fit` with its history."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.checks import (check_count, check_dataset, check_examples, check_finite, check_key, check_labels,
                          check_params, is_key, warn_unscaled_images)
from jaxdl.data import Dataset, batch_indices, batch_plan, check_batching, scale_images
from jaxdl.divergence import (TrainingDiverged, check_divergence_threshold, describe, first_divergent_step,
                              resolve_threshold)
from jaxdl import sharding
from jaxdl.files import check_writable_file
from jaxdl.losses import correct

Apply = Callable[[Any, jax.Array], jax.Array]
Loss = Callable[[jax.Array, jax.Array], jax.Array]  # per-example values
Metric = Callable[[jax.Array, jax.Array], jax.Array]  # per-example values
Penalty = Callable[[Any], jax.Array]  # params -> a scalar added to the minibatch objective
# (epoch, num_batches) -> a pytree whose leaves have one row per minibatch; step j's rows go to apply
StepRng = Callable[[int, int], Any]


@dataclass(frozen=True)
class History:
    """What `fit` measured: the loss of every step, validation loss and metric after every epoch."""

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


def default_preprocess(X: jax.Array) -> jax.Array:
    """uint8 images to float32 in [0, 1]; anything else unchanged."""
    return scale_images(X) if X.dtype == jnp.uint8 else X


def make_objective(apply: Apply, loss: Loss, preprocess: Callable = default_preprocess,
                   reduction: Literal["mean", "sum"] = "mean", penalty: Penalty | None = None) -> Callable:
    """The training objective: mean (d2l's) or sum of the loss over the unmasked examples of a minibatch,
    plus penalty(params) if given (d2l 3.7's L2 penalty).

    With rng (a step's key, or given dropout masks) the model runs in training mode, apply(params, X, rng).
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")

    def objective(params: Any, X: jax.Array, y: jax.Array, mask: jax.Array, rng: Any = None) -> jax.Array:
        y_hat = apply(params, preprocess(X)) if rng is None else apply(params, preprocess(X), rng)
        per_example = loss(y_hat, y).reshape(mask.shape)
        total = jnp.where(mask > 0, per_example, 0.0).sum()
        value = total / mask.sum() if reduction == "mean" else total
        return value if penalty is None else value + penalty(params)

    return objective


def make_update(objective: Callable, optimizer: optax.GradientTransformation) -> Callable:
    """One minibatch step: (params, opt_state, X, y, mask[, rng]) -> (params, opt_state, loss). Pure, not jitted."""

    def update(params: Any, opt_state: Any, X: jax.Array, y: jax.Array, mask: jax.Array, rng: Any = None):
        value, grads = jax.value_and_grad(objective)(params, X, y, mask, rng)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return update


def make_train_step(apply: Apply, loss: Loss, optimizer: optax.GradientTransformation,
                    preprocess: Callable = default_preprocess, reduction: Literal["mean", "sum"] = "mean",
                    penalty: Penalty | None = None) -> Callable:
    """The jitted minibatch step for Python loops: (params, opt_state, X, y, rows, mask[, rng]) -> (params,
    opt_state, loss), gathering the batch's rows on device."""
    update = make_update(make_objective(apply, loss, preprocess, reduction, penalty), optimizer)

    def step(params, opt_state, X, y, rows, mask, rng=None):
        return update(params, opt_state, X[rows], y[rows], mask, rng)

    return jax.jit(step)


def make_train_epoch(apply: Apply, loss: Loss, optimizer: optax.GradientTransformation,
                     preprocess: Callable = default_preprocess, reduction: Literal["mean", "sum"] = "mean",
                     penalty: Penalty | None = None) -> Callable:
    """A whole epoch as one compiled call: lax.scan of the step over a minibatch plan (idx, mask).

    (params, opt_state, X, y, idx, mask[, rngs]) -> (params, opt_state, per-step losses). The data stays on
    device; each step gathers its rows (and takes its row of rngs, if given).
    """
    update = make_update(make_objective(apply, loss, preprocess, reduction, penalty), optimizer)

    def epoch(params, opt_state, X, y, idx, mask, rngs=None):
        def body(carry, batch):
            rows, m, rng = batch
            params, opt_state, value = update(*carry, X[rows], y[rows], m, rng)
            return (params, opt_state), value

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (idx, mask, rngs))
        return params, opt_state, losses

    return jax.jit(epoch)


def make_evaluate(apply: Apply, loss: Loss, metric: Metric | None = correct,
                  preprocess: Callable = default_preprocess) -> Callable:
    """Jitted (params, X, y) -> (mean loss, mean metric) over a whole set."""

    def evaluate(params, X, y):
        y_hat = apply(params, preprocess(X))
        value = loss(y_hat, y).mean()
        return value, (metric(y_hat, y).mean() if metric is not None else jnp.nan)

    return jax.jit(evaluate)


def check_inputs(apply: Apply, params: Any, data: Dataset, loss: Loss | None = None,
                 preprocess: Callable = default_preprocess) -> None:
    """Raises a ValueError naming the problem when data, parameters, model and loss do not fit together
    (the label checks need the loss); warns when float images look unscaled."""
    data = check_dataset(data)
    check_examples(data)
    check_finite(data)
    output = check_params(apply, params, data.X_train, preprocess)
    if loss is not None:
        for split in ("train", "val"):
            check_labels(getattr(data, f"y_{split}"), f"y_{split}", loss, output)
    for split in ("train", "val"):
        warn_unscaled_images(getattr(data, f"X_{split}"), f"X_{split}", preprocess)


def epoch_plans(num_examples: int, batch_size: int, key: jax.Array | None, epochs: int | None,
                orders: Sequence[np.ndarray] | None) -> tuple[int, Callable[[int], tuple[jax.Array, jax.Array]]]:
    """Checks key and epochs (or orders) and returns (epochs, epoch -> minibatch plan)."""
    check_batching(num_examples, batch_size)
    if orders is None:
        if key is None or epochs is None:
            raise ValueError("pass key= and epochs= (or orders=, one order of the examples per epoch)")
        check_count(epochs, "epochs", 0)
        check_key(key)
        epoch_keys = jax.random.split(key, max(epochs, 1))
        return epochs, lambda epoch: batch_indices(epoch_keys[epoch], num_examples, batch_size)
    orders = [np.asarray(order) for order in orders]
    if epochs is not None and epochs != len(orders):
        raise ValueError(f"epochs={epochs!r} but {len(orders)} orders were given; pass one or the other")
    for i, order in enumerate(orders):
        if order.shape != (num_examples,) or not np.array_equal(np.sort(order), np.arange(num_examples)):
            raise ValueError(f"orders[{i}] is not a permutation of the {num_examples} training examples")
    return len(orders), lambda epoch: batch_plan(orders[epoch], batch_size)


def check_options(loop: str, reduction: str, divergence_threshold: float | None,
                  plot: Literal["live"] | str | Path | None) -> None:
    """Refuses unknown loop/reduction names, a bad divergence threshold, and a plot path that cannot be written."""
    if loop not in ("scan", "python"):
        raise ValueError(f"loop must be 'scan' or 'python', got {loop!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    check_divergence_threshold(divergence_threshold)
    if plot is not None and plot != "live":
        if not isinstance(plot, (str, Path)):
            raise ValueError(f"plot must be None, 'live' or a file path, got {plot!r}")
        check_writable_file(plot)


def compile_epoch(apply: Apply, loss: Loss, optimizer: optax.GradientTransformation, preprocess: Callable,
                  reduction: Literal["mean", "sum"], loop: Literal["scan", "python"], params: Any, opt_state: Any,
                  data: Dataset, idx: jax.Array, mask: jax.Array, place: Callable | None = None,
                  penalty: Penalty | None = None, rngs: Any = None) -> Callable:
    """The compiled epoch (params, opt_state, X, y, idx, mask, rngs) -> (params, opt_state, step losses): one
    lax.scan call, or the jitted step in a Python loop. place(idx, mask) puts each plan on the devices
    (jaxdl.sharding.shard_plan under fit(mesh=...)); by default the plan is used as it is. rngs (one row
    per step, or None) are an example of the per-step values apply takes in training."""
    place = place or (lambda idx, mask: (idx, mask))
    if loop == "scan":
        epoch = make_train_epoch(apply, loss, optimizer, preprocess, reduction, penalty).lower(
            params, opt_state, data.X_train, data.y_train, *place(idx, mask), rngs).compile()

        def run_scan(params, opt_state, X, y, idx, mask, rngs):
            return epoch(params, opt_state, X, y, *place(idx, mask), rngs)

        return run_scan
    step = make_train_step(apply, loss, optimizer, preprocess, reduction, penalty).lower(
        params, opt_state, data.X_train, data.y_train, *place(idx[0], mask[0]),
        jax.tree.map(lambda a: a[0], rngs)).compile()

    def run_epoch(params, opt_state, X, y, idx, mask, rngs):
        losses = []
        for i, (rows, m) in enumerate(zip(np.asarray(idx), np.asarray(mask))):
            rng = jax.tree.map(lambda a: a[i], rngs)  # noqa: B023
            params, opt_state, value = step(params, opt_state, X, y, *place(rows, m), rng)
            losses.append(value)
        return params, opt_state, jnp.stack(losses)

    return run_epoch


def save_plot_or_warn(history: History, path: str | Path) -> None:
    """Saves the training plot; a failure at this point warns instead of raising away the trained result."""
    from jaxdl.plotting import save_history_plot

    try:
        save_history_plot(history, path)
    except (OSError, ValueError) as err:
        warnings.warn(f"could not save the training plot to {path} ({err}); the parameters and history are "
                      "returned anyway", stacklevel=3)


def step_keys(key: jax.Array) -> StepRng:
    """A fresh key for every step from one key: step t, counted over all epochs, gets fold_in(key, t)."""

    def rngs(epoch: int, num_batches: int) -> jax.Array:
        steps = epoch * num_batches + jnp.arange(num_batches)
        return jax.vmap(lambda t: jax.random.fold_in(key, t))(steps)

    return rngs


def _step_rngs(step_rng: jax.Array | StepRng) -> StepRng:
    """fit's step_rng as a function (epoch, num_batches) -> per-step rngs, or a ValueError saying what to pass."""
    if callable(step_rng):
        return step_rng
    if not (isinstance(step_rng, jax.Array) and is_key(step_rng)):
        raise ValueError(f"step_rng must be a PRNG key (jax.random.key(0)) or a function (epoch, num_batches) -> "
                         f"per-step values, got {type(step_rng).__name__}")
    return step_keys(step_rng)


def _epoch_rngs(rngs_of: StepRng, epoch: int, num_batches: int) -> Any:
    """One epoch's per-step rngs, refused with a message unless every leaf has one row per minibatch."""
    rngs = rngs_of(epoch, num_batches)
    rows = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree.leaves(rngs)}
    if not rows or rows != {num_batches}:
        raise ValueError(f"step_rng gave epoch {epoch} values with leading sizes {sorted(rows, key=str)}; every "
                         f"leaf needs one row per minibatch ({num_batches})")
    return rngs


def _check_penalty(penalty: Penalty, params: Any) -> None:
    """Refuses a penalty that is not a function of the parameters returning one number."""
    if not callable(penalty):
        raise ValueError(f"penalty must be a function params -> scalar, got {type(penalty).__name__}")
    try:
        shape = jax.eval_shape(penalty, params).shape
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise ValueError(f"penalty(params) fails on these parameters ({str(err).strip().splitlines()[0]})") from None
    if shape != ():
        raise ValueError(f"penalty(params) must return a scalar, got shape {shape}")


def _check_training_apply(apply: Apply, params: Any, X: jax.Array, rng: Any) -> None:
    """Refuses an apply that cannot run in training mode, apply(params, X, rng), before any compilation."""
    try:
        jax.eval_shape(apply, params, X, rng)
    except (TypeError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0]
        raise ValueError(f"with step_rng, fit calls apply(params, X, rng) in training; this apply fails on a "
                         f"minibatch ({first_line}); give it a third argument (a key or the step's masks)") from None


def fit(
    apply: Apply,
    loss: Loss,
    params: Any,
    data: Dataset,
    optimizer: optax.GradientTransformation,
    *,
    key: jax.Array | None = None,
    epochs: int | None = None,
    batch_size: int,
    orders: Sequence[np.ndarray] | None = None,
    metric: Metric | None = correct,
    preprocess: Callable = default_preprocess,
    reduction: Literal["mean", "sum"] = "mean",
    loop: Literal["scan", "python"] = "scan",
    divergence_threshold: float | None = None,
    progress: bool = True,
    plot: Literal["live"] | str | Path | None = None,
    mesh: jax.sharding.Mesh | int | None = None,
    penalty: Penalty | None = None,
    step_rng: jax.Array | StepRng | None = None,
) -> tuple[Any, History]:
    """Trains for `epochs` epochs of shuffled minibatches and returns (params, history).

    loop="scan" compiles each whole epoch into one call; loop="python" runs the same jitted step in
    a Python loop over the same batches (the teaching version; same numbers, slower). reduction="sum"
    trains on the minibatch sum of the loss instead of d2l's mean. The epoch keys
    come from `key`, so the same key gives the same run. Instead of key and epochs, `orders` gives each
    epoch's order of the training examples, to replay the batches another framework saw. plot="live"
    redraws d2l's training plot in a notebook after every epoch; a path saves it there as a PNG at the end
    (a failed save warns; the result is still returned). A batch_size beyond the dataset is one batch.
    mesh (a jax.sharding.Mesh with a "data" axis, or a number of devices) trains data-parallel: every
    minibatch is cut over the data axis (padded with masked examples to a multiple of its size), the
    parameters and optimizer state are replicated, and XLA all-reduces the gradients (jaxdl.sharding).
    penalty(params) is added to every step's objective (not to the validation loss). step_rng makes each
    training step call apply(params, X, rng) (dropout): a key gives step t the key fold_in(step_rng, t) (use
    a key other than `key`); a function (epoch, num_batches) -> pytree gives step j that pytree's row j (a
    replay's given masks). Validation always calls apply(params, X).

    Training stops with TrainingDiverged (carrying the history and the last good parameters) when a step's
    loss is NaN, inf, or above divergence_threshold: by default 100 times the first step's loss (see
    jaxdl.divergence); float('inf') turns the threshold off.
    """
    if progress:
        from tqdm.auto import tqdm  # a widget in notebooks, text elsewhere
    else:
        from tqdm import tqdm  # disabled below; tqdm.auto would still warn where ipywidgets is missing

    # validate: everything a user hands over is checked before anything is compiled
    data = check_dataset(data)
    check_options(loop, reduction, divergence_threshold, plot)
    check_examples(data)
    n = data.X_train.shape[0]
    epochs, plan = epoch_plans(n, batch_size, key, epochs, orders)
    check_inputs(apply, params, data, loss, preprocess)
    if mesh is not None:
        mesh = sharding.data_mesh(mesh)
    idx, mask = batch_plan(np.arange(n), batch_size)  # the shapes every epoch's plan has
    if penalty is not None:
        _check_penalty(penalty, params)
    rngs_of = None if step_rng is None else _step_rngs(step_rng)
    rngs = None if rngs_of is None else _epoch_rngs(rngs_of, 0, idx.shape[0])
    if rngs is not None:
        if mesh is not None:
            raise ValueError("step_rng (dropout) with mesh= is not supported yet: the per-step masks would have to "
                             "be sharded with the batch; train on one device, or without step_rng")
        _check_training_apply(apply, params, preprocess(data.X_train[idx[0]]), jax.tree.map(lambda a: a[0], rngs))

    # compile: everything compiled before the first epoch counts as compilation
    opt_state = optimizer.init(params)
    train_preprocess, place = preprocess, None
    if mesh is not None:
        params, opt_state, data = sharding.replicate(mesh, (params, opt_state, data))
        train_preprocess = sharding.sharded_batches(mesh, preprocess)
        place = partial(sharding.shard_plan, mesh)
    start = time.perf_counter()
    evaluate = make_evaluate(apply, loss, metric, preprocess).lower(params, data.X_val, data.y_val).compile()
    run_epoch = compile_epoch(apply, loss, optimizer, train_preprocess, reduction, loop, params, opt_state, data,
                              idx, mask, place, penalty, rngs)
    compile_seconds = time.perf_counter() - start

    # run epochs
    train_losses, val_losses, val_metrics = [], [], []
    train_seconds, threshold = 0.0, None
    live = None
    if plot == "live":
        from jaxdl.plotting import LivePlot

        live = LivePlot()

    def history() -> History:
        return History(np.concatenate(train_losses) if train_losses else np.zeros(0, np.float32),
                       np.array(val_losses), np.array(val_metrics if metric is not None else []),
                       idx.shape[0], compile_seconds, train_seconds)

    bar = tqdm(range(epochs), desc="epoch", disable=not progress, leave=False)
    for epoch in bar:
        idx, mask = plan(epoch)
        rngs = None if rngs_of is None else _epoch_rngs(rngs_of, epoch, idx.shape[0])
        t0 = time.perf_counter()
        new_params, opt_state, losses = run_epoch(params, opt_state, data.X_train, data.y_train, idx, mask, rngs)
        losses = np.asarray(losses)  # waits for the epoch to finish
        train_seconds += time.perf_counter() - t0
        if threshold is None:
            threshold = resolve_threshold(divergence_threshold, float(losses[0]))
        bad = first_divergent_step(losses, threshold)
        if bad is not None:
            bar.close()
            train_losses.append(losses[: bad + 1])
            raise TrainingDiverged(
                describe(float(losses[bad]), threshold, divergence_threshold is not None, epoch + 1, bad + 1,
                         len(losses)),
                history=history(), params=params, params_epochs=epoch, epoch=epoch + 1, step=bad + 1,
                loss=float(losses[bad]), threshold=threshold)
        train_losses.append(losses)
        val_loss, val_metric = (float(v) for v in evaluate(new_params, data.X_val, data.y_val))
        if not math.isfinite(val_loss):
            bar.close()
            raise TrainingDiverged(
                f"the validation loss became {val_loss} after epoch {epoch + 1} though every training loss was "
                "finite; lower the learning rate", history=history(), params=params, params_epochs=epoch,
                epoch=epoch + 1, step=len(losses), loss=val_loss, threshold=threshold)
        params = new_params
        val_losses.append(val_loss)
        val_metrics.append(val_metric)
        postfix = {"loss": f"{losses.mean():.4f}", "val_loss": f"{val_loss:.4f}"}
        if metric is not None:
            postfix["val_acc"] = f"{val_metric:.4f}"
        bar.set_postfix(postfix)
        if live is not None:
            live(history())
    bar.close()

    # finish
    result = history()
    if plot is not None and plot != "live":
        save_plot_or_warn(result, plot)
    return params, result
