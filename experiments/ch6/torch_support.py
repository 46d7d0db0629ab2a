"""What chapter 6's PyTorch generators share (imports torch; the experiments never import it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def state_record(module: nn.Module) -> dict[str, Any]:
    """A module's state_dict as the references store it: values by name, and the names and shapes in torch's
    order (the JSON file sorts its keys, so the order is kept as a list)."""
    state = module.state_dict()
    return {
        "state_dict": {name: t.detach().numpy().copy() for name, t in state.items()},
        "state_dict_names": list(state),
        "named_parameters": [[name, list(p.shape)] for name, p in module.named_parameters()],
    }


def grads(module: nn.Module) -> dict[str, Any]:
    """Each named parameter's .grad (None where autograd left none)."""
    return {name: None if p.grad is None else p.grad.numpy().copy() for name, p in module.named_parameters()}


def uniform_inputs(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """torch.rand(shape) after torch.manual_seed(seed), as d2l draws its X (stored, so the experiment feeds the same)."""
    torch.manual_seed(seed)
    return torch.rand(shape).numpy()


QUANTILE_LEVELS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]


def distribution(w: torch.Tensor) -> dict[str, Any]:
    """A drawn weight's sample statistics (float64): size, mean, variance, fourth central moment, largest |w|,
    smallest nonzero |w|, the fraction of exact zeros and the quantiles at QUANTILE_LEVELS."""
    x = w.detach().double().flatten()
    centred = x - x.mean()
    nonzero = x[x != 0].abs()
    return {"n": x.numel(), "mean": x.mean().item(), "var": (centred**2).mean().item(),
            "m4": (centred**4).mean().item(), "max_abs": x.abs().max().item(),
            "min_abs_nonzero": nonzero.min().item() if nonzero.numel() else 0.0,
            "zero_fraction": (x == 0).double().mean().item(), "quantile_levels": QUANTILE_LEVELS,
            "quantiles": torch.quantile(x, torch.tensor(QUANTILE_LEVELS, dtype=torch.float64)).numpy()}


class NestMLP(nn.Module):
    """d2l 6.1's NestMLP (a Sequential and a Linear as attributes), which 6.1 and 6.2's exercises both build."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.LazyLinear(64), nn.ReLU(), nn.LazyLinear(32), nn.ReLU())
        self.linear = nn.LazyLinear(16)

    def forward(self, X):
        return self.linear(self.net(X))
