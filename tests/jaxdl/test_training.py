"""fit alone: SGD by hand equals optax, the scan epoch equals the Python loop, the compiled pieces (objective,
step, epoch), learning. What fit shares with fit_many is in test_engine.py; mesh= in test_distributed.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data, losses, models, optimizers, training
from jaxdl.data import Dataset

LINREG = models.linear_regression()


def _linreg_params():
    return models.init(LINREG, jax.random.key(1), (1, 2))


def _fit_linreg(optimizer=None, key=2, loop="scan", epochs=3, **kw):
    ds = data.synthetic_regression(jax.random.key(0))
    return training.fit(LINREG, losses.squared_loss, _linreg_params(), ds, optimizer or optimizers.sgd(0.03),
                        key=jax.random.key(key), epochs=epochs, batch_size=32, metric=None, callbacks=(), loop=loop,
                        **kw)


def test_sgd_update_is_params_minus_lr_times_grads():
    params = {"W": jnp.array([1.0, 2.0]), "b": jnp.array(3.0)}
    grads = {"W": jnp.array([0.5, -1.0]), "b": jnp.array(2.0)}
    new = optimizers.sgd_update(params, grads, 0.1)
    np.testing.assert_allclose(new["W"], [0.95, 2.1], rtol=1e-7)
    np.testing.assert_allclose(new["b"], 2.8, rtol=1e-7)


def test_hand_written_sgd_equals_optax_sgd():
    hand = _fit_linreg(optimizers.sgd(0.03))
    optax_run = _fit_linreg(optimizers.optax_sgd(0.03))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), hand.params, optax_run.params)
    np.testing.assert_allclose(hand.history.train_loss, optax_run.history.train_loss, rtol=1e-6)


def test_linear_regression_recovers_w_and_b():
    params, state, history = _fit_linreg()
    np.testing.assert_allclose(params["W"].ravel(), [2.0, -3.4], atol=0.3)
    assert history.val_loss[-1] < history.val_loss[0] < 10
    assert state is None  # a model without layer state


def test_scan_epoch_equals_python_loop():
    scan, loop = _fit_linreg(loop="scan"), _fit_linreg(loop="python")
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), scan.params, loop.params)
    np.testing.assert_allclose(scan.history.train_loss, loop.history.train_loss, rtol=1e-5)
    np.testing.assert_allclose(scan.history.val_loss, loop.history.val_loss, rtol=1e-5)


@pytest.mark.parametrize("options", [dict(reduction="sum"), dict(penalty=lambda p: 0.5 * jnp.sum(p["W"] ** 2))],
                         ids=["sum", "penalty"])
def test_python_loop_honours_reduction_and_penalty(options):
    scan = _fit_linreg(loop="scan", optimizer=optimizers.sgd(0.001), **options)
    loop = _fit_linreg(loop="python", optimizer=optimizers.sgd(0.001), **options)
    np.testing.assert_allclose(loop.history.train_loss, scan.history.train_loss, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), scan.params, loop.params)
    plain = _fit_linreg(loop="python", optimizer=optimizers.sgd(0.001)).history
    assert not np.allclose(loop.history.train_loss[1:], plain.train_loss[1:], rtol=1e-3)


def test_step_and_epoch_default_to_the_mean_over_the_minibatch():
    ds = data.synthetic_regression(jax.random.key(0))
    params = _linreg_params()
    opt = optimizers.sgd(0.03)
    rows, mask = jnp.arange(8), jnp.ones(8)
    *_, value = training.make_train_step(LINREG, losses.squared_loss, opt)(params, None, opt.init(params), ds.X_train,
                                                                           ds.y_train, rows, mask)
    expected = losses.squared_loss(LINREG(params, ds.X_train[:8]), ds.y_train[:8]).mean()
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    *_, values = training.make_train_epoch(LINREG, losses.squared_loss, opt)(params, None, opt.init(params),
                                                                             ds.X_train, ds.y_train, rows[None],
                                                                             mask[None])
    np.testing.assert_allclose(values[0], expected, rtol=1e-6)


@pytest.mark.parametrize("loop, scans", [("scan", 1), ("python", 0)])
def test_each_loop_compiles_its_own_program(monkeypatch, loop, scans):
    """scan compiles the whole epoch into one lax.scan; python compiles one step and loops over it."""
    traced = []
    real = jax.lax.scan

    def recording_scan(*args, **kwargs):
        traced.append(loop)
        return real(*args, **kwargs)

    monkeypatch.setattr(jax.lax, "scan", recording_scan)
    assert _fit_linreg(loop=loop, epochs=2).history.epochs == 2
    assert len(traced) == scans  # once for the whole run, or never


def test_partial_last_batch_averages_only_its_real_examples():
    objective = training.make_objective(LINREG, losses.squared_loss)
    params = {"W": jnp.zeros((1, 1)), "b": jnp.zeros(1)}
    X, y = jnp.zeros((4, 1)), jnp.array([[2.0], [4.0], [100.0], [100.0]])
    value, state = objective(params, None, X, y, jnp.array([1.0, 1.0, 0.0, 0.0]))
    assert float(value) == pytest.approx((2 + 8) / 2) and state is None
    summed = training.make_objective(LINREG, losses.squared_loss, reduction="sum")
    assert float(summed(params, None, X, y, jnp.array([1.0, 1.0, 0.0, 0.0]))[0]) == pytest.approx(2 + 8)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        training.make_objective(LINREG, losses.squared_loss, reduction="max")


def _separable_classification(n=60):
    """3 classes of 4x4 uint8 images: class c is bright in row c, so softmax regression can learn it."""
    y = jnp.arange(n) % 3
    noise = jax.random.randint(jax.random.key(0), (n, 4, 4), 0, 60)
    X = (noise + 180 * (jnp.arange(4)[None, :, None] == y[:, None, None])).astype(jnp.uint8)
    return Dataset(X[:45], y[:45], X[45:], y[45:])


def test_classification_fit_tracks_accuracy():
    ds = _separable_classification()
    model = models.softmax_regression(3)
    params = models.init(model, jax.random.key(0), (1, 4, 4))
    fitted, _, history = training.fit(model, losses.softmax_cross_entropy, params, ds, optimizers.sgd(0.5),
                                      key=jax.random.key(1), epochs=4, batch_size=8, callbacks=())
    # the history holds accuracy and loss of the parameters after each epoch, computed as by hand here
    logits = model(fitted, ds.X_val.astype(jnp.float32) / 255)
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


def test_one_value_per_example_is_refused_as_inputs_the_model_cannot_take():
    ds = data.synthetic_regression(jax.random.key(0))
    ds = ds._replace(X_train=ds.X_train[:, 0], X_val=ds.X_val[:, 0])  # (n,): no feature axis
    with pytest.raises(ValueError, match=r"^the model cannot take inputs of shape \(\) with these parameters"):
        training.check_inputs(LINREG, _linreg_params(), ds, losses.squared_loss)


def test_a_model_that_fails_in_training_mode_with_the_steps_rng_is_refused_before_compiling(monkeypatch):
    from jaxdl import nn

    def needs_a_mask(params, state, X, *, train=False, rng=None):
        if train:
            X = X * rng  # a key is not a mask: fails in training only
        return X, state

    monkeypatch.setattr(training, "_compile", lambda *a, **kw: pytest.fail("compiled"))
    model = nn.serial(nn.Layer(lambda key, shape: (shape, (), None), needs_a_mask, "Masks", False, True),
                      nn.linear(1))
    with pytest.raises(ValueError, match=r"^the model fails in training mode on a minibatch with the step's rng \("):
        training.fit(model, losses.squared_loss, models.init(model, jax.random.key(0), (1, 2)),
                     data.synthetic_regression(jax.random.key(0)), optimizers.sgd(0.03), key=jax.random.key(1),
                     epochs=1, batch_size=32, metric=None, step_rng=jax.random.key(2), callbacks=())
