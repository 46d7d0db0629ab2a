"""PyTorch (and pandas) reference numbers for d2l 2.2 Data preprocessing, computed as d2l 1.0.3 does."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import torch

from experiments.ch2.house_tiny import HOUSE_TINY_CSV, pandas_steps
from experiments.harness.torch_d2l import tensor_record


def preprocessing() -> dict[str, Any]:
    """d2l 2.2 Data preprocessing: the frames and tensors the book prints."""
    steps, imputed, targets = pandas_steps(pd.read_csv(io.StringIO(HOUSE_TINY_CSV)))
    X = torch.tensor(imputed.to_numpy(dtype=float))
    y = torch.tensor(targets.to_numpy(dtype=float))
    return {
        "pandas_version": pd.__version__,
        "csv": HOUSE_TINY_CSV,
        **steps,
        "X": tensor_record(X),
        "y": tensor_record(y),
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch2_2_preprocessing": preprocessing()}
