"""What 6.7 and its exercises share: several devices to show, on a machine that may have one CPU only.

XLA fixes its device count when JAX starts. `experiments.harness.result.use_every_core` (the command lines'
first step) asks for one CPU device per core; where JAX has started already with fewer than two devices (a
test session, a notebook, a one-core machine), `on_devices` runs the measuring function in a fresh Python with two forced CPU
devices (JAX_NUM_CPU_DEVICES=2) and brings its JSON result back."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import jax

WORKER_TIMEOUT = 300  # seconds for the subprocess, JAX's start included
FORCED_DEVICES = 2


def on_devices(module: str, function: str, fast: bool) -> tuple[dict[str, Any], str]:
    """module.function(fast) where at least two devices exist: here if JAX has them, else in a subprocess with
    FORCED_DEVICES CPU devices (a running JAX cannot be given more, and forcing them here before JAX starts
    would change the devices of everything else the process runs, e.g. a test session). Returns its result
    and where it ran."""
    if jax.local_device_count() >= 2:
        fn: Callable[[bool], dict] = getattr(importlib.import_module(module), function)
        return fn(fast), f"in this process ({jax.local_device_count()} devices)"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": str(FORCED_DEVICES), "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    code = (f"import json, sys; from {module} import {function}; "
            f"sys.stdout.write('\\nRESULT ' + json.dumps({function}({fast!r})))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=WORKER_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"the {FORCED_DEVICES}-device run failed:\n{done.stdout}{done.stderr}")
    line = done.stdout.rsplit("\nRESULT ", 1)[1]
    return json.loads(line), (f"in a fresh Python with {FORCED_DEVICES} forced CPU devices (JAX had started here "
                              f"with {jax.local_device_count()})")
