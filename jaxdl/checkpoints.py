"""Checkpoints: training that stops after any epoch and resumes to the same bits.

`fit(..., callbacks=[Checkpoint(path)])` (and `fit_many`) writes one file at the end of every epoch: the
parameters, the layer state, the optimizer state, the history so far and what identifies the run (its keys,
epochs, batch size, data size). `fit(..., resume=path)` starts from such a file: every epoch's order and
step keys are functions of the run's keys and the epoch's number, so the epochs after the k-th come out
bit for bit as in the run that never stopped (the history's timings aside).

A checkpoint is one safetensors file (arrays, no pickle) whose header metadata holds the rest as JSON. It is
written under a temporary name and renamed, so a run killed while writing leaves the previous checkpoint
whole. Resuming refuses, before any work, a file that is not a whole checkpoint and one written by another
run: another model or optimizer (the names, shapes or dtypes of their arrays differ), other keys, epochs,
batch size or data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
import safetensors.numpy

from jaxdl.callbacks import Callback, EpochEnd
from jaxdl.files import atomic_file, check_writable_file
from jaxdl.state_dict import StateDictError, read

FORMAT = "jaxdl-checkpoint-1"
TREES = ("params", "state", "opt_state")


class CheckpointError(ValueError):
    """A checkpoint cannot be resumed from: unreadable, not a checkpoint, or written by another run."""


def run_identity(*, keys: Any, epochs: int, batch_size: int, num_examples: int, n_models: int | None,
                 orders: Any, step_rng: Any) -> dict[str, str]:
    """What a resumed run must share with the run that wrote the checkpoint, as strings.

    Args:
        keys: the order keys (one, or one per model), or None when orders are given.
        epochs, batch_size, num_examples, n_models: the run's sizes (n_models None for fit).
        orders: the given epoch orders, or None (their SHA-256 is kept, not the orders).
        step_rng: the step keys, or a function (not checkable: "function"), or None.

    Returns:
        A dict of strings, stored in the checkpoint's metadata and compared on resume.
    """

    def digest(value: Any) -> str:
        if value is None:
            return "none"
        if callable(value):
            return "function"
        leaves = value if isinstance(value, (list, tuple)) else [value]
        h = hashlib.sha256()
        for leaf in leaves:
            arr = jax.random.key_data(leaf) if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf
            h.update(np.ascontiguousarray(np.asarray(arr)).tobytes())
        return h.hexdigest()

    return {"epochs": str(epochs), "batch_size": str(batch_size), "num_examples": str(num_examples),
            "models": "one" if n_models is None else str(n_models), "keys": digest(keys),
            "orders": digest(None if orders is None else [np.asarray(o) for o in orders]),
            "step_rng": digest(step_rng)}


def _named(tree_name: str, tree: Any) -> dict[str, Any]:
    """A pytree's leaves by name: tree_name + jax's key path ("params[1]['W']", "opt_state[0].count")."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {tree_name + jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def _history_arrays(histories: list[Any]) -> dict[str, np.ndarray]:
    return {"history/train_loss": np.stack([h.train_loss for h in histories]),
            "history/val_loss": np.stack([h.val_loss for h in histories]),
            "history/val_metric": np.stack([h.val_metric for h in histories])}


def write(path: str | Path, end: EpochEnd, identity: dict[str, str]) -> Path:
    """Writes the checkpoint of an epoch's end (atomically: temporary name, then rename).

    Args:
        path: the checkpoint file.
        end: what the epoch left (EpochEnd: epoch, params, state, opt_state, history).
        identity: the run's `run_identity`.

    Returns:
        The path written.
    """
    histories = end.history if isinstance(end.history, (list, tuple)) else [end.history]
    arrays = {}
    for name, tree in zip(TREES, (end.params, end.state, end.opt_state)):
        arrays.update({k: np.array(v, order="C") for k, v in _named(name, tree).items()})
    arrays.update(_history_arrays(histories))
    metadata = {"format": FORMAT, "epoch": str(end.epoch), "num_batches": str(histories[0].num_batches),
                "train_seconds": repr(float(histories[0].train_seconds)), "run": json.dumps(identity)}
    data = safetensors.numpy.save(arrays, metadata=metadata)
    with atomic_file(path, "wb") as f:
        f.write(data)
    return Path(path)


class Checkpoint(Callback):
    """Writes a checkpoint after every epoch that ended well (one file, replaced each time); resume from it
    with `fit(..., resume=path)`. The path is checked for writing when the callback is made."""

    def __init__(self, path: str | Path) -> None:
        if not isinstance(path, (str, Path)):
            raise ValueError(f"Checkpoint takes a file path, got {path!r}")
        self.path = check_writable_file(path)

    def on_epoch_end(self, end: EpochEnd) -> None:
        write(self.path, end, end.run)


@dataclass(frozen=True)
class Resumed:
    """A checkpoint read back for a run: the trees to start from, and the epochs already done."""

    params: Any
    state: Any
    opt_state: Any
    epoch: int
    train_loss: np.ndarray  # (models, epoch * num_batches)
    val_loss: np.ndarray  # (models, epoch)
    val_metric: np.ndarray  # (models, epoch) or (models, 0)
    train_seconds: float


def _restore_tree(name: str, like: Any, arrays: dict[str, np.ndarray], path: Path) -> Any:
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    leaves = []
    for key_path, leaf in paths:
        key = name + jax.tree_util.keystr(key_path)
        if key not in arrays:
            raise CheckpointError(f"{path} has no {key}: it was written for another model or optimizer "
                                  f"(it holds {', '.join(sorted(k for k in arrays if k.startswith(name))[:4]) or 'no ' + name})")
        value = arrays[key]
        shape, dtype = tuple(np.shape(leaf)), np.asarray(leaf).dtype if not hasattr(leaf, "dtype") else np.dtype(leaf.dtype)
        if value.shape != shape or value.dtype != dtype:
            raise CheckpointError(f"{path}'s {key} is {value.dtype}{list(value.shape)} but this run's is "
                                  f"{dtype}{list(shape)}: it was written for another model or optimizer")
        leaves.append(jax.numpy.asarray(value))
    extra = [k for k in arrays if k.startswith(name + "[") or k.startswith(name + ".") or k == name]
    if len(extra) != len(leaves):
        unknown = sorted(set(extra) - {name + jax.tree_util.keystr(p) for p, _ in paths})
        raise CheckpointError(f"{path} holds {unknown[0]}, which this run's {name} has no place for: it was "
                              "written for another model or optimizer")
    return jax.tree_util.tree_unflatten(treedef, leaves)


def restore(path: str | Path, params: Any, state: Any, opt_state: Any, identity: dict[str, str]) -> Resumed:
    """Reads a checkpoint for a run whose initial trees and identity are given, refusing any that does not fit.

    Args:
        path: the checkpoint file.
        params, state, opt_state: this run's initial trees (their structure, shapes and dtypes must match).
        identity: this run's `run_identity`.

    Returns:
        A `Resumed`.

    Raises:
        CheckpointError: naming what does not fit (or that the file is unreadable).
    """
    path = Path(path).expanduser()
    try:
        arrays, metadata = read(path)
    except StateDictError as err:
        raise CheckpointError(f"cannot resume: {err}") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a jaxdl checkpoint (a parameter file, or another program's "
                              "safetensors file?); resume from the file Checkpoint(path) wrote")
    written = json.loads(metadata["run"])
    differ = [k for k in identity if written.get(k) != identity[k]]
    if differ:
        k = differ[0]
        drawn = {"keys": "keys", "orders": "orders", "step_rng": "step keys"}
        if k in drawn:
            what = f"other {drawn[k]} (their SHA-256 differs)"
        else:
            what = f"{k} = {written.get(k)}, not {identity[k]}"
        why = (" (every epoch's order is drawn from the key for that many epochs)" if k == "epochs" else "")
        raise CheckpointError(f"{path} was written by a run with {what}{why}; resume with the arguments of the "
                              "run that wrote it")
    trees = [_restore_tree(name, like, arrays, path) for name, like in zip(TREES, (params, state, opt_state))]
    return Resumed(*trees, epoch=int(metadata["epoch"]), train_loss=arrays["history/train_loss"],
                   val_loss=arrays["history/val_loss"], val_metric=arrays["history/val_metric"],
                   train_seconds=float(metadata["train_seconds"]))


def check_resume(resume: Any) -> Path | None:
    """The resume argument as a path to an existing file, or None; a ValueError otherwise."""
    if resume is None:
        return None
    if not isinstance(resume, (str, Path)):
        raise CheckpointError(f"resume= takes the path of a checkpoint file, got {resume!r}")
    path = Path(resume).expanduser()
    if not path.is_file():
        raise CheckpointError(f"cannot resume from {path}: no such file (start without resume=, or pass the path "
                              "Checkpoint(path) wrote)")
    return path
