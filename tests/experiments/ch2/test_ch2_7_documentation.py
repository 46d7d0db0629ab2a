"""d2l 2.7: the JAX way of d2l's lookups, which torch.distributions classes jax.random samples, and the checks
of those samplers against PyTorch's moments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch2 import ch2_7_documentation as documentation
from experiments.ch2 import ch2_7_documentation_exercises as exercises
from experiments.harness import references


@pytest.fixture(scope="module")
def ref():
    return references.load(documentation.REFERENCE)


def test_sampling_z_is_the_tables():  # the tables' values are pinned in tests/harness/test_tolerances.py
    assert documentation.SAMPLING_Z == documentation.TOLERANCES["sampling_z"].value
    assert exercises.SAMPLING_Z == documentation.SAMPLING_Z


def test_every_torch_distribution_is_classified_once(ref):
    classes = {c["name"] for c in ref["classes"]}
    assert set(documentation.SAMPLERS) | set(documentation.UNSAMPLED) == classes
    assert not set(documentation.SAMPLERS) & set(documentation.UNSAMPLED)
    assert set(documentation.SLOW_TO_COMPILE) <= set(documentation.SAMPLERS)
    assert {kind for kind, _ in documentation.SAMPLERS.values()} == {"same", "standard", "convention", "derived"}


def test_lookups_the_jax_way(ref):
    names = documentation.public_names(jax.random)
    assert "categorical" in names and "bernoulli" in names and not any(n.startswith("_") for n in names)
    assert documentation.first_doc_line(jnp.ones).startswith("ones(shape")
    np.testing.assert_array_equal(jnp.ones(4), ref["lookups"]["ones_4"]["values"])


@pytest.mark.parametrize("name", ["Normal", "Exponential", "Gamma", "Geometric", "NegativeBinomial", "Dirichlet",
                                  "Cauchy", "MultivariateNormal", "Categorical"])
def test_sampler_matches_torchs_moments(ref, name):
    z = documentation.check_sampler(name, ref["moments"][name], jax.random.key(11), 50_000)
    assert np.abs(z).max() <= documentation.SAMPLING_Z


def test_a_wrong_parameterisation_is_caught(ref):
    """Gamma's rate taken as a scale, or Geometric left unshifted, strays far beyond 4 standard errors."""
    gamma = ref["moments"]["Gamma"]
    wrong = jax.random.gamma(jax.random.key(1), 2.0, (50_000,)) * 3.0
    assert abs(float(documentation.z_scores_of_mean(wrong, gamma["mean"], gamma["variance"]))) > 100
    geometric = ref["moments"]["Geometric"]
    unshifted = jax.random.geometric(jax.random.key(1), 0.3, (50_000,))
    assert abs(float(documentation.z_scores_of_mean(unshifted, geometric["mean"], geometric["variance"]))) > 50


def test_distributions_without_a_mean_are_checked_by_their_median(ref):
    cauchy = ref["moments"]["Cauchy"]
    assert not np.isfinite(cauchy["variance"])
    shifted = {**cauchy, "median": cauchy["median"] + 0.1}  # a location off by a tenth of the scale
    z = documentation.check_sampler("Cauchy", shifted, jax.random.key(11), 50_000)
    assert z.shape == (1,) and abs(z[0]) > documentation.SAMPLING_Z


def test_median_z_score_uses_the_density_at_the_median():
    draws = jnp.asarray(np.linspace(-1, 1, 10001))
    assert documentation.z_score_of_median(draws, 0.0, 0.5) == pytest.approx(0.0, abs=1e-9)
    assert documentation.z_score_of_median(draws, -0.01, 0.5) == pytest.approx(0.01 * 2 * 0.5 * np.sqrt(10001))


def test_signature_lookup():
    assert exercises.keyword_names(jnp.ones) >= {"shape", "dtype", "device"}
    line = references.load(exercises.REFERENCE)["ones_signature_line"]
    assert exercises.keywords_from_signature_line(line) == {"out", "dtype", "layout", "device", "requires_grad"}


def test_categorical_without_replacement_matches_torch_and_theory():
    spec = references.load(exercises.REFERENCE)["without_replacement"]
    probs = np.asarray(spec["probs"])
    exact = exercises.inclusion_probabilities(probs)
    assert exact.sum() == pytest.approx(spec["k"])
    np.testing.assert_allclose(exact[0], 0.4 + 0.3 * 0.4 / 0.7 + 0.2 * 0.4 / 0.8 + 0.1 * 0.4 / 0.9)
    picks = np.asarray(exercises.draws_without_replacement(jax.random.key(0), jnp.asarray(probs), 2, 20_000))
    assert (picks[:, 0] != picks[:, 1]).all()
    included = np.bincount(picks.ravel(), minlength=4) / 20_000
    z = exercises.frequency_z(included, np.asarray(spec["inclusion_frequencies"]), 20_000, spec["draws"])
    assert np.abs(z).max() <= documentation.SAMPLING_Z
    # drawing with replacement would include each item at 1 - (1 - p)^2 and fail against torch's
    with_replacement = 1 - (1 - probs) ** 2
    z = exercises.frequency_z(with_replacement, np.asarray(spec["inclusion_frequencies"]), 20_000, spec["draws"])
    assert np.abs(z).max() > documentation.SAMPLING_Z


def test_a_signature_pydoc_wraps_over_several_lines_is_read_as_one(monkeypatch):
    # Python 3.13's pydoc puts each parameter of a long signature on its own line.
    wrapped = "Python Library Documentation: function f in module m\n\nf(\n    a: int,\n    b: str = 'x'\n) -> None\n\nDoc.\n"
    monkeypatch.setattr(documentation.pydoc, "render_doc", lambda obj, renderer: wrapped)
    assert documentation.first_doc_line(object()) == "f(a: int, b: str = 'x') -> None"
