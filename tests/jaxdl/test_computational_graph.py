"""The computational graph of d2l 5.3 drawn by Graphviz from the jaxpr, and the matplotlib fallback without it."""

from __future__ import annotations

import html
import re

import jax
import matplotlib.pyplot as plt
import pytest
from needs import missing

from experiments.ch5 import ch5_3_forward_backward as fb
from experiments.harness.result import Result
from jaxdl import computational_graph
from experiments.harness import references

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def jaxpr_graph():
    problem = fb.problem(references.load(fb.REFERENCE))
    closed = jax.make_jaxpr(fb.objective, static_argnums=3)(*problem)
    nodes, edges = fb.graph(closed, ["W1", "W2", "X", "y"])
    return closed, [(n["kind"], n["label"]) for n in nodes], edges


@pytest.fixture
def dot():
    if not computational_graph.have_dot():
        missing("Graphviz's dot", "apt-get install graphviz")


def test_graphviz_svg_has_every_node_and_edge_of_the_jaxpr(jaxpr_graph, dot):
    closed, nodes, edges = jaxpr_graph
    svg = computational_graph.digraph(nodes, edges).pipe(format="svg").decode()
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert len(nodes) == 4 + len(closed.jaxpr.eqns) + 1
    assert svg.count('class="node"') == len(nodes) and svg.count('class="edge"') == len(edges)
    for kind, label in nodes:  # every line of every label is drawn
        for line in label.split("\n"):
            assert line in texts, (kind, line)
    assert {"dot_general", "integer_pow", "J"} <= set(texts)


def test_experiment_saves_the_graph_as_png(jaxpr_graph, dot, tmp_path):
    _, nodes, edges = jaxpr_graph
    result = Result("5.3", "test", tmp_path)
    path = fb.save_graph(result, [{"kind": k, "label": lab} for k, lab in nodes], edges)
    assert result.figures == [path] and path == tmp_path / "computational_graph.png"
    assert path.read_bytes().startswith(PNG_SIGNATURE) and path.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["computational_graph.png"]  # no temporary file left


def test_without_dot_matplotlib_draws_the_same_nodes(jaxpr_graph, tmp_path, monkeypatch):
    _, nodes, edges = jaxpr_graph
    monkeypatch.setattr(computational_graph.shutil, "which", lambda name: None)
    assert not computational_graph.have_dot()
    fig = computational_graph.draw(nodes, edges)
    assert isinstance(fig, plt.Figure)
    drawn = {t.get_text() for t in fig.axes[0].texts}
    plt.close(fig)
    assert {label for _, label in nodes} <= drawn
    path = computational_graph.save_png(nodes, edges, tmp_path / "graph.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_depth_is_the_longest_path_from_an_input():
    assert computational_graph.depths(4, [(0, 1), (1, 2), (0, 2), (2, 3)]) == [0, 1, 2, 3]
    assert computational_graph.depths(3, [(0, 2), (1, 2)]) == [0, 0, 1]


def test_labels_keep_their_lines_and_backslashes_in_dot_source():
    source = computational_graph.digraph([("input", "W1\nf32[2,3]"), ("op", "a\\b")], [(0, 1, "f32[2,3]")]).source
    assert r'label="W1\nf32[2,3]"' in source and r'label="a\\b"' in source


def test_dot_source_lays_out_left_to_right_in_each_kinds_style():
    nodes = [("input", "x"), ("value", "v"), ("eqn", "e"), ("op", "o"), ("output", "y")]
    source = computational_graph.digraph(nodes, [(0, 2, "w"), (2, 4)]).source
    assert source == "\n".join([
        "digraph {",
        "\tgraph [nodesep=0.25 rankdir=LR ranksep=0.35]",
        "\tnode [fontname=Helvetica fontsize=10 style=filled]",
        '\tedge [color="#666666" fontname=Helvetica fontsize=8]',
        '\t0 [label=x fillcolor="#cfe2f3" shape=box]',
        '\t1 [label=v fillcolor="#dbe9f6" shape=box]',
        '\t2 [label=e fillcolor="#fff2cc" shape=box style="rounded,filled"]',
        '\t3 [label=o fillcolor="#fde3c8" shape=box style="rounded,filled"]',
        '\t4 [label=y fillcolor="#d9ead3" shape=box]',
        "\t0 -> 2 [label=w]",
        "\t2 -> 4",
        "}",
        ""])


def test_layout_puts_nodes_in_columns_by_depth_ordered_by_their_sources_heights():
    # 0 and 1 are inputs; 3 draws on 0 (the upper input) and 2 on 1, so 3 goes above 2; 4 joins them
    nodes = [("input", "a"), ("input", "b"), ("op", "from b"), ("op", "from a"), ("output", "y")]
    edges = [(1, 2), (0, 3), (2, 4), (3, 4)]
    assert computational_graph.layout(nodes, edges) == {
        0: (0, 0.5), 1: (0, -0.5), 3: (1, 0.5), 2: (1, -0.5), 4: (2, 0.0)}


def test_the_matplotlib_figure_draws_each_node_and_edge_label_where_layout_puts_them():
    nodes = [("input", "a"), ("input", "b"), ("eqn", "c"), ("op", "d"), ("output", "e")]
    fig = computational_graph.figure(nodes, [(0, 2, "w"), (1, 3), (2, 4, "v"), (3, 4)])
    (ax,) = fig.axes
    texts = {t.get_text(): (t.get_position(), t.get_bbox_patch()) for t in ax.texts}
    assert [texts[name][0] for name in "abcde"] == [(0, 0.5), (0, -0.5), (1, 0.5), (1, -0.5), (2, 0.0)]
    # an edge label halfway along its edge, without a box
    assert texts["w"][0] == (0.5, 0.5) and texts["v"][0] == (1.5, 0.25) and texts["w"][1] is None
    styles = [texts[name][1].get_boxstyle().__class__.__name__ for name in "abcde"]
    assert styles == ["Square", "Square", "Round", "Round", "Square"]  # operations round, values square
    assert len([c for c in ax.get_children() if c.__class__.__name__ == "Annotation"]) == 4
    assert ax.get_xlim() == pytest.approx((-0.7, 2.7)) and ax.get_ylim() == pytest.approx((-1.3, 1.3))
    assert tuple(fig.get_size_inches()) == pytest.approx((4.75, 2.8)) and not ax.axison
    plt.close(fig)


def test_draw_gives_the_graphviz_graph_where_dot_is_found(monkeypatch):
    looked_for = []
    monkeypatch.setattr(computational_graph.shutil, "which", lambda name: looked_for.append(name) or "/usr/bin/dot")
    nodes, edges = [("input", "x"), ("output", "y")], [(0, 1, "w")]
    drawn = computational_graph.draw(nodes, edges)
    assert looked_for == ["dot"] and drawn.source == computational_graph.digraph(nodes, edges).source


def test_the_png_without_dot_is_the_figure_at_150_dpi_cropped_to_its_content(monkeypatch, tmp_path):
    import io
    import struct

    monkeypatch.setattr(computational_graph.shutil, "which", lambda name: None)
    nodes, edges = [("input", "x"), ("eqn", "x * 2"), ("output", "y")], [(0, 1), (1, 2, "f32[]")]
    path = computational_graph.save_png(nodes, edges, tmp_path / "new" / "dir" / "graph.png")
    expected = io.BytesIO()
    computational_graph.figure(nodes, edges).savefig(expected, format="png", dpi=150, bbox_inches="tight")

    def size(png: bytes) -> tuple[int, int]:
        return struct.unpack(">II", png[16:24])  # the IHDR chunk's width and height

    assert size(path.read_bytes()) == size(expected.getvalue())
    assert len(plt.get_fignums()) == 1  # the test's own: save_png closed the figure it drew
    plt.close("all")


def test_the_matplotlib_figure_draws_grey_arrows_from_source_to_target_and_small_labels():
    from matplotlib.colors import to_rgba

    fig = computational_graph.figure([("input", "a"), ("eqn", "c")], [(0, 1, "w")])
    (ax,) = fig.axes
    (arrow,) = [c for c in ax.get_children() if c.__class__.__name__ == "Annotation"]
    patch = arrow.arrow_patch
    assert arrow.get_text() == "" and arrow.xy == (1, 0.0) and arrow.xyann == (0, 0.0)  # from a to c
    assert patch.get_arrowstyle().__class__.__name__ == "CurveB" and patch.get_linewidth() == 0.8
    assert (patch.shrinkA, patch.shrinkB) == (14, 14) and to_rgba(patch.get_edgecolor()) == to_rgba("0.5")
    texts = {t.get_text(): t for t in ax.texts}
    assert texts["w"].get_fontsize() == 5 and to_rgba(texts["w"].get_color()) == to_rgba("0.35")
    assert texts["a"].get_fontsize() == 6 and to_rgba(texts["a"].get_bbox_patch().get_edgecolor()) == to_rgba("0.4")
    assert to_rgba(texts["a"].get_bbox_patch().get_facecolor()) == to_rgba(computational_graph.STYLES["input"]["fillcolor"])
    assert all(t.get_ha() == t.get_va() == "center" for t in ax.texts if t is not arrow)  # the arrow is a text too
    plt.close(fig)
