"""d2l 2.7's one exercise, "look up the documentation for any function", answered twice with something computed:
jnp.ones' signature read by inspect beside torch.ones', and a documented argument put to the test:
jax.random.categorical(..., replace=False) against torch.multinomial(..., replacement=False)."""

from __future__ import annotations

import inspect
import re
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch2.common import DOCUMENTATION_SAMPLING_Z
from experiments.harness.result import Result, Tolerances, cli
from experiments.harness import references

SECTION = "2.7"
TITLE = "Documentation: exercises"
REFERENCE = "ch2_7_documentation_exercises"
TOLERANCES: Tolerances = {"sampling_z": DOCUMENTATION_SAMPLING_Z}  # 2.7's, for the same kind of draws
SAMPLING_Z = TOLERANCES["sampling_z"].value


def keyword_names(obj) -> set[str]:
    """The parameters of a Python function, by inspect.signature."""
    return set(inspect.signature(obj).parameters)


def keywords_from_signature_line(line: str) -> set[str]:
    """The keyword names in a docstring's signature line such as 'ones(*size, *, out=None, ...) -> Tensor'."""
    inside = line[line.index("(") + 1 : line.rindex(")")]
    return set(re.findall(r"(\w+)=", inside))


@partial(jax.jit, static_argnames=("k", "draws"))
def draws_without_replacement(key: jax.Array, probs: jax.Array, k: int, draws: int) -> jax.Array:
    """`draws` independent samples of k distinct items, each by jax.random.categorical(..., replace=False)."""
    sample = lambda key: jax.random.categorical(key, jnp.log(probs), shape=(k,), replace=False)  # noqa: E731
    return jax.vmap(sample)(jax.random.split(key, draws))


def inclusion_probabilities(probs: np.ndarray) -> np.ndarray:
    """P(item i among two draws without replacement), proportional to probs at each draw:
    p_i + sum_{j != i} p_j p_i / (1 - p_j)."""
    p = np.asarray(probs, np.float64)
    second = np.array([sum(p[j] * p[i] / (1 - p[j]) for j in range(len(p)) if j != i) for i in range(len(p))])
    return p + second


def frequency_z(ours: np.ndarray, theirs: np.ndarray, n_ours: int, n_theirs: int) -> np.ndarray:
    """Difference of two frequencies in standard errors (pooled binomial)."""
    pooled = (ours * n_ours + theirs * n_theirs) / (n_ours + n_theirs)
    return (ours - theirs) / np.sqrt(pooled * (1 - pooled) * (1 / n_ours + 1 / n_theirs))


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)

    jax_keywords = keyword_names(jnp.ones)
    torch_keywords = keywords_from_signature_line(ref["ones_signature_line"])
    shared = sorted(jax_keywords & torch_keywords)
    result.compare("keyword arguments jnp.ones and torch.ones share", shared, ["device", "dtype"])
    result.text(
        f"Exercise 1, looked up by program. `inspect.signature(jnp.ones)` gives ({', '.join(sorted(jax_keywords))}); "
        f"torch.ones is a C function without a Python signature, so its docstring's first line is parsed: "
        f"({', '.join(sorted(torch_keywords))}). They share {', '.join(shared)}. PyTorch's others have no JAX "
        "counterpart by design: `out` (JAX arrays are immutable, there is nothing to write into), "
        "`requires_grad` (gradients are taken by transforming a function with `jax.grad`, not by flagging arrays), "
        "`layout` (no strided/sparse choice on a jax.Array); JAX's `out_sharding` places the result across devices. "
        "The official pages: docs.jax.dev/en/latest/_autosummary/jax.numpy.ones.html and "
        "pytorch.org/docs/stable/generated/torch.ones.html."
    )

    spec = ref["without_replacement"]
    probs = np.asarray(spec["probs"])
    draws = spec["draws"] // 4 if fast else spec["draws"]
    picks = np.asarray(draws_without_replacement(jax.random.key(272), jnp.asarray(probs), spec["k"], draws))
    n = len(probs)
    first = np.bincount(picks[:, 0], minlength=n) / draws
    included = np.bincount(picks.ravel(), minlength=n) / draws
    exact = inclusion_probabilities(probs)
    result.compare("replace=False: the k items of each draw are distinct",
                   bool((picks[:, 0] != picks[:, 1]).all()), spec["all_distinct"])
    for label, ours, theirs in (("first item", first, spec["first_frequencies"]),
                                ("inclusion", included, spec["inclusion_frequencies"])):
        z = frequency_z(ours, np.asarray(theirs), draws, spec["draws"])
        result.compare(f"{label} frequencies vs torch.multinomial(replacement=False), z-score", z, np.zeros(n),
                       atol=SAMPLING_Z)
    z_exact = (included - exact) / np.sqrt(exact * (1 - exact) / draws)
    result.compare("inclusion frequencies vs p_i + sum_j p_j p_i / (1 - p_j), z-score", z_exact, np.zeros(n),
                   atol=SAMPLING_Z)
    result.text(
        "Exercise 1, a documented argument checked. `jax.random.categorical`'s docstring says `replace=False` "
        "samples without replacement. Drawing 2 of 4 items with probabilities "
        f"{probs.tolist()}, {draws} times: every pair is distinct, the first item follows the probabilities "
        f"({', '.join(f'{f:.3f}' for f in first)}), and each item is included with probability "
        f"p_i + sum_j p_j p_i / (1 - p_j) = {', '.join(f'{e:.4f}' for e in exact)} (measured "
        f"{', '.join(f'{f:.4f}' for f in included)}): the successive-draw scheme of "
        f"`torch.multinomial(probs, 2, replacement=False)`, whose {spec['draws']} draws give "
        f"{', '.join(f'{f:.4f}' for f in spec['inclusion_frequencies'])}."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
