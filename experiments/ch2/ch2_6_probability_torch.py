"""PyTorch reference numbers for d2l 2.6 Probability and statistics (and its exercises), as d2l 1.0.3 draws them."""

from __future__ import annotations

import random
from typing import Any

import torch
from torch.distributions.categorical import Categorical
from torch.distributions.multinomial import Multinomial

SEED = 0
NUM_TOSSES = 100  # d2l: num_tosses = 100, heads = sum([random.random() > 0.5 ...])
MANY_TOSSES = 10000  # d2l: Multinomial(10000, fair_probs) and the 10000 single tosses of the running estimate
CHECKPOINTS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
DIE_ROLLS = 6000
# d2l 2.6.7's investment: lose everything with probability 0.5, double it with 0.4, ten times with 0.1.
INVESTMENT_VALUES, INVESTMENT_PROBS = (0.0, 2.0, 10.0), (0.5, 0.4, 0.1)
INVESTMENT_DRAWS = 100_000
# d2l 2.6.5's HIV tests.
P_H1 = 0.0015
TEST1 = {"p_pos_given_h1": 1.0, "p_pos_given_h0": 0.01}
TEST2 = {"p_pos_given_h1": 0.98, "p_pos_given_h0": 0.03}
# Exercise 3: many repeats of the 10000-toss running estimate.
REPEATS, REPEAT_CHECKPOINTS, DEVIATIONS = 2000, (10, 100, 1000, 10000), (1.0, 2.0, 3.0)
# Exercise 7: the two tests coupled for healthy patients.
EX7 = {"false_positive": 0.1, "false_negative": 0.01, "both_positive_given_h0": 0.02, "p_h1": 0.0015}


def coins() -> dict[str, Any]:
    """2.6.1-2.6.2: Python's coin, Multinomial counts, and the running estimate of 10000 single tosses."""
    random.seed(SEED)
    heads = sum([random.random() > 0.5 for _ in range(NUM_TOSSES)])
    torch.manual_seed(SEED)
    fair_probs = torch.tensor([0.5, 0.5])
    counts_100 = Multinomial(NUM_TOSSES, fair_probs).sample()
    counts_10000 = Multinomial(MANY_TOSSES, fair_probs).sample()
    counts = Multinomial(1, fair_probs).sample((MANY_TOSSES,))
    cum_counts = counts.cumsum(dim=0)
    estimates = cum_counts / cum_counts.sum(dim=1, keepdims=True)
    at = torch.tensor(CHECKPOINTS) - 1
    return {
        "seed": SEED,
        "python_heads_tails": [heads, NUM_TOSSES - heads],
        "counts_100": counts_100.numpy(),
        "frequencies_100": (counts_100 / NUM_TOSSES).numpy(),
        "counts_10000": counts_10000.numpy(),
        "frequencies_10000": (counts_10000 / MANY_TOSSES).numpy(),
        "checkpoints": CHECKPOINTS,
        "running_estimates": estimates[at].numpy(),
        "single_toss_counts_row_sums": counts.sum(dim=1).unique().numpy(),
    }


def die() -> dict[str, Any]:
    """A fair die, as Multinomial over six faces: one roll and the frequencies of 6000."""
    torch.manual_seed(SEED)
    fair = torch.ones(6) / 6
    one = Multinomial(1, fair).sample()
    counts = Multinomial(DIE_ROLLS, fair).sample()
    return {"one_roll": one.numpy(), "rolls": DIE_ROLLS, "counts": counts.numpy(), "frequencies": (counts / DIE_ROLLS).numpy()}


def investment() -> dict[str, Any]:
    """2.6.7: expectation and variance of the investment, exactly and from sampled outcomes."""
    values = torch.tensor(INVESTMENT_VALUES, dtype=torch.float64)
    probs = torch.tensor(INVESTMENT_PROBS, dtype=torch.float64)
    mean = (values * probs).sum()
    variance = ((values - mean) ** 2 * probs).sum()
    m4 = ((values - mean) ** 4 * probs).sum()
    torch.manual_seed(SEED)
    draws = values[Categorical(probs).sample((INVESTMENT_DRAWS,))]
    return {
        "values": INVESTMENT_VALUES, "probs": INVESTMENT_PROBS,
        "mean": mean.item(), "variance": variance.item(),
        "variance_from_second_moment": ((values**2 * probs).sum() - mean**2).item(),
        "fourth_central_moment": m4.item(),
        "draws": INVESTMENT_DRAWS,
        "sample_mean": draws.mean().item(),
        "sample_variance": draws.var(unbiased=False).item(),
    }


def hiv_tests() -> dict[str, Any]:
    """2.6.5: the posterior after one positive test, and after two (conditionally independent) positive tests."""
    p_h1 = torch.tensor(P_H1, dtype=torch.float64)
    p1_h1, p1_h0 = (torch.tensor(TEST1[k], dtype=torch.float64) for k in ("p_pos_given_h1", "p_pos_given_h0"))
    p2_h1, p2_h0 = (torch.tensor(TEST2[k], dtype=torch.float64) for k in ("p_pos_given_h1", "p_pos_given_h0"))
    p_d1 = p1_h1 * p_h1 + p1_h0 * (1 - p_h1)
    p_d1_d2 = p1_h1 * p2_h1 * p_h1 + p1_h0 * p2_h0 * (1 - p_h1)
    return {
        "p_h1": P_H1, "test1": TEST1, "test2": TEST2,
        "p_d1": p_d1.item(), "posterior_one_test": (p1_h1 * p_h1 / p_d1).item(),
        "p_d1_d2": p_d1_d2.item(), "posterior_two_tests": (p1_h1 * p2_h1 * p_h1 / p_d1_d2).item(),
    }


def repeated_estimates() -> dict[str, Any]:
    """Exercise 3: REPEATS independent running estimates; their spread at each checkpoint and how often they
    stray k standard deviations from 1/2."""
    torch.manual_seed(SEED)
    heads = Multinomial(1, torch.tensor([0.5, 0.5])).sample((REPEATS, MANY_TOSSES))[..., 0]
    at = torch.tensor(REPEAT_CHECKPOINTS) - 1
    estimates = (heads.cumsum(dim=1) / torch.arange(1, MANY_TOSSES + 1))[:, at].double()
    sigma = torch.sqrt(torch.tensor(0.25, dtype=torch.float64) / torch.tensor(REPEAT_CHECKPOINTS))
    stray = torch.stack([((estimates - 0.5).abs() >= k * sigma).double().mean(dim=0) for k in DEVIATIONS])
    return {
        "repeats": REPEATS, "checkpoints": REPEAT_CHECKPOINTS, "deviations": DEVIATIONS,
        "mean": estimates.mean(dim=0).numpy(), "variance": estimates.var(dim=0).numpy(),
        "fraction_beyond_k_sigma": stray.numpy(),
    }


def coupled_tests() -> dict[str, Any]:
    """Exercise 7: the joint table of two coupled tests for a healthy patient, and the posteriors."""
    fp, fn, both = (torch.tensor(EX7[k], dtype=torch.float64) for k in ("false_positive", "false_negative",
                                                                        "both_positive_given_h0"))
    p_h1 = torch.tensor(EX7["p_h1"], dtype=torch.float64)
    # rows D1 = 0, 1; columns D2 = 0, 1
    table_h0 = torch.stack([torch.stack([1 - 2 * fp + both, fp - both]), torch.stack([fp - both, both])])
    tp = 1 - fn
    table_h1 = torch.outer(torch.stack([fn, tp]), torch.stack([fn, tp]))
    one = tp * p_h1 / (tp * p_h1 + fp * (1 - p_h1))
    two = table_h1[1, 1] * p_h1 / (table_h1[1, 1] * p_h1 + table_h0[1, 1] * (1 - p_h1))
    return {**EX7, "table_h0": table_h0.numpy(), "table_h1": table_h1.numpy(),
            "posterior_one_test": one.item(), "posterior_two_tests": two.item()}


def generate() -> dict[str, dict]:
    """The 2.6 reference files: {file name: data}."""
    return {
        "ch2_6_probability": {"coins": coins(), "die": die(), "investment": investment(), "hiv": hiv_tests()},
        "ch2_6_probability_exercises": {"repeated": repeated_estimates(), "coupled_tests": coupled_tests()},
    }
