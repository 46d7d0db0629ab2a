"""references.compare_tree: one row per leaf of a nested dict, stored tensors checked on values and dtype."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness import references


def stored(values, dtype: str) -> dict:
    """A tensor the way the generators store it."""
    arr = np.asarray(values)
    return {"values": arr.tolist(), "shape": list(arr.shape), "dtype": dtype}


def rows_by_name(ours: dict, ref: dict, prefix: str = "") -> dict[str, references.Comparison]:
    return {r.quantity: r for r in references.compare_tree(references.compare, ours, ref, prefix)}


def test_nested_leaves_become_prefixed_rows_with_a_dtype_row_per_tensor():
    ref = {"a": stored([1.0, 2.0], "float32"), "inner": {"n": 3, "names": ["x", "y"]}}
    rows = rows_by_name({"a": jnp.array([1.0, 2.0]), "inner": {"n": 3, "names": ["x", "y"]}}, ref, "p.")
    assert list(rows) == ["p.a", "p.a dtype", "p.inner.n", "p.inner.names"]
    assert all(r.passed for r in rows.values())


def test_float32_values_pass_within_rtol_1e_6_and_fail_beyond():
    ref = {"a": stored(np.float32([1.0, 3.0]), "float32")}
    assert rows_by_name({"a": np.float32([1.0, 3.0]) * np.float32(1 + 2**-22)}, ref)["a"].passed
    assert not rows_by_name({"a": np.float32([1.0, 3.0 + 1e-5])}, ref)["a"].passed


def test_float64_values_need_rtol_1e_12_and_integers_are_exact():
    ref = {"f": stored([0.1, 0.2], "float64"), "i": stored([1, 2], "int64")}
    with jax.enable_x64(True):
        near = rows_by_name({"f": jnp.array([0.1, 0.2]) * (1 + 1e-13), "i": jnp.array([1, 2])}, ref)
        far = rows_by_name({"f": jnp.array([0.1, 0.2]) * (1 + 1e-10), "i": jnp.array([1, 3])}, ref)
    assert near["f"].passed and near["i"].passed
    assert not far["f"].passed and not far["i"].passed


def test_torch_int64_is_expected_as_int32_unless_64_bit_mode_is_on():
    ref = {"i": stored([1, 2], "int64")}
    rows = rows_by_name({"i": jnp.array([1, 2])}, ref)
    assert rows["i dtype (torch int64 is int32 in JAX)"].passed
    assert not rows_by_name({"i": np.array([1, 2], np.int64)}, ref)["i dtype (torch int64 is int32 in JAX)"].passed
    with jax.enable_x64(True):
        assert rows_by_name({"i": jnp.array([1, 2])}, ref)["i dtype"].passed


def test_missing_values_match_only_at_the_same_positions():
    ref = {"rooms": [np.nan, 2.0, 4.0, np.nan], "t": stored([np.nan, np.inf], "float32")}
    same = rows_by_name({"rooms": np.array([np.nan, 2.0, 4.0, np.nan]), "t": jnp.array([np.nan, np.inf])}, ref)
    assert same["rooms"].passed and same["t"].passed
    moved = rows_by_name({"rooms": np.array([3.0, 2.0, 4.0, np.nan]), "t": jnp.array([np.inf, np.nan])}, ref)
    assert not moved["rooms"].passed and not moved["t"].passed


def test_rows_go_through_the_given_compare():
    seen = []

    def recording_compare(quantity, ours, reference, **tolerances):
        seen.append(quantity)
        return references.compare(quantity, ours, reference, **tolerances)

    references.compare_tree(recording_compare, {"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}})
    assert seen == ["a", "b.c"]
