"""jaxdl.nn: layers as values (init infers sizes from the first input, apply is pure), the combinators, dropout,
batch normalisation against numpy, and fit threading a layer's state."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data, losses, nn, optimizers, training
from jaxdl.data import Dataset

KEY = jax.random.key(0)


# ----------------------------------------------------------------------------- shapes and parameters


def test_a_linear_layer_takes_its_number_of_inputs_from_the_first_input():
    shape, params, state = nn.linear(4).init(KEY, (1, 7))
    assert shape == (1, 4) and params["W"].shape == (4, 7) and params["b"].shape == (4,) and state is None
    shape, params, _ = nn.serial(nn.flatten(), nn.linear(5), nn.relu(), nn.linear(2)).init(KEY, (3, 2, 6))
    assert shape == (3, 2)
    assert params[1]["W"].shape == (5, 12) and params[3]["W"].shape == (2, 5)  # 2 x 6 pixels flattened


def test_serial_gives_one_params_entry_per_layer_and_splits_its_key_among_the_layers_that_draw():
    model = nn.serial(nn.flatten(), nn.linear(3), nn.relu(), nn.linear(2))
    _, params, state = model.init(KEY, (1, 4))
    assert isinstance(params, tuple) and len(params) == 4 and params[0] == () and params[2] == ()
    assert state is None
    k1, k2 = jax.random.split(KEY)
    jax.tree.map(np.testing.assert_array_equal, params[1], nn.linear(3).init(k1, (1, 4))[1])
    jax.tree.map(np.testing.assert_array_equal, params[3], nn.linear(2).init(k2, (1, 3))[1])
    X = jax.random.normal(jax.random.key(1), (5, 4))
    expected = jax.nn.relu(X @ params[1]["W"].T + params[1]["b"]) @ params[3]["W"].T + params[3]["b"]
    np.testing.assert_allclose(model(params, X), expected, rtol=1e-6)


def test_a_lone_layer_that_draws_gets_the_key_itself():
    _, params, _ = nn.serial(nn.flatten(), nn.linear(3), nn.relu()).init(KEY, (1, 2, 2))
    jax.tree.map(np.testing.assert_array_equal, params[1], nn.linear(3).init(KEY, (1, 4))[1])


def test_param_shapes_traces_the_init_without_drawing_anything():
    seen = []

    def recording_init(key, shape, dtype=jnp.float32):
        seen.append(isinstance(key, jax.core.Tracer))
        return jnp.zeros(shape, dtype)

    shapes = nn.param_shapes(nn.serial(nn.flatten(), nn.linear(6, W_init=recording_init), nn.linear(2)), (1, 3, 5))
    assert seen == [True]  # the initialiser ran on a traced key: no numbers were drawn
    assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(shapes))
    assert jax.tree.map(lambda leaf: leaf.shape, shapes) == ((), {"W": (6, 15), "b": (6,)}, {"W": (2, 6), "b": (2,)})


def test_a_linear_layer_handed_inputs_of_another_size_names_itself_and_both_shapes():
    params = nn.init(nn.linear(10), KEY, (1, 784))[0]
    with pytest.raises(nn.ShapeError) as err:
        nn.linear(10)(params, jnp.zeros((2, 28, 28)))
    assert str(err.value).startswith("Linear(10) was made for 784 inputs but got inputs of shape (2, 28, 28) "
                                     "(28 features)")


def test_serial_refuses_params_that_are_not_one_entry_per_layer():
    model = nn.serial(nn.flatten(), nn.linear(3))
    _, params, _ = model.init(KEY, (1, 4))
    for bad, got in ((params + ((),), "3 entries"), (params[1], "a dict")):
        with pytest.raises(ValueError, match=f"serial of 2 layers takes params with one entry per layer.*got {got}"):
            model(bad, jnp.zeros((1, 4)))


# ----------------------------------------------------------------------------- combinators


def test_branches_concatenate_their_outputs_along_the_axis():
    model = nn.branches(nn.linear(2), nn.identity(), nn.linear(3), axis=-1)
    shape, params, _ = model.init(KEY, (5, 4))
    assert shape == (5, 9) and len(params) == 3 and params[1] == ()
    X = jax.random.normal(jax.random.key(1), (5, 4))
    expected = jnp.concatenate([X @ params[0]["W"].T + params[0]["b"], X, X @ params[2]["W"].T + params[2]["b"]], -1)
    np.testing.assert_allclose(model(params, X), expected, rtol=1e-6)
    # channels by default: DenseNet's concatenation of NCHW maps
    assert nn.branches(nn.identity(), nn.identity()).init(None, (2, 3, 4, 4))[0] == (2, 6, 4, 4)


def test_branches_whose_outputs_differ_outside_the_axis_are_refused():
    with pytest.raises(nn.ShapeError, match=r"branches give outputs of shapes \[\(2, 3\), \(2, 5\)\], which differ "
                                            r"outside axis 0; they cannot be concatenated"):
        nn.branches(nn.linear(3), nn.linear(5), axis=0).init(KEY, (2, 4))


def test_residual_adds_the_shortcut_to_the_body():
    model = nn.residual(nn.linear(4))
    shape, (body, shortcut), state = model.init(KEY, (3, 4))
    assert shape == (3, 4) and shortcut == () and state is None
    X = jax.random.normal(jax.random.key(1), (3, 4))
    np.testing.assert_allclose(model((body, shortcut), X), X @ body["W"].T + body["b"] + X, rtol=1e-6)
    with_projection = nn.residual(nn.linear(2), nn.linear(2))
    _, (b, s), _ = with_projection.init(KEY, (3, 4))
    np.testing.assert_allclose(with_projection((b, s), X), X @ b["W"].T + b["b"] + X @ s["W"].T + s["b"], rtol=1e-6)


def test_a_residual_whose_body_changes_the_shape_is_refused():
    with pytest.raises(nn.ShapeError, match=r"residual: the body gives shape \(3, 2\) but the shortcut \(3, 4\); they "
                                            r"must match"):
        nn.residual(nn.linear(2)).init(KEY, (3, 4))


# ----------------------------------------------------------------------------- dropout


def test_dropout_drops_and_scales_in_training_and_passes_the_input_in_evaluation():
    X = jnp.arange(1.0, 101.0).reshape(4, 25)
    layer = nn.dropout(0.3)
    np.testing.assert_array_equal(layer((), X), X)  # evaluation by default
    Y, state = layer.apply((), None, X, train=True, rng=KEY)
    keep = np.asarray(jax.random.uniform(KEY, X.shape) > 0.3)  # d2l's mask
    np.testing.assert_allclose(Y, np.where(keep, X / 0.7, 0.0), rtol=1e-6)
    assert state is None and 0 < keep.sum() < keep.size


def test_dropout_in_training_needs_the_steps_rng():
    with pytest.raises(ValueError, match=r"Dropout\(0.5\) in training needs the step's rng"):
        nn.dropout(0.5).apply((), None, jnp.ones((2, 3)), train=True)


def test_given_masks_are_routed_one_per_stochastic_layer_in_order():
    model = nn.serial(nn.dropout(0.5, nn.given_mask), nn.linear(4), nn.dropout(0.25, nn.given_mask))
    _, params, _ = model.init(KEY, (3, 4))
    X = jax.random.normal(jax.random.key(1), (3, 4))
    m1 = jnp.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]], bool)
    m2 = jnp.array([[0, 1, 1, 1], [1, 1, 0, 1], [1, 0, 1, 1]], bool)
    Y = model(params, X, train=True, rng=(m1, m2))
    H = jnp.where(m1, X / 0.5, 0.0) @ params[1]["W"].T + params[1]["b"]
    np.testing.assert_allclose(Y, jnp.where(m2, H / 0.75, 0.0), rtol=1e-6)
    with pytest.raises(ValueError, match="rng holds 1 entries but the model has 2 layers that draw"):
        model(params, X, train=True, rng=(m1,))


def test_a_key_is_split_among_the_dropout_layers_and_a_lone_one_gets_it_whole():
    X = jnp.ones((2, 50))
    two = nn.serial(nn.dropout(0.5), nn.dropout(0.5))
    k1, k2 = jax.random.split(KEY)
    by_hand = nn.dropout(0.5).apply((), None, nn.dropout(0.5).apply((), None, X, train=True, rng=k1)[0], train=True,
                                    rng=k2)[0]
    np.testing.assert_array_equal(two(((), ()), X, train=True, rng=KEY), by_hand)
    lone = nn.serial(nn.flatten(), nn.dropout(0.5))
    np.testing.assert_array_equal(lone(((), ()), X, train=True, rng=KEY),
                                  nn.dropout(0.5)((), X, train=True, rng=KEY))
    assert two.stochastic and not nn.serial(nn.linear(2)).stochastic


# ----------------------------------------------------------------------------- batch normalisation


def _bn_by_hand(X, momentum=0.1, eps=1e-5):
    """numpy: (train output, new running mean, new running var, eval output with the new running stats)."""
    X = np.asarray(X, np.float64)
    axes = (0,) if X.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if X.ndim == 2 else (1, -1, 1, 1)
    mean, var = X.mean(axis=axes), X.var(axis=axes)  # biased, for normalising
    count = X.size // X.shape[1]
    unbiased = X.var(axis=axes, ddof=1)
    np.testing.assert_allclose(unbiased, var * count / (count - 1))
    train = (X - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    running_mean = (1 - momentum) * 0.0 + momentum * mean
    running_var = (1 - momentum) * 1.0 + momentum * unbiased
    evaluation = (X - running_mean.reshape(shape)) / np.sqrt(running_var.reshape(shape) + eps)
    return train, running_mean, running_var, evaluation


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 5)], ids=["N,C", "N,C,H,W"])
def test_batch_norm_trains_on_batch_statistics_and_evaluates_on_running_ones(shape):
    X = 3.0 + 2.0 * jax.random.normal(jax.random.key(1), shape)
    layer = nn.batch_norm()
    out_shape, params, state = layer.init(None, shape)
    assert out_shape == shape
    np.testing.assert_array_equal(state["mean"], np.zeros(3))
    np.testing.assert_array_equal(state["var"], np.ones(3))
    train, running_mean, running_var, evaluation = _bn_by_hand(X)
    Y, new_state = layer.apply(params, state, X, train=True)
    np.testing.assert_allclose(Y, train, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new_state["mean"], running_mean, rtol=1e-5)
    np.testing.assert_allclose(new_state["var"], running_var, rtol=1e-5)  # the unbiased variance
    Y_eval, same_state = layer.apply(params, new_state, X, train=False)
    np.testing.assert_allclose(Y_eval, evaluation, rtol=1e-4, atol=1e-5)
    assert same_state is new_state  # evaluation leaves the running statistics as they were


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 5)], ids=["N,C", "N,C,H,W"])
def test_batch_norm_with_a_batch_mask_computes_over_the_masked_in_examples_alone(shape):
    X = 3.0 + 2.0 * jax.random.normal(jax.random.key(1), shape)
    padded = jnp.concatenate([X, 100.0 + X[:2]])  # two padding rows far from the data
    mask = jnp.arange(len(padded)) < len(X)
    layer = nn.batch_norm()
    _, params, state = layer.init(None, shape)
    Y, new_state = layer.apply(params, state, X, train=True)
    Y_padded, padded_state = layer.apply(params, state, padded, train=True, batch_mask=mask)
    np.testing.assert_allclose(Y_padded[: len(X)], Y, rtol=1e-5, atol=1e-6)
    for name in ("mean", "var"):
        np.testing.assert_allclose(padded_state[name], new_state[name], rtol=1e-5, atol=1e-7)
    assert layer.batch_dependent and nn.serial(nn.relu(), layer).batch_dependent
    assert not nn.serial(nn.relu(), nn.linear(2)).batch_dependent


def test_the_combinators_hand_the_batch_mask_to_their_batch_norm_layers():
    X = jax.random.normal(jax.random.key(1), (6, 3))
    padded = jnp.concatenate([X, 50.0 + X[:2]])
    mask = jnp.arange(8) < 6
    for model in (nn.serial(nn.identity(), nn.batch_norm()), nn.branches(nn.batch_norm(), nn.identity()),
                  nn.residual(nn.batch_norm())):
        _, params, state = model.init(None, (6, 3))
        Y, s = model.apply(params, state, X, train=True)
        Y_padded, s_padded = model.apply(params, state, padded, train=True, batch_mask=mask)
        np.testing.assert_allclose(Y_padded[:6], Y, rtol=1e-5, atol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), s_padded, s)


def test_batch_norm_scales_and_shifts_with_gamma_and_beta():
    X = jax.random.normal(jax.random.key(1), (8, 2))
    params = {"gamma": jnp.array([2.0, 0.5]), "beta": jnp.array([1.0, -1.0])}
    _, state = nn.init(nn.batch_norm(), None, (8, 2))
    Y, _ = nn.batch_norm().apply(params, state, X, train=True)
    np.testing.assert_allclose(Y, _bn_by_hand(X)[0] * np.array([2.0, 0.5]) + np.array([1.0, -1.0]), rtol=1e-4,
                               atol=1e-5)


def test_serial_keeps_its_layers_states_in_a_tuple():
    model = nn.serial(nn.linear(3), nn.batch_norm(), nn.relu())
    _, params, state = model.init(KEY, (4, 2))
    assert isinstance(state, tuple) and state[0] is None and state[2] is None and set(state[1]) == {"mean", "var"}
    _, new_state = model.apply(params, state, jnp.ones((4, 2)).at[0].set(5.0), train=True)
    assert new_state[0] is None and not np.allclose(new_state[1]["mean"], 0.0)


# ----------------------------------------------------------------------------- fit and layers


def _bn_classifier():
    return nn.serial(nn.flatten(), nn.linear(8, sigma=None), nn.batch_norm(), nn.relu(), nn.linear(3, sigma=None))


def _images(n=40):
    X = jax.random.randint(jax.random.key(0), (n, 4, 4), 0, 256).astype(jnp.uint8)
    y = (X.reshape(n, -1)[:, :3].astype(jnp.int32).sum(axis=1) // 100) % 3
    return Dataset(X, y, X[:16], y[:16])


@pytest.mark.parametrize("loop", ["scan", "python"])
def test_fit_threads_a_batch_norm_models_state_through_the_steps_and_validates_in_evaluation(loop):
    model, ds = _bn_classifier(), _images()
    _, params, state = model.init(jax.random.key(1), (1, 4, 4))
    fitted = training.fit(model, losses.softmax_cross_entropy, params, ds, optimizers.sgd(0.1), state=state,
                          key=jax.random.key(2), epochs=2, batch_size=8, loop=loop, callbacks=())
    # the same steps by hand, each taking the state the step before returned
    step = training.make_train_step(model, losses.softmax_cross_entropy, optimizers.sgd(0.1))
    p, s, opt, step_losses = params, state, optimizers.sgd(0.1).init(params), []
    for epoch_key in jax.random.split(jax.random.key(2), 2):
        idx, mask = data.batch_indices(epoch_key, 40, 8)
        for rows, m in zip(idx, mask):
            p, s, opt, value = step(p, s, opt, ds.X_train, ds.y_train, rows, m)
            step_losses.append(value)
    np.testing.assert_allclose(fitted.history.train_loss, step_losses, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), fitted.params, p)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), fitted.state, s)
    assert not np.allclose(fitted.state[2]["mean"], state[2]["mean"])  # the running statistics moved
    # validation in evaluation mode: the running statistics, not the validation batch's
    X_val = ds.X_val.astype(jnp.float32) / 255
    logits = model(fitted.params, X_val, fitted.state)
    expected = float(losses.softmax_cross_entropy(logits, ds.y_val).mean())
    assert fitted.history.val_loss[-1] == pytest.approx(expected, rel=1e-5)
    in_training = model(fitted.params, X_val, fitted.state, train=True)
    assert float(losses.softmax_cross_entropy(in_training, ds.y_val).mean()) != pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("loop", ["scan", "python"])
def test_fits_padded_last_batch_leaves_batch_norm_as_the_smaller_batch_would(loop):
    """40 examples in batches of 16: the third batch holds 8 examples, padded to 16 for the scan. PyTorch's
    DataLoader hands over those 8; the steps below do the same, unpadded, and fit must agree."""
    model, ds = _bn_classifier(), _images(40)
    _, params, state = model.init(jax.random.key(1), (1, 4, 4))
    fitted = training.fit(model, losses.softmax_cross_entropy, params, ds, optimizers.sgd(0.1), state=state,
                          key=jax.random.key(2), epochs=1, batch_size=16, loop=loop, callbacks=())

    def objective(p, s, X, y):
        logits, s = model.apply(p, s, X.astype(jnp.float32) / 255, train=True)
        return losses.softmax_cross_entropy(logits, y).mean(), s

    idx, mask = data.batch_indices(jax.random.split(jax.random.key(2), 1)[0], 40, 16)
    p, s, step_losses = params, state, []
    for rows, m in zip(np.asarray(idx), np.asarray(mask)):
        rows = rows[m > 0]  # the real examples only, as PyTorch's last batch
        (value, s), grads = jax.value_and_grad(objective, has_aux=True)(p, s, ds.X_train[rows], ds.y_train[rows])
        p = jax.tree.map(lambda w, g: w - 0.1 * g, p, grads)
        step_losses.append(value)
    assert int(mask[-1].sum()) == 8
    np.testing.assert_allclose(fitted.history.train_loss, step_losses, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), fitted.params, p)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), fitted.state, s)


def test_a_stochastic_model_without_step_rng_is_refused_before_compiling(monkeypatch):
    def no_compiling(*args, **kw):
        raise AssertionError("compiled before refusing the model")

    monkeypatch.setattr(training, "_compile", no_compiling)
    model, ds = nn.serial(nn.flatten(), nn.dropout(0.5), nn.linear(3)), _images()
    params = nn.init(model, KEY, (1, 4, 4))[0]
    for fit in (training.fit, lambda *a, key, **kw: training.fit_many(*a, keys=key, **kw)):
        start = params if fit is training.fit else jax.tree.map(lambda leaf: jnp.stack([leaf, leaf]), params)
        with pytest.raises(ValueError, match=r"the model draws in training \(it has dropout\): pass step_rng="):
            fit(model, losses.softmax_cross_entropy, start, ds, optimizers.sgd(0.1), key=jax.random.key(1), epochs=1,
                batch_size=8, callbacks=())


def test_a_batch_norm_model_without_its_state_is_refused_saying_how_to_pass_it():
    model, ds = _bn_classifier(), _images()
    _, params, _ = model.init(KEY, (1, 4, 4))
    with pytest.raises(ValueError, match=r"BatchNorm keeps running statistics: pass the state"):
        training.fit(model, losses.softmax_cross_entropy, params, ds, optimizers.sgd(0.1), key=jax.random.key(1),
                     epochs=1, batch_size=8, callbacks=())


def test_training_diverged_carries_a_batch_norm_models_state_from_before_the_epoch():
    model, ds = _bn_classifier(), _images()
    _, params, state = model.init(jax.random.key(1), (1, 4, 4))
    with pytest.raises(training.TrainingDiverged) as info:  # every step's loss is above so low a threshold
        training.fit(model, losses.softmax_cross_entropy, params, ds, optimizers.sgd(0.1), state=state,
                     key=jax.random.key(2), epochs=2, batch_size=8, callbacks=(), divergence_threshold=1e-3)
    err = info.value
    assert (err.epoch, err.step, err.params_epochs) == (1, 1, 0)
    jax.tree.map(np.testing.assert_array_equal, err.state, state)  # not the state the epoch's steps left
    jax.tree.map(np.testing.assert_array_equal, err.params, params)
