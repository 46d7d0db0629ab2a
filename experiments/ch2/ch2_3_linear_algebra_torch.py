"""PyTorch reference numbers for d2l 2.3 Linear algebra, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import torch

from experiments.harness.torch_d2l import tensor_record


def linear_algebra() -> dict[str, Any]:
    """d2l 2.3 Linear algebra."""
    out: dict[str, Any] = {}
    x, y = torch.tensor(3.0), torch.tensor(2.0)
    out["scalars"] = {"add": tensor_record(x + y), "mul": tensor_record(x * y), "div": tensor_record(x / y), "pow": tensor_record(x**y)}
    x = torch.arange(3)
    out["vector"] = {"x": tensor_record(x), "x2": tensor_record(x[2]), "len": len(x), "shape": list(x.shape)}
    A = torch.arange(6).reshape(3, 2)
    out["matrix"] = {"A": tensor_record(A), "A_T": tensor_record(A.T)}
    A = torch.tensor([[1, 2, 3], [2, 0, 4], [3, 4, 5]])
    out["symmetric"] = {"A": tensor_record(A), "A_eq_A_T": tensor_record(A == A.T)}
    out["tensor_2_3_4"] = tensor_record(torch.arange(24).reshape(2, 3, 4))

    A = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    B = A.clone()
    out["A"] = tensor_record(A)
    out["A_plus_B"] = tensor_record(A + B)
    out["A_times_B"] = tensor_record(A * B)
    a = 2
    X = torch.arange(24).reshape(2, 3, 4)
    out["a_plus_X"] = tensor_record(a + X)
    out["a_times_X_shape"] = list((a * X).shape)

    x = torch.arange(3, dtype=torch.float32)
    out["x"] = tensor_record(x)
    out["x_sum"] = tensor_record(x.sum())
    out["A_sum"] = tensor_record(A.sum())
    out["A_sum_axis0"] = tensor_record(A.sum(axis=0))
    out["A_sum_axis1"] = tensor_record(A.sum(axis=1))
    out["A_sum_axis01_eq_sum"] = tensor_record(A.sum(axis=[0, 1]) == A.sum())
    out["A_mean"] = tensor_record(A.mean())
    out["A_sum_over_numel"] = tensor_record(A.sum() / A.numel())
    out["A_mean_axis0"] = tensor_record(A.mean(axis=0))
    out["A_sum_axis0_over_rows"] = tensor_record(A.sum(axis=0) / A.shape[0])
    sum_A = A.sum(axis=1, keepdims=True)
    out["sum_A_keepdims"] = tensor_record(sum_A)
    out["A_div_sum_A"] = tensor_record(A / sum_A)
    out["A_cumsum_axis0"] = tensor_record(A.cumsum(axis=0))

    y = torch.ones(3, dtype=torch.float32)
    out["dot"] = tensor_record(torch.dot(x, y))
    out["sum_x_times_y"] = tensor_record(torch.sum(x * y))
    out["mv"] = tensor_record(torch.mv(A, x))
    out["A_matmul_x"] = tensor_record(A @ x)
    B = torch.ones(3, 4)
    out["mm"] = tensor_record(torch.mm(A, B))
    out["A_matmul_B"] = tensor_record(A @ B)
    u = torch.tensor([3.0, -4.0])
    out["l2_norm_u"] = tensor_record(torch.norm(u))
    out["l1_norm_u"] = tensor_record(torch.abs(u).sum())
    out["frobenius_ones_4_9"] = tensor_record(torch.norm(torch.ones((4, 9))))
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch2_3_linear_algebra": linear_algebra()}
