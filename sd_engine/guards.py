"""Guards around a simulation: memory estimated before allocating, values checked after.

:func:`check_memory` compares what a run will allocate (saved times x series x runs x 8
bytes, twice, and the step times) with the memory free and raises
:class:`ResourceLimitError` with the numbers and the fix. :func:`flag_values` checks a
finished run's saved values in one pass of numpy reductions and flags each run holding NaN,
an infinity or a magnitude beyond :data:`OVERFLOW`, naming the first variable and time;
:func:`warn_if_not_ok` turns the statuses into one :class:`NonFiniteWarning`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SimulationError
from .results import RunStatus

if TYPE_CHECKING:
    from .program import Program

__all__ = [
    "OVERFLOW",
    "ResourceLimitError",
    "NonFiniteWarning",
    "available_memory",
    "check_memory",
    "flag_values",
    "warn_if_not_ok",
]

#: A saved value beyond this magnitude flags its run. It lies far above Vensim's conventional
#: "infinity" (1e38; its :NA: is -1e38) and any quantity a model of people, money or time
#: measures, while an explicit method gone unstable (each step multiplying the error by -9,
#: say) passes it within a few dozen steps, long before it overflows to inf near 1.8e308.
OVERFLOW = 1e50

#: Runs needing less memory than this are not checked against the memory free.
_SMALL = 64 * 2**20


class ResourceLimitError(SimulationError, MemoryError):
    """A simulation would need more memory than the machine has free."""


class NonFiniteWarning(UserWarning):
    """Runs finished with values NaN, infinite or beyond :data:`~sd_engine.guards.OVERFLOW`, or failed; their
    status (``run_status``, or the ``status`` attribute of a single run) says where."""


def available_memory() -> float:
    """Bytes of memory free for this process now (psutil, which dask.distributed brings)."""
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil is a dependency of distributed
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def warn_if_not_ok(labels: Sequence[str], *, stacklevel: int = 2) -> None:
    """Warn with :class:`NonFiniteWarning` when any run's status label is not ``"ok"``."""
    bad = [i for i, label in enumerate(labels) if label != "ok"]
    if not bad:
        return
    if len(labels) == 1:
        text = f"The run is {labels[0]} (see the `status` attribute of the results)."
    else:
        text = (f"{len(bad)} of {len(labels)} runs did not end ok (see `run_status`); the first, run {bad[0]}, is "
                f"{labels[bad[0]]}.")
    warnings.warn(text + " Check the equations that feed it for division by zero or runaway growth, or reduce "
                  "`dt`.", NonFiniteWarning, stacklevel=stacklevel + 1)


def check_memory(model: Program, n_steps: int, n_saved: int, n_runs: int, adaptive: bool) -> None:
    """Refuse a run whose buffers would not fit in the memory free, before allocating them."""
    layout = model.layout
    series = max(1, layout.n_series)
    saved = 8.0 * series * n_saved * n_runs
    # The step times and the temporaries that tidy them, and the saved-row index: ~8 doubles a step.
    steps = 64.0 * (n_steps + 1)
    # Twice the saved values (the buffer and the dataset built from it); adaptive runs keep the
    # stocks of every run at the saved times as well.
    need = 2 * saved + steps + (8.0 * layout.n_stocks * n_saved * n_runs if adaptive else 0.0)
    if need < _SMALL:
        return  # asking the system (tens of microseconds) would cost more than such a run saves
    available = available_memory()
    if need <= 0.8 * available:
        return
    if steps > saved:
        fix = "take fewer steps: a larger `dt` or an earlier `final_time`"
    else:
        fix = ("save less often (a larger `saveper`), keep fewer variables (`run_ensemble(..., variables=[...])`) "
               "or split the runs into `run_ensemble` chunks")
    raise ResourceLimitError(
        f"Simulating `{model.spec.name}` would need about {need / 2**30:.1f} GiB ({n_saved:,} saved times x {series:,} "
        f"series x {n_runs:,} run(s) x 8 bytes, twice, and {n_steps + 1:,} steps), but {available / 2**30:.1f} GiB of "
        f"memory is free; {fix}."
    )


def flag_values(model: Program, record: np.ndarray, times: np.ndarray,
                 status: Sequence[RunStatus], largest: np.ndarray | None = None) -> tuple[RunStatus, ...]:
    """Flag each finished run whose saved values hold NaN, an infinity or a magnitude beyond
    :data:`OVERFLOW`, naming the first variable and time.

    The common case costs one pass over the results (the largest magnitude per run, NaN
    propagating); only a run that fails it is searched. Variables whose equations write NaN on purpose (Vensim's :RAW: data between
    data times, elements the model leaves undefined) may be NaN, not infinite.
    """
    out = list(status)
    n = record.shape[0]
    if not n or not record.size:
        return tuple(out)
    if largest is None:  # else given by the integrator that wrote `record` (the compiled kernel)
        largest = _largest_magnitudes(record)
    suspect = ~(largest <= OVERFLOW)  # NaN compares false: suspect
    if not suspect.any():
        return tuple(out)
    may_be_nan = _nan_by_design(model)
    for run in np.flatnonzero(suspect):
        if out[run].failed:
            continue  # it already says where it failed
        block = record[run]  # (times, series)
        with np.errstate(invalid="ignore"):
            wrong = ~(np.abs(block) <= OVERFLOW)
        if may_be_nan.any():
            wrong[:, may_be_nan] &= ~np.isnan(block[:, may_be_nan])
        if not wrong.any():
            continue
        k, col = (int(v[0]) for v in np.nonzero(wrong))  # row-major: the earliest time first
        value = float(block[k, col])
        reason = "" if not math.isfinite(value) else f"reached {value:.3g}, beyond the limit {OVERFLOW:g}"
        out[run] = RunStatus(flagged=True, time=float(times[k]), variable=_series_name(model, col),
                             value=str(value), reason=reason)
    return tuple(out)


def _largest_magnitudes(record: np.ndarray) -> np.ndarray:
    """The largest ``|value|`` of each run's saved values, NaN where any is NaN.

    One pass over memory: blocks of about 2 MB are copied into a scratch array that stays in
    cache, made absolute there and reduced, which takes about 60 % of the time of a maximum
    and a minimum over the whole buffer (and no temporary as large as the results).
    """
    n = record.shape[0]
    if record.flags.c_contiguous:  # runs first (the compiled back end's buffer): whole runs per block
        per_run = record.reshape(n, -1)
        step = max(1, (1 << 18) // max(1, per_run.shape[1]))
        return np.concatenate([np.abs(per_run[a:a + step]).max(axis=1) for a in range(0, n, step)])
    columns = record.transpose(2, 1, 0)  # the integrators' buffer: series, times, runs
    flat = (columns if columns.flags.c_contiguous else np.ascontiguousarray(columns)).reshape(-1, n)
    rows = max(1, (1 << 18) // n)
    largest = np.zeros(n)
    scratch = np.empty((min(rows, len(flat)), n))
    for start in range(0, len(flat), rows):
        block = flat[start:start + rows]
        part = scratch[:len(block)]
        np.abs(block, out=part)
        np.maximum(largest, part.max(axis=0), out=largest)
    return largest


def _nan_by_design(model: Program) -> np.ndarray:
    """Series columns of variables that are NaN on purpose -- a NaN literal in the equation
    (Vensim's :RAW: data), NaN values (elements left undefined), a lookup with NaN points --
    and of the variables that read them, directly or through others."""
    from .expr import Num, references, walk

    def equations(var: Any) -> list[Any]:
        return [e for e in (var.equation, var.init_equation) if e is not None]

    def writes_nan(var: Any) -> bool:
        table = var.lookup
        return bool(var.undefined) or (var.values is not None and any(map(math.isnan, var.values))) or (
            table is not None and any(map(math.isnan, table.ys))) or any(
            isinstance(e, Num) and math.isnan(e.value) for eq in equations(var) for e in walk(eq))

    variables = model.lowered.variables
    nan = {v.canonical for v in variables if writes_nan(v)}
    reads = {v.canonical: set().union(*(references(eq) for eq in equations(v))) for v in variables if equations(v)}
    grown = bool(nan)
    while grown:  # to a fixed point: at most one pass per link of the longest chain
        more = {key for key, names in reads.items() if key not in nan and names & nan}
        nan |= more
        grown = bool(more)
    mask = np.zeros(model.layout.n_series, dtype=bool)
    for slot in model.layout.series:
        if slot.key in nan:
            mask[slot.start:slot.stop] = True
    return mask


def _series_name(model: Program, col: int) -> str:
    """The display name of series column `col`, with its element (``Population[north]``);
    an internal stock by the variable that owns it."""
    slot = next(s for s in model.layout.series if s.start <= col < s.stop)
    name = model.lowered[slot.key].owner or slot.name
    if slot.shape:
        dims = {d.canonical: d for d in model.lowered.dimensions}
        index = np.unravel_index(col - slot.start, slot.shape)
        name += "[" + ", ".join(dims[d].elements[int(i)] for d, i in zip(slot.dims, index)) + "]"
    return name
