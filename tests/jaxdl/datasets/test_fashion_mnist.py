"""The Fashion-MNIST loader: IDX parsing, search order, checksums, damaged files, downloads."""

from __future__ import annotations

import gzip
import hashlib
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from jaxdl.datasets import fashion_mnist
from jaxdl.datasets.fashion_mnist import FILES, DataError
from tests.conftest import write_idx


def test_parse_idx_reads_shape_and_values(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for compress in (True, False):
        path = write_idx(tmp_path / f"x{compress}.idx", array, compress)
        np.testing.assert_array_equal(fashion_mnist.read_idx(path), array)


def test_truncated_file_is_refused_with_its_name(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.zeros((4, 28, 28), np.uint8), compress=False)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"x\.gz is truncated.*download it again"):
        fashion_mnist.read_idx(path)


def test_truncated_gzip_is_refused_with_its_name(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"x\.gz is a damaged gzip file"):
        fashion_mnist.read_idx(path)


def test_corrupted_bytes_fail_the_checksum(tmp_path):
    array = np.zeros((4, 28, 28), np.uint8)
    sha = hashlib.sha256(gzip.decompress(write_idx(tmp_path / "ok.gz", array).read_bytes())).hexdigest()
    fashion_mnist.read_idx(tmp_path / "ok.gz", sha)  # the intact file passes
    array[1, 2, 3] = 7
    bad = write_idx(tmp_path / "bad.gz", array)
    with pytest.raises(DataError, match=r"bad\.gz does not hold the official Fashion-MNIST content"):
        fashion_mnist.read_idx(bad, sha)


def test_not_an_idx_file_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, not an image file")
    with pytest.raises(DataError, match="not an IDX file"):
        fashion_mnist.read_idx(path)


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                                         (0x0D, np.float32), (0x0E, np.float64)])
def test_parse_idx_reads_each_idx_dtype_big_endian_into_native_order(code, dtype):
    values = np.array([[1, 2, 3], [4, 5, 126]], dtype)
    big_endian = values.astype(values.dtype.newbyteorder(">")).tobytes()
    content = bytes([0, 0, code, 2]) + np.array([2, 3], ">u4").tobytes() + big_endian
    parsed = fashion_mnist.parse_idx(content)
    assert parsed.dtype == np.dtype(dtype) and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, values)
    with pytest.raises(DataError, match=f"truncated: {len(content) - 1} bytes where shape \\(2, 3\\) needs {len(content)}"):
        fashion_mnist.parse_idx(content[:-1])


def test_parse_idx_refuses_a_bad_magic_number_showing_its_four_bytes():
    # each of the first three bytes alone makes a bad magic number (0, 0, a known dtype code)
    for content in (b"hello, not an image", b"\x07\x00\x08\x01\x00\x00\x00\x00",
                    b"\x00\x07\x08\x01\x00\x00\x00\x00", b"\x00\x00\x07\x01\x00\x00\x00\x00", b"\x00\x00"):
        with pytest.raises(DataError) as err:
            fashion_mnist.parse_idx(content)
        assert str(err.value) == f"IDX data is not an IDX file (bad magic number {content[:4].hex()})"
    with pytest.raises(DataError) as err:
        fashion_mnist.parse_idx(b"hello", name="x.gz")
    assert str(err.value) == "x.gz is not an IDX file (bad magic number 68656c6c)"


def test_parse_idx_reads_a_zero_dimensional_array_and_measures_a_four_byte_one():
    np.testing.assert_array_equal(fashion_mnist.parse_idx(b"\x00\x00\x08\x00\x2a"), np.array(42, np.uint8))
    with pytest.raises(DataError) as err:
        fashion_mnist.parse_idx(b"\x00\x00\x08\x00")  # a whole magic number, no value
    assert str(err.value) == "IDX data is truncated: 4 bytes where shape () needs 5; delete it and download it again"
    with pytest.raises(DataError) as err:
        fashion_mnist.parse_idx(b"\x00\x00\x08\x00\x2a\x2b")  # one value too many
    assert str(err.value) == ("IDX data is longer than its header says: 6 bytes where shape () needs 5; "
                              "delete it and download it again")


def test_parse_idx_reads_a_header_with_no_data_and_refuses_one_cut_short():
    empty = fashion_mnist.parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x00")  # one dimension, of size 0
    assert empty.shape == (0,) and empty.dtype == np.uint8
    with pytest.raises(DataError) as err:
        fashion_mnist.parse_idx(b"\x00\x00\x08\x02\x00\x00\x00\x01")  # two dimensions, one given
    assert str(err.value) == "IDX data is truncated inside its header; delete it and download it again"


def test_explicit_root_comes_first(tiny_fashion_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("JAXDL_DATA", str(tmp_path / "elsewhere"))
    assert fashion_mnist.locate(tiny_fashion_dir) == tiny_fashion_dir
    ds = fashion_mnist.load(tiny_fashion_dir, verify=False)
    assert ds.X_train.shape == (12, 28, 28) and ds.X_train.dtype == np.uint8
    assert ds.y_val.shape == (5,) and ds.y_val.dtype == np.int32


def test_environment_variable_is_the_one_place_looked_when_set(tiny_fashion_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("JAXDL_DATA", str(tiny_fashion_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert fashion_mnist.search_dirs() == [tiny_fashion_dir]
    assert fashion_mnist.locate() == tiny_fashion_dir
    monkeypatch.delenv("JAXDL_DATA")
    assert fashion_mnist.search_dirs() == [tmp_path / "cache" / "jaxdl" / "fashion-mnist", fashion_mnist.SYSTEM_DIR]


def test_small_files_fail_verification_against_official_checksums(tiny_fashion_dir):
    with pytest.raises(DataError, match="does not hold the official Fashion-MNIST content"):
        fashion_mnist.load(tiny_fashion_dir)


def test_mismatched_image_and_label_counts_are_refused(tiny_fashion_dir):
    write_idx(tiny_fashion_dir / FILES["train_labels"][0], np.zeros(11, np.uint8))
    with pytest.raises(DataError, match=r"train images \(12, 28, 28\) and labels \(11,\) do not pair up"):
        fashion_mnist.load(tiny_fashion_dir, verify=False)


def test_resize_keeps_uint8_and_range(tiny_fashion_dir):
    ds = fashion_mnist.load(tiny_fashion_dir, resize=(32, 32), verify=False)
    assert ds.X_train.shape == (12, 32, 32) and ds.X_train.dtype == np.uint8
    constant = fashion_mnist.resize_images(np.full((1, 28, 28), 200, np.uint8), (32, 32))
    assert int(constant.min()) == int(constant.max()) == 200
    for value in (0, 255):  # the ends of the range stay, down and up (no wrap-around past 255)
        for size in ((9, 9), (64, 64)):
            out = np.asarray(fashion_mnist.resize_images(np.full((1, 28, 28), value, np.uint8), size))
            assert out.dtype == np.uint8 and out.shape == (1, *size) and out.min() == out.max() == value
    board = np.kron(np.indices((14, 14)).sum(0) % 2, np.ones((2, 2))).astype(np.uint8)[None] * 255
    up = np.asarray(fashion_mnist.resize_images(board, (64, 64)))
    assert up.min() == 0 and up.max() == 255 and len(np.unique(up)) > 2  # interpolated in between


def test_tfds_loader_explains_the_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # importing it fails, as without the extra
    with pytest.raises(DataError, match=r"pip install 'jaxdl\[tfds\]'"):
        fashion_mnist.load_tfds()


def test_text_labels():
    assert fashion_mnist.text_labels([0, 9, 5]) == ["t-shirt", "ankle boot", "sandal"]


@pytest.fixture
def file_server(tiny_fashion_dir):
    """A local HTTP server (loopback only) serving a directory, standing in for the official mirror."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(tiny_fashion_dir))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def _checksums_of(directory: Path) -> dict:
    return {
        key: (name, hashlib.sha256(gzip.decompress((directory / name).read_bytes())).hexdigest())
        for key, (name, _) in FILES.items()
    }


def test_download_verifies_then_renames(file_server, tiny_fashion_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "FILES", _checksums_of(tiny_fashion_dir))
    real, fetched = fashion_mnist.download_atomic, []

    def recorded(url, target, verify, progress):
        fetched.append((Path(target).name, progress))
        return real(url, target, verify, progress)

    monkeypatch.setattr(fashion_mnist, "download_atomic", recorded)
    dest = fashion_mnist.download(tmp_path / "cache", base_url=file_server, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == sorted(name for name, _ in FILES.values())
    assert fashion_mnist.load(dest).X_train.shape == (12, 28, 28)
    assert fetched == [(name, False) for name, _ in FILES.values()]
    # into the same directory again: only what is missing is fetched, files after a present one too
    last = list(FILES.values())[-1][0]
    (dest / last).unlink()
    assert fashion_mnist.download(dest, base_url=file_server, progress=False) == dest
    assert fetched[4:] == [(last, False)] and (dest / last).is_file()
    (dest / last).unlink()
    fashion_mnist.download(dest, base_url=file_server)  # a progress bar unless asked not to
    assert fetched[5:] == [(last, True)]


def test_download_of_corrupted_content_leaves_no_file(file_server, tiny_fashion_dir, tmp_path, monkeypatch):
    sums = _checksums_of(tiny_fashion_dir)
    name, _ = sums["train_images"]
    sums["train_images"] = (name, "0" * 64)
    monkeypatch.setattr(fashion_mnist, "FILES", sums)
    dest = tmp_path / "cache"
    with pytest.raises(DataError, match=name):
        fashion_mnist.download(dest, base_url=file_server, progress=False)
    assert not (dest / name).exists()
    assert not any(p.name.endswith(".part") for p in dest.iterdir())


def test_unreachable_server_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "none")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    with pytest.raises(DataError, match="could not download .*dataset-fashion-mnist"):
        fashion_mnist.download(base_url="http://127.0.0.1:9/", progress=False)
    with pytest.raises(DataError, match="Fashion-MNIST not found"):
        fashion_mnist.load_arrays(download_if_missing=False)


@pytest.mark.slow
def test_real_files_have_official_content_and_shapes(fashion):
    assert fashion.X_train.shape == (60000, 28, 28) and fashion.X_val.shape == (10000, 28, 28)
    assert fashion.X_train.dtype == np.uint8
    counts = np.bincount(np.asarray(fashion.y_train), minlength=10)
    np.testing.assert_array_equal(counts, np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(np.asarray(fashion.y_val), minlength=10), np.full(10, 1000))
