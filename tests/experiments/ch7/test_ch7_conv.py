"""d2l 7.2-7.5: the from-scratch operations against the layers and each other, the learned kernel, the shape formula
and which input receives max pooling's gradient when several tie."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch7 import ch7_2_conv_layer as c72
from experiments.ch7 import ch7_2_conv_layer_exercises as c72e
from experiments.ch7 import ch7_3_padding_and_strides as c73
from experiments.ch7 import ch7_4_channels_exercises as c74e
from experiments.ch7 import ch7_5_pooling as c75
from experiments.ch7 import ch7_5_pooling_exercises as c75e
from experiments.ch7 import conv
from experiments.harness import references
from experiments.harness import replay as draws
from jaxdl import nn

KEY = jax.random.key(7)


def test_corr2d_by_loops_vectorised_and_by_xla_agree_on_random_images():
    X = jax.random.normal(KEY, (7, 9))
    K = jax.random.normal(jax.random.key(1), (3, 2))
    loops = conv.corr2d(X, K)
    assert loops.shape == (5, 8)
    np.testing.assert_allclose(conv.corr2d_vectorised(X, K), loops, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(conv.corr2d_lax(X, K), loops, rtol=1e-5, atol=1e-6)
    assert float(conv.corr2d(X, K)[2, 3]) == pytest.approx(float((X[2:5, 3:5] * K).sum()), rel=1e-6)


def test_the_edge_kernel_finds_the_stripes_edges_and_none_when_transposed():
    Y = conv.corr2d(conv.stripes(), jnp.array([[1.0, -1.0]]))
    expected = np.zeros((6, 7))
    expected[:, 1], expected[:, 5] = 1, -1
    np.testing.assert_array_equal(Y, expected)
    assert not np.asarray(conv.corr2d(conv.stripes().T, jnp.array([[1.0, -1.0]]))).any()


def test_learning_the_kernel_replays_pytorch_and_approaches_one_minus_one():
    ref = references.load(c72.REFERENCE)["learn"]
    edges = conv.stripes()
    Y = conv.corr2d_vectorised(edges, jnp.array([[1.0, -1.0]]))
    ours = c72.learn_kernel(edges, Y, draws.kernel_draw(ref["seed"]), ref["lr"], ref["epochs"])
    np.testing.assert_allclose(ours["losses"], ref["losses"], rtol=1e-5)
    np.testing.assert_allclose(ours["kernel"], ref["kernel"], rtol=1e-5)
    np.testing.assert_allclose(ours["kernel"], [[1.0, -1.0]], atol=0.05)
    assert np.all(np.diff(ours["losses"]) < 0)
    other = c72.learn_kernel(edges, Y, draws.kernel_draw(ref["seed"]), 2 * ref["lr"], ref["epochs"])
    assert not np.allclose(other["losses"], ref["losses"], rtol=1e-3)  # the replay would see another learning rate


def test_the_kernel_matrix_and_the_patches_are_cross_correlation():
    X = np.asarray(jax.random.normal(KEY, (5, 6)))
    K = np.asarray(jax.random.normal(jax.random.key(2), (2, 3)))
    Y = np.asarray(conv.corr2d_vectorised(jnp.asarray(X), jnp.asarray(K)))
    np.testing.assert_allclose((c72e.kernel_matrix(K, X.shape) @ X.ravel()).reshape(Y.shape), Y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose((c72e.patches(X, K.shape) @ K.ravel()).reshape(Y.shape), Y, rtol=1e-5, atol=1e-6)


def test_comp_conv2d_shapes_follow_the_formula():
    params = {"W": jnp.ones((1, 1, 3, 5)), "b": jnp.zeros(1)}
    layer = nn.conv2d(1, (3, 5), stride=(3, 4), padding=(0, 1))
    assert c73.comp_conv2d(layer, params, jnp.zeros((8, 8))).shape == (2, 2)
    assert [nn.output_size(8, 3, 0, 3), nn.output_size(8, 5, 1, 4)] == [2, 2]


def test_one_by_one_convolution_is_a_matrix_product():
    X = jax.random.normal(KEY, (3, 4, 5))
    K = jax.random.normal(jax.random.key(3), (2, 3, 1, 1))
    np.testing.assert_allclose(conv.corr2d_multi_in_out_1x1(X, K), conv.corr2d_multi_in_out(X, K), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(conv.corr2d_multi_in_out(X, K), nn.conv2d_apply(X[None], K)[0], rtol=1e-5, atol=1e-6)


def test_two_convolutions_compose_into_one_of_size_k1_plus_k2_minus_1():
    X = np.asarray(jax.random.normal(KEY, (1, 2, 8, 9)), np.float64)
    K1 = np.asarray(jax.random.normal(jax.random.key(4), (3, 2, 2, 3)), np.float64)
    K2 = np.asarray(jax.random.normal(jax.random.key(5), (2, 3, 3, 2)), np.float64)
    with jax.enable_x64(True):
        twice = nn.conv2d_apply(nn.conv2d_apply(jnp.asarray(X), jnp.asarray(K1)), jnp.asarray(K2))
        once = nn.conv2d_apply(jnp.asarray(X), jnp.asarray(c74e.compose(K1, K2)))
    assert c74e.compose(K1, K2).shape == (2, 2, 4, 4)
    np.testing.assert_allclose(once, twice, rtol=1e-10, atol=1e-12)


def test_pool2d_by_loops_is_the_pooling_layer_with_stride_one():
    X = jax.random.normal(KEY, (5, 6))
    for mode, layer in (("max", nn.max_pool2d((2, 3), 1)), ("avg", nn.avg_pool2d((2, 3), 1))):
        np.testing.assert_allclose(conv.pool2d(X, (2, 3), mode), layer((), X[None, None])[0, 0], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="pool2d's mode is 'max' or 'avg', got 'min'"):
        conv.pool2d(X, (2, 2), "min")


@pytest.mark.parametrize("kernel, stride, padding", [(2, 1, 0), (3, 1, 1), (2, 2, 0), (3, 2, 1)])
def test_tied_maxima_send_the_gradient_to_the_first_input_of_each_window(kernel, stride, padding):
    g = jax.grad(lambda x: nn.max_pool2d(kernel, stride, padding)((), x).sum())(jnp.ones((1, 1, 5, 5)))
    expected = c75.first_in_window((5, 5), (kernel, kernel), (stride, stride), (padding, padding))
    np.testing.assert_array_equal(g[0, 0], expected)
    assert float(g.sum()) == nn.output_size(5, kernel, padding, stride) ** 2  # one unit per window, none lost


def test_the_books_pool2d_splits_a_tied_gradient_evenly():
    g = jax.grad(lambda x: conv.pool2d(x, (2, 2)).sum())(jnp.ones((3, 3)))
    np.testing.assert_allclose(g, np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)


def test_pooling_from_convolutions_and_relus():
    X = jax.random.normal(KEY, (2, 3, 6, 6))
    np.testing.assert_allclose(c75e.avg_pool_by_conv(X, 3, 2, 1), nn.avg_pool2d(3, 2, 1)((), X), rtol=1e-5, atol=1e-6)
    for k in (2, 3):
        Y, layers = c75e.max_pool_by_relu(X, k)
        np.testing.assert_allclose(Y, nn.max_pool2d(k)((), X), rtol=1e-5, atol=1e-6)
        assert layers == {2: 2, 3: 4}[k]
