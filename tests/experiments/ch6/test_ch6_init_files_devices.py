"""d2l 6.3, 6.6, 6.7: the sampling checks pass for the right distributions and fail just outside what they claim;
files round-trip bit for bit, PyTorch's file loads and misfits are refused (torch's side where installed); the
device facts hold on forced CPU devices."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ch6 import ch6_3_init_param as init_param
from experiments.ch6 import ch6_6_file_io as file_io
from experiments.ch6 import devices, modules, sampling
from experiments.harness import references
from jaxdl import nn
from jaxdl import state_dict as sd

SHAPE = (256, 512)
HAVE_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def big():
    return references.load(init_param.REFERENCE)["big"]


def test_the_tables_bound_is_the_support_modules():
    assert init_param.TOLERANCES["sampling_z"] is sampling.SAMPLING_Z and sampling.SAMPLING_Z.value == 4.0


@pytest.mark.parametrize("name", ["normal", "xavier_uniform", "my_init"])
def test_each_initialiser_passes_against_torchs_draws(big, name):
    w = init_param.big_draws(jax.random.key(11), SHAPE)[name]
    assert sampling.passes(w, big[name], init_param.theory()[name])


@pytest.mark.parametrize("scale", [0.97, 1.03])
def test_a_normal_three_percent_off_in_scale_fails(big, scale):
    # 3% in std is 6% in variance, about 12 standard errors of the difference at 131072 draws each
    w = jax.nn.initializers.normal(0.01 * scale)(jax.random.key(12), SHAPE)
    assert not sampling.passes(w, big["normal"])
    assert abs(sampling.variance_z(sampling.statistics(w), big["normal"])) > sampling.SAMPLING_Z.value


def test_the_variance_check_fails_just_outside_its_bound(big):
    """Scale the same draws so that the expected z of the variance sits just inside and just outside 4."""
    w = np.asarray(jax.nn.initializers.normal(0.01)(jax.random.key(13), SHAPE), np.float64)
    ours, theirs = sampling.statistics(w), big["normal"]
    z0 = sampling.variance_z(ours, theirs)
    se = (ours["var"] - theirs["var"]) / z0  # the standard error of the difference
    for target, inside in ((3.9, True), (4.1, False)):
        c = np.sqrt((theirs["var"] + target * se) / ours["var"])  # var(c w) = c^2 var(w)
        assert (abs(sampling.variance_z(sampling.statistics(c * w), theirs)) <= 4) == inside


def test_a_uniform_on_the_wrong_interval_fails_the_cdf_rows(big):
    bound = np.sqrt(6 / 768) * 0.97
    w = jax.random.uniform(jax.random.key(14), SHAPE, minval=-bound, maxval=bound)
    assert np.abs(sampling.cdf_z(w, big["xavier_uniform"])).max() > 4


def test_my_init_zeroing_at_four_instead_of_five_fails(big):
    w = jax.random.uniform(jax.random.key(15), SHAPE, minval=-10.0, maxval=10.0)
    w = w * (jnp.abs(w) >= 4)
    ours = sampling.statistics(w)
    z = sampling.fraction_z(ours["zero_fraction"], ours["n"], big["my_init"]["zero_fraction"], big["my_init"]["n"])
    assert abs(z) > 4 and not sampling.passes(w, big["my_init"])


def test_cdf_points_on_an_atom_are_left_out(big):
    assert len(sampling.cdf_z(modules.my_init(jax.random.key(0), SHAPE), big["my_init"])) == 9
    assert len(sampling.cdf_z(jnp.zeros(SHAPE) + 1e-3, big["normal"])) == 11


# ----------------------------------------------------------------------------- 6.6


def test_arrays_lists_and_dicts_round_trip_bit_for_bit(tmp_path):
    x, y = jnp.arange(4), jnp.zeros(4)
    assert file_io.same_bits(file_io.save_array(tmp_path / "x.npy", x), x)
    assert all(file_io.same_bits(a, b) for a, b in zip(file_io.save_list(tmp_path / "l.npz", [x, y]), [x, y]))
    npz, st = file_io.save_dict(tmp_path / "d", {"x": x, "y": y})
    assert file_io.same_bits(npz["x"], x) and file_io.same_bits(st["y"], y)
    assert not file_io.same_bits(np.arange(4, dtype=np.int64), x)  # same values, other dtype: not the same bits


def test_pickled_objects_are_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        np.load(tmp_path / "o.npy", allow_pickle=False)


def test_torchs_trained_mlp_loads_and_gives_its_logits():
    ref = references.load(file_io.REFERENCE)["mlp"]
    model = file_io.mlp()
    X = jnp.asarray(ref["X"], jnp.float32)
    params = sd.load(file_io.MLP_FILE, *sd.shapes(model, X.shape))[0]
    np.testing.assert_allclose(model(params, X), ref["logits"], rtol=1e-6, atol=1e-6)
    arrays, meta = sd.read(file_io.MLP_FILE)
    assert {k: list(v.shape) for k, v in arrays.items()} == ref["shapes"] and meta == ref["metadata"]


def test_a_file_jaxdl_writes_has_torchs_names_and_shapes(tmp_path):
    ref = references.load(file_io.REFERENCE)["mlp"]
    model = file_io.mlp()
    params = nn.init(model, jax.random.key(0), (2, 20))[0]
    path = sd.save(tmp_path / "mlp.safetensors", params)
    arrays, _ = sd.read(path)
    assert {k: list(v.shape) for k, v in arrays.items()} == ref["shapes"]
    assert [n for n, _ in sd.named_parameters(params)] == ref["state_dict_names"]


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed (the names and shapes are checked above)")
def test_torch_loads_a_file_jaxdl_wrote_and_computes_the_same_logits(tmp_path):
    import safetensors.torch
    import torch

    from experiments.ch6.ch6_6_file_io_torch import MLP

    model = file_io.mlp()
    X = np.random.default_rng(0).standard_normal((3, 20)).astype(np.float32)
    params = nn.init(model, jax.random.key(1), X.shape)[0]
    path = sd.save(tmp_path / "mlp.safetensors", params)
    net = MLP()
    net(torch.zeros(1, 20))
    net.load_state_dict(safetensors.torch.load_file(str(path)), strict=True)
    with torch.no_grad():
        theirs = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(model(params, jnp.asarray(X)), theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model, shape, message", [
    (modules.mlp_sequential(), (2, 20), "has no entry '0.weight' that the model needs"),
    (modules.mlp_module(hidden="hidden", out="output"), (2, 30),
     r"'hidden.weight' has shape \(256, 20\) but the model's is \(256, 30\)"),
    (modules.mlp_module(hidden="hidden", out="out"), (2, 20), "has no entry 'out.weight'"),
])
def test_a_file_that_does_not_fit_is_refused_naming_the_first_mismatch(model, shape, message):
    with pytest.raises(sd.StateDictError, match=message):
        sd.load(file_io.MLP_FILE, *sd.shapes(model, shape))


def test_a_file_with_an_extra_entry_is_refused(tmp_path):
    params = nn.init(file_io.mlp(), jax.random.key(0), (2, 20))[0]
    path = sd.save(tmp_path / "m.safetensors", {**params, "extra": {"W": jnp.ones((1, 1)), "b": jnp.ones(1)}})
    with pytest.raises(sd.StateDictError, match=r"holds 'extra\.(bias|weight)', which the model has no place for"):
        sd.load(path, *sd.shapes(file_io.mlp(), (2, 20)))


# ----------------------------------------------------------------------------- 6.7


def test_device_facts_hold_on_two_forced_cpu_devices():
    m, where = devices.on_devices("experiments.ch6.ch6_7_gpus", "measure", True)
    assert m["local_device_count"] >= 2 and where
    assert m["sums_bits"][0] == m["sums_bits"][1] and m["sums_devices"] == m["devices"][:2]
    assert m["Z_devices"] == m["devices"][1] and m["X_devices"] == m["devices"][0]
    assert m["mixed_error"] != "no error"
