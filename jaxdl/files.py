"""Output files: writability checked before work starts, atomic writes, run directories that never collide."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(ValueError):
    """An output path cannot be written (a missing permission, a file where a directory should be)."""


def check_writable_dir(directory: str | Path) -> Path:
    """Creates the directory if needed and proves a file can be written in it; raises OutputError naming
    the path and what to do otherwise. Returns the (~-expanded) directory."""
    directory = Path(directory).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".jaxdl-write-check-"):
            pass
    except OSError as err:
        raise OutputError(
            f"cannot write to {directory} ({err.strerror or err}); choose another directory or make it writable"
        ) from None
    return directory


def check_writable_file(path: str | Path) -> Path:
    """As check_writable_dir for the directory of a file to be written; also refuses an existing directory."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{path} is a directory; pass a file name such as {path / 'training.png'}")
    check_writable_dir(path.parent)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Writes text to a temporary name beside path, then renames it: readers see the old file or the new
    one, never half of it (an interrupted write leaves no file behind)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; reports are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def new_run_dir(base: str | Path) -> Path:
    """Creates and returns a directory that no other run has: base itself, or base-2, base-3, ... when
    another run (started in the same second, say) already made it. mkdir is atomic, so two runs never share one."""
    base = Path(base).expanduser()
    check_writable_dir(base.parent)
    for n in range(1, 10_000):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise OutputError(f"{base} and 9998 numbered siblings all exist; clear out old runs")
