"""d2l 5.3 Forward and backward propagation, computational graphs: gradients by hand, by jax.grad and by PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import ClosedJaxpr, Literal

from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import computational_graph, losses
from experiments.harness import references

SECTION = "5.3"
TITLE = "Forward propagation, backward propagation, and computational graphs"
REFERENCE = "ch5_3_forward_backward"

TOLERANCES: Tolerances = {
    "forward": Tolerance(rtol=1e-6, atol=1e-7, why="float32 forward pass of a small network: last-bit differences; "
                                                   "atol for values near 0"),
    "gradients": Tolerance(rtol=1e-5, atol=1e-7, why="float32 gradients through two layers, summed in other orders"),
    "intermediate gradients": Tolerance(rtol=1e-5, atol=1e-8, why="dJ/do, dJ/dh, dJ/dz: smaller entries than the "
                                                                  "weight gradients, so a smaller atol"),
}

Params = dict[str, jax.Array]  # W1 (h, d), W2 (q, h): d2l 5.3's orientation, z = W1 x


# One jit boundary around the loss: the jaxpr (and the graph drawn from it) shows l(o, y) as a single node.
loss_fn = jax.jit(losses.softmax_cross_entropy)


def forward(params: Params, X: jax.Array, y: jax.Array, lam: float,
            taps: dict[str, jax.Array] | None = None) -> dict[str, jax.Array]:
    """5.3.1 for a minibatch (one example per row): z = W1 x, h = relu(z), o = W2 h, L = mean l(o, y),
    s = lambda/2 (|W1|_F^2 + |W2|_F^2), J = L + s.

    taps: arrays added to z, h and o; at zero, the gradient of J with respect to them is dJ/dz, dJ/dh, dJ/do.
    """
    tap = (lambda name, v: v + taps[name]) if taps is not None else (lambda name, v: v)
    z = tap("z", X @ params["W1"].T)
    h = tap("h", jax.nn.relu(z))
    o = tap("o", h @ params["W2"].T)
    L = loss_fn(o, y).mean()
    s = lam / 2 * (jnp.sum(params["W1"] ** 2) + jnp.sum(params["W2"] ** 2))
    return {"z": z, "h": h, "o": o, "L": L, "s": s, "J": L + s}


def objective(params: Params, X: jax.Array, y: jax.Array, lam: float) -> jax.Array:
    """The regularised objective J."""
    return forward(params, X, y, lam)["J"]


def backward(params: Params, X: jax.Array, y: jax.Array, lam: float) -> dict[str, jax.Array]:
    """5.3.3 by hand, from the output back to the weights (chain rule; the forward values are reused).

    dJ/do  = (softmax(o) - onehot(y)) / n          (mean cross-entropy; dJ/dL = 1)
    dJ/dW2 = dJ/do^T h + lambda W2                 (dJ/ds = 1, ds/dW2 = lambda W2)
    dJ/dh  = dJ/do W2
    dJ/dz  = dJ/dh * relu'(z)                      (elementwise; relu'(z) = 1 where z > 0)
    dJ/dW1 = dJ/dz^T x + lambda W1
    """
    f = forward(params, X, y, lam)
    n, q = f["o"].shape
    d_o = (jax.nn.softmax(f["o"]) - jax.nn.one_hot(y, q)) / n
    d_W2 = d_o.T @ f["h"] + lam * params["W2"]
    d_h = d_o @ params["W2"]
    d_z = d_h * (f["z"] > 0)
    d_W1 = d_z.T @ X + lam * params["W1"]
    return {"o": d_o, "h": d_h, "z": d_z, "W1": d_W1, "W2": d_W2}


def intermediate_grads(params: Params, X: jax.Array, y: jax.Array, lam: float) -> dict[str, jax.Array]:
    """dJ/dz, dJ/dh, dJ/do by jax.grad through zero taps: the gradients PyTorch keeps with retain_grad()."""
    f = forward(params, X, y, lam)
    taps = {name: jnp.zeros_like(f[name]) for name in ("z", "h", "o")}
    return jax.grad(lambda t: forward(params, X, y, lam, t)["J"])(taps)


# ----------------------------------------------------------------------------- the computational graph


SHOWN_PARAMS = ("y", "axes", "permutation")


def node_label(eqn: Any) -> str:
    """The primitive, the name of the function it calls (if any), a few telling parameters and its literals."""
    label = eqn.primitive.name
    name = eqn.params.get("name")
    inner = eqn.params.get("call_jaxpr")
    if name is None and inner is not None:  # custom_jvp_call: the name sits on the call inside it
        name = next((e.params["name"] for e in inner.eqns if "name" in e.params), None)
    if name:
        label += f"\n[{name}]"
    label += "".join(f"\n{k}={eqn.params[k]}" for k in SHOWN_PARAMS if k in eqn.params)
    literals = [f"{np.asarray(v.val).item():.4g}" for v in eqn.invars if isinstance(v, Literal)]
    return label + ("\n" + ", ".join(literals) if literals else "")


def graph(closed: ClosedJaxpr, names: list[str]) -> tuple[list[dict], list[tuple[int, int, str]]]:
    """Nodes (inputs, one per equation, the output) and edges (one per use of a variable) of a jaxpr.

    An equation that calls a sub-jaxpr (jit, custom_jvp_call) is one node labelled with the call's name.
    """
    jaxpr = closed.jaxpr
    nodes: list[dict] = []
    producer: dict[Any, int] = {}
    for var, name in zip(jaxpr.invars, names):
        producer[var] = len(nodes)
        nodes.append({"label": f"{name}\n{var.aval.str_short()}", "kind": "input", "depth": 0})
    edges: list[tuple[int, int, str]] = []
    for eqn in jaxpr.eqns:
        node = len(nodes)
        sources = [producer[v] for v in eqn.invars if not isinstance(v, Literal)]
        depth = 1 + max((nodes[s]["depth"] for s in sources), default=0)
        nodes.append({"label": node_label(eqn), "kind": "eqn", "depth": depth})
        edges += [(producer[v], node, v.aval.str_short()) for v in eqn.invars if not isinstance(v, Literal)]
        for v in eqn.outvars:
            producer[v] = node
    for v in jaxpr.outvars:
        out = len(nodes)
        nodes.append({"label": "J", "kind": "output", "depth": nodes[producer[v]]["depth"] + 1})
        edges.append((producer[v], out, v.aval.str_short()))
    return nodes, edges


def save_graph(result: Result, nodes: list[dict], edges: list[tuple[int, int, str]]) -> Path:
    """The graph as computational_graph.png, laid out by Graphviz (by matplotlib where `dot` is missing)."""
    path = computational_graph.save_png([(n["kind"], n["label"]) for n in nodes], edges,
                                        result.out_dir / "computational_graph.png")
    result.figures.append(path)
    drawn_by = "Graphviz" if computational_graph.have_dot() else "matplotlib (Graphviz's dot is not installed)"
    print(f"saved figure {path}, drawn by {drawn_by}", flush=True)
    return path


def problem(ref: dict[str, Any]) -> tuple[Params, jax.Array, jax.Array, float]:
    """The stored fixed inputs: parameters, X, y and lambda."""
    p = ref["inputs"]
    params = {"W1": jnp.asarray(p["W1"], jnp.float32), "W2": jnp.asarray(p["W2"], jnp.float32)}
    return params, jnp.asarray(p["X"], jnp.float32), jnp.asarray(p["y"], jnp.int32), ref["lambda"]


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    params, X, y, lam = problem(ref)

    f = forward(params, X, y, lam)
    for name, theirs in ref["forward"].items():
        result.compare(f"forward: {name}", f[name], theirs, tol=TOLERANCES["forward"])

    by_hand = backward(params, X, y, lam)
    by_jax = jax.grad(objective)(params, X, y, lam)
    for name in ("W1", "W2"):
        result.compare(f"dJ/d{name}: by hand vs jax.grad", by_hand[name], by_jax[name], tol=TOLERANCES["gradients"])
        result.compare(f"dJ/d{name}: by hand vs PyTorch", by_hand[name], ref["grads"][name], tol=TOLERANCES["gradients"])
        result.compare(f"dJ/d{name}: jax.grad vs PyTorch", by_jax[name], ref["grads"][name], tol=TOLERANCES["gradients"])
    inner = intermediate_grads(params, X, y, lam)
    for name in ("o", "h", "z"):
        result.compare(f"dJ/d{name}: by hand vs jax.grad", by_hand[name], inner[name], tol=TOLERANCES["intermediate gradients"])
        result.compare(f"dJ/d{name}: by hand vs PyTorch retain_grad", by_hand[name], ref["grads"][name],
                       tol=TOLERANCES["intermediate gradients"])

    closed = jax.make_jaxpr(objective, static_argnums=3)(params, X, y, lam)
    names = [*sorted(params), "X", "y"]  # the jaxpr's inputs: the flattened arguments, dict keys sorted
    nodes, edges = graph(closed, names)
    save_graph(result, nodes, edges)
    result.text("The computational graph of J, as `jax.make_jaxpr(objective)` records it (inputs "
                f"{', '.join(names)}; {len(closed.jaxpr.eqns)} equations):\n\n```\n{closed}\n```")
    result.text(
        "d2l draws the graph of 5.3.2 by hand; JAX builds it by tracing: `jax.make_jaxpr` runs the Python "
        "function on abstract arrays and records each primitive with its inputs and outputs. The figure "
        "draws one node per equation (the relu and the jitted loss l(o, y) call sub-jaxprs and are one node "
        "each) and one edge per variable, labelled with its type; Graphviz's `dot` lays it out left to right, "
        "in ranks by the longest path from the inputs: W1 and X meet in the first matrix product, relu, then W2 in the second, the loss and its "
        "mean L; in parallel the squared Frobenius norms of W1 and W2 make the penalty s, and the last add "
        "is J = L + s. Backpropagation walks these edges in reverse: `backward` above writes that walk out "
        "(dJ/do, then dJ/dW2 and dJ/dh, then dJ/dz, then dJ/dW1), reusing z and h from the forward pass, "
        "which is why training keeps the intermediate values in memory."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
