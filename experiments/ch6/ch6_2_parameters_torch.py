"""PyTorch reference numbers for d2l 6.2 Parameter management, computed as d2l 1.0.3 does: a net's parameters by
name and all at once, its state_dict, a layer shared twice (its gradient and what writing to it does), and, for
the exercises, NestMLP's parameters and a short training run of a net with a shared layer."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from experiments.ch6.torch_support import NestMLP, grads, state_record
from experiments.harness.torch_d2l import one_thread

SEED = 62
TRAIN_STEPS, TRAIN_LR, TRAIN_N = 30, 0.05, 64


def shared_net(seed: int) -> tuple[nn.Sequential, nn.Module]:
    """d2l's Sequential(Lazy(8), ReLU, shared, ReLU, shared, ReLU, Lazy(1)), shared = LazyLinear(8)."""
    torch.manual_seed(seed)
    shared = nn.LazyLinear(8)
    net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.LazyLinear(1))
    return net, shared


def parameters() -> dict[str, Any]:
    torch.manual_seed(SEED)
    X = torch.rand(size=(2, 4))
    out: dict[str, Any] = {"X": X.numpy().copy()}
    torch.manual_seed(SEED + 1)
    net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))
    y = net(X)
    out["net"] = {"output": y.detach().numpy().copy(), **state_record(net),
                  "layer2_state_dict_names": list(net[2].state_dict()),
                  "layer2_bias": net[2].bias.data.numpy().copy(),
                  "layer2_bias_type": type(net[2].bias).__name__,
                  "layer2_weight_grad_is_none": net[2].weight.grad is None}

    net, shared = shared_net(SEED + 2)
    y = net(X)
    y.sum().backward()
    record = {"output": y.detach().numpy().copy(), **state_record(net), "grads": grads(net),
              "same_object": net[2].weight is net[4].weight}
    net[2].weight.data[0, 0] = 100
    record["after_write_equal_rows"] = bool((net[2].weight.data[0] == net[4].weight.data[0]).all())
    record["after_write_output"] = net(X).detach().numpy().copy()
    out["tied"] = record
    return out


def exercises() -> dict[str, Any]:
    torch.manual_seed(SEED + 10)
    X = torch.rand(2, 20)
    nest = NestMLP()
    y = nest(X)
    out: dict[str, Any] = {"nest": {"X": X.numpy().copy(), "output": y.detach().numpy().copy(), **state_record(nest),
                                    "net_2_weight_shape": list(nest.net[2].weight.shape)}}

    torch.manual_seed(SEED + 11)
    X = torch.randn(TRAIN_N, 4)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(TRAIN_N, 1)
    net, _ = shared_net(SEED + 12)
    net(X)
    record: dict[str, Any] = {"X": X.numpy().copy(), "y": y.numpy().copy(), "lr": TRAIN_LR, "steps": TRAIN_STEPS,
                              **state_record(net)}
    losses, grad_norms = [], []
    optimizer = torch.optim.SGD(net.parameters(), lr=TRAIN_LR)
    for _ in range(TRAIN_STEPS):
        optimizer.zero_grad()
        loss = ((net(X) - y) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        grad_norms.append({name: p.grad.norm().item() for name, p in net.named_parameters()})
        optimizer.step()
    record.update(losses=losses, grad_norms=grad_norms,
                  final={name: p.detach().numpy().copy() for name, p in net.named_parameters()})
    out["train_shared"] = record
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch6_2_parameters": parameters(), "ch6_2_parameters_exercises": exercises()}
