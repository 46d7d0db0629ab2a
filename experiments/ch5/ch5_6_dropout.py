"""d2l 5.6 Dropout: dropout_layer with an explicit key, the two-hidden-layer MLP with dropout 0.5/0.5 on
Fashion-MNIST replayed against PyTorch with the same NumPy-drawn masks, and d2l's runs against PyTorch's seeds."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.ch5.dropout_mlp import (
    BAND_LOSSES,
    BAND_VAL_ACC,
    BOOK_KEYS,
    EPOCHS,
    LR,
    NUM_INPUTS,
    NUM_OUTPUTS,
    RATES,
    check_band,
    dropout_params,
    init,
    make_model,
    train_many,
)
from experiments.ch5.mlp import (
    HISTORY_HEADER,
    checksum,
    compare_summary,
    dense_layers,
    history_row,
    plot_band,
    summary,
    torch_rows,
)
from experiments.harness import references
from experiments.harness import replay as draws
from experiments.harness.result import Margin, Result, Tolerance, Tolerances, cli
from jaxdl import losses, nn, optimizers, plotting, training
from jaxdl.data import Dataset
from jaxdl.datasets import fashion_mnist

SECTION = "5.6"
TITLE = "Dropout"
REFERENCE = "ch5_6_dropout"


# The two d2l models: (dropout mask, optimizer). Both use nn.Linear's default init and torch.optim.SGD in d2l.
MODELS: dict[str, tuple[Callable, Callable[[float], optax.GradientTransformation]]] = {
    "scratch": (nn.keep_mask, optimizers.sgd),
    "concise": (nn.bernoulli_mask, optimizers.optax_sgd),
}

# Every tolerance and band margin of this experiment, with its reason.
TOLERANCES: Tolerances = {
    "replay steps": Tolerance(rtol=1e-4, why="per-step losses and validation loss of the replay: float32 matmuls "
                              "summed in another order, 80 steps; the masks are the same bits on both sides"),
    "val logits": Tolerance(rtol=1e-4, atol=1e-5, why="eval-mode logits of the replayed model, as its losses; atol "
                            "for logits near 0"),
    "init loss": Tolerance(rtol=1e-6, why="one float32 mean of the first batch's cross-entropies, same masks"),
    "init grad W": Tolerance(rtol=1e-4, atol=1e-7, why="gradient slices at init (norms: 1e-5), as 5.2: rtol the sum "
                             "of a gradient matrix, atol per entry"),
    "init grad b": Tolerance(rtol=1e-5, atol=1e-8, why="bias gradients at init, small entries near 0, as 5.2"),
    "final W": Tolerance(rtol=1e-4, atol=1e-5, why="final parameters after 80 steps (entries up to ~0.1), as 5.2's "
                         "concise model: rtol the sum of a weight matrix, atol per entry"),
    "final b": Tolerance(atol=1e-5, why="final parameters after 80 steps (entries up to ~0.1), as 5.2's concise "
                         "model"),
    "val acc": Tolerance(atol=1e-3, why="one validation image of 1000 may flip where two logits are within float32 "
                         "noise"),
    "kept sds": Margin(5.0, why="fraction of a million entries kept, jaxdl's key against PyTorch's seed: two "
                       "independent samples, within 5 standard deviations sqrt(2 p (1 - p) / n)"),
    "kept value": Tolerance(rtol=1e-6, why="1 / (1 - p) in float32 on both sides: at most last-bit differences"),
    "band val_acc": BAND_VAL_ACC,
    "band losses": BAND_LOSSES,
}


# ----------------------------------------------------------------------------- training


# ----------------------------------------------------------------------------- replay


def replay_draws(ref: dict[str, Any]) -> dict[str, Any]:
    """The generator's NumPy draws again, in its order: initial parameters, orders, then two masks per step."""
    return draws.dropout_replay_draws(ref["seed"], NUM_INPUTS, tuple(ref["num_hiddens"]), NUM_OUTPUTS,
                                      tuple(ref["dropout"]), ref["num_train"], ref["batch_size"], ref["epochs"])


def epoch_masks(masks: list[list[tuple[np.ndarray, ...]]]) -> list[tuple[jax.Array, ...]]:
    """Per epoch, one (steps, batch, hidden) boolean array per hidden layer: fit's step_rng rows."""
    return [tuple(jnp.asarray(np.stack([step[i] for step in epoch])) for i in range(len(epoch[0])))
            for epoch in masks]


def replay(ref: dict[str, Any], data: Dataset, optimizer: Callable[[float], optax.GradientTransformation]
           ) -> dict[str, Any]:
    """Replays the stored PyTorch run: same parameters, minibatches and dropout masks, the given optimizer."""
    d = replay_draws(ref)
    per_epoch = epoch_masks(d["masks"])
    X, y = data.X_train[: ref["num_train"]], data.y_train[: ref["num_train"]]
    params = dropout_params([{"W": jnp.asarray(W.T), "b": jnp.asarray(b)} for W, b in d["init"]])
    model = make_model(tuple(ref["dropout"]), nn.given_mask, tuple(ref["num_hiddens"]))

    objective = training.make_objective(model, losses.softmax_cross_entropy)
    first = d["orders"][0][: ref["batch_size"]]
    (init_loss, _), init_grads = jax.jit(jax.value_and_grad(objective, has_aux=True))(
        params, None, X[first], y[first], jnp.ones(len(first)), tuple(m[0] for m in per_epoch[0]))

    subset = Dataset(X, y, data.X_val[: ref["num_val"]], data.y_val[: ref["num_val"]])
    params, _, history = training.fit(model, losses.softmax_cross_entropy, params, subset, optimizer(ref["lr"]),
                                      orders=d["orders"], batch_size=ref["batch_size"],
                                      step_rng=lambda epoch, num_batches: per_epoch[epoch], callbacks=())
    all_masks = [m for epoch in d["masks"] for step in epoch for m in step]
    return {
        "init_checksum": checksum(*(a for layer in d["init"] for a in layer)),
        "orders_checksum": checksum(*d["orders"]),
        "masks_checksum": checksum(*all_masks),
        "init_grads": {"loss": init_loss, "layers": [{"W": summary(g["W"]), "b": g["b"]} for g in dense_layers(init_grads)]},
        "step_losses": history.train_loss,
        "final": [{"W": summary(p["W"]), "b": p["b"]} for p in dense_layers(params)],
        "val_logits_first_8": model(params, fashion_mnist.scale(subset.X_val[:8])),
        "val_loss": history.val_loss[-1],
        "val_acc": history.val_metric[-1],
        "params": params,
    }


def compare_replay(result: Result, label: str, ours: dict[str, Any], ref: dict[str, Any]) -> None:
    """Every stored number of the replay against jaxdl's."""
    for what in ("init", "orders", "masks"):
        result.compare(f"{label}: {what} drawn again from seed {ref['seed']} (sha256)", ours[f"{what}_checksum"][:16],
                       ref[f"{what}_checksum"][:16])
    grads = ref["init_grads"]
    result.compare(f"{label}: loss at init, first batch, first masks", ours["init_grads"]["loss"], grads["loss"],
                   tol=TOLERANCES["init loss"])
    for i, (g, theirs) in enumerate(zip(ours["init_grads"]["layers"], grads["layers"]), start=1):
        compare_summary(result, f"{label}: grad W{i} at init", g["W"], theirs["W"],
                        atol=TOLERANCES["init grad W"].atol, sum_rtol=TOLERANCES["init grad W"].rtol)
        result.compare(f"{label}: grad b{i} at init", g["b"], theirs["b"], tol=TOLERANCES["init grad b"])
    result.compare(f"{label}: loss of every step ({len(ref['step_losses'])})", ours["step_losses"],
                   ref["step_losses"], tol=TOLERANCES["replay steps"])
    for i, (p, theirs) in enumerate(zip(ours["final"], ref["final"]), start=1):
        compare_summary(result, f"{label}: final W{i}", p["W"], theirs["W"], atol=TOLERANCES["final W"].atol,
                        sum_rtol=TOLERANCES["final W"].rtol)
        result.compare(f"{label}: final b{i}", p["b"], theirs["b"], tol=TOLERANCES["final b"])
    result.compare(f"{label}: eval-mode logits, first 8 val images", ours["val_logits_first_8"],
                   ref["val_logits_first_8"], tol=TOLERANCES["val logits"])
    result.compare(f"{label}: val loss (subset, no dropout)", ours["val_loss"], ref["val_loss"],
                   tol=TOLERANCES["replay steps"])
    result.compare(f"{label}: val acc (subset)", ours["val_acc"], ref["val_acc"], tol=TOLERANCES["val acc"])


# ----------------------------------------------------------------------------- masks


def compare_masks(result: Result, stored: dict[str, Any]) -> None:
    """Fractions kept on a million ones by dropout_layer and dropout (jaxdl key 0) against PyTorch's (seed 0)."""
    X = jnp.ones(stored["shape"])
    n = X.size
    for row in stored["rates"]:
        p = row["p"]
        for name, mask, theirs in (("dropout_layer", nn.keep_mask, "scratch_kept"),
                                   ("dropout (bernoulli)", nn.bernoulli_mask, "concise_kept")):
            Y = nn.dropout_layer(jax.random.key(0), X, p, mask)
            kept = float((Y != 0).mean())
            bound = TOLERANCES["kept sds"].value * np.sqrt(2 * p * (1 - p) / n)
            result.compare(f"p = {p:g}: fraction kept by {name} vs PyTorch's {theirs.split('_')[0]}", kept,
                           row[theirs], atol=bound)
        if p < 1:
            result.compare(f"p = {p:g}: a kept entry becomes 1 / (1 - p)", float(Y.max()), row["kept_value"],
                           tol=TOLERANCES["kept value"])


def functional_demo(params: nn.Params, X: jax.Array) -> str:
    """Markdown: what explicit keys mean for dropout, measured on the trained replay model."""
    key = jax.random.key(0)
    H = jnp.ones((4, 8))
    same = bool(jnp.array_equal(nn.dropout_layer(key, H, 0.5), nn.dropout_layer(key, H, 0.5)))
    k1, k2 = jax.random.split(key)
    differ = bool(jnp.any(nn.dropout_layer(k1, H, 0.5) != nn.dropout_layer(k2, H, 0.5)))
    step_keys = training.step_keys(jax.random.key(1))
    keys = step_keys(0, 3)
    refold = bool(jnp.array_equal(jax.random.key_data(keys[2]),
                                  jax.random.key_data(jax.random.fold_in(jax.random.key(1), 2))))
    model = make_model(RATES)
    evaluation = model(params, X)
    trained = jax.vmap(lambda k: model(params, X, train=True, rng=k))(jax.random.split(jax.random.key(2), 200))
    spread = float(trained.std(axis=0).mean())
    gap = float(jnp.abs(trained.mean(axis=0) - evaluation).mean())
    return (
        "Randomness the functional way: `nn.dropout_layer(key, X, p)` is a pure function of its key.\n\n"
        f"- the same key twice gives the same mask: {same}; two keys split from it give different masks: {differ}\n"
        f"- `fit(..., step_rng=key)` gives step t the key `fold_in(key, t)`: step 2's key equals "
        f"`fold_in(key, 2)`: {refold}; nothing is carried from step to step, so any step can be rerun alone\n"
        "- training mode is `model(params, X, train=True, rng=key)`, evaluation is `model(params, X)`: no `model.eval()` state. "
        f"On the trained replay model and 8 validation images, the logits in training mode vary from key to key "
        f"(standard deviation over 200 keys, averaged: {spread:.3f}) while evaluation is deterministic; the mean "
        f"over the 200 keys lies {gap:.3f} (mean absolute difference) from the evaluation logits, the 1 / (1 - p) "
        "scaling keeping each hidden unit's expectation (not exactly the logits', through the second ReLU)."
    )


# ----------------------------------------------------------------------------- experiment


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    data = fashion_mnist.load()
    compare_masks(result, ref["masks"])

    stored = ref["replay"]
    names = ("optimizers.sgd",) if fast else ("optimizers.sgd", "optimizers.optax_sgd")
    replays = {}
    for name in names:
        replays[name] = replay(stored, data, getattr(optimizers, name.split(".")[1]))
        compare_replay(result, f"replay / {name}", replays[name], stored)
    result.text(
        "Replay: the generator drew the initial parameters, each epoch's minibatch order and, for every step, "
        "the two (256, 256) keep-masks from `np.random.default_rng(56)`; PyTorch's DropoutMLPScratch used them "
        "in place of `torch.rand(X.shape) > dropout`, and jaxdl draws them again from the same seed (the "
        "checksums above) and feeds each step its masks through `fit(..., step_rng=lambda epoch, n: masks[epoch])` "
        f"and `models.dropout_mlp(..., mask=nn.given_mask)`. {stored['num_train']} images, {stored['epochs']} epochs, "
        f"{len(stored['step_losses'])} steps of torch.optim.SGD (lr {stored['lr']}); PyTorch kept "
        f"{stored['masks_kept_fraction']:.4f} of the hidden units over all masks."
    )
    result.text(functional_demo(replays["optimizers.sgd"]["params"], fashion_mnist.scale(data.X_val[:8])))

    epochs = 1 if fast else EPOCHS
    keys = [jax.random.key(seed) for seed in range(BOOK_KEYS)]
    rows = []
    for kind, (mask, optimizer) in MODELS.items():
        book = ref["book"][kind]
        _, runs = train_many(keys, data, mask=mask, optimizer=optimizer(LR), epochs=epochs)
        check_band(result, f"book {kind}", runs, book)
        rows += [history_row(f"jaxdl {kind}, key {seed}", h) for seed, h in enumerate(runs)]
        rows += torch_rows(kind, book, epochs)
        result.save_figure(plotting.plot_history(runs[0]).figure, f"train_{kind}.png")
        result.save_figure(plot_band({f"jaxdl key {seed}": h for seed, h in enumerate(runs)}, book,
                                     f"{kind} dropout MLP: val acc"), f"band_{kind}.png")
    result.text(
        f"Book runs, {epochs} epoch(s) on all {data.X_train.shape[0]} training images (784-256-256-10, ReLU, "
        "dropout 0.5 after each hidden layer, batch 256, lr 0.1, nn.Linear's default init):\n\n"
        + HISTORY_HEADER + "\n" + "\n".join(rows) + "\n\n"
        "Each library draws its own init, orders and masks, so only the spread can be compared: the mean of "
        f"jaxdl's {BOOK_KEYS} keys (trained together in one compiled call, `jaxdl.fit_many(step_rng=...)`) "
        f"must lie within the PyTorch seeds' range widened by {TOLERANCES['band val_acc'].value} accuracy and "
        f"{TOLERANCES['band losses'].value} in the losses. The training loss is measured with dropout on, the "
        "validation numbers with it off. Scratch: `nn.keep_mask` (d2l's U[0, 1) > p) with `optimizers.sgd`; concise: "
        "`nn.bernoulli_mask` (`jax.random.bernoulli`, as nn.Dropout draws) with `optimizers.optax_sgd`; the step "
        "keys come from `fit_many(..., step_rng=keys)`, key i's as `fit(..., step_rng=keys[i])` draws them."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
