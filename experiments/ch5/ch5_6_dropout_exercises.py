"""d2l 5.6 exercises: swapping the two layers' dropout rates, dropout against none (beside PyTorch's seeds), and
the variance of the hidden activations with and without dropout."""

from __future__ import annotations

from typing import Any

import jax
import matplotlib.pyplot as plt
import numpy as np

from experiments.ch5.mlp import HISTORY_HEADER, dense_layers, history_row, plot_band, torch_rows
from experiments.ch5.dropout_mlp import BAND_LOSSES, BAND_VAL_ACC, BOOK_KEYS, LR, check_band, train_many
from experiments.harness.result import Result, Tolerance, Tolerances, cli
from jaxdl import nn, optimizers
from jaxdl.datasets import fashion_mnist
from experiments.harness import references
from jaxdl.training import History

SECTION = "5.6"
TITLE = "Dropout: exercises"
REFERENCE = "ch5_6_dropout_exercises"

# The bands are 5.6's (check_band); the one number this module adds is the variance's.
TOLERANCES: Tolerances = {
    "band val_acc": BAND_VAL_ACC,
    "band losses": BAND_LOSSES,
    "variance": Tolerance(rtol=0.05, why="the measured variance of a dropped-out unit against (E[h^2] / (1 - p) - "
                          "E[h]^2), over 1000 images x 256 units x 32 keys: relative sampling error "
                          "~1/sqrt(2 * 1000 * 32) per unit, far less averaged over 256 units; 5% allows for units "
                          "whose activations are heavy-tailed"),
}
VARIANCE_KEYS = 32


def dense(layer: nn.Params, X: jax.Array) -> jax.Array:
    """One dense layer's {"W", "b"} applied to X (nn.linear's apply; its size is read from the params)."""
    return nn.linear(layer["W"].shape[0])(layer, X)


def flatten(X: jax.Array) -> jax.Array:
    return nn.flatten()((), X)


def hidden_activations(params: list[nn.Params], X: jax.Array, rates: tuple[float, ...],
                       key: jax.Array | None) -> list[jax.Array]:
    """Each hidden layer's output after dropout (training, with key) or without it (evaluation, key None);
    params: the dense layers in order."""
    H, out = flatten(X), []
    keys = jax.random.split(key, len(rates)) if key is not None else [None] * len(rates)
    for layer, p, k in zip(params[:-1], rates, keys):
        H = jax.nn.relu(dense(layer, H))
        if k is not None:
            H = nn.dropout_layer(k, H, p)
        out.append(H)
    return out


def variances(params: list[nn.Params], X: jax.Array, rates: tuple[float, ...]) -> dict[str, np.ndarray]:
    """Per hidden layer, the mean over units of each unit's variance across images: without dropout
    (evaluation), with it (over images and 32 keys), and E[h^2] / (1 - p) - E[h]^2 from the moments of the
    activations dropout receives in training (for layer 2, computed over a dropped-out layer 1)."""
    plain = hidden_activations(params, X, rates, None)
    keys = jax.random.split(jax.random.key(0), VARIANCE_KEYS)
    trained = jax.vmap(lambda k: hidden_activations(params, X, rates, k))(keys)
    rows = {"without": [], "with": [], "predicted": []}
    for i, p in enumerate(rates):
        rows["without"].append(float(plain[i].var(axis=0).mean()))
        rows["with"].append(float(trained[i].reshape(-1, trained[i].shape[-1]).var(axis=0).mean()))
        # Dropout's input in training mode: layer 1's plain output; layer 2's output over a dropped-out layer 1.
        base = plain[i] if i == 0 else _undropped_second(params, X, rates, keys)
        base = base.reshape(-1, base.shape[-1])
        m1, m2 = base.mean(axis=0), (base**2).mean(axis=0)
        rows["predicted"].append(float((m2 / (1.0 - p) - m1**2).mean()) if p < 1 else 0.0)
    return {k: np.array(v) for k, v in rows.items()}


def _undropped_second(params: list[nn.Params], X: jax.Array, rates: tuple[float, ...],
                      keys: jax.Array) -> jax.Array:
    """The second hidden layer's ReLU output in training mode before its own dropout (first layer dropped out)."""
    def one(k: jax.Array) -> jax.Array:
        k1, _ = jax.random.split(k)
        H1 = nn.dropout_layer(k1, jax.nn.relu(dense(params[0], flatten(X))), rates[0])
        return jax.nn.relu(dense(params[1], H1))
    return jax.vmap(one)(keys)


def run(result: Result, fast: bool) -> None:
    ref = references.load(REFERENCE)
    data = fashion_mnist.load()
    epochs = 1 if fast else 10
    names = ("no_dropout", "rates_0.5_0.2") if fast else tuple(ref["rates"])
    rows, histories, params_of = [], {}, {}
    keys = [jax.random.key(seed) for seed in range(BOOK_KEYS)]
    for name in names:
        rates = tuple(ref["rates"][name])
        book = ref["book"][name]
        params, runs = train_many(keys, data, rates=rates, optimizer=optimizers.optax_sgd(LR), epochs=epochs)
        check_band(result, name, runs, book)
        rows += [history_row(f"jaxdl {name}, key {seed}", h) for seed, h in enumerate(runs)]
        rows += torch_rows(name, book, epochs)
        histories[name], params_of[name] = runs, dense_layers(params[0])
        result.save_figure(plot_band({f"jaxdl key {seed}": h for seed, h in enumerate(runs)}, book,
                                     f"dropout {rates}: val acc"), f"band_{name}.png")
    result.text(
        f"Exercises 1 and 2: the 5.6 MLP (concise: PyTorch's nn.Dropout beside jaxdl's masks drawn as d2l's "
        f"dropout_layer draws them, uniform > p; optax.sgd lr {LR}) with other rates, "
        f"{epochs} epoch(s), beside {len(ref['book'][names[0]]['seeds'])} PyTorch seeds each:\n\n"
        + HISTORY_HEADER + "\n" + "\n".join(rows) + "\n\n"
        + gap_sentence(histories, ref["book"])
    )

    X = fashion_mnist.scale(data.X_val[:1000])
    lines = ["| model | layer | var without dropout | var with dropout | predicted |", "|---|---|---|---|---|"]
    measured = {}
    for name in names:
        rates = tuple(ref["rates"][name])
        v = variances(params_of[name], X, rates)
        measured[name] = v
        for i in range(len(rates)):
            lines.append(f"| {name} | {i + 1} | {v['without'][i]:.4f} | {v['with'][i]:.4f} | {v['predicted'][i]:.4f} |")
            if rates[i] > 0:
                result.compare(f"{name}: variance of hidden layer {i + 1} with dropout vs E[h^2]/(1-p) - E[h]^2",
                               v["with"][i], v["predicted"][i], tol=TOLERANCES["variance"])
    result.text(
        "Exercise 3: each hidden unit's variance across 1000 validation images (with dropout: and across "
        f"{VARIANCE_KEYS} keys), averaged over the 256 units, at the end of training. Dropout with rate p makes a "
        "unit h into m h / (1 - p) with m ~ Bernoulli(1 - p): the mean stays E[h] but the second moment grows to "
        "E[h^2] / (1 - p), so the variance is E[h^2] / (1 - p) - E[h]^2, which the 'predicted' column computes "
        "from the undropped activations:\n\n" + "\n".join(lines)
    )
    fig, ax = plt.subplots(figsize=(4.5, 3))
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        ax.bar(np.arange(2) + j * width, measured[name]["with"], width, label=f"{name}, with dropout")
        ax.scatter(np.arange(2) + j * width, measured[name]["without"], color="k", marker="_", s=200,
                   label="without dropout" if j == 0 else None)
    ax.set_xticks(np.arange(2) + width * (len(names) - 1) / 2, ["hidden 1", "hidden 2"])
    ax.set(ylabel="variance of a unit")
    ax.legend(fontsize=7)
    result.save_figure(fig, "activation_variance.png")


def gap_sentence(histories: dict[str, list[History]], books: dict[str, Any]) -> str:
    """Measured: validation minus training loss after the last epoch, the mean of jaxdl's keys and of the
    PyTorch seeds."""
    def torch_gap(book: dict[str, Any], e: int) -> float:
        return float(np.mean([v[e] - t[e] for v, t in zip(book["val_loss"], book["epoch_train_loss"])]))

    def jaxdl_gap(runs: list[History]) -> float:
        return float(np.mean([h.val_loss[-1] - h.epoch_train_loss()[-1] for h in runs]))

    parts = [f"{name}: jaxdl {jaxdl_gap(runs):+.4f}, PyTorch {torch_gap(books[name], runs[0].epochs - 1):+.4f}"
             for name, runs in histories.items()]
    e = next(iter(histories.values()))[0].epochs - 1
    order = sorted(books, key=lambda name: torch_gap(books[name], e), reverse=True)
    return ("Validation loss minus training loss after the last epoch (the training loss is measured with dropout "
            f"on, on a thinned network): {'; '.join(parts)}. Across the PyTorch seeds the gap is largest for "
            f"{order[0]} and smallest for {order[-1]} (ordered: {', '.join(order)}); dropout narrows the distance "
            "between what the network does on its training images and on new ones. " + swap_sentence(books, e))


def swap_sentence(books: dict[str, Any], e: int) -> str:
    """Measured: how much swapping the two rates moves PyTorch's mean validation accuracy, beside the seeds' spread."""
    acc = {name: np.array([a[e] for a in books[name]["val_acc"]]) for name in ("rates_0.2_0.5", "rates_0.5_0.2")}
    diff = acc["rates_0.2_0.5"].mean() - acc["rates_0.5_0.2"].mean()
    spread = max(np.ptp(a) for a in acc.values())
    verdict = "less" if abs(diff) < spread else "more"
    return (f"Swapping the rates (0.2 then 0.5 against 0.5 then 0.2) moves PyTorch's mean validation accuracy by "
            f"{diff:+.4f}, {verdict} than the spread between its seeds ({spread:.4f}).")


if __name__ == "__main__":
    cli(SECTION, TITLE, run)
