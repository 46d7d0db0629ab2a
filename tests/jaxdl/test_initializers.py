"""Initialisation: each model's default sigma, nn.Linear's uniform init for weights and bias alike, MLP layers
from independent keys, and d2l 3.3's noise drawn independently of X."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data, models, nn

INITS = {"linear": nn.linear, "linear_regression": models.linear_regression,
         "softmax_regression": models.softmax_regression, "mlp": models.mlp, "dropout_mlp": models.dropout_mlp}


def _dense_layers(model, key, input_shape):
    """The dense layers' params of model for inputs of input_shape, drawn from key."""
    params = models.init(model, key, input_shape)
    return [params] if isinstance(params, dict) else [p for p in params if p != ()]


def dense_init(key, num_inputs, num_outputs, sigma=0.01):
    return models.init(nn.linear(num_outputs, sigma=sigma), key, (1, num_inputs))


def mlp_init(key, num_inputs=784, num_hiddens=256, num_outputs=10, sigma=0.01):
    return _dense_layers(models.mlp(num_hiddens, num_outputs, sigma=sigma), key, (1, num_inputs))


def softmax_init(key, num_inputs=784, num_outputs=10, sigma=0.01):
    return _dense_layers(models.softmax_regression(num_outputs, sigma=sigma), key, (1, num_inputs))[0]


@pytest.mark.parametrize("name", INITS)
def test_default_sigma_is_d2l_s_0_01(name):
    assert inspect.signature(INITS[name]).parameters["sigma"].default == 0.01


@pytest.mark.parametrize(
    "params",
    [
        lambda k: [dense_init(k, 500, 40)],
        lambda k: _dense_layers(models.linear_regression(), k, (1, 20000)),
        lambda k: _dense_layers(models.softmax_regression(), k, (1, 28, 28)),
        lambda k: _dense_layers(models.mlp(), k, (1, 28, 28)),
        lambda k: _dense_layers(models.mlp([200, 100], 50), k, (1, 300)),
        lambda k: _dense_layers(models.dropout_mlp(), k, (1, 28, 28)),
    ],
    ids=["dense", "linreg", "softmax", "mlp", "mlp-2-hidden", "dropout-mlp"],
)
def test_default_init_draws_normal_weights_with_std_0_01_and_zero_bias(params):
    for layer in params(jax.random.key(0)):
        W = np.asarray(layer["W"], np.float64)
        # std of the sample std is about sigma / sqrt(2n): n >= 5000 keeps it under 1%
        assert W.std() == pytest.approx(0.01, rel=0.04) and abs(W.mean()) < 0.001
        assert abs(np.mean(np.abs(W)) - 0.01 * np.sqrt(2 / np.pi)) < 0.0005  # normal, not uniform: E|W| = sigma sqrt(2/pi)
        np.testing.assert_array_equal(layer["b"], 0.0)


def test_given_sigma_scales_the_weights():
    a = dense_init(jax.random.key(0), 100, 100, sigma=1.0)["W"]
    b = dense_init(jax.random.key(0), 100, 100, sigma=0.5)["W"]
    np.testing.assert_allclose(b, 0.5 * a, rtol=1e-6)


# ---------------------------------------------------------------- nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in))


def _uniform_checks(values: np.ndarray, bound: float) -> None:
    """values look like draws of U(-bound, bound): inside the bound, filling it, with its std and quartiles."""
    values = np.asarray(values, np.float64).ravel()
    n = values.size
    assert np.abs(values).max() <= bound
    assert values.max() > bound * (1 - 20 / n) and values.min() < -bound * (1 - 20 / n)  # reaches both edges
    assert values.std() == pytest.approx(bound / np.sqrt(3), rel=5 / np.sqrt(n))
    quartiles = np.quantile(values, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(quartiles, [-bound / 2, 0, bound / 2], atol=4 * bound / np.sqrt(n))


@pytest.mark.parametrize("fan_in, fan_out", [(784, 256), (4, 2000), (100, 4000)])
def test_uniform_init_draws_weights_and_bias_from_the_same_fan_in_band(fan_in, fan_out):
    layer = dense_init(jax.random.key(0), fan_in, fan_out, sigma=None)
    bound = 1 / np.sqrt(fan_in)
    _uniform_checks(layer["W"], bound)
    _uniform_checks(layer["b"], bound)  # the bias too: not zero, not another band


def test_uniform_bias_is_drawn_apart_from_the_weights():
    layer = dense_init(jax.random.key(0), 1, 5000, sigma=None)  # W is (5000, 1): as many values as b
    W, b = np.asarray(layer["W"]).ravel(), np.asarray(layer["b"])
    assert abs(np.corrcoef(W, b)[0, 1]) < 0.06
    assert np.intersect1d(W, b).size < 50  # float32 uniforms coincide now and then; the same draws would all


def test_uniform_init_of_the_models_that_take_sigma_none():
    for layer in [softmax_init(jax.random.key(1), sigma=None), *mlp_init(jax.random.key(2), sigma=None)]:
        fan_in = layer["W"].shape[1]
        assert float(jnp.abs(layer["W"]).max()) <= 1 / np.sqrt(fan_in)
        assert float(jnp.abs(layer["b"]).max()) <= 1 / np.sqrt(fan_in) and float(jnp.abs(layer["b"]).min()) > 0


# ---------------------------------------------------------------- MLP layers from independent keys


@pytest.mark.parametrize("sigma", [0.01, None])
def test_mlp_layers_of_the_same_shape_are_drawn_independently(sigma):
    layers = mlp_init(jax.random.key(0), 64, [64, 64], 64, sigma=sigma)
    Ws = [np.asarray(layer["W"]).ravel() for layer in layers]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.array_equal(Ws[i], Ws[j])
            assert abs(np.corrcoef(Ws[i], Ws[j])[0, 1]) < 0.05  # 4096 pairs: chance correlation ~0.016
            assert np.intersect1d(Ws[i], Ws[j]).size < 20
    if sigma is None:
        bs = [np.asarray(layer["b"]) for layer in layers]
        assert not np.array_equal(bs[0], bs[1]) and not np.array_equal(bs[1], bs[2])


def test_mlp_layers_differ_from_dense_layers_drawn_with_the_parent_key():
    key = jax.random.key(0)
    first = mlp_init(key, 32, 32, 32)[0]["W"]
    assert not np.array_equal(first, dense_init(key, 32, 32)["W"])


def test_same_key_same_mlp_other_key_other_mlp():
    a, b = mlp_init(jax.random.key(3), 20, 10, 5), mlp_init(jax.random.key(3), 20, 10, 5)
    c = mlp_init(jax.random.key(4), 20, 10, 5)
    for la, lb, lc in zip(a, b, c):
        np.testing.assert_array_equal(la["W"], lb["W"])
        assert not np.array_equal(la["W"], lc["W"])


# ---------------------------------------------------------------- d2l 3.3: noise independent of X


def test_synthetic_noise_is_independent_of_X():
    ds = data.synthetic_regression(jax.random.key(0), noise=1.0, num_train=4000, num_val=4000)
    X = np.concatenate([ds.X_train, ds.X_val]).astype(np.float64)
    y = np.concatenate([ds.y_train, ds.y_val]).astype(np.float64)
    noise = (y - X @ np.array([[2.0], [-3.4]]) - 4.2).ravel()
    assert noise.std() == pytest.approx(1.0, rel=0.05)
    for column in (X[:, 0], X[:, 1]):
        assert abs(np.corrcoef(noise, column)[0, 1]) < 0.05  # 8000 draws: chance correlation ~0.011
    # not X's draws rearranged: few of the first 500 noise values have an X value within float32 rounding
    # (about 50 by chance among 16000 normal draws; all 500 if the noise reused X's key)
    xs = np.sort(X.ravel())
    at = np.clip(np.searchsorted(xs, noise[:500]), 1, xs.size - 1)
    nearest = np.minimum(np.abs(xs[at] - noise[:500]), np.abs(xs[at - 1] - noise[:500]))
    assert (nearest < 1e-5).sum() < 150


def test_synthetic_noise_has_the_given_scale():
    key = jax.random.key(1)
    clean = data.synthetic_regression(key, noise=0.0)
    noisy = data.synthetic_regression(key, noise=0.5)
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)
    residual = np.asarray(noisy.y_train - clean.y_train).ravel()
    assert residual.std() == pytest.approx(0.5, rel=0.1)
    np.testing.assert_allclose(clean.y_train, clean.X_train @ jnp.array([[2.0], [-3.4]]) + 4.2, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", INITS)
def test_every_init_passes_its_sigma_on(name):
    make, inputs = {"linear": (lambda sigma: nn.linear(30, sigma=sigma), 300),
                    "linear_regression": (lambda sigma: models.linear_regression(sigma), 9000),
                    "softmax_regression": (lambda sigma: models.softmax_regression(30, sigma), 300),
                    "mlp": (lambda sigma: models.mlp(30, 30, sigma=sigma), 300),
                    "dropout_mlp": (lambda sigma: models.dropout_mlp(30, (0.5,), 30, sigma=sigma), 300)}[name]
    layers = _dense_layers(make(1.0), jax.random.key(0), (1, inputs))
    assert float(layers[0]["W"].std()) == pytest.approx(1.0, rel=0.05)
    uniform = _dense_layers(make(None), jax.random.key(0), (1, inputs))
    assert float(jnp.abs(uniform[0]["b"]).min()) > 0  # nn.Linear's init: a nonzero bias


def test_default_sizes_are_fashion_mnist_s():
    assert [layer["W"].shape for layer in _dense_layers(models.mlp(), jax.random.key(0), (1, 28, 28))] == [
        (256, 784), (10, 256)]
    assert _dense_layers(models.softmax_regression(), jax.random.key(0), (1, 28, 28))[0]["W"].shape == (10, 784)
    assert [layer["W"].shape for layer in _dense_layers(models.dropout_mlp(), jax.random.key(0), (1, 28, 28))] == [
        (256, 784), (256, 256), (10, 256)]


# ---------------------------------------------------------------- Xavier, through nn.linear's W_init


@pytest.mark.parametrize("fan_in, fan_out", [(300, 100), (50, 800)])
def test_xavier_uniform_fills_the_band_of_its_fan_average_and_keeps_a_zero_bias(fan_in, fan_out):
    from jaxdl import initializers

    layer = models.init(nn.linear(fan_out, W_init=initializers.xavier()), jax.random.key(0), (1, fan_in))
    assert layer["W"].shape == (fan_out, fan_in)
    _uniform_checks(layer["W"], np.sqrt(6 / (fan_in + fan_out)))  # torch.nn.init.xavier_uniform_
    np.testing.assert_array_equal(layer["b"], 0.0)
    normal = models.init(nn.linear(fan_out, W_init=initializers.xavier("normal")), jax.random.key(0), (1, fan_in))
    assert float(normal["W"].std()) == pytest.approx(np.sqrt(2 / (fan_in + fan_out)), rel=0.03)
    with pytest.raises(ValueError, match="distribution must be 'uniform', 'normal' or 'truncated_normal'"):
        initializers.xavier("laplace")
