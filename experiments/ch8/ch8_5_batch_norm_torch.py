"""Reference generator for d2l 8.5 (batch normalisation): `python -m experiments.reference 8.5` writes
ch8_5_batch_norm.json: the stand-alone batch-norm steps (d2l's from-scratch function and nn.BatchNorm1d/2d, 2-D
and 4-D inputs), BNLeNet's layer summary and parameter count, and its replays on a Fashion-MNIST subset in float32
and float64.

The book band (10 epochs on all 60000 images for BAND_SEEDS, minutes per seed on one thread) is opt-in:
`python -m experiments.ch8.ch8_5_batch_norm_torch --band` writes ch8_5_batch_norm_band.json.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from experiments.ch8 import batch_norm_torch as bnt
from experiments.harness import references
from experiments.harness import replay as draws
from experiments.harness.torch_d2l import one_thread
from jaxdl.datasets import fashion_mnist

BAND_SEEDS = (0, 1, 2, 3, 4, 5)
# The stand-alone steps: (seed, input shape), three steps each.
BN_STEPS = {"2d": (851, (8, 5)), "4d": (852, (4, 3, 5, 5))}
NUM_BN_STEPS = 3
# The replays: subsets whose size is not a multiple of the batch (1000 = 7 x 128 + 104; 300 = 2 x 128 + 44), so
# every epoch ends with a smaller (in jaxdl: padded and masked) minibatch.
REPLAYS = {"default": {"seed": 85, "num_train": 1000, "epochs": 2}, "fast": {"seed": 86, "num_train": 300, "epochs": 1}}
NUM_VAL = 1000


def layer_summary(shape: tuple[int, ...] = (1, 1, 28, 28)) -> list[dict[str, Any]]:
    """d2l's layer_summary of BNLeNet: each layer's class name and output shape (evaluation mode, a batch of one)."""
    model = bnt.bn_lenet()
    X = torch.randn(2, *shape[1:])
    model(X)
    model.eval()
    X = torch.randn(*shape)
    rows = []
    for layer in model:
        X = layer(X)
        rows.append({"layer": layer.__class__.__name__, "shape": list(X.shape)})
    return rows


def replays(a: dict[str, np.ndarray], settings: dict[str, Any]) -> dict[str, Any]:
    """One replay in float32 and float64 from the same NumPy draws."""
    init, orders = draws.bn_lenet_replay_draws(settings["seed"], settings["num_train"], settings["epochs"])
    n = settings["num_train"]
    args = (a["train_images"][:n], a["train_labels"][:n], a["val_images"][:NUM_VAL], a["val_labels"][:NUM_VAL])
    return {**settings, "num_val": NUM_VAL, "batch_size": bnt.BATCH_SIZE, "lr": bnt.LR,
            "init_checksum": draws.checksum(*(x for layer in init for x in layer)),
            "orders_checksum": draws.checksum(*orders),
            "float32": bnt.replay(*args, init, orders, torch.float32),
            "float64": bnt.replay(*args, init, orders, torch.float64)}


def generate() -> dict[str, dict]:
    """This section's quick reference file: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        torch.manual_seed(0)
        steps = {}
        for name, (seed, shape) in BN_STEPS.items():
            d = draws.batch_norm_draws(seed, shape, NUM_BN_STEPS)
            steps[name] = {"seed": seed, "shape": list(shape), "checksum": draws.checksum(*d["X"], *d["G"], d["X_eval"]),
                           "scratch": bnt.bn_steps(d, "scratch"), "module": bnt.bn_steps(d, "module")}
        model = bnt.bn_lenet()
        model(torch.zeros(2, 1, 28, 28))
        a = fashion_mnist.load_arrays()
        return {"ch8_5_batch_norm": {
            "bn_steps": steps, "step_lr": bnt.STEP_LR,
            "layer_summary": layer_summary(),
            "num_params": sum(p.numel() for p in model.parameters()),
            "param_shapes": [list(p.shape) for p in model.parameters()],
            "state_shapes": [[k, list(v.shape)] for k, v in model.state_dict().items() if "running" in k],
            "replay": {name: replays(a, settings) for name, settings in REPLAYS.items()},
        }}


def generate_band() -> dict[str, dict]:
    """The book band: d2l's BNLeNet run for each of BAND_SEEDS (torch on one thread)."""
    with one_thread():
        a = fashion_mnist.load_arrays()
        data = {}
        for split in ("train", "val"):
            data[f"X_{split}"] = torch.from_numpy(a[f"{split}_images"].astype(np.float32) / np.float32(255))[:, None]
            data[f"y_{split}"] = torch.from_numpy(a[f"{split}_labels"].astype(np.int64))
        runs = [bnt.book_run(data, seed) for seed in BAND_SEEDS]
    out: dict[str, Any] = {"lr": bnt.LR, "batch_size": bnt.BATCH_SIZE, "epochs": bnt.EPOCHS, "seeds": list(BAND_SEEDS)}
    for key in ("epoch_train_loss", "val_loss", "val_acc"):
        out[key] = [run[key] for run in runs]
    out["first_bn"] = [run["first_bn"] for run in runs]
    out["timing"] = {"seconds_per_epoch": [run["epoch_seconds"] for run in runs]}
    return {"ch8_5_batch_norm_band": out}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="8.5's PyTorch references")
    parser.add_argument("--band", action="store_true", help="the book band (minutes per seed)")
    args = parser.parse_args()
    files = generate_band() if args.band else generate()
    for name, data in files.items():
        meta = {"torch_version": torch.__version__, "numpy_version": np.__version__,
                "command": "python -m experiments.ch8.ch8_5_batch_norm_torch" + (" --band" if args.band else ""),
                "generator": "experiments/ch8/ch8_5_batch_norm_torch.py"}
        references.save(references.path_of(name), data, meta)
        print(f"{name}: written")
