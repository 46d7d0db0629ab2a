"""PyTorch reference numbers for d2l 2.4 Calculus, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from experiments.harness.torch_d2l import dtype_name, tensor_record


# d2l 2.4: the steps h of the difference quotients, and the grid on which the derivative is taken.
CALCULUS_STEPS = 10.0 ** np.arange(-1, -6, -1)

CALCULUS_GRID = (-2.0, 3.0, 11)


def calculus_f(x: torch.Tensor) -> torch.Tensor:
    """d2l 2.4's example function 3x^2 - 4x."""
    return 3 * x**2 - 4 * x


def calculus() -> dict[str, Any]:
    """d2l 2.4 Calculus: difference quotients at x = 1 in float64 and float32, autograd derivatives, the tangent."""
    out: dict[str, Any] = {"x0": 1.0, "steps": CALCULUS_STEPS}
    for dtype in (torch.float64, torch.float32):
        x, h = torch.tensor(1.0, dtype=dtype), torch.tensor(CALCULUS_STEPS, dtype=dtype)
        out[f"quotients_{dtype_name(x)}"] = tensor_record((calculus_f(x + h) - calculus_f(x)) / h)

    x = torch.tensor(1.0, requires_grad=True)
    y = calculus_f(x)
    y.backward()
    out["grad_at_1"] = tensor_record(x.grad)
    # The tangent at x = 1 is y = f'(1) x + (f(1) - f'(1)); d2l plots it as 2x - 3.
    out["tangent_intercept"] = tensor_record(y.detach() - x.grad * x.detach())

    xs = torch.linspace(*CALCULUS_GRID, requires_grad=True)
    calculus_f(xs).sum().backward()
    out["xs"] = tensor_record(xs)
    out["grad_at_xs"] = tensor_record(xs.grad)
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch2_4_calculus": calculus()}
