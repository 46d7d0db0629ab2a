"""PyTorch reference for d2l 2.7 Documentation: what d2l looks up (dir, help, torch.ones) and, for each
distribution in torch.distributions, its parameters, support, and moments at fixed parameters."""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.distributions as D

SEED, DRAWS = 0, 100_000
# Fixed parameters for each distribution the experiment samples (torch's own keyword names).
PARAMETERS: dict[str, dict[str, Any]] = {
    "Bernoulli": {"probs": 0.3},
    "Beta": {"concentration1": 2.0, "concentration0": 5.0},
    "Binomial": {"total_count": 10, "probs": 0.3},
    "Categorical": {"probs": [0.2, 0.3, 0.5]},
    "Cauchy": {"loc": 0.0, "scale": 1.0},
    "Chi2": {"df": 3.0},
    "Dirichlet": {"concentration": [1.0, 2.0, 3.0]},
    "Exponential": {"rate": 2.0},
    "FisherSnedecor": {"df1": 5.0, "df2": 10.0},
    "Gamma": {"concentration": 2.0, "rate": 3.0},
    "Geometric": {"probs": 0.3},
    "Gumbel": {"loc": 0.0, "scale": 1.0},
    "HalfCauchy": {"scale": 1.0},
    "HalfNormal": {"scale": 1.0},
    "InverseGamma": {"concentration": 3.0, "rate": 2.0},
    "Laplace": {"loc": 0.0, "scale": 1.0},
    "LogNormal": {"loc": 0.0, "scale": 0.5},
    "Multinomial": {"total_count": 10, "probs": [0.2, 0.3, 0.5]},
    "MultivariateNormal": {"loc": [1.0, -1.0], "covariance_matrix": [[2.0, 0.5], [0.5, 1.0]]},
    "NegativeBinomial": {"total_count": 5.0, "probs": 0.3},
    "Normal": {"loc": 1.0, "scale": 2.0},
    "OneHotCategorical": {"probs": [0.2, 0.3, 0.5]},
    "Pareto": {"scale": 1.0, "alpha": 3.0},
    "Poisson": {"rate": 4.0},
    "StudentT": {"df": 5.0},
    "Uniform": {"low": -1.0, "high": 2.0},
    "Weibull": {"scale": 1.0, "concentration": 2.0},
}
# Exercise: jax.random.categorical(..., replace=False) against torch.multinomial(..., replacement=False).
WITHOUT_REPLACEMENT = {"probs": [0.4, 0.3, 0.2, 0.1], "k": 2, "draws": 20_000}


def _tensor_args(params: dict[str, Any]) -> dict[str, Any]:
    return {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, (float, list)) else v for k, v in params.items()}


def lookups() -> dict[str, Any]:
    """d2l 2.7's three cells: dir(torch.distributions), help(torch.ones) and torch.ones(4)."""
    names = dir(D)
    ones = torch.ones(4)
    return {
        "dir_distributions": names,
        "public_names": [n for n in names if not n.startswith("_")],
        "help_ones_first_line": torch.ones.__doc__.strip().splitlines()[0],
        "ones_4": {"values": ones.numpy(), "dtype": str(ones.dtype)},
    }


def distribution_classes() -> list[dict[str, Any]]:
    """Every Distribution subclass torch.distributions exports: its parameters, support and reparameterisation."""
    out = []
    for name in dir(D):
        cls = getattr(D, name)
        if not (inspect.isclass(cls) and issubclass(cls, D.Distribution)) or cls in (D.Distribution, D.ExponentialFamily):
            continue
        out.append({"name": name, "parameters": sorted(cls.arg_constraints) if isinstance(cls.arg_constraints, dict)
                    else [], "support": str(cls.support) if not isinstance(cls.support, property) else "depends",
                    "has_rsample": bool(cls.has_rsample)})
    return out


def moments(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Analytic mean and variance (nan/inf where undefined); the median and the density there, where torch has icdf."""
    dist = getattr(D, name)(**_tensor_args(params), validate_args=True)
    out = {"parameters": params, "mean": dist.mean.numpy(), "variance": dist.variance.numpy(),
           "event_shape": list(dist.event_shape)}
    try:
        median = dist.icdf(torch.tensor(0.5, dtype=torch.float64))
        out["median"] = median.item()
        out["density_at_median"] = dist.log_prob(median).exp().item()
    except NotImplementedError:
        pass
    torch.manual_seed(SEED)
    draws = dist.sample((DRAWS,))
    out["sample_mean"] = draws.double().mean(dim=0).numpy()
    return out


def without_replacement() -> dict[str, Any]:
    """torch.multinomial(probs, k, replacement=False), many times: how often each item is drawn first, and at all."""
    torch.manual_seed(SEED)
    probs = torch.tensor(WITHOUT_REPLACEMENT["probs"])
    draws = torch.stack([torch.multinomial(probs, WITHOUT_REPLACEMENT["k"], replacement=False)
                         for _ in range(WITHOUT_REPLACEMENT["draws"])])
    n = len(WITHOUT_REPLACEMENT["probs"])
    return {
        **WITHOUT_REPLACEMENT,
        "all_distinct": bool((draws[:, 0] != draws[:, 1]).all()),
        "first_frequencies": torch.bincount(draws[:, 0], minlength=n).double().div(len(draws)).numpy(),
        "inclusion_frequencies": torch.bincount(draws.flatten(), minlength=n).double().div(len(draws)).numpy(),
    }


def generate() -> dict[str, dict]:
    """The 2.7 reference files: {file name: data}."""
    return {
        "ch2_7_documentation": {
            "lookups": lookups(),
            "classes": distribution_classes(),
            "draws": DRAWS,
            "moments": {name: moments(name, params) for name, params in PARAMETERS.items()},
        },
        "ch2_7_documentation_exercises": {"ones_signature_line": torch.ones.__doc__.strip().splitlines()[0],
                            "without_replacement": without_replacement()},
    }
