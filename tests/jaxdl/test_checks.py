"""jaxdl.checks and fit's door: bad input is refused before any work starts, with a message that names what was
wrong and what to do (the refusals fit_many shares are run on both in test_engine.py)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import callbacks, data, losses, models, nn, optimizers, training
from jaxdl.data import Dataset
from jaxdl.files import OutputError

# mutmut's trampolines add a stack frame to every call, so where a warning points is checked only outside it.
UNDER_MUTMUT = "MUTANT_UNDER_TEST" in os.environ


def _images(n=40, labels=None, X=None):
    X = jax.random.randint(jax.random.key(0), (n, 4, 4), 0, 256).astype(jnp.uint8) if X is None else X
    y = jnp.arange(n) % 3 if labels is None else jnp.asarray(labels)
    return Dataset(X, y, X[:10], y[:10])


LINREG = models.linear_regression()


def _softmax(num_inputs=16, num_outputs=3):
    """Softmax regression and its parameters for square images of num_inputs pixels."""
    side = int(num_inputs ** 0.5)
    model = models.softmax_regression(num_outputs)
    return model, models.init(model, jax.random.key(0), (1, side, side))


def _linreg_params(key=1):
    return models.init(LINREG, jax.random.key(key), (1, 2))


def _fit_softmax(ds, params="default", **kw):
    model, default = _softmax(ds.X_train[0].size)
    params = default if isinstance(params, str) and params == "default" else params
    options = dict(key=jax.random.key(1), epochs=1, batch_size=8, callbacks=()) | kw
    return training.fit(model, losses.softmax_cross_entropy, params, ds, optimizers.sgd(0.1), **options)


def _fit_linreg(ds=None, **kw):
    ds = data.synthetic_regression(jax.random.key(0)) if ds is None else ds
    options = dict(key=jax.random.key(0), epochs=1, batch_size=32, metric=None, callbacks=()) | kw
    return training.fit(LINREG, losses.squared_loss, _linreg_params(), ds, optimizers.sgd(0.03), **options)


@pytest.mark.parametrize("field", ["X_val", "y_val", "X_train", "y_train"])
@pytest.mark.parametrize("value", [jnp.nan, jnp.inf])
def test_nan_or_inf_anywhere_in_the_data_is_refused_naming_the_array(field, value):
    ds = data.synthetic_regression(jax.random.key(0))
    ds = ds._replace(**{field: getattr(ds, field).at[3].set(value)})
    with pytest.raises(ValueError, match=rf"{field} holds NaN or inf values in 1 example\(s\), the first at index 3"):
        _fit_linreg(ds)


def test_a_tuple_x_y_says_fit_takes_a_dataset():
    ds = data.synthetic_regression(jax.random.key(0))
    with pytest.raises(ValueError, match=r"fit takes a Dataset\(X_train, y_train, X_val, y_val\), not a tuple \(X, y\)"):
        _fit_linreg((ds.X_train, ds.y_train))
    with pytest.raises(ValueError, match=r"fit takes a jaxdl.Dataset.*got dict"):
        _fit_linreg(ds._asdict())


def test_lists_instead_of_arrays_are_refused():
    ds = data.synthetic_regression(jax.random.key(0))
    with pytest.raises(ValueError, match=r"data.y_train is a list, not an array; convert it with jnp.asarray"):
        _fit_linreg(ds._replace(y_train=ds.y_train.tolist()))


@pytest.mark.parametrize("params, shown", [
    (models.init(models.mlp(8, 3), jax.random.key(0), (1, 16)), r"params is \(\(\), \{'W': \(8, 16\)"),  # another model's
    (((), {"weights": jnp.zeros((3, 16)), "b": jnp.zeros(3)}), r"params is \(\(\), \{'b': \(3,\), 'weights'"),  # misnamed
])
def test_params_of_the_wrong_structure_say_what_fit_expects(params, shown):
    with pytest.raises(ValueError, match=rf"cannot take inputs of shape \(4, 4\) with these parameters.*{shown}.*"
                                         r"pass the params made by the init that matches apply"):
        _fit_softmax(_images(), params=params)


@pytest.mark.parametrize("params", [None, {}, {"W": [[1.0]], "b": "zero"}])
def test_params_without_arrays_are_refused(params):
    with pytest.raises(ValueError, match="params must be a pytree of arrays as returned by the model's init"):
        _fit_softmax(_images(), params=params)


def test_integer_labels_shaped_n_by_1_name_both_shapes():
    with pytest.raises(ValueError, match=r"y_train has shape \(40, 1\); a classifier takes integer class labels of "
                                         r"shape \(40,\): pass y_train.reshape\(-1\)"):
        _fit_softmax(_images(labels=(jnp.arange(40) % 3)[:, None]))


def test_one_hot_labels_say_to_take_the_argmax():
    one_hot = jax.nn.one_hot(jnp.arange(40) % 3, 3)
    with pytest.raises(ValueError, match=r"y_train looks one-hot, shape \(40, 3\); fit takes integer class labels of "
                                         r"shape \(40,\): pass y_train.argmax\(axis=1\)"):
        _fit_softmax(_images(labels=one_hot))


def test_one_hot_labels_pass_when_the_loss_takes_them():
    # optax's one-hot cross-entropy on two classes: the labels are right for this loss, so nothing is refused
    X = jax.random.randint(jax.random.key(0), (40, 4, 4), 0, 256).astype(jnp.uint8)
    one_hot = jax.nn.one_hot(jnp.arange(40) % 2, 2)
    model, params = _softmax(16, 2)
    *_, history = training.fit(model, optax.softmax_cross_entropy, params, Dataset(X, one_hot, X[:10], one_hot[:10]),
                               optimizers.sgd(0.1), key=jax.random.key(1), epochs=1, batch_size=8, metric=None,
                               callbacks=())
    assert history.epochs == 1


def test_float_labels_for_a_classifier_say_to_cast():
    with pytest.raises(ValueError, match=r"y_train holds float32 values, shape \(40,\); a classifier takes integer "
                                         r"class labels of shape \(40,\): pass y_train.astype\(jnp.int32\)"):
        _fit_softmax(_images(labels=(jnp.arange(40) % 3).astype(jnp.float32)))


def test_integer_labels_for_a_regression_loss_are_explained():
    ds = _images()
    with pytest.raises(ValueError, match=r"y_train holds integer labels, shape \(40,\), but the loss does not take "
                                         r"class labels"):
        training.fit(*_softmax()[:1], losses.squared_loss, _softmax()[1], ds, optimizers.sgd(0.1), key=jax.random.key(1),
                     epochs=1, batch_size=8, callbacks=())


def test_float_images_in_0_255_warn_and_scaled_or_uint8_images_do_not():
    raw = _images(X=jax.random.randint(jax.random.key(0), (40, 8, 8), 0, 256).astype(jnp.uint8))
    params = _softmax(64)[1]
    with pytest.warns(UserWarning, match=r"X_train holds floats up to 2\d\d, whole numbers as raw pixels are.*divide by 255"):
        _fit_softmax(raw._replace(X_train=raw.X_train.astype(jnp.float32)), params, divergence_threshold=float("inf"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit_softmax(raw, params)  # uint8: scaled inside the step
        _fit_softmax(raw._replace(X_train=raw.X_train / 255.0, X_val=raw.X_val / 255.0), params)


def test_batch_size_beyond_the_dataset_is_one_batch_of_all_examples():
    idx, mask = data.batch_plan(np.arange(40), 10**7)  # would be 10**7 indices if padded to batch_size
    assert idx.shape == (1, 40) and int(mask.sum()) == 40
    huge = _fit_softmax(_images(), batch_size=10**7).history
    exact = _fit_softmax(_images(), batch_size=40).history
    assert huge.num_batches == 1
    np.testing.assert_array_equal(huge.train_loss, exact.train_loss)


@pytest.mark.parametrize("name, value, message", [
    ("batch_size", True, "batch_size must be a positive integer"),
    ("batch_size", 0, "batch_size must be a positive integer"),
    ("epochs", True, "epochs must be a non-negative integer"),
    ("epochs", -2, "epochs must be a non-negative integer"),
    ("key", 0, r"key must be a PRNG key such as jax.random.key\(0\), got 0"),
    ("key", jnp.zeros(3), "key must be a PRNG key"),
    ("loop", "fori", "loop must be 'scan' or 'python'"),
    ("reduction", "max", "reduction must be 'mean' or 'sum'"),
    ("callbacks", 3, "callbacks must be jaxdl.callbacks.Callback objects"),
    ("callbacks", "live", "callbacks must be jaxdl.callbacks.Callback objects"),  # the old plot="live"
])
def test_bad_arguments_are_refused_by_name(name, value, message):
    with pytest.raises(ValueError, match=message):
        _fit_linreg(**{name: value})


def test_an_unwritable_plot_path_is_refused_when_the_callback_is_made(tmp_path):
    (tmp_path / "a_file").write_text("not a directory")
    with pytest.raises(OutputError, match=r"a_file is a file, not a directory; name a directory"):
        callbacks.SavePlot(tmp_path / "a_file" / "training.png")
    with pytest.raises(OutputError) as err:
        callbacks.SavePlot(tmp_path)
    assert str(err.value) == f"{tmp_path} is a directory; pass a file name such as {tmp_path / 'training.png'}"
    with pytest.raises(ValueError, match="SavePlot takes a file path, got 3"):
        callbacks.SavePlot(3)


def test_a_failed_figure_save_warns_and_still_returns_params_and_history(tmp_path, monkeypatch):
    import jaxdl.plotting

    def full_disk(history, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jaxdl.plotting, "save_history_plot", full_disk)
    with pytest.warns(UserWarning) as caught:
        params, _, history = _fit_linreg(callbacks=[callbacks.SavePlot(tmp_path / "training.png")], epochs=2)
    assert [str(w.message) for w in caught] == [
        f"could not save the training plot to {tmp_path / 'training.png'} ([Errno 28] No space left on device); "
        "the parameters and history are returned anyway"]
    assert history.epochs == 2 and params["W"].shape == (1, 2)
    # the warning points at the line that called fit, not into jaxdl
    for fit in (training.fit, training.fit_many):
        start = _linreg_params() if fit is training.fit else jax.tree.map(lambda a: a[None], _linreg_params())
        key = {"key" if fit is training.fit else "keys": jax.random.key(0)}
        with pytest.warns(UserWarning) as caught:
            fit(LINREG, losses.squared_loss, start, data.synthetic_regression(jax.random.key(0)), optimizers.sgd(0.03),
                **key, epochs=1, batch_size=32, metric=None, callbacks=[callbacks.SavePlot(tmp_path / "t.png")])
        if not UNDER_MUTMUT:
            assert [(Path(w.filename).name, w.lineno) for w in caught] == [(Path(__file__).name, caught[0].lineno)]
            assert caught[0].lineno == inspect.currentframe().f_lineno - 4  # the line of `fit(`


def test_an_error_is_named_by_its_first_line_or_its_type():
    from jaxdl.checks import _first_line

    assert _first_line(ValueError("  shapes differ\n  more detail")) == "shapes differ"
    assert _first_line(ValueError("")) == "ValueError" and _first_line(KeyError()) == "KeyError"


def test_params_are_summarised_by_their_shapes_in_at_most_200_characters():
    from jaxdl.checks import _summary

    assert _summary({"W": jnp.zeros((2, 3)), "scale": 0.5}) == "{'W': (2, 3), 'scale': 'float'}"
    long = _summary([jnp.zeros((i, 1000)) for i in range(100)])
    assert len(long) == 200 and long.startswith("[(0, 1000), (1, 1000)")


def test_one_hot_labels_are_rows_of_zeros_and_a_single_one():
    from jaxdl.checks import _one_hot

    assert _one_hot(np.eye(3)[[0, 2, 1]])
    assert not _one_hot(np.array([[1, 1, 0], [0, 0, 1]]))  # zeros and ones, but a row with two
    assert not _one_hot(np.array([[0.5, 0.5], [0.0, 1.0]]))  # rows summing to one, but not zeros and ones


def test_a_loss_takes_targets_by_their_shape_and_type():
    from jaxdl.checks import _loss_takes

    logits = jax.ShapeDtypeStruct((5, 10), jnp.float32)
    assert _loss_takes(losses.softmax_cross_entropy, logits, jnp.zeros(5, jnp.int32))
    assert not _loss_takes(losses.softmax_cross_entropy, logits, jnp.zeros((5, 10), jnp.float32))
    assert _loss_takes(losses.squared_loss, jax.ShapeDtypeStruct((5, 1), jnp.float32), jnp.zeros((5, 1)))
    assert not _loss_takes(lambda y_hat, y: (y_hat * y).sum(), logits, jnp.zeros((5, 10)))  # one value in all


def test_a_penalty_is_refused_with_what_it_is_and_why_it_fails():
    with pytest.raises(ValueError, match=r"^penalty must be a function params -> scalar, got int$"):
        _fit_linreg(penalty=5)
    with pytest.raises(ValueError, match=r"^penalty\(params\) fails on these parameters \('W2'\)$"):
        _fit_linreg(penalty=lambda p: p["W2"].sum())


def test_keys_new_and_legacy_are_taken_and_anything_else_refused():
    from jaxdl.checks import check_key

    check_key(jax.random.key(0))
    check_key(jax.random.PRNGKey(0))  # the legacy raw uint32 key
    check_key(np.array([0, 7], np.uint32))
    for bad in ([0, 7], np.zeros(3, np.uint32), np.zeros(2, np.int32), 0, jax.random.split(jax.random.key(0))):
        with pytest.raises(ValueError, match=r"^key must be a PRNG key such as jax.random.key\(0\), got "):
            check_key(bad)
    with pytest.raises(ValueError) as err:
        check_key(list(range(1000)))  # a long repr is cut
    assert len(str(err.value)) == 300


def test_counts_are_named_positive_or_non_negative_by_their_minimum():
    from jaxdl.checks import check_count

    check_count(0, "epochs", 0)
    check_count(np.int64(3), "batch_size", 1)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0$"):
        check_count(0, "batch_size", 1)
    with pytest.raises(ValueError, match=r"^epochs must be a non-negative integer, got -1$"):
        check_count(-1, "epochs", 0)
    with pytest.raises(ValueError, match=r"^epochs must be a non-negative integer, got True$"):
        check_count(True, "epochs", 0)


@pytest.mark.parametrize("make, high", [
    (lambda: np.full((4, 8, 8), 2.0, np.float32), 2),  # whole numbers past 1.5: raw pixels
    (lambda: np.full((4, 8, 8), 255.0, np.float32), 255),
    (lambda: np.full((4, 8, 8), 256.0, np.float32), None),  # past 255: not pixels
    (lambda: np.full((4, 8, 8), 1.0, np.float32), None),  # 0/1 images are fine
    (lambda: np.linspace(0, 3.7, 256, dtype=np.float32).reshape(4, 8, 8), None),  # not whole numbers
    (lambda: np.full((4, 8, 8), 200, np.int32), "int32 integers up to 200"),  # not uint8: the model sees them as they are
    (lambda: np.full((4, 2, 2), 200.0, np.float32), None),  # fewer than 64 features: not images
    (lambda: np.concatenate([np.full((1024, 8, 8), 9.0, np.float32), np.full((1, 8, 8), 300.0, np.float32)]),
     9),  # only the first 1024 examples are looked at
])
def test_unscaled_images_warn_and_nothing_else_does(make, high):
    from jaxdl.checks import warn_unscaled_images

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_unscaled_images(jnp.asarray(make()), "X_train", lambda X: X)
    what = high if isinstance(high, str) else f"floats up to {high}"
    expected = [] if high is None else [f"X_train holds {what}, whole numbers as raw pixels are"]
    assert [str(w.message).split(":")[0] for w in caught] == expected


def test_params_are_refused_with_what_they_are_and_what_went_wrong():
    from jaxdl.checks import check_params

    X = jnp.zeros((3, 2))

    class ShapeOnly:
        shape = (2,)

    with pytest.raises(ValueError, match=r"^params must be a pytree of arrays as returned by the model's init, "
                                         r"got \{'W': \(2,\)\}$"):
        check_params(lambda p, X: LINREG(p, X), {"W": ShapeOnly()}, X, lambda X: X)
    with pytest.raises(ValueError) as err:
        check_params(lambda p, X: LINREG(p, X), {"W": jnp.zeros((1, 5)), "b": jnp.zeros(1)}, X, lambda X: X)
    assert str(err.value) == (
        "the model cannot take inputs of shape (2,) with these parameters (ShapeError: Linear(1) was made for 5 inputs "
        "but got inputs of shape (1, 2) (2 features); flatten them first or make the layer for 2 inputs); params is "
        "{'W': (1, 5), 'b': (1,)}: pass the params made by the init that matches apply, for the number of inputs the "
        "data has")
    with pytest.raises(ValueError) as err:  # a plain function's own error, named by its type and first line
        check_params(lambda p, X: X @ p["W"].T, {"W": jnp.zeros((1, 5))}, X, lambda X: X)
    assert str(err.value).startswith(
        "the model cannot take inputs of shape (2,) with these parameters (TypeError: dot_general requires contracting "
        "dimensions to have the same shape, got (2,) and (5,).); params is {'W': (1, 5)}")


def test_the_unscaled_images_warning_points_at_the_caller_of_fit():
    with pytest.warns(UserWarning) as caught:
        training.fit(_softmax(64)[0], losses.softmax_cross_entropy, _softmax(64)[1],
                     Dataset(jnp.full((8, 8, 8), 9.0), jnp.zeros(8, jnp.int32), jnp.full((4, 8, 8), 9.0),
                             jnp.zeros(4, jnp.int32)), optimizers.sgd(0.01), key=jax.random.key(0), epochs=1,
                     batch_size=4, callbacks=())
    messages = [str(w.message) for w in caught if "raw pixels" in str(w.message)]
    assert messages and messages[0].endswith("and trains badly; pass uint8 images (scaled to [0, 1] for you) or "
                                             "divide by 255")
    if not UNDER_MUTMUT:
        assert {Path(w.filename).name for w in caught if "raw pixels" in str(w.message)} == {Path(__file__).name}


def test_the_minibatch_mask_is_float32():
    from jaxdl.data import batch_plan

    for x64 in (False, True):  # float32 under x64 too: it never promotes a float32 loss
        with jax.enable_x64(x64):
            _, mask = batch_plan(np.arange(5), 2)
        assert mask.dtype == jnp.float32
        np.testing.assert_array_equal(mask, [[1, 1], [1, 1], [1, 0]])


def test_is_key_knows_typed_and_raw_keys_and_their_batch_shape():
    from jaxdl.checks import is_key

    typed, raw = jax.random.split(jax.random.key(0), 3), jax.random.split(jax.random.PRNGKey(0), 3)
    assert is_key(typed, (3,)) and is_key(raw, (3,)) and is_key(typed[0]) and is_key(raw[0])
    assert not is_key(typed, ()) and not is_key(raw, ()) and not is_key(typed, (4,)) and not is_key(raw, (4,))
    assert not is_key(raw.astype(jnp.int32), (3,)) and not is_key([0, 1])


def test_live_plot_saves_no_file_and_a_name_is_no_callback(tmp_path):
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        _fit_linreg(epochs=1, callbacks=[callbacks.LivePlot()])  # outside a notebook: nothing drawn, nothing saved
    finally:
        os.chdir(cwd)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"callbacks must be jaxdl.callbacks.Callback objects .*got str$"):
        training.check_options("scan", "mean", None, "live")
    assert training.check_options("scan", "mean", None, ()) == []
    assert [type(c) for c in training.check_options("scan", "mean", None, None)] == [callbacks.ProgressBar]


def test_a_preprocess_is_used_in_fits_checks_as_in_training():
    ds = data.synthetic_regression(jax.random.key(0))
    wide = ds._replace(X_train=jnp.tile(ds.X_train, 2), X_val=jnp.tile(ds.X_val, 2))  # (n, 4): 2 features twice
    expected = _fit_linreg(ds).history
    history = _fit_linreg(wide, preprocess=lambda X: X[:, :2]).history
    np.testing.assert_array_equal(history.train_loss, expected.train_loss)
    np.testing.assert_array_equal(history.val_loss, expected.val_loss)


def test_nan_after_an_integer_array_is_still_found():
    X = jnp.arange(40, dtype=jnp.int32).reshape(20, 2)  # integers hold no NaN: skipped, and the rest still checked
    y = jnp.ones((20, 1)).at[4, 0].set(jnp.nan)
    with pytest.raises(ValueError) as err:
        training.check_inputs(LINREG, _linreg_params(0), Dataset(X, y, X, y))
    assert str(err.value) == ("y_train holds NaN or inf values in 1 example(s), the first at index 4; remove or impute "
                              "those examples before training")


class _ShapeOnly:  # has a shape but no dtype: not an array
    shape = (20, 2)


@pytest.mark.parametrize("given, message", [
    ("pair", "fit takes a Dataset(X_train, y_train, X_val, y_val), not a tuple (X, y); wrap the arrays: "
             "jaxdl.Dataset(X_train, y_train, X_val, y_val)"),
    ("triple", "fit takes a jaxdl.Dataset(X_train, y_train, X_val, y_val), got tuple; wrap the arrays in one"),
    ("list of two", "fit takes a jaxdl.Dataset(X_train, y_train, X_val, y_val), got list; wrap the arrays in one"),
    ("shape without dtype", "data.X_train is a _ShapeOnly, not an array; convert it with jnp.asarray"),
])
def test_what_is_not_a_dataset_of_arrays_is_refused_saying_what_it_is(given, message):
    X, y = jnp.zeros((20, 2)), jnp.zeros((20, 1))
    data = {"pair": (X, y), "triple": (X, y, X), "list of two": [X, y],
            "shape without dtype": Dataset(_ShapeOnly(), y, X, y)}[given]
    with pytest.raises(ValueError) as err:
        training.check_inputs(LINREG, _linreg_params(0), data)
    assert str(err.value) == message


@pytest.mark.parametrize("y_train, count", [(jnp.zeros(19, jnp.int32), "19"), (jnp.int32(3), "a single value")])
def test_labels_that_do_not_pair_with_the_examples_are_counted(y_train, count):
    X = jax.random.randint(jax.random.key(0), (20, 4, 4), 0, 256).astype(jnp.uint8)
    ds = Dataset(X, y_train, X, jnp.zeros(20, jnp.int32))
    with pytest.raises(ValueError) as err:
        training.check_inputs(*_softmax(), ds)
    assert str(err.value) == f"X_train has 20 examples but y_train has {count}; they must pair up"


def test_a_single_training_example_is_data_enough():
    ds = data.synthetic_regression(jax.random.key(0), num_train=1)
    training.check_inputs(LINREG, _linreg_params(), ds, losses.squared_loss)


def test_a_two_class_classifiers_labels_are_checked():
    X = jax.random.randint(jax.random.key(0), (20, 4, 4), 0, 256).astype(jnp.uint8)
    y = (jnp.arange(20) % 2).at[5].set(2)
    with pytest.raises(ValueError, match=r"^y_train has label 2, outside the range \[0, 2\) of a model with 2 outputs"):
        training.check_inputs(*_softmax(16, 2), Dataset(X, y, X, y % 2),
                              losses.softmax_cross_entropy)


def _check_outputs(num_outputs, y, loss, model=None):
    """check_inputs for a linear model with num_outputs outputs on 20 standard-normal examples of 16 features."""
    X = jax.random.normal(jax.random.key(0), (20, 16))
    model = models.softmax_regression(num_outputs) if model is None else model
    training.check_inputs(model, models.init(model, jax.random.key(0), (1, 16)), Dataset(X, y, X, y), loss)


def _matmul_loss(y_hat, y):  # refuses targets shaped as the outputs: the contracted axes differ
    return y_hat @ y


def test_regression_targets_are_taken_one_value_per_output_integers_included():
    _check_outputs(3, jnp.ones((20, 3)), losses.squared_loss)
    for y in (jnp.arange(20) % 3, (jnp.arange(20) % 3).reshape(-1, 1)):  # counts as targets of one output
        _check_outputs(1, y, losses.squared_loss)


@pytest.mark.parametrize("num_outputs", [2, 3])
def test_integer_labels_for_a_loss_without_classes_say_which_loss_or_targets_to_use(num_outputs):
    with pytest.raises(ValueError) as err:
        _check_outputs(num_outputs, jnp.arange(20) % num_outputs, losses.squared_loss)
    assert str(err.value) == (
        "y_train holds integer labels, shape (20,), but the loss does not take class labels; use a classification "
        f"loss (losses.softmax_cross_entropy) or targets of shape (20, {num_outputs})")


def test_a_loss_that_refuses_the_targets_is_named_with_its_own_first_line():
    with pytest.raises(TypeError) as own:
        jax.eval_shape(_matmul_loss, jax.ShapeDtypeStruct((2, 3), jnp.float32), jax.ShapeDtypeStruct((2, 3), jnp.float32))
    with pytest.raises(ValueError) as err:
        _check_outputs(3, jnp.ones((20, 3)), _matmul_loss)
    first_line = str(own.value).strip().splitlines()[0]
    assert str(err.value) == f"the loss cannot pair y_train of shape (20, 3) with outputs of shape (N, 3) ({first_line})"


AVERAGED = "the loss returns one number for a batch of 2 examples: it averages the batch"


def test_a_loss_that_averages_the_batch_is_refused_as_such():
    with pytest.raises(ValueError, match=AVERAGED):
        _check_outputs(3, jnp.ones((20, 3)), lambda y_hat, y: jnp.mean((y_hat - y) ** 2))


def test_a_classifiers_loss_that_averages_the_batch_is_refused_as_such_not_as_taking_no_labels():
    with pytest.raises(ValueError, match=AVERAGED):
        _check_outputs(3, jnp.arange(20) % 3, lambda y_hat, y: losses.softmax_cross_entropy(y_hat, y).mean())


def test_a_loss_with_one_value_per_example_of_another_shape_is_still_refused():
    with pytest.raises(ValueError, match=r"the loss gives shape \(2, 3\) for a batch of 2 with y_train shaped \(20, 3\)"):
        _check_outputs(3, jnp.ones((20, 3)), lambda y_hat, y: (y_hat - y) ** 2)


# (case, the model, the phrase of its refusal): outputs are checked as the inputs are
OUTPUT_REFUSALS = [
    ("transposed outputs", nn.serial(models.softmax_regression(3), nn.function(lambda Y: Y.T)),
     r"outputs of shape \(3, 1\) for a batch of 1 example\(s\); expected one row per example, shape \(1, \.\.\.\); "
     r"is it transposed \(outputs, batch\)\?"),
    ("one row for any batch", nn.serial(models.softmax_regression(3), nn.function(lambda Y: Y[:1])),
     r"outputs of shape \(1, 3\) for a batch of 3 example\(s\); expected one row per example, shape \(3, \.\.\.\)"),
    ("a tuple (logits, aux)", nn.serial(models.softmax_regression(3), nn.function(lambda Y: (Y, Y.sum()))),
     r"the model returns a tuple of 2 values, not one array of outputs"),
]


@pytest.mark.parametrize("model, message", [case[1:] for case in OUTPUT_REFUSALS], ids=[c[0] for c in OUTPUT_REFUSALS])
def test_model_outputs_of_the_wrong_shape_are_refused_with_the_shape_received_and_expected(model, message):
    with pytest.raises(ValueError, match=message):
        _check_outputs(3, jnp.arange(20) % 3, losses.softmax_cross_entropy, model=model)


def test_a_validation_set_of_other_image_sizes_is_refused():
    X = jnp.zeros((20, 4, 4), jnp.uint8)
    y = jnp.arange(20) % 3
    model = models.softmax_regression(3)
    with pytest.raises(ValueError, match=r"X_val's examples have shape \(5, 5\) but X_train's \(4, 4\)"):
        training.check_inputs(model, models.init(model, jax.random.key(0), (1, 4, 4)),
                              Dataset(X, y, jnp.zeros((6, 5, 5), jnp.uint8), y[:6]), losses.softmax_cross_entropy)


def test_one_example_and_batches_of_one_can_be_planned_and_none_cannot():
    from jaxdl.data import batch_plan, check_batching

    idx, mask = batch_plan(np.arange(3), 1)  # plain SGD, one example a step
    assert idx.shape == mask.shape == (3, 1)
    check_batching(1, 1)
    with pytest.raises(ValueError) as err:
        check_batching(0, 32)
    assert str(err.value) == "the dataset is empty (0 examples); load or generate some data before training"


def test_the_outputs_shape_in_a_refusal_lists_every_axis():
    with pytest.raises(ValueError, match=r"^the loss cannot pair y_train of shape \(20, 2, 3\) with outputs of shape "
                                         r"\(N, 2, 3\) \("):
        _check_outputs(6, jnp.ones((20, 2, 3)), _matmul_loss,
                       model=nn.serial(models.softmax_regression(6), nn.function(lambda X: X.reshape(-1, 2, 3))))
