"""PyTorch reference numbers for d2l 7.6 Convolutional neural networks (LeNet) and its exercises, computed as d2l
1.0.3 does.

generate() writes the quick files (a minute): the layer summary, the replays on a subset and the exercises'
numbers. generate_band() is opt-in, `python -m experiments.reference 7.6 --band`: the book's run (10 epochs on all
of Fashion-MNIST) for BAND_SEEDS one after the other on one thread, about 90 s per seed on an idle core; each
finished epoch is appended to runs/ch7_6_lenet_band_progress.jsonl, so a stopped band resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from experiments.ch7 import lenet_torch
from experiments.harness import replay as draws
from experiments.harness.torch_d2l import one_thread
from jaxdl.datasets import fashion_mnist

BAND_SEEDS = (0, 1, 2, 3, 4, 5)
# The replays: a subset of the training images, NumPy's initial layers and batch orders (harness.replay).
REPLAYS = {"default": {"seed": 76, "num_train": 1024, "epochs": 2}, "fast": {"seed": 77, "num_train": 256, "epochs": 1}}
NUM_VAL = 1000
# Exercise 1's modern LeNet (ReLU, max pooling) on a short run, and exercise 4's probes: a sweater, a coat and noise.
MODERN = {"seed": 78, "num_train": 2048, "epochs": 2}
# The modern run's sensitivity: PyTorch's own float32 run from initial weights multiplied by 1 + 1e-7 N(0, 1).
PERTURBATION, PERTURBED_SEEDS = 1e-7, (0, 1, 2)
PROBE_SEED = 79
PROGRESS = Path(__file__).resolve().parents[2] / "runs" / "ch7_6_lenet_band_progress.jsonl"


def generate_band() -> dict[str, dict]:
    """The book band: {file name: data} (torch on one thread)."""
    with one_thread():
        data = lenet_torch.fashion_mnist_tensors()
        return {"ch7_6_lenet_band": lenet_torch.band(data, BAND_SEEDS, PROGRESS)}


def layer_summary(shape: tuple[int, ...] = (1, 1, 28, 28)) -> list[dict[str, Any]]:
    """d2l's layer_summary: each layer's class name and output shape for a random input of `shape`."""
    model = lenet_torch.lenet()
    X = torch.randn(*shape)
    model(X)
    rows = []
    for layer in model:
        X = layer(X)
        rows.append({"layer": layer.__class__.__name__, "shape": list(X.shape)})
    return rows


def probes(a: dict[str, np.ndarray]) -> np.ndarray:
    """Three 28 x 28 uint8 images: the first validation sweater (label 2), the first coat (label 4), and uniform
    noise from NumPy."""
    sweater = a["val_images"][np.flatnonzero(a["val_labels"] == 2)[0]]
    coat = a["val_images"][np.flatnonzero(a["val_labels"] == 4)[0]]
    noise = np.random.default_rng(PROBE_SEED).integers(0, 256, (28, 28)).astype(np.uint8)
    return np.stack([sweater, coat, noise])


def replays(a: dict[str, np.ndarray], modern: bool, settings: dict[str, Any], probe: np.ndarray | None = None
            ) -> dict[str, Any]:
    """One replay in float32 and float64 from the same NumPy draws (the probes' activations in float64 only)."""
    init, orders = draws.lenet_replay_draws(settings["seed"], settings["num_train"], settings["epochs"])
    args = (a["train_images"][:settings["num_train"]], a["train_labels"][:settings["num_train"]],
            a["val_images"][:NUM_VAL], a["val_labels"][:NUM_VAL])
    return {**settings, "num_val": NUM_VAL, "batch_size": lenet_torch.BATCH_SIZE, "lr": lenet_torch.LR,
            "init_checksum": draws.checksum(*(x for layer in init for x in layer)),
            "orders_checksum": draws.checksum(*orders),
            "float32": lenet_torch.replay(*args, init, orders, torch.float32, modern),
            "float64": lenet_torch.replay(*args, init, orders, torch.float64, modern, probe)}


def perturbed(a: dict[str, np.ndarray], settings: dict[str, Any]) -> dict[str, Any]:
    """The modern replay in float32 from slightly perturbed initial weights (each seed its own perturbation): how far
    PyTorch's own float32 trajectory moves when its start moves by rounding's size."""
    init, orders = draws.lenet_replay_draws(settings["seed"], settings["num_train"], settings["epochs"])
    args = (a["train_images"][:settings["num_train"]], a["train_labels"][:settings["num_train"]],
            a["val_images"][:NUM_VAL], a["val_labels"][:NUM_VAL])
    runs = []
    for seed in PERTURBED_SEEDS:
        rng = np.random.default_rng(seed)
        start = [((W * (1 + PERTURBATION * rng.standard_normal(W.shape))).astype(np.float32), b) for W, b in init]
        runs.append(lenet_torch.replay(*args, start, orders, torch.float32, True)["step_losses"])
    return {"relative": PERTURBATION, "seeds": list(PERTURBED_SEEDS), "step_losses": runs}


def generate() -> dict[str, dict]:
    """This section's quick reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        torch.manual_seed(0)
        a = fashion_mnist.load_arrays()
        model = lenet_torch.lenet()
        model(torch.zeros(1, 1, 28, 28))
        return {
            "ch7_6_lenet": {
                "layer_summary": layer_summary(),
                "num_params": sum(p.numel() for p in model.parameters()),
                "param_shapes": [list(p.shape) for p in model.parameters()],
                "replay": {name: replays(a, False, settings) for name, settings in REPLAYS.items()},
            },
            "ch7_6_lenet_exercises": {"modern": replays(a, True, MODERN, probes(a)), "probes": probes(a),
                                      "perturbed": perturbed(a, MODERN)},
        }
