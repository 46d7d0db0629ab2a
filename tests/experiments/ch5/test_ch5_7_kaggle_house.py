"""d2l 5.7: the Kaggle house loader (search order, SHA-1s, damaged, missing and unreadable files, downloads), d2l's
preprocessing bit for bit, k-fold cross-validation replayed against PyTorch, and d2l's run in PyTorch's band."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from experiments.ch5 import ch5_7_kaggle_house_prices_exercises as exercises
from experiments.ch5 import ch5_7_kaggle_house_prices as house
from experiments.harness.result import Margin
from jaxdl.datasets import kaggle_house
from experiments.harness import references
from experiments.ch5 import house_prices
from experiments.harness import bands
from jaxdl.datasets import DataError
from jaxdl.datasets.kaggle_house import FILES

NAMES = [name for name, _, _ in FILES.values()]


def tol(name: str) -> dict[str, float]:
    """The rtol/atol of an entry of 5.7's TOLERANCES, as keyword arguments of np.testing.assert_allclose."""
    entry = house.TOLERANCES[name]
    return {"rtol": entry.rtol, "atol": entry.atol}


# ----------------------------------------------------------------------------- loader


@pytest.fixture(scope="module")
def house_dir() -> Path:
    """The directory that holds the real CSVs ($JAXDL_KAGGLE_HOUSE; tests/conftest.py points it at ../shared)."""
    directory = kaggle_house.locate()
    if directory is None:
        pytest.skip("the Kaggle house CSVs are not here; set $JAXDL_KAGGLE_HOUSE to the directory holding them")
    return directory


@pytest.fixture
def copy_dir(house_dir, tmp_path) -> Path:
    """A writable copy of the two real files."""
    for name in NAMES:
        shutil.copyfile(house_dir / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def no_search_dirs(monkeypatch, tmp_path):
    """No environment variables and an empty user cache, so only root= is searched."""
    monkeypatch.delenv(kaggle_house.ENV_VAR, raising=False)
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_the_data_hub_urls_are_d2ls():
    assert kaggle_house.DATA_URL == "http://d2l-data.s3-accelerate.amazonaws.com/"
    assert FILES["train"][:2] == ("kaggle_house_pred_train.csv", "585e9cc93e70b39160e7921475f9bcd7d31219ce")
    assert FILES["test"][:2] == ("kaggle_house_pred_test.csv", "fa19780a7b011d9b009e8bff8e99922a8ee2eb90")


def test_a_named_directory_is_the_only_one_searched_root_then_env_var_then_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(kaggle_house.ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setenv("JAXDL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert kaggle_house.search_dirs(tmp_path / "root") == [tmp_path / "root"]
    assert kaggle_house.search_dirs() == [tmp_path / "env"]
    monkeypatch.delenv(kaggle_house.ENV_VAR)
    assert kaggle_house.search_dirs() == [tmp_path / "data"]
    monkeypatch.delenv("JAXDL_DATA")
    assert kaggle_house.search_dirs() == [tmp_path / "cache" / "jaxdl" / "kaggle-house"]


def test_a_root_with_one_of_the_two_files_is_refused_though_the_env_var_holds_both(copy_dir, monkeypatch, tmp_path):
    half = tmp_path / "half"
    half.mkdir()
    shutil.copyfile(copy_dir / NAMES[0], half / NAMES[0])
    monkeypatch.setenv(kaggle_house.ENV_VAR, str(copy_dir))
    with pytest.raises(DataError, match=rf"^{half} \(from root=\) lacks {NAMES[1]}; .*no other copy is used"):
        kaggle_house.locate(half)  # root holds only one of the two files


def test_real_files_are_found_and_read(house_dir):
    train, test = kaggle_house.load(download_if_missing=False)
    assert train.shape == (1460, 81) and test.shape == (1459, 80)
    assert "SalePrice" in train.columns and "SalePrice" not in test.columns


def test_a_changed_byte_fails_the_sha1(copy_dir, no_search_dirs):
    path = copy_dir / NAMES[1]
    content = bytearray(path.read_bytes())
    content[5000] ^= 1
    path.write_bytes(bytes(content))
    expected = rf"{NAMES[1]} is not d2l's file \(SHA-1 [0-9a-f]{{40}}, expected fa19.*delete it"
    with pytest.raises(DataError, match=expected):
        kaggle_house.load(copy_dir, download_if_missing=False)


def test_a_truncated_file_is_named_as_truncated(copy_dir, no_search_dirs):
    path = copy_dir / NAMES[0]
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(DataError, match=rf"{NAMES[0]} is truncated: 459676 bytes where d2l's file has 460676"):
        kaggle_house.load(copy_dir, download_if_missing=False)


def test_problem_names_a_short_a_long_and_a_different_file():
    sha1 = hashlib.sha1(b"abcd").hexdigest()
    assert kaggle_house.problem(b"abcd", sha1, 4) is None and kaggle_house.problem(b"abcd", sha1) is None
    assert kaggle_house.problem(b"abc", sha1, 4) == "truncated: 3 bytes where d2l's file has 4"
    assert kaggle_house.problem(b"abcde", sha1, 4) == "longer than d2l's file: 5 bytes where d2l's file has 4"
    other = hashlib.sha1(b"abce").hexdigest()
    assert kaggle_house.problem(b"abce", sha1, 4) == f"not d2l's file (SHA-1 {other}, expected {sha1})"


def test_the_cache_is_under_xdg_cache_home_or_else_home_dot_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kaggle_house.cache_dir() == tmp_path / "jaxdl" / "kaggle-house"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert kaggle_house.cache_dir() == Path.home() / ".cache" / "jaxdl" / "kaggle-house"


def test_missing_files_are_refused_with_where_looked_and_what_to_do(tmp_path, no_search_dirs):
    with pytest.raises(DataError, match=rf"^{tmp_path} \(from root=\) lacks {NAMES[0]}, {NAMES[1]}; put d2l's two "):
        kaggle_house.load(tmp_path, download_if_missing=False)
    with pytest.raises(DataError) as err:
        kaggle_house.load(download_if_missing=False)
    assert str(err.value) == (f"the Kaggle house CSVs are not in {kaggle_house.cache_dir()}; pass root=, "
                              "set $JAXDL_KAGGLE_HOUSE to the directory that holds them, or allow the download")


def test_an_unreadable_file_is_refused_with_its_name(copy_dir, monkeypatch):
    # Tests may run as root, for whom file permissions do not block reading: the OS error is simulated.
    path = copy_dir / NAMES[0]
    read_bytes = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(DataError, match=rf"cannot read {path} \(Permission denied\)"):
        kaggle_house.load(copy_dir, download_if_missing=False)


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over a directory; yields (directory, base URL)."""
    root = tmp_path / "hub"
    root.mkdir()
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_fetches_and_verifies_both_files(house_dir, server, tmp_path):
    hub, url = server
    for name in NAMES:
        shutil.copyfile(house_dir / name, hub / name)
    dest = kaggle_house.download(tmp_path / "dest", base_url=url)
    assert sorted(p.name for p in dest.iterdir()) == sorted(NAMES)  # no temporary files left
    for name, sha1, _ in FILES.values():
        assert hashlib.sha1((dest / name).read_bytes()).hexdigest() == sha1
    # again into the same directory: only the missing second file is fetched (the hub no longer has the first)
    (dest / NAMES[1]).unlink()
    (hub / NAMES[0]).unlink()
    assert kaggle_house.download(dest, base_url=url) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(NAMES)


def test_a_damaged_download_leaves_nothing_behind(house_dir, server, tmp_path):
    hub, url = server
    shutil.copyfile(house_dir / NAMES[0], hub / NAMES[0])
    (hub / NAMES[1]).write_bytes((house_dir / NAMES[1]).read_bytes()[:-1])
    expected = rf"the download of {url}{NAMES[1]} is truncated: 451404 bytes.*nothing was saved"
    with pytest.raises(DataError, match=expected):
        kaggle_house.download(tmp_path / "dest", base_url=url)
    assert [p.name for p in (tmp_path / "dest").iterdir()] == [NAMES[0]]


def test_offline_download_says_what_to_do(tmp_path):
    with pytest.raises(DataError) as err:
        kaggle_house.download(tmp_path, base_url="http://127.0.0.1:9/")  # port 9 (discard) refuses connections
    assert re.fullmatch(rf"could not download http://127\.0\.0\.1:9/{re.escape(NAMES[0])} \(.+\); check the network, "
                        rf"or put {re.escape(' and '.join(NAMES))} in a directory and pass it as root= or set "
                        r"\$JAXDL_KAGGLE_HOUSE", str(err.value))
    assert list(tmp_path.iterdir()) == []


def test_load_downloads_into_the_cache_when_nothing_is_found(house_dir, server, no_search_dirs, monkeypatch):
    hub, url = server
    for name in NAMES:
        shutil.copyfile(house_dir / name, hub / name)
    monkeypatch.setattr(kaggle_house, "DATA_URL", url)
    train, _ = kaggle_house.load()
    assert len(train) == 1460 and kaggle_house.locate() == kaggle_house.cache_dir()


# ----------------------------------------------------------------------------- preprocessing


@pytest.fixture(scope="module")
def data(house_dir):
    return house.load_data()


@pytest.fixture(scope="module")
def ref():
    return references.load(house.REFERENCE)


def test_features_equal_pandas_and_torch_bit_for_bit(data, ref):
    ours, stored = house.feature_summary(data), ref["preprocessing"]
    assert ours["columns"] == stored["columns"] and len(ours["columns"]) == 330
    assert ours["shapes"] == stored["shapes"]
    assert ours["sha256"] == {k: stored["sha256"][k] for k in ("X_train", "X_test")}
    for name in ("X_train", "X_test"):
        np.testing.assert_array_equal(ours["column_sums"][name], stored["column_sums"][name])
    np.testing.assert_array_equal(data.X_train[0], stored["row"]["X_train"])


def test_log_prices_agree_with_torch_to_the_label_tolerance(data, ref):
    assert data.y_train.dtype == np.float32 and data.y_train.shape == (1460, 1)
    np.testing.assert_allclose(data.y_train.astype(np.float64).sum(), ref["preprocessing"]["y_train_sum"],
                               **tol("label_sum"))
    np.testing.assert_array_max_ulp(data.y_train[:, 0], np.log(data.sale_price).astype(np.float32), maxulp=0)


def test_numeric_columns_are_standardised_over_train_and_test_together(data):
    both = np.concatenate([data.X_train, data.X_test])
    lot_area = both[:, data.columns.index("LotArea")]  # LotArea has no missing values
    np.testing.assert_allclose([lot_area.mean(), lot_area.std(ddof=1)], [0, 1], atol=1e-6)
    assert "MSZoning_nan" in data.columns  # the NaN indicator of a text column


def test_missing_numbers_become_zero_after_standardising():
    train = pd.DataFrame({"Id": [1, 2, 3], "A": [1.0, np.nan, 3.0], "B": ["x", None, "y"], "SalePrice": [10, 20, 30]})
    test = pd.DataFrame({"Id": [4], "A": [2.0], "B": ["x"]})
    d = kaggle_house.preprocess(train, test)
    assert d.columns == ("A", "B_x", "B_y", "B_nan")
    np.testing.assert_array_equal(d.X_train[:, 0], np.float32([-1, 0, 1]))  # mean 2, std 1 over 1, 3, 2
    np.testing.assert_array_equal(d.X_train[1, 1:], [0, 0, 1])


def test_preprocess_gives_float32_features_log_float32_prices_and_the_test_ids():
    price = np.array([100_000, 16_777_233, 250_001])  # the middle one is not a float32 number (2**24 + 17)
    train = pd.DataFrame({"Id": [1, 2, 3], "A": [1.0, 3.0, 2.0], "SalePrice": price})
    test = pd.DataFrame({"Id": [7, 9], "A": [2.0, np.nan]})
    d = kaggle_house.preprocess(train, test)
    assert d.X_train.dtype == d.X_test.dtype == np.float32 and d.X_train.shape == (3, 1) and d.X_test.shape == (2, 1)
    assert d.y_train.dtype == np.float32 and d.y_train.shape == (3, 1)
    # d2l's order: the price as float32, then its log (float64 here, rounded once)
    np.testing.assert_array_equal(d.y_train[:, 0], np.log(price.astype(np.float32).astype(np.float64)).astype(np.float32))
    assert d.y_train[1, 0] != np.float32(np.log(16_777_233.0))  # which shows in its log
    assert d.sale_price.dtype == np.float64 and list(d.sale_price) == list(price)
    assert list(d.test_ids) == [7, 9] and d.columns == ("A",)
    frame = kaggle_house.preprocess_frame(train, test)  # standardised unless asked not to
    s = np.sqrt(2 / 3)  # mean 2 and sample std of 1, 3, 2, 2; the missing value becomes 0
    np.testing.assert_allclose(frame["A"], [-1 / s, 1 / s, 0.0, 0.0, 0.0])
    raw = kaggle_house.preprocess(train, test, standardize=False)
    np.testing.assert_array_equal(np.concatenate([raw.X_train, raw.X_test])[:, 0], [1, 3, 2, 2, 0])


def test_a_table_without_its_columns_is_refused():
    with pytest.raises(DataError) as err:
        kaggle_house.preprocess(pd.DataFrame({"Id": [1]}), pd.DataFrame({"Id": [2]}))
    assert str(err.value) == "the training table lacks the column(s) SalePrice; is it d2l's file?"
    with pytest.raises(DataError) as err:
        kaggle_house.preprocess(pd.DataFrame({"SalePrice": [1.0]}), pd.DataFrame({"A": [2]}))
    assert str(err.value) == "the training table lacks the column(s) Id; is it d2l's file?"
    with pytest.raises(DataError) as err:
        kaggle_house.preprocess(pd.DataFrame({"Id": [1], "SalePrice": [1.0]}), pd.DataFrame({"A": [2]}))
    assert str(err.value) == "the test table lacks the column(s) Id; is it d2l's file?"
    with pytest.raises(DataError) as err:
        kaggle_house.preprocess(pd.DataFrame({"A": [1]}), pd.DataFrame({"Id": [2]}))
    assert str(err.value) == "the training table lacks the column(s) Id, SalePrice; is it d2l's file?"


def test_k_fold_indices_are_d2ls_contiguous_blocks():
    frame = pd.DataFrame({"v": np.arange(13)})
    splits = kaggle_house.k_fold_indices(13, 5)
    for j, (train_rows, val_rows) in enumerate(splits):
        idx = range(j * 2, (j + 1) * 2)  # d2l: fold_size = 13 // 5
        np.testing.assert_array_equal(train_rows, frame.drop(index=idx)["v"])
        np.testing.assert_array_equal(val_rows, frame.loc[idx]["v"])
    for bad in (1, 2.5):
        with pytest.raises(ValueError, match="k must be an integer of at least 2"):
            kaggle_house.k_fold_indices(13, bad)
    with pytest.raises(ValueError, match="cannot cut 3 examples into 5 folds"):
        kaggle_house.k_fold_indices(3, 5)
    assert [list(v) for _, v in kaggle_house.k_fold_indices(2, 2)] == [[0], [1]]  # the smallest: k = 2 = n


def test_log_rmse_clamps_predictions_below_one():
    price = np.array([100.0, 1000.0])
    assert kaggle_house.log_rmse(price, price) == 0
    np.testing.assert_allclose(kaggle_house.log_rmse([-5.0, 1000.0], price), np.sqrt(np.log(100) ** 2 / 2))
    with pytest.raises(ValueError, match="1 predictions for 2 prices"):
        kaggle_house.log_rmse([1.0], price)
    # in float64 whatever the inputs' type (float32 logs would differ in the 8th digit)
    hat, true = np.float32([123456.7, 2345.6]), np.float32([120000.1, 2400.2])
    exact = np.sqrt(np.mean((np.log(hat.astype(np.float64)) - np.log(true.astype(np.float64))) ** 2))
    assert kaggle_house.log_rmse(hat, true) == exact


def test_d2l_val_loss_is_the_mean_of_minibatch_means():
    params = {"W": np.zeros((1, 1), np.float32), "b": np.zeros(1, np.float32)}
    X = np.zeros((5, 1), np.float32)
    y = np.float32([[1], [1], [1], [1], [3]])  # batches of 2: means 1, 1, 9
    assert house_prices.d2l_val_loss(params, X, y, batch_size=2) == pytest.approx(11 / 3)


def test_submission_is_written_whole_or_not_at_all(tmp_path):
    path = kaggle_house.write_submission(tmp_path / "new" / "dirs" / "submission.csv", np.array([1461, 1462]),
                                         np.array([1.5, 2.5]))
    assert path.read_text() == "Id,SalePrice\n1461,1.5\n1462,2.5\n"
    assert [p.name for p in path.parent.iterdir()] == ["submission.csv"]
    kaggle_house.write_submission(path, np.array([1461]), np.array([3.5]))  # a second run replaces it
    assert path.read_text() == "Id,SalePrice\n1461,3.5\n"
    with pytest.raises(ValueError) as err:
        kaggle_house.write_submission(tmp_path / "bad.csv", np.array([1]), np.array([np.nan]))
    assert str(err.value) == "some predicted prices are NaN or infinite; the model diverged, so nothing was written"
    with pytest.raises(ValueError, match="2 ids for 1 prices"):
        kaggle_house.write_submission(tmp_path / "bad.csv", np.array([1, 2]), np.array([1.0]))
    assert not (tmp_path / "bad.csv").exists()


# ----------------------------------------------------------------------------- replay and book band


@pytest.fixture(scope="module")
def replayed(data, ref):
    return house.replay(ref["replay"], data)


def test_replay_draws_the_same_init_and_orders_as_the_generator(replayed, ref):
    assert replayed["init_sha256"] == ref["replay"]["init_sha256"]
    assert replayed["orders_sha256"] == ref["replay"]["orders_sha256"]


def test_replay_loss_matches_torch_at_every_step(replayed, ref):
    for ours, stored in zip(replayed["folds"], ref["replay"]["folds"]):
        assert ours["history"].train_loss.shape == (190,) == np.shape(stored["step_losses"])
        np.testing.assert_allclose(ours["history"].train_loss, stored["step_losses"], **tol("step_loss"))


def test_replay_final_parameters_match_torch(replayed, ref):
    for ours, stored in zip(replayed["folds"], ref["replay"]["folds"]):
        summary = house.weight_summary(ours["params"], len(stored["final"]["weight_first"]))
        for name, value in summary.items():
            np.testing.assert_allclose(value, stored["final"][name], **tol("final_params"))


def test_replay_validation_numbers_and_submission_match_torch(replayed, ref):
    for ours, stored in zip(replayed["folds"], ref["replay"]["folds"]):
        np.testing.assert_allclose(ours["val_loss"], stored["val_loss"][-1], **tol("val"))
        np.testing.assert_allclose(ours["val_log_rmse"], stored["val_log_rmse"], **tol("val"))
    np.testing.assert_allclose(replayed["submission"]["first"], ref["replay"]["submission"]["first"],
                               **tol("val"))


def test_d2l_run_lands_in_pytorchs_band(data, ref):
    run = house.own_run(jax.random.key(0), data)
    low, high = bands.band(ref["book"]["average_val_log_mse"], sds=house.TOLERANCES["band_sds"].value)
    assert low <= run["average_val_log_mse"] <= high
    assert high - low < 0.05  # the band is narrow enough to mean something (the seeds span 0.17 to 0.19)


def test_tolerances_are_pinned_with_reasons():
    def pins(table):
        return {k: v.value if isinstance(v, Margin) else (v.rtol, v.atol) for k, v in table.items()}

    assert pins(house.TOLERANCES) == {
        "features": (0.0, 0.0), "label_sum": (0.0, 2e-6), "step_loss": (1e-4, 0.0),
        "final_params": (1e-5, 1e-6), "val": (1e-4, 0.0), "band_sds": 2.5}
    assert pins(exercises.TOLERANCES) == {"sweep_margin": 0.02, "raw_step_loss": (1e-4, 0.0)}
    for table in (house.TOLERANCES, exercises.TOLERANCES):
        assert all(len(entry.why) > 40 for entry in table.values())


def test_the_stability_bound_separates_the_learning_rates_that_train(data):
    bound = exercises.largest_stable_lr(data.X_train)
    assert 0.03 < bound < 0.1  # lr 0.03 trains, 0.1 diverges, in PyTorch and in jaxdl
