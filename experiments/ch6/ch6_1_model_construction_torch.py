"""PyTorch reference numbers for d2l 6.1 Layers and modules, computed as d2l 1.0.3 does: each network's state_dict
(after its lazy layers met X), its output for X, and FixedHiddenMLP's gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from experiments.ch6.torch_support import NestMLP, grads, state_record
from experiments.harness.torch_d2l import one_thread

SEED, INPUT_SHAPE = 61, (2, 20)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.LazyLinear(256)
        self.out = nn.LazyLinear(10)

    def forward(self, X):
        return self.out(F.relu(self.hidden(X)))


class MySequential(nn.Module):
    def __init__(self, *args):
        super().__init__()
        for idx, module in enumerate(args):
            self.add_module(str(idx), module)

    def forward(self, X):
        for module in self.children():
            X = module(X)
        return X


class FixedHiddenMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.rand_weight = torch.rand((20, 20))
        self.linear = nn.LazyLinear(20)
        self.halvings = 0  # counted here for the reference (d2l's loop does not count)

    def forward(self, X):
        X = self.linear(X)
        X = F.relu(X @ self.rand_weight + 1)
        X = self.linear(X)
        self.halvings = 0
        while X.abs().sum() > 1:
            X /= 2
            self.halvings += 1
        return X.sum()


class Parallel(nn.Module):
    """Exercise 2: the concatenated outputs of two networks."""

    def __init__(self, net1, net2):
        super().__init__()
        self.net1, self.net2 = net1, net2

    def forward(self, X):
        return torch.cat([self.net1(X), self.net2(X)], dim=-1)


class ListSequential(nn.Module):
    """Exercise 1: MySequential keeping its modules in a Python list."""

    def __init__(self, *args):
        super().__init__()
        self.modules_list = list(args)

    def forward(self, X):
        for module in self.modules_list:
            X = module(X)
        return X


def run(net: nn.Module, X: torch.Tensor, seed: int) -> dict[str, Any]:
    """The network's output for X (its lazy layers initialised by that call) and its state_dict."""
    out = net(X)
    return {"seed": seed, "output": out.detach().numpy().copy(), **state_record(net)}


def model_construction() -> dict[str, Any]:
    torch.manual_seed(SEED)
    X = torch.rand(INPUT_SHAPE)
    out: dict[str, Any] = {"X": X.numpy().copy()}
    torch.manual_seed(SEED + 1)
    out["sequential"] = run(nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10)), X, SEED + 1)
    # The MLP class and MySequential get the Sequential's parameters (stored once): only their outputs and
    # state_dict names are stored.
    values = out["sequential"]["state_dict"]
    for key, net in (("mlp", MLP()), ("my_sequential", MySequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10)))):
        net(X)  # initialises the lazy layers
        names = list(net.state_dict())
        net.load_state_dict({name: torch.from_numpy(values[seq_name]) for name, seq_name in zip(names, values)})
        record = run(net, X, SEED + 1)
        del record["state_dict"]
        out[key] = record
    torch.manual_seed(SEED + 4)
    fixed = FixedHiddenMLP()
    y = fixed(X)
    y.backward()
    out["fixed_hidden"] = {"output": y.detach().numpy().copy(), "rand_weight": fixed.rand_weight.numpy().copy(),
                           "rand_weight_requires_grad": fixed.rand_weight.requires_grad,
                           "halvings": fixed.halvings, "grads": grads(fixed), **state_record(fixed)}

    torch.manual_seed(SEED + 5)
    chimera = nn.Sequential(NestMLP(), nn.LazyLinear(20), FixedHiddenMLP())
    y = chimera(X)
    y.backward()
    out["chimera"] = {"output": y.detach().numpy().copy(), "rand_weight": chimera[2].rand_weight.numpy().copy(),
                      "halvings": chimera[2].halvings, "grads": grads(chimera), **state_record(chimera)}
    return out


def exercises() -> dict[str, Any]:
    torch.manual_seed(SEED)
    X = torch.rand(INPUT_SHAPE)
    out: dict[str, Any] = {"X": X.numpy().copy()}
    torch.manual_seed(SEED + 10)
    listed = ListSequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    y = listed(X)
    out["python_list"] = {"output_shape": list(y.shape), "parameters": len(list(listed.parameters())),
                          "state_dict_names": list(listed.state_dict())}
    torch.manual_seed(SEED + 11)
    par = Parallel(nn.Sequential(nn.LazyLinear(8), nn.ReLU()), nn.Sequential(nn.LazyLinear(4), nn.Tanh()))
    out["parallel"] = run(par, X, SEED + 11)
    torch.manual_seed(SEED + 12)
    blocks = nn.Sequential(*[nn.Sequential(nn.LazyLinear(16), nn.ReLU()) for _ in range(3)])
    out["factory"] = run(blocks, X, SEED + 12)
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch6_1_model_construction": model_construction(),
                "ch6_1_model_construction_exercises": exercises()}
