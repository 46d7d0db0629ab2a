"""Ctrl-C at any moment, start-up included, ends a command line with status 130 and one line on stderr."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Moments after the start: inside the imports of numpy, jax and jaxlib, and later (discovering the experiments,
# the launcher running its process). A Ctrl-C during the interpreter's own exit, after the work, is death by SIGINT.
MOMENTS = (0.25, 0.5, 0.8, 1.2)
COMMANDS = {
    "runner": [sys.executable, "-m", "experiments", "list"],
    "module": [sys.executable, "-m", "experiments.ch2.ch2_1_ndarray", "--fast", "--out", "{tmp}"],
    "launcher": [sys.executable, "-m", "jaxdl.distributed", "--processes", "1", "--data", "synthetic"],
    "data check": [sys.executable, "-m", "jaxdl"],
}


def _interrupt_after(command: list[str], seconds: float, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    command = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{command} still running 60 s after Ctrl-C")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.mark.parametrize("seconds", MOMENTS)
@pytest.mark.parametrize("which", sorted(COMMANDS))
def test_ctrl_c_at_any_moment_exits_130_with_one_line(which, seconds, tmp_path):
    proc = _interrupt_after(COMMANDS[which], seconds, tmp_path)
    if proc.returncode in (0, 1) and "interrupt" not in proc.stderr.lower():
        pytest.skip(f"finished within {seconds} s, before the interrupt")  # pragma: no cover
    if proc.returncode == -signal.SIGINT and not proc.stderr and proc.stdout:
        pytest.skip("the interrupt came during the interpreter's exit, after the work")  # pragma: no cover
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 130, proc.stderr
    assert len(lines) == 1 and "interrupted" in lines[0], proc.stderr


@pytest.fixture
def sigint_restored():
    """The test's SIGINT handler put back after a command line took SIGINT over in this process."""
    import experiments

    handler = signal.getsignal(signal.SIGINT)
    # the state a command line starts in: Python's own handler (an earlier test of the session may have left
    # another one, and the command line takes SIGINT over only from Python's own)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    experiments._interrupts.clear()
    yield
    signal.signal(signal.SIGINT, handler)
    experiments._interrupts.clear()


def _swallowing_interrupt(result, fast):
    result.compare("x", 1, 1)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    except KeyboardInterrupt:  # some library catching it and carrying on
        pass


def _interrupting(result, fast):
    raise KeyboardInterrupt


@pytest.mark.parametrize("run", [_interrupting, _swallowing_interrupt])
def test_an_interrupted_module_run_exits_130_with_one_line_even_when_the_interrupt_was_caught(
        run, tmp_path, capsys, sigint_restored):
    from experiments.harness.result import cli

    with pytest.raises(SystemExit) as exited:
        cli("9.1", "Interrupted", run, argv=["--out", str(tmp_path)])
    assert exited.value.code == 130
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("run", [_interrupting, _swallowing_interrupt])
def test_an_interrupted_runner_exits_130_with_one_line_even_when_the_interrupt_was_caught(
        run, tmp_path, capsys, monkeypatch, sigint_restored):
    from types import SimpleNamespace

    from experiments.harness import runner

    module = SimpleNamespace(SECTION="9.1", TITLE="Interrupted", run=run, __name__="experiments.ch9.ch9_1_x")
    monkeypatch.setattr(runner, "discover", lambda: [runner.Experiment("9.1", "Interrupted", module)])
    assert runner.main(["run", "9.1", "--out", str(tmp_path)]) == 130
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
