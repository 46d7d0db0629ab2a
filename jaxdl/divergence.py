"""The divergence rule: training stops once a step's loss is NaN, infinite, or above a threshold.

As PyTorch Lightning's EarlyStopping(divergence_threshold=...), the threshold is on the monitored value,
here every training step's loss. By default it is relative: DIVERGENCE_FACTOR times the loss of the
first step, which is computed from the initial parameters and so does not depend on the learning rate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: The default threshold is this many times the first step's loss. Training that works brings the loss
#: down; a loss a hundred times its starting value is a run that has left the minimum for good (lr=100 on
#: softmax regression passes it within its first epoch, from 2.3 to several hundred).
DIVERGENCE_FACTOR = 100.0


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN, infinite, or crossed the divergence threshold.

    Carries what was computed: `history` (every step up to and including the bad one, the validation
    numbers of the epochs that finished; one History per model for fit_many), `params` and `state` (the last
    ones known good: those at the start of the epoch that diverged, after `params_epochs` epochs), and where
    it happened (`epoch`, `step`, both counted from 1, `loss`, `threshold`; for fit_many, `models` lists the
    models that diverged in that epoch and the rest describe the first of them).
    """

    def __init__(self, message: str, *, history: Any = None, params: Any = None, params_epochs: int = 0,
                 epoch: int = 0, step: int = 0, loss: float = math.nan, threshold: float = math.inf,
                 models: list[int] | None = None, state: Any = None) -> None:
        super().__init__(message)
        self.history, self.params, self.state, self.params_epochs = history, params, state, params_epochs
        self.epoch, self.step, self.loss, self.threshold, self.models = epoch, step, loss, threshold, models


def check_divergence_threshold(threshold: float | None) -> None:
    """Refuses a threshold that is not None, a positive number, or inf (the rule turned off)."""
    if threshold is None:
        return
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not threshold > 0:
        raise ValueError(
            f"divergence_threshold must be a positive number, float('inf') to turn the rule off, or None for "
            f"{DIVERGENCE_FACTOR:g} times the first step's loss; got {threshold!r}"
        )


def resolve_threshold(threshold: float | None, first_loss: float) -> float:
    """The threshold in force: the given one, or DIVERGENCE_FACTOR times the first step's loss."""
    if threshold is not None:
        return float(threshold)
    return DIVERGENCE_FACTOR * abs(float(first_loss)) if math.isfinite(first_loss) else math.inf


def first_divergent_step(losses: np.ndarray, threshold: float) -> int | None:
    """Index of the first loss that is NaN, infinite, or above threshold; None when every one is fine."""
    losses = np.asarray(losses)
    bad = np.flatnonzero(~np.isfinite(losses) | (losses > threshold))
    return int(bad[0]) if bad.size else None


def describe(loss: float, threshold: float, explicit: bool, epoch: int, step: int, num_steps: int) -> str:
    """The message of TrainingDiverged: where, what value, which rule, what to do."""
    where = f"at epoch {epoch}, step {step} of {num_steps}"
    if not math.isfinite(loss):
        return (f"the training loss became {loss} {where}; lower the learning rate or check the data for "
                "NaN/inf values")
    rule = f"the divergence threshold {threshold:.4g}" + (
        "" if explicit else f" ({DIVERGENCE_FACTOR:g} times the first step's loss)")
    return (f"training diverged: the loss was {loss:.4g} {where}, above {rule}; lower the learning rate, or "
            "pass divergence_threshold= (a number, or float('inf') to turn the rule off)")
