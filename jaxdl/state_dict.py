"""Parameters and layer state under PyTorch's `state_dict` names: "0.weight", "net.2.bias", "1.running_mean".

A jaxdl model's parameters are a pytree whose key paths are PyTorch's module paths: `serial`'s tuple indices
are nn.Sequential's child names, a dict's keys are a module's attribute names (d2l 6.1's NestMLP as
``{"net": ..., "linear": ...}``), and a layer's own leaves are renamed as torch names them (``W`` -> ``weight``,
``b`` -> ``bias``, BatchNorm's ``gamma``/``beta`` -> ``weight``/``bias`` and its state ``mean``/``var`` ->
``running_mean``/``running_var``). So the names and shapes of `state_dict(params, state)` are those of the
same network's ``module.state_dict()``, in the same order for `serial` models (each module's parameters,
then its buffers), and a PyTorch `state_dict` loads without renames or transposes. A dict's entries are
listed in the dict's order, which jax sorts by key whenever it rebuilds a tree (`jax.tree.map`, `jax.grad`,
`shapes`): a ``{"net": ..., "linear": ...}`` module lists ``linear`` first where torch lists ``net``. Only the
listing differs; names and loading do not depend on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import jax
import numpy as np
import safetensors
import safetensors.numpy

from jaxdl.files import atomic_file, check_writable_file

# A layer's leaf names -> torch's (parameters first, then buffers, as torch orders them in a module).
TORCH_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias",
               "mean": "running_mean", "var": "running_var"}
# Buffers torch keeps that jaxdl's layers do not need: BatchNorm counts its steps only for momentum=None.
IGNORED_TORCH_BUFFERS = ("num_batches_tracked",)


class StateDictError(ValueError):
    """A state_dict (or a parameter file) does not fit the model: a missing, extra or misshapen entry."""


def _is_layer_dict(node: Any) -> bool:
    return isinstance(node, dict) and bool(node) and all(k in TORCH_NAMES for k in node)


def _items(node: dict, layer: bool) -> list[tuple[Any, Any]]:
    """A dict's entries: a layer's in torch's order (weight, bias, buffers), others in insertion order."""
    order = list(TORCH_NAMES)
    return sorted(node.items(), key=lambda item: order.index(item[0])) if layer else list(node.items())


def _walk(node: Any, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, leaf) for each array of node, in the order torch would list them."""
    if node is None:
        return
    if isinstance(node, (tuple, list)):
        for i, child in enumerate(node):
            yield from _walk(child, (*prefix, str(i)))
    elif isinstance(node, dict):
        layer = _is_layer_dict(node)
        for key, child in _items(node, layer):
            yield from _walk(child, (*prefix, TORCH_NAMES[key] if layer else str(key)))
    else:
        yield prefix, node


def _merged(params: Any, state: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Params and state walked side by side, so that a layer's buffers follow its own parameters."""
    same_shape = (isinstance(params, (tuple, list)) and isinstance(state, (tuple, list))
                  and len(params) == len(state))
    if same_shape:
        for i, (p, s) in enumerate(zip(params, state)):
            yield from _merged(p, s, (*prefix, str(i)))
    elif isinstance(params, dict) and isinstance(state, dict) and not _is_layer_dict(params):
        for key in [*params, *(k for k in state if k not in params)]:
            yield from _merged(params.get(key), state.get(key), (*prefix, str(key)))
    else:
        yield from _walk(params, prefix)
        yield from _walk(state, prefix)


def entries(params: Any, state: Any = None) -> list[tuple[str, Any]]:
    """(name, array) for every leaf of params and state, in torch's state_dict order.

    Raises:
        StateDictError: two leaves would share a name (a dict key that collides with a renamed leaf).
    """
    out, seen = [], set()
    for path, leaf in _merged(params, state):
        name = ".".join(path)
        if name in seen:
            raise StateDictError(f"two entries of the model are both named {name!r}; rename one of its dict keys")
        seen.add(name)
        out.append((name, leaf))
    return out


def named_parameters(params: Any) -> list[tuple[str, Any]]:
    """[(name, array)] in torch's `named_parameters()` order and naming, e.g. [("0.weight", W), ...]."""
    return entries(params)


def state_dict(params: Any, state: Any = None) -> dict[str, np.ndarray]:
    """The parameters and layer state as torch's `module.state_dict()` names them, as NumPy arrays.

    Args:
        params: the model's parameter pytree.
        state: its layer state (BatchNorm's running statistics), or None.

    Returns:
        An ordered dict name -> np.ndarray (a copy, on the host).
    """
    return {name: np.asarray(leaf) for name, leaf in entries(params, state)}


def shapes(model: Any, input_shape: tuple[int, ...]) -> tuple[Any, Any]:
    """The (params, state) a model's init gives for inputs of input_shape, as jax.ShapeDtypeStruct trees:
    traced with jax.eval_shape, nothing drawn (the `like` trees that `load` and `load_state_dict` take)."""
    return jax.eval_shape(lambda key: model.init(key, tuple(input_shape))[1:], jax.random.key(0))




def load_state_dict(flat: dict[str, Any], params: Any, state: Any = None,
                    *, source: str = "the state_dict") -> tuple[Any, Any]:
    """Params and state of the same structure as the given ones, their arrays taken from flat by name.

    Args:
        flat: name -> array, as `state_dict` (or torch's ``module.state_dict()``) gives; torch's
            ``num_batches_tracked`` buffers are ignored.
        params, state: the model's parameters and state, or their shapes (jax.ShapeDtypeStruct trees from
            jax.eval_shape): they fix the names, shapes and dtypes that flat must have.
        source: what flat is, for the messages (a file's path).

    Returns:
        (params, state) as jax arrays.

    Raises:
        StateDictError: naming the first entry that is missing, extra, of another shape or of another dtype.
    """
    wanted = entries(params, state)
    given = {k: v for k, v in flat.items() if k.rsplit(".", 1)[-1] not in IGNORED_TORCH_BUFFERS}
    names = [name for name, _ in wanted]
    missing = [n for n in names if n not in given]
    if missing:
        raise StateDictError(f"{source} has no entry {missing[0]!r} that the model needs"
                             + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else "")
                             + f"; it holds {', '.join(list(given)[:6]) or 'nothing'}"
                             + (", ..." if len(given) > 6 else ""))
    extra = [n for n in given if n not in set(names)]
    if extra:
        raise StateDictError(f"{source} holds {extra[0]!r}, which the model has no place for; is it the file of "
                             "another model?")
    by_name = {}
    for name, like in wanted:
        array = np.asarray(given[name])
        shape, dtype = tuple(like.shape), np.dtype(like.dtype)  # an array or a jax.ShapeDtypeStruct
        if array.shape != shape:
            raise StateDictError(f"{source}'s {name!r} has shape {array.shape} but the model's is {shape}; "
                                 "is it the file of another model (or of the same one for other inputs)?")
        if array.dtype != dtype:
            raise StateDictError(f"{source}'s {name!r} is {array.dtype} but the model's is {dtype}; convert it "
                                 "or make the model in that dtype")
        by_name[name] = jax.numpy.asarray(array)
    take = lambda name, like: by_name[name]  # noqa: E731
    return _map_named(params, (), take), _map_named(state, (), take)


def _map_named(node: Any, prefix: tuple[str, ...], fn: Any) -> Any:
    """node with each leaf replaced by fn(name, leaf), names as _walk gives them."""
    if node is None:
        return None
    if isinstance(node, (tuple, list)):
        return type(node)(_map_named(child, (*prefix, str(i)), fn) for i, child in enumerate(node))
    if isinstance(node, dict):
        layer = _is_layer_dict(node)
        return {key: _map_named(child, (*prefix, TORCH_NAMES[key] if layer else str(key)), fn)
                for key, child in node.items()}
    return fn(".".join(prefix), node)


# ----------------------------------------------------------------------------- parameter files (safetensors)


def save(path: str | Path, params: Any, state: Any = None, metadata: dict[str, str] | None = None) -> Path:
    """Writes the state_dict of params and state to a safetensors file, which torch reads with
    ``safetensors.torch.load_file`` (and ``module.load_state_dict``). Written under a temporary name and
    renamed, so an interrupted save leaves the previous file.

    Args:
        path: the file to write (its directory is created).
        params, state: as for `state_dict`.
        metadata: strings stored in the file's header (safetensors' ``__metadata__``).

    Returns:
        The path written.
    """
    path = check_writable_file(path)
    data = safetensors.numpy.save(
        {name: np.array(a, order="C") for name, a in state_dict(params, state).items()}, metadata=metadata)
    with atomic_file(path, "wb") as f:
        f.write(data)
    return path


def read(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and the header metadata of a safetensors file.

    Raises:
        StateDictError: the file is missing, or is not a whole safetensors file (damaged, truncated).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise StateDictError(f"{path} does not exist (or is not a file); give the path of a .safetensors file")
    try:
        with safetensors.safe_open(str(path), framework="numpy") as f:
            return {name: f.get_tensor(name) for name in f.keys()}, dict(f.metadata() or {})
    except Exception as err:  # safetensors raises its own SafetensorError, or an OSError / ValueError
        raise StateDictError(f"{path} is not a readable safetensors file ({str(err).strip() or type(err).__name__}); "
                             "it may be damaged or truncated: save it again") from None


def load(path: str | Path, params: Any, state: Any = None) -> tuple[Any, Any]:
    """Params and state read from a safetensors file (jaxdl's `save`, or torch's state_dict saved with
    ``safetensors.torch.save_file``), checked against the model's.

    Args:
        path: the file.
        params, state: the model's parameters and state, or their shapes (`shapes(model, input_shape)`).

    Returns:
        (params, state) of the same structure, holding the file's arrays.

    Raises:
        StateDictError: the file is unreadable, or the first entry that does not fit the model (see
            `load_state_dict`).
    """
    flat, _ = read(path)
    return load_state_dict(flat, params, state, source=str(path))
