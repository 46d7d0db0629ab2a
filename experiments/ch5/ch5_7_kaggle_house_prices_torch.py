"""PyTorch reference numbers for d2l 5.7 (predicting house prices on Kaggle), computed as d2l 1.0.3 does.

The CSVs come from jaxdl.datasets.kaggle_house's loader (checked against d2l's SHA-1s); everything after that is d2l's
own code re-created with pandas and torch: KaggleHouse.preprocess, get_dataloader, k_fold_data, k_fold with
d2l.LinearRegression (nn.LazyLinear(1), nn.MSELoss, torch.optim.SGD) and d2l.Trainer(max_epochs=10).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from experiments.harness import replay as draws
from jaxdl.datasets import kaggle_house

LABEL = "SalePrice"
BATCH_SIZE, LR, EPOCHS, K = 64, 0.01, 10, 5
REPLAY_SEED = 57
BOOK_SEEDS = tuple(range(20))  # a whole k-fold run takes well under a second
SHOW_ROW = 0  # the training row stored in full beside the hashes
SHOW_WEIGHTS = 16  # final weights stored in full per fold, beside their norm and sum

# Exercises: learning rates swept with d2l's k-fold (a few torch seeds each), and training without standardisation.
SWEEP_LRS = (0.003, 0.01, 0.03, 0.1)
SWEEP_SEEDS = (0, 1, 2)
RAW_STEPS = 20  # replay steps kept for the unstandardised features (the loss overflows within them)


# ----------------------------------------------------------------------------- d2l's data module


def d2l_preprocess(raw_train: pd.DataFrame, raw_val: pd.DataFrame,
                   standardize: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """d2l 1.0.3's KaggleHouse.preprocess: returns (train with SalePrice, val) as d2l stores them."""
    features = pd.concat((raw_train.drop(columns=["Id", LABEL]), raw_val.drop(columns=["Id"])))
    # d2l: features.dtypes[features.dtypes != 'object'].index, the numeric columns under pandas 2; pandas 3
    # reads text columns as "str", not "object", so the same selection is asked for by kind.
    numeric_features = features.select_dtypes(include="number").columns
    if standardize:
        features[numeric_features] = features[numeric_features].apply(lambda x: (x - x.mean()) / (x.std()))
    features[numeric_features] = features[numeric_features].fillna(0)
    features = pd.get_dummies(features, dummy_na=True)
    train = features[: raw_train.shape[0]].copy()
    train[LABEL] = raw_train[LABEL]
    val = features[raw_train.shape[0] :].copy()
    return train, val


def get_tensor(x: pd.DataFrame | pd.Series) -> torch.Tensor:
    """d2l's get_tensor: torch.tensor(x.values.astype(float), dtype=torch.float32)."""
    return torch.tensor(x.values.astype(float), dtype=torch.float32)


def tensors(data: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    """d2l's get_dataloader tensors: the features and the log prices (N, 1)."""
    return get_tensor(data.drop(columns=[LABEL])), torch.log(get_tensor(data[LABEL])).reshape((-1, 1))


def k_fold_data(train: pd.DataFrame, k: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """d2l's k_fold_data: (train, val) tables per fold."""
    rets = []
    fold_size = train.shape[0] // k
    for j in range(k):
        idx = range(j * fold_size, (j + 1) * fold_size)
        rets.append((train.drop(index=idx), train.loc[idx]))
    return rets


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


# ----------------------------------------------------------------------------- d2l's model and trainer


class LinearRegression(nn.Module):
    """d2l 3.5's concise LinearRegression as written: the normal_/fill_ on a lazy layer change nothing, the
    first forward pass initialises it with nn.Linear's default U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self):
        super().__init__()
        self.net = nn.LazyLinear(1)
        self.net.weight.data.normal_(0, 0.01)
        self.net.bias.data.fill_(0)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)


def mse(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d2l.LinearRegression.loss: nn.MSELoss()."""
    return nn.MSELoss()(y_hat, y)


def val_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """The number d2l's board shows for an epoch: the mean of the per-batch mean losses over the validation
    loader (batches of 64, not shuffled; the last one smaller)."""
    with torch.no_grad():
        losses = [mse(model(Xb), yb).item() for Xb, yb in
                  torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), BATCH_SIZE, shuffle=False)]
    return float(np.mean(np.float32(losses)))


def val_log_rmse(model: nn.Module, X: torch.Tensor, price: np.ndarray) -> float:
    """The competition's log-RMSE of the fold's predicted prices (clamped to 1 first)."""
    with torch.no_grad():
        price_hat = torch.exp(model(X)).numpy()
    return kaggle_house.log_rmse(price_hat, price)


def fit_fold(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Any, X_val: torch.Tensor,
             y_val: torch.Tensor) -> dict[str, Any]:
    """d2l.Trainer.fit for one fold: `batches(epoch)` yields the epoch's minibatches; records every step's
    loss and d2l's validation loss after every epoch."""
    steps, vals = [], []
    for epoch in range(EPOCHS):
        model.train()
        for X, y in batches(epoch):
            loss = mse(model(X), y)
            optimizer.zero_grad()
            with torch.no_grad():
                loss.backward()
                optimizer.step()
            steps.append(loss.item())
        model.eval()
        vals.append(val_loss(model, X_val, y_val))
    return {"step_losses": np.float32(steps), "val_loss": np.float32(vals)}


# ----------------------------------------------------------------------------- references


def preprocessing(train: pd.DataFrame, val: pd.DataFrame) -> dict[str, Any]:
    """The preprocessed matrices as hashes of their float32 bytes, column sums, two rows and the column names."""
    X_train, y_train = tensors(train)
    X_test = get_tensor(val)
    X_tr, X_te, y = X_train.numpy(), X_test.numpy(), y_train.numpy()
    return {
        "columns": list(train.drop(columns=[LABEL]).columns),
        "shapes": {"X_train": X_tr.shape, "X_test": X_te.shape, "y_train": y.shape},
        "sha256": {"X_train": _sha256(X_tr), "X_test": _sha256(X_te), "y_train": _sha256(y)},
        "column_sums": {"X_train": X_tr.astype(np.float64).sum(0), "X_test": X_te.astype(np.float64).sum(0)},
        "row": {"index": SHOW_ROW, "X_train": X_tr[SHOW_ROW], "X_test": X_te[SHOW_ROW]},
        "y_train_sum": y.astype(np.float64).sum(),
    }


def replay(train: pd.DataFrame, val: pd.DataFrame, steps: int | None = None) -> dict[str, Any]:
    """d2l's k-fold training with every fold's initial parameters and epoch orders drawn by
    np.random.default_rng(REPLAY_SEED): fold by fold, the init, then one permutation per epoch."""
    rng = np.random.default_rng(REPLAY_SEED)
    X_test = get_tensor(val)
    folds, preds, h_init, h_orders = [], [], hashlib.sha256(), hashlib.sha256()
    for fold_train, fold_val in k_fold_data(train, K):
        X, y = tensors(fold_train)
        X_val, y_val = tensors(fold_val)
        (W0, b0), orders = draws.fold_draws(rng, X.shape[1], X.shape[0], EPOCHS)
        h_init.update(W0.tobytes() + b0.tobytes())
        for order in orders:
            h_orders.update(order.astype(np.int64).tobytes())
        model = LinearRegression()
        model(X[:1])  # create the lazy layer, then overwrite its parameters
        with torch.no_grad():
            model.net.weight.copy_(torch.from_numpy(W0))
            model.net.bias.copy_(torch.from_numpy(b0))
        optimizer = torch.optim.SGD(model.parameters(), LR)

        def batches(epoch: int):
            order = torch.from_numpy(orders[epoch])
            for start in range(0, len(order), BATCH_SIZE):
                rows = order[start : start + BATCH_SIZE]
                yield X[rows], y[rows]

        if steps is not None:  # only the first steps (the unstandardised exercise)
            losses = []
            for epoch in range(EPOCHS):
                for Xb, yb in batches(epoch):
                    if len(losses) == steps:
                        break
                    loss = mse(model(Xb), yb)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())
            folds.append({"step_losses": np.float32(losses)})
            break
        record = fit_fold(model, optimizer, batches, X_val, y_val)
        record["val_log_rmse"] = val_log_rmse(model, X_val, fold_val[LABEL].to_numpy())
        weight = model.net.weight.detach().numpy().copy()
        record["final"] = {"weight_first": weight[0, :SHOW_WEIGHTS],
                           "weight_norm": np.linalg.norm(weight.astype(np.float64)),
                           "weight_sum": weight.astype(np.float64).sum(),
                           "bias": model.net.bias.detach().numpy().copy()}
        with torch.no_grad():
            preds.append(model(X_test))
        folds.append(record)
    out = {"seed": REPLAY_SEED, "init_sha256": h_init.hexdigest(), "orders_sha256": h_orders.hexdigest(),
           "folds": folds}
    if preds:
        price = torch.exp(torch.cat(preds, 1)).mean(1).numpy()
        out["submission"] = {"sum": price.astype(np.float64).sum(), "first": price[:8]}
    return out


def book_run(train: pd.DataFrame, val: pd.DataFrame, seed: int, lr: float = LR) -> dict[str, Any]:
    """d2l's k_fold(trainer, data, k=5, lr) under torch.manual_seed(seed): its own init and DataLoader shuffles."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    X_test = get_tensor(val)
    vals, rmses, train_epoch_loss, preds = [], [], [], []
    for fold_train, fold_val in k_fold_data(train, K):
        X, y = tensors(fold_train)
        X_val, y_val = tensors(fold_val)
        model = LinearRegression()
        optimizer = torch.optim.SGD(model.parameters(), lr)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), BATCH_SIZE, shuffle=True)
        record = fit_fold(model, optimizer, lambda epoch: loader, X_val, y_val)
        vals.append(record["val_loss"])
        rmses.append(val_log_rmse(model, X_val, fold_val[LABEL].to_numpy()))
        train_epoch_loss.append(record["step_losses"].reshape(EPOCHS, -1).mean(1))
        with torch.no_grad():
            preds.append(model(X_test))
    price = torch.exp(torch.cat(preds, 1)).mean(1).numpy()
    final = [v[-1] for v in vals]
    return {
        "seed": seed,
        "average_val_log_mse": float(np.mean(final)),
        "final_val_loss": np.float32(final),  # per fold, d2l's board value after the last epoch
        "val_log_rmse": np.float64(rmses),
        "first_fold_val_loss": vals[0],  # per epoch, for the plot of d2l's first fold
        "first_fold_epoch_train_loss": train_epoch_loss[0],
        "submission_mean_price": price.astype(np.float64).mean(),
        "timing": time.perf_counter() - start,
    }


def generate() -> dict[str, dict]:
    raw_train, raw_val = kaggle_house.load()
    train, val = d2l_preprocess(raw_train, raw_val)
    raw_train_features, _ = d2l_preprocess(raw_train, raw_val, standardize=False)
    books = [book_run(train, val, seed) for seed in BOOK_SEEDS]
    return {
        "ch5_7_kaggle_house_prices": {
            "hyperparameters": {"batch_size": BATCH_SIZE, "lr": LR, "epochs": EPOCHS, "k": K},
            "preprocessing": preprocessing(train, val),
            "replay": replay(train, val),
            "book": {"seeds": list(BOOK_SEEDS),
                     **{key: [b[key] for b in books] for key in books[0] if key != "seed"}},
        },
        "ch5_7_kaggle_house_prices_exercises": {
            "lr_sweep": {
                "lrs": list(SWEEP_LRS),
                "seeds": list(SWEEP_SEEDS),
                "average_val_log_mse": [[book_run(train, val, s, lr)["average_val_log_mse"] for s in SWEEP_SEEDS]
                                        for lr in SWEEP_LRS],
            },
            "unstandardized_replay": replay(raw_train_features, val, steps=RAW_STEPS),
        },
    }
