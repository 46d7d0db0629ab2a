"""d2l 6.7 exercises, measured on this machine's devices and printed (timings are not asserted): a large and a
small matrix product on each device, parameters read and written from a device, 1000 products logged one at a
time against logged on the device and transferred once, and two products on two devices at once against one
after the other on one device."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.ch6 import devices
from experiments.harness.result import Result, Tolerances, cli
from jaxdl import nn
from jaxdl import state_dict as sd

SECTION = "6.7"
TITLE = "GPUs: exercises"
REFERENCE = "ch6_7_gpus"  # the section's facts; the exercises compare results across devices, exactly

TOLERANCES: Tolerances = {}  # results on two devices or by two routes: bit for bit; timings are only printed


def best_of(fn, repeats: int = 3) -> float:
    """The fastest of `repeats` timed calls (seconds), each waited for (block_until_ready)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def measure(fast: bool) -> dict:
    """The exercises' measurements, where at least two devices exist (JSON-able)."""
    d0, d1 = jax.devices()[:2]
    out: dict = {"devices": [str(d0), str(d1)]}
    n_big = 512 if fast else 1024
    matmul = jax.jit(lambda A, B: A @ B)
    key = jax.random.key(670)
    for name, n in (("large", n_big), ("small", 10)):
        A = jax.random.normal(key, (n, n))
        results, seconds = [], []
        for d in (d0, d1):
            Ad = jax.device_put(A, d)
            jax.block_until_ready(matmul(Ad, Ad))  # compile and warm up
            seconds.append(best_of(lambda: matmul(Ad, Ad)))
            results.append(np.asarray(matmul(Ad, Ad)))
        out[name] = {"n": n, "seconds": seconds, "gflops": [2 * n**3 / s / 1e9 for s in seconds],
                     "same_bits": bool(np.array_equal(results[0], results[1]))}

    model = nn.serial(nn.linear(8, sigma=None), nn.relu(), nn.linear(1, sigma=None))
    params = jax.device_put(nn.init(model, jax.random.key(1), (2, 4))[0], d1)
    host = jax.device_get(params)
    back = jax.device_put(sd.load_state_dict(sd.state_dict(host), host)[0], d1)
    out["params_host_types"] = sorted({type(leaf).__name__ for leaf in jax.tree.leaves(host)})
    out["params_round_trip"] = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)))
    out["params_back_on"] = sorted({str(d) for leaf in jax.tree.leaves(back) for d in leaf.devices()})

    count = 200 if fast else 1000
    mats = jax.device_put(jax.random.normal(jax.random.key(2), (count, 100, 100)) / 10, d0)
    norm = jax.jit(lambda A, B: jnp.linalg.norm(A @ B))
    norms_all = jax.jit(jax.vmap(lambda A, B: jnp.linalg.norm(A @ B)))
    jax.block_until_ready(norm(mats[0], mats[1]))
    jax.block_until_ready(norms_all(mats[:-1], mats[1:]))
    start = time.perf_counter()
    logged = [float(norm(mats[i], mats[i + 1])) for i in range(count - 1)]  # float(): a transfer each time
    one_at_a_time = time.perf_counter() - start
    start = time.perf_counter()
    kept = jax.device_get(norms_all(mats[:-1], mats[1:]))  # kept on the device, transferred once
    at_once = time.perf_counter() - start
    out["log"] = {"count": count - 1, "one_at_a_time": one_at_a_time, "at_once": at_once,
                  "same_norms": bool(np.array_equal(np.asarray(logged, np.float32), kept)),
                  "max_difference": float(np.abs(np.asarray(logged, np.float32) - kept).max())}

    A = jax.random.normal(jax.random.key(3), (n_big, n_big))
    A0, A1 = jax.device_put(A, d0), jax.device_put(A, d1)
    jax.block_until_ready((matmul(A0, A0), matmul(A1, A1)))
    sequential = best_of(lambda: (jax.block_until_ready(matmul(A0, A0)), matmul(A0, A0)))
    parallel = best_of(lambda: (matmul(A0, A0), matmul(A1, A1)))  # dispatched asynchronously, waited for together
    out["two"] = {"n": n_big, "sequential_one_device": sequential, "two_devices": parallel}
    return out


def run(result: Result, fast: bool) -> None:
    m, ran = devices.on_devices(__name__, "measure", fast)
    big, small = m["large"], m["small"]
    result.compare(f"a {big['n']} x {big['n']} product on device 0 and device 1: the same bits", big["same_bits"], True)
    result.compare("a 10 x 10 product on both: the same bits", small["same_bits"], True)
    result.text(
        f"Exercise 1 (ran {ran}). A {big['n']} x {big['n']} float32 product took "
        + " and ".join(f"{s * 1e3:.2f} ms ({g:.1f} GFLOP/s)" for s, g in zip(big["seconds"], big["gflops"]))
        + f" on {m['devices'][0]} and {m['devices'][1]}; a 10 x 10 one "
        + " and ".join(f"{s * 1e6:.1f} us ({g:.3f} GFLOP/s)" for s, g in zip(small["seconds"], small["gflops"]))
        + ": a tiny task is all dispatch overhead, whatever the device (on a GPU the gap between the two is far "
        "larger, and the small product is no faster there than on the CPU). These are two CPU devices "
        "sharing the same cores, so they run at about the same speed; timings are measured, not asserted."
    )
    result.compare("params on device 1 -> jax.device_get: NumPy arrays on the host", m["params_host_types"],
                   ["ndarray"])
    result.compare("... through state_dict and back onto device 1: bit for bit", m["params_round_trip"], True)
    result.compare("... and every leaf back on device 1", ", ".join(m["params_back_on"]), m["devices"][1])
    result.text(
        "Exercise 2. Parameters are read from a device with `jax.device_get(params)` (a pytree of NumPy arrays "
        "on the host, which `jaxdl.state_dict.save` writes) and written back with `jax.device_put(params, "
        "device)`; saving reads them to the host anyway, so a file never records a device, and loading puts "
        "them wherever the caller asks."
    )
    log = m["log"]
    result.compare(f"{log['count']} Frobenius norms logged one at a time = kept on the device, bit for bit",
                   log["same_norms"], True)
    result.text(
        f"Exercise 3. {log['count']} products of 100 x 100 matrices with the Frobenius norm of each: logging "
        f"each norm as it comes (`float(...)`, a device-to-host transfer and a wait per step) took "
        f"{log['one_at_a_time'] * 1e3:.1f} ms; computing all of them on the device (one vmapped program) and "
        f"transferring the {log['count']} norms once took {log['at_once'] * 1e3:.1f} ms "
        f"({log['one_at_a_time'] / max(log['at_once'], 1e-9):.0f} times less). The norms are the same bits."
    )
    two = m["two"]
    result.text(
        f"Exercise 4. Two {two['n']} x {two['n']} products one after the other on one device took "
        f"{two['sequential_one_device'] * 1e3:.2f} ms; one on each device, dispatched together (JAX dispatches "
        f"asynchronously), {two['two_devices'] * 1e3:.2f} ms. On two GPUs that is close to half; here both "
        "'devices' share this machine's cores (XLA already spreads one product over them), so there is little "
        "or nothing to gain, as measured."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
