"""The language's vocabulary: builtin functions with Vensim/XMILE semantics, and the tables
every stage reads.

Each function works on numpy arrays with a leading run axis (or plain floats) and is
called from generated model code and from the reference interpreter alike. The
table :data:`BUILTINS` maps a builder name to its implementation and signature.

The other tables name what equations may call besides the builtins -- reductions
(:data:`REDUCTIONS`), lookups called by name (:data:`LOOKUP_FUNCTIONS`), array functions
(:data:`ARRAY_FUNCTIONS`, written as :data:`ARRAY_USAGE` says) and block equations
(:data:`PIECES`) -- and how operators compute (:data:`NUMPY_OPERATORS`, :func:`fold`). The
importers, the code generator, the interpreter and the loop scores read these one tables, so
no stage keeps a copy of another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy import special, stats

from .errors import SpecError, UnsupportedError
from .expr import Binary, Call, Expr, Num, Str, Unary
from .spec import Variable

__all__ = [
    "Builtin",
    "BUILTINS",
    "ALIASES",
    "ARRAY_FUNCTIONS",
    "ARRAY_USAGE",
    "LOOKUP_MODES",
    "LOOKUP_FUNCTIONS",
    "REDUCTIONS",
    "PIECES",
    "PIECE_AT",
    "NUMPY_OPERATORS",
    "piece_blocks",
    "fold",
    "lookup",
]

Array = Any  # numpy array or float


def if_then_else(condition: Array, a: Array, b: Array) -> Array:
    return np.where(condition, a, b)


def xidz(a: Array, b: Array, x: Array) -> Array:
    """a / b, or x where b is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, x, np.divide(a, np.where(b == 0, 1.0, b)))


def zidz(a: Array, b: Array) -> Array:
    """a / b, or 0 where b is zero."""
    return xidz(a, b, 0.0)


def integer(x: Array) -> Array:
    """Vensim INTEGER: the integer part, truncating toward zero."""
    return np.trunc(x)


def modulo(a: Array, b: Array) -> Array:
    """Vensim MODULO: a - b * INTEGER(a / b), so the result takes the sign of `a`.

    Vensim gives MODULO(-8.9, 3) = -2.9 (SDXorg test-models ``tests/rounding``), not
    Python's floored -8.9 % 3 = 0.1; ``fmod`` is exactly that truncated remainder.
    """
    return np.fmod(a, b)


def quantum(a: Array, q: Array) -> Array:
    """Vensim QUANTUM: q * INTEGER(a / q), or a itself where q <= 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q <= 0, a, q * np.trunc(a / np.where(q <= 0, 1.0, q)))


def log(x: Array, base: Array) -> Array:
    """Vensim LOG(x, base)."""
    return np.log(x) / np.log(base)


def minimum(*args: Array) -> Array:
    out = args[0]
    for a in args[1:]:
        out = np.minimum(out, a)
    return out


def maximum(*args: Array) -> Array:
    out = args[0]
    for a in args[1:]:
        out = np.maximum(out, a)
    return out


# Time functions. Vensim compares against TIME + TIME STEP/2 so that times that are
# multiples of dt in theory but not quite in floating point still switch on time.
def step(t: float, dt: float, height: Array, start: Array) -> Array:
    """Vensim STEP: 0 before `start`, `height` from `start` on."""
    return np.where(t + dt / 2 > start, height, 0.0)


def pulse(t: float, dt: float, start: Array, width: Array) -> Array:
    """Vensim PULSE: 1 from `start` for `width` (a width of 0 lasts one dt), else 0."""
    width = np.where(width == 0, dt, width)
    tt = t + dt / 2
    return np.where((tt > start) & (tt < start + width), 1.0, 0.0)


def pulse_train(t: float, dt: float, start: Array, width: Array, interval: Array, end: Array) -> Array:
    """Vensim PULSE TRAIN: pulses of `width` every `interval` from `start` until `end`."""
    tt = t + dt / 2
    width = np.where(width == 0, dt, width)
    # The half-step tolerance goes inside the remainder: in floating point t - start is often
    # a hair below a whole number of intervals (4.5 mod 0.9 is 0.8999999999999999), and
    # mod(t - start, interval) would then be almost a whole interval and miss the pulse.
    with np.errstate(divide="ignore", invalid="ignore"):
        phase = np.where(interval > 0, np.mod(tt - start, np.where(interval > 0, interval, 1.0)), tt - start)
    on = (tt > start) & (t <= end + dt / 2) & (phase < width)
    return np.where(on, 1.0, 0.0)


def xmile_pulse_train(t: float, dt: float, start: Array, interval: Array) -> Array:
    """1 for one step at `start` and every `interval` after it (XMILE PULSE with a repeat).

    The caller multiplies by magnitude / DT, so each pulse moves `magnitude` into a stock.
    An interval of 0 or less gives the single pulse at `start`.
    """
    tt = t + dt / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        phase = np.where(interval > 0, np.mod(tt - start, np.where(interval > 0, interval, 1.0)), tt - start)
    return np.where((tt > start) & (phase < dt), 1.0, 0.0)


def invert_matrix(x: Array, size: Array) -> Array:
    """Vensim INVERT MATRIX(m, n): the inverse over the last two dimensions of `m` (n x n).

    A singular matrix gives NaN (which the integrator reports as a non-finite run) rather
    than an exception from inside the step loop.
    """
    x = np.asarray(x, dtype=float)
    det = np.linalg.det(x)
    singular = (det == 0) | ~np.isfinite(det)
    eye = np.broadcast_to(np.eye(x.shape[-1]), x.shape)
    inverse = np.linalg.inv(np.where(singular[..., None, None], eye, x))
    return np.where(singular[..., None, None], np.nan, inverse)


def ramp(t: float, slope: Array, start: Array, end: Array) -> Array:
    """Vensim RAMP: 0 before `start`, rising by `slope` per time unit until `end`."""
    # Not np.clip(t, start, end): with end < start it gives slope * (end - start) before start.
    return np.where(t < start, 0.0, slope * (np.minimum(t, end) - start))


# Lookups (graphical functions). Tables are 1-D arrays shared by all runs.
def lookup(x: Array, xs: np.ndarray, ys: np.ndarray) -> Array:
    """Piecewise-linear interpolation, holding the end values outside the table."""
    return np.interp(x, xs, ys)


def lookup_extrapolate(x: Array, xs: np.ndarray, ys: np.ndarray) -> Array:
    """Piecewise-linear interpolation, continuing the end segments outside the table."""
    y = np.interp(x, xs, ys)
    if len(xs) < 2:
        return y
    lo_slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    hi_slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    y = np.where(x < xs[0], ys[0] + (x - xs[0]) * lo_slope, y)
    return np.where(x > xs[-1], ys[-1] + (x - xs[-1]) * hi_slope, y)


def lookup_backward(x: Array, xs: np.ndarray, ys: np.ndarray) -> Array:
    """The y of the last point at or before x (the first point's y before the table)."""
    i = np.searchsorted(xs, x, side="right") - 1
    return ys[np.clip(i, 0, len(xs) - 1)]


def lookup_forward(x: Array, xs: np.ndarray, ys: np.ndarray) -> Array:
    """The y of the first point at or after x (the last point's y past the table)."""
    i = np.searchsorted(xs, x, side="left")
    return ys[np.clip(i, 0, len(xs) - 1)]


#: How a lookup reads its table, by mode: between the points, and beyond them (see
#: :class:`sd_engine.LookupTable`).
LOOKUP_MODES: dict[str, Callable[..., Array]] = {
    "interpolate": lookup,
    "extrapolate": lookup_extrapolate,
    "hold_backward": lookup_backward,
    "look_forward": lookup_forward,
}


# Random draws: the engine supplies one U(0, 1) number per run and time step, and these
# turn it into the requested distribution truncated to [low, high] by inverting the CDF,
# which keeps a run's stream independent of how many runs share the ensemble.
def _truncated(u: Array, low: Array, high: Array, cdf: Callable[[Array], Array],
               ppf: Callable[[Array], Array]) -> Array:
    lo, hi = cdf(low), cdf(high)
    return ppf(lo + u * (hi - lo))


def truncated_normal(u: Array, low: Array, high: Array, mean: Array, sd: Array) -> Array:
    """Vensim RANDOM NORMAL(min, max, mean, sd): a normal draw truncated to [min, max]."""
    z = _truncated(u, (low - mean) / sd, (high - mean) / sd, special.ndtr, special.ndtri)
    return np.clip(mean + sd * z, low, high)


def truncated_exponential(u: Array, low: Array, high: Array, shift: Array, stretch: Array) -> Array:
    """Vensim RANDOM EXPONENTIAL(min, max, shift, stretch): shift + stretch * Exp(1), truncated."""
    cdf = lambda z: -np.expm1(-np.maximum(z, 0.0))  # noqa: E731
    ppf = lambda p: -np.log1p(-p)  # noqa: E731
    z = _truncated(u, (low - shift) / stretch, (high - shift) / stretch, cdf, ppf)
    return np.clip(shift + stretch * z, low, high)


def truncated_poisson(u: Array, low: Array, high: Array, mean: Array, shift: Array, stretch: Array) -> Array:
    """Vensim RANDOM POISSON(min, max, mean, shift, stretch): shift + stretch * Poisson(mean), truncated."""
    k_lo = np.ceil((low - shift) / stretch) - 1
    k_hi = np.floor((high - shift) / stretch)
    p_lo = np.where(k_lo >= 0, stats.poisson.cdf(k_lo, mean), 0.0)
    p_hi = stats.poisson.cdf(k_hi, mean)
    k = stats.poisson.ppf(p_lo + u * (p_hi - p_lo), mean)
    return np.clip(shift + stretch * k, low, high)


# Array functions (Vensim VECTOR SELECT, VECTOR SORT ORDER/RANK/REORDER, ALLOCATE AVAILABLE,
# ALLOCATE BY PRIORITY). The code generator lines their arguments up so that the dimension
# they work along is the last axis (or, for VECTOR SELECT, passes the axes to reduce).
def vector_select(selection: Array, expression: Array, missing: Array, action: Array, error: Array,
                  axes: tuple[int, ...]) -> Array:
    """Vensim VECTOR SELECT over `axes`: combine `expression` where `selection` is non-zero.

    `action` 0-4 work on ``selection * expression`` (sum, product, min, max, mean), 5 is the
    product of ``expression ** selection`` (what Vensim computes, though its help says the
    reverse), 6-10 on `expression` itself (sum, product, min, max, mean). Where nothing is
    selected the result is `missing`. `error` 1 (nothing selected), 2 (more than one
    selected) or 3 (either) gives NaN there, which the integrator reports as a failed run,
    as Vensim stops the simulation.
    """
    selection, expression = np.broadcast_arrays(np.asarray(selection, dtype=float),
                                                np.asarray(expression, dtype=float))
    chosen = selection != 0
    count = chosen.sum(axis=axes)
    with np.errstate(all="ignore"):
        weighted = selection * expression
        powered = expression ** selection
        sums = [np.where(chosen, a, 0.0).sum(axis=axes) for a in (weighted, expression)]
        results = [
            sums[0],
            np.where(chosen, weighted, 1.0).prod(axis=axes),
            np.where(chosen, weighted, np.inf).min(axis=axes),
            np.where(chosen, weighted, -np.inf).max(axis=axes),
            sums[0] / count,
            np.where(chosen, powered, 1.0).prod(axis=axes),
            sums[1],
            np.where(chosen, expression, 1.0).prod(axis=axes),
            np.where(chosen, expression, np.inf).min(axis=axes),
            np.where(chosen, expression, -np.inf).max(axis=axes),
            sums[1] / count,
        ]
    shape = results[0].shape
    action = _trailing(action, len(shape))
    out = np.select([action == k for k in range(len(results))], results, default=np.nan)
    out = np.where(count == 0, _trailing(missing, len(shape)), out)
    error = _trailing(error, len(shape))
    failed = (((error == 1) | (error == 3)) & (count == 0)) | (((error == 2) | (error == 3)) & (count > 1))
    return np.where(failed, np.nan, out)


def _trailing(value: Array, ndim: int) -> Array:
    """`value` (a number, or one per run) with axes added to broadcast against ``ndim`` axes."""
    value = np.asarray(value, dtype=float)
    return value.reshape(value.shape + (1,) * max(ndim - value.ndim, 0))


def vector_sort_order(vector: Array, direction: Array) -> Array:
    """Vensim VECTOR SORT ORDER along the last axis: the positions (from 0) of the elements in
    ascending order where `direction` > 0, else descending (the ascending order reversed)."""
    vector = np.asarray(vector, dtype=float)
    ascending = np.argsort(vector, axis=-1, kind="stable")
    direction = np.broadcast_to(np.asarray(direction, dtype=float), vector.shape)
    return np.where(direction > 0, ascending, np.flip(ascending, axis=-1)).astype(float)


def vector_rank(vector: Array, direction: Array) -> Array:
    """Vensim VECTOR RANK along the last axis: each element's place (from 1) in the order of
    VECTOR SORT ORDER."""
    order = vector_sort_order(vector, direction).astype(int)
    return (np.argsort(order, axis=-1, kind="stable") + 1).astype(float)


def vector_reorder(vector: Array, order: Array) -> Array:
    """Vensim VECTOR REORDER along the last axis: element i is ``vector[order[i]]``."""
    vector, order = np.broadcast_arrays(np.asarray(vector, dtype=float), np.asarray(order, dtype=float))
    k = vector.shape[-1]
    valid = (order >= 0) & (order < k) & (order == np.trunc(order))
    picked = np.take_along_axis(vector, np.where(valid, order, 0).astype(int), axis=-1)
    return np.where(valid, picked, np.nan)


#: Vensim's priority profiles (ALLOCATE AVAILABLE's ``ptype``): 1 rectangular, 2 triangular,
#: 3 normal, 4 exponential. The share of its request a requester gets at priority level x.
def _profile_share(x: Array, ptype: Array, priority: Array, width: Array) -> Array:
    with np.errstate(all="ignore"):
        u = (x - priority) / width  # in widths from the profile's midpoint
        rectangular = np.clip(0.5 - u, 0.0, 1.0)
        triangular = np.where(u <= -0.5, 1.0, np.where(u < 0, 1 - 2 * (u + 0.5) ** 2,
                                                        np.where(u < 0.5, 2 * (0.5 - u) ** 2, 0.0)))
        normal = _normal_tail(u)
        exponential = np.where(u < 0, 1 - 0.5 * np.exp(np.minimum(u, 0.0)), 0.5 * np.exp(-np.maximum(u, 0.0)))
    return np.select([ptype == 1, ptype == 2, ptype == 3, ptype == 4],
                     [rectangular, triangular, normal, exponential], default=np.nan)


def _normal_tail(u: Array) -> Array:
    """P(Z > u) for a standard normal Z by Abramowitz & Stegun 26.2.16 (|error| about 1e-5).

    Vensim's normal priority profile follows this approximation, not the exact tail: with the
    exact tail the normal-profile allocations of SDXorg ``tests/allocate_available`` are off
    by up to 1.8e-3 (relative), with this one by at most 4e-5, as are the rectangular,
    triangular and exponential profiles there (Vensim's own search tolerance).
    """
    z = np.abs(u)
    t = 1.0 / (1.0 + 0.33267 * z)
    tail = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi) * t * (0.4361836 + t * (-0.1201676 + t * 0.9372980))
    return np.where(u >= 0, tail, 1.0 - tail)


#: Half-widths (in pwidth) beyond which each profile's share is exactly 0 or 1 in doubles.
_PROFILE_REACH = {1: 0.5, 2: 0.5, 3: 40.0, 4: 750.0}


def allocate_profiles(request: Array, ptype: Array, priority: Array, width: Array, supply: Array) -> Array:
    """Share `supply` among requesters along the last axis by priority profiles.

    Every requester gets ``request * share(x)`` at one common priority level x, where
    ``share`` falls from 1 to 0 across its profile; x is found by bisection so the
    allocations add up to the supply (Vensim's definition of ALLOCATE AVAILABLE). When the
    supply covers every request, every request is filled; no supply gives nothing. Negative
    requests, negative supply, non-positive widths and unknown profile types give NaN.
    """
    request, ptype, priority, width, supply = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (request, ptype, priority, width)),
        np.asarray(supply, dtype=float)[..., None])
    supply = supply[..., 0]
    wanted = request > 0
    fixed = ptype == 0
    known = np.isin(ptype, (0, 1, 2, 3, 4))
    if np.any(wanted & ~known) or np.any(np.any(wanted & fixed, axis=-1) & np.any(wanted & ~fixed, axis=-1)):
        # A profile type given by an equation is only known during the run.
        bad = ptype[wanted & ~known]
        raise UnsupportedError(
            f"ALLOCATE AVAILABLE met priority profile type {bad.flat[0]:g} during the run; sdflow supports 0 (fixed "
            "quantity, for every requester at once), 1 (rectangular), 2 (triangular), 3 (normal) and 4 (exponential)."
            if bad.size else
            "ALLOCATE AVAILABLE met fixed-quantity profiles (type 0) together with other profile types during the run; "
            "Vensim's documentation does not say how they share a shortage. Give every requester type 0, or none."
        )
    # Type 0, fixed quantity: the same quantity at every priority (Vensim's documentation), so
    # no priority level balances a shortage; Vensim then rations in proportion to the requests
    # (its output for SDEverywhere's allocate_ptype model: 200 and 300 get 40 and 60 of 100).
    all_fixed = np.all(fixed | ~wanted, axis=-1) & np.any(wanted, axis=-1)
    if np.any(all_fixed):
        ptype = np.where(all_fixed[..., None], 1.0, ptype)  # any valid type; replaced below
    reach = np.select([ptype == k for k in _PROFILE_REACH], list(_PROFILE_REACH.values()), default=np.nan)
    lo = np.min(np.where(wanted, priority - reach * width, np.inf), axis=-1) - 1.0
    hi = np.max(np.where(wanted, priority + reach * width, -np.inf), axis=-1) + 1.0
    lo, hi = np.where(np.isfinite(lo), lo, 0.0), np.where(np.isfinite(hi), hi, 0.0)

    def total(x: Array) -> Array:
        return np.sum(request * _profile_share(x[..., None], ptype, priority, width), axis=-1)

    # The total falls as the level rises: keep total(lo) >= supply >= total(hi).
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        above = total(mid) >= supply
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        if np.all((hi - lo) <= 4 * np.finfo(float).eps * np.maximum(np.abs(lo), np.abs(hi))):
            break
    # The allocation at the level where the total is just above the supply, scaled down to
    # the supply exactly (the difference is the bisection's last rounding).
    out = request * _profile_share(lo[..., None], ptype, priority, width)
    given = np.sum(out, axis=-1)
    with np.errstate(all="ignore"):
        out = out * np.where(given > 0, supply / given, 0.0)[..., None]
    enough = (supply >= np.sum(request, axis=-1))[..., None]
    out = np.where(enough, request, np.where((supply <= 0)[..., None], 0.0, out))
    if np.any(all_fixed):
        with np.errstate(all="ignore"):
            rationed = request * np.minimum(1.0, supply / np.sum(request, axis=-1))[..., None]
        out = np.where(all_fixed[..., None], np.where((supply <= 0)[..., None], 0.0, rationed), out)
        width = np.where(all_fixed[..., None], 1.0, width)  # ignored by type 0
    bad = (np.any(request < 0, axis=-1) | (supply < 0))[..., None] | (wanted & ~(width > 0)) \
        | (wanted & np.isnan(reach))
    return np.where(bad, np.nan, out)


def allocate_available(request: Array, profiles: Array, supply: Array) -> Array:
    """Vensim ALLOCATE AVAILABLE(request, pp, avail) along the last axis of `request`.

    `profiles` has one more axis than `request`: (ptype, ppriority, pwidth, ...) per requester.
    """
    profiles = np.asarray(profiles, dtype=float)
    return allocate_profiles(request, profiles[..., 0], profiles[..., 1], profiles[..., 2], supply)


def allocate_by_priority(request: Array, priority: Array, width: Array, supply: Array) -> Array:
    """Vensim ALLOCATE BY PRIORITY along the last axis: ALLOCATE AVAILABLE with rectangular
    profiles of the same `width` centred on each priority (higher priority served first;
    priorities closer than `width` share)."""
    width = _trailing(width, np.ndim(request))
    return allocate_profiles(request, 1.0, priority, width, supply)


#: Array functions, which the code generator and the interpreter call with their own rules for
#: dimensions (see :meth:`sd_engine.codegen.CodeGenerator.emit_array_function`).
ARRAY_FUNCTIONS: dict[str, Callable[..., Array]] = {
    "vector_select": vector_select,
    "vector_sort_order": vector_sort_order,
    "vector_rank": vector_rank,
    "vector_reorder": vector_reorder,
    "allocate_available": allocate_available,
    "allocate_by_priority": allocate_by_priority,
}


@dataclass(frozen=True)
class Builtin:
    """A builtin function: its implementation, accepted argument counts, and whether the
    generated call gets the current time (``t``) and time step (``dt``) first."""

    impl: Callable[..., Array]
    nargs: tuple[int, ...] | None  # None: any number >= 1
    time: bool = False
    dt: bool = False


def _unary(f: Callable[..., Array]) -> Builtin:
    return Builtin(f, (1,))


BUILTINS: dict[str, Builtin] = {
    "if_then_else": Builtin(if_then_else, (3,)),
    "min": Builtin(minimum, None),
    "max": Builtin(maximum, None),
    "abs": _unary(np.abs),
    "sqrt": _unary(np.sqrt),
    "exp": _unary(np.exp),
    "ln": _unary(np.log),
    "log10": _unary(np.log10),
    "log": Builtin(log, (2,)),
    "sin": _unary(np.sin),
    "cos": _unary(np.cos),
    "tan": _unary(np.tan),
    "arcsin": _unary(np.arcsin),
    "arccos": _unary(np.arccos),
    "arctan": _unary(np.arctan),
    "sinh": _unary(np.sinh),
    "cosh": _unary(np.cosh),
    "tanh": _unary(np.tanh),
    "gamma_ln": _unary(special.gammaln),  # Vensim GAMMA LN: ln |Gamma(x)|
    "integer": _unary(integer),
    "modulo": Builtin(modulo, (2,)),
    "quantum": Builtin(quantum, (2,)),
    "xidz": Builtin(xidz, (3,)),
    "zidz": Builtin(zidz, (2,)),
    "step": Builtin(step, (2,), time=True, dt=True),
    "pulse": Builtin(pulse, (2,), time=True, dt=True),
    "pulse_train": Builtin(pulse_train, (4,), time=True, dt=True),
    "ramp": Builtin(ramp, (3,), time=True),
    "_xmile_pulse_train": Builtin(xmile_pulse_train, (2,), time=True, dt=True),
    "invert_matrix": Builtin(invert_matrix, (2,)),
    "_truncated_normal": Builtin(truncated_normal, (5,)),
    "_truncated_exponential": Builtin(truncated_exponential, (5,)),
    "_truncated_poisson": Builtin(truncated_poisson, (6,)),
}

#: Aliases accepted for Vensim and XMILE spellings.
ALIASES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "int": "integer", "mod": "modulo"}

#: Reductions over a dimension, ``sum(x, "region")`` (without a dimension: over all), each with
#: the numpy function that computes it: the code generator writes ``np.<name>``, the
#: interpreter calls it.
REDUCTIONS = {"sum": "sum", "prod": "prod", "vmin": "min", "vmax": "max", "mean": "mean"}
#: Lookup calls that name their table, ``lookup_extrapolate(table, x)``, with the lookup mode
#: (a key of :data:`LOOKUP_MODES`) each reads the table with.
LOOKUP_FUNCTIONS = {
    "lookup": "interpolate",
    "lookup_extrapolate": "extrapolate",
    "lookup_backward": "hold_backward",
    "lookup_forward": "look_forward",
}
#: How each array function is written (the dimension rules are in the code generator).
ARRAY_USAGE = {
    "vector_select": "vector_select(selection[dim!], expression[dim!], missing, action, error, \"dim!\")",
    "vector_sort_order": "vector_sort_order(vector[dim], direction)",
    "vector_rank": "vector_rank(vector[dim], direction)",
    "vector_reorder": "vector_reorder(vector[dim], order[dim])",
    "allocate_available": "allocate_available(request[dim], profiles[dim, profile], supply, \"profile\")",
    "allocate_by_priority": "allocate_by_priority(request[dim], priority[dim], size, width, supply)",
}
#: An arrayed variable defined block by block: ``_pieces(_at("north"), eq1, _at("south"), eq2)``.
#: Each ``_at`` gives, per dimension of the variable, the dimension itself, a subrange of it or
#: one element; the blocks must cover every element exactly once.
PIECES = "_pieces"
PIECE_AT = "_at"
#: The operators of the expression tree as numpy functions: what every operator computes.
NUMPY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power, "%": np.mod,
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
    ">=": np.greater_equal, "and": np.logical_and, "or": np.logical_or,
}


def piece_blocks(expr: Call, var: Variable) -> list[tuple[tuple[str, ...], Expr]]:
    """The ``(subscripts, equation)`` blocks of a ``_pieces(...)`` equation of `var`, checked.

    Examples
    --------
    >>> from sd_engine.expr import parse_equation
    >>> expr = parse_equation('_pieces(_at("north"), 1, _at("south"), 2)')
    >>> [(at, piece.value) for at, piece in piece_blocks(expr, Variable("x", "aux", expr))]
    [(('north',), 1.0), (('south',), 2.0)]
    """
    args = expr.args
    ok = len(args) >= 2 and len(args) % 2 == 0
    blocks: list[tuple[tuple[str, ...], Expr]] = []
    for at, piece in zip(args[::2], args[1::2]):
        if not (isinstance(at, Call) and at.func == PIECE_AT and all(isinstance(a, Str) for a in at.args)):
            ok = False
            break
        blocks.append((tuple(a.value for a in at.args if isinstance(a, Str)), piece))
    if not ok:
        raise SpecError(
            f"`{PIECES}` in `{var.name}` takes pairs of a block and its equation: "
            f"`{PIECES}({PIECE_AT}(\"north\"), 1, {PIECE_AT}(\"south\"), 2)`."
        )
    return blocks


def fold(expr: Expr) -> Expr:
    """Evaluate operators on numbers alone, with numpy's float semantics.

    Left to Python, ``1 / 0`` would raise ZeroDivisionError from generated code; numpy
    gives inf, which the integrator reports as a non-finite run like any other.

    Examples
    --------
    >>> from sd_engine.expr import parse_equation
    >>> fold(parse_equation("2 * 3 + 1")), fold(parse_equation("1 / 0"))
    (Num(value=7.0), Num(value=inf))
    >>> fold(parse_equation("2 * x"))
    Binary(op='*', left=Num(value=2.0), right=Ref(name='x', subscripts=()))
    """
    if isinstance(expr, Unary):
        operand = fold(expr.operand)
        if isinstance(operand, Num):
            value = np.logical_not(operand.value) if expr.op == "not" else -np.float64(operand.value)
            return Num(float(value))
        return expr
    if isinstance(expr, Binary):
        left, right = fold(expr.left), fold(expr.right)
        if isinstance(left, Num) and isinstance(right, Num):
            with np.errstate(all="ignore"):
                return Num(float(NUMPY_OPERATORS[expr.op](np.float64(left.value), np.float64(right.value))))
    return expr
