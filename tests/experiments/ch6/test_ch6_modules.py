"""d2l 6.1, 6.2, 6.4, 6.5: the builders' guide networks as layer values reproduce PyTorch's stored outputs and
gradients, names follow torch's, tied parameters sum their gradients, errors name the layer and the shapes.
Runs without torch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch6 import modules
from experiments.harness import references
from jaxdl import nn
from jaxdl import state_dict as sd


@pytest.fixture(scope="module")
def ref61():
    return references.load("ch6_1_model_construction")


@pytest.fixture(scope="module")
def ref62():
    return references.load("ch6_2_parameters")


def test_mlp_class_names_follow_its_attributes_and_output_equals_torch(ref61):
    X = jnp.asarray(ref61["X"], jnp.float32)
    seq = ref61["sequential"]
    model = modules.mlp_module()
    stored = {new: seq["state_dict"][old] for new, old in zip(ref61["mlp"]["state_dict_names"], seq["state_dict_names"])}
    params = modules.load_torch(model, X.shape, stored)
    np.testing.assert_allclose(model(params, X), ref61["mlp"]["output"], rtol=1e-6, atol=1e-7)
    fresh = nn.init(model, jax.random.key(0), X.shape)[0]
    assert [n for n, _ in sd.named_parameters(fresh)] == ref61["mlp"]["state_dict_names"]


def test_fixed_hidden_mlp_loop_counts_like_torch_under_jit_and_passes_no_gradient_to_the_constant(ref61):
    X = jnp.asarray(ref61["X"], jnp.float32)
    rec = ref61["fixed_hidden"]
    net = modules.fixed_hidden_mlp(rec["rand_weight"])
    params = modules.load_torch(net, X.shape, rec["state_dict"])
    np.testing.assert_allclose(jax.jit(net.__call__)(params, X), rec["output"], atol=2.5e-6)
    grads = jax.grad(net.__call__)(params, X)
    np.testing.assert_allclose(grads["linear"]["W"], rec["grads"]["linear.weight"], rtol=1e-5, atol=1e-7)
    R = jnp.asarray(rec["rand_weight"], jnp.float32)
    stopped = jax.grad(lambda w: modules.fixed_hidden_mlp(w)(params, X))(R)
    assert not np.any(np.asarray(stopped))
    # without stop_gradient the constant would receive a gradient: the test above can fail
    assert np.abs(jax.grad(lambda w: modules.fixed_hidden_mlp(w, stop=False)(params, X))(R)).max() > 1e-3


@pytest.mark.parametrize("scale", [0.01, 1.0, 3.0])
def test_halvings_is_the_while_loop_and_halving_is_exact(scale):
    X = scale * jnp.arange(1.0, 9.0) / 36.0  # |X|.sum() = scale
    k = jax.jit(modules.halvings)(X * 20)
    Y = X * 20
    expected = 0
    while float(jnp.abs(Y).sum()) > 1:
        Y, expected = Y / 2, expected + 1
    assert int(k) == expected
    np.testing.assert_array_equal(modules.halve_until_small(X * 20), Y)
    assert jax.grad(lambda x: modules.halve_until_small(x).sum())(X * 20)[0] == 2.0 ** -expected


def test_chimera_gradients_equal_torch_by_name(ref61):
    X = jnp.asarray(ref61["X"], jnp.float32)
    rec = ref61["chimera"]
    net = modules.chimera(rec["rand_weight"])
    params = modules.load_torch(net, X.shape, rec["state_dict"])
    for name, g in sd.named_parameters(jax.grad(net.__call__)(params, X)):
        np.testing.assert_allclose(g, rec["grads"][name], rtol=1e-5, atol=1e-7, err_msg=name)
    assert [n for n, _ in sd.named_parameters(nn.init(net, jax.random.key(0), X.shape)[0])] == rec["state_dict_names"]


def test_composite_names_the_child_that_cannot_take_its_input():
    bad = modules.composite("Bad", {"a": nn.linear(4), "b": modules.sized(nn.linear(2), 3)},
                            lambda call, X: call("b", call("a", X)))
    with pytest.raises(nn.ShapeError, match=r"Bad\.b .*3 input features.*\(2, 4\)"):
        nn.init(bad, jax.random.key(0), (2, 5))
    unused = modules.composite("Unused", {"a": nn.linear(4), "b": nn.linear(2)}, lambda call, X: call("a", X))
    with pytest.raises(nn.ShapeError, match="never calls child 'b'"):
        nn.init(unused, jax.random.key(0), (2, 5))


def test_tied_gradient_is_torchs_shared_grad_and_the_sum_of_both_uses(ref62):
    X = jnp.asarray(ref62["X"], jnp.float32)
    rec = ref62["tied"]
    tied = modules.tied_mlp()
    params = modules.load_torch(tied, X.shape, {k: v for k, v in rec["state_dict"].items() if not k.startswith("4.")})
    g = jax.grad(lambda p: tied(p, X).sum())(params)
    np.testing.assert_allclose(g["2"]["W"], rec["grads"]["2.weight"], rtol=1e-5, atol=1e-7)
    untied = modules.untied_mlp()
    up = {"0": params["0"], "2": params["2"], "4": params["2"], "6": params["6"]}
    ug = jax.grad(lambda p: untied(p, X).sum())(up)
    np.testing.assert_allclose(g["2"]["W"], ug["2"]["W"] + ug["4"]["W"], rtol=1e-5, atol=1e-7)
    # one use alone is not the tied gradient
    assert np.abs(np.asarray(g["2"]["W"] - ug["2"]["W"])).max() > 1e-3


def test_the_whole_tied_state_dict_is_refused_naming_the_duplicate(ref62):
    rec = ref62["tied"]
    with pytest.raises(sd.StateDictError, match="'4.weight'"):
        modules.load_torch(modules.tied_mlp(), (2, 4), modules.in_torch_order(rec))


def test_initialise_redraws_only_the_chosen_leaves():
    params = nn.init(nn.serial(nn.linear(8), nn.relu(), nn.linear(1)), jax.random.key(0), (2, 4))[0]
    new = modules.initialise(params, jax.random.key(1),
                             lambda name: jax.nn.initializers.constant(42.0) if name == "2.weight" else None)
    np.testing.assert_array_equal(new[2]["W"], 42.0)
    for a, b in ((new[0]["W"], params[0]["W"]), (new[0]["b"], params[0]["b"]), (new[2]["b"], params[2]["b"])):
        np.testing.assert_array_equal(a, b)


def test_my_init_draws_zero_or_at_least_five():
    w = np.asarray(modules.my_init(jax.random.key(0), (100, 100)))
    assert np.all((w == 0) | ((np.abs(w) >= 5) & (np.abs(w) <= 10)))
    assert 0.45 < (w == 0).mean() < 0.55


def test_my_linear_detached_gets_no_gradient_and_checks_its_input_size():
    layer = modules.my_linear(5, 3, detach=True)
    params = nn.init(layer, jax.random.key(0), (2, 5))[0]
    X = jnp.ones((2, 5))
    g = jax.grad(lambda p: layer(p, X).sum())(params)
    assert not np.any(np.asarray(g["W"])) and not np.any(np.asarray(g["b"]))
    g = jax.grad(lambda p: modules.my_linear(5, 3)(p, X).sum())(params)
    assert np.abs(np.asarray(g["W"])).max() > 0
    with pytest.raises(nn.ShapeError, match=r"MyLinear\(5, 3\).*\(2, 4\)"):
        nn.init(layer, jax.random.key(0), (2, 4))


def test_tensor_reduction_and_fourier_layers_equal_torch():
    ref = references.load("ch6_5_custom_layer_exercises")
    tr = ref["tensor_reduction"]
    y = modules.tensor_reduction(3)({"W": jnp.asarray(tr["W"], jnp.float32)}, jnp.asarray(tr["X"], jnp.float32))
    np.testing.assert_allclose(y, tr["y"], rtol=1e-6, atol=1e-7)
    fo = ref["fourier"]
    c = modules.leading_fourier(jnp.asarray(fo["X"], jnp.float32))
    np.testing.assert_allclose(c.real, fo["real"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c.imag, fo["imag"], rtol=1e-6, atol=1e-6)


def test_shared_feature_net_takes_any_number_of_features():
    net = modules.shared_feature_net()
    params = nn.init(net, jax.random.key(0), (2, 7))[0]
    for d in (1, 7, 50):
        assert net(params, jnp.ones((3, d))).shape == (3, 10)
