"""Which back end runs a simulate call, and the call of the compiled one.

Back ends, by the name ``run(backend=...)`` takes:

``"numpy"``
    The generated numpy code (:mod:`sd_engine.codegen`), with the scalar path for single
    runs (:mod:`sd_engine.scalar`). Covers everything.
``"numba"``
    The compiled kernel (:mod:`sd_engine.codegen_numba`): the whole step loop in machine
    code, runs spread across cores. Fixed-step methods (Euler, RK2, RK4); subscripts are
    unrolled element by element (:mod:`sd_engine.unroll`); anything else it refuses by name
    and the call runs on numpy, with a :class:`BackendWarning` saying why.
``"interpreter"``
    The slow reference interpreter (:mod:`sd_engine.interpret`), the test oracle.
``"auto"`` (the default)
    numba when it covers the call and pays, else numpy, silently. The rule
    (:func:`choose_backend`) depends on the model and the call alone, never on what ran
    before, so a call gives the same numbers in any process:

    - numba when the estimated time of the call on numpy exceeds the estimated compile time
      (:func:`numpy_seconds` > :func:`compile_seconds`): ensembles and long runs; a short
      one-off run stays on numpy, whose cost is a few milliseconds where a first compile
      costs a second or more;
    - for a shorter call, numba when its kernel is already compiled (in this process or in
      the disk cache) *and* the model is exact (:func:`~sd_engine.codegen_numba.is_exact`:
      no exp, log, trigonometric function or ``**``), whose compiled results equal numpy's
      bit for bit, so the cache changes the speed and never the numbers. A model with such
      functions runs a short call on numpy even when its kernel is cached: the C library's
      exp and numpy's differ in the last bit. Ask for ``backend="numba"`` to use the
      kernel anyway (interactive single runs of a large model).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Literal

import numpy as np

from .codegen_numba import NotCompiled, has_ensemble_driver, is_cached, is_exact, numba_kernel, refusal
from .errors import SpecError, did_you_mean
from .expr import canonical
from .program import Program, ProgramLike, as_program
from .unroll import flatten_constants

__all__ = ["Backend", "BACKENDS", "BackendWarning", "choose_backend", "compile_seconds", "ensemble_compile_seconds",
           "numpy_seconds", "precompile", "PARALLEL_SECONDS",
           "run_compiled", "series_first"]

Backend = Literal["auto", "numba", "numpy", "interpreter"]
#: The back ends ``run(backend=...)`` takes (``"sdflow"`` is accepted as ``"auto"``).
BACKENDS: tuple[str, ...] = ("auto", "numba", "numpy", "interpreter")
_STAGES = {"euler": 1, "rk2": 2, "rk4": 4}
#: An ensemble whose numpy time is estimated below this runs its blocks on one thread.
PARALLEL_SECONDS = 0.25


class BackendWarning(UserWarning):
    """The back end asked for cannot run the call; another one does (the message says why)."""


def compile_seconds(program: Program) -> float:
    """A first compile's time, estimated: half a second plus 10 ms per equation (World3-03,
    314 series, measured at a few seconds on a 2-core machine), an arrayed equation counting
    once per element (the kernel unrolls it). Past 500 elements the step is written with loops
    (``sd_engine.numba_loops``) and compiles faster than this says (1,207 elements: 3.5 s, not
    12.6 s), so such a model's short calls may stay on numpy where numba would have paid."""
    sizes = {d.canonical: len(d.elements) for d in program.lowered.dimensions}
    elements = sum(math.prod(sizes[canonical(d)] for d in v.dims) for v in program.lowered.variables)
    return 0.5 + 0.01 * elements


def ensemble_compile_seconds(program: Program) -> float:
    """The compile of a model's own ensemble driver, estimated: 10 s plus 20 ms per equation
    (the parallel loop's machinery, and the equations optimised again inside the loop)."""
    return 10.0 + 0.02 * len(program.lowered.variables)


def numpy_seconds(program: Program, n_runs: int, n_steps: int, method: str) -> float:
    """The numpy back end's time for a call, estimated: per evaluation of the equations, about
    10 us plus 0.25 us per equation for one run (the scalar path), and 1.5 us plus 6 ns per
    run per equation for an ensemble (one numpy pass per equation)."""
    n_eq = len(program.lowered.variables)
    per_call = 1e-5 + 2.5e-7 * n_eq if n_runs == 1 else (1.5e-6 + 6e-9 * n_runs) * n_eq
    return (n_steps + 1) * _STAGES.get(method, 1) * per_call


def choose_backend(program: Program, backend: str, *, method: str, fixed_step: bool, n_runs: int,
                   n_steps: int, why: str = "") -> str:
    """The back end that runs a call: ``"numba"``, ``"numpy"`` or ``"interpreter"`` (see the
    module docstring for the rule of ``"auto"``).

    Examples
    --------
    >>> import sd_engine as sd
    >>> program = sd.load("teacup").program
    >>> choose_backend(program, "numpy", method="euler", fixed_step=True, n_runs=1, n_steps=120)
    'numpy'
    """
    if backend == "sdflow":
        backend = "auto"
    if backend not in BACKENDS:
        raise SpecError(f"Unknown backend `{backend}`." + did_you_mean(str(backend), BACKENDS)
                        + " Use \"auto\", \"numba\", \"numpy\", \"interpreter\" or \"pysd\".")
    if backend in ("numpy", "interpreter"):
        return backend
    # `why`: what makes the call other than a plain fixed-step run (an adaptive method, control
    # variables that change during the run), which the kernel does not do.
    reason = None if fixed_step else (why or f"the method `{method}` is adaptive (scipy's), not a fixed step")
    reason = reason or refusal(program)
    if reason is None and backend == "auto" and numpy_seconds(program, n_runs, n_steps, method) \
            <= compile_seconds(program) and not (is_exact(program) and is_cached(program)):
        # A short call: compiling would cost more than it saves. A kernel compiled already is
        # taken only where it gives numpy's numbers bit for bit, so what an earlier call or
        # process left in the cache never changes a result.
        return "numpy"
    if reason is None:
        try:
            numba_kernel(program)  # compiled (or loaded from the disk cache) here, once per program
            return "numba"
        except NotCompiled as exc:
            reason = str(exc)
    if backend == "numba":
        warnings.warn(f"Model `{program.spec.name}` runs on numpy: {reason}.", BackendWarning, stacklevel=5)
    return "numpy"


def _inline(program: Program, n_runs: int, n_steps: int, method: str) -> bool:
    # The model's own ensemble driver (equations inlined in the loop) costs a compile of its own,
    # paid when the call is large enough to repay it, or already paid (cached).
    return n_runs > 1 and (has_ensemble_driver(program) or numpy_seconds(program, n_runs, n_steps, method)
                           > ensemble_compile_seconds(program))


def series_first(program: Program, n_runs: int, n_steps: int, method: str) -> bool:
    """Whether :func:`run_compiled` writes this call's record series first, ``(series, times,
    runs)`` (the model's lanes driver, ``sd_engine.numba_builtins.run_lanes``), rather
    than run by run; the caller allocates it so (another layout costs a copy)."""
    return _inline(program, n_runs, n_steps, method) and numba_kernel(program).lanes


def run_compiled(program: Program, *, times: np.ndarray, rows: np.ndarray, h: float, method: str, y0: np.ndarray,
                 z0: np.ndarray, c: list[np.ndarray | tuple[np.ndarray, np.ndarray]], record: np.ndarray,
                 keys: np.ndarray, plen: np.ndarray, pbuf: np.ndarray, disc: np.ndarray, pipes: np.ndarray,
                 rand: np.ndarray, fail_step: np.ndarray,
                 matrix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run `program`'s compiled kernel from the initial states `y0`, `z0` (one row per run),
    writing the saved series into `record` ``(runs, saved times, series)``.

    `fail_step` holds -1 for each run, or the step at which it already failed; the kernel
    sets the step at which a run's first stock becomes non-finite. Returns that stock's
    column and value per run, and each run's largest saved ``|value|`` (NaN where one is NaN:
    what :func:`sd_engine.guards.flag_values` would compute from `record`). `matrix`, when
    given, holds the constants of `c` as one ``(runs, constants)`` array already.
    """
    try:
        kernel = numba_kernel(program)
    except NotCompiled as exc:  # refusal() was checked by the caller; kept for direct use
        raise SpecError(f"Model `{program.spec.name}` cannot run on numba: {exc}.") from None
    n = y0.shape[0]
    n_constants = len(program.layout.constants)
    if matrix is not None:  # every constant a scalar: the block the inputs built once
        constants = matrix
    else:
        # One column per element: the kernel reads the unrolled model's constants (sd_engine.unroll).
        flat = flatten_constants(c, n_constants, n)
        constants = np.stack(flat, axis=1) if flat else np.zeros((n, 0))
    lookups = [pair for pair in c[n_constants:] if isinstance(pair, tuple)]
    parallel = n > 1
    inline = _inline(program, n, len(times) - 1, method)
    fail_col = np.zeros(n, dtype=np.int64)
    fail_value = np.zeros(n)
    big = np.zeros(n)
    # Threads pay only for a call of some size: waking them costs more than a small ensemble's
    # work, and far more on a machine whose cores are busy (measured: 1,000 teacup runs took
    # 3 ms on one thread, 12 ms on two of a loaded 2-core machine). A smaller call runs its
    # blocks one after another, without the thread pool.
    threads = parallel and numpy_seconds(program, n, len(times) - 1, method) >= PARALLEL_SECONDS
    kernel.run(times=times, rows=rows, h=h, method=method, y0=y0, z0=z0, constants=constants, lookups=lookups,
               record=record, keys=keys, plen=plen, pbuf=pbuf, disc=disc, pipes=pipes, rand=rand,
               fail_step=fail_step, fail_col=fail_col, fail_value=fail_value, parallel=threads,
               inline=inline, big=big)
    return fail_col, fail_value, big


def precompile(model: ProgramLike, *, ensemble: bool = True) -> float:
    """Compile `model`'s numba kernel and, with `ensemble`, its own ensemble driver now (or load
    them from the disk cache), so that later calls of any size use them; returns the seconds
    it took. For a service or a lab that will run the model many times.

    Raises
    ------
    SpecError
        The compiled back end does not cover the model (the message says why).
    """
    program = as_program(model)
    started = time.perf_counter()
    try:
        kernel = numba_kernel(program)
    except NotCompiled as exc:
        raise SpecError(f"Model `{program.spec.name}` cannot run on numba: {exc}.") from None
    if ensemble:
        layout = program.layout
        n, m, nz = 2, layout.n_stocks, layout.n_states
        pipes = [s for s in layout.states if s.update == "pipeline"]
        n_pipes = sum(s.size for s in pipes)
        n_constants = sum(s.size for s in layout.constants)  # one column per element (unrolled)
        # Two runs of one step on dummy inputs: the driver is compiled for the argument types
        # every call passes (NumbaKernel.run converts them alike); the numbers are thrown away.
        for threads in (True, False):  # both of its drivers: across cores, and one block after another
            with np.errstate(all="ignore"):
                kernel.run(times=np.array([0.0, 1.0]), rows=np.array([0, 1]), h=1.0, method="euler",
                           y0=np.ones((n, m)), z0=np.ones((n, nz)), constants=np.ones((n, n_constants)),
                           lookups=[(np.array([0.0, 1.0]), np.array([0.0, 1.0]))] * len(layout.lookups),
                           record=np.empty((n, 2, layout.n_series)), keys=np.zeros((n, 0), dtype=np.uint64),
                           plen=np.ones((n, n_pipes), dtype=np.int64), pbuf=np.zeros((n, n_pipes, 1)),
                           disc=np.zeros(0, dtype=np.int64), pipes=np.arange(0), rand=np.arange(0),
                           fail_step=np.full(n, -1), fail_col=np.zeros(n, dtype=np.int64), fail_value=np.zeros(n),
                           parallel=threads, inline=True)
    return time.perf_counter() - started
