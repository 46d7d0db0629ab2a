"""The book's datasets: found, verified, downloaded when missing, and handed over as arrays.

`jaxdl.datasets.fashion_mnist` (d2l 4.2, also through tensorflow-datasets) and
`jaxdl.datasets.kaggle_house` (d2l 5.7). Every loader refuses a missing, truncated or foreign file
with one error, `DataError`, whose message names the file and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path


class DataError(RuntimeError):
    """A data file is missing, truncated, corrupted or not what it claims to be."""


def named_dir(root: str | Path | None, env_vars: tuple[str, ...]) -> tuple[Path, str] | None:
    """The directory the user named (~ expanded) and how: root=, else the first of env_vars that is set and
    not empty; None when they named none."""
    if root is not None:
        return Path(root).expanduser(), "root="
    for var in env_vars:
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser(), f"${var}"
    return None


def require_named(directory: Path, source: str, missing: list[str], what: str) -> Path:
    """A named directory is the only one read: it must hold every file, else a DataError names it, the files it
    lacks and `what` belongs there."""
    if missing:
        raise DataError(f"{directory} (from {source}) lacks {', '.join(missing)}; put {what} there, or name another "
                        f"directory (no other copy is used when {source} is given)")
    return directory
