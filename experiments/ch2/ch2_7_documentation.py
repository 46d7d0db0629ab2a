"""d2l 2.7 Documentation: dir, help and docstrings the JAX way, and which of torch.distributions' distributions
jax.random can sample, each sampler checked against PyTorch's moments within the sampling error."""

from __future__ import annotations

import itertools
import math
import pydoc
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness.result import Result, Tolerances, cli
from experiments.ch2.common import DOCUMENTATION_SAMPLING_Z
from experiments.harness import references

SECTION = "2.7"
TITLE = "Documentation"
REFERENCE = "ch2_7_documentation"

# Every tolerance of this experiment, with its reason.
TOLERANCES: Tolerances = {
    "sampling_z": DOCUMENTATION_SAMPLING_Z,
}
SAMPLING_Z = TOLERANCES["sampling_z"].value

Sampler = Callable[..., jax.Array]

# How each torch.distributions class is sampled with jax.random, given torch's own keyword arguments.
# "same": a jax.random function with the same parameters; "standard": jax.random draws the standard form
# (loc 0, scale 1, rate 1) and the parameters enter by arithmetic; "convention": the sampler exists but counts
# differently; "derived": a line of arithmetic on other jax.random samplers.
SAMPLERS: dict[str, tuple[str, Sampler]] = {
    "Bernoulli": ("same", lambda k, n, probs: jax.random.bernoulli(k, probs, (n,))),
    "Beta": ("same", lambda k, n, concentration1, concentration0:
             jax.random.beta(k, concentration1, concentration0, (n,))),
    "Binomial": ("same", lambda k, n, total_count, probs: jax.random.binomial(k, total_count, probs, (n,))),
    "Categorical": ("same", lambda k, n, probs: jax.random.categorical(k, jnp.log(jnp.asarray(probs)), shape=(n,))),
    "Chi2": ("same", lambda k, n, df: jax.random.chisquare(k, df, (n,))),
    "Dirichlet": ("same", lambda k, n, concentration: jax.random.dirichlet(k, jnp.asarray(concentration), (n,))),
    "FisherSnedecor": ("same", lambda k, n, df1, df2: jax.random.f(k, df1, df2, (n,))),
    "Multinomial": ("same", lambda k, n, total_count, probs:
                    jax.random.multinomial(k, total_count, jnp.asarray(probs), shape=(n, len(probs)))),
    "MultivariateNormal": ("same", lambda k, n, loc, covariance_matrix: jax.random.multivariate_normal(
        k, jnp.asarray(loc), jnp.asarray(covariance_matrix), shape=(n,))),
    "Poisson": ("same", lambda k, n, rate: jax.random.poisson(k, rate, (n,))),
    "StudentT": ("same", lambda k, n, df: jax.random.t(k, df, (n,))),
    "Uniform": ("same", lambda k, n, low, high: jax.random.uniform(k, (n,), minval=low, maxval=high)),
    "Weibull": ("same", lambda k, n, scale, concentration: jax.random.weibull_min(k, scale, concentration, (n,))),
    "Cauchy": ("standard", lambda k, n, loc, scale: loc + scale * jax.random.cauchy(k, (n,))),
    "Exponential": ("standard", lambda k, n, rate: jax.random.exponential(k, (n,)) / rate),
    "Gamma": ("standard", lambda k, n, concentration, rate: jax.random.gamma(k, concentration, (n,)) / rate),
    "Gumbel": ("standard", lambda k, n, loc, scale: loc + scale * jax.random.gumbel(k, (n,))),
    "Laplace": ("standard", lambda k, n, loc, scale: loc + scale * jax.random.laplace(k, (n,))),
    "LogNormal": ("standard", lambda k, n, loc, scale: jnp.exp(loc) * jax.random.lognormal(k, scale, (n,))),
    "Normal": ("standard", lambda k, n, loc, scale: loc + scale * jax.random.normal(k, (n,))),
    "Pareto": ("standard", lambda k, n, scale, alpha: scale * jax.random.pareto(k, alpha, (n,))),
    # jax.random.geometric counts the trials up to the first success (1, 2, ...); torch the failures (0, 1, ...).
    "Geometric": ("convention", lambda k, n, probs: jax.random.geometric(k, probs, (n,)) - 1),
    "HalfCauchy": ("derived", lambda k, n, scale: scale * jnp.abs(jax.random.cauchy(k, (n,)))),
    "HalfNormal": ("derived", lambda k, n, scale: scale * jnp.abs(jax.random.normal(k, (n,)))),
    "InverseGamma": ("derived", lambda k, n, concentration, rate: rate / jax.random.gamma(k, concentration, (n,))),
    "OneHotCategorical": ("derived", lambda k, n, probs: jax.nn.one_hot(
        jax.random.categorical(k, jnp.log(jnp.asarray(probs)), shape=(n,)), len(probs))),
    # successes before total_count failures: Poisson with a Gamma(total_count, p / (1 - p)) rate
    "NegativeBinomial": ("derived", lambda k, n, total_count, probs: jax.random.poisson(
        k, jax.random.gamma(jax.random.fold_in(k, 1), total_count, (n,)) * probs / (1 - probs))),
}
# The rest of torch.distributions, and why there is no jax.random sampler to check.
UNSAMPLED: dict[str, str] = {
    "ContinuousBernoulli": "inverse CDF of a uniform, written by hand",
    "GeneralizedPareto": "inverse CDF of a uniform, written by hand",
    "Kumaraswamy": "inverse CDF of a uniform, written by hand",
    "LogisticNormal": "softmax-style transform of a normal, written by hand",
    "LowRankMultivariateNormal": "multivariate_normal with covariance W W^T + diag(D) (or W z1 + sqrt(D) z2)",
    "RelaxedBernoulli": "logistic noise through a tempered sigmoid, written by hand",
    "RelaxedOneHotCategorical": "Gumbel noise through a tempered softmax, written by hand",
    "OneHotCategoricalStraightThrough": "one-hot categorical plus a straight-through gradient (stop_gradient)",
    "VonMises": "no sampler: needs a rejection-sampling loop",
    "LKJCholesky": "no sampler: needs the onion or vine method",
    "Wishart": "no sampler: Bartlett decomposition from chisquare and normal draws",
    "Independent": "a wrapper that reinterprets batch dimensions, not a distribution",
    "MixtureSameFamily": "a wrapper: categorical choice of a component, then that component's sampler",
    "TransformedDistribution": "a wrapper: a base sampler followed by a bijection",
}


# Built on jax.random's gamma, binomial or poisson loops: seconds of XLA compilation each, so --fast skips them
# (tests/experiments/ch2/test_ch2_7_documentation.py checks some of them directly).
SLOW_TO_COMPILE = frozenset({"Beta", "Binomial", "Chi2", "Dirichlet", "FisherSnedecor", "Gamma", "InverseGamma",
                             "Multinomial", "NegativeBinomial", "Poisson", "StudentT"})


def public_names(module: Any) -> list[str]:
    """dir(module) without the _private and __special__ names d2l tells the reader to ignore."""
    return [name for name in dir(module) if not name.startswith("_")]


def first_doc_line(obj: Any) -> str:
    """The first line of help(obj)'s text, as pydoc renders it: the signature, on one line even where
    pydoc (Python 3.13 and later) wraps a long one over several."""
    lines = pydoc.render_doc(obj, renderer=pydoc.plaintext).splitlines()[1:]
    start = next(i for i, line in enumerate(lines) if line.strip())
    paragraph = list(itertools.takewhile(str.strip, lines[start:]))
    joined = " ".join(line.strip() for line in paragraph)
    return joined.replace("( ", "(").replace(",)", ")").replace(", )", ")").replace(" )", ")")


def z_scores_of_mean(draws: jax.Array, mean, variance) -> np.ndarray:
    """(sample mean - mean) in standard errors sqrt(variance / n), per event dimension."""
    x = np.asarray(draws, np.float64)
    return (x.mean(axis=0) - np.asarray(mean)) / np.sqrt(np.asarray(variance) / len(x))


def z_score_of_median(draws: jax.Array, median: float, density: float) -> float:
    """(sample median - median) in standard errors 1 / (2 f(median) sqrt(n))."""
    x = np.asarray(draws, np.float64)
    return float((np.median(x) - median) * 2 * density * math.sqrt(len(x)))


def check_sampler(name: str, ref: dict, key: jax.Array, n: int) -> np.ndarray:
    """z-scores of one jax.random sampler's draws against PyTorch's moments (the median where the mean is not finite)."""
    draws = jax.jit(SAMPLERS[name][1], static_argnums=1)(key, n, **ref["parameters"])
    mean, variance = np.asarray(ref["mean"], np.float64), np.asarray(ref["variance"], np.float64)
    if name == "Categorical":  # torch defines no mean for category indices; E[index] = sum_i i p_i
        probs = np.asarray(ref["parameters"]["probs"])
        mean = (np.arange(len(probs)) * probs).sum()
        variance = (np.arange(len(probs)) ** 2 * probs).sum() - mean**2
    if np.all(np.isfinite(mean)) and np.all(np.isfinite(variance)):
        return np.atleast_1d(z_scores_of_mean(draws, mean, variance))
    return np.array([z_score_of_median(draws, ref["median"], ref["density_at_median"])])


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    lookups = ref["lookups"]

    ours_ones, theirs_ones = jnp.ones(4), lookups["ones_4"]
    result.compare("jnp.ones(4) vs torch.ones(4)", ours_ones, theirs_ones["values"])
    result.compare("dtype", str(ours_ones.dtype), theirs_ones["dtype"].removeprefix("torch."))
    names = public_names(jax.random)
    torch_lower = {n.lower(): n for n in lookups["public_names"]}
    shared = sorted(n for n in names if n in torch_lower)
    result.text(
        "d2l looks things up with `dir(torch.distributions)`, `help(torch.ones)` and `torch.ones(4)`. In JAX the "
        f"samplers are functions in `jax.random`: `dir(jax.random)` has {len(names)} public names against "
        f"{len(lookups['public_names'])} in `torch.distributions` (classes, their modules, and the transforms). "
        f"Of those, {len(shared)} share a name in lower case ({', '.join(shared)}); the rest of the overlap hides "
        "behind other names (chisquare for Chi2, t for StudentT, f for FisherSnedecor, weibull_min for Weibull). "
        "`help(jnp.ones)` starts "
        f"\"{first_doc_line(jnp.ones)}\" where `help(torch.ones)` starts \"{lookups['help_ones_first_line']}\"; the "
        "docstring is `jnp.ones.__doc__`, the signature `inspect.signature(jnp.ones)`, and in Jupyter `jnp.ones?` "
        "works for both. JAX's reference pages live at docs.jax.dev (jax.random, jax.numpy)."
    )

    classes = sorted(c["name"] for c in ref["classes"])
    ours = {*SAMPLERS, *UNSAMPLED}
    result.compare("torch.distributions classes not classified here, and classified ones torch lacks",
                   [len(set(classes) - ours), len(ours - set(classes))], [0, 0])
    n = ref["draws"] // 5 if fast else ref["draws"]
    keys = jax.random.split(jax.random.key(27), len(SAMPLERS))
    by_kind: dict[str, list[str]] = {}
    for key, name in zip(keys, sorted(SAMPLERS)):
        kind = SAMPLERS[name][0]
        by_kind.setdefault(kind, []).append(name)
        if fast and name in SLOW_TO_COMPILE:
            continue
        z = check_sampler(name, ref["moments"][name], key, n)
        moment = "median" if len(z) == 1 and "median" in ref["moments"][name] and not np.isfinite(
            ref["moments"][name]["variance"]) else "mean"
        result.compare(f"{name} ({kind}): {moment} of {n} draws, z-score", z, np.zeros_like(z), atol=SAMPLING_Z)
    geometric = ref["moments"]["Geometric"]
    unshifted_draws = jax.random.geometric(keys[0], geometric["parameters"]["probs"], (n,))
    unshifted = z_scores_of_mean(unshifted_draws, geometric["mean"], geometric["variance"])
    result.compare("Geometric without the shift is caught (|z| > 4)", bool(abs(float(unshifted)) > SAMPLING_Z), True)

    rows = ["| kind | torch.distributions classes |", "|---|---|"]
    labels = {"same": "a jax.random function, same parameters",
              "standard": "jax.random's standard form, parameters by arithmetic",
              "convention": "a jax.random function counting differently",
              "derived": "one line on other jax.random samplers"}
    rows += [f"| {labels[k]} | {', '.join(by_kind[k])} |" for k in labels]
    rows += [f"| no jax.random sampler | {', '.join(f'{k} ({v})' for k, v in sorted(UNSAMPLED.items()))} |"]
    result.text(
        f"Of the {len(classes)} distribution classes in torch.distributions, {len(SAMPLERS)} can be sampled with "
        f"jax.random, each checked above against PyTorch's mean (median for Cauchy and HalfCauchy) over {n} draws"
        f"{' (--fast: those quick to compile)' if fast else ''}; "
        f"{len(by_kind['same'])} directly with the same parameters. `jax.random.geometric` counts the trials up "
        f"to the first success where torch's Geometric counts the failures: unshifted, its mean is "
        f"{float(unshifted_draws.mean()):.3f} against torch's "
        f"{geometric['mean']:.3f} (z = {float(unshifted):.0f}).\n\n" + "\n".join(rows)
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
