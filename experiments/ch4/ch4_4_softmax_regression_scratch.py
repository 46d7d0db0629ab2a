"""d2l 4.4 Softmax regression implementation from scratch: replayed step by step and trained as the book does."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch4.softmax_regression import (
    BATCH_SIZE,
    BOOK_KEYS,
    EPOCHS,
    FAST_EPOCHS,
    LR,
    MODEL,
    SIGMA,
    SOFTMAX_TOLERANCES,
    Params,
    book_table,
    check_book,
    check_replay,
    init_softmax,
    train_books,
)
from experiments.harness import references
from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import Dataset, losses, nn, optimizers, plotting
from jaxdl.datasets import fashion_mnist

SECTION = "4.4"
TITLE = "Softmax regression implementation from scratch"
REFERENCE = "ch4_4_softmax_regression_scratch"

TOLERANCES: Tolerances = {
    **SOFTMAX_TOLERANCES,  # the replay's and the book bands' (softmax_regression.py)
    "softmax example": Tolerance(rtol=1e-6, why="float32 exp and division of a 2 x 5 example"),
}


# ---------------------------------------------------------------- replay against PyTorch


# ---------------------------------------------------------------- the book's run and its band


def misclassified(model: nn.Layer, params: Params, X: jax.Array, y: jax.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d2l 4.4.5: the images of a batch the model gets wrong, their labels and the predictions."""
    preds = jnp.argmax(model(params, fashion_mnist.scale(X)), axis=1)
    wrong = np.asarray(preds != y)
    return np.asarray(X)[wrong], np.asarray(y)[wrong], np.asarray(preds)[wrong]


def misclassified_figure(model: nn.Layer, params: Params, dataset: Dataset, count: int = 8):
    """The first misclassified images of the first validation batch, titled 'true' over 'predicted'."""
    X, y, preds = misclassified(model, params, dataset.X_val[:BATCH_SIZE], dataset.y_val[:BATCH_SIZE])
    titles = [f"{t}\n{p}" for t, p in zip(fashion_mnist.text_labels(y), fashion_mnist.text_labels(preds))]
    return plotting.show_images(X[:count], 1, count, titles=titles[:count]), len(y)


# ---------------------------------------------------------------- the section


def examples(result: Result, ref: dict[str, Any]) -> None:
    """4.4.1 and 4.4.3: the naive softmax of a random matrix and the cross-entropy of two predictions."""
    X = jnp.asarray(ref["softmax_example"]["X"], jnp.float32)
    X_prob = losses.softmax(X)
    result.compare("softmax(X)", X_prob, ref["softmax_example"]["softmax"], tol=TOLERANCES["softmax example"])
    result.compare("softmax(X).sum(1)", X_prob.sum(axis=1), ref["softmax_example"]["row_sums"], tol=TOLERANCES["softmax example"])
    ce = ref["cross_entropy_example"]
    y_hat, y = jnp.asarray(ce["y_hat"], jnp.float32), jnp.asarray(ce["y"])
    result.compare("y_hat[[0, 1], y]", y_hat[jnp.arange(2), y], ce["picked"])
    result.compare("cross_entropy(y_hat, y).mean()", losses.cross_entropy(y_hat, y).mean(), ce["cross_entropy"], tol=TOLERANCES["init loss"])
    result.compare("accuracy(y_hat, y)", losses.accuracy(y_hat, y), ce["accuracy"])


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    examples(result, ref)
    dataset = fashion_mnist.load()

    loss = losses.scratch_softmax_loss
    check_replay(result, MODEL, loss, ref["replay"], dataset,
                 [("hand_sgd", "optimizers.sgd", optimizers.sgd(LR)),
                  ("torch_sgd", "optimizers.optax_sgd", optimizers.optax_sgd(LR))])

    epochs = FAST_EPOCHS if fast else EPOCHS
    keys = [jax.random.key(i) for i in range(BOOK_KEYS)]
    all_params, histories, seconds = train_books(loss, lambda k: init_softmax(k, sigma=SIGMA),
                                                 dataset, optimizers.sgd(LR), keys, epochs)
    params, history = all_params[0], histories[0]
    ours = check_book(result, "book", histories, ref["book"])
    result.text(
        f"Mean over {len(keys)} jaxdl keys: final train loss {ours['train_loss']:.4f}, val loss "
        f"{ours['val_loss']:.4f}, val accuracy {ours['val_acc']:.4f} after {epochs} epochs, the {len(keys)} models "
        f"trained together in one compiled call (fit_many) in {seconds:.2f} s of wall time. Key 0:\n\n"
        + book_table("scratch", history, seconds, ref["book"])
    )
    result.save_figure(plotting.plot_history(history).figure, "softmax_scratch_training.png")

    fig, num_wrong = misclassified_figure(MODEL, params, dataset)
    result.save_figure(fig, "softmax_scratch_misclassified.png")
    result.text(
        f"{num_wrong} of the first {BATCH_SIZE} validation images are misclassified; the figure shows the first "
        "ones with the true label above the prediction (d2l 4.4.5).\n\n"
        "The replay feeds both frameworks the same NumPy-drawn W and the same batch orders on training images "
        f"0..{ref['replay']['setup']['num_train'] - 1} (validation: test images 0..{ref['replay']['setup']['num_val'] - 1}), "
        "so every step loss can be compared. The book run uses each framework's own random numbers, so it is "
        "checked against the spread of several PyTorch seeds instead. `optimizers.sgd` is d2l's "
        "`param -= lr * grad`; `optimizers.optax_sgd` is `optax.sgd`, compared with `torch.optim.SGD`."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
