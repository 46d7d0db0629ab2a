"""Data-parallel training: several devices and several processes give one device's numbers; bad meshes,
unreachable coordinators and stuck or failing processes end with a clear error in bounded time.

A process's device count is fixed when jax starts, so the multi-device and multi-process runs happen in
subprocesses, each bounded by a timeout.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxdl import distributed, losses, models, optimizers, sharding, training
from jaxdl.data import Dataset
from fresh_python import ROOT, fresh_python
from lowering import record_lowerings

RTOL = 1e-5  # the bound: only the order of the gradient sums differs between device counts
EXAMPLES, BATCH, EPOCHS = 110, 25, 3  # 5 batches an epoch, the last of 10; 25 divides neither 2 nor 4 devices


python = fresh_python


def small_data() -> tuple[np.ndarray, ...]:
    return distributed.synthetic_images(EXAMPLES)


# ----------------------------------------------------------------------------- several devices

DEVICES_SCRIPT = """
    import sys
    import jax, numpy as np
    from jaxdl import distributed, losses, models, optimizers, sharding, training
    from jaxdl.data import Dataset

    assert jax.device_count() == 4, jax.devices()
    data = distributed.synthetic_images({examples})
    runs = {{}}
    for model in ("softmax", "mlp"):
        for name, mesh in [("1", None), ("2", 2), ("4", 4),
                           ("2x2 data,model", jax.make_mesh((2, 2), ("data", "model")))]:
            params, history = distributed.train_demo(model, data, epochs={epochs}, batch_size={batch}, lr=0.1,
                                                     mesh=mesh)
            runs[f"{{model}} {{name}} losses"] = history.train_loss
            for i, leaf in enumerate(jax.tree.leaves(params)):
                runs[f"{{model}} {{name}} param {{i}}"] = np.asarray(leaf)
    # what fit hands its compiled epoch: spy on the plans it shards
    seen, shard_plan = [], sharding.shard_plan
    def spy(*args):
        idx, mask = shard_plan(*args)
        seen.append([s.data.shape for s in idx.addressable_shards])
        return idx, mask
    sharding.shard_plan = spy
    distributed.train_demo("softmax", data, epochs=2, batch_size={batch}, lr=0.1, mesh=4)
    sharding.shard_plan = shard_plan
    runs["fit plan shard shapes"] = np.array(seen)
    # the Python loop over the same jitted step, sharded the same way
    net = models.softmax_regression()
    start = models.init(net, jax.random.key(0), (1, 28, 28))
    history = training.fit(net, losses.softmax_cross_entropy, start, Dataset(*data), optimizers.sgd(0.1),
                           key=jax.random.key(1), epochs={epochs}, batch_size={batch}, mesh=2, loop="python",
                           callbacks=()).history
    runs["softmax 2 python-loop losses"] = history.train_loss
    # how the epoch is laid out on 4 devices: the plan's shards, and the collectives XLA put in
    mesh = sharding.data_mesh(4)
    idx, mask = sharding.shard_plan(mesh, *training.batch_plan(np.arange(len(data[0])), {batch}))
    runs["plan shard shapes"] = np.array([s.data.shape for s in idx.addressable_shards])
    params = sharding.replicate(mesh, start)
    opt = optimizers.sgd(0.1)
    train = Dataset(*sharding.replicate(mesh, data))
    epoch = jax.jit(training.make_train_epoch(net, losses.softmax_cross_entropy, opt,
                                              sharding.sharded_batches(mesh, training.default_preprocess)))
    hlo = epoch.lower(params, None, opt.init(params), train.X_train, train.y_train, idx, mask).compile().as_text()
    runs["all-reduces"] = np.array(hlo.count("all-reduce-start") + hlo.count("all-reduce("))
    runs["all-gathers"] = np.array(hlo.count("all-gather"))
    np.savez(sys.argv[1], **runs)
"""


@pytest.fixture(scope="module")
def device_runs(tmp_path_factory) -> dict[str, np.ndarray]:
    """Losses and final parameters of softmax regression and the MLP on 1, 2 and 4 forced CPU devices."""
    out = tmp_path_factory.mktemp("devices") / "runs.npz"
    python(DEVICES_SCRIPT.format(examples=EXAMPLES, epochs=EPOCHS, batch=BATCH), str(out),
           env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    return dict(np.load(out))


@pytest.mark.slow
@pytest.mark.parametrize("devices", ["2", "4", "2x2 data,model"])
@pytest.mark.parametrize("model", ["softmax", "mlp"])
def test_several_devices_give_one_devices_loss_at_every_step(device_runs, model, devices):
    one = device_runs[f"{model} 1 losses"]
    assert one.shape == (EPOCHS * -(-EXAMPLES // BATCH),)  # the partial last batch is trained, not dropped
    np.testing.assert_allclose(device_runs[f"{model} {devices} losses"], one, rtol=RTOL)


@pytest.mark.slow
@pytest.mark.parametrize("devices", ["2", "4"])
@pytest.mark.parametrize("model", ["softmax", "mlp"])
def test_several_devices_end_with_one_devices_parameters(device_runs, model, devices):
    names = [k for k in device_runs if k.startswith(f"{model} 1 param")]
    assert names
    for name in names:
        np.testing.assert_allclose(device_runs[name.replace(" 1 ", f" {devices} ")], device_runs[name],
                                   rtol=RTOL, atol=1e-7)


@pytest.mark.slow
def test_python_loop_on_two_devices_gives_one_devices_losses(device_runs):
    np.testing.assert_allclose(device_runs["softmax 2 python-loop losses"], device_runs["softmax 1 losses"], rtol=RTOL)


@pytest.mark.slow
def test_each_device_gathers_and_computes_its_own_columns_of_every_minibatch(device_runs):
    # 25 examples a batch padded to 28: 7 per device; the gradients are all-reduced, the data never gathered
    np.testing.assert_array_equal(device_runs["plan shard shapes"], [[5, 7]] * 4)
    # fit shards the plan it compiles for and every epoch's: 3 times for 2 epochs
    np.testing.assert_array_equal(device_runs["fit plan shard shapes"], [[[5, 7]] * 4] * 3)
    assert device_runs["all-reduces"] > 0
    assert device_runs["all-gathers"] == 0


def test_one_device_mesh_gives_exactly_the_unsharded_losses():
    data = small_data()
    _, plain = distributed.train_demo("softmax", data, epochs=1, batch_size=BATCH, lr=0.1, mesh=None)
    _, meshed = distributed.train_demo("softmax", data, epochs=1, batch_size=BATCH, lr=0.1, mesh=1)
    np.testing.assert_array_equal(meshed.train_loss, plain.train_loss)


def test_batch_padded_to_the_devices_with_masked_examples():
    idx, mask = np.arange(10).reshape(2, 5), np.ones((2, 5), np.float32)
    mask[1, 3:] = 0  # a partial last batch
    padded_idx, padded_mask = sharding.pad_plan(idx, mask, 4)
    assert padded_idx.shape == padded_mask.shape == (2, 8)
    np.testing.assert_array_equal(padded_idx[:, :5], idx)
    np.testing.assert_array_equal(padded_mask[:, :5], mask)
    assert not padded_mask[:, 5:].any()
    assert sharding.pad_plan(idx, mask, 5)[0].shape == (2, 5)  # already a multiple: unchanged


SOFTMAX = models.softmax_regression()


def _softmax_params():
    return models.init(SOFTMAX, jax.random.key(0), (1, 28, 28))


def fit_with_mesh(mesh, **kw):
    data = Dataset(*small_data())
    return training.fit(SOFTMAX, losses.softmax_cross_entropy, _softmax_params(), data, optimizers.sgd(0.1),
                        key=jax.random.key(1), epochs=1, batch_size=BATCH, mesh=mesh, callbacks=(), **kw)


@pytest.mark.parametrize("loop", ["scan", "python"])
def test_with_a_mesh_every_minibatch_plan_is_cut_over_the_data_axis(monkeypatch, loop):
    lowered = record_lowerings(monkeypatch, jax, "jit")
    fit_with_mesh(1, loop=loop)
    epochs = [args for args in lowered if len(args) == 9]  # the epoch's or the step's (the evaluation takes 4)
    ((params, _, _, X, _, idx, mask, _, _),) = epochs
    mesh = jax.tree.leaves(params)[0].sharding.mesh
    assert mesh.axis_names == (sharding.DATA_AXIS,)
    assert idx.sharding == mask.sharding == sharding.batch_sharding(mesh, idx.ndim, axis=idx.ndim - 1)


def test_mesh_without_a_data_axis_is_refused():
    with pytest.raises(ValueError, match="no 'data' axis"):
        fit_with_mesh(jax.make_mesh((1,), ("batch",)))


def test_more_devices_than_there_are_is_refused():
    with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
        fit_with_mesh(10_000)


@pytest.mark.parametrize("count", [0, -1])
def test_a_count_below_one_is_refused_as_no_device_count(count):
    with pytest.raises(ValueError, match=f"mesh={count} is not a device count"):
        fit_with_mesh(count)


@pytest.mark.parametrize("mesh", ["2", 2.0, True])
def test_a_mesh_that_is_neither_mesh_nor_count_is_refused(mesh):
    with pytest.raises(TypeError, match="Mesh or a number of devices"):
        fit_with_mesh(mesh)


def test_dropout_keys_with_a_mesh_are_refused_before_compiling():
    with pytest.raises(ValueError) as err:
        fit_with_mesh(1, step_rng=jax.random.key(2))
    assert str(err.value) == ("step_rng (dropout) with mesh= is not supported yet: the per-step masks would have to "
                              "be sharded with the batch; train on one device, or without step_rng")


# ----------------------------------------------------------------------------- several processes


@pytest.mark.slow
def test_two_processes_end_with_identical_parameters_equal_to_one_process(tmp_path):
    demo = ["--model", "mlp", "--data", "synthetic", "--examples", str(EXAMPLES), "--batch-size", str(BATCH),
            "--epochs", str(EPOCHS), "--lr", "0.1", "--init-timeout", "60", "--out", str(tmp_path)]
    env = {"PYTHONPATH": str(ROOT)}
    output = io.StringIO()
    distributed.launch([sys.executable, "-m", "jaxdl.distributed", "--demo", *demo], 2, timeout=240, env=env,
                       out=output)
    assert "process 1 of 2: 1 local device(s), 2 in all" in output.getvalue()
    assert output.getvalue().count("parameters replicated on 2 devices") == 2  # one job, not two
    p0, p1 = np.load(tmp_path / "process_0.npz"), np.load(tmp_path / "process_1.npz")
    assert sorted(p0) == sorted(p1) and len(p0) == 4
    for name in p0:
        np.testing.assert_array_equal(p0[name], p1[name])

    params, history = distributed.train_demo("mlp", small_data(), epochs=EPOCHS, batch_size=BATCH, lr=0.1, mesh=None)
    np.testing.assert_allclose(np.load(tmp_path / "losses_0.npy"), history.train_loss, rtol=RTOL)
    for i, leaf in enumerate(jax.tree.leaves(params)):
        np.testing.assert_allclose(p0[f"leaf_{i}"], np.asarray(leaf), rtol=RTOL, atol=1e-7)


def test_unreachable_coordinator_is_a_clear_error_within_the_timeout():
    # In a subprocess: were the check broken, jax.distributed would start (or abort) in this process.
    port = distributed.free_port()  # nothing listens there
    start = time.monotonic()
    out = python("""
        import sys
        from jaxdl import distributed
        try:
            distributed.initialize(f"127.0.0.1:{sys.argv[1]}", num_processes=2, process_id=1, timeout=2)
        except distributed.DistributedError as err:
            print(err)
    """, str(port), timeout=60)
    assert f"cannot reach the coordinator at 127.0.0.1:{port} within 2 s" in out
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("kwargs, message", [
    ({"coordinator": "localhost", "num_processes": 2, "process_id": 1}, "host:port"),
    ({"coordinator": "127.0.0.1:99999", "num_processes": 2, "process_id": 1}, "host:port"),
    ({"coordinator": "127.0.0.1:1234", "num_processes": 2, "process_id": 2}, "process_id must be in 0..1"),
    ({"coordinator": "127.0.0.1:1234", "num_processes": 0, "process_id": 0}, "num_processes"),
    ({"coordinator": "127.0.0.1:1234", "num_processes": 2, "process_id": 0, "timeout": 0}, "timeout"),
])
def test_bad_initialize_arguments_are_refused_before_jax_starts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        distributed.initialize(**kwargs)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to collect it counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def launched_pids(output: str) -> list[int]:
    return [int(line.split()[-1]) for line in output.splitlines() if "pid" in line]


# Each process prints its pid and that of a child it started, then sleeps; process argv[1] exits with 3 after
# 2 s (time for the other to start).
SLEEPER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print("pid", os.getpid(), flush=True)
print("child pid", child.pid, flush=True)
if os.environ["JAXDL_PROCESS_ID"] == sys.argv[1]:
    time.sleep(2)
    sys.exit(3)
time.sleep(120)
"""


def test_launcher_stops_every_process_and_its_children_when_time_runs_out():
    output = io.StringIO()
    start = time.monotonic()
    with pytest.raises(distributed.DistributedError, match=r"still running after 8 s"):
        distributed.launch([sys.executable, "-c", SLEEPER, "none"], 2, timeout=8, out=output)
    assert time.monotonic() - start < 30
    pids = launched_pids(output.getvalue())
    assert len(pids) >= 2, output.getvalue()  # under heavy load a process may not have started its child yet
    time.sleep(0.5)
    assert not any(alive(pid) for pid in pids)


def test_launcher_stops_the_others_when_one_process_fails():
    output = io.StringIO()
    start = time.monotonic()
    with pytest.raises(distributed.DistributedError, match="process 1 exited with status 3"):
        distributed.launch([sys.executable, "-c", SLEEPER, "1"], 2, timeout=60, out=output)
    assert time.monotonic() - start < 30
    pids = launched_pids(output.getvalue())
    assert len(pids) >= 2, output.getvalue()  # under heavy load a process may not have started its child yet
    time.sleep(0.5)
    assert not any(alive(pid) for pid in pids)


@pytest.mark.parametrize("kwargs, message", [
    ({"processes": 0}, "processes"), ({"processes": 2, "devices_per_process": 0}, "devices_per_process"),
    ({"processes": 2, "timeout": 0}, "timeout"),
])
def test_bad_launch_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        distributed.launch([sys.executable, "-c", "pass"], **kwargs)
