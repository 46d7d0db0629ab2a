"""Two samplers with different generators compared as distributions (6.3 and its exercises): sample moments and
the empirical CDF at PyTorch's quantiles, each difference in standard errors.

PyTorch and JAX draw from different generators, so no draw can match; a correct pair of samplers gives
differences that, in standard errors of the difference, stay within `z` (4: missed by a correct pair with
probability about 6e-5 per number, normal approximation). What a check claims is shown by the tests to fail
for a sampler only slightly off (a few percent in scale)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from experiments.harness.result import Margin, Result

SAMPLING_Z = Margin(4.0, why="different generators: two correct samplers differ by more than 4 standard errors of the "
                    "difference with probability about 6e-5 per number (normal approximation to the sampling "
                    "distributions of the mean, the variance and the CDF at a point)")


def statistics(w: Any) -> dict[str, float]:
    """n, mean, variance, fourth central moment, largest |w|, smallest nonzero |w|, fraction of zeros (float64)."""
    x = np.asarray(w, np.float64).ravel()
    centred = x - x.mean()
    nonzero = np.abs(x[x != 0])
    return {"n": x.size, "mean": x.mean(), "var": (centred**2).mean(), "m4": (centred**4).mean(),
            "max_abs": np.abs(x).max(), "min_abs_nonzero": nonzero.min() if nonzero.size else 0.0,
            "zero_fraction": (x == 0).mean()}


def mean_z(ours: dict, theirs: dict) -> float:
    """The difference of two sample means in standard errors sqrt(var1 / n1 + var2 / n2)."""
    return (ours["mean"] - theirs["mean"]) / math.sqrt(ours["var"] / ours["n"] + theirs["var"] / theirs["n"])


def variance_z(ours: dict, theirs: dict | None = None, variance: float | None = None) -> float:
    """A sample variance against another sample's (or against the value `variance`), in standard errors
    sqrt((m4 - var^2) / n) of each sample."""
    se2 = (ours["m4"] - ours["var"] ** 2) / ours["n"]
    if theirs is not None:
        se2 += (theirs["m4"] - theirs["var"] ** 2) / theirs["n"]
        variance = theirs["var"]
    return (ours["var"] - variance) / math.sqrt(se2)


def fraction_z(p1: float, n1: int, p2: float, n2: int) -> float:
    """Two frequencies of an event in standard errors of their difference (pooled binomial)."""
    p = (p1 * n1 + p2 * n2) / (n1 + n2)
    return 0.0 if p in (0.0, 1.0) else (p1 - p2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))


def cdf_z(w: Any, theirs: dict) -> np.ndarray:
    """The fraction of our draws at or below each of PyTorch's quantiles, minus its level, in standard errors
    sqrt(2 p (1 - p) / n): the quantile is itself estimated from a sample of about the same size.

    A quantile that falls on an atom of the distribution (my_init's zeros: 0 where PyTorch's sample has
    zeros) is left out: the CDF jumps there, so its level says nothing; the atom's mass is compared by
    fraction_z instead."""
    x = np.sort(np.asarray(w, np.float64).ravel())
    p = np.asarray(theirs["quantile_levels"], np.float64)
    points = np.asarray(theirs["quantiles"], np.float64)
    keep = ~((points == 0) & (theirs.get("zero_fraction", 0.0) > 0))
    p, points = p[keep], points[keep]
    cdf = np.searchsorted(x, points, side="right") / x.size
    return (cdf - p) / np.sqrt(2 * p * (1 - p) / x.size)


def z_rows(w: Any, theirs: dict, variance: float | None = None) -> dict[str, np.ndarray]:
    """Every z-score of the comparison: mean, variance (against PyTorch's and, if given, against theory) and the
    CDF at PyTorch's quantiles."""
    ours = statistics(w)
    rows = {"mean": np.asarray(mean_z(ours, theirs)), "variance": np.asarray(variance_z(ours, theirs)),
            "CDF at PyTorch's quantiles": cdf_z(w, theirs)}
    if variance is not None:
        rows["variance vs theory"] = np.asarray(variance_z(ours, variance=variance))
    return rows


def passes(w: Any, theirs: dict, variance: float | None = None, z: float = SAMPLING_Z.value) -> bool:
    """True when every z-score of z_rows lies within +-z (the tests' form of the experiment's rows)."""
    return all(np.all(np.abs(v) <= z) for v in z_rows(w, theirs, variance).values())


def compare_distribution(result: Result, label: str, w: Any, theirs: dict, variance: float | None = None) -> None:
    """One row per z_rows entry: its z-scores against 0, within +-SAMPLING_Z."""
    for name, z in z_rows(w, theirs, variance).items():
        result.compare(f"{label}: {name} (z-score)", z, np.zeros_like(z), atol=SAMPLING_Z.value)
