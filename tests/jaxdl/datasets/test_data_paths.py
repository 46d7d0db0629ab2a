"""Where Fashion-MNIST is read from: named directories are used or refused, never silently replaced."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from jaxdl.datasets import fashion_mnist
from jaxdl.datasets.fashion_mnist import FILES, DataError

NAMES = [name for name, _ in FILES.values()]


@pytest.fixture
def elsewhere(tiny_fashion_dir, monkeypatch, tmp_path):
    """A good copy in the user cache and Debian's directory, so a fallback would succeed if it were taken."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tiny_fashion_dir)
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    return tiny_fashion_dir


def _partial_copy(directory: Path, source: Path, keep: int) -> Path:
    directory.mkdir()
    for name in NAMES[:keep]:
        (directory / name).write_bytes((source / name).read_bytes())
    return directory


def test_a_root_lacking_files_is_an_error_naming_it_and_the_missing_files(elsewhere, tmp_path):
    root = _partial_copy(tmp_path / "mine", elsewhere, keep=2)
    with pytest.raises(DataError, match=rf"{root} \(from root=\) lacks {NAMES[2]}, {NAMES[3]}; put the four"):
        fashion_mnist.load(root, verify=False)


def test_jaxdl_data_lacking_files_is_an_error_not_a_fallback(elsewhere, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXDL_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"nowhere \(from \$JAXDL_DATA\) lacks train-images.*no other copy is used"):
        fashion_mnist.load(verify=False)


def test_without_a_named_directory_the_search_finds_the_later_copy(elsewhere):
    assert fashion_mnist.locate() == elsewhere


def test_tilde_is_expanded_in_root_and_jaxdl_data(elsewhere, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(elsewhere.parent))
    assert fashion_mnist.locate(f"~/{elsewhere.name}") == elsewhere
    monkeypatch.setenv("JAXDL_DATA", f"~/{elsewhere.name}")
    assert fashion_mnist.locate() == elsewhere
    assert fashion_mnist.load(verify=False).X_train.shape == (12, 28, 28)


def _deny(monkeypatch, method: str, under: Path) -> None:
    """Makes Path.<method> raise PermissionError for paths under a directory, as chmod does for other users
    (the tests may run as root, whom chmod does not stop)."""
    original = getattr(Path, method)

    def denied(self, *args, **kw):
        if str(self).startswith(str(under)):
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kw)

    monkeypatch.setattr(Path, method, denied)


def test_an_unreadable_file_is_a_data_error_naming_it(elsewhere, monkeypatch):
    _deny(monkeypatch, "read_bytes", elsewhere / NAMES[1])
    with pytest.raises(DataError, match=rf"cannot read {elsewhere / NAMES[1]} \(Permission denied\); make it readable"):
        fashion_mnist.load(elsewhere, verify=False)


def test_an_unreadable_named_directory_is_a_data_error(elsewhere, monkeypatch):
    _deny(monkeypatch, "is_file", elsewhere)
    with pytest.raises(DataError) as err:
        fashion_mnist.locate(elsewhere)
    assert str(err.value) == (f"cannot look inside {elsewhere} (permission denied); make it readable (chmod a+rx) "
                              "or use another copy")


def test_an_unreadable_cache_warns_and_does_not_hide_debians_copy(elsewhere, tmp_path, monkeypatch):
    cache = fashion_mnist.cache_dir()
    _deny(monkeypatch, "is_file", cache)
    with pytest.warns(UserWarning, match=rf"cannot look inside {cache} \(permission denied\).*next directory") as caught:
        assert fashion_mnist.locate() == elsewhere
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampolines add a frame
        assert Path(caught[0].filename) == Path(__file__)  # the warning points at locate's caller


def test_an_uncreatable_download_directory_is_a_data_error(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(DataError) as err:
        fashion_mnist.download(tmp_path / "a_file" / "cache", base_url="http://127.0.0.1:9/", progress=False)
    assert str(err.value) == (
        f"cannot create the download directory {tmp_path / 'a_file' / 'cache'} (Not a directory); set "
        "$XDG_CACHE_HOME to a writable directory, or put the four files somewhere and pass root= or set $JAXDL_DATA")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="chmod does not stop root")
def test_a_chmod_000_file_is_a_data_error(elsewhere):
    path = elsewhere / NAMES[0]
    path.chmod(0)
    try:
        with pytest.raises(DataError, match=rf"cannot read {path}"):
            fashion_mnist.load(elsewhere, verify=False)
    finally:
        path.chmod(0o644)


def test_nothing_found_is_refused_naming_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    with pytest.raises(DataError) as err:
        fashion_mnist.load_arrays(download_if_missing=False)
    assert str(err.value) == (
        f"Fashion-MNIST not found in {tmp_path / 'cache' / 'jaxdl' / 'fashion-mnist'}, {tmp_path / 'debian'}; pass "
        "root=, set $JAXDL_DATA, install Debian's dataset-fashion-mnist, or allow the download")


def test_without_a_copy_load_downloads_by_default_and_verifies_by_default(monkeypatch, tmp_path, tiny_fashion_dir):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    downloads = []
    monkeypatch.setattr(fashion_mnist, "download", lambda: downloads.append(1) or tiny_fashion_dir)
    for load in (fashion_mnist.load_arrays, fashion_mnist.load):  # each downloads, then checks the official sums
        with pytest.raises(DataError, match="does not hold the official Fashion-MNIST content"):
            load()
    ds = fashion_mnist.load(verify=False)
    assert len(downloads) == 3 and ds.X_train.shape == (12, 28, 28)
    assert ds.y_train.dtype == ds.y_val.dtype == np.int32


def test_images_and_labels_that_do_not_pair_up_are_refused(tmp_path):
    from conftest import write_idx

    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (4, 28, 28)), "train_labels": rng.integers(0, 10, (4, 1)),
              "val_images": rng.integers(0, 256, (2, 28, 28)), "val_labels": rng.integers(0, 10, 2)}
    for key, (name, _) in FILES.items():
        write_idx(tmp_path / name, arrays[key].astype(np.uint8))
    with pytest.raises(DataError) as err:
        fashion_mnist.load_arrays(tmp_path, verify=False)
    assert str(err.value) == (f"{tmp_path}: train images (4, 28, 28) and labels (4, 1) do not pair up (expected "
                              "(N, rows, cols) and (N,)); the files are mixed up or damaged")


def test_an_unreadable_file_found_by_its_permissions_is_named(elsewhere, monkeypatch):
    monkeypatch.setattr(fashion_mnist.os, "access", lambda path, mode: Path(path).name != NAMES[2])
    with pytest.raises(DataError) as err:
        fashion_mnist.locate(elsewhere)
    assert str(err.value) == (f"cannot read {elsewhere / NAMES[2]} (permission denied); make it readable (chmod a+r) "
                              "or delete it")


def test_the_cache_is_under_xdg_cache_home_or_else_home_dot_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert fashion_mnist.cache_dir() == tmp_path / "jaxdl" / "fashion-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert fashion_mnist.cache_dir() == Path.home() / ".cache" / "jaxdl" / "fashion-mnist"
    assert fashion_mnist.search_dirs(tmp_path / "mine") == [tmp_path / "mine"]  # root= alone
