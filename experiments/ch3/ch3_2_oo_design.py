"""d2l 3.2 Object-oriented design, translated: hyperparameters become immutable records, Module / DataModule /
Trainer become pure functions, and the ProgressBoard's every_n averaging becomes a reshape and a mean."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import data, losses, models, nn, optimizers, plotting, training
from experiments.harness import references
from jaxdl.data import Dataset

SECTION = "3.2"
TITLE = "Object-oriented design for implementation"
REFERENCE = "ch3_2_oo_design"

TOLERANCES: Tolerances = {
    "points": Tolerance(atol=2e-6, why="float32 against the book's float64: float32 numbers near 10 are 9.5e-7 apart"),
}


class B(NamedTuple):
    """d2l's `B(d2l.HyperParameters)` with `save_hyperparameters(ignore=['c'])`: only a and b are kept."""

    a: int
    b: int


class LinearRegressionConfig(NamedTuple):
    """What d2l's Module subclass saves with save_hyperparameters: the model's hyperparameters."""

    num_inputs: int = 2
    lr: float = 0.03
    sigma: float = 0.01


class DataConfig(NamedTuple):
    """What d2l's DataModule saves: the data's hyperparameters (3.3's synthetic regression data)."""

    w: tuple[float, ...] = (2.0, -3.4)
    b: float = 4.2
    noise: float = 0.01
    num_train: int = 1000
    num_val: int = 1000
    batch_size: int = 32


class TrainerConfig(NamedTuple):
    """What d2l's Trainer saves: how long to train."""

    max_epochs: int = 3


def make_data(config: DataConfig, key: jax.Array) -> Dataset:
    """DataModule.__init__: the arrays, drawn from an explicit key instead of the global RNG."""
    return data.synthetic_regression(key, config.w, config.b, config.noise, config.num_train, config.num_val)


def init_model(config: LinearRegressionConfig, key: jax.Array) -> nn.Params:
    """Module.__init__'s parameters, returned instead of stored on self."""
    return models.init(models.linear_regression(config.sigma), key, (1, config.num_inputs))


def fit(model: LinearRegressionConfig, data_config: DataConfig, trainer: TrainerConfig,
        key: jax.Array) -> tuple[nn.Params, training.History]:
    """Trainer.fit(model, data): every input is an argument and every result a return value."""
    key_data, key_init, key_fit = jax.random.split(key, 3)
    params, _, history = training.fit(models.linear_regression(model.sigma), losses.squared_loss,
                                      init_model(model, key_init), make_data(data_config, key_data),
                                      optimizers.sgd(model.lr), key=key_fit, epochs=trainer.max_epochs,
                                      batch_size=data_config.batch_size, metric=None, callbacks=())
    return params, history


def board_points(x: jax.Array, y: jax.Array, every_n: int) -> tuple[jax.Array, jax.Array]:
    """ProgressBoard.draw's line: the means of consecutive groups of every_n points; an unfinished group is
    not drawn (d2l keeps it waiting for more points)."""
    usable = x.shape[0] // every_n * every_n
    return x[:usable].reshape(-1, every_n).mean(axis=1), y[:usable].reshape(-1, every_n).mean(axis=1)


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)

    record = B(**{k: v for k, v in dict(a=1, b=2, c=3).items() if k in B._fields})
    result.compare("B(a=1, b=2, c=3) keeps", list(record._fields), ["a", "b"])
    result.compare("a, b", [record.a, record.b], [1, 2])
    result.compare("has c", hasattr(record, "c"), False)
    result.compare("a record is a pytree: its leaves", jax.tree.leaves(record), [1, 2])

    config, data_config = LinearRegressionConfig(), DataConfig()
    trainer = TrainerConfig(max_epochs=1 if fast else 3)
    key = jax.random.key(0)
    params, history = fit(config, data_config, trainer, key)
    again, history_again = fit(config, data_config, trainer, key)
    result.compare("fit twice with one key: same parameters", ravel_pytree(again)[0], ravel_pytree(params)[0])
    result.compare("fit twice with one key: same step losses", history_again.train_loss, history.train_loss)
    result.compare("minibatches per epoch (1000 / 32, last one partial)", history.num_batches, 32)
    slower = fit(config._replace(lr=0.01), data_config, trainer, key)[1]
    result.text(
        "| d2l (3.2) | jaxdl |\n|---|---|\n"
        "| `HyperParameters.save_hyperparameters()` | a NamedTuple of the hyperparameters (`B`, "
        "`LinearRegressionConfig`, `DataConfig`, `TrainerConfig`); `_replace` makes a changed copy |\n"
        "| `Module`: parameters on self, `forward`, `loss` | `model = models.linear_regression(sigma)` is a layer "
        "value; `models.init(model, key, (1, num_inputs))` returns the parameter pytree; `model(params, X)`, "
        "`losses.squared_loss(y_hat, y)` |\n"
        "| `DataModule`: tensors on self, `train_dataloader()` | `data.synthetic_regression(key, ...)` returns a "
        "`Dataset`; `data.batch_indices(key, n, batch_size)` plans an epoch's minibatches |\n"
        "| `Trainer.fit(model, data)` | `training.fit(model, loss, params, data, optimizer, key=...)` returns "
        "`Fitted(params, state, history)` |\n"
        "| `@d2l.add_to_class` (methods added later) | plain functions, defined anywhere |\n\n"
        f"With one key, `fit` is repeatable: same {len(history.train_loss)} step losses, same parameters. "
        f"Changing one field: lr 0.03 ends at validation loss {history.val_loss[-1]:.4g}, "
        f"`config._replace(lr=0.01)` at {slower.val_loss[-1]:.4g}."
    )

    grid = ref["x"]
    x = jnp.arange(grid["start"], grid["stop"], grid["step"])
    result.compare("number of raw points", x.shape[0], grid["size"])
    lines = {}
    for name, fn, every_n in (("sin_every_2", jnp.sin, 2), ("cos_every_10", jnp.cos, 10)):
        xs, ys = board_points(x, fn(x), every_n)
        # float32 against the book's float64: float32 numbers near 10 are 9.5e-7 apart.
        result.compare(f"{name}: points drawn", xs.shape[0], len(ref[name]["x"]))
        result.compare(f"{name}: x of each point", xs, ref[name]["x"], tol=TOLERANCES["points"])
        result.compare(f"{name}: y of each point", ys, ref[name]["y"], tol=TOLERANCES["points"])
        lines[name] = (xs, ys)
    axes = plotting.plot([np.asarray(v[0]) for v in lines.values()], [np.asarray(v[1]) for v in lines.values()],
                         xlabel="x", legend=["sin", "cos"], figsize=(3.5, 2.5))
    result.save_figure(axes.figure, "progress_board.png")
    axes = plotting.plot_history(history)
    result.save_figure(axes.figure, "trainer_history.png")
    result.text(
        "ProgressBoard's `draw(x, y, label, every_n)` keeps raw points until it has every_n of them and then "
        "draws their mean. Over 100 points, sin with every_n = 2 gives 50 points and cos with every_n = 10 "
        "gives 10: cos looks coarser. As a pure function that is `x[:k * n].reshape(-1, n).mean(axis=1)`."
    )


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
