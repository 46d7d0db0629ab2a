"""d2l 8.5 Batch normalisation: the from-scratch batch_norm function and jaxdl's BatchNorm layer against PyTorch
over several training steps (2-D and 4-D inputs, the running statistics after every step, evaluation mode),
BNLeNet's layer summary and parameter count, a replay of PyTorch's BNLeNet training on a Fashion-MNIST subset in
float32 and float64 (its last minibatch partial), and (opt-in) the book's run against PyTorch's seed band.

The book's run (10 epochs on all 60000 images, batch 128) takes minutes, so `run` trains it only when the
environment variable JAXDL_BN_LENET_BOOK=1 is set, against the opt-in reference ch8_5_batch_norm_band.json
(`python -m experiments.ch8.ch8_5_batch_norm_torch --band`).
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch8.batch_norm import (
    BATCH_SIZE,
    EPOCHS,
    LR,
    batch_norm,
    bn_lenet,
    bn_lenet_layers,
    images,
    layer_summary,
    num_params,
    params_from,
    replay,
)
from experiments.harness import bands, references
from experiments.harness import replay as draws
from experiments.harness.result import cli, Margin, Result, Tolerance, Tolerances
from jaxdl import losses, nn, optimizers, training
from jaxdl.datasets import fashion_mnist

SECTION = "8.5"
TITLE = "Batch normalization"
REFERENCE = "ch8_5_batch_norm"
BAND = "ch8_5_batch_norm_band"
BOOK_ENV = "JAXDL_BN_LENET_BOOK"

TOLERANCES: Tolerances = {
    "bn outputs": Tolerance(rtol=1e-5, atol=1e-6, why="float32 normalisation of O(1) values (inputs ~ N(2, 9)): a "
                                                     "few roundings of ~6e-8 each in the mean, variance and rsqrt"),
    "bn gradients": Tolerance(rtol=1e-5, atol=1e-5, why="float32 sums over the batch (up to 100 terms of O(1)) in "
                                                       "the gradients: ~100 x 6e-8 accumulated rounding; also the "
                                                       "gamma and beta those gradients trained and the evaluation "
                                                       "outputs they scale (measured <= 7e-6 on values up to 11)"),
    "running stats": Tolerance(rtol=1e-6, atol=1e-6, why="one float32 mean / variance per step moved by momentum "
                                                        "0.1: a few ulps of values ~0.2..1.8"),
    "float64 steps": Tolerance(rtol=1e-10, why="the same algorithm in float64 on both sides: float64 rounding "
                                               "amplified over 16 steps; measured ~3e-14"),
    "float64 final": Tolerance(rtol=1e-10, atol=1e-12, why="as 'float64 steps', on the trained parameters and "
                                                          "running statistics (atol for entries near 0)"),
    "float32 steps": Tolerance(rtol=1e-5, why="float32 rounding alone (the float64 rows show the algorithms equal); "
                                              "measured <= 4e-7 relative over 16 steps"),
    "float32 final": Tolerance(rtol=1e-5, atol=1e-6, why="trained parameters and running statistics after 16 float32 "
                                                         "steps: measured <= 7e-7 per entry (a few ulps of values "
                                                         "up to ~2)"),
    "val correct": Tolerance(atol=1, why="correctly classified validation images: one of the 1000 may flip when two "
                                          "logits are within float32 noise"),
    "band val_acc": Margin(0.01, why="the project's goal: within one accuracy point of PyTorch's seeds"),
    "band losses": Margin(0.03, why="about one accuracy point's worth of loss, as in 5.2's MLP band"),
}


def scratch_steps(d: dict[str, Any], lr: float) -> dict[str, Any]:
    """The from-scratch function's steps (as the generator's bn_steps "scratch"): Y, gradients of sum(Y * G), the
    moving statistics after each step, an SGD step on gamma and beta; then evaluation mode on X_eval."""
    shape = d["X"][0].shape
    bshape = (1, shape[1]) if len(shape) == 2 else (1, shape[1], 1, 1)
    gamma, beta = jnp.ones(bshape), jnp.zeros(bshape)
    mm, mv = jnp.zeros(bshape), jnp.ones(bshape)

    def objective(gamma, beta, X, G, mm, mv):
        Y, mm, mv = batch_norm(X, gamma, beta, mm, mv, train=True)
        return (Y * G).sum(), (Y, mm, mv)

    grad = jax.jit(jax.grad(objective, argnums=(0, 1, 2), has_aux=True))
    steps = []
    for X, G in zip(d["X"], d["G"]):
        (g_gamma, g_beta, g_X), (Y, mm, mv) = grad(gamma, beta, jnp.asarray(X), jnp.asarray(G), mm, mv)
        steps.append({"Y": Y, "grad_gamma": g_gamma.ravel(), "grad_beta": g_beta.ravel(), "grad_X": g_X,
                      "running_mean": mm.ravel(), "running_var": mv.ravel()})
        gamma, beta = gamma - lr * g_gamma, beta - lr * g_beta
    Y_eval, _, _ = batch_norm(jnp.asarray(d["X_eval"]), gamma, beta, mm, mv, train=False)
    return {"steps": steps, "Y_eval": Y_eval, "gamma": gamma.ravel(), "beta": beta.ravel()}


def layer_steps(d: dict[str, Any], lr: float) -> dict[str, Any]:
    """The same steps through nn.batch_norm (params {"gamma", "beta"}, state {"mean", "var"})."""
    layer = nn.batch_norm()
    params, state = nn.init(layer, jax.random.key(0), d["X"][0].shape)

    def objective(params, X, G, state):
        Y, state = layer.apply(params, state, X, train=True)
        return (Y * G).sum(), (Y, state)

    grad = jax.jit(jax.grad(objective, argnums=(0, 1), has_aux=True))
    steps = []
    for X, G in zip(d["X"], d["G"]):
        (g_p, g_X), (Y, state) = grad(params, jnp.asarray(X), jnp.asarray(G), state)
        steps.append({"Y": Y, "grad_gamma": g_p["gamma"], "grad_beta": g_p["beta"], "grad_X": g_X,
                      "running_mean": state["mean"], "running_var": state["var"]})
        params = jax.tree.map(lambda p, g: p - lr * g, params, g_p)
    Y_eval, state_after = layer.apply(params, state, jnp.asarray(d["X_eval"]), train=False)
    assert state_after is state or all(np.array_equal(state_after[k], state[k]) for k in state)
    return {"steps": steps, "Y_eval": Y_eval, "gamma": params["gamma"], "beta": params["beta"]}


def compare_steps(result: Result, label: str, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Every step's outputs, gradients and running statistics, then evaluation mode, against PyTorch's."""
    out, grads, stats = TOLERANCES["bn outputs"], TOLERANCES["bn gradients"], TOLERANCES["running stats"]
    for i, (o, t) in enumerate(zip(ours["steps"], theirs["steps"]), start=1):
        result.compare(f"{label} step {i}: Y (training mode)", np.asarray(o["Y"]), t["Y"], tol=out)
        result.compare(f"{label} step {i}: d/dgamma, d/dbeta", np.concatenate([o["grad_gamma"], o["grad_beta"]]),
                       np.concatenate([t["grad_gamma"], t["grad_beta"]]), tol=grads)
        result.compare(f"{label} step {i}: d/dX", np.asarray(o["grad_X"]), t["grad_X"], tol=grads)
        result.compare(f"{label} step {i}: running mean, running var",
                       np.concatenate([o["running_mean"], o["running_var"]]),
                       np.concatenate([t["running_mean"], t["running_var"]]), tol=stats)
    result.compare(f"{label}: gamma, beta after {len(ours['steps'])} SGD steps",
                   np.concatenate([ours["gamma"], ours["beta"]]), np.concatenate([theirs["gamma"], theirs["beta"]]),
                   tol=grads)  # moved by the steps' gradients: their rounding
    result.compare(f"{label}: Y in evaluation mode (running statistics)", np.asarray(ours["Y_eval"]),
                   theirs["Y_eval"], tol=grads)  # scaled by the trained gamma


def compare_replay(result: Result, label: str, ours: dict[str, Any], theirs: dict[str, Any], precision: str) -> None:
    """Every stored number of one replay in one precision against jaxdl's."""
    steps, final = TOLERANCES[f"{precision} steps"], TOLERANCES[f"{precision} final"]
    result.compare(f"{label}: loss of every step ({len(theirs['step_losses'])})", ours["step_losses"],
                   theirs["step_losses"], tol=steps)
    for i, (p, t) in enumerate(zip(ours["final"], theirs["final"]), start=1):
        result.compare(f"{label}: final weighted layer {i} W norm, sum", [p["W"]["norm"], p["W"]["sum"]],
                       [t["W"]["norm"], t["W"]["sum"]], tol=final)
        result.compare(f"{label}: final weighted layer {i} W[:8, :8] and b",
                       np.concatenate([np.ravel(p["W"]["head"]), p["b"]]),
                       np.concatenate([np.ravel(t["W"]["head"]), t["b"]]), tol=final)
    for i, (p, t) in enumerate(zip(ours["norms"], theirs["norms"]), start=1):
        for key in ("gamma", "beta", "running_mean", "running_var"):
            result.compare(f"{label}: BatchNorm {i} final {key}", p[key], t[key], tol=final)
    result.compare(f"{label}: val loss (evaluation mode)", ours["val_loss"], theirs["val_loss"], tol=steps)
    n = ours["num_val"]
    result.compare(f"{label}: correctly classified validation images (of {n})", round(ours["val_acc"] * n),
                   round(theirs["val_acc"] * n), tol=TOLERANCES["val correct"] if precision == "float32" else None)


def book_run(result: Result, data: Any, band: dict[str, Any]) -> None:
    """The book's training (one jaxdl key, the progress bar on) against PyTorch's seed band."""
    from jaxdl.callbacks import ProgressBar

    model = bn_lenet()
    k_init, k_fit = jax.random.split(jax.random.key(0))
    params, state = nn.init(model, k_init, (1, 1, 28, 28))
    fitted = training.fit(model, losses.softmax_cross_entropy, params, data, optimizers.sgd(LR), state=state,
                          key=k_fit, epochs=EPOCHS, batch_size=BATCH_SIZE, preprocess=images(),
                          callbacks=(ProgressBar(),))
    h, e = fitted.history, EPOCHS - 1
    ours = {"val_acc": h.val_metric[e], "val_loss": h.val_loss[e], "epoch_train_loss": h.epoch_train_loss()[e]}
    for name, value in ours.items():
        seeds = [run[e] for run in band[name]]
        margin = TOLERANCES["band val_acc" if name == "val_acc" else "band losses"].value
        bands.check_one(result, f"book: {name}, epoch {EPOCHS}", float(value), seeds, margin=margin,
                        reference=f"{min(seeds):.4f}..{max(seeds):.4f} ({len(seeds)} PyTorch seeds)")
    first = fitted.params[1]
    result.text(f"Book run: {EPOCHS} epochs in {h.compile_seconds + h.train_seconds:.0f} s, final val acc "
                f"{ours['val_acc']:.4f}. The first BatchNorm layer's learned gamma "
                f"{np.array2string(np.asarray(first['gamma']), precision=4)} and beta "
                f"{np.array2string(np.asarray(first['beta']), precision=4)}.")


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    data = fashion_mnist.load()

    for name, stored in ref["bn_steps"].items():
        d = draws.batch_norm_draws(stored["seed"], stored["shape"], len(stored["scratch"]["steps"]))
        result.compare(f"{name} steps: inputs (sha256)", draws.checksum(*d["X"], *d["G"], d["X_eval"])[:16],
                       stored["checksum"][:16])
        compare_steps(result, f"{name} scratch batch_norm", scratch_steps(d, ref["step_lr"]), stored["scratch"])
        compare_steps(result, f"{name} nn.batch_norm", layer_steps(d, ref["step_lr"]), stored["module"])

    rows = layer_summary(bn_lenet_layers(), (1, 1, 28, 28))
    for (name, shape), theirs in zip(rows, ref["layer_summary"], strict=True):
        result.compare(f"layer_summary: {theirs['layer']} output shape", f"{name} {list(shape)}",
                       f"{theirs['layer']} {theirs['shape']}")
    params, state = nn.init(bn_lenet(), jax.random.key(0), (1, 1, 28, 28))
    shapes = [list(leaf.shape) for p in params if p != () for leaf in p.values()]
    result.compare("parameter shapes (PyTorch's order)", str(shapes), str(ref["param_shapes"]))
    stat_shapes = [[f"{i}.running_{k}", list(s[k].shape)] for i, s in enumerate(state) if s is not None
                   for k in ("mean", "var")]
    result.compare("running statistics' names and shapes", str(stat_shapes), str(ref["state_shapes"]))
    result.compare("number of parameters", num_params(params), ref["num_params"])

    name = "fast" if fast else "default"
    stored = ref["replay"][name]
    ours32 = replay(stored, data)
    result.compare(f"replay {name}: initial parameters (sha256)", ours32["init_checksum"][:16], stored["init_checksum"][:16])
    result.compare(f"replay {name}: minibatch orders (sha256)", ours32["orders_checksum"][:16], stored["orders_checksum"][:16])
    compare_replay(result, f"replay {name} float32", ours32, stored["float32"], "float32")
    with jax.enable_x64(True):
        ours64 = replay(stored, data, dtype=np.float64)
    compare_replay(result, f"replay {name} float64", ours64, stored["float64"], "float64")

    first, theirs = ours32["norms"][0], stored["float32"]["norms"][0]
    last = stored["num_train"] % stored["batch_size"]
    result.text(
        "Layer summary for a 1 x 1 x 28 x 28 input (jaxdl's shapes, PyTorch's are the same):\n\n"
        "| layer | output shape |\n|---|---|\n" + "\n".join(f"| {n} | {s} |" for n, s in rows)
        + f"\n\n{num_params(params)} parameters, as PyTorch counts them (BatchNorm's gamma and beta included, its "
        "running statistics not).\n\n"
        f"Replay: {stored['num_train']} training images, batch {stored['batch_size']} (each epoch ends with a "
        f"minibatch of {last}, which fit pads and masks out of the loss and of BatchNorm's statistics), lr "
        f"{stored['lr']}, {stored['epochs']} epoch(s). The first BatchNorm layer's gamma and beta after the replay, "
        f"as the book prints them:\n\n- jaxdl gamma {np.array2string(first['gamma'], precision=5)}, beta "
        f"{np.array2string(first['beta'], precision=5)}\n- PyTorch gamma "
        f"{np.array2string(np.asarray(theirs['gamma']), precision=5)}, beta "
        f"{np.array2string(np.asarray(theirs['beta']), precision=5)}\n\n"
        f"Validation accuracy in evaluation mode after so short a run is {ours32['val_acc']:.3f} on both sides: "
        "with momentum 0.1 the running statistics are still near their start (mean 0, variance 1) after "
        f"{len(ours32['step_losses'])} steps, so evaluation normalises with statistics unlike the batches'. "
        "d2l's from-scratch function moves its moving variance with the biased batch variance, PyTorch's layer (and "
        "nn.batch_norm) with the unbiased one: each side is compared with its own PyTorch counterpart above."
    )
    if os.environ.get(BOOK_ENV) == "1":
        path = references.path_of(BAND)
        if not path.exists():
            raise SystemExit(f"{BOOK_ENV}=1 needs the band {path}: run `python -m experiments.ch8.ch8_5_batch_norm_torch --band`")
        steps = -(-len(data.y_train) // BATCH_SIZE) * EPOCHS
        per_step = (ours32["seconds"]) / len(ours32["step_losses"])
        print(f"The book run: {steps} steps, expect about {per_step * steps / 60:.0f} min (from the replay's "
              f"{per_step * 1e3:.0f} ms per step, compile included).", flush=True)
        start = time.perf_counter()
        book_run(result, data, references.load(BAND))
        result.text(f"(book run wall time {time.perf_counter() - start:.0f} s)")
    else:
        result.text(f"The book's run (10 epochs, all of Fashion-MNIST, about {-(-60000 // BATCH_SIZE) * EPOCHS} "
                    f"steps) is left out of this run: set {BOOK_ENV}=1 to train it against PyTorch's seed band.")


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
