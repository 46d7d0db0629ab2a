"""d2l 13.5 Training on multiple GPUs: the 5.2 MLP data-parallel on 1, 2 and 4 devices, beside one device and PyTorch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments.ch5 import mlp  # 5.2's models and replay summaries (a support module, not an experiment)
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import losses, models, optimizers, training
from jaxdl.datasets import fashion_mnist
from experiments.harness import references
from experiments.harness import replay as draws
from jaxdl.data import Dataset

SECTION = "13.5"
TITLE = "Training on multiple GPUs"
REFERENCE = "ch5_2_mlp_implementation"  # the stored PyTorch replays of 5.2, replayed here on several devices

DEVICES, FAST_DEVICES = (1, 2, 4), (1, 2)
TIMING_EPOCHS, TIMING_REPEATS = 3, 2  # the book MLP on all 60000 images; the fastest repeat counts
WORKER_TIMEOUT = 480  # seconds for one device count's subprocess (replays, compile and timing)

#: Every tolerance of this experiment, with its reason (pinned by tests/harness/test_tolerances.py).
TOLERANCES: Tolerances = {
    "steps vs 1 device": Tolerance(
        rtol=1e-5,
        why="the same minibatches and initial parameters; only the order of the gradient sums differs (per "
            "device, then the all-reduce), a float32 rounding effect, bounded well above it",
    ),
    "final parameters vs 1 device": Tolerance(
        rtol=1e-5, atol=1e-6,
        why="200 steps compound the summation-order rounding of every step: measured at most 1.7e-7 absolute "
            "on 2 and 4 devices (weights ~0.1), bounded here at about six times that",
    ),
    "steps vs PyTorch": Tolerance(
        rtol=1e-4,
        why="the 5.2 replay's per-step tolerance (the project's replay rule); several devices must keep it",
    ),
}


# ----------------------------------------------------------------------------- one device count (a subprocess)


def replay_on(stored: dict[str, Any], data: Dataset, devices: int) -> tuple[Any, training.History]:
    """The 5.2 replay of one stored PyTorch run (same initial parameters and batch order), data-parallel."""
    init, orders = draws.mlp_replay_draws(stored["seed"], stored["kind"], [mlp.NUM_INPUTS, mlp.NUM_HIDDENS,
                                                                           mlp.NUM_OUTPUTS],
                                          stored["num_train"], stored["epochs"])
    params = mlp.mlp_params([{"W": jnp.asarray(W.T), "b": jnp.asarray(b)} for W, b in init])
    n, nv = stored["num_train"], stored["num_val"]
    subset = Dataset(data.X_train[:n], data.y_train[:n], data.X_val[:nv], data.y_val[:nv])
    optimizer = mlp.MODELS[stored["kind"]][1]
    params, _, history = training.fit(mlp.make_mlp(), losses.softmax_cross_entropy, params, subset,
                                      optimizer(stored["lr"]), orders=orders, batch_size=stored["batch_size"],
                                      mesh=devices, callbacks=())
    return params, history


def time_book_mlp(data: Dataset, devices: int, epochs: int, repeats: int) -> dict[str, float]:
    """Compile and fastest training seconds of the book's MLP (784-256-10, batch 256) on all the training images."""
    runs = []
    for r in range(repeats):
        model = models.mlp(mlp.NUM_HIDDENS, mlp.NUM_OUTPUTS)
        params = models.init(model, jax.random.key(r), (1, mlp.NUM_INPUTS))
        _, _, history = training.fit(model, losses.softmax_cross_entropy, params, data,
                                     optimizers.sgd(mlp.LR), key=jax.random.key(100 + r), epochs=epochs,
                                     batch_size=mlp.BATCH_SIZE, mesh=devices, callbacks=())
        runs.append(history)
    return {"compile_seconds": min(h.compile_seconds for h in runs),
            "train_seconds": min(h.train_seconds for h in runs),
            "examples": epochs * int(data.X_train.shape[0])}


def describe_devices() -> str:
    """Which devices jax runs on, e.g. "2 x cpu" or "1 x NVIDIA H100 80GB HBM3 (gpu)"."""
    kind, backend = jax.devices()[0].device_kind, jax.default_backend()
    return f"{jax.device_count()} x {kind}" + ("" if backend in kind.lower() else f" ({backend})")


def worker(devices: int, kinds: list[str], epochs: int, repeats: int, out: str) -> None:
    """Runs in a Python started with `devices` CPU devices: replays and timings, saved to `out` (.npz)."""
    assert jax.device_count() == devices, f"asked for {devices} devices, jax has {jax.devices()}"
    ref, data = references.load(REFERENCE), fashion_mnist.load()
    saved = {"device": np.array(describe_devices())}
    for kind in kinds:
        params, history = replay_on(ref["replay"][kind], data, devices)
        saved[f"{kind} step_losses"] = history.train_loss
        for i, layer in enumerate(mlp.dense_layers(params)):
            saved[f"{kind} W{i + 1}"], saved[f"{kind} b{i + 1}"] = np.asarray(layer["W"]), np.asarray(layer["b"])
    for name, value in time_book_mlp(data, devices, epochs, repeats).items():
        saved[f"timing {name}"] = np.array(value)
    tmp = Path(out).with_name(Path(out).name + ".tmp.npz")
    np.savez(tmp, **saved)
    tmp.replace(out)


def run_devices(devices: int, kinds: list[str], epochs: int, repeats: int, out: Path) -> dict[str, np.ndarray]:
    """`worker` in a fresh Python with `devices` forced CPU devices (the count is fixed when jax starts)."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    code = (f"from experiments.ch13.ch13_5_multiple_devices import worker; "
            f"worker({devices}, {json.dumps(kinds)}, {epochs}, {repeats}, {str(out)!r})")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=WORKER_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"the {devices}-device run failed:\n{done.stdout}{done.stderr}")
    return dict(np.load(out))


# ----------------------------------------------------------------------------- experiment


def compare_runs(result: Result, kind: str, devices: int, ours: dict[str, np.ndarray], one: dict[str, np.ndarray],
                 stored: dict[str, Any]) -> None:
    """One device count's replay against PyTorch's stored run and (for several devices) the 1-device run."""
    label = f"{kind}, {devices} device{'s' if devices > 1 else ''}"
    steps = ours[f"{kind} step_losses"]
    result.compare(f"{label}: loss of every step ({len(steps)}) vs PyTorch", steps, stored["step_losses"],
                   tol=TOLERANCES["steps vs PyTorch"])
    for i, theirs in enumerate(stored["final"], start=1):
        mlp.compare_summary(result, f"{label}: final W{i} vs PyTorch", mlp.summary(ours[f"{kind} W{i}"]),
                            theirs["W"], **mlp.FINAL_TOL[kind])
    if devices == 1:
        return
    result.compare(f"{label}: loss of every step vs 1 device", steps, one[f"{kind} step_losses"],
                   tol=TOLERANCES["steps vs 1 device"])
    for name in ("W1", "b1", "W2", "b2"):
        result.compare(f"{label}: final {name} vs 1 device", ours[f"{kind} {name}"], one[f"{kind} {name}"],
                       tol=TOLERANCES["final parameters vs 1 device"])


def describe(tol: Tolerance) -> str:
    """A tolerance's nonzero bounds, as the run's text names them ("rtol 1e-05, atol 1e-06")."""
    return ", ".join(f"{k} {v}" for k, v in (("rtol", tol.rtol), ("atol", tol.atol)) if v)


def timing_rows(runs: dict[int, dict[str, np.ndarray]]) -> tuple[str, dict[int, float]]:
    """A markdown table of the timings beside the ideal (n devices n times as fast), and throughputs."""
    base = float(runs[1]["timing train_seconds"])
    rows, throughput = [], {}
    for devices, r in runs.items():
        seconds = float(r["timing train_seconds"])
        throughput[devices] = float(r["timing examples"]) / seconds
        rows.append(f"| {devices} | {r['device']} | {float(r['timing compile_seconds']):.2f} | {seconds:.3f} | "
                    f"{base / devices:.3f} | {throughput[devices]:,.0f} | {base / seconds:.2f} | {devices} |")
    header = ("| devices | devices used | compile s | train s | ideal train s | examples/s | speedup | ideal speedup |\n"
              "|---|---|---|---|---|---|---|---|")
    return header + "\n" + "\n".join(rows), throughput


def plot_throughput(throughput: dict[int, float]) -> Any:
    """Training examples per second against the number of devices, beside the ideal straight line."""
    fig, ax = plt.subplots(figsize=(4.5, 3))
    n = np.array(sorted(throughput))
    ax.plot(n, [throughput[d] for d in n], "o-", label="measured")
    ax.plot(n, throughput[1] * n, "--", color="0.5", label="ideal (n x 1 device)")
    ax.set(xlabel="devices (forced CPU devices)", ylabel="training examples / s", xticks=n,
           title="MLP throughput against devices")
    ax.grid(True)
    ax.legend(fontsize=7)
    return fig


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    kinds = ["concise"] if fast else list(ref["replay"])
    devices_list = FAST_DEVICES if fast else DEVICES
    epochs, repeats = (1, 1) if fast else (TIMING_EPOCHS, TIMING_REPEATS)
    runs: dict[int, dict[str, np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for devices in devices_list:
            runs[devices] = run_devices(devices, kinds, epochs, repeats, Path(tmp) / f"{devices}.npz")
            print(f"{devices} device(s): ran on {runs[devices]['device']}", flush=True)
    for kind in kinds:
        for devices, ours in runs.items():
            compare_runs(result, kind, devices, ours, runs[1], ref["replay"][kind])

    table, throughput = timing_rows(runs)
    result.save_figure(plot_throughput(throughput), "throughput.png")
    result.text(
        "The 5.2 replays (PyTorch's initial parameters and minibatch order, 200 steps on 5000 images, batch 256 "
        "with a partial last batch of 136) run again with `fit(..., mesh=n)` on n CPU devices, each count in its "
        "own Python started with `XLA_FLAGS=--xla_force_host_platform_device_count=n`: every minibatch is cut "
        "over the devices (padded with masked examples where n does not divide it), the parameters are "
        "replicated, and XLA all-reduces the gradients. Every run is compared with PyTorch's stored numbers at "
        "5.2's tolerances, and the runs on several devices with the 1-device run. Tolerances: "
        + "; ".join(f"{name}: {describe(t)} ({t.why})" for name, t in TOLERANCES.items()) + "."
    )
    result.text(
        f"Speed: the book MLP (784-256-10, batch 256, lr {mlp.LR}) for {epochs} epoch(s) on all "
        f"{int(runs[1]['timing examples']) // epochs} training images, fastest of {repeats} run(s), beside the "
        f"ideal (n devices n times as fast):\n\n{table}\n\n"
        f"This machine has {os.cpu_count()} cores, and the forced CPU devices share them: one device already "
        "uses every core for its matrix products, so more devices split the same cores and add the all-reduce; "
        "the ideal is what separate accelerators could give. The numbers prove the arithmetic, not a speedup."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
