"""Xavier (Glorot) initialisation of jaxdl's dense layers, through jax.nn.initializers:
``nn.linear(n, W_init=xavier())`` (the bias stays zero)."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp


Distribution = Literal["uniform", "normal", "truncated_normal"]

# jaxdl stores W as (outputs, inputs), as torch.nn.Linear does: its fan-in axis is the last one, not
# jax.nn.initializers' default -2 (flax's (inputs, outputs) kernels).
_AXES = {"in_axis": -1, "out_axis": -2}


def xavier(distribution: Distribution = "uniform") -> jax.nn.initializers.Initializer:
    """Xavier initialiser for an (outputs, inputs) weight: variance 2 / (fan_in + fan_out).

    "uniform" is torch.nn.init.xavier_uniform_ (jax.nn.initializers.glorot_uniform); "normal" is
    torch.nn.init.xavier_normal_, a plain normal; "truncated_normal" is jax.nn.initializers.glorot_normal,
    a normal cut at two standard deviations and rescaled to the same variance.
    """
    if distribution not in ("uniform", "normal", "truncated_normal"):
        raise ValueError(f"distribution must be 'uniform', 'normal' or 'truncated_normal', got {distribution!r}")
    return jax.nn.initializers.variance_scaling(1.0, "fan_avg", distribution, **_AXES)
