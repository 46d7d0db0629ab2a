"""PyTorch reference numbers for d2l 6.3 Parameter initialization, computed as d2l 1.0.3 does: the book's net after
each built-in and custom initialiser, and the distributions those draw on a larger layer (the draws themselves
cannot match JAX's, so their statistics are stored); for the exercises, kaiming_normal_ and orthogonal_."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from experiments.ch6.torch_support import distribution
from experiments.harness.torch_d2l import one_thread

SEED = 63
BIG = (256, 512)  # a Linear(512, 256) weight: (out, in), 131072 draws


def init_normal(module):
    if type(module) == nn.Linear:
        nn.init.normal_(module.weight, mean=0, std=0.01)
        nn.init.zeros_(module.bias)


def init_constant(module):
    if type(module) == nn.Linear:
        nn.init.constant_(module.weight, 1)
        nn.init.zeros_(module.bias)


def init_xavier(module):
    if type(module) == nn.Linear:
        nn.init.xavier_uniform_(module.weight)


def init_42(module):
    if type(module) == nn.Linear:
        nn.init.constant_(module.weight, 42)


def my_init(module):
    if type(module) == nn.Linear:
        nn.init.uniform_(module.weight, -10, 10)
        module.weight.data *= module.weight.data.abs() >= 5


def state(net: nn.Module) -> dict[str, Any]:
    return {name: t.detach().numpy().copy() for name, t in net.state_dict().items()}


def book_net() -> dict[str, Any]:
    torch.manual_seed(SEED)
    X = torch.rand(size=(2, 4))
    net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))
    net(X)
    out: dict[str, Any] = {"X": X.numpy().copy()}
    net.apply(init_normal)
    out["normal"] = {"weight_row0": net[0].weight.data[0].numpy().copy(), "bias0": net[0].bias.data[0].item(),
                     "biases": [net[0].bias.data.numpy().copy(), net[2].bias.data.numpy().copy()]}
    net.apply(init_constant)
    out["constant"] = {"state_dict": state(net), "output": net(X).detach().numpy().copy()}
    net[0].apply(init_xavier)
    net[2].apply(init_42)
    out["xavier_42"] = {"layer0_max_abs": net[0].weight.data.abs().max().item(),
                        "layer0_bound": (6 / (4 + 8)) ** 0.5, "layer2_weight": net[2].weight.data.numpy().copy(),
                        "layer0_bias": net[0].bias.data.numpy().copy()}
    net.apply(my_init)
    before = net[0].weight.data.clone()
    out["my_init"] = {"weight_first_rows": before[:2].numpy().copy(), "weight": before.numpy().copy()}
    net[0].weight.data[:] += 1
    net[0].weight.data[0, 0] = 42
    out["my_init"]["after_edit"] = net[0].weight.data.numpy().copy()
    return out


def big_draws() -> dict[str, Any]:
    """Each initialiser once on a Linear(512, 256) weight, from its own seed."""
    out: dict[str, Any] = {"shape": list(BIG)}
    for i, (name, fn) in enumerate((("normal", lambda w: nn.init.normal_(w, mean=0, std=0.01)),
                                    ("xavier_uniform", nn.init.xavier_uniform_),
                                    ("my_init", lambda w: nn.init.uniform_(w, -10, 10)))):
        torch.manual_seed(SEED + 10 + i)
        w = fn(torch.empty(BIG))
        if name == "my_init":
            w = w * (w.abs() >= 5)
        out[name] = distribution(w)
    return out


def exercises() -> dict[str, Any]:
    out: dict[str, Any] = {"shape": list(BIG)}
    torch.manual_seed(SEED + 20)
    w = nn.init.kaiming_normal_(torch.empty(BIG), mode="fan_in", nonlinearity="relu")
    out["kaiming_normal"] = {**distribution(w), "tail_beyond_2sd": (w.abs() > 2 * (2 / BIG[1]) ** 0.5).double().mean().item()}
    torch.manual_seed(SEED + 21)
    w = nn.init.orthogonal_(torch.empty(BIG))
    out["orthogonal"] = {"gram_error": (w @ w.T - torch.eye(BIG[0])).abs().max().item(), **distribution(w)}
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch6_3_init_param": {"book": book_net(), "big": big_draws()}, "ch6_3_init_param_exercises": exercises()}
