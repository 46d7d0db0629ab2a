"""What d2l 5.4's numerical stability shares with its exercises: the running product of random matrices (a support
module, not an experiment)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.jit
def running_product(matrices: jax.Array) -> jax.Array:
    """M_0, M_0 @ M_1, ..., M_0 @ M_1 @ ... @ M_k: d2l's loop `M = M @ next` as a scan, every step kept."""

    def step(M, next_matrix):
        M = M @ next_matrix
        return M, M

    _, steps = jax.lax.scan(step, matrices[0], matrices[1:])
    return jnp.concatenate([matrices[:1], steps])
