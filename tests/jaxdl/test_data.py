"""Synthetic regression data and minibatch plans."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data


def test_synthetic_regression_follows_d2l_3_3():
    ds = data.synthetic_regression(jax.random.key(0))
    assert ds.X_train.shape == (1000, 2) and ds.y_train.shape == (1000, 1)
    assert ds.X_val.shape == (1000, 2) and ds.y_val.shape == (1000, 1)
    residual = ds.y_train - (ds.X_train @ jnp.array([[2.0], [-3.4]]) + 4.2)
    assert abs(float(residual.std()) - 0.01) < 0.001  # the noise level, from 1000 draws
    assert abs(float(ds.X_train.mean())) < 0.1 and abs(float(ds.X_train.std()) - 1) < 0.05


def test_same_key_same_data_other_key_other_data():
    a, b = data.synthetic_regression(jax.random.key(3)), data.synthetic_regression(jax.random.key(3))
    c = data.synthetic_regression(jax.random.key(4))
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)


def test_batch_plan_pads_and_masks_the_partial_last_batch():
    idx, mask = data.batch_plan(jnp.arange(10)[::-1], 4)
    np.testing.assert_array_equal(idx, [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]])


def test_batch_indices_cover_every_example_once():
    idx, mask = data.batch_indices(jax.random.key(0), 1000, 32)
    assert idx.shape == (32, 32)  # 1000 / 32 -> 31 full batches and one of 8
    assert int(mask.sum()) == 1000
    np.testing.assert_array_equal(np.sort(np.asarray(idx)[np.asarray(mask) > 0]), np.arange(1000))


def test_minibatches_match_the_plan():
    X, y = jnp.arange(20.0).reshape(10, 2), jnp.arange(10)
    batches = list(data.minibatches(jax.random.key(1), X, y, 4))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    idx, _ = data.batch_indices(jax.random.key(1), 10, 4)
    np.testing.assert_array_equal(batches[0][1], np.asarray(idx[0]))


@pytest.mark.parametrize("n, batch_size, message", [(0, 4, "empty"), (10, 0, "positive integer"), (10, 2.5, "positive integer")])
def test_bad_batching_is_explained(n, batch_size, message):
    with pytest.raises(ValueError, match=message):
        data.batch_indices(jax.random.key(0), n, batch_size)


def test_synthetic_regression_adds_the_noise_it_draws():
    key = jax.random.key(3)
    ds = data.synthetic_regression(key, w=[2, -3], b=4.2, noise=0.5, num_train=20, num_val=5)
    key_X, key_noise = jax.random.split(key)
    X = jax.random.normal(key_X, (25, 2))
    expected = X @ jnp.array([[2.0], [-3.0]]) + 4.2 + 0.5 * jax.random.normal(key_noise, (25, 1))
    np.testing.assert_allclose(np.concatenate([ds.y_train, ds.y_val]), expected, rtol=1e-6, atol=1e-6)
