"""d2l 5.2 Implementation of multilayer perceptrons: the scratch and concise MLPs on Fashion-MNIST, beside PyTorch."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.ch5.mlp import (
    ACC_MARGIN,
    BAND_LOSSES,
    BAND_VAL_ACC,
    BOOK_KEYS,
    EPOCHS,
    FINAL_CONCISE,
    FINAL_SCRATCH,
    FINAL_TOL,
    HISTORY_HEADER,
    LOSS_MARGIN,
    MODELS,
    NUM_HIDDENS,
    NUM_INPUTS,
    NUM_OUTPUTS,
    WEIGHT_NORM,
    WEIGHT_SLICE,
    LR,
    check_band,
    checksum,
    compare_summary,
    dense_layers,
    history_row,
    mlp_params,
    plot_band,
    summary,
    torch_rows,
    train_mlps,
)
from experiments.harness import references
from experiments.harness import replay as draws
from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import losses, models, optimizers, plotting, training
from jaxdl.data import Dataset
from jaxdl.datasets import fashion_mnist

SECTION = "5.2"
TITLE = "Implementation of multilayer perceptrons"
REFERENCE = "ch5_2_mlp_implementation"

TOLERANCES: Tolerances = {
    # Book band margins, added on both sides of the spread of the PyTorch seeds.
    "band val_acc": BAND_VAL_ACC,
    "band losses": BAND_LOSSES,
    "init loss": Tolerance(rtol=1e-6, why="one float32 mean of 256 cross-entropies"),
    "weight norm": WEIGHT_NORM,
    "weight slice": WEIGHT_SLICE,
    "init grad W": Tolerance(rtol=1e-4, atol=1e-7, why="rtol: the sum of a gradient matrix; atol: per entry, "
                                                       "gradients of ~1e-4 summed over 256 examples"),
    "init grad b": Tolerance(rtol=1e-5, atol=1e-8, why="bias gradients, small entries near 0"),
    "replay steps": Tolerance(rtol=1e-4, why="the project's per-step rtol: float32 sums in another order"),
    # The scratch model, W ~ N(0, 0.01^2), starts with nearly identical hidden units and amplifies float32
    # rounding far more than the concise one; the float64 witness in `run` measures by how much.
    "final scratch": FINAL_SCRATCH,
    "final concise": FINAL_CONCISE,
    "val loss": Tolerance(rtol=1e-4, why="mean loss over the 1000-image validation subset after the replay"),
    "val acc": Tolerance(atol=1e-3, why="one example of the 1000 may flip when two logits are within float32 noise"),
}


# ----------------------------------------------------------------------------- training
def loss_per_accuracy_point(books: list[dict[str, Any]]) -> float:
    """How much the validation loss moves per percentage point of validation accuracy across PyTorch's runs
    (least-squares slope over every seed and epoch)."""
    acc = np.concatenate([np.ravel(book["val_acc"]) for book in books])
    loss = np.concatenate([np.ravel(book["val_loss"]) for book in books])
    return float(np.polyfit(acc, loss, 1)[0] * 0.01)


# ----------------------------------------------------------------------------- replay
def replay(ref: dict[str, Any], data: Dataset, optimizer: Callable[[float], optax.GradientTransformation],
           dtype: Any = np.float32) -> dict[str, Any]:
    """Replays one stored PyTorch run: same initial parameters, same minibatches, the given jaxdl optimizer.

    dtype=np.float64 (inside `jax.enable_x64(True)`) runs the same trajectory in double precision.
    """
    init, orders = draws.mlp_replay_draws(ref["seed"], ref["kind"], [NUM_INPUTS, NUM_HIDDENS, NUM_OUTPUTS],
                                          ref["num_train"], ref["epochs"])
    X, y = data.X_train[: ref["num_train"]], data.y_train[: ref["num_train"]]
    params = mlp_params([{"W": jnp.asarray(W.T.astype(dtype)), "b": jnp.asarray(b.astype(dtype))} for W, b in init])
    model = models.mlp(NUM_HIDDENS, NUM_OUTPUTS)

    objective = training.make_objective(model, losses.softmax_cross_entropy)
    first = orders[0][: ref["batch_size"]]
    (init_loss, _), init_grads = jax.jit(jax.value_and_grad(objective, has_aux=True))(
        params, None, X[first], y[first], jnp.ones(len(first)))

    subset = Dataset(X, y, data.X_val[: ref["num_val"]], data.y_val[: ref["num_val"]])
    params, _, history = training.fit(model, losses.softmax_cross_entropy, params, subset,
                                      optimizer(ref["lr"]), orders=orders, batch_size=ref["batch_size"], callbacks=())
    return {
        "init_checksum": checksum(*(a for layer in init for a in layer)),
        "orders_checksum": checksum(*orders),
        "init_grads": {"loss": init_loss,
                       "layers": [{"W": summary(g["W"]), "b": g["b"]} for g in dense_layers(init_grads)]},
        "step_losses": history.train_loss,
        "final": [{"W": summary(p["W"]), "b": p["b"]} for p in dense_layers(params)],
        "val_loss": history.val_loss[-1],
        "val_acc": history.val_metric[-1],
    }


def compare_replay(result: Result, label: str, ours: dict[str, Any], ref: dict[str, Any]) -> None:
    """Every stored number of one replay against jaxdl's."""
    result.compare(f"{label}: initial parameters (sha256)", ours["init_checksum"][:16], ref["init_checksum"][:16])
    result.compare(f"{label}: minibatch orders (sha256)", ours["orders_checksum"][:16], ref["orders_checksum"][:16])
    grads = ref["init_grads"]
    result.compare(f"{label}: loss at init, first batch", ours["init_grads"]["loss"], grads["loss"], tol=TOLERANCES["init loss"])
    for i, (g, theirs) in enumerate(zip(ours["init_grads"]["layers"], grads["layers"]), start=1):
        compare_summary(result, f"{label}: grad W{i} at init", g["W"], theirs["W"], atol=TOLERANCES["init grad W"].atol,
                        sum_rtol=TOLERANCES["init grad W"].rtol)
        result.compare(f"{label}: grad b{i} at init", g["b"], theirs["b"], tol=TOLERANCES["init grad b"])
    result.compare(f"{label}: loss of every step ({len(ref['step_losses'])})", ours["step_losses"],
                   ref["step_losses"], tol=TOLERANCES["replay steps"])
    tol = FINAL_TOL[ref["kind"]]
    for i, (p, theirs) in enumerate(zip(ours["final"], ref["final"]), start=1):
        compare_summary(result, f"{label}: final W{i}", p["W"], theirs["W"], **tol)
        result.compare(f"{label}: final b{i}", p["b"], theirs["b"], atol=tol["atol"])
    result.compare(f"{label}: val loss (subset)", ours["val_loss"], ref["val_loss"], tol=TOLERANCES["val loss"])
    # One example of the 1000 may flip when two logits are within float32 noise of each other.
    result.compare(f"{label}: val acc (subset)", ours["val_acc"], ref["val_acc"], tol=TOLERANCES["val acc"])


def float64_witness(kind: str, stored: dict[str, Any], data: Dataset, ours: dict[str, Any]) -> str:
    """Markdown rows: the float32 runs' largest differences from each other and from a float64 replay."""
    with jax.enable_x64(True):
        exact = replay(stored, data, optimizers.sgd, dtype=np.float64)
    quantities = {
        "step losses": lambda r: r["step_losses"],
        "final b1": lambda r: r["final"][0]["b"],
        "final W1 slice": lambda r: r["final"][0]["W"]["slice"],
        "final W1 sum": lambda r: r["final"][0]["W"]["sum"],
    }
    rows = []
    for quantity, get in quantities.items():
        a, t, e = (np.asarray(get(r), np.float64) for r in (ours, stored, exact))
        rows.append(f"| {kind} | {quantity} | {np.abs(a - t).max():.2g} | {np.abs(a - e).max():.2g} | "
                    f"{np.abs(t - e).max():.2g} |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- experiment
def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    data = fashion_mnist.load()

    runs = [(kind, name, optimizer) for kind in MODELS
            for name, optimizer in (("optimizers.sgd", optimizers.sgd), ("optimizers.optax_sgd", optimizers.optax_sgd))]
    witness_rows, replays = [], {}
    for kind, name, optimizer in runs[::3] if fast else runs:  # fast: scratch with sgd, concise with optax_sgd
        stored = ref["replay"][kind]
        replays[kind, name] = ours = replay(stored, data, optimizer)
        compare_replay(result, f"replay {kind} / {name}", ours, stored)
        if name == "optimizers.sgd":
            witness_rows.append(float64_witness(kind, stored, data, ours))
    for kind in ref["replay"]:
        if (kind, "optimizers.optax_sgd") in replays and (kind, "optimizers.sgd") in replays:
            result.compare(f"replay {kind}: optimizers.sgd vs optimizers.optax_sgd, every step",
                           replays[kind, "optimizers.sgd"]["step_losses"],
                           replays[kind, "optimizers.optax_sgd"]["step_losses"])
    result.text(
        "Replay: the generator drew the initial parameters and every epoch's minibatch order from "
        "`np.random.default_rng(seed)`; jaxdl draws them again from the same seed (the checksums above "
        f"confirm it) and trains on the same {ref['replay']['scratch']['num_train']} images, so both follow one "
        "trajectory. The scratch run is compared with d2l's hand-written `param -= lr * grad`, the concise "
        "one with `torch.optim.SGD`, each for both jaxdl optimizers.\n\n"
        "How far float32 rounding alone moves each trajectory: the same replay in float64 (jaxdl under "
        "`jax.enable_x64`) against both float32 runs, largest absolute differences:\n\n"
        "| model | quantity | jaxdl f32 vs PyTorch f32 | jaxdl f32 vs f64 | PyTorch f32 vs f64 |\n"
        "|---|---|---|---|---|\n"
        + "\n".join(witness_rows)
        + "\n\nThe two float32 runs differ from each other by as much as each differs from the float64 one: the replay "
        "differences are rounding, amplified more by the scratch model, hence its wider final-parameter "
        "tolerance."
    )

    epochs = 1 if fast else EPOCHS
    keys = [jax.random.key(seed) for seed in range(BOOK_KEYS)]
    rows = []
    for kind, (sigma, optimizer) in MODELS.items():
        book = ref["book"][kind]
        _, runs = train_mlps(keys, data, sigma=sigma, optimizer=optimizer(LR), epochs=epochs)
        check_band(result, f"book {kind}", runs, book)
        histories = {f"jaxdl key {seed}": history for seed, history in enumerate(runs)}
        rows += [history_row(f"jaxdl {kind}, key {seed}", history) for seed, history in enumerate(runs)]
        rows += torch_rows(kind, book, epochs)
        first = next(iter(histories.values()))
        result.save_figure(plotting.plot_history(first).figure, f"train_{kind}.png")
        result.save_figure(plot_band(histories, book, f"{kind} MLP: val acc"), f"band_{kind}.png")
    result.text(f"Book runs, {epochs} epoch(s) on all {data.X_train.shape[0]} training images:\n\n"
                + HISTORY_HEADER + "\n" + "\n".join(rows))
    result.text(
        "Book: the same training as d2l (784-256-10 ReLU MLP, batch 256, lr 0.1), each library with its own "
        f"random numbers, so only the spread can be compared: the mean of jaxdl's {BOOK_KEYS} keys (trained "
        "together in one compiled call, `jaxdl.fit_many`) must lie within the range of the "
        f"PyTorch seeds widened by {ACC_MARGIN} accuracy (the project's one-point goal) and {LOSS_MARGIN} in the "
        f"losses (across the PyTorch runs, one accuracy point goes with "
        f"{abs(loss_per_accuracy_point(list(ref['book'].values()))):.3f} of validation loss). Scratch: "
        "W ~ N(0, 0.01^2), zero biases, `optimizers.sgd`; concise: `models.mlp(sigma=None)` (nn.Linear's "
        "uniform init) with `optimizers.optax_sgd`. jaxdl compiles each epoch into one `lax.scan`; PyTorch's "
        "time is for the whole run on one thread, DataLoader included."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
