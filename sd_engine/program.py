"""The compiled program: the contract between the compiler and every back end.

The compiler (:func:`sd_engine.codegen.compile_program`) turns a
:class:`~sd_engine.spec.ModelSpec` into a :class:`Program`: plain, frozen data -- the spec,
its lowered form, the :class:`Layout` of the state buffers, the generated numpy source with
its literal tables -- and an :class:`Evaluator` that fills those buffers. Everything that
runs a model reads this and nothing else: the integrators, the scalar fast path, the
reference interpreter (an evaluator of its own), the loop scores, the results. The object
users hold, :class:`sd_engine.compile.CompiledModel`, is a thin door over a program.

A new back end (a compiled kernel, say) needs what is here: the layout says where every
variable lives, the lowered spec what it computes, and :class:`Evaluator` the two calls and
their buffers. :func:`load_functions` turns generated source into functions with a
traceback that shows the equations; :data:`FUNCTION_NAMESPACE` is the ``fn`` namespace of
builtins that generated code calls.
"""

from __future__ import annotations

import linecache
import math
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import numpy as np

from .errors import SpecError
from .expr import Table
from .functions import ARRAY_FUNCTIONS, BUILTINS, LOOKUP_MODES
from .spec import ModelSpec

__all__ = [
    "Slot",
    "Layout",
    "Evaluator",
    "GeneratedEvaluator",
    "Program",
    "SupportsProgram",
    "ProgramLike",
    "as_program",
    "load_functions",
    "FUNCTION_NAMESPACE",
]


@dataclass(frozen=True)
class Slot:
    """Where one variable lives in a flat buffer: columns ``start:stop``, reshaped to ``shape``."""

    name: str  # display name
    key: str  # canonical name
    kind: str
    dims: tuple[str, ...]  # canonical dimension names
    shape: tuple[int, ...]
    start: int
    update: str = "continuous"
    internal: bool = False

    @property
    def stop(self) -> int:
        return self.start + math.prod(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Layout:
    """The compiled model's buffers: continuous stocks, discrete states, inputs, recorded series."""

    stocks: tuple[Slot, ...]
    states: tuple[Slot, ...]
    constants: tuple[Slot, ...]  # c[i] for i, slot in enumerate(constants)
    lookups: tuple[str, ...]  # canonical names; c[len(constants) + i] is (xs, ys)
    series: tuple[Slot, ...]

    @property
    def n_stocks(self) -> int:
        return sum(s.size for s in self.stocks)

    @property
    def n_states(self) -> int:
        return sum(s.size for s in self.states)

    @property
    def n_series(self) -> int:
        return sum(s.size for s in self.series)


class Evaluator(Protocol):
    """What computes a model's values: the two calls every integrator makes.

    The generated numpy code (:class:`GeneratedEvaluator`) and the reference interpreter
    (:class:`sd_engine.interpret.Interpreter`) implement it; so must any new back end. The
    contract, for implementers:

    1. Every buffer has a leading **run axis** of length ``n`` (``n = y.shape[0]``): one call
       computes every run of an ensemble. Row ``i`` of an output depends on row ``i`` of the
       inputs only, so an ensemble equals its runs computed one at a time.
    2. Columns follow the :class:`Layout`: a variable with slot ``s`` in a buffer occupies
       columns ``s.start:s.stop``, its elements in C order over ``s.dims``. ``y`` holds the
       continuous stocks (``layout.stocks``), ``z`` the discrete states (``layout.states``),
       ``out`` the recorded series (``layout.series``).
    3. ``c`` is a list: first one array ``(n, *slot.shape)`` per constant of
       ``layout.constants``, in order, then one ``(xs, ys)`` pair of 1-D arrays per lookup of
       ``layout.lookups`` (tables are shared by all runs).
    4. ``t`` and ``dt`` are numpy float64 scalars: the time of the step and the time step.
    5. ``initialize(t, c, dt, y, z, delay)`` writes the initial value of every stock into
       ``y`` and of every discrete state into ``z``, except the random states, whose columns
       already hold the integrator's first draw (and may be read); it writes the delay time
       of each pipeline (DELAY FIXED) into ``delay``, one column per pipeline element, the
       pipelines in the order of ``layout.states``. It computes only what those need.
    6. ``evaluate(t, y, z, c, dt, dy, zn, out)`` computes every flow and auxiliary from
       ``y``, ``z`` and ``c`` at time ``t``; writes each stock's net flow into ``dy``, the
       next value of each discrete state into ``zn`` (a sample or pipeline: its inflow's
       value; other states: their own) and, when ``out`` is not None, every series into
       ``out``. It reads ``y``, ``z`` and ``c`` and never writes them; it keeps no state
       between calls, because a Runge-Kutta step calls it several times per step with trial
       stocks (and ``out=None``), and the adaptive method one run at a time.
    7. Arithmetic follows numpy's float semantics: a division by zero gives inf or NaN, not an
       exception (the integrator finds non-finite stocks and marks or raises for the run).
    8. The semantics are those of the lowered spec and :mod:`sd_engine.functions`: the
       builtins' implementations, outflows of non-negative stocks capped by what the stock
       holds (first listed, first served), non-negative flows floored at 0. The interpreter
       is the reference; the generated code matches it to rounding.
    9. A problem the spec's validation could not see (an equation over a dimension its
       variable lacks, a block equation that misses an element) raises an
       :class:`~sd_engine.errors.SDError` naming the variable, at the latest on the first call.
    """

    def initialize(self, t: Any, c: Sequence[Any], dt: Any, y: np.ndarray, z: np.ndarray,
                   delay: np.ndarray) -> None:
        """Fill initial stocks ``y``, discrete states ``z`` and pipeline delays ``delay``."""

    def evaluate(self, t: Any, y: np.ndarray, z: np.ndarray, c: Sequence[Any], dt: Any, dy: np.ndarray,
                 zn: np.ndarray, out: np.ndarray | None) -> None:
        """Fill net flows ``dy``, next discrete states ``zn`` and, unless None, series ``out``."""


def load_functions(source: str, filename: str, namespace: dict[str, Any]) -> dict[str, types.FunctionType]:
    """Turn generated source into functions, by name; the source is also put in
    :mod:`linecache` under `filename`, so a traceback shows the generated line and its equation.

    Examples
    --------
    >>> fns = load_functions("def double(x):\\n    return 2 * x\\n", "<example>", {})
    >>> fns["double"](21)
    42
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    try:
        module_code = compile(source, filename, "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
        # Not reached by a valid spec (names never enter the code, nesting is checked): a
        # typed error all the same, naming the line (whose comment names the variable).
        line = getattr(exc, "lineno", None)
        text = source.splitlines()[line - 1].strip() if line and line <= source.count("\n") + 1 else ""
        raise SpecError(
            f"The code generated for {filename} does not compile ({type(exc).__name__}: {exc}); "
            f"at: {text[:200]!r}. Simplify that equation and report the model as an sdflow bug."
        ) from None
    return {
        const.co_name: types.FunctionType(const, namespace, const.co_name)
        for const in module_code.co_consts
        if isinstance(const, types.CodeType)
    }


#: The ``fn`` namespace of generated code: builtins by their equation names (without a leading
#: underscore), lookups by the name of their mode's implementation, array functions by name.
FUNCTION_NAMESPACE = types.SimpleNamespace(
    **{name.lstrip("_"): builtin.impl for name, builtin in BUILTINS.items()},
    **{impl.__name__: impl for impl in LOOKUP_MODES.values()},
    **ARRAY_FUNCTIONS,
)


class GeneratedEvaluator:
    """The :class:`Evaluator` of generated numpy source: its ``initialize`` and ``evaluate``.

    `tables` names the literal tables (``with_lookup``) the source reads as globals. The
    functions are built once; a copy sent to another process (pickled to a Dask worker)
    builds them again from the same source.
    """

    initialize: Callable[..., None]
    evaluate: Callable[..., None]

    def __init__(self, source: str, filename: str, tables: Mapping[Table, str]) -> None:
        self._args = (source, filename, dict(tables))
        namespace: dict[str, Any] = {"np": np, "fn": FUNCTION_NAMESPACE, "__name__": "sdflow_generated"}
        for table, name in tables.items():
            namespace[name] = (np.array(table.xs), np.array(table.ys))
        functions = load_functions(source, filename, namespace)
        # Attributes, not methods: the integrators call them directly, once or more per step.
        self.initialize = functions["initialize"]
        self.evaluate = functions["evaluate"]

    def __reduce__(self) -> tuple[Any, ...]:
        return (GeneratedEvaluator, self._args)


@dataclass(frozen=True, eq=False)
class Program:
    """A compiled model as data: what every back end consumes.

    Attributes
    ----------
    spec : ModelSpec
        The model as written.
    lowered : ModelSpec
        The model with every stateful builtin lowered to internal variables: what is computed.
    layout : Layout
        Where each stock, state, input and recorded series lives in the buffers.
    source : str
        The generated numpy source of ``initialize`` and ``evaluate`` (readable; kept for
        tracebacks and for back ends that start from it).
    tables : mapping
        Literal tables of the source (``with_lookup``), by the global name it reads them under.
    evaluator : Evaluator
        What computes the values: the generated code, or another back end's evaluator.

    Programs compare by identity, so caches of derived code can key on them
    (:class:`weakref.WeakKeyDictionary`); a program never changes after it is built.
    """

    spec: ModelSpec
    lowered: ModelSpec
    layout: Layout
    source: str = field(repr=False)
    tables: Mapping[Table, str] = field(repr=False)
    evaluator: Evaluator = field(repr=False)


class SupportsProgram(Protocol):
    """Anything that holds a program, as :class:`~sd_engine.compile.CompiledModel` does."""

    @property
    def program(self) -> Program: ...


#: What the back ends accept: a program, or an object that holds one (a compiled model).
ProgramLike: TypeAlias = Program | SupportsProgram


def as_program(model: ProgramLike) -> Program:
    """The program of `model`: `model` itself, or the program it holds."""
    return model if isinstance(model, Program) else model.program
