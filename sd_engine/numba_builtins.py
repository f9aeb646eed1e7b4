"""The builtins of compiled (numba) model code: one float in, one float out.

The code written by :mod:`sd_engine.codegen_numba` calls these as ``sf.<name>`` from inside
njit functions. Each follows the semantics of its numpy implementation in
:mod:`sd_engine.functions` and of the scalar path (:mod:`sd_engine.scalar`) operation for
operation, so a compiled run gives the numpy back end's numbers: the same IEEE operations in
the same order (``error_model="numpy"``: a division by zero gives inf or NaN, never an
exception). :data:`COVERED` names the builtins of :data:`sd_engine.functions.BUILTINS`
written here; the code generator refuses any other by name, so a builtin added to the
language later stays on the numpy back end until it is written here too.

This module must stay importable without side effects: generated modules import it, and
numba's on-disk cache of a generated module keys on its source (the cache folder's name
also carries a hash of this file, see :mod:`sd_engine.codegen_numba`).
"""

from __future__ import annotations

import math
from typing import Any

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import config, njit, prange, types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic

__all__ = [
    "COVERED",
    "INEXACT",
    "minimum",
    "maximum",
    "choose",
    "square",
    "xidz",
    "zidz",
    "integer",
    "modulo",
    "quantum",
    "log",
    "step",
    "pulse",
    "pulse_train",
    "xmile_pulse_train",
    "ramp",
    "lookup",
    "lookup_extrapolate",
    "lookup_backward",
    "lookup_forward",
    "power",
    "truncated_exponential",
    "truncated_normal",
    "truncated_poisson",
    "mix",
    "draw",
    "EVALUATE",
    "EvaluatePointer",
    "BLOCK",
    "parallel_blocks",
    "THREADS",
    "LANES",
    "run_block",
    "run_lanes",
    "STREAM_BYTES",
    "stream",
    "fence",
    "run_serial",
    "run_parallel",
]

# Every function: cached on disk, numpy's float semantics (inf/NaN, no exceptions), no GIL.
_jit = njit(cache=True, error_model="numpy", nogil=True)

#: The builtins of :data:`sd_engine.functions.BUILTINS` compiled code covers, with the code of
#: their call (``{}`` takes the arguments, time and time step first where the builtin wants them).
COVERED: dict[str, str] = {
    "abs": "abs({})",
    "sqrt": "math.sqrt({})",
    "exp": "math.exp({})",
    "ln": "math.log({})",
    "log10": "math.log10({})",
    "log": "sf.log({})",
    "sin": "math.sin({})",
    "cos": "math.cos({})",
    "tan": "math.tan({})",
    "arcsin": "math.asin({})",
    "arccos": "math.acos({})",
    "arctan": "math.atan({})",
    "sinh": "math.sinh({})",
    "cosh": "math.cosh({})",
    "tanh": "math.tanh({})",
    "gamma_ln": "math.lgamma({})",  # scipy's gammaln and the C library's lgamma agree to an ulp or two
    "integer": "sf.integer({})",
    "modulo": "sf.modulo({})",
    "quantum": "sf.quantum({})",
    "xidz": "sf.xidz({})",
    "zidz": "sf.zidz({})",
    "step": "sf.step({})",
    "pulse": "sf.pulse({})",
    "pulse_train": "sf.pulse_train({})",
    "ramp": "sf.ramp({})",
    "_xmile_pulse_train": "sf.xmile_pulse_train({})",
    "_truncated_exponential": "sf.truncated_exponential({})",
    "_truncated_normal": "sf.truncated_normal({})",
    "_truncated_poisson": "sf.truncated_poisson({})",
}

#: The builtins of :data:`COVERED` whose compiled value may differ from numpy's in the last bit:
#: numba calls the C library's function, numpy its own vectorised one (SVML on AVX-512). The
#: rest are IEEE operations (+ - * /, sqrt, comparisons, truncation, fmod) that give the same
#: double either way. ``**`` is such a function too (the C library's ``pow``).
INEXACT = frozenset({"exp", "ln", "log10", "log", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
                     "tanh", "gamma_ln", "_truncated_exponential",
                     # exp in the priority profiles; numba's LAPACK (scipy's) is another build than numpy's.
                     "allocate_available", "allocate_by_priority", "invert_matrix"})


@_jit
def minimum(a: float, b: float) -> float:
    # np.minimum: NaN propagates from either side.
    return b if (b < a or b != b) else a


@_jit
def maximum(a: float, b: float) -> float:
    return b if (b > a or b != b) else a


@_jit
def square(a: float) -> float:
    return a * a  # numpy's `x ** 2` (np.square)


@_jit
def choose(condition: float, a: float, b: float) -> float:
    # IF THEN ELSE on computed values (np.where): a call, so the model's code has no branch.
    return a if condition != 0.0 else b


@_jit
def xidz(a: float, b: float, x: float) -> float:
    return x if b == 0 else a / b


@_jit
def zidz(a: float, b: float) -> float:
    return 0.0 if b == 0 else a / b


@_jit
def integer(x: float) -> float:
    return np.trunc(x)


@_jit
def modulo(a: float, b: float) -> float:
    return np.fmod(a, b)


@_jit
def quantum(a: float, q: float) -> float:
    return a if q <= 0 else q * np.trunc(a / q)


@_jit
def log(x: float, base: float) -> float:
    return math.log(x) / math.log(base)


@_jit
def step(t: float, dt: float, height: float, start: float) -> float:
    return height if t + dt / 2 > start else 0.0


@_jit
def pulse(t: float, dt: float, start: float, width: float) -> float:
    w = dt if width == 0 else width
    tt = t + dt / 2
    return 1.0 if (tt > start and tt < start + w) else 0.0


@_jit
def _floored_mod(a: float, b: float) -> float:
    # np.mod for b > 0: the remainder with the sign of b.
    r = np.fmod(a, b)
    if r != 0 and (r < 0) != (b < 0):
        r += b
    return r


@_jit
def pulse_train(t: float, dt: float, start: float, width: float, interval: float, end: float) -> float:
    tt = t + dt / 2
    w = dt if width == 0 else width
    phase = _floored_mod(tt - start, interval) if interval > 0 else tt - start
    return 1.0 if (tt > start and t <= end + dt / 2 and phase < w) else 0.0


@_jit
def xmile_pulse_train(t: float, dt: float, start: float, interval: float) -> float:
    tt = t + dt / 2
    phase = _floored_mod(tt - start, interval) if interval > 0 else tt - start
    return 1.0 if (tt > start and phase < dt) else 0.0


@_jit
def ramp(t: float, slope: float, start: float, end: float) -> float:
    return 0.0 if t < start else slope * ((t if t < end else end) - start)


@_jit
def _right(xs: np.ndarray, a: int, b: int, x: float) -> int:
    # np.searchsorted(xs[a:b], x, side="right") + a: the points at or before x.
    lo, hi = a, b
    while lo < hi:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit
def _left(xs: np.ndarray, a: int, b: int, x: float) -> int:
    lo, hi = a, b
    while lo < hi:
        mid = (lo + hi) // 2
        if xs[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


# Lookups read the table ``xs[a:b], ys[a:b]``: every table of a run lives in one flat pair of
# arrays, so a table given to one call may have any length.
@_jit
def lookup(x: float, xs: np.ndarray, ys: np.ndarray, a: int, b: int) -> float:
    """np.interp for one point, with numpy's formula (as the scalar path's ``lookup``)."""
    if x != x:
        return math.nan
    if x <= xs[a]:
        return ys[a]
    if x >= xs[b - 1]:
        return ys[b - 1]
    j = _right(xs, a, b, x) - 1
    slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
    return slope * (x - xs[j]) + ys[j]


@_jit
def lookup_extrapolate(x: float, xs: np.ndarray, ys: np.ndarray, a: int, b: int) -> float:
    y = lookup(x, xs, ys, a, b)
    if b - a < 2:
        return y
    if x < xs[a]:
        return ys[a] + (x - xs[a]) * ((ys[a + 1] - ys[a]) / (xs[a + 1] - xs[a]))
    if x > xs[b - 1]:
        return ys[b - 1] + (x - xs[b - 1]) * ((ys[b - 1] - ys[b - 2]) / (xs[b - 1] - xs[b - 2]))
    return y


@_jit
def lookup_backward(x: float, xs: np.ndarray, ys: np.ndarray, a: int, b: int) -> float:
    i = _right(xs, a, b, x) - 1 if x == x else b - 1  # searchsorted puts NaN last
    return ys[min(max(i, a), b - 1)]


@_jit
def lookup_forward(x: float, xs: np.ndarray, ys: np.ndarray, a: int, b: int) -> float:
    i = _left(xs, a, b, x) if x == x else b
    return ys[min(max(i, a), b - 1)]


@_jit
def power(a: float, b: float) -> float:
    return a ** b


@_jit
def truncated_exponential(u: float, low: float, high: float, shift: float, stretch: float) -> float:
    # functions.truncated_exponential: invert the CDF of Exp(1) between the standardised bounds.
    lo = -math.expm1(-maximum((low - shift) / stretch, 0.0))
    hi = -math.expm1(-maximum((high - shift) / stretch, 0.0))
    z = -math.log1p(-(lo + u * (hi - lo)))
    return minimum(maximum(shift + stretch * z, low), high)  # np.clip


def _special(name: str, cython_name: str, signature: Any) -> Any:
    """scipy.special's own C function `cython_name` (the one its ufunc calls, so the draws are
    numpy's bit for bit), called by symbol: code calling it is cached on disk like any other,
    the symbol bound again to scipy's function when this module is imported."""
    llvm.add_symbol(name, get_cython_function_address("scipy.special.cython_special", cython_name))
    return types.ExternalFunction(name, signature)


# The last argument of each is Cython's `skip_dispatch` flag, passed as 0.
_ndtr = _special("sdflow_ndtr", "__pyx_fuse_1ndtr", types.float64(types.float64, types.intc))
_ndtri = _special("sdflow_ndtri", "ndtri", types.float64(types.float64, types.intc))
_pdtr = _special("sdflow_pdtr", "pdtr", types.float64(types.float64, types.float64, types.intc))
_pdtrik = _special("sdflow_pdtrik", "__pyx_fuse_0pdtrik", types.float64(types.float64, types.float64, types.intc))


@_jit
def truncated_normal(u: float, low: float, high: float, mean: float, sd: float) -> float:
    # functions.truncated_normal: invert the normal CDF between the standardised bounds.
    lo = _ndtr((low - mean) / sd, 0)
    hi = _ndtr((high - mean) / sd, 0)
    z = _ndtri(lo + u * (hi - lo), 0)
    return minimum(maximum(mean + sd * z, low), high)  # np.clip


@_jit
def _poisson_cdf(k: float, mu: float) -> float:
    # scipy.stats.poisson.cdf for one point: NaN for a NaN point or a mean that is not >= 0, 0
    # below the support, 1 at +inf, else pdtr(floor(k), mu) clipped to [0, 1].
    if not mu >= 0 or k != k:
        return math.nan
    if k == math.inf:
        return 1.0
    if k < 0:
        return 0.0
    return minimum(maximum(_pdtr(np.floor(k), mu, 0), 0.0), 1.0)


@_jit
def _poisson_ppf(q: float, mu: float) -> float:
    # scipy.stats.poisson.ppf for one point (rv_discrete.ppf around poisson_gen._ppf).
    if not mu >= 0:
        return math.nan
    if q == 0:
        return -1.0
    if q == 1:
        return math.inf
    if not (q > 0 and q < 1):
        return math.nan
    vals = np.ceil(_pdtrik(q, mu, 0))
    vals1 = maximum(vals - 1.0, 0.0)
    return vals1 if _pdtr(vals1, mu, 0) >= q else vals


@_jit
def truncated_poisson(u: float, low: float, high: float, mean: float, shift: float, stretch: float) -> float:
    # functions.truncated_poisson: invert the Poisson CDF between the bounds' counts.
    k_lo = np.ceil((low - shift) / stretch) - 1.0
    k_hi = np.floor((high - shift) / stretch)
    p_lo = _poisson_cdf(k_lo, mean) if k_lo >= 0 else 0.0
    p_hi = _poisson_cdf(k_hi, mean)
    k = _poisson_ppf(p_lo + u * (p_hi - p_lo), mean)
    return minimum(maximum(shift + stretch * k, low), high)  # np.clip


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@_jit
def mix(x: np.uint64) -> np.uint64:
    """SplitMix64's finaliser (``sd_engine.integrate``'s counter-based generator)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@_jit
def draw(key: np.uint64, k: int) -> float:
    """Draw `k` of the stream `key`: the integrator's ``draw(k)`` for one run and column."""
    bits = mix(key + np.uint64(k + 1) * _GOLDEN)
    return float(bits >> np.uint64(11)) * (1.0 / 9007199254740992.0)


# -- the drivers: the step loop over a block of runs ---------------------------------------------
_F, _I = types.float64, types.int64
_V, _VI, _M = types.float64[::1], types.int64[::1], types.float64[:, ::1]
#: The signature of a model's compiled
#: ``evaluate(t, dt, y, iy, z, iz, c, ic, lx, ly, lo, K, s, ZN, q, R, r)``: one run's equations
#: from row `iy` of stocks `y`, row `iz` of states `z` and row `ic` of constants `c`; its net
#: flows into row `s` of `K`, next discrete states into row `q` of `ZN` and, when `r` >= 0, its
#: series into row `r` of `R`. Rows, not views: a view per call costs more than the equations
#: of a small model.
EVALUATE = types.void(_F, _F, _M, _I, _M, _I, _M, _I, _V, _V, _VI, _M, _I, _M, _I, _M, _I)


class EvaluatePointer(types.WrapperAddressProtocol):  # type: ignore[misc,name-defined]
    """A model's compiled ``evaluate`` as the drivers take it: its machine address, looked up
    once. Passing the jitted function itself makes numba look the address up on every call
    (tens of microseconds, more than a small model's whole run)."""

    def __init__(self, evaluate: Any) -> None:
        from numba.experimental.function_type import _get_wrapper_address

        self.evaluate = evaluate  # keeps the compiled code (and so the address) alive
        self.address = int(_get_wrapper_address(evaluate, EVALUATE))

    def __wrapper_address__(self) -> int:
        return self.address

    def signature(self) -> Any:
        return EVALUATE


_DRIVER = types.void(types.FunctionType(EVALUATE), _V, _VI, _F, _I, _M, _M, _M, _V, _V, _VI, _M, _I,
                     types.uint64[:, ::1], types.int64[:, ::1], types.float64[:, :, ::1], _VI, _VI, _VI, _VI, _VI, _V, _V)
#: Runs a block steps together: their equations interleave, so the processor overlaps one run's
#: chain of dependent operations with the others' (a single run waits on each result in turn).
BLOCK = 16


#: The threads a parallel driver's runs are shared between: numba's thread pool, as configured
#: when this module is compiled (``NUMBA_NUM_THREADS``, the cores by default). A constant, not
#: ``numba.get_num_threads()``, which no function kept in the disk cache may call; with fewer
#: threads set at run time the blocks are still right, only less evenly shared.
THREADS: int = config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]


@njit(cache=True, nogil=True)
def parallel_blocks(n, size):  # type: ignore[no-untyped-def]
    """The number of blocks of at most `size` runs that share `n` runs evenly between the
    threads: a multiple of :data:`THREADS` (no more than `n`), block ``i`` being runs
    ``i * n // blocks`` to ``(i + 1) * n // blocks``. numba gives each thread an equal share of
    the blocks, so blocks of `size` left one thread idle at the end: 100 runs in blocks of 16
    are 4 blocks (64 runs) for one thread and 3 (36) for the other."""
    blocks = -(-n // size)
    return min(n, -(-blocks // THREADS) * THREADS)


@_jit
def run_block(evaluate, a, b, times, rows, h, method, Y, Z, C, lx, ly, lo, R, T, keys, plen, pbuf,  # type: ignore[no-untyped-def]
              disc, pipes, rand, fail_step, fail_col, fail_value, big):
    """Runs ``a:b`` step by step: the step loop of ``sd_engine.integrate._run_fixed`` and the
    solvers' ``step``, operation for operation (``y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)``).
    `R` is the record ``(runs * T, series)``: run i's saved time r is row ``i * T + r``. `big`
    gets each run's largest saved ``|value|``, NaN once one is NaN (as ``guards.flag_values``
    would find it), read from each row just written while it is in cache."""
    B = b - a
    m = Y.shape[1]
    S = R.shape[1]
    y = Y[a:b].copy()
    z = Z[a:b].copy()
    stages = 1 if method == 0 else 2 if method == 1 else 4
    yt = np.empty((B, m))
    K = np.empty((4 * B, m))  # the stages' net flows, four rows per run
    ZN = np.empty((2 * B, Z.shape[1]))  # next discrete states: of the step, and scratch for later stages
    pointer = np.zeros((B, len(pipes)), np.int64)
    half = h / 2
    sixth = h / 6
    n_steps = len(times) - 1
    for k in range(n_steps + 1):
        t = times[k]
        r = rows[k]
        for s in range(stages if k < n_steps else 1):
            tt = t if s == 0 else t + half if (method == 2 and s < 3) else t + h
            for u in range(B):
                w = 4 * u
                if s == 0:
                    pass  # the first stage reads the stocks themselves
                elif method == 1:  # RK2 (Heun): k2 = f(t + h, y + h * k1)
                    for j in range(m):
                        yt[u, j] = y[u, j] + h * K[w, j]
                elif s < 3:  # RK4: k2, k3 at t + h/2
                    for j in range(m):
                        yt[u, j] = y[u, j] + half * K[w + s - 1, j]
                else:
                    for j in range(m):
                        yt[u, j] = y[u, j] + h * K[w + 2, j]
                row = (a + u) * T + r if (s == 0 and r >= 0) else -1
                evaluate(tt, h, y if s == 0 else yt, u, z, u, C, a + u, lx, ly, lo, K, w + s, ZN, 2 * u + min(s, 1),
                         R, row)
                if row >= 0:
                    g = big[a + u]
                    if g == g:
                        for j in range(S):
                            x = abs(R[row, j])
                            if not x <= g:  # larger, or NaN (which stays)
                                g = x
                                if g != g:
                                    break
                        big[a + u] = g
        if k == n_steps:
            break
        for u in range(B):
            w = 4 * u
            # `bad` sums y * 0: zero while every stock is finite, NaN once one is not (inf * 0 is
            # NaN), so the search for the failing stock runs only then, not every step.
            bad = 0.0
            if method == 0:
                for j in range(m):
                    y[u, j] += h * K[w, j]
                    bad += y[u, j] * 0.0
            elif method == 1:
                for j in range(m):
                    y[u, j] = y[u, j] + half * (K[w, j] + K[w + 1, j])
                    bad += y[u, j] * 0.0
            else:
                for j in range(m):
                    y[u, j] = y[u, j] + sixth * (K[w, j] + 2 * K[w + 1, j] + 2 * K[w + 2, j] + K[w + 3, j])
                    bad += y[u, j] * 0.0
            # Discrete states after the stocks: samples, pipelines, then fresh draws (_State.advance_discrete).
            for q in range(len(disc)):
                z[u, disc[q]] = ZN[2 * u, disc[q]]
            for q in range(len(pipes)):
                pbuf[a + u, q, pointer[u, q]] = ZN[2 * u, pipes[q]]
                pointer[u, q] = (pointer[u, q] + 1) % plen[a + u, q]
                z[u, pipes[q]] = pbuf[a + u, q, pointer[u, q]]
            for q in range(len(rand)):
                z[u, rand[q]] = draw(keys[a + u, q], k + 1)
            if bad != 0.0 and fail_step[a + u] < 0:
                for j in range(m):
                    if not math.isfinite(y[u, j]):
                        fail_step[a + u] = k + 1
                        fail_col[a + u] = j
                        fail_value[a + u] = y[u, j]
                        break


#: Runs of one block of the lanes driver: each equation a loop over them, in contiguous lanes.
#: Large blocks write long runs of each saved row (measured on SIR: 512 runs write its 128 MB
#: record in 13 ms, 64 runs in several times that).
LANES = 512
#: A record at least this large is written with non-temporal (streaming) stores: a plain store
#: to a line not in cache first reads it, which costs as much again (SIR's 128 MB record: 4.6 ms
#: streamed, 13.5 ms stored). A record of a few MB, reused (``sd_engine.results.empty_record``),
#: is still in the last-level cache (32 MB here) only when nothing ran between two calls; after
#: other work (the caller's analysis of the last results) it is not. Teacup's 1,000-run call,
#: 3.9 MB, medians of 60: back to back 0.66 ms stored, 0.73 ms streamed; with 64 MB written
#: between calls 1.36 ms stored, 1.09 ms streamed.
STREAM_BYTES = 2**20


@intrinsic
def stream(typingctx, array, index, value):  # type: ignore[no-untyped-def]
    """``array[index] = value`` as a non-temporal store (LLVM's ``!nontemporal``): written to
    memory without reading the line into the cache. `index` must be in range (no wraparound).
    Weakly ordered: :func:`fence` after the last one, before another thread reads them."""
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        kind = signature.args[0]
        data = context.make_array(kind)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, kind, data, [args[1]], wraparound=False)
        store = builder.store(args[2], pointer)
        store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        return context.get_dummy_value()

    return types.void(array, index, value), codegen


@intrinsic
def fence(typingctx):  # type: ignore[no-untyped-def]
    """A full memory fence: the non-temporal stores before it are visible to every core."""
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


@_jit
def run_lanes(lanes, a, b, times, rows, h, method, Y, Z, C, lx, ly, lo, R, T, keys, plen, pbuf,  # type: ignore[no-untyped-def]
              disc, pipes, rand, fail_step, fail_col, fail_value, big):
    """:func:`run_block` with the runs in lanes: the state of run ``a + u`` is column `u` of
    ``(variables, runs)`` arrays, and `lanes` (a model's ``evaluate_lanes``) computes each
    equation for every run of the block in one loop, which the compiler turns into vector
    instructions. The operations of each run are those of :func:`run_block`, in the same
    order, so the numbers are the same. `R` is the record ``(series, T, runs)``; `T` is
    unused (the record knows its shape), kept so both drivers take the same arguments."""
    B = b - a
    m = Y.shape[1]
    nz = Z.shape[1]
    S = R.shape[0]
    y = np.empty((m, B))
    z = np.empty((nz, B))
    c = np.empty((C.shape[1], B))
    for u in range(B):
        for j in range(m):
            y[j, u] = Y[a + u, j]
        for j in range(nz):
            z[j, u] = Z[a + u, j]
        for j in range(C.shape[1]):
            c[j, u] = C[a + u, j]
    stages = 1 if method == 0 else 2 if method == 1 else 4
    yt = np.empty((m, B))
    K = np.empty((4, m, B))  # the stages' net flows
    ZN = np.empty((2, nz, B))  # next discrete states: of the step, and scratch for later stages
    out = np.empty((S, B))  # the series of the step, copied to the record when it is saved
    bad = np.empty(B)
    g = big[a:b].copy()  # the runs' largest saved |value|
    streamed = R.size * 8 >= STREAM_BYTES
    pointer = np.zeros((B, len(pipes)), np.int64)
    half = h / 2
    sixth = h / 6
    n_steps = len(times) - 1
    for k in range(n_steps + 1):
        t = times[k]
        r = rows[k]
        for s in range(stages if k < n_steps else 1):
            tt = t if s == 0 else t + half if (method == 2 and s < 3) else t + h
            if s > 0:  # the first stage reads the stocks themselves
                # RK2 (Heun): k2 = f(t + h, y + h * k1); RK4: k2, k3 at y + h/2 * k1, k2, k4 at y + h * k3.
                step = h if (method == 1 or s == 3) else half
                for j in range(m):
                    ks = K[s - 1, j]
                    for u in range(B):
                        yt[j, u] = y[j, u] + step * ks[u]
            lanes(tt, h, y if s == 0 else yt, z, c, lx, ly, lo, K[s], ZN[min(s, 1)], out, B)
            if s == 0 and r >= 0:
                # Row by row through 1-d views indexed from 0, so each loop is a plain vector loop.
                for j in range(S):
                    src = out[j]
                    dst = R[j, r, a:b]
                    for u in range(B):
                        g[u] = maximum(g[u], abs(src[u]))  # NaN stays (run_block's `big`)
                    if streamed:
                        for u in range(B):
                            stream(dst, u, src[u])
                    else:
                        dst[:] = src
        if k == n_steps:
            big[a:b] = g
            if streamed:
                fence()
            break
        # `bad` sums y * 0 per run: zero while its stocks are finite (see run_block).
        for u in range(B):
            bad[u] = 0.0
        if method == 0:
            for j in range(m):
                for u in range(B):
                    y[j, u] += h * K[0, j, u]
                    bad[u] += y[j, u] * 0.0
        elif method == 1:
            for j in range(m):
                for u in range(B):
                    y[j, u] = y[j, u] + half * (K[0, j, u] + K[1, j, u])
                    bad[u] += y[j, u] * 0.0
        else:
            for j in range(m):
                for u in range(B):
                    y[j, u] = y[j, u] + sixth * (K[0, j, u] + 2 * K[1, j, u] + 2 * K[2, j, u] + K[3, j, u])
                    bad[u] += y[j, u] * 0.0
        # Discrete states after the stocks: samples, pipelines, then fresh draws.
        for q in range(len(disc)):
            for u in range(B):
                z[disc[q], u] = ZN[0, disc[q], u]
        for q in range(len(pipes)):
            for u in range(B):
                pbuf[a + u, q, pointer[u, q]] = ZN[0, pipes[q], u]
                pointer[u, q] = (pointer[u, q] + 1) % plen[a + u, q]
                z[pipes[q], u] = pbuf[a + u, q, pointer[u, q]]
        for q in range(len(rand)):
            for u in range(B):
                z[rand[q], u] = draw(keys[a + u, q], k + 1)
        # Whether any run has a stock not finite: a vector loop; the runs are searched only then.
        found = 0
        for u in range(B):
            found |= bad[u] != 0.0
        if found:
            for u in range(B):
                if bad[u] != 0.0 and fail_step[a + u] < 0:
                    for j in range(m):
                        if not math.isfinite(y[j, u]):
                            fail_step[a + u] = k + 1
                            fail_col[a + u] = j
                            fail_value[a + u] = y[j, u]
                            break


@njit(_DRIVER, cache=True, error_model="numpy", nogil=True)
def run_serial(evaluate, times, rows, h, method, Y, Z, C, lx, ly, lo, R, T, keys, plen, pbuf,  # type: ignore[no-untyped-def]
               disc, pipes, rand, fail_step, fail_col, fail_value, big):
    """Every run of a call in blocks, one block after another (a single run: no thread pool)."""
    n = Y.shape[0]
    for a in range(0, n, BLOCK):
        run_block(evaluate, a, min(n, a + BLOCK), times, rows, h, method, Y, Z, C, lx, ly, lo, R, T, keys, plen,
                  pbuf, disc, pipes, rand, fail_step, fail_col, fail_value, big)


@njit(_DRIVER, cache=True, error_model="numpy", nogil=True, parallel=True)
def run_parallel(evaluate, times, rows, h, method, Y, Z, C, lx, ly, lo, R, T, keys, plen, pbuf,  # type: ignore[no-untyped-def]
                 disc, pipes, rand, fail_step, fail_col, fail_value, big):
    """Every run of a call in blocks across cores, calling `evaluate` through a pointer (no
    compile per model; the model's own ensemble driver, which inlines it, is faster)."""
    n = Y.shape[0]
    blocks = parallel_blocks(n, BLOCK)
    for block in prange(blocks):
        run_block(evaluate, block * n // blocks, (block + 1) * n // blocks, times, rows, h, method, Y, Z, C, lx, ly,
                  lo, R, T, keys, plen, pbuf, disc, pipes, rand, fail_step, fail_col, fail_value, big)
