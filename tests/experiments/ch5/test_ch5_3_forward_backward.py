"""d2l 5.3: hand-derived backpropagation against jax.grad, stored PyTorch autograd and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from experiments.ch5 import ch5_3_forward_backward as fb
from experiments.harness import references


@pytest.fixture(scope="module")
def ref():
    return references.load(fb.REFERENCE)


@pytest.fixture(scope="module")
def problem(ref):
    return fb.problem(ref)


def test_forward_pass_matches_torch(ref, problem):
    f = fb.forward(*problem)
    for name, theirs in ref["forward"].items():
        np.testing.assert_allclose(f[name], theirs, rtol=1e-6, atol=1e-7, err_msg=name)


def test_hand_derived_weight_gradients_equal_jax_grad_and_torch(ref, problem):
    by_hand = fb.backward(*problem)
    by_jax = jax.grad(fb.objective)(*problem)
    for name in ("W1", "W2"):
        np.testing.assert_allclose(by_hand[name], by_jax[name], rtol=1e-5, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(by_hand[name], ref["grads"][name], rtol=1e-5, atol=1e-7, err_msg=name)


def test_hand_derived_intermediate_gradients_equal_jax_and_torch_retain_grad(ref, problem):
    by_hand = fb.backward(*problem)
    by_jax = fb.intermediate_grads(*problem)
    for name in ("o", "h", "z"):
        np.testing.assert_allclose(by_hand[name], by_jax[name], rtol=1e-5, atol=1e-8, err_msg=name)
        np.testing.assert_allclose(by_hand[name], ref["grads"][name], rtol=1e-5, atol=1e-8, err_msg=name)


def test_penalty_gradient_is_lambda_times_weights(problem):
    params, X, y, lam = problem
    without = fb.backward(params, X, y, 0.0)
    with_penalty = fb.backward(params, X, y, lam)
    for name in ("W1", "W2"):
        np.testing.assert_allclose(with_penalty[name] - without[name], lam * params[name], rtol=1e-5, atol=1e-7)


def test_objective_gradients_pass_finite_differences(problem):
    params, X, y, lam = problem
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        objective = jax.jit(lambda p: fb.objective(p, jnp.asarray(X, jnp.float64), y, lam))
        check_grads(objective, (params64,), order=2, modes=("rev",))


def test_graph_has_a_node_per_equation_and_edges_between_existing_nodes(problem):
    closed = jax.make_jaxpr(fb.objective, static_argnums=3)(*problem)
    nodes, edges = fb.graph(closed, ["W1", "W2", "X", "y"])
    assert len(nodes) == 4 + len(closed.jaxpr.eqns) + 1
    assert all(0 <= s < len(nodes) and 0 <= d < len(nodes) and nodes[s]["depth"] < nodes[d]["depth"]
               for s, d, _ in edges)
    labels = [n["label"].split("\n")[0] for n in nodes]
    assert labels.count("dot_general") == 2 and labels.count("integer_pow") == 2
    # every input reaches the output
    reached = {len(nodes) - 1}
    for s, d, _ in sorted(edges, key=lambda e: -nodes[e[1]]["depth"]):
        if d in reached:
            reached.add(s)
    assert {0, 1, 2, 3} <= reached
