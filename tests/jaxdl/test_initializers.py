"""Initialisation: each model's default sigma, nn.Linear's uniform init for weights and bias alike, MLP layers
from independent keys, and d2l 3.3's noise drawn independently of X."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data, models

INITS = {"dense_init": models.dense_init, "linreg_init": models.linreg_init,
         "softmax_init": models.softmax_init, "mlp_init": models.mlp_init}


@pytest.mark.parametrize("name", INITS)
def test_default_sigma_is_d2l_s_0_01(name):
    assert inspect.signature(INITS[name]).parameters["sigma"].default == 0.01


@pytest.mark.parametrize(
    "params",
    [
        lambda k: [models.dense_init(k, 500, 40)],
        lambda k: [models.linreg_init(k, 20000)],
        lambda k: [models.softmax_init(k)],
        lambda k: models.mlp_init(k),
        lambda k: models.mlp_init(k, 300, [200, 100], 50),
    ],
    ids=["dense", "linreg", "softmax", "mlp", "mlp-2-hidden"],
)
def test_default_init_draws_normal_weights_with_std_0_01_and_zero_bias(params):
    for layer in params(jax.random.key(0)):
        W = np.asarray(layer["W"], np.float64)
        # std of the sample std is about sigma / sqrt(2n): n >= 5000 keeps it under 1%
        assert W.std() == pytest.approx(0.01, rel=0.04) and abs(W.mean()) < 0.001
        assert abs(np.mean(np.abs(W)) - 0.01 * np.sqrt(2 / np.pi)) < 0.0005  # normal, not uniform: E|W| = sigma sqrt(2/pi)
        np.testing.assert_array_equal(layer["b"], 0.0)


def test_given_sigma_scales_the_weights():
    a = models.dense_init(jax.random.key(0), 100, 100, sigma=1.0)["W"]
    b = models.dense_init(jax.random.key(0), 100, 100, sigma=0.5)["W"]
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
    layer = models.dense_init(jax.random.key(0), fan_in, fan_out, sigma=None)
    bound = 1 / np.sqrt(fan_in)
    _uniform_checks(layer["W"], bound)
    _uniform_checks(layer["b"], bound)  # the bias too: not zero, not another band


def test_uniform_bias_is_drawn_apart_from_the_weights():
    layer = models.dense_init(jax.random.key(0), 1, 5000, sigma=None)  # W is (5000, 1): as many values as b
    W, b = np.asarray(layer["W"]).ravel(), np.asarray(layer["b"])
    assert abs(np.corrcoef(W, b)[0, 1]) < 0.06
    assert np.intersect1d(W, b).size < 50  # float32 uniforms coincide now and then; the same draws would all


def test_uniform_init_of_the_models_that_take_sigma_none():
    for layer in [models.softmax_init(jax.random.key(1), sigma=None), *models.mlp_init(jax.random.key(2), sigma=None)]:
        fan_in = layer["W"].shape[1]
        assert float(jnp.abs(layer["W"]).max()) <= 1 / np.sqrt(fan_in)
        assert float(jnp.abs(layer["b"]).max()) <= 1 / np.sqrt(fan_in) and float(jnp.abs(layer["b"]).min()) > 0


# ---------------------------------------------------------------- MLP layers from independent keys


@pytest.mark.parametrize("sigma", [0.01, None])
def test_mlp_layers_of_the_same_shape_are_drawn_independently(sigma):
    layers = models.mlp_init(jax.random.key(0), 64, [64, 64], 64, sigma=sigma)
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
    first = models.mlp_init(key, 32, 32, 32)[0]["W"]
    assert not np.array_equal(first, models.dense_init(key, 32, 32)["W"])


def test_same_key_same_mlp_other_key_other_mlp():
    a, b = models.mlp_init(jax.random.key(3), 20, 10, 5), models.mlp_init(jax.random.key(3), 20, 10, 5)
    c = models.mlp_init(jax.random.key(4), 20, 10, 5)
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
    init = INITS[name]
    sizes = {"dense_init": (300, 30), "linreg_init": (9000,), "softmax_init": (300, 30), "mlp_init": (300, 30, 30)}[name]
    layers = init(jax.random.key(0), *sizes, sigma=1.0)
    layers = layers if isinstance(layers, list) else [layers]
    assert float(layers[0]["W"].std()) == pytest.approx(1.0, rel=0.05)
    uniform = init(jax.random.key(0), *sizes, sigma=None)
    uniform = uniform if isinstance(uniform, list) else [uniform]
    assert float(jnp.abs(uniform[0]["b"]).min()) > 0  # nn.Linear's init: a nonzero bias


def test_default_sizes_are_fashion_mnist_s():
    assert [layer["W"].shape for layer in models.mlp_init(jax.random.key(0))] == [(256, 784), (10, 256)]
    assert models.softmax_init(jax.random.key(0))["W"].shape == (10, 784)
