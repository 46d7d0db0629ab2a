"""The import contracts of pyproject.toml ([tool.importlinter]) hold: jaxdl imports nothing of the experiments,
the library's layers import only downward, the harness no chapter package, and no experiment module imports
another (what two share lives in jaxdl, the harness or a chapter's support module)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from experiments.harness.runner import experiment_modules

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def test_lint_imports_keeps_every_contract():
    done = subprocess.run([str(LINT_IMPORTS), "--no-logo", "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_independence_contract_lists_every_experiment_module():
    assert sorted(_contracts()["experiments-independent"]["modules"]) == sorted(experiment_modules()), (
        "list every experiment module in pyproject.toml's experiments-independent contract")


def test_the_harness_contract_names_every_chapter_package():
    chapters = {name.rsplit(".", 1)[0] for name in experiment_modules()}
    assert set(_contracts()["harness-below-chapters"]["forbidden_modules"]) == chapters


def test_the_layers_contract_places_every_library_module():
    import pkgutil

    import jaxdl

    placed = {name.strip() for layer in _contracts()["jaxdl-layers"]["layers"] for name in layer.split("|")}
    modules = {f"jaxdl.{info.name}" for info in pkgutil.iter_modules(jaxdl.__path__)}
    assert modules == placed, "give every jaxdl module its layer in pyproject.toml's jaxdl-layers contract"
