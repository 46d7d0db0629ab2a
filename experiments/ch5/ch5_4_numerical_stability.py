"""d2l 5.4 Numerical stability and initialisation: vanishing sigmoid gradients, an exploding product of
matrices, Xavier initialisation and the symmetry of equal weights, beside PyTorch."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from experiments.harness.result import Margin, Result, Tolerance, Tolerances, cli
from jaxdl import initializers, models, nn, plotting
from experiments.harness import references
from experiments.ch5.mlp import dense_layers, mlp_params
from experiments.ch5.stability import running_product
from jaxdl.losses import softmax_cross_entropy
from jaxdl.optimizers import sgd_update

SECTION = "5.4"
TITLE = "Numerical stability and initialisation"
REFERENCE = "ch5_4_numerical_stability"

GRID = (-8.0, 8.0, 0.1)  # d2l: torch.arange(-8.0, 8.0, 0.1)
SIZE, NUM_PRODUCTS = 4, 100  # d2l: a 4x4 N(0, 1) matrix times 100 more
NUM_CHAINS = 400  # own draws, as many as the stored PyTorch seeds
XAVIER_SHAPE = (256, 784)  # nn.Linear(784, 256).weight, the first layer of d2l 5.2's MLP
TRUNCATION = 2.0  # jax's truncated_normal cuts the underlying normal at +-2 of its standard deviations

# Every tolerance of this experiment, with its reason.
TOLERANCES: Tolerances = {
    "grid": Tolerance(atol=2e-6, why="float32 arange: each library rounds start + i * step its own way; one "
                      "ulp near 8 is 9.5e-7 (measured 9.5e-7)"),
    "sigmoid": Tolerance(rtol=1e-6, atol=1e-7, why="not bit-exact: at 2 of the 160 grid points XLA's float32 sigmoid "
                         "and its derivative are one ulp away from PyTorch's (measured 1.9e-9 absolute); the others "
                         "are identical"),
    "product": Tolerance(rtol=1e-5, why="100 chained float32 4x4 matmuls; each library sums the 4 products in its own "
                         "order, and the rounding compounds step by step (measured worst 2e-6 relative)"),
    "replay_grads": Tolerance(rtol=1e-5, atol=1e-8, why="gradients at init of the small MLP, float32 (atol for entries "
                              "that are 0 up to rounding)"),
    "replay_losses": Tolerance(rtol=1e-4, why="the project's per-step replay tolerance"),
    "replay_params": Tolerance(atol=1e-5, why="final parameters after 30 replayed SGD steps, float32"),
    "symmetry": Tolerance(atol=1e-7, why="units that start equal stay equal in exact arithmetic; in float32 a matmul "
                          "kernel may take some rows down another code path and round them apart: PyTorch's fifth "
                          "row (6e-8), jaxlib 0.10.0's CPU dot (3e-8); 0 on jaxlib 0.10.2. A random init spreads them "
                          "by more than 0.1"),
    "float64": Tolerance(rtol=1e-12, why="the Xavier bound sqrt(6 / (fan_in + fan_out)) in Python floats on both "
                         "sides: float64 rounding only"),
    "sampling_z": Margin(4.0, why="different generators: two correct samplers differ by more than 4 standard errors "
                         "with probability 6e-5 per row (normal approximation to the sampling distribution)"),
}
SAMPLING_Z = TOLERANCES["sampling_z"].value


# --- 5.4.1.1 vanishing gradients --------------------------------------------------------------------


def sigmoid_and_gradient(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """sigmoid(x) and its derivative at every point, from jax.grad of the scalar function."""
    return jax.vmap(jax.value_and_grad(jax.nn.sigmoid))(x)


# --- 5.4.1.2 exploding gradients --------------------------------------------------------------------


def frobenius_norms(matrices: np.ndarray) -> np.ndarray:
    """Frobenius norms in float64 (float32 squares of entries near 1e24 overflow)."""
    m = np.asarray(matrices, np.float64)
    return np.sqrt((m**2).sum(axis=(-2, -1)))


@jax.jit
def product_of_random_matrices(key: jax.Array) -> jax.Array:
    """d2l's loop with JAX's generator: a fresh N(0, 1) 4x4 matrix per step, each from its own key."""
    matrices = jax.random.normal(key, (NUM_PRODUCTS + 1, SIZE, SIZE))
    return jax.lax.scan(lambda M, A: (M @ A, None), matrices[0], matrices[1:])[0]


def own_chains(key: jax.Array, num_chains: int) -> np.ndarray:
    """log10 of the final product's Frobenius norm for num_chains independent chains."""
    products = jax.vmap(product_of_random_matrices)(jax.random.split(key, num_chains))
    return np.log10(frobenius_norms(products))


# --- 5.4.2 Xavier initialisation --------------------------------------------------------------------


@partial(jax.jit, static_argnames="distribution")
def draw_xavier(key: jax.Array, distribution: initializers.Distribution) -> jax.Array:
    """One (256, 784) Xavier weight matrix; "truncated_normal" is jax.nn.initializers.glorot_normal."""
    return initializers.xavier(distribution)(key, XAVIER_SHAPE)


def statistics(w: jax.Array) -> dict[str, float]:
    """Mean, variance, fourth central moment and max |w| of the draws (float64)."""
    x = np.asarray(w, np.float64).ravel()
    centred = x - x.mean()
    return {"n": x.size, "mean": x.mean(), "var": (centred**2).mean(), "m4": (centred**4).mean(),
            "max_abs": np.abs(x).max()}


def mean_bound(ours: dict, theirs: dict) -> float:
    """SAMPLING_Z standard errors of the difference of two sample means."""
    return SAMPLING_Z * math.sqrt(ours["var"] / ours["n"] + theirs["var"] / theirs["n"])


def variance_bound(*samples: dict) -> float:
    """SAMPLING_Z standard errors of a sample variance (or of the difference of two): sqrt((m4 - var^2) / n)."""
    return SAMPLING_Z * math.sqrt(sum((s["m4"] - s["var"] ** 2) / s["n"] for s in samples))


def cdf_z_scores(cdf: np.ndarray, p: np.ndarray, n: int, samples: int = 1) -> np.ndarray:
    """(empirical CDF - p) in standard errors sqrt(samples p (1 - p) / n); samples=2 when the points are
    themselves quantiles estimated from another sample of the same size. Where p is 0 or 1 the CDF must be too."""
    diff = np.asarray(cdf, np.float64) - p
    se = np.sqrt(samples * p * (1 - p) / n)
    return np.divide(diff, se, out=np.where(diff == 0, 0.0, np.inf), where=se > 0)


def empirical_cdf(w: jax.Array, points: np.ndarray) -> np.ndarray:
    """The fraction of draws at or below each point."""
    x = np.sort(np.asarray(w, np.float64).ravel())
    return np.searchsorted(x, points, side="right") / x.size


def truncated_normal_cdf(points: np.ndarray, std: float) -> np.ndarray:
    """CDF of jax's truncated normal with variance std^2: N(0, s^2) cut at +-2s, s = std / sqrt(c)."""
    Phi = np.vectorize(lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2))))
    a = TRUNCATION
    # variance of a standard normal cut at +-a, by which jax divides the underlying scale
    c = 1 - 2 * a * math.exp(-a * a / 2) / math.sqrt(2 * math.pi) / (Phi(a) - Phi(-a))
    s = std / math.sqrt(c)
    return np.clip((Phi(np.asarray(points) / s) - Phi(-a)) / (Phi(a) - Phi(-a)), 0.0, 1.0), s


def compare_xavier(result: Result, label: str, w: jax.Array, theirs: dict, levels: np.ndarray,
                   variance: float) -> dict:
    """Mean, variance and CDF at PyTorch's quantiles, within the sampling error; variance against theory."""
    ours = statistics(w)
    result.compare(f"{label}: mean", ours["mean"], theirs["mean"], atol=mean_bound(ours, theirs))
    result.compare(f"{label}: variance", ours["var"], theirs["var"], atol=variance_bound(ours, theirs))
    result.compare(f"{label}: variance vs 2 / (fan_in + fan_out)", ours["var"], variance,
                   atol=variance_bound(ours))
    cdf = empirical_cdf(w, np.asarray(theirs["quantiles"]))
    result.compare(f"{label}: CDF at PyTorch's quantiles, in standard errors", cdf_z_scores(cdf, levels, ours["n"], 2),
                   np.zeros_like(levels), atol=SAMPLING_Z)
    return ours


# --- 5.4.2.3 symmetry --------------------------------------------------------------------------------


# Sequential(Linear, Sigmoid, Linear); the apply reads the layer sizes from the params it is given.
SIGMOID_MLP = models.mlp(activation=nn.sigmoid)


def to_params(torch_named: dict[str, Any]) -> tuple:
    """PyTorch's named parameters of Sequential(Linear, Sigmoid, Linear) as models.mlp's params
    ``((), l0, (), l1)`` (PyTorch's 0.* is l0, its 2.* is l1)."""
    return mlp_params([{"W": jnp.asarray(torch_named[f"{i}.weight"], jnp.float32),
             "b": jnp.asarray(torch_named.get(f"{i}.bias", np.zeros(len(torch_named[f"{i}.weight"]))), jnp.float32)}
            for i in (0, 2)])


def mlp_loss(params: tuple, X: jax.Array, y: jax.Array) -> jax.Array:
    """Mean cross-entropy of the one-hidden-layer sigmoid MLP."""
    return softmax_cross_entropy(SIGMOID_MLP(params, X), y).mean()


@partial(jax.jit, static_argnames="steps")
def train(params: tuple, X: jax.Array, y: jax.Array, lr: float, steps: int):
    """Full-batch SGD: the loss before each step, the first step's gradients and the final parameters."""

    def step(params, _):
        loss, grads = jax.value_and_grad(mlp_loss)(params, X, y)
        return sgd_update(params, grads, lr), (loss, grads)

    params, (losses, grads) = jax.lax.scan(step, params, None, length=steps)
    return losses, jax.tree.map(lambda g: g[0], grads), params


def row_spread(W: jax.Array | np.ndarray, axis: int = 0) -> float:
    """The largest difference of any row (axis 0) or column (axis 1) from the first one: 0 when all are equal."""
    W = np.asarray(W, np.float64)
    first = W[:1] if axis == 0 else W[:, :1]
    return float(np.abs(W - first).max())


def replay(result: Result, label: str, init: dict, theirs: dict, X: jax.Array, y: jax.Array, sym: dict):
    """One run of the small MLP from PyTorch's initial weights, compared step by step; returns jaxdl's run."""
    losses, grads, params = train(to_params(init), X, y, sym["lr"], sym["steps"])
    grads, params = dense_layers(grads), dense_layers(params)
    theirs_grads, theirs_params = dense_layers(to_params(theirs["grads"])), dense_layers(to_params(theirs["params"]))
    for i in range(len(params)):
        for name in ("W", "b"):
            result.compare(f"{label}: grad {name}{i + 1} at init", grads[i][name], theirs_grads[i][name],
                           tol=TOLERANCES["replay_grads"])
            result.compare(f"{label}: {name}{i + 1} after {sym['steps']} steps", params[i][name],
                           theirs_params[i][name], tol=TOLERANCES["replay_params"])
    result.compare(f"{label}: loss at each of {sym['steps']} steps", losses, theirs["losses"], tol=TOLERANCES["replay_losses"])
    return losses, grads, params


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    key_chains, key_uniform, key_normal = jax.random.split(jax.random.key(54), 3)

    # Vanishing gradients.
    x = jnp.asarray(ref["sigmoid"]["x"], jnp.float32)
    result.compare("x = arange(-8, 8, 0.1)", jnp.arange(*GRID), x, tol=TOLERANCES["grid"])
    y, dy = sigmoid_and_gradient(x)
    result.compare("sigmoid(x)", y, ref["sigmoid"]["y"], tol=TOLERANCES["sigmoid"])
    result.compare("d sigmoid / dx (autograd)", dy, ref["sigmoid"]["grad"], tol=TOLERANCES["sigmoid"])
    fig = plt.figure(figsize=(4.5, 2.5))
    plotting.plot(x, [y, dy], legend=["sigmoid", "gradient"], axes=fig.gca())
    result.save_figure(fig, "sigmoid_gradient.png")
    small = np.abs(np.asarray(x))[np.asarray(dy) < 1e-3]
    result.text(
        f"The sigmoid's gradient is at most {float(dy.max()):.4f} (at x = 0) and below 1e-3 for |x| >= "
        f"{small.min():.1f}: a product of such factors across layers vanishes. jaxdl takes it with "
        "`jax.vmap(jax.grad(jax.nn.sigmoid))`, d2l with `y.backward(torch.ones_like(x))`."
    )

    # Exploding products: the same NumPy matrices in both libraries, then each library's own draws.
    product = ref["product"]
    matrices = jnp.asarray(product["matrices"], jnp.float32)
    steps = running_product(matrices)
    M = steps[-1]
    result.compare(f"product of {NUM_PRODUCTS + 1} NumPy-drawn 4x4 matrices", M, product["product"], tol=TOLERANCES["product"])
    result.compare("Frobenius norm after each multiplication", frobenius_norms(steps), product["norms"],
                   tol=TOLERANCES["product"])
    draws = ref["own_draws"]
    chains = draws["seeds"] // 4 if fast else NUM_CHAINS
    logs = own_chains(key_chains, chains)
    se = math.sqrt(logs.var(ddof=1) / chains + draws["std"] ** 2 / draws["seeds"])
    result.compare(f"mean log10 |M| over {chains} chains (own draws)", logs.mean(), draws["mean"],
                   atol=SAMPLING_Z * se)
    # Lyapunov exponent of products of n x n standard normal matrices (Newman 1986): (ln 2 + digamma(n/2)) / 2.
    lyapunov = 0.5 * (math.log(2) + (1 - 0.5772156649015329))  # digamma(2) = 1 - Euler's gamma
    result.text(
        f"After {NUM_PRODUCTS} multiplications the entries are of order {np.abs(np.asarray(M)).max():.3g} (PyTorch, "
        f"same matrices: {np.abs(np.asarray(product['product'])).max():.3g}). Over {chains} chains from JAX keys, "
        f"log10 of the final norm averages {logs.mean():.2f} (sd {logs.std(ddof=1):.2f}); PyTorch's {draws['seeds']} "
        f"seeds of d2l's own loop give {draws['mean']:.2f} (sd {draws['std']:.2f}). The norm grows by "
        f"e^{np.log(10) * logs.mean() / NUM_PRODUCTS:.3f} per multiplication, near the theoretical Lyapunov exponent "
        f"e^{lyapunov:.3f} of 4x4 Gaussian products. Float32 overflows at 3.4e38: about "
        f"{int(38 / (lyapunov / math.log(10)))} multiplications. The squares of such entries already overflow, so "
        "the norms here are taken in float64."
    )

    # Xavier initialisation.
    xav = ref["xavier"]
    fan_in, fan_out = xav["fan_in"], xav["fan_out"]
    variance = 2.0 / (fan_in + fan_out)
    result.compare("fan_in, fan_out of nn.Linear(784, 256).weight", [XAVIER_SHAPE[1], XAVIER_SHAPE[0]],
                   [fan_in, fan_out])
    levels = np.asarray(xav["quantile_levels"])
    W_uniform = draw_xavier(key_uniform, "uniform")
    compare_xavier(result, "glorot_uniform vs xavier_uniform_", W_uniform, xav["uniform"], levels, variance)
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    result.compare("uniform bound sqrt(6 / (fan_in + fan_out))", bound, xav["uniform_bound"], tol=TOLERANCES["float64"])
    result.compare("max |w| <= bound (jaxdl, PyTorch)",
                   [float(jnp.abs(W_uniform).max()) <= bound, xav["uniform"]["max_abs"] <= bound], [True, True])
    W_normal = draw_xavier(key_normal, "normal")
    compare_xavier(result, "variance_scaling normal vs xavier_normal_", W_normal, xav["normal"], levels, variance)
    W_glorot = draw_xavier(key_normal, "truncated_normal")
    result.compare("jaxdl.initializers.xavier draws = jax's glorot_uniform, glorot_normal (same key)",
                   [W_uniform, W_glorot], [jax.nn.initializers.glorot_uniform()(key_uniform, XAVIER_SHAPE),
                                           jax.nn.initializers.glorot_normal()(key_normal, XAVIER_SHAPE)])
    ours = statistics(W_glorot)
    result.compare("glorot_normal: variance vs xavier_normal_", ours["var"], xav["normal"]["var"],
                   atol=variance_bound(ours, xav["normal"]))
    points = np.asarray(xav["normal"]["quantiles"])
    theory, s = truncated_normal_cdf(points, math.sqrt(variance))
    plain = empirical_cdf(W_glorot, points)
    result.compare("glorot_normal: CDF vs truncated normal at PyTorch's quantiles, in standard errors",
                   cdf_z_scores(plain, theory, ours["n"]), np.zeros_like(theory), atol=SAMPLING_Z)
    result.compare("glorot_normal: max |w| <= 2 s (truncation)", bool(ours["max_abs"] <= TRUNCATION * s), True)
    result.text(
        f"Xavier's variance is 2 / (fan_in + fan_out) = {variance:.6f} for a {fan_out}x{fan_in} layer. "
        "`jax.nn.initializers.glorot_uniform` is `torch.nn.init.xavier_uniform_` (same U(-a, a), a = "
        f"{bound:.5f}). `glorot_normal` is not `xavier_normal_`: it draws a normal truncated at two of its "
        f"standard deviations and rescales it to the same variance, so no weight exceeds {TRUNCATION * s:.4f} "
        f"(PyTorch's largest: {xav['normal']['max_abs']:.4f}), and the fraction below PyTorch's 0.1% quantile is "
        f"{plain[0]:.5f}, not 0.001. `variance_scaling(1.0, 'fan_avg', 'normal')` is the plain normal that "
        "matches `xavier_normal_` (rows above); `jaxdl.initializers.xavier` names the three. jaxdl stores W as "
        "(outputs, inputs) like nn.Linear, so it passes in_axis=-1, out_axis=-2 (jax's default axes are for "
        "(inputs, outputs) kernels; for Xavier's fan_avg the sum is the same either way)."
    )

    # Symmetry.
    sym = ref["symmetry"]
    X, yy = jnp.asarray(sym["X"], jnp.float32), jnp.asarray(sym["y"])
    _, grads, params = replay(result, "equal init", sym["constant_init"], sym["constant_run"], X, yy, sym)
    _, _, random_params = replay(result, "random init", sym["random_init"], sym["random_run"], X, yy, sym)
    spreads = [row_spread(grads[0]["W"]), row_spread(params[0]["W"]), row_spread(params[1]["W"], axis=1)]
    result.compare("equal init, jaxdl: spread of hidden units (grad W1 rows, W1 rows, W2 columns after training)",
                   spreads, [0.0, 0.0, 0.0], tol=TOLERANCES["symmetry"])
    theirs = sym["constant_run"]
    torch_spreads = [row_spread(theirs["grads"]["0.weight"]), row_spread(theirs["params"]["0.weight"]),
                     row_spread(theirs["params"]["2.weight"], axis=1)]
    result.text(
        f"With every first-layer weight equal to {sym['constant']} and every hidden unit sending the same weights "
        "on, the hidden units compute the same function, receive the same gradient and stay identical after "
        f"{sym['steps']} SGD steps: in jaxdl to rounding (spreads {spreads}; bit for bit on jaxlib 0.10.2, "
        f"within 3e-8 on jaxlib 0.10.0). In PyTorch too: spreads {', '.join(f'{s:.2g}' for s in torch_spreads)} (its matmul kernel handles the fifth row "
        "apart from the first four), a difference SGD does not amplify here. The network behaves as if it had "
        f"one hidden unit. From a random init the units drift apart: W1's rows differ by up to "
        f"{row_spread(random_params[0]['W']):.3f}."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
