"""Shared fixtures: small IDX files written on the fly, and the real Fashion-MNIST when present."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

# d2l 5.7's Kaggle CSVs are never committed: CI keeps them in shared/data/kaggle-house beside the clone.
KAGGLE_HOUSE_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "kaggle-house"
if not os.environ.get("JAXDL_KAGGLE_HOUSE") and KAGGLE_HOUSE_DIR.is_dir():
    os.environ["JAXDL_KAGGLE_HOUSE"] = str(KAGGLE_HOUSE_DIR)
from jaxdl.compilation_cache import enable_compilation_cache

enable_compilation_cache()  # repeated test runs reuse compiled programs (opt out: JAXDL_NO_COMPILATION_CACHE=1)


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Writes a uint8 array in the IDX format (optionally gzipped)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    content = header + np.ascontiguousarray(array, np.uint8).tobytes()
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


@pytest.fixture
def tiny_fashion_dir(tmp_path: Path) -> Path:
    """A directory with the four Fashion-MNIST file names holding tiny random data (12 train, 5 val)."""
    from jaxdl.datasets.fashion_mnist import FILES

    rng = np.random.default_rng(0)
    shapes = {"train_images": (12, 28, 28), "train_labels": (12,), "val_images": (5, 28, 28), "val_labels": (5,)}
    for key, (name, _) in FILES.items():
        high = 256 if "images" in key else 10
        write_idx(tmp_path / name, rng.integers(0, high, shapes[key]).astype(np.uint8))
    return tmp_path


@pytest.fixture(scope="session")
def fashion():
    """The real Fashion-MNIST on device (the files must be installed or downloadable)."""
    from jaxdl.datasets import fashion_mnist

    return fashion_mnist.load()
