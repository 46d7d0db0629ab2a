"""PyTorch (and pandas) reference numbers for d2l 2.2 Data preprocessing, computed as d2l 1.0.3 does."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import torch

from experiments.harness.torch_d2l import tensor_record


# d2l 2.2 writes this file to ../data/house_tiny.csv; the generator keeps it in memory.
HOUSE_TINY_CSV = """NumRooms,RoofType,Price
NA,NA,127500
2,NA,106000
4,Slate,178100
NA,NA,140000"""


def preprocessing() -> dict[str, Any]:
    """d2l 2.2 Data preprocessing: the frames and tensors the book prints."""
    data = pd.read_csv(io.StringIO(HOUSE_TINY_CSV))
    inputs, targets = data.iloc[:, 0:2], data.iloc[:, 2]
    dummies = pd.get_dummies(inputs, dummy_na=True)
    imputed = dummies.fillna(dummies.mean())
    X = torch.tensor(imputed.to_numpy(dtype=float))
    y = torch.tensor(targets.to_numpy(dtype=float))
    return {
        "pandas_version": pd.__version__,
        "csv": HOUSE_TINY_CSV,
        "data": {
            "columns": list(data.columns),
            "NumRooms": data["NumRooms"].to_numpy(),
            "RoofType_isna": data["RoofType"].isna().to_numpy(),
            "Price": data["Price"].to_numpy(),
        },
        "dummies": {
            "columns": list(dummies.columns),
            "dtypes": [str(t) for t in dummies.dtypes],
            "values": dummies.to_numpy(dtype=float),
        },
        "column_means": dummies.mean().to_numpy(dtype=float),
        "imputed": {"columns": list(imputed.columns), "values": imputed.to_numpy(dtype=float)},
        "X": tensor_record(X),
        "y": tensor_record(y),
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch2_2_preprocessing": preprocessing()}
