"""d2l 6.4 exercises: a first layer told its input size, mismatched sizes (errors naming the layer and both
shapes, beside PyTorch's), and inputs of varying size (batch: retraced per shape; features: by tying)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from experiments.ch6 import modules
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import nn

SECTION = "6.4"
TITLE = "Lazy initialization: exercises"
REFERENCE = "ch6_4_lazy_init_exercises"

TOLERANCES: Tolerances = {
    "permutation": Tolerance(rtol=1e-6, atol=1e-7, why="a mean over features taken in another order: float32 "
                                                       "rounding of a 20- to 30-term sum only"),
}


def shapes(params: object) -> str:
    return ", ".join(f"{n} {s}" for n, s in modules.shapes_of(params))


def error_of(fn) -> str:
    """The ShapeError fn raises, as "ShapeError: message", or "no error"."""
    try:
        fn()
    except nn.ShapeError as err:
        return f"ShapeError: {err}"
    return "no error"


def run(result: Result, fast: bool) -> None:
    del fast
    ref = references.load(REFERENCE)
    X = jax.random.uniform(jax.random.key(0), (2, 20))

    # 1. the first layer told its input size
    given = ref["first_given"]
    first = modules.sized(nn.linear(256, sigma=None), 20)
    p_first = nn.init(first, jax.random.key(1), (1, 20))[0]  # at once: its size is known without the data
    torch_first = ", ".join(f"{n} {s}" for n, s in given["before"] if s != "uninitialized")
    result.compare("first layer given 20 inputs: initialised before any data (torch: too)",
                   ", ".join(f"0.{n} {s}" for n, s in modules.shapes_of(p_first)), torch_first)
    model = nn.serial(first, nn.relu(), nn.linear(10, sigma=None))
    result.compare("the rest after the first input: shapes = torch's", shapes(nn.init(model, jax.random.key(1), X.shape)[0]),
                   ", ".join(f"{n} {s}" for n, s in given["after"]))
    result.text(
        "Exercise 1. PyTorch initialises `nn.Linear(20, 256)` at once and leaves the LazyLinear after it "
        "uninitialised until data arrives (" + ", ".join(f"{n}: {s}" for n, s in given["before"]) + "). In "
        "jaxdl initialisation is one call, `init(key, input_shape)`, for the whole model: a layer that knows "
        "its input size (`modules.sized(nn.linear(256), 20)`) can be initialised alone without data, but the "
        "layers after it still get their sizes from the shapes flowing through init; none is 'pending'."
    )

    # 2. mismatched sizes
    mismatched = nn.serial(modules.sized(nn.linear(256, sigma=None), 20), nn.relu(),
                           modules.sized(nn.linear(10, sigma=None), 128))
    ours = error_of(lambda: nn.init(mismatched, jax.random.key(2), X.shape))
    theirs = ref["mismatched"]["error"]
    result.compare("mismatched sizes at init: ours names layer 2, 128 and (2, 256); torch's names 2x256 and 128x10",
                   [all(s in ours for s in ("layer 2", "Linear(10)", "128", "(2, 256)")),
                    all(s in theirs for s in ("2x256", "128x10"))], [True, True])
    params = nn.init(nn.serial(nn.linear(256, sigma=None), nn.relu(), nn.linear(10, sigma=None)), jax.random.key(3),
                     X.shape)[0]
    lazy = nn.serial(nn.linear(256, sigma=None), nn.relu(), nn.linear(10, sigma=None))
    other = ref["other_size"]
    ours_apply = error_of(lambda: lazy(params, jnp.ones((2, 30))))
    result.compare("params for 20 features fed (2, 30): ours names Linear(256), 20 and (2, 30); torch's 2x30 and 20x256",
                   [all(s in ours_apply for s in ("Linear(256)", "20 inputs", "(2, 30)")),
                    all(s in other["error"] for s in ("2x30", "20x256"))], [True, True])
    result.text(
        "Exercise 2. Sizes that do not fit fail at once, naming both shapes. PyTorch's: `" + theirs + "`. "
        "jaxdl's, at init (the shapes are traced through the layers before anything is drawn): `" + ours +
        "`. Fed inputs of another size than its parameters were made for, PyTorch says `" + other["error"] +
        "`, jaxdl `" + ours_apply + "`."
    )

    # 3. varying sizes
    traces = []

    @jax.jit
    def forward(params, X):
        traces.append(X.shape)  # runs only while tracing
        return lazy(params, X)

    outs = [forward(params, jnp.ones((n, 20))) for n in (2, 5, 7, 5, 2)]
    result.compare("other batch sizes: output shape for 5 rows (torch's too)", list(outs[1].shape),
                   other["other_batch_shape"])
    result.compare("jit traces for batch sizes 2, 5, 7, 5, 2: one per new shape", len(traces), 3)
    tied = modules.shared_feature_net()
    tp = nn.init(tied, jax.random.key(4), (2, 20))[0]
    outputs = {d: tied(tp, jax.random.normal(jax.random.key(d), (2, d))) for d in (5, 20, 30)}
    result.compare("feature count varies (5, 20, 30) with one set of params: output shapes",
                   [list(o.shape) for o in outputs.values()], [[2, 10]] * 3)
    result.compare("its params do not depend on the feature count",
                   shapes(nn.init(tied, jax.random.key(4), (2, 5))[0]), shapes(tp))
    Z = jax.random.normal(jax.random.key(9), (2, 30))
    perm = jax.random.permutation(jax.random.key(10), 30)
    result.compare("tied over features: permuting the features leaves the output unchanged", tied(tp, Z[:, perm]),
                   tied(tp, Z), tol=TOLERANCES["permutation"])
    result.text(
        "Exercise 3. The batch size may vary freely: parameters fix only the feature size, and "
        f"`jax.jit` compiles once per new input shape (batch sizes 2, 5, 7, 5, 2 gave {len(traces)} traces). "
        "A varying number of features needs parameters that do not depend on it; tying gives them: "
        "`modules.shared_feature_net()` passes each feature through the same small layer relu(x_i w + c) and "
        f"averages over the features, so one params tree ({shapes(tp)}) serves 5, 20 or 30 features, and "
        "the output does not depend on their order (a DeepSets-style pooling; padding to a maximum size with "
        "a mask is the other usual answer)."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
