"""d2l 3.7 against the stored PyTorch runs: the L2 penalty in the loss and the decay in the optimizer, replayed
step by step; their equivalence; d2l's runs against the bands of PyTorch seeds; the exercises. Runs without torch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch3 import ch3_7_weight_decay_exercises as exercises
from experiments.ch3 import ch3_7_weight_decay as wd
from experiments.ch3.ch3_4_linear_regression_scratch import linreg_params, replay_dataset
from experiments.ch3.ch3_5_linear_regression_concise import mse
from jaxdl import losses, models, nn, optimizers
from experiments.harness import references
from experiments.ch3 import weight_decay
from experiments.harness import bands


@pytest.fixture(scope="module")
def ref():
    return references.load(wd.REFERENCE)


@pytest.fixture(scope="module")
def setup(ref):
    stored = ref["replay_data"]
    return replay_dataset(stored), np.asarray(stored["orders"]), linreg_params(ref["init"]["w"], ref["init"]["b"])


def allclose(actual, desired, tol) -> None:
    np.testing.assert_allclose(actual, desired, rtol=tol.rtol, atol=tol.atol)


def assert_matches(run, stored) -> None:
    allclose(run.step_losses, stored["step_losses"], wd.TOLERANCES["replay steps"])
    allclose(run.val_loss, stored["val_loss"], wd.TOLERANCES["epoch losses"])
    allclose(np.ravel(run.params["W"]), stored["final"]["w"], wd.TOLERANCES["final parameters"])
    allclose(np.ravel(run.params["b"]), stored["final"]["b"], wd.TOLERANCES["final parameters"])
    allclose(wd.l2_penalty(run.params), stored["l2_penalty_w"], wd.TOLERANCES["l2 penalty"])


def test_replay_data_is_d2l_high_dimensional_problem(ref, setup):
    dataset, orders, init = setup
    assert dataset.X_train.shape == (20, 200) and dataset.X_val.shape == (100, 200)
    assert orders.shape == (10, 20) and init["W"].shape == (1, 200)
    assert ref["hyperparameters"] == {"num_train": 20, "num_val": 100, "num_inputs": 200, "batch_size": 5,
                                      "lr": 0.01, "epochs": 10, "sigma": 0.01, "true_w": 0.01, "true_b": 0.05,
                                      "noise": 0.01}
    assert len(ref["replay_scratch"]["3"]["step_losses"]) == 40


@pytest.mark.parametrize("make_optimizer", [optimizers.sgd, optimizers.optax_sgd], ids=["sgd", "optax_sgd"])
@pytest.mark.parametrize("lambd", wd.LAMBDAS)
def test_scratch_penalty_replay_matches_torch_at_every_step(ref, setup, lambd, make_optimizer):
    dataset, orders, init = setup
    run, _ = wd.replay(models.linear_regression(), losses.squared_loss, init, dataset, orders, make_optimizer(wd.LR),
                       wd.scaled(wd.l2_penalty, lambd))
    assert_matches(run, ref["replay_scratch"][f"{lambd:g}"])


@pytest.mark.parametrize("lambd", wd.LAMBDAS)
def test_concise_decay_in_optax_matches_torch_weight_decay_at_every_step(ref, setup, lambd):
    dataset, orders, init = setup
    run, _ = wd.replay(nn.linear(1), mse, init, dataset, orders, wd.decayed_sgd(lambd, wd.LR))
    assert_matches(run, ref["replay_concise"][f"{lambd:g}"])


def test_lambda_changes_the_trajectory(ref):
    # the replays above would pass vacuously if the penalty did nothing
    a, b = (np.asarray(ref["replay_scratch"][k]["step_losses"]) for k in ("0", "3"))
    assert np.abs(a - b).max() > 1e-3
    assert ref["replay_scratch"]["3"]["l2_penalty_w"] < 0.5 * ref["replay_scratch"]["0"]["l2_penalty_w"]


def test_decayed_sgd_decays_the_weights_only():
    params = {"W": jnp.array([[1.0, -2.0]]), "b": jnp.array([3.0])}
    grads = {"W": jnp.array([[0.5, 0.5]]), "b": jnp.array([0.5])}
    optimizer = wd.decayed_sgd(3.0, 0.1)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    np.testing.assert_allclose(updates["W"], -0.1 * (grads["W"] + 3.0 * params["W"]), rtol=1e-6)
    np.testing.assert_allclose(updates["b"], -0.1 * grads["b"], rtol=1e-6)


def test_decay_in_the_optimizer_equals_the_penalty_in_the_loss(setup):
    dataset, orders, init = setup
    decay, _ = wd.replay(nn.linear(1), mse, init, dataset, orders, wd.decayed_sgd(3.0, wd.LR))
    penalty, _ = wd.replay(nn.linear(1), mse, init, dataset, orders, optimizers.optax_sgd(wd.LR),
                           wd.scaled(wd.l2_penalty, 3.0))
    for name in ("W", "b"):
        allclose(decay.params[name], penalty.params[name], wd.TOLERANCES["decay = penalty"])
    # the losses differ by the penalty alone: fit reports the objective it differentiates
    assert np.all(penalty.step_losses > decay.step_losses)


def test_l2_penalty_is_half_the_squared_norm_of_the_weights_only():
    params = {"W": jnp.array([[3.0, 4.0]]), "b": jnp.array([100.0])}
    assert float(wd.l2_penalty(params)) == 12.5
    assert float(weight_decay.l1_penalty(params)) == 7.0


@pytest.mark.parametrize("kind, lambd", [("scratch", 0.0), ("scratch", 3.0), ("concise", 0.0), ("concise", 3.0)])
def test_book_run_falls_in_the_band_of_torch_seeds(ref, kind, lambd):
    runs = ref[f"book_{kind}"][f"{lambd:g}"]
    assert len(runs) == 20
    params, history = wd.own_run(jax.random.key(0), kind, lambd)
    ours = wd.book_quantities(history.epoch_train_loss()[-1], history.val_loss[-1], wd.l2_penalty(params))
    for name, value in ours.items():
        theirs = [wd.book_quantities(r["epoch_train_loss"][-1], r["val_loss"][-1], r["l2_penalty_w"])[name]
                  for r in runs]
        low, high = bands.band(theirs, sds=wd.TOLERANCES["book band sds"].value)
        assert low <= value <= high, (name, value, low, high)


def test_weight_decay_shrinks_w_in_the_book_runs(ref):
    for kind in ("scratch", "concise"):
        for seed0, seed3 in zip(ref[f"book_{kind}"]["0"], ref[f"book_{kind}"]["3"]):
            assert seed3["l2_penalty_w"] < seed0["l2_penalty_w"]


def test_tolerances_are_the_stated_ones_with_reasons():
    t = wd.TOLERANCES
    assert {k: (v.rtol, v.atol) for k, v in t.items() if k != "book band sds"} == {
        "replay steps": (1e-4, 1e-11), "epoch losses": (1e-4, 0.0), "final parameters": (0.0, 1e-6),
        "l2 penalty": (1e-4, 0.0), "decay = penalty": (1e-5, 1e-9)}
    assert t["book band sds"].value == 1.5
    assert all(len(entry.why) > 20 for entry in t.values())
    assert all(exercises.TOLERANCES[k] is t[k] for k in exercises.TOLERANCES)


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_exercise_replays_match_torch(setup, penalty):
    dataset, orders, init = setup
    stored = references.load(exercises.REFERENCE)[penalty]
    fn = wd.l2_penalty if penalty == "l2" else weight_decay.l1_penalty
    for label, spec in stored.items():
        run, _ = wd.replay(models.linear_regression(), losses.squared_loss, init, dataset, orders,
                           optimizers.sgd(wd.LR), wd.scaled(fn, float(label)))
        allclose(run.step_losses, spec["step_losses"], wd.TOLERANCES["replay steps"])
        allclose(np.ravel(run.params["W"]), spec["final"]["w"], wd.TOLERANCES["final parameters"])


def test_penalty_must_be_added_by_fit(setup):
    # fit without the penalty must not reproduce lambda 3's reference
    dataset, orders, init = setup
    ref = references.load(wd.REFERENCE)["replay_scratch"]["3"]
    run, _ = wd.replay(models.linear_regression(), losses.squared_loss, init, dataset, orders, optimizers.sgd(wd.LR))
    assert not np.allclose(run.step_losses, ref["step_losses"], rtol=1e-4)
