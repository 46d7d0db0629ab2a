"""Data-parallel placement with JAX's own machinery: a device mesh and minibatches sharded over it.

`fit(..., mesh=...)` shards every minibatch over the mesh's "data" axis (NamedSharding) and replicates the
parameters and optimizer state; XLA's SPMD partitioner then inserts the all-reduce of the gradients. The
functions here build and check that mesh and place arrays on it, in one process or across several
(`jaxdl.distributed` starts those).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def data_mesh(mesh: Mesh | int) -> Mesh:
    """The mesh to train on: an int n gives a 1-D mesh over the first n devices (of all processes); a Mesh
    must have a "data" axis. Its axes are made Auto, so XLA inserts the collectives (same devices, same axes).
    """
    if isinstance(mesh, (int, np.integer)) and not isinstance(mesh, bool):
        if mesh < 1:
            raise ValueError(f"mesh={mesh} is not a device count; pass a positive number of devices or a "
                             "jax.sharding.Mesh with a 'data' axis")
        available = jax.device_count()
        if not 1 <= mesh <= available:
            raise ValueError(
                f"mesh={mesh} devices asked for, but {available} {jax.default_backend()} device(s) are available; "
                "on a CPU, start Python with XLA_FLAGS=--xla_force_host_platform_device_count=N (or "
                "JAX_NUM_CPU_DEVICES=N) to get N devices"
            )
        return jax.make_mesh((int(mesh),), (DATA_AXIS,), (AxisType.Auto,), devices=jax.devices()[: int(mesh)])
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh or a number of devices, got {type(mesh).__name__}")
    if DATA_AXIS not in mesh.axis_names:
        raise ValueError(
            f"the mesh has axes {tuple(mesh.axis_names)} but no {DATA_AXIS!r} axis to shard the minibatches over; "
            f"build it with jax.make_mesh((n,), ({DATA_AXIS!r},)) or pass the number of devices"
        )
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))


def num_shards(mesh: Mesh) -> int:
    """How many pieces each minibatch is cut into: the size of the mesh's data axis."""
    return int(mesh.shape[DATA_AXIS])


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array."""
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, ndim: int, axis: int = 0) -> NamedSharding:
    """An array of ndim dimensions cut along `axis` over the data axis, replicated over any other axes."""
    spec = [None] * ndim
    spec[axis] = DATA_AXIS
    return NamedSharding(mesh, P(*spec))


def place(x: Any, sharding: NamedSharding) -> jax.Array:
    """A global array with this sharding from a value every process holds whole: each process copies in
    only the pieces its own devices own (so it works unchanged across processes)."""
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def replicate(mesh: Mesh, tree: Any) -> Any:
    """Every array leaf of a pytree (parameters, optimizer state, a dataset) replicated over the mesh."""
    return jax.tree.map(lambda x: place(x, replicated(mesh)), tree)


def pad_plan(idx: Any, mask: Any, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """Pads the batch (last) axis of a minibatch plan to a multiple of `multiple` with index 0, mask 0.

    The padded examples weigh nothing: the objective divides by the mask's sum, the real examples of the
    whole batch, so the loss and the gradients are those of the unpadded batch.
    """
    idx, mask = np.asarray(idx), np.asarray(mask)
    extra = -idx.shape[-1] % multiple
    pad = [(0, 0)] * (idx.ndim - 1) + [(0, extra)]
    return np.pad(idx, pad), np.pad(mask, pad)


def shard_plan(mesh: Mesh, idx: Any, mask: Any) -> tuple[jax.Array, jax.Array]:
    """A minibatch plan (num_batches, batch) or one batch's (batch,) padded to the mesh and cut along the
    batch axis: each device gathers and computes its own columns of every minibatch."""
    idx, mask = pad_plan(idx, mask, num_shards(mesh))
    sharding = batch_sharding(mesh, idx.ndim, axis=idx.ndim - 1)
    return place(idx, sharding), place(mask, sharding)


def sharded_batches(mesh: Mesh, preprocess: Callable) -> Callable:
    """`preprocess` followed by the constraint that the minibatch stays cut over the data axis (inside jit)."""

    def preprocess_sharded(X: jax.Array) -> jax.Array:
        X = preprocess(X)
        return jax.lax.with_sharding_constraint(X, batch_sharding(mesh, X.ndim))

    return preprocess_sharded
