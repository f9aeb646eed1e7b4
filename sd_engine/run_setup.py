"""What a run needs before its first step: the time axes of its settings and the program's own
input values, each computed once and shared by the calls that need the same.

Repeated runs of one model (calibration, sliders, a service) would otherwise spend more time
tidying the step times and converting the model's constants and tables than a compiled run
takes. Everything shared here is read-only, so no caller can change it for the next.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import numpy as np

from .program import Program

__all__ = ["time_axes", "tidy_times", "saved_steps", "ProgramDefaults", "program_defaults"]


@functools.lru_cache(maxsize=64)
def time_axes(t0: float, h: float, n_steps: int, save: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The step times, the saved times and each step's saved row (-1: not saved) of a run.

    Kept per time settings (read-only; callers take copies): tidying the times costs more
    than a small model's compiled run, and repeated runs (calibration, sliders) share them.
    """
    step_times = tidy_times(t0, h, n_steps)
    saved = saved_steps(step_times, t0, save, h)
    rows = np.full(len(step_times), -1, dtype=np.int64)
    rows[saved] = np.arange(len(saved))
    out = (step_times, step_times[saved], rows)
    for a in out:
        a.flags.writeable = False
    return out


def saved_steps(step_times: np.ndarray, t0: float, save: float, h: float) -> np.ndarray:
    """The steps saved with save interval `save`: the first step at or after each multiple of
    `save` from `t0` (every k-th step when `save` is k steps; otherwise the saved times are
    computed times, never values moved to times the run did not compute)."""
    every = save / h
    if every == round(every) and every >= 1:  # every k-th step (saveper a whole number of steps)
        return np.arange(0, len(step_times), int(every))
    tol = 1e-9 * max(1.0, abs(save / h))
    targets = np.arange(0.0, (step_times[-1] - t0) / save + tol + 1.0) * (save / h)
    steps = np.unique(np.ceil(targets - tol).astype(np.intp))
    return steps[steps < len(step_times)]


def tidy_times(t0: float, h: float, n_steps: int) -> np.ndarray:
    """The step times ``t0 + k * h``, snapped to the decimals they stand for.

    In floating point ``3 * 0.1`` is ``0.30000000000000004`` and ``-5 + 49 * 0.1`` is
    ``-0.0999999999999996``: the computed time is off by about one ulp of the largest term
    (``|t0|`` or ``k * h``). A time within 2 such ulps of a decimal with 12 significant
    digits at that scale becomes the decimal, so saved times are the times as written
    (``ds.sel(time=0.3)`` works) and ``time`` in equations matches them. Other times
    (``k / 3``) are almost never that close to such a decimal and stay as computed; either
    way a time moves by at most 2 ulps of its scale.
    """
    k = np.arange(n_steps + 1, dtype=float)
    t = t0 + k * h
    scale = abs(t0) + k * abs(h)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(scale))
    digits = np.where(np.isfinite(magnitude), 11 - magnitude, 0.0)
    exact = (digits >= 0) & (digits <= 22)  # 10**digits is then an exact double
    factor = 10.0 ** np.where(exact, digits, 0.0)
    snapped = np.round(t * factor) / factor
    close = exact & (np.abs(snapped - t) <= 2 * np.spacing(scale))
    return np.where(close, snapped, t)


@dataclass(frozen=True)
class ProgramDefaults:
    """A program's own input values, computed once: each constant's values (read-only), the
    scalar constants' values in layout order and their rows among them, each lookup's table."""

    arrays: tuple[np.ndarray, ...]
    scalars: np.ndarray
    rows: dict[str, int]
    tables: dict[str, tuple[np.ndarray, np.ndarray]]


_DEFAULTS: weakref.WeakKeyDictionary[Program, ProgramDefaults] = weakref.WeakKeyDictionary()


def program_defaults(program: Program) -> ProgramDefaults:
    """`program`'s own constants and lookup tables as arrays, built once per program."""
    found = _DEFAULTS.get(program)
    if found is not None:
        return found
    arrays: list[np.ndarray] = []
    rows: dict[str, int] = {}
    for slot in program.layout.constants:
        var = program.lowered[slot.key]
        if var.values is not None:
            base = np.asarray(var.values, dtype=float).reshape(slot.shape)
        else:
            base = np.asarray(var.equation.value, dtype=float)  # type: ignore[union-attr]
        base.flags.writeable = False
        arrays.append(base)
        if not slot.shape:
            rows[slot.key] = len(rows)
    tables = {}
    for key in program.layout.lookups:
        table = program.lowered[key].lookup
        assert table is not None
        xs, ys = np.array(table.xs, dtype=float), np.array(table.ys, dtype=float)
        # Shared by every call that keeps the model's own table: read-only, so no caller can
        # change the model's table through a result.
        xs.flags.writeable = ys.flags.writeable = False
        tables[key] = (xs, ys)
    scalars = np.array([float(a) for a, slot in zip(arrays, program.layout.constants) if not slot.shape])
    found = ProgramDefaults(tuple(arrays), scalars, rows, tables)
    _DEFAULTS[program] = found
    return found
