"""d2l 8.5: the from-scratch batch_norm and nn.batch_norm against the stored PyTorch steps."""

import numpy as np
import pytest

from experiments.ch8 import ch8_5_batch_norm as m
from experiments.harness import references
from experiments.harness import replay as draws


@pytest.fixture(scope="module")
def ref():
    return references.load(m.REFERENCE)


@pytest.mark.parametrize("shape_name", ["2d", "4d"])
@pytest.mark.parametrize("kind", ["scratch", "module"])
def test_running_statistics_after_every_step_match_torch(ref, shape_name, kind):
    stored = ref["bn_steps"][shape_name]
    d = draws.batch_norm_draws(stored["seed"], stored["shape"], len(stored[kind]["steps"]))
    ours = (m.scratch_steps if kind == "scratch" else m.layer_steps)(d, ref["step_lr"])
    tol = m.TOLERANCES["running stats"]
    for o, t in zip(ours["steps"], stored[kind]["steps"], strict=True):
        np.testing.assert_allclose(o["running_mean"], t["running_mean"], rtol=tol.rtol, atol=tol.atol)
        np.testing.assert_allclose(o["running_var"], t["running_var"], rtol=tol.rtol, atol=tol.atol)


def test_scratch_and_layer_moving_variances_differ_as_biased_and_unbiased(ref):
    stored = ref["bn_steps"]["2d"]
    n = stored["shape"][0]
    scratch, module = stored["scratch"]["steps"][0], stored["module"]["steps"][0]
    batch_var_biased = (np.asarray(scratch["running_var"]) - 0.9) / 0.1
    batch_var_unbiased = (np.asarray(module["running_var"]) - 0.9) / 0.1
    np.testing.assert_allclose(batch_var_unbiased, batch_var_biased * n / (n - 1), rtol=1e-5)


def test_batch_norm_refuses_a_3d_input():
    import jax.numpy as jnp
    with pytest.raises(ValueError, match="inputs"):
        m.batch_norm(jnp.ones((2, 3, 4)), 1.0, 0.0, 0.0, 1.0, train=True)
