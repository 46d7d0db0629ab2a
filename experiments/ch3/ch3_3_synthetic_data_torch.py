"""PyTorch reference numbers for d2l 3.3 Synthetic regression data, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import torch


TRUE_W = (2.0, -3.4)

TRUE_B = 4.2

NOISE = 0.01

NUM_TRAIN = NUM_VAL = 1000

BATCH_SIZE = 32


class SyntheticRegressionData:
    """d2l 3.3's data module: y = Xw + b + noise with X, noise ~ N(0, 1) from torch's RNG."""

    def __init__(self, w: torch.Tensor, b: float, noise: float = NOISE, num_train: int = NUM_TRAIN,
                 num_val: int = NUM_VAL, batch_size: int = BATCH_SIZE):
        self.w, self.b, self.num_train, self.batch_size = w, b, num_train, batch_size
        n = num_train + num_val
        self.X = torch.randn(n, len(w))
        noise = torch.randn(n, 1) * noise
        self.y = torch.matmul(self.X, w.reshape((-1, 1))) + b + noise

    def get_dataloader(self, train: bool) -> torch.utils.data.DataLoader:
        i = slice(0, self.num_train) if train else slice(self.num_train, None)
        dataset = torch.utils.data.TensorDataset(self.X[i], self.y[i])
        return torch.utils.data.DataLoader(dataset, self.batch_size, shuffle=train)


def synthetic_data() -> dict[str, Any]:
    """d2l 3.3: the first example, one batch's shapes, the number of batches, and the data's statistics."""
    torch.manual_seed(0)
    data = SyntheticRegressionData(w=torch.tensor(TRUE_W), b=TRUE_B)
    loader = data.get_dataloader(train=True)
    X, y = next(iter(loader))
    residual = data.y - data.X @ data.w.reshape(-1, 1) - data.b
    return {
        "seed": 0,
        "features_0": data.X[0],
        "label_0": data.y[0],
        "X_shape": list(data.X.shape),
        "y_shape": list(data.y.shape),
        "batch_X_shape": list(X.shape),
        "batch_y_shape": list(y.shape),
        "num_train_batches": len(loader),
        "batch_sizes": [len(xb) for xb, _ in loader],
        "num_val_batches": len(data.get_dataloader(train=False)),
        "X_mean": data.X.mean(dim=0),
        "X_var": data.X.var(dim=0),
        "residual_mean": residual.mean(),
        "residual_var": residual.var(),
        "n": data.X.shape[0],
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch3_3_synthetic_data": synthetic_data()}
