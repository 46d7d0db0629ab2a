"""Chapter 2 in JAX reproduces the stored PyTorch numbers (d2l 2.1-2.5), without importing torch."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from experiments.ch2 import ch2_1_ndarray as ndarray
from experiments.ch2 import ch2_2_preprocessing as preprocessing
from experiments.ch2 import ch2_3_linear_algebra as linalg
from experiments.ch2 import ch2_4_calculus as calculus
from experiments.ch2 import ch2_5_autodiff as autodiff
from experiments.ch2 import ch2_5_autodiff_exercises as exercises
from experiments.harness import references


def assert_matches(ours: dict, name: str, section: str | None = None) -> None:
    """Every leaf of `ours` equals the stored reference (float32 to rtol 1e-6, the rest exactly)."""
    ref = references.load(name)
    rows = references.compare_tree(references.compare, ours, ref[section] if section else ref)
    failed = [f"{r.quantity}: {r.jaxdl} vs {r.reference}" for r in rows if not r.passed]
    assert rows and not failed, failed


# --- 2.1 --------------------------------------------------------------------------------------------


def test_creation_operations_and_broadcasting_equal_pytorch():
    made = ndarray.creation(jax.random.key(0))
    assert_matches(made, ndarray.REFERENCE)
    assert_matches(ndarray.indexing(made["arange12"]), ndarray.REFERENCE)
    assert_matches(ndarray.operations(), ndarray.REFERENCE)
    assert_matches(ndarray.broadcasting(), ndarray.REFERENCE)


def test_jax_arrays_reject_item_assignment():
    X = jnp.arange(12.0).reshape(3, 4)
    with pytest.raises(TypeError):
        X[1, 2] = 17


def test_write_through_view_is_reached_by_recomputing_the_view():
    """PyTorch's X[1, 2] = 17 also changes x; in JAX x is untouched until recomputed from the new X."""
    stored = references.load(ndarray.REFERENCE)["after_set_1_2"]["x"]["values"]
    x = jnp.arange(12, dtype=jnp.float32)
    X = x.reshape(3, 4).at[1, 2].set(17)
    np.testing.assert_array_equal(x, np.arange(12))
    assert not np.array_equal(x, stored)
    np.testing.assert_array_equal(X.reshape(x.shape), stored)


def test_saving_memory_values_equal_pytorch_while_identity_differs():
    memory = ndarray.saving_memory()
    stored = references.load(ndarray.REFERENCE)["saving_memory"]
    assert_matches({k: memory[k] for k in ("X", "Y", "Z")}, ndarray.REFERENCE, "saving_memory")
    # `Y = Y + X` makes a new object in both libraries.
    assert not memory["Y_eq_Y_plus_X_same_id"] and not stored["Y_eq_Y_plus_X_same_id"]
    # PyTorch writes Z[:] and X += Y into existing storage; JAX makes new arrays.
    assert stored["Z_slice_assign_same_id"] and stored["X_iadd_Y_same_id"]
    assert not memory["Z_slice_assign_same_id"] and not memory["X_iadd_Y_same_id"]


def test_donated_update_gives_the_eager_result():
    donated = ndarray.donation()
    np.testing.assert_array_equal(donated["value"], donated["expected"])
    if jax.devices()[0].platform == "cpu":
        assert donated["input_deleted"]


def test_conversion_and_scalars_equal_pytorch():
    converted = ndarray.conversion(ndarray.saving_memory()["X"])
    assert_matches({k: converted[k] for k in ("A", "A_type", "A_dtype")}, ndarray.REFERENCE, "conversion")
    assert_matches(converted["scalar"], ndarray.REFERENCE, "scalar")
    assert not converted["A_writeable"]


def test_python_scalars_need_a_size_one_array():
    with pytest.raises(TypeError):
        float(jnp.array([3.5]))
    with pytest.raises(ValueError):
        jnp.array([3.5, 4.5]).item()


# --- 2.2 --------------------------------------------------------------------------------------------


def test_preprocessing_steps_and_float64_arrays_equal_stored(tmp_path: Path):
    steps, inputs, targets = preprocessing.preprocess(preprocessing.write_house_tiny(tmp_path))
    assert_matches(steps, preprocessing.REFERENCE)
    with jax.enable_x64(True):
        X, y = preprocessing.to_arrays(inputs, targets)
        assert X.dtype == jnp.float64 and y.dtype == jnp.float64
        assert_matches({"X": X, "y": y}, preprocessing.REFERENCE)
    assert jnp.array(1.0).dtype == jnp.float32, "64-bit mode leaked out of the context manager"
    assert preprocessing.to_arrays(inputs, targets)[0].dtype == jnp.float32


# --- 2.3 --------------------------------------------------------------------------------------------


def test_linear_algebra_equals_pytorch():
    assert_matches(linalg.objects(), linalg.REFERENCE)
    made = linalg.arithmetic()
    reduced = linalg.reductions(made["A"])
    assert_matches(made, linalg.REFERENCE)
    assert_matches(reduced, linalg.REFERENCE)
    assert_matches(linalg.products(made["A"], reduced["x"]), linalg.REFERENCE)
    assert_matches(linalg.norms(), linalg.REFERENCE)


# --- 2.4 --------------------------------------------------------------------------------------------


def test_difference_quotients_approach_the_grad_value():
    quotients = np.array([calculus.difference_quotient(1.0, h) for h in calculus.STEPS])
    np.testing.assert_allclose(quotients, 2 + 3 * calculus.STEPS, rtol=1e-9)
    assert jax.grad(calculus.f)(1.0) == 2.0
    slope, intercept = calculus.tangent(1.0)
    assert (float(slope), float(intercept)) == (2.0, -3.0)


def test_eager_difference_quotients_equal_pytorch_bit_for_bit_in_both_precisions():
    """Same IEEE operations in the same order: the stored torch quotients are reproduced exactly."""
    stored = references.load(calculus.REFERENCE)
    h = calculus.STEPS
    np.testing.assert_array_equal(h, stored["steps"])
    torch64 = stored["quotients_float64"]["values"]
    np.testing.assert_array_equal([calculus.difference_quotient(1.0, step) for step in h], torch64)
    with jax.enable_x64(True):
        np.testing.assert_array_equal(calculus.difference_quotient(jnp.float64(1.0), jnp.asarray(h)), torch64)
    quotients32 = calculus.difference_quotient(jnp.float32(1.0), jnp.asarray(h, jnp.float32))
    np.testing.assert_array_equal(quotients32, stored["quotients_float32"]["values"])


def test_jit_quotients_stay_within_an_ulp_over_h_of_pytorch():
    torch32 = np.asarray(references.load(calculus.REFERENCE)["quotients_float32"]["values"])
    h = calculus.STEPS
    fused = jax.jit(calculus.difference_quotient)(jnp.float32(1.0), jnp.asarray(h, jnp.float32))
    assert np.all(np.abs(np.asarray(fused) - torch32) <= 2**-22 / h)


def test_grad_and_tangent_equal_pytorch_autograd():
    stored = references.load(calculus.REFERENCE)
    assert float(jax.grad(calculus.f)(jnp.float32(1.0))) == stored["grad_at_1"]["values"]
    torch_xs = jnp.asarray(stored["xs"]["values"], jnp.float32)
    np.testing.assert_array_equal(jax.vmap(jax.grad(calculus.f))(torch_xs), stored["grad_at_xs"]["values"])
    assert float(calculus.tangent(1.0)[1]) == stored["tangent_intercept"]["values"]


def test_jnp_linspace_is_within_float32_eps_of_torch_linspace():
    """jnp.linspace rounds t = i/10 to float32; torch.linspace's 0.5 steps are exact here."""
    torch_xs = np.asarray(references.load(calculus.REFERENCE)["xs"]["values"], np.float32)
    xs = np.asarray(jnp.linspace(*calculus.GRID))
    assert xs.dtype == np.float32 and xs.shape == torch_xs.shape
    np.testing.assert_allclose(xs, torch_xs, rtol=np.finfo(np.float32).eps, atol=0)
    np.testing.assert_allclose(jax.vmap(jax.grad(calculus.f))(xs), 6 * torch_xs - 4, rtol=1e-6)


# --- 2.5 --------------------------------------------------------------------------------------------


def test_gradients_equal_pytorch_backward():
    assert_matches(autodiff.gradients(jnp.arange(4.0)), autodiff.REFERENCE)


def test_control_flow_values_and_gradients_equal_pytorch():
    stored = references.load(autodiff.REFERENCE)["control_flow"]
    for case in stored:
        ours = autodiff.control_flow_case(jnp.float32(case["a"]))
        np.testing.assert_allclose(ours["f"], case["f"], rtol=1e-6)
        assert float(ours["grad"]) == case["grad"]  # a power of two (times 100): exact
        assert ours["grad_eq_d_over_a"] == case["grad_eq_d_over_a"]


def test_control_flow_on_pytorch_randn_draws_fails_the_exact_check_on_the_same_draws():
    stored = references.load(autodiff.REFERENCE)["control_flow_randn"]
    a = jnp.asarray(stored["a"], jnp.float32)
    f, grad = exercises.control_flow_lax_batched(a)
    np.testing.assert_allclose(f, stored["f"], rtol=1e-6)
    np.testing.assert_array_equal(grad, stored["grad"])
    np.testing.assert_array_equal(grad == f / a, stored["grad_eq_d_over_a"])
    np.testing.assert_allclose(grad, f / a, rtol=1e-6)


def test_numpy_float32_exact_check_fails_only_for_negative_a():
    a = np.asarray(exercises.draw_a(jax.random.key(3), 500))
    f, grad = exercises.control_flow_numpy(a)
    fails = grad != f / a
    assert not fails[a > 0].any()
    assert fails[a < 0].any()
    np.testing.assert_allclose(grad, f / a, rtol=1e-6)


# check_grads compares with central differences. In float32 their rounding error is about
# ulp(f) / eps, so a step of 1e-2 (exact for these polynomials up to O(eps^2)) beats the default 1e-4.
@pytest.mark.parametrize("fn", [autodiff.two_dot, lambda x: autodiff.square(x).sum(), jnp.sum])
def test_check_grads_on_section_functions(fn):
    check_grads(fn, (jnp.array([0.5, 1.0, -2.0, 3.0]),), order=2, modes=["fwd", "rev"], eps=1e-2)


@pytest.mark.parametrize("a", [-2.5, -0.3, 0.3, 7.0])
def test_check_grads_on_control_flow_away_from_its_jumps(a):
    """f is a 2^k (times 100) piecewise: finite differences hold while a +- eps stays on one piece."""
    check_grads(autodiff.control_flow, (jnp.float32(a),), order=2, modes=["fwd", "rev"], eps=1e-2)


def test_stop_gradient_is_not_the_derivative_of_the_function():
    """Finite differences see z = x^3, the detached gradient is u = x^2: check_grads must disagree."""
    with pytest.raises(AssertionError):
        check_grads(lambda x: autodiff.detached_product(x).sum(), (jnp.array([1.0, 2.0]),), order=1, modes=["rev"])


def test_python_control_flow_fails_under_jit():
    with pytest.raises(jax.errors.TracerBoolConversionError):
        jax.jit(autodiff.control_flow)(jnp.float32(1.0))


def test_second_derivatives_match_closed_forms():
    second = autodiff.second_derivatives()
    xs = np.asarray(second["xs"])
    np.testing.assert_allclose(second["d2_cubic"], 6 * xs, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(second["d2_sin"], -np.sin(xs), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(second["hessian_two_dot"], 4 * np.eye(4))
