"""What fit and fit_many share, written once and run on both: the refusals at the door, the divergence rule and
what its exception carries, the histories, given orders, the times and the callbacks.

Each test takes `engine`: "one" is `fit`; "many" is `fit_many` on two stacked copies of the same model sharing
one key, so that every model sees fit's batches. What `fit_many` adds (hyperparameters, a dataset per model,
devices, per-model keys) is tested in test_many.py; what only `fit` has (mesh=, the two loops' programs) in
test_training.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import callbacks, data, divergence, losses, many, models, nn, optimizers, training
from jaxdl.data import Dataset


@dataclass(frozen=True)
class Engine:
    """fit, or fit_many on two stacked copies: the same call, the results of the (first) model."""

    kind: str

    @property
    def many(self) -> bool:
        return self.kind == "many"

    def stack(self, tree):
        return many.stack([tree, tree]) if self.many else tree

    def fit(self, model, loss, params, ds, optimizer, *, key=None, stacked=False, **kw):
        """Trains params (stacked twice for "many", unless `stacked`: then passed as they are)."""
        kw.setdefault("callbacks", ())
        if self.many:
            return training.fit_many(model, loss, params if stacked else self.stack(params), ds, optimizer,
                                     keys=key, **kw)
        return training.fit(model, loss, params, ds, optimizer, key=key, **kw)

    def first(self, tree):
        """The first model's part of a result (params, state, or the histories' list)."""
        if not self.many:
            return tree
        if isinstance(tree, list):
            assert len(tree) == 2
            return tree[0]
        return jax.tree.map(lambda leaf: leaf[0], tree)

    def histories(self, history) -> list:
        return list(history) if self.many else [history]


@pytest.fixture(params=["one", "many"])
def engine(request) -> Engine:
    return Engine(request.param)


LINREG = models.linear_regression()


def _linreg_data() -> Dataset:
    return data.synthetic_regression(jax.random.key(0))  # 1000 training examples: 32 batches of 32


def _linreg_params():
    return models.init(LINREG, jax.random.key(1), (1, 2))


def _fit_linreg(engine, lr=0.03, ds=None, params=None, key=2, epochs=3, **kw):
    kw = dict(key=None if key is None else jax.random.key(key), epochs=epochs, batch_size=32, metric=None) | kw
    return engine.fit(LINREG, losses.squared_loss, _linreg_params() if params is None else params,
                      _linreg_data() if ds is None else ds, optimizers.sgd(lr), **kw)


def _images(n=40, labels=None):
    X = jax.random.randint(jax.random.key(0), (n, 4, 4), 0, 256).astype(jnp.uint8)
    y = jnp.arange(n) % 3 if labels is None else jnp.asarray(labels)
    return Dataset(X, y, X[:10], y[:10])


def _fit_softmax(engine, ds=None, params=None, **kw):
    model = models.softmax_regression(3)
    params = models.init(model, jax.random.key(0), (1, 4, 4)) if params is None else params
    kw = dict(key=jax.random.key(1), epochs=1, batch_size=8) | kw
    return engine.fit(model, losses.softmax_cross_entropy, params, _images() if ds is None else ds,
                      optimizers.sgd(0.1), **kw)


# ----------------------------------------------------------------------------- refusals at the door

def _nan_at_7(ds):
    return ds._replace(y_train=ds.y_train.at[7].set(jnp.nan))


# (case, what to change in a linear regression run, the phrase the refusal must hold)
LINREG_REFUSALS = [
    ("a tuple (X, y)", dict(ds=lambda ds: (ds.X_train, ds.y_train)),
     r"fit takes a Dataset\(X_train, y_train, X_val, y_val\), not a tuple \(X, y\)"),
    ("a dict", dict(ds=lambda ds: ds._asdict()), r"fit takes a jaxdl.Dataset.*got dict"),
    ("a list of targets", dict(ds=lambda ds: ds._replace(y_train=ds.y_train.tolist())),
     r"data.y_train is a list, not an array"),
    ("NaN in y_train", dict(ds=_nan_at_7), r"y_train holds NaN or inf values in 1 example\(s\), the first at index 7"),
    ("inf in X_val", dict(ds=lambda ds: ds._replace(X_val=ds.X_val.at[3].set(jnp.inf))),
     r"X_val holds NaN or inf values in 1 example\(s\), the first at index 3"),
    ("unpaired targets", dict(ds=lambda ds: ds._replace(y_train=ds.y_train[:-1])),
     "X_train has 1000 examples but y_train has 999"),
    ("an empty training set", dict(ds=lambda ds: ds._replace(X_train=ds.X_train[:0], y_train=ds.y_train[:0])),
     r"^the train set is empty \(0 examples\)"),
    ("an empty validation set", dict(ds=lambda ds: ds._replace(X_val=ds.X_val[:0], y_val=ds.y_val[:0])),
     r"^the val set is empty \(0 examples\)"),
    ("targets of another width", dict(ds=lambda ds: ds._replace(y_train=jnp.tile(ds.y_train, (1, 2)),
                                                                 y_val=jnp.tile(ds.y_val, (1, 2)))),
     "y_train has 2 values per example but the model gives 1"),
    ("validation targets of another width", dict(ds=lambda ds: ds._replace(y_val=jnp.tile(ds.y_val, (1, 2)))),
     r"y_val's examples have shape \(2,\) but y_train's \(1,\); the validation set must be shaped as the training set"),
    ("params for 3 inputs", dict(params=lambda: models.init(LINREG, jax.random.key(1), (1, 3))),
     r"cannot take inputs of shape \(2,\) with these parameters.*number of inputs"),
    ("no key", dict(key=None), r"pass keys?= and epochs= \(or orders=, one order of the examples per epoch\)"),
    ("an int for a key", dict(key=0), r"keys? must be .*PRNG key"),
    ("zeros for a key", dict(key=jnp.zeros(3)), r"keys? must be .*PRNG key"),
    ("negative epochs", dict(epochs=-1), "epochs must be a non-negative integer, got -1"),
    ("fractional epochs", dict(epochs=1.5), "epochs must be a non-negative integer"),
    ("True epochs", dict(epochs=True), "epochs must be a non-negative integer"),
    ("no batch size", dict(batch_size=0), "batch_size must be a positive integer"),
    ("True batch size", dict(batch_size=True), "batch_size must be a positive integer"),
    ("an unknown loop", dict(loop="fori"), "loop must be 'scan' or 'python'"),
    ("an unknown reduction", dict(reduction="max"), "reduction must be 'mean' or 'sum'"),
    ("threshold 0", dict(divergence_threshold=0), "divergence_threshold must be a positive number"),
    ("negative threshold", dict(divergence_threshold=-1.0), "divergence_threshold must be a positive number"),
    ("NaN threshold", dict(divergence_threshold=float("nan")), "divergence_threshold must be a positive number"),
    ("text threshold", dict(divergence_threshold="high"), "divergence_threshold must be a positive number"),
    ("True threshold", dict(divergence_threshold=True), "divergence_threshold must be a positive number"),
    ("a number for a penalty", dict(penalty=5), r"^penalty must be a function params -> scalar, got int$"),
    ("a penalty that fails", dict(penalty=lambda p: p["W2"].sum()),
     r"^penalty\(params\) fails on these parameters \('W2'\)$"),
    ("a penalty per weight", dict(penalty=lambda p: p["W"] ** 2), r"penalty\(params\) must return a scalar"),
    ("callbacks not callbacks", dict(callbacks=["bar"]), "callbacks must be jaxdl.callbacks.Callback objects"),
    ("a function for a callback", dict(callbacks=[print]), "callbacks must be jaxdl.callbacks.Callback objects"),
    ("orders not permutations", dict(key=None, epochs=None, orders=[np.zeros(1000, int)]),
     r"orders\[0\] is not a permutation of the 1000 training examples"),
    ("orders of another length", dict(key=None, epochs=None, orders=[np.arange(999)]),
     r"orders\[0\] is not a permutation of the 1000 training examples"),
    ("orders and another epoch count", dict(key=None, epochs=3, orders=[np.arange(1000)]),
     "epochs=3 but 1 orders were given"),
    ("a step_rng that is no key", dict(step_rng="key"), "step_rng must"),
]


@pytest.mark.parametrize("change, message", [case[1:] for case in LINREG_REFUSALS],
                         ids=[case[0] for case in LINREG_REFUSALS])
def test_bad_input_is_refused_before_anything_is_compiled(engine, monkeypatch, change, message):
    def no_compiling(*args, **kw):
        raise AssertionError("compiled before refusing the input")

    monkeypatch.setattr(training, "_compile", no_compiling)
    kw = dict(key=jax.random.key(2), epochs=3, batch_size=32, metric=None) | change
    ds = kw.pop("ds", lambda ds: ds)(_linreg_data())
    params = kw.pop("params", _linreg_params)()
    with pytest.raises(ValueError, match=message):
        engine.fit(LINREG, losses.squared_loss, params, ds, optimizers.sgd(0.03), **kw)


CLASSIFIER_REFUSALS = [
    ("a label outside the classes", dict(labels=[0, 1, 2, 3] * 10), r"label 3, outside the range \[0, 3\)"),
    ("labels shaped (n, 1)", dict(labels=(jnp.arange(40) % 3)[:, None]),
     r"y_train has shape \(40, 1\); a classifier takes integer class labels of shape \(40,\): pass "
     r"y_train.reshape\(-1\)"),
    ("one-hot labels", dict(labels=jax.nn.one_hot(jnp.arange(40) % 3, 3)),
     r"y_train looks one-hot, shape \(40, 3\); fit takes integer class labels of shape \(40,\): pass "
     r"y_train.argmax\(axis=1\)"),
    ("float labels", dict(labels=(jnp.arange(40) % 3).astype(jnp.float32)),
     r"y_train holds float32 values, shape \(40,\); a classifier takes integer class labels"),
    ("another model's params", dict(params=lambda: models.init(models.mlp(8, 3), jax.random.key(0), (1, 16))),
     r"cannot take inputs of shape \(4, 4\) with these parameters.*params is \(\(\), \{'W': \(8, 16\)"),
    ("a misnamed leaf", dict(params=lambda: ((), {"weights": jnp.zeros((3, 16)), "b": jnp.zeros(3)})),
     r"cannot take inputs of shape \(4, 4\) with these parameters.*'weights'"),
    ("no params", dict(params=lambda: None, stacked=True), "params must be a pytree"),
    ("empty params", dict(params=lambda: {}, stacked=True), "params must be a pytree"),
    ("params without arrays", dict(params=lambda: {"W": [[1.0]], "b": "zero"}, stacked=True),
     "params must be a pytree"),
    ("a pair of functions for a model", dict(model=(models.init, models.init)), "the model must be a jaxdl.nn.Layer"),
    ("dropout without step_rng", dict(model=nn.serial(nn.flatten(), nn.dropout(0.5), nn.linear(3))),
     r"the model draws in training \(it has dropout\): pass step_rng="),
]


@pytest.mark.parametrize("change, message", [case[1:] for case in CLASSIFIER_REFUSALS],
                         ids=[case[0] for case in CLASSIFIER_REFUSALS])
def test_bad_labels_params_and_models_are_refused_before_anything_is_compiled(engine, monkeypatch, change, message):
    def no_compiling(*args, **kw):
        raise AssertionError("compiled before refusing the input")

    monkeypatch.setattr(training, "_compile", no_compiling)
    kw = dict(change)
    labels = kw.pop("labels", None)
    model = kw.pop("model", models.softmax_regression(3))
    params = kw.pop("params", lambda: models.init(model, jax.random.key(0), (1, 4, 4)) if isinstance(
        model, nn.Layer) else models.init(models.softmax_regression(3), jax.random.key(0), (1, 4, 4)))()
    with pytest.raises(ValueError, match=message):
        engine.fit(model, losses.softmax_cross_entropy, params, _images(labels=labels), optimizers.sgd(0.1),
                   key=jax.random.key(1), epochs=1, batch_size=8, **kw)


def test_a_refusal_reads_the_same_from_fit_and_fit_many():
    ds = _images(labels=[0, 1, 2, 3] * 10)
    messages = []
    for kind in ("one", "many"):
        with pytest.raises(ValueError) as err:
            _fit_softmax(Engine(kind), ds)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_labels_a_loss_takes_one_hot_are_not_refused(engine):
    X = jax.random.randint(jax.random.key(0), (40, 4, 4), 0, 256).astype(jnp.uint8)
    one_hot = jax.nn.one_hot(jnp.arange(40) % 2, 2)
    model = models.softmax_regression(2)
    fitted = engine.fit(model, optax.softmax_cross_entropy, models.init(model, jax.random.key(0), (1, 4, 4)),
                        Dataset(X, one_hot, X[:10], one_hot[:10]), optimizers.sgd(0.1), key=jax.random.key(1),
                        epochs=1, batch_size=8, metric=None)
    assert engine.first(fitted.history).epochs == 1


def test_a_batch_size_beyond_the_dataset_is_one_batch_of_all_examples(engine):
    huge = engine.first(_fit_softmax(engine, batch_size=10**7).history)
    exact = engine.first(_fit_softmax(engine, batch_size=40).history)
    assert huge.num_batches == 1
    np.testing.assert_array_equal(huge.train_loss, exact.train_loss)


def test_a_preprocess_is_used_in_the_checks_as_in_training(engine):
    ds = _linreg_data()
    wide = ds._replace(X_train=jnp.tile(ds.X_train, 2), X_val=jnp.tile(ds.X_val, 2))  # (n, 4): 2 features twice
    expected = engine.first(_fit_linreg(engine, ds=ds, epochs=1).history)
    history = engine.first(_fit_linreg(engine, ds=wide, epochs=1, preprocess=lambda X: X[:, :2]).history)
    np.testing.assert_array_equal(history.train_loss, expected.train_loss)
    np.testing.assert_array_equal(history.val_loss, expected.val_loss)


# ----------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("loop", ["scan", "python"])
def test_an_overflowing_loss_stops_training_with_where_and_what_was_computed(engine, loop):
    # With E[x x^T] ~ I, lr 3.8 scales the error by ~|1 - 3.8| = 2.8 a step: the squared loss passes
    # float32's 3.4e38 after ~42 steps, in epoch 2 (32 steps an epoch). The threshold is off here, so it
    # is the NaN/inf rule that stops it.
    with pytest.raises(training.TrainingDiverged,
                       match=r"became (nan|inf) at epoch 2, step \d+ of 32; lower the learning rate") as info:
        _fit_linreg(engine, 3.8, loop=loop, epochs=3, divergence_threshold=float("inf"))
    err = info.value
    assert err.epoch == 2 and err.params_epochs == 1 and 1 <= err.step <= 32
    assert not math.isfinite(err.loss) and err.threshold == float("inf")
    assert err.models == ([0, 1] if engine.many else None)  # both copies diverge at the same step
    assert str(err).startswith("model 0 of 2: " if engine.many else "the training loss became")
    histories = engine.histories(err.history)
    assert len(histories) == (2 if engine.many else 1)
    for history in histories:
        assert history.train_loss.shape == (32 + err.step,) and not np.isfinite(history.train_loss[-1])
        assert np.isfinite(history.train_loss[:-1]).all() and history.val_loss.shape == (1,)
        assert history.epoch_train_loss().shape == (1,)  # only the complete epoch is averaged
    after_one_epoch = _fit_linreg(engine, 3.8, loop=loop, epochs=1, divergence_threshold=float("inf"))
    jax.tree.map(np.testing.assert_array_equal, err.params, after_one_epoch.params)  # the last good ones
    assert err.state is None and after_one_epoch.state is None


def _softmax_run(engine, lr, **kw):
    """Softmax regression with the stable cross-entropy on 200 random 8x8 images, 10 batches an epoch."""
    X = jax.random.randint(jax.random.key(0), (200, 8, 8), 0, 256).astype(jnp.uint8)
    y = jnp.arange(200) % 10
    model = models.softmax_regression(10)
    return engine.fit(model, losses.softmax_cross_entropy, models.init(model, jax.random.key(0), (1, 8, 8)),
                      Dataset(X, y, X[:50], y[:50]), optimizers.sgd(lr), key=jax.random.key(1), batch_size=20, **kw)


def test_a_finite_loss_far_above_the_first_steps_stops_training_with_the_initial_params(engine):
    # lr=100 keeps the stable cross-entropy finite (2.3 -> ~1000) but far above where it started.
    with pytest.raises(training.TrainingDiverged,
                       match=r"training diverged: the loss was [\d.]+ at epoch 1, step 3 of 10, above the divergence "
                             r"threshold 230\.8 \(100 times the first step's loss\); lower the learning rate") as info:
        _softmax_run(engine, 100.0, epochs=5)
    err = info.value
    assert (err.epoch, err.step, err.params_epochs) == (1, 3, 0) and err.loss > err.threshold
    first = engine.first(err.history)
    assert err.threshold == pytest.approx(divergence.DIVERGENCE_FACTOR * first.train_loss[0])
    assert first.train_loss.shape == (3,) and first.val_loss.shape == (0,)
    start = engine.stack(models.init(models.softmax_regression(10), jax.random.key(0), (1, 8, 8)))
    jax.tree.map(np.testing.assert_array_equal, err.params, start)
    assert err.models == ([0, 1] if engine.many else None)


def test_the_same_finite_run_goes_on_with_the_threshold_turned_off(engine):
    history = engine.first(_softmax_run(engine, 100.0, epochs=2, divergence_threshold=float("inf")).history)
    assert history.train_loss.max() > 230 and np.isfinite(history.train_loss).all()


def test_an_explicit_threshold_is_absolute(engine):
    # linear regression starts near a squared loss of 15, so an absolute 1.0 is crossed by the first step
    with pytest.raises(training.TrainingDiverged,
                       match=r"at epoch 1, step 1 of 32, above the divergence threshold 1;") as info:
        _fit_linreg(engine, epochs=1, divergence_threshold=1.0)
    assert info.value.threshold == 1.0 and (info.value.epoch, info.value.step) == (1, 1)


def test_a_good_run_stays_below_the_default_threshold(engine):
    assert engine.first(_fit_linreg(engine).history).epochs == 3


def test_a_non_finite_validation_loss_stops_training_and_carries_what_was_computed(engine):
    ds = _linreg_data()
    ds = ds._replace(X_val=ds.X_val * 1e20)  # finite inputs whose squared error overflows float32
    with pytest.raises(training.TrainingDiverged) as info:
        _fit_linreg(engine, ds=ds, epochs=2)
    err, steps = info.value, -(-ds.X_train.shape[0] // 32)
    assert str(err) == ("model 0 of 2: " if engine.many else "") + (
        "the validation loss became inf after epoch 1 though every training loss was finite; lower the learning rate")
    assert (err.epoch, err.step, err.loss, err.params_epochs) == (1, steps, float("inf"), 0)
    first = engine.first(err.history)
    assert err.threshold == divergence.resolve_threshold(None, float(first.train_loss[0]))
    jax.tree.map(np.testing.assert_array_equal, err.params, engine.stack(_linreg_params()))  # never validated
    for history in engine.histories(err.history):
        assert history.train_loss.shape == (steps,) and history.val_loss.shape == (0,)
    assert err.models == ([0] if engine.many else None)


def test_a_validation_loss_that_overflows_in_epoch_2_returns_the_params_of_epoch_1(engine):
    ds = _linreg_data()
    zero = jax.tree.map(jnp.zeros_like, _linreg_params())
    p1, p2 = (engine.first(_fit_linreg(engine, 1e-4, params=zero, epochs=e).params) for e in (1, 2))
    # with a tiny rate the weights grow about linearly from zero: scale one validation input so that its squared
    # error is 1e38 after epoch 1 and overflows float32 (3.4e38) after epoch 2
    x = np.asarray(ds.X_val[0], np.float64)
    w1, w2 = (np.asarray(p["W"], np.float64)[0] for p in (p1, p2))
    scale = np.sqrt(2e38) / abs(x @ w1)
    assert abs(x @ w2) * scale > np.sqrt(2 * 3.5e38)
    with pytest.raises(training.TrainingDiverged) as info:
        _fit_linreg(engine, 1e-4, params=zero, ds=ds._replace(X_val=ds.X_val.at[0].multiply(scale)), epochs=3)
    err = info.value
    assert (err.epoch, err.params_epochs, err.loss) == (2, 1, float("inf"))
    jax.tree.map(np.testing.assert_array_equal, engine.first(err.params), p1)
    first = engine.first(err.history)
    assert first.val_loss.shape == (1,) and np.isfinite(first.val_loss[0])


# ----------------------------------------------------------------------------- histories and orders


def test_the_history_records_every_step_and_epoch_as_float32_steps_and_float64_epochs(engine):
    for history in engine.histories(_fit_linreg(engine, epochs=2).history):
        assert history.num_batches == 32 and history.train_loss.shape == (64,) and history.epochs == 2
        assert history.val_loss.shape == (2,) and history.epoch_train_loss().shape == (2,)
        assert history.train_loss.dtype == np.float32 and history.val_loss.dtype == np.float64
        assert history.val_metric.shape == (0,)  # no metric
    for history in engine.histories(_fit_softmax(engine, epochs=2).history):
        assert history.val_metric.shape == (2,) and ((0 <= history.val_metric) & (history.val_metric <= 1)).all()


def test_the_history_holds_the_validation_loss_and_accuracy_of_each_epochs_params(engine):
    model = models.softmax_regression(3)
    ds = _images()
    fitted = _fit_softmax(engine, ds, epochs=2)
    logits = model(engine.first(fitted.params), ds.X_val.astype(jnp.float32) / 255)
    history = engine.first(fitted.history)
    assert history.val_metric[-1] == pytest.approx(float(jnp.mean(jnp.argmax(logits, axis=1) == ds.y_val)))
    assert history.val_loss[-1] == pytest.approx(float(losses.softmax_cross_entropy(logits, ds.y_val).mean()),
                                                 rel=1e-5)


def test_zero_epochs_give_back_the_initial_params_and_empty_histories(engine):
    fitted = _fit_linreg(engine, epochs=0)
    jax.tree.map(np.testing.assert_array_equal, fitted.params, engine.stack(_linreg_params()))
    assert fitted.state is None
    for history in engine.histories(fitted.history):
        assert history.epochs == 0 and history.train_loss.shape == (0,) and history.val_loss.shape == (0,)
        assert history.train_loss.dtype == np.float32  # as a run's step losses, which concatenate with it
        assert history.val_loss.dtype == np.float64
        assert math.isfinite(history.compile_seconds) and history.train_seconds == 0.0


def test_the_times_are_compilation_before_the_first_epoch_and_training_over_every_epoch(engine, monkeypatch):
    clock = iter(range(10, 1000))  # every reading one second later than the one before
    monkeypatch.setattr(training.time, "perf_counter", lambda: float(next(clock)))
    for history in engine.histories(_fit_linreg(engine, epochs=3).history):
        assert (history.compile_seconds, history.train_seconds) == (1.0, 3.0)  # one reading each


def test_given_orders_replay_exactly_those_batches(engine):
    ds, params = _linreg_data(), _linreg_params()
    orders = [np.random.default_rng(s).permutation(1000) for s in (0, 1)]
    fitted = _fit_linreg(engine, key=None, epochs=None, orders=orders)
    epoch = training.make_train_epoch(LINREG, losses.squared_loss, optimizers.sgd(0.03))
    by_hand, state, opt_state, step_losses = params, None, optax.EmptyState(), []
    for order in orders:
        by_hand, state, opt_state, values = epoch(by_hand, state, opt_state, ds.X_train, ds.y_train,
                                                  *data.batch_plan(order, 32))
        step_losses.append(values)
    for history in engine.histories(fitted.history):
        assert history.epochs == 2
        if engine.many:  # vmapped products may round in another order
            np.testing.assert_allclose(history.train_loss, np.concatenate(step_losses), rtol=1e-5)
        else:
            np.testing.assert_array_equal(history.train_loss, np.concatenate(step_losses))
    if engine.many:
        np.testing.assert_allclose(engine.first(fitted.params)["W"], by_hand["W"], atol=1e-6)
    else:
        np.testing.assert_array_equal(fitted.params["W"], by_hand["W"])


def test_orders_with_their_own_count_of_epochs_are_accepted(engine):
    orders = [np.random.default_rng(e).permutation(1000) for e in range(2)]
    expected = _fit_linreg(engine, key=None, epochs=None, orders=orders)
    given = _fit_linreg(engine, key=None, epochs=2, orders=orders)
    for a, b in zip(engine.histories(given.history), engine.histories(expected.history)):
        np.testing.assert_array_equal(a.train_loss, b.train_loss)


def test_the_same_key_gives_the_same_numbers_and_another_key_others(engine):
    a, b, c = (engine.first(_fit_linreg(engine, key=k).history) for k in (5, 5, 6))
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    assert not np.array_equal(a.train_loss, c.train_loss)


# ----------------------------------------------------------------------------- callbacks


def assert_cleared_progress_bar(err: str) -> None:
    """tqdm's output on stderr: an "epoch" bar that leaves no line behind (leave=False)."""
    assert err.startswith("\repoch:   0%|"), err
    assert err.endswith("\r") and err.split("\r")[-2].strip() == "", err  # overwritten with blanks at the end


def test_the_default_progress_bar_counts_epochs_and_clears_itself_and_none_shows_without_callbacks(engine, capfd):
    _fit_linreg(engine, epochs=2)
    assert capfd.readouterr().err == ""  # callbacks=()
    _fit_linreg(engine, epochs=2, callbacks=None)  # a progress bar by default
    assert_cleared_progress_bar(capfd.readouterr().err)


def test_the_progress_bar_shows_the_last_epochs_losses_and_the_accuracy_when_there_is_a_metric(engine, monkeypatch):
    # What the bar is given, recorded from tqdm itself: what a terminal shows of it depends on its width (tqdm
    # 4.60 cuts a bar it cannot measure at 80 columns).
    import tqdm.auto

    postfixes = []

    class Recorded(tqdm.auto.tqdm):
        def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
            postfixes.append(dict(ordered_dict))
            super().set_postfix(ordered_dict, refresh=refresh, **kwargs)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorded)
    history = engine.first(_fit_linreg(engine, epochs=2, callbacks=None).history)
    last = history.train_loss.reshape(2, -1)[-1].mean()
    assert postfixes[-1] == {"loss": f"{last:.4f}", "val_loss": f"{history.val_loss[-1]:.4f}"}
    assert len(postfixes) == 2
    history = engine.first(_fit_softmax(engine, callbacks=[callbacks.ProgressBar()]).history)
    assert postfixes[-1]["val_acc"] == f"{history.val_metric[-1]:.4f}"


def test_save_plot_saves_the_training_plot_at_the_end(engine, tmp_path):
    _fit_linreg(engine, epochs=2, callbacks=[callbacks.SavePlot(tmp_path / "plot.png")])
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_live_plot_redraws_the_history_after_every_epoch(engine, monkeypatch):
    import jaxdl.plotting

    drawn = []

    class Recorder:  # stands in for the notebook's live figure
        def __call__(self, history):
            drawn.append(history.epochs)

    monkeypatch.setattr(jaxdl.plotting, "LivePlot", Recorder)
    _fit_linreg(engine, epochs=3, callbacks=[callbacks.LivePlot()])
    assert drawn == [1, 2, 3]
    drawn.clear()
    _fit_linreg(engine, epochs=2, callbacks=None)
    assert drawn == []


def test_callbacks_see_every_epoch_and_the_end_also_when_training_diverges(engine):
    class Recorder(callbacks.Callback):
        def __init__(self):
            self.calls = []

        def on_train_begin(self, epochs):
            self.calls.append(("begin", epochs))

        def on_epoch_end(self, end):
            self.calls.append(("epoch", end.epoch, end.epochs, len(engine.first(end.history).val_loss)))

        def on_train_end(self, history, error):
            self.calls.append(("end", type(error).__name__ if error else None))

    recorder = Recorder()
    _fit_linreg(engine, epochs=2, callbacks=recorder)  # one Callback is taken as a list of one
    assert recorder.calls == [("begin", 2), ("epoch", 1, 2, 1), ("epoch", 2, 2, 2), ("end", None)]
    recorder = Recorder()
    with pytest.raises(training.TrainingDiverged):
        _fit_linreg(engine, 3.8, epochs=3, divergence_threshold=float("inf"), callbacks=[recorder])
    assert recorder.calls == [("begin", 3), ("epoch", 1, 3, 1), ("end", "TrainingDiverged")]


def test_without_keys_each_front_door_names_its_own_argument(engine):
    with pytest.raises(ValueError, match=f"pass {'keys' if engine.many else 'key'}= and epochs="):
        _fit_linreg(engine, key=None)


# (case, the optimizer, the phrase of its refusal): the optimizer is checked at the door too
OPTIMIZER_REFUSALS = [
    ("a factory passed uncalled", optax.sgd, r"the optimizer must be an optax GradientTransformation, got function; "
                                             r"sgd looks like a factory: call it with its hyperparameters"),
    ("a negative learning rate", optax.sgd(-0.1), r"moves the parameters up the gradient.*a negative learning rate\?"),
    ("not an optimizer at all", 0.1, r"the optimizer must be an optax GradientTransformation, got float($| \(or, with)"),
]


@pytest.mark.parametrize("optimizer, message", [c[1:] for c in OPTIMIZER_REFUSALS], ids=[c[0] for c in OPTIMIZER_REFUSALS])
def test_an_optimizer_that_cannot_train_is_refused_before_anything_is_compiled(engine, monkeypatch, optimizer, message):
    monkeypatch.setattr(training, "_compile", lambda *a, **k: pytest.fail("compiled before refusing the optimizer"))
    with pytest.raises(ValueError, match=message):
        engine.fit(LINREG, losses.squared_loss, _linreg_params(), _linreg_data(), optimizer, key=jax.random.key(2),
                   epochs=1, batch_size=32, metric=None)


def test_a_stateful_optimizer_descending_the_gradient_is_taken(engine):
    history = engine.first(_fit_linreg(engine, epochs=1).history)
    assert history.epochs == 1
    params, ds = _linreg_params(), _linreg_data()
    fitted = engine.fit(LINREG, losses.squared_loss, params, ds, optax.adam(0.01), key=jax.random.key(2), epochs=1,
                        batch_size=32, metric=None)
    assert engine.first(fitted.history).epochs == 1


def test_epochs_whose_history_would_not_fit_in_memory_are_refused_before_any_allocation(engine):
    with pytest.raises(ValueError, match=r"epochs=1000000000000 would need .* GiB for its history of step losses alone "
                                         r"\(1000000000000 epochs x 32 steps\), more than this machine's"):
        _fit_linreg(engine, epochs=10**12)
