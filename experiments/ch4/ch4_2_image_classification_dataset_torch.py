"""PyTorch reference numbers for d2l 4.2 The image classification dataset, computed as d2l 1.0.3 does.

torchvision is not needed: the IDX files are parsed here with numpy (as torchvision's
read_sn3_pascalvincent_tensor does) and scaled as transforms.ToTensor() does, uint8 -> float32 / 255,
with a channel axis in front, (1, 28, 28) per image.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from jaxdl.datasets.fashion_mnist import FILES, locate

from experiments.harness.torch_d2l import one_thread


TEXT_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip


def read_idx(path: Path) -> torch.Tensor:
    """An IDX(.gz) file as a tensor: magic 0x00000801 (labels) or 0x00000803 (images), big-endian sizes."""
    raw = gzip.open(path).read()
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic % 256
    assert magic // 256 == 0x08, f"{path}: not unsigned-byte IDX data"
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)
    return torch.from_numpy(data.copy())


def fashion_mnist_uint8() -> dict[str, torch.Tensor]:
    """The four arrays as torchvision.datasets.FashionMNIST keeps them (.data uint8, .targets int64)."""
    directory = locate()
    assert directory is not None, "Fashion-MNIST not found; run `python -m jaxdl` first"
    out = {key: read_idx(directory / name) for key, (name, _) in FILES.items()}
    return {k: v.long() if k.endswith("labels") else v for k, v in out.items()}


def to_tensor(images: torch.Tensor) -> torch.Tensor:
    """transforms.ToTensor() on a stack of uint8 images: (N, 1, H, W) float32 in [0, 1]."""
    return images.unsqueeze(1).float().div(255)


def read_times(X: torch.Tensor, y: torch.Tensor, batch_sizes: tuple[int, ...]) -> dict[str, float]:
    """Seconds for one shuffled pass of a DataLoader (no workers) over in-memory tensors, per batch size."""
    out = {}
    for batch_size in batch_sizes:
        loader = DataLoader(TensorDataset(X, y), batch_size, shuffle=True)
        start = time.perf_counter()
        for _ in loader:
            continue
        out[str(batch_size)] = time.perf_counter() - start
    return out


def resize_bilinear_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (half-pixel centres, as PIL's resize behind transforms.Resize), rounded to uint8."""
    out = F.interpolate(images.unsqueeze(1).float(), size=size, mode="bilinear", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8).squeeze(1)


def image_classification_dataset(data: dict[str, torch.Tensor]) -> dict[str, Any]:
    """d2l 4.2: sizes, shapes, dtypes, label counts, pixel checksums, the first val batch, 32x32 resizing."""
    out: dict[str, Any] = {}
    for split in ("train", "val"):
        images, labels = data[f"{split}_images"], data[f"{split}_labels"]
        X = to_tensor(images)
        out[split] = {
            "size": len(labels),
            "example_shape": list(X[0].shape),
            "example_dtype": str(X.dtype).removeprefix("torch."),
            "label_dtype": str(labels.dtype).removeprefix("torch."),
            "label_counts": torch.bincount(labels, minlength=10),
            "uint8_pixel_sum": images.long().sum(),
            "scaled_pixel_sum": X.double().sum(),
            "scaled_pixel_mean": X.double().mean(),
            "scaled_pixel_std": X.double().std(),
            "scaled_min": X.min(),
            "scaled_max": X.max(),
        }
    # d2l shows the first validation batch (shuffle=False): the first images of the test file.
    first = data["val_labels"][:8]
    out["first_val_labels"] = first
    out["first_val_text_labels"] = [TEXT_LABELS[int(i)] for i in first]
    resized = resize_bilinear_uint8(data["val_images"][:1000], (32, 32))
    out["resize_32"] = {
        "example_shape": [1, *resized.shape[1:]],
        "first_1000_val_uint8_sum": resized.long().sum(),
        "first_8_val": resized[:8],
    }
    train_X = to_tensor(data["train_images"])
    out["timing"] = {"dataloader_epoch_seconds": read_times(train_X, data["train_labels"], (1, 64, 256))}
    return out


def generate() -> dict[str, dict]:
    """This section's reference files: {file name: data} (torch on one thread, see one_thread)."""
    with one_thread():
        data = fashion_mnist_uint8()
        return {"ch4_2_image_classification_dataset": image_classification_dataset(data)}
