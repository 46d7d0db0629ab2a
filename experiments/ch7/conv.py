"""d2l 7.2-7.5's from-scratch operations in JAX, shared by those sections and their exercises (a support module,
not an experiment): cross-correlation by the book's loops and vectorised, several channels in and out, the 1 x 1
convolution as a matrix product, and pooling by loops."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import nn


def corr2d(X: jax.Array, K: jax.Array) -> jax.Array:
    """d2l 7.2's corr2d as the book writes it: one output entry at a time, Y[i, j] = sum(X[i:i+h, j:j+w] * K).

    Args:
      X: an (H, W) image.
      K: an (h, w) kernel.

    Returns:
      Y of shape (H - h + 1, W - w + 1) (Python loops over .at[].set: for small images only).
    """
    h, w = K.shape
    Y = jnp.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1), X.dtype)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y = Y.at[i, j].set(jnp.sum(X[i:i + h, j:j + w] * K))
    return Y


def corr2d_vectorised(X: jax.Array, K: jax.Array) -> jax.Array:
    """The same cross-correlation without a loop over outputs: the sum over the kernel's h * w entries of K[a, b]
    times the image shifted by (a, b).

    Args:
      X: an (H, W) image.
      K: an (h, w) kernel.

    Returns:
      Y of shape (H - h + 1, W - w + 1).
    """
    h, w = K.shape
    rows, cols = X.shape[0] - h + 1, X.shape[1] - w + 1
    return sum(K[a, b] * X[a:a + rows, b:b + cols] for a in range(h) for b in range(w))


def corr2d_lax(X: jax.Array, K: jax.Array) -> jax.Array:
    """The same through lax.conv_general_dilated (jaxdl.nn.conv2d_apply), the image and kernel given the batch and
    channel axes of NCHW and OIHW."""
    return nn.conv2d_apply(X[None, None], K[None, None])[0, 0]


def corr2d_multi_in(X: jax.Array, K: jax.Array) -> jax.Array:
    """d2l 7.4: (C, H, W) images and (C, h, w) kernels: the sum over channels of each channel's corr2d."""
    return sum(corr2d_vectorised(x, k) for x, k in zip(X, K))


def corr2d_multi_in_out(X: jax.Array, K: jax.Array) -> jax.Array:
    """d2l 7.4: (O, C, h, w) kernels: one corr2d_multi_in per output channel, stacked (O, H', W')."""
    return jnp.stack([corr2d_multi_in(X, k) for k in K], 0)


def corr2d_multi_in_out_1x1(X: jax.Array, K: jax.Array) -> jax.Array:
    """d2l 7.4: a 1 x 1 convolution as a fully connected layer per pixel: (O, C) @ (C, H * W)."""
    c_i, h, w = X.shape
    c_o = K.shape[0]
    return (K.reshape(c_o, c_i) @ X.reshape(c_i, h * w)).reshape(c_o, h, w)


def pool2d(X: jax.Array, pool_size: tuple[int, int], mode: str = "max") -> jax.Array:
    """d2l 7.5's pool2d: the max or mean of each p_h x p_w window of an (H, W) image, stride 1, no padding, one
    output entry at a time (jnp.max and jnp.mean of a slice)."""
    if mode not in ("max", "avg"):
        raise ValueError(f"pool2d's mode is 'max' or 'avg', got {mode!r}")
    p_h, p_w = pool_size
    Y = jnp.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1), X.dtype)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            window = X[i:i + p_h, j:j + p_w]
            Y = Y.at[i, j].set(window.max() if mode == "max" else window.mean())
    return Y


def stripes() -> jax.Array:
    """d2l 7.2's 6 x 8 image: ones with columns 2 to 5 black (zero), two vertical edges."""
    return jnp.ones((6, 8)).at[:, 2:6].set(0.0)
