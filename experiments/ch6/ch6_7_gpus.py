"""d2l 6.7 GPUs, on whatever devices JAX has: listing them, jax.device_put, where an array lives, computing on a
chosen device and copying between devices; on a machine without a GPU, on several forced CPU devices."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch6 import devices
from experiments.harness import references
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import nn

SECTION = "6.7"
TITLE = "GPUs"
REFERENCE = "ch6_7_gpus"

TOLERANCES: Tolerances = {
    "sum": Tolerance(rtol=1e-5, why="the sum of a 64 x 64 float32 matrix product (4096 entries near 16, each a "
                                    "64-term dot product), accumulated in other orders by XLA and torch: float32 "
                                    "rounding of ~2^-24 per add grows to ~1e-6 relative; against float64 too"),
}


def try_device(i: int = 0) -> jax.Device:
    """d2l's try_gpu(i) for any backend: device i if it exists, else the first device."""
    found = jax.devices()
    return found[i] if i < len(found) else found[0]


def where(x: jax.Array) -> str:
    """The devices an array lives on, e.g. "TFRT_CPU_1" (str of each device, sorted)."""
    return ", ".join(sorted(str(d) for d in x.devices()))


def measure(fast: bool) -> dict:
    """Everything 6.7 shows, run where at least two devices exist (JSON-able)."""
    del fast
    ref = references.load(REFERENCE)
    d0, d1 = try_device(0), try_device(1)
    out = {"devices": [str(d) for d in jax.devices()], "local_device_count": jax.local_device_count(),
           "backend": jax.default_backend(), "platforms": sorted({d.platform for d in jax.devices()})}
    x = jnp.array([1, 2, 3])
    out["x_devices"] = where(x)
    out["default_device"] = str(jax.devices()[0])
    X = jax.device_put(jnp.ones((2, 3)), d0)
    Y = jax.device_put(jax.random.uniform(jax.random.key(67), (2, 3)), d1)
    out.update(X=np.asarray(X).tolist(), X_devices=where(X), Y_devices=where(Y))
    Z = jax.device_put(X, d1)
    out.update(Z_devices=where(Z), Z_equals_X=bool(np.array_equal(np.asarray(Z), np.asarray(X))),
               X_still_on_d0=where(X))
    again = jax.device_put(Z, d1)
    out.update(put_again_is_same=again is Z,
               put_again_same_buffer=again.unsafe_buffer_pointer() == Z.unsafe_buffer_pointer())
    S = Y + Z
    out["YplusZ_devices"] = where(S)
    try:
        X + Y
        out["mixed_error"] = "no error"
    except ValueError as err:
        out["mixed_error"] = str(err).splitlines()[0][:200]
    A = jnp.asarray(ref["A"], jnp.float32)
    sums = [jax.jit(lambda A: (A @ A).sum())(jax.device_put(A, d)) for d in (d0, d1)]
    out["sums"] = [float(s) for s in sums]
    out["sums_devices"] = [where(s) for s in sums]
    out["sums_bits"] = [np.asarray(s).tobytes().hex() for s in sums]
    model = nn.serial(nn.linear(1, sigma=None))
    params = jax.device_put(nn.init(model, jax.random.key(0), (2, 3))[0], d1)
    out["params_devices"] = sorted({where(leaf) for leaf in jax.tree.leaves(params)})
    out["net_output_devices"] = where(model(params, Z))
    return out


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    m, ran = devices.on_devices(__name__, "measure", fast)
    d0, d1 = m["devices"][0], m["devices"][1]
    result.compare("devices: at least two (CPU devices forced where there is no GPU)", m["local_device_count"] >= 2,
                   True)
    result.compare("torch's CPU build sees no GPU; try_gpu() falls back to the CPU (torch, jaxdl's try_device)",
                   [ref["num_gpus"], ref["try_gpu"]], [0, "cpu"])
    result.compare("x = array([1, 2, 3]) lives on the default device (torch: x.device = cpu)",
                   m["x_devices"], m["default_device"])
    result.compare("X = device_put(ones((2, 3)), device 0): values as torch's, on device 0",
                   [np.array_equal(m["X"], ref["X"]), m["X_devices"] == d0], [True, True])
    result.compare("Y put on device 1 lives there", m["Y_devices"], d1)
    result.compare("Z = device_put(X, device 1): a copy on device 1, equal values; X stays on device 0",
                   [m["Z_devices"], m["Z_equals_X"], m["X_still_on_d0"]], [d1, True, d0])
    result.compare("device_put onto an array's own device: [a new array object, on the same buffer: no copy] "
                   f"(torch's Z.to(Z.device) is Z: {ref['to_same_device_is_self']})",
                   [not m["put_again_is_same"], m["put_again_same_buffer"]], [True, True])
    result.compare("Y + Z (both on device 1) is computed on device 1", m["YplusZ_devices"], d1)
    result.compare("X + Y (devices 0 and 1, both committed) is refused", m["mixed_error"] != "no error", True)
    result.compare("sum(A @ A) on device 0 = on device 1, bit for bit", m["sums_bits"][0], m["sums_bits"][1])
    result.compare("... each computed where its input lives", m["sums_devices"], [d0, d1])
    result.compare("sum(A @ A) vs torch's float32 and float64", [m["sums"][0], m["sums"][0]],
                   [ref["sum_AA_float32"], ref["sum_AA_float64"]], tol=TOLERANCES["sum"])
    result.compare("params put on device 1: every leaf there", ", ".join(m["params_devices"]), d1)
    result.compare("... and the net's output is computed there", m["net_output_devices"], d1)
    result.text(
        f"Devices: {', '.join(m['devices'])} (backend {m['backend']}); ran {ran}. This machine has no GPU, so "
        "the devices are CPU devices that XLA was asked for before JAX started (`jax_num_cpu_devices`, which "
        "the command line sets to one per core via `experiments.harness.result.use_every_core`; where JAX had "
        "already started with one device, the experiment ran its device part in a fresh Python with "
        "`JAX_NUM_CPU_DEVICES=2`). They share the same cores and memory, but they are separate devices to "
        "JAX: arrays live on one of them and computations run where their inputs live. The calls are those a "
        "GPU uses: `jax.devices()` and `jax.local_device_count()` list them (d2l's `num_gpus()`), "
        "`jax.device_put(x, device)` places or copies an array (torch's `.to(device)`, `.cuda(i)`), "
        "`x.devices()` says where it lives (`x.device`), and an operation on arrays placed on two different "
        f"devices is refused rather than copied silently: `{m['mixed_error'][:120]}...`. "
        "`device_put` onto an array's own device copies nothing: it returns a new array object on the same "
        "buffer, where torch returns the tensor itself (d2l's `Z.cuda(1) is Z`). "
        "A model moves to a device by putting its params there (`jax.device_put(params, device)`: the whole "
        "pytree, torch's `net.to(device)`). The same program on device 0 and device 1 gives the same bits "
        f"({m['sums'][0]:.6f}; PyTorch's float32 {ref['sum_AA_float32']:.6f}, float64 "
        f"{ref['sum_AA_float64']:.6f})."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
