"""d2l 5.2 Implementation of multilayer perceptrons: the scratch and concise MLPs on Fashion-MNIST, beside PyTorch."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

from experiments.harness.result import cli, Margin, model_devices, Result, Tolerance, Tolerances
from jaxdl import losses, models, optimizers, plotting, training
from jaxdl.datasets import fashion_mnist
from experiments.harness import bands, references
from jaxdl.data import Dataset
from jaxdl.many import fit_many, stack, unstack
from jaxdl.training import History

SECTION = "5.2"
TITLE = "Implementation of multilayer perceptrons"
REFERENCE = "ch5_2_mlp_implementation"

TOLERANCES: Tolerances = {
    # Book band margins, added on both sides of the spread of the PyTorch seeds.
    "band val_acc": Margin(0.01, why="the project's goal: within one accuracy point of PyTorch's seeds"),
    "band losses": Margin(0.03, why="what one accuracy point is worth in validation loss across the PyTorch runs "
                                   "(about 0.026, see loss_per_accuracy_point), rounded up"),
    "init loss": Tolerance(rtol=1e-6, why="one float32 mean of 256 cross-entropies"),
    "weight norm": Tolerance(rtol=1e-5, why="the norm of a float32 matrix, accumulated in another order"),
    "weight slice": Margin(1e-4, why="rtol of the mid 8 x 8 entries of a weight matrix (with that matrix's atol)"),
    "init grad W": Tolerance(rtol=1e-4, atol=1e-7, why="rtol: the sum of a gradient matrix; atol: per entry, "
                                                       "gradients of ~1e-4 summed over 256 examples"),
    "init grad b": Tolerance(rtol=1e-5, atol=1e-8, why="bias gradients, small entries near 0"),
    "replay steps": Tolerance(rtol=1e-4, why="the project's per-step rtol: float32 sums in another order"),
    # The scratch model, W ~ N(0, 0.01^2), starts with nearly identical hidden units and amplifies float32
    # rounding far more than the concise one; the float64 witness in `run` measures by how much.
    "final scratch": Tolerance(rtol=5e-4, atol=1e-4, why="rtol: the sum of a weight matrix; atol: per element. The "
                                                         "scratch MLP amplifies float32 rounding (float64 witness)"),
    "final concise": Tolerance(rtol=1e-4, atol=1e-5, why="rtol: the sum of a weight matrix; atol: per element"),
    "val loss": Tolerance(rtol=1e-4, why="mean loss over the 1000-image validation subset after the replay"),
    "val acc": Tolerance(atol=1e-3, why="one example of the 1000 may flip when two logits are within float32 noise"),
}

NUM_INPUTS, NUM_HIDDENS, NUM_OUTPUTS = 784, 256, 10
LR, BATCH_SIZE, EPOCHS = 0.1, 256, 10
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
FINAL_TOL = {kind: {"atol": TOLERANCES[f"final {kind}"].atol, "sum_rtol": TOLERANCES[f"final {kind}"].rtol}
             for kind in ("scratch", "concise")}

# Book band margins, added on both sides of the spread of the PyTorch seeds. Accuracy: the project's goal,
# within one percentage point of PyTorch. Losses: what one accuracy point is worth in validation loss across
# the PyTorch runs (about 0.026, see loss_per_accuracy_point), rounded up.
ACC_MARGIN = TOLERANCES["band val_acc"].value
LOSS_MARGIN = TOLERANCES["band losses"].value


# ----------------------------------------------------------------------------- training


def train_mlp(
    key: jax.Array,
    data: Dataset,
    *,
    sigma: float | None,
    optimizer: optax.GradientTransformation,
    epochs: int,
    num_hiddens: int | Sequence[int] = NUM_HIDDENS,
    activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
) -> tuple[list[models.Params], History]:
    """d2l's Trainer on an MLP: init from one half of key, 256-example shuffled minibatches from the other."""
    key_init, key_fit = jax.random.split(key)
    init = jax.jit(partial(models.mlp_init, num_inputs=NUM_INPUTS, num_hiddens=num_hiddens,
                           num_outputs=NUM_OUTPUTS, sigma=sigma))
    params = init(key_init)
    apply = partial(models.mlp_apply, activation=activation)
    return training.fit(apply, losses.softmax_cross_entropy, params, data, optimizer, key=key_fit,
                        epochs=epochs, batch_size=BATCH_SIZE, progress=False)


def train_mlps(
    keys: Sequence[jax.Array],
    data: Dataset,
    *,
    sigma: float | None,
    optimizer: optax.GradientTransformation,
    epochs: int,
    num_hiddens: int | Sequence[int] = NUM_HIDDENS,
    activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
) -> tuple[list[list[models.Params]], list[History]]:
    """`train_mlp` for every key, all trained in one compiled call (fit_many, the keys spread over the local
    devices); key i's run is train_mlp's."""
    splits = [jax.random.split(key) for key in keys]
    init = jax.jit(partial(models.mlp_init, num_inputs=NUM_INPUTS, num_hiddens=num_hiddens,
                           num_outputs=NUM_OUTPUTS, sigma=sigma))
    apply = partial(models.mlp_apply, activation=activation)
    params, histories = fit_many(apply, losses.softmax_cross_entropy, stack([init(k) for k, _ in splits]), data,
                                 optimizer, keys=jnp.stack([k for _, k in splits]), epochs=epochs,
                                 batch_size=BATCH_SIZE, devices=model_devices(len(keys)))
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


def loss_per_accuracy_point(books: list[dict[str, Any]]) -> float:
    """How much the validation loss moves per percentage point of validation accuracy across PyTorch's runs
    (least-squares slope over every seed and epoch)."""
    acc = np.concatenate([np.ravel(book["val_acc"]) for book in books])
    loss = np.concatenate([np.ravel(book["val_loss"]) for book in books])
    return float(np.polyfit(acc, loss, 1)[0] * 0.01)


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


# ----------------------------------------------------------------------------- replay


def replay_init(rng: np.random.Generator, kind: str, sizes: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The reference generator's initial (W (in, out), b) per layer, drawn from the same NumPy generator in
    the same order: N(0, 0.01^2) and zeros (scratch) or U(-1/sqrt(in), 1/sqrt(in)) for both (concise)."""
    layers = []
    for m, n in zip(sizes[:-1], sizes[1:]):
        if kind == "scratch":
            layers.append(((0.01 * rng.standard_normal((m, n))).astype(np.float32), np.zeros(n, np.float32)))
        else:
            bound = 1 / np.sqrt(m)
            W = rng.uniform(-bound, bound, (m, n)).astype(np.float32)
            layers.append((W, rng.uniform(-bound, bound, n).astype(np.float32)))
    return layers


def checksum(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' bytes, to confirm both sides drew the same numbers."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def summary(W: jax.Array) -> dict[str, Any]:
    """A jaxdl (out, in) weight matrix as the generator stores it in d2l's (in, out) layout: norm, sum and
    the 8 x 8 slice from its middle rows."""
    a = np.asarray(W).T
    r = a.shape[0] // 2
    return {"norm": np.linalg.norm(a.astype(np.float64)), "sum": a.astype(np.float64).sum(), "slice": a[r : r + 8, :8]}


def replay(ref: dict[str, Any], data: Dataset, optimizer: Callable[[float], optax.GradientTransformation],
           dtype: Any = np.float32) -> dict[str, Any]:
    """Replays one stored PyTorch run: same initial parameters, same minibatches, the given jaxdl optimizer.

    dtype=np.float64 (inside `jax.enable_x64(True)`) runs the same trajectory in double precision.
    """
    rng = np.random.default_rng(ref["seed"])
    init = replay_init(rng, ref["kind"], [NUM_INPUTS, NUM_HIDDENS, NUM_OUTPUTS])
    orders = [rng.permutation(ref["num_train"]) for _ in range(ref["epochs"])]
    X, y = data.X_train[: ref["num_train"]], data.y_train[: ref["num_train"]]
    params = [{"W": jnp.asarray(W.T.astype(dtype)), "b": jnp.asarray(b.astype(dtype))} for W, b in init]

    objective = training.make_objective(models.mlp_apply, losses.softmax_cross_entropy)
    first = orders[0][: ref["batch_size"]]
    init_loss, init_grads = jax.jit(jax.value_and_grad(objective))(params, X[first], y[first], jnp.ones(len(first)))

    subset = Dataset(X, y, data.X_val[: ref["num_val"]], data.y_val[: ref["num_val"]])
    params, history = training.fit(models.mlp_apply, losses.softmax_cross_entropy, params, subset,
                                   optimizer(ref["lr"]), orders=orders, batch_size=ref["batch_size"], progress=False)
    return {
        "init_checksum": checksum(*(a for layer in init for a in layer)),
        "orders_checksum": checksum(*orders),
        "init_grads": {"loss": init_loss,
                       "layers": [{"W": summary(g["W"]), "b": g["b"]} for g in init_grads]},
        "step_losses": history.train_loss,
        "final": [{"W": summary(p["W"]), "b": p["b"]} for p in params],
        "val_loss": history.val_loss[-1],
        "val_acc": history.val_metric[-1],
    }


def compare_summary(result: Result, label: str, ours: dict[str, Any], theirs: dict[str, Any], atol: float,
                    sum_rtol: float) -> None:
    """Norm, sum and slice of one weight matrix (or its gradient)."""
    result.compare(f"{label} norm", ours["norm"], theirs["norm"], tol=TOLERANCES["weight norm"])
    result.compare(f"{label} sum", ours["sum"], theirs["sum"], rtol=sum_rtol, atol=atol)
    result.compare(f"{label} [mid 8 x 8]", ours["slice"], theirs["slice"], rtol=TOLERANCES["weight slice"].value, atol=atol)


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
        "together in one compiled call, `jaxdl.many.fit_many`) must lie within the range of the "
        f"PyTorch seeds widened by {ACC_MARGIN} accuracy (the project's one-point goal) and {LOSS_MARGIN} in the "
        f"losses (across the PyTorch runs, one accuracy point goes with "
        f"{abs(loss_per_accuracy_point(list(ref['book'].values()))):.3f} of validation loss). Scratch: "
        "W ~ N(0, 0.01^2), zero biases, `optimizers.sgd`; concise: `models.mlp_init(sigma=None)` (nn.Linear's "
        "uniform init) with `optimizers.optax_sgd`. jaxdl compiles each epoch into one `lax.scan`; PyTorch's "
        "time is for the whole run on one thread, DataLoader included."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
