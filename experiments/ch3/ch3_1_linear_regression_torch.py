"""PyTorch reference numbers for d2l 3.1 Linear regression and its exercises, computed as d2l 1.0.3 does."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch


def normal(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """d2l 3.1's normal density, in NumPy float64 as the book computes it."""
    p = 1 / math.sqrt(2 * math.pi * sigma**2)
    return p * np.exp(-0.5 * (x - mu) ** 2 / sigma**2)


DENSITY_PARAMS = ((0.0, 1.0), (0.0, 2.0), (3.0, 1.0))

DENSITY_POINTS = (-7.0, -3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.5, 6.99)


def linear_regression() -> dict[str, Any]:
    """d2l 3.1: the vectorisation timing demo and the normal densities."""
    n = 10000
    a, b = torch.ones(n), torch.ones(n)
    c = torch.zeros(n)
    t = time.perf_counter()
    for i in range(n):
        c[i] = a[i] + b[i]
    loop_seconds = time.perf_counter() - t
    t = time.perf_counter()
    d = a + b
    vector_seconds = time.perf_counter() - t

    x = np.arange(-7, 7, 0.01)
    points = np.array(DENSITY_POINTS)
    densities = {}
    for mu, sigma in DENSITY_PARAMS:
        dist = torch.distributions.Normal(torch.tensor(mu), torch.tensor(sigma))
        densities[f"mu={mu:g},sigma={sigma:g}"] = {
            "mu": mu,
            "sigma": sigma,
            "numpy_float64": normal(points, mu, sigma),
            "torch_float32": dist.log_prob(torch.tensor(points, dtype=torch.float32)).exp().numpy(),
            "curve_sum_times_dx": float(normal(x, mu, sigma).sum() * 0.01),
        }
    return {
        "n": n,
        "loop_sum": c.sum().item(),
        "vector_sum": d.sum().item(),
        "loop_equals_vector": bool(torch.equal(c, d)),
        "x_grid": {"start": -7.0, "stop": 7.0, "step": 0.01, "size": len(x)},
        "points": points,
        "densities": densities,
        "timing": {"loop_seconds": loop_seconds, "vector_seconds": vector_seconds},
    }

# Exercise data: a line with Gaussian noise, 10 of 101 targets shifted far up.
OUTLIER_SEED = 31

OUTLIER_N = 101

OUTLIER_COUNT = 10

OUTLIER_SHIFT = 30.0

OUTLIER_W, OUTLIER_B = 2.0, 1.0

OUTLIER_STEPS = 2000

OUTLIER_LR = 0.1


def outlier_data() -> dict[str, np.ndarray]:
    """float32 (x, y) from a NumPy generator: y = 2x + 1 + N(0, 0.5^2), with outliers added."""
    rng = np.random.default_rng(OUTLIER_SEED)
    x = rng.normal(size=OUTLIER_N).astype(np.float32)
    y = (OUTLIER_W * x + OUTLIER_B + 0.5 * rng.normal(size=OUTLIER_N)).astype(np.float32)
    outliers = np.sort(rng.choice(OUTLIER_N, OUTLIER_COUNT, replace=False))
    y[outliers] += np.float32(OUTLIER_SHIFT)
    return {"x": x, "y": y, "outliers": outliers}


def fit_line(x: torch.Tensor, y: torch.Tensor, loss: Callable, steps: int, lr: float) -> dict[str, Any]:
    """Full-batch gradient descent on a line y = w x + b from w = b = 0, step size lr / sqrt(t + 1)."""
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    losses = []
    for t in range(steps):
        value = loss(w * x + b, y).mean()
        value.backward()
        with torch.no_grad():
            step = lr / math.sqrt(t + 1)
            w -= step * w.grad
            b -= step * b.grad
            w.grad.zero_()
            b.grad.zero_()
        losses.append(value.item())
    return {"w": w.detach().numpy()[0], "b": b.detach().numpy()[0], "first_losses": np.array(losses[:10], np.float32),
            "last_loss": losses[-1]}


def linear_regression_exercises() -> dict[str, Any]:
    """3.1 exercise 1 (the constant b minimising squared vs absolute error) and a line fitted both ways."""
    d = outlier_data()
    x, y = torch.from_numpy(d["x"]), torch.from_numpy(d["y"])
    # The least-squares line in closed form, in float64 (torch.linalg.lstsq varies in the last bit between runs).
    x64, y64 = x.double(), y.double()
    w_ls = ((x64 - x64.mean()) * (y64 - y64.mean())).sum() / ((x64 - x64.mean()) ** 2).sum()
    return {
        "data": d,
        "true": {"w": OUTLIER_W, "b": OUTLIER_B, "shift": OUTLIER_SHIFT},
        "schedule": {"steps": OUTLIER_STEPS, "lr": OUTLIER_LR, "decay": "lr / sqrt(t + 1)"},
        "constant": {"mean": y.mean().item(), "median": y.median().item(),
                     "mean_clean": np.float32(np.delete(d["y"], d["outliers"]).mean())},
        "least_squares_float64": {"w": w_ls.item(), "b": (y64.mean() - w_ls * x64.mean()).item()},
        "squared": fit_line(x, y, lambda y_hat, y: (y_hat - y) ** 2 / 2, OUTLIER_STEPS, OUTLIER_LR),
        "absolute": fit_line(x, y, lambda y_hat, y: (y_hat - y).abs(), OUTLIER_STEPS, OUTLIER_LR),
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch3_1_linear_regression": linear_regression(),
            "ch3_1_linear_regression_exercises": linear_regression_exercises()}
