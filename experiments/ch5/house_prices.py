"""What d2l 5.7's house prices share with its exercises: the data and d2l's K-fold training (a support module,
not an experiment; the replay's NumPy draws are experiments.harness.replay's)."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import models, optimizers, training
from jaxdl.data import Dataset
from jaxdl.datasets import kaggle_house
from jaxdl.datasets.kaggle_house import HouseData
from jaxdl.losses import mse
from jaxdl.nn import Params
from jaxdl.training import History

# d2l 1.0.3: KaggleHouse(batch_size=64), d2l.Trainer(max_epochs=10), k_fold(trainer, data, k=5, lr=0.01).
BATCH_SIZE, LR, EPOCHS, K = 64, 0.01, 10, 5

# d2l.LinearRegression: one nn.LazyLinear(1) with PyTorch's default init; params {"W": (1, inputs), "b": (1,)}.
MODEL = models.linear_regression(sigma=None)


def load_data(root: Any = None, standardize: bool = True) -> HouseData:
    """The two CSVs (found or downloaded, checked against d2l's SHA-1s), preprocessed as d2l does."""
    return kaggle_house.preprocess(*kaggle_house.load(root), standardize=standardize)


def folds(data: HouseData, k: int = K) -> list[tuple[Dataset, np.ndarray]]:
    """d2l's k_fold_data as jaxdl Datasets, each with the rows it validates on."""
    out = []
    for train_rows, val_rows in kaggle_house.k_fold_indices(data.X_train.shape[0], k):
        X, y = jnp.asarray(data.X_train), jnp.asarray(data.y_train)
        out.append((Dataset(X[train_rows], y[train_rows], X[val_rows], y[val_rows]), val_rows))
    return out


def d2l_val_loss(params: Params, X: jax.Array, y: jax.Array, batch_size: int = BATCH_SIZE) -> float:
    """The validation loss d2l's board shows: the mean of the minibatch mean losses over its validation loader
    (batches of 64 in order, the last one smaller), not the mean over all examples."""
    per_example = np.asarray(mse(MODEL(params, X), y))
    batches = np.split(per_example, np.arange(batch_size, len(per_example), batch_size))
    return float(np.mean([b.mean() for b in batches]))


def train_fold(params: Params, dataset: Dataset, lr: float = LR,
               **schedule: Any) -> tuple[Params, History]:
    """d2l.Trainer.fit of d2l.LinearRegression on one fold: MSE of log prices, optax.sgd, batches of 64;
    schedule is key= and epochs= (own shuffles) or orders= (replay)."""
    params, _, history = training.fit(MODEL, mse, params, dataset, optimizers.optax_sgd(lr), batch_size=BATCH_SIZE,
                                      metric=None, callbacks=(), **schedule)
    return params, history


def k_fold(data: HouseData, train: Callable[[int, Dataset], tuple[Params, History]],
           k: int = K) -> dict[str, Any]:
    """d2l's k_fold: trains one model per fold and measures it; train(fold, dataset) -> (params, history)."""
    runs = []
    for j, (dataset, val_rows) in enumerate(folds(data, k)):
        params, history = train(j, dataset)
        log_price = MODEL(params, dataset.X_val)
        runs.append({
            "params": params,
            "history": history,
            "val_loss": d2l_val_loss(params, dataset.X_val, dataset.y_val),
            "val_log_rmse": kaggle_house.log_rmse(np.exp(np.asarray(log_price)), data.sale_price[val_rows]),
        })
    return {"folds": runs, "average_val_log_mse": float(np.mean([r["val_loss"] for r in runs]))}


def own_run(key: jax.Array, data: HouseData, lr: float = LR, epochs: int = EPOCHS) -> dict[str, Any]:
    """d2l's k-fold run with jaxdl's own random numbers: per fold, nn.Linear's default init from one half of the
    fold's key and the epochs' shuffles from the other."""
    keys = jax.random.split(key, K)

    def train(j: int, dataset: Dataset) -> tuple[Params, History]:
        key_init, key_fit = jax.random.split(keys[j])
        params = models.init(MODEL, key_init, (1, dataset.X_train.shape[1]))
        return train_fold(params, dataset, lr, key=key_fit, epochs=epochs)

    return k_fold(data, train)
