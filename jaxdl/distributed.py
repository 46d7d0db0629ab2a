"""Several processes: `initialize` starts JAX's distributed runtime, and `python -m jaxdl.distributed
--processes 2` launches processes on this machine to try it out (docs/distributed.md says how on a real cluster).

Training across them is `fit(..., mesh=jax.device_count())`, whose placement is `jaxdl.sharding`'s.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh

from jaxdl.files import atomic_file, check_writable_dir, check_writable_file

# What the launcher tells each process (read by `initialize`).
ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID = "JAXDL_COORDINATOR", "JAXDL_NUM_PROCESSES", "JAXDL_PROCESS_ID"


class DistributedError(RuntimeError):
    """The distributed runtime could not start, or a launched process failed or ran out of time."""


# ----------------------------------------------------------------------------- processes


def parse_address(address: str) -> tuple[str, int]:
    """'host:port' -> (host, port), refusing anything else with a message."""
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"the coordinator address must be host:port with a port in 1..65535, got {address!r}")
    return host, int(port)


def wait_for_coordinator(address: str, timeout: float) -> None:
    """Returns once something accepts TCP connections at address; DistributedError after `timeout` seconds."""
    host, port = parse_address(address)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(1.0, timeout)):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise DistributedError(
                    f"cannot reach the coordinator at {address} within {timeout:g} s ({err.strerror or err}); "
                    "start process 0 first (it hosts the coordinator) and check the address, the port and any "
                    "firewall between the hosts"
                ) from None
            time.sleep(0.2)


def _env_int(name: str) -> int | None:
    """The integer in environment variable `name` (None when unset); a ValueError naming the variable otherwise."""
    if name not in os.environ:
        return None
    text = os.environ[name]
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"${name} must be an integer, got {text!r}; `python -m jaxdl.distributed` sets it, or set it yourself"
        ) from None


def check_timeout(timeout: Any) -> int:
    """A positive, finite number of seconds as the whole seconds jax takes (a fraction rounded up)."""
    number = isinstance(timeout, (int, float, np.integer, np.floating)) and not isinstance(timeout, (bool, np.bool_))
    if not number or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    return math.ceil(timeout)


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
               timeout: float = 60) -> None:
    """Starts JAX's distributed runtime with CPU collectives (gloo), bounded by `timeout` seconds (jax waits
    whole seconds: a fraction is rounded up).

    Without arguments it reads what `python -m jaxdl.distributed` set (JAXDL_COORDINATOR, ...); failing
    that, JAX detects the cluster itself (SLURM, Open MPI, Kubernetes, ...).
    """
    coordinator = coordinator or os.environ.get(ENV_COORDINATOR)
    if num_processes is None:
        num_processes = _env_int(ENV_NUM_PROCESSES)
    if process_id is None:
        process_id = _env_int(ENV_PROCESS_ID)
    timeout = check_timeout(timeout)
    if coordinator is not None:
        parse_address(coordinator)
        if not isinstance(num_processes, (int, np.integer)) or num_processes < 1:
            raise ValueError(f"num_processes must be a positive integer, got {num_processes!r}")
        if not isinstance(process_id, (int, np.integer)) or not 0 <= process_id < num_processes:
            raise ValueError(f"process_id must be in 0..{num_processes - 1}, got {process_id!r}")
        if process_id != 0:  # process 0 hosts the coordinator; the others fail fast and clearly without it
            wait_for_coordinator(coordinator, timeout)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id, initialization_timeout=timeout)
    except Exception as err:  # jax raises XlaRuntimeError/RuntimeError/ValueError with long C++ messages
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DistributedError(
            f"jax.distributed.initialize failed ({first_line}); check that all {num_processes or 'the'} processes "
            f"were started with the same coordinator address ({coordinator or 'auto-detected'}) and distinct ids"
        ) from None


def free_port() -> int:
    """A TCP port the operating system just gave out as free on 127.0.0.1 (not a guess)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """Ends a launched process and everything it started: SIGTERM to its process group, SIGKILL after grace.

    The group is signalled even when its leader has exited: children it left behind are still in it.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:  # nothing left in the group
            break
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        if sig == signal.SIGTERM:
            time.sleep(0.1)  # let the leader's children take the SIGTERM too
    proc.wait(10)


def _forward(stream: Any, prefix: str, out: Any) -> None:
    for line in iter(stream.readline, ""):
        out.write(prefix + line)
        out.flush()
    stream.close()


def check_launch(command: Sequence[str], processes: Any, devices_per_process: Any, timeout: Any) -> None:
    """Refuses, with a ValueError that says what to pass, a launch that could not run."""
    if not isinstance(processes, (int, np.integer)) or processes < 1:
        raise ValueError(f"processes must be a positive integer, got {processes!r}")
    if not isinstance(devices_per_process, (int, np.integer)) or devices_per_process < 1:
        raise ValueError(f"devices_per_process must be a positive integer, got {devices_per_process!r}")
    if not command:
        raise ValueError("give the command to run in every process")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")


def launch(command: Sequence[str], processes: int, *, devices_per_process: int = 1, timeout: float = 600,
           port: int | None = None, env: dict[str, str] | None = None, out: Any = None) -> None:
    """Runs `processes` copies of `command` on this machine as one distributed job and waits for them.

    Each gets the coordinator address (127.0.0.1 and a free port), the process count and its id in the
    environment, for `initialize()` to read, and `devices_per_process` CPU devices. Output lines carry a
    "[pN]" prefix. If one process fails, the others are stopped; after `timeout` seconds all are. No process
    outlives this call. Raises DistributedError saying which process failed or that time ran out.
    """
    check_launch(command, processes, devices_per_process, timeout)
    if shutil.which(command[0]) is None:
        raise ValueError(f"no such command: {command[0]!r} (not found on PATH nor an executable file); "
                         "check its spelling, or give its full path")
    out = out or sys.stdout
    address = f"127.0.0.1:{port or free_port()}"
    procs: list[subprocess.Popen] = []
    threads: list[threading.Thread] = []
    try:
        for i in range(processes):
            child_env = {**os.environ, **(env or {}), ENV_COORDINATOR: address, ENV_NUM_PROCESSES: str(processes),
                         ENV_PROCESS_ID: str(i), "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
                         "JAX_NUM_CPU_DEVICES": str(devices_per_process)}
            proc = subprocess.Popen(list(command), env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, start_new_session=True)  # own process group: killed as a whole
            procs.append(proc)
            thread = threading.Thread(target=_forward, args=(proc.stdout, f"[p{i}] ", out), daemon=True)
            thread.start()
            threads.append(thread)
        deadline = time.monotonic() + timeout
        while True:
            codes = [p.poll() for p in procs]
            failed = [i for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                raise DistributedError(f"process {failed[0]} exited with status {codes[failed[0]]}; stopped the others")
            if all(c == 0 for c in codes):
                return
            if time.monotonic() > deadline:
                running = [i for i, c in enumerate(codes) if c is None]
                raise DistributedError(f"process(es) {running} still running after {timeout:g} s; stopped them all")
            time.sleep(0.1)
    finally:
        for proc in procs:
            _stop(proc)
        for thread in threads:
            thread.join(5)


# ----------------------------------------------------------------------------- demo and command line


def train_demo(model: str, data: Any, *, epochs: int, batch_size: int, lr: float,
               mesh: Mesh | int | None) -> tuple[Any, Any]:
    """d2l's softmax regression or MLP from key 0, trained with SGD on minibatches drawn from key 1;
    returns (params, history)."""
    from jaxdl import losses, models, optimizers
    from jaxdl.data import Dataset
    from jaxdl.training import fit

    net = {"softmax": models.softmax_regression, "mlp": models.mlp}[model]()
    dataset = Dataset(*data)
    params = models.init(net, jax.random.key(0), dataset.X_train[:1].shape)
    params, _, history = fit(net, losses.softmax_cross_entropy, params, dataset, optimizers.sgd(lr),
                             key=jax.random.key(1), epochs=epochs, batch_size=batch_size, mesh=mesh, callbacks=())
    return params, history


def demo(args: argparse.Namespace) -> None:
    """One process of the demo job: `train_demo` data-parallel over every device of every process; saves
    the final parameters as <out>/process_<id>.npz and the step losses as <out>/losses_<id>.npy."""
    from jaxdl.datasets import fashion_mnist

    initialize(timeout=args.init_timeout)
    pid = jax.process_index()
    print(f"process {pid} of {jax.process_count()}: {jax.local_device_count()} local device(s), "
          f"{jax.device_count()} in all ({jax.devices()[0].platform})", flush=True)
    data = synthetic_images(args.examples) if args.data == "synthetic" else fashion_mnist.load()
    params, history = train_demo(args.model, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                 mesh=jax.device_count())
    devices = len(jax.tree.leaves(params)[0].sharding.device_set)
    print(f"process {pid}: final training loss {history.train_loss[-1]:.6f}, val acc {history.val_metric[-1]:.4f}, "
          f"{history.train_seconds:.2f} s training, parameters replicated on {devices} devices", flush=True)
    if args.out is not None:
        save_params(params, Path(args.out) / f"process_{pid}.npz")
        save_array(history.train_loss, Path(args.out) / f"losses_{pid}.npy")
    jax.distributed.shutdown()


def synthetic_images(n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Small random Fashion-MNIST-shaped data (uint8 images, 10 classes) for quick demos and tests."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n + n // 4, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n + n // 4).astype(np.int32)
    return X[:n], y[:n], X[n:], y[n:]


def save_params(params: Any, path: Path) -> None:
    """Saves a parameter pytree's leaves as leaf_0, leaf_1, ... (through files.atomic_file)."""
    path = check_writable_file(path)  # an OutputError saying what is wrong, before writing
    with atomic_file(path, "wb") as f:
        np.savez(f, **{f"leaf_{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(params))})


def save_array(array: Any, path: Path) -> None:
    """np.save through files.atomic_file, so a reader never sees half a file."""
    path = check_writable_file(path)  # an OutputError saying what is wrong, before writing
    with atomic_file(path, "wb") as f:
        np.save(f, np.asarray(array))


def argument_parser() -> argparse.ArgumentParser:
    """The launcher's command line (and, with --demo, one demo process's)."""
    parser = argparse.ArgumentParser(
        prog="python -m jaxdl.distributed",
        description="Launch a data-parallel jaxdl job as several processes on this machine. Without a command "
                    "after --, every process runs the demo (d2l's softmax regression or MLP).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--processes", type=int, default=2, help="how many processes")
    parser.add_argument("--devices-per-process", type=int, default=1, help="CPU devices in each process")
    parser.add_argument("--timeout", type=float, default=600, help="stop every process after this many seconds")
    parser.add_argument("--demo", action="store_true", help=argparse.SUPPRESS)  # one process of the demo
    parser.add_argument("--model", choices=("softmax", "mlp"), default="mlp", help="demo model")
    parser.add_argument("--data", choices=("fashion-mnist", "synthetic"), default="fashion-mnist", help="demo data")
    parser.add_argument("--examples", type=int, default=1000, help="demo: training examples of synthetic data")
    parser.add_argument("--epochs", type=int, default=1, help="demo epochs")
    parser.add_argument("--batch-size", type=int, default=256, help="demo minibatch size (all processes together)")
    parser.add_argument("--lr", type=float, default=0.1, help="demo learning rate")
    parser.add_argument("--init-timeout", type=int, default=60, help="seconds to wait for all processes to join")
    parser.add_argument("--out", type=Path, help="demo: save each process's final parameters here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command every process runs")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m jaxdl.distributed`: one demo process with --demo, else the launcher; 1 on a failed launch."""
    args = argument_parser().parse_args(argv)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # the start-up is over (see jaxdl/__init__.py)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _main(args)
    except KeyboardInterrupt:  # the launched processes are stopped by launch's finally
        print("interrupted; every launched process was stopped", file=sys.stderr, flush=True)
        return 130


def _main(args: argparse.Namespace) -> int:
    if args.demo:
        demo(args)
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        keep = ("--model", "--data", "--examples", "--epochs", "--batch-size", "--lr", "--init-timeout", "--out")
        command = [sys.executable, "-m", "jaxdl.distributed", "--demo"]
        for flag in keep:
            value = getattr(args, flag[2:].replace("-", "_"))
            if value is not None:
                command += [flag, str(value)]
    try:
        if args.out is not None:
            check_writable_dir(args.out)  # before any process starts: a file there, or no permission
        launch(command, args.processes, devices_per_process=args.devices_per_process, timeout=args.timeout)
    except (DistributedError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
