"""`python -m jaxdl` says in one line what is missing, never with a traceback."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_data_check_names_a_directory_lacking_the_files_in_one_line(tmp_path):
    env = {**os.environ, "JAXDL_DATA": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "jaxdl"], capture_output=True, text=True, env=env, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path} (from $JAXDL_DATA) lacks"), proc.stderr
