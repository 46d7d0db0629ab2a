"""compare never passes what differs, and compare_tree fails a row rather than raising."""

from __future__ import annotations

import numpy as np

from experiments.harness.references import compare, compare_tree


def test_complex_values_compare_both_parts():
    row = compare("z", 1 + 1j, 1 + 2j)
    assert not row.passed and row.difference == 1.0
    assert not compare("z", np.array([1 + 1j, 2j]), np.array([1 + 1j, 3j]), atol=0.5).passed
    assert compare("z", np.array([1 + 1j, 2j]), np.array([1 + 1j, 2.1j]), atol=0.2).passed
    assert not compare("z", 1.0, 1 + 1e-3j).passed  # a real number against a complex one: imaginary part differs
    assert compare("z", complex(np.nan, 1), complex(np.nan, 1)).passed
    assert not compare("z", complex(np.nan, 1), complex(np.nan, 2)).passed


def test_a_quantity_the_reference_lacks_fails_its_row_with_a_message():
    rows = compare_tree(compare, {"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 2}})
    assert [r.quantity for r in rows] == ["a", "b.c", "b.d"]
    missing = rows[-1]
    assert not missing.passed and "not in the reference" in missing.reference
    rows = compare_tree(compare, {"b": {"c": 2}}, {"b": 5})
    assert not rows[0].passed and "not a group" in rows[0].reference
