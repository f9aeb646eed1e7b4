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
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import networkx as nx
import numpy as np
import xarray as xr

from .. import functions
from ..errors import SpecError, UnsupportedError
from ..expr import TIME_NAMES, Binary, Call, Expr, Num, Ref, Str, Table, Unary, canonical
from ..functions import LOOKUP_FUNCTIONS
from ..spec import ModelSpec, Variable
from .structure import Loop, LoopSet

if TYPE_CHECKING:
    from ..compile import CompiledModel
    from ..results import Results

__all__ = [
    "Trajectories",
    "trajectories",
    "partial_change",
    "link_scores",
    "loop_scores",
    "relative_loop_scores",
    "numeric_polarities",
    "link_derivative_signs",
    "Labelling",
    "FlowFormula",
]

Labelling = Literal["forward", "backward"]
FlowFormula = Literal["2023", "2020"]

_FULL_RECORD: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


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


def _full_record_model(model: CompiledModel) -> CompiledModel:
    """The same model compiled to record every stock, flow and aux, internal ones included."""
    cached = _FULL_RECORD.get(model)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from ..compile import CompiledModel, _Compiler

    compiler = _Compiler(model.spec)
    base = compiler.build()
    variables = list(compiler.vars.values())
    series = [v for v in variables if v.kind in ("stock", "flow", "aux")]
    layout = replace(base.layout, series=compiler.slots(series))
    computed = [v for v in variables
                if v.kind in ("aux", "flow") or (v.kind == "constant" and not compiler.is_parameter(v))]
    source = compiler.generate(layout, compiler.order_rates(computed), compiler.order_initial())
    full = CompiledModel(base.spec, base.lowered, layout, source, dict(compiler.tables))
    _FULL_RECORD[model] = full
    return full


def _refuse_arrays(spec: ModelSpec) -> None:
    arrayed = [v.name for v in spec.variables if v.dims and v.kind != "lookup"]
    if arrayed:
        raise UnsupportedError(
            f"Loop scores of subscripted models are not supported yet (`{arrayed[0]}` is arrayed); "
            "the loops and the graph are available, or score a model without subscripts."
        )


def _params_from(model: CompiledModel, ds: xr.Dataset) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, var in model.parameters.items():
        if var.internal or var.name not in ds.data_vars:
            continue
        params[key] = np.asarray(ds[var.name].values, dtype=float)
    try:
        overrides = json.loads(ds.attrs.get("parameters", "{}"))
    except (TypeError, ValueError):
        overrides = {}
    for name, value in overrides.items():
        key = canonical(name)
        if key in model.lowered and model.lowered[key].kind == "lookup":
            params[key] = (np.asarray(value[0], dtype=float), np.asarray(value[1], dtype=float))
    return params


def trajectories(model: CompiledModel, ds: xr.Dataset | None = None) -> Trajectories:
    """Every variable at every ``dt`` for the run(s) in `ds` (or the model's default run).

    The run is repeated with every variable recorded (``saveper = dt``), using the
    parameters, seeds, method and time settings recorded in `ds`; the stocks of the
    repeat must equal those in `ds`, so a dataset from another model or from changed
    settings is refused.
    """
    from ..integrate import simulate_results

    _refuse_arrays(model.lowered)
    full = _full_record_model(model)
    kwargs: dict[str, Any] = {"errors": "mark"}
    if ds is not None:
        if not isinstance(ds, xr.Dataset):
            raise SpecError(f"`ds` must be the xarray.Dataset returned by `model.run()`, not {type(ds).__name__}.")
        attrs = ds.attrs
        missing = [k for k in ("dt", "method", "initial_time") if k not in attrs]
        if missing or "time" not in ds.coords:
            raise SpecError(f"`ds` lacks `{(missing or ['time'])[0]}`; pass the dataset returned by `model.run()`.")
        kwargs.update(params=_params_from(model, ds), dt=float(attrs["dt"]), method=str(attrs["method"]),
                      initial_time=float(attrs["initial_time"]), final_time=float(ds["time"].values[-1]))
        if "run_seed" in ds.coords:
            kwargs["seed"] = [int(s) for s in ds["run_seed"].values]
        elif "seed" in attrs:
            kwargs["seed"] = int(attrs["seed"])
    res: Results = simulate_results(full, **kwargs)
    if ds is not None:
        _check_same_run(model, ds, res)
    lowered = full.lowered
    values = {slot.key: res._block(slot) for slot in full.layout.series}
    constants = {k: np.asarray(v, dtype=float).reshape(res.n_runs, 1) for k, v in res.constants.items()}
    lookups = {k: (np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for k, (x, y) in res.lookups.items()}
    return Trajectories(lowered, np.asarray(res.times, dtype=float), float(res.dt), values, constants, lookups,
                        res.ensemble)


def _check_same_run(model: CompiledModel, ds: xr.Dataset, res: Results) -> None:
    times = np.asarray(ds["time"].values, dtype=float)
    index = np.searchsorted(res.times, times - 1e-9 * max(1.0, abs(res.dt)))
    ok = len(index) and index[-1] < len(res.times) and np.allclose(res.times[np.minimum(index, len(res.times) - 1)],
                                                                   times, rtol=1e-9, atol=1e-9)
    if not ok:
        raise SpecError("The times of `ds` are not steps of its own `dt`; pass the dataset returned by `model.run()`.")
    recorded = {slot.key: slot for slot in res.model.layout.series}
    for slot in model.layout.stocks:
        var = model.lowered[slot.key]
        if var.internal:
            continue
        if var.name not in ds.data_vars:
            raise SpecError(f"`ds` has no values of stock `{var.name}`; pass the dataset returned by this model's "
                            "`run()`.")
        ours = res._block(recorded[slot.key])[:, index]
        theirs = np.asarray(ds[var.name].values, dtype=float).reshape(ours.shape)
        if not np.allclose(ours, theirs, rtol=1e-7, atol=1e-9, equal_nan=True):
            raise SpecError(
                f"Stock `{var.name}` in `ds` differs from this model's run with the settings recorded in `ds`; "
                "pass a dataset produced by this model's `run()`."
            )


# -- the expression tree over (runs, times) arrays --------------------------------------------------
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
            op = expr.op
            if op == "+":
                return left + right
            if op == "-":
                return left - right
            if op == "*":
                return left * right
            if op == "/":
                return np.divide(left, right)
            if op == "**":
                return np.power(left, right)
            if op == "%":
                return np.mod(left, right)
            if op in ("and", "or"):
                return 1.0 * (np.logical_and(left, right) if op == "and" else np.logical_or(left, right))
            compare = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
                       ">": np.greater, ">=": np.greater_equal}[op]
            return 1.0 * compare(left, right)
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
        func = functions.ALIASES.get(call.func, call.func)
        if func == "time" and not call.args:
            return self.t
        if func == "with_lookup":
            table = call.args[1]
            assert isinstance(table, Table)
            return functions.lookup(self.value_of(call.args[0], env, var), np.array(table.xs), np.array(table.ys))
        if func in LOOKUP_FUNCTIONS:
            name = call.args[0]
            assert isinstance(name, Ref)
            xs, ys = self.table(name.name)
            return functions.LOOKUP_MODES[LOOKUP_FUNCTIONS[func]](self.value_of(call.args[1], env, var), xs, ys)
        if func in self.vars and self.vars[func].kind == "lookup":
            lookup = self.vars[func].lookup
            assert lookup is not None
            xs, ys = self.table(func)
            return functions.LOOKUP_MODES[lookup.mode](self.value_of(call.args[0], env, var), xs, ys)
        if func not in functions.BUILTINS or any(isinstance(a, (Str, Table)) for a in call.args):
            raise UnsupportedError(f"`{func}` in the equation of `{var.name}` cannot be re-evaluated for loop scores.")
        builtin = functions.BUILTINS[func]
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


def partial_change(expr_var: Variable, cause: str, before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray],
                   traj: Trajectories, t_before: np.ndarray) -> np.ndarray:
    """``f(cause after, everything else before) - f(before)``: the ceteris-paribus change of `expr_var`."""
    evaluator = _Evaluator(traj, t_before)
    env = dict(before)
    env[cause] = after[cause]
    return evaluator.value(expr_var, env) - before[expr_var.canonical]


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
