"""d2l 4.4 exercises: where the naive softmax overflows, the max-shifted fix, and a larger learning rate."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments.ch4.softmax_regression import (
    BOOK_KEYS,
    EPOCHS,
    FAST_EPOCHS,
    LR,
    SIGMA,
    check_book,
    init_softmax,
    train_books,
)
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import losses, optimizers, plotting
from jaxdl.datasets import fashion_mnist
from experiments.harness import references

SECTION = "4.4"
TITLE = "Softmax regression implementation from scratch: exercises"
REFERENCE = "ch4_4_softmax_regression_scratch_exercises"

TOLERANCES: Tolerances = {
    "subnormal": Tolerance(rtol=1e-6, atol=float(np.finfo(np.float32).tiny),
                           why="XLA on CPU flushes float32 subnormals (below 1.18e-38) to zero where PyTorch keeps "
                               "them, e.g. exp(-100) = 3.8e-44: values agree to within that smallest normal number"),
    "values": Tolerance(rtol=1e-6, why="float32 exp, sums and logs, rounded in another order"),
    "stable cross-entropy": Tolerance(rtol=1e-6, atol=1e-6, why="log-softmax of large logits: atol for losses near 0"),
}
SCRATCH_REFERENCE = "ch4_4_softmax_regression_scratch"

HIGH_LR, HIGH_LR_EPOCHS = 0.2, 5
# XLA on CPU flushes float32 subnormals (below 1.18e-38) to zero where PyTorch keeps them, e.g.
# exp(-100) = 3.8e-44: results are compared to within that smallest normal number.
TINY = TOLERANCES["subnormal"].atol


def shifted_softmax(X: jax.Array) -> jax.Array:
    """The naive softmax of X - max(X) per row: the same probabilities, but exp never sees a positive input."""
    return losses.softmax(X - X.max(axis=1, keepdims=True))


def overflow_case(X: jax.Array) -> dict[str, jax.Array]:
    """Every quantity the generator stores for one input row, computed with jaxdl."""
    label = jnp.array([0])
    return {
        "exp": jnp.exp(X),
        "naive_softmax": losses.softmax(X),
        "max_shifted_softmax": shifted_softmax(X),
        "torch_softmax": jax.nn.softmax(X, axis=1),
        "naive_cross_entropy_label0": losses.scratch_softmax_loss(X, label)[0],
        "stable_cross_entropy_label0": losses.softmax_cross_entropy(X, label)[0],
    }


def show(x: Any) -> str:
    return np.array2string(np.asarray(x).ravel(), precision=4, separator=", ")


def overflow(result: Result, ref: dict[str, Any]) -> None:
    """Exercise 1: inputs of 100, of 100 and 200, and all below -100."""
    rows = []
    for name, theirs in ref.items():
        X = jnp.asarray(theirs["X"], jnp.float32)
        ours = overflow_case(X)
        result.compare(f"{name}: exp(X)", ours["exp"], theirs["exp"], tol=TOLERANCES["subnormal"])
        result.compare(f"{name}: naive softmax (NaN/inf as PyTorch)", ours["naive_softmax"], theirs["naive_softmax"],
                       tol=TOLERANCES["subnormal"])
        result.compare(f"{name}: max-shifted softmax", ours["max_shifted_softmax"], theirs["max_shifted_softmax"],
                       tol=TOLERANCES["subnormal"])
        result.compare(f"{name}: jax.nn.softmax vs torch.softmax", ours["torch_softmax"], theirs["torch_softmax"],
                       tol=TOLERANCES["subnormal"])
        result.compare(f"{name}: max-shifted vs jax.nn.softmax", ours["max_shifted_softmax"], ours["torch_softmax"],
                       tol=TOLERANCES["values"])
        result.compare(f"{name}: naive cross-entropy, label 0", ours["naive_cross_entropy_label0"],
                       theirs["naive_cross_entropy_label0"])
        # log(1 + 4.5e-5) in float32 carries an error of a few ulps of 1.0 (1.2e-7 each).
        result.compare(f"{name}: softmax_cross_entropy vs F.cross_entropy, label 0",
                       ours["stable_cross_entropy_label0"], theirs["stable_cross_entropy_label0"], tol=TOLERANCES["stable cross-entropy"])
        rows.append(f"| {show(X)} | {show(ours['naive_softmax'])} | {show(theirs['naive_softmax'])} | "
                    f"{show(ours['max_shifted_softmax'])} | {show(theirs['max_shifted_softmax'])} |")
    result.text(
        "| X | naive softmax, JAX | naive softmax, PyTorch | max-shifted, JAX | max-shifted, PyTorch |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "exp(100) = 2.7e43 exceeds float32's largest number (3.4e38) and becomes inf, so a row holding 100 "
        "divides inf by inf (NaN) and the finite entries by inf (0). With every input below -100, all the "
        "exponentials underflow to 0 and the softmax is 0/0 = NaN in every entry. Subtracting the row's "
        "maximum first changes nothing mathematically (the factor exp(-max) cancels) but makes the largest "
        "exponent exp(0) = 1, so the denominator lies in [1, n]: no overflow, no 0/0. `jax.nn.softmax` does "
        "exactly this. The tiny probabilities PyTorch reports, e.g. 3.78e-44 = exp(-100), are float32 "
        "subnormals, which XLA on CPU flushes to 0. The stable cross-entropy works on logits through "
        "log-sum-exp and never forms the probability at all."
    )


def learning_rates(result: Result, fast: bool) -> None:
    """Exercise: lr 0.2 for 5 epochs beside d2l's lr 0.1 for 10, each against its PyTorch seeds."""
    dataset = fashion_mnist.load()
    books = {HIGH_LR: references.load(REFERENCE)["lr_0.2_5_epochs"], LR: references.load(SCRATCH_REFERENCE)["book"]}
    keys = [jax.random.key(i) for i in range(BOOK_KEYS)]
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.5), sharey=True)
    lines = [f"| lr | epochs | jaxdl train loss (mean of {BOOK_KEYS} keys) | jaxdl val loss | jaxdl val acc | PyTorch val acc (seeds) | "
             "PyTorch val loss (seeds) |", "|---|---|---|---|---|---|---|"]
    histories = {}
    for ax, (lr, epochs) in zip(axes, ((HIGH_LR, HIGH_LR_EPOCHS), (LR, EPOCHS))):
        epochs = min(epochs, FAST_EPOCHS) if fast else epochs
        _, ours_runs, _ = train_books(losses.scratch_softmax_loss, lambda k: init_softmax(k, sigma=SIGMA),
                                      dataset, optimizers.sgd(lr), keys, epochs)
        histories[lr] = history = ours_runs[0]
        ours = check_book(result, f"lr {lr}", ours_runs, books[lr])
        runs = books[lr]["runs"]
        acc = [run["val_acc"][epochs - 1] for run in runs]
        vloss = [run["val_loss"][epochs - 1] for run in runs]
        lines.append(f"| {lr} | {epochs} | {ours['train_loss']:.4f} | {ours['val_loss']:.4f} | {ours['val_acc']:.4f} "
                     f"| {min(acc):.4f}..{max(acc):.4f} | {min(vloss):.4f}..{max(vloss):.4f} |")
        plotting.plot_history(history, axes=ax)
        ax.set_title(f"lr {lr}, {epochs} epochs", fontsize=9)
    result.save_figure(fig, "softmax_scratch_learning_rates.png")
    high, low = histories[HIGH_LR], histories[LR]
    same = min(high.epochs, low.epochs)
    spread = {lr: np.ptp([run["val_acc"][same - 1] for run in books[lr]["runs"]]) for lr in books}
    result.text(
        "\n".join(lines) + "\n\n"
        f"After {same} epochs jaxdl's training loss is {high.epoch_train_loss()[same - 1]:.4f} with lr {HIGH_LR} "
        f"and {low.epoch_train_loss()[same - 1]:.4f} with lr {LR}; the validation accuracy of the PyTorch seeds "
        f"spreads over {spread[HIGH_LR]:.4f} with lr {HIGH_LR} and {spread[LR]:.4f} with lr {LR} at that epoch. "
        "A larger step follows each noisy minibatch gradient further, so where the last steps of an epoch "
        "leave the weights (and hence the validation numbers) varies more from run to run."
    )


def run(result: Result, fast: bool) -> None:
    overflow(result, references.load(REFERENCE)["overflow"])
    learning_rates(result, fast)


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
