"""What d2l 4.4's softmax regression from scratch shares with its exercises and 4.5: the replay of the stored
PyTorch runs, d2l's book runs and their bands, with the tolerance entries they use (a support module, not an
experiment; 4.4's TOLERANCES table holds these entries)."""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.harness import bands
from experiments.harness import replay as draws
from experiments.harness.result import Margin, model_devices, Result, Tolerance, Tolerances
from jaxdl import Dataset, History, models, nn, training
from jaxdl.many import stack, unstack
from jaxdl.training import fit_many

LR, BATCH_SIZE, EPOCHS, SIGMA = 0.1, 256, 10, 0.01  # d2l 4.4's hyperparameters
FAST_EPOCHS = 2

# 4.4's tolerance entries that the replay and the book bands use; 4.4's TOLERANCES table holds them all.
SOFTMAX_TOLERANCES: Tolerances = {
    # Book bands: jaxdl's final numbers must lie within [min - margin, max + margin] of the PyTorch seeds.
    "band val_acc": Margin(0.01, why="the project's goal: within 1 accuracy point of PyTorch's seeds"),
    "band train_loss": Margin(0.005, why="a few times the seeds' spread of the last epoch's mean training loss (~0.001)"),
    "band val_loss": Margin(0.02, why="a few times the seeds' spread (~0.01); the last epoch's validation numbers move "
                                     "with the last few minibatches, so they get the wider margin"),
    "replay steps": Tolerance(rtol=1e-4, why="the project's per-step rtol: float32 sums in another order"),
    "replay val acc": Tolerance(atol=1e-6, why="accuracy on the replay's validation subset: equal counts, float32 division"),
    # parameters after 200 float32 SGD steps, where sums over 784 rows add up 784 roundings
    "final W_norm": Tolerance(rtol=1e-5, why="the norm of W after 200 float32 steps"),
    "final W_sum": Tolerance(atol=1e-4, why="a sum over 7840 entries of ~0.01 each adds up their roundings"),
    "final W_column_sums": Tolerance(atol=1e-4, why="sums over 784 rows add up 784 roundings"),
    "final W_rows": Tolerance(atol=1e-5, why="single entries of size ~0.01 after 200 float32 updates"),
    "final b": Tolerance(atol=1e-5, why="10 biases of size ~0.1 after 200 float32 updates"),
    # gradients at init; the sum of all of dW is 0 in exact arithmetic (softmax - one_hot sums to 0 over the
    # classes), so only rounding noise of the 7840 entries is left to compare there
    "init grad_W_norm": Tolerance(rtol=1e-5, why="float32 gradient of one batch of 256, summed in another order"),
    "init grad_W_sum": Tolerance(atol=1e-5, why="0 in exact arithmetic: only the rounding noise of 7840 entries is left"),
    "init grad_W_column_sums": Tolerance(rtol=1e-5, atol=1e-6, why="sums over 784 rows; atol for sums near 0"),
    "init grad_W_rows": Tolerance(rtol=1e-5, atol=1e-7, why="single entries; atol for entries near 0"),
    "init grad_b": Tolerance(rtol=1e-5, atol=1e-7, why="softmax - one_hot averaged over the batch; atol near 0"),
    "init loss": Tolerance(rtol=1e-6, why="one float32 mean of 256 cross-entropies"),
}
MARGINS = {key: SOFTMAX_TOLERANCES[f"band {key}"].value for key in ("train_loss", "val_loss", "val_acc")}
STEP_RTOL = SOFTMAX_TOLERANCES["replay steps"].rtol
PARAM_TOLERANCES = {key: SOFTMAX_TOLERANCES[f"final {key}"] for key in ("W_norm", "W_sum", "W_column_sums", "W_rows", "b")}
GRAD_TOLERANCES = {key: SOFTMAX_TOLERANCES[f"init {key}"]
                   for key in ("grad_W_norm", "grad_W_sum", "grad_W_column_sums", "grad_W_rows", "grad_b")}
# The book rows are decided by the mean of BOOK_KEYS jaxdl keys (trained together by fit_many), not by one
# lucky or unlucky key; the table still shows key 0 beside every PyTorch seed.
BOOK_KEYS = 8
BAND_RULE = f"mean of {BOOK_KEYS} jaxdl keys inside"

Params = nn.Params
MODEL = models.softmax_regression()  # its apply serves every size: flatten, then X @ W.T + b


def softmax_params(W: Any, b: Any) -> Params:
    """Hand-built parameters in models.softmax_regression's structure: (flatten's (), the dense layer's dict)."""
    return ((), {"W": jnp.asarray(W), "b": jnp.asarray(b)})


def dense(params: Params) -> dict[str, Any]:
    """The dense layer's {"W", "b"} of softmax regression's parameters (or of their gradients)."""
    return params[1]


def init_softmax(key: jax.Array, sigma: float | None = SIGMA, input_shape: tuple[int, ...] = (1, 28, 28)) -> Params:
    """models.softmax_regression(10, sigma)'s parameters for 28 x 28 images (the old softmax_init's draws)."""
    return models.init(models.softmax_regression(10, sigma), key, input_shape)


def replay_draws(setup: dict[str, Any]) -> tuple[Params, list[np.ndarray]]:
    """The generator's NumPy draws: initial parameters, then one permutation of the subset per epoch.

    init "normal" is d2l 4.4's W ~ N(0, 0.01^2), b = 0; "uniform" is nn.Linear's U(-1/sqrt(784), 1/sqrt(784)).
    """
    (W, b), orders = draws.softmax_replay_draws(setup["seed"], setup["init"], SIGMA, setup["num_train"],
                                                 setup["epochs"])
    return softmax_params(W.T, b), orders  # d2l's (784, 10) is jaxdl's (10, 784)


order_checksum = draws.order_checksum  # the generator's position-weighted sum of the batch orders


def replay_subset(dataset: Dataset, setup: dict[str, Any]) -> Dataset:
    """The fixed subset the replay trains on: the first training and validation images."""
    n, m = setup["num_train"], setup["num_val"]
    return Dataset(dataset.X_train[:n], dataset.y_train[:n], dataset.X_val[:m], dataset.y_val[:m])


def replay(
    model: nn.Layer, loss: Callable, params: Params, optimizer: optax.GradientTransformation,
    subset: Dataset, orders: list[np.ndarray], batch_size: int,
) -> tuple[Params, dict[str, np.ndarray]]:
    """Trains on exactly the given batch orders (one compiled lax.scan per epoch).

    Returns the final parameters and the per-step losses with the subset's validation loss and
    accuracy after each epoch.
    """
    params, _, history = training.fit(model, loss, params, subset, optimizer, orders=orders, batch_size=batch_size,
                                      callbacks=())
    return params, {"step_losses": history.train_loss, "val_loss": history.val_loss, "val_acc": history.val_metric}


def param_summary(params: Params, rows: tuple[int, int] = (400, 406)) -> dict[str, np.ndarray]:
    """What the generator stores of W in d2l's (784 x 10) layout: norm, sum, column sums and rows 400-405;
    b in full (params in models.softmax_regression's structure)."""
    params = dense(params)
    W32 = np.asarray(params["W"]).T
    W = W32.astype(np.float64)
    return {"W_norm": np.linalg.norm(W), "W_sum": W.sum(), "W_column_sums": W.sum(0),
            "W_rows": W32[rows[0] : rows[1]], "b": np.asarray(params["b"])}


def init_gradients(model: nn.Layer, loss: Callable, params: Params, subset: Dataset, order: np.ndarray,
                   batch_size: int) -> dict[str, Any]:
    """The mean loss on the first replay batch at the initial parameters, and its gradient (jax.grad)."""
    rows = jnp.asarray(order[:batch_size])
    objective = training.make_objective(model, loss)
    (value, _), grads = jax.value_and_grad(objective, has_aux=True)(params, None, subset.X_train[rows],
                                                                    subset.y_train[rows], jnp.ones(batch_size))
    return {"loss": value, **{f"grad_{k}": v for k, v in param_summary(grads).items()}}


def check_replay(result: Result, model: nn.Layer, loss: Callable, ref: dict[str, Any], dataset: Dataset,
                 runs: list[tuple[str, str, optax.GradientTransformation]]) -> None:
    """Checks the init gradients, then replays each (stored torch run, jaxdl optimizer name, optimizer)
    and compares step losses, subset validation numbers and final parameters."""
    setup = ref["setup"]
    params0, orders = replay_draws(setup)
    result.compare("replay: batch-order checksum", order_checksum(orders), setup["order_checksum"])
    result.compare("replay: initial W sum", np.asarray(dense(params0)["W"], np.float64).sum(), setup["init_W_sum"])
    subset = replay_subset(dataset, setup)

    grads = init_gradients(model, loss, params0, subset, orders[0], setup["batch_size"])
    theirs = ref["init_gradients"]
    result.compare("init: first-batch loss", grads["loss"], theirs["loss"], tol=SOFTMAX_TOLERANCES["init loss"])
    for key, tol in GRAD_TOLERANCES.items():
        result.compare(f"init: {key}", grads[key], theirs[key], tol=tol)

    for torch_name, label, optimizer in runs:
        params, history = replay(model, loss, params0, optimizer, subset, orders, setup["batch_size"])
        theirs = ref[torch_name]
        prefix = f"replay {label} vs torch {torch_name}"
        result.compare(f"{prefix}: {len(history['step_losses'])} step losses", history["step_losses"],
                       theirs["step_losses"], rtol=STEP_RTOL)
        result.compare(f"{prefix}: val loss per epoch", history["val_loss"], theirs["val_loss"], rtol=STEP_RTOL)
        # The same hits out of 1000; the float32 means may differ in the last bit (summation order).
        result.compare(f"{prefix}: val accuracy per epoch", history["val_acc"], theirs["val_acc"], tol=SOFTMAX_TOLERANCES["replay val acc"])
        ours = param_summary(params)
        for key, tol in PARAM_TOLERANCES.items():
            result.compare(f"{prefix}: final {key}", ours[key], theirs["final_params"][key], tol=tol)


def train_book(loss: Callable, params: Params, dataset: Dataset, optimizer: optax.GradientTransformation,
               key: jax.Array, epochs: int) -> tuple[Params, History, float]:
    """d2l's Trainer.fit on the full data: shuffled batches of 256, last partial batch kept; wall seconds."""
    start = time.perf_counter()
    params, _, history = training.fit(MODEL, loss, params, dataset, optimizer, key=key,
                                      epochs=epochs, batch_size=BATCH_SIZE, callbacks=())
    return params, history, time.perf_counter() - start


def train_books(loss: Callable, init: Callable[[jax.Array], Params], dataset: Dataset,
                optimizer: optax.GradientTransformation, keys: list[jax.Array], epochs: int,
                ) -> tuple[list[Params], list[History], float]:
    """`train_book` for every key at once (fit_many): each key split into (init key, batch-order key) as the
    single run splits key 0; wall seconds of the whole call."""
    start = time.perf_counter()
    splits = [jax.random.split(key) for key in keys]
    params, _, histories = fit_many(MODEL, loss, stack([init(k) for k, _ in splits]), dataset, optimizer,
                                    keys=jnp.stack([k for _, k in splits]), epochs=epochs, batch_size=BATCH_SIZE,
                                    devices=model_devices(len(keys)), callbacks=())
    return unstack(params), histories, time.perf_counter() - start


def final_metrics(history: History) -> dict[str, float]:
    """The last epoch's mean training loss, validation loss and validation accuracy."""
    return {"train_loss": float(history.epoch_train_loss()[-1]), "val_loss": float(history.val_loss[-1]),
            "val_acc": float(history.val_metric[-1])}


def check_book(result: Result, label: str, histories: list[History], book: dict[str, Any]) -> dict[str, float]:
    """The mean of jaxdl's final numbers over its keys against the band of the PyTorch seeds at the same epoch."""
    epoch = histories[0].epochs
    runs = [final_metrics(h) for h in histories]
    ours = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
    for key in ours:
        seeds = np.array([run[key][epoch - 1] for run in book["runs"]])
        bands.check_mean(
            result, f"{label}: {key} after epoch {epoch}, mean of {len(runs)} keys (torch seeds ± {MARGINS[key]})",
            [r[key] for r in runs], seeds, margin=MARGINS[key],
            reference=f"{seeds.min():.4f}..{seeds.max():.4f}; rule: mean of {len(runs)} jaxdl keys inside")
    return ours


def book_table(label: str, history: History, seconds: float, book: dict[str, Any]) -> str:
    """Markdown: jaxdl's run beside each PyTorch seed (final numbers and wall time)."""
    epoch = history.epochs
    ours = final_metrics(history)
    lines = ["| run | epochs | train loss | val loss | val acc | wall time (s) |", "|---|---|---|---|---|---|",
             f"| jaxdl {label} | {epoch} | {ours['train_loss']:.4f} | {ours['val_loss']:.4f} | {ours['val_acc']:.4f} "
             f"| {seconds:.2f} (compile {history.compile_seconds:.2f}, train {history.train_seconds:.2f}) |"]
    for run in book["runs"]:
        lines.append(f"| PyTorch seed {run['seed']} | {epoch} | {run['train_loss'][epoch - 1]:.4f} | "
                     f"{run['val_loss'][epoch - 1]:.4f} | {run['val_acc'][epoch - 1]:.4f} | "
                     f"{run['timing']['seconds'] * epoch / book['epochs']:.2f} |")
    return "\n".join(lines)
