"""fit_many alone: N models in one vmapped call give each model what fit gives it alone (with its own key, init,
hyperparameters, dataset, dropout keys), on one device or split over several; what only fit_many takes is refused
with what to pass. What it shares with fit (refusals, divergence, histories, orders, callbacks) is in
test_engine.py."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from fresh_python import fresh_python
from lowering import record_lowerings

from jaxdl import data, losses, models, nn, optimizers, training
from jaxdl.data import Dataset
from jaxdl.many import MODEL_AXIS, model_mesh, place_models, stack, unstack
from jaxdl.training import fit_many

# vmap turns each model's matrix products and loss sums into batched ones, which XLA may add up in another
# order: one step's loss then differs from fit's by an ulp or two (measured: <= 2.4e-7 relative, parameters
# <= 1e-7 absolute after 2 epochs). Over the few steps tested here such rounding grows little, so 1e-5
# relative on the losses and 1e-6 on the parameters are 40 and 10 times the measured differences, and
# still far below what a wrong batch order or learning rate changes (1e-2 and more).
LOSS_RTOL = 1e-5
PARAM_ATOL = 1e-6

LINREG = models.linear_regression()


def _linreg_init(key):
    return models.init(LINREG, key, (1, 2))


def _mlp(hiddens=16):
    return models.mlp(hiddens, 4, sigma=None)


def _mlp_init(model):
    return lambda key: models.init(model, key, (1, 8, 8))


def _linreg_data() -> Dataset:
    return data.synthetic_regression(jax.random.key(0))


def _classification_data(n: int = 600) -> Dataset:
    X = jax.random.randint(jax.random.key(3), (n, 8, 8), 0, 256).astype(jnp.uint8)
    y = (X.reshape(n, -1)[:, :3].astype(jnp.int32).sum(axis=1) // 100) % 4  # learnable labels
    return Dataset(X, y, X[:100], y[:100])


def _fit(*args, **kw):
    return training.fit(*args, callbacks=(), **kw)


def _assert_same_run(many_params, many_history, alone):
    params, history = alone.params, alone.history
    for field in ("train_loss", "val_loss", "val_metric"):
        assert getattr(many_history, field).dtype == getattr(history, field).dtype, field
    np.testing.assert_allclose(many_history.train_loss, history.train_loss, rtol=LOSS_RTOL)
    np.testing.assert_allclose(many_history.val_loss, history.val_loss, rtol=LOSS_RTOL)
    np.testing.assert_array_equal(many_history.val_metric, history.val_metric)
    assert many_history.num_batches == history.num_batches
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=PARAM_ATOL), many_params, params)


def test_each_model_with_its_own_key_and_init_gets_fits_history():
    ds = _linreg_data()
    init_keys, fit_keys = jax.random.split(jax.random.key(1), 4), jax.random.split(jax.random.key(2), 4)
    params, state, histories = fit_many(LINREG, losses.squared_loss, jax.vmap(_linreg_init)(init_keys), ds,
                                        optimizers.sgd(0.03), keys=fit_keys, epochs=3, batch_size=32, metric=None,
                                        callbacks=())
    assert len(histories) == 4 and state is None
    for i, (p, h) in enumerate(zip(unstack(params), histories)):
        alone = _fit(LINREG, losses.squared_loss, _linreg_init(init_keys[i]), ds, optimizers.sgd(0.03),
                     key=fit_keys[i], epochs=3, batch_size=32, metric=None)
        _assert_same_run(p, h, alone)
    # Different keys really gave different batch orders.
    assert not np.allclose(histories[0].train_loss, histories[1].train_loss, rtol=1e-2)


@pytest.mark.parametrize("factory", [lambda lr: optax.sgd(lr), optimizers.sgd], ids=["optax.sgd", "optimizers.sgd"])
def test_learning_rates_as_hyperparameters_of_an_optimizer_factory(factory):
    ds = _classification_data()
    lrs = jnp.array([0.05, 0.1, 0.3])
    model = _mlp(32)
    init_keys = jax.random.split(jax.random.key(4), 3)
    params, _, histories = fit_many(model, losses.softmax_cross_entropy, jax.vmap(_mlp_init(model))(init_keys), ds,
                                    factory, hyperparams=lrs, keys=jax.random.key(5), epochs=2, batch_size=64,
                                    callbacks=())
    for i, (p, h) in enumerate(zip(unstack(params), histories)):
        alone = _fit(model, losses.softmax_cross_entropy, _mlp_init(model)(init_keys[i]), ds, factory(float(lrs[i])),
                     key=jax.random.key(5), epochs=2, batch_size=64)
        _assert_same_run(p, h, alone)
    assert not np.allclose(histories[0].train_loss, histories[2].train_loss, rtol=1e-2)  # the rates differ


def test_a_stateful_optimizer_factory_gives_each_model_its_own_state_and_hyperparameters():
    ds = _linreg_data()
    lrs = jnp.array([0.003, 0.01])
    start = stack([_linreg_init(jax.random.key(i)) for i in range(2)])
    factory = optax.inject_hyperparams(optax.sgd)  # its state holds the learning rate beside momentum's trace
    params, _, histories = fit_many(LINREG, losses.squared_loss, start, ds,
                                    lambda lr: factory(learning_rate=lr, momentum=0.9), hyperparams=lrs,
                                    keys=jax.random.key(6), epochs=1, batch_size=32, metric=None, callbacks=())
    # the caller's arrays survive the epochs, though the optimizer state held lrs itself
    assert not lrs.is_deleted() and not any(leaf.is_deleted() for leaf in jax.tree.leaves(start))
    for i in range(2):
        alone = _fit(LINREG, losses.squared_loss, _linreg_init(jax.random.key(i)), ds,
                     factory(learning_rate=float(lrs[i]), momentum=0.9), key=jax.random.key(6), epochs=1,
                     batch_size=32, metric=None)
        _assert_same_run(unstack(params)[i], histories[i], alone)


def test_orders_replay_the_same_batches_for_every_model():
    ds = _linreg_data()
    orders = [np.random.default_rng(e).permutation(1000) for e in range(2)]
    start = stack([_linreg_init(jax.random.key(i)) for i in range(2)])
    params, _, histories = fit_many(LINREG, losses.absolute_loss, start, ds, optimizers.sgd(0.01), orders=orders,
                                    batch_size=100, metric=None, reduction="sum", callbacks=())
    for i in range(2):
        alone = _fit(LINREG, losses.absolute_loss, _linreg_init(jax.random.key(i)), ds, optimizers.sgd(0.01),
                     orders=orders, batch_size=100, metric=None, reduction="sum")
        _assert_same_run(unstack(params)[i], histories[i], alone)


def test_one_device_changes_nothing():
    ds = _linreg_data()
    orders = [np.random.default_rng(e).permutation(1000) for e in range(2)]
    start = stack([_linreg_init(jax.random.key(i)) for i in range(2)])

    def run(**kw):
        return fit_many(LINREG, losses.squared_loss, start, ds, optimizers.sgd(0.01), orders=orders, batch_size=100,
                        metric=None, callbacks=(), **kw).history

    expected = run()
    np.testing.assert_array_equal([h.train_loss for h in run(devices=1)], [h.train_loss for h in expected])


def test_one_dataset_per_model():
    datasets = [data.synthetic_regression(jax.random.key(10 + i)) for i in range(3)]
    start = stack([_linreg_init(jax.random.key(i)) for i in range(3)])
    keys = jax.random.split(jax.random.key(0), 3)
    params, _, histories = fit_many(LINREG, losses.squared_loss, start, stack(datasets), optimizers.sgd(0.03),
                                    keys=keys, epochs=2, batch_size=32, metric=None, per_model_data=True,
                                    callbacks=())
    for i in range(3):
        alone = _fit(LINREG, losses.squared_loss, _linreg_init(jax.random.key(i)), datasets[i], optimizers.sgd(0.03),
                     key=keys[i], epochs=2, batch_size=32, metric=None)
        _assert_same_run(unstack(params)[i], histories[i], alone)


def test_an_optimizer_with_state_gives_each_model_fits_run():
    # one epoch, while the loss still falls: near convergence momentum carries the batched products' float32
    # rounding to 1e-5 of a tiny loss (measured over two epochs), which says nothing about the optimizer state
    ds = _linreg_data()
    start = stack([_linreg_init(jax.random.key(i)) for i in range(3)])
    t0 = time.perf_counter()
    params, _, histories = fit_many(LINREG, losses.squared_loss, start, ds, optax.sgd(0.01, momentum=0.9),
                                    keys=jax.random.key(6), epochs=1, batch_size=32, metric=None, callbacks=())
    elapsed = time.perf_counter() - t0
    for h in histories:  # the times of the whole batch of models, measured inside the call
        assert 0 < h.compile_seconds and 0 < h.train_seconds and h.compile_seconds + h.train_seconds < elapsed
    for i in range(3):
        alone = _fit(LINREG, losses.squared_loss, _linreg_init(jax.random.key(i)), ds, optax.sgd(0.01, momentum=0.9),
                     key=jax.random.key(6), epochs=1, batch_size=32, metric=None)
        _assert_same_run(unstack(params)[i], histories[i], alone)


def test_batch_norm_models_each_keep_their_own_running_statistics():
    model = nn.serial(nn.flatten(), nn.linear(8, sigma=None), nn.batch_norm(), nn.relu(), nn.linear(4, sigma=None))
    ds = _classification_data(200)
    init_keys = jax.random.split(jax.random.key(0), 2)
    params, state = jax.vmap(lambda k: nn.init(model, k, (1, 8, 8)))(init_keys)
    fitted = fit_many(model, losses.softmax_cross_entropy, params, ds, optimizers.sgd(0.1), state=state,
                      keys=jax.random.key(1), epochs=2, batch_size=50, callbacks=())
    for i in range(2):
        p, s = nn.init(model, init_keys[i], (1, 8, 8))
        alone = training.fit(model, losses.softmax_cross_entropy, p, ds, optimizers.sgd(0.1), state=s,
                             key=jax.random.key(1), epochs=2, batch_size=50, callbacks=())
        _assert_same_run(unstack(fitted.params)[i], fitted.history[i], alone)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=LOSS_RTOL, atol=PARAM_ATOL),
                     unstack(fitted.state)[i], alone.state)


def test_place_models_splits_the_model_axis_over_the_mesh_or_copies_to_every_device():
    from jax.sharding import NamedSharding, PartitionSpec

    mesh = model_mesh(1, 2)
    tree = {"W": jnp.ones((2, 3)), "b": jnp.zeros(2)}
    for placed, spec in ((place_models(mesh, tree), PartitionSpec(MODEL_AXIS)),
                         (place_models(mesh, tree, per_model=False), PartitionSpec())):
        for leaf, original in zip(jax.tree.leaves(placed), jax.tree.leaves(tree)):
            assert leaf.sharding == NamedSharding(mesh, spec)
            np.testing.assert_array_equal(leaf, original)
    assert place_models(None, tree) is tree and place_models(mesh, None) is None


def test_each_models_dataset_is_checked_and_named_when_refused():
    datasets = [data.synthetic_regression(jax.random.key(10 + i)) for i in range(3)]
    datasets[2] = datasets[2]._replace(X_train=datasets[2].X_train.at[5, 1].set(jnp.nan))
    with pytest.raises(ValueError) as many:
        fit_many(LINREG, losses.squared_loss, stack([_linreg_init(jax.random.key(0))] * 3), stack(datasets),
                 optimizers.sgd(0.03), keys=jax.random.key(0), epochs=1, batch_size=32, per_model_data=True,
                 callbacks=())
    with pytest.raises(ValueError) as alone:
        training.check_inputs(LINREG, _linreg_init(jax.random.key(0)), datasets[2])
    assert str(many.value) == f"model 2's dataset: {alone.value}"
    # and with the loss: labels one model's dataset holds that its classifier cannot take
    ds = _classification_data()
    bad = ds._replace(y_train=ds.y_train.at[3].set(9))
    model = _mlp()
    with pytest.raises(ValueError, match=r"^model 1's dataset: y_train has label 9, outside the range \[0, 4\)"):
        fit_many(model, losses.softmax_cross_entropy, jax.vmap(_mlp_init(model))(jax.random.split(jax.random.key(0), 2)),
                 stack([ds, bad]), optax.sgd(0.1), keys=jax.random.key(1), epochs=1, batch_size=64,
                 per_model_data=True, callbacks=())


def test_a_preprocess_is_used_in_the_checks_as_in_training_with_one_dataset_per_model():
    ds = _linreg_data()
    wide = ds._replace(X_train=jnp.tile(ds.X_train, 2), X_val=jnp.tile(ds.X_val, 2))  # (n, 4): 2 features twice
    start = stack([_linreg_init(jax.random.key(i)) for i in range(2)])

    def run(data, **kw):
        return fit_many(LINREG, losses.squared_loss, start, data, optimizers.sgd(0.03), keys=jax.random.key(0),
                        epochs=1, batch_size=32, metric=None, callbacks=(), **kw).history

    expected = run(ds)
    histories = run(stack([wide, wide]), per_model_data=True, preprocess=lambda X: X[:, :2])
    for field in ("train_loss", "val_loss"):  # in training and in evaluation
        np.testing.assert_allclose([getattr(h, field) for h in histories], [getattr(h, field) for h in expected],
                                   rtol=LOSS_RTOL)


@pytest.mark.parametrize("plan", ["shared", "per model"])
def test_with_devices_everything_the_compiled_epoch_takes_is_placed_on_the_model_mesh(monkeypatch, plan):
    from jax.sharding import NamedSharding, PartitionSpec

    lowered = record_lowerings(monkeypatch, jax, "jit")
    ds = _classification_data()
    model = models.dropout_mlp(16, (0.5,), 4, sigma=None)
    order = {"shared": dict(orders=[np.random.default_rng(0).permutation(600)]),
             "per model": dict(keys=jax.random.split(jax.random.key(0), 2), epochs=1)}[plan]
    start = jax.vmap(_mlp_init(model))(jax.random.split(jax.random.key(0), 2))
    fit_many(model, losses.softmax_cross_entropy, start, ds, lambda lr: optax.sgd(lr),
             hyperparams=jnp.array([0.1, 0.2]), batch_size=64, devices=1,
             step_rng=jax.random.split(jax.random.key(1), 2), callbacks=(), **order)
    epochs = [args for args in lowered if len(args) == 9]  # the epoch's (the evaluation takes 4)
    assert len(epochs) == 1
    ((p, state, opt_state, X, y, idx, mask, hyperparams, rngs),) = epochs
    mesh = jax.tree.leaves(p)[0].sharding.mesh
    assert mesh.axis_names == (MODEL_AXIS,) and mesh.devices.size == 1
    per_model, copied = NamedSharding(mesh, PartitionSpec(MODEL_AXIS)), NamedSharding(mesh, PartitionSpec())

    def placed(leaf, sharding) -> bool:
        # The same mesh and the same spec once trailing Nones (axes not split) are dropped: jax 0.12 writes a split
        # array's spec ('models', None) where 0.10 wrote ('models',). (On this one-device mesh every placement is
        # equivalent, so the specs themselves are compared.)
        def split_axes(s) -> tuple:
            entries = list(s.spec)
            while entries and entries[-1] is None:
                entries.pop()
            return tuple(entries)

        return leaf.sharding.mesh == sharding.mesh and split_axes(leaf.sharding) == split_axes(sharding)

    for leaf in jax.tree.leaves((p, opt_state, hyperparams, rngs)):
        assert placed(leaf, per_model)
    assert state is None
    assert placed(X, copied) and placed(y, copied)  # one dataset for all
    assert all(placed(a, copied if plan == "shared" else per_model) for a in (idx, mask))


def test_num_models_refuses_leaves_without_a_common_leading_axis():
    from jaxdl.many import num_models

    assert num_models({"W": jnp.ones((3, 2)), "b": jnp.ones(3)}, "x") == 3
    for tree, sizes in (({"W": jnp.ones((2, 2)), "b": jnp.float32(1)}, "[2, None]"), ({"b": jnp.float32(1)}, "[None]"),
                        ({}, "[]")):
        with pytest.raises(ValueError) as err:
            num_models(tree, "the tree")
        assert str(err.value) == (f"the tree must be a pytree whose leaves all have the same leading (model) axis; got "
                                  f"leading sizes {sizes}; build it with jaxdl.many.stack or jax.vmap(init)(keys)")


def test_stack_and_unstack_are_inverse():
    trees = [{"W": jnp.full((2, 3), i), "b": jnp.arange(2.0) + i} for i in range(3)]
    stacked = stack(trees)
    assert stacked["W"].shape == (3, 2, 3)
    for a, b in zip(unstack(stacked), trees):
        jax.tree.map(np.testing.assert_array_equal, a, b)
    with pytest.raises(ValueError) as err:
        stack([])
    assert str(err.value) == "stack needs at least one pytree"
    with pytest.raises(ValueError) as err:
        unstack({"W": jnp.ones((3, 2)), "b": jnp.ones(2)})
    assert str(err.value) == ("the stacked pytree must be a pytree whose leaves all have the same leading (model) "
                              "axis; got leading sizes [2, 3]; build it with jaxdl.many.stack or jax.vmap(init)(keys)")


def test_the_first_diverging_model_and_step_are_named():
    # one huge (finite) example in step 7's batch: model 1 (weights 1) squares it past float32, model 0 (weights 0)
    # never sees it; a learning rate of 0 keeps both models as they are
    ds = _linreg_data()
    ds = ds._replace(X_train=ds.X_train.at[42].set(jnp.array([1e30, 0.0])))
    order = np.insert(np.delete(np.arange(1000), 42), 642, 42)  # example 42 in the seventh batch of 100
    start = stack([jax.tree.map(lambda leaf: jnp.full_like(leaf, w), _linreg_init(jax.random.key(0)))
                   for w in (0.0, 1.0)])
    with pytest.raises(training.TrainingDiverged) as err:
        fit_many(LINREG, losses.squared_loss, start, ds, lambda lr: optax.sgd(lr), hyperparams=jnp.zeros(2),
                 orders=[order], batch_size=100, metric=None, callbacks=())
    assert str(err.value) == ("model 1 of 2: the training loss became inf at epoch 1, step 7 of 10; lower the learning "
                              "rate or check the data for NaN/inf values")
    assert err.value.models == [1] and (err.value.epoch, err.value.step) == (1, 7)
    assert [h.train_loss.shape for h in err.value.history] == [(7,), (7,)]  # every model's steps up to the bad one
    jax.tree.map(np.testing.assert_array_equal, err.value.params, start)


_NO_SUCH_DEVICES = (r"devices={asked} but this process has {count} device\(s\); on a CPU, ask JAX for one per core "
                    r"before its first use")


@pytest.mark.parametrize("case, message", [
    ("ragged params", r"^params must be a pytree whose leaves all have the same leading \(model\) axis; got leading "
                      r"sizes \[2, 3\]"),
    ("keys of another count", r"keys must be one PRNG key \(jax.random.key\(0\)\) or one per model \(2, .*of shape "
                              r"\(3,\)"),
    ("an empty list of keys", r"keys must be one PRNG key or one per model \(2\), got an empty list"),
    ("factory without hyperparams", r"the optimizer must be an optax GradientTransformation, got function; .* "
                                    r"\(or, with hyperparams= holding one row per model, a factory of one\)"),
    ("hyperparams for a fixed optimizer", r"with hyperparams= the optimizer must be a function hyperparams -> optax "
                                          r"GradientTransformation"),
    ("non-finite hyperparams", r"hyperparams must be finite numbers, got \[0.1 nan\]"),
    ("keys and orders", r"pass orders= alone \(one order per epoch, shared by all models\), or keys= and epochs="),
    ("datasets of another count", r"data holds 3 datasets but params 2 models; give one dataset per model or "
                                  r"per_model_data=False"),
    ("ragged datasets", r"data must be a pytree whose leaves all have the same leading \(model\) axis; got leading "
                        r"sizes \[2, 3\]"),
    ("more devices than there are", _NO_SUCH_DEVICES),
    ("zero devices", _NO_SUCH_DEVICES),
    ("devices not devices", "devices must be a number of local devices or a list of jax devices, got 'cpu'"),
])
def test_what_only_fit_many_takes_is_refused_before_training(case, message):
    ds = _linreg_data()
    start = stack([_linreg_init(jax.random.key(i)) for i in range(2)])
    kw = dict(optimizer=optimizers.sgd(0.03), keys=jax.random.split(jax.random.key(0), 2), epochs=1)
    if case == "ragged params":
        start = {"W": jnp.zeros((2, 1, 2)), "b": jnp.zeros((3, 1))}
    elif case == "keys of another count":
        kw["keys"] = jax.random.split(jax.random.key(0), 3)
    elif case == "an empty list of keys":
        kw["keys"] = []
    elif case == "factory without hyperparams":
        kw["optimizer"] = lambda lr: optax.sgd(lr)
    elif case == "hyperparams for a fixed optimizer":
        kw["hyperparams"] = jnp.array([0.1, 0.2])
    elif case == "non-finite hyperparams":
        kw.update(optimizer=lambda lr: optax.sgd(lr), hyperparams=jnp.array([0.1, jnp.nan]))
    elif case == "keys and orders":
        kw.update(orders=[np.arange(1000)], epochs=None)
    elif case == "datasets of another count":
        ds, kw["per_model_data"] = stack([ds] * 3), True
    elif case == "ragged datasets":
        three, two = stack([ds] * 3), stack([ds] * 2)
        ds, kw["per_model_data"] = Dataset(three.X_train, two.y_train, two.X_val, two.y_val), True
    elif case == "more devices than there are":
        kw["devices"] = jax.local_device_count() + 1
    elif case == "zero devices":
        kw["devices"] = 0
    elif case == "devices not devices":
        kw["devices"] = "cpu"
    with pytest.raises(ValueError, match=message.format(asked=kw.get("devices"), count=jax.local_device_count())):
        fit_many(LINREG, losses.squared_loss, start, ds, batch_size=32, metric=None, callbacks=(), **kw)


@pytest.mark.parametrize("optimizer, hyperparams, message", [
    (lambda lr: optax.sgd(lr), None, "the optimizer must be an optax GradientTransformation"),
    (optax.sgd(0.1), jnp.array([0.1, 0.2]), "with hyperparams= the optimizer must be a function hyperparams -> optax "
     "GradientTransformation"),
    ("sgd", jnp.array([0.1, 0.2]), "with hyperparams= the optimizer must be a function"),
    (lambda h: optax.sgd(h["lr"]), {"lr": jnp.array([0.1, 0.2]), "wd": jnp.zeros(3)}, r"^hyperparams must be a pytree "
     r"whose leaves all have the same leading \(model\) axis; got leading sizes \[2, 3\]"),
    (lambda lr: optax.sgd(lr), jnp.array([0.1, 0.2, 0.3]), "hyperparams has 3 rows but params holds 2 models; give "
     "one row per model"),
])
def test_an_optimizer_or_hyperparams_that_do_not_fit_are_refused_saying_what_to_pass(optimizer, hyperparams, message):
    start = stack([_linreg_init(jax.random.key(i)) for i in range(2)])
    with pytest.raises(ValueError, match=message):
        fit_many(LINREG, losses.squared_loss, start, _linreg_data(), optimizer, hyperparams=hyperparams,
                 keys=jax.random.key(0), epochs=1, batch_size=32, metric=None, callbacks=())


def test_keys_may_be_a_list_or_raw_uint32_keys_and_give_the_typed_keys_run():
    ds = _linreg_data()
    start = stack([_linreg_init(jax.random.key(i)) for i in range(2)])

    def run(keys):
        return [h.train_loss for h in fit_many(LINREG, losses.squared_loss, start, ds, optimizers.sgd(0.03), keys=keys,
                                               epochs=2, batch_size=32, metric=None, callbacks=()).history]

    typed = jax.random.split(jax.random.key(7), 2)
    expected = run(typed)
    for keys in (list(typed), jax.random.key_data(typed)):
        np.testing.assert_array_equal(run(keys), expected)
    shared = run(jax.random.key(7))  # one key for both models
    np.testing.assert_array_equal(run(jax.random.key_data(jax.random.key(7))), shared)
    assert not np.array_equal(shared, expected)


def test_model_mesh_takes_the_first_local_devices_or_the_given_ones_and_refuses_the_rest():
    count, first = jax.local_device_count(), jax.local_devices()[0]
    for devices in (1, count, [first], (first,)):
        mesh = model_mesh(devices, 6 * count)
        assert mesh.axis_names == (MODEL_AXIS,) and list(mesh.devices.flat) == jax.local_devices()[:len(mesh.devices)]
    assert model_mesh(count, count).devices.size == count
    refusals = {
        0: f"devices=0 but this process has {count} device(s); on a CPU, ask JAX for one per core before its first "
           "use: jax.config.update('jax_num_cpu_devices', os.cpu_count())",
        count + 1: f"devices={count + 1} but this process has {count} device(s); on a CPU, ask JAX for one per core "
                   "before its first use: jax.config.update('jax_num_cpu_devices', os.cpu_count())",
        "[]": "devices must be a number of local devices or a list of jax devices, got []",
        "['cpu']": "devices must be a number of local devices or a list of jax devices, got ['cpu']",
        "[d, 'cpu']": f"devices must be a number of local devices or a list of jax devices, got {[first, 'cpu']!r}",
        "[d, d]": "3 models cannot be split evenly over 2 devices; train a multiple of 2 models or pass fewer devices",
    }
    given = {"[]": [], "['cpu']": ["cpu"], "[d, 'cpu']": [first, "cpu"], "[d, d]": [first, first]}
    for case, message in refusals.items():
        with pytest.raises(ValueError) as err:
            model_mesh(given.get(case, case), 3)
        assert str(err.value) == message


SPLIT_SCRIPT = """
    import sys
    import jax
    jax.config.update("jax_num_cpu_devices", 2)
    import jax.numpy as jnp, numpy as np, optax
    from jaxdl import data, losses, models
    from jaxdl.training import fit_many

    n = 600
    X = jax.random.randint(jax.random.key(3), (n, 8, 8), 0, 256).astype(jnp.uint8)
    y = (X.reshape(n, -1)[:, :3].astype(jnp.int32).sum(axis=1) // 100) % 4
    ds = data.Dataset(X, y, X[:100], y[:100])
    model = models.mlp(16, 4, sigma=None)
    init = lambda key: models.init(model, key, (1, 8, 8))
    keys = jax.random.split(jax.random.key(0), 4)
    runs = {}
    for name, devices in [("one", None), ("two", 2), ("list", jax.devices())]:
        params, _, hs = fit_many(model, losses.softmax_cross_entropy, jax.vmap(init)(keys), ds,
                                 lambda lr: optax.sgd(lr), hyperparams=jnp.array([0.05, 0.1, 0.2, 0.4]), keys=keys,
                                 epochs=2, batch_size=64, devices=devices, callbacks=())
        runs[name + " models per device"] = np.array([s.data.shape[0] for s in jax.tree.leaves(params)[0].addressable_shards])
        for i, h in enumerate(hs):
            runs[f"{name} {i} loss"] = h.train_loss
            runs[f"{name} {i} val"] = h.val_metric
        for i, leaf in enumerate(jax.tree.leaves(params)):
            runs[f"{name} param {i}"] = np.asarray(leaf)
    try:
        fit_many(model, losses.softmax_cross_entropy, jax.vmap(init)(keys[:3]), ds, optax.sgd(0.1),
                 keys=keys[:3], epochs=1, batch_size=64, devices=2, callbacks=())
    except ValueError as err:
        runs["uneven"] = np.array(str(err))
    np.savez(sys.argv[1], **runs)
"""


@pytest.fixture(scope="module")
def split_runs(tmp_path_factory) -> dict[str, np.ndarray]:
    """4 MLPs with their own keys and learning rates, on one device and split over two CPU devices."""
    out = tmp_path_factory.mktemp("split") / "runs.npz"
    fresh_python(SPLIT_SCRIPT, str(out))
    return dict(np.load(out))


@pytest.mark.parametrize("devices", ["two", "list"])
def test_models_split_over_devices_train_as_on_one(split_runs, devices):
    assert list(split_runs[f"{devices} models per device"]) == [2, 2] and list(split_runs["one models per device"]) == [4]
    for i in range(4):
        np.testing.assert_allclose(split_runs[f"{devices} {i} loss"], split_runs[f"one {i} loss"], rtol=LOSS_RTOL)
        np.testing.assert_array_equal(split_runs[f"{devices} {i} val"], split_runs[f"one {i} val"])
    for key in [k for k in split_runs if k.startswith("one param")]:
        np.testing.assert_allclose(split_runs[key.replace("one", devices)], split_runs[key], rtol=0, atol=PARAM_ATOL)
    # the four learning rates really differ
    assert not np.allclose(split_runs["one 0 loss"], split_runs["one 3 loss"], rtol=1e-2)


def test_models_that_do_not_divide_over_the_devices_are_refused(split_runs):
    assert "3 models cannot be split evenly over 2 devices" in str(split_runs["uneven"])


def test_dropout_keys_give_each_model_fits_run_with_its_step_rng():
    ds = _classification_data()
    model = models.dropout_mlp((16, 16), (0.5, 0.5), 4, sigma=None)
    init_keys, fit_keys, drop_keys = (jax.random.split(jax.random.key(i), 3) for i in range(3))
    start = jax.vmap(_mlp_init(model))(init_keys)
    params, _, histories = fit_many(model, losses.softmax_cross_entropy, start, ds, optax.sgd(0.1), keys=fit_keys,
                                    epochs=2, batch_size=64, step_rng=drop_keys, callbacks=())
    for i, (p, h) in enumerate(zip(unstack(params), histories)):
        alone = _fit(model, losses.softmax_cross_entropy, _mlp_init(model)(init_keys[i]), ds, optax.sgd(0.1),
                     key=fit_keys[i], epochs=2, batch_size=64, step_rng=drop_keys[i])
        _assert_same_run(p, h, alone)
    without = fit_many(models.dropout_mlp((16, 16), (0.0, 0.0), 4, sigma=None), losses.softmax_cross_entropy, start,
                       ds, optax.sgd(0.1), keys=fit_keys, epochs=2, batch_size=64, step_rng=drop_keys,
                       callbacks=()).history
    assert not np.allclose(without[0].train_loss, histories[0].train_loss, rtol=1e-3)  # dropout was on


def _noisy_mlp() -> nn.Layer:
    """An MLP whose logits get a little noise from the step's key in training (none in evaluation)."""
    mlp = _mlp()

    def apply(params, state, X, *, train=False, rng=None):
        logits, state = mlp.apply(params, state, X)
        return (logits + 0.01 * jax.random.normal(rng, logits.shape) if train else logits), state

    return nn.Layer(mlp.init, apply, "noisy", True, True)


def test_a_model_that_draws_from_its_step_key_trains_one_dataset_per_model():
    ds = _classification_data()
    datasets = [ds, Dataset(ds.X_train[::-1], ds.y_train[::-1], ds.X_val, ds.y_val)]
    model = _noisy_mlp()
    init_keys, drop_keys = jax.random.split(jax.random.key(0), 2), jax.random.split(jax.random.key(1), 2)
    histories = fit_many(model, losses.softmax_cross_entropy, jax.vmap(_mlp_init(model))(init_keys), stack(datasets),
                         optax.sgd(0.1), keys=jax.random.key(2), epochs=1, batch_size=64, step_rng=drop_keys,
                         per_model_data=True, callbacks=()).history
    assert all(np.isfinite(h.train_loss).all() for h in histories)


def test_the_training_apply_is_checked_with_a_real_key_on_one_models_minibatch():
    ds = _classification_data()
    # takes masks, not a key, as its step's rng: in evaluation it would pass every check
    model = models.dropout_mlp(16, (0.5,), 4, sigma=None, mask=nn.given_mask)
    with pytest.raises(ValueError, match=r"^the model fails in training mode on a minibatch with the step's rng \("):
        fit_many(model, losses.softmax_cross_entropy, jax.vmap(_mlp_init(model))(jax.random.split(jax.random.key(0), 2)),
                 stack([ds, ds]), optax.sgd(0.1), keys=jax.random.key(2), epochs=1, batch_size=64,
                 step_rng=jax.random.split(jax.random.key(1), 2), per_model_data=True, callbacks=())


def test_dropout_keys_may_be_a_list_and_are_refused_saying_what_came():
    from jaxdl.training import _model_step_rngs, step_keys

    keys = jax.random.split(jax.random.key(0), 3)
    rows = _model_step_rngs(list(keys), 3)(1, 4)  # a list of keys is stacked
    for i in range(3):
        np.testing.assert_array_equal(jax.random.key_data(rows[i]), jax.random.key_data(step_keys(keys[i])(1, 4)))
    start = "step_rng must hold one PRNG key per model (3), e.g. jax.random.split(key, 3); got "
    for given, got in [(jax.random.key(0), "PRNGKeyArray"), (jnp.zeros((3, 4)), "ArrayImpl of shape (3, 4)"),
                       ("key", "str"), ([jax.random.key(0)] * 2, "list of shape (2,)")]:
        with pytest.raises(ValueError) as err:
            _model_step_rngs(given, 3)
        assert str(err.value) == start + got


@pytest.mark.parametrize("step_rng, message", [
    (jax.random.key(0), r"one PRNG key per model \(3\)"),
    (jnp.zeros((3, 4)), "one PRNG key per model"),
    ("key", "got str"),
])
def test_bad_dropout_keys_are_refused(step_rng, message):
    ds = _classification_data()
    model = models.dropout_mlp(8, (0.5,), 4, sigma=None)
    keys = jax.random.split(jax.random.key(0), 3)
    with pytest.raises(ValueError, match=message):
        fit_many(model, losses.softmax_cross_entropy, jax.vmap(_mlp_init(model))(keys), ds, optax.sgd(0.1), keys=keys,
                 epochs=1, batch_size=64, step_rng=step_rng, callbacks=())


def _linreg_stack(n=3):
    return jax.vmap(_linreg_init)(jax.random.split(jax.random.key(1), n))


# (case, what to pass instead, the phrase of the refusal): fit_many's own arguments, checked before any work
MANY_REFUSALS = [
    ("no models", dict(params=lambda: jax.tree.map(lambda a: a[:0], _linreg_stack())), r"params holds 0 models"),
    ("keys=0", dict(keys=0), r"keys must be one PRNG key .* or one per model \(3, .*got int"),
    ("one model's params, unstacked", dict(params=lambda: _linreg_init(jax.random.key(1))),
     r"params are one model's parameters \(the shapes model.init gives, .*not a stack with a leading model axis"),
    ("per-model data without per_model_data", dict(data=lambda ds: Dataset(*(jnp.stack([a] * 3) for a in ds))),
     r"every array of data has a leading axis of 3, as many as the models: for one dataset per model pass "
     r"per_model_data=True"),
    ("hyperparams rows of the wrong shape", dict(optimizer=optimizers.sgd, hyperparams=jnp.full((3, 2), 0.1)),
     r"optimizer\(row\) for hyperparams rows of shape \(2,\) cannot update these parameters.*shape \(\) for a "
     r"learning rate"),
    ("a negative learning rate in a sweep", dict(optimizer=optax.sgd, hyperparams=jnp.array([0.1, -0.1, 0.2])),
     r"the optimizer \(model 1's hyperparameters\) moves the parameters up the gradient"),
]


@pytest.mark.parametrize("change, message", [c[1:] for c in MANY_REFUSALS], ids=[c[0] for c in MANY_REFUSALS])
def test_fit_manys_own_arguments_are_refused_with_what_is_wrong(monkeypatch, change, message):
    monkeypatch.setattr(training, "_compile", lambda *a, **k: pytest.fail("compiled before refusing"))
    kw = dict(keys=jax.random.key(0), epochs=1, batch_size=32, metric=None, callbacks=()) | change
    params = kw.pop("params", _linreg_stack)()
    ds = kw.pop("data", lambda ds: ds)(_linreg_data())
    optimizer = kw.pop("optimizer", optimizers.sgd(0.03))
    with pytest.raises(ValueError, match=message):
        fit_many(LINREG, losses.squared_loss, params, ds, optimizer, **kw)


def test_a_sweep_with_one_diverging_learning_rate_raises_naming_it_and_keeps_every_history():
    with pytest.raises(training.TrainingDiverged, match=r"^model 1 of 3: training diverged") as err:
        fit_many(LINREG, losses.squared_loss, _linreg_stack(), _linreg_data(), optimizers.sgd,
                 hyperparams=jnp.array([0.03, 100.0, 0.01]), keys=jax.random.key(0), epochs=2, batch_size=32,
                 metric=None, callbacks=())
    assert err.value.models == [1] and err.value.epoch == 1 and len(err.value.history) == 3
    steps = [len(h.train_loss) for h in err.value.history]
    assert steps[0] == steps[1] == steps[2] == err.value.step  # every model's steps up to the bad one
    assert np.all(np.isfinite(err.value.history[0].train_loss))
