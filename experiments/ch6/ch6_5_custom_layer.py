"""d2l 6.5 Custom layers: CenteredLayer (no parameters) and MyLinear (with parameters) as jaxdl layers, outputs and
gradients beside PyTorch's for the same parameters, and what d2l's `.data` does to MyLinear's gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from experiments.ch6 import modules
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import nn
from jaxdl import state_dict as sd

SECTION = "6.5"
TITLE = "Custom layers"
REFERENCE = "ch6_5_custom_layer"

TOLERANCES: Tolerances = {
    "forward": Tolerance(rtol=1e-6, atol=1e-6, why="float32 outputs of 8- and 64-term products (MyLinear's N(0, 1) "
                                                   "weights give outputs up to ~10) summed in another order than "
                                                   "torch's: last-bit differences; atol for entries near 0"),
    "mean": Tolerance(atol=1e-7, why="the mean of 512 centred float32 values of size ~0.3: rounding of the mean "
                                     "and of the centring leaves ~1e-8, never exactly 0 (torch's: ~1e-9)"),
    "gradients": Tolerance(rtol=1e-5, atol=1e-6, why="float32 gradients of a sum of squares through one layer and "
                                                     "the centring, summed in other orders"),
}


def run(result: Result, fast: bool) -> None:
    del fast
    ref = references.load(REFERENCE)

    centered = modules.centered()
    result.compare("CenteredLayer()([1, 2, 3, 4, 5])", centered((), jnp.arange(1.0, 6.0)), ref["centered_alone"])
    rec = ref["centered_net"]
    X = jnp.asarray(rec["X"], jnp.float32)
    model = nn.serial(nn.linear(128, sigma=None), centered)
    params = modules.load_torch(model, X.shape, rec["state_dict"])
    Y = model(params, X)
    result.compare("Sequential(LazyLinear(128), CenteredLayer())(X)", Y, rec["Y"], tol=TOLERANCES["forward"])
    result.compare("its output's mean is 0 to rounding (ours, torch's)", [Y.mean(), rec["Y_mean"]], [0.0, 0.0],
                   tol=TOLERANCES["mean"])
    grads = jax.grad(lambda p: (model(p, X) ** 2).sum())(params)
    for name, g in sd.named_parameters(grads):
        result.compare(f"d sum(Y^2) / d {name}", g, rec["grads"][name], tol=TOLERANCES["gradients"])

    lin = ref["my_linear"]
    Xl = jnp.asarray(lin["X"], jnp.float32)
    d2l_layer = modules.my_linear(5, 3, detach=True)
    lp = modules.load_torch(d2l_layer, Xl.shape, lin["state_dict"])
    result.compare("MyLinear(5, 3): state_dict names and shapes (torch's (in, units) layout)",
                   ", ".join(f"{n} {s}" for n, s in modules.shapes_of(lp)),
                   ", ".join(f"{n} {s}" for n, s in lin["named_parameters"]))
    result.compare("MyLinear(5, 3)(X)", d2l_layer(lp, Xl), lin["Y"], tol=TOLERANCES["forward"])
    detached = jax.grad(lambda p: d2l_layer(p, Xl).sum())(lp)
    result.compare("d2l's MyLinear (.data -> stop_gradient): gradient reaching weight and bias (torch: output "
                   f"requires_grad {lin['output_requires_grad']}, no .grad at all)",
                   [float(jnp.abs(detached["W"]).max()), float(jnp.abs(detached["b"]).max())], [0.0, 0.0])
    open_layer = modules.my_linear(5, 3)
    open_grads = jax.grad(lambda p: open_layer(p, Xl).sum())(lp)
    for name, g in sd.named_parameters(open_grads):
        result.compare(f"MyLinear without .data: d sum(Y) / d {name}", g, lin["grads_without_data"][name],
                       tol=TOLERANCES["gradients"])

    stacked = ref["my_linear_net"]
    Xs = jnp.asarray(stacked["X"], jnp.float32)
    two = nn.serial(modules.my_linear(64, 8), modules.my_linear(8, 1))
    tp = modules.load_torch(two, Xs.shape, stacked["state_dict"])
    result.compare("Sequential(MyLinear(64, 8), MyLinear(8, 1))(X)", two(tp, Xs), stacked["Y"], tol=TOLERANCES["forward"])
    result.text(
        "A custom layer is a pair of functions. CenteredLayer has no parameters: `nn.function(lambda X: X - "
        "X.mean())`, whose params are `()`; after a LazyLinear(128) its output's mean is "
        f"{float(Y.mean()):.2g} (PyTorch's {rec['Y_mean']:.2g}), zero up to float32 rounding. MyLinear has "
        "parameters: `nn.layer(name, init_params, apply)` with init drawing weight (in, units) and bias "
        "(units,) from N(0, 1) and apply computing relu(X W + b); its params `{'W', 'b'}` are named `weight` and "
        "`bias` by `jaxdl.state_dict`, so PyTorch's MyLinear state_dict loads into it unchanged (its own "
        "(in, units) layout, not nn.Linear's). d2l's forward multiplies by `self.weight.data`, which autograd does "
        "not follow: PyTorch's output does not even require a gradient, so such a layer would never train. "
        "`modules.my_linear(..., detach=True)` copies that with `lax.stop_gradient` (gradient exactly 0); "
        "without it the gradients equal PyTorch's for the layer written without `.data`."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
