"""Numerical integration of compiled models, one run or a whole ensemble at once.

Fixed-step solvers follow Vensim's semantics exactly: at each time ``t = t0 + k*dt``
every auxiliary and flow is computed from the stocks, values are saved every
``saveper``, then stocks advance. Discrete states (SAMPLE IF TRUE, INITIAL,
DELAY FIXED pipelines, random draws) move once per step, after the stocks.
The adaptive method wraps scipy's embedded Runge-Kutta pair with error control.

Solvers are small objects with a ``step`` method (:mod:`sd_engine.solvers`); the step loop
does no per-variable Python work: one call of the program's ``evaluate`` per stage,
vectorised over runs. Everything here reads a :class:`~sd_engine.program.Program` (or a
compiled model, which holds one). The inputs of a call -- parameter values with their run
axis, new lookup tables (:func:`bind_inputs`), time series replacing constants or
auxiliaries (:func:`with_time_series`) -- are bound to the program's layout here too.

Guards (:mod:`sd_engine.guards`). Before anything is allocated, the memory a run needs
(saved times x series x runs x 8 bytes, and the step times) is compared with the memory
free, and a run that would not fit raises :class:`ResourceLimitError` with the numbers and
the fix. Adaptive methods refuse tolerances they could never meet and stop a run after
:data:`MAX_ADAPTIVE_STEPS` steps. After a run its saved values are checked in one pass of
numpy reductions: a run whose values include NaN, an infinity or a magnitude beyond
:data:`~sd_engine.guards.OVERFLOW` is *flagged* in its status (a stock becoming non-finite
during the run *fails* it, as before), and :func:`simulate` warns with
:class:`NonFiniteWarning`, naming the first variable and time.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy import integrate as scipy_integrate
from scipy.integrate import OdeSolution

from .backends import Backend, choose_backend, run_compiled, series_first
from .codegen import compile_program
from .errors import (
    NonFiniteStateError,
    SimulationError,
    SpecError,
    UnknownVariableError,
    UnsupportedError,
    did_you_mean,
)
from .expr import Call, Ref, Table, canonical
from .guards import (
    OVERFLOW,
    NonFiniteWarning,
    ResourceLimitError,
    available_memory,
    check_memory,
    flag_values,
    warn_if_not_ok,
)
from .interpret import Interpreter, interpreted
from .program import Program, ProgramLike, as_program
from .progress import QUIET_VARIABLE
from .results import Results, RunStatus, empty_record
from .run_setup import program_defaults, time_axes, tidy_times
from .scalar import scalar_path
from .solvers import ADAPTIVE_METHODS, METHODS, RK2, RK4, SOLVERS, AbstractSolver, Euler
from .spec import LookupTable

__all__ = [
    "AbstractSolver",
    "Euler",
    "RK2",
    "RK4",
    "SOLVERS",
    "ADAPTIVE_METHODS",
    "METHODS",
    "simulate",
    "simulate_results",
    "Inputs",
    "bind_inputs",
    "is_time_series",
    "with_time_series",
    "OVERFLOW",
    "MAX_ADAPTIVE_STEPS",
    "MIN_RTOL",
    "ResourceLimitError",
    "NonFiniteWarning",
    "available_memory",
    "warn_if_not_ok",
]

#: An adaptive run that needs more steps than this stops, failed: a tolerance it can hardly
#: meet or a stiff model would otherwise keep it going for hours.
MAX_ADAPTIVE_STEPS = 500_000
#: The tightest relative tolerance the adaptive methods accept: scipy raises anything below
#: 100 machine epsilons (2.2e-14) to that floor, where steps shrink without end.
MIN_RTOL = 1e-12



# ---------------------------------------------------------------------------------------------
def simulate(model: ProgramLike, params: Mapping[str, Any] | None = None, **kwargs: Any) -> xr.Dataset:
    """Simulate `model` and return an :class:`xarray.Dataset` (see ``CompiledModel.run``).

    Constants or auxiliaries given in `params` as time series (:func:`with_time_series`) run
    a copy of the program with those variables replaced. Runs that failed (marked, not
    raised) or were flagged are reported with a :class:`NonFiniteWarning`.
    """
    program, params = with_time_series(as_program(model), params or {})
    results = simulate_results(program, params=params, **kwargs)
    # Two levels up: past CompiledModel.run to the caller's line.
    labels = results.labels
    if labels.count("ok") < len(labels):
        warn_if_not_ok(labels, stacklevel=3)
    return results.to_dataset()


def simulate_results(
    model: ProgramLike,
    *,
    params: Mapping[str, Any] | None = None,
    initial_time: float | None = None,
    final_time: float | None = None,
    dt: float | None = None,
    saveper: float | None = None,
    method: str | None = None,
    seed: int | Sequence[int] | None = None,
    errors: Literal["raise", "mark"] | None = None,
    progress: bool = False,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    backend: Backend | str = "auto",
) -> Results:
    """Simulate `model` (a program, or a compiled model) and return the flat
    :class:`~sd_engine.results.Results`; `backend` as :mod:`sd_engine.backends` says."""
    program = as_program(model)
    time = program.spec.time
    t0 = time.initial_time if initial_time is None else float(initial_time)
    t1 = time.final_time if final_time is None else float(final_time)
    h = time.dt if dt is None else float(dt)
    save = (time.saveper or h) if saveper is None else float(saveper)
    method = method or time.method
    if not isinstance(method, str) or method.lower() not in METHODS:
        method = str(method)
        raise SpecError(f"Unknown integration method `{method}`." + did_you_mean(method.lower(), METHODS)
                        + f" Choose one of {', '.join(METHODS)}.")
    method = method.lower()
    if errors not in (None, "raise", "mark"):
        raise SpecError(f"`errors` must be \"raise\" or \"mark\", not {errors!r}.")
    for label, value in (("dt", h), ("saveper", save)):
        if not (math.isfinite(value) and value > 0):
            raise SpecError(f"`{label}` must be a positive number, not {value}.")
    for label, value in (("initial_time", t0), ("final_time", t1)):
        if not math.isfinite(value):
            raise SpecError(f"`{label}` must be a finite number, not {value}.")
    if t1 < t0:
        raise SpecError(f"`final_time` ({t1}) must not be before `initial_time` ({t0}).")
    if method in ADAPTIVE_METHODS:
        for label, value, low in (("rtol", rtol, MIN_RTOL), ("atol", atol, 0.0)):
            if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and low <= value < 1):
                raise SpecError(
                    f"`{label}` of the adaptive method `{method}` must be a number from {low:g} to below 1, not "
                    f"{value!r}: a tighter tolerance than the arithmetic can meet makes the solver step without end."
                )
    # Vensim's semantics: steps of exactly `dt` from `initial_time`, the last one at or
    # before `final_time` (a final time between two steps is not reached). The tolerance
    # keeps a final time that is a multiple of dt in decimal but not in binary.
    span = (t1 - t0) / h
    n_steps = int(math.floor(span + 1e-9 * max(1.0, span)))
    # Control variables given by equations (Vensim), unless the call sets them itself.
    given = {"final_time": final_time, "dt": dt, "saveper": saveper}
    controls = {setting: key for setting, key in time.controls if given[setting] is None}
    if controls and method in ADAPTIVE_METHODS:
        raise UnsupportedError(
            f"`{program.lowered[next(iter(controls.values()))].name}` changes during the run, which the adaptive "
            f"method `{method}` cannot follow; use a fixed-step method (euler, rk2, rk4)."
        )
    why = (f"the method `{method}` is adaptive (scipy's), not a fixed step" if method in ADAPTIVE_METHODS else
           "its FINAL TIME, TIME STEP or SAVEPER changes during the run" if controls else "")
    chosen = choose_backend(program, backend, method=method, fixed_step=not why, n_runs=_n_runs(program, params or {}),
                            n_steps=n_steps, why=why)
    if chosen == "interpreter" and not isinstance(program.evaluator, Interpreter):
        program = interpreted(program)
    inputs = bind_inputs(program, params or {})
    n = inputs.n_runs
    if errors is None:
        errors = "mark" if inputs.ensemble else "raise"
    seeds = _seeds(seed, n)
    if not controls:
        n_saved = min(n_steps + 1, int(math.floor(n_steps * h / save + 1e-9)) + 1)
        check_memory(program, n_steps, n_saved, n, method in ADAPTIVE_METHODS)
    step_times, times, rows = (a.copy() for a in time_axes(t0, h, n_steps, save))
    layout = program.layout
    # Stored series by series, then time, then run: each `out[:, j] = x` of the generated code
    # writes one contiguous row. The Results see (runs, times, series) through a view. Fixed
    # steps write every saved row of every run, so only the adaptive path needs a NaN fill.
    shape = (layout.n_series, len(times), n)
    if chosen == "numba" and not series_first(program, n, n_steps, method):
        # The compiled kernel writes run by run (each run's block contiguous), unless its lanes
        # driver runs the call, which writes as numpy does.
        record = empty_record((n, len(times), layout.n_series))
    else:
        record = (np.full(shape, np.nan) if method in ADAPTIVE_METHODS else empty_record(shape)).transpose(2, 1, 0)

    # Non-finite values are expected (a failing run) and reported per run, not as warnings.
    with np.errstate(all="ignore"):
        state = _State(program, inputs, seeds, t0, h, n_steps)
        largest = None
        if method in ADAPTIVE_METHODS:
            status = _run_adaptive(program, state, times, record, ADAPTIVE_METHODS[method], rtol, atol, h)
        elif controls:
            status, times, record = _run_controlled(program, state, SOLVERS[method](), t0, t1, h, save, controls)
        elif chosen == "numba":
            status, largest = _run_compiled(program, state, method, step_times, rows, record, progress)
        else:
            status = _run_fixed(program, state, SOLVERS[method](), step_times, rows, record, progress)
        statuses = flag_values(program, record, times, status, largest=largest)
    if errors == "raise":
        for i, st in enumerate(statuses):
            if st.failed:
                where = f"at time {st.time:g} in run {i}{_describe_run(inputs, i)}"
                if st.reason:
                    raise SimulationError(
                        f"Stock `{st.variable}` {st.reason} {where}. Check the equations that feed it for "
                        "division by zero or runaway growth, or use a fixed-step method."
                    )
                raise NonFiniteStateError(
                    f"Stock `{st.variable}` became {st.value} {where}. Check the equations that feed it for "
                    "division by zero or runaway growth, or reduce `dt`.",
                    variable=st.variable, run=i, time=st.time,
                )
    return Results(
        program=program,
        data=record,
        times=times,
        constants=inputs.values,
        lookups=inputs.tables,
        ensemble=inputs.ensemble,
        status=statuses,
        method=method,
        dt=h,
        seeds=seeds if len(state.random) else None,
        overrides=inputs.overridden,
        backend=chosen,
    )


def _describe_run(inputs: Inputs, i: int) -> str:
    if not inputs.ensemble or not inputs.overridden:
        return ""
    parts = [f"{inputs.names[k]}={float(np.asarray(inputs.values[k])[i].ravel()[0]):g}"
             for k in inputs.overridden if k in inputs.values and inputs.values[k][i].size == 1]
    return " (" + ", ".join(parts[:4]) + ")" if parts else ""


def _seeds(seed: int | Sequence[int] | None, n: int) -> np.ndarray:
    if seed is None:
        seed = 0
    arr = np.asarray(seed, dtype=np.int64)
    if arr.ndim == 0:
        return int(arr) + np.arange(n, dtype=np.int64)
    if arr.shape != (n,):
        raise SpecError(f"`seed` must be one integer or one per run ({n}), not {arr.shape[0]} values.")
    return arr


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Inputs:
    """The inputs of one simulate call bound to a program's layout, the run axis resolved.

    Attributes
    ----------
    program : Program
        The program the inputs are for.
    n_runs : int
        Runs the call simulates.
    ensemble : bool
        Whether a parameter gave one value per run (the results then have a ``run`` axis).
    overrides : mapping
        Parameters the call sets (canonical name -> the value given, as an array).
    tables : mapping
        Every lookup's ``(xs, ys)``: given by the call, or the model's own.
    overridden : tuple of str
        Canonical names of the parameters and lookups the call sets.
    per_run : tuple of str
        Canonical names of the parameters given one value per run.
    """

    program: Program = field(repr=False)
    n_runs: int
    ensemble: bool
    overrides: Mapping[str, np.ndarray]
    tables: Mapping[str, tuple[np.ndarray, np.ndarray]]
    overridden: tuple[str, ...]
    per_run: tuple[str, ...]

    @property
    def names(self) -> dict[str, str]:
        """Display names of the overridden parameters and lookups, by canonical name."""
        return {k: self.program.lowered[k].name for k in self.overridden}

    @cached_property
    def values(self) -> dict[str, np.ndarray]:
        """Every constant's values for every run, ``(runs, *shape)``, by canonical name."""
        values: dict[str, np.ndarray] = {}
        defaults = program_defaults(self.program)
        # The scalar constants are the rows of one block, filled from the model's values in one
        # pass (a large model has hundreds; an array each cost more than a compiled run).
        block = self.scalars
        i = 0
        for slot, base in zip(self.program.layout.constants, defaults.arrays):
            if not slot.shape:
                values[slot.key] = block[i]
                i += 1
                continue
            if slot.key in self.overrides:
                base = self.overrides[slot.key]
            values[slot.key] = np.ascontiguousarray(np.broadcast_to(base, (self.n_runs,) + slot.shape), dtype=float)
        return values

    @cached_property
    def scalars(self) -> np.ndarray:
        """The scalar constants' values ``(constants, runs)``, in layout order."""
        defaults = program_defaults(self.program)
        block = np.empty((len(defaults.scalars), self.n_runs))
        block[:] = defaults.scalars[:, None]
        for key, value in self.overrides.items():
            row = defaults.rows.get(key)
            if row is not None:
                block[row] = value
        return block

    @cached_property
    def matrix(self) -> np.ndarray | None:
        """Every constant's value ``(runs, constants)`` in layout order, when all are scalars
        (the compiled kernel's input), else None."""
        defaults = program_defaults(self.program)
        if len(defaults.scalars) != len(defaults.arrays):
            return None
        return np.ascontiguousarray(self.scalars.T)

    @cached_property
    def c(self) -> list[Any]:
        """The evaluator's inputs: constants in layout order, then lookup tables."""
        values = self.values
        layout = self.program.layout
        return [values[s.key] for s in layout.constants] + [self.tables[k] for k in layout.lookups]


def bind_inputs(model: ProgramLike, params: Mapping[str, Any]) -> Inputs:
    """Bind parameter values and lookup tables to `model`'s inputs and resolve the run axis.

    A scalar applies to every run; an array of a constant's own shape too. An array with one
    more (leading) axis gives one value per run, and all such arrays must agree on the
    number of runs. A lookup takes a new table as points
    (:meth:`~sd_engine.LookupTable.from_points`). Names are display or canonical names.

    Raises
    ------
    UnknownVariableError
        A name that is not a parameter (with the closest names).
    SpecError
        A value that is not finite, of the wrong shape, for a variable that cannot be set,
        or arrays that make ensembles of different sizes.

    Examples
    --------
    >>> import sd_engine as sd
    >>> inputs = bind_inputs(sd.load("teacup"), {"Characteristic Time": [5.0, 10.0, 20.0]})
    >>> inputs.n_runs, inputs.ensemble, inputs.per_run
    (3, True, ('characteristic_time',))
    """
    program = as_program(model)
    layout = program.layout
    lowered = program.lowered
    constants = {s.key: s for s in layout.constants}
    overrides: dict[str, np.ndarray] = {}
    tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    given = {canonical(name) for name in params}
    for name, value in params.items():
        key = canonical(name)
        if key in constants:
            overrides[key] = np.asarray(value, dtype=float)
            if not np.all(np.isfinite(overrides[key])):
                raise SpecError(f"Parameter `{name}` must be finite; got {value!r}.")
        elif key in layout.lookups:
            tables[key] = _table(name, value)
        elif key in program.spec:
            var = program.spec[key]
            what = (f"a constant computed from other variables (`{var.equation_text}`)"
                    if var.kind == "constant" else
                    f"{'an' if var.kind == 'aux' else 'a'} {var.kind}, not a constant")
            raise SpecError(
                f"`{var.name}` is {what}, so it cannot be set; set the constants its equation uses "
                "instead."
            )
        else:
            settable = [k for k in list(constants) + list(layout.lookups) if not lowered[k].internal]
            names = {lowered[k].name: k for k in settable}
            # Match display names and canonical names, but suggest each parameter once.
            suggestion = did_you_mean(canonical(name), list(names.values()))
            for display, key_ in names.items():
                suggestion = suggestion.replace(f"`{key_}`", f"`{display}`")
            raise UnknownVariableError(f"Model `{program.spec.name}` has no parameter `{name}`." + suggestion)
    # The run axis: one value per run for scalars given as 1-D arrays; arrayed constants
    # take an extra leading axis.
    n_runs, ensemble, first = 1, False, ""
    per_run: list[str] = []
    for key, value in overrides.items():
        shape = constants[key].shape
        if value.ndim == len(shape) + 1:
            if ensemble and value.shape[0] != n_runs:
                raise SpecError(
                    f"Parameter arrays make ensembles of different sizes: `{first}` has {n_runs} runs "
                    f"and `{lowered[key].name}` has {value.shape[0]}; give every array the same "
                    "length."
                )
            if value.shape[0] == 0:
                raise SpecError(f"Parameter `{lowered[key].name}` is an empty array; give one "
                                "value per run.")
            n_runs, ensemble, first = value.shape[0], True, first or lowered[key].name
            per_run.append(key)
        elif value.shape != shape and value.ndim != 0:
            raise SpecError(
                f"Parameter `{lowered[key].name}` has shape {value.shape}; expected a scalar, "
                f"{shape or 'a number'} for all runs, or (runs,{' ' if shape else ''}{', '.join(map(str, shape))})."
            )
    own = program_defaults(program).tables
    for key in layout.lookups:
        if key not in tables:
            tables[key] = own[key]
    overridden = tuple(overrides) + tuple(k for k in tables if k in given)
    return Inputs(program, n_runs, ensemble, overrides, tables, overridden, tuple(per_run))


def is_time_series(value: Any) -> bool:
    """Whether a parameter value is a time series: a pandas Series, or a DataArray over ``time``."""
    return isinstance(value, pd.Series) or (isinstance(value, xr.DataArray) and value.dims == ("time",))


def with_time_series(program: Program, params: Mapping[str, Any]) -> tuple[Program, dict[str, Any]]:
    """Replace the constants or auxiliaries given in `params` as time series by a lookup of time.

    A pandas Series (or a DataArray over ``time``) indexed by model time becomes the
    variable's equation ``with_lookup(time, series)``: interpolated between its points and
    held beyond them. Returns the program to run -- a recompiled copy (evaluated as `program`
    is) when there are such series, `program` itself otherwise -- and the other parameters.
    A series given for a lookup is that lookup's new table, one of the other parameters.
    """
    spec = program.spec
    series = {k: v for k, v in params.items()
              if is_time_series(v) and not (k in spec and spec[k].kind == "lookup")}
    if not series:
        return program, dict(params)
    replaced = {}
    for name, value in series.items():
        var = spec[name]
        if var.kind not in ("constant", "aux") or var.dims:
            raise SpecError(
                f"`{var.name}` is a{'n arrayed' if var.dims else ''} {var.kind}; only scalar constants and "
                "auxiliaries can be replaced by a time series."
            )
        xs = np.asarray(value.index if hasattr(value, "index") else value["time"], dtype=float)
        ys = np.asarray(value.values, dtype=float).ravel()
        if xs.ndim != 1 or len(xs) != len(ys) or not len(xs) or not np.all(np.isfinite(xs)) \
                or not np.all(np.isfinite(ys)) or np.any(np.diff(xs) < 0):
            raise SpecError(
                f"The time series for `{var.name}` needs finite values at increasing, finite model times."
            )
        equation = Call("with_lookup", (Ref("time"), Table(tuple(xs.tolist()), tuple(ys.tolist()))))
        replaced[var.canonical] = dataclasses.replace(
            var, kind="aux", equation=equation, values=None, text="time series given to run()",
            init_equation=None,
        )
    variables = tuple(replaced.get(v.canonical, v) for v in spec.variables)
    recompiled = compile_program(dataclasses.replace(spec, variables=variables))
    if isinstance(program.evaluator, Interpreter):
        recompiled = interpreted(recompiled)
    return recompiled, {k: v for k, v in params.items() if k not in series}


def _table(name: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
    table = LookupTable.from_points(value, name=name)  # the same rules as declaring the lookup
    return np.asarray(table.xs, dtype=float), np.asarray(table.ys, dtype=float)


# ---------------------------------------------------------------------------------------------
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a counter-based generator, so draw k of run i depends only on
    (seed_i, stream, k) -- identical in a single run and in any ensemble -- and needs no
    per-run generator objects inside the step loop."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class _State:
    """Everything that changes during a run: stocks ``y``, discrete states ``z``, pipelines."""

    def __init__(self, program: Program, inputs: Inputs, seeds: np.ndarray, t0: float, h: float,
                 n_steps: int) -> None:
        layout = program.layout
        n = inputs.n_runs
        self.c = inputs.c
        self.inputs = inputs
        self.t0, self.h = t0, h
        # Column-major, so the generated code's per-stock views `y[:, j]` are contiguous.
        self.y = np.zeros((n, layout.n_stocks), order="F")
        self.z = np.zeros((n, layout.n_states))
        cols = {u: np.concatenate([np.arange(s.start, s.stop) for s in layout.states if s.update == u] or
                                  [np.zeros(0, dtype=int)]) for u in ("discrete", "pipeline", "random")}
        self.discrete, self.pipes, self.random = cols["discrete"], cols["pipeline"], cols["random"]
        if len(self.random):
            seeds_u = seeds.astype(np.uint64)
            streams = []
            for s in layout.states:
                if s.update == "random":
                    fn_seed = program.lowered[s.key].equation.value  # type: ignore[union-attr]
                    streams += [zlib.crc32(f"{s.key}:{fn_seed}:{e}".encode()) for e in range(s.size)]
            with np.errstate(over="ignore"):
                self.keys = _mix(_mix(seeds_u[:, None] * _GOLDEN) ^ np.asarray(streams, dtype=np.uint64)[None, :])
            self.z[:, self.random] = self.draw(0)
        delay = np.zeros((n, len(self.pipes)))
        program.evaluator.initialize(np.float64(t0), self.c, np.float64(h), self.y, self.z, delay)
        if len(self.pipes):
            bad = ~np.isfinite(delay) | (delay < 0)
            if bad.any():
                run, col = (int(v[0]) for v in np.nonzero(bad))
                pipes = [s for s in layout.states if s.update == "pipeline"]
                slot = pipes[int(np.searchsorted(np.cumsum([s.size for s in pipes]), col, side="right"))]
                owner = program.lowered[slot.key].owner or slot.name
                where = f" in run {run}" if n > 1 else ""
                raise SpecError(
                    f"The delay time of `delay_fixed` in `{owner}` is {delay[run, col]:g}{where}; it must be a "
                    "finite, non-negative number."
                )
            # Whole steps, halves rounded up as Vensim does (rint alone would round 2.5 to 2).
            self.length = np.maximum(1, np.floor(delay / h + 0.5 + 1e-9)).astype(np.intp)
            self.buffer = np.repeat(self.z[:, self.pipes][:, :, None], int(self.length.max()), axis=2)
            self.pointer = np.zeros_like(self.length)
            self.rows = np.arange(n)[:, None]
            self.cols = np.arange(len(self.pipes))[None, :]

    def draw(self, k: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            bits = _mix(self.keys + np.uint64(k + 1) * _GOLDEN)
        return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)

    def advance_discrete(self, zn: np.ndarray, k: int) -> None:
        """Move discrete states on after step k: samples, pipelines, then fresh draws."""
        if len(self.discrete):
            self.z[:, self.discrete] = zn[:, self.discrete]
        if len(self.pipes):
            self.buffer[self.rows, self.cols, self.pointer] = zn[:, self.pipes]
            self.pointer = (self.pointer + 1) % self.length
            self.z[:, self.pipes] = self.buffer[self.rows, self.cols, self.pointer]
        if len(self.random):
            self.z[:, self.random] = self.draw(k + 1)


def _first_failure(program: Program, y: np.ndarray, t: float, status: list[RunStatus],
                   alive: np.ndarray) -> None:
    bad = alive & ~np.isfinite(y).all(axis=1)
    for run in np.flatnonzero(bad):
        col = int(np.flatnonzero(~np.isfinite(y[run]))[0])
        slot = next(s for s in program.layout.stocks if s.start <= col < s.stop)
        owner = program.lowered[slot.key].owner or slot.name
        status[run] = RunStatus(failed=True, time=t, variable=owner, value=str(y[run, col]))
        alive[run] = False


def _n_runs(program: Program, params: Mapping[str, Any]) -> int:
    """The runs a call makes, before its inputs are bound (the longest per-run array)."""
    constants = {s.key: len(s.shape) for s in program.layout.constants}
    sizes = [np.shape(v)[0] for k, v in params.items()
             if np.ndim(v) == constants.get(canonical(k), -2) + 1 and np.ndim(v) > 0]
    return max(sizes, default=1)


def _run_compiled(program: Program, state: _State, method: str, step_times: np.ndarray, rows: np.ndarray,
                  record: np.ndarray, progress: bool = False) -> tuple[list[RunStatus], np.ndarray]:
    """The fixed-step loop of :func:`_run_fixed` in the compiled kernel (:mod:`sd_engine.backends`);
    a progress bar fills when the kernel returns (it does not call back into Python per step).
    Returns the statuses and each run's largest saved magnitude (for :func:`flag_values`)."""
    bar = _progress(len(step_times) - 1, progress)
    n = state.y.shape[0]
    status = [RunStatus()] * n
    alive = np.ones(n, dtype=bool)
    if not np.isfinite(state.y).all():
        _first_failure(program, state.y, float(step_times[0]), status, alive)
    fail_step = np.where(alive, -1, 0).astype(np.int64)
    pipes = len(state.pipes)
    fail_col, fail_value, largest = run_compiled(
        program, times=step_times, rows=rows, h=state.h, method=method, y0=state.y, z0=state.z, c=state.c,
        record=record, keys=state.keys if len(state.random) else np.zeros((n, 0), dtype=np.uint64),
        plen=state.length if pipes else np.ones((n, 0), dtype=np.int64),
        pbuf=state.buffer if pipes else np.zeros((n, 0, 1)), disc=state.discrete, pipes=state.pipes,
        rand=state.random, fail_step=fail_step, matrix=state.inputs.matrix)
    if bar is not None:
        bar.update(len(step_times) - 1)
        bar.close()
    for run in np.flatnonzero(alive & (fail_step > 0)):
        slot = next(s for s in program.layout.stocks if s.start <= fail_col[run] < s.stop)
        owner = program.lowered[slot.key].owner or slot.name
        status[run] = RunStatus(failed=True, time=float(step_times[fail_step[run]]), variable=owner,
                                value=str(np.float64(fail_value[run])))
    return status, largest


def _run_fixed(program: Program, state: _State, solver: AbstractSolver, step_times: np.ndarray,
               rows: np.ndarray, record: np.ndarray, progress: bool) -> list[RunStatus]:
    evaluate = program.evaluator.evaluate
    n = state.y.shape[0]
    n_steps = len(step_times) - 1
    # Times as numpy scalars: an equation of time and numbers alone (`1 / (1 - time)`) then
    # divides by zero into inf, marked as a failure, instead of raising ZeroDivisionError.
    c, h = state.c, np.float64(state.h)
    y, z = state.y, state.z
    dy = np.empty_like(y)
    zn = np.empty_like(z)
    scratch_zn = np.empty_like(z)
    status = [RunStatus()] * n  # one shared (frozen) "ok"; failures replace their entry
    alive = np.ones(n, dtype=bool)
    if not np.isfinite(y).all():  # an initial value is already NaN or infinite
        _first_failure(program, y, float(step_times[0]), status, alive)

    def rhs(t: float, yy: np.ndarray) -> np.ndarray:
        out = np.empty_like(yy)
        evaluate(t, yy, z, c, h, out, scratch_zn, None)
        return out

    # One run: equations over Python floats (sd_engine.scalar, subscripts unrolled per element),
    # falling back to the array code for any step that needs numpy's inf/NaN semantics.
    scalar = scalar_path(program) if n == 1 else None
    if scalar is not None:
        array_evaluate, fast, cs = evaluate, scalar.evaluate, scalar.inputs(c)

        def evaluate(t: Any, y: np.ndarray, z: np.ndarray, c: Any, dt: Any, dy: np.ndarray, zn: np.ndarray,
                     out: np.ndarray | None) -> None:
            if not fast(t, y, z, cs, dt, dy, zn, out):
                array_evaluate(t, y, z, c, dt, dy, zn, out)

    bar = _progress(n_steps, progress)
    has_states = z.shape[1] > 0
    add_reduce = np.add.reduce
    for k in range(n_steps + 1):
        t = step_times[k]
        out = record[:, rows[k]] if rows[k] >= 0 else None
        evaluate(t, y, z, c, h, dy, zn, out)
        if k == n_steps:
            break
        y = solver.step(rhs, t, y, h, dy)
        if has_states:
            state.advance_discrete(zn, k)
        # One reduction instead of isfinite().all(): NaN and inf propagate through a sum. A sum
        # that merely overflows is checked element by element and finds nothing.
        if not math.isfinite(add_reduce(y, axis=None)) and alive.any():
            _first_failure(program, y, float(step_times[k + 1]), status, alive)
        if bar is not None and k % 100 == 0:
            bar.update(min(100, n_steps - k))
    if bar is not None:
        bar.close()
    return status


#: A run whose FINAL TIME keeps moving away stops with an error after this many steps.
MAX_CONTROLLED_STEPS = 10_000_000


def _run_controlled(program: Program, state: _State, solver: AbstractSolver, t0: float, t1: float, h: float,
                    save: float, controls: dict[str, str]) -> tuple[list[RunStatus], np.ndarray, np.ndarray]:
    """Fixed steps with Vensim's control variables read from the model at every step.

    At each step the equations are evaluated; the run stops once Time reaches the current
    FINAL TIME, the step is saved when Time reaches the next save time (the last one plus the
    current SAVEPER), and the next step is the current TIME STEP long. Runs of an ensemble
    must agree on these values at every step: one time axis cannot hold runs that end or save
    at different times, so that is refused rather than padded.
    """
    evaluate = program.evaluator.evaluate
    layout = program.layout
    n = state.y.shape[0]
    columns = {setting: next(s.start for s in layout.series if s.key == key) for setting, key in controls.items()}
    if "dt" in controls and len(state.pipes):
        raise UnsupportedError(
            f"`{program.lowered[controls['dt']].name}` changes during the run, and a DELAY FIXED (or another "
            "pipeline delay) counts its length in steps; give the time step as a number."
        )
    c, y, z = state.c, state.y, state.z
    dy, zn, scratch_zn = np.empty_like(y), np.empty_like(z), np.empty_like(z)
    status = [RunStatus()] * n
    alive = np.ones(n, dtype=bool)
    if not np.isfinite(y).all():
        _first_failure(program, y, t0, status, alive)
    step = np.float64(h)

    def rhs(t: float, yy: np.ndarray) -> np.ndarray:
        out_ = np.empty_like(yy)
        evaluate(t, yy, z, c, step, out_, scratch_zn, None)
        return out_

    def setting(name: str, out: np.ndarray, t: float, default: float) -> float:
        if name not in columns:
            return default
        values = out[:, columns[name]]
        if not (values == values[0]).all():
            raise UnsupportedError(
                f"`{program.lowered[controls[name]].name}` differs between the runs of the ensemble at time {t:g} "
                f"(from {np.nanmin(values):g} to {np.nanmax(values):g}); runs that end, save or step at different "
                "times cannot share one time axis. Run them one at a time."
            )
        value = float(values[0])
        if name != "final_time" and not (math.isfinite(value) and value > 0):
            raise SimulationError(f"`{program.lowered[controls[name]].name}` is {value:g} at time {t:g}; it must be a "
                                  "positive number.")
        return value

    times: list[float] = []
    rows: list[np.ndarray] = []
    t, next_save = np.float64(t0), t0
    for k in range(MAX_CONTROLLED_STEPS):
        out = np.empty((n, layout.n_series))
        evaluate(t, y, z, c, step, dy, zn, out)
        current = np.float64(setting("dt", out, float(t), h))
        if current != step:
            # TIME STEP changed at this time: equations that read it (SAVEPER = TIME STEP,
            # PULSE widths, outflow limits) see the new value, as in Vensim.
            step = current
            evaluate(t, y, z, c, step, dy, zn, out)
        tol = 1e-9 * max(1.0, abs(float(t)))
        final = setting("final_time", out, float(t), t1)
        if t >= next_save - tol:
            times.append(float(t))
            rows.append(out)
            interval = setting("saveper", out, float(t), save)
            while next_save <= t + tol:
                next_save += interval
        if t >= final - tol:
            break
        y = solver.step(rhs, t, y, step, dy)
        if z.shape[1] > 0:
            state.advance_discrete(zn, k)
        if not math.isfinite(np.add.reduce(y, axis=None)) and alive.any():
            _first_failure(program, y, float(t + step), status, alive)
        t = np.float64(tidy_times(float(t), float(step), 1)[1])
    else:
        raise SimulationError(
            f"The run did not reach its FINAL TIME in {MAX_CONTROLLED_STEPS} steps (time {float(t):g}); check the "
            "equations of FINAL TIME and TIME STEP."
        )
    return status, np.asarray(times), np.stack(rows, axis=1)


def _run_adaptive(program: Program, state: _State, times: np.ndarray, record: np.ndarray, scipy_method: str,
                  rtol: float, atol: float, h: float, max_steps: int | None = None) -> list[RunStatus]:
    """Integrate each run with scipy's embedded pair and record it at the saved `times`.

    Runs are integrated one at a time, each with its own step-size control: solving the
    stacked ensemble as one system would share one step sequence and one RMS error norm
    across runs, so one hard run's error would be diluted by the easy ones (missing
    `rtol`), one failing run would stop all, and an ensemble would not equal its runs.
    """
    stepper = getattr(scipy_integrate, scipy_method)
    max_steps = MAX_ADAPTIVE_STEPS if max_steps is None else max_steps
    if program.layout.n_states:
        names = ", ".join(f"`{program.lowered[s.key].owner or s.name}`" for s in program.layout.states[:3])
        raise UnsupportedError(
            f"Adaptive methods cannot integrate discrete states (DELAY FIXED, SAMPLE IF TRUE, INITIAL, "
            f"random draws) used in {names}; use a fixed-step method such as `rk4`."
        )
    evaluate = program.evaluator.evaluate
    n, m = state.y.shape
    status = [RunStatus()] * n  # one shared (frozen) "ok"; failures replace their entry
    alive = np.ones(n, dtype=bool)
    if not np.isfinite(state.y).all():
        _first_failure(program, state.y, float(times[0]), status, alive)
    ys = np.full((n, len(times), m), np.nan)
    for i in range(n):
        # This run's inputs: constants keep a run axis of length one; lookups are shared.
        c = [a[i:i + 1] if isinstance(a, np.ndarray) else a for a in state.c]
        z = state.z[i:i + 1]
        zn = np.empty_like(z)
        y0 = state.y[i].copy()
        if not alive[i]:
            ys[i, 0] = y0
            continue
        if m == 0 or times[-1] == times[0]:
            ys[i] = y0
            continue

        def fun(t: float, y: np.ndarray, c: list[Any] = c, z: np.ndarray = z, zn: np.ndarray = zn) -> np.ndarray:
            out = np.empty((1, m))
            evaluate(np.float64(t), y.reshape(1, m), z, c, np.float64(h), out, zn, None)
            return out[0]

        # scipy's stepper driven here rather than through solve_ivp, to cap the number of steps.
        solver = stepper(fun, times[0], y0, times[-1], rtol=rtol, atol=atol)
        ts: list[float] = [float(times[0])]
        pieces: list[Any] = []  # the dense output of each step
        message, capped = "", False
        while solver.status == "running":
            if len(pieces) >= max_steps:
                capped = True
                break
            message = solver.step() or ""
            if solver.status == "failed":
                break
            pieces.append(solver.dense_output())
            ts.append(float(solver.t))
        if pieces:
            # The saved times the solver reached, read from its dense output (as t_eval would).
            reached = int(np.searchsorted(times, ts[-1], side="right"))
            ys[i, :reached] = OdeSolution(ts, pieces)(times[:reached]).T
        ys[i, 0] = y0
        if capped or solver.status == "failed":
            # The step size collapsed (a rate became NaN or infinite, or grew without bound), or
            # the steps ran out: name the stock that changed fastest.
            t_fail, y_last = float(solver.t), np.asarray(solver.y)
            dy = fun(t_fail, y_last)
            with np.errstate(all="ignore"):
                steep = np.where(np.isfinite(dy), np.abs(dy) / (np.abs(y_last) + atol), np.inf)
            col = int(np.argmax(steep))
            slot = next(s for s in program.layout.stocks if s.start <= col < s.stop)
            variable = program.lowered[slot.key].owner or slot.name
            why = (f"needed more than {max_steps:,} steps (a stiff model, or `rtol` {rtol:g} too tight)" if capped
                   else message.rstrip("."))
            status[i] = RunStatus(
                failed=True, time=t_fail, variable=variable, value=str(dy[col]),
                reason=f"changed too fast for `{scipy_method.lower()}` (rate {dy[col]:g}; {why})",
            )
            alive[i] = False
    dy_all = np.empty((n, m))
    zn_all = np.empty_like(state.z)
    for j, t in enumerate(times):
        y = np.ascontiguousarray(ys[:, j])
        evaluate(t, y, state.z, state.c, np.float64(h), dy_all, zn_all, record[:, j])
        if not np.isfinite(y[alive]).all():
            _first_failure(program, y, float(t), status, alive)
    return status


def _progress(total: int, enabled: bool) -> Any:
    # The rules of sd_engine.progress: off under SDFLOW_QUIET (`sdflow --quiet`) and off when
    # stderr is not a terminal (`disable=None`), so logs and pipes get no bar.
    if not enabled or os.environ.get(QUIET_VARIABLE):
        return None
    from tqdm.auto import tqdm  # only when a bar is asked for: tqdm.auto may load the notebook widgets

    # `delay`: short runs finish before a bar would appear, so only long runs show one.
    return tqdm(total=total, unit="step", desc="simulating", leave=False, delay=0.5, disable=None)
