"""d2l 2.6 exercises: the variance of the coin's running estimate against Chebyshev and the central limit
theorem (exercise 3), and two coupled HIV tests (exercise 7), beside PyTorch."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments.ch2.common import PROBABILITY_EXACT, PROBABILITY_SAMPLING_Z, compare_samples, frequency_error
from experiments.harness.result import Result, Tolerances, cli
from jaxdl import plotting
from experiments.harness import references

SECTION = "2.6"
TITLE = "Probability and statistics: exercises"
REFERENCE = "ch2_6_probability_exercises"

# 2.6's tolerances: sampling_z for draws (compare_samples is 2.6's), exact for sums.
TOLERANCES: Tolerances = {"sampling_z": PROBABILITY_SAMPLING_Z, "exact": PROBABILITY_EXACT}
REPEATS, TOSSES = 2000, 10000
PATIENTS = 2_000_000


# --- Exercise 3: the variance of the estimate after n tosses --------------------------------------------


@partial(jax.jit, static_argnames=("repeats", "tosses", "checkpoints"))
def repeated_estimates(key: jax.Array, repeats: int, tosses: int, checkpoints: tuple[int, ...]) -> jax.Array:
    """`repeats` independent runs of fair tosses: the estimate of P(heads) after each checkpoint's tosses."""
    heads = jax.random.bernoulli(key, 0.5, (repeats, tosses)).cumsum(axis=1, dtype=jnp.int32)
    return heads[:, jnp.asarray(checkpoints) - 1] / jnp.asarray(checkpoints)


def normal_tail(k: float) -> float:
    """P(|Z| >= k) for a standard normal Z: the central limit theorem's prediction."""
    return math.erfc(k / math.sqrt(2))


def exercise_variance(result: Result, ref: dict, fast: bool) -> None:
    checkpoints = tuple(ref["checkpoints"])
    repeats = REPEATS // 4 if fast else REPEATS
    estimates = np.asarray(repeated_estimates(jax.random.key(263), repeats, TOSSES, checkpoints), np.float64)
    n = np.asarray(checkpoints)
    theory = 0.25 / n
    variance = estimates.var(axis=0, ddof=1)
    # A sample variance of R roughly normal values has standard error var * sqrt(2 / (R - 1)).
    compare_samples(result, "variance of the estimate vs p(1 - p)/n", variance, theory,
                    theory * math.sqrt(2 / (repeats - 1)))
    compare_samples(result, "variance of the estimate vs PyTorch's", variance, ref["variance"],
                    theory * np.sqrt(2 / (repeats - 1) + 2 / (ref["repeats"] - 1)))
    sigma = np.sqrt(theory)
    deviations = np.asarray(ref["deviations"])
    stray = np.stack([(np.abs(estimates - 0.5) >= k * sigma).mean(axis=0) for k in deviations])
    theirs = np.asarray(ref["fraction_beyond_k_sigma"])
    pooled = (stray * repeats + theirs * ref["repeats"]) / (repeats + ref["repeats"])
    se = np.sqrt(pooled * (1 - pooled) * (1 / repeats + 1 / ref["repeats"]))
    compare_samples(result, "fraction of runs >= k sigma from 1/2 vs PyTorch's", stray, theirs,
                    np.where(se > 0, se, 1.0))
    chebyshev = 1 / deviations**2
    result.compare("Chebyshev: fraction beyond k sigma <= 1/k^2 (k = 1, 2, 3, every n)",
                   bool((stray <= chebyshev[:, None]).all()), True)
    clt = np.array([normal_tail(k) for k in deviations])
    compare_samples(result, f"fraction beyond k sigma at n = {checkpoints[-1]} vs the normal tail",
                    stray[:, -1], clt, frequency_error(clt, repeats, samples=1))
    fig, (ax_var, ax_tail) = plt.subplots(1, 2, figsize=(7, 2.8))
    plotting.plot(n, [variance, theory], "tosses n", "variance of the estimate", legend=["measured", "p(1-p)/n"],
                  xscale="log", yscale="log", fmts=("o", "-"), axes=ax_var)
    plotting.plot(deviations, [stray[:, -1], clt, chebyshev], "k", "P(|estimate - 1/2| >= k sigma)",
                  legend=["measured", "normal (CLT)", "Chebyshev 1/k^2"], yscale="log", fmts=("o", "-", "--"),
                  axes=ax_tail)
    fig.tight_layout()
    result.save_figure(fig, "estimate_variance.png")
    result.text(
        "Exercise 3. The estimate after n tosses is a mean of n independent Bernoulli(1/2) variables, so its "
        f"variance is p(1 - p)/n = 0.25/n: over {repeats} runs it measures "
        + ", ".join(f"{v:.3g} (n = {k})" for v, k in zip(variance, checkpoints))
        + ", falling tenfold per tenfold n. Chebyshev bounds the chance of straying k standard deviations "
        "by 1/k^2 (1, 0.25, 0.11 for k = 1, 2, 3) whatever the distribution; measured at n = "
        f"{checkpoints[-1]}: {', '.join(f'{f:.3f}' for f in stray[:, -1])}. The central limit theorem says "
        f"more: the estimate is nearly normal, so the chance is P(|Z| >= k) = "
        f"{', '.join(f'{c:.3f}' for c in clt)}, which the runs match (at n = 10 the estimate takes only 11 "
        "values and the normal approximation is rough). Chebyshev is a guarantee, the CLT an approximation "
        "that is far tighter for large n."
    )


# --- Exercise 7: two coupled tests --------------------------------------------------------------------


def coupled_tables(false_positive: float, false_negative: float, both_positive_given_h0: float):
    """P(D1, D2 | H = 0) from the marginals and the coupling, and P(D1, D2 | H = 1) for independent tests;
    rows D1 = 0, 1, columns D2 = 0, 1."""
    fp, both = false_positive, both_positive_given_h0
    healthy = jnp.array([[1 - 2 * fp + both, fp - both], [fp - both, both]])
    marginal = jnp.array([false_negative, 1 - false_negative])
    return healthy, jnp.outer(marginal, marginal)


def posteriors(healthy: jax.Array, infected: jax.Array, prior: float) -> tuple[jax.Array, jax.Array]:
    """P(H = 1 | D1 = 1) and P(H = 1 | D1 = 1, D2 = 1) by Bayes' rule from the two joint tables."""
    one_h1, one_h0 = infected[1].sum() * prior, healthy[1].sum() * (1 - prior)
    two_h1, two_h0 = infected[1, 1] * prior, healthy[1, 1] * (1 - prior)
    return one_h1 / (one_h1 + one_h0), two_h1 / (two_h1 + two_h0)


@partial(jax.jit, static_argnames="n")
def simulate_patients(key: jax.Array, healthy: jax.Array, infected: jax.Array, prior: float, n: int):
    """n patients: H ~ Bernoulli(prior), then (D1, D2) from the table for H. Returns H and both-positive flags."""
    key_h, key_d = jax.random.split(key)
    h = jax.random.bernoulli(key_h, prior, (n,))
    logits = jnp.log(jnp.where(h[:, None], infected.ravel(), healthy.ravel()))
    cell = jax.random.categorical(key_d, logits)  # 0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1)
    return h, cell >= 2, cell == 3


def exercise_coupled_tests(result: Result, ref: dict, fast: bool) -> None:
    healthy, infected = coupled_tables(ref["false_positive"], ref["false_negative"], ref["both_positive_given_h0"])
    result.compare("joint table P(D1, D2 | H = 0)", healthy, ref["table_h0"], tol=TOLERANCES["exact"])
    result.compare("joint table P(D1, D2 | H = 1)", infected, ref["table_h1"], tol=TOLERANCES["exact"])
    result.compare("tables sum to 1", [healthy.sum(), infected.sum()], [1.0, 1.0], tol=TOLERANCES["exact"])
    one, two = posteriors(healthy, infected, ref["p_h1"])
    result.compare("P(H = 1 | D1 = 1)", one, ref["posterior_one_test"], tol=TOLERANCES["exact"])
    result.compare("P(H = 1 | D1 = 1, D2 = 1)", two, ref["posterior_two_tests"], tol=TOLERANCES["exact"])
    n = PATIENTS // 10 if fast else PATIENTS
    h, first, both = (np.asarray(a) for a in simulate_patients(jax.random.key(267), healthy, infected,
                                                                ref["p_h1"], n))
    simulated = [h[first].mean(), h[both].mean()]
    exact = np.array([float(one), float(two)])
    compare_samples(result, f"posteriors among {n} simulated patients vs Bayes' rule", simulated, exact,
                    np.sqrt(exact * (1 - exact) / np.array([first.sum(), both.sum()])))
    independent = ref["false_positive"] ** 2
    result.text(
        "Exercise 7. For a healthy patient the two tests' joint table follows from the marginals (10% false "
        f"positives each) and the coupling P(D1 = D2 = 1 | H = 0) = {ref['both_positive_given_h0']}: rows D1, columns "
        f"D2, {np.asarray(healthy, np.float64).round(4).tolist()}. One positive test gives P(H = 1 | D1 = 1) = {float(one):.4f}; "
        f"two give {float(two):.4f}, where independent tests would give "
        f"{float(posteriors(jnp.array([[0.81, 0.09], [0.09, independent]]), infected, ref['p_h1'])[1]):.4f}: "
        f"the coupling makes a second positive double the false alarms (0.02 instead of {independent:.2f}), so it "
        f"adds less evidence. {n} simulated patients agree: {simulated[0]:.4f} and {simulated[1]:.4f}."
    )


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    exercise_variance(result, ref["repeated"], fast)
    exercise_coupled_tests(result, ref["coupled_tests"], fast)


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
