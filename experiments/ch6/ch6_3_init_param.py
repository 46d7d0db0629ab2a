"""d2l 6.3 Parameter initialization: jax.nn.initializers (normal, zeros, constant, Glorot/Xavier uniform) and d2l's
my_init applied to chosen layers of a params tree; constants exactly as PyTorch's, draws as distributions within
their sampling error (different generators)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch6 import modules, sampling
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import nn

SECTION = "6.3"
TITLE = "Parameter initialization"
REFERENCE = "ch6_3_init_param"

TOLERANCES: Tolerances = {
    "sampling_z": sampling.SAMPLING_Z,
    "forward": Tolerance(rtol=1e-6, why="float32 sums of 4 and 8 products of constants: at most last-bit "
                                         "differences in the order of summation"),
}

inits = jax.nn.initializers
# jaxdl keeps W as (outputs, inputs), torch's layout: the fan-in axis is the last one (flax's kernels are
# (inputs, outputs), jax.nn.initializers' default).
AXES = {"in_axis": -1, "out_axis": -2}
XAVIER_UNIFORM = inits.glorot_uniform(**AXES)


def net() -> nn.Layer:
    """d2l's nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))."""
    return nn.serial(nn.linear(8, sigma=None), nn.relu(), nn.linear(1, sigma=None))


def weights_and_biases(weight_init: object, bias_init: object = None, layer: str | None = None):
    """A rule for modules.initialise: weights (of one layer, or all) get weight_init, biases bias_init."""

    def rule(name: str):
        if layer is not None and not name.startswith(f"{layer}."):
            return None
        return weight_init if name.endswith("weight") else bias_init

    return rule


def theory() -> dict[str, float]:
    """The variances the three initialisers draw with, for a (256, 512) weight."""
    fan_in, fan_out = 512, 256
    return {"normal": 0.01**2, "xavier_uniform": 2 / (fan_in + fan_out),
            # half the draws zeroed, the rest uniform on 5 <= |w| <= 10: E[w^2] = 0.5 (10^3 - 5^3) / (3 * 5)
            "my_init": 0.5 * (10**3 - 5**3) / 15}


def big_draws(key: jax.Array, shape: tuple[int, int]) -> dict[str, jax.Array]:
    """Each initialiser once on a (256, 512) weight, from its own key."""
    k1, k2, k3 = jax.random.split(key, 3)
    return {"normal": inits.normal(0.01)(k1, shape), "xavier_uniform": XAVIER_UNIFORM(k2, shape),
            "my_init": modules.my_init(k3, shape)}


def run(result: Result, fast: bool) -> None:
    del fast  # 3 x 131072 draws take well under a second
    ref = references.load(REFERENCE)
    book = ref["book"]
    X = jnp.asarray(book["X"], jnp.float32)
    model = net()
    key = jax.random.key(63)
    k_default, k_normal, k_xavier, k_my = jax.random.split(key, 4)
    params = nn.init(model, k_default, X.shape)[0]

    normal = modules.initialise(params, k_normal, weights_and_biases(inits.normal(0.01), inits.zeros))
    for i, layer in enumerate((0, 2)):
        result.compare(f"init_normal: {layer}.bias is zeros, as torch's", normal[layer]["b"],
                       book["normal"]["biases"][i])
    constant = modules.initialise(params, k_normal, weights_and_biases(inits.constant(1.0), inits.zeros))
    stored = book["constant"]["state_dict"]
    for name, leaf in modules.sd.named_parameters(constant):
        result.compare(f"init_constant: {name} = torch's, exactly", leaf, stored[name])
    result.compare("init_constant: net(X)", model(constant, X), book["constant"]["output"], tol=TOLERANCES["forward"])
    mixed = modules.initialise(constant, k_xavier, weights_and_biases(XAVIER_UNIFORM, layer="0"))
    mixed = modules.initialise(mixed, k_xavier, weights_and_biases(inits.constant(42.0), layer="2"))
    xav = book["xavier_42"]
    result.compare("layer 2 only: weight = 42 everywhere, as torch's", mixed[2]["W"], xav["layer2_weight"])
    result.compare("layer 0 only: its bias kept (init_xavier leaves it), as torch's", mixed[0]["b"], xav["layer0_bias"])
    bound = float(np.sqrt(6 / (4 + 8)))
    result.compare("layer 0: Xavier bound sqrt(6 / (4 + 8))", bound, xav["layer0_bound"])
    result.compare("layer 0: every |w| <= the bound (torch's too)",
                   [bool(jnp.abs(mixed[0]["W"]).max() <= bound), xav["layer0_max_abs"] <= bound], [True, True])
    mine = modules.initialise(mixed, k_my, weights_and_biases(modules.my_init))
    W0 = np.asarray(mine[0]["W"])
    theirs = np.asarray(book["my_init"]["weight"])
    result.compare("my_init: every weight is 0 or 5 <= |w| <= 10 (ours, torch's)",
                   [bool(np.all((W0 == 0) | ((np.abs(W0) >= 5) & (np.abs(W0) <= 10)))),
                    bool(np.all((theirs == 0) | ((np.abs(theirs) >= 5) & (np.abs(theirs) <= 10))))], [True, True])
    edited = jnp.asarray(theirs) + 1
    edited = edited.at[0, 0].set(42.0)
    result.compare("W + 1, then W[0, 0] = 42 (functional .at[].set) on torch's weight = torch's in-place edit",
                   edited, book["my_init"]["after_edit"])

    big = ref["big"]
    shape = tuple(big["shape"])
    draws = big_draws(jax.random.key(630), shape)
    variances = theory()
    for name, w in draws.items():
        sampling.compare_distribution(result, f"{name} on a {shape} weight vs torch's", w, big[name], variances[name])
    ours = sampling.statistics(draws["my_init"])
    result.compare("my_init: fraction zeroed vs torch's (z-score)",
                   sampling.fraction_z(ours["zero_fraction"], ours["n"], big["my_init"]["zero_fraction"],
                                       big["my_init"]["n"]), 0.0, atol=TOLERANCES["sampling_z"].value)
    result.compare("my_init: smallest nonzero |w| >= 5 (ours, torch's)",
                   [ours["min_abs_nonzero"] >= 5, big["my_init"]["min_abs_nonzero"] >= 5], [True, True])
    xs = sampling.statistics(draws["xavier_uniform"])
    result.text(
        "d2l's `net.apply(init_fn)` visits modules; here `modules.initialise(params, key, rule)` visits the "
        "leaves of the params tree by their torch names and redraws those the rule picks, each from its own "
        "key (`fold_in` of its position), returning a new tree: `weights_and_biases(glorot_uniform, layer='0')` "
        "is `net[0].apply(init_xavier)`. The initialisers are `jax.nn.initializers` (`normal(0.01)`, `zeros`, "
        "`constant(1)`, `glorot_uniform`) and d2l's `my_init` is a function of the same signature, "
        "U(-10, 10) with |w| < 5 zeroed. Constants equal PyTorch's exactly. One trap: jax's initializers take "
        "the fan-in from axis -2 (flax's (inputs, outputs) kernels), jaxdl's and torch's weights are (outputs, "
        "inputs): pass `in_axis=-1, out_axis=-2` to fan-in or fan-out scalings (Glorot's fan average does "
        "not care, He's does: the exercises).\n\n"
        f"Draws cannot match across generators, so each initialiser was drawn once on a {shape} weight "
        f"({ours['n']} entries) on both sides and compared as distributions: the difference of the means, of "
        "the variances and of the empirical CDF at PyTorch's 11 quantiles (0.1% to 99.9%), each in standard "
        "errors of the difference, must lie within "
        f"{TOLERANCES['sampling_z'].value:g}; the variance is also held against its value in theory "
        f"(normal 1e-4, Xavier 2 / (512 + 256) = {variances['xavier_uniform']:.5f}, my_init "
        f"{variances['my_init']:.4f}). Xavier's largest |w| is {xs['max_abs']:.5f} (bound "
        f"{np.sqrt(6 / 768):.5f}); my_init zeroed {ours['zero_fraction']:.4f} of the entries (PyTorch "
        f"{big['my_init']['zero_fraction']:.4f}). The tests show each check fails for a sampler a few percent off."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
