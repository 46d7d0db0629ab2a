"""PyTorch reference numbers for d2l 5.1 Multilayer perceptrons and its exercises, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from experiments.harness.torch_d2l import one_thread


# d2l 5.1 plots every activation over this grid.
GRID = (-8.0, 8.0, 0.1)

PRELU_ALPHA = 0.25  # nn.PReLU's initial slope

EXERCISE_ALPHAS = (0.1, 0.2, 0.5)


def _grads_along_grid(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> dict[str, Any]:
    """d2l's pattern: y = f(x), y.backward(torch.ones_like(x)), read x.grad."""
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(torch.ones_like(x))
    return {"y": y.detach().numpy(), "grad": x.grad.numpy()}


def _prelu(x: torch.Tensor, alpha: float) -> dict[str, Any]:
    """pReLU(x) = max(0, x) + alpha min(0, x) with a learnable alpha: values, dy/dx and d(sum y)/d alpha."""
    x = x.detach().clone().requires_grad_(True)
    a = torch.tensor([alpha], requires_grad=True)
    y = F.prelu(x, a)
    y.backward(torch.ones_like(x))
    return {"alpha": alpha, "y": y.detach().numpy(), "grad": x.grad.numpy(), "grad_alpha": a.grad.numpy()[0]}


def activations() -> dict[str, Any]:
    """d2l 5.1.2: ReLU, sigmoid and tanh (and pReLU) over the grid, with their derivatives."""
    x = torch.arange(*GRID, dtype=torch.float32)
    return {
        "x": x.numpy(),
        "relu": _grads_along_grid(torch.relu, x),
        "sigmoid": _grads_along_grid(torch.sigmoid, x),
        "tanh": _grads_along_grid(torch.tanh, x),
        "prelu": _prelu(x, PRELU_ALPHA),
    }


def activation_exercises() -> dict[str, Any]:
    """5.1 exercises: pReLU for several slopes and Swish x * sigmoid(x), with their derivatives."""
    x = torch.arange(*GRID, dtype=torch.float32)
    return {
        "x": x.numpy(),
        "prelu": [_prelu(x, a) for a in EXERCISE_ALPHAS],
        "swish": _grads_along_grid(lambda x: x * torch.sigmoid(x), x),
    }


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch5_1_mlp": activations(), "ch5_1_mlp_exercises": activation_exercises()}
