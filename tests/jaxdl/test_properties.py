"""Property-based tests: damaged IDX files, random bad arguments and random wrong model outputs are refused, never
misread or let through."""

from __future__ import annotations

import gzip
import hashlib
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaxdl import data, losses, models, optimizers, training
from jaxdl.checks import check_labels
from jaxdl.data import Dataset
from jaxdl.datasets.fashion_mnist import DataError, parse_idx, read_idx

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

images = arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)))


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _damage(content: bytes, draw) -> bytes:
    """A truncation, or one byte changed (xor with a non-zero value)."""
    if draw(st.booleans()):
        return content[: draw(st.integers(0, len(content) - 1))]
    at = draw(st.integers(0, len(content) - 1))
    return content[:at] + bytes([content[at] ^ draw(st.integers(1, 255))]) + content[at + 1 :]


@SETTINGS
@given(array=images, compress=st.booleans(), data_=st.data())
def test_a_damaged_idx_file_is_refused_or_read_exactly(tmp_path, array, compress, data_):
    content = _idx(array)
    stored = gzip.compress(content, mtime=0) if compress else content
    path = tmp_path / "x.idx"
    path.write_bytes(_damage(stored, data_.draw))
    try:
        read = read_idx(path, hashlib.sha256(content).hexdigest())
    except DataError:
        return
    np.testing.assert_array_equal(read, array)  # only a change the content does not see (a gzip header byte) passes


@SETTINGS
@given(array=images, cut=st.integers(0, 10**6))
def test_a_truncated_idx_is_always_refused_even_without_a_checksum(array, cut):
    content = _idx(array)
    with pytest.raises(DataError):
        parse_idx(content[: cut % len(content)])


@SETTINGS
@given(array=images, extra=st.binary(min_size=1, max_size=16))
def test_bytes_after_the_data_are_refused_even_without_a_checksum(array, extra):
    with pytest.raises(DataError, match="longer than its header says"):
        parse_idx(_idx(array) + extra)


@SETTINGS
@given(content=st.binary(max_size=64))
def test_arbitrary_bytes_parse_as_idx_or_raise_data_error(content):
    try:
        parsed = parse_idx(content)
    except DataError:
        return
    assert isinstance(parsed, np.ndarray)


_DS = data.synthetic_regression(jax.random.key(0), num_train=64, num_val=16)
_LINREG = models.linear_regression()
_PARAMS = models.init(_LINREG, jax.random.key(1), (1, 2))


def _fit(**kw):
    options = dict(key=jax.random.key(0), epochs=1, batch_size=8, metric=None, callbacks=()) | kw
    return training.fit(_LINREG, losses.squared_loss, _PARAMS, _DS, optimizers.sgd(0.03), **options)


not_counts = st.one_of(st.booleans(), st.floats(allow_nan=True), st.text(max_size=3), st.none(),
                       st.lists(st.integers(), max_size=2))


@SETTINGS
@given(batch_size=st.one_of(st.integers(max_value=0), not_counts))
def test_any_bad_batch_size_is_refused_by_name(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        _fit(batch_size=batch_size)


@SETTINGS
@given(epochs=st.one_of(st.integers(max_value=-1), not_counts.filter(lambda v: v is not None)))
def test_any_bad_epoch_count_is_refused_by_name(epochs):
    with pytest.raises(ValueError, match="epochs must be a non-negative integer"):
        _fit(epochs=epochs)


@SETTINGS
@given(lr=st.one_of(st.floats(max_value=0.0), st.just(float("nan")), st.just(float("inf")), st.text(max_size=3),
                    st.floats(0.001, 10).map(str), st.booleans()))  # float() takes "0.5" and True: not rates
def test_any_bad_learning_rate_is_refused_by_name(lr):
    for make in (optimizers.sgd, optimizers.optax_sgd):
        with pytest.raises(ValueError, match="learning rate must be"):
            make(lr)


_OUTPUT = jax.ShapeDtypeStruct((1, 3), jnp.float32)  # a 3-class classifier's logits


@SETTINGS
@given(y=arrays(st.sampled_from([np.int32, np.int64, np.uint8, np.float32, np.bool_]),
                st.one_of(st.tuples(st.just(12)), st.tuples(st.just(12), st.integers(1, 4)))))
def test_classifier_labels_are_accepted_only_when_valid(y):
    valid = np.issubdtype(y.dtype, np.integer) and y.ndim == 1 and ((0 <= y) & (y < 3)).all()
    try:
        check_labels(y, "y_train", losses.softmax_cross_entropy, _OUTPUT)  # as fit: the user's array itself
    except ValueError as err:
        assert not valid and "y_train" in str(err)
        return
    assert valid


@settings(max_examples=25, deadline=None)
@given(labels=arrays(np.int32, 12, elements=st.integers(-5, 8)))
def test_fit_trains_on_valid_labels_and_refuses_the_rest(labels):
    X = jnp.asarray(np.arange(12 * 4, dtype=np.uint8).reshape(12, 2, 2))
    ds = Dataset(X, jnp.asarray(labels), X, jnp.asarray(labels))
    model = models.softmax_regression(3)
    params = models.init(model, jax.random.key(0), (1, 2, 2))
    fit = lambda: training.fit(model, losses.softmax_cross_entropy, params, ds,  # noqa: E731
                               optimizers.sgd(0.1), key=jax.random.key(0), epochs=1, batch_size=4, callbacks=())
    if ((0 <= labels) & (labels < 3)).all():
        assert fit().history.epochs == 1
    else:
        with pytest.raises(ValueError, match=r"outside the range \[0, 3\)"):
            fit()


def _class_data(n: int = 24) -> Dataset:
    X = jax.random.randint(jax.random.key(0), (n, 4, 4), 0, 256).astype(jnp.uint8)
    y = jnp.arange(n) % 3
    return Dataset(X, y, X[:6], y[:6])


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=3), batch_axis=st.booleans())
def test_a_model_output_of_a_random_wrong_shape_is_refused_naming_it(shape, batch_axis):
    # The model ignores its input's batch and gives a fixed shape (with a batch axis, its size is fixed too).
    from jaxdl import nn

    wrong = tuple(shape)
    model = nn.serial(models.softmax_regression(3), nn.function(lambda Y: jnp.zeros(wrong, Y.dtype)))
    params = models.init(model, jax.random.key(0), (1, 4, 4))
    try:
        training.check_inputs(model, params, _class_data(), losses.softmax_cross_entropy)
    except ValueError as err:
        assert "model" in str(err) or "loss" in str(err) or "y_train" in str(err), str(err)
        return
    # Taken only where the fixed shape happens to be a valid output for every batch it was traced with: never.
    raise AssertionError(f"outputs of the fixed shape {wrong} were taken")


@settings(max_examples=30, deadline=None)
@given(n_keys=st.integers(0, 4), rows=st.integers(0, 4), width=st.sampled_from([(), (1,), (2,)]),
       lr=st.floats(-1.0, 1.0) | st.just(float("nan")), shared_key=st.booleans())
@example(n_keys=2, rows=2, width=(), lr=0.1, shared_key=False)  # one that trains
@example(n_keys=0, rows=2, width=(), lr=0.1, shared_key=True)
def test_random_fit_many_arguments_train_or_are_refused_with_a_value_error(n_keys, rows, width, lr, shared_key):
    # Two linear-regression models; keys, hyperparams rows and learning rates drawn at random. Whatever is drawn,
    # fit_many trains or refuses with a ValueError before any work: never an error from inside numpy or jax.
    ds = data.synthetic_regression(jax.random.key(0), num_train=64, num_val=16)
    model = models.linear_regression()
    params = jax.vmap(lambda k: models.init(model, k, (1, 2)))(jax.random.split(jax.random.key(1), 2))
    keys = jax.random.key(2) if shared_key else jax.random.split(jax.random.key(2), n_keys) if n_keys else []
    hyperparams = jnp.full((rows, *width), lr, jnp.float32)
    try:
        fitted = training.fit_many(model, losses.squared_loss, params, ds, optimizers.sgd, hyperparams=hyperparams,
                                   keys=keys, epochs=1, batch_size=16, metric=None, callbacks=())
    except ValueError:
        return
    except training.TrainingDiverged:
        return
    # the learning rate handed over is float32: a negative lr below its smallest subnormal is -0.0, a step of 0
    # a row of shape (1,) is a learning rate that broadcasts over every parameter, as optax allows; (2,) is not
    assert rows == 2 and width in ((), (1,)) and np.float32(lr) >= 0 and (shared_key or n_keys == 2), (
        rows, width, lr, n_keys)
    assert len(fitted.history) == 2
