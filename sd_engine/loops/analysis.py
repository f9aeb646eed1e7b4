"""Loop analysis of a compiled model: its loops and their dominance along a run.

:func:`model_loops` and :func:`loop_dominance` back the ``CompiledModel.loops`` and
``.loop_dominance`` methods (``.graph`` is :func:`sd_engine.graph.model_graph`); the
dominance helpers work on the DataArray that ``loop_dominance`` returns. They take a
compiled model or its :class:`~sd_engine.program.Program`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

from ..errors import SpecError, UnsupportedError
from ..graph import InternalMode, model_graph
from ..program import ProgramLike, as_program
from .discovery import discover_loops
from .scores import (
    FlowFormula,
    Labelling,
    label_scores,
    link_scores,
    loop_scores,
    relative_loop_scores,
    settle_along_run,
    trajectories,
)
from .structure import DEFAULT_CAP, LoopSet, find_loops, library_loop_names

__all__ = [
    "model_graph",
    "model_loops",
    "loop_dominance",
    "dominant",
    "dominance_probability",
    "DominancePhase",
    "dominance_phases",
    "DOMINANCE_THRESHOLD",
]

#: A loop, or set of loops, dominates when it explains at least this share of the change.
DOMINANCE_THRESHOLD = 0.5


def model_loops(
    model: ProgramLike,
    ds: xr.Dataset | None = None,
    *,
    max_length: int | None = None,
    cap: int = DEFAULT_CAP,
    internal: InternalMode = "collapse",
    names: Mapping[str, Sequence[str]] | None = None,
    numeric: bool = True,
    method: Literal["enumerate", "search"] = "enumerate",
    progress: bool = False,
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

    `progress` shows a bar of the steps the search has covered (``method="search"``), or of
    the run that signs the links (``"enumerate"``), on a terminal.
    """
    if method == "search":
        return discover_loops(model, ds, internal=internal, names=names, numeric=numeric, progress=progress)
    if method != "enumerate":
        raise SpecError(f"`method` must be \"enumerate\" or \"search\", not {method!r}.")
    g = model_graph(model, "full", internal)
    given: dict[str, Sequence[str]] = dict(library_loop_names(model))
    given.update(names or {})
    loops = find_loops(g, max_length=max_length, cap=cap, names=given)
    if not numeric or all(loop.polarity != "unknown" for loop in loops):
        return loops
    try:
        traj = trajectories(model, ds, progress=progress)
    except UnsupportedError:
        return loops
    override, live, times = settle_along_run(model, g, loops, traj)
    # The loops listed above, signed again: enumerating a large model's loops twice costs seconds.
    return find_loops(g, max_length=max_length, cap=cap, names=given, polarity=override, live=live, times=times,
                      cycles=[loop.variables for loop in loops], note=loops.message, complete=loops.complete)


def loop_dominance(
    model: ProgramLike,
    ds: xr.Dataset | None = None,
    *,
    loops: LoopSet | None = None,
    relative: bool = True,
    labelling: Labelling = "forward",
    flow_formula: FlowFormula = "2023",
    progress: bool = False,
) -> xr.DataArray:
    """Relative loop scores (or raw loop scores) over time, dims ``("loop", "time"[, "run"])``.

    Parameters
    ----------
    model : CompiledModel or Program
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
    progress : bool
        Show a bar of the steps of the repeated run (most of the time taken) on a terminal.

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
    traj = trajectories(model, ds, progress=progress)
    graph = loops.graph if loops.graph is not None else model_graph(model)
    expanded = model_graph(model, "full", "expand")
    scores = link_scores(traj, expanded, labelling=labelling, flow_formula=flow_formula)
    lowered = as_program(model).lowered
    for loop in loops:
        for edge in loop.edges:
            via = graph.edges[edge].get("via", ())
            for node in (*edge, *via):
                var = lowered[expanded.nodes[node]["key"]] if node in expanded else None
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
    da = label_scores(array, [loop.id for loop in loops], "loop", traj, ds, extra, labelling, flow_formula)
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
