"""d2l 3.7 Weight decay: the L2 penalty from scratch and the decay in the optimizer (optax.add_decayed_weights
masked to the weights), replayed step by step against PyTorch, and d2l's runs against bands of PyTorch seeds."""

from __future__ import annotations

from typing import Any

import jax
import matplotlib.pyplot as plt
import numpy as np
import optax

from experiments.ch3.linear_regression import ReplayRun, linreg_params, replay_dataset
from experiments.harness.result import Margin, Result, Tolerance, Tolerances, cli
from jaxdl import data, losses, models, nn, optimizers, plotting, training
from experiments.harness import bands, references
from experiments.ch3.weight_decay import (
    BATCH_SIZE,
    EPOCH_LOSSES,
    EPOCHS,
    FINAL_PARAMETERS,
    LR,
    NUM_INPUTS,
    NUM_TRAIN,
    NUM_VAL,
    REPLAY_STEPS,
    SIGMA,
    l2_penalty,
    replay,
    scaled,
)
from jaxdl.losses import mse
from jaxdl.data import Dataset

SECTION = "3.7"
TITLE = "Weight decay"
REFERENCE = "ch3_7_weight_decay"

TRUE_W, TRUE_B, NOISE = 0.01, 0.05, 0.01
LAMBDAS = (0.0, 3.0)
# The book rows are decided by the mean over NUM_KEYS jaxdl keys (each key: its own data, init and orders),
# not by any one key; each key's numbers are in the table too.
NUM_KEYS = 8
BAND_RULE = "mean of the jaxdl keys inside"

# Every tolerance and band margin of this experiment, with its reason.
TOLERANCES: Tolerances = {
    "replay steps": REPLAY_STEPS,
    "epoch losses": EPOCH_LOSSES,
    "final parameters": FINAL_PARAMETERS,
    "l2 penalty": Tolerance(rtol=1e-4, why="d2l's 'L2 norm of w', a sum of 200 squares of the replayed w"),
    "decay = penalty": Tolerance(rtol=1e-5, atol=1e-9, why="decay in the optimizer against the penalty in the loss: "
                                 "the same update, w - lr (g + wd w), summed in another order; atol for entries "
                                 "near 0"),
    "book band sds": Margin(1.5, why="band margin in standard deviations of 20 PyTorch seeds, as 3.4: the range of "
                            "20 seeds is about +-1.9 sd, so the band is about +-3.4 sd"),
}


# ----------------------------------------------------------------------------- the model pieces


def weights_only(params: nn.Params) -> dict[str, bool]:
    """The decay mask: True for the weight matrix, False for the bias (d2l's two parameter groups)."""
    return {name: name == "W" for name in params}


def decayed_sgd(weight_decay: float, learning_rate: float) -> optax.GradientTransformation:
    """torch.optim.SGD with weight_decay on the weights only: g + wd * w for W, g for b, then -lr times that."""
    return optax.chain(optax.add_decayed_weights(weight_decay, mask=weights_only),
                       optimizers.optax_sgd(learning_rate))


def high_dimensional_data(key: jax.Array) -> Dataset:
    """d2l 3.7's data from a jaxdl key: 200 inputs, w = 0.01, b = 0.05, noise 0.01, 20 training, 100 validation."""
    return data.synthetic_regression(key, (TRUE_W,) * NUM_INPUTS, TRUE_B, NOISE, NUM_TRAIN, NUM_VAL)


# ----------------------------------------------------------------------------- replay


def compare_replay(result: Result, name: str, run: ReplayRun, ref: dict[str, Any]) -> None:
    """Every step's loss, the validation loss after each epoch, the final parameters and d2l's 'L2 norm of w'."""
    result.compare(f"{name}: loss at each of {len(run.step_losses)} steps", run.step_losses, ref["step_losses"],
                   tol=TOLERANCES["replay steps"])
    result.compare(f"{name}: validation loss after each epoch", run.val_loss, ref["val_loss"],
                   tol=TOLERANCES["epoch losses"])
    result.compare(f"{name}: final w (200 entries)", np.ravel(run.params["W"]), ref["final"]["w"],
                   tol=TOLERANCES["final parameters"])
    result.compare(f"{name}: final b", np.ravel(run.params["b"]), ref["final"]["b"],
                   tol=TOLERANCES["final parameters"])
    result.compare(f"{name}: l2_penalty(w) ('L2 norm of w')", l2_penalty(run.params), ref["l2_penalty_w"],
                   tol=TOLERANCES["l2 penalty"])


def replays(result: Result, ref: dict[str, Any]) -> dict[str, training.History]:
    """The scratch (penalty in the loss) and concise (decay in the optimizer) replays for lambda 0 and 3."""
    dataset = replay_dataset(ref["replay_data"])
    orders = np.asarray(ref["replay_data"]["orders"])
    init = linreg_params(ref["init"]["w"], ref["init"]["b"])
    histories = {}
    for lambd in LAMBDAS:
        stored = ref["replay_scratch"][f"{lambd:g}"]
        for name, optimizer in (("optimizers.sgd", optimizers.sgd(LR)), ("optimizers.optax_sgd",
                                                                          optimizers.optax_sgd(LR))):
            run, history = replay(models.linear_regression(), losses.squared_loss, init, dataset, orders, optimizer,
                                  scaled(l2_penalty, lambd))
            compare_replay(result, f"scratch lambda {lambd:g} / {name}", run, stored)
        histories[f"scratch, lambda {lambd:g}"] = history

        stored = ref["replay_concise"][f"{lambd:g}"]
        decay, history = replay(nn.linear(1), mse, init, dataset, orders, decayed_sgd(lambd, LR))
        compare_replay(result, f"concise wd {lambd:g} / add_decayed_weights + sgd", decay, stored)
        histories[f"concise, wd {lambd:g}"] = history
        penalised, _ = replay(nn.linear(1), mse, init, dataset, orders, optimizers.optax_sgd(LR),
                              scaled(l2_penalty, lambd))
        result.compare(f"concise wd {lambd:g}: decay in the optimizer = wd * l2_penalty in the loss, final w",
                       np.ravel(decay.params["W"]), np.ravel(penalised.params["W"]),
                       tol=TOLERANCES["decay = penalty"])
    result.text(
        "Replay: the 120 x 200 data, the initial w (0.01 times a NumPy normal draw, b = 0) and each epoch's order "
        "of the 20 training examples come from one NumPy generator, stored with the reference; jaxdl runs the "
        "same 40 updates PyTorch ran (10 epochs of 4 minibatches of 5). Scratch: d2l's WeightDecayScratch, whose "
        "loss is the mean squared loss plus lambda * l2_penalty(w), with d2l's hand-written SGD; jaxdl passes "
        "`penalty=` to `fit` and trains with both of its SGDs. Concise: nn.MSELoss with torch.optim.SGD's "
        "weight_decay on the weight group only, against `optax.chain(optax.add_decayed_weights(wd, "
        "mask=weights_only), optax.sgd(lr))`. Adding wd * w to the gradient is the gradient of "
        "wd * ||w||^2 / 2, so the decay in the optimizer and the penalty in the loss give the same weights (the "
        "rows marked '= wd * l2_penalty'); the reported losses differ only in whether the penalty is included."
    )
    return histories


# ----------------------------------------------------------------------------- book


def own_run(key: jax.Array, kind: str, lambd: float) -> tuple[nn.Params, training.History]:
    """d2l's run with jaxdl's keys: fresh data, the model's init, 10 epochs of shuffled minibatches of 5."""
    key_data, key_init, key_fit = jax.random.split(key, 3)
    dataset = high_dimensional_data(key_data)
    if kind == "scratch":
        model = models.linear_regression(sigma=SIGMA)
        params = models.init(model, key_init, (1, NUM_INPUTS))
        params, _, history = training.fit(model, losses.squared_loss, params, dataset, optimizers.sgd(LR),
                                          key=key_fit, epochs=EPOCHS, batch_size=BATCH_SIZE, metric=None,
                                          penalty=scaled(l2_penalty, lambd), callbacks=())
        return params, history
    model = nn.linear(1, sigma=None)  # the lazy layer's default init, as run
    params = models.init(model, key_init, (1, NUM_INPUTS))
    params, _, history = training.fit(model, mse, params, dataset, decayed_sgd(lambd, LR), key=key_fit,
                                      epochs=EPOCHS, batch_size=BATCH_SIZE, metric=None, callbacks=())
    return params, history


def book_quantities(epoch_train_loss: float, val_loss: float, penalty: float) -> dict[str, float]:
    """The numbers checked against the band: d2l's last-epoch training loss, validation loss, 'L2 norm of w'."""
    return {"last-epoch train loss": float(epoch_train_loss), "validation loss": float(val_loss),
            "l2_penalty(w)": float(penalty)}


def check_book(result: Result, runs: list[dict[str, Any]], keys: list[jax.Array], kind: str, lambd: float) -> list:
    """The mean of jaxdl's keys inside the band of the PyTorch seeds; returns every key's quantities."""
    quantities = []
    for key in keys:
        params, history = own_run(key, kind, lambd)
        quantities.append(book_quantities(history.epoch_train_loss()[-1], history.val_loss[-1], l2_penalty(params)))
    theirs = {name: np.array([book_quantities(r["epoch_train_loss"][-1], r["val_loss"][-1], r["l2_penalty_w"])[name]
                              for r in runs]) for name in quantities[0]}
    for name in quantities[0]:  # the seeds' [min - m, max + m], m = "book band sds" standard deviations of the seeds
        bands.check_mean(result, f"book {kind}, lambda {lambd:g}: {name} (mean of {len(keys)} keys)",
                         [q[name] for q in quantities], theirs[name], sds=TOLERANCES["book band sds"].value,
                         reference=f"{len(runs)} seeds, mean {theirs[name].mean():.4g}; rule: {BAND_RULE}")
    return [quantities, theirs]


def plot_pair(histories: dict[str, training.History], names: list[str]) -> Any:
    """d2l's figures side by side: training and validation loss per epoch, log scale."""
    fig, axes = plt.subplots(1, len(names), figsize=(3.5 * len(names), 2.6))
    for ax, name in zip(np.atleast_1d(axes), names):
        plotting.plot_history(histories[name], axes=ax)
        ax.set(yscale="log", title=name)
    fig.tight_layout()
    return fig


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    histories = replays(result, ref)
    result.save_figure(plot_pair(histories, [f"scratch, lambda {lambd:g}" for lambd in LAMBDAS]), "scratch.png")
    result.save_figure(plot_pair(histories, [f"concise, wd {lambd:g}" for lambd in LAMBDAS]), "concise.png")

    keys = [jax.random.key(i) for i in range(2 if fast else NUM_KEYS)]
    lines = ["| run | quantity | jaxdl keys: mean [min, max] | PyTorch seeds: mean [min, max] |", "|---|---|---|---|"]
    for kind, runs in (("scratch", ref["book_scratch"]), ("concise", ref["book_concise"])):
        for lambd in LAMBDAS:
            ours, theirs = check_book(result, runs[f"{lambd:g}"], keys, kind, lambd)
            for name in theirs:
                v = np.array([q[name] for q in ours])
                cell = lambda a: f"{a.mean():.4g} [{a.min():.4g}, {a.max():.4g}]"  # noqa: E731
                lines.append(f"| {kind}, lambda {lambd:g} | {name} | {cell(v)} | {cell(theirs[name])} |")
    result.text(
        f"Book runs: d2l's training (10 epochs, batch 5, lr 0.01) on fresh data from each library's own RNG, "
        f"{len(keys)} jaxdl key(s) beside 20 PyTorch seeds; the mean of the keys must lie within the seeds' range "
        "widened by "
        f"{TOLERANCES['book band sds'].value} standard deviations:\n\n" + "\n".join(lines) + "\n\n"
        "Without the penalty the 200 weights fit the 20 training examples and the training loss falls while the "
        "validation loss stays high; with lambda = 3 the weights shrink (l2_penalty(w) is much smaller) and the "
        "validation loss is lower. The concise runs start from nn.Linear's default init, as d2l's code runs "
        "(`normal_` on a lazy layer changes nothing, see 3.5), so their weights start larger than the scratch "
        "model's N(0, 0.01^2); their loss is nn.MSELoss, twice d2l's squared loss. d2l prints l2_penalty(w) "
        "= ||w||^2 / 2 as the 'L2 norm of w'; the validation loss here is without the penalty (d2l's plot adds it "
        "for the scratch model)."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
