"""jaxdl.nn's convolution and pooling layers (d2l chapter 7) against direct NumPy loops: NCHW images, OIHW kernels,
PyTorch's default initialisation, strides, padding and groups, and the refusals of impossible shapes."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxdl import nn

KEY = jax.random.key(0)


def conv_loops(X: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride=(1, 1), padding=(0, 0), groups=1):
    """The definition, one output entry at a time (float64)."""
    X = np.pad(X.astype(np.float64), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    n, c, h, w = X.shape
    o, cg, kh, kw = W.shape
    oh, ow = (h - kh) // stride[0] + 1, (w - kw) // stride[1] + 1
    Y = np.zeros((n, o, oh, ow))
    per_group = o // groups
    for i, k, r, s in itertools.product(range(n), range(o), range(oh), range(ow)):
        g = k // per_group
        window = X[i, g * cg:(g + 1) * cg, r * stride[0]:r * stride[0] + kh, s * stride[1]:s * stride[1] + kw]
        Y[i, k, r, s] = (window * W[k]).sum() + (0.0 if b is None else b[k])
    return Y


def pool_loops(X: np.ndarray, kernel, stride, padding, kind: str):
    """Max (padding -inf) or mean (padding 0, counted) of each window."""
    fill = -np.inf if kind == "max" else 0.0
    X = np.pad(X.astype(np.float64), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=fill)
    n, c, h, w = X.shape
    oh, ow = (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
    Y = np.zeros((n, c, oh, ow))
    for i, k, r, s in itertools.product(range(n), range(c), range(oh), range(ow)):
        window = X[i, k, r * stride[0]:r * stride[0] + kernel[0], s * stride[1]:s * stride[1] + kernel[1]]
        Y[i, k, r, s] = window.max() if kind == "max" else window.mean()
    return Y


CONV_CASES = [  # (input shape, out channels, kernel, stride, padding, groups)
    ((2, 3, 7, 8), 4, 3, 1, 0, 1),
    ((1, 1, 8, 8), 1, (5, 3), 1, (2, 1), 1),
    ((2, 2, 8, 8), 3, 3, 2, 1, 1),
    ((1, 1, 8, 8), 2, (3, 5), (3, 4), (0, 1), 1),
    ((2, 4, 6, 5), 6, 2, (1, 2), (1, 0), 2),
    ((1, 6, 5, 5), 6, 3, 1, 1, 6),  # depthwise
]


@pytest.mark.parametrize("method", ["auto", "xla", "im2col"])
@pytest.mark.parametrize("shape, out, kernel, stride, padding, groups", CONV_CASES)
def test_conv2d_is_the_cross_correlation_of_its_definition(shape, out, kernel, stride, padding, groups, method):
    if method == "im2col" and groups > 1:
        pytest.skip("im2col takes groups=1")
    layer = nn.conv2d(out, kernel, stride=stride, padding=padding, groups=groups, method=method)
    out_shape, params, state = layer.init(KEY, shape)
    X = jax.random.normal(jax.random.key(1), shape)
    Y = layer(params, X)
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    expected = conv_loops(np.asarray(X), np.asarray(params["W"]), np.asarray(params["b"]), pair(stride),
                          pair(padding), groups)
    assert state is None and Y.shape == out_shape == expected.shape
    np.testing.assert_allclose(Y, expected, rtol=1e-5, atol=1e-5)


def test_im2col_and_xla_convolutions_have_the_same_gradients():
    X = jax.random.normal(jax.random.key(4), (3, 4, 9, 8))
    W = jax.random.normal(jax.random.key(5), (5, 4, 3, 2))
    grads = {m: jax.grad(lambda W, X: (nn.conv2d_apply(X, W, stride=(2, 1), padding=(1, 1), method=m) ** 2).sum(),
                         argnums=(0, 1))(W, X) for m in ("xla", "im2col")}
    for a, b in zip(grads["xla"], grads["im2col"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_auto_picks_im2col_for_small_windows_and_xla_for_large_ones(monkeypatch):
    calls = []
    monkeypatch.setattr(nn, "im2col_conv", lambda *a: calls.append(a[1].shape) or jnp.zeros((1, 1, 1, 1)))
    nn.conv2d_apply(jnp.zeros((1, 1, 5, 5)), jnp.zeros((1, 1, 5, 5)))  # 25 inputs per output
    nn.conv2d_apply(jnp.zeros((1, 64, 3, 3)), jnp.zeros((1, 64, 3, 3)))  # 576
    nn.conv2d_apply(jnp.zeros((1, 4, 3, 3)), jnp.zeros((2, 2, 3, 3)), groups=2)  # groups: XLA's
    assert calls == [(1, 1, 5, 5)]
    with pytest.raises(ValueError, match="method is 'auto', 'xla' or 'im2col', got 'fft'"):
        nn.conv2d_apply(jnp.zeros((1, 1, 5, 5)), jnp.zeros((1, 1, 5, 5)), method="fft")
    with pytest.raises(ValueError, match="im2col convolutions take groups=1"):
        nn.conv2d_apply(jnp.zeros((1, 4, 3, 3)), jnp.zeros((2, 2, 3, 3)), groups=2, method="im2col")


def test_conv2d_takes_its_input_channels_from_the_first_input_in_pytorchs_layout():
    _, params, _ = nn.conv2d(6, 5, padding=2).init(KEY, (1, 3, 28, 28))
    assert params["W"].shape == (6, 3, 5, 5) and params["b"].shape == (6,)  # OIHW, as torch.nn.Conv2d.weight
    _, params, _ = nn.conv2d(4, (1, 2), bias=False).init(KEY, (1, 2, 6, 8))
    assert set(params) == {"W"} and params["W"].shape == (4, 2, 1, 2)
    _, params, _ = nn.conv2d(4, 3, groups=2).init(KEY, (1, 6, 5, 5))
    assert params["W"].shape == (4, 3, 3, 3)


def test_conv2d_initialises_as_pytorch_uniform_within_one_over_root_fan_in():
    _, params, _ = nn.conv2d(64, 3).init(KEY, (1, 32, 5, 5))
    bound = 1 / np.sqrt(32 * 9)
    W, b = np.asarray(params["W"]), np.asarray(params["b"])
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound
    np.testing.assert_allclose(W.var(), bound**2 / 3, rtol=0.02)  # U(-a, a) has variance a^2 / 3
    assert np.abs(b).max() <= bound and np.unique(b).size == 64
    _, grouped, _ = nn.conv2d(8, 3, groups=4).init(KEY, (1, 32, 5, 5))
    W_g = np.abs(np.asarray(grouped["W"]))
    assert 0.95 / np.sqrt(8 * 9) < W_g.max() <= 1 / np.sqrt(8 * 9)  # fan_in counts a group's 8 channels, not 32


def test_conv2d_initialisers_can_be_replaced():
    zeros = jax.nn.initializers.zeros
    _, params, _ = nn.conv2d(2, 3, W_init=jax.nn.initializers.ones, b_init=zeros).init(KEY, (1, 1, 4, 4))
    np.testing.assert_array_equal(params["W"], np.ones((2, 1, 3, 3)))
    np.testing.assert_array_equal(params["b"], np.zeros(2))


@pytest.mark.parametrize("n, k, p, s", [(8, 3, 1, 1), (8, 5, 2, 1), (8, 3, 1, 2), (8, 3, 0, 3), (8, 5, 1, 4),
                                        (28, 5, 2, 1), (7, 2, 0, 2), (9, 4, 1, 3)])
def test_output_size_is_floor_of_n_plus_2p_minus_k_over_s_plus_1(n, k, p, s):
    assert nn.output_size(n, k, p, s) == (n + 2 * p - k) // s + 1
    shape, _, _ = nn.conv2d(1, (k, 1), stride=(s, 1), padding=(p, 0)).init(KEY, (1, 1, n, 3))
    assert shape[2] == nn.output_size(n, k, p, s)
    if p <= k // 2:
        assert nn.max_pool2d((k, 1), (s, 1), (p, 0)).init(None, (1, 1, n, 3))[0][2] == nn.output_size(n, k, p, s)


POOL_CASES = [  # (input shape, kernel, stride, padding)
    ((1, 1, 3, 3), 2, 1, 0),
    ((1, 1, 4, 4), 3, None, 0),
    ((1, 1, 4, 4), 3, 2, 1),
    ((1, 1, 4, 4), (2, 3), (2, 3), (0, 1)),
    ((2, 3, 7, 6), (3, 2), (2, 1), (1, 1)),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape, kernel, stride, padding", POOL_CASES)
def test_pooling_is_the_max_or_mean_of_each_window(kind, shape, kernel, stride, padding):
    pool = (nn.max_pool2d if kind == "max" else nn.avg_pool2d)(kernel, stride, padding)
    out_shape, params, state = pool.init(None, shape)
    X = jax.random.normal(jax.random.key(2), shape)
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    expected = pool_loops(np.asarray(X), pair(kernel), pair(kernel if stride is None else stride), pair(padding), kind)
    Y = pool(params, X)
    assert params == () and state is None and Y.shape == out_shape == expected.shape
    np.testing.assert_allclose(Y, expected, rtol=1e-6, atol=1e-7)


def test_pooling_steps_by_its_window_unless_told_and_counts_padding_in_the_mean():
    X = jnp.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nn.max_pool2d(2)((), X), [[[[5, 7], [13, 15]]]])
    # the corner window of a 3 x 3 average with padding 1 holds 4 inputs and 5 zeros, divided by 9
    Y = nn.avg_pool2d(3, 2, 1)((), X)
    np.testing.assert_allclose(Y[0, 0, 0, 0], (0 + 1 + 4 + 5) / 9, rtol=1e-6)


def test_global_average_pooling_averages_each_channel():
    X = jax.random.normal(KEY, (2, 3, 5, 4))
    shape, params, _ = nn.global_avg_pool2d().init(None, X.shape)
    assert shape == (2, 3, 1, 1)
    np.testing.assert_allclose(nn.global_avg_pool2d()(params, X), np.asarray(X, np.float64).mean(axis=(2, 3), keepdims=True),
                               rtol=1e-6, atol=1e-7)


def test_conv_and_pooling_gradients_pass_finite_differences():
    with jax.enable_x64(True):
        layer = nn.serial(nn.conv2d(3, 3, stride=2, padding=1), nn.sigmoid(), nn.avg_pool2d(2), nn.flatten())
        _, params, _ = layer.init(KEY, (2, 2, 9, 9))
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        X = jax.random.normal(jax.random.key(3), (2, 2, 9, 9), jnp.float64)
        check_grads(lambda p, x: layer(p, x).sum(), (params, X), order=2, modes=("rev",))
        # max pooling on distinct values (away from ties, where it is not differentiable)
        Xd = jnp.arange(2 * 2 * 6 * 6, dtype=jnp.float64).reshape(2, 2, 6, 6) ** 1.5 / 50
        check_grads(lambda x: (nn.max_pool2d(3, 2, 1)((), x) ** 2).sum(), (Xd,), order=1, modes=("rev",))


def test_a_lenet_shaped_stack_infers_every_size():
    model = nn.serial(nn.conv2d(6, 5, padding=2), nn.sigmoid(), nn.avg_pool2d(2, 2), nn.conv2d(16, 5), nn.sigmoid(),
                      nn.avg_pool2d(2, 2), nn.flatten(), nn.linear(120, sigma=None))
    shape, params, _ = model.init(KEY, (1, 1, 28, 28))
    assert shape == (1, 120) and params[3]["W"].shape == (16, 6, 5, 5) and params[7]["W"].shape == (120, 400)


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("kwargs, words", [
    ({"kernel_size": 0}, "kernel_size must be at least 1"),
    ({"kernel_size": (3,)}, "kernel_size must be an int or a pair"),
    ({"kernel_size": 2.5}, "kernel_size must be an int or a pair"),
    ({"kernel_size": 3, "stride": 0}, "stride must be at least 1"),
    ({"kernel_size": 3, "padding": -1}, "padding must be at least 0"),
    ({"kernel_size": 3, "groups": 0}, "groups must be a positive int"),
    ({"kernel_size": 3, "groups": 4}, "6 output channels cannot be cut into 4 groups"),
    ({"kernel_size": 3, "method": "fft"}, "method must be 'auto', 'xla' or 'im2col'"),
    ({"kernel_size": 3, "groups": 2, "method": "im2col"}, "im2col without groups"),
])
def test_conv2d_refuses_bad_arguments_naming_itself(kwargs, words):
    with pytest.raises(ValueError, match=r"Conv2d\(6") as err:
        nn.conv2d(6, **kwargs)
    assert words in str(err.value)


def test_conv2d_refuses_zero_output_channels():
    with pytest.raises(ValueError, match="positive number of output channels, got 0"):
        nn.conv2d(0, 3)


def test_a_kernel_larger_than_the_padded_input_is_refused_with_both_shapes():
    with pytest.raises(nn.ShapeError) as err:
        nn.conv2d(1, 5).init(KEY, (1, 1, 4, 8))
    assert "Conv2d(1, kernel_size=5)" in str(err.value) and "(1, 1, 4, 8)" in str(err.value)
    assert "5 x 5 window is larger than" in str(err.value) and "padded to 4 x 8" in str(err.value)
    nn.conv2d(1, 5, padding=1).init(KEY, (1, 1, 4, 8))  # padded to 6 x 10: fits
    with pytest.raises(nn.ShapeError, match=r"MaxPool2d\(3\): the 3 x 3 window is larger"):
        nn.max_pool2d(3).init(None, (1, 1, 2, 2))


def test_images_without_their_channel_axis_are_refused_saying_how_to_add_it():
    with pytest.raises(nn.ShapeError, match=r"takes images \(N, C, H, W\), got shape \(6, 8\); add the channel"):
        nn.conv2d(1, 2).init(KEY, (6, 8))
    with pytest.raises(nn.ShapeError, match=r"layer 0 \(Conv2d"):
        nn.serial(nn.conv2d(1, 2)).init(KEY, (2, 6, 8))


def test_inputs_with_other_channels_than_the_kernels_are_refused_at_apply():
    layer = nn.conv2d(2, 3)
    _, params, _ = layer.init(KEY, (1, 3, 5, 5))
    with pytest.raises(nn.ShapeError) as err:
        layer(params, jnp.zeros((1, 4, 5, 5)))
    assert "made for 3 input channels (kernels of shape (2, 3, 3, 3))" in str(err.value)
    assert "(1, 4, 5, 5)" in str(err.value)
    with pytest.raises(nn.ShapeError, match="cannot be cut into 2 groups"):
        nn.conv2d(2, 3, groups=2).init(KEY, (1, 3, 5, 5))


def test_pooling_refuses_padding_beyond_half_its_window():
    with pytest.raises(ValueError, match=r"AvgPool2d\(2\): padding 2 is more than half the 2 x 2 window"):
        nn.avg_pool2d(2, padding=2)
    with pytest.raises(ValueError, match=r"MaxPool2d\(0\): kernel_size must be at least 1"):
        nn.max_pool2d(0)
