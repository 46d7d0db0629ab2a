"""d2l 6.1 exercises: modules kept in a Python list, a parallel module concatenating two networks, and a factory of
several instances of a block, beside PyTorch's."""

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
TITLE = "Layers and modules: exercises"
REFERENCE = "ch6_1_model_construction_exercises"
INSTANCES = 3

TOLERANCES: Tolerances = {
    "forward": Tolerance(rtol=1e-6, atol=1e-7, why="float32 outputs of small products summed in another order than "
                                                    "torch's addmm: last-bit differences; atol for outputs near 0"),
}


def run(result: Result, fast: bool) -> None:
    del fast
    ref = references.load(REFERENCE)
    X = jnp.asarray(ref["X"], jnp.float32)

    # 1. modules in a Python list
    layers = [nn.linear(256, sigma=None), nn.relu(), nn.linear(10, sigma=None)]
    keys = jax.random.split(jax.random.key(1), len(layers))
    params, shape = [], X.shape
    for lay, k in zip(layers, keys):
        shape, p, _ = lay.init(k, shape)
        params.append(p)

    def listed(params: list, X: jax.Array) -> jax.Array:
        for lay, p in zip(layers, params):
            X = lay(p, X)
        return X

    torch_list = ref["python_list"]
    grads = jax.grad(lambda p: listed(p, X).sum())(params)
    result.compare("Python list: output shape", list(listed(params, X).shape), torch_list["output_shape"])
    result.compare("Python list: parameters torch's ListSequential registers", torch_list["parameters"], 0)
    result.compare("Python list: params jax.grad reaches (a list is a pytree)", len(jax.tree.leaves(grads)), 4)
    result.compare("Python list: state_dict names of the list of params",
                   ", ".join(sd.state_dict(params)), "0.weight, 0.bias, 2.weight, 2.bias")
    result.text(
        "Exercise 1. A torch module registers a child only when it is assigned as an attribute (or added with "
        "`add_module`); modules kept in a Python list are invisible to it: PyTorch's list-based MySequential "
        f"still computes (output {torch_list['output_shape']}), but `parameters()` yields "
        f"{torch_list['parameters']} tensors and `state_dict()` is empty "
        f"({torch_list['state_dict_names']}), so an optimizer would train nothing, `.to(device)` would move "
        "nothing and a saved file would hold nothing. In JAX the problem does not arise: the parameters are "
        "whatever pytree the function takes, and a list is a pytree, so `jax.grad` returns a gradient for each "
        f"of the {len(jax.tree.leaves(grads))} arrays and `state_dict` names them `0.weight`, ... as a "
        "Sequential's."
    )

    # 2. a parallel module
    par_ref = ref["parallel"]
    par = modules.parallel(nn.serial(nn.linear(8, sigma=None), nn.relu()), nn.serial(nn.linear(4, sigma=None),
                                                                                         nn.tanh()))
    par_params = modules.load_torch(par, X.shape, par_ref["state_dict"])
    result.compare("Parallel: names and shapes (torch's order)",
                   ", ".join(f"{n} {s}" for n, s in modules.shapes_of(nn.init(par, jax.random.key(0), X.shape)[0])),
                   ", ".join(f"{n} {s}" for n, s in par_ref["named_parameters"]))
    out = par(par_params, X)
    result.compare("Parallel: output (net1's 8 then net2's 4 columns)", out, par_ref["output"],
                   tol=TOLERANCES["forward"])
    result.compare("Parallel: output shape", list(out.shape), list(np.shape(par_ref["output"])))
    result.text(
        "Exercise 2. `modules.parallel(net1, net2)` is a composite whose forward concatenates "
        "`call('net1', X)` and `call('net2', X)` along the last axis; its params are `{'net1': ..., "
        f"'net2': ...}}`. With PyTorch's parameters its {tuple(out.shape)} output equals PyTorch's `Parallel` "
        "module's to float32 rounding. (`jaxdl.nn.branches(net1, net2, axis=-1)` does the same with a tuple of "
        "params, named `0.` and `1.`.)"
    )

    # 3. a factory of instances
    fac_ref = ref["factory"]
    fac = modules.factory(modules.block, INSTANCES)
    fac_params = modules.load_torch(fac, X.shape, fac_ref["state_dict"])
    result.compare(f"factory of {INSTANCES} blocks: output", fac(fac_params, X), fac_ref["output"],
                   tol=TOLERANCES["forward"])
    fresh = nn.init(fac, jax.random.key(3), X.shape)[0]
    result.compare(f"factory of {INSTANCES} blocks: names and shapes", ", ".join(
        f"{n} {s}" for n, s in modules.shapes_of(fresh)), ", ".join(f"{n} {s}" for n, s in fac_ref["named_parameters"]))
    equal = int((np.asarray(fresh[1][0]["W"]) == np.asarray(fresh[2][0]["W"])).sum())
    result.compare("factory: equal weights between instance 1 and 2 (each drew its own)", equal, 0)
    count = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(fresh))
    result.compare("factory: number of parameters", count,
                   sum(int(np.prod(s)) for _, s in fac_ref["named_parameters"]))
    result.text(
        f"Exercise 3. `modules.factory(make, n)` calls `make()` n times and chains the results with `nn.serial`: "
        f"{INSTANCES} instances of Sequential(LazyLinear(16), ReLU) hold {count} parameters, the first block's "
        "weight (16, 20) and the others' (16, 16), inferred from the input. Each instance gets its own key from "
        "serial's split, so no two share a weight (none of the 256 entries of blocks 1 and 2 is equal); to "
        "share one instance instead, call the same child twice in a composite (6.2's tied layer)."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
