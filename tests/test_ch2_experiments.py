"""Each chapter 2 experiment module runs in fast mode, passes all its comparisons and saves its figures."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from experiments.common import execute

# module name -> figures it must save
MODULES = {
    "ch2_1_ndarray": (),
    "ch2_2_preprocessing": (),
    "ch2_3_linear_algebra": (),
    "ch2_4_calculus": ("tangent_line.png",),
    "ch2_5_autodiff": (),
    "ch2_5_exercises": ("second_derivative_cost.png",),
}


@pytest.mark.parametrize("name", MODULES)
def test_experiment_passes_in_fast_mode(name: str, tmp_path: Path):
    module = importlib.import_module(f"experiments.{name}")
    result = execute(module.SECTION, module.TITLE, module.run, tmp_path, fast=True)
    failed = [c.quantity for c in result.comparisons if not c.passed]
    assert result.comparisons and result.passed, failed
    assert result.blocks
    assert all(path.exists() for path in result.figures)
    assert sorted(path.name for path in result.figures) == sorted(MODULES[name])
    if name == "ch2_2_preprocessing":
        assert (tmp_path / "house_tiny.csv").exists()
