"""d2l 2.6: sampling with explicit keys compared with PyTorch's draws within the sampling error; exact moments
and posteriors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch2 import ch2_6_probability_exercises as exercises
from experiments.ch2 import ch2_6_probability as probability
from experiments.harness import references
from experiments.ch2 import common as ch2_common


@pytest.fixture(scope="module")
def ref():
    return references.load(probability.REFERENCE)


def _tol(module, name: str) -> dict[str, float]:
    """The assert_allclose keywords of one entry of an experiment's TOLERANCES table."""
    entry = module.TOLERANCES[name]
    return {"rtol": entry.rtol, "atol": entry.atol}


def test_sampling_z_is_the_tables():  # the tables' values are pinned in tests/harness/test_tolerances.py
    assert probability.SAMPLING_Z == probability.TOLERANCES["sampling_z"].value
    assert exercises.TOLERANCES["exact"] is probability.TOLERANCES["exact"]


def test_z_scores_and_frequency_errors():
    assert probability.frequency_error(0.5, 100) == pytest.approx(math.sqrt(2 * 0.25 / 100))
    assert probability.frequency_error(0.5, 100, samples=1) == pytest.approx(0.05)
    np.testing.assert_allclose(ch2_common.z_scores([0.6, 0.5], [0.5, 0.5], 0.05), [2.0, 0.0])


def test_multinomial_frequencies_agree_with_pytorchs_within_sampling_error(ref):
    for i, n in enumerate((100, 10000)):
        ours = probability.counts(jax.random.key(i), n, probability.FAIR_COIN)
        assert float(ours.sum()) == n
        z = ch2_common.z_scores(ours / n, ref["coins"][f"frequencies_{n}"], probability.frequency_error(0.5, n))
        assert np.abs(z).max() <= probability.SAMPLING_Z


def test_running_estimates_are_cumulative_frequencies_converging_like_pytorchs(ref):
    estimates = np.asarray(probability.running_estimates(jax.random.key(5), jnp.asarray([0.5, 0.5]), 10000))
    assert estimates.shape == (10000, 2)
    np.testing.assert_allclose(estimates.sum(axis=1), 1.0, rtol=1e-6)
    assert set(np.unique(estimates[0])) <= {0.0, 1.0}
    at = np.asarray(ref["coins"]["checkpoints"]) - 1
    z = ch2_common.z_scores(estimates[at, 0], np.asarray(ref["coins"]["running_estimates"])[:, 0],
                             probability.frequency_error(0.5, at + 1))
    assert np.abs(z).max() <= probability.SAMPLING_Z
    # a biased coin is caught: P(heads) = 0.52 strays 4 standard errors after 10000 tosses
    biased = np.asarray(probability.running_estimates(jax.random.key(5), jnp.asarray([0.52, 0.48]), 10000))
    z = ch2_common.z_scores(biased[-1, 0], ref["coins"]["running_estimates"][-1][0], probability.frequency_error(0.5, 10000))
    assert abs(z) > probability.SAMPLING_Z


def test_die_rolls_agree_with_pytorchs(ref):
    rolls = probability.counts(jax.random.key(7), 6000, jnp.full(6, 1 / 6))
    z = ch2_common.z_scores(rolls / 6000, ref["die"]["frequencies"], probability.frequency_error(1 / 6, 6000))
    assert np.abs(z).max() <= probability.SAMPLING_Z


def test_investment_moments_are_exact_and_samples_agree(ref):
    inv = ref["investment"]
    values, probs = jnp.asarray(inv["values"]), jnp.asarray(inv["probs"])
    exact = probability.moments(values, probs)
    for name in ("mean", "variance", "variance_from_second_moment", "fourth_central_moment"):
        np.testing.assert_allclose(exact[name], inv[name], **_tol(probability, "exact"))
    assert float(exact["mean"]) == pytest.approx(1.8) and float(exact["variance"]) == pytest.approx(8.36)
    draws = np.asarray(probability.sample_outcomes(jax.random.key(2), values, probs, 100_000), np.float64)
    assert set(np.unique(draws)) == {0.0, 2.0, 10.0}
    var = inv["variance"]
    assert abs(draws.mean() - inv["sample_mean"]) <= probability.SAMPLING_Z * math.sqrt(2 * var / 100_000)


def test_hiv_posteriors_match_pytorch_and_the_book(ref):
    hiv = ref["hiv"]
    one = probability.posterior(hiv["p_h1"], [1.0], [0.01])
    two = probability.posterior(hiv["p_h1"], [1.0, 0.98], [0.01, 0.03])
    np.testing.assert_allclose([one, two], [hiv["posterior_one_test"], hiv["posterior_two_tests"]],
                               **_tol(probability, "exact"))
    np.testing.assert_allclose([one, two], [0.1306, 0.8307], **_tol(probability, "book"))


def test_repeated_estimates_have_variance_quarter_over_n_like_pytorchs():
    ref = references.load(exercises.REFERENCE)["repeated"]
    checkpoints = tuple(ref["checkpoints"])
    estimates = np.asarray(exercises.repeated_estimates(jax.random.key(3), 1000, 10000, checkpoints), np.float64)
    theory = 0.25 / np.asarray(checkpoints)
    z = ch2_common.z_scores(estimates.var(axis=0, ddof=1), theory, theory * math.sqrt(2 / 999))
    assert np.abs(z).max() <= probability.SAMPLING_Z
    np.testing.assert_allclose(ref["variance"], theory, rtol=0.2)
    for k, fractions in zip(ref["deviations"], ref["fraction_beyond_k_sigma"]):
        assert max(fractions) <= 1 / k**2
    assert exercises.normal_tail(2.0) == pytest.approx(0.0455, abs=1e-4)


def test_coupled_tests_tables_and_posteriors():
    ref = references.load(exercises.REFERENCE)["coupled_tests"]
    healthy, infected = exercises.coupled_tables(0.1, 0.01, 0.02)
    np.testing.assert_allclose(healthy, ref["table_h0"], **_tol(probability, "exact"))
    np.testing.assert_allclose(infected, ref["table_h1"], **_tol(probability, "exact"))
    np.testing.assert_allclose(healthy.sum(axis=1), [0.9, 0.1], rtol=1e-6)  # the marginal false-positive rate
    one, two = exercises.posteriors(healthy, infected, 0.0015)
    np.testing.assert_allclose([one, two], [ref["posterior_one_test"], ref["posterior_two_tests"]],
                               **_tol(probability, "exact"))
    h, first, both = (np.asarray(a) for a in exercises.simulate_patients(jax.random.key(0), healthy, infected,
                                                                         0.0015, 1_000_000))
    se = math.sqrt(float(two) * (1 - float(two)) / both.sum())
    assert abs(h[both].mean() - float(two)) <= probability.SAMPLING_Z * se
    assert abs(first.mean() - (0.0015 * 0.99 + 0.9985 * 0.1)) <= probability.SAMPLING_Z * math.sqrt(0.1 * 0.9 / 1e6)
