"""Chapter 3 against the stored PyTorch runs: step-by-step replays, gradients at init, the book bands, and
finite-difference checks of the linear model's objectives. Runs without torch."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from experiments.ch3 import ch3_4_linear_regression_scratch_exercises as ch3_4_exercises
from experiments.ch3 import ch3_4_linear_regression_scratch as scratch
from experiments.ch3 import ch3_5_linear_regression_concise as concise
from jaxdl import losses, models, nn, optimizers, training
from experiments.harness import references
from experiments.ch3 import linear_regression
from experiments.harness import bands

STEP_RTOL = scratch.TOLERANCES["replay steps"].rtol
PARAM_ATOL = scratch.TOLERANCES["replay parameters"].atol


@pytest.fixture(scope="module")
def scratch_ref():
    return references.load(scratch.REFERENCE)


@pytest.fixture(scope="module")
def replay_setup(scratch_ref):
    stored = scratch_ref["replay_data"]
    return scratch.replay_dataset(stored), np.asarray(stored["orders"])


def assert_replay_matches(run: linear_regression.ReplayRun, ref: dict) -> None:
    np.testing.assert_allclose(run.step_losses, ref["step_losses"], rtol=STEP_RTOL)
    np.testing.assert_allclose(run.val_loss, ref["val_loss"], rtol=STEP_RTOL)
    np.testing.assert_allclose(np.ravel(run.params["W"]), np.ravel(ref["final"]["w"]), rtol=0, atol=PARAM_ATOL)
    np.testing.assert_allclose(np.ravel(run.params["b"]), np.ravel(ref["final"]["b"]), rtol=0, atol=PARAM_ATOL)


def test_replay_data_is_what_the_reference_says(scratch_ref, replay_setup):
    dataset, orders = replay_setup
    assert dataset.X_train.shape == (1000, 2) and dataset.y_val.shape == (1000, 1)
    assert orders.shape == (3, 1000)
    for order in orders:  # each epoch visits every training example once
        np.testing.assert_array_equal(np.sort(order), np.arange(1000))
    assert len(scratch_ref["replay_hand_sgd"]["step_losses"]) == 3 * 32


def test_each_stored_trajectory_is_replayed_with_its_own_optimizer():
    assert scratch.REPLAYS == {"replay_hand_sgd": ("optimizers.sgd (hand-written)", optimizers.sgd),
                               "replay_torch_optim_sgd": ("optimizers.optax_sgd", optimizers.optax_sgd)}


def test_the_two_stored_trajectories_agree_to_rounding_so_the_pairing_is_pinned_by_name(scratch_ref):
    # d2l's `param -= lr * grad` and torch.optim.SGD compute the same update: their stored losses differ by
    # float32 rounding only, far inside the replay's rtol, so a mix-up could not fail a comparison. That is
    # why REPLAYS names each pairing (test above) and why a wrong optimizer is caught instead (test below).
    hand, torch_sgd = (np.asarray(scratch_ref[k]["step_losses"]) for k in ("replay_hand_sgd", "replay_torch_optim_sgd"))
    assert np.max(np.abs(hand - torch_sgd) / np.abs(torch_sgd)) < 1e-6 < STEP_RTOL


@pytest.mark.parametrize("scale", [0.999, 1.001])
def test_the_replay_fails_for_an_optimizer_a_tenth_of_a_percent_off(scratch_ref, replay_setup, scale):
    from experiments.harness.result import Result

    dataset, orders = replay_setup
    init = scratch.linreg_params(scratch_ref["init"]["w"], scratch_ref["init"]["b"])
    run = scratch.replay(models.linear_regression(), losses.squared_loss, init, dataset, orders,
                         optimizers.sgd(scratch.LR * scale))
    for key in scratch.REPLAYS:
        result = Result("3.4", "replay", Path("."))
        scratch.compare_replay(result, "replay", run, scratch_ref[key])
        assert not result.passed


@pytest.mark.parametrize(
    "make_optimizer, key",
    [(optimizers.sgd, "replay_hand_sgd"), (optimizers.optax_sgd, "replay_torch_optim_sgd")],
    ids=["hand-written-sgd", "optax-sgd"],
)
def test_scratch_replay_matches_torch_at_every_step(scratch_ref, replay_setup, make_optimizer, key):
    dataset, orders = replay_setup
    init = scratch.linreg_params(scratch_ref["init"]["w"], scratch_ref["init"]["b"])
    run = scratch.replay(models.linear_regression(), losses.squared_loss, init, dataset, orders,
                         make_optimizer(scratch.LR))
    assert_replay_matches(run, scratch_ref[key])


def test_concise_replay_with_mse_and_optax_sgd_matches_torch(replay_setup):
    ref = references.load(concise.REFERENCE)
    dataset, orders = replay_setup
    params = concise.params_from_torch(ref["init"]["weight"], ref["init"]["bias"])
    run = scratch.replay(concise.MODEL, concise.mse, params, dataset, orders, optimizers.optax_sgd(scratch.LR))
    assert_replay_matches(run, ref["replay_torch_optim_sgd"])


@pytest.mark.parametrize("name", [name for name in ch3_4_exercises.RUNS if name != "lr_0.03"])
def test_exercise_replay_matches_torch_at_every_step(replay_setup, name):
    spec = references.load(ch3_4_exercises.REFERENCE)["runs"][name]
    loss, reduction, _ = ch3_4_exercises.RUNS[name]
    dataset, orders = replay_setup
    run, value, grads = ch3_4_exercises.run_exercise(spec, loss, reduction, dataset, orders)
    assert_replay_matches(run, spec)
    np.testing.assert_allclose(value, spec["grads_at_init"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(grads["W"].T, spec["grads_at_init"]["grads"]["w"], rtol=1e-5)
    np.testing.assert_allclose(grads["b"], spec["grads_at_init"]["grads"]["b"], rtol=1e-5)


def test_gradients_at_init_equal_torch_gradients(scratch_ref, replay_setup):
    dataset, orders = replay_setup
    init = scratch.linreg_params(scratch_ref["init"]["w"], scratch_ref["init"]["b"])
    objective = training.make_objective(models.linear_regression(), losses.squared_loss)
    value, grads = scratch.first_batch_grads(objective, init, dataset, orders[0])
    torch = scratch_ref["grads_at_init"]
    np.testing.assert_allclose(value, torch["loss"], rtol=1e-5)
    np.testing.assert_allclose(grads["W"].T, torch["grads"]["w"], rtol=1e-5)
    np.testing.assert_allclose(grads["b"], torch["grads"]["b"], rtol=1e-5)

    ref = references.load(concise.REFERENCE)
    params = concise.params_from_torch(ref["init"]["weight"], ref["init"]["bias"])
    objective = training.make_objective(concise.MODEL, concise.mse)
    value, grads = scratch.first_batch_grads(objective, params, dataset, orders[0])
    np.testing.assert_allclose(value, ref["grads_at_init"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(grads["W"], ref["grads_at_init"]["grads"]["net.weight"], rtol=1e-5)
    np.testing.assert_allclose(grads["b"], ref["grads_at_init"]["grads"]["net.bias"], rtol=1e-5)


def test_mse_is_twice_the_squared_loss():
    y_hat, y = jnp.array([[1.0], [2.5], [-1.0]]), jnp.array([0.5, 2.0, 1.0])
    np.testing.assert_allclose(concise.mse(y_hat, y), 2 * losses.squared_loss(y_hat, y), rtol=1e-7)
    np.testing.assert_allclose(concise.mse(y_hat, y), [0.25, 0.25, 4.0], rtol=1e-7)


# section -> (reference file, its band key, init, model, loss, optimizer)
BOOK_RUNS = {
    "3.4": (scratch.REFERENCE, "book", lambda k: models.init(models.linear_regression(sigma=0.01), k, (1, 2)),
            models.linear_regression(), losses.squared_loss, optimizers.sgd(scratch.LR)),
    "3.5": (concise.REFERENCE, "book_intended_init", concise.init, concise.MODEL, concise.mse,
            optimizers.optax_sgd(scratch.LR)),
}


@pytest.mark.parametrize("section", BOOK_RUNS)
def test_book_runs_fall_in_the_band_of_torch_seeds_by_the_mean_of_the_keys(section):
    reference, band, init, model, loss, optimizer = BOOK_RUNS[section]
    runs = references.load(reference)[band]
    keys = [jax.random.key(i) for i in range(linear_regression.NUM_KEYS)]
    quantities = []
    for params, history in linear_regression.own_runs(keys, init, model, loss, optimizer):
        w_error, b_error = linear_regression.parameter_errors(params)
        quantities.append(linear_regression.book_quantities(history.epoch_train_loss()[-1], history.val_loss[-1], w_error,
                                                  b_error))
    theirs = linear_regression.torch_book_quantities(runs)
    assert len(runs) == 20 and linear_regression.NUM_KEYS == 8
    for name in theirs:
        low, high = bands.band(theirs[name], sds=linear_regression.BAND_SDS)
        mean = np.mean([q[name] for q in quantities])
        assert low <= mean <= high, (name, mean, low, high)


def test_own_runs_trained_together_are_each_key_trained_alone():
    init, model, loss, optimizer = BOOK_RUNS["3.4"][2:]
    keys = [jax.random.key(i) for i in range(3)]
    together = linear_regression.own_runs(keys, init, model, loss, optimizer)
    for key, (params, history) in zip(keys, together):
        alone_params, alone = linear_regression.own_run(key, init, model, loss, optimizer)
        np.testing.assert_allclose(history.train_loss, alone.train_loss, rtol=1e-5)
        np.testing.assert_allclose(params["W"], alone_params["W"], atol=1e-6)


def test_book_band_is_wider_than_the_seeds_by_the_stated_margin():  # 3.4's band: sds=
    values = np.array([1.0, 2.0, 3.0, 4.0])
    low, high = bands.band(values, sds=linear_regression.BAND_SDS)
    margin = linear_regression.BAND_SDS * values.std(ddof=1)
    assert (low, high) == pytest.approx((1.0 - margin, 4.0 + margin))


def _masked_batch(dataset, size: int = 8):
    """A minibatch padded to 10 rows with `size` real ones, as the last partial batch of an epoch is."""
    rows = jnp.arange(10)
    mask = (jnp.arange(10) < size).astype(jnp.float64)
    return dataset.X_train[rows].astype(jnp.float64), dataset.y_train[rows].astype(jnp.float64), mask


OBJECTIVES = {
    "mean-squared": (training.make_objective, models.linear_regression(), losses.squared_loss),
    "mean-absolute": (training.make_objective, models.linear_regression(), losses.absolute_loss),
    "summed-absolute": (partial(training.make_objective, reduction="sum"), models.linear_regression(),
                        losses.absolute_loss),
    "mse": (training.make_objective, nn.linear(1), concise.mse),
}


@pytest.mark.parametrize("name", OBJECTIVES)
def test_linear_model_objectives_match_finite_differences(replay_setup, name):
    make, model, loss = OBJECTIVES[name]
    dataset, _ = replay_setup
    with jax.enable_x64(True):  # float64 finite differences allow tight tolerances
        X, y, mask = _masked_batch(dataset)
        params = {"W": jnp.array([[0.3, -0.2]], jnp.float64), "b": jnp.array([0.1], jnp.float64)}
        # |.| is smooth only away from a zero residual; these residuals are all far from it.
        assert np.abs(np.asarray(model(params, X) - y)).min() > 0.1
        objective = make(model, loss)
        check_grads(jax.jit(lambda p: objective(p, None, X, y, mask)[0]), (params,), order=2, modes=("fwd", "rev"),
                    atol=1e-6, rtol=1e-6)
