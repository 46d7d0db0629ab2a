"""What a chapter 2 section shares with its exercises (no experiment imports another experiment module).

2.5: d2l's control-flow function; 2.6: the two-sample comparison of draws and its tolerances; 2.7: its
sampling tolerance.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness.result import Margin, Result, Tolerance

# -- 2.6 Probability and statistics (and its exercises): the tolerance entries both TOLERANCES tables hold

PROBABILITY_SAMPLING_Z = Margin(4.0, why="JAX's and PyTorch's generators differ, so two draws are compared as two independent "
                                "samples: their difference in standard errors (binomial sqrt(2 p (1 - p) / n) for "
                                "frequencies, sqrt(2 var / n) for means, sqrt(2 (m4 - var^2) / n) for variances) must be "
                                "within 4, which a correct sampler misses with probability 6e-5 per number (normal "
                                "approximation)")


PROBABILITY_EXACT = Tolerance(rtol=1e-6, why="expectations and posteriors in float32 against PyTorch's float64")

# -- 2.7 Documentation (and its exercises)

DOCUMENTATION_SAMPLING_Z = Margin(4.0, why="a sample mean of n draws lies within 4 standard errors sqrt(var / n) of PyTorch's "
                                  "analytic mean (median: 1 / (2 f(median) sqrt(n)) where the mean is undefined) except with "
                                  "probability 6e-5 per number (normal approximation)")


# -- 2.5 Automatic differentiation: d2l's f(a) with Python control flow
def control_flow(a: jax.Array) -> jax.Array:
    """d2l's f(a): doubles a until its norm reaches 1000, then scales by 100 if the sum is not positive.

    Plain Python `while` and `if`: fine under jax.grad, which evaluates on concrete values, but not under
    jax.jit, which traces with abstract ones.
    """
    b = a * 2
    while jnp.linalg.norm(b) < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


# -- 2.6: two draws compared as independent samples

SAMPLING_Z = PROBABILITY_SAMPLING_Z.value


def z_scores(ours, theirs, standard_error) -> np.ndarray:
    """The difference of two estimates in standard errors of that difference."""
    return (np.asarray(ours, np.float64) - np.asarray(theirs, np.float64)) / np.asarray(standard_error, np.float64)


def compare_samples(result: Result, quantity: str, ours, theirs, standard_error) -> None:
    """One row: the z-scores of ours - theirs must all lie within +-SAMPLING_Z."""
    z = z_scores(ours, theirs, standard_error)
    result.compare(f"{quantity} (z-score of the difference)", z, np.zeros_like(z), atol=SAMPLING_Z)


def frequency_error(p, n: int, samples: int = 2) -> np.ndarray:
    """Standard error of a frequency of n draws at probability p, or of the difference of `samples` such."""
    return np.sqrt(samples * np.asarray(p) * (1 - np.asarray(p)) / n)
