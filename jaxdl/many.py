"""Many models side by side: pytrees with a leading model axis, and that axis split over devices.

`jaxdl.training.fit_many` trains N models in one vmapped call per epoch; the helpers here build and take
apart its stacked parameters and place them on a one-axis device mesh ("models").
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

MODEL_AXIS = "models"


def stack(trees: Sequence[Any]) -> Any:
    """A list of pytrees of one structure as one pytree whose leaves have a leading model axis."""
    if not trees:
        raise ValueError("stack needs at least one pytree")
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def unstack(tree: Any) -> list[Any]:
    """The inverse of `stack`: one pytree per index of the leading model axis."""
    return [jax.tree.map(lambda leaf: leaf[i], tree) for i in range(num_models(tree, "the stacked pytree"))]


def num_models(tree: Any, what: str) -> int:
    """The common length of the leaves' leading axis; a ValueError that says what differs if there is none."""
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree.leaves(tree)}
    if not sizes or None in sizes or len(sizes) != 1:
        raise ValueError(f"{what} must be a pytree whose leaves all have the same leading (model) axis; "
                         f"got leading sizes {sorted(sizes, key=str)}; build it with jaxdl.many.stack or "
                         "jax.vmap(init)(keys)")
    return sizes.pop()


def model_mesh(devices: int | Sequence[jax.Device], n_models: int) -> jax.sharding.Mesh:
    """A one-axis mesh ("models") over the given devices (or the first n local ones), refused with a message
    when they are not there or do not divide the models evenly."""
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if devices < 1 or devices > jax.local_device_count():
            raise ValueError(
                f"devices={devices} but this process has {jax.local_device_count()} device(s); on a CPU, ask JAX for "
                "one per core before its first use: jax.config.update('jax_num_cpu_devices', os.cpu_count())")
        devices = jax.local_devices()[:devices]
    elif not (isinstance(devices, (list, tuple)) and devices and all(isinstance(d, jax.Device) for d in devices)):
        raise ValueError(f"devices must be a number of local devices or a list of jax devices, got {devices!r}")
    if n_models % len(devices):
        raise ValueError(f"{n_models} models cannot be split evenly over {len(devices)} devices; train a multiple "
                         f"of {len(devices)} models or pass fewer devices")
    return jax.sharding.Mesh(np.array(devices), (MODEL_AXIS,))


def place_models(mesh: jax.sharding.Mesh | None, tree: Any, per_model: bool = True) -> Any:
    """Puts a pytree on the mesh: split along its leading model axis, or copied to every device."""
    if mesh is None or tree is None:
        return tree
    spec = jax.sharding.PartitionSpec(MODEL_AXIS) if per_model else jax.sharding.PartitionSpec()
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, spec))
