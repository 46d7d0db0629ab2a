"""Loader arguments refused before any work: a named directory is the only one looked in, output paths are
checked, image sizes and label indices are validated, and an empty $XDG_CACHE_HOME counts as unset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from jaxdl import compilation_cache
from jaxdl.datasets import DataError, fashion_mnist, kaggle_house
from jaxdl.files import OutputError


def _fake_kaggle_dir(directory: Path) -> Path:
    directory.mkdir(parents=True)
    for name, _, _ in kaggle_house.FILES.values():
        (directory / name).write_text("Id\n1\n")
    return directory


def test_an_explicit_kaggle_root_without_the_csvs_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv(kaggle_house.ENV_VAR, str(_fake_kaggle_dir(tmp_path / "env")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty \(from root=\) lacks kaggle_house_pred_train.csv"):
        kaggle_house.locate(empty)
    with pytest.raises(DataError, match=r"from root=\) lacks"):
        kaggle_house.load(empty, download_if_missing=False)


def test_a_kaggle_environment_directory_without_the_csvs_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _fake_kaggle_dir(tmp_path / "xdg" / "jaxdl" / "kaggle-house")
    (tmp_path / "env").mkdir()
    monkeypatch.setenv(kaggle_house.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(DataError, match=r"from \$JAXDL_KAGGLE_HOUSE\) lacks"):
        kaggle_house.locate()
    assert kaggle_house.search_dirs() == [tmp_path / "env"]


def test_kaggle_without_a_named_directory_searches_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(kaggle_house.ENV_VAR, raising=False)
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = _fake_kaggle_dir(tmp_path / "xdg" / "jaxdl" / "kaggle-house")
    assert kaggle_house.locate() == cache


def test_write_submission_to_a_directory_says_it_is_a_directory(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        kaggle_house.write_submission(tmp_path, [1], [2.0])


def test_write_submission_to_an_unwritable_path_says_so(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match=r"is a file, not a directory"):
        kaggle_house.write_submission(blocker / "sub" / "submission.csv", [1], [2.0])
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: every directory is writable")
        with pytest.raises(OutputError, match="cannot write to .*locked"):
            kaggle_house.write_submission(locked / "submission.csv", [1], [2.0])
    finally:
        locked.chmod(0o700)


def test_an_int_resize_means_a_square_and_sizes_must_be_positive_integer_pairs():
    assert fashion_mnist.check_resize(32) == (32, 32)
    assert fashion_mnist.check_resize((32, 24)) == (32, 24)
    assert fashion_mnist.check_resize(None) is None
    for bad in ((0, 0), (-1, 28), 0, -3, (28,), (28, 28, 1), 2.5, (28.0, 28), True, "32"):
        with pytest.raises(ValueError, match="resize must be"):
            fashion_mnist.check_resize(bad)


def test_load_refuses_a_bad_resize_before_reading_anything(monkeypatch):
    monkeypatch.setattr(fashion_mnist, "load_arrays", lambda *a, **k: pytest.fail("read before checking resize"))
    with pytest.raises(ValueError, match=r"resize must be .* got \(0, 0\)"):
        fashion_mnist.load(resize=(0, 0))


def test_load_resizes_to_a_square_for_an_int(monkeypatch, tiny_fashion_dir):
    data = fashion_mnist.load(tiny_fashion_dir, resize=8, verify=False)
    assert data.X_train.shape[1:] == (8, 8) and data.X_val.shape[1:] == (8, 8)


def test_text_labels_refuse_negative_and_out_of_range_indices():
    assert fashion_mnist.text_labels([0, 9]) == ["t-shirt", "ankle boot"]
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9, got -1"):
        fashion_mnist.text_labels([3, -1])
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9, got 10"):
        fashion_mnist.text_labels(np.array([10]))
    with pytest.raises(ValueError, match="labels must be integers"):
        fashion_mnist.text_labels([1.5])


@pytest.mark.parametrize("cache_dir", [fashion_mnist.cache_dir, kaggle_house.cache_dir, compilation_cache.cache_path])
def test_an_empty_xdg_cache_home_is_treated_as_unset(cache_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    path = cache_dir()
    assert path.is_absolute() and path.is_relative_to(tmp_path / ".cache" / "jaxdl")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir().is_relative_to(tmp_path / "xdg" / "jaxdl")
