"""Speed of jaxdl on this machine: reading Fashion-MNIST, compiling, and 10 epochs of training.

`python -m experiments.benchmark [--repeats N]` prints a table of measured seconds beside the targets
(softmax regression under 0.5 s and the MLP under 3 s for 10 epochs on 2 cores, compilation apart).
A target counts as met by the fastest of the repeats, as timeit does: on a shared virtual machine the
slower runs measure the neighbours; the median is printed too.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from functools import partial

import jax

from jaxdl import fashion_mnist, losses, models, optimizers, training

TARGETS = {"softmax regression (4.4)": 0.5, "MLP 256 hidden (5.2)": 3.0}


def time_read(repeats: int) -> float:
    """Best time to read and verify the four IDX files into numpy arrays."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fashion_mnist.load_arrays()
        times.append(time.perf_counter() - start)
    return min(times)


def time_training(name: str, data, repeats: int, epochs: int, loop: str = "scan") -> dict[str, float]:
    """Compile and train times (median over repeats) of d2l's model `name` for `epochs` epochs."""
    init, apply, loss = {
        "softmax regression (4.4)": (models.softmax_init, models.softmax_apply, losses.scratch_softmax_loss),
        "MLP 256 hidden (5.2)": (partial(models.mlp_init, num_hiddens=256), models.mlp_apply, losses.softmax_cross_entropy),
    }[name]
    compiles, trains, accs = [], [], []
    for r in range(repeats):
        params = init(jax.random.key(r))
        _, history = training.fit(apply, loss, params, data, optimizers.sgd(0.1), key=jax.random.key(100 + r),
                                  epochs=epochs, batch_size=256, progress=False, loop=loop)
        compiles.append(history.compile_seconds)
        trains.append(history.train_seconds)
        accs.append(float(history.val_metric[-1]))
    return {"compile": statistics.median(compiles), "train": statistics.median(trains),
            "train_min": min(trains), "val_acc": statistics.median(accs)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)

    device = jax.devices()[0]
    print(f"jax {jax.__version__} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"ran on {jax.default_backend()} device {device.device_kind!r} ({device}, {jax.device_count()} visible)")
    print(f"read + verify Fashion-MNIST IDX files: {time_read(args.repeats):.3f} s (best of {args.repeats})")
    data = fashion_mnist.load()
    rows = []
    for name, target in TARGETS.items():
        m = time_training(name, data, args.repeats, args.epochs)
        rows.append((name, "scan", m, target))
    # The teaching loop: the same step, dispatched from Python once per batch (one epoch suffices to show it).
    loop = time_training("softmax regression (4.4)", data, 1, 1, loop="python")
    header = (f"{'model':<26} {'loop':<7} {'compile s':>9} {'train s (median)':>16} {'min':>7} {'target':>7} "
              f"{'met':>4} {'val acc':>7}")
    print(header)
    print("-" * len(header))
    for name, kind, m, target in rows:
        met = "yes" if m["train_min"] < target else "no"
        print(f"{name:<26} {kind:<7} {m['compile']:>9.3f} {m['train']:>16.3f} {m['train_min']:>7.3f} "
              f"{target:>7.1f} {met:>4} {m['val_acc']:>7.4f}")
    print(f"{'softmax regression (4.4)':<26} {'python':<7} {loop['compile']:>9.3f} {loop['train'] * args.epochs:>16.3f} "
          f"{'':>7} {'':>7} {'':>4} {'':>7}  (1 epoch measured, x{args.epochs})")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
