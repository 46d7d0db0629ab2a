"""d2l 4.3 The base classification model: accuracy of fixed predictions beside PyTorch's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness.result import Result, Tolerances, cli
from jaxdl import losses
from experiments.harness import references

SECTION = "4.3"
TITLE = "The base classification model"
REFERENCE = "ch4_3_base_classification"

# Every comparison of this experiment is exact.
TOLERANCES: Tolerances = {}


def random_predictions(seed: int) -> tuple[jax.Array, jax.Array]:
    """100 rows of N(0, 1) logits over 10 classes and uniform labels, drawn as the generator draws them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(100, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=100)
    return jnp.asarray(logits), jnp.asarray(labels, jnp.int32)


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    cases = {name: (jnp.asarray(ref[name]["Y_hat"], jnp.float32), jnp.asarray(ref[name]["Y"])) for name in ("book", "tie")}
    cases["random"] = random_predictions(ref["random"]["seed"])
    rows = []
    for name, (Y_hat, Y) in cases.items():
        preds = jnp.argmax(Y_hat, axis=1)
        result.compare(f"{name}: argmax predictions", preds, ref[name]["preds"])
        result.compare(f"{name}: correct (averaged=False)", losses.correct(Y_hat, Y), ref[name]["correct"])
        result.compare(f"{name}: accuracy", losses.accuracy(Y_hat, Y), ref[name]["accuracy"])
        rows.append(f"| {name} | {Y_hat.shape[0]} | {float(losses.accuracy(Y_hat, Y)):.4f} | {ref[name]['accuracy']:.4f} |")
    result.text(
        "| predictions | examples | jaxdl accuracy | PyTorch accuracy |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "d2l's `Classifier.accuracy` is `losses.accuracy` (the mean) and its `averaged=False` form is "
        "`losses.correct` (one 0/1 per example, so masked and weighted means stay possible). "
        "Ties go to the first maximum in both `jnp.argmax` and `torch.argmax`: the row [0.5, 0.5, 0] "
        "labelled 1 counts as wrong in both."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
