"""PyTorch reference numbers for d2l 4.3 The base classification model, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from experiments.harness.torch_d2l import one_thread


def accuracy(Y_hat: torch.Tensor, Y: torch.Tensor, averaged: bool = True) -> torch.Tensor:
    """d2l 4.3's Classifier.accuracy."""
    Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
    preds = Y_hat.argmax(axis=1).type(Y.dtype)
    compare = (preds == Y.reshape(-1)).type(torch.float32)
    return compare.mean() if averaged else compare


def base_classification() -> dict[str, Any]:
    """d2l 4.3: accuracy of fixed predictions (the 4.4 example, a tie, random logits from a NumPy seed)."""
    rng = np.random.default_rng(43)
    logits = rng.normal(size=(100, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=100)
    cases = {
        "book": (torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]), torch.tensor([0, 2])),
        # torch.argmax returns the first of tied maxima, so the tie is predicted as class 0.
        "tie": (torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]]), torch.tensor([1, 1])),
        "random": (torch.from_numpy(logits), torch.from_numpy(labels)),
    }
    out = {}
    for name, (Y_hat, Y) in cases.items():
        out[name] = {
            "accuracy": accuracy(Y_hat, Y),
            "correct": accuracy(Y_hat, Y, averaged=False),
            "preds": Y_hat.argmax(axis=1),
        }
        if name != "random":
            out[name] |= {"Y_hat": Y_hat, "Y": Y}
    out["random"] |= {"seed": 43}
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch4_3_base_classification": base_classification()}
