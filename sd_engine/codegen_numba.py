"""The compiled back end: a model's equations and its step loop as one numba (LLVM) kernel.

The scalar path (:mod:`sd_engine.scalar`) writes a model's equations over Python floats;
:class:`NumbaGenerator` reuses that generator to write them for numba: ``evaluate`` computes
every flow and auxiliary of one run at one time from that run's stocks (those that only the
record reads, at saved times only: :func:`split_reported`), and ``run_one``
drives a whole run -- Euler, RK2 or RK4 steps, discrete states, DELAY FIXED pipelines and
the counter-based random draws of :mod:`sd_engine.integrate` -- without returning to Python.
``run_serial`` loops over the runs of a call; ``run_parallel`` spreads them across cores
with ``prange`` (each run writes only its own rows, so runs are independent and an ensemble
equals its single runs). A model's own ensemble drivers (compiled on demand) inline its
equations into that loop; for a model without lookups of up to :data:`LANES_MAX_EQUATIONS`
equations they run blocks of runs in lanes (``evaluate_lanes``: each equation a vector loop
over the runs of a block, ``sd_engine.numba_builtins.run_lanes``) and write the record
series first, as the numpy back end does.

What is computed is exactly what the numpy back end computes: the same lowered model, the
same order of equations and of operations inside each (``a + b - c`` as ``(a + b) - c``),
the same builtins (``sd_engine.numba_builtins``), numpy's float semantics
(``error_model="numpy"``: a division by zero gives inf or NaN). Initial values come from
the program's own ``initialize`` (run once, in numpy), so only the step loop is compiled.
Results equal the numpy back end's to rounding: bit for bit where the operations are
IEEE's own (+ - * /, comparisons, lookups), within an ulp or two where a transcendental
function of the C library differs from numpy's vectorised one.

A model with subscripts is unrolled first (:mod:`sd_engine.unroll`): one scalar variable per
element, in the columns of the original layout, so its constants come flattened, one column
per element. A large one (more than ``numba_loops.LOOP_LOCALS`` elements) has its locals in
one array and each run of like element lines written as a loop (``sd_engine.numba_loops``:
the same lines in the same order), which compiles in a fraction of the time; a step of more
than ``MAX_NODES`` syntax nodes even so is refused by name. What the kernel does not cover it
refuses by name (:class:`NotCompiled`): the array functions that do not unroll, a builtin not
in ``sd_engine.numba_builtins.COVERED`` (so a builtin added to the language later is refused
until it is written there), and programs not evaluated by generated code (the reference
interpreter). The caller then runs the numpy back end.

Compiled code is cached on disk: the generated module is written to
``<cache>/numba-<numba version>-<machine>/m_<hash>.py`` (the hash covers the source, the
builtins module and the Python version) and imported from there, and numba keeps its
machine code beside it (``cache=True``, keyed by numba on the CPU), so a second process
loads the kernel instead of compiling it. The cache folder is ``$SDFLOW_CACHE_DIR`` or the
user's cache directory (:func:`cache_dir`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import logging
import math
import os
import platform
import sys
import threading
import time
import types
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .codegen import comment
from .expr import Binary, Call, Expr, Num, Str, Table, walk
from .functions import ALIASES, BUILTINS
from .numba_loops import LOOP_GAIN, LOOP_LOCALS, code_length, loop_body, syntax_nodes
from .program import GeneratedEvaluator, Layout, Program, ProgramLike, as_program
from .scalar import NotScalar, ScalarGenerator
from .spec import Variable
from .unroll import ARRAY_ELEMENT, VECTOR, NotUnrolled, unroll

__all__ = ["NotCompiled", "NumbaGenerator", "NumbaKernel", "numba_kernel", "refusal", "cache_dir",
           "is_cached", "is_exact", "has_ensemble_driver", "use_lanes", "CACHE_ENV", "METHOD_CODES",
           "LANES_MAX_EQUATIONS", "split_reported", "MAX_ELEMENTS", "MAX_NODES"]

log = logging.getLogger("sd_engine.numba")

#: The environment variable naming the folder of compiled kernels (tests point it at a tmp dir).
CACHE_ENV = "SDFLOW_CACHE_DIR"
#: The most elements of an unrolled model the back end compiles, and the most syntax nodes
#: of its step (``evaluate``'s body, its runs of like elements written as loops:
#: ``sd_engine.numba_loops``). Compile times measured (CPU, a 2-core machine): 14,649 nodes
#: 12 s (VECTOR SELECT conformance model), 12,632 8 s (VECTOR ORDER's, with loops), 35,951
#: (1,207 elements, one line each) 18-43 s, the same written with loops 3,449 nodes 3.3 s;
#: 9,036 elements of three like equations: 148 lines, 0.5 s.
MAX_ELEMENTS = 10_000
MAX_NODES = 20_000
#: The fixed-step methods the kernel runs, by the code ``run_one`` takes.
METHOD_CODES = {"euler": 0, "rk2": 1, "rk4": 2}

_LOOKUP_IMPL = {"interpolate": "lookup", "extrapolate": "lookup_extrapolate", "hold_backward": "lookup_backward",
                "look_forward": "lookup_forward"}


# Internal builtins by the function the modeller wrote.
_USER_NAMES = {"_truncated_normal": "random_normal", "_truncated_poisson": "random_poisson",
               "_truncated_exponential": "random_exponential", "_xmile_pulse_train": "pulse"}


class NotCompiled(Exception):
    """The model uses something the compiled back end does not cover; the message names it."""


class NumbaGenerator(ScalarGenerator):
    """Writes a lowered model as a numba module: ``evaluate`` over floats and the run drivers.

    The expressions are those of :class:`~sd_engine.scalar.ScalarGenerator` (the same
    operations in the same order); the calls of builtins and lookups are this back end's
    (``sd_engine.numba_builtins``), and whatever it does not cover raises
    :class:`NotCompiled` naming the construct.

    A whole-array function (VECTOR SELECT, SORT ORDER, RANK, REORDER, ALLOCATE AVAILABLE, ALLOCATE
    BY PRIORITY, INVERT MATRIX; unrolled as :data:`sd_engine.unroll.ARRAY_ELEMENT`) is computed
    once per step, on its arguments gathered into arrays, by its helper in
    ``sd_engine.numba_arrays`` (``ARRAY_HELPERS``); the
    result goes into a local array (``_array0`` ...) written just before the first equation
    that reads it, and each element's equation reads its own entry.
    """

    def __init__(self, lowered: Any) -> None:
        super().__init__(lowered)
        # Whole-array calls: their vectors (by identity, kept) -> the local holding the result;
        # each local's line; and the functions computing them, one per helper and shape.
        self.array_calls: dict[tuple[object, ...], tuple[tuple[Expr, ...], str]] = {}
        self.array_lines: dict[str, str] = {}
        self.array_functions: dict[tuple[object, ...], tuple[str, list[str]]] = {}
        self._drained: dict[str, list[Variable]] | None = None  # flow -> the non-negative stocks it drains

    def draining(self, flow: Variable) -> list[tuple[Variable, tuple[str, ...], tuple[str, ...]]]:
        # The base class looks through every variable for each flow: quadratic in an unrolled
        # model's elements (9,000: 4 s); here the stocks each flow drains are found once.
        if self._drained is None:
            self._drained = {}
            for stock in self.vars.values():
                if stock.kind == "stock" and stock.non_negative:
                    for f in dict.fromkeys(stock.outflows):
                        self._drained.setdefault(f, []).append(stock)
        return [(stock, stock.inflows, stock.outflows[:stock.outflows.index(flow.canonical)])
                for stock in self._drained.get(flow.canonical, [])]

    def scalar_call(self, call: Call, var: Variable) -> str:
        if call.func == ARRAY_ELEMENT:
            return self.array_element(call, var)
        return super().scalar_call(call, var)

    def array_element(self, call: Call, var: Variable) -> str:
        """The code of one element of a whole-array call: an entry of the local its function fills."""
        func, index, row = call.args[:3]
        assert isinstance(func, Str) and isinstance(index, Num) and isinstance(row, Num)
        vectors = tuple(a for a in call.args[3:] if isinstance(a, Call))
        options = tuple(int(a.value) for a in call.args[3:] if isinstance(a, Num))  # after the vectors
        key = (func.value, *map(id, vectors))
        hit = self.array_calls.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], vectors)):
            codes = [[self.scalar(e, var) for e in v.args] for v in vectors if v.func == VECTOR]
            assert len(codes) == len(vectors)
            # Each distinct element once (a selection repeated along another axis: 20 of 400).
            unique = [list(dict.fromkeys(c)) for c in codes]
            name = f"_array{len(self.array_lines)}"
            function = self.array_function(func.value, [[u.index(x) for x in c] for u, c in zip(unique, codes)],
                                           int(row.value), options)
            self.array_lines[name] = (f"{name} = {function}({', '.join(x for u in unique for x in u)})"
                                      + comment(f"{func.value} (for {var.name} and the other elements)"))
            hit = (vectors, name)
            self.array_calls[key] = hit
        return f"{hit[1]}[{int(index.value)}]"

    def array_function(self, func: str, gathers: list[list[int]], row: int, options: tuple[int, ...] = ()) -> str:
        """The name of a function of the module taking a whole-array call's distinct argument
        elements as floats and returning its result as a tuple; `gathers` places each
        argument's distinct elements in its vector (a constant index array where one repeats).
        Arrays are made and freed inside a function of its own (numba's reference counting of
        arrays in one large function costs much compile time: 35 s instead of 13 s for the
        conformance model of VECTOR SORT ORDER), and the fewer its parameters the faster it
        compiles (the VECTOR SELECT conformance model: 41 s of CPU with every element passed)."""
        from .numba_arrays import ARRAY_HELPERS, ARRAY_RESULT

        key = (func, tuple(map(tuple, gathers)), row, options)
        if key not in self.array_functions:
            number = len(self.array_functions)
            name = f"_whole{number}"
            source = ["", ""]
            params, arrays = [], []
            for j, gather in enumerate(gathers):
                names = [f"a{j}_{i}" for i in range(max(gather) + 1)]
                params += names
                arrays.append(f"np.array(({', '.join(names)},), dtype=np.float64)")
                if gather != list(range(len(gather))):
                    source.append(f"_gather{number}_{j} = np.array({gather}, dtype=np.int64)")
                    arrays[-1] += f"[_gather{number}_{j}]"
            results = len(gathers[ARRAY_RESULT.get(func, 0)])
            source += [_DECORATOR_TYPED_BY_USE, f"def {name}({', '.join(params)}):",
                       f"    out = sa.{ARRAY_HELPERS[func]}({', '.join(arrays)}, {', '.join(map(str, (row, *options)))})",
                       f"    return ({', '.join(f'out[{i}]' for i in range(results))},)"]
            self.array_functions[key] = (name, source)
        return self.array_functions[key][0]

    def rate_lines(self) -> list[str]:
        lines = super().rate_lines()
        if not self.array_lines:
            return lines
        # Each whole-array call just before the first line reading it (after its arguments:
        # every element's equation reads all of them, so the order puts them first).
        # A call whose argument is another's element (VECTOR RANK inside ALLOCATE BY PRIORITY) comes after that one.
        pending = dict(self.array_lines)
        out: list[str] = []

        def place(line: str) -> None:
            for name in [n for n in pending if f"{n}[" in line]:
                if name in pending:
                    place(pending.pop(name))
            out.append(line)

        for line in lines:
            place(line)
        assert not pending, "a whole-array call that no equation reads"
        return out

    def emit(self, expr: Expr, var: Variable) -> tuple[str, None]:
        if isinstance(expr, Num) and not math.isfinite(expr.value):
            v = expr.value
            return ("math.nan" if v != v else "math.inf" if v > 0 else "(-math.inf)"), None
        return super().emit(expr, var)

    def scalar(self, expr: Expr, var: Variable) -> str:
        if isinstance(expr, Num) and not math.isfinite(expr.value):
            return self.emit(expr, var)[0]
        return super().scalar(expr, var)

    # Branch-free conditions: numba's compile time grows quickly with the branches of one
    # function (an unrolled model's conditional per element), and both sides of IF THEN ELSE
    # are computed anyway by numpy's np.where, which cannot raise here (error_model="numpy").
    def logical(self, op: str, left: str, right: str) -> str:
        # A truth value times 1.0 is 1.0 or 0.0 (numba has no float(bool)).
        if op == "not":
            return f"(({left} == 0.0) * 1.0)"  # NaN is true, so `not NaN` is 0.0, as np.logical_not
        if op in ("and", "or"):
            return f"((({left} != 0.0) {'&' if op == 'and' else '|'} ({right} != 0.0)) * 1.0)"
        return f"(({left} {op} {right}) * 1.0)"

    def choice(self, condition: str, a: str, b: str) -> str:
        return f"sf.choose({condition}, {a}, {b})"

    def inline_lookup(self, x: str, name: str, table: Table) -> str:
        return f"sf.lookup({x}, {name}_x, {name}_y, 0, {len(table.xs)})"

    def builtin_call(self, func: str, args: list[str], var: Variable) -> str:
        if func in ("min", "max"):
            # functions.minimum folds left: min(a, b, c) = minimum(minimum(a, b), c).
            code = args[0]
            for a in args[1:]:
                code = f"sf.{func}imum({code}, {a})"
            return code
        from .numba_builtins import COVERED  # numba is imported only when a kernel is built

        if func not in COVERED:
            raise NotCompiled(f"`{_USER_NAMES.get(func, func.lstrip('_'))}` (in `{var.name}`)")
        builtin = BUILTINS[func]
        prefix = (["t"] if builtin.time else []) + (["dt"] if builtin.dt else [])
        return COVERED[func].format(", ".join(prefix + args))

    def scalar_lookup(self, key: str, arg: Expr, var: Variable, mode: str) -> str:
        x = self.scalar(arg, var)
        if mode not in _LOOKUP_IMPL:
            raise NotCompiled(f"lookup mode `{mode}` (in `{var.name}`)")
        j = self.lookup_index[key]
        return f"sf.{_LOOKUP_IMPL[mode]}({x}, lx, ly, lo[{j}], lo[{j + 1}])"

    def generate(self, layout: Layout) -> str:
        if self.dims or any(v.dims for v in self.vars.values()):
            raise NotScalar
        self.lookup_index = {key: j for j, key in enumerate(layout.lookups)}
        ident = self.ident
        body: list[str] = []
        for slot in layout.stocks:
            body.append(f"{ident[slot.key]} = y[iy, {slot.start}]" + comment(slot.name))
        for slot in layout.states:
            body.append(f"{ident[slot.key]} = z[iz, {slot.start}]" + comment(slot.name))
        for i, slot in enumerate(layout.constants):
            body.append(f"{ident[slot.key]} = c[ic, {i}]" + comment(slot.name))
        rates = self.rate_lines()
        state = [f"K[s, {slot.start}] = {self.net_flow(self.vars[slot.key])}" + comment(f"net flow of {slot.name}")
                 for slot in layout.stocks]
        state += [f"ZN[q, {slot.start}] = {self.next_state(slot.key)}" + comment(f"next {slot.name}")
                  for slot in layout.states]
        needed, reported = split_reported(rates, state)
        body += needed + state
        body.append("if r >= 0:")
        # What only the record reads is computed at saved times only (a monthly record of a daily
        # model skips it on 29 steps of 30); the same lines in the same order, so the same values.
        body += ["    " + line for line in reported]
        body += [f"    R[r, {slot.start}] = {ident[slot.key]}" + comment(slot.name) for slot in layout.series]
        body.append("    pass")
        if len(self.vars) > LOOP_LOCALS:  # a large unrolled model: runs of like lines as loops
            looped = loop_body(body, len(self.vars))
            # Where few lines repeat, the locals in an array only lengthen it (LOOP_GAIN).
            if code_length(looped) <= LOOP_GAIN * code_length(body):
                body = looped
        size = syntax_nodes(body)
        if size > MAX_NODES:
            raise NotCompiled(f"model `{self.lowered.name}`, whose step is {size:,} syntax nodes once unrolled "
                              f"(more than {MAX_NODES:,}: its compile would take long)")
        lanes = use_lanes(layout, len(rates))
        lines = [f"# Generated by sdflow from model {self.lowered.name!r}: the compiled (numba) back end.",
                 "import math", "", "import numpy as np", "from numba import njit, prange", "",
                 "from sd_engine import numba_arrays as sa", "from sd_engine import numba_builtins as sf",
                 "from sd_engine.numba_builtins import STREAM_BYTES, draw, fence, maximum, stream", ""]
        for table, name in self.tables.items():
            lines.append(f"{name}_x = {_array(table.xs)}")
            lines.append(f"{name}_y = {_array(table.ys)}")
        for _, function in self.array_functions.values():
            lines += function
        lines += ["", "", _DECORATOR, "def evaluate(t, dt, y, iy, z, iz, c, ic, lx, ly, lo, K, s, ZN, q, R, r):"]
        lines += ["    " + b for b in body]
        if lanes:
            lines += ["", "", _DECORATOR_TYPED_BY_USE,
                      "def evaluate_lanes(t, dt, y, z, c, lx, ly, lo, K, ZN, out, B):", "    for u in range(B):"]
            lines += ["        " + b for b in self.lanes_body(layout, rates)]
        return "\n".join(lines) + "\n" + _ensemble_source(lanes)

    def next_state(self, key: str) -> str:
        """The local holding a discrete state's value for the next step: a sample's or a
        pipeline's input, or the state itself (held)."""
        var = self.vars[key]
        return self.ident[var.inflows[0] if var.update in ("discrete", "pipeline") and var.inflows else key]

    def lanes_body(self, layout: Layout, rates: list[str]) -> list[str]:
        """The loop body of ``evaluate_lanes``: `evaluate`'s lines for run `u` of a block whose
        variables are rows and runs columns (``y[j, u]``), every series written to `out`."""
        ident = self.ident
        body = [f"{ident[slot.key]} = y[{slot.start}, u]" + comment(slot.name) for slot in layout.stocks]
        body += [f"{ident[slot.key]} = z[{slot.start}, u]" + comment(slot.name) for slot in layout.states]
        body += [f"{ident[slot.key]} = c[{i}, u]" + comment(slot.name) for i, slot in enumerate(layout.constants)]
        body += rates
        body += [f"K[{slot.start}, u] = {self.net_flow(self.vars[slot.key])}" for slot in layout.stocks]
        body += [f"ZN[{slot.start}, u] = {self.next_state(slot.key)}" for slot in layout.states]
        body += [f"out[{slot.start}, u] = {ident[slot.key]}" for slot in layout.series]
        return body




# One compiled function per model, of the signature the shared drivers call
# (sd_engine.numba_builtins.EVALUATE): the drivers are compiled once per machine, not per model.
_DECORATOR = '@njit(sf.EVALUATE, cache=True, error_model="numpy", nogil=True)'
# The module's other functions (whole-array calls, the equations over a block of runs in lanes,
# the ensemble step loop), typed by their first call.
_DECORATOR_TYPED_BY_USE = '@njit(cache=True, error_model="numpy", nogil=True)'
# Ensembles: the shared step loop (numba_builtins.run_block, its source taken as it is) calling this
# model's `evaluate` directly, so the compiler inlines the equations into the loop, where the
# shared drivers call them through a pointer; runs spread across cores (`run_parallel`) or, for a
# call too small to wake threads, one block after another (`run_blocks`). Compiled on the first
# ensemble of the model, and cached.
_ENSEMBLE = """

{run_block}

@njit(cache=True, error_model="numpy", nogil=True)
def run_blocks(times, rows, h, method, Y, Z, C, lx, ly, lo, R, T, keys, plen, pbuf, disc, pipes, rand,
               fail_step, fail_col, fail_value, big):
    n = Y.shape[0]
    for a in range(0, n, BLOCK):
        run_block(a, min(n, a + BLOCK), times, rows, h, method, Y, Z, C, lx, ly, lo, R, T, keys, plen, pbuf,
                  disc, pipes, rand, fail_step, fail_col, fail_value, big)


@njit(cache=True, error_model="numpy", parallel=True)
def run_parallel(times, rows, h, method, Y, Z, C, lx, ly, lo, R, T, keys, plen, pbuf, disc, pipes, rand,
                 fail_step, fail_col, fail_value, big):
    n = Y.shape[0]
    blocks = sf.parallel_blocks(n, BLOCK)
    for block in prange(blocks):
        run_block(block * n // blocks, (block + 1) * n // blocks, times, rows, h, method, Y, Z, C, lx, ly, lo, R, T,
                  keys, plen, pbuf, disc, pipes, rand, fail_step, fail_col, fail_value, big)
"""


def use_lanes(layout: Layout, n_rates: int) -> bool:
    """Whether a model's ensemble driver runs its runs in lanes (``numba_builtins.run_lanes``):
    for a model without lookups of at most :data:`LANES_MAX_EQUATIONS` equations, where the
    vector loop over runs pays (teacup: 0.4 ms for 1,000 runs where run_block took 2.9 ms).
    Lookups search their table with a branch per point, which does not vectorise; a large
    model's second copy of the equations would add to a compile of seconds."""
    return not layout.lookups and n_rates <= LANES_MAX_EQUATIONS


#: The largest model (auxiliaries and flows) whose ensembles run in lanes.
LANES_MAX_EQUATIONS = 150


def _ensemble_source(lanes: bool = False) -> str:
    """The per-model ensemble driver: `run_block` (or, with `lanes`, `run_lanes` calling
    ``evaluate_lanes``) of the builtins module with the model's own function instead of a
    parameter."""
    from .numba_builtins import run_block, run_lanes

    name, argument = ("run_lanes", "lanes") if lanes else ("run_block", "evaluate")
    source = inspect.getsource(run_lanes if lanes else run_block)
    header = f"def {name}({argument}, a,"
    assert header in source, f"numba_builtins.{name} changed its signature"
    source = source[source.index(header):].replace(header, "def run_block(a,", 1)
    if lanes:
        source = source.replace("lanes(tt,", "evaluate_lanes(tt,", 1)
    # LANES tells the caller the record's layout; BLOCK is the runs of one call of run_block.
    head = "LANES = True\nBLOCK = sf.LANES\n\n\n" if lanes else "LANES = False\nBLOCK = sf.BLOCK\n\n\n"
    return _ENSEMBLE.format(run_block=head + _DECORATOR_TYPED_BY_USE + "\n" + source)


def _array(values: Any) -> str:
    """A literal float array: numbers by ``repr``, NaN and infinities by name (``repr`` would
    write ``nan``, which is no Python name)."""
    def one(v: float) -> str:
        return repr(v) if math.isfinite(v) else "np.nan" if v != v else "np.inf" if v > 0 else "-np.inf"

    return f"np.array([{', '.join(one(float(v)) for v in values)}], dtype=np.float64)"


def cache_dir() -> Path:
    """The folder of compiled kernels: ``$SDFLOW_CACHE_DIR``, else the user's cache directory
    (``~/.cache/sdflow`` on Linux, via platformdirs), with one subfolder per numba version and
    machine."""
    import numba
    import platformdirs

    base = os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("sdflow")
    return Path(base) / f"numba-{numba.__version__}-{platform.machine()}"


def _builtins_hash() -> str:
    here = Path(__file__)
    digest = hashlib.sha256()
    for name in ("numba_builtins.py", "numba_arrays.py"):  # the modules generated code imports
        digest.update(here.with_name(name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class NumbaKernel:
    """The compiled drivers of one program, and how to call them.

    Attributes
    ----------
    source : str
        The generated module (readable: each line carries its equation in a comment).
    path : Path
        Where the module lives in the cache.
    """

    source: str
    path: Path
    module: types.ModuleType
    tables: int  # lookups of the layout
    # `evaluate` as the shared drivers take it (its address looked up once), and the flat
    # lookup tables of the last call with the tables they came from (a model's own tables
    # are the same arrays call after call).
    pointer: Any = None
    flat: dict[str, Any] = field(default_factory=dict, repr=False)

    def run(self, *, times: np.ndarray, rows: np.ndarray, h: float, method: str, y0: np.ndarray,
            z0: np.ndarray, constants: np.ndarray, lookups: list[tuple[np.ndarray, np.ndarray]],
            record: np.ndarray, keys: np.ndarray, plen: np.ndarray, pbuf: np.ndarray, disc: np.ndarray,
            pipes: np.ndarray, rand: np.ndarray, fail_step: np.ndarray, fail_col: np.ndarray,
            fail_value: np.ndarray, parallel: bool, inline: bool = False, big: np.ndarray | None = None) -> None:
        """Run every row of `y0` from its initial state, writing the saved series into
        `record` ``(runs, saved times, series)`` and the first non-finite stock of each run into
        the ``fail_*`` arrays (a run whose ``fail_step`` is not -1 on entry is not checked), and
        each run's largest saved ``|value|`` (NaN if one is NaN) into `big` (zeros on entry).

        `parallel` spreads blocks of runs across cores; `inline` takes the model's own
        ensemble drivers (compiled on their first use, then cached), which inline the equations
        into the step loop, instead of the shared ones that call them through a pointer."""
        lx, ly, lo = self._flat_tables(lookups)
        from .numba_builtins import run_parallel, run_serial

        # numba's default thread pool (workqueue) cannot run two parallel kernels at once: a call
        # from a second thread while one runs (Dask's threaded workers) takes the serial driver.
        parallel = parallel and _PARALLEL.acquire(blocking=False)
        try:
            first: tuple[Any, ...] = () if inline else (self.pointer or self.module.evaluate,)
            driver: Any = (self.module.run_parallel if parallel else self.module.run_blocks) if inline else \
                run_parallel if parallel else run_serial
            lanes = inline and self.lanes
            # The lanes driver writes the record series first, (series, times, runs): a record of
            # another layout gets the numbers through a buffer of that one.
            target = record.transpose(2, 1, 0) if lanes else record
            buffer = target if target.flags.c_contiguous else np.empty(target.shape)
            self._call(driver, first, times, rows, h, method, y0, z0, constants, lx, ly, lo, buffer, lanes, keys,
                       plen, pbuf, disc, pipes, rand, fail_step, fail_col, fail_value,
                       np.zeros(len(y0)) if big is None else big)
            if buffer is not target:
                target[...] = buffer
        finally:
            if parallel:
                _PARALLEL.release()

    def _flat_tables(self, lookups: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every table in one pair of arrays and where each starts: ``(xs, ys, offsets)``."""
        last = self.flat.get("last")  # one tuple: threads see the tables with their arrays
        if last is not None and len(last[0]) == len(lookups) and all(
                a is xs and b is ys for (a, b), (xs, ys) in zip(last[0], lookups)):
            return last[1]  # type: ignore[no-any-return]
        sizes = [len(xs) for xs, _ in lookups]
        lo = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        lx = np.ascontiguousarray(np.concatenate([np.asarray(xs, dtype=float) for xs, _ in lookups] or [np.zeros(0)]))
        ly = np.ascontiguousarray(np.concatenate([np.asarray(ys, dtype=float) for _, ys in lookups] or [np.zeros(0)]))
        # Kept only for tables that cannot change in place (read-only: a model's own), so an
        # identical object means identical numbers.
        if all(not np.asarray(xs).flags.writeable and not np.asarray(ys).flags.writeable for xs, ys in lookups):
            self.flat["last"] = (list(lookups), (lx, ly, lo))
        return lx, ly, lo

    @property
    def lanes(self) -> bool:
        """Whether the model's own ensemble drivers run in lanes (``numba_builtins.run_lanes``),
        writing the record series first."""
        return bool(getattr(self.module, "LANES", False))

    @staticmethod
    def _call(driver: Any, first: tuple[Any, ...], times: np.ndarray, rows: np.ndarray, h: float, method: str,
              y0: np.ndarray, z0: np.ndarray, constants: np.ndarray, lx: np.ndarray, ly: np.ndarray, lo: np.ndarray,
              record: np.ndarray, lanes: bool, keys: np.ndarray, plen: np.ndarray, pbuf: np.ndarray,
              disc: np.ndarray, pipes: np.ndarray, rand: np.ndarray, fail_step: np.ndarray, fail_col: np.ndarray,
              fail_value: np.ndarray, big: np.ndarray) -> None:
        # `record` is (series, times, runs) for the lanes driver, else (runs, times, series),
        # which the other drivers take as rows (runs * times, series).
        n_saved = record.shape[1]
        flat = record if lanes else record.reshape(record.shape[0] * n_saved, record.shape[2])
        driver(*first, np.ascontiguousarray(times, dtype=np.float64), np.ascontiguousarray(rows, dtype=np.int64), float(h),
               METHOD_CODES[method], np.ascontiguousarray(y0, dtype=np.float64),
               np.ascontiguousarray(z0, dtype=np.float64), np.ascontiguousarray(constants, dtype=np.float64),
               lx, ly, lo, flat, n_saved, np.ascontiguousarray(keys, dtype=np.uint64),
               np.ascontiguousarray(plen, dtype=np.int64), np.ascontiguousarray(pbuf, dtype=np.float64),
               np.ascontiguousarray(disc, dtype=np.int64), np.ascontiguousarray(pipes, dtype=np.int64),
               np.ascontiguousarray(rand, dtype=np.int64), fail_step, fail_col, fail_value, big)


# Built once per program (or its refusal), dropped with it.
_KERNELS: weakref.WeakKeyDictionary[Program, NumbaKernel | str] = weakref.WeakKeyDictionary()
_SOURCES: weakref.WeakKeyDictionary[Program, str] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_PARALLEL = threading.Lock()


def refusal(model: ProgramLike) -> str | None:
    """Why the compiled back end cannot run `model` (one line naming the construct), or None."""
    program = as_program(model)
    if program in _SOURCES:
        return None
    if program in _KERNELS and isinstance(_KERNELS[program], str):
        return str(_KERNELS[program])
    try:
        _SOURCES[program] = _generate(program)
    except _Refused as exc:
        _KERNELS[program] = str(exc)
        return str(exc)
    return None


def split_reported(rates: list[str], state: list[str]) -> tuple[list[str], list[str]]:
    """Split a step's rate lines (generated ``name = expression`` lines, in order) into those
    the `state` lines (the net flows and next discrete states) read, directly or through other
    lines, and those that only the record reads; each part keeps its order. The generated
    lines hold only generated names, so Python's own parser reads what each line assigns and reads."""
    wanted = {node.id for line in state for node in ast.walk(ast.parse(line.strip()))
              if isinstance(node, ast.Name)}
    keep = [True] * len(rates)
    for i in range(len(rates) - 1, -1, -1):  # backwards: a line is needed once a later needed line reads it
        names = [node for node in ast.walk(ast.parse(rates[i].strip())) if isinstance(node, ast.Name)]
        assigned = {node.id for node in names if isinstance(node.ctx, ast.Store)}
        if assigned and not assigned & wanted:
            keep[i] = False
            continue
        wanted |= {node.id for node in names if isinstance(node.ctx, ast.Load)}
    return [x for x, k in zip(rates, keep) if k], [x for x, k in zip(rates, keep) if not k]


class _Refused(Exception):
    pass


def _generate(program: Program) -> str:
    if not isinstance(program.evaluator, GeneratedEvaluator):
        raise _Refused("the program is evaluated by the reference interpreter, not by generated code")
    try:
        import numba  # noqa: F401
    except ImportError:
        raise _Refused("numba is not installed (`pip install numba`)") from None
    try:
        # A model with subscripts as one scalar variable per element, in the same columns.
        # Sized by what the generator writes (MAX_NODES), not by the elements' operations:
        # loops write the elements of a large model in a fraction of their lines.
        unrolled = unroll(program, whole_select=True, max_elements=MAX_ELEMENTS, max_operations=math.inf)
    except NotUnrolled as exc:
        raise _Refused(f"the compiled back end does not unroll {exc}") from None
    try:
        return NumbaGenerator(unrolled.spec).generate(unrolled.layout)
    except NotScalar:
        raise _Refused("the model uses a construct the compiled back end does not cover") from None
    except NotCompiled as exc:
        raise _Refused(f"the compiled back end does not cover {exc}") from None


def _module_path(source: str) -> Path:
    key = hashlib.sha256(f"{source}\n{_builtins_hash()}\n{sys.version}".encode()).hexdigest()[:32]
    return cache_dir() / f"m_{key}.py"


_EXACT: weakref.WeakKeyDictionary[Program, bool] = weakref.WeakKeyDictionary()
# Whether a program's own ensemble drivers are compiled (in this process, or on disk when it looked).
_DRIVEN: weakref.WeakKeyDictionary[Program, bool] = weakref.WeakKeyDictionary()


def is_exact(model: ProgramLike) -> bool:
    """Whether `model`'s compiled runs give numpy's results bit for bit: its equations use no
    function whose compiled value may differ from numpy's in the last bit
    (``sd_engine.numba_builtins.INEXACT``, and ``**``). Then which back end runs a call
    cannot change its numbers."""
    program = as_program(model)
    found = _EXACT.get(program)
    if found is None:
        from .numba_builtins import INEXACT

        found = not any(
            (isinstance(node, Call) and ALIASES.get(node.func, node.func) in INEXACT)
            or (isinstance(node, Binary) and node.op == "**")
            for var in program.lowered.variables
            for equation in (var.equation, var.init_equation) if equation is not None
            for node in walk(equation))
        _EXACT[program] = found
    return found


def is_cached(model: ProgramLike) -> bool:
    """Whether `model`'s kernel is built in this process or compiled on disk (so running it
    costs no compile)."""
    program = as_program(model)
    kernel = _KERNELS.get(program)
    if isinstance(kernel, NumbaKernel):
        return True
    if refusal(program) is not None:
        return False
    path = _module_path(_SOURCES[program])
    cached = path.parent / "__pycache__"
    return cached.is_dir() and any(cached.glob(f"{path.stem}.evaluate-*.nbi"))


def has_ensemble_driver(model: ProgramLike) -> bool:
    """Whether `model`'s own ensemble driver is compiled, in this process or on disk."""
    program = as_program(model)
    known = _DRIVEN.get(program)
    if known:
        return True
    kernel = _KERNELS.get(program)
    if isinstance(kernel, NumbaKernel) and kernel.module.run_parallel.signatures \
            and kernel.module.run_blocks.signatures:
        _DRIVEN[program] = True  # compiled stays compiled
        return True
    if known is not None or refusal(program) is not None:
        return False
    # The disk is looked at once per program and process (a glob of the cache folder costs ~1 ms,
    # more than a small ensemble); a driver compiled later in this process is seen above, one
    # that another process compiles meanwhile is not (that changes the speed, not the numbers).
    path = _module_path(_SOURCES[program])
    cached = path.parent / "__pycache__"
    found = cached.is_dir() and all(any(cached.glob(f"{path.stem}.{driver}-*.nbi"))
                                    for driver in ("run_parallel", "run_blocks"))
    _DRIVEN[program] = found
    return found


def numba_kernel(model: ProgramLike) -> NumbaKernel:
    """The compiled kernel of `model` (built once per program, loaded from the disk cache when
    another process compiled it); raises :class:`NotCompiled` with the reason when the back end
    does not cover the model."""
    program = as_program(model)
    with _LOCK:
        kernel = _KERNELS.get(program)
        if isinstance(kernel, NumbaKernel):
            return kernel
        reason = refusal(program)
        if reason is not None:
            raise NotCompiled(reason)
        source = _SOURCES[program]
        path = _module_path(source)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written once under its hash: rewriting would change its time stamp and make numba
        # discard the machine code cached beside it. A file of that name that is not exactly
        # this source (a torn write) is replaced.
        if not path.exists() or path.read_text(encoding="utf-8") != source:
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(source, encoding="utf-8")
            os.replace(partial, path)
        spec = importlib.util.spec_from_file_location(f"sdflow_numba_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # Registered by name: numba's cached machine code finds its module's globals through it.
        sys.modules[spec.name] = module
        started = time.perf_counter()
        try:
            spec.loader.exec_module(module)  # compiles `evaluate` (explicit signature), or loads it from disk
        except Exception as exc:  # noqa: BLE001 -- numba's typing errors have no common base worth naming
            # A construct the generator writes but numba cannot type: a gap of this back end,
            # never the model's fault, so the call runs on numpy.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reason = f"numba could not compile it ({type(exc).__name__}: {first[:160]})"
            _KERNELS[program] = reason
            _SOURCES.pop(program, None)
            raise NotCompiled(reason) from None
        stats = module.evaluate.stats
        log.info("numba kernel of model %r %s in %.2f s (%s)", program.spec.name,
                 "loaded from the cache" if stats.cache_hits else "compiled", time.perf_counter() - started, path)
        try:
            from .numba_builtins import EvaluatePointer

            pointer: Any = EvaluatePointer(module.evaluate)
        except Exception:  # noqa: BLE001 -- numba's internals moved: the jitted function itself works, slower
            pointer = None
        kernel = NumbaKernel(source, path, module, len(program.layout.lookups), pointer)
        _KERNELS[program] = kernel
        return kernel

