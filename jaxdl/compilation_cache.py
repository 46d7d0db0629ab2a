"""JAX's persistent compilation cache for jaxdl's runs: compile each program once per machine, not once per run."""

from __future__ import annotations

import os
from pathlib import Path

import jax

#: Set to any non-empty value to run without the persistent cache (every run compiles afresh).
OPT_OUT = "JAXDL_NO_COMPILATION_CACHE"


def cache_path() -> Path:
    """$XDG_CACHE_HOME/jaxdl/jax-cache (~/.cache where it is unset or empty), beside the Fashion-MNIST download
    cache. (jaxdl.files.cache_home's rule, restated: the two modules of the ground layer import neither other.)"""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "jaxdl" / "jax-cache"


def enable_compilation_cache() -> Path | None:
    """Stores every compiled XLA program under `cache_path()` and reuses it in later processes.

    Returns the directory, or None when $JAXDL_NO_COMPILATION_CACHE is set or the user already chose a
    cache directory (JAX_COMPILATION_CACHE_DIR), which is then left as it is. Small programs are cached
    too: most of jaxdl's compile in well under JAX's default threshold of one second each.
    """
    if os.environ.get(OPT_OUT) or jax.config.jax_compilation_cache_dir:
        return None
    path = cache_path()
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
