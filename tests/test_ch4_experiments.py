"""Each chapter 4 experiment module runs in fast mode, passes all its comparisons and saves its figures."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from experiments.common import execute

# module name -> figures it must save; all but 4.1 and 4.3 read the real Fashion-MNIST
MODULES = {
    "ch4_1_softmax_regression": (),
    "ch4_2_image_classification_dataset": ("fashion_mnist_examples.png",),
    "ch4_3_base_classification": (),
    "ch4_4_softmax_regression_scratch": ("softmax_scratch_misclassified.png", "softmax_scratch_training.png"),
    "ch4_4_exercises": ("softmax_scratch_learning_rates.png",),
    "ch4_5_softmax_regression_concise": ("softmax_concise_training.png",),
}


WITHOUT_DATA = ("ch4_1_softmax_regression", "ch4_3_base_classification")


@pytest.mark.parametrize(
    "name", [name if name in WITHOUT_DATA else pytest.param(name, marks=pytest.mark.slow) for name in MODULES]
)
def test_experiment_passes_in_fast_mode(name: str, tmp_path: Path):
    module = importlib.import_module(f"experiments.{name}")
    result = execute(module.SECTION, module.TITLE, module.run, tmp_path, fast=True)
    failed = [f"{c.quantity}: {c.jaxdl} vs {c.reference}" for c in result.comparisons if not c.passed]
    assert result.comparisons and result.passed, failed
    assert result.blocks
    assert all(path.exists() and path.stat().st_size > 0 for path in result.figures)
    assert sorted(path.name for path in result.figures) == sorted(MODULES[name])
