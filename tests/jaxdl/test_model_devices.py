"""The command lines ask JAX for one CPU device per core, and fit_many's models are shared evenly over them."""

from __future__ import annotations

import os

import jax
import pytest

from experiments.harness import result as common
from fresh_python import fresh_python


@pytest.mark.parametrize("devices, models, expected", [(1, 8, None), (2, 8, 2), (2, 3, None), (8, 12, 6),
                                                       (4, 4, 4), (16, 8, 8), (3, 7, None)])
def test_models_are_shared_by_the_most_devices_that_divide_them(monkeypatch, devices, models, expected):
    monkeypatch.setattr(jax, "local_device_count", lambda: devices)
    assert common.model_devices(models) == expected


def devices_after_use_every_core(env: dict[str, str], before: str = "") -> str:
    code = f"""
        import jax
        {before}
        from experiments.harness.result import use_every_core
        use_every_core()
        print(jax.local_device_count())
    """
    return fresh_python(code, env=env, drop=("XLA_FLAGS", "JAX_NUM_CPU_DEVICES"), timeout=120).split()[-1]


def test_one_cpu_device_per_core():
    assert devices_after_use_every_core({}) == str(os.cpu_count())


def test_a_device_count_the_user_chose_is_kept():
    assert devices_after_use_every_core({"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}) == "3"
    assert devices_after_use_every_core({"JAX_NUM_CPU_DEVICES": "3"}) == "3"


def test_once_jax_has_run_its_devices_stay():
    assert devices_after_use_every_core({}, before="jax.numpy.ones(2).block_until_ready()") == "1"


@pytest.mark.parametrize("env, cores, asked", [
    ({}, 6, [("jax_num_cpu_devices", 6)]),
    ({}, None, [("jax_num_cpu_devices", 1)]),  # os.cpu_count() may not know
    ({"XLA_FLAGS": "--xla_cpu_use_thunk_runtime=true"}, 4, [("jax_num_cpu_devices", 4)]),  # other flags
    ({"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}, 4, []),
    ({"JAX_NUM_CPU_DEVICES": "2"}, 4, []),
])
def test_use_every_core_asks_for_one_device_per_core_unless_the_user_chose(monkeypatch, env, cores, asked):
    """The same rules in-process, where jax.config.update is recorded instead of run."""
    from experiments.harness.result import use_every_core

    updates = []
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv("JAX_NUM_CPU_DEVICES", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(jax.config, "update", lambda name, value: updates.append((name, value)))
    use_every_core()
    assert updates == asked


def test_use_every_core_leaves_a_started_jax_alone(monkeypatch):
    from experiments.harness.result import use_every_core

    def started(name, value):
        raise RuntimeError("jax_num_cpu_devices cannot be changed after the backend is initialized")

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv("JAX_NUM_CPU_DEVICES", raising=False)
    monkeypatch.setattr(jax.config, "update", started)
    use_every_core()  # no error
