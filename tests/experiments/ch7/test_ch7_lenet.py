"""d2l 7.6: LeNet's layers, shapes and parameter count as PyTorch's, d2l's init_cnn, and the replay of PyTorch's
training (float64: the same algorithm to 1e-10)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch7 import lenet
from experiments.ch7 import ch7_6_lenet as c76
from experiments.harness import references
from experiments.harness import replay as draws
from jaxdl import models


@pytest.fixture(scope="module")
def ref():
    return references.load(c76.REFERENCE)


def test_layer_summary_and_parameter_count_are_pytorchs(ref):
    rows = lenet.layer_summary(lenet.lenet_layers(), (1, 1, 28, 28))
    assert [(n, list(s)) for n, s in rows] == [(r["layer"], r["shape"]) for r in ref["layer_summary"]]
    params = models.init(lenet.lenet(), jax.random.key(0), (1, 1, 28, 28))
    assert lenet.num_params(params) == ref["num_params"] == 61706
    assert [list(p[k].shape) for p in lenet.weighted(params) for k in ("W", "b")] == ref["param_shapes"]


def test_init_cnn_is_xavier_uniform_on_weights_and_pytorchs_default_on_biases():
    params = models.init(lenet.lenet(), jax.random.key(1), (1, 1, 28, 28))
    conv2, dense1 = lenet.weighted(params)[1], lenet.weighted(params)[2]
    xavier_conv = np.sqrt(6 / (6 * 25 + 16 * 25))
    assert 0.97 * xavier_conv < float(jnp.abs(conv2["W"]).max()) <= xavier_conv
    assert 0.97 * np.sqrt(6 / (400 + 120)) < float(jnp.abs(dense1["W"]).max()) <= np.sqrt(6 / (400 + 120))
    assert float(jnp.abs(conv2["b"]).max()) <= 1 / np.sqrt(6 * 25)
    assert 0.9 / np.sqrt(400) < float(jnp.abs(dense1["b"]).max()) <= 1 / np.sqrt(400)


def test_the_replays_numpy_init_matches_init_cnns_bounds_and_lands_in_place():
    init, orders = draws.lenet_replay_draws(0, 256, 2)
    assert [W.shape for W, _ in init] == [tuple(s) for s in draws.LENET_SHAPES]
    assert [len(o) for o in orders] == [256, 256]
    params = lenet.params_from(init)
    assert [i for i, p in enumerate(params) if p != ()] == list(lenet.WEIGHTED)
    np.testing.assert_array_equal(params[3]["W"], init[1][0])
    assert np.abs(init[0][0]).max() <= np.sqrt(6 / (25 + 6 * 25))


def test_modern_lenet_uses_relu_and_max_pooling():
    names = [layer.name.split("(")[0] for layer in lenet.lenet_layers(modern=True)]
    assert names[1:3] == ["ReLU", "MaxPool2d"] and "Sigmoid" not in names


@pytest.mark.slow
def test_the_fast_replay_in_float64_equals_pytorchs_to_1e_10(ref):
    from jaxdl.datasets import fashion_mnist

    stored = ref["replay"]["fast"]
    with jax.enable_x64(True):
        ours = lenet.replay(stored, fashion_mnist.load(), dtype=np.float64)
    np.testing.assert_allclose(ours["step_losses"], stored["float64"]["step_losses"], rtol=1e-10)
    for p, t in zip(ours["final"], stored["float64"]["final"]):
        np.testing.assert_allclose(p["W"]["head"], t["W"]["head"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(p["b"], t["b"], rtol=1e-10, atol=1e-12)
