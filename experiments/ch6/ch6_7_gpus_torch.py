"""PyTorch reference facts for d2l 6.7 GPUs on the CPU build the references are made with: the devices it sees,
where tensors live, that .to() onto a tensor's own device returns the tensor itself, and a float32 matrix
product's sum for a stored matrix (the number jaxdl computes on each of its devices)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from experiments.harness.torch_d2l import one_thread

SEED, SIZE = 67, 64


def try_gpu(i: int = 0) -> torch.device:
    """d2l's try_gpu: cuda:i if it exists, else the CPU."""
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def gpus() -> dict[str, Any]:
    x = torch.tensor([1, 2, 3])
    X = torch.ones(2, 3, device=try_gpu())
    net = nn.Sequential(nn.LazyLinear(1))
    net = net.to(device=try_gpu())
    torch.manual_seed(SEED)
    A = torch.rand(SIZE, SIZE)
    return {
        "cpu": str(torch.device("cpu")), "num_gpus": torch.cuda.device_count(), "x_device": str(x.device),
        "try_gpu": str(try_gpu()), "try_gpu_1": str(try_gpu(1)), "X": X.numpy().copy(), "X_device": str(X.device),
        "to_same_device_is_self": X.to(X.device) is X, "net_device": str(next(net.parameters()).device),
        "A": A.numpy().copy(), "sum_AA_float32": (A @ A).sum().item(),
        "sum_AA_float64": (A.double() @ A.double()).sum().item(),
    }


def generate() -> dict[str, dict]:
    """This section's reference file: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        return {"ch6_7_gpus": gpus()}
