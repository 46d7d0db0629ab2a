"""Tests that need an optional tool (Graphviz's dot, Chromium, tensorflow-datasets): skipped where it is
missing, except in CI ($CI set, as .ci/run and most CI services do), where it must be there and its absence fails."""

from __future__ import annotations

import os

import pytest


def missing(what: str, install: str) -> None:
    """Skips the calling test (fails it in CI) because `what` is not installed; `install` says how to get it."""
    message = f"{what} is not installed ({install})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI installs it, so this is a broken CI setup")
    pytest.skip(message)
