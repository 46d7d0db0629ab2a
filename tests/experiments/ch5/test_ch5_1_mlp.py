"""d2l 5.1: activations and their derivatives against the stored PyTorch values; the 5.1 experiment modules."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch5 import ch5_1_mlp
from experiments.ch5 import ch5_1_mlp_exercises as ch5_1_exercises
from experiments.harness import references


@pytest.fixture(scope="module")
def ref():
    return references.load(ch5_1_mlp.REFERENCE)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "prelu"])
def test_activation_values_and_derivatives_match_torch(ref, name):
    x = jnp.asarray(ref["x"], jnp.float32)
    y, dy = ch5_1_mlp.value_and_derivative(ch5_1_mlp.activations()[name], x)
    value_tol, grad_tol = ch5_1_mlp.TANH_TOL if name == "tanh" else (ch5_1_mlp.VALUE_TOL, ch5_1_mlp.VALUE_TOL)
    np.testing.assert_allclose(y, ref[name]["y"], rtol=value_tol.rtol, atol=value_tol.atol)
    np.testing.assert_allclose(dy, ref[name]["grad"], rtol=grad_tol.rtol, atol=grad_tol.atol)


def test_grid_matches_torch_arange_to_an_ulp(ref):
    x = ch5_1_mlp.grid()
    assert x.shape == (160,) and x.dtype == jnp.float32
    np.testing.assert_allclose(x, ref["x"], atol=2e-6)


def test_relu_derivative_is_zero_at_the_kink_and_one_just_right_of_it():
    _, dy = ch5_1_mlp.value_and_derivative(jax.nn.relu, jnp.array([-1e-30, 0.0, 4.4e-16, 1.0]))
    np.testing.assert_array_equal(dy, [0.0, 0.0, 1.0, 1.0])


def test_prelu_slope_gradient_is_the_sum_of_negative_parts(ref):
    x = jnp.asarray(ref["x"], jnp.float32)
    grad = ch5_1_mlp.prelu_alpha_gradient(x, 0.25)
    np.testing.assert_allclose(grad, jnp.minimum(x, 0.0).sum(), rtol=1e-6)
    np.testing.assert_allclose(grad, ref["prelu"]["grad_alpha"], rtol=1e-6)


def test_exercise_activations_match_torch():
    ref = references.load(ch5_1_exercises.REFERENCE)
    x = jnp.asarray(ref["x"], jnp.float32)
    for theirs in ref["prelu"]:
        y, dy = ch5_1_mlp.value_and_derivative(partial(ch5_1_mlp.prelu, alpha=theirs["alpha"]), x)
        np.testing.assert_allclose(y, theirs["y"], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(dy, theirs["grad"], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(ch5_1_mlp.prelu_alpha_gradient(x, theirs["alpha"]), theirs["grad_alpha"], rtol=1e-6)
    y, dy = ch5_1_mlp.value_and_derivative(ch5_1_exercises.swish, x)
    np.testing.assert_allclose(y, ref["swish"]["y"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dy, ref["swish"]["grad"], rtol=1e-6, atol=1e-7)


def test_swish_minimum_is_a_stationary_point_below_every_grid_value():
    x_min, y_min = ch5_1_exercises.swish_minimum()
    assert abs(float(jax.grad(ch5_1_exercises.swish)(x_min))) < 1e-6
    assert float(jax.grad(jax.grad(ch5_1_exercises.swish))(x_min)) > 0
    assert float(y_min) <= float(ch5_1_exercises.swish(ch5_1_mlp.grid()).min())
