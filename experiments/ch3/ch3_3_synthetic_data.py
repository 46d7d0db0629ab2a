"""d2l 3.3 Synthetic regression data: y = Xw + b + noise from an explicit key, its minibatches, and its
statistics against PyTorch's within bounds set by the sample size (the two RNGs draw different numbers)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments.harness.result import Margin, Result, Tolerances, cli
from jaxdl import data
from experiments.harness import references

SECTION = "3.3"
TITLE = "Synthetic regression data"
REFERENCE = "ch3_3_synthetic_data"

TOLERANCES: Tolerances = {
    "standard errors": Margin(4.0, why="statistical bounds span Z = 4 standard errors: a correct generator fails one "
                                      "with a chance of about 6e-5"),
}

TRUE_W = (2.0, -3.4)
TRUE_B = 4.2
NOISE = 0.01
BATCH_SIZE = 32
Z = TOLERANCES["standard errors"].value


def sample_statistics(X: jax.Array, residual: jax.Array) -> dict[str, jax.Array]:
    """Means and unbiased variances (torch.var's default, ddof=1) of X's columns and of the noise."""
    return {"X_mean": X.mean(axis=0), "X_var": X.var(axis=0, ddof=1),
            "residual_mean": residual.mean(), "residual_var": residual.var(ddof=1)}


def standard_errors(n: int, sigma: float) -> tuple[float, float]:
    """Standard errors of the mean and of the unbiased variance of n normal draws with std sigma."""
    return sigma / math.sqrt(n), sigma**2 * math.sqrt(2 / (n - 1))


def plot_noise(residual: np.ndarray, sigma: float):
    """Histogram of y - Xw - b beside the N(0, sigma^2) density it was drawn from."""
    fig, ax = plt.subplots(figsize=(3.5, 2.5))
    ax.hist(residual, bins=40, density=True, color="lightgray", label="y - Xw - b")
    grid = np.linspace(-4 * sigma, 4 * sigma, 200)
    ax.plot(grid, np.exp(-0.5 * (grid / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)), "m--",
            label=f"N(0, {sigma:g}^2)")
    ax.set_xlabel("noise")
    ax.legend(fontsize=7)
    return fig


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    key_data, key_batches = jax.random.split(jax.random.key(0))
    dataset = data.synthetic_regression(key_data, TRUE_W, TRUE_B, NOISE)
    X = jnp.concatenate([dataset.X_train, dataset.X_val])
    y = jnp.concatenate([dataset.y_train, dataset.y_val])
    w = jnp.asarray(TRUE_W).reshape(-1, 1)
    residual = y - X @ w - TRUE_B

    result.compare("X shape (train + val)", list(X.shape), ref["X_shape"])
    result.compare("y shape (train + val)", list(y.shape), ref["y_shape"])
    result.text(f"features: {np.asarray(X[0])}\n\nlabel: {np.asarray(y[0])}\n\n"
                f"(PyTorch, torch.manual_seed(0): features {ref['features_0']}, label {ref['label_0']}; "
                "different generators draw different numbers, so only the relation y = Xw + b + noise is checked.)")
    result.within("first example: y - Xw - b (noise, std 0.01)", float(residual[0, 0]), -Z * NOISE, Z * NOISE)

    batches = list(data.minibatches(key_batches, dataset.X_train, dataset.y_train, BATCH_SIZE))
    X_batch, y_batch = batches[0]
    result.compare("first minibatch X shape", list(X_batch.shape), ref["batch_X_shape"])
    result.compare("first minibatch y shape", list(y_batch.shape), ref["batch_y_shape"])
    sizes = [int(X_b.shape[0]) for X_b, _ in batches]
    result.compare("minibatch sizes (as len(train_dataloader()) batches)", sizes, ref["batch_sizes"])
    result.compare("number of training minibatches, ceil(1000 / 32)", len(sizes), ref["num_train_batches"])

    idx, mask = data.batch_indices(key_batches, dataset.X_train.shape[0], BATCH_SIZE)
    result.compare("batch plan: examples per minibatch (mask sums)", mask.sum(axis=1).astype(int), ref["batch_sizes"])
    used = np.sort(np.asarray(idx)[np.asarray(mask) > 0])
    result.compare("batch plan: every training example exactly once", used, np.arange(dataset.X_train.shape[0]))
    val_idx, _ = data.batch_indices(None, dataset.X_val.shape[0], BATCH_SIZE, shuffle=False)
    result.compare("number of validation minibatches (unshuffled)", val_idx.shape[0], ref["num_val_batches"])

    n = X.shape[0]
    ours = sample_statistics(X, residual)
    # Two independent samples of the same size: their difference has sqrt(2) times one standard error.
    for name, sigma in (("X", 1.0), ("residual", NOISE)):
        se_mean, se_var = standard_errors(n, sigma)
        result.compare(f"{name} mean vs PyTorch's (n = {n})", ours[f"{name}_mean"], ref[f"{name}_mean"],
                       atol=Z * math.sqrt(2) * se_mean)
        result.compare(f"{name} variance vs PyTorch's", ours[f"{name}_var"], ref[f"{name}_var"],
                       atol=Z * math.sqrt(2) * se_var)
        result.compare(f"{name} mean vs 0", ours[f"{name}_mean"], np.zeros_like(ours[f"{name}_mean"]),
                       atol=Z * se_mean)
        result.compare(f"{name} variance vs {sigma**2:g}", ours[f"{name}_var"],
                       np.full_like(ours[f"{name}_var"], sigma**2), atol=Z * se_var)
    result.text(
        f"Tolerances: {Z:g} standard errors for n = {n} normal draws; the standard error of a mean is "
        "sigma / sqrt(n), of an unbiased variance sigma^2 sqrt(2 / (n - 1)); jaxdl minus PyTorch has sqrt(2) times "
        "that. The noise-free residual y - Xw - b is the noise itself (float32 rounding of Xw + b, ~5e-7, is "
        "far below its std 0.01)."
    )
    result.save_figure(plot_noise(np.asarray(residual).ravel(), NOISE), "noise_histogram.png")


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
