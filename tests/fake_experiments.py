"""Stand-in experiments for the runner's tests: a module with SECTION, TITLE and run, wrapped as an Experiment."""

from __future__ import annotations

import types
from typing import Callable

from experiments.harness.runner import Experiment


def fake_experiment(section: str, body: Callable, title: str | None = None) -> Experiment:
    """An Experiment whose run is body(result, fast); the title defaults to "Fake <section>"."""
    module = types.ModuleType(f"experiments.fake_{section.replace('.', '_')}")
    module.SECTION, module.TITLE, module.run = section, title or f"Fake {section}", body
    return Experiment(section, module.TITLE, module)
