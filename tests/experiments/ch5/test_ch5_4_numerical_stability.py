"""d2l 5.4: vanishing and exploding gradients, Xavier initialisation and symmetry, against stored PyTorch numbers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch5 import ch5_4_numerical_stability_exercises as exercises
from experiments.ch5 import ch5_4_numerical_stability as stability
from experiments.ch5.mlp import dense_layers
from jaxdl import initializers, models, nn
from experiments.harness import references


@pytest.fixture(scope="module")
def ref():
    return references.load(stability.REFERENCE)


def _tol(module, name: str) -> dict[str, float]:
    """The assert_allclose keywords of one entry of an experiment's TOLERANCES table."""
    entry = module.TOLERANCES[name]
    return {"rtol": entry.rtol, "atol": entry.atol}


def test_sampling_z_is_the_tables():  # the tables' values are pinned in tests/harness/test_tolerances.py
    assert stability.SAMPLING_Z == stability.TOLERANCES["sampling_z"].value


def test_sigmoid_gradient_matches_autograd(ref):
    y, dy = stability.sigmoid_and_gradient(jnp.asarray(ref["sigmoid"]["x"], jnp.float32))
    np.testing.assert_allclose(y, ref["sigmoid"]["y"], **_tol(stability, "sigmoid"))
    np.testing.assert_allclose(dy, ref["sigmoid"]["grad"], **_tol(stability, "sigmoid"))
    assert float(dy.max()) == 0.25


def test_product_of_the_same_matrices_matches_pytorch_step_by_step(ref):
    steps = stability.running_product(jnp.asarray(ref["product"]["matrices"], jnp.float32))
    assert steps.shape == (101, 4, 4)
    np.testing.assert_allclose(steps[-1], ref["product"]["product"], **_tol(stability, "product"))
    np.testing.assert_allclose(stability.frobenius_norms(steps), ref["product"]["norms"], **_tol(stability, "product"))
    assert np.isfinite(ref["product"]["norms"]).all() and ref["product"]["norms"][-1] > 1e20


def test_own_products_explode_like_pytorchs_within_sampling_error(ref):
    draws = ref["own_draws"]
    logs = stability.own_chains(jax.random.key(1), 200)
    se = math.sqrt(logs.var(ddof=1) / 200 + draws["std"] ** 2 / draws["seeds"])
    assert abs(logs.mean() - draws["mean"]) <= stability.SAMPLING_Z * se
    assert logs.mean() > 20


def test_xavier_initialisers_are_jaxs_glorot_and_refuse_unknown_distributions():
    key = jax.random.key(0)
    np.testing.assert_array_equal(initializers.xavier("uniform")(key, (256, 784)),
                                  jax.nn.initializers.glorot_uniform()(key, (256, 784)))
    np.testing.assert_array_equal(initializers.xavier("truncated_normal")(key, (256, 784)),
                                  jax.nn.initializers.glorot_normal()(key, (256, 784)))
    with pytest.raises(ValueError, match="distribution must be"):
        initializers.xavier("gaussian")


def xavier_dense(key, num_inputs, num_outputs, distribution="uniform"):
    """A dense layer with Xavier weights and zero biases (what initializers.xavier_dense_init drew)."""
    return models.init(nn.linear(num_outputs, W_init=initializers.xavier(distribution)), key, (1, num_inputs))


def test_xavier_dense_init_uses_the_outputs_inputs_layout():
    """For (outputs, inputs) the fan-in axis is the last: fan_in mode's variance is 1 / inputs."""
    layer = xavier_dense(jax.random.key(0), 784, 256, "normal")
    assert layer["W"].shape == (256, 784) and layer["b"].shape == (256,) and not layer["b"].any()
    assert abs(float(layer["W"].var()) - 2 / (784 + 256)) < 4 * math.sqrt(2 / layer["W"].size) * 2 / (784 + 256)
    fan_in = jax.nn.initializers.variance_scaling(1.0, "fan_in", "normal", **initializers._AXES)
    assert abs(float(fan_in(jax.random.key(1), (256, 784)).var()) * 784 - 1) < 0.02


def test_xavier_defaults_to_uniform():
    draw = initializers.xavier()(jax.random.key(0), (4, 8))
    np.testing.assert_array_equal(draw, initializers.xavier("uniform")(jax.random.key(0), (4, 8)))


def test_xavier_dense_init_defaults_to_uniform_float32_even_under_x64():
    key = jax.random.key(0)
    default = models.init(nn.linear(4, W_init=initializers.xavier()), key, (1, 8))
    np.testing.assert_array_equal(default["W"], xavier_dense(key, 8, 4, "uniform")["W"])
    with jax.enable_x64(True):
        assert models.init(nn.linear(4, W_init=initializers.xavier()), key, (1, 8))["W"].dtype == jnp.float32


@pytest.mark.parametrize("distribution, torch_name", [("uniform", "uniform"), ("normal", "normal")])
def test_xavier_draws_match_torchs_within_sampling_error(ref, distribution, torch_name):
    xav = ref["xavier"]
    theirs = xav[torch_name]
    w = stability.draw_xavier(jax.random.key(3), distribution)
    ours = stability.statistics(w)
    assert abs(ours["mean"] - theirs["mean"]) <= stability.mean_bound(ours, theirs)
    assert abs(ours["var"] - theirs["var"]) <= stability.variance_bound(ours, theirs)
    cdf = stability.empirical_cdf(w, np.asarray(theirs["quantiles"]))
    levels = np.asarray(xav["quantile_levels"])
    assert np.abs(stability.cdf_z_scores(cdf, levels, ours["n"], 2)).max() <= stability.SAMPLING_Z


def test_glorot_normal_is_a_truncated_normal_unlike_torchs_xavier_normal(ref):
    xav = ref["xavier"]
    points = np.asarray(xav["normal"]["quantiles"])
    w = stability.draw_xavier(jax.random.key(3), "truncated_normal")
    theory, s = stability.truncated_normal_cdf(points, math.sqrt(2 / (784 + 256)))
    z = stability.cdf_z_scores(stability.empirical_cdf(w, points), theory, w.size)
    assert np.abs(z).max() <= stability.SAMPLING_Z
    assert float(jnp.abs(w).max()) <= 2 * s < xav["normal"]["max_abs"]
    # the same draws fail the check against PyTorch's plain normal
    plain = stability.cdf_z_scores(stability.empirical_cdf(w, points), np.asarray(xav["quantile_levels"]), w.size, 2)
    assert np.abs(plain).max() > stability.SAMPLING_Z


def test_cdf_z_scores_flag_a_wrong_cdf_and_a_nonzero_tail():
    levels = np.array([0.0, 0.5, 1.0])
    assert np.array_equal(stability.cdf_z_scores(np.array([0.0, 0.5, 1.0]), levels, 100), [0.0, 0.0, 0.0])
    assert np.isinf(stability.cdf_z_scores(np.array([0.01, 0.5, 1.0]), levels, 100)[0])
    assert stability.cdf_z_scores(np.array([0.0, 0.6, 1.0]), levels, 100)[1] == pytest.approx(2.0)
    assert stability.cdf_z_scores(np.array([0.0, 0.6, 1.0]), levels, 100, samples=2)[1] == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize("run", ["constant", "random"])
def test_symmetry_replay_matches_pytorch(ref, run):
    sym = ref["symmetry"]
    X, y = jnp.asarray(sym["X"], jnp.float32), jnp.asarray(sym["y"])
    losses, grads, params = stability.train(stability.to_params(sym[f"{run}_init"]), X, y, sym["lr"], sym["steps"])
    theirs = sym[f"{run}_run"]
    np.testing.assert_allclose(losses, theirs["losses"], **_tol(stability, "replay_losses"))
    for ours, expected in zip(dense_layers(grads), dense_layers(stability.to_params(theirs["grads"]))):
        np.testing.assert_allclose(ours["W"], expected["W"], **_tol(stability, "replay_grads"))
        np.testing.assert_allclose(ours["b"], expected["b"], **_tol(stability, "replay_grads"))
    for ours, expected in zip(dense_layers(params), dense_layers(stability.to_params(theirs["params"]))):
        np.testing.assert_allclose(ours["W"], expected["W"], **_tol(stability, "replay_params"))


def test_equal_weights_stay_equal_and_random_ones_do_not(ref):
    sym = ref["symmetry"]
    X, y = jnp.asarray(sym["X"], jnp.float32), jnp.asarray(sym["y"])
    _, grads, params = stability.train(stability.to_params(sym["constant_init"]), X, y, sym["lr"], sym["steps"])
    grads, params = dense_layers(grads), dense_layers(params)
    rounding = stability.TOLERANCES["symmetry"].atol  # 0 on jaxlib 0.10.2; 3e-8 on 0.10.0's CPU dot
    assert stability.row_spread(grads[0]["W"]) <= rounding and float(jnp.abs(grads[0]["W"]).max()) > 1e-3
    assert stability.row_spread(params[0]["W"]) <= rounding
    assert stability.row_spread(params[1]["W"], axis=1) <= rounding
    _, _, params = stability.train(stability.to_params(sym["random_init"]), X, y, sym["lr"], sym["steps"])
    params = dense_layers(params)
    assert stability.row_spread(params[0]["W"]) > 0.1


def test_row_spread_sees_one_differing_entry():
    W = np.ones((3, 4))
    assert stability.row_spread(W) == 0 and stability.row_spread(W, axis=1) == 0
    W[2, 1] = 1.5
    assert stability.row_spread(W) == 0.5 and stability.row_spread(W, axis=1) == 0.5
    equal_rows, equal_columns = np.array([[1.0, 2.0], [1.0, 2.0]]), np.array([[1.0, 1.0], [2.0, 2.0]])
    assert stability.row_spread(equal_rows) == 0 and stability.row_spread(equal_rows, axis=1) == 1
    assert stability.row_spread(equal_columns) == 1 and stability.row_spread(equal_columns, axis=1) == 0


def test_equal_init_regressions_match_pytorch():
    ref = references.load(exercises.REFERENCE)["equal_init"]
    X = jnp.asarray(ref["X"], jnp.float32)
    for name, loss, y, outputs in (("linear", exercises.mse, jnp.asarray(ref["y_linear"], jnp.float32), 1),
                                   ("softmax", exercises.softmax_loss, jnp.asarray(ref["y_softmax"]), 4)):
        init = exercises.equal_init(X.shape[1], outputs, ref["constant"])
        assert float(init["W"].min()) == float(init["W"].max()) == float(np.float32(ref["constant"]))
        losses, params = exercises.train(init, X, y, loss, ref["lr"], ref["steps"])
        np.testing.assert_allclose(losses, ref[name]["losses"], **_tol(exercises, "replay_losses"))
        np.testing.assert_allclose(params["W"], ref[name]["params"]["weight"], **_tol(exercises, "replay_params"))
        assert float(params["W"].max() - params["W"].min()) > 0.1


def test_product_spectra_match_pytorch_and_obey_the_singular_value_bounds(ref):
    bounds = references.load(exercises.REFERENCE)["bounds"]
    matrices = jnp.asarray(ref["product"]["matrices"], jnp.float32)
    ours = exercises.spectra(matrices[:-1], matrices[1:])
    for name in ("svd_A", "svd_B", "svd_AB"):
        np.testing.assert_allclose(ours[name], bounds[name], **_tol(exercises, "singular_values"))
    for name in ("eig_abs_A", "eig_abs_B", "eig_abs_AB"):
        np.testing.assert_allclose(np.sort(ours[name], 1), np.sort(bounds[name], 1), **_tol(exercises, "singular_values"))
    s = {k: np.asarray(v, np.float64) for k, v in ours.items()}
    assert (s["svd_AB"][:, 0] <= s["svd_A"][:, 0] * s["svd_B"][:, 0] * (1 + 1e-6)).all()
    assert (s["svd_AB"][:, -1] >= s["svd_A"][:, -1] * s["svd_B"][:, -1] * (1 - 1e-6)).all()
    cond = exercises.log10_condition(stability.running_product(matrices))
    np.testing.assert_allclose(cond[:10], bounds["log10_cond_running"][:10], **_tol(exercises, "log10_cond"))
