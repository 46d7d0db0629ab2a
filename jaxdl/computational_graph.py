"""Computational graphs (nodes and edges, e.g. from a jaxpr) drawn by Graphviz; matplotlib only where `dot` is missing."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import graphviz
import numpy as np

from jaxdl.files import atomic_file, check_writable_file

#: A node is (kind, label); an edge is (source, target) or (source, target, label), by node index.
Node = tuple[str, str]
Edge = tuple[int, int] | tuple[int, int, str]

# Values (inputs, outputs) as boxes, operations as rounded boxes: d2l 5.3's squares and circles.
STYLES = {
    "input": {"shape": "box", "fillcolor": "#cfe2f3"},
    "value": {"shape": "box", "fillcolor": "#dbe9f6"},
    "eqn": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fff2cc"},
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fde3c8"},
    "output": {"shape": "box", "fillcolor": "#d9ead3"},
}


def have_dot() -> bool:
    """Whether Graphviz's `dot` program is on the PATH (Debian: apt-get install graphviz)."""
    return shutil.which("dot") is not None


def digraph(nodes: Sequence[Node], edges: Sequence[Edge]) -> graphviz.Digraph:
    """The graph as Graphviz source, left to right; multi-line labels keep their lines."""
    graph = graphviz.Digraph(graph_attr={"rankdir": "LR", "nodesep": "0.25", "ranksep": "0.35"},
                             node_attr={"style": "filled", "fontname": "Helvetica", "fontsize": "10"},
                             edge_attr={"fontname": "Helvetica", "fontsize": "8", "color": "#666666"})
    for i, (kind, label) in enumerate(nodes):
        graph.node(str(i), _dot_label(label), **STYLES[kind])
    for source, target, *label in edges:
        graph.edge(str(source), str(target), _dot_label(label[0]) if label else None)
    return graph


def _dot_label(text: str) -> str:
    # Graphviz reads backslash escapes in labels; "\n" is its centred line break.
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def depths(num_nodes: int, edges: Sequence[Edge]) -> list[int]:
    """Each node's longest path from a node without incoming edges (nodes must come in topological order)."""
    depth = [0] * num_nodes
    # by source: in topological order every edge into a node comes before the edges out of it
    for source, target, *_ in sorted(edges):
        depth[target] = max(depth[target], depth[source] + 1)
    return depth


def layout(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[int, tuple[float, float]]:
    """Each node's (x, y) in figure(): x its depth, y centred in its column, every column after the first
    ordered by the mean height of its nodes' sources (which keeps most edges from crossing)."""
    columns: dict[int, list[int]] = {}
    for i, d in enumerate(depths(len(nodes), edges)):
        columns.setdefault(d, []).append(i)
    sources: dict[int, list[int]] = {}
    for source, target, *_ in edges:
        sources.setdefault(target, []).append(source)
    pos: dict[int, tuple[float, float]] = {}
    for d in sorted(columns):
        members = columns[d]
        if d > 0:  # every node past the first column has a source
            members = sorted(members, key=lambda i: -np.mean([pos[s][1] for s in sources[i]]))
        for row, i in enumerate(members):
            pos[i] = (d, (len(members) - 1) / 2 - row)
    return pos


def figure(nodes: Sequence[Node], edges: Sequence[Edge]) -> Any:
    """The fallback without Graphviz: a matplotlib figure of the nodes where layout() puts them."""
    import matplotlib.pyplot as plt

    pos = layout(nodes, edges)
    columns = Counter(x for x, _ in pos.values())
    height = max(columns.values())
    fig, ax = plt.subplots(figsize=(1.25 * len(columns) + 1, 0.9 * height + 1))
    for source, target, *label in edges:
        (x0, y0), (x1, y1) = pos[source], pos[target]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 0.8, "shrinkA": 14, "shrinkB": 14})
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, label[0], fontsize=5, color="0.35", ha="center", va="center")
    for i, (kind, label) in enumerate(nodes):
        ax.text(*pos[i], label, ha="center", va="center", fontsize=6,
                bbox={"boxstyle": "round" if kind in ("eqn", "op") else "square", "fc": STYLES[kind]["fillcolor"],
                      "ec": "0.4"})
    ax.set_xlim(-0.7, max(columns) + 0.7)
    ax.set_ylim(-height / 2 - 0.3, height / 2 + 0.3)
    ax.axis("off")
    return fig


def draw(nodes: Sequence[Node], edges: Sequence[Edge]) -> Any:
    """A Graphviz graph (shown as SVG in a notebook) where `dot` is installed, else the matplotlib figure."""
    return digraph(nodes, edges) if have_dot() else figure(nodes, edges)


def save_png(nodes: Sequence[Node], edges: Sequence[Edge], path: str | Path) -> Path:
    """Writes the drawing as PNG (by Graphviz, or matplotlib without it), under a temporary name until complete."""
    path = Path(path)
    path = check_writable_file(path)  # an OutputError saying what is wrong, before writing
    with atomic_file(path, "wb") as out:
        if have_dot():
            out.write(digraph(nodes, edges).pipe(format="png"))
        else:
            import matplotlib.pyplot as plt

            fig = figure(nodes, edges)
            fig.savefig(out, format="png", dpi=150, bbox_inches="tight")
            plt.close(fig)
    return path
