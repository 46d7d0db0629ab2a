"""Model shapes and initialisation, losses against hand-computed values, gradients checked numerically."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxdl import losses, models, nn


def _dense(num_inputs, num_outputs, sigma=0.01, key=0):
    return models.init(nn.linear(num_outputs, sigma=sigma), jax.random.key(key), (1, num_inputs))


def test_linreg_shapes_and_d2l_init():
    model = models.linear_regression()
    params = models.init(model, jax.random.key(0), (1, 2))
    assert params["W"].shape == (1, 2) and params["b"].shape == (1,)
    np.testing.assert_array_equal(params["b"], 0.0)
    assert model(params, jnp.ones((5, 2))).shape == (5, 1)


def test_normal_init_has_sigma_001():
    W = _dense(784, 256)["W"]
    assert abs(float(W.std()) - 0.01) < 0.0002


def test_torch_default_init_is_uniform_within_fan_in_bound():
    layer = _dense(784, 256, sigma=None)
    bound = 1 / np.sqrt(784)
    for v in (layer["W"], layer["b"]):
        assert float(jnp.abs(v).max()) <= bound
    assert abs(float(layer["W"].std()) - bound / np.sqrt(3)) < 0.001  # std of U(-a, a) is a / sqrt(3)


def test_dense_layer_is_torch_linear():
    params = {"W": jnp.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]), "b": jnp.array([0.5, -0.5])}
    np.testing.assert_allclose(nn.linear(2)(params, jnp.array([[1.0, 1.0, 2.0]])), [[9.5, -0.5]])


def test_softmax_model_flattens_images():
    model = models.softmax_regression(sigma=1.0)
    params = models.init(model, jax.random.key(0), (1, 28, 28))
    X = jax.random.uniform(jax.random.key(1), (3, 28, 28))
    logits = model(params, X)
    assert logits.shape == (3, 10)
    # row-major flattening, as torch's reshape: pixel (i, j) is input 28 i + j
    np.testing.assert_allclose(logits, np.asarray(X).reshape(3, 784) @ np.asarray(params[1]["W"]).T, rtol=1e-5,
                               atol=1e-5)


def _dense_layers(params):
    return [p for p in params if p != ()]


def test_mlp_shapes_for_one_and_two_hidden_layers():
    one = models.init(models.mlp(256, 10), jax.random.key(0), (1, 784))
    assert [p["W"].shape for p in _dense_layers(one)] == [(256, 784), (10, 256)]
    model = models.mlp([256, 128], 10, activation=nn.sigmoid)
    two = models.init(model, jax.random.key(0), (1, 28, 28))
    assert [p["W"].shape for p in _dense_layers(two)] == [(256, 784), (128, 256), (10, 128)]
    assert two[0] == () and two[2] == () and two[4] == ()  # flatten and the activations
    X = jax.random.uniform(jax.random.key(1), (4, 28, 28))
    out = model(two, X)
    H = np.asarray(X).reshape(4, -1)
    for layer in _dense_layers(two)[:-1]:
        H = 1 / (1 + np.exp(-(H @ np.asarray(layer["W"]).T + np.asarray(layer["b"]))))
    last = _dense_layers(two)[-1]
    np.testing.assert_allclose(out, H @ np.asarray(last["W"]).T + np.asarray(last["b"]), rtol=1e-5, atol=1e-6)


def test_mlp_applies_activation_between_layers_only():
    params = ((), {"W": -jnp.eye(2), "b": jnp.zeros(2)}, (), {"W": jnp.eye(2), "b": jnp.array([-1.0, 0.0])})
    np.testing.assert_allclose(models.mlp(2, 2)(params, jnp.array([[1.0, -2.0]])), [[-1.0, 2.0]])


def test_the_mlp_draws_as_the_old_mlp_init_did():
    """One key per dense layer from split(key, layers): the book's runs and references keep their numbers."""
    params = models.init(models.mlp([6, 5], 3), jax.random.key(0), (1, 12))
    keys = jax.random.split(jax.random.key(0), 3)
    for layer, key, (n_in, n_out) in zip(_dense_layers(params), keys, [(12, 6), (6, 5), (5, 3)]):
        k_W, _ = jax.random.split(key)
        np.testing.assert_array_equal(layer["W"], 0.01 * jax.random.normal(k_W, (n_out, n_in)))


def test_dropout_mlp_puts_dropout_after_every_hidden_activation_and_needs_a_rate_each():
    model = models.dropout_mlp((4, 3), (0.2, 0.5), 2)
    params, state = nn.init(model, jax.random.key(0), (1, 5))
    assert state is None and model.stochastic and len(params) == 8
    assert [p["W"].shape for p in _dense_layers(params)] == [(4, 5), (3, 4), (2, 3)]
    X = jnp.ones((2, 5))
    np.testing.assert_array_equal(model(params, X), models.mlp((4, 3), 2)(_without_dropout(params), X))
    with pytest.raises(ValueError, match="2 hidden layers need 2 dropout rates, got 1"):
        models.dropout_mlp((4, 3), (0.5,))


def _without_dropout(params):
    """dropout_mlp's params (flatten, dense, act, dropout, ...) as mlp's (flatten, dense, act, ...)."""
    return tuple(p for i, p in enumerate(params) if i == 0 or i % 3 != 0)


def test_models_init_refuses_a_model_that_keeps_state():
    with pytest.raises(ValueError, match="this model keeps layer state \\(BatchNorm\\): use nn.init"):
        models.init(nn.serial(nn.linear(2), nn.batch_norm()), jax.random.key(0), (1, 3))


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
    "model, loss, X_shape, y",
    [
        (models.linear_regression(sigma=1.0), losses.squared_loss, (4, 3), [0.0, 1, 2, 3]),
        (models.linear_regression(sigma=1.0), losses.absolute_loss, (4, 3), [10.0, 11, 12, 13]),
        (models.softmax_regression(5, sigma=1.0), losses.scratch_softmax_loss, (4, 3, 4), [0, 1, 4, 2]),
        (models.softmax_regression(5, sigma=None), losses.softmax_cross_entropy, (4, 3, 4), [0, 1, 4, 2]),
        (models.mlp([6, 5], 3, activation=nn.tanh, sigma=0.5), losses.softmax_cross_entropy, (4, 12), [0, 1, 2, 1]),
        (models.mlp(7, 3, sigma=0.5), losses.softmax_cross_entropy, (4, 12), [2, 1, 0, 1]),
    ],
    ids=["linreg-squared", "linreg-absolute", "softmax-scratch", "softmax-stable", "mlp-tanh-2-layers", "mlp-relu"],
)
def test_model_and_loss_gradients_match_finite_differences(model, loss, X_shape, y):
    with jax.enable_x64(True):  # float64 makes the finite differences accurate enough for tight tolerances
        params = _float64(models.init(model, jax.random.key(0), (1, *X_shape[1:])))
        X = jax.random.uniform(jax.random.key(1), X_shape, jnp.float64, -1, 1)
        y = jnp.asarray(y)
        objective = jax.jit(lambda p: loss(model(p, X), y).mean())
        check_grads(objective, (params,), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_losses_sum_over_the_outputs_of_each_example():
    y_hat = jnp.array([[1.0, 2.0], [3.0, -1.0]])
    y = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(losses.absolute_loss(y_hat, y), [3.0, 4.0])
    np.testing.assert_allclose(losses.squared_loss(y_hat, y), [2.5, 4.0])


def test_dropout_mlp_drops_each_hidden_activation_in_training():
    model = models.dropout_mlp((4, 3), (0.2, 0.5), 2, activation=nn.sigmoid, mask=nn.given_mask)
    params = models.init(model, jax.random.key(0), (1, 5))
    X = jax.random.normal(jax.random.key(1), (2, 5))
    m1 = jnp.array([[1, 0, 1, 1], [0, 1, 1, 1]], bool)
    m2 = jnp.array([[1, 1, 0], [0, 1, 1]], bool)
    dense = _dense_layers(params)
    H1 = jnp.where(m1, jax.nn.sigmoid(X @ dense[0]["W"].T + dense[0]["b"]) / 0.8, 0.0)  # after the activation
    H2 = jnp.where(m2, jax.nn.sigmoid(H1 @ dense[1]["W"].T + dense[1]["b"]) / 0.5, 0.0)
    np.testing.assert_allclose(model(params, X, train=True, rng=(m1, m2)), H2 @ dense[2]["W"].T + dense[2]["b"],
                               rtol=1e-6)
