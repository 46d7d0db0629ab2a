"""7.6's opt-in seed band: a stopped band resumes from its progress file, and only from records made with the same
settings (torch's version, batch, lr, epochs, threads)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")  # the band's generator side

from experiments.ch7 import lenet_torch  # noqa: E402


def record(seed: int, epochs: int, config: dict) -> dict:
    return {"seed": seed, "config": config, "epoch_train_loss": [1.0] * epochs, "val_loss": [0.5] * epochs,
            "val_acc": [0.7] * epochs, "epoch_seconds": [1.0] * epochs}


def test_a_band_resumes_finished_seeds_and_trains_the_rest(tmp_path, monkeypatch):
    progress = tmp_path / "progress.jsonl"
    ok = lenet_torch.config(2)
    progress.write_text(json.dumps(record(0, 2, ok)) + "\n" + json.dumps(record(1, 1, ok)) + "\n"
                        + json.dumps(record(2, 2, {**ok, "torch": "0.0"})) + "\n")
    trained = []

    def fake_run(data, seed, make_model, epochs, on_epoch):
        trained.append(seed)
        r = record(seed, epochs, ok)
        r["val_acc"] = [0.8] * epochs
        on_epoch(r)
        return r

    monkeypatch.setattr(lenet_torch, "book_run", fake_run)
    out = lenet_torch.band({}, (0, 1, 2), progress, epochs=2)
    assert trained == [1, 2]  # seed 1 stopped after one epoch; seed 2's record was made by another torch
    assert out["val_acc"] == [[0.7, 0.7], [0.8, 0.8], [0.8, 0.8]] and out["seeds"] == [0, 1, 2]
    assert lenet_torch.read_progress(progress, 2)[2]["val_acc"] == [0.8, 0.8]  # appended as it went
