"""Layers and models as values: a pair of pure functions, composed with combinators (stax's idea, with state).

A `Layer` holds

* ``init(key, input_shape) -> (output_shape, params, state)``: parameters drawn from an explicit key for
  inputs of `input_shape` (a whole batch's shape, e.g. ``(1, 784)``), so sizes are inferred from the first
  input as d2l's lazy layers infer them. `state` is what the layer keeps besides its parameters (BatchNorm's
  running statistics), None for a layer that keeps none;
* ``apply(params, state, X, *, train=False, rng=None) -> (Y, state)``: training mode or evaluation mode is
  the argument `train`; `rng` is the randomness of a training step (a key, or given dropout masks) for the
  layers that draw (`stochastic` ones), never looked for. In training, a stateful layer returns its new
  state; in evaluation it returns its state unchanged.

Parameters are pytrees: a `Linear` layer's ``{"W": (out, in), "b": (out,)}`` (torch.nn.Linear's layout),
a `serial` model's tuple of its layers' parameters (``()`` for a layer without any), so that key paths
read like PyTorch's `state_dict` keys: ``params[1]["W"]`` is ``1.weight`` of the same nn.Sequential.

A layer's `init_takes_key` says whether its init draws anything: `serial` splits its key among those that
do (one such layer gets the key itself), and its `rng` likewise among its `stochastic` layers.

A `batch_dependent` layer's training output depends on the other examples of its batch (BatchNorm's batch
statistics). Its apply also takes ``batch_mask``, 1 for the batch's examples and 0 for padding: `fit` pads
the last, partial minibatch to the full size (one static shape for the scan) and passes the mask, so such a
layer computes over the real examples alone, as PyTorch does on its smaller last batch. The combinators
pass it on to the layers that take it.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Shape = tuple[int, ...]
Params = Any
State = Any
Initializer = Callable[[jax.Array, Shape, Any], jax.Array]  # jax.nn.initializers' signature


class Layer(NamedTuple):
    """A layer or a whole model: pure `init` and `apply`, and what they draw (see the module's docstring)."""

    init: Callable[[jax.Array | None, Shape], tuple[Shape, Params, State]]
    apply: Callable[..., tuple[jax.Array, State]]
    name: str = "layer"
    init_takes_key: bool = True
    stochastic: bool = False
    batch_dependent: bool = False

    def __call__(self, params: Params, X: jax.Array, state: State = None, *, train: bool = False,
                 rng: Any = None, batch_mask: jax.Array | None = None) -> jax.Array:
        """The output alone: ``apply(params, state, X, train=train, rng=rng)[0]`` (evaluation by default)."""
        return apply_layer(self, params, state, X, train=train, rng=rng, batch_mask=batch_mask)[0]


def apply_layer(lay: Layer, params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None,
                batch_mask: jax.Array | None = None) -> tuple[jax.Array, State]:
    """lay.apply, handing batch_mask on only to a batch_dependent layer (the others do not take it)."""
    if lay.batch_dependent:
        return lay.apply(params, state, X, train=train, rng=rng, batch_mask=batch_mask)
    return lay.apply(params, state, X, train=train, rng=rng)


class ShapeError(ValueError):
    """A layer was handed inputs of a shape it cannot take; the message names the layer and both shapes."""


def output_shape(apply: Callable, params: Params, state: State, input_shape: Shape,
                 dtype: Any = jnp.float32) -> Shape:
    """The shape apply gives for inputs of input_shape, traced with jax.eval_shape (no arithmetic); a pytree of
    shapes for a layer whose output is a pytree of arrays."""
    X = jax.ShapeDtypeStruct(tuple(input_shape), dtype)
    out = jax.eval_shape(lambda p, s, x: apply(p, s, x)[0], params, state, X)
    if isinstance(out, jax.ShapeDtypeStruct):
        return tuple(out.shape)
    return jax.tree.map(lambda leaf: tuple(leaf.shape), out)


def layer(name: str, init_params: Callable[[jax.Array | None, Shape], tuple[Params, State]],
          apply: Callable[..., tuple[jax.Array, State]], *, init_takes_key: bool = True,
          stochastic: bool = False, batch_dependent: bool = False) -> Layer:
    """A layer from its parameter init, `init_params(key, input_shape) -> (params, state)`, and its apply;
    the output shape is traced from apply."""

    def init(key: jax.Array | None, input_shape: Shape) -> tuple[Shape, Params, State]:
        params, state = init_params(key, tuple(input_shape))
        return output_shape(apply, params, state, input_shape), params, state

    return Layer(init, apply, name, init_takes_key, stochastic, batch_dependent)


def function(fn: Callable[[jax.Array], jax.Array], name: str | None = None) -> Layer:
    """A layer without parameters or state that computes fn(X) (an activation, a reshape)."""

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None):
        del params, train, rng
        return fn(X), state

    return layer(name or getattr(fn, "__name__", "function"), lambda key, shape: ((), None), apply,
                 init_takes_key=False)


def model(init_params: Callable[[jax.Array, Shape], Params], apply_fn: Callable[[Params, jax.Array], jax.Array],
          name: str = "model") -> Layer:
    """A stateless layer from a hand-written pair, init_params(key, input_shape) -> params and
    apply_fn(params, X) -> outputs (the book's from-scratch models)."""

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None):
        del train, rng
        return apply_fn(params, X), state

    return layer(name, lambda key, shape: (init_params(key, shape), None), apply)


def identity() -> Layer:
    """The input unchanged (a residual block's shortcut, DenseNet's kept input)."""
    return function(lambda X: X, "Identity")


def flatten() -> Layer:
    """(N, ...) -> (N, features), as torch.nn.Flatten."""
    return function(lambda X: X.reshape(X.shape[0], -1), "Flatten")


def relu() -> Layer:
    return function(jax.nn.relu, "ReLU")


def sigmoid() -> Layer:
    return function(jax.nn.sigmoid, "Sigmoid")


def tanh() -> Layer:
    return function(jnp.tanh, "Tanh")


# ----------------------------------------------------------------------------- parameterised layers


def normal(sigma: float) -> Initializer:
    """W ~ N(0, sigma^2), d2l's from-scratch initialisation."""

    def init(key: jax.Array, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        return sigma * jax.random.normal(key, shape, dtype)

    return init


def torch_linear_uniform(fan_in: int) -> Initializer:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): torch.nn.Linear's default for both W and b."""

    def init(key: jax.Array, shape: Shape, dtype: Any = jnp.float32) -> jax.Array:
        bound = 1.0 / jnp.sqrt(fan_in)
        return jax.random.uniform(key, shape, dtype, minval=-bound, maxval=bound)

    return init


def linear(num_outputs: int, *, sigma: float | None = 0.01, W_init: Initializer | None = None,
           b_init: Initializer | None = None) -> Layer:
    """A dense layer, X @ W.T + b, its number of inputs taken from the last axis of the first input
    (torch.nn.LazyLinear). W is (outputs, inputs), torch.nn.Linear's layout.

    sigma: W ~ N(0, sigma^2) and b = 0 (d2l's from-scratch models); None: PyTorch's default, W and b ~
    U(-1/sqrt(inputs), 1/sqrt(inputs)) (d2l's concise models). W_init / b_init (jax.nn.initializers'
    signature) replace either. The key is split in two, W's and b's, whichever are drawn.
    """
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
        raise ValueError(f"linear needs a positive number of outputs, got {num_outputs!r}")

    def init_params(key: jax.Array, input_shape: Shape) -> tuple[Params, State]:
        if len(input_shape) < 1:
            raise ShapeError(f"Linear({num_outputs}) takes inputs (..., features), got shape {input_shape}")
        num_inputs = input_shape[-1]
        key_W, key_b = jax.random.split(key)
        default = torch_linear_uniform(num_inputs) if sigma is None else normal(sigma)
        W = (W_init or default)(key_W, (num_outputs, num_inputs), jnp.float32)
        if b_init is not None:
            b = b_init(key_b, (num_outputs,), jnp.float32)
        elif sigma is None:
            b = torch_linear_uniform(num_inputs)(key_b, (num_outputs,), jnp.float32)
        else:
            b = jnp.zeros(num_outputs)
        return {"W": W, "b": b}, None

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None):
        del train, rng
        W = params["W"]
        if X.shape[-1] != W.shape[1]:
            raise ShapeError(f"Linear({W.shape[0]}) was made for {W.shape[1]} inputs but got inputs of shape "
                             f"{tuple(X.shape)} ({X.shape[-1]} features); flatten them first or make the "
                             f"layer for {X.shape[-1]} inputs")
        return X @ W.T + params["b"], state

    return layer(f"Linear({num_outputs})", init_params, apply)


# ----------------------------------------------------------------------------- convolution and pooling
#
# Images are NCHW (batch, channels, height, width) and kernels OIHW (out channels, in channels / groups, height,
# width) at the interface, PyTorch's layouts, so a torch.nn.Conv2d's weight loads without transposes. Padding is
# always explicit pairs of lax.conv_general_dilated / lax.reduce_window (never 'SAME'), as PyTorch's is.


Pair = tuple[int, int]


def _pair(value: int | Sequence[int], what: str, layer_name: str, minimum: int) -> Pair:
    """An int or a pair of ints (height, width) as a pair, each at least `minimum`; a ValueError naming the layer
    otherwise."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        ok = len(pair) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{layer_name}: {what} must be an int or a pair of ints (height, width), got {value!r}")
    pair = (int(pair[0]), int(pair[1]))
    if min(pair) < minimum:
        raise ValueError(f"{layer_name}: {what} must be at least {minimum}, got {value!r}")
    return pair


def output_size(size: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """Length of a convolution's or pooling's output along one axis: floor((n + 2p - k) / s) + 1 (d2l 7.3).

    Args:
      size: the input's length n along the axis.
      kernel: the window's length k.
      padding: p, added on both sides.
      stride: s, the window's step.

    Returns:
      The output's length; 0 or less when the window does not fit (the layers refuse that).
    """
    return (size + 2 * padding - kernel) // stride + 1


def _check_window(layer_name: str, input_shape: Shape, kernel: Pair, padding: Pair) -> None:
    """Refuses inputs that are not NCHW or smaller than the kernel once padded."""
    if len(input_shape) != 4:
        raise ShapeError(f"{layer_name} takes images (N, C, H, W), got shape {tuple(input_shape)}; add the channel "
                         "axis (X[:, None] for grey images) or the batch axis (X[None])")
    padded = (input_shape[2] + 2 * padding[0], input_shape[3] + 2 * padding[1])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ShapeError(f"{layer_name}: the {kernel[0]} x {kernel[1]} window is larger than the input of shape "
                         f"{tuple(input_shape)} padded to {padded[0]} x {padded[1]}; use a smaller kernel or more "
                         "padding")


# Below this many inputs per output entry (C / groups * kh * kw) conv2d_apply gathers the windows and runs one matrix
# product (im2col); above it, XLA's convolution. Measured on 2 x86-64 cores (jax 0.10.2, docs/performance.md): a
# training step of d2l's LeNet (batch 128; windows of 25 and 150 inputs) takes 21 ms by im2col and 71 ms by XLA's
# convolution, whose backward pass is slow for such thin convolutions; a 64 -> 64 channel 3 x 3 convolution (576
# inputs) takes 69 ms forward and backward by XLA and 197 ms by im2col.
IM2COL_MAX_WINDOW = 256


def im2col_conv(X: jax.Array, W: jax.Array, stride: Pair = (1, 1), padding: Pair = (0, 0)) -> jax.Array:
    """The cross-correlation of NCHW images X with OIHW kernels W as one matrix product: the padded image in NHWC,
    its kh * kw shifted (strided) views concatenated along the channels into (N * H' * W', kh * kw * C) windows,
    times the kernels as a (kh * kw * C, O) matrix, back to NCHW. Gradients are the product's and the slices'.

    Args:
      X: images (N, C, H, W).
      W: kernels (O, C, kh, kw) (no groups).
      stride: (sh, sw).
      padding: (ph, pw) zeros on both sides.

    Returns:
      (N, O, H', W'), as lax.conv_general_dilated gives it.
    """
    N, C, H, Wd = X.shape
    O, _, kh, kw = W.shape
    (sh, sw), (ph, pw) = stride, padding
    Xp = jnp.pad(X, ((0, 0), (0, 0), (ph, ph), (pw, pw))).transpose(0, 2, 3, 1)
    Ho, Wo = output_size(H, kh, ph, sh), output_size(Wd, kw, pw, sw)
    windows = jnp.concatenate([Xp[:, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw, :]
                               for i in range(kh) for j in range(kw)], axis=3)
    Y = windows.reshape(N * Ho * Wo, kh * kw * C) @ W.transpose(2, 3, 1, 0).reshape(kh * kw * C, O)
    return Y.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2)


def conv2d_apply(X: jax.Array, W: jax.Array, b: jax.Array | None = None, stride: Pair = (1, 1),
                 padding: Pair = (0, 0), groups: int = 1, method: str = "auto") -> jax.Array:
    """The cross-correlation of NCHW images X with OIHW kernels W (torch.nn.functional.conv2d), plus b per channel.

    Args:
      X: images (N, C, H, W).
      W: kernels (O, C / groups, kh, kw).
      b: biases (O,), or None.
      stride: (sh, sw).
      padding: (ph, pw) zeros added on both sides of each axis.
      groups: C and O are cut into this many groups, group g of the outputs seeing group g of the inputs.
      method: "xla" (lax.conv_general_dilated with explicit padding pairs), "im2col" (one matrix product, see
        im2col_conv; groups = 1 only) or "auto": im2col for windows of at most IM2COL_MAX_WINDOW inputs without
        groups, where it is faster on CPUs, XLA's convolution otherwise. Both give the same numbers up to float
        rounding.

    Returns:
      (N, O, H', W') with H' = floor((H + 2 ph - kh) / sh) + 1 and likewise W'.
    """
    if method not in ("auto", "xla", "im2col"):
        raise ValueError(f"conv2d_apply's method is 'auto', 'xla' or 'im2col', got {method!r}")
    if method == "im2col" and groups != 1:
        raise ValueError(f"im2col convolutions take groups=1, got groups={groups}; use method='xla'")
    window = W.shape[1] * W.shape[2] * W.shape[3]
    if method == "im2col" or (method == "auto" and groups == 1 and window <= IM2COL_MAX_WINDOW):
        Y = im2col_conv(X, W, stride, padding)
    else:
        Y = jax.lax.conv_general_dilated(X, W, window_strides=stride, padding=[(p, p) for p in padding],
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=groups)
    return Y if b is None else Y + b.reshape(1, -1, 1, 1)


def conv2d(out_channels: int, kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
           padding: int | Sequence[int] = 0, groups: int = 1, bias: bool = True, W_init: Initializer | None = None,
           b_init: Initializer | None = None, method: str = "auto") -> Layer:
    """A 2-D convolution (torch.nn.LazyConv2d): its input channels taken from the first input.

    Args:
      out_channels: O, the number of kernels.
      kernel_size: kh = kw, or (kh, kw).
      stride: s or (sh, sw), at least 1.
      padding: p or (ph, pw) zeros on both sides, at least 0.
      groups: cuts input and output channels into this many groups (both must be divisible by it).
      bias: whether to add a bias per output channel.
      W_init, b_init: initialisers (jax.nn.initializers' signature) of W (O, C / groups, kh, kw) and b (O,);
        by default PyTorch's: kaiming_uniform with a = sqrt(5) for W, which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        and the same bound for b, fan_in = C / groups * kh * kw. The key is split in two, W's and b's.
      method: how conv2d_apply computes it ("auto", "xla" or "im2col"; the same numbers up to rounding).

    Returns:
      A Layer with params {"W": (O, C / groups, kh, kw), "b": (O,)} ({"W"} alone without bias), no state.
    """
    if isinstance(out_channels, bool) or not isinstance(out_channels, (int, np.integer)) or out_channels < 1:
        raise ValueError(f"conv2d needs a positive number of output channels, got {out_channels!r}")
    name = f"Conv2d({out_channels}, kernel_size={kernel_size!r})"
    kernel = _pair(kernel_size, "kernel_size", name, 1)
    strides = _pair(stride, "stride", name, 1)
    pads = _pair(padding, "padding", name, 0)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if out_channels % groups:
        raise ValueError(f"{name}: {out_channels} output channels cannot be cut into {groups} groups; make them a "
                         f"multiple of {groups}")
    if method not in ("auto", "xla", "im2col") or (method == "im2col" and groups != 1):
        raise ValueError(f"{name}: method must be 'auto', 'xla' or 'im2col' (im2col without groups), got {method!r} "
                         f"with groups={groups}")

    def init_params(key: jax.Array, input_shape: Shape) -> tuple[Params, State]:
        _check_window(name, input_shape, kernel, pads)
        channels = input_shape[1]
        if channels % groups:
            raise ShapeError(f"{name}: inputs of shape {tuple(input_shape)} have {channels} channels, which cannot "
                             f"be cut into {groups} groups")
        fan_in = channels // groups * kernel[0] * kernel[1]
        key_W, key_b = jax.random.split(key)
        W = (W_init or torch_linear_uniform(fan_in))(key_W, (out_channels, channels // groups, *kernel), jnp.float32)
        if not bias:
            return {"W": W}, None
        b = (b_init or torch_linear_uniform(fan_in))(key_b, (out_channels,), jnp.float32)
        return {"W": W, "b": b}, None

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None):
        del train, rng
        W = params["W"]
        if X.ndim != 4 or X.shape[1] != W.shape[1] * groups:
            raise ShapeError(f"{name} was made for {W.shape[1] * groups} input channels (kernels of shape "
                             f"{tuple(W.shape)}) but got inputs of shape {tuple(X.shape)}; it takes (N, "
                             f"{W.shape[1] * groups}, H, W)")
        _check_window(name, X.shape, kernel, pads)
        return conv2d_apply(X, W, params.get("b"), strides, pads, groups, method), state

    return layer(name, init_params, apply)


def _pool(kind: str, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None,
          padding: int | Sequence[int]) -> Layer:
    label = {"max": "MaxPool2d", "avg": "AvgPool2d"}[kind]
    name = f"{label}({kernel_size!r})"
    kernel = _pair(kernel_size, "kernel_size", name, 1)
    strides = kernel if stride is None else _pair(stride, "stride", name, 1)
    pads = _pair(padding, "padding", name, 0)
    if pads[0] > kernel[0] // 2 or pads[1] > kernel[1] // 2:
        raise ValueError(f"{name}: padding {padding!r} is more than half the {kernel[0]} x {kernel[1]} window (as "
                         "PyTorch, a window must not lie wholly in the padding); use at most kernel_size // 2")
    window, steps = (1, 1, *kernel), (1, 1, *strides)
    widths = ((0, 0), (0, 0), (pads[0], pads[0]), (pads[1], pads[1]))

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None):
        del params, train, rng
        _check_window(name, X.shape, kernel, pads)
        if kind == "max":
            return jax.lax.reduce_window(X, -jnp.inf, jax.lax.max, window, steps, widths), state
        N, C, H, W = X.shape
        if strides == kernel and pads == (0, 0) and H % kernel[0] == 0 and W % kernel[1] == 0:
            # windows that tile the image: a reshape and a mean, whose gradient is a broadcast (a training step of
            # LeNet is ~10% faster than through reduce_window's)
            tiles = X.reshape(N, C, H // kernel[0], kernel[0], W // kernel[1], kernel[1])
            return tiles.mean(axis=(3, 5)), state
        total = jax.lax.reduce_window(X, 0.0, jax.lax.add, window, steps, widths)
        return total / (kernel[0] * kernel[1]), state  # count_include_pad=True, PyTorch's default

    def init_params(key: jax.Array | None, input_shape: Shape) -> tuple[Params, State]:
        _check_window(name, input_shape, kernel, pads)
        return (), None

    return layer(name, init_params, apply, init_takes_key=False)


def max_pool2d(kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0) -> Layer:
    """Maximum over each window of NCHW images, channel by channel (torch.nn.MaxPool2d).

    Args:
      kernel_size: the window, k or (kh, kw).
      stride: s or (sh, sw); None (PyTorch's default) steps by the window itself.
      padding: p or (ph, pw) on both sides, padded with -inf (never chosen); at most half the window.

    Returns:
      A Layer without parameters. Its gradient goes, within a window, to one maximum, as XLA's select-and-scatter
      picks it (d2l 7.5's experiment tests which one when several inputs tie).
    """
    return _pool("max", kernel_size, stride, padding)


def avg_pool2d(kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0) -> Layer:
    """Mean over each window of NCHW images, channel by channel (torch.nn.AvgPool2d).

    Args:
      kernel_size: the window, k or (kh, kw).
      stride: s or (sh, sw); None (PyTorch's default) steps by the window itself.
      padding: p or (ph, pw) zeros on both sides, counted in the mean (count_include_pad=True, PyTorch's
        default); at most half the window.

    Returns:
      A Layer without parameters.
    """
    return _pool("avg", kernel_size, stride, padding)


def global_avg_pool2d() -> Layer:
    """The mean of each channel over the whole image, (N, C, H, W) -> (N, C, 1, 1): torch.nn.AdaptiveAvgPool2d((1, 1)),
    which NiN, GoogLeNet and ResNet (d2l chapter 8) end with."""

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None):
        del params, train, rng
        if X.ndim != 4:
            raise ShapeError(f"GlobalAvgPool2d takes images (N, C, H, W), got shape {tuple(X.shape)}")
        return X.mean(axis=(2, 3), keepdims=True), state

    return layer("GlobalAvgPool2d", lambda key, shape: ((), None), apply, init_takes_key=False)


# ----------------------------------------------------------------------------- dropout


def check_rate(p: float) -> float:
    """Returns a dropout probability as a float, or raises a ValueError that says what is wrong with it."""
    try:
        rate = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"a dropout probability must be a number in [0, 1], got {p!r}") from None
    if not 0.0 <= rate <= 1.0:  # also refuses NaN
        raise ValueError(f"a dropout probability must lie in [0, 1], got {p!r}")
    return rate


def keep_mask(key: jax.Array, shape: Sequence[int], p: float) -> jax.Array:
    """d2l's mask: True where a uniform draw on [0, 1) exceeds p, so each entry is kept with probability 1 - p."""
    return jax.random.uniform(key, shape) > check_rate(p)


def bernoulli_mask(key: jax.Array, shape: Sequence[int], p: float) -> jax.Array:
    """The concise mask: jax.random.bernoulli keeps each entry with probability 1 - p (as nn.Dropout)."""
    return jax.random.bernoulli(key, 1.0 - check_rate(p), shape)


def given_mask(mask: jax.Array, shape: Sequence[int], p: float) -> jax.Array:
    """A mask handed in as the step's rng (a replay of another framework's masks): its first rows."""
    del p
    return mask[: shape[0]]


def apply_mask(X: jax.Array, mask: jax.Array, p: float) -> jax.Array:
    """Zeroes X where mask is False and scales the rest by 1 / (1 - p), so the expectation stays X."""
    p = check_rate(p)
    if p == 1.0:
        return jnp.zeros_like(X)
    return mask.astype(X.dtype) * X / (1.0 - p)


def dropout_layer(key: jax.Array, X: jax.Array, p: float,
                  mask: Callable[[Any, Sequence[int], float], jax.Array] = keep_mask) -> jax.Array:
    """d2l 5.6.1's dropout_layer as a function of an explicit key: the same key always drops the same entries
    (mask=bernoulli_mask draws as the concise layer does)."""
    return apply_mask(X, mask(key, X.shape, p), p)


def dropout(p: float, mask: Callable[[Any, Sequence[int], float], jax.Array] = keep_mask) -> Layer:
    """d2l 5.6's dropout: in training each entry is zeroed with probability p and the rest scaled by
    1 / (1 - p); in evaluation the input passes unchanged. mask(rng, shape, p) draws the keep-mask from the
    step's rng: `keep_mask` (d2l's from-scratch uniform > p, the default), `bernoulli_mask` (the concise
    layer), or `given_mask` (the rng is the mask itself)."""
    p = check_rate(p)

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None):
        del params
        if not train:
            return X, state
        if rng is None:
            raise ValueError(f"Dropout({p:g}) in training needs the step's rng (a key, or its mask); pass rng= "
                             "(fit does it with step_rng=), or train=False to evaluate")
        return apply_mask(X, mask(rng, X.shape, p), p), state

    return layer(f"Dropout({p:g})", lambda key, shape: ((), None), apply, init_takes_key=False,
                 stochastic=True)


# ----------------------------------------------------------------------------- batch normalisation


def batch_norm(momentum: float = 0.1, eps: float = 1e-5) -> Layer:
    """Batch normalisation over the batch (and spatial) axes of (N, C) or (N, C, H, W) inputs, as
    torch.nn.BatchNorm1d/2d: gamma = 1 and beta = 0 to start, running mean 0 and variance 1.

    Training normalises with the batch's mean and biased variance, and returns the running statistics
    moved towards the batch's by `momentum` (the running variance takes the unbiased batch variance, as
    PyTorch's does); evaluation normalises with the running statistics and leaves them unchanged. With a
    batch_mask (fit's padded last minibatch), the statistics are those of the masked-in examples alone.
    """

    def init_params(key: jax.Array | None, input_shape: Shape) -> tuple[Params, State]:
        if len(input_shape) not in (2, 4):
            raise ShapeError(f"BatchNorm takes (N, C) or (N, C, H, W) inputs, got shape {input_shape}")
        channels = input_shape[1]
        params = {"gamma": jnp.ones(channels), "beta": jnp.zeros(channels)}
        return params, {"mean": jnp.zeros(channels), "var": jnp.ones(channels)}

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None,
              batch_mask: jax.Array | None = None):
        del rng
        if state is None:
            raise ValueError("BatchNorm keeps running statistics: pass the state model.init returned (fit(..., state=state))")
        axes = (0,) if X.ndim == 2 else (0, 2, 3)
        shape = (1, -1) if X.ndim == 2 else (1, -1, 1, 1)
        if train:
            if batch_mask is None:
                mean, var = X.mean(axis=axes), X.var(axis=axes)
                count = math.prod(X.shape[a] for a in axes)
            else:
                weight = batch_mask.astype(X.dtype).reshape((-1,) + (1,) * (X.ndim - 1))
                count = batch_mask.astype(X.dtype).sum() * math.prod(X.shape[2:])
                mean = (weight * X).sum(axis=axes) / count
                var = (weight * (X - mean.reshape(shape)) ** 2).sum(axis=axes) / count
            unbiased = var * count / jnp.maximum(count - 1, 1)
            state = {"mean": (1 - momentum) * state["mean"] + momentum * mean,
                     "var": (1 - momentum) * state["var"] + momentum * unbiased}
        else:
            mean, var = state["mean"], state["var"]
        X_hat = (X - mean.reshape(shape)) / jnp.sqrt(var.reshape(shape) + eps)
        return params["gamma"].reshape(shape) * X_hat + params["beta"].reshape(shape), state

    return layer("BatchNorm", init_params, apply, init_takes_key=False, batch_dependent=True)


# ----------------------------------------------------------------------------- combinators


def _keys(key: jax.Array | None, takes: Sequence[bool]) -> list[jax.Array | None]:
    """One key per layer that draws (the key itself when only one does), None for the others."""
    count = sum(takes)
    if key is None or count == 0:
        return [None] * len(takes)
    keys = iter([key] if count == 1 else list(jax.random.split(key, count)))
    return [next(keys) if t else None for t in takes]


def _rngs(rng: Any, layers: Sequence[Layer]) -> list[Any]:
    """The step's rng shared among the stochastic layers: a key is split (passed whole to a lone one); a
    tuple or list gives each stochastic layer its own entry, in order (a replay's given masks)."""
    stochastic = [lay.stochastic for lay in layers]
    if rng is None or not any(stochastic):
        return [None] * len(layers)
    if isinstance(rng, (tuple, list)):
        if len(rng) != sum(stochastic):
            raise ValueError(f"rng holds {len(rng)} entries but the model has {sum(stochastic)} layers that draw "
                             "(dropout); give one entry per such layer")
        entries = iter(rng)
        return [next(entries) if s else None for s in stochastic]
    return _keys(rng, stochastic)


def _join(states: Sequence[State]) -> State:
    """A combinator's state: None when no layer keeps any, else the tuple of its layers' states."""
    return None if all(s is None for s in states) else tuple(states)


def _split(state: State, n: int) -> Sequence[State]:
    return [None] * n if state is None else state


def _check_params(params: Params, n: int, what: str) -> None:
    """Refuses params that do not hold one entry per layer (zip would drop the rest silently)."""
    if not isinstance(params, (tuple, list)) or len(params) != n:
        got = f"{len(params)} entries" if isinstance(params, (tuple, list)) else f"a {type(params).__name__}"
        raise ValueError(f"{what} of {n} layers takes params with one entry per layer (a tuple of {n}), got {got}; "
                         "pass the params its init made")


def _check_layers(layers: Sequence[Layer], what: str) -> None:
    if not layers:
        raise ValueError(f"{what} needs at least one layer")
    for i, lay in enumerate(layers):
        if not isinstance(lay, Layer):
            raise ValueError(f"{what}'s argument {i} is a {type(lay).__name__}, not a jaxdl.nn.Layer; build it with "
                             "jaxdl.nn (e.g. nn.linear(10)) or wrap a function with nn.function(fn)")


def _combined(init: Callable, apply: Callable, name: str, layers: Sequence[Layer]) -> Layer:
    """A combinator's Layer: it draws, is stochastic or batch-dependent where any of its layers is."""
    return Layer(init, apply, name, any(lay.init_takes_key for lay in layers), any(lay.stochastic for lay in layers),
                 any(lay.batch_dependent for lay in layers))


def serial(*layers: Layer) -> Layer:
    """The layers one after the other (torch.nn.Sequential): params and state are tuples, one entry per layer."""
    _check_layers(layers, "serial")
    n = len(layers)

    def init(key: jax.Array | None, input_shape: Shape) -> tuple[Shape, Params, State]:
        params, states, shape = [], [], tuple(input_shape)
        for i, (lay, k) in enumerate(zip(layers, _keys(key, [lay.init_takes_key for lay in layers]))):
            try:
                shape, p, s = lay.init(k, shape)
            except (TypeError, ValueError) as err:
                if isinstance(err, ShapeError):
                    raise ShapeError(f"layer {i} ({lay.name}): {err}") from None
                raise ShapeError(f"layer {i} ({lay.name}) cannot take inputs of shape {shape}: "
                                 f"{str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}"
                                 ) from None
            params.append(p)
            states.append(s)
        return shape, tuple(params), _join(states)

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None,
              batch_mask: jax.Array | None = None):
        _check_params(params, n, "serial")
        states = []
        for lay, p, s, r in zip(layers, params, _split(state, n), _rngs(rng, layers)):
            X, s = apply_layer(lay, p, s, X, train=train, rng=r, batch_mask=batch_mask)
            states.append(s)
        return X, _join(states)

    return _combined(init, apply, "serial", layers)


def branches(*layers: Layer, axis: int = 1) -> Layer:
    """Each layer on the same input, their outputs concatenated along `axis` (the channels of NCHW by
    default): Inception's parallel paths; ``branches(identity(), block)`` is DenseNet's concatenation."""
    _check_layers(layers, "branches")
    n = len(layers)

    def init(key: jax.Array | None, input_shape: Shape) -> tuple[Shape, Params, State]:
        results = [lay.init(k, tuple(input_shape))
                   for lay, k in zip(layers, _keys(key, [lay.init_takes_key for lay in layers]))]
        shapes = [r[0] for r in results]
        rest = {s[:axis % len(s)] + s[axis % len(s) + 1:] for s in shapes}
        if len(rest) != 1:
            raise ShapeError(f"branches give outputs of shapes {shapes}, which differ outside axis {axis}; "
                             "they cannot be concatenated")
        shape = list(shapes[0])
        shape[axis] = sum(s[axis] for s in shapes)
        return tuple(shape), tuple(r[1] for r in results), _join([r[2] for r in results])

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None,
              batch_mask: jax.Array | None = None):
        _check_params(params, n, "branches")
        outputs, states = [], []
        for lay, p, s, r in zip(layers, params, _split(state, n), _rngs(rng, layers)):
            Y, s = apply_layer(lay, p, s, X, train=train, rng=r, batch_mask=batch_mask)
            outputs.append(Y)
            states.append(s)
        return jnp.concatenate(outputs, axis=axis), _join(states)

    return _combined(init, apply, "branches", layers)


def residual(body: Layer, shortcut: Layer | None = None) -> Layer:
    """body(X) + shortcut(X) (ResNet's block; the shortcut is the identity unless given, e.g. a 1 x 1
    convolution). params and state are (body's, shortcut's)."""
    shortcut = identity() if shortcut is None else shortcut
    pair = (body, shortcut)
    _check_layers(pair, "residual")

    def init(key: jax.Array | None, input_shape: Shape) -> tuple[Shape, Params, State]:
        (shape_b, p_b, s_b), (shape_s, p_s, s_s) = (
            lay.init(k, tuple(input_shape)) for lay, k in zip(pair, _keys(key, [lay.init_takes_key for lay in pair])))
        if shape_b != shape_s:
            raise ShapeError(f"residual: the body gives shape {shape_b} but the shortcut {shape_s}; they must match "
                             "to be added (give the shortcut a 1 x 1 convolution)")
        return shape_b, (p_b, p_s), _join([s_b, s_s])

    def apply(params: Params, state: State, X: jax.Array, *, train: bool = False, rng: Any = None,
              batch_mask: jax.Array | None = None):
        (Y_b, s_b), (Y_s, s_s) = (apply_layer(lay, p, s, X, train=train, rng=r, batch_mask=batch_mask)
                                  for lay, p, s, r in zip(pair, params, _split(state, 2), _rngs(rng, pair)))
        return Y_b + Y_s, _join([s_b, s_s])

    return _combined(init, apply, "residual", pair)


def init(model: Layer, key: jax.Array, input_shape: Shape) -> tuple[Params, State]:
    """(params, state) of model for inputs of input_shape, from key (the output shape dropped)."""
    _, params, state = model.init(key, tuple(input_shape))
    return params, state


def param_shapes(model: Layer, input_shape: Shape) -> Any:
    """The parameters' shapes for inputs of input_shape, traced with jax.eval_shape: nothing is drawn
    (d2l 6.4's lazy initialisation, without arithmetic)."""
    return jax.eval_shape(lambda key: model.init(key, tuple(input_shape))[1], jax.random.key(0))
