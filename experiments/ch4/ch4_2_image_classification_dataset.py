"""d2l 4.2 The image classification dataset: Fashion-MNIST read from its IDX files, checked against torch's reading."""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import Dataset, data, plotting
from jaxdl.datasets import fashion_mnist
from experiments.harness import references

SECTION = "4.2"
TITLE = "The image classification dataset"
REFERENCE = "ch4_2_image_classification_dataset"

TOLERANCES: Tolerances = {
    "statistics": Tolerance(rtol=1e-7, why="float64 sums of the uint8 pixels, in another order than torch's"),
    "resized pixels": Tolerance(atol=1, why="bilinear resize rounds to uint8: JAX and PIL may round a value at .5 "
                                            "apart, one grey level"),
    "resized sum": Tolerance(rtol=1e-5, why="the sum of 1000 resized images, each pixel within one grey level"),
}

BATCH_SIZES = (1, 64, 256)
FAST_MAX_BATCHES = 500  # with fast=True, each Python-loop timing reads at most this many batches
RESIZED = (32, 32)


def split_summary(X: jax.Array, y: jax.Array) -> dict[str, Any]:
    """What the generator stores per split, from jaxdl's uint8 images and int32 labels."""
    scaled = np.asarray(fashion_mnist.scale(X), np.float64)
    return {
        "size": X.shape[0],
        "label_counts": jnp.bincount(y, length=10),
        "uint8_pixel_sum": np.asarray(X).sum(dtype=np.int64),  # 3.4e9 for the training set: beyond int32
        "scaled_pixel_sum": scaled.sum(),
        "scaled_pixel_mean": scaled.mean(),
        "scaled_pixel_std": scaled.std(ddof=1),  # torch.std is the unbiased estimate
        "scaled_min": scaled.min(),
        "scaled_max": scaled.max(),
    }


def make_read_batch() -> Callable:
    """One jitted minibatch read: gather the rows of plan row i from the device arrays, scale to [0, 1]."""

    def read(X: jax.Array, y: jax.Array, idx: jax.Array, i: jax.Array) -> tuple[jax.Array, jax.Array]:
        return fashion_mnist.scale(X[idx[i]]), y[idx[i]]

    return jax.jit(read)


def make_read_epoch() -> Callable:
    """A whole epoch of reads as one lax.scan (what training.fit compiles around its step); returns a
    checksum so the gathers are not optimised away."""

    def epoch(X: jax.Array, y: jax.Array, idx: jax.Array) -> jax.Array:
        def body(total, rows):
            return total + fashion_mnist.scale(X[rows]).sum() + y[rows].sum(), None

        return jax.lax.scan(body, jnp.float32(0), idx)[0]

    return jax.jit(epoch)


def read_times(dataset: Dataset, key: jax.Array, batch_size: int, max_batches: int | None) -> dict[str, float]:
    """Seconds to read minibatches from device-resident data: a Python loop of jitted gathers, and one scan."""
    idx, _ = data.batch_indices(key, dataset.X_train.shape[0], batch_size)
    num_batches = idx.shape[0] if max_batches is None else min(idx.shape[0], max_batches)
    read = make_read_batch()
    jax.block_until_ready(read(dataset.X_train, dataset.y_train, idx, 0))  # compile outside the timing
    start = time.perf_counter()
    for i in range(num_batches):
        batch = read(dataset.X_train, dataset.y_train, idx, i)
    jax.block_until_ready(batch)
    loop_seconds = time.perf_counter() - start

    epoch = make_read_epoch().lower(dataset.X_train, dataset.y_train, idx).compile()
    start = time.perf_counter()
    jax.block_until_ready(epoch(dataset.X_train, dataset.y_train, idx))
    return {"batches": idx.shape[0], "timed": num_batches, "loop_seconds": loop_seconds,
            "scan_seconds": time.perf_counter() - start}


def timing_table(times: dict[int, dict[str, float]], torch_seconds: dict[str, float]) -> str:
    """Markdown: jaxdl's reading times beside the stored PyTorch DataLoader times (full epochs)."""
    lines = ["| batch size | batches per epoch | batches timed | Python loop, µs per batch | Python loop, s per epoch "
             "| lax.scan, s per epoch | PyTorch DataLoader, s per epoch |", "|---|---|---|---|---|---|---|"]
    for batch_size, t in times.items():
        per_batch = t["loop_seconds"] / t["timed"]
        epoch = f"{t['loop_seconds']:.3f}" if t["timed"] == t["batches"] else f"≈{per_batch * t['batches']:.3f} (extrapolated)"
        lines.append(f"| {batch_size} | {t['batches']} | {t['timed']} | {per_batch * 1e6:.1f} | {epoch} | "
                     f"{t['scan_seconds']:.3f} | {torch_seconds[str(batch_size)]:.3f} |")
    return "\n".join(lines)


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    dataset = fashion_mnist.load()

    for split in ("train", "val"):
        X, y = getattr(dataset, f"X_{split}"), getattr(dataset, f"y_{split}")
        ours, theirs = split_summary(X, y), ref[split]
        result.compare(f"{split}: image shape with a channel axis added (jaxdl stores {tuple(X.shape[1:])})",
                       list(X[:1, None].shape[1:]), theirs["example_shape"])
        result.compare(f"{split}: scaled image dtype", str(fashion_mnist.scale(X[:1]).dtype), theirs["example_dtype"])
        result.compare(f"{split}: label dtype (torch {theirs['label_dtype']} is int32 in JAX)", str(y.dtype),
                       str(jax.dtypes.canonicalize_dtype(np.dtype(theirs["label_dtype"]))))
        for key in ("size", "label_counts", "uint8_pixel_sum", "scaled_min", "scaled_max"):
            result.compare(f"{split}: {key}", ours[key], theirs[key])
        # x / 255 compiles to x * (1 / 255) in XLA: some pixel values differ from torch's in the last bit.
        for key in ("scaled_pixel_sum", "scaled_pixel_mean", "scaled_pixel_std"):
            result.compare(f"{split}: {key}", ours[key], theirs[key], tol=TOLERANCES["statistics"])

    levels = jnp.arange(256, dtype=jnp.uint8)
    off_by_ulp = int((np.asarray(fashion_mnist.scale(levels)) != np.arange(256, dtype=np.float32) / np.float32(255)).sum())
    result.text(
        f"jaxdl keeps the images as they are in the file, uint8 {tuple(dataset.X_train.shape)} on the device "
        f"({dataset.X_train.nbytes / 2**20:.0f} MiB for the training set), and scales them inside the compiled "
        "training step; torchvision's `ToTensor()` makes each image a float32 tensor (1, 28, 28) with a channel "
        "axis in front, and labels are int64 there, int32 here. Scaling gives the same values up to the last "
        f"bit: {off_by_ulp} of the 256 pixel levels differ by one float32 ulp, because XLA turns x / 255 into "
        "x * (1/255)."
    )

    first = dataset.y_val[: len(ref["first_val_labels"])]
    result.compare("first validation labels", first, ref["first_val_labels"])
    result.compare("their text labels", fashion_mnist.text_labels(first), ref["first_val_text_labels"])
    X, y = dataset.X_val[:18], dataset.y_val[:18]
    result.save_figure(plotting.show_images(X, 2, 9, titles=fashion_mnist.text_labels(y)), "fashion_mnist_examples.png")

    times = {bs: read_times(dataset, jax.random.key(bs), bs, FAST_MAX_BATCHES if fast else None) for bs in BATCH_SIZES}
    result.text(
        timing_table(times, ref["timing"]["dataloader_epoch_seconds"]) + "\n\n"
        "jaxdl reads a minibatch by gathering rows of the device arrays with an index plan "
        "(`data.batch_indices`: a permutation cut into batches, the last one padded and masked). In a Python "
        "loop each batch costs one dispatch of a jitted gather; inside `lax.scan`, as `training.fit` runs an "
        "epoch, there is no per-batch Python at all. The PyTorch column is a `DataLoader` without workers over "
        "the already-converted tensors on the generator's machine; the time d2l measures also includes "
        "torchvision's per-image PIL conversion, which this column leaves out."
    )

    resized = fashion_mnist.load(resize=RESIZED)
    theirs = ref["resize_32"]
    for split in ("train", "val"):
        result.compare(f"resize: {split} images (N, 32, 32)", list(getattr(resized, f"X_{split}").shape),
                       [ref[split]["size"], *theirs["example_shape"][1:]])
    result.compare("resize: image shape with a channel axis added", list(resized.X_val[:1, None].shape[1:]),
                   theirs["example_shape"])
    first_8 = np.asarray(resized.X_val[:8], np.int64)
    # Bilinear weights in float32 on both sides; a pixel that lands on x.5 may round either way.
    result.compare("resize: first 8 validation images, uint8 values", first_8, theirs["first_8_val"], tol=TOLERANCES["resized pixels"])
    total = np.asarray(resized.X_val[:1000]).sum(dtype=np.int64)
    result.compare("resize: pixel sum of the first 1000 validation images", total,
                   theirs["first_1000_val_uint8_sum"], tol=TOLERANCES["resized sum"])
    difference = np.abs(first_8 - np.asarray(theirs["first_8_val"]))
    result.text(
        f"`fashion_mnist.load(resize={RESIZED})` resizes with `jax.image.resize` (bilinear, half-pixel "
        f"centres) and rounds back to uint8, as `transforms.Resize` does to PIL images: "
        f"{int((difference > 0).sum())} of the {first_8.size} pixels of the first 8 validation images differ "
        f"from the PyTorch-side bilinear resize (largest difference {int(difference.max())}); the pixel sums "
        f"of the first 1000 are {total} here and {theirs['first_1000_val_uint8_sum']} there."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
