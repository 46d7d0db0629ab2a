"""d2l 7.2's exercises: the edge kernel on a diagonal edge (and transposed), a second-difference kernel, and
cross-correlation written as one matrix product (the kernel's doubly-blocked matrix, and the image's patches)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from experiments.ch7.conv import corr2d_vectorised
from experiments.harness import references
from experiments.harness.result import cli, Result, Tolerances

SECTION = "7.2"
TITLE = "Convolutions for images: exercises"
REFERENCE = "ch7_2_conv_layer_exercises"

TOLERANCES: Tolerances = {}  # every number here is a small integer: exact in float32


def kernel_matrix(K: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Exercise 4: the matrix M with vec(corr2d(X, K)) = M vec(X) for every image X of image_shape (row-major vec):
    row (i, j) holds K at the entries of the window at (i, j), zeros elsewhere (a doubly-blocked Toeplitz matrix)."""
    h, w = K.shape
    H, W = image_shape
    rows, cols = H - h + 1, W - w + 1
    M = np.zeros((rows * cols, H * W), K.dtype)
    for i in range(rows):
        for j in range(cols):
            for a in range(h):
                M[i * cols + j, (i + a) * W + j:(i + a) * W + j + w] = K[a]
    return M


def patches(X: np.ndarray, kernel_shape: tuple[int, int]) -> np.ndarray:
    """Exercise 4 the other way round (im2col): one row per output entry holding its window, so that
    corr2d(X, K) = patches(X) @ vec(K)."""
    h, w = kernel_shape
    rows, cols = X.shape[0] - h + 1, X.shape[1] - w + 1
    return np.stack([X[i:i + h, j:j + w].ravel() for i in range(rows) for j in range(cols)])


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    X = jnp.tril(jnp.ones((8, 8)))
    K = jnp.array([[1.0, -1.0]])
    result.compare("exercise 1: the diagonal image", X, ref["diagonal"])
    for name, Y in (("K on X", corr2d_vectorised(X, K)), ("K on X.T", corr2d_vectorised(X.T, K)),
                    ("K.T on X", corr2d_vectorised(X, K.T))):
        result.compare(f"exercise 1: {name} vs F.conv2d", Y, ref[name])
    on_x, on_xt, kt_x = (np.asarray(ref[n]) for n in ("K on X", "K on X.T", "K.T on X"))
    result.compare("exercise 1: K on X.T is (K.T on X).T (transposing the image = transposing the kernel)", on_xt, kt_x.T)
    result.compare("exercise 1: K marks one entry in each of rows 0-6, where the diagonal edge crosses them",
                   (on_x != 0).sum(axis=1), [1] * 7 + [0])

    grid = jnp.arange(8.0)
    quadratic = grid[:, None] ** 2 + grid[None, :] ** 2
    second = corr2d_vectorised(quadratic, jnp.array([[1.0, -2.0, 1.0]]))
    result.compare("exercise 2: [1, -2, 1] on x^2 + y^2 vs F.conv2d", second, ref["second difference on x^2 + y^2"])
    result.compare("exercise 2: ... is the second derivative along x, 2, everywhere", second, np.full((8, 6), 2.0))

    edges = np.asarray(X)
    M = kernel_matrix(np.asarray(K), edges.shape)
    result.compare("exercise 4: the kernel's matrix is (outputs, pixels) = (56, 64)", list(M.shape), [56, 64])
    result.compare("exercise 4: M @ vec(X) vs F.conv2d", (M @ edges.ravel()).reshape(8, 7), ref["K on X"])
    result.compare("exercise 4: patches(X) @ vec(K) vs F.conv2d", (patches(edges, (1, 2)) @ np.asarray(K).ravel())
                   .reshape(8, 7), ref["K on X"])
    result.text(
        "Exercise 1: on an image whose lower triangle is white, [[1, -1]] responds with 1 once in each row that the "
        "diagonal edge crosses inside the output (the last row's edge falls on the last column, outside it). "
        "Transposing the image gives the output that the transposed kernel [[1], [-1]] gives on the original, "
        "transposed: corr2d(X.T, K) = corr2d(X, K.T).T, here -1 just below the diagonal. A diagonal edge has both a "
        "horizontal and a vertical component, so both kernels see it, unlike the stripes' vertical edges.\n\n"
        "Exercise 2: the second-difference kernel [1, -2, 1] (the smallest: a derivative of order d needs d + 1 "
        "taps) gives 2 everywhere on x^2 + y^2, the second derivative along x; it responds most to thin lines and "
        "corners. A blur kernel is a positive kernel that sums to 1 (a box or a Gaussian), to remove noise before "
        "taking differences.\n\n"
        f"Exercise 4: cross-correlation is linear in X, so it is one matrix product: the kernel laid out on a "
        f"{M.shape[0]} x {M.shape[1]} matrix (mostly zeros, a doubly-blocked Toeplitz matrix), or the image's "
        "windows laid out as rows (im2col) times the kernel as a vector, which is how a convolution can run as one "
        "matrix product. Both give PyTorch's numbers exactly."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
