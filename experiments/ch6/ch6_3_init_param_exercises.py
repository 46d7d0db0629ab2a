"""d2l 6.3 exercise (more built-in initialisers): He/Kaiming normal and orthogonal initialisation in
jax.nn.initializers beside torch.nn.init's, on jaxdl's (outputs, inputs) weight layout."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch6 import sampling
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli

SECTION = "6.3"
TITLE = "Parameter initialization: exercises"
REFERENCE = "ch6_3_init_param_exercises"

TOLERANCES: Tolerances = {
    "sampling_z": sampling.SAMPLING_Z,
    "orthogonality": Tolerance(atol=1e-5, why="W W^T - I for an orthogonal (256, 512) float32 W: each entry a sum "
                                              "of 512 products rounded in float32, about sqrt(512) x 2^-24 ~ 1e-6 "
                                              "(torch's: 7e-7); a non-orthogonal draw is off by ~0.1"),
    "sum of squares": Tolerance(rtol=1e-5, why="256 orthonormal rows have mean square exactly 1/512 in exact "
                                               "arithmetic; float32 rounding of the rows and the 131072-term sum"),
}

inits = jax.nn.initializers
TRUNCATED_SCALE = 0.87962566103423978  # std of a standard normal truncated to [-2, 2], by which jax divides


def he_normal_torch_layout() -> inits.Initializer:
    """torch.nn.init.kaiming_normal_(mode='fan_in', nonlinearity='relu') on an (outputs, inputs) weight: a plain
    normal of variance 2 / fan_in, fan_in the last axis."""
    return inits.variance_scaling(2.0, "fan_in", "normal", in_axis=-1, out_axis=-2)


def run(result: Result, fast: bool) -> None:
    del fast
    ref = references.load(REFERENCE)
    shape = tuple(ref["shape"])
    fan_in = shape[1]
    k1, k2, k3 = jax.random.split(jax.random.key(631), 3)

    kaiming = ref["kaiming_normal"]
    ours = he_normal_torch_layout()(k1, shape)
    sampling.compare_distribution(result, "variance_scaling(2, fan_in, normal, in_axis=-1) vs kaiming_normal_",
                                  ours, kaiming, 2 / fan_in)
    jax_default = inits.he_normal()(k2, shape)
    stats = sampling.statistics(jax_default)
    result.compare("jax.nn.initializers.he_normal() on (out, in): variance vs 2 / shape[0] (z-score; fan-in "
                   "taken from axis -2)", sampling.variance_z(stats, variance=2 / shape[0]), 0.0,
                   atol=TOLERANCES["sampling_z"].value)
    ratio = stats["var"] / kaiming["var"]
    std = math.sqrt(2 / shape[0])
    result.compare("he_normal(): largest |w| / its std <= 2 / 0.8796 (a truncated normal); torch's exceeds it",
                   [stats["max_abs"] / std <= 2 / TRUNCATED_SCALE,
                    kaiming["max_abs"] / math.sqrt(2 / fan_in) > 2 / TRUNCATED_SCALE], [True, True])
    result.text(
        "He (Kaiming) initialisation. `torch.nn.init.kaiming_normal_(w, mode='fan_in', nonlinearity='relu')` "
        "draws N(0, 2 / fan_in) with fan_in = w.shape[1]. Its equivalent on jaxdl's (outputs, inputs) weights "
        "is `variance_scaling(2.0, 'fan_in', 'normal', in_axis=-1, out_axis=-2)`, which matches it within the "
        "sampling error (rows above). `jax.nn.initializers.he_normal()` is not it, twice over: it takes the "
        f"fan-in from axis -2 (flax's (inputs, outputs) kernels), here {shape[0]} instead of {fan_in}, so its "
        f"variance is {ratio:.3f} times torch's (it is 2 / {shape[0]} within the sampling error), and it draws "
        "a normal truncated at two of its underlying standard deviations, so no |w| exceeds "
        f"{2 / TRUNCATED_SCALE:.4f} of its std (ours: {stats['max_abs'] / std:.4f}; torch's plain normal "
        f"reaches {kaiming['max_abs'] / math.sqrt(2 / fan_in):.3f})."
    )

    orth = ref["orthogonal"]
    W = inits.orthogonal()(k3, shape)
    gram = W @ W.T
    result.compare("orthogonal(): W W^T = I (256 orthonormal rows)", gram, np.eye(shape[0]),
                   tol=TOLERANCES["orthogonality"])
    result.compare("orthogonal_ (torch): largest |W W^T - I| within the same bound", orth["gram_error"], 0.0,
                   tol=TOLERANCES["orthogonality"])
    result.compare("orthogonal(): mean square of the entries = 1 / 512 (torch's likewise)",
                   [float(jnp.mean(W.astype(jnp.float64) ** 2)), orth["var"] + orth["mean"] ** 2],
                   [1 / fan_in, 1 / fan_in], tol=TOLERANCES["sum of squares"])
    result.text(
        "Orthogonal initialisation. `jax.nn.initializers.orthogonal()` and `torch.nn.init.orthogonal_` both "
        f"give a {shape} weight with orthonormal rows (the most a wide matrix can have): W W^T = I to float32 "
        f"rounding (largest error: ours {float(jnp.abs(gram - jnp.eye(shape[0])).max()):.2g}, torch's "
        f"{orth['gram_error']:.2g}), so every entry's mean square is exactly 1/{fan_in}. Other built-ins of "
        "`jax.nn.initializers`: `lecun_normal`/`lecun_uniform`, `glorot_normal` (truncated, as he_normal), "
        "`truncated_normal(stddev)` (cut at two standard deviations; torch's `trunc_normal_(std=...)` cuts at "
        "the absolute values a=-2, b=2 instead), `uniform(scale)` on [0, scale), `delta_orthogonal` for "
        "convolutions."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
