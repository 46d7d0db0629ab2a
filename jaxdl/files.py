"""Output files: writability checked before work starts, atomic writes and downloads, run directories that
never collide."""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import IO, Callable, Iterator


class OutputError(ValueError):
    """An output path cannot be written (a missing permission, a file where a directory should be)."""


def cache_home() -> Path:
    """$XDG_CACHE_HOME, or ~/.cache where it is unset or empty (the XDG rule: an empty value is unset)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()


def _file_in_the_way(directory: Path) -> Path | None:
    """The directory itself or the nearest of its parents that exists, where that is not a directory."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def check_writable_dir(directory: str | Path) -> Path:
    """Creates the directory if needed and proves a file can be written in it; raises OutputError naming
    the path and what to do otherwise (a file where the directory or one of its parents should be, too).
    Returns the (~-expanded) directory."""
    directory = Path(directory).expanduser()
    blocker = _file_in_the_way(directory)
    if blocker is not None:
        raise OutputError(
            f"{blocker} is a file, not a directory; name a directory (or a path that does not exist yet)"
            + (f" for {directory}" if blocker != directory else "")
        )
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


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w", suffix: str = ".tmp") -> Iterator[IO]:
    """An open file under a temporary name beside path (f.name), renamed to path when the block ends and
    deleted if it raises: readers see the old file or the new one, never half of it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        with open(tmp, mode) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's file is private; ours are as readable as any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Writes text through atomic_file: an interrupted write leaves the old file, or none, behind."""
    with atomic_file(path) as f:
        f.write(text)
    return Path(path)


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


def download_atomic(url: str, target: str | Path, verify: Callable[[Path], object], progress: bool = False) -> Path:
    """Downloads url to a temporary name beside target and renames it to target only after verify(temporary
    path) returns; verify raises on a bad download, which is then deleted. An interrupted or corrupted
    download never looks like a good file. Network and file errors are raised as the OSError they are."""
    if progress:
        from tqdm.auto import tqdm  # a widget in notebooks, text elsewhere
    else:
        from tqdm import tqdm  # disabled below; tqdm.auto would warn where ipywidgets is missing
    target = Path(target)
    with atomic_file(target, "wb", suffix=".part") as out:
        with urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        out.flush()
        verify(Path(out.name))
    return target
