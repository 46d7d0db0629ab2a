"""d2l 5.7's Kaggle house prices: find, verify, download and read the two CSVs, then d2l's preprocessing."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jaxdl.datasets import DataError, named_dir, require_named
from jaxdl.files import cache_home, check_writable_file, download_atomic, write_text_atomic

#: d2l's data hub (d2l 1.0.3's DATA_URL); d2l downloads DATA_URL + file name.
DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
#: The environment variable that names a directory holding the two CSVs.
ENV_VAR = "JAXDL_KAGGLE_HOUSE"
LABEL = "SalePrice"

#: File name, SHA-1 (the hashes d2l checks) and size in bytes of the two files.
FILES = {
    "train": ("kaggle_house_pred_train.csv", "585e9cc93e70b39160e7921475f9bcd7d31219ce", 460676),
    "test": ("kaggle_house_pred_test.csv", "fa19780a7b011d9b009e8bff8e99922a8ee2eb90", 451405),
}


def cache_dir() -> Path:
    """The per-user download directory: $XDG_CACHE_HOME/jaxdl/kaggle-house (~/.cache where unset or empty)."""
    return cache_home() / "jaxdl" / "kaggle-house"


def explicit_dir(root: str | Path | None = None) -> tuple[Path, str] | None:
    """The directory the user named, root= or else $JAXDL_KAGGLE_HOUSE or else $JAXDL_DATA (~ expanded), and
    which it was: fashion_mnist.explicit_dir's rule."""
    return named_dir(root, (ENV_VAR, "JAXDL_DATA"))


def search_dirs(root: str | Path | None = None) -> list[Path]:
    """Where the files are looked for: the directory the user named (root=, else $JAXDL_KAGGLE_HOUSE, else
    $JAXDL_DATA) alone, or else the user cache. locate() refuses a named directory that lacks a file rather
    than falling back to another copy."""
    named = explicit_dir(root)
    return [named[0]] if named is not None else [cache_dir()]


def missing_files(directory: Path) -> list[str]:
    """The CSV names not in directory; a DataError if the directory cannot be looked inside."""
    try:
        return [name for name, _, _ in FILES.values() if not (directory / name).is_file()]
    except PermissionError:
        raise DataError(f"cannot look inside {directory} (permission denied); make it readable (chmod a+rx)") from None


def locate(root: str | Path | None = None) -> Path | None:
    """The directory to read the two files from, or None when the user cache lacks them.

    A directory the user named (root=, else $JAXDL_KAGGLE_HOUSE, else $JAXDL_DATA) must hold both files: a
    DataError names it and the missing ones, and no other copy is read.
    """
    named = explicit_dir(root)
    if named is not None:
        directory, source = named
        return require_named(directory, source, missing_files(directory), "d2l's two Kaggle house CSVs")
    return cache_dir() if not missing_files(cache_dir()) else None


def problem(content: bytes, sha1: str, size: int | None = None) -> str | None:
    """What is wrong with a file's bytes compared with d2l's (its size, to name truncation, and its SHA-1), or None."""
    if size is not None and len(content) != size:
        state = "truncated" if len(content) < size else "longer than d2l's file"
        return f"{state}: {len(content)} bytes where d2l's file has {size}"
    digest = hashlib.sha1(content).hexdigest()
    return None if digest == sha1 else f"not d2l's file (SHA-1 {digest}, expected {sha1})"


def read_verified(path: str | Path, sha1: str, size: int | None = None) -> bytes:
    """The bytes of a file, after checking them against d2l's SHA-1 (and its size)."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path} ({err.strerror or err}); check that it is a readable file") from None
    wrong = problem(content, sha1, size)
    if wrong is not None:
        raise DataError(f"{path} is {wrong}; delete it and run again to download a fresh copy")
    return content


def download(dest: str | Path | None = None, base_url: str | None = None) -> Path:
    """Downloads the missing files from d2l's data hub (DATA_URL by default) into dest (the user cache by default).

    Each file goes to a temporary name and is renamed only once its SHA-1 matches, so an interrupted or
    corrupted download never looks like a valid file.
    """
    dest = Path(dest).expanduser() if dest is not None else cache_dir()
    base_url = DATA_URL if base_url is None else base_url
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(
            f"cannot create the download directory {dest} ({err.strerror or err}); set $XDG_CACHE_HOME to a "
            f"writable directory, or put the two CSVs somewhere and pass root= or set ${ENV_VAR}"
        ) from None
    for name, sha1, size in FILES.values():
        if (dest / name).is_file():
            continue

        def verify(tmp: Path, url: str = base_url + name, sha1: str = sha1, size: int = size) -> None:
            wrong = problem(tmp.read_bytes(), sha1, size)
            if wrong is not None:
                raise DataError(
                    f"the download of {url} is {wrong}; nothing was saved. Run again (the connection "
                    f"may have dropped), or put the two files in a directory and set ${ENV_VAR}"
                )

        try:
            download_atomic(base_url + name, dest / name, verify)
        except OSError as err:
            raise DataError(
                f"could not download {base_url + name} ({err}); check the network, or put "
                f"{' and '.join(n for n, _, _ in FILES.values())} in a directory and pass it as root= "
                f"or set ${ENV_VAR}"
            ) from None
    return dest


def load(root: str | Path | None = None, download_if_missing: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw training and test tables (d2l's raw_train and raw_val), each file checked against its SHA-1."""
    directory = locate(root)
    if directory is None:
        if not download_if_missing:
            raise DataError(
                "the Kaggle house CSVs are not in " + ", ".join(map(str, search_dirs(root)))
                + f"; pass root=, set ${ENV_VAR} to the directory that holds them, or allow the download"
            )
        directory = download()
    tables = []
    for name, sha1, size in FILES.values():
        content = read_verified(directory / name, sha1, size)
        tables.append(pd.read_csv(io.BytesIO(content)))
    return tables[0], tables[1]


@dataclass(frozen=True)
class HouseData:
    """d2l's preprocessed data as float32 arrays: features, log prices, and what names them."""

    X_train: np.ndarray  # (1460, features)
    y_train: np.ndarray  # (1460, 1), log(SalePrice)
    X_test: np.ndarray  # (1459, features)
    columns: tuple[str, ...]
    test_ids: np.ndarray  # (1459,), the Id column a submission needs
    sale_price: np.ndarray  # (1460,), the raw training prices (float64)


def preprocess_frame(raw_train: pd.DataFrame, raw_test: pd.DataFrame, standardize: bool = True) -> pd.DataFrame:
    """d2l's feature table over training and test rows together: numeric columns standardised (mean and
    sample std of both sets), their missing values set to 0, every other column one-hot with a NaN column."""
    for name, frame, needed in (("training", raw_train, ("Id", LABEL)), ("test", raw_test, ("Id",))):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(f"the {name} table lacks the column(s) {', '.join(missing)}; is it d2l's file?")
    features = pd.concat((raw_train.drop(columns=["Id", LABEL]), raw_test.drop(columns=["Id"])))
    # d2l picks the columns whose dtype is not "object"; pandas 3 reads text as "str", so ask for numbers.
    numeric = features.select_dtypes(include="number").columns
    if standardize:
        features[numeric] = (features[numeric] - features[numeric].mean()) / features[numeric].std()
    features[numeric] = features[numeric].fillna(0)
    return pd.get_dummies(features, dummy_na=True)


def preprocess(raw_train: pd.DataFrame, raw_test: pd.DataFrame, standardize: bool = True) -> HouseData:
    """d2l's KaggleHouse.preprocess and get_dataloader: float32 features and log prices."""
    features = preprocess_frame(raw_train, raw_test, standardize)
    # float64 first, then float32, as d2l's torch.tensor(x.values.astype(float), dtype=torch.float32).
    X = features.to_numpy(dtype=np.float64).astype(np.float32)
    n = len(raw_train)
    price = raw_train[LABEL].to_numpy(dtype=np.float64)
    return HouseData(
        X_train=X[:n],
        # The float64 log of the float32 price, rounded once: torch.log's float32 result in all but one of the
        # 1460 prices (there torch is 1 ulp off the correctly rounded value; numpy's float32 log is off in 26).
        y_train=np.log(price.astype(np.float32).astype(np.float64)).astype(np.float32).reshape(-1, 1),
        X_test=X[n:],
        columns=tuple(features.columns),
        test_ids=raw_test["Id"].to_numpy(),
        sale_price=price,
    )


def k_fold_indices(num_examples: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """d2l's k_fold_data as (train rows, validation rows) per fold: fold j validates on the contiguous block
    [j * size, (j + 1) * size), size = num_examples // k, and trains on every other row in order (the
    num_examples % k rows at the end are never validated on)."""
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer of at least 2, got {k!r}")
    if num_examples < k:
        raise ValueError(f"cannot cut {num_examples} examples into {k} folds; use k <= {num_examples}")
    size = num_examples // k
    rows = np.arange(num_examples)
    return [(np.concatenate([rows[: j * size], rows[(j + 1) * size :]]), rows[j * size : (j + 1) * size])
            for j in range(k)]


def log_rmse(price_hat: np.ndarray, price: np.ndarray) -> float:
    """The competition's error: the root mean squared difference of log prices, predictions below 1 clamped to
    1 first (d2l's clamp, so a bad early model cannot take the log of a negative price)."""
    price_hat = np.asarray(price_hat, np.float64).ravel()
    price = np.asarray(price, np.float64).ravel()
    if price_hat.shape != price.shape:
        raise ValueError(f"{price_hat.shape[0]} predictions for {price.shape[0]} prices; they must pair up")
    return float(np.sqrt(np.mean((np.log(np.maximum(price_hat, 1.0)) - np.log(price)) ** 2)))


def write_submission(path: str | Path, ids: np.ndarray, price: np.ndarray) -> Path:
    """Writes Kaggle's submission.csv (Id, SalePrice) atomically: a temporary name in the same directory,
    then a rename, so an interrupted run never leaves half a file. A path that cannot be written (a directory,
    a file where a directory should be, a missing permission) is a jaxdl.files.OutputError before any work."""
    path = check_writable_file(path)  # creates the parent directories
    ids, price = np.asarray(ids).ravel(), np.asarray(price).ravel()
    if ids.shape != price.shape:
        raise ValueError(f"{ids.shape[0]} ids for {price.shape[0]} prices; they must pair up")
    if not np.all(np.isfinite(price)):
        raise ValueError("some predicted prices are NaN or infinite; the model diverged, so nothing was written")
    write_text_atomic(path, pd.DataFrame({"Id": ids, LABEL: price}).to_csv(index=False))
    return path
