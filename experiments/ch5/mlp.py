"""What d2l 5.2's MLPs share with 5.2's exercises, 5.6 (and its exercises) and 13.5 (which replays 5.2's runs on
several devices): the models, their training, the book bands and tables, and the replay's parameter summaries
(a support module, not an experiment)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

from experiments.harness import bands
from experiments.harness import replay as draws
from experiments.harness.result import Margin, model_devices, Result, Tolerance
from jaxdl import losses, models, nn, optimizers, training
from jaxdl.data import Dataset
from jaxdl.many import stack, unstack
from jaxdl.training import fit_many, History

NUM_INPUTS, NUM_HIDDENS, NUM_OUTPUTS = 784, 256, 10
LR, BATCH_SIZE, EPOCHS = 0.1, 256, 10

# 5.2's entries that these pieces read; 5.2's TOLERANCES table holds them (13.5 reads FINAL_TOL, 5.6 passes its own
# band margins to check_band).
BAND_VAL_ACC = Margin(0.01, why="the project's goal: within one accuracy point of PyTorch's seeds")
BAND_LOSSES = Margin(0.03, why="what one accuracy point is worth in validation loss across the PyTorch runs "
                     "(about 0.026, see loss_per_accuracy_point), rounded up")


WEIGHT_NORM = Tolerance(rtol=1e-5, why="the norm of a float32 matrix, accumulated in another order")
WEIGHT_SLICE = Margin(1e-4, why="rtol of the mid 8 x 8 entries of a weight matrix (with that matrix's atol)")
FINAL_SCRATCH = Tolerance(rtol=5e-4, atol=1e-4, why="rtol: the sum of a weight matrix; atol: per element. The "
                          "scratch MLP amplifies float32 rounding (float64 witness)")


FINAL_CONCISE = Tolerance(rtol=1e-4, atol=1e-5, why="rtol: the sum of a weight matrix; atol: per element")

# The book rows are decided by the mean over BOOK_KEYS jaxdl keys, trained together in one fit_many call,
# not by any one key; each key's numbers are shown too.
BOOK_KEYS = 4


BAND_RULE = "mean of the jaxdl keys inside"


# The two d2l models: (initial weight scale, optimizer). sigma=None is PyTorch's nn.Linear default init.
MODELS: dict[str, tuple[float | None, Callable[[float], optax.GradientTransformation]]] = {
    "scratch": (0.01, optimizers.sgd),
    "concise": (None, optimizers.optax_sgd),
}


# Replay tolerances on the final parameters: per element (atol) and on the sum of a weight matrix (rtol).
# The scratch model, W ~ N(0, 0.01^2), starts with nearly identical hidden units and amplifies float32
# rounding far more than the concise one; the float64 witness in `run` measures by how much.
FINAL_TOL = {kind: {"atol": tol.atol, "sum_rtol": tol.rtol} for kind, tol in (("scratch", FINAL_SCRATCH), ("concise", FINAL_CONCISE))}


# Book band margins, added on both sides of the spread of the PyTorch seeds. Accuracy: the project's goal,
# within one percentage point of PyTorch. Losses: what one accuracy point is worth in validation loss across
# the PyTorch runs (about 0.026, see loss_per_accuracy_point), rounded up.
ACC_MARGIN = BAND_VAL_ACC.value


LOSS_MARGIN = BAND_LOSSES.value


def mlp_params(layers: Sequence[nn.Params]) -> tuple:
    """Hand-built dense layers (a replay's NumPy draws, one {"W", "b"} per layer) in models.mlp's params
    structure: ``((), l0, (), l1, ...)``, the flatten and every activation holding no parameters."""
    out: list[Any] = [()]
    for i, layer in enumerate(layers):
        out += [layer] if i == len(layers) - 1 else [layer, ()]
    return tuple(out)


def dense_layers(params: Sequence[Any]) -> list[nn.Params]:
    """The dense layers' {"W", "b"} of models.mlp's params, in order (its params[1], params[3], ...)."""
    return [p for p in params if isinstance(p, dict)]


def make_mlp(num_hiddens: int | Sequence[int] = NUM_HIDDENS, sigma: float | None = 0.01,
             activation: models.Activation = nn.relu) -> nn.Layer:
    """d2l 5.2's MLP (784 inputs, 10 outputs) as a layer value."""
    return models.mlp(num_hiddens, NUM_OUTPUTS, activation=activation, sigma=sigma)


def train_mlp(
    key: jax.Array,
    data: Dataset,
    *,
    sigma: float | None,
    optimizer: optax.GradientTransformation,
    epochs: int,
    num_hiddens: int | Sequence[int] = NUM_HIDDENS,
    activation: models.Activation = nn.relu,
) -> tuple[Any, History]:
    """d2l's Trainer on an MLP: init from one half of key, 256-example shuffled minibatches from the other."""
    key_init, key_fit = jax.random.split(key)
    model = make_mlp(num_hiddens, sigma, activation)
    params = jax.jit(lambda k: models.init(model, k, (1, NUM_INPUTS)))(key_init)
    params, _, history = training.fit(model, losses.softmax_cross_entropy, params, data, optimizer, key=key_fit,
                                      epochs=epochs, batch_size=BATCH_SIZE, callbacks=())
    return params, history


def train_mlps(
    keys: Sequence[jax.Array],
    data: Dataset,
    *,
    sigma: float | None,
    optimizer: optax.GradientTransformation,
    epochs: int,
    num_hiddens: int | Sequence[int] = NUM_HIDDENS,
    activation: models.Activation = nn.relu,
) -> tuple[list[Any], list[History]]:
    """`train_mlp` for every key, all trained in one compiled call (fit_many, the keys spread over the local
    devices); key i's run is train_mlp's."""
    splits = [jax.random.split(key) for key in keys]
    model = make_mlp(num_hiddens, sigma, activation)
    init = jax.jit(lambda k: models.init(model, k, (1, NUM_INPUTS)))
    params, _, histories = fit_many(model, losses.softmax_cross_entropy, stack([init(k) for k, _ in splits]), data,
                                    optimizer, keys=jnp.stack([k for _, k in splits]), epochs=epochs,
                                    batch_size=BATCH_SIZE, devices=model_devices(len(keys)), callbacks=())
    return unstack(params), histories


def check_band(result: Result, label: str, histories: Sequence[History], book: dict[str, Any],
               acc_margin: float = ACC_MARGIN, loss_margin: float = LOSS_MARGIN) -> None:
    """The mean of jaxdl's numbers over its keys after the last epoch against the spread of PyTorch's seeds
    after the same epoch, widened by the margins (5.2's unless a section passes its own)."""
    e = histories[0].epochs - 1
    runs = [{"val_acc": h.val_metric[e], "val_loss": h.val_loss[e], "epoch_train_loss": h.epoch_train_loss()[e]}
            for h in histories]
    for name in runs[0]:
        seeds = [run[e] for run in book[name]]
        bands.check_mean(result, f"{label}: {name}, epoch {e + 1}, mean of {len(runs)} keys",
                         [r[name] for r in runs], seeds, margin=acc_margin if name == "val_acc" else loss_margin,
                         reference=f"{min(seeds):.4f}..{max(seeds):.4f} ({len(seeds)} seeds); rule: {BAND_RULE}")


def history_row(label: str, history: History) -> str:
    """One markdown table row: final train loss, val loss, val accuracy and wall times of a run."""
    return (f"| {label} | {history.epoch_train_loss()[-1]:.4f} | {history.val_loss[-1]:.4f} | "
            f"{history.val_metric[-1]:.4f} | {history.compile_seconds:.2f} | {history.train_seconds:.2f} |")


HISTORY_HEADER = ("| run | train loss (last epoch) | val loss | val acc | compile s | train s (jaxdl: all keys together; PyTorch: whole run) |\n"
                  "|---|---|---|---|---|---|")


def torch_rows(label: str, book: dict[str, Any], epochs: int) -> list[str]:
    """The PyTorch seeds' numbers after `epochs` epochs in the same table (wall time: the whole run, 1 thread)."""
    e = epochs - 1
    seconds = book["timing"]["seconds_per_run"]
    return [f"| PyTorch {label}, seed {seed} | {loss[e]:.4f} | {vloss[e]:.4f} | {acc[e]:.4f} | - | {s:.2f} |"
            for seed, loss, vloss, acc, s in zip(book["seeds"], book["epoch_train_loss"], book["val_loss"],
                                                  book["val_acc"], seconds)]


def plot_band(histories: dict[str, History], book: dict[str, Any], title: str) -> Any:
    """Validation accuracy per epoch: PyTorch's seeds in grey, jaxdl's runs in colour."""
    fig, ax = plt.subplots(figsize=(4.5, 3))
    for i, acc in enumerate(book["val_acc"]):
        ax.plot(np.arange(1, len(acc) + 1), acc, color="0.6", lw=1, label="PyTorch seeds" if i == 0 else None)
    for label, h in histories.items():
        ax.plot(np.arange(1, h.epochs + 1), h.val_metric, "o-", ms=3, label=label)
    ax.set(xlabel="epoch", ylabel="val acc", title=title)
    ax.grid(True)
    ax.legend(fontsize=7)
    return fig


checksum = draws.checksum  # SHA-256 of the arrays' bytes, to confirm both sides drew the same numbers


def summary(W: jax.Array) -> dict[str, Any]:
    """A jaxdl (out, in) weight matrix as the generator stores it in d2l's (in, out) layout: norm, sum and
    the 8 x 8 slice from its middle rows."""
    return draws.summary(np.asarray(W).T)


def compare_summary(result: Result, label: str, ours: dict[str, Any], theirs: dict[str, Any], atol: float,
                    sum_rtol: float) -> None:
    """Norm, sum and slice of one weight matrix (or its gradient)."""
    result.compare(f"{label} norm", ours["norm"], theirs["norm"], tol=WEIGHT_NORM)
    result.compare(f"{label} sum", ours["sum"], theirs["sum"], rtol=sum_rtol, atol=atol)
    result.compare(f"{label} [mid 8 x 8]", ours["slice"], theirs["slice"], rtol=WEIGHT_SLICE.value, atol=atol)
