"""The test suite in fresh virtualenvs: on the newest Python with the newest versions pip finds (and every
experiment), and on the oldest Python with the lowest versions jaxdl declares.

`nox -s newest` and `nox -s lowest` (or `make test-newest`, `make test-lowest`); arguments after `--` go to
pytest. The lowest versions are not written down twice: the session reads the `>=` bounds of
pyproject.toml's dependencies and installs exactly those (`pip install -c` with `==` pins).
"""

from __future__ import annotations

import re
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["newest", "lowest"]

PYPROJECT = Path(__file__).parent / "pyproject.toml"
# The test extras: dev (pytest and friends) and tfds (its test reads TFDS's mock data, no TensorFlow). Editable,
# as `make test` installs it: the notebooks' kernels import jaxdl from outside the repository, and jaxdl finds the
# reference files through its own path.
INSTALL = ("-e", ".[dev,tfds]")
# The oldest Python jaxdl supports; its dependencies' lowest versions are checked on it.
LOWEST_PYTHON = "3.11"
# The newest Python jaxdl supports: pip's newest jax and numpy need 3.12 or later, so this is where they are tested.
NEWEST_PYTHON = "3.13"

_LOWER_BOUND = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([^,;\s]+)")


def lowest_pins(pyproject: Path = PYPROJECT) -> list[str]:
    """`name==version` for every runtime dependency, from its `>=` bound in pyproject.toml."""
    dependencies = nox.project.load_toml(pyproject)["project"]["dependencies"]
    pins = []
    for requirement in dependencies:
        match = _LOWER_BOUND.match(requirement)
        if match is None:
            raise ValueError(f"dependency {requirement!r} has no '>=' lower bound; give it one in {pyproject.name}")
        pins.append(f"{match[1].split('[')[0]}=={match[2]}")
    return pins


def _pytest(session: nox.Session) -> None:
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session(python=NEWEST_PYTHON)
def newest(session: nox.Session) -> None:
    """The suite and every experiment on the newest release of every dependency."""
    session.install("--upgrade", *INSTALL)
    session.run("python", "-m", "pip", "freeze", "--exclude-editable", silent=False)
    _pytest(session)
    session.run("python", "-m", "experiments", "all")


@nox.session(python=LOWEST_PYTHON)
def lowest(session: nox.Session) -> None:
    """The suite on exactly the lowest versions pyproject.toml declares."""
    constraints = Path(session.create_tmp()) / "lowest.txt"
    constraints.write_text("\n".join(lowest_pins()) + "\n")
    session.log("lowest versions: " + ", ".join(lowest_pins()))
    session.install("-c", str(constraints), *INSTALL)
    session.run("python", "-m", "pip", "freeze", "--exclude-editable", silent=False)
    _pytest(session)
