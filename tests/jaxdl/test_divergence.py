"""The divergence rule: a finite loss far above its start stops training, and nothing computed is lost."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data, divergence, losses, models, optimizers, training
from jaxdl.data import Dataset


def _softmax_run(lr, **kw):
    """Softmax regression with the stable cross-entropy on 200 random 8x8 images, 10 batches an epoch."""
    X = jax.random.randint(jax.random.key(0), (200, 8, 8), 0, 256).astype(jnp.uint8)
    y = jnp.arange(200) % 10
    params = models.softmax_init(jax.random.key(0), 64, 10)
    return training.fit(models.softmax_apply, losses.softmax_cross_entropy, params, Dataset(X, y, X[:50], y[:50]),
                        optimizers.sgd(lr), key=jax.random.key(1), batch_size=20, progress=False, **kw)


def _linreg(lr, **kw):
    ds = data.synthetic_regression(jax.random.key(0))
    params = models.linreg_init(jax.random.key(1), 2)
    return training.fit(models.linreg_apply, losses.squared_loss, params, ds, optimizers.sgd(lr), key=jax.random.key(2),
                        batch_size=32, metric=None, progress=False, **kw)


def test_finite_loss_far_above_the_first_step_stops_training_with_epoch_and_step():
    # lr=100 keeps the stable cross-entropy finite (2.3 -> ~1000) but far above where it started.
    with pytest.raises(training.TrainingDiverged,
                       match=r"training diverged: the loss was [\d.]+ at epoch 1, step 3 of 10, above the divergence "
                             r"threshold 230\.8 \(100 times the first step's loss\); lower the learning rate") as info:
        _softmax_run(100.0, epochs=5)
    err = info.value
    assert (err.epoch, err.step) == (1, 3) and err.loss > err.threshold
    assert err.threshold == pytest.approx(divergence.DIVERGENCE_FACTOR * err.history.train_loss[0])


def test_the_same_finite_run_goes_on_with_the_threshold_turned_off():
    _, history = _softmax_run(100.0, epochs=2, divergence_threshold=float("inf"))
    assert history.train_loss.max() > 230 and np.isfinite(history.train_loss).all()


def test_an_explicit_threshold_is_absolute():
    # linear regression starts near a squared loss of 15, so an absolute 1.0 is crossed by the first step
    with pytest.raises(training.TrainingDiverged, match=r"at epoch 1, step 1 of 32, above the divergence threshold 1;"):
        _linreg(0.03, epochs=1, divergence_threshold=1.0)


def test_a_good_run_stays_below_the_default_threshold():
    _, history = _linreg(0.03, epochs=3)
    assert history.epochs == 3


def test_diverged_carries_the_history_to_the_bad_step_and_the_last_good_params():
    # lr 3.8 overflows in epoch 2 (see test_training); the NaN/inf rule is on even with the threshold off
    with pytest.raises(training.TrainingDiverged) as info:
        _linreg(3.8, epochs=3, divergence_threshold=float("inf"))
    err = info.value
    assert err.epoch == 2 and err.params_epochs == 1
    assert err.history.train_loss.shape == (32 + err.step,) and not np.isfinite(err.history.train_loss[-1])
    assert np.isfinite(err.history.train_loss[:-1]).all() and err.history.val_loss.shape == (1,)
    after_one_epoch, _ = _linreg(3.8, epochs=1, divergence_threshold=float("inf"))
    jax.tree.map(np.testing.assert_array_equal, err.params, after_one_epoch)
    assert err.history.epoch_train_loss().shape == (1,)  # only the complete epoch is averaged


def test_a_diverged_first_epoch_carries_the_initial_params():
    with pytest.raises(training.TrainingDiverged) as info:
        _softmax_run(100.0, epochs=5)
    err = info.value
    jax.tree.map(np.testing.assert_array_equal, err.params, models.softmax_init(jax.random.key(0), 64, 10))
    assert err.history.train_loss.shape == (3,) and err.history.val_loss.shape == (0,)


def test_a_non_finite_validation_loss_stops_training_and_carries_what_was_computed():
    ds = data.synthetic_regression(jax.random.key(0))
    ds = ds._replace(X_val=ds.X_val * 1e20)  # finite inputs whose squared error overflows float32
    start = models.linreg_init(jax.random.key(1), 2)
    with pytest.raises(training.TrainingDiverged) as info:
        training.fit(models.linreg_apply, losses.squared_loss, start, ds, optimizers.sgd(0.03), key=jax.random.key(2),
                     epochs=2, batch_size=32, metric=None, progress=False)
    err, steps = info.value, -(-ds.X_train.shape[0] // 32)
    assert str(err) == ("the validation loss became inf after epoch 1 though every training loss was finite; lower "
                        "the learning rate")
    assert (err.epoch, err.step, err.loss, err.params_epochs) == (1, steps, float("inf"), 0)
    assert err.threshold == divergence.resolve_threshold(None, float(err.history.train_loss[0]))
    jax.tree.map(np.testing.assert_array_equal, err.params, start)  # the epoch's params were never validated
    assert err.history.train_loss.shape == (steps,) and err.history.val_loss.shape == (0,)


def test_a_validation_loss_that_overflows_in_epoch_2_returns_the_params_of_epoch_1():
    ds = data.synthetic_regression(jax.random.key(0))
    zero = jax.tree.map(jnp.zeros_like, models.linreg_init(jax.random.key(1), 2))
    run = partial(training.fit, models.linreg_apply, losses.squared_loss, zero, optimizer=optimizers.sgd(1e-4),
                  key=jax.random.key(2), batch_size=32, metric=None, progress=False)
    (p1, _), (p2, _) = run(data=ds, epochs=1), run(data=ds, epochs=2)
    # with a tiny rate the weights grow about linearly from zero: scale one validation input so that its squared
    # error is 1e38 after epoch 1 and overflows float32 (3.4e38) after epoch 2
    x = np.asarray(ds.X_val[0], np.float64)
    w1, w2 = (np.asarray(p["W"], np.float64)[0] for p in (p1, p2))
    scale = np.sqrt(2e38) / abs(x @ w1)
    assert abs(x @ w2) * scale > np.sqrt(2 * 3.5e38)
    with pytest.raises(training.TrainingDiverged) as info:
        run(data=ds._replace(X_val=ds.X_val.at[0].multiply(scale)), epochs=3)
    err = info.value
    assert (err.epoch, err.params_epochs, err.loss) == (2, 1, float("inf"))
    jax.tree.map(np.testing.assert_array_equal, err.params, p1)
    assert err.history.val_loss.shape == (1,) and np.isfinite(err.history.val_loss[0])


@pytest.mark.parametrize("threshold", [0, -1.0, float("nan"), "high", True])
def test_bad_divergence_threshold_is_refused(threshold):
    with pytest.raises(ValueError, match="divergence_threshold must be a positive number"):
        _linreg(0.03, epochs=1, divergence_threshold=threshold)


def test_the_messages_say_where_what_which_rule_and_what_to_do():
    assert divergence.describe(float("nan"), 5.0, False, 2, 7, 235) == (
        "the training loss became nan at epoch 2, step 7 of 235; lower the learning rate or check the data for "
        "NaN/inf values")
    assert divergence.describe(1234.5, 23.0, False, 1, 3, 235) == (
        "training diverged: the loss was 1234 at epoch 1, step 3 of 235, above the divergence threshold 23 "
        f"({divergence.DIVERGENCE_FACTOR:g} times the first step's loss); lower the learning rate, or pass "
        "divergence_threshold= (a number, or float('inf') to turn the rule off)")
    assert "above the divergence threshold 50; lower" in divergence.describe(60.0, 50.0, True, 1, 1, 2)


def test_a_bare_training_diverged_knows_nothing_yet():
    err = divergence.TrainingDiverged("stopped")
    assert str(err) == "stopped" and isinstance(err, FloatingPointError)
    assert (err.history, err.params, err.params_epochs, err.epoch, err.step) == (None, None, 0, 0, 0)
    assert np.isnan(err.loss) and err.threshold == float("inf")


def test_the_threshold_in_force():
    assert divergence.resolve_threshold(None, -2.5) == divergence.DIVERGENCE_FACTOR * 2.5
    assert divergence.resolve_threshold(7, 1e9) == 7.0
    assert divergence.resolve_threshold(None, float("nan")) == float("inf")
    assert divergence.resolve_threshold(None, float("inf")) == float("inf")


def test_a_loss_equal_to_the_threshold_is_not_above_it():
    assert divergence.first_divergent_step(np.array([1.0, 5.0, 5.5]), 5.0) == 2
    assert divergence.first_divergent_step(np.array([1.0, 5.0]), 5.0) is None
    assert divergence.first_divergent_step(np.array([1.0, np.nan, 9.0]), 5.0) == 1
