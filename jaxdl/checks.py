"""Checks of what a user hands to fit, each raising a ValueError that says what was wrong and what to do.

Each check is a small function, so every trainer (fit, and whatever trains many models at once) refuses
bad input the same way and before any work starts.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data import Dataset

_SPLITS = ("train", "val")


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def stacklevel_outside_jaxdl() -> int:
    """The warnings.warn stacklevel, for the function calling this, of the first frame outside the jaxdl package:
    a warning then points at the user's line (fit, fit_many, check_inputs), however deep jaxdl's own calls go."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def check_count(value: Any, name: str, minimum: int) -> None:
    """Refuses anything but an integer >= minimum (bools too: True is not a count)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}")


def is_key(key: Any, batch_shape: tuple[int, ...] = ()) -> bool:
    """Whether key holds PRNG keys in an array of batch_shape: typed keys (jax.random.key(seed)) or legacy raw
    ones (jax.random.PRNGKey(seed), uint32 words in a last axis of 2)."""
    typed = (isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
             and key.shape == batch_shape)
    raw = (hasattr(key, "dtype") and hasattr(key, "shape") and key.dtype == np.uint32
           and tuple(key.shape) == (*batch_shape, 2))
    return typed or raw


def check_key(key: Any) -> None:
    """Refuses anything but a JAX PRNG key (jax.random.key(seed), or the legacy jax.random.PRNGKey(seed))."""
    if not is_key(key):
        raise ValueError(f"key must be a PRNG key such as jax.random.key(0), got {key!r}"[:300])


def check_dataset(data: Any) -> Dataset:
    """Refuses anything but a Dataset of four arrays; a tuple (X, y) is the usual mistake."""
    if not isinstance(data, Dataset):
        if isinstance(data, tuple) and len(data) == 2:
            raise ValueError(
                "fit takes a Dataset(X_train, y_train, X_val, y_val), not a tuple (X, y); wrap the arrays: "
                "jaxdl.Dataset(X_train, y_train, X_val, y_val)"
            )
        raise ValueError(
            f"fit takes a jaxdl.Dataset(X_train, y_train, X_val, y_val), got {type(data).__name__}; "
            "wrap the arrays in one"
        )
    for name, value in data._asdict().items():
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):
            raise ValueError(f"data.{name} is a {type(value).__name__}, not an array; convert it with jnp.asarray")
    return data


def check_examples(data: Dataset) -> None:
    """Each split must be non-empty and have as many targets as inputs."""
    for split in _SPLITS:
        X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
        if X.ndim == 0 or X.shape[0] == 0:
            raise ValueError(f"the {split} set is empty (0 examples); load or generate some data first")
        if y.ndim == 0 or X.shape[0] != y.shape[0]:
            count = "a single value" if y.ndim == 0 else y.shape[0]
            raise ValueError(f"X_{split} has {X.shape[0]} examples but y_{split} has {count}; they must pair up")
    for name in ("X", "y"):
        train, val = getattr(data, f"{name}_train"), getattr(data, f"{name}_val")
        if tuple(train.shape[1:]) != tuple(val.shape[1:]):
            raise ValueError(f"{name}_val's examples have shape {tuple(val.shape[1:])} but {name}_train's "
                             f"{tuple(train.shape[1:])}; the validation set must be shaped as the training set "
                             "(resize both alike)")


def check_finite(data: Dataset) -> None:
    """Refuses NaN or inf anywhere in the data, training or validation, naming the array and the example."""
    for name, value in data._asdict().items():
        if not jnp.issubdtype(value.dtype, jnp.inexact):
            continue
        finite = np.asarray(jnp.isfinite(value).reshape(value.shape[0], -1).all(axis=1))
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(
                f"{name} holds NaN or inf values in {bad.size} example(s), the first at index {int(bad[0])}; "
                "remove or impute those examples before training"
            )


def check_params(apply: Callable, params: Any, X: jax.Array, preprocess: Callable) -> jax.ShapeDtypeStruct:
    """Traces the model on one example (no computation) and returns the output's shape; refuses
    parameters of the wrong structure or for another input size with a message that says so."""
    leaves = jax.tree.leaves(params)
    if not leaves or not all(hasattr(leaf, "shape") and hasattr(leaf, "dtype") for leaf in leaves):
        raise ValueError(
            f"params must be a pytree of arrays as returned by the model's init, got {_summary(params)}"
        )
    outputs = []
    for rows in sorted({1, min(3, X.shape[0])}):
        try:
            outputs.append(jax.eval_shape(apply, params, preprocess(X[:rows])))
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
            raise ValueError(
                f"the model cannot take inputs of shape {tuple(X.shape[1:])} with these parameters "
                f"({type(err).__name__}: {_first_line(err)}); params is {_summary(params)}: pass the params made by "
                "the init that matches apply, for the number of inputs the data has"
            ) from None
        check_output(outputs[-1], rows)
    return outputs[0]


def check_output(output: Any, rows: int) -> None:
    """Refuses a model output that is not one array with one row per example of a batch of `rows`."""
    if not isinstance(output, jax.ShapeDtypeStruct):
        kind = f"a {type(output).__name__} of {len(output)} values" if isinstance(output, (tuple, list)) else (
            f"a {type(output).__name__}")
        raise ValueError(f"the model returns {kind}, not one array of outputs; fit trains on one output array per "
                         "batch: return the outputs alone (the logits, say)")
    if output.ndim == 0 or output.shape[0] != rows:
        hint = "; is it transposed (outputs, batch)?" if output.ndim == 2 and output.shape[1] == rows else (
            "; it must not depend on a fixed batch size" if output.ndim else "")
        raise ValueError(f"the model gives outputs of shape {tuple(output.shape)} for a batch of {rows} "
                         f"example(s); expected one row per example, shape ({rows}, ...){hint}")


def takes_class_labels(loss: Callable, output: jax.ShapeDtypeStruct) -> bool:
    """Whether loss is a classifier's: it takes integer labels (N,) beside outputs (N, C) with C > 1."""
    num_outputs = math.prod(output.shape[1:])
    if num_outputs < 2:
        return False
    outputs = jax.ShapeDtypeStruct((2, *output.shape[1:]), output.dtype)
    try:
        value = jax.eval_shape(loss, outputs, jax.ShapeDtypeStruct((2,), jnp.int32))
    except Exception:  # any refusal means it does not take labels; nothing is computed here
        return False
    return value.shape == (2,)


def check_per_example_loss(y: jax.Array, loss: Callable, output: jax.ShapeDtypeStruct) -> None:
    """Refuses a loss that averages (or sums) the batch into one number: fit needs one value per example."""
    outputs = jax.ShapeDtypeStruct((2, *output.shape[1:]), output.dtype)
    for targets in (jax.ShapeDtypeStruct((2, *y.shape[1:]), y.dtype), jax.ShapeDtypeStruct((2,), jnp.int32)):
        try:
            value = jax.eval_shape(loss, outputs, targets)
        except Exception:  # a refusal of these targets is check_labels' to explain
            continue
        if getattr(value, "shape", None) == ():
            raise ValueError("the loss returns one number for a batch of 2 examples: it averages the batch; give a "
                             "loss with one value per example (drop its .mean()): fit averages over the real "
                             "examples of each minibatch itself")


def check_labels(y: jax.Array, name: str, loss: Callable, output: jax.ShapeDtypeStruct) -> None:
    """Refuses targets the loss cannot pair with the model's outputs, naming the shape received and expected."""
    check_per_example_loss(y, loss, output)
    num_outputs = math.prod(output.shape[1:])
    n, shape, dtype = y.shape[0], tuple(y.shape), y.dtype
    integer = jnp.issubdtype(dtype, jnp.integer)  # bools are not class numbers: optax refuses them
    if takes_class_labels(loss, output):
        expected = f"integer class labels of shape ({n},)"
        if integer and y.ndim == 1:
            labels = np.asarray(y)
            bad = (labels < 0) | (labels >= num_outputs)
            if bad.any():
                raise ValueError(
                    f"{name} has label {int(labels[bad][0])}, outside the range [0, {num_outputs}) of a model "
                    f"with {num_outputs} outputs; check the labels or the model's number of outputs"
                )
            return
        if _loss_takes(loss, output, y):  # a loss written for these targets, one-hot ones say
            return
        if y.ndim == 2 and shape[1] == 1:
            raise ValueError(f"{name} has shape {shape}; a classifier takes {expected}: pass {name}.reshape(-1)")
        if y.ndim == 2 and shape[1] == num_outputs and _one_hot(y):
            raise ValueError(
                f"{name} looks one-hot, shape {shape}; fit takes {expected}: pass {name}.argmax(axis=1)"
            )
        if y.ndim == 1:
            raise ValueError(
                f"{name} holds {dtype} values, shape {shape}; a classifier takes {expected}: pass "
                f"{name}.astype(jnp.int32) if they are whole class numbers"
            )
        raise ValueError(f"{name} has shape {shape} and dtype {dtype}; a classifier with {num_outputs} outputs "
                         f"takes {expected}")
    if integer and y.ndim == 1 and num_outputs > 1:
        raise ValueError(
            f"{name} holds integer labels, shape {shape}, but the loss does not take class labels; use a "
            f"classification loss (losses.softmax_cross_entropy) or targets of shape ({n}, {num_outputs})"
        )
    width = math.prod(shape[1:])
    if width != num_outputs:
        raise ValueError(
            f"{name} has {width} values per example but the model gives {num_outputs} ({name} has shape "
            f"{shape}); reshape the targets to ({n}, {num_outputs})"
        )
    outputs = jax.ShapeDtypeStruct((2, *output.shape[1:]), output.dtype)
    try:
        value = jax.eval_shape(loss, outputs, jax.ShapeDtypeStruct((2, *shape[1:]), dtype))
    except Exception as err:  # the loss refused these targets (nothing is computed); say so in our words
        raise ValueError(f"the loss cannot pair {name} of shape {shape} with outputs of shape "
                         f"(N, {', '.join(map(str, output.shape[1:]))}) ({_first_line(err)})") from None
    if value.shape != (2,):
        raise ValueError(f"the loss gives shape {value.shape} for a batch of 2 with {name} shaped {shape}; "
                         "a loss must give one value per example")


def warn_unscaled_images(X: jax.Array, name: str, preprocess: Callable) -> None:
    """Warns when inputs other than uint8 look like raw pixels, whole numbers in [0, 255] past 1, as the model sees
    them (floats, or integers that the default preprocess does not scale)."""
    sample = preprocess(X[:1024])
    if not jnp.issubdtype(sample.dtype, jnp.number) or math.prod(sample.shape[1:]) < 64:
        return
    low, high = float(sample.min()), float(sample.max())
    if low >= 0 and 1.5 < high <= 255 and bool(jnp.all(sample == jnp.round(sample))):
        kind = "floats" if jnp.issubdtype(sample.dtype, jnp.floating) else f"{sample.dtype} integers"
        warnings.warn(
            f"{name} holds {kind} up to {high:g}, whole numbers as raw pixels are: the model sees them unscaled "
            "and trains badly; pass uint8 images (scaled to [0, 1] for you) or divide by 255",
            stacklevel=stacklevel_outside_jaxdl(),  # the line that called fit, fit_many or check_inputs
        )


def _loss_takes(loss: Callable, output: jax.ShapeDtypeStruct, y: jax.Array) -> bool:
    """Whether loss gives one value per example for targets shaped and typed as y (traced, not computed)."""
    outputs = jax.ShapeDtypeStruct((2, *output.shape[1:]), output.dtype)
    try:
        value = jax.eval_shape(loss, outputs, jax.ShapeDtypeStruct((2, *y.shape[1:]), y.dtype))
    except Exception:  # any refusal means it does not
        return False
    return value.shape == (2,)


def _one_hot(y: jax.Array) -> bool:
    values = np.asarray(y)
    return bool(np.isin(values, (0, 1)).all() and (values.sum(axis=1) == 1).all())


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _summary(params: Any) -> str:
    shapes = jax.tree.map(lambda leaf: tuple(leaf.shape) if hasattr(leaf, "shape") else type(leaf).__name__, params)
    return str(shapes)[:200]
