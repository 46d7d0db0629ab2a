"""d2l 3.7 exercises: the validation loss as a function of lambda, and an L1 penalty in place of L2, both replayed
against PyTorch on the 3.7 replay data."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from experiments.ch3.linear_regression import linreg_params, replay_dataset
from experiments.ch3.weight_decay import (
    EPOCH_LOSSES,
    FINAL_PARAMETERS,
    LR,
    REPLAY_STEPS,
    l1_penalty,
    l2_penalty,
    replay,
    scaled,
)
from experiments.harness.result import Result, Tolerances, cli
from jaxdl import losses, models, optimizers
from experiments.harness import references

SECTION = "3.7"
TITLE = "Weight decay: exercises"
REFERENCE = "ch3_7_weight_decay_exercises"
DATA_REFERENCE = "ch3_7_weight_decay"

# The replays are 3.7's, with its tolerances.
TOLERANCES: Tolerances = {"replay steps": REPLAY_STEPS, "epoch losses": EPOCH_LOSSES, "final parameters": FINAL_PARAMETERS}
# Not a tolerance, a threshold of the L1/L2 table: |w_i| below it counts as zero, a tenth of the true weights, 0.01
NEAR_ZERO = 1e-3


def sweep(result: Result, name: str, penalty: Any, runs: dict[str, Any], dataset: Any, orders: np.ndarray,
          init: Any) -> dict[float, Any]:
    """Replays the scratch model with lambda * penalty for every stored lambda; rows against PyTorch's."""
    out = {}
    for label, stored in runs.items():
        run, _ = replay(models.linear_regression(), losses.squared_loss, init, dataset, orders, optimizers.sgd(LR),
                        scaled(penalty, float(label)))
        result.compare(f"{name}, lambda {label}: loss at each of {len(run.step_losses)} steps", run.step_losses,
                       stored["step_losses"], tol=TOLERANCES["replay steps"])
        result.compare(f"{name}, lambda {label}: validation loss after each epoch", run.val_loss, stored["val_loss"],
                       tol=TOLERANCES["epoch losses"])
        result.compare(f"{name}, lambda {label}: final w", np.ravel(run.params["W"]), stored["final"]["w"],
                       tol=TOLERANCES["final parameters"])
        out[float(label)] = run
    return out


def train_loss(run: Any, dataset: Any) -> float:
    """The plain squared loss on all 20 training examples at the run's final parameters."""
    return float(losses.squared_loss(models.linear_regression()(run.params, dataset.X_train), dataset.y_train).mean())


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    base = references.load(DATA_REFERENCE)
    dataset = replay_dataset(base["replay_data"])
    orders = np.asarray(base["replay_data"]["orders"])
    init = linreg_params(base["init"]["w"], base["init"]["b"])

    l2 = sweep(result, "L2", l2_penalty, ref["l2"], dataset, orders, init)
    lambdas = sorted(l2)
    val = np.array([l2[lam].val_loss[-1] for lam in lambdas])
    train = np.array([train_loss(l2[lam], dataset) for lam in lambdas])
    for lam, t in zip(lambdas, train):
        result.compare(f"L2, lambda {lam:g}: training loss at the end (all 20 examples)", t,
                       ref["l2"][f"{lam:g}"]["train_loss"][-1], tol=TOLERANCES["epoch losses"])
    best = lambdas[int(np.argmin(val))]
    torch_best = lambdas[int(np.argmin([ref["l2"][f"{lam:g}"]["val_loss"][-1] for lam in lambdas]))]
    result.compare("exercise 1: the lambda with the lowest validation loss", best, torch_best)
    fig, ax = plt.subplots(figsize=(4.5, 3))
    x = np.array(lambdas) + 0.03  # lambda 0 on a log axis
    ax.plot(x, train, "o-", label="train loss")
    ax.plot(x, val, "s--", label="val loss")
    ax.set(xscale="log", yscale="log", xlabel="lambda (+0.03)", ylabel="loss after 10 epochs")
    ax.grid(True)
    ax.legend()
    result.save_figure(fig, "lambda_sweep.png")

    l1 = sweep(result, "L1", l1_penalty, ref["l1"], dataset, orders, init)
    rows = ["| penalty | lambda | train loss | val loss | l2_penalty(w) | entries with abs(w) < 1e-3 |",
            "|---|---|---|---|---|---|"]
    for name, runs in (("L2", l2), ("L1", l1)):
        for lam, r in sorted(runs.items()):
            w = np.ravel(r.params["W"])
            rows.append(f"| {name} | {lam:g} | {train_loss(r, dataset):.3g} | {r.val_loss[-1]:.3g} | "
                        f"{float(l2_penalty(r.params)):.3g} | {int((np.abs(w) < NEAR_ZERO).sum())} of {w.size} |")
    result.text(
        "Exercise 1 (lambda): replays of the scratch model with lambda * l2_penalty(w) over "
        f"{', '.join(f'{lam:g}' for lam in lambdas)} on the same data, init and orders as the 3.7 replay. The "
        "training loss rises with lambda; the validation loss falls until the penalty starts to pull the weights "
        f"below their true value 0.01: lowest at lambda {best:g} here (PyTorch: {torch_best:g}). 20 training "
        "examples are too few to choose lambda on them; a validation set (or K-fold cross-validation, 5.7) is "
        "what picks it.\n\n"
        "Exercise 3 (L1): the penalty lambda * sum |w_i| has the subgradient lambda * sign(w_i), so each SGD step "
        "moves every weight towards 0 by the same lr * lambda instead of shrinking it in proportion (L2's "
        "w <- (1 - lr lambda) w). Small weights reach zero (and then jitter around it by lr * lambda) while L2 only "
        "scales them down: at a similar size of w, L1 leaves many more entries near zero (last column):\n\n"
        + "\n".join(rows)
    )
    fig, ax = plt.subplots(figsize=(4.5, 3))
    for name, runs, lam in (("L2", l2, 3.0), ("L1", l1, 0.1)):
        ax.plot(np.sort(np.abs(np.ravel(runs[lam].params["W"]))), label=f"{name}, lambda {lam:g}")
    ax.axhline(0.01, color="0.5", ls=":", label="true w")
    ax.set(yscale="log", xlabel="weights, sorted", ylabel="|w_i| after 10 epochs")
    ax.grid(True)
    ax.legend()
    result.save_figure(fig, "l1_vs_l2_weights.png")


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
