"""Numerical integration of compiled models, one run or a whole ensemble at once.

Fixed-step solvers follow Vensim's semantics exactly: at each time ``t = t0 + k*dt``
every auxiliary and flow is computed from the stocks, values are saved every
``saveper``, then stocks advance. Discrete states (SAMPLE IF TRUE, INITIAL,
DELAY FIXED pipelines, random draws) move once per step, after the stocks.
The adaptive method wraps scipy's embedded Runge-Kutta pair with error control.

Solvers are small objects with a ``step`` method; the step loop does no per-variable
Python work: one call of the generated ``evaluate`` per stage, vectorised over runs.
"""

from __future__ import annotations

import math
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import NonFiniteStateError, SpecError, UnknownVariableError, UnsupportedError, did_you_mean
from .expr import canonical
from .results import Results, RunStatus

if TYPE_CHECKING:
    import xarray as xr

    from .compile import CompiledModel

__all__ = [
    "AbstractSolver",
    "Euler",
    "RK2",
    "RK4",
    "SOLVERS",
    "ADAPTIVE_METHODS",
    "simulate",
    "simulate_results",
]

Rhs = Callable[[float, np.ndarray], np.ndarray]


class AbstractSolver(ABC):
    """A fixed-step explicit method: ``y(t + h)`` from ``y(t)`` and the first stage ``k1``."""

    name: str
    order: int

    @abstractmethod
    def step(self, rhs: Rhs, t: float, y: np.ndarray, h: float, k1: np.ndarray) -> np.ndarray: ...


class Euler(AbstractSolver):
    """Forward Euler, Vensim's default: ``y + h * f(t, y)``."""

    name, order = "euler", 1

    def step(self, rhs: Rhs, t: float, y: np.ndarray, h: float, k1: np.ndarray) -> np.ndarray:
        return y + h * k1


class RK2(AbstractSolver):
    """Heun's second-order method (the explicit trapezoid rule)."""

    name, order = "rk2", 2

    def step(self, rhs: Rhs, t: float, y: np.ndarray, h: float, k1: np.ndarray) -> np.ndarray:
        k2 = rhs(t + h, y + h * k1)
        return y + (h / 2) * (k1 + k2)


class RK4(AbstractSolver):
    """The classical fourth-order Runge-Kutta method."""

    name, order = "rk4", 4

    def step(self, rhs: Rhs, t: float, y: np.ndarray, h: float, k1: np.ndarray) -> np.ndarray:
        k2 = rhs(t + h / 2, y + (h / 2) * k1)
        k3 = rhs(t + h / 2, y + (h / 2) * k2)
        k4 = rhs(t + h, y + h * k3)
        return y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


SOLVERS: dict[str, type[AbstractSolver]] = {"euler": Euler, "rk2": RK2, "rk4": RK4}
#: Adaptive embedded Runge-Kutta pairs (scipy's implementations) with error control.
ADAPTIVE_METHODS = {"rk45": "RK45", "dop853": "DOP853"}
METHODS = tuple(SOLVERS) + tuple(ADAPTIVE_METHODS)


# ---------------------------------------------------------------------------------------------
def simulate(model: CompiledModel, **kwargs: Any) -> xr.Dataset:
    """Simulate `model` and return an :class:`xarray.Dataset` (see ``CompiledModel.run``)."""
    return simulate_results(model, **kwargs).to_dataset()


def simulate_results(
    model: CompiledModel,
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
) -> Results:
    """Simulate `model` and return the flat :class:`~sd_engine.results.Results`."""
    time = model.spec.time
    t0 = time.initial_time if initial_time is None else float(initial_time)
    t1 = time.final_time if final_time is None else float(final_time)
    h = time.dt if dt is None else float(dt)
    save = (time.saveper or h) if saveper is None else float(saveper)
    method = (method or time.method).lower()
    if method not in METHODS:
        raise SpecError(f"Unknown integration method `{method}`." + did_you_mean(method, METHODS)
                        + f" Choose one of {', '.join(METHODS)}.")
    for label, value in (("dt", h), ("saveper", save)):
        if not (math.isfinite(value) and value > 0):
            raise SpecError(f"`{label}` must be a positive number, not {value}.")
    if not (math.isfinite(t0) and math.isfinite(t1)) or t1 < t0:
        raise SpecError(f"`final_time` ({t1}) must not be before `initial_time` ({t0}).")
    n_steps = int(math.floor((t1 - t0) / h + 1e-9))
    ratio = save / h
    every = max(1, round(ratio))
    if abs(ratio - every) > 1e-9 * max(1.0, ratio):
        raise SpecError(
            f"`saveper` ({save}) must be a whole multiple of `dt` ({h}); for example saveper={every * h}."
        )
    inputs = _Inputs.build(model, params or {})
    n = inputs.n_runs
    if errors is None:
        errors = "mark" if inputs.ensemble else "raise"
    seeds = _seeds(seed, n)
    state = _State(model, inputs, seeds, t0, h, n_steps)

    save_steps = np.arange(0, n_steps + 1, every)
    times = t0 + save_steps * h
    layout = model.layout
    record = np.full((n, len(times), layout.n_series), np.nan)

    with np.errstate(all="ignore"):
        if method in ADAPTIVE_METHODS:
            status = _run_adaptive(model, state, times, record, ADAPTIVE_METHODS[method], rtol, atol, h)
        else:
            status = _run_fixed(model, state, SOLVERS[method](), n_steps, every, record, progress)
    statuses = tuple(status)
    if errors == "raise":
        for i, st in enumerate(statuses):
            if st.failed:
                raise NonFiniteStateError(
                    f"Stock `{st.variable}` became {st.value} at time {st.time:g} in run {i}"
                    f"{_describe_run(inputs, i)}. Check the equations that feed it for division by "
                    "zero or runaway growth, or reduce `dt`.",
                    variable=st.variable, run=i, time=st.time,
                )
    return Results(
        model=model,
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
    )


def _describe_run(inputs: _Inputs, i: int) -> str:
    if not inputs.ensemble or not inputs.overridden:
        return ""
    parts = [f"{k}={float(np.asarray(inputs.values[k])[i].ravel()[0]):g}" for k in inputs.overridden]
    return " (" + ", ".join(parts[:4]) + ")"


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
class _Inputs:
    """Parameter arrays ``c`` for one simulate call, with the run axis resolved."""

    def __init__(self, n_runs: int, ensemble: bool, values: dict[str, np.ndarray],
                 tables: dict[str, tuple[np.ndarray, np.ndarray]], c: list[Any], overridden: tuple[str, ...]):
        self.n_runs, self.ensemble, self.values, self.tables, self.c = n_runs, ensemble, values, tables, c
        self.overridden = overridden

    @classmethod
    def build(cls, model: CompiledModel, params: Mapping[str, Any]) -> _Inputs:
        layout = model.layout
        constants = {s.key: s for s in layout.constants}
        overrides: dict[str, np.ndarray] = {}
        tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, value in params.items():
            key = canonical(name)
            if key in constants:
                overrides[key] = np.asarray(value, dtype=float)
                if not np.all(np.isfinite(overrides[key])):
                    raise SpecError(f"Parameter `{name}` must be finite; got {value!r}.")
            elif key in layout.lookups:
                tables[key] = _table(name, value)
            elif key in model.lowered:
                var = model.lowered[key]
                raise SpecError(
                    f"`{var.name}` is a {var.kind}, not a constant, so it cannot be set; set the constants "
                    "its equation uses instead."
                )
            else:
                candidates = [model.lowered[k].name for k in list(constants) + list(layout.lookups)]
                raise UnknownVariableError(
                    f"Model `{model.spec.name}` has no parameter `{name}`."
                    + did_you_mean(name, candidates + list(constants))
                )
        # The run axis: one value per run for scalars given as 1-D arrays; arrayed constants
        # take an extra leading axis.
        n_runs, ensemble = 1, False
        for key, value in overrides.items():
            shape = constants[key].shape
            if value.ndim == len(shape) + 1:
                if ensemble and value.shape[0] != n_runs:
                    raise SpecError(
                        f"Parameter arrays make runs of different lengths ({n_runs} and {value.shape[0]} for "
                        f"`{model.lowered[key].name}`); give every array the same length."
                    )
                n_runs, ensemble = value.shape[0], True
            elif value.shape != shape and value.ndim != 0:
                raise SpecError(
                    f"Parameter `{model.lowered[key].name}` has shape {value.shape}; expected a scalar, "
                    f"{shape or 'a number'} for all runs, or (runs,{' ' if shape else ''}{', '.join(map(str, shape))})."
                )
        values: dict[str, np.ndarray] = {}
        c: list[Any] = []
        for slot in layout.constants:
            var = model.lowered[slot.key]
            if slot.key in overrides:
                base = overrides[slot.key]
            elif var.values is not None:
                base = np.asarray(var.values, dtype=float).reshape(slot.shape)
            else:
                base = np.asarray(var.equation.value, dtype=float)  # type: ignore[union-attr]
            arr = np.ascontiguousarray(np.broadcast_to(base, (n_runs,) + slot.shape), dtype=float)
            values[slot.key] = arr
            c.append(arr)
        for key in layout.lookups:
            if key not in tables:
                table = model.lowered[key].lookup
                assert table is not None
                tables[key] = (np.asarray(table.xs, dtype=float), np.asarray(table.ys, dtype=float))
            c.append(tables[key])
        return cls(n_runs, ensemble, values, tables, c, tuple(overrides) + tuple(k for k in params if canonical(k) in tables))


def _table(name: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] != 2:
        xs, ys = arr[:, 0], arr[:, 1]
    elif arr.ndim == 2 and arr.shape[0] == 2:
        xs, ys = arr[0], arr[1]
    else:
        raise SpecError(f"Lookup `{name}` must be given as (xs, ys) or a sequence of (x, y) pairs.")
    if np.any(np.diff(xs) < 0) or not np.all(np.isfinite(arr)):
        raise SpecError(f"Lookup `{name}` needs finite points with increasing x.")
    return np.ascontiguousarray(xs), np.ascontiguousarray(ys)


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

    def __init__(self, model: CompiledModel, inputs: _Inputs, seeds: np.ndarray, t0: float, h: float,
                 n_steps: int) -> None:
        layout = model.layout
        n = inputs.n_runs
        self.c = inputs.c
        self.t0, self.h = t0, h
        self.y = np.zeros((n, layout.n_stocks))
        self.z = np.zeros((n, layout.n_states))
        cols = {u: np.concatenate([np.arange(s.start, s.stop) for s in layout.states if s.update == u] or
                                  [np.zeros(0, dtype=int)]) for u in ("discrete", "pipeline", "random")}
        self.discrete, self.pipes, self.random = cols["discrete"], cols["pipeline"], cols["random"]
        if len(self.random):
            seeds_u = seeds.astype(np.uint64)
            streams = []
            for s in layout.states:
                if s.update == "random":
                    fn_seed = model.lowered[s.key].equation.value  # type: ignore[union-attr]
                    streams += [zlib.crc32(f"{s.key}:{fn_seed}:{e}".encode()) for e in range(s.size)]
            with np.errstate(over="ignore"):
                self.keys = _mix(_mix(seeds_u[:, None] * _GOLDEN) ^ np.asarray(streams, dtype=np.uint64)[None, :])
            self.z[:, self.random] = self.draw(0)
        delay = np.zeros((n, len(self.pipes)))
        model.initialize(t0, self.c, h, self.y, self.z, delay)
        if len(self.pipes):
            if np.any(~np.isfinite(delay)) or np.any(delay < 0):
                raise SpecError("The delay time of a `delay_fixed` must be a finite, non-negative number.")
            self.length = np.maximum(1, np.rint(delay / h)).astype(np.intp)
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


def _first_failure(model: CompiledModel, y: np.ndarray, t: float, status: list[RunStatus],
                   alive: np.ndarray) -> None:
    bad = alive & ~np.isfinite(y).all(axis=1)
    for run in np.flatnonzero(bad):
        col = int(np.flatnonzero(~np.isfinite(y[run]))[0])
        slot = next(s for s in model.layout.stocks if s.start <= col < s.stop)
        owner = slot.name if not slot.internal else model.lowered[slot.key].source.split("`")[1]
        status[run] = RunStatus(failed=True, time=t, variable=owner, value=str(y[run, col]))
        alive[run] = False


def _run_fixed(model: CompiledModel, state: _State, solver: AbstractSolver, n_steps: int, every: int,
               record: np.ndarray, progress: bool) -> list[RunStatus]:
    evaluate = model.evaluate
    n = state.y.shape[0]
    c, h, t0 = state.c, state.h, state.t0
    y, z = state.y, state.z
    dy = np.empty_like(y)
    zn = np.empty_like(z)
    scratch_zn = np.empty_like(z)
    status = [RunStatus() for _ in range(n)]
    alive = np.ones(n, dtype=bool)

    def rhs(t: float, yy: np.ndarray) -> np.ndarray:
        out = np.empty_like(yy)
        evaluate(t, yy, z, c, h, out, scratch_zn, None)
        return out

    bar = _progress(n_steps, progress)
    for k in range(n_steps + 1):
        t = t0 + k * h
        out = record[:, k // every] if k % every == 0 else None
        evaluate(t, y, z, c, h, dy, zn, out)
        if k == n_steps:
            break
        y = solver.step(rhs, t, y, h, dy)
        state.advance_discrete(zn, k)
        if not np.isfinite(y).all():
            _first_failure(model, y, t + h, status, alive)
        if bar is not None and k % 100 == 0:
            bar.update(min(100, n_steps - k))
    if bar is not None:
        bar.close()
    return status


def _run_adaptive(model: CompiledModel, state: _State, times: np.ndarray, record: np.ndarray, scipy_method: str,
                  rtol: float, atol: float, h: float) -> list[RunStatus]:
    from scipy.integrate import solve_ivp

    if model.layout.n_states:
        names = ", ".join(f"`{model.lowered[s.key].source.split('`')[1]}`" for s in model.layout.states[:3])
        raise UnsupportedError(
            f"Adaptive methods cannot integrate discrete states (DELAY FIXED, SAMPLE IF TRUE, INITIAL, "
            f"random draws) used in {names}; use a fixed-step method such as `rk4`."
        )
    evaluate = model.evaluate
    n, m = state.y.shape
    c, z = state.c, state.z
    zn = np.empty_like(z)
    status = [RunStatus() for _ in range(n)]

    def fun(t: float, flat: np.ndarray) -> np.ndarray:
        out = np.empty((n, m))
        evaluate(t, flat.reshape(n, m), z, c, h, out, zn, None)
        return out.ravel()

    y0 = state.y.ravel()
    if m == 0 or times[-1] == times[0]:
        ys = np.repeat(y0[:, None], len(times), axis=1)
    else:
        sol = solve_ivp(fun, (times[0], times[-1]), y0, method=scipy_method, t_eval=times, rtol=rtol, atol=atol)
        if sol.status < 0 or sol.y.shape[1] != len(times):
            failed_at = float(sol.t[-1]) if len(sol.t) else float(times[0])
            for i in range(n):
                status[i] = RunStatus(failed=True, time=failed_at, variable="(solver)", value=sol.message)
            ys = np.full((n * m, len(times)), np.nan)
            ys[:, : sol.y.shape[1]] = sol.y
        else:
            ys = sol.y
    dy = np.empty((n, m))
    alive = np.ones(n, dtype=bool)
    for j, t in enumerate(times):
        y = ys[:, j].reshape(n, m)
        evaluate(float(t), y, z, c, h, dy, zn, record[:, j])
        if not np.isfinite(y).all():
            _first_failure(model, y, float(t), status, alive)
    return status


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", desc="simulating", leave=False)
