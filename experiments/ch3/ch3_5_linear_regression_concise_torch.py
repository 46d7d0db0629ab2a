"""PyTorch reference numbers for d2l 3.5 Concise implementation of linear regression (on 3.4's replay data), computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from experiments.ch3.ch3_3_synthetic_data_torch import BATCH_SIZE
from experiments.ch3.ch3_4_linear_regression_scratch_torch import (
    book_run,
    BOOK_SEEDS,
    EPOCHS,
    grads_at_init,
    LinearRegressionConcise,
    LR,
    replay,
    replay_data,
)


def concise() -> dict[str, Any]:
    """d2l 3.5: nn.LazyLinear + nn.MSELoss + torch.optim.SGD, replayed on the 3.4 data, and the book band."""
    d = replay_data()
    w0 = np.float32(0.01) * d["w_init_standard_normal"]
    model = LinearRegressionConcise(w=w0)
    grads = grads_at_init(LinearRegressionConcise(w=w0), nn.MSELoss(), d)
    return {
        "hyperparameters": {"lr": LR, "epochs": EPOCHS, "batch_size": BATCH_SIZE, "sigma": 0.01},
        "replay_seed": d["seed"],
        "init": {"weight": w0.reshape(1, -1), "bias": np.zeros(1, np.float32)},
        "grads_at_init": grads,
        "replay_torch_optim_sgd": replay(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), LR), d),
        "book_as_run": [book_run(seed, concise="d2l") for seed in BOOK_SEEDS],
        "book_intended_init": [book_run(seed, concise="intended") for seed in BOOK_SEEDS],
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch3_5_linear_regression_concise": concise()}
