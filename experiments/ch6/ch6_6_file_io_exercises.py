"""d2l 6.6 exercises: reusing the first layer of PyTorch's saved MLP in a network of another architecture, and
saving an architecture with its parameters (a config in the safetensors header, rebuilt without code or pickle)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch6 import modules
from experiments.harness import references
from experiments.harness.result import Result, Tolerances, cli
from jaxdl import nn
from jaxdl import state_dict as sd

SECTION = "6.6"
TITLE = "File I/O: exercises"
REFERENCE = "ch6_6_file_io"  # the section's: the stored input and PyTorch's saved MLP
MLP_FILE = Path(__file__).with_name("ch6_6_file_io_mlp.safetensors")

TOLERANCES: Tolerances = {}  # every comparison here is bit for bit

# Exercise 3's architectures: a config names layers from this table only, so a file can describe a model
# without carrying code.
BUILDERS = {"linear": lambda n: nn.linear(n, sigma=None), "relu": lambda: nn.relu(), "tanh": lambda: nn.tanh()}


def from_config(config: list[list]) -> nn.Layer:
    """A serial model from [["linear", 256], ["relu"], ...]; a name outside BUILDERS is refused."""
    layers = []
    for entry in config:
        name, *args = entry
        if name not in BUILDERS:
            raise ValueError(f"layer {name!r} is not one a config may name ({', '.join(BUILDERS)})")
        layers.append(BUILDERS[name](*args))
    return nn.serial(*layers)


def new_head_model() -> nn.Layer:
    """Exercise 2's new architecture: the old hidden layer, then a tanh and a 3-way head."""
    return modules.composite("Reused", {"hidden": nn.linear(256, sigma=None), "head": nn.linear(3, sigma=None)},
                             lambda call, X: call("head", jnp.tanh(call("hidden", X))))


def run(result: Result, fast: bool) -> None:
    del fast
    ref = references.load(REFERENCE)["mlp"]
    X = jnp.asarray(ref["X"], jnp.float32)
    old_model = modules.mlp_module(hidden="hidden", out="output")
    old = sd.load(MLP_FILE, *sd.shapes(old_model, X.shape))[0]

    # 2. reuse the first layer in another architecture
    flat, _ = sd.read(MLP_FILE)
    new = new_head_model()
    fresh = nn.init(new, jax.random.key(6), X.shape)[0]
    wanted = {name: np.asarray(leaf) for name, leaf in sd.named_parameters(fresh)}
    wanted.update({name: flat[name] for name in flat if name.startswith("hidden.")})
    reused = sd.load_state_dict(wanted, fresh)[0]
    hidden_old = X @ old["hidden"]["W"].T + old["hidden"]["b"]
    hidden_new = X @ reused["hidden"]["W"].T + reused["hidden"]["b"]
    result.compare("reused hidden layer: its activations in the new net = in the old, bit for bit", hidden_new,
                   hidden_old)
    result.compare("the new net's output shape (a 3-way head)", list(new(reused, X).shape), [2, 3])
    result.compare("the head keeps its fresh parameters", [np.array_equal(reused["head"]["W"], fresh["head"]["W"])],
                   [True])
    result.text(
        "Exercise 2. To reuse the first layer(s) of a saved network, read the file's state_dict, take the "
        "entries of those layers (here `hidden.weight`, `hidden.bias`) and put them into the new model's "
        "params by name, the other entries staying freshly initialised; `load_state_dict` checks the whole "
        "result against the new model's shapes. The new net (hidden, tanh, a 3-way head) computes the same "
        "hidden pre-activations as PyTorch's trained MLP, bit for bit. To train only the new part, mask the "
        "optimizer (`optax.masked`) or stop the gradient at the reused layer.\n\n"
        "Exercise 1 (why store parameters at all): a trained model is then a file that can be evaluated, "
        "compared, shared and fine-tuned later and elsewhere without retraining (here PyTorch's run is reused "
        "by JAX), and a long run can resume after an interruption (checkpoints, 6.6's reserved spot)."
    )

    # 3. architecture and parameters in one file
    config = [["linear", 256], ["relu"], ["linear", 10]]
    model = from_config(config)
    params = sd.load_state_dict({f"{i}.{leaf}": flat[f"{name}.{leaf}"] for i, name in ((0, "hidden"), (2, "output"))
                                 for leaf in ("weight", "bias")}, *sd.shapes(model, X.shape))[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = sd.save(Path(tmp) / "mlp_with_config.safetensors", params,
                       metadata={"config": json.dumps(config), "input_features": "20"})
        arrays, meta = sd.read(path)
        rebuilt = from_config(json.loads(meta["config"]))
        rebuilt_params = sd.load(path, *sd.shapes(rebuilt, (1, int(meta["input_features"]))))[0]
    logits = rebuilt(rebuilt_params, X)
    result.compare("architecture from the header's config + parameters: logits = PyTorch's MLP in jaxdl, bit for bit",
                   logits, old_model(old, X))
    try:
        from_config([["linear", 10], ["os.system", "rm -rf /"]])
        refusal = "built"
    except ValueError as err:
        refusal = str(err)
    result.compare("a config naming a layer outside the table is refused", refusal.split(" is ")[0], "layer 'os.system'")
    result.text(
        "Exercise 3. Architecture and parameters travel together without pickle when the architecture is "
        "data: the safetensors header carries `config` = " + json.dumps(config) + " beside the arrays, and "
        "`from_config` rebuilds the model from a fixed table of builders (" + ", ".join(BUILDERS) + "); "
        "shapes are inferred from `input_features` as ever, and the rebuilt model gives the logits bit for "
        "bit. The restriction: the architecture must be expressible in the config's vocabulary (known layer "
        "kinds with data arguments, composed by known combinators); arbitrary Python forward code (d2l's "
        "FixedHiddenMLP's loop) cannot be stored that way, and a config naming anything else is refused "
        "rather than executed."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
