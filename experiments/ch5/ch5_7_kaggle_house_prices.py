"""d2l 5.7 Predicting house prices on Kaggle: d2l's pandas preprocessing, 5-fold cross-validation of linear
regression on log prices and the submission, replayed against PyTorch and checked against its seeds."""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments.ch5.house_prices import EPOCHS, MODEL, folds, k_fold, load_data, own_run, train_fold
from experiments.harness import bands, references
from experiments.harness import replay as draws
from experiments.harness.result import Margin, Result, Tolerance, Tolerances, cli
from jaxdl.nn import Params
from jaxdl.datasets import kaggle_house
from jaxdl.datasets.kaggle_house import HouseData

SECTION = "5.7"
TITLE = "Predicting house prices on Kaggle"
REFERENCE = "ch5_7_kaggle_house_prices"

JAXDL_KEYS = (0, 1)

#: Every tolerance and band margin of this experiment, with its reason (pinned by tests/harness/test_tolerances.py).
TOLERANCES: Tolerances = {
    "features": Tolerance(rtol=0.0, atol=0.0, why="the same pandas operations on the same table, rounded once "
                          "from float64 to float32 as torch.tensor(..., dtype=float32) does: bit for bit"),
    "label_sum": Tolerance(rtol=0.0, atol=2e-6, why="log prices are the float64 log rounded to float32; torch.log's "
                           "float32 log is 1 ulp (9.5e-7) off that at one of the 1460 prices, so the sums may differ "
                           "by it"),
    "step_loss": Tolerance(rtol=1e-4, atol=0.0, why="the project's replay tolerance: float32 sums of 330 products "
                           "in another order, over 190 steps per fold"),
    "final_params": Tolerance(rtol=1e-5, atol=1e-6, why="weights of size ~0.05 and a bias ~0.5 after 190 float32 "
                              "updates per fold; measured: at most 1.8e-7 apart, and the weight sums (~23) 1.5e-6 "
                              "(6e-8 relative)"),
    "val": Tolerance(rtol=1e-4, atol=0.0, why="validation losses, log-RMSEs and predicted prices of the replayed "
                     "models: the same float32 rounding as the step losses"),
    "band_sds": Margin(2.5, why="book runs: jaxdl's own random numbers are one more draw; the band is the range "
                       "of 20 PyTorch seeds widened by 2.5 of their standard deviations, since an honest 21st draw "
                       "falls outside the bare range about 1 time in 10"),
}


# ----------------------------------------------------------------------------- data


def feature_summary(data: HouseData) -> dict[str, Any]:
    """What the generator stores of the preprocessed arrays: shapes, SHA-256 of the float32 bytes, column sums."""
    sha = lambda a: hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()  # noqa: E731
    return {
        "columns": list(data.columns),
        "shapes": {"X_train": list(data.X_train.shape), "X_test": list(data.X_test.shape),
                   "y_train": list(data.y_train.shape)},
        "sha256": {"X_train": sha(data.X_train), "X_test": sha(data.X_test)},
        "column_sums": {name: getattr(data, name).astype(np.float64).sum(0) for name in ("X_train", "X_test")},
    }


# ----------------------------------------------------------------------------- training


def ensemble_price(fold_params: list[Params], X: jax.Array) -> np.ndarray:
    """d2l's submission: exp of each fold model's predicted log price, averaged over the folds."""
    return np.asarray(jnp.exp(jnp.concatenate([MODEL(p, X) for p in fold_params], axis=1)).mean(axis=1))


# ----------------------------------------------------------------------------- replay


def replay_schedule(seed: int, data: HouseData,
                    epochs: int = EPOCHS) -> tuple[list[tuple[Params, list[np.ndarray]]], dict[str, str]]:
    """Every fold's (initial parameters, epoch orders) drawn from np.random.default_rng(seed) in the generator's
    order, and SHA-256 checksums of both to confirm it."""
    rng = np.random.default_rng(seed)
    h_init, h_orders, schedule = hashlib.sha256(), hashlib.sha256(), []
    for dataset, _ in folds(data):
        (W, b), orders = draws.fold_draws(rng, dataset.X_train.shape[1], dataset.X_train.shape[0], epochs)
        params = {"W": jnp.asarray(W), "b": jnp.asarray(b)}
        h_init.update(np.asarray(params["W"]).tobytes() + np.asarray(params["b"]).tobytes())
        for order in orders:
            h_orders.update(order.astype(np.int64).tobytes())
        schedule.append((params, orders))
    return schedule, {"init_sha256": h_init.hexdigest(), "orders_sha256": h_orders.hexdigest()}


def replay(stored: dict[str, Any], data: HouseData) -> dict[str, Any]:
    """d2l's k-fold training through the generator's initial parameters and minibatch orders."""
    schedule, checksums = replay_schedule(stored["seed"], data)
    run = k_fold(data, lambda j, dataset: train_fold(schedule[j][0], dataset, orders=schedule[j][1]))
    price = ensemble_price([r["params"] for r in run["folds"]], jnp.asarray(data.X_test))
    return {**run, **checksums, "submission": {"sum": price.astype(np.float64).sum(), "first": price[:8]}}


def weight_summary(params: Params, first: int) -> dict[str, Any]:
    """A fold model as the generator stores it: the first weights, the weights' norm and sum, the bias."""
    W = np.asarray(params["W"])
    return {"weight_first": W[0, :first], "weight_norm": np.linalg.norm(W.astype(np.float64)),
            "weight_sum": W.astype(np.float64).sum(), "bias": np.asarray(params["b"])}


def compare_replay(result: Result, ours: dict[str, Any], stored: dict[str, Any]) -> None:
    """Checksums, every step's loss, the final parameters and the validation numbers of each fold."""
    for name in ("init_sha256", "orders_sha256"):
        result.compare(f"replay: {name.split('_')[0]} drawn by NumPy (SHA-256)", ours[name], stored[name])
    for j, (mine, theirs) in enumerate(zip(ours["folds"], stored["folds"]), start=1):
        result.compare(f"replay fold {j}: loss of every step ({len(theirs['step_losses'])})",
                       mine["history"].train_loss, theirs["step_losses"], tol=TOLERANCES["step_loss"])
        final = weight_summary(mine["params"], len(theirs["final"]["weight_first"]))
        for name, value in final.items():
            result.compare(f"replay fold {j}: final {name}", value, theirs["final"][name],
                           tol=TOLERANCES["final_params"])
        result.compare(f"replay fold {j}: d2l's val loss (log MSE), last epoch", mine["val_loss"],
                       theirs["val_loss"][-1], tol=TOLERANCES["val"])
        result.compare(f"replay fold {j}: val log-RMSE", mine["val_log_rmse"], theirs["val_log_rmse"],
                       tol=TOLERANCES["val"])
    result.compare("replay: average validation log mse", ours["average_val_log_mse"],
                   float(np.mean([f["val_loss"][-1] for f in stored["folds"]])), tol=TOLERANCES["val"])
    for name in ("sum", "first"):
        result.compare(f"replay: submission prices, {name}", ours["submission"][name], stored["submission"][name],
                       tol=TOLERANCES["val"])


# ----------------------------------------------------------------------------- book band


def check_band(result: Result, label: str, value: float, seeds: Any) -> None:
    """One jaxdl key's number against the PyTorch seeds' range widened on both sides by TOLERANCES['band_sds'] of
    their standard deviations. Each key is decided alone (bands.check_one), not by the keys' mean: a key is a
    whole K-fold run, and the band's 2.5 sd already allow for it being one more draw."""
    bands.check_one(result, label, value, seeds, sds=TOLERANCES["band_sds"].value,
                    reference=f"{np.min(seeds):.4g}..{np.max(seeds):.4g} ({len(seeds)} seeds)")


# ----------------------------------------------------------------------------- figures


def plot_replay(ours: dict[str, Any], stored: dict[str, Any]) -> Any:
    """Per fold: the loss of every step, jaxdl beside PyTorch (log scale, as d2l's board)."""
    fig, axes = plt.subplots(1, len(stored["folds"]), figsize=(3 * len(stored["folds"]), 2.6), sharey=True)
    for j, (ax, mine, theirs) in enumerate(zip(np.atleast_1d(axes), ours["folds"], stored["folds"]), start=1):
        steps = mine["history"].train_loss
        x = np.arange(1, len(steps) + 1) / mine["history"].num_batches
        ax.plot(x, theirs["step_losses"], color="0.6", lw=2.5, label="PyTorch")
        ax.plot(x, steps, lw=1, label="jaxdl")
        ax.plot(np.arange(1, EPOCHS + 1), theirs["val_loss"], "o", ms=3, color="C3", label="val (PyTorch)")
        ax.set(yscale="log", xlabel="epoch", title=f"fold {j}")
        ax.grid(True)
    np.atleast_1d(axes)[0].set_ylabel("MSE of log price")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return fig


def plot_first_fold(run: dict[str, Any], book: dict[str, Any], label: str) -> Any:
    """d2l's figure: the first fold's training and validation loss per epoch; PyTorch's seeds in grey."""
    fig, ax = plt.subplots(figsize=(4.5, 3))
    epochs = np.arange(1, EPOCHS + 1)
    for i, (tr, va) in enumerate(zip(book["first_fold_epoch_train_loss"], book["first_fold_val_loss"])):
        ax.plot(epochs, tr, color="0.75", lw=1, label="PyTorch seeds, train" if i == 0 else None)
        ax.plot(epochs, va, color="0.45", lw=1, ls="--", label="PyTorch seeds, val" if i == 0 else None)
    history = run["folds"][0]["history"]
    ax.plot(np.arange(1, history.epochs + 1), history.epoch_train_loss(), "o-", ms=3, label=f"{label}, train")
    ax.plot(np.arange(1, history.epochs + 1), history.val_loss, "s--", ms=3, label=f"{label}, val")
    ax.set(yscale="log", xlabel="epoch", ylabel="MSE of log price", title="fold 1 of 5")
    ax.grid(True)
    ax.legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- experiment


def compare_features(result: Result, data: HouseData, ref: dict[str, Any]) -> None:
    """The preprocessed arrays against pandas + torch.tensor in the generator, bit for bit."""
    ours = feature_summary(data)
    names = lambda columns: hashlib.sha256("\n".join(columns).encode()).hexdigest()  # noqa: E731
    result.compare("number of feature columns", len(ours["columns"]), len(ref["columns"]))
    result.compare("feature column names, in order (SHA-256)", names(ours["columns"]), names(ref["columns"]))
    for name, shape in ours["shapes"].items():
        result.compare(f"{name} shape", shape, ref["shapes"][name])
    for name, digest in ours["sha256"].items():
        result.compare(f"{name} float32 bytes (SHA-256)", digest, ref["sha256"][name])
        result.compare(f"{name} column sums", ours["column_sums"][name], ref["column_sums"][name],
                       tol=TOLERANCES["features"])
    row = ref["row"]["index"]
    result.compare(f"X_train row {row}", data.X_train[row], ref["row"]["X_train"], tol=TOLERANCES["features"])
    result.compare(f"X_test row {row}", data.X_test[row], ref["row"]["X_test"], tol=TOLERANCES["features"])
    result.compare("log SalePrice, sum over the 1460 houses", data.y_train.astype(np.float64).sum(), ref["y_train_sum"],
                   tol=TOLERANCES["label_sum"])


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    data = load_data()
    compare_features(result, data, ref["preprocessing"])

    stored = ref["replay"]
    ours = replay(stored, data)
    compare_replay(result, ours, stored)
    result.save_figure(plot_replay(ours, stored), "replay_folds.png")
    rows = [f"| {j} | {m['val_loss']:.6f} | {t['val_loss'][-1]:.6f} | {m['val_log_rmse']:.6f} | "
            f"{t['val_log_rmse']:.6f} |" for j, (m, t) in enumerate(zip(ours["folds"], stored["folds"]), start=1)]
    result.text(
        f"Data: {data.X_train.shape[0]} training and {data.X_test.shape[0]} test houses, {data.X_train.shape[1]} "
        "features after d2l's preprocessing (numeric columns standardised over training and test rows together, "
        "missing numbers set to 0, every text column one-hot with a NaN column), the same float32 bytes as "
        "PyTorch's tensors. d2l picks the numeric columns as those whose dtype is not `object`; pandas 3 reads "
        "text as `str`, so jaxdl (and the generator) ask `select_dtypes(include='number')`, the same 36 columns.\n\n"
        "Replay: every fold's initial parameters and epoch orders drawn from "
        f"`np.random.default_rng({stored['seed']})`, fed to `nn.LazyLinear(1)` + `torch.optim.SGD` and to "
        "`models.linear_regression(sigma=None)` + `optax.sgd` (5 folds, 10 epochs, 19 minibatches of 64 per epoch):\n\n"
        "| fold | jaxdl val log MSE | PyTorch | jaxdl val log-RMSE | PyTorch |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
    )

    book = ref["book"]
    keys = JAXDL_KEYS[:1] if fast else JAXDL_KEYS
    runs = {}
    for k in keys:
        runs[k] = own = own_run(jax.random.key(k), data)
        check_band(result, f"book, jaxdl key {k}: average validation log mse", own["average_val_log_mse"],
                   book["average_val_log_mse"])
        check_band(result, f"book, jaxdl key {k}: mean val log-RMSE over folds",
                   np.mean([r["val_log_rmse"] for r in own["folds"]]), np.mean(book["val_log_rmse"], axis=1))
        price = ensemble_price([r["params"] for r in own["folds"]], jnp.asarray(data.X_test))
        check_band(result, f"book, jaxdl key {k}: mean submitted price", price.mean(), book["submission_mean_price"])
        if k == keys[0]:
            path = kaggle_house.write_submission(result.out_dir / "submission.csv", data.test_ids, price)
            submission = price
    result.save_figure(plot_first_fold(runs[keys[0]], book, f"jaxdl key {keys[0]}"), "first_fold.png")
    torch_avg = np.asarray(book["average_val_log_mse"])
    result.text(
        "Book: d2l's `k_fold(trainer, data, k=5, lr=0.01)` with `d2l.Trainer(max_epochs=10)`, each library with "
        f"its own random numbers. PyTorch, {len(torch_avg)} seeds: average validation log mse {torch_avg.mean():.4f} "
        f"(from {torch_avg.min():.4f} to {torch_avg.max():.4f}); jaxdl: "
        + ", ".join(f"key {k}: {r['average_val_log_mse']:.4f}" for k, r in runs.items())
        + f". Band: the seeds' range widened by {TOLERANCES['band_sds'].value} standard deviations.\n\n"
        "d2l's model is 3.5's `LinearRegression`: `nn.LazyLinear(1)` followed by `normal_(0, 0.01)` and "
        "`fill_(0)`, which change nothing on a lazy layer, so every fold starts from nn.Linear's default "
        "U(-1/sqrt(330), 1/sqrt(330)) for weight and bias; jaxdl uses `models.init(models.linear_regression(sigma=None), key, (1, 330))`. The "
        "loss trained and reported is `nn.MSELoss` of log prices (no 1/2); d2l's validation number is the "
        "mean of its 5 validation minibatches' means (`d2l_val_loss`). The competition's log-RMSE "
        "(`kaggle_house.log_rmse`, predictions clamped to 1 before the log) is the root of the all-example "
        "mean of the same squares whenever no predicted price is below 1.\n\n"
        f"Submission: d2l averages the 5 fold models' exp(predicted log price); `{path}` (written to a temporary "
        f"name, then renamed) holds {len(submission)} prices, mean {submission.mean():,.0f}, first "
        + ", ".join(f"{p:,.0f}" for p in submission[:3]) + "."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
