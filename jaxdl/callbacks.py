"""What `fit` and `fit_many` do beside the optimisation: a progress bar, the live plot, the saved plot.

A callback is an object with three methods, each called by the training loop: `on_train_begin(epochs)`
before the first epoch, `on_epoch_end(end)` after each epoch with an `EpochEnd`, and
`on_train_end(history, error)` once at the end, also when training stopped with an error (then `error`
is that exception). Subclass `Callback` and override what you need.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jaxdl.checks import stacklevel_outside_jaxdl
from jaxdl.files import check_writable_file


@dataclass(frozen=True)
class EpochEnd:
    """What an epoch left: its number (from 1), the run's epoch count, the history so far (a History, or
    one per model for fit_many), the parameters, layer state and optimizer state after it, and what
    identifies the run (jaxdl.checkpoints.run_identity: what a resumed run must share with it)."""

    epoch: int
    epochs: int
    history: Any
    params: Any
    state: Any
    opt_state: Any
    run: dict[str, str] = field(default_factory=dict)


class Callback:
    """The no-op callback: subclasses override the methods they need."""

    def on_train_begin(self, epochs: int) -> None:
        """Before the first epoch (after every check and the compilation)."""

    def on_epoch_end(self, end: EpochEnd) -> None:
        """After every epoch whose steps and validation were all finite."""

    def on_train_end(self, history: Any, error: BaseException | None) -> None:
        """Once at the end; `error` is the exception that ended training early, else None."""


def _histories(history: Any) -> list[Any]:
    return list(history) if isinstance(history, (list, tuple)) else [history]


class ProgressBar(Callback):
    """tqdm's bar over the epochs, showing the last epoch's mean training loss, validation loss and (with a
    metric) accuracy (means over the models for fit_many); it clears itself at the end."""

    def __init__(self) -> None:
        self._bar = None

    def on_train_begin(self, epochs: int) -> None:
        from tqdm.auto import tqdm  # a widget in notebooks, text elsewhere

        self._bar = tqdm(total=epochs, desc="epoch", leave=False)

    def on_epoch_end(self, end: EpochEnd) -> None:
        histories = _histories(end.history)
        steps = histories[0].num_batches
        postfix = {"loss": f"{np.mean([h.train_loss[-steps:].mean() for h in histories]):.4f}",
                   "val_loss": f"{np.mean([h.val_loss[-1] for h in histories]):.4f}"}
        if len(histories[0].val_metric):
            postfix["val_acc"] = f"{np.mean([h.val_metric[-1] for h in histories]):.4f}"
        self._bar.update(1)
        self._bar.set_postfix(postfix)  # refreshed: update alone draws only every mininterval

    def on_train_end(self, history: Any, error: BaseException | None) -> None:
        if self._bar is not None:
            self._bar.close()


class LivePlot(Callback):
    """d2l's training plot redrawn in place in a notebook after every epoch (the first model's, for
    fit_many); nothing outside a notebook."""

    def __init__(self) -> None:
        from jaxdl.plotting import LivePlot as Redraw

        self._redraw = Redraw()

    def on_epoch_end(self, end: EpochEnd) -> None:
        self._redraw(_histories(end.history)[0])


class SavePlot(Callback):
    """Saves d2l's training plot as a PNG at the end of training; the path is checked when the callback is
    made, and a save that fails at the end warns instead of raising away the trained result."""

    def __init__(self, path: str | Path) -> None:
        if not isinstance(path, (str, Path)):
            raise ValueError(f"SavePlot takes a file path, got {path!r}")
        self.path = check_writable_file(path)

    def on_train_end(self, history: Any, error: BaseException | None) -> None:
        if error is not None:
            return
        from jaxdl.plotting import save_history_plot

        try:
            save_history_plot(_histories(history)[0], self.path)
        except (OSError, ValueError) as err:
            warnings.warn(f"could not save the training plot to {self.path} ({err}); the parameters and history "
                          "are returned anyway", stacklevel=stacklevel_outside_jaxdl())
