"""Book bands: d2l's own runs, with jaxdl's random numbers, against the spread of PyTorch's seeds.

No two random number generators draw alike, so d2l's runs (fresh data, initial parameters and minibatch
orders from jaxdl's keys) cannot match PyTorch's number for number. Each experiment instead trains several
jaxdl keys and checks one rule, written here once:

    the mean of the jaxdl keys' numbers lies in [min - w, max + w] of the PyTorch seeds' numbers,

where w is the experiment's margin from its TOLERANCES table, either a fixed width (``margin=``: an accuracy
point, a loss) or a number of the seeds' standard deviations (``sds=``, ddof=1). The mean of n keys varies
sqrt(n) times less than one key, so it lands inside unless jaxdl's runs really differ from PyTorch's; the
row still says how many keys lie inside alone (Result.within_mean).

One experiment decides otherwise, and says why in its module: 5.7 checks each jaxdl key alone
(`check_one`), each key being a whole K-fold run against a band 2.5 seed standard deviations wide.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.harness.references import Comparison
from experiments.harness.result import Result


def band(seeds: Any, *, margin: float | None = None, sds: float | None = None) -> tuple[float, float]:
    """[min - w, max + w] over the PyTorch seeds' values: w = margin, or w = sds standard deviations of the
    seeds (ddof=1). Give exactly one of margin= and sds=."""
    if (margin is None) == (sds is None):
        raise ValueError("a band is widened by margin= or by sds=, exactly one of them")
    seeds = np.asarray(seeds, np.float64)
    width = margin if sds is None else sds * seeds.std(ddof=1)
    return float(seeds.min() - width), float(seeds.max() + width)


def check_mean(result: Result, quantity: str, values: Any, seeds: Any, *, reference: str,
               margin: float | None = None, sds: float | None = None) -> Comparison:
    """Adds the book row: the mean of the jaxdl keys' values inside the seeds' band (see band)."""
    low, high = band(seeds, margin=margin, sds=sds)
    return result.within_mean(quantity, np.asarray(values), low, high, reference=reference)


def check_one(result: Result, quantity: str, value: float, seeds: Any, *, reference: str,
              margin: float | None = None, sds: float | None = None) -> Comparison:
    """Adds a row for one jaxdl key's value inside the seeds' band (5.7's rule, see the module docstring)."""
    low, high = band(seeds, margin=margin, sds=sds)
    return result.within(quantity, value, low, high, reference=reference)
