"""PyTorch reference numbers for d2l chapter 2 (sections 2.1-2.5), computed as d2l 1.0.3 does."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import torch

# d2l 2.2 writes this file to ../data/house_tiny.csv; the generator keeps it in memory.
HOUSE_TINY_CSV = """NumRooms,RoofType,Price
NA,NA,127500
2,NA,106000
4,Slate,178100
NA,NA,140000"""

# Fixed inputs of the 2.5 control-flow function: negative, tiny, ordinary, and large
# enough (|2a| >= 1000) that the while loop never runs.
CONTROL_FLOW_A = (-5000.0, -123.25, -2.5, -1.0, -0.3, -1e-3, -1e-6, 1e-6, 1e-3, 0.3, 1.0, 7.0, 499.9, 500.0, 1234.5)
NUM_RANDOM_A = 1000

# d2l 2.4: the steps h of the difference quotients, and the grid on which the derivative is taken.
CALCULUS_STEPS = 10.0 ** np.arange(-1, -6, -1)
CALCULUS_GRID = (-2.0, 3.0, 11)


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _tensor(t: torch.Tensor) -> dict[str, Any]:
    """A tensor as the book prints it: values, shape and dtype."""
    return {"values": t.detach().numpy().copy(), "shape": list(t.shape), "dtype": _dtype(t)}


def ndarray() -> dict[str, Any]:
    """d2l 2.1 Data manipulation."""
    out: dict[str, Any] = {}
    x = torch.arange(12, dtype=torch.float32)
    out["arange12"] = _tensor(x)
    out["arange12_numel"] = x.numel()
    X = x.reshape(3, 4)
    out["reshape_3_4"] = _tensor(X)
    out["reshape_minus1_4_shape"] = list(x.reshape(-1, 4).shape)
    out["zeros"] = _tensor(torch.zeros((2, 3, 4)))
    out["ones"] = _tensor(torch.ones((2, 3, 4)))
    out["randn_shape"] = list(torch.randn(3, 4).shape)
    out["literal"] = _tensor(torch.tensor([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]]))

    # Indexing and slicing; the writes go through the reshape view, so x changes too.
    out["last_row"] = _tensor(X[-1])
    out["rows_1_3"] = _tensor(X[1:3])
    X[1, 2] = 17
    out["after_set_1_2"] = {"X": _tensor(X), "x": _tensor(x)}
    X[:2, :] = 12
    out["after_set_rows"] = {"X": _tensor(X), "x": _tensor(x)}
    out["exp_x"] = _tensor(torch.exp(x))

    x = torch.tensor([1.0, 2, 4, 8])
    y = torch.tensor([2, 2, 2, 2])
    out["elementwise"] = {
        "x": _tensor(x),
        "y": _tensor(y),
        "add": _tensor(x + y),
        "sub": _tensor(x - y),
        "mul": _tensor(x * y),
        "div": _tensor(x / y),
        "pow": _tensor(x**y),
    }
    X = torch.arange(12, dtype=torch.float32).reshape((3, 4))
    Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    out["cat_dim0"] = _tensor(torch.cat((X, Y), dim=0))
    out["cat_dim1"] = _tensor(torch.cat((X, Y), dim=1))
    out["X_eq_Y"] = _tensor(X == Y)
    out["X_sum"] = _tensor(X.sum())

    a = torch.arange(3).reshape((3, 1))
    b = torch.arange(2).reshape((1, 2))
    out["broadcast"] = {"a": _tensor(a), "b": _tensor(b), "a_plus_b": _tensor(a + b)}

    # Saving memory: which statements keep the same Python object (and storage).
    before = id(Y)
    Y = Y + X
    new_binding_same_id = id(Y) == before
    Z = torch.zeros_like(Y)
    z_id, z_ptr = id(Z), Z.data_ptr()
    Z[:] = X + Y
    slice_assign_same_id = id(Z) == z_id and Z.data_ptr() == z_ptr
    before, before_ptr = id(X), X.data_ptr()
    X += Y
    inplace_add_same_id = id(X) == before and X.data_ptr() == before_ptr
    out["saving_memory"] = {
        "Y_eq_Y_plus_X_same_id": new_binding_same_id,
        "Z_slice_assign_same_id": slice_assign_same_id,
        "X_iadd_Y_same_id": inplace_add_same_id,
        "Y": _tensor(Y),
        "Z": _tensor(Z),
        "X": _tensor(X),
    }

    A = X.numpy()
    B = torch.from_numpy(A)
    out["conversion"] = {
        "A_type": type(A).__name__,
        "B_type": type(B).__name__,
        "A": A.copy(),
        "A_dtype": str(A.dtype),
        "shares_memory": bool(A.ctypes.data == B.data_ptr() == X.data_ptr()),
    }
    a = torch.tensor([3.5])
    try:
        torch.tensor([3.5, 4.5]).item()
        item_error = {"type": "", "message": ""}
    except RuntimeError as err:
        item_error = {"type": type(err).__name__, "message": str(err)}
    out["scalar"] = {
        "a": _tensor(a),
        "item": a.item(),
        "float": float(a),
        "int": int(a),
        "item_on_two_elements_error": item_error,
    }
    return out


def preprocessing() -> dict[str, Any]:
    """d2l 2.2 Data preprocessing: the frames and tensors the book prints."""
    data = pd.read_csv(io.StringIO(HOUSE_TINY_CSV))
    inputs, targets = data.iloc[:, 0:2], data.iloc[:, 2]
    dummies = pd.get_dummies(inputs, dummy_na=True)
    imputed = dummies.fillna(dummies.mean())
    X = torch.tensor(imputed.to_numpy(dtype=float))
    y = torch.tensor(targets.to_numpy(dtype=float))
    return {
        "pandas_version": pd.__version__,
        "csv": HOUSE_TINY_CSV,
        "data": {
            "columns": list(data.columns),
            "NumRooms": data["NumRooms"].to_numpy(),
            "RoofType_isna": data["RoofType"].isna().to_numpy(),
            "Price": data["Price"].to_numpy(),
        },
        "dummies": {
            "columns": list(dummies.columns),
            "dtypes": [str(t) for t in dummies.dtypes],
            "values": dummies.to_numpy(dtype=float),
        },
        "column_means": dummies.mean().to_numpy(dtype=float),
        "imputed": {"columns": list(imputed.columns), "values": imputed.to_numpy(dtype=float)},
        "X": _tensor(X),
        "y": _tensor(y),
    }


def linear_algebra() -> dict[str, Any]:
    """d2l 2.3 Linear algebra."""
    out: dict[str, Any] = {}
    x, y = torch.tensor(3.0), torch.tensor(2.0)
    out["scalars"] = {"add": _tensor(x + y), "mul": _tensor(x * y), "div": _tensor(x / y), "pow": _tensor(x**y)}
    x = torch.arange(3)
    out["vector"] = {"x": _tensor(x), "x2": _tensor(x[2]), "len": len(x), "shape": list(x.shape)}
    A = torch.arange(6).reshape(3, 2)
    out["matrix"] = {"A": _tensor(A), "A_T": _tensor(A.T)}
    A = torch.tensor([[1, 2, 3], [2, 0, 4], [3, 4, 5]])
    out["symmetric"] = {"A": _tensor(A), "A_eq_A_T": _tensor(A == A.T)}
    out["tensor_2_3_4"] = _tensor(torch.arange(24).reshape(2, 3, 4))

    A = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    B = A.clone()
    out["A"] = _tensor(A)
    out["A_plus_B"] = _tensor(A + B)
    out["A_times_B"] = _tensor(A * B)
    a = 2
    X = torch.arange(24).reshape(2, 3, 4)
    out["a_plus_X"] = _tensor(a + X)
    out["a_times_X_shape"] = list((a * X).shape)

    x = torch.arange(3, dtype=torch.float32)
    out["x"] = _tensor(x)
    out["x_sum"] = _tensor(x.sum())
    out["A_sum"] = _tensor(A.sum())
    out["A_sum_axis0"] = _tensor(A.sum(axis=0))
    out["A_sum_axis1"] = _tensor(A.sum(axis=1))
    out["A_sum_axis01_eq_sum"] = _tensor(A.sum(axis=[0, 1]) == A.sum())
    out["A_mean"] = _tensor(A.mean())
    out["A_sum_over_numel"] = _tensor(A.sum() / A.numel())
    out["A_mean_axis0"] = _tensor(A.mean(axis=0))
    out["A_sum_axis0_over_rows"] = _tensor(A.sum(axis=0) / A.shape[0])
    sum_A = A.sum(axis=1, keepdims=True)
    out["sum_A_keepdims"] = _tensor(sum_A)
    out["A_div_sum_A"] = _tensor(A / sum_A)
    out["A_cumsum_axis0"] = _tensor(A.cumsum(axis=0))

    y = torch.ones(3, dtype=torch.float32)
    out["dot"] = _tensor(torch.dot(x, y))
    out["sum_x_times_y"] = _tensor(torch.sum(x * y))
    out["mv"] = _tensor(torch.mv(A, x))
    out["A_matmul_x"] = _tensor(A @ x)
    B = torch.ones(3, 4)
    out["mm"] = _tensor(torch.mm(A, B))
    out["A_matmul_B"] = _tensor(A @ B)
    u = torch.tensor([3.0, -4.0])
    out["l2_norm_u"] = _tensor(torch.norm(u))
    out["l1_norm_u"] = _tensor(torch.abs(u).sum())
    out["frobenius_ones_4_9"] = _tensor(torch.norm(torch.ones((4, 9))))
    return out


def calculus_f(x: torch.Tensor) -> torch.Tensor:
    """d2l 2.4's example function 3x^2 - 4x."""
    return 3 * x**2 - 4 * x


def calculus() -> dict[str, Any]:
    """d2l 2.4 Calculus: difference quotients at x = 1 in float64 and float32, autograd derivatives, the tangent."""
    out: dict[str, Any] = {"x0": 1.0, "steps": CALCULUS_STEPS}
    for dtype in (torch.float64, torch.float32):
        x, h = torch.tensor(1.0, dtype=dtype), torch.tensor(CALCULUS_STEPS, dtype=dtype)
        out[f"quotients_{_dtype(x)}"] = _tensor((calculus_f(x + h) - calculus_f(x)) / h)

    x = torch.tensor(1.0, requires_grad=True)
    y = calculus_f(x)
    y.backward()
    out["grad_at_1"] = _tensor(x.grad)
    # The tangent at x = 1 is y = f'(1) x + (f(1) - f'(1)); d2l plots it as 2x - 3.
    out["tangent_intercept"] = _tensor(y.detach() - x.grad * x.detach())

    xs = torch.linspace(*CALCULUS_GRID, requires_grad=True)
    calculus_f(xs).sum().backward()
    out["xs"] = _tensor(xs)
    out["grad_at_xs"] = _tensor(xs.grad)
    return out


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
    out["x"] = _tensor(x)
    out["grad_before_backward_is_none"] = x.grad is None
    y = 2 * torch.dot(x, x)
    y.backward()
    out["y_2_dot_xx"] = _tensor(y)
    out["grad_2_dot_xx"] = _tensor(x.grad)
    out["grad_eq_4x"] = _tensor(x.grad == 4 * x)

    x.grad.zero_()
    y = x.sum()
    y.backward()
    out["grad_sum"] = _tensor(x.grad)

    x.grad.zero_()
    y = x * x
    y.backward(gradient=torch.ones(len(y)))
    out["grad_x_times_x_ones_seed"] = _tensor(x.grad)
    x.grad.zero_()
    y = x * x
    y.sum().backward()
    out["grad_x_times_x_sum"] = _tensor(x.grad)

    x.grad.zero_()
    y = x * x
    u = y.detach()
    z = u * x
    z.sum().backward()
    out["detach"] = {"u": _tensor(u), "z": _tensor(z), "grad_z_sum": _tensor(x.grad), "grad_eq_u": _tensor(x.grad == u)}
    x.grad.zero_()
    y.sum().backward()
    out["detach"]["grad_y_sum"] = _tensor(x.grad)
    out["detach"]["grad_eq_2x"] = _tensor(x.grad == 2 * x)

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
    """All chapter 2 reference files: {file name: data}."""
    return {
        "ch2_1_ndarray": ndarray(),
        "ch2_2_preprocessing": preprocessing(),
        "ch2_3_linear_algebra": linear_algebra(),
        "ch2_4_calculus": calculus(),
        "ch2_5_autodiff": autodiff(),
    }
