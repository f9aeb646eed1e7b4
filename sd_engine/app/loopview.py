"""A readable, zoomable view of the feedback loops that dominate: Bokeh's graph renderer, laid out by sector.

A whole-system model has hundreds of variables; drawing them all gives a hairball. The view
draws only the variables of the loops that dominate at a moment (a handful of loops, a few
dozen variables), placed by *sector*: groups of variables that are densely linked in the
model's causal graph (networkx's Louvain communities, seeded, so the layout is the same every
time). Each sector gets its own region, named after its largest stock; inside it the nodes sit
on a circle. Pan, wheel zoom and hover (a variable's sector, kind, units and documentation; a
link's loops and polarity) come from Bokeh, which Panel hosts natively and which embeds in a
standalone HTML page without a server.

Examples
--------
>>> import sd_engine as sd
>>> model = sd.load("sir")
>>> sectors = sector_map(model.graph())
>>> len(set(sectors.values())) >= 1
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

if TYPE_CHECKING:
    from bokeh.plotting import figure as Figure

__all__ = ["sector_map", "sector_layout", "loop_figure", "link_labels", "LOOP_COLOURS"]

#: One colour per highlighted loop (Okabe & Ito, colour-blind safe).
LOOP_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#000000")
_SECTOR_COLOURS = ("#dbe9f6", "#fde2c8", "#d9f0d3", "#f2d7e8", "#fff2b3", "#e0e0e0", "#d4f1f4", "#f6d5d5")


def sector_map(graph: nx.DiGraph, seed: int = 0) -> dict[str, str]:
    """Each variable's sector: its Louvain community in the causal graph, named after its largest stock.

    Constants are left out of the communities (a constant used everywhere would glue sectors
    together) and join the sector of the variable they feed most.
    """
    kinds = nx.get_node_attributes(graph, "kind")
    core = graph.subgraph([n for n in graph if kinds.get(n) not in ("constant", "lookup")])
    undirected = nx.Graph(core.to_undirected())
    if undirected.number_of_nodes() == 0:
        return {str(n): "model" for n in graph}
    communities = nx.community.louvain_communities(undirected, seed=seed) if undirected.number_of_edges() else \
        [set(undirected.nodes)]
    sector: dict[str, str] = {}
    for members in sorted(communities, key=lambda c: (-len(c), sorted(map(str, c))[0])):
        stocks = [n for n in members if kinds.get(n) == "stock"] or list(members)
        # The best-connected stock names the sector ("sector of Nurses").
        name = str(max(sorted(stocks, key=str), key=lambda n: undirected.degree(n)))
        for n in members:
            sector[str(n)] = name
    for n in graph:
        if str(n) not in sector:
            targets = [sector[str(t)] for t in graph.successors(n) if str(t) in sector]
            sector[str(n)] = max(sorted(set(targets)), key=targets.count) if targets else "constants"
    return sector


def sector_layout(nodes: Sequence[str], sectors: Mapping[str, str]) -> dict[str, tuple[float, float]]:
    """Positions: one region per sector on a large circle, the sector's nodes on a small circle inside it."""
    groups: dict[str, list[str]] = {}
    for n in nodes:
        groups.setdefault(sectors.get(n, "other"), []).append(n)
    names = sorted(groups, key=lambda s: (-len(groups[s]), s))
    pos: dict[str, tuple[float, float]] = {}
    big = 0.0 if len(names) == 1 else 4.5 + 0.5 * len(names) + 0.25 * max(len(g) for g in groups.values())
    for i, s in enumerate(names):
        angle = 2 * math.pi * i / max(1, len(names))
        cx, cy = big * math.cos(angle), big * math.sin(angle)
        members = sorted(groups[s])
        radius = 0.0 if len(members) == 1 else 0.8 + 0.45 * len(members)
        for j, n in enumerate(members):
            a = 2 * math.pi * j / len(members) + angle
            pos[n] = (cx + radius * math.cos(a), cy + radius * math.sin(a))
    return pos


def loop_figure(graph: nx.DiGraph, loops: Sequence[tuple[Any, float]], sectors: Mapping[str, str], *,
                title: str = "", width: int = 640, height: int = 520) -> Figure:
    """A Bokeh figure of the given loops (each ``(Loop, relative score)``) laid out by sector.

    Nodes are the loops' variables (stocks as squares), edges their links, coloured by the
    first listed loop that uses them and dashed for negative polarity; arrows point from
    cause to effect. Hover a node or a link for its details.
    """
    from bokeh.models import ColumnDataSource, HoverTool, MultiLine, NodesAndLinkedEdges, Scatter, StaticLayoutProvider
    from bokeh.models.annotations.arrows import Arrow, VeeHead
    from bokeh.models.annotations.labels import LabelSet
    from bokeh.models.renderers.graph_renderer import GraphRenderer
    from bokeh.plotting import figure

    nodes: list[str] = []
    edges = _links(loops)
    colour: dict[tuple[str, str], str] = {}
    for k, (loop, _) in enumerate(loops):
        for v in loop.variables:
            if v not in nodes:
                nodes.append(v)
        for edge in loop.edges:
            colour.setdefault(edge, LOOP_COLOURS[k % len(LOOP_COLOURS)])
    pos = sector_layout(nodes, sectors)
    fig = figure(title=title, width=width, height=height, tools="pan,wheel_zoom,box_zoom,reset,save",
                 active_scroll="wheel_zoom", toolbar_location="above", match_aspect=True, name="loop-view")
    fig.axis.visible = False
    fig.grid.visible = False
    fig.outline_line_color = None
    if not nodes:
        return fig
    xs = np.array([pos[n][0] for n in nodes])
    ys = np.array([pos[n][1] for n in nodes])
    pad = 1.2
    fig.x_range.range_padding = fig.y_range.range_padding = 0.15  # type: ignore[attr-defined]
    # Sector regions behind the nodes, labelled.
    sector_names = sorted({sectors.get(n, "other") for n in nodes}, key=lambda s: s)
    for i, s in enumerate(sector_names):
        members = [j for j, n in enumerate(nodes) if sectors.get(n, "other") == s]
        cx, cy = float(xs[members].mean()), float(ys[members].mean())
        r = max(float(np.hypot(xs[members] - cx, ys[members] - cy).max()), 0.0) + pad
        fig.circle(x=[cx], y=[cy], radius=r, fill_color=_SECTOR_COLOURS[i % len(_SECTOR_COLOURS)], fill_alpha=0.55,
                   line_color=None, level="underlay")
        fig.text(x=[cx], y=[cy + r - 0.35], text=[f"sector of {s}" if s not in ("model", "constants") else s],
                 text_align="center", text_font_size="9pt", text_color="#555555", text_font_style="italic")
    kinds = nx.get_node_attributes(graph, "kind")
    graph_renderer = GraphRenderer()
    graph_renderer.node_renderer.data_source = ColumnDataSource({
        "index": nodes,
        "kind": [str(kinds.get(n, "")) for n in nodes],
        "sector": [sectors.get(n, "") for n in nodes],
        "units": [str(graph.nodes[n].get("units", "")) if n in graph else "" for n in nodes],
        "doc": [str(graph.nodes[n].get("doc", ""))[:160] if n in graph else "" for n in nodes],
        "marker": ["square" if kinds.get(n) == "stock" else "circle" for n in nodes],
    })
    graph_renderer.node_renderer.glyph = Scatter(size=16, marker="marker", fill_color="#ffffff",
                                                 line_color="#333333", line_width=1.5)
    graph_renderer.node_renderer.hover_glyph = Scatter(size=20, marker="marker", fill_color="#ffe08a",
                                                       line_color="#333333", line_width=2)
    starts = [a for a, _ in edges]
    ends = [b for _, b in edges]
    polarity = [_polarity(graph, a, b) for a, b in edges]
    edge_data: dict[str, Any] = {
        "start": starts, "end": ends,
        "colour": [colour[e] for e in edges],
        "dash": ["dashed" if p == "-" else "solid" for p in polarity],
        "polarity": polarity,
        "loops": link_labels(loops),
    }
    graph_renderer.edge_renderer.glyph = MultiLine(line_color="colour", line_width=2.2, line_alpha=0.85,
                                                   line_dash="solid")
    graph_renderer.edge_renderer.hover_glyph = MultiLine(line_color="colour", line_width=4.5)
    paths = [_curve(pos[a], pos[b]) for a, b in edges]
    edge_data["xs"] = [list(p[0]) for p in paths]
    edge_data["ys"] = [list(p[1]) for p in paths]
    graph_renderer.edge_renderer.data_source = ColumnDataSource(edge_data)
    graph_renderer.layout_provider = StaticLayoutProvider(graph_layout={n: list(pos[n]) for n in nodes})
    graph_renderer.inspection_policy = NodesAndLinkedEdges()
    fig.renderers.append(graph_renderer)
    for (xs_, ys_), c, p in zip(paths, [colour[e] for e in edges], polarity):
        # The head on the last segment of the curve, stopped short of the node so it shows.
        x0, y0, x1, y1 = xs_[-3], ys_[-3], xs_[-1], ys_[-1]
        d = math.hypot(x1 - x0, y1 - y0) or 1.0
        back = 0.25 / d
        fig.add_layout(Arrow(end=VeeHead(size=10, fill_color=c, line_color=c), x_start=x0, y_start=y0,
                             x_end=x1 - (x1 - x0) * back, y_end=y1 - (y1 - y0) * back, line_color=c, line_alpha=0.0))  # type: ignore[call-arg]
        mid = len(xs_) // 2
        fig.text(x=[xs_[mid]], y=[ys_[mid]], text=[p if p in "+-" else "?"], text_color=c, text_font_size="11pt",
                 text_font_style="bold", text_align="center", text_baseline="bottom")
    labels = ColumnDataSource({"x": xs, "y": ys - 0.32, "text": nodes})
    fig.add_layout(LabelSet(x="x", y="y", text="text", source=labels, text_font_size="8pt", text_align="center",
                            text_baseline="top", text_color="#222222"))
    fig.add_tools(HoverTool(renderers=[graph_renderer.node_renderer],
                            tooltips=[("variable", "@index"), ("sector", "@sector"), ("kind", "@kind"),
                                      ("units", "@units"), ("about", "@doc")]))
    fig.add_tools(HoverTool(renderers=[graph_renderer.edge_renderer], line_policy="interp",
                            tooltips=[("link", "@start → @end"), ("polarity", "@polarity"), ("in loops", "@loops")]))
    return fig


def _links(loops: Sequence[tuple[Any, float]]) -> dict[tuple[str, str], list[str]]:
    """Each link of the loops, in drawing order, with the loops through it and their scores."""
    edges: dict[tuple[str, str], list[str]] = {}
    for loop, score in loops:
        for edge in loop.edges:
            edges.setdefault(edge, []).append(f"{loop.id} ({score:+.2f})")
    return edges


def link_labels(loops: Sequence[tuple[Any, float]]) -> list[str]:
    """The ``loops`` column of :func:`loop_figure`'s links (hover text: the loops through each link
    and their scores), in the figure's order: new scores for the same loops update a drawn figure
    in place."""
    return [", ".join(v) for v in _links(loops).values()]


def _curve(p0: tuple[float, float], p1: tuple[float, float], bend: float = 0.18, n: int = 16
           ) -> tuple[np.ndarray, np.ndarray]:
    """A quadratic Bézier from `p0` to `p1`, bowed to its left: a link and its reverse do not overlap."""
    (x0, y0), (x1, y1) = p0, p1
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    cx, cy = mx - bend * (y1 - y0), my + bend * (x1 - x0)
    s = np.linspace(0.0, 1.0, n)
    xs = (1 - s) ** 2 * x0 + 2 * (1 - s) * s * cx + s ** 2 * x1
    ys = (1 - s) ** 2 * y0 + 2 * (1 - s) * s * cy + s ** 2 * y1
    return xs, ys


def _polarity(graph: nx.DiGraph, a: str, b: str) -> str:
    if graph.has_edge(a, b):
        p = str(graph.edges[a, b].get("polarity", "?"))
        return {"+": "+", "-": "-", "positive": "+", "negative": "-"}.get(p, p)
    return "?"
