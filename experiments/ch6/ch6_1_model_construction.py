"""d2l 6.1 Layers and modules: d2l's MLP, MySequential, FixedHiddenMLP, NestMLP and the chimera as compositions of
jaxdl layer values, fed PyTorch's own parameters, beside PyTorch's outputs and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch6 import modules
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import nn
from jaxdl import state_dict as sd

SECTION = "6.1"
TITLE = "Layers and modules"
REFERENCE = "ch6_1_model_construction"

TOLERANCES: Tolerances = {
    "forward": Tolerance(rtol=1e-6, atol=1e-7, why="float32 outputs of 20 -> 256 -> 10 products summed in another "
                                                    "order than torch's addmm: last-bit differences (measured 7e-8 on "
                                                    "outputs up to 0.28); atol for outputs near 0"),
    "halved sum": Tolerance(atol=2.5e-6, why="the sum of 20-40 entries whose absolute sum is at most 1 after the "
                                             "halving loop: float32 rounding of the sum and of the layers before is "
                                             "bounded by 40 x 2^-24 = 2.4e-6 (measured 3e-8), and cancellation makes "
                                             "a relative bound meaningless"),
    "gradients": Tolerance(rtol=1e-5, atol=1e-7, why="float32 gradients through up to five layers, summed in other "
                                                     "orders (measured at most 6e-8 on entries up to 0.3)"),
}


def inputs(ref: dict) -> jax.Array:
    """d2l's X = torch.rand(2, 20), as PyTorch drew it."""
    return jnp.asarray(ref["X"], jnp.float32)


def renamed(stored: dict, names: list[str], stored_names: list[str]) -> dict:
    """A stored state_dict under other names, in order (the MLP class given the Sequential's parameters)."""
    return {new: stored[old] for new, old in zip(names, stored_names)}


def names_and_shapes(pairs: list) -> str:
    """"0.weight [256, 20], 0.bias [256], ..." for a table row."""
    return ", ".join(f"{name} {list(shape)}" for name, shape in pairs)


def compare_names(result: Result, label: str, model: nn.Layer, params: object, record: dict) -> None:
    """named_parameters() names and shapes against torch's: in order for the params init made (dicts keep
    their insertion order), as a set for the loaded ones (they went through jax.eval_shape, whose pytrees
    sort a dict's keys)."""
    fresh = nn.init(model, jax.random.key(0), (2, 20))[0]
    result.compare(f"{label}: named_parameters names and shapes, in order (as init makes them)",
                   names_and_shapes(modules.shapes_of(fresh)), names_and_shapes(record["named_parameters"]))
    result.compare(f"{label}: the loaded params hold the same names and shapes",
                   names_and_shapes(sorted(modules.shapes_of(params))),
                   names_and_shapes(sorted(record["named_parameters"])))


def compare_grads(result: Result, label: str, grads: object, stored: dict) -> None:
    """Every parameter's gradient against torch's .grad of the same name."""
    for name, g in sd.named_parameters(grads):
        result.compare(f"{label}: d output / d {name}", g, stored[name], tol=TOLERANCES["gradients"])


def run(result: Result, fast: bool) -> None:
    del fast  # everything here is a few small forward and backward passes
    ref = references.load(REFERENCE)
    X = inputs(ref)

    seq_ref = ref["sequential"]
    seq = modules.mlp_sequential()
    seq_params = modules.load_torch(seq, X.shape, seq_ref["state_dict"])
    compare_names(result, "Sequential", seq, seq_params, seq_ref)
    result.compare("Sequential: net(X)", seq(seq_params, X), seq_ref["output"], tol=TOLERANCES["forward"])

    stored = seq_ref["state_dict"]
    for key, model in (("mlp", modules.mlp_module()), ("my_sequential", modules.my_sequential(
            nn.linear(256, sigma=None), nn.relu(), nn.linear(10, sigma=None)))):
        record = ref[key]
        params = modules.load_torch(model, X.shape, renamed(stored, record["state_dict_names"],
                                                            seq_ref["state_dict_names"]))
        label = {"mlp": "MLP class", "my_sequential": "MySequential"}[key]
        compare_names(result, label, model, params, record)
        result.compare(f"{label}: net(X)", model(params, X), record["output"], tol=TOLERANCES["forward"])
        result.compare(f"{label}: net(X) = the Sequential's, bit for bit", model(params, X), seq(seq_params, X))

    fixed_ref = ref["fixed_hidden"]
    fixed = modules.fixed_hidden_mlp(fixed_ref["rand_weight"])
    fixed_params = modules.load_torch(fixed, X.shape, fixed_ref["state_dict"])
    compare_names(result, "FixedHiddenMLP", fixed, fixed_params, fixed_ref)
    eager, jitted = fixed(fixed_params, X), jax.jit(fixed.__call__)(fixed_params, X)
    result.compare("FixedHiddenMLP: net(X)", eager, fixed_ref["output"], tol=TOLERANCES["halved sum"])
    result.compare("FixedHiddenMLP: net(X) under jit", jitted, fixed_ref["output"], tol=TOLERANCES["halved sum"])
    W, b = fixed_params["linear"]["W"], fixed_params["linear"]["b"]
    before = jax.nn.relu((X @ W.T + b) @ jnp.asarray(fixed_ref["rand_weight"]) + 1) @ W.T + b
    count = jax.jit(modules.halvings)(before)
    result.compare("FixedHiddenMLP: halvings of the while loop (lax.while_loop under jit)", count,
                   fixed_ref["halvings"])
    jaxpr = str(jax.make_jaxpr(fixed.__call__)(fixed_params, X))
    result.compare("FixedHiddenMLP: the traced program holds a while primitive", "while[" in jaxpr, True)
    grads = jax.grad(fixed.__call__)(fixed_params, X)
    compare_grads(result, "FixedHiddenMLP", grads, fixed_ref["grads"])
    R = jnp.asarray(fixed_ref["rand_weight"], jnp.float32)
    through = lambda stop: jax.grad(lambda w: modules.fixed_hidden_mlp(w, stop=stop)(fixed_params, X))(R)  # noqa: E731
    stopped, open_ = through(True), through(False)
    result.compare("FixedHiddenMLP: gradient reaching rand_weight through stop_gradient (torch: requires_grad "
                   f"{fixed_ref['rand_weight_requires_grad']})", stopped, np.zeros((20, 20)))
    result.text(
        "d2l's modules are compositions of layer values here. `nn.serial` is `nn.Sequential` (params a tuple, "
        "`params[2]['W']` is `2.weight`); a module with named attributes and its own `forward` is "
        "`modules.composite(name, {child: layer}, forward)`, whose forward calls children by name, so the MLP "
        "class's params are `{'hidden': ..., 'out': ...}` and `jaxdl.state_dict` names them `hidden.weight`, "
        "`out.bias` as torch does. Each network was initialised by its first input's shape, traced with "
        "`jax.eval_shape` (no arithmetic), then handed PyTorch's own parameters through "
        "`jaxdl.state_dict.load_state_dict`, which checked every name, shape and dtype; the outputs agree to "
        "float32 rounding, and MySequential (a hand-written loop over its children) gives the Sequential's "
        "output bit for bit.\n\n"
        "FixedHiddenMLP keeps `rand_weight` outside the params, as torch keeps it outside `state_dict`, and "
        "passes it through `lax.stop_gradient`: differentiated with respect to it the network gives exactly 0 "
        f"(without stop_gradient: a gradient of norm {float(jnp.linalg.norm(open_)):.4g}). d2l's data-dependent "
        "`while X.abs().sum() > 1: X /= 2` is a `lax.while_loop`, which runs under `jax.jit` (a Python `while` "
        "on a traced value cannot); the loop only counts the halvings k, on a stop_gradient copy, and the "
        "output is X / 2^k, bit for bit the loop's result (halving a float32 is exact) and differentiable, "
        "which a while_loop is not in reverse mode. The linear layer called twice in the forward pass is one "
        f"parameter entry used twice: its gradient (above, equal to torch's) sums both uses. Here k = {int(count)} "
        f"(PyTorch's loop: {fixed_ref['halvings']}); jit and eager outputs differ in the last bits "
        f"({float(eager):.9g} vs {float(jitted):.9g}), as XLA fuses the sum differently."
    )

    chim_ref = ref["chimera"]
    chim = modules.chimera(chim_ref["rand_weight"])
    chim_params = modules.load_torch(chim, X.shape, chim_ref["state_dict"])
    compare_names(result, "chimera", chim, chim_params, chim_ref)
    result.compare("chimera: net(X)", chim(chim_params, X), chim_ref["output"], tol=TOLERANCES["halved sum"])
    compare_grads(result, "chimera", jax.grad(chim.__call__)(chim_params, X), chim_ref["grads"])
    fresh = nn.init(chim, jax.random.key(0), X.shape)[0]
    mapped = jax.tree.map(lambda leaf: leaf, fresh)
    result.compare("chimera: after jax.tree.map, NestMLP's entries come in sorted key order (JAX's dict pytree)",
                   ", ".join(n for n, _ in sd.named_parameters(mapped)),
                   ", ".join(sorted((n for n, _ in chim_ref["named_parameters"] if n.startswith("0.")),
                                    key=lambda n: n.split(".")[1]) +
                             [n for n, _ in chim_ref["named_parameters"] if not n.startswith("0.")]))
    result.text(
        "The chimera `nn.serial(nest_mlp(), nn.linear(20), fixed_hidden_mlp(R))` nests composites in a serial: "
        "its params are a tuple whose first entry is NestMLP's `{'net': (...), 'linear': ...}`, so init gives "
        "the names " + ", ".join(f"`{n}`" for n, _ in modules.shapes_of(fresh)) + ", torch's list in torch's "
        "order. One caveat: JAX flattens a dict in sorted key order, so any transform that rebuilds the tree "
        "(`jax.tree.map`, `jax.grad`, `jax.eval_shape`, optax's updates) returns NestMLP's entries as "
        "`linear` before `net`; the names are still torch's and loading by name is unaffected, but the order "
        "of `named_parameters` then differs from torch's (last row above)."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
