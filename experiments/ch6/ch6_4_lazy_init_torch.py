"""PyTorch reference facts for d2l 6.4 Lazy initialization, as d2l 1.0.3 runs it: LazyLinear's parameters are
uninitialised until the first input, then shaped by it; for the exercises, a net whose first layer is given its
input size, mismatched sizes, and a lazy net fed inputs of another size."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.parameter import UninitializedParameter

from experiments.harness.torch_d2l import one_thread

SEED = 64


def shapes(net: nn.Module) -> list[list[Any]]:
    """[(name, shape or "uninitialized")] in named_parameters() order."""
    return [[name, "uninitialized" if isinstance(p, UninitializedParameter) else list(p.shape)]
            for name, p in net.named_parameters()]


def error(fn) -> str:
    try:
        fn()
    except RuntimeError as err:
        return f"{type(err).__name__}: {err}"
    return "no error"


def lazy_init() -> dict[str, Any]:
    torch.manual_seed(SEED)
    net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    before = shapes(net)
    X = torch.rand(2, 20)
    net(X)
    return {"before": before, "after": shapes(net), "input_shape": list(X.shape)}


def exercises() -> dict[str, Any]:
    torch.manual_seed(SEED + 1)
    X = torch.rand(2, 20)
    first_given = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.LazyLinear(10))
    out: dict[str, Any] = {"first_given": {"before": shapes(first_given)}}
    first_given(X)
    out["first_given"]["after"] = shapes(first_given)
    mismatched = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(128, 10))
    out["mismatched"] = {"error": error(lambda: mismatched(X))}
    lazy = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    lazy(X)
    out["other_size"] = {"error": error(lambda: lazy(torch.rand(2, 30))),
                         "other_batch_shape": list(lazy(torch.rand(5, 20)).shape)}
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch6_4_lazy_init": lazy_init(), "ch6_4_lazy_init_exercises": exercises()}
