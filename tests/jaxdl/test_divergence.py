"""The divergence rule's parts: the messages, the threshold in force, the first bad step. How fit and fit_many
stop on it, and what TrainingDiverged carries from them, is tested on both in test_engine.py."""

from __future__ import annotations

import numpy as np

from jaxdl import divergence


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
    assert err.state is None and err.models is None


def test_the_threshold_in_force():
    assert divergence.resolve_threshold(None, -2.5) == divergence.DIVERGENCE_FACTOR * 2.5
    assert divergence.resolve_threshold(7, 1e9) == 7.0
    assert divergence.resolve_threshold(None, float("nan")) == float("inf")
    assert divergence.resolve_threshold(None, float("inf")) == float("inf")


def test_a_loss_equal_to_the_threshold_is_not_above_it():
    assert divergence.first_divergent_step(np.array([1.0, 5.0, 5.5]), 5.0) == 2
    assert divergence.first_divergent_step(np.array([1.0, 5.0]), 5.0) is None
    assert divergence.first_divergent_step(np.array([1.0, np.nan, 9.0]), 5.0) == 1
