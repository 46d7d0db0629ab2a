"""Checkpoints: a run stopped after epoch k and resumed from its checkpoint gives the uninterrupted run's bits
(fit and fit_many, the scanned epoch and the Python loop, a model with layer state and an optimizer with
state); a checkpoint that does not fit the run is refused before any work; an interrupted write keeps the
previous checkpoint."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

from jaxdl import checkpoints, losses, many, nn, state_dict, training
from jaxdl.callbacks import Callback
from jaxdl.checkpoints import Checkpoint, CheckpointError
from jaxdl.data import Dataset

NET = nn.serial(nn.linear(16, sigma=None), nn.batch_norm(), nn.relu(), nn.linear(3, sigma=None))
EPOCHS = 4


def _data() -> Dataset:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 5)).astype(np.float32)
    y = rng.integers(0, 3, 150)
    return Dataset(X[:110], y[:110], X[110:], y[110:])  # 110 = 3 batches of 32 and one of 14


class Stop(Exception):
    pass


class StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, end) -> None:
        if end.epoch == self.epoch:
            raise Stop


def _fit(engine: str, *, net=NET, optimizer=None, key=2, epochs=EPOCHS, loop="scan", **kw):
    params, state = nn.init(net, jax.random.key(1), (1, 5))
    optimizer = optax.adam(0.01) if optimizer is None else optimizer
    kw = dict(batch_size=32, preprocess=lambda X: X, callbacks=(), epochs=epochs, loop=loop) | kw
    if engine == "fit":
        return training.fit(net, losses.softmax_cross_entropy, params, _data(), optimizer, state=state,
                            key=jax.random.key(key), **kw)
    params2, state2 = nn.init(net, jax.random.key(7), (1, 5))
    return training.fit_many(net, losses.softmax_cross_entropy, many.stack([params, params2]), _data(), optimizer,
                             state=many.stack([state, state2]), keys=jax.random.split(jax.random.key(key)), **kw)


def _equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def _histories(history) -> list:
    return list(history) if isinstance(history, list) else [history]


@pytest.mark.parametrize("loop", ["scan", "python"])
@pytest.mark.parametrize("engine", ["fit", "fit_many"])
@pytest.mark.parametrize("stop", [1, 3])
def test_a_run_resumed_after_epoch_k_is_the_uninterrupted_run_bit_for_bit(engine, loop, stop, tmp_path):
    path = tmp_path / "run.ckpt"
    whole = _fit(engine, loop=loop)
    with pytest.raises(Stop):
        _fit(engine, loop=loop, callbacks=[Checkpoint(path), StopAfter(stop)])
    resumed = _fit(engine, loop=loop, resume=path)
    assert _equal(resumed.params, whole.params)
    assert _equal(resumed.state, whole.state)  # BatchNorm's running statistics
    for h_resumed, h_whole in zip(_histories(resumed.history), _histories(whole.history), strict=True):
        assert h_resumed.epochs == EPOCHS
        for field in ("train_loss", "val_loss", "val_metric"):
            np.testing.assert_array_equal(getattr(h_resumed, field), getattr(h_whole, field))


def test_the_checkpoint_holds_the_epoch_the_history_and_the_trees_of_that_epoch(tmp_path):
    path = tmp_path / "run.ckpt"
    seen = {}

    class Keep(Callback):
        def on_epoch_end(self, end):
            if end.epoch == 2:
                seen["params"], seen["opt_state"] = end.params, end.opt_state

    with pytest.raises(Stop):
        _fit("fit", callbacks=[Checkpoint(path), Keep(), StopAfter(2)])
    arrays, metadata = state_dict.read(path)
    assert metadata["epoch"] == "2" and metadata["format"] == checkpoints.FORMAT
    assert arrays["history/train_loss"].shape == (1, 2 * 4) and arrays["history/val_loss"].shape == (1, 2)
    np.testing.assert_array_equal(arrays["params[0]['W']"], seen["params"][0]["W"])
    np.testing.assert_array_equal(arrays["opt_state[0].mu[3]['b']"], seen["opt_state"][0].mu[3]["b"])


def test_resuming_a_finished_run_returns_it_without_training(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    whole = _fit("fit", callbacks=[Checkpoint(path)])
    monkeypatch.setattr(training, "_compile", lambda *a, **k: pytest.fail("a finished run was compiled again"))
    again = _fit("fit", resume=path)
    assert _equal(again.params, whole.params)
    np.testing.assert_array_equal(again.history.train_loss, whole.history.train_loss)


def test_a_regression_run_without_metric_resumes_too(tmp_path):
    path = tmp_path / "run.ckpt"
    net = nn.serial(nn.linear(1, sigma=None))
    ds = Dataset(*(np.asarray(a, np.float32) for a in _data()))

    def regression(**more):
        kw = dict(key=jax.random.key(2), epochs=3, batch_size=32, metric=None, preprocess=lambda X: X,
                  callbacks=()) | more
        return training.fit(net, losses.squared_loss, nn.init(net, jax.random.key(1), (1, 5))[0], ds,
                            optax.sgd(0.01), **kw)

    whole = regression()
    with pytest.raises(Stop):
        regression(callbacks=[Checkpoint(path), StopAfter(1)])
    resumed = regression(resume=path)
    assert _equal(resumed.params, whole.params)
    assert resumed.history.val_metric.size == 0
    np.testing.assert_array_equal(resumed.history.val_loss, whole.history.val_loss)


@pytest.fixture()
def checkpoint(tmp_path):
    path = tmp_path / "run.ckpt"
    with pytest.raises(Stop):
        _fit("fit", callbacks=[Checkpoint(path), StopAfter(2)])
    return path


@pytest.mark.parametrize("change, message", [
    (dict(key=3), "other keys"),
    (dict(epochs=EPOCHS + 1), "epochs = 4, not 5"),
    (dict(batch_size=16), "batch_size = 32, not 16"),
    (dict(optimizer=optax.sgd(0.01)), "opt_state.*another model or optimizer"),
    (dict(net=nn.serial(nn.linear(8, sigma=None), nn.batch_norm(), nn.relu(), nn.linear(3, sigma=None))),
     r"params\[0\]\['W'\] is float32\[16, 5\] but this run's is float32\[8, 5\]"),
    (dict(net=nn.serial(nn.linear(16, sigma=None), nn.relu(), nn.linear(3, sigma=None))), "another model"),
])
def test_a_checkpoint_of_another_run_is_refused_before_any_work(checkpoint, change, message, monkeypatch):
    monkeypatch.setattr(training, "_compile", lambda *a, **k: pytest.fail("compiled before the refusal"))
    with pytest.raises(CheckpointError, match=message):
        _fit("fit", resume=checkpoint, **change)


def test_a_checkpoint_of_fit_is_refused_by_fit_many(checkpoint):
    with pytest.raises(CheckpointError, match="models = one, not 2"):
        _fit("fit_many", resume=checkpoint)


def test_a_truncated_checkpoint_is_refused(checkpoint, tmp_path):
    data = checkpoint.read_bytes()
    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        _fit("fit", resume=damaged)


def test_a_parameter_file_is_not_a_checkpoint(tmp_path):
    params, state = nn.init(NET, jax.random.key(1), (1, 5))
    path = state_dict.save(tmp_path / "weights.safetensors", params, state)
    with pytest.raises(CheckpointError, match="not a jaxdl checkpoint"):
        _fit("fit", resume=path)


@pytest.mark.parametrize("resume, message", [("missing.ckpt", "no such file"), (3, "takes the path")])
def test_resume_names_a_checkpoint_file(resume, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match=message):
        _fit("fit", resume=resume)


def test_a_checkpoint_path_is_checked_when_the_callback_is_made(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        Checkpoint(tmp_path / "file" / "run.ckpt")
    with pytest.raises(ValueError, match="takes a file path"):
        Checkpoint(None)


def test_a_write_interrupted_halfway_leaves_the_previous_checkpoint_whole(checkpoint, monkeypatch):
    before = checkpoint.read_bytes()
    real = checkpoints.atomic_file

    class HalfWritten:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise KeyboardInterrupt  # the run is killed in the middle of the write

    def interrupted(path, mode):
        cm = real(path, mode)

        class Wrapper:
            def __enter__(self):
                return HalfWritten(cm.__enter__())

            def __exit__(self, *exc):
                return cm.__exit__(*exc)

        return Wrapper()

    monkeypatch.setattr(checkpoints, "atomic_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _fit("fit", resume=checkpoint, callbacks=[Checkpoint(checkpoint)])
    assert checkpoint.read_bytes() == before
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == [checkpoint.name]  # no temporary file left
    monkeypatch.setattr(checkpoints, "atomic_file", real)
    assert _fit("fit", resume=checkpoint).history.epochs == EPOCHS
