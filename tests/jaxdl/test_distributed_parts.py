"""jaxdl.distributed's parts, each checked in this process: plans padded and cut, shardings, addresses,
the environment initialize() reads, the files the demo writes, and the launcher's command line.

(tests/test_distributed.py runs the whole thing across devices and processes; these tests pin the pieces
one by one, fast, and where mutation testing can see them.)
"""

from __future__ import annotations

import io
import re
import socket
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxdl import distributed, sharding


@pytest.fixture(scope="module")
def mesh():
    return sharding.data_mesh(1)


def test_pad_plan_pads_the_batch_axis_with_index_0_and_mask_0():
    idx, mask = np.arange(10).reshape(2, 5) + 1, np.ones((2, 5), np.float32)
    padded_idx, padded_mask = sharding.pad_plan(idx, mask, 4)
    assert padded_idx.shape == padded_mask.shape == (2, 8)
    np.testing.assert_array_equal(padded_idx[:, :5], idx)
    np.testing.assert_array_equal(padded_idx[:, 5:], 0)
    np.testing.assert_array_equal(padded_mask[:, 5:], 0)
    np.testing.assert_array_equal(padded_mask[:, :5], 1)


def test_pad_plan_leaves_a_multiple_alone_and_pads_one_batch():
    idx, mask = sharding.pad_plan(np.arange(6), np.ones(6), 3)
    assert idx.shape == mask.shape == (6,)
    idx, mask = sharding.pad_plan(np.arange(5), np.ones(5), 2)
    np.testing.assert_array_equal(idx, [0, 1, 2, 3, 4, 0])
    np.testing.assert_array_equal(mask, [1, 1, 1, 1, 1, 0])


def test_a_count_gives_a_one_axis_data_mesh(mesh):
    from jax.sharding import AxisType

    assert mesh.axis_names == (sharding.DATA_AXIS,) and list(mesh.devices.flat) == jax.devices()[:1]
    assert mesh.axis_types == (AxisType.Auto,) and sharding.num_shards(mesh) == 1


def test_a_given_mesh_keeps_its_devices_and_axes_made_auto():
    from jax.sharding import AxisType, Mesh

    given = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("model", "data"),
                 axis_types=(AxisType.Explicit, AxisType.Explicit))
    made = sharding.data_mesh(given)
    assert made.axis_names == ("model", "data") and made.devices.shape == (1, 1)
    assert list(made.devices.flat) == list(given.devices.flat) and made.axis_types == (AxisType.Auto,) * 2


def test_bad_meshes_are_refused_with_what_to_do():
    count, backend = jax.device_count(), jax.default_backend()
    with pytest.raises(ValueError) as err:
        sharding.data_mesh(count + 1)
    assert str(err.value) == (
        f"mesh={count + 1} devices asked for, but {count} {backend} device(s) are available; on a CPU, start Python "
        "with XLA_FLAGS=--xla_force_host_platform_device_count=N (or JAX_NUM_CPU_DEVICES=N) to get N devices")
    for zero in (0, -1):
        with pytest.raises(ValueError, match=rf"^mesh={zero} is not a device count; pass a positive number"):
            sharding.data_mesh(zero)
    with pytest.raises(TypeError) as err:
        sharding.data_mesh("2")
    assert str(err.value) == "mesh must be a jax.sharding.Mesh or a number of devices, got str"


def test_shardings_cut_the_named_axis_and_replicate_the_rest(mesh):
    assert sharding.replicated(mesh).spec == P()
    assert sharding.batch_sharding(mesh, 3).spec == P(sharding.DATA_AXIS, None, None)
    assert sharding.batch_sharding(mesh, 2, axis=1).spec == P(None, sharding.DATA_AXIS)


def test_place_and_replicate_keep_the_values(mesh):
    x = np.arange(12.0).reshape(3, 4)
    placed = sharding.place(x, sharding.replicated(mesh))
    np.testing.assert_array_equal(placed, x)
    assert placed.sharding.spec == P()
    tree = sharding.replicate(mesh, {"W": x, "b": np.zeros(2)})
    np.testing.assert_array_equal(tree["W"], x)
    assert tree["b"].sharding == sharding.replicated(mesh)


def test_shard_plan_pads_and_cuts_every_minibatch(mesh):
    idx, mask = sharding.shard_plan(mesh, np.arange(6).reshape(2, 3), np.ones((2, 3)))
    assert idx.shape == (2, 3) and idx.sharding.spec == P(None, sharding.DATA_AXIS)
    np.testing.assert_array_equal(idx, np.arange(6).reshape(2, 3))
    one, _ = sharding.shard_plan(mesh, np.arange(3), np.ones(3))
    assert one.sharding.spec == P(sharding.DATA_AXIS)


def test_sharded_batches_preprocess_then_keep_the_cut(mesh):
    fn = sharding.sharded_batches(mesh, lambda X: X * 2.0)
    np.testing.assert_array_equal(jax.jit(fn)(np.ones((4, 3), np.float32)), 2.0)
    jaxpr = jax.make_jaxpr(fn)(np.ones((4, 3), np.float32))
    constraint = [e for e in jaxpr.eqns if e.primitive.name == "sharding_constraint"]
    assert [e.params["sharding"].spec for e in constraint] == [P(sharding.DATA_AXIS, None)]
    assert jaxpr.eqns.index(constraint[0]) > 0  # after the preprocessing


@pytest.mark.parametrize("address, expected", [("127.0.0.1:1", ("127.0.0.1", 1)),
                                               ("host.example:65535", ("host.example", 65535)),
                                               ("[::1]:8476", ("[::1]", 8476))])
def test_parse_address_splits_host_and_port(address, expected):
    assert distributed.parse_address(address) == expected


@pytest.mark.parametrize("address", ["localhost", ":1234", "host:", "host:0", "host:65536", "host:12a", "host:-1"])
def test_parse_address_refuses_anything_else(address):
    with pytest.raises(ValueError, match=r"^the coordinator address must be host:port with a port in 1\.\.65535, "
                                         rf"got '{address}'$"):
        distributed.parse_address(address)


def test_free_port_is_one_that_can_be_bound():
    port = distributed.free_port()
    assert 1024 <= port < 65536  # one the system hands out, never a fixed low port (root could bind port 1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_wait_for_coordinator_returns_once_something_listens():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        start = time.monotonic()
        distributed.wait_for_coordinator(f"127.0.0.1:{server.getsockname()[1]}", timeout=5)
        assert time.monotonic() - start < 2


def test_wait_for_coordinator_gives_up_after_its_timeout():
    port = distributed.free_port()  # nothing listens there
    start = time.monotonic()
    with pytest.raises(distributed.DistributedError, match=rf"cannot reach the coordinator at 127\.0\.0\.1:{port} "
                                                           r"within 1 s .*start process 0 first"):
        distributed.wait_for_coordinator(f"127.0.0.1:{port}", timeout=1)
    assert 1 <= time.monotonic() - start < 4


class FakeClock:
    """time.monotonic and time.sleep on a clock that only sleeping moves."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("timeout, attempt_timeout, tries", [(1, 1.0, 6), (0.5, 0.5, 4), (3, 1.0, 16)])
def test_wait_for_coordinator_tries_every_fifth_of_a_second_until_its_deadline(monkeypatch, timeout,
                                                                              attempt_timeout, tries):
    clock, attempts = FakeClock(), []

    def refused(address, timeout):
        attempts.append((address, timeout, clock.now))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(distributed.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(distributed.time, "sleep", clock.sleep)
    monkeypatch.setattr(distributed.socket, "create_connection", refused)
    with pytest.raises(distributed.DistributedError) as err:
        distributed.wait_for_coordinator("10.0.0.7:1234", timeout=timeout)
    assert str(err.value) == (f"cannot reach the coordinator at 10.0.0.7:1234 within {timeout:g} s (Connection "
                              "refused); start process 0 first (it hosts the coordinator) and check the address, "
                              "the port and any firewall between the hosts")
    assert {a[:2] for a in attempts} == {(("10.0.0.7", 1234), attempt_timeout)}
    # at 0, 0.2, ..., and a last try at or just past the deadline (0.8 + 0.2 is exactly 1.0 in floating point)
    assert len(attempts) == tries and clock.sleeps == [0.2] * (tries - 1)


class Recorder:
    def __init__(self, fail: Exception | None = None):
        self.calls, self.fail = [], fail

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def fake_jax_distributed(monkeypatch):
    """jax.distributed.initialize and the config update recorded instead of run; no coordinator waited for."""
    init, update, wait = Recorder(), Recorder(), Recorder()
    monkeypatch.setattr(distributed.jax.distributed, "initialize", init)
    monkeypatch.setattr(distributed.jax.config, "update", update)
    monkeypatch.setattr(distributed, "wait_for_coordinator", wait)
    for name in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID):
        monkeypatch.delenv(name, raising=False)
    return init, update, wait


def test_initialize_reads_the_launchers_environment(fake_jax_distributed, monkeypatch):
    init, update, wait = fake_jax_distributed
    monkeypatch.setenv(distributed.ENV_COORDINATOR, "127.0.0.1:4321")
    monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "3")
    monkeypatch.setenv(distributed.ENV_PROCESS_ID, "2")
    distributed.initialize(timeout=7)
    assert init.calls == [(("127.0.0.1:4321", 3, 2), {"initialization_timeout": 7})]
    assert update.calls == [(("jax_cpu_collectives_implementation", "gloo"), {})]
    assert wait.calls == [(("127.0.0.1:4321", 7), {})]


def test_process_0_hosts_the_coordinator_and_does_not_wait(fake_jax_distributed):
    init, _, wait = fake_jax_distributed
    distributed.initialize("127.0.0.1:4321", 2, 0)
    assert wait.calls == [] and init.calls == [(("127.0.0.1:4321", 2, 0), {"initialization_timeout": 60})]
    distributed.initialize("127.0.0.1:4321", 2, 1)
    assert wait.calls == [(("127.0.0.1:4321", 60), {})]


def test_the_smallest_valid_arguments_are_accepted(fake_jax_distributed):
    init, _, _ = fake_jax_distributed
    distributed.initialize("127.0.0.1:4321", num_processes=1, process_id=0, timeout=1)
    assert init.calls == [(("127.0.0.1:4321", 1, 0), {"initialization_timeout": 1})]


def test_without_a_coordinator_jax_detects_the_cluster(fake_jax_distributed):
    init, _, wait = fake_jax_distributed
    distributed.initialize()
    assert init.calls == [((None, None, None), {"initialization_timeout": 60})] and wait.calls == []


def test_a_failing_jax_initialize_is_one_line_with_what_to_check(fake_jax_distributed, monkeypatch):
    monkeypatch.setattr(distributed.jax.distributed, "initialize",
                        Recorder(RuntimeError("DEADLINE_EXCEEDED: barrier timed out\n  long C++ trace")))
    with pytest.raises(distributed.DistributedError) as err:
        distributed.initialize("127.0.0.1:4321", 2, 0)
    assert str(err.value) == ("jax.distributed.initialize failed (DEADLINE_EXCEEDED: barrier timed out); check that "
                              "all 2 processes were started with the same coordinator address (127.0.0.1:4321) "
                              "and distinct ids")
    monkeypatch.setattr(distributed.jax.distributed, "initialize", Recorder(RuntimeError("")))
    with pytest.raises(distributed.DistributedError, match=r"failed \(RuntimeError\); check that all the processes "
                                                           r"were started with the same coordinator address "
                                                           r"\(auto-detected\)"):
        distributed.initialize()


@pytest.mark.parametrize("source", ["synthetic", "fashion-mnist"])
def test_demo_trains_on_every_device_saves_its_results_and_shuts_down(fake_jax_distributed, monkeypatch, capsys,
                                                                      tmp_path, source):
    import argparse

    import jax.numpy as jnp

    from jaxdl.datasets import fashion_mnist
    from jaxdl.training import History

    started, shutdown = Recorder(), Recorder()
    monkeypatch.setattr(distributed, "initialize", started)
    monkeypatch.setattr(distributed.jax.distributed, "shutdown", shutdown)
    monkeypatch.setattr(fashion_mnist, "load", lambda: "the Fashion-MNIST dataset")
    params = {"W": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(2)}
    history = History(np.array([3.0, 2.0, 1.25]), np.array([2.5, 2.0, 1.5]), np.array([0.25, 0.5, 0.75]), 1,
                      train_seconds=1.5)
    trained = []

    def train_demo(*args, **kwargs):
        trained.append((args, kwargs))
        return params, history

    monkeypatch.setattr(distributed, "train_demo", train_demo)
    args = argparse.Namespace(init_timeout=9, data=source, examples=40, model="softmax", epochs=3, batch_size=8,
                              lr=0.1, out=tmp_path / "out")
    distributed.demo(args)
    assert started.calls == [((), {"timeout": 9})] and shutdown.calls == [((), {})]
    (model, data), kwargs = trained[0]
    assert model == "softmax" and kwargs == {"epochs": 3, "batch_size": 8, "lr": 0.1, "mesh": jax.device_count()}
    if source == "synthetic":
        for got, want in zip(data, distributed.synthetic_images(40)):
            np.testing.assert_array_equal(got, want)
    else:
        assert data == "the Fashion-MNIST dataset"
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "losses_0.npy"), history.train_loss)
    with np.load(tmp_path / "out" / "process_0.npz") as saved:
        np.testing.assert_array_equal(saved["leaf_0"], params["W"])
        np.testing.assert_array_equal(saved["leaf_1"], params["b"])
    devices = jax.device_count()
    assert capsys.readouterr().out.splitlines() == [
        f"process 0 of 1: {devices} local device(s), {devices} in all (cpu)",
        "process 0: final training loss 1.250000, val acc 0.7500, 1.50 s training, parameters replicated on 1 devices"]
    args.out = None
    distributed.demo(args)  # no files without --out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["losses_0.npy", "process_0.npz"]


def test_synthetic_images_are_fashion_mnist_shaped_and_seeded():
    X, y, X_val, y_val = distributed.synthetic_images(40, seed=3)
    assert X.shape == (40, 28, 28) and X.dtype == np.uint8 and X_val.shape == (10, 28, 28)
    assert y.shape == (40,) and y.dtype == np.int32 and y_val.shape == (10,)
    assert y.min() == 0 and y.max() == 9 and X.min() == 0 and X.max() == 255  # the whole ranges
    again = distributed.synthetic_images(40, seed=3)
    other = distributed.synthetic_images(40, seed=4)
    np.testing.assert_array_equal(again[0], X)
    assert not np.array_equal(other[0], X)
    np.testing.assert_array_equal(distributed.synthetic_images(40)[0], distributed.synthetic_images(40, seed=0)[0])


def test_saved_params_and_arrays_round_trip_without_temporary_files(tmp_path):
    params = [{"W": np.ones((2, 3)), "b": np.arange(2.0)}]
    where = tmp_path / "new" / "sub"  # directories are made as needed
    distributed.save_params({"x": np.zeros(1)}, where / "p.npz")
    distributed.save_params(params, where / "p.npz")  # and written into again
    distributed.save_array(np.arange(4), tmp_path / "other" / "sub" / "a.npy")  # each makes its own
    saved = np.load(where / "p.npz")
    assert sorted(saved.files) == ["leaf_0", "leaf_1"]
    np.testing.assert_array_equal(saved["leaf_0"], np.ones((2, 3)))
    np.testing.assert_array_equal(saved["leaf_1"], np.arange(2.0))
    np.testing.assert_array_equal(np.load(tmp_path / "other" / "sub" / "a.npy"), np.arange(4))
    assert [p.name for p in where.iterdir()] == ["p.npz"]
    assert [p.name for p in (tmp_path / "other" / "sub").iterdir()] == ["a.npy"]


def test_forward_prefixes_every_line_and_closes_the_stream():
    stream, out = io.StringIO("one\ntwo\n"), io.StringIO()
    distributed._forward(stream, "[p1] ", out)
    assert out.getvalue() == "[p1] one\n[p1] two\n" and stream.closed


def test_train_demo_trains_the_named_model_from_keys_0_and_1(capsys):
    from jax.sharding import NamedSharding

    from jaxdl import losses, models, optimizers
    from jaxdl.data import Dataset
    from jaxdl.training import fit

    data = distributed.synthetic_images(60)
    params, history = distributed.train_demo("softmax", data, epochs=2, batch_size=20, lr=0.1, mesh=None)
    assert params[1]["W"].shape == (10, 784) and history.epochs == 2 and len(history.train_loss) == 6
    net = models.softmax_regression()
    by_hand = fit(net, losses.softmax_cross_entropy, models.init(net, jax.random.key(0), (1, 28, 28)), Dataset(*data),
                  optimizers.sgd(0.1), key=jax.random.key(1), epochs=2, batch_size=20, callbacks=()).params
    np.testing.assert_array_equal(params[1]["W"], by_hand[1]["W"])
    mlp, _ = distributed.train_demo("mlp", data, epochs=1, batch_size=20, lr=0.1, mesh=1)
    assert [layer["W"].shape for layer in mlp if layer != ()] == [(256, 784), (10, 256)]
    assert isinstance(mlp[1]["W"].sharding, NamedSharding)  # trained on the mesh asked for
    assert capsys.readouterr().err == ""  # no progress bars: the launcher forwards every process's output


def test_main_launches_the_demo_with_its_options(monkeypatch):
    launched = Recorder()
    monkeypatch.setattr(distributed, "launch", launched)
    assert distributed.main(["--processes", "3", "--devices-per-process", "2", "--timeout", "9", "--model",
                             "softmax", "--data", "synthetic", "--epochs", "2"]) == 0
    (command, processes), kwargs = launched.calls[0]
    assert processes == 3 and kwargs == {"devices_per_process": 2, "timeout": 9.0}
    assert command[:4] == [sys.executable, "-m", "jaxdl.distributed", "--demo"]
    options = dict(zip(command[4::2], command[5::2]))
    assert options == {"--model": "softmax", "--data": "synthetic", "--examples": "1000", "--epochs": "2",
                       "--batch-size": "256", "--lr": "0.1", "--init-timeout": "60"}


def test_main_without_options_launches_two_single_device_processes_of_the_mlp_demo(monkeypatch):
    launched = Recorder()
    monkeypatch.setattr(distributed, "launch", launched)
    assert distributed.main([]) == 0
    (command, processes), kwargs = launched.calls[0]
    assert processes == 2 and kwargs == {"devices_per_process": 1, "timeout": 600.0}
    assert dict(zip(command[4::2], command[5::2])) == {
        "--model": "mlp", "--data": "fashion-mnist", "--examples": "1000", "--epochs": "1", "--batch-size": "256",
        "--lr": "0.1", "--init-timeout": "60"}
    assert distributed.main(["--out", "params"]) == 0 and launched.calls[1][0][0][-2:] == ["--out", "params"]


@pytest.mark.parametrize("option, value", [("--model", "cnn"), ("--data", "imagenet"), ("--processes", "two")])
def test_main_refuses_unknown_choices_before_launching(monkeypatch, capsys, option, value):
    launched = Recorder()
    monkeypatch.setattr(distributed, "launch", launched)
    with pytest.raises(SystemExit) as exit_:
        distributed.main([option, value])
    assert exit_.value.code == 2 and launched.calls == [] and option in capsys.readouterr().err


def test_help_says_what_every_option_does_and_its_default(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        distributed.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # wrapping aside
    assert text.startswith("usage: python -m jaxdl.distributed [-h] [--processes PROCESSES]")
    assert ("Launch a data-parallel jaxdl job as several processes on this machine. Without a command after --, "
            "every process runs the demo (d2l's softmax regression or MLP).") in text
    for line in ["command -- then the command every process runs",
                 "--processes PROCESSES how many processes (default: 2)",
                 "--devices-per-process DEVICES_PER_PROCESS CPU devices in each process (default: 1)",
                 "--timeout TIMEOUT stop every process after this many seconds (default: 600)",
                 "--model {softmax,mlp} demo model (default: mlp)",
                 "--data {fashion-mnist,synthetic} demo data (default: fashion-mnist)",
                 "--examples EXAMPLES demo: training examples of synthetic data (default: 1000)",
                 "--epochs EPOCHS demo epochs (default: 1)",
                 "--batch-size BATCH_SIZE demo minibatch size (all processes together) (default: 256)",
                 "--lr LR demo learning rate (default: 0.1)",
                 "--init-timeout INIT_TIMEOUT seconds to wait for all processes to join (default: 60)",
                 "--out OUT demo: save each process's final parameters here (default: None)"]:
        assert line in text
    assert "--demo" not in text  # the launcher's own flag for its processes


def test_main_with_demo_runs_one_demo_process_with_the_parsed_options(monkeypatch):
    ran, launched = Recorder(), Recorder()
    monkeypatch.setattr(distributed, "demo", ran)
    monkeypatch.setattr(distributed, "launch", launched)
    assert distributed.main(["--demo", "--model", "softmax", "--epochs", "3", "--lr", "0.5", "--examples", "50",
                             "--batch-size", "16", "--init-timeout", "5", "--out", "saved"]) == 0
    (args,), _ = ran.calls[0]
    assert (args.demo, args.model, args.epochs, args.lr, args.data) == (True, "softmax", 3, 0.5, "fashion-mnist")
    assert (args.examples, args.batch_size, args.init_timeout, args.out) == (50, 16, 5, Path("saved"))
    assert launched.calls == []


def test_main_runs_a_command_given_with_or_without_the_double_dash(monkeypatch):
    launched = Recorder()
    monkeypatch.setattr(distributed, "launch", launched)
    assert distributed.main(["--processes", "2", "python", "train.py"]) == 0
    assert distributed.main(["--processes", "2", "--", "python", "train.py"]) == 0
    assert [call[0][0] for call in launched.calls] == [["python", "train.py"]] * 2


def test_main_runs_a_given_command_and_reports_a_failure_in_one_line(monkeypatch, capsys):
    launched = Recorder(distributed.DistributedError("process 1 exited with status 3"))
    monkeypatch.setattr(distributed, "launch", launched)
    assert distributed.main(["--processes", "2", "--", "python", "train.py"]) == 1
    assert launched.calls[0][0] == (["python", "train.py"], 2)
    assert capsys.readouterr().err == "error: process 1 exited with status 3\n"


def test_stop_ends_a_process_group(tmp_path):
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    start = time.monotonic()
    distributed._stop(proc, grace=5)
    assert proc.returncode is not None and time.monotonic() - start < 5


def test_stop_falls_back_to_sigkill_after_the_grace(tmp_path):
    import subprocess

    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    start = time.monotonic()
    distributed._stop(proc, grace=0.5)
    assert proc.returncode == -9 and time.monotonic() - start < 5
    proc.stdout.close()


@pytest.mark.parametrize("command, processes, devices, timeout, message", [
    (["x"], 0, 1, 1, "processes must be a positive integer, got 0"),
    (["x"], 1.0, 1, 1, "processes must be a positive integer, got 1.0"),
    (["x"], 1, 0, 1, "devices_per_process must be a positive integer, got 0"),
    (["x"], 1, "2", 1, "devices_per_process must be a positive integer, got '2'"),
    ([], 1, 1, 1, "give the command to run in every process"),
    (["x"], 1, 1, 0, "timeout must be positive, got 0"),
])
def test_a_launch_that_could_not_run_is_refused_saying_what_to_pass(command, processes, devices, timeout, message):
    with pytest.raises(ValueError) as err:
        distributed.check_launch(command, processes, devices, timeout)
    assert str(err.value) == message


def test_the_smallest_launch_is_accepted():
    distributed.check_launch(["x"], 1, 1, 0.5)  # one process, one device, half a second
    distributed.check_launch(("x",), np.int64(2), np.int32(1), 1e-3)


def test_launch_hands_each_process_its_part_of_the_job_and_prefixes_its_output(monkeypatch):
    import threading

    daemons = []

    class RecordedThread(threading.Thread):
        def start(self):
            daemons.append(self.daemon)
            super().start()

    monkeypatch.setattr(distributed.threading, "Thread", RecordedThread)
    keys = (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID, "JAX_PLATFORMS",
            "JAX_NUM_CPU_DEVICES", "EXTRA")
    code = f"import os, sys; print(','.join(os.environ[k] for k in {keys!r})); print('to stderr', file=sys.stderr)"
    for platforms, expected, devices in ((None, "cpu", 1), ("cuda", "cuda", 3)):  # cpu unless the user chose
        if platforms is None:
            monkeypatch.delenv("JAX_PLATFORMS", raising=False)
        else:
            monkeypatch.setenv("JAX_PLATFORMS", platforms)
        out = io.StringIO()
        more = {} if devices == 1 else {"devices_per_process": devices}  # one device each by default
        distributed.launch([sys.executable, "-c", code], 2, port=12345, env={"EXTRA": "x"}, out=out, **more)
        assert sorted(out.getvalue().splitlines()) == [
            f"[p0] 127.0.0.1:12345,2,0,{expected},{devices},x", "[p0] to stderr",
            f"[p1] 127.0.0.1:12345,2,1,{expected},{devices},x", "[p1] to stderr"]
    assert daemons == [True] * 4  # an output reader never keeps Python alive


def test_launch_stops_processes_still_running_at_the_deadline_and_names_them():
    with pytest.raises(distributed.DistributedError) as err:
        distributed.launch([sys.executable, "-c", "import time; time.sleep(60)"], 2, timeout=1, out=io.StringIO())
    assert str(err.value) == "process(es) [0, 1] still running after 1 s; stopped them all"
