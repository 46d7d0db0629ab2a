"""Every experiment module runs in fast mode, passes all its comparisons and writes the files it should."""

from __future__ import annotations

import pytest

from experiments.harness.runner import discover

# experiment id -> the files it writes into its output directory (figures, and 2.2's CSV)
OUTPUTS = {
    "2.1": (), "2.2": ("house_tiny.csv",), "2.3": (), "2.4": ("tangent_line.png",), "2.5": (),
    "2.5-exercises": ("second_derivative_cost.png",),
    "2.6": ("running_estimates.png",), "2.6-exercises": ("estimate_variance.png",), "2.7": (), "2.7-exercises": (),
    "3.1": ("normal_densities.png",), "3.1-exercises": ("outlier_fits.png",),
    "3.2": ("progress_board.png", "trainer_history.png"), "3.3": ("noise_histogram.png",),
    "3.4": ("training_loss.png",), "3.4-exercises": ("exercise_losses.png",),
    "3.5": ("training_loss.png", "training_loss_default_init.png"),
    "3.7": ("concise.png", "scratch.png"), "3.7-exercises": ("l1_vs_l2_weights.png", "lambda_sweep.png"),
    "4.1": (), "4.2": ("fashion_mnist_examples.png",), "4.3": (),
    "4.4": ("softmax_scratch_misclassified.png", "softmax_scratch_training.png"),
    "4.4-exercises": ("softmax_scratch_learning_rates.png",), "4.5": ("softmax_concise_training.png",),
    "5.1": ("prelu.png", "relu.png", "sigmoid.png", "tanh.png"), "5.1-exercises": ("prelu_alphas.png", "swish.png"),
    "5.2": ("band_concise.png", "band_scratch.png", "train_concise.png", "train_scratch.png"),
    "5.2-exercises": ("band_relu_2hidden.png", "band_sigmoid_2hidden.png", "sweep.png"),
    "5.6": ("band_concise.png", "band_scratch.png", "train_concise.png", "train_scratch.png"),
    "5.6-exercises": ("activation_variance.png", "band_no_dropout.png", "band_rates_0.5_0.2.png"),
    "5.3": ("computational_graph.png",),
    "5.4": ("sigmoid_gradient.png",), "5.4-exercises": ("condition_number.png", "equal_init_losses.png"),
    "5.7": ("first_fold.png", "replay_folds.png", "submission.csv"), "5.7-exercises": ("lr_sweep.png",),
    "6.1": (), "6.1-exercises": (), "6.2": (), "6.2-exercises": (), "6.3": (), "6.3-exercises": (), "6.4": (), "6.4-exercises": (), "6.5": (), "6.5-exercises": (), "6.6": (), "6.6-exercises": (), "6.7": (), "6.7-exercises": (),
    "7.2": (), "7.2-exercises": (), "7.3": (), "7.3-exercises": (), "7.4": (), "7.4-exercises": (), "7.5": (),
    "7.5-exercises": (), "7.6": (), "7.6-exercises": ("activations.png",),
    "8.5": (),
    "13.5": ("throughput.png",),
}
# These train on, or read all of, the real Fashion-MNIST: marked slow, still run by `make test` and CI.
READS_FASHION_MNIST = {"4.2", "4.4", "4.4-exercises", "4.5", "5.2", "5.2-exercises", "5.6", "5.6-exercises", "7.6", "7.6-exercises",
                       "8.5", "13.5"}

EXPERIMENTS = discover()


def test_every_experiment_is_listed_here():
    assert sorted(e.id for e in EXPERIMENTS) == sorted(OUTPUTS)


@pytest.mark.parametrize(
    "experiment",
    [pytest.param(e, id=e.id, marks=[pytest.mark.slow] if e.id in READS_FASHION_MNIST else []) for e in EXPERIMENTS],
)
def test_experiment_passes_in_fast_mode(experiment, tmp_path):
    result = experiment.run(tmp_path, fast=True)
    failed = [f"{c.quantity}: {c.jaxdl} vs {c.reference} ({c.tolerance})" for c in result.comparisons if not c.passed]
    assert result.comparisons and result.passed, failed
    assert result.blocks, "an experiment says in words what its numbers show"
    assert all(path.stat().st_size > 0 for path in result.figures)
    written = sorted(p.name for p in tmp_path.iterdir()) if tmp_path.exists() else []
    assert written == sorted(OUTPUTS[experiment.id])
