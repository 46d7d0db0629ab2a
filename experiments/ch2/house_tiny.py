"""d2l 2.2's tiny house CSV and its pandas pipeline (dummies, mean imputation), shared by the experiment and its
PyTorch generator: the same pandas steps, so that what pandas computes here is compared with what it computed
there. Needs pandas alone."""

from __future__ import annotations

from typing import Any

import pandas as pd

# d2l 2.2 writes this file to ../data/house_tiny.csv.
HOUSE_TINY_CSV = """NumRooms,RoofType,Price
NA,NA,127500
2,NA,106000
4,Slate,178100
NA,NA,140000"""


def pandas_steps(data: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame, pd.Series]:
    """One-hot encodes RoofType (NaN as its own category) and fills NumRooms with its mean.

    Returns what d2l prints at each step, the final inputs frame and the targets.
    """
    inputs, targets = data.iloc[:, 0:2], data.iloc[:, 2]
    dummies = pd.get_dummies(inputs, dummy_na=True)
    imputed = dummies.fillna(dummies.mean())
    steps = {
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
    }
    return steps, imputed, targets
