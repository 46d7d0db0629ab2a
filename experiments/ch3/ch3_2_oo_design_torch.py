"""PyTorch reference numbers for d2l 3.2 Object-oriented design for implementation, computed as d2l 1.0.3 does."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np


def progress_board_points(xs: np.ndarray, ys: np.ndarray, every_n: int) -> dict[str, np.ndarray]:
    """The points d2l's ProgressBoard.draw keeps: the mean of each complete group of every_n raw points."""
    Point = collections.namedtuple("Point", ["x", "y"])
    raw: list = []
    line: list = []
    for x, y in zip(xs, ys):
        raw.append(Point(x, y))
        if len(raw) != every_n:
            continue
        mean = lambda v: sum(v) / len(v)  # noqa: E731  (the book's own lambda)
        line.append(Point(mean([p.x for p in raw]), mean([p.y for p in raw])))
        raw.clear()
    return {"x": np.array([p.x for p in line]), "y": np.array([p.y for p in line])}


def oo_design() -> dict[str, Any]:
    """d2l 3.2's ProgressBoard demo: sin every 2 points, cos every 10, over np.arange(0, 10, 0.1)."""
    xs = np.arange(0, 10, 0.1)
    return {
        "x": {"start": 0.0, "stop": 10.0, "step": 0.1, "size": len(xs)},
        "sin_every_2": progress_board_points(xs, np.sin(xs), 2),
        "cos_every_10": progress_board_points(xs, np.cos(xs), 10),
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch3_2_oo_design": oo_design()}
