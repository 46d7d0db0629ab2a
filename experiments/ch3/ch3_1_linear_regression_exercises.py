"""d2l 3.1 exercises: the squared loss is minimised by the mean, the absolute loss by the median; on data with
outliers, which estimate the outliers pull, for a constant and for a fitted line, beside PyTorch."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

from experiments.harness.result import Margin, Result, Tolerance, Tolerances, cli
from jaxdl import losses, models, nn, training
from experiments.harness import references

SECTION = "3.1"
TITLE = "Linear regression: exercises"
REFERENCE = "ch3_1_linear_regression_exercises"

TOLERANCES: Tolerances = {
    "mean": Tolerance(rtol=1e-6, why="a float32 mean of 101 values, summed in another order than torch's"),
    "grid search atol in grid steps": Margin(1.0, why="a grid search finds the minimiser to within one grid spacing"),
    "losses": Tolerance(rtol=1e-5, why="full-batch float32 losses after a few steps of the same schedule"),
    "final parameters": Tolerance(atol=1e-4, why="after 2000 steps the absolute loss's residual signs near 0 can "
                                                 "flip on rounding, each flip moving w or b by < lr/sqrt(t) |x| / n < 1e-4"),
}


def fit_line(x: jax.Array, y: jax.Array, loss: training.Loss, steps: int, lr: float) -> tuple[nn.Params, jax.Array]:
    """Full-batch gradient descent on y = w x + b from w = b = 0 with step size lr / sqrt(t + 1).

    The decaying step lets the absolute loss settle: its gradient does not shrink near the optimum.
    Returns the final parameters and the loss before each step.
    """
    X, Y = x[:, None], y[:, None]
    optimizer = optax.sgd(lambda count: lr / jnp.sqrt(count + 1.0))
    model = models.linear_regression()

    def objective(params: nn.Params) -> jax.Array:
        return loss(model(params, X), Y).mean()

    def step(carry, _):
        params, opt_state = carry
        value, grads = jax.value_and_grad(objective)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), value

    params = {"W": jnp.zeros((1, 1)), "b": jnp.zeros(1)}
    (params, _), values = jax.lax.scan(step, (params, optimizer.init(params)), length=steps)
    return params, values


def plot_fits(x: np.ndarray, y: np.ndarray, outliers: np.ndarray, fits: dict[str, Any], truth: tuple[float, float]):
    """The data with its outliers marked and the lines fitted under each loss."""
    fig, ax = plt.subplots(figsize=(4.5, 3))
    clean = np.setdiff1d(np.arange(len(x)), outliers)
    ax.plot(x[clean], y[clean], ".", color="gray", label="data")
    ax.plot(x[outliers], y[outliers], "rx", label="outliers")
    grid = np.linspace(x.min(), x.max(), 2)
    for (name, (w, b)), fmt in zip(fits.items(), ("-", "m--")):
        ax.plot(grid, w * grid + b, fmt, label=f"{name}: {w:.2f} x + {b:.2f}")
    ax.plot(grid, truth[0] * grid + truth[1], "g:", label=f"truth: {truth[0]:g} x + {truth[1]:g}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=7)
    ax.grid(True)
    return fig


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    d = ref["data"]
    x, y = jnp.asarray(d["x"], jnp.float32), jnp.asarray(d["y"], jnp.float32)
    outliers = np.asarray(d["outliers"])
    truth = ref["true"]

    # Exercise 1: sum (x_i - b)^2 is minimised by the mean, sum |x_i - b| by the median (n = 101 is odd, so
    # torch.median's lower middle value and jnp.median's average of the two middle values coincide).
    mean, median = jnp.mean(y), jnp.median(y)
    result.compare("argmin_b sum (y_i - b)^2 = mean(y)", mean, ref["constant"]["mean"], tol=TOLERANCES["mean"])
    result.compare("argmin_b sum |y_i - b| = median(y)", median, ref["constant"]["median"])
    candidates = jnp.linspace(float(y.min()), float(y.max()), 20001)
    sq = ((y[None, :] - candidates[:, None]) ** 2).sum(axis=1)
    ab = jnp.abs(y[None, :] - candidates[:, None]).sum(axis=1)
    spacing = TOLERANCES["grid search atol in grid steps"].value * float(candidates[1] - candidates[0])
    result.compare("grid search argmin of the squared loss vs mean", candidates[jnp.argmin(sq)], mean, atol=spacing)
    result.compare("grid search argmin of the absolute loss vs median", candidates[jnp.argmin(ab)], median,
                   atol=spacing)

    schedule = ref["schedule"]
    steps = 200 if fast else schedule["steps"]
    fits = {}
    for name, loss in (("squared", losses.squared_loss), ("absolute", losses.absolute_loss)):
        params, values = fit_line(x, y, loss, steps, schedule["lr"])
        stored = ref[name]
        result.compare(f"{name} loss: first 10 full-batch losses", values[:10], stored["first_losses"], tol=TOLERANCES["losses"])
        w, b = float(params["W"][0, 0]), float(params["b"][0])
        if not fast:
            # After 2000 decaying steps the two runs differ only by float32 rounding; for the absolute loss the
            # two data points the line passes through have residuals near 0 whose signs can flip on rounding,
            # each flip moving w or b by at most lr/sqrt(t) |x_i| / n < 1e-4 late in the run.
            result.compare(f"{name} loss: final w after {steps} steps", w, stored["w"], tol=TOLERANCES["final parameters"])
            result.compare(f"{name} loss: final b after {steps} steps", b, stored["b"], tol=TOLERANCES["final parameters"])
            result.compare(f"{name} loss: last loss", values[-1], stored["last_loss"], tol=TOLERANCES["losses"])
        fits[name] = (w, b)

    clean_mean = float(np.delete(np.asarray(y), outliers).mean())
    ls = ref["least_squares_float64"]
    shift = truth["shift"] * len(outliers) / len(d["y"])
    result.text(
        f"{len(outliers)} of {len(d['y'])} targets were moved up by {truth['shift']:g}.\n\n"
        "| estimate | squared loss | absolute loss | without outliers / truth |\n|---|---|---|---|\n"
        f"| constant b | mean {float(mean):.4f} | median {float(median):.4f} | clean mean {clean_mean:.4f} |\n"
        f"| line: w | {fits['squared'][0]:.4f} | {fits['absolute'][0]:.4f} | {truth['w']:g} |\n"
        f"| line: b | {fits['squared'][1]:.4f} | {fits['absolute'][1]:.4f} | {truth['b']:g} |\n\n"
        f"The outliers pull the squared-loss estimates: the mean rises by about {truth['shift']:g} x "
        f"{len(outliers)}/{len(d['y'])} = {shift:.2f}, and so does the fitted intercept (closed-form least squares "
        f"in float64: w = {ls['w']:.4f}, b = {ls['b']:.4f}). The absolute loss gives each point a gradient of "
        "size at most |x_i| however far off it is, so the median and the least-absolute-deviation line stay "
        f"near the clean data. Gradient descent ran {steps} full-batch steps of {schedule['lr']:g}/sqrt(t + 1) "
        "(optax.sgd with that schedule)."
    )
    result.save_figure(plot_fits(np.asarray(x), np.asarray(y), outliers, fits, (truth["w"], truth["b"])),
                       "outlier_fits.png")


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
