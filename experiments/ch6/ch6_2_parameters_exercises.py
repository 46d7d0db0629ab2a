"""d2l 6.2 exercises: NestMLP's parameters reached by path, and a net with a shared layer trained beside PyTorch
(losses, each layer's gradient norm at every step, final parameters)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.ch6 import modules
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import nn
from jaxdl import state_dict as sd

SECTION = "6.2"
TITLE = "Parameter management: exercises"
REFERENCE = "ch6_2_parameters_exercises"

TOLERANCES: Tolerances = {
    "forward": Tolerance(rtol=1e-6, atol=1e-7, why="float32 outputs of 20 -> 64 -> 32 -> 16 products summed in "
                                                    "another order than torch's addmm: last-bit differences"),
    "replay steps": Tolerance(rtol=1e-4, why="the project's replay rule: the same data and initial parameters, "
                                             "float32 roundings of 30 SGD steps compound in the losses and "
                                             "gradient norms"),
    "replay params": Tolerance(atol=1e-5, why="final parameters (entries up to ~1.5) after 30 replayed steps, "
                                              "float32 roundings compounded"),
}


def mse(model: nn.Layer, params: object, X: jax.Array, y: jax.Array) -> jax.Array:
    """((net(X) - y) ** 2).mean(), d2l's squared loss without the 1/2 as torch's MSELoss."""
    return ((model(params, X) - y) ** 2).mean()


def train(model: nn.Layer, params: object, X: jax.Array, y: jax.Array, lr: float, steps: int):
    """Full-batch SGD (optax.sgd = torch.optim.SGD without momentum): per-step losses, gradient norms by torch
    name, and the final params."""
    optimizer = optax.sgd(lr)

    @jax.jit
    def step(params, opt_state):
        loss, grads = jax.value_and_grad(lambda p: mse(model, p, X, y))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        norms = {name: jnp.linalg.norm(g) for name, g in sd.named_parameters(grads)}
        return optax.apply_updates(params, updates), opt_state, loss, norms

    opt_state, losses, norms = optimizer.init(params), [], []
    for _ in range(steps):
        params, opt_state, loss, norm = step(params, opt_state)
        losses.append(loss)
        norms.append(norm)
    return params, np.asarray(losses), {name: np.asarray([n[name] for n in norms]) for name in norms[0]}


def run(result: Result, fast: bool) -> None:
    del fast
    ref = references.load(REFERENCE)

    nest_ref = ref["nest"]
    X = jnp.asarray(nest_ref["X"], jnp.float32)
    nest = modules.nest_mlp()
    params = modules.load_torch(nest, X.shape, nest_ref["state_dict"])
    result.compare("NestMLP: output", nest(params, X), nest_ref["output"], tol=TOLERANCES["forward"])
    result.compare("NestMLP: params['net'][2]['W'].shape = net.net[2].weight.shape", list(params["net"][2]["W"].shape),
                   nest_ref["net_2_weight_shape"])
    result.compare("NestMLP: params['net'][2]['W'] = torch's net.2.weight, bit for bit", params["net"][2]["W"],
                   nest_ref["state_dict"]["net.2.weight"])
    fresh = nn.init(nest, jax.random.key(0), X.shape)[0]
    result.compare("NestMLP: named_parameters (names and shapes, torch's order)",
                   ", ".join(f"{n} {s}" for n, s in modules.shapes_of(fresh)),
                   ", ".join(f"{n} {s}" for n, s in nest_ref["named_parameters"]))
    result.text(
        "Exercise 1. NestMLP's parameters nest as its modules do: `params['net'][2]['W']` is "
        "`net.net[2].weight` (shape " + str(list(params["net"][2]["W"].shape)) + "), `params['linear']['b']` is "
        "`net.linear.bias`; `named_parameters` lists " + ", ".join(f"`{n}`" for n, _ in modules.shapes_of(fresh))
        + " as torch does."
    )

    tr = ref["train_shared"]
    Xt, yt = jnp.asarray(tr["X"], jnp.float32), jnp.asarray(tr["y"], jnp.float32)
    tied = modules.tied_mlp()
    start = modules.load_torch(tied, Xt.shape, {k: v for k, v in tr["state_dict"].items() if not k.startswith("4.")})
    final, losses, norms = train(tied, start, Xt, yt, tr["lr"], tr["steps"])
    result.compare(f"shared-layer net: loss at each of {tr['steps']} SGD steps", losses, tr["losses"],
                   tol=TOLERANCES["replay steps"])
    for name in norms:
        result.compare(f"shared-layer net: |grad {name}| at each step", norms[name],
                       [step[name] for step in tr["grad_norms"]], tol=TOLERANCES["replay steps"])
    for name, value in sd.named_parameters(final):
        result.compare(f"shared-layer net: final {name}", value, tr["final"][name], tol=TOLERANCES["replay params"])
    shared, others = norms["2.weight"], np.mean([norms["0.weight"], norms["6.weight"]], axis=0)
    result.text(
        "Exercise 2. The net with the shared layer, trained for "
        f"{tr['steps']} full-batch SGD steps (lr {tr['lr']}) on 64 noisy linear examples from PyTorch's "
        "initial parameters, follows PyTorch's run step for step: the loss falls from "
        f"{losses[0]:.4f} to {losses[-1]:.4f}. The shared layer's gradient is the sum of its two uses, so one "
        "update moves it by both; its weight's gradient norm at the first step is "
        f"{shared[0]:.4f} against {others[0]:.4f} on average for the unshared weights. "
        "Exercise 3 (why share): sharing cuts the number of parameters (a layer used k times is stored and "
        "trained once), and encodes an assumption, that the same transformation applies in several places "
        "(a convolution's kernel across positions, an RNN's weights across time steps, tied input and output "
        "embeddings), which acts as a regulariser and lets the model apply to inputs of other sizes."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
