"""PyTorch reference numbers for d2l 6.5 Custom layers, computed as d2l 1.0.3 does: CenteredLayer alone and after a
LazyLinear, d2l's MyLinear (which multiplies by .data, so autograd does not reach its parameters) and the same
layer without .data, with gradients; for the exercises, the tensor-reduction layer and the leading half of the
Fourier coefficients, with gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from experiments.ch6.torch_support import grads, state_record
from experiments.harness.torch_d2l import one_thread

SEED = 65


class CenteredLayer(nn.Module):
    def forward(self, X):
        return X - X.mean()


class MyLinear(nn.Module):
    def __init__(self, in_units, units, detach=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units,))
        self.detach = detach  # d2l's code is detach=True (.data)

    def forward(self, X):
        if self.detach:
            linear = torch.matmul(X, self.weight.data) + self.bias.data
        else:
            linear = torch.matmul(X, self.weight) + self.bias
        return F.relu(linear)


def custom_layer() -> dict[str, Any]:
    out: dict[str, Any] = {"centered_alone": CenteredLayer()(torch.tensor([1.0, 2, 3, 4, 5])).numpy().copy()}
    torch.manual_seed(SEED)
    X = torch.rand(4, 8)
    net = nn.Sequential(nn.LazyLinear(128), CenteredLayer())
    Y = net(X)
    (Y**2).sum().backward()
    out["centered_net"] = {"X": X.numpy().copy(), "Y": Y.detach().numpy().copy(), "Y_mean": Y.mean().item(),
                           "grads": grads(net), **state_record(net)}

    torch.manual_seed(SEED + 1)
    linear = MyLinear(5, 3)
    X = torch.rand(2, 5)
    Y = linear(X)
    out["my_linear"] = {"X": X.numpy().copy(), "Y": Y.numpy().copy(), "output_requires_grad": Y.requires_grad,
                        **state_record(linear)}
    with_grad = MyLinear(5, 3, detach=False)
    with_grad.load_state_dict(linear.state_dict())
    Y = with_grad(X)
    Y.sum().backward()
    out["my_linear"]["grads_without_data"] = grads(with_grad)

    torch.manual_seed(SEED + 2)
    net = nn.Sequential(MyLinear(64, 8), MyLinear(8, 1))
    X = torch.rand(2, 64)
    out["my_linear_net"] = {"X": X.numpy().copy(), "Y": net(X).numpy().copy(), **state_record(net)}
    return out


def exercises() -> dict[str, Any]:
    torch.manual_seed(SEED + 10)
    W = (0.1 * torch.randn(5, 5, 3)).requires_grad_(True)
    X = torch.rand(4, 5, requires_grad=True)
    y = torch.einsum("ijk,ni,nj->nk", W, X, X)
    (y**2).sum().backward()
    out: dict[str, Any] = {"tensor_reduction": {"W": W.detach().numpy().copy(), "X": X.detach().numpy().copy(),
                                                "y": y.detach().numpy().copy(), "grad_W": W.grad.numpy().copy(),
                                                "grad_X": X.grad.numpy().copy()}}
    torch.manual_seed(SEED + 11)
    X = torch.randn(3, 8, requires_grad=True)
    A, B = torch.randn(3, 4), torch.randn(3, 4)
    c = torch.fft.fft(X)[..., : X.shape[-1] // 2]
    (c.real * A + c.imag * B).sum().backward()
    out["fourier"] = {"X": X.detach().numpy().copy(), "A": A.numpy().copy(), "B": B.numpy().copy(),
                      "real": c.real.detach().numpy().copy(), "imag": c.imag.detach().numpy().copy(),
                      "grad_X": X.grad.numpy().copy()}
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch6_5_custom_layer": custom_layer(), "ch6_5_custom_layer_exercises": exercises()}
