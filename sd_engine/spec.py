"""The model specification: frozen, validated data describing a stock-and-flow model.

A :class:`ModelSpec` is what every front end produces (the Python builder, and the
Vensim/XMILE importers) and what the compiler consumes. It holds data, not behaviour.
Stateful builtins (SMOOTH, DELAY, TREND, SAMPLE IF TRUE, ...) are lowered into
explicit internal stocks by :func:`sd_engine.lower.lower`, so the graph and the
integrators only ever see stocks.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .errors import SpecError, UnknownVariableError, did_you_mean
from .expr import MAX_DEPTH, TIME_NAMES, Expr, canonical, depth, forbidden_character, to_text, unknown_operator

__all__ = [
    "Kind",
    "LookupMode",
    "StateUpdate",
    "Dimension",
    "LookupTable",
    "Variable",
    "TimeSettings",
    "ModelSpec",
    "RESERVED_NAMES",
    "check_name",
    "mapped_dimensions",
]

Kind = Literal["stock", "flow", "aux", "constant", "lookup"]
LookupMode = Literal["interpolate", "extrapolate", "hold_backward", "look_forward"]
#: How a stock's value moves on: integrated from flows, replaced once per step by the
#: value of its single inflow ("discrete", e.g. SAMPLE IF TRUE), a fixed-delay
#: pipeline (DELAY FIXED), or a fresh uniform random draw each step ("random").
StateUpdate = Literal["continuous", "discrete", "pipeline", "random"]

#: Names the equations use for time and the time step; no variable may take them. The builder
#: also reserves ``t`` and ``dt`` (its equations' names for time and the time step); a Vensim file
#: may name a variable ``t`` or ``DT`` (Vensim writes ``Time`` and ``TIME STEP``), which its
#: equations then read as that variable.
RESERVED_NAMES = frozenset(TIME_NAMES) - {"t", "dt"}


#: How names compare, for messages about two names that are one.
_SAME_NAME = "case, spaces, underscores and Unicode compatibility forms such as `µ`/`μ` or `ｃ`/`c` are ignored"


def check_name(name: str, what: str = "Variable", source: str = "") -> None:
    """Refuse a name that holds a control or invisible character, or is empty.

    Such characters cannot be shown or compared safely, and a line break in a name is how
    a model file would smuggle code into generated source; the generated code never holds
    names, but they are refused at this boundary all the same. The message shows the name
    through ``repr`` so that it cannot break a terminal or a log line either.

    Examples
    --------
    >>> check_name("Teacup Temperature")
    >>> check_name("a\\nb")
    Traceback (most recent call last):
    ...
    sd_engine.errors.SpecError: Variable name 'a\\nb' contains a line feed (U+000A); ...
    """
    if not isinstance(name, str):
        raise SpecError(f"{what} names must be text, not {type(name).__name__} ({name!r}).")
    bad = forbidden_character(name)
    if bad is not None:
        where = f" ({source})" if source else ""
        raise SpecError(
            f"{what} name {name!r}{where} contains {bad}; names may not hold control or invisible characters. "
            "Remove it from the name."
        )


@dataclass(frozen=True)
class Dimension:
    """A subscript range: a name and its ordered elements.

    ``maps_to`` names other dimensions of the same length that this one maps onto
    element by element (Vensim's ``B: b1, b2 -> A``): an equation over ``A`` may read a
    variable over ``B`` as ``x[A]``. A dimension whose elements are a subset of another's
    is a subrange of it: ``x[sub]`` reads those elements of a variable over the parent.
    """

    name: str
    elements: tuple[str, ...]
    maps_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_name(self.name, "Dimension")
        for element in self.elements:
            check_name(element, f"An element of dimension `{self.name}`")
        for other in self.maps_to:
            check_name(other, f"A dimension `{self.name}` maps to")
        if not self.elements:
            raise SpecError(f"Dimension `{self.name}` has no elements; give at least one.")
        if len(set(self.elements)) != len(self.elements):
            raise SpecError(f"Dimension `{self.name}` repeats an element; element names must be unique.")
        keys: dict[str, str] = {}
        for element in self.elements:
            first = keys.setdefault(canonical(element), element)
            if first != element:
                raise SpecError(
                    f"Dimension `{self.name}` has elements `{first}` and `{element}`, which are one name "
                    f"({_SAME_NAME}); rename one."
                )

    @property
    def canonical(self) -> str:
        return canonical(self.name)

    def index(self, element: str) -> int:
        names = [canonical(e) for e in self.elements]
        key = canonical(element)
        if key not in names:
            raise UnknownVariableError(
                f"`{element}` is not an element of dimension `{self.name}`."
                + did_you_mean(key, names)
            )
        return names.index(key)


def mapped_dimensions(dimensions: Sequence[Dimension]) -> dict[str, frozenset[str]]:
    """The dimensions each of `dimensions` may be read in place of, by canonical name: those it
    maps to and those mapped to it (Vensim's ``B: b1, b2 -> A``, either way).

    Examples
    --------
    >>> a, b = Dimension("A", ("a1", "a2")), Dimension("B", ("b1", "b2"), maps_to=("A",))
    >>> {k: sorted(v) for k, v in mapped_dimensions([a, b]).items()}
    {'a': ['b'], 'b': ['a']}
    """
    mapped: dict[str, set[str]] = {d.canonical: set() for d in dimensions}
    for d in dimensions:
        for other in d.maps_to:
            if canonical(other) in mapped:
                mapped[d.canonical].add(canonical(other))
                mapped[canonical(other)].add(d.canonical)
    return {k: frozenset(v) for k, v in mapped.items()}


@dataclass(frozen=True)
class LookupTable:
    """A graphical function: points ``(xs, ys)`` and how to read between and beyond them.

    ``interpolate`` holds the end values outside the table (Vensim's default),
    ``extrapolate`` continues the end segments linearly, ``hold_backward`` keeps the
    value of the last point at or before x (a step function) and ``look_forward``
    takes the value of the next point at or after x.
    """

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    mode: LookupMode = "interpolate"

    def __post_init__(self) -> None:
        if self.mode not in ("interpolate", "extrapolate", "hold_backward", "look_forward"):
            raise SpecError(f"Lookup mode {self.mode!r} is not one of interpolate, extrapolate, hold_backward and "
                            "look_forward.")
        if len(self.xs) != len(self.ys) or not self.xs:
            raise SpecError("A lookup needs the same positive number of x and y values.")
        if any(b < a for a, b in zip(self.xs, self.xs[1:])):
            raise SpecError("Lookup x values must be in increasing order.")
        if not all(math.isfinite(v) for v in self.xs + self.ys):
            raise SpecError("Lookup points must be finite numbers.")

    @classmethod
    def from_points(cls, points: Any, mode: LookupMode = "interpolate", *, name: str = "") -> LookupTable:
        """The table of lookup `name` from points given as users give them, checked.

        Accepted: a sequence of ``(x, y)`` pairs (``[(0, 1), (10, 0.5)]``); a pair
        ``(xs, ys)`` of two sequences of another length than two; a :class:`LookupTable`; a
        pandas Series whose index is x. A 2 x 2 nesting is read as two ``(x, y)`` pairs, like
        a literal table in ``with_lookup``. The builder declares lookups and ``run`` takes
        new tables for them by these rules.

        Examples
        --------
        >>> LookupTable.from_points([(0, 1), (10, 0.5)], name="f")
        LookupTable(xs=(0.0, 10.0), ys=(1.0, 0.5), mode='interpolate')
        >>> LookupTable.from_points(([0, 5, 10], [1, 0.8, 0.5]), name="f").xs
        (0.0, 5.0, 10.0)
        """
        if isinstance(points, LookupTable):
            xs, ys = np.asarray(points.xs, dtype=float), np.asarray(points.ys, dtype=float)
        elif hasattr(points, "index") and hasattr(points, "to_numpy") and getattr(points, "ndim", 0) == 1:
            xs, ys = np.asarray(points.index, dtype=float), points.to_numpy(dtype=float)
        else:
            try:
                arr = np.asarray(points, dtype=float)
            except (TypeError, ValueError):
                arr = np.zeros(0)
            if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] >= 1:
                xs, ys = arr[:, 0], arr[:, 1]
            elif arr.ndim == 2 and arr.shape[0] == 2 and arr.shape[1] >= 1:
                xs, ys = arr[0], arr[1]
            else:
                raise SpecError(
                    f"Lookup `{name}` needs (x, y) pairs such as [(0, 1), (10, 0.5)], or a pair of x and y "
                    f"sequences; got {points!r}."
                )
        if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
            raise SpecError(f"Lookup `{name}` has a point that is not a finite number.")
        if np.any(np.diff(xs) < 0):
            raise SpecError(f"Lookup `{name}` needs its x values in increasing order; got {xs.tolist()}.")
        return cls(tuple(map(float, xs)), tuple(map(float, ys)), mode)


@dataclass(frozen=True)
class Variable:
    """One model variable.

    ``equation`` is the rate equation of a flow or aux, the initial value of a stock,
    and the value of a scalar constant. Arrayed constants give ``values`` instead
    (C order over ``dims``). Names in ``inflows``/``outflows`` are canonical. ``undefined``
    lists the elements that have no definition (NaN values), as a model file may leave them.
    An internal variable (the stocks of a SMOOTH, an element split out of an array...) names
    in ``owner`` the variable of the model it belongs to, which messages name instead.
    """

    name: str
    kind: Kind
    equation: Expr | None = None
    text: str = ""
    dims: tuple[str, ...] = ()
    units: str = ""
    doc: str = ""
    inflows: tuple[str, ...] = ()
    outflows: tuple[str, ...] = ()
    non_negative: bool = False
    values: tuple[float, ...] | None = None
    lookup: LookupTable | None = None
    init_equation: Expr | None = None
    delay_time: Expr | None = None  # pipelines only: their delay, read once at the start
    update: StateUpdate = "continuous"
    internal: bool = False
    source: str = ""
    #: Elements the model file leaves undefined (Vensim defines a variable on some elements only
    #: and has no value for the others), each as ``"a1, b2"``; their values are NaN. Out of the
    #: repr (and so of the spec hash): the equation or values already hold the NaNs.
    undefined: tuple[str, ...] = field(default=(), repr=False)
    #: The display name of the model variable an internal variable belongs to ("" for the
    #: model's own). Out of the repr (and so of the spec hash), as `source` says the same in words.
    owner: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        check_name(self.name, "Variable", self.source)
        for expr in (self.equation, self.init_equation, self.delay_time):
            where = f" ({self.source})" if self.source else ""
            if expr is not None and depth(expr) > MAX_DEPTH:
                raise SpecError(
                    f"The equation of `{self.name}`{where} nests {depth(expr)} levels deep, more than the "
                    f"{MAX_DEPTH} sdflow accepts; split it into auxiliaries."
                )
            bad = None if expr is None else unknown_operator(expr)
            if bad is not None:
                raise SpecError(f"The equation of `{self.name}`{where} uses operator {bad!r}, which is not one of "
                                "+ - * / ** % == != < <= > >= and or not.")
        if self.kind not in ("stock", "flow", "aux", "constant", "lookup"):
            raise SpecError(f"`{self.name}` has unknown kind {self.kind!r}.")
        if not self.name.strip():
            raise SpecError("A variable needs a non-empty name.")
        if self.canonical in RESERVED_NAMES:
            raise SpecError(
                f"`{self.name}` is a reserved name (time and the time step); choose another name."
            )
        if self.kind == "lookup":
            if self.lookup is None:
                raise SpecError(f"Lookup `{self.name}` needs its table of points.")
        elif self.kind == "constant":
            if (self.equation is None) == (self.values is None):
                raise SpecError(f"Constant `{self.name}` needs exactly one of a value or an array of values.")
        elif self.equation is None:
            what = "an initial value" if self.kind == "stock" else "an equation"
            raise SpecError(f"{self.kind.capitalize()} `{self.name}` needs {what}.")
        if (self.inflows or self.outflows) and self.kind != "stock":
            raise SpecError(f"`{self.name}` is a {self.kind}; only stocks have inflows and outflows.")
        if self.update != "continuous" and self.kind != "stock":
            raise SpecError(f"`{self.name}`: only stocks have a state update rule.")

    @property
    def canonical(self) -> str:
        return canonical(self.name)

    @property
    def equation_text(self) -> str:
        """The equation as written, or rendered from the tree."""
        if self.text:
            return self.text
        if self.equation is not None:
            return to_text(self.equation)
        return ""


@dataclass(frozen=True)
class TimeSettings:
    """Simulation time: start, end, step, save interval, units and default method."""

    initial_time: float = 0.0
    final_time: float = 100.0
    dt: float = 1.0
    saveper: float | None = None  # None: every dt
    units: str = "time"
    method: str = "euler"
    #: Settings given by equations that change during the run (Vensim control variables):
    #: ``(setting, variable)`` pairs, setting one of "final_time", "dt", "saveper" and the
    #: variable (canonical name) an auxiliary whose value the integrator reads at every step.
    #: The numbers above are then their values at the initial time.
    controls: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for setting, _ in self.controls:
            if setting not in ("final_time", "dt", "saveper"):
                raise SpecError(f"Time setting `{setting}` cannot be given by an equation; only final_time, dt "
                                "and saveper can.")
        for name in ("initial_time", "final_time", "dt"):
            if not math.isfinite(getattr(self, name)):
                raise SpecError(f"Time setting `{name}` must be a finite number.")
        if self.dt <= 0:
            raise SpecError(f"The time step `dt` must be positive, not {self.dt}.")
        if self.final_time < self.initial_time:
            raise SpecError(
                f"`final_time` ({self.final_time}) is before `initial_time` ({self.initial_time}); "
                "swap them or fix the model's time settings."
            )
        if self.saveper is not None and not self.saveper > 0:
            raise SpecError(f"The save interval `saveper` must be positive, not {self.saveper}.")


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: variables, dimensions and time settings.

    Examples
    --------
    >>> from sd_engine.builder import Model
    >>> m = Model("decay")
    >>> _ = m.stock("x", initial=1.0, outflows=["loss"])
    >>> _ = m.flow("loss", "x / 2")
    >>> spec = m.spec()
    >>> spec["X"].kind
    'stock'
    """

    name: str
    variables: tuple[Variable, ...]
    time: TimeSettings = TimeSettings()
    dimensions: tuple[Dimension, ...] = ()
    doc: str = ""
    source: str = ""
    #: Files an imported model read its data from, as ``(path relative to the model, size in
    #: bytes, SHA-256)``: part of the hash, so results record the data as well as the equations.
    data_files: tuple[tuple[str, int, str], ...] = ()
    #: Model metadata copied into the ``attrs`` of every result, as ``(key, text)`` pairs
    #: (for instance the calendar date of the initial time, ``start_date``).
    attrs: tuple[tuple[str, str], ...] = ()
    _index: Mapping[str, Variable] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Variable] = {}
        for var in self.variables:
            key = var.canonical
            if key in index:
                first = index[key]
                both = "" if first.name == var.name else \
                    f": `{first.name}` and `{var.name}` are one name ({_SAME_NAME})"
                raise SpecError(
                    f"Two variables are named `{var.name}` (names ignore case, spaces and underscores); "
                    f"rename one{both}."
                )
            index[key] = var
        object.__setattr__(self, "_index", index)
        dims: dict[str, Dimension] = {}
        for dim in self.dimensions:
            first_dim = dims.setdefault(dim.canonical, dim)
            if first_dim is not dim:
                raise SpecError(f"Two dimensions share a name: `{first_dim.name}` and `{dim.name}`; rename one.")
        for var in self.variables:
            for d in var.dims:
                if canonical(d) not in dims:
                    raise SpecError(
                        f"`{var.name}` uses dimension `{d}`, which the model does not define."
                        + did_you_mean(canonical(d), dims)
                    )
            if var.values is not None:
                size = math.prod(len(dims[canonical(d)].elements) for d in var.dims)
                if len(var.values) != size:
                    raise SpecError(
                        f"Constant `{var.name}` has {len(var.values)} values but its dimensions "
                        f"{var.dims} have {size} elements."
                    )
            if var.kind == "stock":
                for flow_name in var.inflows + var.outflows:
                    flow = index.get(flow_name)
                    if flow is None:
                        raise SpecError(
                            f"Stock `{var.name}` lists flow `{flow_name}`, which is not defined."
                            + did_you_mean(flow_name, [k for k, v in index.items() if v.kind == "flow"])
                            + " Define it with `flow(...)` or remove it from the stock."
                        )
                    if flow.kind != "flow" and var.update == "continuous":
                        raise SpecError(
                            f"Stock `{var.name}` lists `{flow.name}` as a flow, but it is "
                            f"{'an' if flow.kind == 'aux' else 'a'} {flow.kind}; declare it with `flow(...)`."
                        )

    # -- lookups -----------------------------------------------------------------
    def __getitem__(self, name: str) -> Variable:
        try:
            return self._index[canonical(name)]
        except KeyError:
            raise UnknownVariableError(
                f"Model `{self.name}` has no variable `{name}`."
                + did_you_mean(canonical(name), self._index)
            ) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical(name) in self._index

    @property
    def names(self) -> tuple[str, ...]:
        """Canonical names of all variables, in definition order."""
        return tuple(self._index)

    def dimension(self, name: str) -> Dimension:
        for d in self.dimensions:
            if d.canonical == canonical(name):
                return d
        raise UnknownVariableError(
            f"Model `{self.name}` has no dimension `{name}`."
            + did_you_mean(canonical(name), [d.canonical for d in self.dimensions])
        )

    def of_kind(self, kind: Kind) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.kind == kind)

    def hash(self) -> str:
        """A stable content hash, recorded in results for provenance."""
        content = (self.variables, self.time, self.dimensions) + ((self.data_files,) if self.data_files else ())
        return hashlib.sha256(repr(content).encode()).hexdigest()[:16]
