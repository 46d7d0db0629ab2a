"""The harness's replay draws (numpy only, shared by the generators and the experiments) and its book band rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.harness import bands, references, replay
from experiments.harness.result import Result

ROOT = Path(__file__).resolve().parents[2]


def test_replay_imports_numpy_and_neither_jax_nor_torch():
    code = ("import sys; import experiments.harness.replay; "
            "print(sorted(m for m in ('jax', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_mlp_draws_match_the_stored_checksums_of_52():
    for stored in references.load("ch5_2_mlp_implementation")["replay"].values():
        init, orders = replay.mlp_replay_draws(stored["seed"], stored["kind"], [784, 256, 10], stored["num_train"],
                                               stored["epochs"])
        assert replay.checksum(*(a for layer in init for a in layer)) == stored["init_checksum"]
        assert replay.checksum(*orders) == stored["orders_checksum"]


def test_softmax_draws_match_the_stored_order_checksum_of_44():
    setup = references.load("ch4_4_softmax_regression_scratch")["replay"]["setup"]
    _, orders = replay.softmax_replay_draws(setup["seed"], setup["init"], 0.01, setup["num_train"], setup["epochs"])
    assert replay.order_checksum(orders) == setup["order_checksum"]


def test_a_band_is_widened_by_a_margin_or_by_standard_deviations():
    seeds = np.array([1.0, 2.0, 3.0, 4.0])
    assert bands.band(seeds, margin=0.5) == (0.5, 4.5)
    width = 1.5 * seeds.std(ddof=1)
    assert bands.band(seeds, sds=1.5) == pytest.approx((1.0 - width, 4.0 + width))
    for kwargs in ({}, {"margin": 0.5, "sds": 1.5}):
        with pytest.raises(ValueError, match="exactly one of them"):
            bands.band(seeds, **kwargs)


def test_the_book_rule_is_the_mean_of_the_keys():
    result = Result("9.9", "t", Path("."))
    row = bands.check_mean(result, "q", [0.0, 1.0], [0.5, 0.6], margin=0.0, reference="2 seeds")
    assert row.passed and row.reference == "2 seeds; keys inside alone: 0/2"  # the mean 0.5 is inside
    assert not bands.check_one(result, "q", 0.0, [0.5, 0.6], margin=0.0, reference="2 seeds").passed
