"""Many models in one compiled call: `fit_many` trains N models side by side with jax.vmap.

The models differ in their initial parameters, their batch orders (one key each) and, optionally, in
hyperparameters handed to an optimizer factory; they share the data. Parameters and optimizer states are
pytrees with a leading model axis; every epoch of all N models is one compiled `lax.scan`. With devices=,
the model axis is split over several devices, each training its share of the models at the same time.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Literal, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl.checks import is_key
from jaxdl.data import Dataset, batch_indices, batch_plan, check_batching
from jaxdl.losses import correct
from jaxdl.training import (
    Apply,
    History,
    Loss,
    Metric,
    TrainingDiverged,
    _check_training_apply,
    check_inputs,
    default_preprocess,
    make_evaluate,
    make_train_epoch,
    step_keys,
)

Optimizer = optax.GradientTransformation | Callable[[Any], optax.GradientTransformation]
MODEL_AXIS = "models"


def stack(trees: Sequence[Any]) -> Any:
    """A list of pytrees of one structure as one pytree whose leaves have a leading model axis."""
    if not trees:
        raise ValueError("stack needs at least one pytree")
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def unstack(tree: Any) -> list[Any]:
    """The inverse of `stack`: one pytree per index of the leading model axis."""
    return [jax.tree.map(lambda leaf: leaf[i], tree) for i in range(num_models(tree, "the stacked pytree"))]


def num_models(tree: Any, what: str) -> int:
    """The common length of the leaves' leading axis; a ValueError that says what differs if there is none."""
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree.leaves(tree)}
    if not sizes or None in sizes or len(sizes) != 1:
        raise ValueError(f"{what} must be a pytree whose leaves all have the same leading (model) axis; "
                         f"got leading sizes {sorted(sizes, key=str)}; build it with jaxdl.many.stack or "
                         "jax.vmap(init)(keys)")
    return sizes.pop()


def _keys_for(keys: jax.Array | Sequence[jax.Array], n_models: int) -> tuple[list[jax.Array] | None, jax.Array | None]:
    """(one key per model, None) for a batch of N keys; (None, the key) for one key shared by all."""
    if isinstance(keys, (list, tuple)):
        keys = jnp.stack(keys)
    shape = keys.shape if jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key) else keys.shape[:-1]
    if shape == ():
        return None, keys
    if shape != (n_models,):
        raise ValueError(f"keys must be one key or one per model ({n_models}), got a batch of shape {shape}")
    return list(keys), None


def _epoch_plans(key: jax.Array, epochs: int, n: int, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every epoch's minibatch plan of one model, drawn from its key exactly as `fit` draws them."""
    epoch_keys = jax.random.split(key, max(epochs, 1))
    return [tuple(np.asarray(a) for a in batch_indices(epoch_keys[e], n, batch_size)) for e in range(epochs)]


def _order_plans(orders: Sequence[np.ndarray], n: int, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    for i, order in enumerate(orders):
        order = np.asarray(order)
        if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
            raise ValueError(f"orders[{i}] is not a permutation of the {n} training examples")
    return [tuple(np.asarray(a) for a in batch_plan(np.asarray(order), batch_size)) for order in orders]


def _check_optimizer(optimizer: Optimizer, hyperparams: Any, n_models: int) -> None:
    if hyperparams is None:
        if not isinstance(optimizer, optax.GradientTransformation):
            raise ValueError("optimizer is a factory of hyperparameters but hyperparams= is missing; pass "
                             "hyperparams (a pytree with one row per model) or an optax GradientTransformation")
        return
    if isinstance(optimizer, optax.GradientTransformation) or not callable(optimizer):
        raise ValueError("with hyperparams= the optimizer must be a function hyperparams -> optax "
                         "GradientTransformation, e.g. lambda lr: optax.sgd(lr)")
    rows = num_models(hyperparams, "hyperparams")
    if rows != n_models:
        raise ValueError(f"hyperparams has {rows} rows but params holds {n_models} models; give one row per model")
    bad = [leaf for leaf in jax.tree.leaves(hyperparams) if not np.all(np.isfinite(np.asarray(leaf)))]
    if bad:
        raise ValueError(f"hyperparams must be finite numbers, got {np.asarray(bad[0])}")


def model_mesh(devices: int | Sequence[jax.Device], n_models: int) -> jax.sharding.Mesh:
    """A one-axis mesh ("models") over the given devices (or the first n local ones), refused with a message
    when they are not there or do not divide the models evenly."""
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if devices < 1 or devices > jax.local_device_count():
            raise ValueError(
                f"devices={devices} but this process has {jax.local_device_count()} device(s); on a CPU, ask JAX for "
                "one per core before its first use: jax.config.update('jax_num_cpu_devices', os.cpu_count())")
        devices = jax.local_devices()[:devices]
    elif not (isinstance(devices, (list, tuple)) and devices and all(isinstance(d, jax.Device) for d in devices)):
        raise ValueError(f"devices must be a number of local devices or a list of jax devices, got {devices!r}")
    if n_models % len(devices):
        raise ValueError(f"{n_models} models cannot be split evenly over {len(devices)} devices; train a multiple "
                         f"of {len(devices)} models or pass fewer devices")
    return jax.sharding.Mesh(np.array(devices), (MODEL_AXIS,))


def place_models(mesh: jax.sharding.Mesh | None, tree: Any, per_model: bool = True) -> Any:
    """Puts a pytree on the mesh: split along its leading model axis, or copied to every device."""
    if mesh is None or tree is None:
        return tree
    spec = jax.sharding.PartitionSpec(MODEL_AXIS) if per_model else jax.sharding.PartitionSpec()
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, spec))


def _model_step_keys(step_rng: Any, n_models: int) -> Callable[[int, int], jax.Array]:
    """fit_many's step_rng (one key per model) as (epoch, num_batches) -> keys (N, num_batches), each model's
    row drawn as `fit(step_rng=...)` draws it; a ValueError saying what to pass otherwise."""
    keys = jnp.stack(step_rng) if isinstance(step_rng, (list, tuple)) else step_rng
    if not (isinstance(keys, jax.Array) and is_key(keys, (n_models,))):
        shape = getattr(keys, "shape", None)
        raise ValueError(f"step_rng must hold one PRNG key per model ({n_models}), e.g. jax.random.split(key, "
                         f"{n_models}); got {type(step_rng).__name__}" + (f" of shape {shape}" if shape else ""))
    return lambda epoch, num_batches: jax.vmap(lambda key: step_keys(key)(epoch, num_batches))(keys)


def _check_each_dataset(apply: Apply, loss: Loss, params: Any, data: Dataset, n_datasets: int | None,
                        preprocess: Callable) -> None:
    """fit's checks of data, model and loss on the shared dataset, or on each model's, naming the one refused."""
    if n_datasets is None:
        check_inputs(apply, params, data, loss, preprocess)
        return
    for i in range(n_datasets):
        try:
            check_inputs(apply, params, Dataset(*(a[i] for a in data)), loss, preprocess)
        except ValueError as err:
            raise ValueError(f"model {i}'s dataset: {err}") from None


def make_many_epoch(apply: Apply, loss: Loss, optimizer: Optimizer, preprocess: Callable = default_preprocess,
                    reduction: Literal["mean", "sum"] = "mean", shared_plan: bool = False,
                    per_model_data: bool = False) -> Callable:
    """One epoch of N models as one compiled call: `make_train_epoch` vmapped over the model axis.

    (params, opt_state, X, y, idx, mask, hyperparams[, rngs]) -> (params, opt_state, losses (N, steps)). The
    data is shared, or one set per model (a leading model axis) when per_model_data; idx and mask are one
    plan per model, or one plan for all when shared_plan. hyperparams is None for one optimizer, else the
    rows handed to the factory `optimizer(row)`. rngs (N, steps): each model's per-step keys (dropout).
    """
    def epoch(params, opt_state, X, y, idx, mask, hyperparams, rngs=None):
        opt = optimizer if hyperparams is None else optimizer(hyperparams)
        return make_train_epoch(apply, loss, opt, preprocess, reduction)(params, opt_state, X, y, idx, mask, rngs)

    plan_axis = None if shared_plan else 0
    data_axis = 0 if per_model_data else None
    many = jax.vmap(epoch, in_axes=(0, 0, data_axis, data_axis, plan_axis, plan_axis, 0, 0))
    return jax.jit(many, donate_argnums=(0, 1))


def fit_many(
    apply: Apply,
    loss: Loss,
    params: Any,
    data: Dataset,
    optimizer: Optimizer,
    *,
    keys: jax.Array | Sequence[jax.Array] | None = None,
    epochs: int | None = None,
    batch_size: int,
    orders: Sequence[np.ndarray] | None = None,
    hyperparams: Any = None,
    per_model_data: bool = False,
    metric: Metric | None = correct,
    preprocess: Callable = default_preprocess,
    reduction: Literal["mean", "sum"] = "mean",
    progress: bool = False,
    devices: int | Sequence[jax.Device] | None = None,
    step_rng: jax.Array | None = None,
) -> tuple[Any, list[History]]:
    """Trains N models at once and returns (params with a leading model axis, one History per model).

    params: the N models' initial parameters stacked along a leading axis (`jax.vmap(init)(init_keys)` or
    `stack([...])`). keys: one key per model, each drawing that model's epoch orders exactly as `fit(key=...)`
    does, or one key shared by all (every model sees the same batches, computed once). Instead of keys and
    epochs, orders gives the epochs' orders shared by all models, as `fit(orders=...)`. optimizer: one optax
    GradientTransformation for all, or with hyperparams (a pytree with one row per model) a function
    row -> GradientTransformation, e.g. `lambda lr: optax.sgd(lr)` over `jnp.array([0.03, 0.1, 0.3])`.
    per_model_data: every array of data has a leading model axis, one dataset per model (same sizes).
    devices: a number of local devices or a list of them; the models are split evenly over them (N must be
    a multiple of their count) and the data is copied to each. On a CPU this lets each core train its own
    models instead of sharing every matrix product: JAX shows one CPU device unless asked for more with
    `jax.config.update("jax_num_cpu_devices", os.cpu_count())` before its first use.
    step_rng: one key per model (dropout): model i's training calls apply(params, X, rng) with step t's key
    fold_in(step_rng[i], t), as `fit(step_rng=step_rng[i])` does; validation calls apply(params, X).
    Model i's history and parameters are those `fit` gives it alone, up to float32 rounding of the batched
    matrix products. A History's compile and train seconds are those of the whole batch of models.
    """
    if progress:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm

    n_models = num_models(params, "params")
    if per_model_data and (datasets := num_models(tuple(data), "data")) != n_models:
        raise ValueError(f"data holds {datasets} datasets but params {n_models} models; "
                         "give one dataset per model or per_model_data=False")
    n = data.X_train.shape[1 if per_model_data else 0]
    check_batching(n, batch_size)
    _check_optimizer(optimizer, hyperparams, n_models)
    if orders is None:
        if keys is None or epochs is None:
            raise ValueError("pass keys= and epochs= (or orders=, one order of the examples per epoch)")
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        per_model, shared = _keys_for(keys, n_models)
        plans = ([_epoch_plans(k, epochs, n, batch_size) for k in per_model] if per_model is not None
                 else [_epoch_plans(shared, epochs, n, batch_size)])
    else:
        if keys is not None or (epochs is not None and epochs != len(orders)):
            raise ValueError("pass orders= alone (one order per epoch, shared by all models), or keys= and epochs=")
        per_model, plans, epochs = None, [_order_plans(orders, n, batch_size)], len(orders)
    shared_plan = per_model is None
    mesh = None if devices is None else model_mesh(devices, n_models)
    first = jax.tree.map(lambda leaf: leaf[0], params)
    _check_each_dataset(apply, loss, first, data, n_models if per_model_data else None, preprocess)
    num_batches = -(-n // batch_size)
    rngs_of = None if step_rng is None else _model_step_keys(step_rng, n_models)
    if rngs_of is not None:
        X0 = (data.X_train[0] if per_model_data else data.X_train)[:batch_size]
        _check_training_apply(apply, first, preprocess(X0), rngs_of(0, num_batches)[0, 0])

    def epoch_plan(epoch: int) -> tuple[jax.Array, jax.Array]:
        if shared_plan:
            return place_models(mesh, tuple(jnp.asarray(a) for a in plans[0][epoch]), per_model=False)
        return place_models(mesh, tuple(jnp.asarray(np.stack([p[epoch][i] for p in plans])) for i in (0, 1)))

    start = time.perf_counter()
    opt_state = (jax.vmap(optimizer.init)(params) if hyperparams is None
                 else jax.vmap(lambda p, h: optimizer(h).init(p))(params, hyperparams))
    # copies: the epochs donate (reuse) these buffers, and a state may hold the caller's own arrays (hyperparameters
    # through optax.inject_hyperparams), which donation would delete
    params, opt_state = jax.tree.map(jnp.array, (params, opt_state))
    params, opt_state, hyperparams = place_models(mesh, (params, opt_state, hyperparams))
    data = place_models(mesh, data, per_model=per_model_data)
    data_axis = 0 if per_model_data else None
    evaluate = jax.jit(jax.vmap(make_evaluate(apply, loss, metric, preprocess), in_axes=(0, data_axis, data_axis)))
    run_epoch = make_many_epoch(apply, loss, optimizer, preprocess, reduction, shared_plan, per_model_data)

    def epoch_rngs(epoch: int) -> jax.Array | None:
        return None if rngs_of is None else place_models(mesh, rngs_of(epoch, num_batches))

    if epochs:
        idx, mask = epoch_plan(0)
        run_epoch = run_epoch.lower(params, opt_state, data.X_train, data.y_train, idx, mask, hyperparams,
                                    epoch_rngs(0)).compile()
        evaluate = evaluate.lower(params, data.X_val, data.y_val).compile()
    compile_seconds = time.perf_counter() - start

    train_losses, val_losses, val_metrics = [], [], []
    train_seconds = 0.0
    for epoch in tqdm(range(epochs), desc="epoch", disable=not progress, leave=False):
        idx, mask = epoch_plan(epoch)
        t0 = time.perf_counter()
        params, opt_state, losses = run_epoch(params, opt_state, data.X_train, data.y_train, idx, mask, hyperparams,
                                              epoch_rngs(epoch))
        losses = np.asarray(losses)  # (N, steps); waits for the epoch to finish
        train_seconds += time.perf_counter() - t0
        bad = np.argwhere(~np.isfinite(losses))
        if bad.size:
            model, step = (int(i) for i in bad[0])
            raise TrainingDiverged(
                f"the training loss of model {model} became {losses[model, step]} at epoch {epoch + 1}, step "
                f"{step + 1} of {losses.shape[1]}; lower its learning rate or check the data for NaN/inf values"
            )
        train_losses.append(losses)
        val_loss, val_metric = (np.asarray(v, np.float64) for v in evaluate(params, data.X_val, data.y_val))
        val_losses.append(val_loss)
        val_metrics.append(val_metric)

    histories = []
    for i in range(n_models):
        histories.append(History(
            np.concatenate([losses[i] for losses in train_losses]) if train_losses else np.zeros(0, np.float32),
            np.array([v[i] for v in val_losses]), np.array([m[i] for m in val_metrics] if metric is not None else []),
            num_batches, compile_seconds, train_seconds))
    return params, histories
