"""Views of feedback structure: a causal-loop diagram, an interactive HTML view, a dominance plot.

matplotlib is imported only when a figure is drawn; the HTML view is self-contained
(inline SVG and a few lines of script, no network access), for notebooks and files.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import xarray as xr

from ..errors import SpecError
from .analysis import dominance_probability
from .structure import Loop, LoopSet

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["layout", "plot_loops", "plot_dominance", "loops_html"]

_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Node positions for a diagram: Kamada-Kawai on each component, deterministic."""
    if g.number_of_nodes() == 0:
        return {}
    undirected = nx.Graph(g.to_undirected())
    pos = nx.kamada_kawai_layout(undirected) if g.number_of_nodes() > 2 else nx.circular_layout(undirected)
    return {str(n): (float(x), float(y)) for n, (x, y) in pos.items()}


def _loop_list(loops: LoopSet | Sequence[Loop] | None, highlight: Sequence[str] | str | None) -> list[Loop]:
    if loops is None or highlight is None:
        return []
    wanted = [highlight] if isinstance(highlight, str) else list(highlight)
    out = []
    for label in wanted:
        matches = [loop for loop in loops if label in (loop.id, loop.name)]
        if not matches:
            raise SpecError(f"There is no loop `{label}` to highlight; choose from {[loop.id for loop in loops]}.")
        out.append(matches[0])
    return out


def plot_loops(g: nx.DiGraph, loops: LoopSet | Sequence[Loop] | None = None,
               highlight: Sequence[str] | str | None = None, ax: Axes | None = None) -> Axes:
    """Draw a causal-loop diagram: stocks as boxes, link polarity on the arrows, loops highlighted.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import sd_engine as sd
    >>> model = sd.load("sir")
    >>> ax = plot_loops(model.graph(), model.loops(), highlight="R1")
    >>> len(ax.texts) > 0
    True
    """
    import matplotlib.pyplot as plt  # plotting only: matplotlib is slow to import and optional for the rest

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 6))
    pos = layout(g)
    chosen = _loop_list(loops, highlight)
    colour_of: dict[tuple[str, str], str] = {}
    for i, loop in enumerate(chosen):
        for edge in loop.edges:
            colour_of.setdefault(edge, _COLOURS[i % len(_COLOURS)])
    edges = list(g.edges)
    nx.draw_networkx_edges(g, pos, ax=ax, edgelist=edges, arrows=True, arrowsize=14,
                           edge_color=[colour_of.get(e, "#999999") for e in edges],
                           width=[2.5 if e in colour_of else 1.0 for e in edges],
                           connectionstyle="arc3,rad=0.15", node_size=1400)
    stocks = [n for n in g if g.nodes[n].get("kind") == "stock"]
    for n in g:
        x, y = pos[n]
        box = dict(boxstyle="square,pad=0.4", fc="#fff7e0", ec="#444444") if n in stocks else \
            dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8)
        ax.text(x, y, str(n), ha="center", va="center", fontsize=9, bbox=box, zorder=3)
    for (u, v), data in g.edges.items():
        (x0, y0), (x1, y1) = pos[u], pos[v]
        sign = {"+": "+", "-": "\u2212"}.get(str(data.get("polarity")), "?")
        ax.text(x0 + 0.6 * (x1 - x0), y0 + 0.6 * (y1 - y0), sign, fontsize=10, fontweight="bold",
                color=colour_of.get((u, v), "#555555"), ha="center", va="center", zorder=4)
    for i, loop in enumerate(chosen):
        xs, ys = zip(*(pos[n] for n in loop.variables))
        ax.text(float(np.mean(xs)), float(np.mean(ys)), f"{loop.polarity}\n{loop.label}", ha="center",
                va="center", fontsize=9, color=_COLOURS[i % len(_COLOURS)], zorder=2)
    ax.set_axis_off()
    ax.set_title(str(g.graph.get("model", "")))
    return ax


def plot_dominance(rls: xr.DataArray, ax: Axes | None = None, top: int = 8) -> Axes:
    """Relative loop scores over time (one run), or the probability of dominance (an ensemble).

    Shows the `top` loops with the largest peak magnitude.
    """
    import matplotlib.pyplot as plt  # plotting only: matplotlib is slow to import and optional for the rest

    if not isinstance(rls, xr.DataArray) or "loop" not in rls.dims:
        raise SpecError("Pass the DataArray returned by `model.loop_dominance(ds)` (dims `loop` and `time`).")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    ensemble = "run" in rls.dims
    data = dominance_probability(rls) if ensemble else rls
    peak = np.nanmax(np.abs(data.values), axis=1) if data.sizes["time"] else np.zeros(data.sizes["loop"])
    order = np.argsort(-np.nan_to_num(peak), kind="stable")[:top]
    times = data["time"].values
    names = data["loop_name"].values if "loop_name" in data.coords else [""] * data.sizes["loop"]
    for k in order:
        label = str(data["loop"].values[k]) + (f" {names[k]}" if names[k] else "")
        ax.plot(times, data.values[k], label=label)
    ax.axhline(0, color="#999999", lw=0.8)
    ax.set_xlabel("time")
    ax.set_ylabel("probability of dominance" if ensemble else "relative loop score")
    ax.legend(fontsize=8, loc="best")
    return ax


def loops_html(g: nx.DiGraph, loops: LoopSet | Sequence[Loop], rls: xr.DataArray | None = None) -> str:
    """A self-contained interactive view: click a loop to highlight it in the diagram.

    With `rls` (from ``loop_dominance``) each loop also shows its peak relative score.

    Examples
    --------
    >>> import sd_engine as sd
    >>> model = sd.load("teacup")
    >>> text = loops_html(model.graph(), model.loops())
    >>> text.startswith("<div") and "Heat Loss to Room" in text
    True
    """
    pos = layout(g)
    width, height, pad = 640.0, 420.0, 60.0
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]

    def sx(x: float) -> float:
        span = (max(xs) - min(xs)) or 1.0
        return pad + (x - min(xs)) / span * (width - 2 * pad)

    def sy(y: float) -> float:
        span = (max(ys) - min(ys)) or 1.0
        return pad + (max(ys) - y) / span * (height - 2 * pad)

    index = {n: i for i, n in enumerate(g)}
    parts = [f'<svg viewBox="0 0 {width:g} {height:g}" width="{width:g}" height="{height:g}" '
             'style="font-family:sans-serif;font-size:11px">',
             '<defs><marker id="sdflow-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
             'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>']
    for (u, v), data in g.edges.items():
        x0, y0, x1, y1 = sx(pos[u][0]), sy(pos[u][1]), sx(pos[v][0]), sy(pos[v][1])
        mx, my = x0 + 0.6 * (x1 - x0), y0 + 0.6 * (y1 - y0)
        eid = f"e{index[u]}-{index[v]}"
        parts.append(f'<line class="sdflow-edge" id="{eid}" x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" '
                     f'y2="{y1:.1f}" stroke="#bbb" stroke-width="1.2" marker-end="url(#sdflow-arrow)"/>')
        parts.append(f'<text x="{mx:.1f}" y="{my:.1f}" fill="#555">{html.escape(str(data.get("polarity", "?")))}</text>')
    for n in g:
        x, y = sx(pos[n][0]), sy(pos[n][1])
        label = html.escape(str(n))
        if g.nodes[n].get("kind") == "stock":
            w = 7 * len(str(n)) + 12
            parts.append(f'<rect x="{x - w / 2:.1f}" y="{y - 11:.1f}" width="{w}" height="22" fill="#fff7e0" '
                         'stroke="#444"/>')
        tip = html.escape(f'{g.nodes[n].get("kind", "")}: {g.nodes[n].get("equation", "")}')
        parts.append(f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle"><title>{tip}</title>{label}</text>')
    parts.append("</svg>")
    peaks = {}
    if rls is not None:
        values = np.abs(rls.values).reshape(rls.sizes["loop"], -1)
        with np.errstate(all="ignore"):
            peaks = {str(i): float(np.nanmax(v)) if np.isfinite(v).any() else 0.0
                     for i, v in zip(rls["loop"].values, values)}
    rows = []
    loop_edges = {}
    for loop in loops:
        loop_edges[loop.id] = [f"e{index[u]}-{index[v]}" for u, v in loop.edges if u in index and v in index]
        peak = f" · peak |RLS| {peaks[loop.id]:.2f}" if loop.id in peaks else ""
        text = html.escape(f"{loop.id} ({loop.polarity}) {loop.name} — {' → '.join(loop.variables)}{peak}")
        rows.append(f'<li style="cursor:pointer" onclick="sdflowShow(this, \'{loop.id}\')">{text}</li>')
    uid = f"sdflow-loops-{abs(hash((g.graph.get('model'), len(rows)))) % 10**8}"
    script = (
        f"<script>(function(){{var edges={json.dumps(loop_edges)};"
        f"window.sdflowShow=function(el,id){{var root=el.closest('.sdflow-loops');"
        "root.querySelectorAll('.sdflow-edge').forEach(function(e){e.setAttribute('stroke','#bbb');"
        "e.setAttribute('stroke-width','1.2');});"
        "(edges[id]||[]).forEach(function(k){var e=root.querySelector('#'+k);if(e){e.setAttribute('stroke','#d62728');"
        "e.setAttribute('stroke-width','3');}});};})();</script>"
    )
    return (f'<div class="sdflow-loops" id="{uid}"><h4>{html.escape(str(g.graph.get("model", "")))}: '
            f'{len(rows)} loops</h4>{"".join(parts)}<ul>{"".join(rows)}</ul>'
            + (f"<p>{html.escape(loops.message)}</p>" if isinstance(loops, LoopSet) and loops.message else "")
            + script + "</div>")
