"""d2l 5.4 exercises: linear and softmax regression from all-equal weights (exercise 2), and bounds on the
singular values and eigenvalues of a product of matrices (exercise 3), beside PyTorch."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments.ch5.stability import running_product
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import nn, plotting
from experiments.harness import references
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn import Params
from jaxdl.optimizers import sgd_update

SECTION = "5.4"
TITLE = "Numerical stability and initialisation: exercises"
REFERENCE = "ch5_4_numerical_stability_exercises"

# Every tolerance of this experiment, with its reason.
TOLERANCES: Tolerances = {
    "replay_losses": Tolerance(rtol=1e-4, why="the project's per-step replay tolerance"),
    "replay_params": Tolerance(atol=1e-5, why="final parameters after 50 replayed SGD steps, float32"),
    "singular_values": Tolerance(rtol=1e-5, atol=1e-5, why="float32 SVD/eigenvalues of 4x4 matrices by two "
                                 "LAPACK-style routines: agree to a few ulp of the largest value"),
    "log10_cond": Tolerance(atol=0.01, why="condition number of the running float32 product while it is below "
                            "COND_EXACT: the smallest singular value then carries a relative rounding error under "
                            "cond * 6e-8 < 0.6% (0.003 in log10); beyond ~1e7 it is rounding noise in either library "
                            "and is not compared"),
}


COND_EXACT = 1e5  # compare the running product's condition number while it is below this
COND_CAPPED = 1e6  # and the step at which each library's first exceeds this


# --- Exercise 2: can linear or softmax regression start from all-equal weights? ------------------------


def mse(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """nn.MSELoss: the mean of (y_hat - y)^2, without d2l's 1/2."""
    return jnp.mean((y_hat - y.reshape(y_hat.shape)) ** 2)


def softmax_loss(logits: jax.Array, y: jax.Array) -> jax.Array:
    """nn.CrossEntropyLoss: mean cross-entropy from logits."""
    return softmax_cross_entropy(logits, y).mean()


def equal_init(num_inputs: int, num_outputs: int, constant: float) -> Params:
    """A dense layer whose weights all equal `constant`, bias zero."""
    return {"W": jnp.full((num_outputs, num_inputs), constant, jnp.float32), "b": jnp.zeros(num_outputs)}


@partial(jax.jit, static_argnames=("loss", "steps"))
def train(params: Params, X: jax.Array, y: jax.Array, loss, lr: float, steps: int):
    """Full-batch SGD on a dense layer: the loss before each step and the final parameters."""

    def step(params, _):
        dense = nn.linear(params["W"].shape[0])  # its apply: X @ W.T + b
        value, grads = jax.value_and_grad(lambda p: loss(dense(p, X), y))(params)
        return sgd_update(params, grads, lr), value

    params, losses = jax.lax.scan(step, params, None, length=steps)
    return losses, params


def exercise_equal_init(result: Result, ref: dict) -> None:
    X = jnp.asarray(ref["X"], jnp.float32)
    runs = {}
    for name, loss, y, outputs in (("linear", mse, jnp.asarray(ref["y_linear"], jnp.float32), 1),
                                   ("softmax", softmax_loss, jnp.asarray(ref["y_softmax"]), 4)):
        theirs = ref[name]
        losses, params = train(equal_init(X.shape[1], outputs, ref["constant"]), X, y, loss, ref["lr"], ref["steps"])
        result.compare(f"{name}: loss at each of {ref['steps']} steps", losses, theirs["losses"], tol=TOLERANCES["replay_losses"])
        result.compare(f"{name}: W after training", params["W"], theirs["params"]["weight"], tol=TOLERANCES["replay_params"])
        result.compare(f"{name}: b after training", params["b"], theirs["params"]["bias"], tol=TOLERANCES["replay_params"])
        runs[name] = (losses, params)
    # The least-squares optimum the linear run heads for (lstsq with a column of ones for the bias).
    A = np.hstack([np.asarray(ref["X"], np.float64), np.ones((len(ref["X"]), 1))])
    coef, *_ = np.linalg.lstsq(A, np.asarray(ref["y_linear"], np.float64), rcond=None)
    best = float(np.mean((A @ coef - np.asarray(ref["y_linear"])) ** 2))
    fig = plt.figure(figsize=(4.5, 2.5))
    plotting.plot([runs["linear"][0], runs["softmax"][0]], xlabel="step", ylabel="loss",
                  legend=["linear (MSE)", "softmax (cross-entropy)"], yscale="log", axes=fig.gca())
    result.save_figure(fig, "equal_init_losses.png")
    W_lin, W_soft = np.asarray(runs["linear"][1]["W"]), np.asarray(runs["softmax"][1]["W"])
    result.text(
        f"Exercise 2. Yes: with every weight at {ref['constant']}, linear regression's weights part after one step "
        f"(after {ref['steps']}: from {W_lin.min():.3f} to {W_lin.max():.3f}) because each weight's gradient is the "
        "error times its own input column, and the columns differ. Its loss falls from "
        f"{float(runs['linear'][0][0]):.3f} to {float(runs['linear'][0][-1]):.4f} (least-squares optimum {best:.4f}). "
        "Softmax regression's class rows part too (each class's gradient weighs the inputs by p_k - y_k, which "
        f"differs by class): its rows differ by up to {np.abs(W_soft - W_soft[:1]).max():.3f}. Symmetry needs "
        "interchangeable units whose gradients are the same function of the same inputs: hidden units of an "
        "MLP, not the weights of a single linear layer."
    )


# --- Exercise 3: bounds on the spectra of a product ---------------------------------------------------


@jax.jit
def spectra(A: jax.Array, B: jax.Array) -> dict[str, jax.Array]:
    """Singular values (descending) and eigenvalue magnitudes of A, B and AB, batched over pairs."""
    AB = A @ B
    svd = lambda M: jnp.linalg.svd(M, compute_uv=False)  # noqa: E731
    eig_abs = lambda M: jnp.abs(jnp.linalg.eigvals(M))  # noqa: E731
    return {"svd_A": svd(A), "svd_B": svd(B), "svd_AB": svd(AB),
            "eig_abs_A": eig_abs(A), "eig_abs_B": eig_abs(B), "eig_abs_AB": eig_abs(AB)}


def log10_condition(products: jax.Array) -> np.ndarray:
    """log10 of sigma_max / sigma_min of each matrix, the SVD taken in float64 by NumPy."""
    s = np.linalg.svd(np.asarray(products, np.float64), compute_uv=False)
    return np.log10(s[:, 0] / s[:, -1])


def exercise_bounds(result: Result, ref: dict, matrices: jax.Array) -> None:
    ours = spectra(matrices[:-1], matrices[1:])
    for name in ("svd_A", "svd_B", "svd_AB"):
        result.compare(f"singular values of {name[4:]} (100 pairs)", ours[name], ref[name], tol=TOLERANCES["singular_values"])
    for name in ("eig_abs_A", "eig_abs_B", "eig_abs_AB"):
        # eigvals' order is unspecified: compare each matrix's sorted magnitudes
        result.compare(f"|eigenvalues| of {name[8:]}, sorted", np.sort(ours[name], axis=1), np.sort(ref[name], axis=1),
                       tol=TOLERANCES["singular_values"])
    s = {k: np.asarray(v, np.float64) for k, v in ours.items()}
    top = s["svd_AB"][:, 0] / (s["svd_A"][:, 0] * s["svd_B"][:, 0])
    bottom = s["svd_AB"][:, -1] / (s["svd_A"][:, -1] * s["svd_B"][:, -1])
    radius = s["eig_abs_AB"].max(1) / (s["eig_abs_A"].max(1) * s["eig_abs_B"].max(1))
    # Rounding allowance of one float32 ulp on the ratio.
    result.compare("sigma_max(AB) <= sigma_max(A) sigma_max(B), all pairs", bool((top <= 1 + 1e-6).all()), True)
    result.compare("sigma_min(AB) >= sigma_min(A) sigma_min(B), all pairs", bool((bottom >= 1 - 1e-6).all()), True)
    exceed = int((radius > 1).sum())
    theirs = np.asarray(ref["eig_abs_AB"]).max(1) / (np.asarray(ref["eig_abs_A"]).max(1)
                                                      * np.asarray(ref["eig_abs_B"]).max(1))
    result.compare("pairs whose spectral radius exceeds the product of the factors'", exceed, int((theirs > 1).sum()))
    cond = log10_condition(running_product(matrices))
    theirs_cond = np.asarray(ref["log10_cond_running"])
    exact = theirs_cond < np.log10(COND_EXACT)
    n_exact = int(np.argmin(exact))  # the first step at or above COND_EXACT
    result.compare(f"log10 condition number of the running product, first {n_exact} steps", cond[:n_exact],
                   theirs_cond[:n_exact], tol=TOLERANCES["log10_cond"])
    result.compare(f"first step whose condition number exceeds {COND_CAPPED:g}",
                   int(np.argmax(cond > np.log10(COND_CAPPED))), int(np.argmax(theirs_cond > np.log10(COND_CAPPED))))
    bound = np.cumsum(log10_condition(matrices))
    fig = plt.figure(figsize=(4.5, 2.5))
    plotting.plot(np.arange(len(cond)), [cond, bound], "matrices multiplied", "log10 condition number",
                  legend=["product (float32)", "bound: sum over factors"], axes=fig.gca())
    result.save_figure(fig, "condition_number.png")
    result.text(
        "Exercise 3. Singular values bound a product: sigma_max(AB) <= sigma_max(A) sigma_max(B) and "
        "sigma_min(AB) >= sigma_min(A) sigma_min(B), so cond(AB) <= cond(A) cond(B); all 100 consecutive pairs of "
        f"d2l's matrices obey both (largest ratio {top.max():.4f}, smallest {bottom.min():.4f}). Eigenvalues give no "
        f"such bound: in {exceed} of the 100 pairs the spectral radius of AB exceeds the product of the factors' "
        f"(up to {radius.max():.2f} times). The running product's condition number grows with every factor until "
        f"float32 rounding takes over (beyond 1e7 the smallest singular value is rounding noise: jaxdl's and PyTorch's "
        f"then wander between 1e{min(cond[n_exact + 10:].min(), theirs_cond[n_exact + 10:].min()):.0f} and "
        f"1e{max(cond.max(), theirs_cond.max()):.0f}), far below the bound (1e{bound[-1]:.0f}): the product "
        "collapses towards rank one, the exploding direction swamps the others, and gradients through such a "
        "chain are ill-conditioned. Keeping each layer's singular values near 1 (the aim of Xavier-style "
        "initialisation, or of orthogonal matrices) is what keeps the product well conditioned."
    )


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    exercise_equal_init(result, ref["equal_init"])
    matrices = jnp.asarray(references.load("ch5_4_numerical_stability")["product"]["matrices"], jnp.float32)
    exercise_bounds(result, ref["bounds"], matrices)


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
