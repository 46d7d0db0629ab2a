"""The persistent compilation cache: where it lives, its opt-out, and that a second process finds the program."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jaxdl import compilation_cache

PROGRAM = """
import jax, jax.numpy as jnp
from jaxdl.compilation_cache import enable_compilation_cache
print(enable_compilation_cache())
print(float(jax.jit(lambda x: jnp.tanh(x) * 3.0 + 1.0)(jnp.float32(0.25))))
"""


def _run(tmp_path: Path, **env: str) -> tuple[list[str], str]:
    """The program's printed words and its stderr."""
    environ = {k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR", compilation_cache.OPT_OUT)}
    environ.update(XDG_CACHE_HOME=str(tmp_path), **env)
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=environ, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2])
    return out.stdout.split(), out.stderr


def test_the_cache_lives_under_the_user_cache_and_a_second_process_reuses_it(tmp_path):
    (path, value), _ = _run(tmp_path)
    assert Path(path) == tmp_path / "jaxdl" / "jax-cache"
    entries = sorted(p.name for p in Path(path).iterdir())
    assert entries, "the first process stored no compiled program"
    (_, again), err = _run(tmp_path)
    assert again == value
    # silently: jax 0.10.0 and 0.10.1 log a false "could lead to SIGILL" error on every program loaded from the cache
    assert err == ""
    assert sorted(p.name for p in Path(path).iterdir()) == entries  # found, not compiled and stored again


def test_the_environment_variable_turns_it_off(tmp_path):
    (path, _), _ = _run(tmp_path, JAXDL_NO_COMPILATION_CACHE="1")
    assert path == "None" and not (tmp_path / "jaxdl").exists()


def test_a_cache_directory_the_user_chose_is_kept(tmp_path):
    (path, _), _ = _run(tmp_path, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "mine"))
    assert path == "None" and (tmp_path / "mine").is_dir() and not (tmp_path / "jaxdl").exists()


# In-process checks of the same rules (mutation testing links tests to code through in-process calls only).


def test_cache_path_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache.cache_path() == tmp_path / "jaxdl" / "jax-cache"


def test_cache_path_defaults_to_dot_cache_in_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    assert compilation_cache.cache_path() == tmp_path / ".cache" / "jaxdl" / "jax-cache"


class FakeConfig:
    """Records jax.config updates instead of applying them to this test process."""

    def __init__(self, cache_dir=None):
        self.jax_compilation_cache_dir = cache_dir
        self.updates = {}

    def update(self, name, value):
        self.updates[name] = value


def test_enabling_sets_the_directory_and_caches_every_program(monkeypatch, tmp_path):
    fake = FakeConfig()
    monkeypatch.setattr(compilation_cache.jax, "config", fake)
    monkeypatch.delenv(compilation_cache.OPT_OUT, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache.enable_compilation_cache() == tmp_path / "jaxdl" / "jax-cache"
    assert fake.updates == {"jax_compilation_cache_dir": str(tmp_path / "jaxdl" / "jax-cache"),
                            "jax_persistent_cache_min_compile_time_secs": 0.0,
                            "jax_persistent_cache_min_entry_size_bytes": 0}


def test_enabling_leaves_jax_alone_when_opted_out_or_chosen(monkeypatch):
    fake = FakeConfig()
    monkeypatch.setattr(compilation_cache.jax, "config", fake)
    monkeypatch.setenv(compilation_cache.OPT_OUT, "1")
    assert compilation_cache.enable_compilation_cache() is None and fake.updates == {}
    monkeypatch.delenv(compilation_cache.OPT_OUT)
    fake = FakeConfig(cache_dir="/somewhere/mine")
    monkeypatch.setattr(compilation_cache.jax, "config", fake)
    assert compilation_cache.enable_compilation_cache() is None and fake.updates == {}
