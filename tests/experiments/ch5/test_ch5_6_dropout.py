"""d2l 5.6: dropout's mask semantics with explicit keys, fit's per-step keys, the replay against PyTorch with the
same NumPy-drawn masks, and d2l's runs against PyTorch's seeds. Runs without torch."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch5 import ch5_6_dropout as exp
from experiments.harness.result import Result
from experiments.ch5.mlp import dense_layers, mlp_params
from jaxdl import losses, models, nn, optimizers, training
from experiments.harness import references
from jaxdl.data import Dataset

LAYERS = {"dropout_layer": nn.dropout_layer, "dropout": partial(nn.dropout_layer, mask=nn.bernoulli_mask)}


@pytest.fixture(scope="module")
def ref():
    return references.load(exp.REFERENCE)


# ----------------------------------------------------------------------------- mask semantics


@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS)
def test_p0_keeps_everything_unchanged(layer):
    X = jax.random.normal(jax.random.key(1), (64, 32))
    np.testing.assert_array_equal(layer(jax.random.key(0), X, 0.0), X)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32])
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS)
def test_dropout_keeps_the_activations_dtype(layer, dtype):
    assert layer(jax.random.key(0), jnp.ones((8, 8), dtype), 0.5).dtype == dtype


@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS)
def test_p1_drops_everything(layer):
    X = jax.random.normal(jax.random.key(1), (64, 32))
    np.testing.assert_array_equal(layer(jax.random.key(0), X, 1.0), jnp.zeros_like(X))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS)
def test_kept_entries_are_scaled_by_one_over_one_minus_p_and_kept_with_probability_1_minus_p(layer, p):
    X = jnp.full((1000, 1000), 3.0)
    Y = np.asarray(layer(jax.random.key(0), X, p))
    kept = Y != 0
    np.testing.assert_allclose(Y[kept], 3.0 / (1 - p), rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / kept.size)
    assert abs(Y.mean() - 3.0) < 5 * 3.0 / (1 - p) * np.sqrt(p * (1 - p) / kept.size)  # expectation kept


@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS)
def test_same_key_same_mask_other_key_other_mask(layer):
    X = jnp.ones((32, 32))
    a, b = layer(jax.random.key(7), X, 0.5), layer(jax.random.key(7), X, 0.5)
    np.testing.assert_array_equal(a, b)
    k1, k2 = jax.random.split(jax.random.key(7))
    assert np.any(np.asarray(layer(k1, X, 0.5)) != np.asarray(layer(k2, X, 0.5)))


def test_dropout_layer_keeps_where_the_uniform_draw_exceeds_p():
    key, X = jax.random.key(3), jnp.ones((16, 16))
    expected = jax.random.uniform(key, X.shape) > 0.3
    np.testing.assert_array_equal(np.asarray(nn.dropout_layer(key, X, 0.3)) != 0, expected)


def test_an_entry_whose_draw_equals_p_is_dropped_as_by_d2ls_rand_greater_than_p():
    key = jax.random.key(5)
    draws = np.asarray(jax.random.uniform(key, (4, 4)))
    p = float(draws[1, 2])  # a float32 value, so the comparison is exact
    mask = np.asarray(nn.keep_mask(key, (4, 4), p))
    assert not mask[1, 2]
    np.testing.assert_array_equal(mask, draws > p)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "half"])
def test_bad_rates_are_refused_with_a_message(p):
    with pytest.raises(ValueError, match="dropout probability"):
        nn.dropout_layer(jax.random.key(0), jnp.ones(3), p)


def test_mlp_apply_without_key_is_the_plain_mlp_and_with_key_drops_out():
    model = models.dropout_mlp([16, 16], (0.5, 0.5), 4, sigma=None)
    params = models.init(model, jax.random.key(0), (1, 20))
    X = jax.random.normal(jax.random.key(1), (8, 20))
    plain = models.mlp([16, 16], 4, sigma=None)
    np.testing.assert_array_equal(model(params, X), plain(mlp_params(dense_layers(params)), X))
    train = partial(model, train=True)
    assert np.any(np.asarray(train(params, X, rng=jax.random.key(2))) != np.asarray(model(params, X)))
    np.testing.assert_array_equal(train(params, X, rng=jax.random.key(2)), train(params, X, rng=jax.random.key(2)))
    masks = (jnp.ones((8, 16), bool), jnp.ones((8, 16), bool))
    given = models.dropout_mlp([16, 16], (0.0, 0.0), 4, sigma=None, mask=nn.given_mask)
    np.testing.assert_allclose(given(params, X, train=True, rng=masks), model(params, X), rtol=1e-6)
    with pytest.raises(ValueError, match="2 hidden layers need 2 dropout rates"):
        models.dropout_mlp([16, 16], (0.5,), 4, sigma=None)


def test_mlp_apply_gives_each_hidden_layer_its_own_split_of_the_key():
    rates = (0.5, 0.3, 0.5)
    model = models.dropout_mlp([16, 16, 16], rates, 4, sigma=None)
    params = models.init(model, jax.random.key(0), (1, 20))
    layers = dense_layers(params)
    X = jax.random.normal(jax.random.key(1), (8, 20))
    key = jax.random.key(2)
    H = X
    for layer_key, layer, p in zip(jax.random.split(key, 3), layers[:-1], rates):
        H = nn.dropout_layer(layer_key, jax.nn.relu(H @ layer["W"].T + layer["b"]), p)
    np.testing.assert_allclose(model(params, X, train=True, rng=key), H @ layers[3]["W"].T + layers[3]["b"],
                               rtol=1e-5, atol=1e-6)


def test_masks_are_cut_to_the_batch_and_must_be_one_per_hidden_layer():
    model = models.dropout_mlp([16, 12], (0.5, 0.5), 4, sigma=None, mask=nn.given_mask)
    params = models.init(model, jax.random.key(0), (1, 20))
    layers = dense_layers(params)
    X = jax.random.normal(jax.random.key(1), (3, 20))  # a last, partial batch of 3 with masks made for 8
    masks = [jax.random.bernoulli(jax.random.key(k), 0.5, (8, h)) for k, h in ((2, 16), (3, 12))]
    H1 = jnp.where(masks[0][:3], jax.nn.relu(X @ layers[0]["W"].T + layers[0]["b"]) / 0.5, 0)
    H2 = jnp.where(masks[1][:3], jax.nn.relu(H1 @ layers[1]["W"].T + layers[1]["b"]) / 0.5, 0)
    np.testing.assert_allclose(model(params, X, train=True, rng=tuple(masks)),
                               H2 @ layers[2]["W"].T + layers[2]["b"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError) as err:
        model(params, X, train=True, rng=tuple(masks[:1]))
    assert str(err.value) == ("rng holds 1 entries but the model has 2 layers that draw (dropout); give one entry "
                              "per such layer")


def test_masks_agree_with_pytorch_within_sampling_error(ref, tmp_path):
    result = Result("5.6", "masks", tmp_path)
    exp.compare_masks(result, ref["masks"])
    assert len(result.comparisons) == 2 * 5 + 4
    assert result.passed, [c for c in result.comparisons if not c.passed]


# ----------------------------------------------------------------------------- fit's per-step keys


@pytest.fixture(scope="module")
def tiny():
    X = jax.random.normal(jax.random.key(0), (40, 12))
    y = jax.random.randint(jax.random.key(1), (40,), 0, 3)
    params = models.init(TINY_DROPOUT, jax.random.key(2), (1, 12))
    return Dataset(X, y, X[:10], y[:10]), params


TINY_DROPOUT = models.dropout_mlp([16], (0.5,), 3, sigma=None)
TINY_PLAIN = models.mlp([16], 3, sigma=None)  # the same layers without dropout: params mlp_params(dense_layers(p))


def _fit(tiny, step_rng, loop="scan", model=None):
    data, params = tiny
    if model is None:
        model = TINY_DROPOUT
    else:  # TINY_PLAIN's layers
        params = mlp_params(dense_layers(params))
    fitted = training.fit(model, losses.softmax_cross_entropy, params, data, optimizers.sgd(0.1),
                          key=jax.random.key(0), epochs=2, batch_size=8, step_rng=step_rng, loop=loop, callbacks=())
    return fitted.params, fitted.history


def test_fit_with_the_same_step_key_repeats_the_run_and_another_key_changes_it(tiny):
    a = _fit(tiny, jax.random.key(5))[1].train_loss
    np.testing.assert_array_equal(a, _fit(tiny, jax.random.key(5))[1].train_loss)
    assert np.any(a != _fit(tiny, jax.random.key(6))[1].train_loss)
    assert np.any(a != _fit(tiny, None, model=TINY_PLAIN)[1].train_loss)  # the same layers without dropout


def test_fit_gives_step_t_the_key_fold_in_key_t(tiny):
    keys = training.step_keys(jax.random.key(5))(1, 5)  # epoch 1 of 5 steps: steps 5..9
    for j in range(5):
        np.testing.assert_array_equal(jax.random.key_data(keys[j]),
                                      jax.random.key_data(jax.random.fold_in(jax.random.key(5), 5 + j)))


def test_fit_step_rng_python_loop_matches_scan(tiny):
    a = _fit(tiny, jax.random.key(5))[1].train_loss
    b = _fit(tiny, jax.random.key(5), loop="python")[1].train_loss
    np.testing.assert_allclose(a, b, rtol=1e-6)


def _stochastic(apply_fn):
    """TINY_PLAIN's layers as a stochastic model whose training apply is apply_fn(params, X, rng)."""

    def apply(params, state, X, *, train=False, rng=None):
        return (apply_fn(params, X, rng) if train else TINY_PLAIN(params, X)), state

    return nn.Layer(TINY_PLAIN.init, apply, "custom", stochastic=True)


def test_fit_refuses_a_bad_step_rng_and_a_model_that_fails_in_training(tiny):
    with pytest.raises(ValueError, match=r"step_rng must be a PRNG key .*, got int$"):
        _fit(tiny, 3)
    for not_a_key in (jnp.zeros(2, jnp.float32), jnp.zeros(3, jnp.uint32)):
        with pytest.raises(ValueError, match="step_rng must be a PRNG key"):
            _fit(tiny, not_a_key)
    with pytest.raises(ValueError, match=r"the model draws in training \(it has dropout\): pass step_rng="):
        _fit(tiny, None)

    def two_arguments(params, X):
        return TINY_PLAIN(params, X)

    with pytest.raises(ValueError, match=r"fails in training mode on a minibatch with the step's rng \(.*two_arguments"
                                         r"\(\) takes 2 positional arguments but 3 were given\)"):
        _fit(tiny, jax.random.key(5), model=_stochastic(two_arguments))


def test_fit_takes_a_raw_uint32_key_as_step_rng(tiny):
    raw = _fit(tiny, jax.random.PRNGKey(5))[1].train_loss
    typed = _fit(tiny, jax.random.wrap_key_data(jax.random.PRNGKey(5)))[1].train_loss
    np.testing.assert_array_equal(raw, typed)


def test_the_training_apply_is_checked_with_a_real_step_key(tiny):
    def apply(params, X, rng):  # in training, uses the key it is given whatever it is
        return TINY_PLAIN(params, X) * jax.random.bernoulli(rng, 0.9, (X.shape[0], 1)) / 0.9

    assert _fit(tiny, jax.random.key(5), model=_stochastic(apply))[1].epochs == 2


@pytest.mark.parametrize("rows, shown", [(lambda n: {"a": jnp.zeros(n), "b": jnp.float32(0)}, r"\[\(\), \(8,\)\]"),
                                         (lambda n: jnp.float32(0), r"\[\(\)\]")])
def test_per_step_values_without_one_row_per_minibatch_are_named(tiny, rows, shown):
    # 40 examples in batches of 8: 5 minibatches an epoch, so 8 rows is wrong too
    with pytest.raises(ValueError, match=rf"leading sizes {shown}; every leaf needs one row per minibatch \(5,\)"):
        _fit(tiny, lambda epoch, n: rows(8))


# ----------------------------------------------------------------------------- replay


@pytest.fixture(scope="module")
def replayed(fashion, ref):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = exp.replay(ref["replay"], fashion, getattr(optimizers, name))
        return cache[name]

    return get


def test_replay_draws_the_same_parameters_orders_and_masks_as_torch(ref, replayed):
    ours, stored = replayed("sgd"), ref["replay"]
    for what in ("init", "orders", "masks"):
        assert ours[f"{what}_checksum"] == stored[f"{what}_checksum"], what
    assert 0.49 < stored["masks_kept_fraction"] < 0.51


@pytest.mark.parametrize("name", ["sgd", pytest.param("optax_sgd", marks=pytest.mark.slow)])
def test_replay_loss_matches_torch_at_every_step(ref, replayed, name):
    ours, stored = replayed(name)["step_losses"], ref["replay"]["step_losses"]
    assert ours.shape == (80,) == np.shape(stored)
    np.testing.assert_allclose(ours, stored, rtol=exp.TOLERANCES["replay steps"].rtol)


def test_replay_final_parameters_and_eval_logits_match_torch(ref, replayed):
    ours, stored = replayed("sgd"), ref["replay"]
    for p, theirs in zip(ours["final"], stored["final"]):
        np.testing.assert_allclose(p["W"]["slice"], theirs["W"]["slice"], rtol=1e-4,
                                   atol=exp.TOLERANCES["final W"].atol)
        np.testing.assert_allclose(p["b"], theirs["b"], atol=exp.TOLERANCES["final b"].atol)
    logits = exp.TOLERANCES["val logits"]
    np.testing.assert_allclose(ours["val_logits_first_8"], stored["val_logits_first_8"], rtol=logits.rtol,
                               atol=logits.atol)
    np.testing.assert_allclose(ours["val_loss"], stored["val_loss"], rtol=exp.TOLERANCES["replay steps"].rtol)


def test_tolerances_are_the_stated_ones_with_reasons():
    margins = ("kept sds", "band val_acc", "band losses")
    assert {k: (v.rtol, v.atol) for k, v in exp.TOLERANCES.items() if k not in margins} == {
        "replay steps": (1e-4, 0.0), "val logits": (1e-4, 1e-5), "init loss": (1e-6, 0.0),
        "init grad W": (1e-4, 1e-7), "init grad b": (1e-5, 1e-8), "final W": (1e-4, 1e-5), "final b": (0.0, 1e-5),
        "val acc": (0.0, 1e-3), "kept value": (1e-6, 0.0)}
    assert [exp.TOLERANCES[k].value for k in margins] == [5.0, 0.01, 0.03]
    assert all(len(entry.why) > 20 for entry in exp.TOLERANCES.values())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_book_training_lands_within_the_band_of_torch_seeds(fashion, ref, kind, tmp_path):
    mask, optimizer = exp.MODELS[kind]
    keys = [jax.random.key(seed) for seed in range(exp.BOOK_KEYS)]
    _, runs = exp.train_many(keys, fashion, mask=mask, optimizer=optimizer(exp.LR), epochs=exp.EPOCHS)
    assert all(h.epochs == 10 and h.val_metric[-1] > 0.8 for h in runs)
    result = Result("5.6", "band", tmp_path)
    exp.check_band(result, kind, runs, ref["book"][kind])
    assert len(result.comparisons) == 3 and all("mean of 4 keys" in c.quantity for c in result.comparisons)
    assert result.passed, [c for c in result.comparisons if not c.passed]


def test_fit_asks_step_rng_only_for_the_epochs_it_trains(tiny):
    """A step_rng function may hold values for exactly the epochs trained (5.6's replays feed PyTorch's masks)."""
    asked = []

    def masks(epoch, num_batches):
        asked.append(epoch)
        return jax.random.split(jax.random.fold_in(jax.random.key(5), epoch), num_batches)

    data, params = tiny
    for epochs in (1, 2):
        asked.clear()
        training.fit(TINY_DROPOUT, losses.softmax_cross_entropy, params, data,
                     optimizers.sgd(0.1), key=jax.random.key(0), epochs=epochs, batch_size=8, step_rng=masks,
                     callbacks=())
        assert set(asked) == set(range(epochs))


def test_fit_refuses_step_rngs_without_one_row_per_minibatch(tiny):
    with pytest.raises(ValueError, match="one row per minibatch"):
        _fit(tiny, lambda epoch, num_batches: jnp.zeros((num_batches + 1, 3)))


def test_fit_refuses_a_penalty_that_is_not_a_scalar_function_of_the_parameters(tiny):
    data, params = tiny
    params = mlp_params(dense_layers(params))
    for penalty, message in ((3.0, "function params -> scalar"), (lambda p: p[1]["W"], "must return a scalar"),
                             (lambda p: p["W"].sum(), "fails on these parameters")):
        with pytest.raises(ValueError, match=message):
            training.fit(TINY_PLAIN, losses.softmax_cross_entropy, params, data, optimizers.sgd(0.1),
                         key=jax.random.key(0), epochs=1, batch_size=8, penalty=penalty, callbacks=())


def test_dropout_variance_is_e_h2_over_1_minus_p_minus_e_h_squared():
    from experiments.ch5 import ch5_6_dropout_exercises as exercises

    params = dense_layers(models.init(models.mlp([64, 64], 10, sigma=None), jax.random.key(0), (1, 784)))
    X = jax.random.uniform(jax.random.key(1), (500, 784))
    v = exercises.variances(params, X, (0.5, 0.2))
    np.testing.assert_allclose(v["with"], v["predicted"], rtol=exercises.TOLERANCES["variance"].rtol)
    assert np.all(v["with"] > v["without"])
    v0 = exercises.variances(params, X, (0.0, 0.0))
    np.testing.assert_allclose(v0["with"], v0["without"], rtol=1e-5)
