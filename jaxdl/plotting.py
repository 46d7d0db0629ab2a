"""Figures: d2l-style curves, the training plot (live in a notebook or to a PNG), image grids."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from jaxdl.files import atomic_file, check_writable_file


def _pyplot():
    import matplotlib

    if "ipykernel" not in __import__("sys").modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(v: Any) -> list[np.ndarray]:
    """A list of 1-D curves from an array, a list of numbers, or a list of arrays."""
    if isinstance(v, (list, tuple)) and v and np.ndim(v[0]) > 0:
        return [np.asarray(c) for c in v]
    arr = np.asarray(v)
    return [arr] if arr.ndim == 1 else list(arr)


def plot(
    X: Any,
    Y: Any = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    legend: Sequence[str] = (),
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    xscale: str = "linear",
    yscale: str = "linear",
    fmts: Sequence[str] = ("-", "m--", "g-.", "r:"),
    figsize: tuple[float, float] = (3.5, 2.5),
    axes: Any = None,
):
    """Draws one or more curves as d2l.plot does; X and Y may be arrays or lists of arrays. Returns the axes."""
    plt = _pyplot()
    if axes is None:
        _, axes = plt.subplots(figsize=figsize)
    if Y is None:
        X, Y = None, X
    Y = _curves(Y)
    X = [np.arange(len(y)) for y in Y] if X is None else _curves(X)
    if len(X) == 1:
        X = X * len(Y)
    for x, y, fmt in zip(X, Y, fmts * (len(Y) // len(fmts) + 1)):
        axes.plot(x, y, fmt)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    if xlim:
        axes.set_xlim(xlim)
    if ylim:
        axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid(True)
    return axes


def plot_history(history: Any, axes: Any = None, points_per_epoch: int = 2):
    """d2l's training plot: train_loss (averaged over half epochs), val_loss and val_acc against epoch."""
    plt = _pyplot()
    if axes is None:
        _, axes = plt.subplots(figsize=(3.5, 2.5))
    nb = history.num_batches
    if len(history.train_loss):
        per = max(nb // points_per_epoch, 1)
        usable = len(history.train_loss) // per * per
        means = history.train_loss[:usable].reshape(-1, per).mean(axis=1)
        axes.plot((np.arange(len(means)) + 1) * per / nb, means, "-", label="train_loss")
    epochs = np.arange(1, len(history.val_loss) + 1)
    axes.plot(epochs, history.val_loss, "m--", label="val_loss")
    if len(history.val_metric):
        axes.plot(epochs, history.val_metric, "g-.", label="val_acc")
    axes.set_xlabel("epoch")
    axes.set_xlim(0, max(len(epochs), 1))
    axes.legend()
    axes.grid(True)
    return axes


def save_figure(fig: Any, path: str | Path) -> Path:
    """Saves a figure as PNG through a temporary file, so a failed save leaves no half-written image."""
    path = Path(path)
    path = check_writable_file(path)  # an OutputError saying what is wrong, before writing
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    return path


def save_history_plot(history: Any, path: str | Path) -> Path:
    """Draws the training plot into a PNG file."""
    plt = _pyplot()
    axes = plot_history(history)
    path = save_figure(axes.figure, path)
    plt.close(axes.figure)
    return path


class LivePlot:
    """Redraws the training plot in place in a Jupyter notebook (a no-op outside one)."""

    def __init__(self) -> None:
        self._handle = None

    def __call__(self, history: Any) -> None:
        try:
            from IPython.display import display
        except ImportError:
            return
        plt = _pyplot()
        axes = plot_history(history)
        if self._handle is None:
            self._handle = display(axes.figure, display_id=True)
        else:
            self._handle.update(axes.figure)
        plt.close(axes.figure)


def show_images(
    images: Any, num_rows: int, num_cols: int, titles: Sequence[str] | None = None, scale: float = 1.5
):
    """A grid of grayscale images with optional titles (d2l.show_images). Returns the figure."""
    plt = _pyplot()
    images = np.asarray(images)
    fig, axes = plt.subplots(num_rows, num_cols, figsize=(num_cols * scale, num_rows * scale), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray")
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=8)
    return fig
