"""jaxdl.plotting: what each figure shows (the data of every line, labels, scales, limits, legends, titles)."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from jaxdl import plotting
from jaxdl.training import History

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines(axes) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.asarray(line.get_xdata()), np.asarray(line.get_ydata())) for line in axes.get_lines()]


def test_plot_draws_each_curve_against_its_x_with_d2l_formats():
    x = np.arange(4.0) + 0.5  # not the default 0, 1, 2, ...
    axes = plotting.plot(x, [x**2, 2 * x], xlabel="x", ylabel="f(x)", legend=["x^2", "2x"])
    (x1, y1), (x2, y2) = lines(axes)
    np.testing.assert_array_equal(x1, x)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y1, x**2)
    np.testing.assert_array_equal(y2, 2 * x)
    first, second = axes.get_lines()
    assert first.get_linestyle() == "-" and second.get_linestyle() == "--"
    assert to_rgba(second.get_color()) == to_rgba("m")
    assert axes.get_xlabel() == "x" and axes.get_ylabel() == "f(x)"
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["x^2", "2x"]
    assert axes.xaxis.get_gridlines()[0].get_visible()


def test_plot_of_y_alone_counts_x_from_zero():
    (x, y), = lines(plotting.plot([3.0, 1.0, 2.0]))
    np.testing.assert_array_equal(x, [0, 1, 2])
    np.testing.assert_array_equal(y, [3, 1, 2])


def test_plot_pairs_several_x_with_several_y():
    axes = plotting.plot([np.arange(2) + 5, np.arange(3) + 7], [np.ones(2), np.zeros(3)])
    assert [(list(x), list(y)) for x, y in lines(axes)] == [([5, 6], [1, 1]), ([7, 8, 9], [0, 0, 0])]


def test_plot_takes_the_rows_of_a_2d_y_and_a_list_of_one_curve():
    x = np.array([1.0, 2.0])
    axes = plotting.plot(x, np.array([[3.0, 4.0], [5.0, 6.0]]))
    assert [(list(a), list(b)) for a, b in lines(axes)] == [([1, 2], [3, 4]), ([1, 2], [5, 6])]
    axes = plotting.plot([x], [np.array([7.0, 8.0])])
    assert [(list(a), list(b)) for a, b in lines(axes)] == [([1, 2], [7, 8])]


def test_plot_cycles_the_formats_beyond_four_curves():
    axes = plotting.plot(np.arange(3), [np.full(3, i) for i in range(5)], fmts=("-", "--"))
    assert [line.get_linestyle() for line in axes.get_lines()] == ["-", "--", "-", "--", "-"]


def test_plot_sets_scales_limits_and_size():
    axes = plotting.plot(np.arange(1, 4), np.arange(1, 4), xscale="log", yscale="log", xlim=(1, 3), ylim=(0.5, 4),
                         figsize=(5, 2))
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"
    assert axes.get_xlim() == pytest.approx((1, 3)) and axes.get_ylim() == pytest.approx((0.5, 4))
    assert tuple(axes.figure.get_size_inches()) == pytest.approx((5, 2))


def test_plot_default_size_and_no_legend_without_names():
    axes = plotting.plot(np.arange(3))
    assert tuple(axes.figure.get_size_inches()) == pytest.approx((3.5, 2.5))
    assert axes.get_legend() is None and axes.get_xscale() == "linear" and axes.get_yscale() == "linear"


def test_plot_draws_into_given_axes():
    _, given = plt.subplots()
    given.grid(True)  # a grid the caller already turned on stays on
    assert plotting.plot(np.arange(3), axes=given) is given and len(given.get_lines()) == 1
    assert given.xaxis.get_gridlines()[0].get_visible()


def history(epochs: int = 2, num_batches: int = 4, metric: bool = True) -> History:
    train = np.arange(epochs * num_batches, dtype=np.float32)
    return History(train, np.array([5.0, 4.0][:epochs]), np.array([0.5, 0.7][:epochs]) if metric else np.zeros(0),
                   num_batches)


def test_plot_history_averages_half_epochs_and_draws_validation_per_epoch():
    axes = plotting.plot_history(history())
    (xt, yt), (xv, yv), (xa, ya) = lines(axes)
    np.testing.assert_allclose(xt, [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(yt, [0.5, 2.5, 4.5, 6.5])  # means of steps (0, 1), (2, 3), ...
    np.testing.assert_array_equal(xv, [1, 2])
    np.testing.assert_array_equal(yv, [5, 4])
    np.testing.assert_array_equal(xa, [1, 2])
    np.testing.assert_array_equal(ya, [0.5, 0.7])
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["train_loss", "val_loss", "val_acc"]
    assert axes.get_xlabel() == "epoch" and axes.get_xlim() == pytest.approx((0, 2))
    assert [line.get_linestyle() for line in axes.get_lines()] == ["-", "--", "-."]
    assert tuple(axes.figure.get_size_inches()) == pytest.approx((3.5, 2.5))
    assert axes.xaxis.get_gridlines()[0].get_visible()


def test_plot_history_draws_into_given_axes_and_keeps_their_grid_on():
    _, given = plt.subplots()
    given.grid(True)
    assert plotting.plot_history(history(), axes=given) is given and len(given.get_lines()) == 3
    assert given.xaxis.get_gridlines()[0].get_visible()


def test_plot_history_points_per_epoch_and_no_metric():
    axes = plotting.plot_history(history(metric=False), points_per_epoch=1)
    (xt, yt), (xv, _) = lines(axes)
    np.testing.assert_allclose(xt, [1.0, 2.0])
    np.testing.assert_allclose(yt, [1.5, 5.5])
    assert len(axes.get_lines()) == 2


def test_plot_history_with_more_points_than_steps_plots_every_step():
    (xt, yt), *_ = lines(plotting.plot_history(history(num_batches=1), points_per_epoch=2))
    np.testing.assert_allclose(xt, [1.0, 2.0])
    np.testing.assert_allclose(yt, [0.0, 1.0])


def test_plot_history_leaves_out_the_steps_of_an_unfinished_point():
    (xt, yt), *_ = lines(plotting.plot_history(history(epochs=1, num_batches=5)))  # 5 steps, 2 per point
    np.testing.assert_allclose(xt, [0.4, 0.8])
    np.testing.assert_allclose(yt, [0.5, 2.5])


def test_plot_history_of_no_epochs_draws_no_training_curve():
    empty = History(np.zeros(0, np.float32), np.zeros(0), np.zeros(0), 3)
    axes = plotting.plot_history(empty)
    assert len(axes.get_lines()) == 1 and axes.get_xlim() == pytest.approx((0, 1))


def test_save_history_plot_writes_a_png_and_closes_the_figure(tmp_path):
    before = plt.get_fignums()
    path = plotting.save_history_plot(history(), tmp_path / "sub" / "h.png")
    assert path == tmp_path / "sub" / "h.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == before
    assert [p.name for p in path.parent.iterdir()] == ["h.png"]  # no temporary file left


def test_save_figure_writes_the_figure_at_100_dpi_cropped_into_new_directories(tmp_path):
    import io
    import struct

    fig = plotting.plot(np.arange(3.0))
    path = plotting.save_figure(fig.figure, tmp_path / "new" / "dir" / "f.png")
    expected = io.BytesIO()
    fig.figure.savefig(expected, format="png", dpi=100, bbox_inches="tight")
    assert path.read_bytes()[16:24] == expected.getvalue()[16:24]  # the PNG's width and height
    assert struct.unpack(">II", path.read_bytes()[16:24]) != (350, 250)  # cropped, not the whole 3.5 x 2.5 in


def test_save_figure_leaves_nothing_when_saving_fails(tmp_path):
    fig, _ = plt.subplots()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    fig.savefig = fail
    with pytest.raises(OSError, match="disk full"):
        plotting.save_figure(fig, tmp_path / "f.png")
    assert list(tmp_path.iterdir()) == []


def test_show_images_fills_a_grid_with_titles():
    images = np.stack([np.full((4, 4), i, np.uint8) for i in range(3)])
    fig = plotting.show_images(images, 2, 2, titles=["a", "b"], scale=2.0)
    axes = fig.axes
    assert len(axes) == 4 and tuple(fig.get_size_inches()) == pytest.approx((4.0, 4.0))
    shown = [ax.get_images() for ax in axes]
    assert [len(s) for s in shown] == [1, 1, 1, 0]
    for i in range(3):
        np.testing.assert_array_equal(shown[i][0].get_array(), images[i])
        assert shown[i][0].get_cmap().name == "gray"
    assert [ax.get_title() for ax in axes] == ["a", "b", "", ""]
    assert all(not ax.axison for ax in axes)
    assert axes[0].title.get_fontsize() == 8


def test_show_images_default_scale_and_no_titles():
    fig = plotting.show_images(np.zeros((2, 3, 3)), 1, 3)
    assert tuple(fig.get_size_inches()) == pytest.approx((4.5, 1.5))
    assert [ax.get_title() for ax in fig.axes] == ["", "", ""]
    one = plotting.show_images(np.ones((1, 3, 3)), 1, 1, titles=["only"])  # a 1 x 1 grid is a grid too
    assert [ax.get_title() for ax in one.axes] == ["only"] and len(one.axes[0].get_images()) == 1


def test_live_plot_displays_once_then_updates(monkeypatch):
    import IPython.display

    calls = []

    class Handle:
        def update(self, fig):
            calls.append(("update", fig, lines(fig.axes[0])))

    def display(fig, display_id=False):
        calls.append(("display", display_id, lines(fig.axes[0])))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    live = plotting.LivePlot()
    live(history())
    live(history())
    assert [c[0] for c in calls] == ["display", "update"] and calls[0][1] is True
    expected = lines(plotting.plot_history(history()))  # each call shows the history's own plot
    for _, _, shown in calls:
        assert len(shown) == len(expected) > 0
        for (x, y), (ex, ey) in zip(shown, expected):
            np.testing.assert_array_equal(x, ex)
            np.testing.assert_array_equal(y, ey)
    plt.close("all")
    live(history())
    assert plt.get_fignums() == []  # the drawn figure is closed once shown


@pytest.mark.parametrize("kernel, backend, chosen", [(False, None, ["Agg"]), (False, "pdf", []), (True, None, [])])
def test_pyplot_draws_off_screen_unless_in_a_notebook_or_told_otherwise(monkeypatch, kernel, backend, chosen):
    import sys

    used = []
    monkeypatch.setattr(matplotlib, "use", used.append)
    if kernel:
        monkeypatch.setitem(sys.modules, "ipykernel", object())
    else:
        monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    if backend:
        monkeypatch.setenv("MPLBACKEND", backend)
    else:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    assert plotting._pyplot() is plt and used == chosen
