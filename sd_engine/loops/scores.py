"""Loops that Matter: link scores, loop scores and relative loop scores from a run.

Definitions follow Schoenberg, Davidsen & Eberlein (2020) with the corrected
flow-to-stock score of Schoenberg, Hayward & Eberlein (2023); see
``references/LOOPS_AND_CALIBRATION.md`` (Part A) in the project's shared material.

Conventions (tests depend on them):

* **Values.** The model is re-run with ``saveper = dt`` and every variable recorded,
  internal stocks of SMOOTH/DELAY included, with the parameters, seeds and time
  settings of the dataset passed in (which must match that re-run).
* **Forward labelling.** The score labelled ``t`` is computed from the values at ``t``
  and ``t + dt``, which reproduces the published (Stella) results; the last time has no
  score (NaN). ``labelling="backward"`` labels it ``t + dt`` instead (the first time is
  then NaN).
* **Auxiliary links** ``x -> z = f(x, y, ...)``:
  ``|Δx_z / Δz| · sign(Δx_z / Δx)``, 0 where ``Δz`` or ``Δx`` is 0, with the partial
  change ``Δx_z = f(x(t+dt), y(t), ...) - z(t)``: the equation re-evaluated with one
  input at its new value and every other input (time included) at its old one.
* **Flow -> stock links** (2023): ``± |dt·Δi / (ΔS(t+dt) - ΔS(t))|``. With Euler the
  stock's second difference is ``dt`` times the change of its net flow, so the score is
  computed as ``± |Δi / Δnet|`` -- the aggregated net-flow form, which makes the ``dt``
  factor exact at any ``dt`` and for any fixed-step method. ``flow_formula="2020"``
  gives the superseded ``± |i / net|`` with the flows at ``t + dt`` (the end of the
  step whose flow change the 2023 form scores, as in the reference's example).
* **Collapsed SMOOTH/DELAY links** score the largest-magnitude path through the
  internal structure (Stella's composite link score).
* **Relative loop scores** divide by the sum of absolute loop scores of the loops in
  the same cycle partition (0/0 gives 0).

Arrayed (subscripted) models are not scored yet and are refused with a clear error.

:func:`link_score_array` labels the link scores of a run; :func:`settle_along_run` signs the
links whose polarity the equations leave open, along a run.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx
import numpy as np
import xarray as xr

from ..codegen import compile_program
from ..errors import SpecError, UnsupportedError
from ..expr import TIME_NAMES, Binary, Call, Expr, Num, Ref, Str, Table, Unary, canonical
from ..functions import ALIASES, BUILTINS, LOOKUP_FUNCTIONS, LOOKUP_MODES, NUMPY_OPERATORS
from ..graph import InternalMode, model_graph
from ..integrate import simulate_results
from ..program import Program, ProgramLike, as_program
from ..results import Results
from ..spec import ModelSpec, Variable
from .structure import Loop, LoopSet

__all__ = [
    "Trajectories",
    "trajectories",
    "link_scores",
    "link_score_array",
    "label_scores",
    "settle_along_run",
    "loop_scores",
    "relative_loop_scores",
    "numeric_polarities",
    "link_derivative_signs",
    "Labelling",
    "FlowFormula",
]

Labelling = Literal["forward", "backward"]
FlowFormula = Literal["2023", "2020"]

# The program of each scored program that records every variable: compiled once, dropped with it.
_FULL_RECORD: weakref.WeakKeyDictionary[Program, Program] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, eq=False)
class Trajectories:
    """Every variable of one run or an ensemble at every step.

    ``values`` maps canonical names of stocks, flows and auxes to ``(runs, times)``
    arrays; ``constants`` maps constants to ``(runs, 1)``; ``t`` is ``(1, times)``.
    """

    spec: ModelSpec
    times: np.ndarray
    dt: float
    values: Mapping[str, np.ndarray]
    constants: Mapping[str, np.ndarray]
    lookups: Mapping[str, tuple[np.ndarray, np.ndarray]]
    ensemble: bool

    @property
    def n_runs(self) -> int:
        return next(iter(self.values.values())).shape[0] if self.values else 1

    def env(self, index: slice) -> dict[str, np.ndarray]:
        """Values of all variables at the time steps `index` (constants broadcast)."""
        out = {k: v[:, index] for k, v in self.values.items()}
        out.update(self.constants)
        return out


def _full_record(program: Program) -> Program:
    """The same model compiled to record every stock, flow and aux, internal ones included."""
    full = _FULL_RECORD.get(program)
    if full is None:
        full = _FULL_RECORD[program] = compile_program(program.spec, record="all")
    return full


def _refuse_arrays(spec: ModelSpec) -> None:
    arrayed = [v.name for v in spec.variables if v.dims and v.kind != "lookup"]
    if arrayed:
        raise UnsupportedError(
            f"Loop scores of subscripted models are not supported yet (`{arrayed[0]}` is arrayed); "
            "the loops and the graph are available, or score a model without subscripts."
        )


def _params_from(program: Program, ds: xr.Dataset) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for slot in program.layout.constants:
        key, var = slot.key, program.lowered[slot.key]
        if var.internal or var.name not in ds.data_vars:
            continue
        # `ds.variables`, not `ds[...]`: no DataArray built per constant (hundreds in a large model).
        params[key] = np.asarray(ds.variables[var.name].values, dtype=float)
    try:
        overrides = json.loads(ds.attrs.get("parameters", "{}"))
    except (TypeError, ValueError):
        overrides = {}
    for name, value in overrides.items():
        key = canonical(name)
        if key in program.lowered and program.lowered[key].kind == "lookup":
            params[key] = (np.asarray(value[0], dtype=float), np.asarray(value[1], dtype=float))
    return params


def trajectories(model: ProgramLike, ds: xr.Dataset | None = None, *, progress: bool = False) -> Trajectories:
    """Every variable at every ``dt`` for the run(s) in `ds` (or the model's default run).

    The run is repeated with every variable recorded (``saveper = dt``), using the
    parameters, seeds, method, back end and time settings recorded in `ds`; the stocks of the
    repeat must equal those in `ds`, so a dataset from another model or from changed
    settings is refused. `progress` shows a bar of the steps simulated on a terminal.
    """
    program = as_program(model)
    _refuse_arrays(program.lowered)
    full = _full_record(program)
    kwargs: dict[str, Any] = {"errors": "mark", "progress": progress}
    if ds is not None:
        if not isinstance(ds, xr.Dataset):
            raise SpecError(f"`ds` must be the xarray.Dataset returned by `model.run()`, not {type(ds).__name__}.")
        attrs = ds.attrs
        missing = [k for k in ("dt", "method", "initial_time") if k not in attrs]
        if missing or "time" not in ds.coords:
            raise SpecError(f"`ds` lacks `{(missing or ['time'])[0]}`; pass the dataset returned by `model.run()`.")
        # The back end that computed `ds` too: the same numbers, and a compiled repeat for a
        # compiled run (its full-record kernel is compiled once, then loaded from the disk cache).
        if attrs.get("backend") in ("numba", "numpy"):
            kwargs["backend"] = str(attrs["backend"])
        kwargs.update(params=_params_from(program, ds), dt=float(attrs["dt"]), method=str(attrs["method"]),
                      initial_time=float(attrs["initial_time"]), final_time=float(ds["time"].values[-1]))
        if "run_seed" in ds.coords:
            kwargs["seed"] = [int(s) for s in ds["run_seed"].values]
        elif "seed" in attrs:
            kwargs["seed"] = int(attrs["seed"])
    res: Results = simulate_results(full, **kwargs)
    if ds is not None:
        _check_same_run(program, ds, res)
    lowered = full.lowered
    values = {slot.key: res.block(slot) for slot in full.layout.series}
    constants = {k: np.asarray(v, dtype=float).reshape(res.n_runs, 1) for k, v in res.constants.items()}
    lookups = {k: (np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for k, (x, y) in res.lookups.items()}
    return Trajectories(lowered, np.asarray(res.times, dtype=float), float(res.dt), values, constants, lookups,
                        res.ensemble)


def _check_same_run(program: Program, ds: xr.Dataset, res: Results) -> None:
    times = np.asarray(ds["time"].values, dtype=float)
    index = np.searchsorted(res.times, times - 1e-9 * max(1.0, abs(res.dt)))
    ok = len(index) and index[-1] < len(res.times) and np.allclose(res.times[np.minimum(index, len(res.times) - 1)],
                                                                   times, rtol=1e-9, atol=1e-9)
    if not ok:
        raise SpecError("The times of `ds` are not steps of its own `dt`; pass the dataset returned by `model.run()`.")
    recorded = {slot.key: slot for slot in res.program.layout.series}
    for slot in program.layout.stocks:
        var = program.lowered[slot.key]
        if var.internal:
            continue
        if var.name not in ds.data_vars:
            raise SpecError(f"`ds` has no values of stock `{var.name}`; pass the dataset returned by this model's "
                            "`run()`.")
        ours = res.block(recorded[slot.key])[:, index]
        theirs = np.asarray(ds.variables[var.name].values, dtype=float).reshape(ours.shape)
        if not np.allclose(ours, theirs, rtol=1e-7, atol=1e-9, equal_nan=True):
            raise SpecError(
                f"Stock `{var.name}` in `ds` differs from this model's run with the settings recorded in `ds`; "
                "pass a dataset produced by this model's `run()`."
            )


# -- the expression tree over (runs, times) arrays --------------------------------------------------
#: Operators whose numpy result is boolean.
_LOGICAL = frozenset({"==", "!=", "<", "<=", ">", ">=", "and", "or"})


class _Evaluator:
    def __init__(self, traj: Trajectories, t: np.ndarray) -> None:
        self.traj = traj
        self.vars = {v.canonical: v for v in traj.spec.variables}
        self.t = t
        self.dt = traj.dt

    def value_of(self, expr: Expr, env: Mapping[str, np.ndarray], var: Variable) -> Any:
        if isinstance(expr, Num):
            return expr.value
        if isinstance(expr, Ref):
            if expr.name in env:
                return env[expr.name]
            if expr.name in TIME_NAMES:
                return self.t if TIME_NAMES[expr.name] == "t" else self.dt
            raise SpecError(f"`{expr.name}` in the equation of `{var.name}` has no recorded values to score.")
        if isinstance(expr, Unary):
            value = self.value_of(expr.operand, env, var)
            return 1.0 * np.logical_not(value) if expr.op == "not" else -value
        if isinstance(expr, Binary):
            left, right = self.value_of(expr.left, env, var), self.value_of(expr.right, env, var)
            value = NUMPY_OPERATORS[expr.op](left, right)
            # Comparisons and logic give numbers, as in the generated code.
            return 1.0 * value if expr.op in _LOGICAL else value
        if isinstance(expr, Call):
            return self.call(expr, env, var)
        raise SpecError(f"The equation of `{var.name}` uses `{expr}` where a number is expected.")

    def table(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        if key in self.traj.lookups:
            return self.traj.lookups[key]
        lookup = self.vars[key].lookup
        assert lookup is not None
        return np.asarray(lookup.xs, dtype=float), np.asarray(lookup.ys, dtype=float)

    def call(self, call: Call, env: Mapping[str, np.ndarray], var: Variable) -> Any:
        func = ALIASES.get(call.func, call.func)
        if func == "time" and not call.args:
            return self.t
        if func == "with_lookup":
            table = call.args[1]
            assert isinstance(table, Table)
            return LOOKUP_MODES["interpolate"](self.value_of(call.args[0], env, var), np.array(table.xs),
                                               np.array(table.ys))
        if func in LOOKUP_FUNCTIONS:
            name = call.args[0]
            assert isinstance(name, Ref)
            xs, ys = self.table(name.name)
            return LOOKUP_MODES[LOOKUP_FUNCTIONS[func]](self.value_of(call.args[1], env, var), xs, ys)
        if func in self.vars and self.vars[func].kind == "lookup":
            lookup = self.vars[func].lookup
            assert lookup is not None
            xs, ys = self.table(func)
            return LOOKUP_MODES[lookup.mode](self.value_of(call.args[0], env, var), xs, ys)
        if func not in BUILTINS or any(isinstance(a, (Str, Table)) for a in call.args):
            raise UnsupportedError(f"`{func}` in the equation of `{var.name}` cannot be re-evaluated for loop scores.")
        builtin = BUILTINS[func]
        args = [self.value_of(a, env, var) for a in call.args]
        prefix = ([self.t] if builtin.time else []) + ([self.dt] if builtin.dt else [])
        return builtin.impl(*prefix, *args)

    def value(self, var: Variable, env: Mapping[str, np.ndarray]) -> np.ndarray:
        assert var.equation is not None
        with np.errstate(all="ignore"):
            value = np.asarray(self.value_of(var.equation, env, var), dtype=float)
        if var.kind == "flow" and var.non_negative:
            value = np.maximum(value, 0.0)
        return value


def _score(partial: np.ndarray, dz: np.ndarray, dx: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        score = np.abs(partial / dz) * np.sign(partial) * np.sign(dx)
    return np.where((dz != 0) & (dx != 0) & np.isfinite(score), score, 0.0)


def link_scores(traj: Trajectories, graph: nx.DiGraph, *, labelling: Labelling = "forward",
                flow_formula: FlowFormula = "2023") -> dict[tuple[str, str], np.ndarray]:
    """Link scores of every link of an expanded causal graph, ``(runs, times)`` each.

    `graph` must be the expanded full view (``internal="expand"``); edges are keyed by
    display names as in the graph.
    """
    if labelling not in ("forward", "backward"):
        raise SpecError(f"`labelling` must be \"forward\" or \"backward\", not {labelling!r}.")
    if flow_formula not in ("2023", "2020"):
        raise SpecError(f"`flow_formula` must be \"2023\" or \"2020\", not {flow_formula!r}.")
    spec = traj.spec
    n, T = traj.n_runs, len(traj.times)
    before, after = traj.env(slice(0, T - 1)), traj.env(slice(1, T))
    t_before = traj.times[None, :-1]
    evaluator = _Evaluator(traj, t_before)
    scores: dict[tuple[str, str], np.ndarray] = {}
    nan_row = np.full((n, 1), np.nan)

    def place(core: np.ndarray) -> np.ndarray:
        core = np.broadcast_to(core, (n, T - 1))
        return np.concatenate([core, nan_row], axis=1) if labelling == "forward" else \
            np.concatenate([nan_row, core], axis=1)

    key_of = {node: data["key"] for node, data in graph.nodes(data=True)}
    for effect in graph:
        var = spec[key_of[effect]]
        causes = list(graph.predecessors(effect))
        if not causes or var.kind == "constant":
            continue
        if var.kind == "stock":
            if var.update != "continuous":
                for cause in causes:
                    scores[(cause, effect)] = np.full((n, T), np.nan)
                continue
            net = sum((traj.values[f] for f in var.inflows), np.zeros((n, T))) - \
                sum((traj.values[f] for f in var.outflows), np.zeros((n, T)))
            dnet = np.diff(net, axis=1)
            for cause in causes:
                key = key_of[cause]
                sign = 1.0 if key in var.inflows else -1.0
                with np.errstate(all="ignore"):
                    if flow_formula == "2023":
                        core = sign * np.abs(np.diff(traj.values[key], axis=1) / dnet)
                        core = np.where(dnet != 0, core, 0.0)
                    else:
                        # The flows at the end of the step, as in the reference example.
                        core = sign * np.abs(traj.values[key][:, 1:] / net[:, 1:])
                        core = np.where(net[:, 1:] != 0, core, 0.0)
                scores[(cause, effect)] = place(core)
            continue
        dz = after[var.canonical] - before[var.canonical]
        for cause in causes:
            key = key_of[cause]
            env = dict(before)
            env[key] = after[key]
            partial = evaluator.value(var, env) - before[var.canonical]
            dx = np.broadcast_to(after[key] - before[key], dz.shape)
            scores[(cause, effect)] = place(_score(partial, dz, dx))
    return scores


def _composite(scores: Mapping[tuple[str, str], np.ndarray], expanded: nx.DiGraph, cause: str, effect: str,
               via: Sequence[str]) -> np.ndarray:
    """Largest-magnitude path score from `cause` to `effect` through the collapsed variables `via`."""
    sub = expanded.subgraph({cause, effect, *via})
    best: np.ndarray | None = None
    for path in nx.all_simple_paths(sub, cause, effect):
        product = np.prod([scores[(a, b)] for a, b in zip(path, path[1:])], axis=0)
        if best is None:
            best = product
        else:
            best = np.where(np.abs(product) > np.abs(best), product, best)
    if best is None:
        raise SpecError(f"No causal path from `{cause}` to `{effect}` through {list(via)}.")
    return best


def loop_scores(loops: LoopSet | Sequence[Loop], scores: Mapping[tuple[str, str], np.ndarray],
                graph: nx.DiGraph, expanded: nx.DiGraph) -> np.ndarray:
    """Loop scores, ``(loops, runs, times)``: the product of link scores around each loop."""
    composite: dict[tuple[str, str], np.ndarray] = {}
    out = []
    for loop in loops:
        product: np.ndarray | None = None
        for edge in loop.edges:
            via = graph.edges[edge].get("via", ())
            if via:
                if edge not in composite:
                    composite[edge] = _composite(scores, expanded, edge[0], edge[1], via)
                score = composite[edge]
            else:
                score = scores[edge]
            product = score if product is None else product * score
        assert product is not None
        out.append(product)
    return np.stack(out) if out else np.zeros((0,) + next(iter(scores.values())).shape)


def relative_loop_scores(loop_score: np.ndarray, partitions: Sequence[int]) -> np.ndarray:
    """Loop scores divided by the sum of absolute scores in each loop's cycle partition (0/0 -> 0)."""
    rel = np.zeros_like(loop_score)
    part = np.asarray(partitions)
    for p in np.unique(part):
        members = part == p
        total = np.sum(np.abs(loop_score[members]), axis=0)
        with np.errstate(all="ignore"):
            r = loop_score[members] / total
        rel[members] = np.where(total > 0, r, np.where(np.isnan(total), np.nan, 0.0))
    return rel


def numeric_polarities(scores: Mapping[tuple[str, str], np.ndarray]) -> dict[tuple[str, str], str]:
    """The polarity of each link along a run: the sign of its score wherever it is active.

    A link that is never active, or whose sign changes, is ``"unknown"``.
    """
    out: dict[tuple[str, str], str] = {}
    for edge, score in scores.items():
        s = np.sign(score[np.isfinite(score) & (score != 0)])
        out[edge] = "unknown" if not s.size or s.min() != s.max() else ("+" if s[0] > 0 else "-")
    return out


def link_derivative_signs(traj: Trajectories, graph: nx.DiGraph, edges: Sequence[tuple[str, str]],
                          rel_step: float = 1e-6) -> dict[tuple[str, str], np.ndarray]:
    """The sign of each link's partial derivative at every step of the run, ``(runs, times)``.

    Richardson's link polarity, evaluated at the states the run visits: the effect's equation
    is re-evaluated with the cause nudged up and down by a small step (``rel_step`` times its
    size), every other input held at its value at that time. Unlike a link score this needs
    no change in the cause, so it also signs links whose cause is steady or that a threshold
    switches on only now and then. Entries are +1, -1, 0 (the equation does not respond to
    the cause there) or NaN (the two one-sided slopes disagree: a turning point). Links into
    stocks and links that pass through collapsed SMOOTH/DELAY internals are skipped: the first
    are signed by the flow's direction, the second by their composite link score.
    """
    spec = traj.spec
    env = traj.env(slice(0, len(traj.times)))
    evaluator = _Evaluator(traj, traj.times[None, :])
    out: dict[tuple[str, str], np.ndarray] = {}
    for cause, effect in edges:
        var = spec[graph.nodes[effect]["key"]]
        key = graph.nodes[cause]["key"]
        if var.kind not in ("aux", "flow") or var.equation is None or graph.edges[cause, effect].get("via"):
            continue
        x = np.asarray(env[key], dtype=float)
        # The step follows the cause's own scale, with a floor where it passes through zero
        # (and an absolute one for a cause that is zero all along: its units are all we know).
        scale = np.nanmax(np.abs(x), axis=1, keepdims=True)
        scale = np.where(scale > 0, scale, 1.0)
        step = rel_step * np.maximum(np.abs(x), 1e-3 * scale)
        base = evaluator.value(var, env)
        slopes = []
        for nudged in (x + step, x - step):
            moved = dict(env)
            moved[key] = nudged
            slopes.append(evaluator.value(var, moved) - base)
        up, down = np.sign(slopes[0]), -np.sign(slopes[1])
        sign = np.where(up == 0, down, np.where((down == 0) | (down == up), up, np.nan))
        out[(cause, effect)] = np.broadcast_to(sign, x.shape).astype(float)
    return out


def settle_along_run(model: ProgramLike, g: nx.DiGraph, loops: LoopSet, traj: Trajectories
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
            if scores is None:
                scores = link_scores(traj, expanded)
            sign = np.sign(_composite(scores, expanded, edge[0], edge[1], g.edges[edge]["via"]))
            turning = False
        sign = np.nan_to_num(sign)
        override[edge] = "unknown" if turning else numeric_polarities({edge: sign})[edge]
        live[edge] = sign != 0
    return override, live, traj.times


def link_score_array(model: ProgramLike, ds: xr.Dataset | None = None, *, labelling: Labelling = "forward",
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
        data = [scores[e] if not g.edges[e].get("via") else _composite(scores, expanded, e[0], e[1], g.edges[e]["via"])
                for e in edges]
    else:
        data = [scores[e] for e in edges]
    array = np.stack(data) if data else np.zeros((0, traj.n_runs, len(traj.times)))
    return label_scores(array, [f"{a} -> {b}" for a, b in edges], "link", traj, ds,
                        {"cause": ("link", [a for a, _ in edges]), "effect": ("link", [b for _, b in edges])},
                        labelling, flow_formula)


def label_scores(array: np.ndarray, labels: list[str], dim: str, traj: Trajectories, ds: xr.Dataset | None,
                 extra: Mapping[str, Any], labelling: str, flow_formula: str) -> xr.DataArray:
    """Scores ``(items, runs, times)`` as a DataArray with dims ``(dim, "time"[, "run"])``, the
    items labelled `labels`, reported at the saved times of `ds` when given."""
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
