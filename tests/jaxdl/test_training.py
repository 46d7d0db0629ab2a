"""fit: SGD by hand equals optax, the scan epoch equals the Python loop, determinism, bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import data, losses, models, optimizers, training
from jaxdl.data import Dataset

LINREG = dict(apply=models.linreg_apply, loss=losses.squared_loss)


def _fit_linreg(optimizer=None, key=2, loop="scan", epochs=3, **kw):
    ds = data.synthetic_regression(jax.random.key(0))
    params = models.linreg_init(jax.random.key(1), 2)
    return training.fit(**LINREG, params=params, data=ds, optimizer=optimizer or optimizers.sgd(0.03),
                        key=jax.random.key(key), epochs=epochs, batch_size=32, metric=None, progress=False,
                        loop=loop, **kw)


def _tiny_classification(n=40, labels=None):
    X = jax.random.randint(jax.random.key(0), (n, 4, 4), 0, 256).astype(jnp.uint8)
    y = jnp.arange(n) % 3 if labels is None else jnp.asarray(labels)
    return Dataset(X, y, X[:10], y[:10])


def test_sgd_update_is_params_minus_lr_times_grads():
    params = {"W": jnp.array([1.0, 2.0]), "b": jnp.array(3.0)}
    grads = {"W": jnp.array([0.5, -1.0]), "b": jnp.array(2.0)}
    new = optimizers.sgd_update(params, grads, 0.1)
    np.testing.assert_allclose(new["W"], [0.95, 2.1], rtol=1e-7)
    np.testing.assert_allclose(new["b"], 2.8, rtol=1e-7)


def test_hand_written_sgd_equals_optax_sgd():
    p_hand, h_hand = _fit_linreg(optimizers.sgd(0.03))
    p_optax, h_optax = _fit_linreg(optimizers.optax_sgd(0.03))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), p_hand, p_optax)
    np.testing.assert_allclose(h_hand.train_loss, h_optax.train_loss, rtol=1e-6)


def test_linear_regression_recovers_w_and_b():
    params, history = _fit_linreg()
    np.testing.assert_allclose(params["W"].ravel(), [2.0, -3.4], atol=0.3)
    assert history.val_loss[-1] < history.val_loss[0] < 10


def test_scan_epoch_equals_python_loop():
    p_scan, h_scan = _fit_linreg(loop="scan")
    p_loop, h_loop = _fit_linreg(loop="python")
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), p_scan, p_loop)
    np.testing.assert_allclose(h_scan.train_loss, h_loop.train_loss, rtol=1e-5)
    np.testing.assert_allclose(h_scan.val_loss, h_loop.val_loss, rtol=1e-5)


@pytest.mark.parametrize("options", [dict(reduction="sum"), dict(penalty=lambda p: 0.5 * jnp.sum(p["W"] ** 2))],
                         ids=["sum", "penalty"])
def test_python_loop_honours_reduction_and_penalty(options):
    p_scan, h_scan = _fit_linreg(loop="scan", optimizer=optimizers.sgd(0.001), **options)
    p_loop, h_loop = _fit_linreg(loop="python", optimizer=optimizers.sgd(0.001), **options)
    np.testing.assert_allclose(h_loop.train_loss, h_scan.train_loss, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), p_scan, p_loop)
    _, plain = _fit_linreg(loop="python", optimizer=optimizers.sgd(0.001))
    assert not np.allclose(h_loop.train_loss[1:], plain.train_loss[1:], rtol=1e-3)


def test_step_and_epoch_default_to_the_mean_over_the_minibatch():
    ds = data.synthetic_regression(jax.random.key(0))
    params = models.linreg_init(jax.random.key(1), 2)
    opt = optimizers.sgd(0.03)
    rows, mask = jnp.arange(8), jnp.ones(8)
    _, _, value = training.make_train_step(**LINREG, optimizer=opt)(params, opt.init(params), ds.X_train,
                                                                   ds.y_train, rows, mask)
    expected = losses.squared_loss(models.linreg_apply(params, ds.X_train[:8]), ds.y_train[:8]).mean()
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    _, _, values = training.make_train_epoch(**LINREG, optimizer=opt)(params, opt.init(params), ds.X_train,
                                                                     ds.y_train, rows[None], mask[None])
    np.testing.assert_allclose(values[0], expected, rtol=1e-6)


@pytest.mark.parametrize("loop, unused", [("scan", "make_train_step"), ("python", "make_train_epoch")])
def test_each_loop_compiles_its_own_program(monkeypatch, loop, unused):
    """scan compiles the whole epoch into one lax.scan; python compiles one step and loops over it."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"loop={loop!r} must not build {unused}")

    monkeypatch.setattr(training, unused, refuse)
    assert _fit_linreg(loop=loop, epochs=1)[1].epochs == 1


def test_same_key_same_numbers_other_key_other_numbers():
    a, b, c = _fit_linreg(key=5), _fit_linreg(key=5), _fit_linreg(key=6)
    np.testing.assert_array_equal(a[1].train_loss, b[1].train_loss)
    np.testing.assert_array_equal(a[0]["W"], b[0]["W"])
    assert not np.array_equal(a[1].train_loss, c[1].train_loss)


def test_history_records_every_step_and_epoch(tmp_path):
    _, history = _fit_linreg(epochs=2, plot=tmp_path / "plot.png")
    assert history.num_batches == 32 and history.train_loss.shape == (64,)
    assert history.val_loss.shape == (2,) and history.epoch_train_loss().shape == (2,)
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_partial_last_batch_averages_only_its_real_examples():
    objective = training.make_objective(models.linreg_apply, losses.squared_loss)
    params = {"W": jnp.zeros((1, 1)), "b": jnp.zeros(1)}
    X, y = jnp.zeros((4, 1)), jnp.array([[2.0], [4.0], [100.0], [100.0]])
    assert float(objective(params, X, y, jnp.array([1.0, 1.0, 0.0, 0.0]))) == pytest.approx((2 + 8) / 2)
    summed = training.make_objective(models.linreg_apply, losses.squared_loss, reduction="sum")
    assert float(summed(params, X, y, jnp.array([1.0, 1.0, 0.0, 0.0]))) == pytest.approx(2 + 8)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        training.make_objective(models.linreg_apply, losses.squared_loss, reduction="max")


def _separable_classification(n=60):
    """3 classes of 4x4 uint8 images: class c is bright in row c, so softmax regression can learn it."""
    y = jnp.arange(n) % 3
    noise = jax.random.randint(jax.random.key(0), (n, 4, 4), 0, 60)
    X = (noise + 180 * (jnp.arange(4)[None, :, None] == y[:, None, None])).astype(jnp.uint8)
    return Dataset(X[:45], y[:45], X[45:], y[45:])


def test_classification_fit_tracks_accuracy():
    ds = _separable_classification()
    params = models.softmax_init(jax.random.key(0), 16, 3)
    fitted, history = training.fit(models.softmax_apply, losses.softmax_cross_entropy, params, ds,
                                   optimizers.sgd(0.5), key=jax.random.key(1), epochs=4, batch_size=8, progress=False)
    # the history holds accuracy and loss of the parameters after each epoch, computed as by hand here
    logits = models.softmax_apply(fitted, ds.X_val.astype(jnp.float32) / 255)
    assert history.val_metric[-1] == pytest.approx(float(jnp.mean(jnp.argmax(logits, axis=1) == ds.y_val)))
    assert history.val_loss[-1] == pytest.approx(float(losses.softmax_cross_entropy(logits, ds.y_val).mean()), rel=1e-5)
    # and it learns: chance is 1/3, the classes are separable
    assert history.val_metric[-1] == 1.0
    assert np.all(np.diff(history.val_loss) < 0) and history.val_loss[0] < np.log(3)


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -0.1, 0.0, "fast"])
def test_bad_learning_rate_is_refused(lr):
    for make in (optimizers.sgd, optimizers.optax_sgd):
        with pytest.raises(ValueError, match="learning rate must be"):
            make(lr)


def test_wrong_input_shape_is_explained():
    ds = data.synthetic_regression(jax.random.key(0))
    params = models.linreg_init(jax.random.key(1), 3)
    with pytest.raises(ValueError, match=r"cannot take inputs of shape \(2,\).*number of inputs"):
        training.fit(**LINREG, params=params, data=ds, optimizer=optimizers.sgd(0.03), key=jax.random.key(0),
                     epochs=1, batch_size=32, metric=None, progress=False)


def test_label_outside_class_range_is_explained():
    ds = _tiny_classification(labels=[0, 1, 2, 3] * 10)
    params = models.softmax_init(jax.random.key(0), 16, 3)
    with pytest.raises(ValueError, match=r"label 3, outside the range \[0, 3\)"):
        training.fit(models.softmax_apply, losses.softmax_cross_entropy, params, ds, optimizers.sgd(0.1),
                     key=jax.random.key(1), epochs=1, batch_size=8, progress=False)


def test_mismatched_example_counts_are_explained():
    ds = data.synthetic_regression(jax.random.key(0))
    ds = ds._replace(y_train=ds.y_train[:-1])
    with pytest.raises(ValueError, match="X_train has 1000 examples but y_train has 999"):
        training.fit(**LINREG, params=models.linreg_init(jax.random.key(1), 2), data=ds,
                     optimizer=optimizers.sgd(0.03), key=jax.random.key(0), epochs=1, batch_size=32,
                     metric=None, progress=False)


def test_regression_target_width_is_checked():
    ds = data.synthetic_regression(jax.random.key(0))
    ds = ds._replace(y_train=jnp.tile(ds.y_train, (1, 2)))
    with pytest.raises(ValueError, match=r"y_train has 2 values per example but the model gives 1"):
        training.fit(**LINREG, params=models.linreg_init(jax.random.key(1), 2), data=ds,
                     optimizer=optimizers.sgd(0.03), key=jax.random.key(0), epochs=1, batch_size=32,
                     metric=None, progress=False)


@pytest.mark.parametrize("split", ["train", "val"])
def test_empty_dataset_is_explained(split):
    ds = data.synthetic_regression(jax.random.key(0), **{f"num_{split}": 0})
    with pytest.raises(ValueError) as err:
        training.fit(**LINREG, params=models.linreg_init(jax.random.key(1), 2), data=ds,
                     optimizer=optimizers.sgd(0.03), key=jax.random.key(0), epochs=1, batch_size=32,
                     metric=None, progress=False)
    assert str(err.value) == f"the {split} set is empty (0 examples); load or generate some data first"


def test_one_value_per_example_is_refused_as_inputs_the_model_cannot_take():
    ds = data.synthetic_regression(jax.random.key(0))
    ds = ds._replace(X_train=ds.X_train[:, 0], X_val=ds.X_val[:, 0])  # (n,): no feature axis
    with pytest.raises(ValueError, match=r"^the model cannot take inputs of shape \(\) with these parameters"):
        training.check_inputs(models.linreg_apply, models.linreg_init(jax.random.key(1), 2), ds, losses.squared_loss)


@pytest.mark.parametrize("epochs", [-1, 1.5])
def test_bad_epoch_count_is_explained(epochs):
    with pytest.raises(ValueError, match="epochs must be a non-negative integer"):
        _fit_linreg(epochs=epochs)


@pytest.mark.parametrize("loop", ["scan", "python"])
def test_divergence_stops_with_epoch_and_step(loop):
    # With E[x x^T] ~ I, lr 3.8 scales the error by ~|1 - 3.8| = 2.8 a step: the squared loss passes
    # float32's 3.4e38 after ~42 steps, in epoch 2 (32 steps an epoch). The threshold is off here, so it
    # is the NaN/inf rule that stops it.
    with pytest.raises(training.TrainingDiverged, match=r"became (nan|inf) at epoch 2, step \d+ of 32; lower the learning rate"):
        _fit_linreg(optimizers.sgd(3.8), loop=loop, epochs=3, divergence_threshold=float("inf"))


def test_zero_epochs_returns_initial_params():
    params, history = _fit_linreg(epochs=0)
    np.testing.assert_array_equal(params["W"], models.linreg_init(jax.random.key(1), 2)["W"])
    assert history.epochs == 0 and history.train_loss.shape == (0,)
    assert history.train_loss.dtype == np.float32  # as a run's step losses, which concatenate with it
    assert math.isfinite(history.compile_seconds) and history.train_seconds == 0.0


def test_the_times_are_compilation_before_the_first_epoch_and_training_over_every_epoch(monkeypatch):
    clock = iter(range(10, 1000))  # every reading one second later than the one before
    monkeypatch.setattr(training.time, "perf_counter", lambda: float(next(clock)))
    _, history = _fit_linreg(epochs=3)
    assert (history.compile_seconds, history.train_seconds) == (1.0, 3.0)  # one reading each


def test_plot_live_redraws_the_history_after_every_epoch_and_no_other_plot_does(monkeypatch):
    import jaxdl.plotting

    drawn = []

    class Recorder:  # stands in for the notebook's live figure
        def __call__(self, history):
            drawn.append(history.epochs)

    monkeypatch.setattr(jaxdl.plotting, "LivePlot", Recorder)
    _fit_linreg(epochs=3, plot="live")
    assert drawn == [1, 2, 3]
    drawn.clear()
    _fit_linreg(epochs=2)
    assert drawn == []


def test_nan_in_the_training_data_is_refused_before_training():
    ds = data.synthetic_regression(jax.random.key(0))
    ds = ds._replace(y_train=ds.y_train.at[7].set(jnp.nan))
    with pytest.raises(ValueError, match=r"y_train holds NaN or inf values in 1 example\(s\), the first at index 7"):
        training.fit(**LINREG, params=models.linreg_init(jax.random.key(1), 2), data=ds,
                     optimizer=optimizers.sgd(0.03), key=jax.random.key(0), epochs=1, batch_size=32,
                     metric=None, progress=False)


def test_given_orders_replay_exactly_those_batches():
    ds = data.synthetic_regression(jax.random.key(0))
    params = models.linreg_init(jax.random.key(1), 2)
    orders = [np.random.default_rng(s).permutation(1000) for s in (0, 1)]
    fitted, history = training.fit(**LINREG, params=params, data=ds, optimizer=optimizers.sgd(0.03), orders=orders,
                                   batch_size=32, metric=None, progress=False)
    epoch = training.make_train_epoch(models.linreg_apply, losses.squared_loss, optimizers.sgd(0.03))
    by_hand, state, step_losses = params, optax.EmptyState(), []
    for order in orders:
        by_hand, state, values = epoch(by_hand, state, ds.X_train, ds.y_train, *data.batch_plan(order, 32))
        step_losses.append(values)
    np.testing.assert_array_equal(history.train_loss, np.concatenate(step_losses))
    np.testing.assert_array_equal(fitted["W"], by_hand["W"])
    assert history.epochs == 2


def test_orders_must_be_permutations_and_key_or_orders_is_needed():
    kw = dict(**LINREG, params=models.linreg_init(jax.random.key(1), 2), data=data.synthetic_regression(jax.random.key(0)),
              optimizer=optimizers.sgd(0.03), batch_size=32, metric=None, progress=False)
    with pytest.raises(ValueError, match=r"orders\[0\] is not a permutation of the 1000 training examples"):
        training.fit(**kw, orders=[np.zeros(1000, int)])
    with pytest.raises(ValueError, match="epochs=3 but 1 orders were given"):
        training.fit(**kw, orders=[np.arange(1000)], epochs=3)
    with pytest.raises(ValueError) as err:
        training.fit(**kw, epochs=1)
    assert str(err.value) == "pass key= and epochs= (or orders=, one order of the examples per epoch)"


def assert_cleared_progress_bar(err: str) -> None:
    """tqdm's output on stderr: an "epoch" bar that leaves no line behind (leave=False)."""
    assert err.startswith("\repoch:   0%|"), err
    assert err.endswith("\r") and err.split("\r")[-2].strip() == "", err  # overwritten with blanks at the end


def test_the_progress_bar_counts_epochs_and_clears_itself(capfd):
    _fit_linreg(epochs=2)
    assert capfd.readouterr().err == ""  # progress=False
    ds, params = data.synthetic_regression(jax.random.key(0)), models.linreg_init(jax.random.key(1), 2)
    training.fit(**LINREG, params=params, data=ds, optimizer=optimizers.sgd(0.03), key=jax.random.key(2), epochs=2,
                 batch_size=32, metric=None)  # progress by default
    assert_cleared_progress_bar(capfd.readouterr().err)


def test_the_progress_bar_shows_the_last_epochs_losses_and_the_accuracy_when_there_is_a_metric(capfd):
    ds, params = data.synthetic_regression(jax.random.key(0)), models.linreg_init(jax.random.key(1), 2)
    _, history = training.fit(**LINREG, params=params, data=ds, optimizer=optimizers.sgd(0.03), key=jax.random.key(2),
                              epochs=2, batch_size=32, metric=None)
    err, last = capfd.readouterr().err, history.train_loss.reshape(2, -1)[-1].mean()
    assert f"loss={last:.4f}, val_loss={history.val_loss[-1]:.4f}]" in err and "val_acc" not in err
    X = jax.random.randint(jax.random.key(0), (64, 4, 4), 0, 256).astype(jnp.uint8)
    y = jnp.arange(64) % 3
    _, history = training.fit(models.softmax_apply, losses.softmax_cross_entropy, models.softmax_init(
        jax.random.key(0), 16, 3), Dataset(X, y, X[:16], y[:16]), optimizers.sgd(0.1), key=jax.random.key(1), epochs=1,
        batch_size=16)
    assert f", val_acc={history.val_metric[-1]:.4f}]" in capfd.readouterr().err
