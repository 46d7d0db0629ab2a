"""load_tfds: Fashion-MNIST through tensorflow-datasets, checked on TFDS's own mock data (no download)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from needs import missing

from jaxdl import fashion_mnist, losses, models, optimizers, training
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
    params = models.softmax_init(jax.random.key(0))
    _, history = training.fit(models.softmax_apply, losses.softmax_cross_entropy, params, mocked,
                              optimizers.sgd(0.1), key=jax.random.key(1), epochs=2, batch_size=8, progress=False)
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
