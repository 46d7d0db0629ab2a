"""d2l 5.2: the MLP replayed against stored PyTorch runs, its gradients, and d2l's training against PyTorch's seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from experiments.ch5 import ch5_2_mlp_implementation as mlp
from experiments.harness.result import Result
from jaxdl import losses, models, nn, optimizers, training
from jaxdl.datasets import fashion_mnist
from experiments.harness import references
from experiments.ch5 import mlp as mlp_common

OPTIMIZERS = {"sgd": optimizers.sgd, "optax_sgd": optimizers.optax_sgd}


@pytest.fixture(scope="module")
def data():
    return fashion_mnist.load()


@pytest.fixture(scope="module")
def ref():
    return references.load(mlp.REFERENCE)


@pytest.fixture(scope="module")
def replayed(data, ref):
    """replayed(kind, optimizer name) -> jaxdl's replay of that stored run, computed once."""
    cache = {}

    def get(kind, name):
        if (kind, name) not in cache:
            cache[kind, name] = mlp.replay(ref["replay"][kind], data, OPTIMIZERS[name])
        return cache[kind, name]

    return get


@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_replay_draws_the_same_initial_parameters_and_minibatches_as_torch(ref, replayed, kind):
    ours, stored = replayed(kind, "sgd"), ref["replay"][kind]
    assert ours["init_checksum"] == stored["init_checksum"]
    assert ours["orders_checksum"] == stored["orders_checksum"]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_replay_loss_matches_torch_at_every_step(ref, replayed, kind, name):
    stored = ref["replay"][kind]["step_losses"]
    ours = replayed(kind, name)["step_losses"]
    assert ours.shape == (200,) == np.shape(stored)
    np.testing.assert_allclose(ours, stored, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_replay_final_parameters_match_torch(ref, replayed, kind, name):
    tol = mlp.FINAL_TOL[kind]
    ours, stored = replayed(kind, name), ref["replay"][kind]
    for p, theirs in zip(ours["final"], stored["final"]):
        np.testing.assert_allclose(p["W"]["norm"], theirs["W"]["norm"], rtol=1e-5)
        np.testing.assert_allclose(p["W"]["sum"], theirs["W"]["sum"], rtol=tol["sum_rtol"], atol=tol["atol"])
        np.testing.assert_allclose(p["W"]["slice"], theirs["W"]["slice"], rtol=1e-4, atol=tol["atol"])
        np.testing.assert_allclose(p["b"], theirs["b"], atol=tol["atol"])
    np.testing.assert_allclose(ours["val_loss"], stored["val_loss"], rtol=1e-4)


@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_gradients_at_init_match_torch(ref, replayed, kind):
    ours, stored = replayed(kind, "sgd")["init_grads"], ref["replay"][kind]["init_grads"]
    np.testing.assert_allclose(ours["loss"], stored["loss"], rtol=1e-6)
    for g, theirs in zip(ours["layers"], stored["layers"]):
        np.testing.assert_allclose(g["W"]["norm"], theirs["W"]["norm"], rtol=1e-5)
        np.testing.assert_allclose(g["W"]["slice"], theirs["W"]["slice"], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(g["b"], theirs["b"], rtol=1e-5, atol=1e-8)


def test_sgd_and_optax_sgd_follow_the_same_trajectory(replayed):
    np.testing.assert_array_equal(replayed("concise", "sgd")["step_losses"],
                                  replayed("concise", "optax_sgd")["step_losses"])


@pytest.mark.parametrize("activation", [nn.relu, nn.sigmoid], ids=["relu", "sigmoid"])
def test_mlp_loss_gradients_pass_finite_differences(data, activation):
    with jax.enable_x64(True):
        model = models.mlp([8, 6], 10, activation=activation, sigma=None)
        # nn.linear draws float32 even under x64: the finite differences need float64 parameters.
        params = jax.tree.map(lambda a: a.astype(jnp.float64), models.init(model, jax.random.key(0), (1, 784)))
        X, y = fashion_mnist.scale(data.X_train[:16]).astype(jnp.float64), data.y_train[:16]
        objective = training.make_objective(model, losses.softmax_cross_entropy)
        # eps 1e-6 (float64): some ReLU pre-activations lie within 1e-4 of the kink, where the default step
        # would difference across it.
        check_grads(jax.jit(lambda p: objective(p, None, X, y, jnp.ones(16))[0]), (params,), order=1,
                    modes=("fwd", "rev"), eps=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_book_training_lands_within_the_band_of_torch_seeds(data, ref, kind, tmp_path):
    sigma, optimizer = mlp.MODELS[kind]
    _, history = mlp_common.train_mlp(jax.random.key(0), data, sigma=sigma, optimizer=optimizer(mlp.LR), epochs=mlp.EPOCHS)
    assert history.epochs == 10 and history.val_metric[-1] > 0.8
    result = Result("5.2", "band", tmp_path)
    mlp.check_band(result, kind, [history], ref["book"][kind])
    assert len(result.comparisons) == 3
    assert result.passed, [c for c in result.comparisons if not c.passed]
