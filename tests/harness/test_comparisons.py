"""references.compare and references.within: the two checks every comparison row goes through."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from experiments.harness import references
from experiments.harness.references import compare, within


# ---------------------------------------------------------------- compare: shapes and layouts


@pytest.mark.parametrize(
    "ours, ref",
    [
        (np.arange(4.0).reshape(4, 1), np.arange(4.0)),  # a column against a vector: broadcasting would pass
        (np.arange(4.0), np.arange(4.0).reshape(4, 1)),
        (np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(3, 2)),  # same values, transposed layout
        (np.arange(6.0).reshape(2, 3), np.arange(6.0)),  # flattened
        (np.float64(2.0), np.array([2.0])),  # a scalar against a one-element array
    ],
    ids=["column-vs-vector", "vector-vs-column", "2x3-vs-3x2", "2x3-vs-flat", "scalar-vs-1"],
)
def test_same_values_in_another_shape_fail(ours, ref):
    row = compare("q", ours, ref, rtol=1e-3, atol=1e-3)
    assert not row.passed
    assert row.tolerance == "same shape" and row.jaxdl == f"shape {list(np.shape(ours))}"


def test_a_transposed_matrix_fails_even_when_symmetric_in_size():
    m = np.arange(9.0).reshape(3, 3)
    assert compare("m", m, m.copy()).passed
    assert not compare("m", m.T, m).passed  # same shape, values in the wrong places


# ---------------------------------------------------------------- compare: rtol is relative, atol absolute


@pytest.mark.parametrize("ref", [1e-3, 1e4, -1e4])
def test_rtol_scales_with_the_reference(ref):
    rtol = 1e-6
    assert compare("x", ref * (1 + 0.9 * rtol), ref, rtol=rtol).passed
    assert not compare("x", ref * (1 + 1.1 * rtol), ref, rtol=rtol).passed
    assert not compare("x", ref * (1 - 1.1 * rtol), ref, rtol=rtol).passed


def test_atol_does_not_scale_with_the_reference():
    assert compare("small", 1e-3 + 0.9e-6, 1e-3, atol=1e-6).passed
    assert not compare("small", 1e-3 + 1.1e-6, 1e-3, atol=1e-6).passed
    assert not compare("large", 1e4 + 1.1e-6, 1e4, atol=1e-6).passed  # rtol 1e-6 would pass this


def test_rtol_is_relative_to_the_reference_not_to_ours():
    # |ours - ref| = 1 passes rtol 0.5 against ref 2 (bound 1) but not against ref 1 with ours 2 (bound 0.5).
    assert compare("x", 3.0, 2.0, rtol=0.5).passed
    assert not compare("x", 2.0, 1.0, rtol=0.5).passed


def test_atol_and_rtol_add_up():
    # bound = 1e-6 + 1e-6 * 1e3 = 1.001e-3
    assert compare("x", 1e3 + 1.0005e-3, 1e3, rtol=1e-6, atol=1e-6).passed
    assert not compare("x", 1e3 + 1.002e-3, 1e3, rtol=1e-6, atol=1e-6).passed


def test_every_element_must_pass_not_most():
    ref = np.ones(100)
    ours = ref.copy()
    ours[57] += 1e-3
    row = compare("v", ours, ref, rtol=1e-6)
    assert not row.passed and row.difference == pytest.approx(1e-3)


def test_difference_is_the_largest_absolute_difference():
    row = compare("v", [1.0, 2.5, 3.0], [1.0, 2.0, 3.25], atol=1.0)
    assert row.passed and row.difference == 0.5
    assert compare("v", [1.0], [1.0]).tolerance == "exact"
    assert compare("v", [1.0], [1.0], rtol=1e-5, atol=2e-7).tolerance == "rtol=1e-05, atol=2e-07"
    assert compare("v", [1.0], [1.0], atol=2e-7).tolerance == "atol=2e-07"  # a zero tolerance is left out
    assert compare("v", [1.0], [1.0], rtol=1e-5).tolerance == "rtol=1e-05"


def test_empty_arrays_of_one_shape_agree_at_no_difference():
    row = compare("v", np.zeros((0, 3)), np.zeros((0, 3)))
    assert row.passed and row.difference == 0.0


@pytest.mark.parametrize("ours, ref", [(np.nan, 1.0), (1.0, np.nan), (np.inf, 1.0), (1.0, -np.inf), (np.inf, -np.inf)])
def test_a_nan_or_infinity_against_anything_else_is_infinitely_far(ours, ref):
    row = compare("x", [0.5, ours], [0.5, ref], rtol=1.0)
    assert not row.passed and row.difference == np.inf


def test_exact_means_exact():
    assert compare("x", 1.0, 1.0).passed
    assert not compare("x", 1.0 + 2**-52, 1.0).passed


# ---------------------------------------------------------------- compare: NaN and infinities


@pytest.mark.parametrize("ours, ref", [(np.nan, 1.0), (1.0, np.nan), ([1.0, np.nan], [1.0, 2.0]), (np.inf, 1e308)])
def test_nan_or_inf_against_a_number_fails_at_any_tolerance(ours, ref):
    assert not compare("x", ours, ref, rtol=1.0, atol=1e300).passed


def test_nan_and_inf_match_only_themselves():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf - inf is not computed into a RuntimeWarning
        row = compare("x", [np.nan, np.inf, -np.inf, 1.0], [np.nan, np.inf, -np.inf, 1.0], rtol=0.5)
        assert row.passed and row.difference == 0.0  # matched: no distance
        # a difference too large for a float64 is infinite, without an overflow warning
        assert compare("x", [1e308], [-1e308], rtol=1.0).difference == np.inf
    assert not compare("x", [np.inf], [-np.inf]).passed
    assert not compare("x", [np.nan, 1.0], [1.0, np.nan], atol=10).passed


# ---------------------------------------------------------------- compare: dtypes, as its docstring says


def test_numbers_compare_by_value_whatever_their_dtype():
    assert compare("x", np.int32(2), 2.0).passed
    assert compare("x", np.float32([2.0, 0.5]), np.array([2, 0.5], np.float64)).passed
    assert compare("x", np.array([True, False]), [1, 0]).passed
    # float32(0.1) is 0.100000001490116..., not rounded back to the reference's 0.1
    assert not compare("x", np.float32(0.1), 0.1).passed
    assert compare("x", np.float32(0.1), 0.1, rtol=1e-7).passed


def test_strings_compare_exactly():
    assert compare("name", "float32", "float32").passed
    assert not compare("name", "float32", "float64").passed
    assert not compare("name", ["a", "b"], ["a", "B"]).passed
    assert not compare("name", "2", 2).passed
    assert not compare("names", ["a", "b"], ["a"]).passed


@pytest.mark.parametrize("kw", [dict(rtol=-1e-6), dict(atol=-1.0), dict(rtol=np.nan), dict(atol=np.inf), dict(rtol="1e-6"),
                                dict(rtol=None), dict(atol=[1e-6, 2e-6]), dict(atol=object())])
def test_bad_tolerances_are_refused(kw):
    ((name, tol),) = kw.items()
    with pytest.raises(ValueError) as err:
        compare("x", 1.0, 1.0, **kw)
    assert str(err.value) == f"{name} must be a finite number >= 0, got {tol!r}"


# ---------------------------------------------------------------- within: a closed band, no margin of its own


def test_both_edges_are_inside_and_a_hair_beyond_either_is_out():
    assert within("q", 0.5, 0.5, 0.7).passed and within("q", 0.7, 0.5, 0.7).passed
    assert within("q", 0.6, 0.5, 0.7).passed
    assert not within("q", np.nextafter(0.5, 0), 0.5, 0.7).passed
    assert not within("q", np.nextafter(0.7, 1), 0.5, 0.7).passed


@pytest.mark.parametrize("low, high", [(0.5, 0.7), (-3.0, -1.0), (1e3, 2e3)])
def test_one_percent_of_the_band_outside_fails(low, high):
    width = high - low
    assert not within("q", low - 0.01 * width, low, high).passed
    assert not within("q", high + 0.01 * width, low, high).passed


def test_a_point_band_accepts_only_that_value():
    assert within("failures", 0, 0, 0).passed
    assert not within("failures", 1, 0, 0).passed


def test_nan_is_never_within():
    assert not within("q", float("nan"), 0.0, 1.0).passed


def test_within_reports_the_band_and_the_distance_from_its_centre():
    row = within("q", 0.9, 0.5, 0.7, reference="20 seeds")
    assert row.tolerance == "in [0.5, 0.7]" and row.reference == "20 seeds" and row.jaxdl == "0.9"
    assert row.difference == pytest.approx(0.3)
    assert within("q", 0.6, 0.5, 0.7).reference == "0.6"


def test_an_upside_down_band_is_refused():
    with pytest.raises(ValueError, match="low end must not exceed its high end"):
        within("q", 0.6, 0.7, 0.5)


def test_format_table_marks_each_row():
    rows = [compare("good", 1.0, 1.0), compare("bad", 1.0, 2.0)]
    text = references.format_table(rows)
    assert text.splitlines()[2].rstrip().endswith("pass") and text.splitlines()[3].rstrip().endswith("FAIL")
    markdown = references.format_table([compare("a|b", 1.0, 1.0)], markdown=True)
    assert "a\\|b" in markdown and markdown.splitlines()[1] == "|---|---|---|---|---|---|"
