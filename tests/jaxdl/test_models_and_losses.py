"""Model shapes and initialisation, losses against hand-computed values, gradients checked numerically."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxdl import losses, models


def test_linreg_shapes_and_d2l_init():
    params = models.linreg_init(jax.random.key(0), 2)
    assert params["W"].shape == (1, 2) and params["b"].shape == (1,)
    np.testing.assert_array_equal(params["b"], 0.0)
    assert models.linreg_apply(params, jnp.ones((5, 2))).shape == (5, 1)


def test_normal_init_has_sigma_001():
    W = models.dense_init(jax.random.key(0), 784, 256)["W"]
    assert abs(float(W.std()) - 0.01) < 0.0002


def test_torch_default_init_is_uniform_within_fan_in_bound():
    layer = models.dense_init(jax.random.key(0), 784, 256, sigma=None)
    bound = 1 / np.sqrt(784)
    for v in (layer["W"], layer["b"]):
        assert float(jnp.abs(v).max()) <= bound
    assert abs(float(layer["W"].std()) - bound / np.sqrt(3)) < 0.001  # std of U(-a, a) is a / sqrt(3)


def test_dense_layer_is_torch_linear():
    params = {"W": jnp.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]), "b": jnp.array([0.5, -0.5])}
    np.testing.assert_allclose(models.dense_apply(params, jnp.array([[1.0, 1.0, 2.0]])), [[9.5, -0.5]])


def test_softmax_model_flattens_images():
    params = models.softmax_init(jax.random.key(0), sigma=1.0)
    X = jax.random.uniform(jax.random.key(1), (3, 28, 28))
    logits = models.softmax_apply(params, X)
    assert logits.shape == (3, 10)
    # row-major flattening, as torch's reshape: pixel (i, j) is input 28 i + j
    np.testing.assert_allclose(logits, np.asarray(X).reshape(3, 784) @ np.asarray(params["W"]).T, rtol=1e-5, atol=1e-5)


def test_mlp_shapes_for_one_and_two_hidden_layers():
    one = models.mlp_init(jax.random.key(0), 784, 256, 10)
    assert [p["W"].shape for p in one] == [(256, 784), (10, 256)]
    two = models.mlp_init(jax.random.key(0), 784, [256, 128], 10)
    assert [p["W"].shape for p in two] == [(256, 784), (128, 256), (10, 128)]
    X = jax.random.uniform(jax.random.key(1), (4, 28, 28))
    out = models.mlp_apply(two, X, activation=jax.nn.sigmoid)
    H = np.asarray(X).reshape(4, -1)
    for layer in two[:-1]:
        H = 1 / (1 + np.exp(-(H @ np.asarray(layer["W"]).T + np.asarray(layer["b"]))))
    np.testing.assert_allclose(out, H @ np.asarray(two[-1]["W"]).T + np.asarray(two[-1]["b"]), rtol=1e-5, atol=1e-6)


def test_mlp_applies_activation_between_layers_only():
    params = [{"W": -jnp.eye(2), "b": jnp.zeros(2)}, {"W": jnp.eye(2), "b": jnp.array([-1.0, 0.0])}]
    np.testing.assert_allclose(models.mlp_apply(params, jnp.array([[1.0, -2.0]])), [[-1.0, 2.0]])


def test_squared_loss_is_half_the_squared_error():
    np.testing.assert_allclose(losses.squared_loss(jnp.array([[1.0], [3.0]]), jnp.array([2.0, 0.0])), [0.5, 4.5])


def test_absolute_loss():
    np.testing.assert_allclose(losses.absolute_loss(jnp.array([[1.0], [3.0]]), jnp.array([[2.0], [0.0]])), [1.0, 3.0])


def test_cross_entropy_of_d2l_4_4_example():
    y_hat = jnp.array([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = jnp.array([0, 2])
    np.testing.assert_allclose(losses.cross_entropy(y_hat, y), [-np.log(0.1), -np.log(0.5)], rtol=1e-6)
    assert float(losses.cross_entropy(y_hat, y).mean()) == pytest.approx(1.4979, abs=1e-4)


def test_stable_and_naive_cross_entropy_agree_on_moderate_logits():
    logits = jax.random.normal(jax.random.key(0), (8, 10))
    y = jnp.arange(8) % 10
    np.testing.assert_allclose(losses.softmax_cross_entropy(logits, y), losses.scratch_softmax_loss(logits, y), rtol=1e-5)


def test_naive_softmax_overflows_where_stable_loss_does_not():
    logits = jnp.array([[100.0, 0.0], [1000.0, 0.0]])
    assert not np.isfinite(np.asarray(losses.softmax(logits))).all()
    np.testing.assert_allclose(losses.softmax_cross_entropy(logits, jnp.array([1, 1])), [100.0, 1000.0], rtol=1e-6)


def test_accuracy_counts_argmax_hits():
    y_hat = jnp.array([[0.1, 0.2, 0.7], [0.5, 0.2, 0.3], [0.2, 0.5, 0.3]])
    assert float(losses.accuracy(y_hat, jnp.array([2, 1, 1]))) == pytest.approx(2 / 3)


def _float64(tree):
    return jax.tree.map(lambda v: jnp.asarray(v, jnp.float64) if jnp.issubdtype(v.dtype, jnp.floating) else v, tree)


@pytest.mark.parametrize(
    "apply, loss, init, X_shape, y",
    [
        (models.linreg_apply, losses.squared_loss, partial(models.linreg_init, num_inputs=3, sigma=1.0), (4, 3), [0.0, 1, 2, 3]),
        (models.linreg_apply, losses.absolute_loss, partial(models.linreg_init, num_inputs=3, sigma=1.0), (4, 3), [10.0, 11, 12, 13]),
        (models.softmax_apply, losses.scratch_softmax_loss, partial(models.softmax_init, num_inputs=12, num_outputs=5, sigma=1.0), (4, 3, 4), [0, 1, 4, 2]),
        (models.softmax_apply, losses.softmax_cross_entropy, partial(models.softmax_init, num_inputs=12, num_outputs=5, sigma=None), (4, 3, 4), [0, 1, 4, 2]),
        (partial(models.mlp_apply, activation=jnp.tanh), losses.softmax_cross_entropy, partial(models.mlp_init, num_inputs=12, num_hiddens=[6, 5], num_outputs=3, sigma=0.5), (4, 12), [0, 1, 2, 1]),
        (models.mlp_apply, losses.softmax_cross_entropy, partial(models.mlp_init, num_inputs=12, num_hiddens=7, num_outputs=3, sigma=0.5), (4, 12), [2, 1, 0, 1]),
    ],
    ids=["linreg-squared", "linreg-absolute", "softmax-scratch", "softmax-stable", "mlp-tanh-2-layers", "mlp-relu"],
)
def test_model_and_loss_gradients_match_finite_differences(apply, loss, init, X_shape, y):
    with jax.enable_x64(True):  # float64 makes the finite differences accurate enough for tight tolerances
        params = _float64(init(jax.random.key(0)))
        X = jax.random.uniform(jax.random.key(1), X_shape, jnp.float64, -1, 1)
        y = jnp.asarray(y)
        objective = jax.jit(lambda p: loss(apply(p, X), y).mean())
        check_grads(objective, (params,), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_losses_sum_over_the_outputs_of_each_example():
    y_hat = jnp.array([[1.0, 2.0], [3.0, -1.0]])
    y = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(losses.absolute_loss(y_hat, y), [3.0, 4.0])
    np.testing.assert_allclose(losses.squared_loss(y_hat, y), [2.5, 4.0])
