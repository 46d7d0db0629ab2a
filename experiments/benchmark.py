"""Speed of jaxdl beside plain PyTorch and the matmul roofline, measured side by side in one run.

`python -m experiments.benchmark [--repeats N] [--epochs E]` measures, one after the other on this machine:
the float32 matmul peak, d2l's softmax regression and 256-unit MLP for E epochs of batch 256 on all of
Fashion-MNIST (jaxdl's scanned epoch, jaxdl's Python loop, and plain PyTorch with the data in memory when
torch is importable), and 8 MLPs trained together by `fit_many` (on one device, and split over one CPU
device per core) against 8 sequential `fit` calls. Each
run happens in its own process so that its peak resident memory is its own. Each model's FLOP count comes
from XLA's cost analysis of its compiled training step; its roofline is that count over the matmul peak.
Times are the fastest of the repeats (timeit's rule: on a shared machine the slower runs measure the
neighbours); the targets are printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Any

MODELS = ("softmax", "mlp", "lenet")
TITLES = {"softmax": "softmax regression (4.4)", "mlp": "MLP 256 hidden (5.2)", "lenet": "LeNet (7.6)",
          "lenet_xla": "LeNet, XLA's conv (7.6)"}
BATCH, LR = 256, 0.1
# d2l trains LeNet with batches of 128; lenet_xla is the same model with XLA's convolution instead of im2col.
BATCHES = {"lenet": 128, "lenet_xla": 128}
# The targets: (at most this many times the roofline, at least this many times faster than PyTorch); None:
# no roofline target. LeNet's: the book's 10 epochs in at most LENET_SECONDS, 5 times faster than PyTorch.
TARGETS = {"softmax": (2.5, 4.0), "mlp": (1.15, 2.0), "lenet": (None, 5.0), "lenet_xla": (None, 5.0)}
LENET_SECONDS = 60.0
MANY_TARGET = 3.0  # 8 MLPs in one fit_many call at least this many times faster than 8 fit calls
NUM_MANY = 8


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_fns(name: str):
    """(init, model, loss, preprocess) of a benchmarked model: init(key) draws the layer value's params for 28 x 28
    images; preprocess turns a uint8 batch into the model's input."""
    from jaxdl import losses, models, training

    if name.startswith("lenet"):
        from experiments.ch7.lenet import images, lenet

        model = lenet(conv_method="xla" if name == "lenet_xla" else "auto")
        return (lambda key: models.init(model, key, (1, 1, 28, 28))), model, losses.softmax_cross_entropy, images()
    if name == "softmax":
        model, loss = models.softmax_regression(10, sigma=0.01), losses.scratch_softmax_loss
    else:
        model, loss = models.mlp(256, 10, sigma=None), losses.softmax_cross_entropy
    return (lambda key: models.init(model, key, (1, 28, 28))), model, loss, training.default_preprocess


def matmul_peak(repeats: int, n: int = 1024) -> float:
    """Best float32 GFLOP/s of an n x n matrix product."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n))
    b = jax.random.normal(jax.random.key(1), (n, n))
    f = jax.jit(jnp.dot)
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(max(repeats, 3) * 3):
        start = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def step_flops(name: str, data) -> float:
    """FLOPs of one training step (batch 256, LeNet's 128), from XLA's cost analysis of the compiled step."""
    import jax

    from jaxdl import optimizers, training

    init, model, loss, preprocess = model_fns(name)
    params = init(jax.random.key(0))
    opt = optimizers.sgd(LR)
    step = jax.jit(training.make_train_step(model, loss, opt, preprocess))  # pure: fit jits it the same way
    batch = BATCHES.get(name, BATCH)
    rows = jax.numpy.arange(batch)
    compiled = step.lower(params, None, opt.init(params), data.X_train, data.y_train, rows,
                          jax.numpy.ones(batch)).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def run_jaxdl(name: str, epochs: int, repeats: int, loop: str) -> dict[str, Any]:
    import jax

    from jaxdl import optimizers, training
    from jaxdl.datasets import fashion_mnist

    data = fashion_mnist.load()
    init, model, loss, preprocess = model_fns(name)
    trains, compiles = [], []
    for r in range(repeats):
        h = training.fit(model, loss, init(jax.random.key(r)), data, optimizers.sgd(LR), key=jax.random.key(100 + r),
                         epochs=epochs, batch_size=BATCHES.get(name, BATCH), callbacks=(), loop=loop,
                         preprocess=preprocess).history
        trains.append(h.train_seconds)
        compiles.append(h.compile_seconds)
    steps = h.num_batches * epochs
    return {"train": min(trains), "compile": min(compiles), "steps": steps, "val_acc": float(h.val_metric[-1]),
            "flops_per_step": step_flops(name, data)}


def run_torch(name: str, epochs: int, repeats: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from jaxdl.datasets import fashion_mnist

    torch.set_num_threads(os.cpu_count() or 1)
    arrays = fashion_mnist.load_arrays()
    X = torch.tensor(arrays["train_images"].astype(np.float32).reshape(-1, 784) / 255)
    if name.startswith("lenet"):
        X = X.reshape(-1, 1, 28, 28)
    y = torch.tensor(arrays["train_labels"].astype(np.int64))
    best = float("inf")
    for r in range(repeats):
        torch.manual_seed(r)
        if name.startswith("lenet"):
            from experiments.ch7.lenet_torch import lenet
            from experiments.harness.torch_d2l import init_cnn

            net = lenet()
            net(X[:1])
            net.apply(init_cnn)
        else:
            net = (torch.nn.Linear(784, 10) if name == "softmax" else
                   torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)))
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        start = time.perf_counter()
        for _ in range(epochs):
            for rows in torch.randperm(X.shape[0]).split(BATCHES.get(name, BATCH)):
                loss = torch.nn.functional.cross_entropy(net(X[rows]), y[rows])
                opt.zero_grad()
                loss.backward()
                opt.step()
        best = min(best, time.perf_counter() - start)
    return {"train": best, "torch": torch.__version__, "threads": torch.get_num_threads()}


def run_many(epochs: int, repeats: int, together: bool, split: bool = False) -> dict[str, Any]:
    """8 MLPs of 256 hidden units: one fit_many call (split: its models shared by one CPU device per core), or
    8 fit calls; wall seconds with compilation."""
    from experiments.harness.result import model_devices, use_every_core

    if split:
        use_every_core()
    import jax
    import optax

    from jaxdl import training
    from jaxdl.datasets import fashion_mnist
    from jaxdl.training import fit_many

    data = fashion_mnist.load()
    init, model, loss, _ = model_fns("mlp")
    best = float("inf")
    for r in range(repeats):
        keys = jax.random.split(jax.random.key(r), NUM_MANY)
        start = time.perf_counter()
        if together:
            hs = fit_many(model, loss, jax.vmap(init)(keys), data, optax.sgd(LR), keys=keys, epochs=epochs,
                          batch_size=BATCH, devices=model_devices(NUM_MANY) if split else None, callbacks=()).history
        else:
            hs = [training.fit(model, loss, init(k), data, optax.sgd(LR), key=k, epochs=epochs, batch_size=BATCH,
                               callbacks=()).history for k in keys]
        best = min(best, time.perf_counter() - start)
    return {"train": best, "val_acc": float(sum(h.val_metric[-1] for h in hs) / len(hs)),
            "devices": jax.local_device_count()}


def one(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, in this process."""
    if kind == "peak":
        from jaxdl.datasets import fashion_mnist

        start = time.perf_counter()
        fashion_mnist.load_arrays()
        result = {"gflops": matmul_peak(args.repeats), "read": time.perf_counter() - start}
    elif kind.startswith("torch-"):
        result = run_torch(kind.split("-")[1], args.epochs, args.repeats)
    elif kind.startswith("many-"):
        result = run_many(args.many_epochs, max(1, args.repeats // 2), together=kind != "many-sequential",
                          split=kind == "many-split")
    else:
        name, loop = kind.split("-")
        if name == "lenet_xla" and loop == "python":
            raise SystemExit("lenet_xla is measured with the scanned epoch only")
        result = run_jaxdl(name, args.epochs if loop == "scan" else 1, args.repeats if loop == "scan" else 1, loop)
        if loop == "python":
            result["train"] *= args.epochs  # one epoch measured
    import jax

    result["device"] = (f"{jax.default_backend()} device {jax.devices()[0].device_kind!r} ({jax.devices()[0]})"
                        if not kind.startswith("torch-") else "cpu (torch)")
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def measure(kind: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """Runs one measurement in a fresh process; None if it failed (torch missing, for instance)."""
    command = [sys.executable, "-m", "experiments.benchmark", "--one", kind, "--repeats", str(args.repeats),
               "--epochs", str(args.epochs), "--many-epochs", str(args.many_epochs)]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  {kind}: failed ({out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (the fastest counts)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--many-epochs", type=int, default=2, help="epochs of the 8-MLP comparison")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=[*MODELS, "lenet_xla"],
                        help="which models to measure (default: all; lenet_xla: LeNet with XLA's convolution)")
    parser.add_argument("--no-many", action="store_true", help="leave out the 8-MLP comparison")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args)))
        return

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at start; "
          f"{args.epochs} epochs of batch {BATCH} on all of Fashion-MNIST, fastest of {args.repeats}")
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("torch is not importable: the PyTorch columns stay empty (`make references` installs it)")
    peak = measure("peak", args)
    print(f"float32 matmul peak (1024 x 1024): {peak['gflops']:.1f} GFLOP/s on {peak['device']}; reading and "
          f"verifying the Fashion-MNIST files: {peak['read']:.2f} s")
    header = (f"{'model':<26} {'run':<14} {'GFLOP':>7} {'train s':>8} {'compile s':>9} {'x roofline':>10} "
              f"{'torch / this':>12} {'peak MiB':>8} {'val acc':>7}")
    print(header)
    print("-" * len(header))
    summary = []
    for name in args.models:
        kinds = ("scan",) if name == "lenet_xla" else ("scan", "python")
        results = {kind: measure(f"{name}-{kind}", args) for kind in kinds}
        results["torch"] = measure(f"torch-{name}", args) if have_torch and name != "lenet_xla" else None
        if name == "lenet_xla" and have_torch:
            results["torch"] = measure("torch-lenet", args)
        scan = results["scan"]
        flops = scan["flops_per_step"] * scan["steps"]
        roofline = flops / (peak["gflops"] * 1e9)
        for kind, r in results.items():
            if r is None:
                continue
            speedup = results["torch"]["train"] / r["train"] if results["torch"] else float("nan")
            print(f"{TITLES[name]:<26} {kind:<14} {flops / 1e9:>7.1f} {r['train']:>8.3f} "
                  f"{r.get('compile', float('nan')):>9.2f} {r['train'] / roofline:>10.2f} {speedup:>12.2f} "
                  f"{r['peak_rss_mib']:>8.0f} {r.get('val_acc', float('nan')):>7.4f}")
        max_roof, min_torch = TARGETS[name]
        speedup = results["torch"]["train"] / scan["train"] if results["torch"] else float("nan")
        if max_roof is None:  # LeNet: the book's 10 epochs within LENET_SECONDS
            ten = scan["train"] * 10 / args.epochs
            roof = (f"{scan['train'] / roofline:.2f}x the roofline; 10 epochs {ten:.0f} s (target <= {LENET_SECONDS:.0f}: "
                    f"{'met' if ten <= LENET_SECONDS else 'NOT met'}; {scan['steps'] * BATCHES[name] / scan['train']:.0f} "
                    "examples/s)")
        else:
            roof = (f"{scan['train'] / roofline:.2f}x the roofline ({roofline:.2f} s; target <= {max_roof}: "
                    f"{'met' if scan['train'] <= max_roof * roofline else 'NOT met'})")
        summary.append(f"{TITLES[name]}: {roof}, {speedup:.2f}x faster than PyTorch (target >= {min_torch}: "
                       f"{'met' if speedup >= min_torch else 'NOT met'})")
    if args.no_many:
        print("\n".join(["", *summary]))
        return
    together, split, apart = (measure(f"many-{kind}", args) for kind in ("together", "split", "sequential"))
    print(f"{NUM_MANY} MLPs, {args.many_epochs} epochs, compilation included: {NUM_MANY} fit calls {apart['train']:.2f} s "
          f"(peak {apart['peak_rss_mib']:.0f} MiB); one fit_many call {together['train']:.2f} s (peak "
          f"{together['peak_rss_mib']:.0f} MiB); fit_many split over {split['devices']} CPU devices "
          f"{split['train']:.2f} s (peak {split['peak_rss_mib']:.0f} MiB)")
    for label, r in (("one fit_many call", together), (f"fit_many over {split['devices']} devices", split)):
        ratio = apart["train"] / r["train"]
        summary.append(f"{NUM_MANY} MLPs, {label}: {ratio:.2f}x faster than {NUM_MANY} fit calls (target >= "
                       f"{MANY_TARGET}: {'met' if ratio >= MANY_TARGET else 'NOT met'})")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    shared = load > (os.cpu_count() or 1)
    print("\n".join(["", *summary, f"load average at the end: {load:.1f}" + (
        f" (above the {os.cpu_count()} cores: the machine was shared while measuring)" if shared else "")]))


if __name__ == "__main__":
    main()
