"""Strongest-path loop search: the loops that matter in models with too many loops to list.

Eberlein & Schoenberg (2020, "Finding the Loops that Matter", arXiv:2006.08425): at each
time step, with the link scores of that step,

1. sort each variable's out-links by the magnitude of their score, strongest first;
2. from every stock, search depth first, carrying the product of the scores along the path;
3. record a loop when the search comes back to the stock it started from (duplicates once);
4. stop a branch at a variable already on the current path;
5. prune a branch at a variable already reached (in this stock's search) with a larger
   product.

The union over the steps is the loop set. The cost is about the square of the number of
variables per step, whatever the number of loops. It is a heuristic: the pruning in step 5
can cut off the only route to the strongest loop (the paper's four-variable example, rebuilt
in the tests). Links that are inactive at a step (score 0) are not followed at that step:
every loop through them scores 0 there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import networkx as nx
import numpy as np
import xarray as xr

from ..errors import SpecError
from ..graph import InternalMode, model_graph
from ..program import ProgramLike
from ..progress import progress_bar
from .scores import link_score_array, settle_along_run, trajectories
from .structure import LoopSet, find_loops, library_loop_names

__all__ = ["strongest_path_loops", "discover_loops"]


def strongest_path_loops(graph: nx.DiGraph, scores: Mapping[tuple[str, str], float],
                         starts: Iterable[str]) -> list[tuple[str, ...]]:
    """The loops the strongest-path search finds with one step's link scores.

    Parameters
    ----------
    graph : networkx.DiGraph
        The causal graph the scores belong to.
    scores : mapping
        ``(cause, effect) -> link score`` at one time step (sign ignored; a missing, zero
        or NaN score means the link is inactive and is not followed).
    starts : iterable of str
        The variables to search from: the stocks (every loop passes through one).

    Returns
    -------
    list of tuple
        Each loop as its variables in causal order, beginning at the start variable of
        the search that found it, in the order found (a loop found from two starts is
        listed twice, once per rotation).

    Examples
    --------
    >>> g = nx.DiGraph([("s", "f"), ("f", "s"), ("s", "a"), ("a", "f")])
    >>> strongest_path_loops(g, {("s", "f"): 2.0, ("f", "s"): 1.0, ("s", "a"): 1.0, ("a", "f"): 5.0}, ["s"])
    [('s', 'f'), ('s', 'a', 'f')]
    """
    adjacency: dict[str, list[tuple[str, float]]] = {}
    for node in graph:
        links = []
        for succ in graph.successors(node):
            value = abs(float(scores.get((node, succ), 0.0)))
            if value > 0 and np.isfinite(value):
                links.append((succ, value))
        links.sort(key=lambda item: -item[1])
        adjacency[node] = links
    found: list[tuple[str, ...]] = []
    for target in starts:
        best = {target: 1.0}
        path, on_path = [target], {target}
        # An explicit stack of (variable, product so far, its remaining out-links), so deep
        # models do not run into Python's recursion limit.
        stack = [(target, 1.0, iter(adjacency.get(target, ())))]
        while stack:
            node, product, outs = stack[-1]
            for succ, value in outs:
                score = product * value
                if succ in on_path:
                    if succ == target:
                        found.append(tuple(path))
                    continue
                if score < best.get(succ, 0.0):
                    continue  # reached before along a stronger path
                best[succ] = score
                path.append(succ)
                on_path.add(succ)
                stack.append((succ, score, iter(adjacency.get(succ, ()))))
                break
            else:
                stack.pop()
                on_path.discard(node)
                path.pop()
    return found


def discover_loops(
    model: ProgramLike,
    ds: xr.Dataset | None = None,
    *,
    every: int = 1,
    internal: InternalMode = "collapse",
    names: Mapping[str, Sequence[str]] | None = None,
    numeric: bool = True,
    progress: bool = False,
) -> LoopSet:
    """The loops of `model` found by the strongest-path search along a run.

    The link scores of the run in `ds` (or the model's default run; every run of an
    ensemble) drive the search of :func:`strongest_path_loops` at every `every`-th saved
    step; the union of the loops found is returned as an incomplete :class:`LoopSet`
    whose ``message`` says how it was found. Named loops (the library's ``LOOPS`` and
    `names`) are always included, found or not, as Stella's LOOPSCORE does. Pass the
    result to ``model.loop_dominance(ds, loops=...)``: relative scores are then shares of
    the loops found. `progress` shows a bar of the steps searched (times runs) on a terminal.

    Examples
    --------
    >>> import sd_engine as sd
    >>> [loop.label for loop in discover_loops(sd.load("sir"))]
    ['recovery', 'contagion', 'depletion']
    """
    if not isinstance(every, int) or every < 1:
        raise SpecError(f"`every` must be a positive whole number, not {every!r}.")
    g = model_graph(model, "full", internal)
    scores = link_score_array(model, ds, internal=internal)
    if "run" not in scores.dims:
        scores = scores.expand_dims("run", axis=-1)
    values = scores.transpose("link", "time", "run").values
    edges = list(zip(scores["cause"].values.tolist(), scores["effect"].values.tolist()))
    stocks = sorted((n for n, data in g.nodes(data=True) if data.get("kind") == "stock"),
                    key=lambda n: str(g.nodes[n].get("key", n)))
    cycles: dict[tuple[str, ...], None] = {}
    steps = range(0, values.shape[1], every)
    n_runs = values.shape[2]
    with progress_bar(len(steps) * n_runs, "step", "loop search", enabled=progress) as bar:
        for j in steps:
            for r in range(n_runs):
                step_scores = dict(zip(edges, values[:, j, r]))
                for cycle in strongest_path_loops(g, step_scores, stocks):
                    cycles[cycle] = None
            bar.update(n_runs)
    given: dict[str, Sequence[str]] = dict(library_loop_names(model))
    given.update(names or {})
    note = (f"Loops found by the strongest-path search (Eberlein & Schoenberg 2020) at {len(steps)} saved steps: "
            f"{{count}} loops. The search is a heuristic and can miss a strong loop; relative loop scores are "
            "shares of the loops found.")
    loops = find_loops(g, names=given, cycles=list(cycles), note=note)
    loops = LoopSet(loops.loops, complete=False, message=note.format(count=len(loops)),
                    cycle_rank=loops.cycle_rank, graph=g)
    if not numeric or all(loop.polarity != "unknown" for loop in loops):
        return loops
    override, live, times = settle_along_run(model, g, loops, trajectories(model, ds))
    settled = find_loops(g, names=given, cycles=[loop.variables for loop in loops], note=loops.message,
                         polarity=override, live=live, times=times)
    return settled
