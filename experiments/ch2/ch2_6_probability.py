"""d2l 2.6 Probability and statistics: coin tosses and die rolls from explicit keys, the running estimates,
expectation and variance, Bayes' rule for the HIV tests; PyTorch's draws compared within the sampling error."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments.harness.result import Result, Tolerance, Tolerances, cli
from experiments.harness import references
from experiments.ch2.common import (
    PROBABILITY_EXACT,
    PROBABILITY_SAMPLING_Z,
    SAMPLING_Z,
    compare_samples,
    frequency_error,
)

SECTION = "2.6"
TITLE = "Probability and statistics"
REFERENCE = "ch2_6_probability"

NUM_TOSSES, MANY_TOSSES, DIE_ROLLS, INVESTMENT_DRAWS = 100, 10000, 6000, 100_000  # d2l's sizes (die: ours)
FAIR_COIN = (0.5, 0.5)

# Every tolerance of this experiment, with its reason.
TOLERANCES: Tolerances = {
    "sampling_z": PROBABILITY_SAMPLING_Z,
    "exact": PROBABILITY_EXACT,
    "book": Tolerance(atol=5e-5, why="the book prints its posteriors to 4 decimals"),
}


# --- 2.6.1-2.6.2 coins and dice -------------------------------------------------------------------------


def python_style_tosses(key: jax.Array, n: int) -> int:
    """d2l's first coin: n uniform numbers, a head where one exceeds 0.5."""
    return int((jax.random.uniform(key, (n,)) > 0.5).sum())


def counts(key: jax.Array, n: int, probs) -> jax.Array:
    """Multinomial(n, probs).sample(): how often each outcome comes up in n draws."""
    return jax.random.multinomial(key, n, jnp.asarray(probs))


@partial(jax.jit, static_argnames="n")
def running_estimates(key: jax.Array, probs: jax.Array, n: int) -> jax.Array:
    """d2l's Multinomial(1, probs).sample((n,)), cumulated: the estimated probabilities after each draw."""
    draws = jax.nn.one_hot(jax.random.categorical(key, jnp.log(probs), shape=(n,)), len(probs))
    cum_counts = draws.cumsum(axis=0)
    return cum_counts / cum_counts.sum(axis=1, keepdims=True)


def plot_estimates(estimates: np.ndarray):
    """d2l's figure: each outcome's running estimate against the number of samples, with the true 0.5."""
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.plot(estimates[:, 0], label="P(coin=heads)")
    ax.plot(estimates[:, 1], label="P(coin=tails)")
    ax.axhline(y=0.5, color="black", linestyle="dashed")
    ax.set_xlabel("Samples")
    ax.set_ylabel("Estimated probability")
    ax.legend()
    return fig


# --- 2.6.7 expectations ------------------------------------------------------------------------------


def moments(values: jax.Array, probs: jax.Array) -> dict[str, jax.Array]:
    """E[X], Var[X] = E[(X - E[X])^2] = E[X^2] - E[X]^2, and the fourth central moment."""
    mean = jnp.sum(values * probs)
    return {"mean": mean, "variance": jnp.sum((values - mean) ** 2 * probs),
            "variance_from_second_moment": jnp.sum(values**2 * probs) - mean**2,
            "fourth_central_moment": jnp.sum((values - mean) ** 4 * probs)}


def sample_outcomes(key: jax.Array, values: jax.Array, probs: jax.Array, n: int) -> jax.Array:
    """n outcomes drawn with the given probabilities (jax.random.choice with p)."""
    return jax.random.choice(key, values, shape=(n,), p=probs)


# --- 2.6.5 Bayes' rule -------------------------------------------------------------------------------


def posterior(prior: float, p_pos_given_h1, p_pos_given_h0) -> jax.Array:
    """P(H = 1 | every test positive) for conditionally independent tests, by Bayes' rule."""
    likely_h1 = jnp.prod(jnp.asarray(p_pos_given_h1)) * prior
    likely_h0 = jnp.prod(jnp.asarray(p_pos_given_h0)) * (1 - prior)
    return likely_h1 / (likely_h1 + likely_h0)


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    keys = jax.random.split(jax.random.key(26), 6)

    coins = ref["coins"]
    heads = python_style_tosses(keys[0], NUM_TOSSES)
    theirs_heads = coins["python_heads_tails"][0]
    compare_samples(result, f"heads in {NUM_TOSSES} tosses (uniform > 0.5 vs Python's random)", heads / NUM_TOSSES,
                    theirs_heads / NUM_TOSSES, frequency_error(0.5, NUM_TOSSES))
    for key, n in zip(jax.random.split(keys[1]), (NUM_TOSSES, MANY_TOSSES)):
        ours = counts(key, n, FAIR_COIN)
        result.compare(f"Multinomial({n}) counts sum to {n}", ours.sum(), n)
        compare_samples(result, f"Multinomial({n}, fair) frequencies", ours / n, coins[f"frequencies_{n}"],
                        frequency_error(0.5, n))
    estimates = np.asarray(running_estimates(keys[2], jnp.asarray(FAIR_COIN), MANY_TOSSES))
    at = np.asarray(coins["checkpoints"]) - 1
    compare_samples(result, "running estimate of P(heads) at 1, 2, 5, ..., 10000 tosses", estimates[at, 0],
                    np.asarray(coins["running_estimates"])[:, 0], frequency_error(0.5, at + 1))
    result.save_figure(plot_estimates(estimates), "running_estimates.png")
    result.text(
        f"Every draw takes its key: `jax.random.uniform(key, (100,)) > 0.5` gave {heads} heads in {NUM_TOSSES} "
        f"tosses (Python's `random` with seed 0: {theirs_heads}); `jax.random.multinomial(key, n, probs)` is "
        "`Multinomial(n, probs).sample()`, and `jax.random.categorical(key, log(probs), shape=(n,))` with "
        "`one_hot` gives d2l's single tosses. JAX and PyTorch use different generators, so no draw can match; "
        "each row compares the two as independent samples: the difference, in standard errors of a "
        f"difference, must stay within {SAMPLING_Z:g}. After {MANY_TOSSES} tosses the estimate of P(heads) is "
        f"{estimates[-1, 0]:.4f} (PyTorch's: {coins['running_estimates'][-1][0]:.4f}); its standard error "
        f"sqrt(p(1 - p)/n) = {math.sqrt(0.25 / MANY_TOSSES):.4f} shrinks like 1/sqrt(n) (figure)."
    )

    die = ref["die"]
    one_roll = jax.nn.one_hot(jax.random.categorical(keys[3], jnp.log(jnp.full(6, 1 / 6))), 6)
    result.compare("one roll is one-hot over 6 faces", [one_roll.sum(), one_roll.shape[0]],
                   [sum(die["one_roll"]), len(die["one_roll"])])
    rolls = counts(keys[5], DIE_ROLLS, jnp.full(6, 1 / 6))
    compare_samples(result, f"die frequencies in {DIE_ROLLS} rolls", rolls / DIE_ROLLS, die["frequencies"],
                    frequency_error(1 / 6, DIE_ROLLS))

    inv = ref["investment"]
    values, probs = jnp.asarray(inv["values"]), jnp.asarray(inv["probs"])
    exact = moments(values, probs)
    for name in ("mean", "variance", "variance_from_second_moment", "fourth_central_moment"):
        result.compare(f"investment: {name.replace('_', ' ')}", exact[name], inv[name], tol=TOLERANCES["exact"])
    n = INVESTMENT_DRAWS // 10 if fast else INVESTMENT_DRAWS
    draws = np.asarray(sample_outcomes(keys[4], values, probs, n), np.float64)
    var, m4 = inv["variance"], inv["fourth_central_moment"]
    compare_samples(result, f"investment: sample mean of {n} outcomes", draws.mean(), inv["sample_mean"],
                    math.sqrt(var / n + var / inv["draws"]))
    compare_samples(result, f"investment: sample variance of {n} outcomes", draws.var(), inv["sample_variance"],
                    math.sqrt((m4 - var**2) / n + (m4 - var**2) / inv["draws"]))
    result.text(
        f"d2l's investment (lose all with probability 0.5, double with 0.4, ten times with 0.1) returns "
        f"E[X] = {float(exact['mean']):.4g} on average with variance E[X^2] - E[X]^2 = {float(exact['variance']):.4g}: "
        f"a standard deviation of {math.sqrt(float(exact['variance'])):.3g} times the stake. {n} sampled outcomes "
        f"(`jax.random.choice(key, values, p=probs)`) average {draws.mean():.4f} with variance {draws.var():.4f}; "
        f"PyTorch's {inv['draws']} draws: {inv['sample_mean']:.4f} and {inv['sample_variance']:.4f}."
    )

    hiv = ref["hiv"]
    one = posterior(hiv["p_h1"], [hiv["test1"]["p_pos_given_h1"]], [hiv["test1"]["p_pos_given_h0"]])
    two = posterior(hiv["p_h1"], [hiv["test1"]["p_pos_given_h1"], hiv["test2"]["p_pos_given_h1"]],
                    [hiv["test1"]["p_pos_given_h0"], hiv["test2"]["p_pos_given_h0"]])
    result.compare("P(H = 1 | D1 = 1)", one, hiv["posterior_one_test"], tol=TOLERANCES["exact"])
    result.compare("P(H = 1 | D1 = 1, D2 = 1)", two, hiv["posterior_two_tests"], tol=TOLERANCES["exact"])
    result.compare("the book's 0.1306 and 0.8307", [one, two], [0.1306, 0.8307], tol=TOLERANCES["book"])
    result.text(
        f"Bayes' rule for d2l's HIV test: one positive test raises P(infected) from {hiv['p_h1']} to "
        f"{float(one):.4f}; a second, conditionally independent, positive test (a less accurate one) to "
        f"{float(two):.4f}."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
