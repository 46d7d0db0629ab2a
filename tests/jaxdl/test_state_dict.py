"""jaxdl.state_dict: torch's state_dict names for jaxdl's parameters and layer state, loading with the first
mismatch named, and safetensors files that round-trip bit for bit and are written atomically."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import nn, state_dict
from jaxdl.state_dict import StateDictError

# torch.nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 1)).state_dict() lists these,
# in this order (num_batches_tracked, which jaxdl does not keep, aside)
TORCH_NAMES = ["0.weight", "0.bias", "2.weight", "2.bias", "2.running_mean", "2.running_var", "3.weight", "3.bias"]
NET = nn.serial(nn.linear(8, sigma=None), nn.relu(), nn.batch_norm(), nn.linear(1, sigma=None))


@pytest.fixture()
def trees():
    return nn.init(NET, jax.random.key(0), (2, 4))


def test_state_dict_names_and_orders_entries_as_torch_does(trees):
    params, state = trees
    flat = state_dict.state_dict(params, state)
    assert list(flat) == TORCH_NAMES
    assert flat["0.weight"].shape == (8, 4) and flat["3.bias"].shape == (1,)
    np.testing.assert_array_equal(flat["2.running_var"], np.ones(8))


def test_the_order_survives_jax_rebuilding_dicts_in_sorted_key_order(trees):
    params, state = jax.tree.map(lambda a: a + 0, trees)  # jax.tree.map sorts dict keys: beta before gamma
    assert list(params[2]) == ["beta", "gamma"]
    assert list(state_dict.state_dict(params, state)) == TORCH_NAMES


def test_named_parameters_leaves_out_the_state(trees):
    names = [name for name, _ in state_dict.named_parameters(trees[0])]
    assert names == [n for n in TORCH_NAMES if "running" not in n]


def test_dict_keys_are_module_names():
    params = {"net": ({"W": jnp.zeros((3, 2)), "b": jnp.zeros(3)}, ()), "linear": {"W": jnp.zeros((1, 3)),
                                                                               "b": jnp.zeros(1)}}
    assert [n for n, _ in state_dict.named_parameters(params)] == ["net.0.weight", "net.0.bias", "linear.weight",
                                                                   "linear.bias"]


def test_a_state_dict_loads_back_bit_for_bit_into_shapes_alone(trees):
    params, state = trees
    flat = state_dict.state_dict(params, state)
    loaded = state_dict.load_state_dict(flat, *state_dict.shapes(NET, (2, 4)))
    assert jax.tree.structure(loaded) == jax.tree.structure(trees)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(trees), strict=True):
        np.testing.assert_array_equal(a, b)


def test_torchs_num_batches_tracked_is_ignored_at_any_depth(trees):
    flat = state_dict.state_dict(*trees) | {"2.num_batches_tracked": np.array(7)}
    state_dict.load_state_dict(flat, *trees)
    nested = {"net": trees[0]}, {"net": trees[1]}
    flat = state_dict.state_dict(*nested) | {"net.2.num_batches_tracked": np.array(7)}
    state_dict.load_state_dict(flat, *nested)
    with pytest.raises(StateDictError, match="'net.2.tracked'"):  # only torch's buffer of that name is ignored
        state_dict.load_state_dict(flat | {"net.2.tracked": np.array(7)}, *nested)


def test_the_refusal_counts_the_other_missing_entries_and_names_the_state_dict(trees):
    flat = {k: v for k, v in state_dict.state_dict(*trees).items() if not k.startswith("3.")}
    with pytest.raises(StateDictError, match=r"^the state_dict has no entry '3.weight' that the model needs \(nor 1 more\)"):
        state_dict.load_state_dict(flat, *trees)
    with pytest.raises(StateDictError, match=r"entry '3.bias' that the model needs; it holds"):
        state_dict.load_state_dict({k: v for k, v in state_dict.state_dict(*trees).items() if k != "3.bias"}, *trees)


@pytest.mark.parametrize("change, message", [
    (lambda f: {k: v for k, v in f.items() if k != "2.running_mean"}, "no entry '2.running_mean' that the model needs"),
    (lambda f: f | {"4.weight": np.zeros(1, np.float32)}, "holds '4.weight', which the model has no place for"),
    (lambda f: f | {"3.weight": np.zeros((1, 7), np.float32)}, r"'3.weight' has shape \(1, 7\) but the model's is \(1, 8\)"),
    (lambda f: f | {"0.bias": f["0.bias"].astype(np.float64)}, "'0.bias' is float64 but the model's is float32"),
])
def test_a_state_dict_that_does_not_fit_is_refused_naming_the_first_mismatch(trees, change, message):
    with pytest.raises(StateDictError, match=message):
        state_dict.load_state_dict(change(state_dict.state_dict(*trees)), *trees)


def test_a_file_round_trips_bit_for_bit_with_its_metadata(trees, tmp_path):
    path = state_dict.save(tmp_path / "sub" / "net.safetensors", *trees, metadata={"epochs": "3"})
    arrays, metadata = state_dict.read(path)
    assert metadata == {"epochs": "3"} and sorted(arrays) == sorted(TORCH_NAMES)  # a file keeps no order
    loaded = state_dict.load(path, *trees)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(trees), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_a_scalar_parameter_keeps_its_shape(tmp_path):
    params = {"scale": jnp.float32(2.5)}
    loaded, _ = state_dict.load(state_dict.save(tmp_path / "s.safetensors", params), params)
    assert loaded["scale"].shape == () and float(loaded["scale"]) == 2.5


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[: len(data) - 5], "damaged or truncated"),
    (lambda data: b"not a safetensors file", "damaged or truncated"),
])
def test_a_damaged_file_is_refused(trees, tmp_path, damage, message):
    path = state_dict.save(tmp_path / "net.safetensors", *trees)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(StateDictError, match=message):
        state_dict.load(path, *trees)


def test_a_missing_file_is_refused(trees, tmp_path):
    with pytest.raises(StateDictError, match="does not exist"):
        state_dict.load(tmp_path / "none.safetensors", *trees)


def test_a_file_of_another_model_is_refused_with_the_file_named(trees, tmp_path):
    other = nn.serial(nn.linear(8, sigma=None), nn.relu(), nn.batch_norm(), nn.linear(2, sigma=None))
    path = state_dict.save(tmp_path / "other.safetensors", *nn.init(other, jax.random.key(0), (2, 4)))
    with pytest.raises(StateDictError, match=r"other.safetensors's '3.weight' has shape \(2, 8\)"):
        state_dict.load(path, *trees)


def test_saving_writes_a_temporary_file_then_renames_it(trees, tmp_path, monkeypatch):
    path = state_dict.save(tmp_path / "net.safetensors", *trees)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError):
        state_dict.save(path, jax.tree.map(lambda a: a + 1, trees[0]), trees[1])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.safetensors"]


def test_nested_modules_keep_each_layers_buffers_after_its_parameters():
    block = nn.serial(nn.linear(3, sigma=None), nn.batch_norm())
    params, state = nn.init(block, jax.random.key(0), (2, 4))
    names = list(state_dict.state_dict({"net": params, "head": {"W": jnp.zeros((1, 3)), "b": jnp.zeros(1)}},
                                       {"net": state, "extra": {"mean": jnp.zeros(2)}}))
    assert names == ["net.0.weight", "net.0.bias", "net.1.weight", "net.1.bias", "net.1.running_mean",
                     "net.1.running_var", "head.weight", "head.bias", "extra.running_mean"]


def test_two_leaves_of_one_name_are_refused():
    with pytest.raises(StateDictError, match="two entries of the model are both named '0.weight'; rename"):
        state_dict.state_dict({"0": {"weight": jnp.zeros(1)}}, ({"W": jnp.zeros(1)},))


def test_the_missing_entry_message_lists_what_the_file_holds(trees):
    flat = state_dict.state_dict(*trees)
    with pytest.raises(StateDictError) as err:
        state_dict.load_state_dict({}, *trees)
    assert str(err.value) == ("the state_dict has no entry '0.weight' that the model needs (nor 7 more); it holds "
                              "nothing")
    with pytest.raises(StateDictError) as err:
        state_dict.load_state_dict({k: v for k, v in flat.items() if k != "3.bias"}, *trees)
    assert str(err.value) == ("the state_dict has no entry '3.bias' that the model needs; it holds 0.weight, 0.bias, "
                              "2.weight, 2.bias, 2.running_mean, 2.running_var, ...")
    flat = {k: v for k, v in flat.items() if k not in ("3.bias", "2.running_var")}
    with pytest.raises(StateDictError) as err:
        state_dict.load_state_dict(flat, *trees)
    assert str(err.value).endswith("it holds 0.weight, 0.bias, 2.weight, 2.bias, 2.running_mean, 3.weight")


def test_a_column_major_leaf_is_saved_as_its_values(tmp_path):
    W = np.arange(6, dtype=np.float32).reshape(2, 3).T  # a transposed (Fortran-ordered) view
    loaded, _ = state_dict.load(state_dict.save(tmp_path / "t.safetensors", {"W": W}), {"W": W})
    np.testing.assert_array_equal(loaded["W"], W)
