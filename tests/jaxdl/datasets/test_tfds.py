"""load_tfds: Fashion-MNIST through tensorflow-datasets, checked on TFDS's own mock data (no download)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from needs import missing

from jaxdl import losses, models, optimizers, training
from jaxdl.datasets import fashion_mnist
from jaxdl.data import Dataset


@pytest.fixture(scope="module")
def tfds():
    try:
        import tensorflow_datasets
    except ImportError:
        missing("tensorflow-datasets", "pip install 'jaxdl[tfds]'")
    return tensorflow_datasets


@pytest.fixture(scope="module")
def mocked(tfds, tmp_path_factory):
    """load_tfds on 40 random examples per split that TFDS generates from the dataset's features."""
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        return fashion_mnist.load_tfds(data_dir=tmp_path_factory.mktemp("tfds"))


def test_load_tfds_gives_a_dataset_of_uint8_images_and_int32_labels(mocked):
    assert isinstance(mocked, Dataset)
    assert mocked.X_train.shape == (40, 28, 28) and mocked.X_val.shape == (40, 28, 28)
    assert mocked.y_train.shape == (40,) and mocked.y_val.shape == (40,)
    assert mocked.X_train.dtype == mocked.X_val.dtype == np.uint8
    assert mocked.y_train.dtype == mocked.y_val.dtype == np.int32


def test_load_tfds_values_lie_in_pixel_and_class_ranges(mocked):
    for X, y in ((mocked.X_train, mocked.y_train), (mocked.X_val, mocked.y_val)):
        assert 0 <= int(X.min()) < int(X.max()) <= 255  # random pixels, not a constant image
        assert 0 <= int(y.min()) and int(y.max()) < len(fashion_mnist.TEXT_LABELS)


def test_load_tfds_data_trains_with_fit(mocked):
    model = models.softmax_regression()
    params = models.init(model, jax.random.key(0), (1, 28, 28))
    history = training.fit(model, losses.softmax_cross_entropy, params, mocked, optimizers.sgd(0.1),
                           key=jax.random.key(1), epochs=2, batch_size=8, callbacks=()).history
    assert history.train_loss.shape == (2 * 5,) and np.isfinite(history.train_loss).all()
    assert history.val_metric.shape == (2,) and 0 <= history.val_metric.min() <= history.val_metric.max() <= 1


def test_load_tfds_refuses_images_that_are_not_fashion_mnist(tfds, tmp_path, monkeypatch):
    real = tfds.data_source

    def rgb_source(name, **kwargs):  # the mocked records with three colour channels, as another dataset has
        source = real(name, **kwargs)
        return [{"image": np.repeat(source[i]["image"], 3, -1), "label": source[i]["label"]} for i in range(3)]

    monkeypatch.setattr(tfds, "data_source", rgb_source)
    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        with pytest.raises(fashion_mnist.DataError, match=r"not uint8 \[28, 28, 1\]"):
            fashion_mnist.load_tfds(data_dir=tmp_path)


class FakeTfds:
    """tensorflow_datasets as load_tfds uses it: data_source(name, split=, data_dir=, download=) -> records."""

    def __init__(self, splits):
        self.splits, self.calls = splits, []

    def data_source(self, name, *, split, data_dir, download):
        self.calls.append((name, split, data_dir, download))
        return self.splits[split]

    @staticmethod
    def records(labels, shape=(28, 28, 1), dtype=np.uint8, seed=0):
        rng = np.random.default_rng(seed)
        return [{"image": rng.integers(0, 256, shape).astype(dtype), "label": label} for label in labels]


@pytest.fixture
def fake_tfds(monkeypatch):
    """Installs a FakeTfds as tensorflow_datasets; set its .splits in the test."""
    import sys

    fake = FakeTfds({})
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    return fake


def test_load_tfds_reads_train_and_test_splits_of_fashion_mnist_where_asked(fake_tfds, tmp_path):
    train, test = FakeTfds.records([0, 9, 3], seed=1), FakeTfds.records([5, 5], seed=2)
    fake_tfds.splits = {"train": train, "test": test}
    data = fashion_mnist.load_tfds(data_dir=tmp_path, download=False)
    assert fake_tfds.calls == [("fashion_mnist", "train", tmp_path, False), ("fashion_mnist", "test", tmp_path, False)]
    np.testing.assert_array_equal(data.X_train, np.stack([r["image"][..., 0] for r in train]))
    np.testing.assert_array_equal(data.y_train, [0, 9, 3])
    np.testing.assert_array_equal(data.X_val, np.stack([r["image"][..., 0] for r in test]))
    np.testing.assert_array_equal(data.y_val, [5, 5])
    fashion_mnist.load_tfds()
    assert fake_tfds.calls[2:] == [("fashion_mnist", "train", None, True), ("fashion_mnist", "test", None, True)]


@pytest.mark.parametrize("splits, message", [
    ({"train": []}, "TFDS's fashion_mnist train split is empty; prepare it again (download=True)"),
    ({"train": FakeTfds.records([0]), "test": FakeTfds.records([0], shape=(32, 32, 3))},
     "TFDS's fashion_mnist test images are uint8[32, 32, 3], not uint8 [28, 28, 1]; the prepared dataset is not "
     "Fashion-MNIST (check data_dir)"),
    ({"train": FakeTfds.records([0], dtype=np.float32)},
     "TFDS's fashion_mnist train images are float32[28, 28, 1], not uint8 [28, 28, 1]; the prepared dataset is not "
     "Fashion-MNIST (check data_dir)"),
    ({"train": FakeTfds.records([0, 10])}, "TFDS's fashion_mnist train labels lie in [0, 10], not [0, 9]"),
    ({"train": FakeTfds.records([-1, 9])}, "TFDS's fashion_mnist train labels lie in [-1, 9], not [0, 9]"),
])
def test_load_tfds_refuses_what_is_not_fashion_mnist_saying_what_it_found(fake_tfds, splits, message):
    fake_tfds.splits = splits
    with pytest.raises(fashion_mnist.DataError) as err:
        fashion_mnist.load_tfds()
    assert str(err.value) == message


def test_load_tfds_without_tensorflow_datasets_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails as if not installed
    with pytest.raises(fashion_mnist.DataError) as err:
        fashion_mnist.load_tfds()
    assert str(err.value) == ("load_tfds needs tensorflow-datasets: pip install 'jaxdl[tfds]' (or use load(), which "
                              "reads the IDX files with numpy and needs nothing more)")
