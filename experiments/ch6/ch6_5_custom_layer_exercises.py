"""d2l 6.5 exercises: a tensor-reduction layer y_k = sum_ij W_ijk x_i x_j and a layer returning the leading half of
the Fourier coefficients; outputs and gradients beside PyTorch's, gradients also by jax.test_util.check_grads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.test_util import check_grads

from experiments.ch6 import modules
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli

SECTION = "6.5"
TITLE = "Custom layers: exercises"
REFERENCE = "ch6_5_custom_layer_exercises"

TOLERANCES: Tolerances = {
    "forward": Tolerance(rtol=1e-6, atol=1e-7, why="float32 sums of 25 products (the reduction) or 8 (the DFT) "
                                                    "in another order than torch's: last-bit differences; atol for "
                                                    "entries near 0 (the DFT's imaginary part at k = 0)"),
    "gradients": Tolerance(rtol=1e-5, atol=1e-6, why="float32 gradients of the same sums, accumulated in other "
                                                     "orders"),
}


def passes_check_grads(fn, args, order: int = 2) -> bool:
    """jax.test_util.check_grads in float64 up to `order`, forward and reverse mode (False where it fails)."""
    with jax.enable_x64(True):
        args64 = tuple(jnp.asarray(a, jnp.float64) for a in args)
        try:
            check_grads(fn, args64, order=order, modes=("fwd", "rev"))
        except AssertionError:
            return False
    return True


def run(result: Result, fast: bool) -> None:
    order = 1 if fast else 2  # second-order checks compile twice as many float64 programs
    ref = references.load(REFERENCE)

    tr = ref["tensor_reduction"]
    W, X = jnp.asarray(tr["W"], jnp.float32), jnp.asarray(tr["X"], jnp.float32)
    layer = modules.tensor_reduction(3)
    y = layer({"W": W}, X)
    result.compare("tensor reduction y_k = sum_ij W_ijk x_i x_j", y, tr["y"], tol=TOLERANCES["forward"])
    loss = lambda W, X: (layer({"W": W}, X) ** 2).sum()  # noqa: E731
    gW, gX = jax.grad(loss, argnums=(0, 1))(W, X)
    result.compare("d sum(y^2) / dW vs torch", gW, tr["grad_W"], tol=TOLERANCES["gradients"])
    result.compare("d sum(y^2) / dX vs torch", gX, tr["grad_X"], tol=TOLERANCES["gradients"])
    by_hand = jnp.einsum("ijk,nj->nik", W, X) + jnp.einsum("jik,nj->nik", W, X)  # dy_nk / dx_ni
    result.compare("dy/dx by hand: sum_j (W_ijk + W_jik) x_j, = jax.jacobian",
                   by_hand.transpose(0, 2, 1),
                   jnp.einsum("nkni->nki", jax.jacobian(lambda X: layer({"W": W}, X))(X)),
                   tol=TOLERANCES["gradients"])
    result.compare(f"check_grads (float64, order {order}, fwd and rev)", passes_check_grads(loss, (W, X), order),
                   True)

    fo = ref["fourier"]
    Xf, A, B = (jnp.asarray(fo[k], jnp.float32) for k in ("X", "A", "B"))
    coeffs = modules.fourier_layer()((), Xf)
    result.compare("leading half of the DFT coefficients (complex)", coeffs,
                   jnp.asarray(fo["real"]) + 1j * jnp.asarray(fo["imag"]), tol=TOLERANCES["forward"])
    f_loss = lambda X, A, B: (modules.leading_fourier(X).real * A + modules.leading_fourier(X).imag * B).sum()  # noqa: E731
    result.compare("d sum(A Re c + B Im c) / dX vs torch", jax.grad(f_loss)(Xf, A, B), fo["grad_X"],
                   tol=TOLERANCES["gradients"])
    result.compare(f"check_grads (float64, order {order}, fwd and rev)",
                   passes_check_grads(f_loss, (Xf, A, B), order), True)
    result.text(
        "Exercise 1. `modules.tensor_reduction(units)` holds W (inputs, inputs, units) and computes "
        "`einsum('ijk,ni,nj->nk', W, X, X)`, a quadratic form per output; its gradient in x is "
        "sum_j (W_ijk + W_jik) x_j (only W's symmetric part matters), checked against `jax.jacobian`, against "
        "PyTorch's autograd for the same W and X, and by `check_grads` (finite differences in float64, first "
        "and, in the default run, second order).\n\n"
        "Exercise 2. `modules.fourier_layer()` has no parameters and returns `jnp.fft.fft(X)[..., :n // 2]`, "
        f"the first {Xf.shape[-1] // 2} of {Xf.shape[-1]} coefficients of each row (for real input the rest are "
        "their complex conjugates, so nothing is lost but the Nyquist term). Its output is complex; the "
        "gradient of a real function of it (here sum(A Re c + B Im c)) is real and equals PyTorch's."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
