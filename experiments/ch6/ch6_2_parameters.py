"""d2l 6.2 Parameter management: parameters by key path and by torch name, all at once, the state_dict, and a layer
tied to itself (one subtree used twice), its gradient and a write to it beside PyTorch's shared layer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch6 import modules
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import nn
from jaxdl import state_dict as sd

SECTION = "6.2"
TITLE = "Parameter management"
REFERENCE = "ch6_2_parameters"

TOLERANCES: Tolerances = {
    "forward": Tolerance(rtol=1e-6, atol=1e-7, why="float32 outputs of 4 -> 8 -> 8 -> 8 -> 1 products summed in "
                                                    "another order than torch's addmm: last-bit differences"),
    "gradients": Tolerance(rtol=1e-5, atol=1e-7, why="float32 gradients through up to four layers, summed in other "
                                                     "orders; the tied layer's adds its two uses, in either order"),
}


def net() -> nn.Layer:
    """d2l's nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))."""
    return nn.serial(nn.linear(8, sigma=None), nn.relu(), nn.linear(1, sigma=None))


def key_paths(params: object) -> list[tuple[str, str, tuple[int, ...]]]:
    """(jax key path, its torch name, shape) for every leaf, in jax's flattening order."""
    flat, _ = jax.tree_util.tree_flatten_with_path(params)
    return [(jax.tree_util.keystr(path), modules.torch_name(path), tuple(np.shape(leaf))) for path, leaf in flat]


def tied_params(stored: dict) -> dict[str, np.ndarray]:
    """torch's state_dict of the tied net without the shared layer's second name (4.*): named_parameters' entries."""
    return {name: value for name, value in stored.items() if not name.startswith("4.")}


def run(result: Result, fast: bool) -> None:
    del fast
    ref = references.load(REFERENCE)
    X = jnp.asarray(ref["X"], jnp.float32)

    rec = ref["net"]
    model = net()
    params = modules.load_torch(model, X.shape, rec["state_dict"])
    result.compare("net(X)", model(params, X), rec["output"], tol=TOLERANCES["forward"])
    paths = key_paths(params)
    result.compare("key paths in jax's flattening order, as torch names, = named_parameters() names",
                   ", ".join(name for _, name, _ in paths), ", ".join(n for n, _ in rec["named_parameters"]))
    result.compare("all parameters at once: [(name, shape)] = torch's",
                   ", ".join(f"{n} {list(s)}" for n, s in modules.shapes_of(params)),
                   ", ".join(f"{n} {s}" for n, s in rec["named_parameters"]))
    result.compare("state_dict names = torch's, in order", ", ".join(sd.state_dict(params)),
                   ", ".join(rec["state_dict_names"]))
    result.compare("params[2]'s state_dict names = net[2].state_dict()'s", ", ".join(sd.state_dict(params[2])),
                   ", ".join(rec["layer2_state_dict_names"]))
    result.compare("params[2]['b'] = net[2].bias.data, bit for bit", params[2]["b"], rec["layer2_bias"])
    grads = jax.grad(lambda p: model(p, X).sum())(params)
    result.compare("jax.grad returns a tree of params' structure (torch: .grad is None until backward: "
                   f"{rec['layer2_weight_grad_is_none']})",
                   str(jax.tree.structure(grads)), str(jax.tree.structure(params)))
    result.text(
        "A parameter is reached by its key path: `params[2]['b']` is `net[2].bias` (d2l's "
        f"`{rec['layer2_bias_type']}`; here a plain array, bit for bit PyTorch's after loading). "
        "`jax.tree_util.tree_flatten_with_path` lists every leaf with its path, "
        + ", ".join(f"`{p}`" for p, _, _ in paths) + ", in the order of torch's `named_parameters()` "
        "(jax flattens a dict by sorted keys, and `W` sorts before `b`), and `jaxdl.state_dict` turns each "
        "path into torch's name. There is no `.grad` slot to be None: `jax.grad` returns the gradients as a "
        "second tree of the same structure."
    )

    tied_ref = ref["tied"]
    tied = modules.tied_mlp()
    stored = modules.in_torch_order(tied_ref)
    result.compare("torch's state_dict lists the shared layer twice; 4.weight = 2.weight bit for bit",
                   stored["4.weight"], stored["2.weight"])
    try:
        modules.load_torch(tied, X.shape, stored)
        refused = "loaded"
    except sd.StateDictError as err:
        refused = str(err).split(",")[0]
    result.compare("the whole torch state_dict refused, naming the first extra entry", refused,
                   "PyTorch's stored state_dict holds '4.weight'")
    tp = modules.load_torch(tied, X.shape, tied_params(stored))
    result.compare("tied: named_parameters names = torch's (the shared layer once)",
                   ", ".join(n for n, _ in modules.shapes_of(nn.init(tied, jax.random.key(0), X.shape)[0])),
                   ", ".join(n for n, _ in tied_ref["named_parameters"]))
    out = tied(tp, X)
    result.compare("tied: net(X)", out, tied_ref["output"], tol=TOLERANCES["forward"])
    tied_grads = jax.grad(lambda p: tied(p, X).sum())(tp)
    for name, g in sd.named_parameters(tied_grads):
        result.compare(f"tied: gradient of {name} vs torch's .grad", g, tied_ref["grads"][name],
                       tol=TOLERANCES["gradients"])
    untied = modules.untied_mlp()
    up = {"0": tp["0"], "2": tp["2"], "4": tp["2"], "6": tp["6"]}
    result.compare("untied copy fed the shared parameters twice: the same output, bit for bit", untied(up, X), out)
    ug = jax.grad(lambda p: untied(p, X).sum())(up)
    for leaf in ("W", "b"):
        result.compare(f"tied gradient of 2.{sd.TORCH_NAMES[leaf]} = sum of the two uses' gradients",
                       tied_grads["2"][leaf], ug["2"][leaf] + ug["4"][leaf], tol=TOLERANCES["gradients"])
    written = {**tp, "2": {**tp["2"], "W": tp["2"]["W"].at[0, 0].set(100.0)}}
    result.compare("after W[0, 0] = 100 (a functional .at[].set): both uses see it, net(X) = torch's",
                   tied(written, X), tied_ref["after_write_output"], tol=TOLERANCES["forward"])
    diff = float(jnp.abs(tied_grads["2"]["W"] - (ug["2"]["W"] + ug["4"]["W"])).max())
    result.text(
        "Tied parameters are one subtree used twice: `modules.tied_mlp()` calls its child `'2'` at positions 2 "
        "and 4, so its params hold `0`, `2` and `6`, the entries torch's `named_parameters()` lists (it lists a "
        "shared module once, under its first name). Torch's `state_dict()` lists it twice (`2.weight` and "
        "`4.weight`, the same tensor), which `load_state_dict` refuses here, naming `4.weight`, until the "
        "duplicate is dropped. Differentiation sums the uses: the gradient of `2.weight` equals torch's `.grad` "
        "of the shared layer and the sum of the gradients of an untied copy's layers 2 and 4 fed the same "
        f"values (largest difference {diff:.2g}). d2l's `net[2].weight.data[0, 0] = 100` changes both uses "
        "because they are one tensor; in JAX `W.at[0, 0].set(100)` makes a new params tree whose one leaf "
        "both uses read, and the output equals PyTorch's after its write."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
