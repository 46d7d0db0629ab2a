"""d2l 7.2 Convolutions for images: cross-correlation by the book's loops, vectorised and by XLA, edge detection, and
learning the edge kernel by gradient descent, replayed against PyTorch."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch7.conv import corr2d, corr2d_lax, corr2d_vectorised, stripes
from experiments.harness import references
from experiments.harness import replay as draws
from experiments.harness.result import cli, Result, Tolerance, Tolerances
from jaxdl import nn

SECTION = "7.2"
TITLE = "Convolutions for images"
REFERENCE = "ch7_2_conv_layer"

TOLERANCES: Tolerances = {
    "random corr2d": Tolerance(rtol=1e-6, atol=1e-6, why="a 3 x 4 window of float32 N(0, 1) values summed in another "
                                                          "order (12 products, sums of magnitude ~3: last-bit "
                                                          "differences, atol for sums near 0)"),
    "learning": Tolerance(rtol=1e-5, why="float32 sums of 42 squared errors and their gradients, in another order, "
                                         "carried through 10 updates (each entry of Y is exact: 0, 1 or -1)"),
    "learning gradients": Tolerance(rtol=1e-5, atol=1e-6, why="as 'learning', with atol for the gradients' entries "
                                                              "near 0 in the last epochs (sums of 42 terms of ~0.1)"),
}


def learn_kernel(X: jax.Array, Y: jax.Array, init: np.ndarray, lr: float, epochs: int) -> dict[str, Any]:
    """d2l 7.2.4 in JAX: a bias-free 1 x 2 convolution from the given kernel, the summed squared error, and
    W -= lr * grad for `epochs` steps; the loss and gradient of every step and the learned kernel."""
    conv = nn.conv2d(1, (1, 2), bias=False)
    X, Y = X.reshape(1, 1, 6, 8), Y.reshape(1, 1, 6, 7)

    def loss(params: dict[str, jax.Array]) -> jax.Array:
        return ((conv(params, X) - Y) ** 2).sum()

    step = jax.jit(jax.value_and_grad(loss))
    params = {"W": jnp.asarray(init)}
    losses, grads = [], []
    for _ in range(epochs):
        value, g = step(params)
        params = {"W": params["W"] - lr * g["W"]}
        losses.append(value)
        grads.append(g["W"])
    return {"losses": np.array(losses), "grads": np.array(grads), "kernel": np.asarray(params["W"]).reshape(1, 2)}


def fmt(a: Any) -> str:
    """A small array's entries to four decimals, as the book prints tensors."""
    return "[" + ", ".join(f"{v:.4f}" for v in np.ravel(a)) + "]"


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    X = jnp.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = jnp.array([[0.0, 1.0], [2.0, 3.0]])
    for name, fn in (("book's loops", corr2d), ("vectorised", corr2d_vectorised), ("lax.conv_general_dilated", corr2d_lax)):
        result.compare(f"corr2d of the 3 x 3 example, {name}", fn(X, K), ref["corr2d_3x3"])
    edges, K_edge = stripes(), jnp.array([[1.0, -1.0]])
    result.compare("the 6 x 8 stripes image", edges, ref["stripes"])
    for name, fn in (("book's loops", corr2d), ("vectorised", corr2d_vectorised), ("lax.conv_general_dilated", corr2d_lax)):
        result.compare(f"edges of the stripes, K = [[1, -1]], {name}", fn(edges, K_edge), ref["edges"])
        result.compare(f"edges of the transposed stripes (none), {name}", fn(edges.T, K_edge), ref["edges_transposed"])
    rand = ref["random"]
    Xr, Kr = jnp.asarray(rand["X"], jnp.float32), jnp.asarray(rand["K"], jnp.float32)
    for name, fn in (("book's loops", corr2d), ("vectorised", corr2d_vectorised), ("lax.conv_general_dilated", corr2d_lax)):
        result.compare(f"random 9 x 11 image, 3 x 4 kernel, {name} vs PyTorch's corr2d", fn(Xr, Kr), rand["corr2d"],
                       tol=TOLERANCES["random corr2d"])
    result.compare("random: lax.conv_general_dilated vs F.conv2d", corr2d_lax(Xr, Kr), rand["F.conv2d"],
                   tol=TOLERANCES["random corr2d"])

    learn = ref["learn"]
    init = draws.kernel_draw(learn["seed"])
    result.compare("learning: initial kernel (sha256)", draws.checksum(init)[:16],
                   draws.checksum(np.asarray(learn["init"], np.float32))[:16])
    ours = learn_kernel(edges, corr2d_vectorised(edges, K_edge), init, learn["lr"], learn["epochs"])
    tol = TOLERANCES["learning"]
    result.compare(f"learning: summed loss of every epoch ({learn['epochs']})", ours["losses"], learn["losses"], tol=tol)
    result.compare("learning: gradient of every epoch", ours["grads"], learn["grads"], tol=TOLERANCES["learning gradients"])
    result.compare("learning: the learned kernel", ours["kernel"], learn["kernel"], tol=tol)
    lines = "\n".join(f"| {e} | {ours['losses'][e - 1]:.3f} | {learn['losses'][e - 1]:.3f} |"
                      for e in range(2, learn["epochs"] + 1, 2))
    result.text(
        "Cross-correlation three ways: the book's double loop (one `.at[i, j].set` per output), a vectorised sum over "
        "the kernel's entries of shifted images, and `lax.conv_general_dilated` (what `jaxdl.nn.conv2d` runs). All "
        "three give PyTorch's numbers exactly on the book's integer examples. The kernel [[1, -1]] marks the two "
        "vertical edges of the stripes image with 1 (white to black) and -1 (black to white); on the transposed "
        "image the edges are horizontal and it sees none.\n\n"
        f"Learning the kernel: from the same NumPy initial kernel {fmt(init)}, "
        f"lr {learn['lr']}, the summed squared error every second epoch (the book prints these):\n\n"
        "| epoch | jaxdl loss | PyTorch loss |\n|---|---|---|\n" + lines
        + f"\n\nThe learned kernel is {fmt(ours['kernel'])} (PyTorch {fmt(learn['kernel'])}), close to the [[1, -1]] "
        "that made Y."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
