"""Fashion-MNIST from its four official IDX files: find, verify, download, parse, put on device."""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import warnings
import zlib
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data import Dataset, scale_images
from jaxdl.datasets import DataError, named_dir, require_named
from jaxdl.files import cache_home, download_atomic

#: The official download location (the Fashion-MNIST project's own mirror).
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
#: Debian's `dataset-fashion-mnist` package installs the files here.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

#: File name and SHA-256 of the *decompressed* bytes: Debian recompresses the .gz files, so only
#: the content, not the .gz bytes, is the same everywhere.
FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "val_images": ("t10k-images-idx3-ubyte.gz", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "val_labels": ("t10k-labels-idx1-ubyte.gz", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}

TEXT_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def text_labels(labels: Sequence[int] | jax.Array) -> list[str]:
    """Class names of Fashion-MNIST labels, integers in 0..9 (a negative index is refused, not counted from the end)."""
    labels = np.asarray(labels).ravel()
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers in 0..{len(TEXT_LABELS) - 1}, got {labels.dtype} values")
    bad = labels[(labels < 0) | (labels >= len(TEXT_LABELS))]
    if bad.size:
        raise ValueError(f"labels must lie in 0..{len(TEXT_LABELS) - 1}, got {int(bad[0])}")
    return [TEXT_LABELS[int(i)] for i in labels]


def cache_dir() -> Path:
    """The per-user download directory: $XDG_CACHE_HOME/jaxdl/fashion-mnist (~/.cache where unset or empty)."""
    return cache_home() / "jaxdl" / "fashion-mnist"


def explicit_dir(root: str | Path | None = None) -> tuple[Path, str] | None:
    """The directory the user named, root= or else $JAXDL_DATA (~ expanded), and which of the two it was."""
    return named_dir(root, ("JAXDL_DATA",))


def search_dirs(root: str | Path | None = None) -> list[Path]:
    """Where the files are looked for, in order: root, $JAXDL_DATA, the user cache, Debian's directory.

    A directory the user named (root= or $JAXDL_DATA) is the only one looked in: locate() refuses it
    when it lacks a file rather than falling back to another copy.
    """
    named = explicit_dir(root)
    return [named[0]] if named is not None else [cache_dir(), SYSTEM_DIR]


def missing_files(directory: Path) -> list[str]:
    """The Fashion-MNIST file names not in directory; a DataError if the directory or a file cannot be read."""
    missing = []
    for name, _ in FILES.values():
        path = directory / name
        try:
            present = path.is_file()
        except PermissionError:
            raise DataError(
                f"cannot look inside {directory} (permission denied); make it readable (chmod a+rx) "
                "or use another copy"
            ) from None
        if not present:
            missing.append(name)
        elif not os.access(path, os.R_OK):
            raise DataError(f"cannot read {path} (permission denied); make it readable (chmod a+r) or delete it")
    return missing


def decompress(path: Path) -> bytes:
    """The bytes of a .gz file (or of a plain file), with a clear error if it is unreadable or damaged."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(
            f"cannot read {path} ({err.strerror or err}); make it readable (chmod a+r) or delete it"
        ) from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(
            f"{path} is a damaged gzip file ({err}); delete it and run again to download a fresh copy"
        ) from None


def parse_idx(content: bytes, name: str = "IDX data") -> np.ndarray:
    """Parses the IDX format (magic 0 0 dtype ndim, big-endian int32 dims, then the data)."""
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] not in _IDX_DTYPES:
        raise DataError(f"{name} is not an IDX file (bad magic number {content[:4].hex()})")
    ndim = content[3]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{name} is truncated inside its header; delete it and download it again")
    shape = tuple(int(d) for d in np.frombuffer(content, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[content[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # exact: np.prod wraps around on damaged dims
    if len(content) != expected:
        state = "truncated" if len(content) < expected else "longer than its header says"
        raise DataError(
            f"{name} is {state}: {len(content)} bytes where shape {shape} needs {expected}; "
            "delete it and download it again"
        )
    return np.frombuffer(content, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path, sha256: str | None = None) -> np.ndarray:
    """Reads one IDX(.gz) file; with sha256, first checks the decompressed content against it."""
    path = Path(path)
    content = decompress(path)
    if sha256 is not None and hashlib.sha256(content).hexdigest() != sha256:
        raise DataError(
            f"{path} does not hold the official Fashion-MNIST content (SHA-256 of the decompressed bytes "
            f"differs); delete it and run again to download a fresh copy"
        )
    return parse_idx(content, str(path))


def locate(root: str | Path | None = None) -> Path | None:
    """The directory to read the four files from, or None when no copy is found.

    A directory the user named (root=, else $JAXDL_DATA) must hold all four files: a DataError names it
    and the missing ones. Otherwise the user cache, then Debian's directory; one that cannot be read is
    passed over with a warning, so it does not hide a good copy later in the order.
    """
    named = explicit_dir(root)
    if named is not None:
        directory, source = named
        return require_named(directory, source, missing_files(directory), "the four Fashion-MNIST files")
    for directory in search_dirs():
        try:
            if not missing_files(directory):
                return directory
        except DataError as err:
            warnings.warn(f"{err}; looking in the next directory", stacklevel=2)
    return None


def download(dest: str | Path | None = None, base_url: str = BASE_URL, progress: bool = True) -> Path:
    """Downloads the missing official files into dest (the user cache by default).

    Each file goes to a temporary name and is renamed only once its decompressed content matches the
    official checksum, so an interrupted or corrupted download never looks like a valid file.
    """
    dest = Path(dest).expanduser() if dest is not None else cache_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(
            f"cannot create the download directory {dest} ({err.strerror or err}); set $XDG_CACHE_HOME to a "
            "writable directory, or put the four files somewhere and pass root= or set $JAXDL_DATA"
        ) from None
    for name, sha in FILES.values():
        if (dest / name).is_file():
            continue
        try:
            download_atomic(base_url + name, dest / name, lambda tmp: read_idx(tmp, sha), progress)
        except OSError as err:
            raise DataError(
                f"could not download {base_url + name} ({err}); check the network, or put the four "
                f"Fashion-MNIST .gz files in a directory and pass it as root= or set $JAXDL_DATA "
                f"(on Debian: apt-get install dataset-fashion-mnist)"
            ) from None
    return dest


def load_arrays(
    root: str | Path | None = None, download_if_missing: bool = True, verify: bool = True
) -> dict[str, np.ndarray]:
    """The four arrays as numpy: train/val images (N, 28, 28) uint8 and labels (N,) uint8."""
    directory = locate(root)
    if directory is None:
        if not download_if_missing:
            raise DataError(
                # root is None here (locate refuses a named directory that lacks a file)
                "Fashion-MNIST not found in " + ", ".join(map(str, search_dirs()))
                + "; pass root=, set $JAXDL_DATA, install Debian's dataset-fashion-mnist, or allow the download"
            )
        directory = download()
    arrays = {key: read_idx(directory / name, sha if verify else None) for key, (name, sha) in FILES.items()}
    for split in ("train", "val"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{directory}: {split} images {images.shape} and labels {labels.shape} do not pair up "
                "(expected (N, rows, cols) and (N,)); the files are mixed up or damaged"
            )
    return arrays


def resize_images(images: jax.Array, size: tuple[int, int]) -> jax.Array:
    """Bilinear resize of a uint8 image stack (N, H, W), kept uint8 as torchvision's Resize keeps PIL images."""
    # resize computes in float32; linear interpolation of values in [0, 255] stays in [0, 255]
    return jnp.round(jax.image.resize(images, (images.shape[0], *size), method="linear")).astype(jnp.uint8)


def check_resize(resize: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """resize= as (height, width): an int n is the square (n, n), what torchvision's Resize(n) gives a square
    image; anything but None, a positive int or a pair of positive ints is a ValueError."""
    def positive_int(x: object) -> bool:
        return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) and x > 0

    if resize is None:
        return None
    if positive_int(resize):
        return int(resize), int(resize)
    if isinstance(resize, (tuple, list)) and len(resize) == 2 and all(positive_int(n) for n in resize):
        return int(resize[0]), int(resize[1])
    raise ValueError(
        f"resize must be a positive int (a square) or a pair (height, width) of positive ints, got {resize!r}"
    )


def load(
    root: str | Path | None = None,
    resize: int | tuple[int, int] | None = None,
    download_if_missing: bool = True,
    verify: bool = True,
) -> Dataset:
    """Fashion-MNIST on device: uint8 images (N, H, W) and int32 labels; the test set is the validation set.

    resize is (height, width), or an int n for (n, n) as torchvision's Resize(n) gives 28 x 28 images."""
    size = check_resize(resize)  # before anything is read or downloaded
    a = load_arrays(root, download_if_missing, verify)
    X_train, X_val = jnp.asarray(a["train_images"]), jnp.asarray(a["val_images"])
    if size is not None:
        X_train, X_val = resize_images(X_train, size), resize_images(X_val, size)
    return Dataset(X_train, jnp.asarray(a["train_labels"], jnp.int32), X_val, jnp.asarray(a["val_labels"], jnp.int32))


def _tfds_split(tfds, split: str, data_dir: str | Path | None, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """One split of TFDS's fashion_mnist as numpy: images (N, 28, 28) uint8 and labels (N,) int32, checked."""
    source = tfds.data_source("fashion_mnist", split=split, data_dir=data_dir, download=download)
    examples = [source[i] for i in range(len(source))]
    if not examples:
        raise DataError(f"TFDS's fashion_mnist {split} split is empty; prepare it again (download=True)")
    images = np.stack([np.asarray(e["image"]) for e in examples])
    labels = np.asarray([e["label"] for e in examples])
    if images.shape[1:] != (28, 28, 1) or images.dtype != np.uint8:
        raise DataError(
            f"TFDS's fashion_mnist {split} images are {images.dtype}{list(images.shape[1:])}, not uint8 [28, 28, 1]; "
            "the prepared dataset is not Fashion-MNIST (check data_dir)"
        )
    if labels.min() < 0 or labels.max() >= len(TEXT_LABELS):
        raise DataError(f"TFDS's fashion_mnist {split} labels lie in [{labels.min()}, {labels.max()}], not [0, 9]")
    return images[..., 0], labels.astype(np.int32)


def load_tfds(data_dir: str | Path | None = None, download: bool = True) -> Dataset:
    """Fashion-MNIST through tensorflow-datasets (the optional `tfds` extra), in TFDS's example order.

    Reads TFDS's prepared ArrayRecord files with `tfds.data_source`, which needs no TensorFlow.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError(
            "load_tfds needs tensorflow-datasets: pip install 'jaxdl[tfds]' (or use load(), which reads "
            "the IDX files with numpy and needs nothing more)"
        ) from None
    X_train, y_train = _tfds_split(tfds, "train", data_dir, download)
    X_val, y_val = _tfds_split(tfds, "test", data_dir, download)
    return Dataset(jnp.asarray(X_train), jnp.asarray(y_train), jnp.asarray(X_val), jnp.asarray(y_val))


#: uint8 pixels to float32 in [0, 1] (jaxdl.data.scale_images, done inside the compiled step).
scale = scale_images

