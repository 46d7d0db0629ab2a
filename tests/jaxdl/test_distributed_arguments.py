"""The launcher's and initialize's bad input: environment variables named, timeouts rounded up, a missing
command refused in one line before any process starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jaxdl import distributed


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))


@pytest.fixture
def fake_init(monkeypatch):
    init = Recorder()
    monkeypatch.setattr(distributed.jax.distributed, "initialize", init)
    monkeypatch.setattr(distributed.jax.config, "update", Recorder())
    monkeypatch.setattr(distributed, "wait_for_coordinator", Recorder())
    for name in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID):
        monkeypatch.delenv(name, raising=False)
    return init


@pytest.mark.parametrize("name", [distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID])
def test_a_non_integer_environment_variable_is_named(fake_init, monkeypatch, name):
    monkeypatch.setenv(distributed.ENV_COORDINATOR, "127.0.0.1:4321")
    monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "2")
    monkeypatch.setenv(distributed.ENV_PROCESS_ID, "0")
    monkeypatch.setenv(name, "two")
    with pytest.raises(ValueError, match=rf"\${name} must be an integer, got 'two'"):
        distributed.initialize()
    assert fake_init.calls == []


def test_a_fractional_timeout_is_rounded_up_to_whole_seconds(fake_init):
    distributed.initialize("127.0.0.1:4321", 1, 0, timeout=2.5)
    assert fake_init.calls == [(("127.0.0.1:4321", 1, 0), {"initialization_timeout": 3})]
    for bad in (0, -1, float("nan"), float("inf"), "5", True):
        with pytest.raises(ValueError, match="timeout must be a positive, finite number of seconds"):
            distributed.initialize("127.0.0.1:4321", 1, 0, timeout=bad)


def test_a_command_that_does_not_exist_is_refused_before_any_process_starts(monkeypatch):
    monkeypatch.setattr(distributed.subprocess, "Popen", lambda *a, **k: pytest.fail("started a process"))
    with pytest.raises(ValueError, match="no such command: 'no-such-command-jaxdl'"):
        distributed.launch(["no-such-command-jaxdl", "x"], 2)


def test_the_launcher_given_a_missing_command_says_so_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "jaxdl.distributed", "--", "no-such-command-jaxdl"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: no such command: 'no-such-command-jaxdl' (not found on PATH nor an executable file); "
        "check its spelling, or give its full path"]
