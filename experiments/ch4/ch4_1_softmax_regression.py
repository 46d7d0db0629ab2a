"""d2l 4.1 Softmax regression: softmax, one-hot labels, entropy and cross-entropy beside PyTorch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import entr, rel_entr, xlogy

from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import losses
from experiments.harness import references

SECTION = "4.1"
TITLE = "Softmax regression"
REFERENCE = "ch4_1_softmax_regression"

TOLERANCES: Tolerances = {
    "values": Tolerance(rtol=1e-6, atol=1e-7, why="float32 softmax, log and entropy sums over a few classes; "
                                                  "atol for probabilities and terms near 0"),
}


def entropy(P: jax.Array) -> jax.Array:
    """H[P] = -sum_j p_j log p_j in nats, one value per row (0 log 0 = 0)."""
    return entr(P).sum(axis=1)


def cross_entropy(P: jax.Array, Q: jax.Array) -> jax.Array:
    """H(P, Q) = -sum_j p_j log q_j in nats, one value per row."""
    return -xlogy(P, Q).sum(axis=1)


def kl_divergence(P: jax.Array, Q: jax.Array) -> jax.Array:
    """D(P || Q) = sum_j p_j log(p_j / q_j), one value per row."""
    return rel_entr(P, Q).sum(axis=1)


def information(P: jax.Array, Q: jax.Array) -> dict[str, jax.Array]:
    """4.1.3: entropy in nats and bits, cross-entropy, and KL divergence = cross-entropy - entropy."""
    H = entropy(P)
    return {
        "entropy_nats": H,
        "entropy_bits": H / jnp.log(2.0),
        "cross_entropy": cross_entropy(P, Q),
        "kl_divergence": kl_divergence(P, Q),
    }


def loss_and_gradient(o: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
    """4.1.2: softmax of logits o, the per-example loss, and its gradient softmax(o) - one_hot(y)."""
    total = lambda o: losses.softmax_cross_entropy(o, y).sum()  # noqa: E731
    return {
        "softmax_o": jax.nn.softmax(o, axis=1),
        "loss_per_example": losses.softmax_cross_entropy(o, y),
        "grad_loss_o": jax.grad(total)(o),
        "softmax_minus_one_hot": jax.nn.softmax(o, axis=1) - jax.nn.one_hot(y, o.shape[1]),
    }


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    P, Q = jnp.asarray(ref["P"], jnp.float32), jnp.asarray(ref["Q"], jnp.float32)

    labels = jnp.asarray(ref["labels"])
    result.compare("one_hot(labels, 4)", jax.nn.one_hot(labels, 4), ref["one_hot"])
    result.compare("one_hot(labels, 4, dtype=int32)", jax.nn.one_hot(labels, 4, dtype=jnp.int32), ref["one_hot"])

    info = information(P, Q)
    for key, value in info.items():
        result.compare(key, value, ref[key], tol=TOLERANCES["values"])
    result.compare("cross-entropy = entropy + KL", info["cross_entropy"], info["entropy_nats"] + info["kl_divergence"],
                   tol=TOLERANCES["values"])
    result.compare("entropy of a one-hot distribution", info["entropy_nats"][2], 0.0)

    o, y = jnp.asarray(ref["o"], jnp.float32), jnp.asarray(ref["y"])
    for key, value in loss_and_gradient(o, y).items():
        result.compare(key, value, ref[key], tol=TOLERANCES["values"])

    rows = "\n".join(
        f"| {np.asarray(P[i], np.float64).round(3).tolist()} | {np.asarray(Q[i], np.float64).round(3).tolist()} | "
        f"{float(info['entropy_nats'][i]):.4f} | {float(info['entropy_bits'][i]):.4f} | "
        f"{float(info['cross_entropy'][i]):.4f} | {float(info['kl_divergence'][i]):.4f} |"
        for i in range(P.shape[0])
    )
    result.text(
        "| P | Q | H[P] (nats) | H[P] (bits) | H(P, Q) | KL(P‖Q) |\n|---|---|---|---|---|---|\n" + rows + "\n\n"
        "`jax.scipy.special.entr` and `xlogy` give 0 log 0 = 0 as `torch.special.entr` / `xlogy` do, "
        f"so a one-hot P has entropy exactly 0. `jax.nn.one_hot` returns float32 by default (rows ready to "
        f"multiply with probabilities); `F.one_hot` returns {ref['one_hot_dtype']}, which `dtype=jnp.int32` "
        "mimics as closely as 32-bit JAX allows. The gradient of the softmax cross-entropy with "
        "respect to the logits is softmax(o) - one_hot(y) (d2l eq. 4.1.11): `jax.grad` of "
        "`optax.softmax_cross_entropy_with_integer_labels` gives it as PyTorch's backward() does."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
