"""Each chapter 3 experiment module runs in fast mode, passes all its comparisons and saves its figures."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from experiments.common import execute

# module name -> figures it must save
MODULES = {
    "ch3_1_linear_regression": ("normal_densities.png",),
    "ch3_1_exercises": ("outlier_fits.png",),
    "ch3_2_oo_design": ("progress_board.png", "trainer_history.png"),
    "ch3_3_synthetic_data": ("noise_histogram.png",),
    "ch3_4_linear_regression_scratch": ("training_loss.png",),
    "ch3_4_exercises": ("exercise_losses.png",),
    "ch3_5_linear_regression_concise": ("training_loss.png", "training_loss_default_init.png"),
}


@pytest.mark.parametrize("name", MODULES)
def test_experiment_passes_in_fast_mode(name: str, tmp_path: Path):
    module = importlib.import_module(f"experiments.{name}")
    result = execute(module.SECTION, module.TITLE, module.run, tmp_path, fast=True)
    failed = [f"{c.quantity}: {c.jaxdl} vs {c.reference}" for c in result.comparisons if not c.passed]
    assert result.comparisons and result.passed, failed
    assert result.blocks
    assert all(path.exists() and path.stat().st_size > 0 for path in result.figures)
    assert sorted(path.name for path in result.figures) == sorted(MODULES[name])
