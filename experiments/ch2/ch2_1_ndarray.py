"""d2l 2.1 Data manipulation: creating, indexing, combining and converting jax.Arrays beside PyTorch's tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness.result import Result, Tolerances, cli
from experiments.harness import references

SECTION = "2.1"
TITLE = "Data manipulation"
REFERENCE = "ch2_1_ndarray"

# No tolerance of its own: scalars compare exactly, stored tensors at compare_tree's rtol per dtype
# (experiments.harness.references.TREE_RTOL, pinned with the tables).
TOLERANCES: Tolerances = {}


def creation(key: jax.Array) -> dict[str, Any]:
    """2.1.1: arange, size, shape, reshape, constant and random arrays, an array from a nested list."""
    x = jnp.arange(12, dtype=jnp.float32)
    return {
        "arange12": x,
        "arange12_numel": x.size,
        "reshape_3_4": x.reshape(3, 4),
        "reshape_minus1_4_shape": list(x.reshape(-1, 4).shape),
        "zeros": jnp.zeros((2, 3, 4)),
        "ones": jnp.ones((2, 3, 4)),
        "randn_shape": list(jax.random.normal(key, (3, 4)).shape),
        "literal": jnp.array([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]]),
    }


def indexing(x: jax.Array) -> dict[str, Any]:
    """2.1.2: reading slices, then PyTorch's writes through the view X = x.reshape(3, 4), done functionally.

    A JAX array cannot be written, so `X.at[...].set(...)` returns a new X and x is untouched;
    the view relation x == X.reshape(-1) is restored by recomputing x from the new X.
    """
    X = x.reshape(3, 4)
    out: dict[str, Any] = {"last_row": X[-1], "rows_1_3": X[1:3]}
    X = X.at[1, 2].set(17)
    out["after_set_1_2"] = {"X": X, "x": X.reshape(x.shape)}
    X = X.at[:2, :].set(12)
    x = X.reshape(x.shape)
    out["after_set_rows"] = {"X": X, "x": x}
    out["exp_x"] = jnp.exp(x)
    return out


def operations() -> dict[str, Any]:
    """2.1.3: elementwise operators, concatenation, comparison and summation."""
    x = jnp.array([1.0, 2, 4, 8])
    y = jnp.array([2, 2, 2, 2])
    X = jnp.arange(12, dtype=jnp.float32).reshape((3, 4))
    Y = jnp.array([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    return {
        "elementwise": {"x": x, "y": y, "add": x + y, "sub": x - y, "mul": x * y, "div": x / y, "pow": x**y},
        "cat_dim0": jnp.concatenate((X, Y), axis=0),
        "cat_dim1": jnp.concatenate((X, Y), axis=1),
        "X_eq_Y": X == Y,
        "X_sum": X.sum(),
    }


def broadcasting() -> dict[str, Any]:
    """2.1.4: a (3, 1) column plus a (1, 2) row gives a (3, 2) matrix."""
    a = jnp.arange(3).reshape((3, 1))
    b = jnp.arange(2).reshape((1, 2))
    return {"broadcast": {"a": a, "b": b, "a_plus_b": a + b}}


def add_donating_first(X: jax.Array, Y: jax.Array) -> jax.Array:
    """X + Y, compiled so that XLA may write the result into X's (donated) buffer."""
    return X + Y


add_donating_first_jit = jax.jit(add_donating_first, donate_argnums=0)


def saving_memory() -> dict[str, Any]:
    """2.1.5: the three statements of d2l, with what JAX does in place of PyTorch's in-place writes.

    Returns the values and, for each statement, whether the name still refers to the same object.
    """
    X = jnp.arange(12, dtype=jnp.float32).reshape((3, 4))
    Y = jnp.array([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    before = id(Y)
    Y = Y + X
    y_same = id(Y) == before
    Z = jnp.zeros_like(Y)
    before = id(Z)
    Z = Z.at[:].set(X + Y)  # PyTorch: Z[:] = X + Y writes into Z's storage
    z_same = id(Z) == before
    before = id(X)
    X += Y  # rebinds X to a new array: JAX arrays have no in-place operators
    x_same = id(X) == before
    return {
        "Y_eq_Y_plus_X_same_id": y_same,
        "Z_slice_assign_same_id": z_same,
        "X_iadd_Y_same_id": x_same,
        "Y": Y,
        "Z": Z,
        "X": X,
    }


def donation() -> dict[str, Any]:
    """What buffer donation under jit does to X in `X = f(X, Y)`: is X deleted, is its buffer reused?"""
    X = jnp.arange(12, dtype=jnp.float32).reshape((3, 4))
    Y = jnp.ones((3, 4), jnp.float32)
    expected = add_donating_first(X, Y)
    pointer = X.unsafe_buffer_pointer()
    new_X = add_donating_first_jit(X, Y)
    return {
        "input_deleted": X.is_deleted(),
        "output_reuses_input_buffer": new_X.unsafe_buffer_pointer() == pointer,
        "value": new_X,
        "expected": expected,
    }


def conversion(X: jax.Array) -> dict[str, Any]:
    """2.1.6: to NumPy and back, and a one-element array to Python scalars."""
    A = np.asarray(X)
    B = jnp.asarray(A)
    a = jnp.array([3.5])
    return {
        "A": A,
        "A_type": type(A).__name__,
        "A_dtype": str(A.dtype),
        "B_type": type(B).__name__,
        "A_shares_X_buffer": A.ctypes.data == X.unsafe_buffer_pointer(),
        "A_writeable": bool(A.flags.writeable),
        "B_shares_A_buffer": B.unsafe_buffer_pointer() == A.ctypes.data,
        "scalar": {"a": a, "item": a.item(), "float": float(a[0]), "int": int(a[0])},
    }


def _error_of(fn: Callable[[], Any]) -> str:
    try:
        fn()
    except (TypeError, ValueError, RuntimeError) as err:
        return f"{type(err).__name__}: {err}"
    return "no error"


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    compare = result.compare
    key = jax.random.key(0)

    made = creation(key)
    references.compare_tree(compare, made, ref)
    x = made["arange12"]
    result.text(
        "JAX's `jnp.arange(12)` without a dtype is int32, PyTorch's is int64: JAX keeps 32-bit types "
        "unless `jax_enable_x64` is on. Random numbers need an explicit key: "
        "`jax.random.normal(jax.random.key(0), (3, 4))` stands for `torch.randn(3, 4)` (only the shape is "
        "compared; the two generators produce different numbers)."
    )

    viewed = indexing(x)
    references.compare_tree(compare, viewed, ref)
    result.text(
        "PyTorch's `X = x.reshape(3, 4)` is a view: `X[1, 2] = 17` and `X[:2, :] = 12` also change x, "
        "so d2l's `torch.exp(x)` sees the written values. JAX arrays are immutable: "
        "`X.at[1, 2].set(17)` returns a new array and leaves x alone "
        f"(x after the writes still equals arange(12): {bool(jnp.array_equal(x, jnp.arange(12.0)))}). "
        "To reach the book's numbers the view relation is recomputed, `x = X.reshape(x.shape)`, "
        "which gives the x and exp(x) compared above."
    )

    references.compare_tree(compare, operations(), ref)
    references.compare_tree(compare, broadcasting(), ref)

    memory = saving_memory()
    torch_memory = ref["saving_memory"]
    same_meaning = ("Y", "Z", "X", "Y_eq_Y_plus_X_same_id")  # the other two identities differ by design
    references.compare_tree(compare, {k: memory[k] for k in same_meaning}, torch_memory, "saving_memory.")
    rows = [
        ("`Y = Y + X`", "Y_eq_Y_plus_X_same_id", "`Y = Y + X`"),
        ("`Z[:] = X + Y`", "Z_slice_assign_same_id", "`Z = Z.at[:].set(X + Y)`"),
        ("`X += Y`", "X_iadd_Y_same_id", "`X += Y` (rebinds X)"),
    ]
    table = ["| PyTorch statement | id unchanged (PyTorch) | JAX statement | id unchanged (JAX) |", "|---|---|---|---|"]
    table += [f"| {t} | {torch_memory[k]} | {j} | {memory[k]} |" for t, k, j in rows]
    donated = donation()
    compare("donated jit X + Y == eager X + Y", donated["value"], donated["expected"])
    result.text(
        "\n".join(table)
        + "\n\nThe values agree (rows above); object identity cannot: a JAX array is never written after it "
        "is made, so every update is a new array and the old one is freed when nothing refers to it. "
        "Inside `jax.jit`, XLA can do `.at[].set` and `+=` in place when the old value is not used afterwards. "
        "Across a jit boundary, `jax.jit(f, donate_argnums=0)` hands X's buffer to the output: "
        f"here on {jax.devices()[0].platform.upper()} the donated X was deleted: {donated['input_deleted']}, "
        f"and the result lives in X's old buffer: {donated['output_reuses_input_buffer']}. "
        "(When a backend cannot use a donation, JAX warns and copies instead; the donated X is unusable either way.)"
    )

    converted = conversion(memory["X"])
    references.compare_tree(
        compare, {k: converted[k] for k in ("A", "A_type", "A_dtype")}, ref["conversion"], "conversion."
    )
    references.compare_tree(compare, converted["scalar"], ref["scalar"], "scalar.")
    torch_error = ref["scalar"]["item_on_two_elements_error"]
    result.text(
        f"`np.asarray(X)` gives an `{converted['A_type']}` that shares X's buffer "
        f"({converted['A_shares_X_buffer']}) but is read-only (writeable: {converted['A_writeable']}), so the "
        "sharing cannot be observed; `X.numpy()` in PyTorch shares memory and is writable "
        f"(shares: {ref['conversion']['shares_memory']}). `jnp.asarray(A)` gives an `{converted['B_type']}` "
        f"(PyTorch: `{ref['conversion']['B_type']}`), sharing A's buffer: {converted['B_shares_A_buffer']}.\n\n"
        f"On a one-element 1-D array `a.item()` works in both, but `float(a)` and `int(a)` do not in JAX "
        f"(`{_error_of(lambda: float(jnp.array([3.5])))}`), so the scalar is taken with `a[0]` first. "
        f"`.item()` on a larger array: JAX `{_error_of(lambda: jnp.array([3.5, 4.5]).item())}`; "
        f"PyTorch `{torch_error['type']}: {torch_error['message']}`."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
