"""PyTorch reference numbers for d2l 2.5 Automatic differentiation (and its exercises, which read the same file),
computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from experiments.harness.torch_d2l import tensor_record


# Fixed inputs of the 2.5 control-flow function: negative, tiny, ordinary, and large
# enough (|2a| >= 1000) that the while loop never runs.
CONTROL_FLOW_A = (-5000.0, -123.25, -2.5, -1.0, -0.3, -1e-3, -1e-6, 1e-6, 1e-3, 0.3, 1.0, 7.0, 499.9, 500.0, 1234.5)

NUM_RANDOM_A = 1000


def control_flow_f(a: torch.Tensor) -> torch.Tensor:
    """d2l 2.5.4: a function whose computation graph depends on its input."""
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


def _control_flow_case(a_value: float) -> dict[str, Any]:
    a = torch.tensor(a_value, dtype=torch.float32).requires_grad_(True)
    d = control_flow_f(a)
    d.backward()
    return {
        "a": a.detach(),
        "f": d.detach(),
        "grad": a.grad,
        "d_over_a": (d / a).detach(),
        "grad_eq_d_over_a": bool(a.grad == d / a),
    }


def autodiff() -> dict[str, Any]:
    """d2l 2.5 Automatic differentiation."""
    out: dict[str, Any] = {}
    x = torch.arange(4.0)
    x.requires_grad_(True)
    out["x"] = tensor_record(x)
    out["grad_before_backward_is_none"] = x.grad is None
    y = 2 * torch.dot(x, x)
    y.backward()
    out["y_2_dot_xx"] = tensor_record(y)
    out["grad_2_dot_xx"] = tensor_record(x.grad)
    out["grad_eq_4x"] = tensor_record(x.grad == 4 * x)

    x.grad.zero_()
    y = x.sum()
    y.backward()
    out["grad_sum"] = tensor_record(x.grad)

    x.grad.zero_()
    y = x * x
    y.backward(gradient=torch.ones(len(y)))
    out["grad_x_times_x_ones_seed"] = tensor_record(x.grad)
    x.grad.zero_()
    y = x * x
    y.sum().backward()
    out["grad_x_times_x_sum"] = tensor_record(x.grad)

    x.grad.zero_()
    y = x * x
    u = y.detach()
    z = u * x
    z.sum().backward()
    out["detach"] = {"u": tensor_record(u), "z": tensor_record(z), "grad_z_sum": tensor_record(x.grad), "grad_eq_u": tensor_record(x.grad == u)}
    x.grad.zero_()
    y.sum().backward()
    out["detach"]["grad_y_sum"] = tensor_record(x.grad)
    out["detach"]["grad_eq_2x"] = tensor_record(x.grad == 2 * x)

    out["control_flow"] = [_control_flow_case(a) for a in CONTROL_FLOW_A]
    # d2l draws a = torch.randn(size=()); here many seeded draws, so the exact check
    # `a.grad == d / a` is seen to fail for some a (float rounding in 100 * b).
    torch.manual_seed(0)
    cases = [_control_flow_case(a) for a in torch.randn(NUM_RANDOM_A).tolist()]
    out["control_flow_randn"] = {
        "seed": 0,
        "a": np.array([c["a"].item() for c in cases], np.float32),
        "f": np.array([c["f"].item() for c in cases], np.float32),
        "grad": np.array([c["grad"].item() for c in cases], np.float32),
        "grad_eq_d_over_a": np.array([c["grad_eq_d_over_a"] for c in cases]),
    }
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch2_5_autodiff": autodiff()}
