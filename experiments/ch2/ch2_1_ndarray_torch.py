"""PyTorch reference numbers for d2l 2.1 Data manipulation, computed as d2l 1.0.3 does."""

from __future__ import annotations

from typing import Any

import torch

from experiments.harness.torch_d2l import tensor_record


def ndarray() -> dict[str, Any]:
    """d2l 2.1 Data manipulation."""
    out: dict[str, Any] = {}
    x = torch.arange(12, dtype=torch.float32)
    out["arange12"] = tensor_record(x)
    out["arange12_numel"] = x.numel()
    X = x.reshape(3, 4)
    out["reshape_3_4"] = tensor_record(X)
    out["reshape_minus1_4_shape"] = list(x.reshape(-1, 4).shape)
    out["zeros"] = tensor_record(torch.zeros((2, 3, 4)))
    out["ones"] = tensor_record(torch.ones((2, 3, 4)))
    out["randn_shape"] = list(torch.randn(3, 4).shape)
    out["literal"] = tensor_record(torch.tensor([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]]))

    # Indexing and slicing; the writes go through the reshape view, so x changes too.
    out["last_row"] = tensor_record(X[-1])
    out["rows_1_3"] = tensor_record(X[1:3])
    X[1, 2] = 17
    out["after_set_1_2"] = {"X": tensor_record(X), "x": tensor_record(x)}
    X[:2, :] = 12
    out["after_set_rows"] = {"X": tensor_record(X), "x": tensor_record(x)}
    out["exp_x"] = tensor_record(torch.exp(x))

    x = torch.tensor([1.0, 2, 4, 8])
    y = torch.tensor([2, 2, 2, 2])
    out["elementwise"] = {
        "x": tensor_record(x),
        "y": tensor_record(y),
        "add": tensor_record(x + y),
        "sub": tensor_record(x - y),
        "mul": tensor_record(x * y),
        "div": tensor_record(x / y),
        "pow": tensor_record(x**y),
    }
    X = torch.arange(12, dtype=torch.float32).reshape((3, 4))
    Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    out["cat_dim0"] = tensor_record(torch.cat((X, Y), dim=0))
    out["cat_dim1"] = tensor_record(torch.cat((X, Y), dim=1))
    out["X_eq_Y"] = tensor_record(X == Y)
    out["X_sum"] = tensor_record(X.sum())

    a = torch.arange(3).reshape((3, 1))
    b = torch.arange(2).reshape((1, 2))
    out["broadcast"] = {"a": tensor_record(a), "b": tensor_record(b), "a_plus_b": tensor_record(a + b)}

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
        "Y": tensor_record(Y),
        "Z": tensor_record(Z),
        "X": tensor_record(X),
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
        "a": tensor_record(a),
        "item": a.item(),
        "float": float(a),
        "int": int(a),
        "item_on_two_elements_error": item_error,
    }
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data}."""
    return {"ch2_1_ndarray": ndarray()}
