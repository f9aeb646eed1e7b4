"""Loop analysis of a compiled model: graph, loops, link scores and loop dominance.

These functions back the ``CompiledModel.graph``, ``.loops`` and ``.loop_dominance``
methods; the dominance helpers work on the DataArray that ``loop_dominance`` returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import networkx as nx
import numpy as np
import xarray as xr

from ..errors import SpecError, UnsupportedError
from ..graph import InternalMode, View, causal_graph
from ..library import attribute_of_source
from .scores import (
    FlowFormula,
    Labelling,
    Trajectories,
    link_derivative_signs,
    link_scores,
    loop_scores,
    numeric_polarities,
    relative_loop_scores,
    trajectories,
)
from .structure import DEFAULT_CAP, LoopSet, find_loops

if TYPE_CHECKING:
    from ..compile import CompiledModel

__all__ = [
    "model_graph",
    "model_loops",
    "settle_along_run",
    "library_loop_names",
    "link_score_array",
    "loop_dominance",
    "dominant",
    "dominance_probability",
    "DominancePhase",
    "dominance_phases",
    "DOMINANCE_THRESHOLD",
]

#: A loop, or set of loops, dominates when it explains at least this share of the change.
DOMINANCE_THRESHOLD = 0.5


def model_graph(model: CompiledModel, view: View = "full", internal: InternalMode = "collapse") -> nx.DiGraph:
    """The causal graph of `model` (see :func:`sd_engine.graph.causal_graph`)."""
    return causal_graph(model.lowered, view=view, internal=internal)


def library_loop_names(model: CompiledModel) -> dict[str, tuple[str, ...]]:
    """Loop names declared by a library model (a ``LOOPS`` mapping in its module), if any.

    The module is the one the model was built from (its spec's ``source``), found through the
    library door (:mod:`sd_engine.library`): a renamed copy keeps its names, and a model file's
    spec never names a module to import.
    """
    loops = attribute_of_source(model.spec.source, "LOOPS", {})
    return {str(k): tuple(v) for k, v in loops.items()}


def model_loops(
    model: CompiledModel,
    ds: xr.Dataset | None = None,
    *,
    max_length: int | None = None,
    cap: int = DEFAULT_CAP,
    internal: InternalMode = "collapse",
    names: Mapping[str, Sequence[str]] | None = None,
    numeric: bool = True,
    method: Literal["enumerate", "search"] = "enumerate",
) -> LoopSet:
    """The feedback loops of `model`, with polarities settled along a run where needed.

    ``method="enumerate"`` lists every loop (up to `cap`, beyond which the shortest
    independent loop set is listed); ``method="search"`` finds the loops that matter
    along the run with the strongest-path search
    (:func:`~sd_engine.loops.discovery.discover_loops`), for models with too many loops.

    Link polarities come from the equations where their structure determines them. When a
    loop has a link of undetermined polarity and `numeric` is true, that link is signed
    along the run in `ds` (or a default run of the model): by the sign of its partial
    derivative at every step (:func:`~sd_engine.loops.scores.link_derivative_signs`), or,
    for a link through collapsed SMOOTH/DELAY internals, by its composite link score. A
    link whose sign changes along the run stays ``"unknown"``. Such a loop gets
    ``polarity_basis="run"`` and the ``polarity_period`` over which all its run-signed links
    were live together; if they never were, the run cannot tell and its polarity is
    ``"unknown"``.
    """
    if method == "search":
        from .discovery import discover_loops

        return discover_loops(model, ds, internal=internal, names=names, numeric=numeric)
    if method != "enumerate":
        raise SpecError(f"`method` must be \"enumerate\" or \"search\", not {method!r}.")
    g = model_graph(model, "full", internal)
    given: dict[str, Sequence[str]] = dict(library_loop_names(model))
    given.update(names or {})
    loops = find_loops(g, max_length=max_length, cap=cap, names=given)
    if not numeric or all(loop.polarity != "unknown" for loop in loops):
        return loops
    try:
        traj = trajectories(model, ds)
    except UnsupportedError:
        return loops
    override, live, times = settle_along_run(model, g, loops, traj)
    return find_loops(g, max_length=max_length, cap=cap, names=given, polarity=override, live=live, times=times)


def settle_along_run(model: CompiledModel, g: nx.DiGraph, loops: LoopSet, traj: Trajectories
                     ) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], np.ndarray], np.ndarray]:
    """Sign the loops' links of undetermined polarity along the run in `traj`.

    Returns the polarity of each such link (``"unknown"`` where it changes sign), the
    steps at which it is live, and the times of those steps (the ``polarity``, ``live``
    and ``times`` arguments of :func:`~sd_engine.loops.structure.find_loops`).
    """
    expanded = model_graph(model, "full", "expand")
    undetermined = sorted({e for loop in loops for e in loop.edges if g.edges[e]["polarity"] == "unknown"})
    signs = link_derivative_signs(traj, g, undetermined)
    scores: dict[tuple[str, str], np.ndarray] | None = None
    override: dict[tuple[str, str], str] = {}
    live: dict[tuple[str, str], np.ndarray] = {}
    for edge in undetermined:
        if edge in signs:
            sign = signs[edge]
            turning = bool(np.isnan(sign).any())  # the slope changes sign at a step
        else:
            # A collapsed link's sign along the run: its composite score's sign (NaN only
            # where there is no score, at the end of the run).
            from .scores import _composite

            if scores is None:
                scores = link_scores(traj, expanded)
            sign = np.sign(_composite(scores, expanded, edge[0], edge[1], g.edges[edge]["via"]))
            turning = False
        sign = np.nan_to_num(sign)
        override[edge] = "unknown" if turning else numeric_polarities({edge: sign})[edge]
        live[edge] = sign != 0
    return override, live, traj.times


def link_score_array(model: CompiledModel, ds: xr.Dataset | None = None, *, labelling: Labelling = "forward",
                     flow_formula: FlowFormula = "2023", internal: InternalMode = "expand") -> xr.DataArray:
    """Link scores of every causal link along the run(s) of `ds`, dims ``("link", "time"[, "run"])``.

    The ``link`` coordinate reads ``"cause -> effect"``; ``cause`` and ``effect`` are
    extra coordinates. With ``internal="collapse"``, a link through SMOOTH/DELAY
    internals scores its largest-magnitude internal path.

    Examples
    --------
    >>> import sd_engine as sd
    >>> scores = link_score_array(sd.load("teacup"))
    >>> float(scores.sel(link="Heat Loss to Room -> Teacup Temperature").isel(time=0))
    -1.0
    """
    traj = trajectories(model, ds)
    expanded = model_graph(model, "full", "expand")
    scores = link_scores(traj, expanded, labelling=labelling, flow_formula=flow_formula)
    edges = list(expanded.edges) if internal == "expand" else list(model_graph(model, "full", internal).edges)
    if internal == "collapse":
        g = model_graph(model, "full", "collapse")
        from .scores import _composite

        data = [scores[e] if not g.edges[e].get("via") else _composite(scores, expanded, e[0], e[1], g.edges[e]["via"])
                for e in edges]
    else:
        data = [scores[e] for e in edges]
    array = np.stack(data) if data else np.zeros((0, traj.n_runs, len(traj.times)))
    return _label(array, [f"{a} -> {b}" for a, b in edges], "link", traj, ds,
                  {"cause": ("link", [a for a, _ in edges]), "effect": ("link", [b for _, b in edges])},
                  labelling, flow_formula)


def _label(array: np.ndarray, labels: list[str], dim: str, traj: Any, ds: xr.Dataset | None,
           extra: Mapping[str, Any], labelling: str, flow_formula: str) -> xr.DataArray:
    coords: dict[str, Any] = {dim: labels, "time": traj.times, **extra}
    if traj.ensemble:
        da = xr.DataArray(np.transpose(array, (0, 2, 1)), dims=(dim, "time", "run"),
                          coords={**coords, "run": np.arange(traj.n_runs)})
    else:
        da = xr.DataArray(array[:, 0, :], dims=(dim, "time"), coords=coords)
    if ds is not None:
        # Scores at every dt, reported at the saved times of `ds`.
        da = da.sel(time=np.asarray(ds["time"].values, dtype=float), method="nearest", tolerance=1e-9 * max(1.0, traj.dt))
        da = da.assign_coords(time=ds["time"].values)
    da.attrs.update(labelling=labelling, flow_formula=flow_formula, dt=traj.dt,
                    method="Loops that Matter (Schoenberg et al. 2020; flow-to-stock score of 2023)")
    return da


def loop_dominance(
    model: CompiledModel,
    ds: xr.Dataset | None = None,
    *,
    loops: LoopSet | None = None,
    relative: bool = True,
    labelling: Labelling = "forward",
    flow_formula: FlowFormula = "2023",
) -> xr.DataArray:
    """Relative loop scores (or raw loop scores) over time, dims ``("loop", "time"[, "run"])``.

    Parameters
    ----------
    model : CompiledModel
    ds : xarray.Dataset, optional
        A result of ``model.run()`` (one run or an ensemble); the model's default run if
        omitted. The run is repeated with every variable recorded at every ``dt``, and
        the scores are reported at the times of `ds`.
    loops : LoopSet, optional
        The loops to score; ``model.loops(ds)`` by default. Relative scores are
        normalised over the loops given that share a cycle partition.
    relative : bool
        Relative loop scores (in [-1, 1]) or raw loop scores.
    labelling : {"forward", "backward"}
        The score labelled ``t`` uses the values at ``t`` and ``t + dt`` (forward, as
        Stella's published results) or at ``t - dt`` and ``t`` (backward).
    flow_formula : {"2023", "2020"}
        The corrected flow-to-stock score (default) or the original one.

    Returns
    -------
    xarray.DataArray
        ``loop`` coordinate = ``Loop.id``, with ``loop_name``, ``polarity``,
        ``partition`` and ``length`` coordinates along it.

    Examples
    --------
    >>> import sd_engine as sd
    >>> model = sd.load("teacup")
    >>> dom = model.loop_dominance(model.run())
    >>> float(dom.sel(loop="B1").isel(time=0))
    -1.0
    """
    if loops is None:
        loops = model_loops(model, ds)
    traj = trajectories(model, ds)
    graph = loops.graph if loops.graph is not None else model_graph(model)
    expanded = model_graph(model, "full", "expand")
    scores = link_scores(traj, expanded, labelling=labelling, flow_formula=flow_formula)
    for loop in loops:
        for edge in loop.edges:
            via = graph.edges[edge].get("via", ())
            for node in (*edge, *via):
                var = model.lowered[expanded.nodes[node]["key"]] if node in expanded else None
                if var is not None and var.kind == "stock" and var.update != "continuous":
                    raise UnsupportedError(
                        f"Loop {loop.id} runs through `{var.name}`, a discrete state (SAMPLE IF TRUE, DELAY FIXED or "
                        "INITIAL), which Loops that Matter does not score; use a continuous delay (`delay3`) there."
                    )
    raw = loop_scores(loops, scores, graph, expanded)
    array = relative_loop_scores(raw, [loop.partition for loop in loops]) if relative else raw
    extra = {
        "loop_name": ("loop", [loop.name for loop in loops]),
        "polarity": ("loop", [loop.polarity for loop in loops]),
        "partition": ("loop", [loop.partition for loop in loops]),
        "length": ("loop", [loop.length for loop in loops]),
    }
    da = _label(array, [loop.id for loop in loops], "loop", traj, ds, extra, labelling, flow_formula)
    da.name = "relative loop score" if relative else "loop score"
    da.attrs["complete"] = int(loops.complete)
    if loops.message:
        da.attrs["note"] = loops.message
    return da


def _require_loop_dim(rls: xr.DataArray) -> None:
    if not isinstance(rls, xr.DataArray) or "loop" not in rls.dims or "time" not in rls.dims:
        raise SpecError("Pass the DataArray returned by `model.loop_dominance(ds)` (dims `loop` and `time`).")


def dominant(rls: xr.DataArray, threshold: float = DOMINANCE_THRESHOLD) -> xr.DataArray:
    """Which loops dominate at each time: a boolean DataArray shaped like `rls`.

    In each cycle partition the loops are taken by decreasing absolute relative score
    until together they explain at least `threshold` of the change; those loops form
    the dominant set. Where nothing changes (all scores 0 or NaN) no loop dominates.

    Examples
    --------
    >>> import sd_engine as sd
    >>> model = sd.load("teacup")
    >>> bool(dominant(model.loop_dominance()).sel(loop="B1").isel(time=0))
    True
    """
    _require_loop_dim(rls)
    if not 0 < threshold <= 1:
        raise SpecError(f"`threshold` must be in (0, 1], not {threshold}.")
    values = np.abs(np.nan_to_num(rls.transpose("loop", ...).values))
    result = np.zeros(values.shape, dtype=bool)
    partitions = np.asarray(rls["partition"].values) if "partition" in rls.coords else np.zeros(rls.sizes["loop"])
    for p in np.unique(partitions):
        idx = np.flatnonzero(partitions == p)
        part = values[idx]
        order = np.argsort(-part, axis=0, kind="stable")
        ranked = np.take_along_axis(part, order, axis=0)
        before = np.cumsum(ranked, axis=0) - ranked
        # A loop is in the set while the loops ranked above it explain less than the threshold.
        chosen = (before < threshold - 1e-12) & (ranked > 0)
        mask = np.zeros_like(chosen)
        np.put_along_axis(mask, order, chosen, axis=0)
        result[idx] = mask
    return xr.DataArray(result, dims=rls.transpose("loop", ...).dims, coords=rls.coords).transpose(*rls.dims)


def dominance_probability(rls: xr.DataArray, threshold: float = DOMINANCE_THRESHOLD) -> xr.DataArray:
    """The share of runs in which each loop is in the dominant set, dims ``("loop", "time")``.

    For an ensemble or a posterior sample this is the probability that each loop
    dominates at each time; for a single run it is 0 or 1.
    """
    dom = dominant(rls, threshold).astype(float)
    return dom.mean("run") if "run" in dom.dims else dom


@dataclass(frozen=True)
class DominancePhase:
    """A period ``[start, end]`` in which the same loops dominate a cycle partition."""

    start: float
    end: float
    loops: tuple[str, ...]
    partition: int


def dominance_phases(rls: xr.DataArray, threshold: float = DOMINANCE_THRESHOLD) -> list[DominancePhase]:
    """The dominance phases of one run: periods with an unchanging dominant loop set.

    Examples
    --------
    >>> import sd_engine as sd
    >>> [(p.start, p.loops) for p in dominance_phases(sd.load("teacup").loop_dominance())][:1]
    [(0.0, ('B1',))]
    """
    _require_loop_dim(rls)
    if "run" in rls.dims:
        raise SpecError("`dominance_phases` takes one run; select one with `.isel(run=i)`, or use "
                        "`dominance_probability` for an ensemble.")
    dom = dominant(rls, threshold).transpose("loop", "time")
    times = np.asarray(rls["time"].values, dtype=float)
    ids = [str(i) for i in rls["loop"].values]
    partitions = np.asarray(rls["partition"].values) if "partition" in rls.coords else np.zeros(len(ids), int)
    phases: list[DominancePhase] = []
    for p in sorted(set(partitions.tolist())):
        rows = np.flatnonzero(partitions == p)
        current: tuple[str, ...] | None = None
        start = times[0] if len(times) else 0.0
        last = start
        for j, t in enumerate(times):
            members = tuple(ids[i] for i in rows if dom.values[i, j])
            if members != current:
                if current:
                    phases.append(DominancePhase(float(start), float(last), current, int(p)))
                current, start = members, t
            last = t
        if current:
            phases.append(DominancePhase(float(start), float(last), current, int(p)))
    return sorted(phases, key=lambda ph: (ph.start, ph.partition))
