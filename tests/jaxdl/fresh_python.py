"""Code run in a fresh Python, for what is fixed once JAX starts in a process (its device count, its flags)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fresh_python(code: str, *args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = (),
                 timeout: float = 300) -> str:
    """Runs code (dedented) in a fresh Python on the CPU, this checkout's jaxdl first, with env added and the
    variables in drop removed; returns its stdout, and fails the test with its output if it fails. The child
    dies on timeout."""
    full_env = {k: v for k, v in os.environ.items() if k not in drop}
    full_env.update({"PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", **(env or {})})
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
