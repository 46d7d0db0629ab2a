"""Records what a jitted function of a jaxdl module is lowered for, to check where its inputs are placed."""

from __future__ import annotations

from typing import Any


def record_lowerings(monkeypatch: Any, module: Any, name: str) -> list[tuple]:
    """Wraps module.name (a factory of jitted functions) so that each lowering's arguments are appended to the
    returned list before it lowers as before."""
    lowered: list[tuple] = []
    real = getattr(module, name)

    class Recorder:  # stands in for the jitted function
        def __init__(self, jitted: Any) -> None:
            self.jitted = jitted

        def lower(self, *args: Any) -> Any:
            lowered.append(args)
            return self.jitted.lower(*args)

        def __call__(self, *args: Any, **kwargs: Any) -> Any:  # called without lowering: as before
            return self.jitted(*args, **kwargs)

    monkeypatch.setattr(module, name, lambda *a, **kw: Recorder(real(*a, **kw)))
    return lowered
