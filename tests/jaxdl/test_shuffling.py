"""Shuffling: every epoch of fit sees another order, the same key gives the same orders, and
shuffle=False keeps the examples in their order."""

from __future__ import annotations

import jax
import numpy as np
import optax

from jaxdl import data, losses, models, training


def _step_losses_at_fixed_params(key_seed: int, epochs: int = 3) -> np.ndarray:
    """Per-step losses of fit with an optimizer that never moves the parameters: each step's loss then
    depends only on which examples its minibatch holds, so the losses of an epoch spell out its order."""
    ds = data.synthetic_regression(jax.random.key(0), num_train=64, num_val=8)
    model = models.linear_regression()
    params = models.init(model, jax.random.key(1), (1, 2))
    history = training.fit(model, losses.squared_loss, params, ds, optax.set_to_zero(), key=jax.random.key(key_seed),
                           epochs=epochs, batch_size=8, metric=None, callbacks=()).history
    return history.train_loss.reshape(epochs, -1)


def test_every_epoch_of_fit_sees_another_order():
    per_epoch = _step_losses_at_fixed_params(0)
    for i in range(len(per_epoch)):
        for j in range(i + 1, len(per_epoch)):
            assert not np.allclose(per_epoch[i], per_epoch[j]), f"epochs {i + 1} and {j + 1} had the same batches"
    # the same examples each epoch, in other batches: the epoch means agree
    np.testing.assert_allclose(per_epoch.mean(axis=1), per_epoch[0].mean(), rtol=1e-5)


def test_same_key_same_orders_other_key_other_orders():
    np.testing.assert_array_equal(_step_losses_at_fixed_params(5), _step_losses_at_fixed_params(5))
    assert not np.allclose(_step_losses_at_fixed_params(5)[0], _step_losses_at_fixed_params(6)[0])


def test_a_longer_run_starts_with_the_orders_of_a_shorter_one():
    """Epoch e's order depends on the key and e, not on how many epochs the run has."""
    three = _step_losses_at_fixed_params(5, epochs=3)
    for epochs in (1, 2):
        np.testing.assert_array_equal(_step_losses_at_fixed_params(5, epochs=epochs), three[:epochs])


def test_permutation_is_a_function_of_the_key():
    a, b = data.permutation(jax.random.key(7), 1000), data.permutation(jax.random.key(7), 1000)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.sort(a), np.arange(1000))
    assert not np.array_equal(a, np.arange(1000))
    assert not np.array_equal(a, data.permutation(jax.random.key(8), 1000))
    # raw uint32 keys and typed keys give the same order
    np.testing.assert_array_equal(a, data.permutation(jax.random.key_data(jax.random.key(7)), 1000))


def test_epoch_keys_give_distinct_plans():
    keys = jax.random.split(jax.random.key(0), 4)
    plans = [np.asarray(data.batch_indices(k, 100, 10)[0]) for k in keys]
    assert len({p.tobytes() for p in plans}) == 4


def test_shuffle_false_is_the_identity():
    idx, mask = data.batch_indices(None, 10, 4, shuffle=False)
    np.testing.assert_array_equal(idx, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]])
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    batches = list(data.minibatches(None, X, y, 4, shuffle=False))
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), np.arange(10))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), X)


def test_minibatches_shuffle_by_default_and_cover_every_example():
    X, y = np.arange(200.0).reshape(100, 2), np.arange(100)
    seen = np.concatenate([b[1] for b in data.minibatches(jax.random.key(0), X, y, 16)])
    np.testing.assert_array_equal(np.sort(seen), np.arange(100))
    assert not np.array_equal(seen, np.arange(100))
    np.testing.assert_array_equal(seen, data.permutation(jax.random.key(0), 100))
