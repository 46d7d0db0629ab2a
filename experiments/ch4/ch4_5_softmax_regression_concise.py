"""d2l 4.5 Concise implementation of softmax regression: nn.Linear's init, the stable loss and optax."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch4.softmax_regression import (
    BATCH_SIZE,
    EPOCHS,
    FAST_EPOCHS,
    LR,
    MODEL,
    BOOK_KEYS,
    Params,
    book_table,
    check_book,
    check_replay,
    dense,
    init_softmax,
    train_books,
)
from experiments.harness.result import Margin, Result, Tolerances, cli
from jaxdl import losses, optimizers, plotting
from jaxdl.datasets import fashion_mnist
from experiments.harness import references

SECTION = "4.5"
TITLE = "Concise implementation of softmax regression"
REFERENCE = "ch4_5_softmax_regression_concise"

TOLERANCES: Tolerances = {
    "init std": Margin(0.02, why="relative half-width of the std band: the sample std of 7840 uniform draws has a "
                                "relative standard error of ~0.5%, so 2% is 4 of them"),
}


def init_statistics(params: Params) -> dict[str, float]:
    """Largest |W|, |b| and the standard deviation of W, to set beside U(-1/sqrt(784), 1/sqrt(784))."""
    params = dense(params)
    return {"max_abs_W": float(jnp.abs(params["W"]).max()), "max_abs_b": float(jnp.abs(params["b"]).max()),
            "std_W": float(params["W"].std())}


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    dataset = fashion_mnist.load()
    loss = losses.softmax_cross_entropy

    key_init, key_fit = jax.random.split(jax.random.key(0))
    params = init_softmax(key_init, sigma=None)
    bound = 1 / np.sqrt(784)
    stats = init_statistics(params)
    result.within("init: max |W| (nn.Linear bound 1/28)", stats["max_abs_W"], 0.0, bound, reference="U(-1/28, 1/28)")
    result.within("init: max |b| (nn.Linear bound 1/28)", stats["max_abs_b"], 0.0, bound, reference="U(-1/28, 1/28)")
    # The sample std of 7840 uniform draws has a relative standard error of ~0.5%: 2% is 4 of them.
    std = bound / np.sqrt(3)
    result.within("init: std of W (bound / sqrt(3))", stats["std_W"], (1 - TOLERANCES["init std"].value) * std, (1 + TOLERANCES["init std"].value) * std, reference=f"{std:.6g}")

    check_replay(result, MODEL, loss, ref["replay"], dataset,
                 [("torch_sgd", "optimizers.sgd", optimizers.sgd(LR)),
                  ("torch_sgd", "optimizers.optax_sgd", optimizers.optax_sgd(LR))])

    epochs = FAST_EPOCHS if fast else EPOCHS
    keys = [jax.random.key(i) for i in range(BOOK_KEYS)]  # key 0 splits into the key_init and key_fit above
    _, histories, seconds = train_books(loss, lambda k: init_softmax(k, sigma=None), dataset,
                                        optimizers.optax_sgd(LR), keys, epochs)
    history = histories[0]
    ours = check_book(result, "book", histories, ref["book"])
    result.text(
        f"Mean over {len(keys)} jaxdl keys: final train loss {ours['train_loss']:.4f}, val loss "
        f"{ours['val_loss']:.4f}, val accuracy {ours['val_acc']:.4f} after {epochs} epochs (batch {BATCH_SIZE}, "
        f"lr {LR}), the {len(keys)} models trained in one compiled call in {seconds:.2f} s of wall time. Key 0:\n\n" + book_table("concise", history, seconds, ref["book"]) + "\n\n"
        "d2l's `nn.Sequential(nn.Flatten(), nn.LazyLinear(10))` is `models.softmax_regression(10, sigma=None)` "
        "(`nn.serial(nn.flatten(), nn.linear(10, sigma=None))`: nn.Linear's default U(-1/sqrt(784), "
        "1/sqrt(784)) for W and b). `F.cross_entropy(logits, y)` is `losses.softmax_cross_entropy` "
        "(`optax.softmax_cross_entropy_with_integer_labels`, a log-sum-exp that cannot overflow), and "
        "`torch.optim.SGD(lr=0.1)` is `optax.sgd(0.1)`. The replay compares both jaxdl optimizers with "
        "`torch.optim.SGD` from the same NumPy-drawn nn.Linear-style initial parameters."
    )
    result.save_figure(plotting.plot_history(history).figure, "softmax_concise_training.png")


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
