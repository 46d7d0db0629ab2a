"""d2l 6.6 File I/O, in formats a PyTorch user shares and without pickle: arrays, lists and dicts of arrays through
.npy/.npz (allow_pickle=False) and safetensors, bit for bit; a model's parameters through jaxdl.state_dict; the
d2l MLP PyTorch trained and saved with safetensors.torch.save_file, loaded into jaxdl and giving PyTorch's logits;
checkpoints written during training and a stopped run resumed to the uninterrupted run's bits."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import safetensors.numpy

from experiments.ch6 import modules
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import callbacks, losses, nn, training
from jaxdl import state_dict as sd
from jaxdl.checkpoints import Checkpoint
from jaxdl.data import Dataset

SECTION = "6.6"
TITLE = "File I/O"
REFERENCE = "ch6_6_file_io"
MLP_FILE = Path(__file__).with_name("ch6_6_file_io_mlp.safetensors")  # written by ch6_6_file_io_torch.py

TOLERANCES: Tolerances = {
    "logits": Tolerance(rtol=1e-6, atol=1e-6, why="float32 logits of 20 -> 256 -> 10 products summed in another "
                                                  "order than torch's addmm, the same parameters bit for bit: "
                                                  "last-bit differences on logits up to ~1"),
}


def mlp() -> nn.Layer:
    """d2l 6.6's MLP: self.hidden = LazyLinear(256), self.output = LazyLinear(10)."""
    return modules.mlp_module(hidden="hidden", out="output")


def same_bits(a: Any, b: Any) -> bool:
    """Equal dtype, shape and bytes."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def save_array(path: Path, x: Any) -> np.ndarray:
    """torch.save(x, 'x-file') / torch.load: one array as .npy, no pickle either way."""
    np.save(path, np.asarray(x), allow_pickle=False)
    return np.load(path, allow_pickle=False)


def save_list(path: Path, arrays: list) -> list[np.ndarray]:
    """torch.save([x, y], 'x-files'): a list as .npz entries arr_0, arr_1, ..., read back in order."""
    np.savez(path, *[np.asarray(a) for a in arrays])
    with np.load(path, allow_pickle=False) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


def save_dict(path: Path, arrays: dict) -> tuple[dict, dict]:
    """torch.save(mydict, 'mydict'): a dict of arrays as .npz and as safetensors, both read back."""
    np.savez(path.with_suffix(".npz"), **{k: np.asarray(v) for k, v in arrays.items()})
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as f:
        npz = {k: f[k] for k in f.files}
    safetensors.numpy.save_file({k: np.asarray(v) for k, v in arrays.items()}, str(path.with_suffix(".safetensors")))
    return npz, safetensors.numpy.load_file(str(path.with_suffix(".safetensors")))


def refused(fn) -> str:
    """The first clause of the error fn raises ("no error" if none)."""
    try:
        fn()
    except (ValueError, sd.StateDictError) as err:
        return f"{type(err).__name__}: {str(err).split(';')[0]}"
    return "no error"


# ----------------------------------------------------------------------------- checkpoints and resume


class _StopAfter(callbacks.Callback):
    """Stops a run after an epoch, as a killed process would (the checkpoint of that epoch is on disk)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, end: callbacks.EpochEnd) -> None:
        if end.epoch == self.epoch:
            raise KeyboardInterrupt


def checkpoint_data(num_train: int = 200, num_val: int = 50) -> Dataset:
    """A small classification problem for the MLP (20 features, 10 classes) drawn by NumPy."""
    rng = np.random.default_rng(66)
    X = rng.standard_normal((num_train + num_val, 20)).astype(np.float32)
    y = (X[:, :10].argmax(axis=1)).astype(np.int32)
    return Dataset(X[:num_train], y[:num_train], X[num_train:], y[num_train:])


def train_mlp(params: Any, data: Dataset, *, epochs: int, **kw: Any) -> training.Fitted:
    """The MLP trained with Adam (an optimizer with state, which the checkpoint must keep) on batches of 32."""
    return training.fit(mlp(), losses.softmax_cross_entropy, params, data, optax.adam(1e-3), key=jax.random.key(6),
                        epochs=epochs, batch_size=32, preprocess=lambda X: X, callbacks=kw.pop("callbacks", ()), **kw)


def checkpoints_and_resume(result: Result, tmp: Path, epochs: int, stop: int) -> None:
    """A run stopped after `stop` epochs and resumed from its checkpoint, against the run that never stopped."""
    data = checkpoint_data()
    params = nn.init(mlp(), jax.random.key(60), (1, 20))[0]
    whole = train_mlp(params, data, epochs=epochs)
    path = tmp / "mlp.ckpt"
    try:
        train_mlp(params, data, epochs=epochs, callbacks=[Checkpoint(path), _StopAfter(stop)])
    except KeyboardInterrupt:
        pass
    arrays, meta = sd.read(path)
    result.compare(f"the checkpoint after the stop: epoch {stop} of {epochs}", int(meta["epoch"]), stop)
    resumed = train_mlp(params, data, epochs=epochs, resume=path)
    result.compare("resumed run's parameters = the uninterrupted run's, bit for bit",
                   all(same_bits(a, b) for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(whole.params))),
                   True)
    result.compare("resumed run's history = the uninterrupted run's (every step's loss, validation loss and accuracy)",
                   [same_bits(getattr(resumed.history, f), getattr(whole.history, f))
                    for f in ("train_loss", "val_loss", "val_metric")], [True] * 3)
    other_key = refused(lambda: training.fit(mlp(), losses.softmax_cross_entropy, params, data, optax.adam(1e-3),
                                             key=jax.random.key(7), epochs=epochs, batch_size=32,
                                             preprocess=lambda X: X, callbacks=(), resume=path)).replace(str(path), path.name)
    other_optimizer = refused(lambda: training.fit(mlp(), losses.softmax_cross_entropy, params, data, optax.sgd(0.1),
                                                   key=jax.random.key(6), epochs=epochs, batch_size=32,
                                                   preprocess=lambda X: X, callbacks=(), resume=path)).replace(str(path), path.name)
    damaged = tmp / "damaged.ckpt"
    damaged.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    truncated = refused(lambda: train_mlp(params, data, epochs=epochs, resume=damaged)).replace(str(damaged), damaged.name)
    result.compare("a checkpoint of a run with another key: refused", other_key.split(" (")[0],
                   "CheckpointError: mlp.ckpt was written by a run with other keys")
    result.compare("a checkpoint of a run with another optimizer (SGD for Adam): refused",
                   other_optimizer.startswith("CheckpointError: mlp.ckpt") and "another model or optimizer" in other_optimizer,
                   True)
    result.compare("a truncated checkpoint: refused", truncated.split(" (")[0],
                   "CheckpointError: cannot resume: damaged.ckpt is not a readable safetensors file")
    names = sorted(arrays)
    result.text(
        f"Checkpoints: `fit(..., callbacks=[Checkpoint(path)])` wrote one safetensors file after every epoch; "
        f"the run was stopped after epoch {stop} of {epochs} (as a killed process would be) and "
        f"`fit(..., resume=path)` went on from that file. The file holds {len(names)} arrays (the parameters, "
        "Adam's moments and step count, the history so far: " + ", ".join(f"`{n}`" for n in names[:3]) + ", ...) "
        "and, in its header, the epoch and what identifies the run (its key, epochs, batch size, data size). "
        "Every epoch's minibatch order is drawn from the run's key and the epoch's number, so the resumed "
        "epochs are the same computation on the same bits: the parameters and the history equal the "
        "uninterrupted run's bit for bit. The file is written under a temporary name and renamed, so a run "
        f"killed while writing leaves the previous checkpoint whole. Refused before any work: `{other_key}`; "
        f"`{other_optimizer}`; `{truncated}`."
    )


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        x = jnp.arange(4)
        y = jnp.zeros(4)
        result.compare("x = arange(4): values as torch's", x, ref["x"]["values"])
        back = save_array(tmp / "x-file.npy", x)
        result.compare("array through .npy: same dtype, shape and bytes", same_bits(back, x), True)
        x2, y2 = save_list(tmp / "x-files.npz", [x, y])
        result.compare("list [x, y] through .npz (arr_0, arr_1): bit for bit, in order",
                       [same_bits(x2, x), same_bits(y2, y)], [True, True])
        npz, st = save_dict(tmp / "mydict", {"x": x, "y": y})
        result.compare("dict {x, y} through .npz and safetensors: bit for bit",
                       [same_bits(npz["x"], x), same_bits(npz["y"], y), same_bits(st["x"], x), same_bits(st["y"], y)],
                       [True] * 4)
        objects = np.array([{"code": "runs when unpickled"}], dtype=object)
        result.compare("an object array: refused by np.save(allow_pickle=False)",
                       refused(lambda: np.save(tmp / "objects.npy", objects, allow_pickle=False)).split(":")[0],
                       "ValueError")

        model = mlp()
        X = jnp.asarray(ref["mlp"]["X"], jnp.float32)
        params = nn.init(model, jax.random.key(66), X.shape)[0]
        path = sd.save(tmp / "mlp.safetensors", params, metadata={"model": "d2l 6.6 MLP"})
        clone = sd.load(path, *sd.shapes(model, X.shape))[0]
        result.compare("jaxdl params saved and loaded (jaxdl.state_dict.save / load): every leaf bit for bit",
                       all(same_bits(a, b) for a, b in zip(jax.tree.leaves(clone), jax.tree.leaves(params))), True)
        result.compare("Y_clone == Y", model(clone, X), model(params, X))
        saved, meta = sd.read(path)
        torch_ref = ref["mlp"]
        result.compare("the file jaxdl wrote: names and shapes = torch's state_dict's",
                       sorted(f"{k} {list(v.shape)}" for k, v in saved.items()),
                       sorted(f"{k} {s}" for k, s in torch_ref["shapes"].items()))
        result.compare("the file jaxdl wrote: dtypes = torch's", sorted(f"{k} {v.dtype}" for k, v in saved.items()),
                       sorted(f"{k} {d}" for k, d in torch_ref["dtypes"].items()))
        checkpoints_and_resume(result, tmp, epochs=3 if fast else 6, stop=1 if fast else 4)

    digest = hashlib.sha256(MLP_FILE.read_bytes()).hexdigest()
    result.compare(f"{MLP_FILE.name}: the file the reference describes (sha256)", digest, torch_ref["sha256"])
    theirs, meta = sd.read(MLP_FILE)
    result.compare("PyTorch's file: the names of its state_dict", sorted(theirs),
                   sorted(torch_ref["state_dict_names"]))
    loaded = sd.load(MLP_FILE, *sd.shapes(model, X.shape))[0]
    result.compare("PyTorch-trained MLP loaded into jaxdl: logits for the stored X", model(loaded, X),
                   torch_ref["logits"], tol=TOLERANCES["logits"])
    short = lambda message: message.replace(str(MLP_FILE), MLP_FILE.name)  # noqa: E731
    wrong_names = short(refused(lambda: sd.load(MLP_FILE, *sd.shapes(modules.mlp_sequential(), X.shape))))
    result.compare("into nn.serial's names (0.weight, ...): refused, naming the first missing entry",
                   wrong_names.split(" (")[0], f"StateDictError: {MLP_FILE.name} has no entry '0.weight' that the model needs")
    wrong_shape = short(refused(lambda: sd.load(MLP_FILE, *sd.shapes(model, (2, 30)))))
    result.compare("into the MLP made for 30 inputs: refused, naming hidden.weight and both shapes",
                   wrong_shape, f"StateDictError: {MLP_FILE.name}'s 'hidden.weight' has shape (256, 20) but the model's "
                   "is (256, 30)")
    result.text(
        "No pickle anywhere: `torch.save`/`torch.load` pickle Python objects (loading one can run code), so "
        "arrays go through `.npy`/`.npz` with `allow_pickle=False` (an object array is refused) and "
        "through safetensors, whose header is JSON and whose body is raw bytes. An array, a list (`.npz` "
        "entries arr_0, arr_1, ...) and a dict of arrays came back with the same dtype, shape and bytes. "
        "A model's parameters go through `jaxdl.state_dict.save`, which writes the state_dict under torch's "
        "names (`hidden.weight`, ...) atomically, and `load(path, *state_dict.shapes(model, input_shape))`, "
        "which checks each name, shape and dtype against the model's traced shapes: the clone computes "
        "the same output bit for bit, the book's `Y_clone == Y`.\n\n"
        f"The PyTorch generator trained d2l's MLP for {len(torch_ref['train_losses'])} SGD steps (loss "
        f"{torch_ref['train_losses'][0]:.3f} -> {torch_ref['train_losses'][-1]:.3f}) and saved its state_dict "
        f"with `safetensors.torch.save_file` into the committed `{MLP_FILE.name}` ({MLP_FILE.stat().st_size} "
        "bytes, metadata: " + "; ".join(f"{k}: {v}" for k, v in meta.items()) + "). jaxdl loads it into its "
        "own model unchanged (no renames, no transposes: jaxdl keeps nn.Linear's (out, in) layout) and "
        "computes PyTorch's logits to float32 rounding. The other way, a file jaxdl wrote holds torch's "
        "names, shapes and dtypes (above); the tests load one into torch's MLP with `load_state_dict` where "
        "torch is installed. A file that does not fit is refused, naming the first mismatch: "
        f"`{wrong_names}`; `{wrong_shape}`."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
