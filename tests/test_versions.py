"""The declared version ranges: every runtime dependency has a tested lower bound, the installed versions lie
inside the ranges, and a deprecation from jax, optax or numpy fails the suite."""

from __future__ import annotations

import sys
import tomllib
import warnings
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import noxfile

PROJECT = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]


def test_every_runtime_dependency_is_pinned_to_its_lower_bound_in_the_lowest_session():
    pins = noxfile.lowest_pins()
    assert len(pins) == len(PROJECT["dependencies"])
    for pin, requirement in zip(pins, PROJECT["dependencies"]):
        declared = Requirement(requirement)
        name, version = pin.split("==")
        assert name == declared.name and Version(version) in declared.specifier, (pin, requirement)


def test_a_dependency_without_a_lower_bound_is_refused(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["jax>=0.10.0", "numpy"]\n')
    with pytest.raises(ValueError, match=r"'numpy' has no '>=' lower bound"):
        noxfile.lowest_pins(pyproject)


def test_the_sessions_run_on_the_oldest_and_newest_supported_pythons():
    newest_minor = int(noxfile.NEWEST_PYTHON.split(".")[1])
    assert PROJECT["requires-python"] == f">={noxfile.LOWEST_PYTHON},<3.{newest_minor + 1}"
    assert sys.version_info >= tuple(int(p) for p in noxfile.LOWEST_PYTHON.split("."))
    assert sys.version_info[:2] <= (3, newest_minor)


def test_the_classifiers_name_every_python_from_the_oldest_to_the_newest():
    oldest, newest = (int(v.split(".")[1]) for v in (noxfile.LOWEST_PYTHON, noxfile.NEWEST_PYTHON))
    prefix = "Programming Language :: Python :: "
    named = {c.removeprefix(prefix) for c in PROJECT["classifiers"] if c.startswith(prefix + "3.")}
    assert named == {f"3.{minor}" for minor in range(oldest, newest + 1)}


def test_installed_versions_lie_in_the_declared_ranges():
    for requirement in map(Requirement, PROJECT["dependencies"]):
        installed = metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (requirement, installed)


@pytest.mark.parametrize("module", ["jax._src.numpy", "optax._src.alias", "numpy.lib", "jaxdl.training"])
def test_a_deprecation_raised_in_jax_optax_numpy_or_ours_is_an_error(module):
    with pytest.raises(DeprecationWarning, match="going away"):
        warnings.warn_explicit("going away", DeprecationWarning, "x.py", 1, module=module)


def test_other_libraries_deprecations_stay_warnings():
    with pytest.warns(DeprecationWarning, match="old pyparsing name"):
        warnings.warn_explicit("old pyparsing name", DeprecationWarning, "x.py", 1, module="matplotlib._mathtext")
