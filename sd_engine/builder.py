"""The Python builder: write a stock-and-flow model as code.

Equations are strings in Python expression syntax, parsed with :mod:`ast` into the
shared expression tree; display names may contain spaces and capitals, and
equations refer to them in canonical form (lower case, underscores).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .compile import CompiledModel, compile_model
from .errors import SpecError
from .expr import TIME_NAMES, Call, canonical, parse_equation
from .spec import Dimension, LookupMode, LookupTable, ModelSpec, TimeSettings, Variable

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["Model", "table_points"]


def table_points(name: str, points: Any) -> tuple[np.ndarray, np.ndarray]:
    """The ``(xs, ys)`` of lookup `name` given as points, checked, as arrays (the rules of
    :meth:`LookupTable.from_points <sd_engine.LookupTable.from_points>`).

    Examples
    --------
    >>> [a.tolist() for a in table_points("f", [(0, 1), (10, 0.5)])]
    [[0.0, 10.0], [1.0, 0.5]]
    >>> [a.tolist() for a in table_points("f", ([0, 5, 10], [1, 0.8, 0.5]))]
    [[0.0, 5.0, 10.0], [1.0, 0.8, 0.5]]
    """
    table = LookupTable.from_points(points, name=name)
    return np.asarray(table.xs, dtype=float), np.asarray(table.ys, dtype=float)


class Model:
    """Build a model by declaring its stocks, flows, auxiliaries, constants and lookups.

    Parameters
    ----------
    name : str
        The model's name.
    time_units : str
        Units of time ("day", "month", ...).
    initial_time, final_time, dt : float
        Simulation horizon and time step.
    saveper : float, optional
        Interval between saved times; every `dt` when omitted.
    method : str
        Default integration method ("euler", "rk2", "rk4", "rk45").

    Examples
    --------
    >>> m = Model("acute flow", time_units="day", final_time=10)
    >>> _ = m.constant("average los", 5, units="day")
    >>> _ = m.stock("Patients in beds", initial=1600, inflows=["admissions"],
    ...             outflows=["discharges"], units="people")
    >>> _ = m.flow("admissions", "300", units="people/day")
    >>> _ = m.flow("discharges", "patients_in_beds / average_los", units="people/day")
    >>> ds = m.run()
    >>> round(float(ds["Patients in beds"][-1]), 3)
    1510.737
    """

    def __init__(
        self,
        name: str,
        *,
        time_units: str = "time",
        initial_time: float = 0.0,
        final_time: float = 100.0,
        dt: float = 1.0,
        saveper: float | None = None,
        method: str = "euler",
        doc: str = "",
    ) -> None:
        self.name = name
        self.doc = doc
        #: Where the model comes from, kept in the spec and the results; a library model's
        #: module (``models.sir``), which is how its named loops are found.
        self.source = "python builder"
        #: Metadata copied into the ``attrs`` of every result (``{"start_date": "2018-04-01"}``).
        self.attrs: dict[str, str] = {}
        self.time = TimeSettings(
            initial_time=float(initial_time),
            final_time=float(final_time),
            dt=float(dt),
            saveper=None if saveper is None else float(saveper),
            units=time_units,
            method=method,
        )
        self._variables: dict[str, Variable] = {}
        self._dimensions: dict[str, Dimension] = {}
        self._compiled: CompiledModel | None = None

    # -- declarations ----------------------------------------------------------------
    def dimension(self, name: str, elements: Iterable[str]) -> Dimension:
        """Declare a subscript range, e.g. ``m.dimension("region", ["north", "south"])``."""
        dim = Dimension(name, tuple(str(e) for e in elements))
        self._dimensions[dim.canonical] = dim
        self._compiled = None
        return dim

    def stock(
        self,
        name: str,
        initial: str | float,
        *,
        inflows: Sequence[str] = (),
        outflows: Sequence[str] = (),
        units: str = "",
        doc: str = "",
        dims: Sequence[str] = (),
        non_negative: bool = False,
    ) -> Variable:
        """Declare a stock with its initial value and the flows that fill and drain it."""
        if isinstance(inflows, str) or isinstance(outflows, str):
            raise SpecError(f"Stock `{name}`: give inflows and outflows as lists of flow names.")
        return self._add(
            Variable(
                name,
                "stock",
                parse_equation(initial, variable=name),
                text=str(initial),
                dims=tuple(dims),
                units=units,
                doc=doc,
                inflows=tuple(canonical(f) for f in inflows),
                outflows=tuple(canonical(f) for f in outflows),
                non_negative=non_negative,
            )
        )

    def flow(
        self,
        name: str,
        equation: str | float,
        *,
        units: str = "",
        doc: str = "",
        dims: Sequence[str] = (),
        non_negative: bool = False,
    ) -> Variable:
        """Declare a flow (a rate, in stock units per time unit)."""
        return self._equation_variable("flow", name, equation, units, doc, dims, non_negative)

    def aux(
        self, name: str, equation: str | float, *, units: str = "", doc: str = "", dims: Sequence[str] = ()
    ) -> Variable:
        """Declare an auxiliary computed from other variables at each time."""
        return self._equation_variable("aux", name, equation, units, doc, dims, False)

    def constant(
        self, name: str, value: float | Sequence[float] | np.ndarray, *, units: str = "", doc: str = "",
        dims: Sequence[str] = (),
    ) -> Variable:
        """Declare a constant: a number, or an array of numbers over `dims`."""
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise SpecError(f"Constant `{name}` must be finite, not {value!r}.")
        if arr.ndim == 0 and not dims:
            return self._add(
                Variable(name, "constant", parse_equation(float(arr), variable=name), text=repr(float(arr)),
                         units=units, doc=doc)
            )
        shape = tuple(len(self._dim(d).elements) for d in dims)
        if arr.ndim == 0:
            arr = np.broadcast_to(arr, shape)
        elif arr.shape != shape and arr.size != np.prod(shape):
            raise SpecError(
                f"Constant `{name}` has shape {arr.shape} but its dimensions {tuple(dims)} have shape {shape}."
            )
        return self._add(
            Variable(name, "constant", values=tuple(float(v) for v in arr.ravel()), dims=tuple(dims),
                     units=units, doc=doc)
        )

    def lookup(
        self,
        name: str,
        points: Sequence[tuple[float, float]] | tuple[Sequence[float], Sequence[float]],
        *,
        mode: LookupMode = "interpolate",
        units: str = "",
        doc: str = "",
    ) -> Variable:
        """Declare a graphical function, called in equations as ``name(x)``.

        `points` is a sequence of ``(x, y)`` pairs, a pair ``(xs, ys)`` of longer
        sequences, a :class:`~sd_engine.spec.LookupTable` or a pandas Series indexed by x
        (see :meth:`LookupTable.from_points <sd_engine.LookupTable.from_points>`).
        """
        table = LookupTable.from_points(points, mode, name=name)
        return self._add(Variable(name, "lookup", lookup=table, units=units, doc=doc))

    # -- results -----------------------------------------------------------------------
    def spec(self) -> ModelSpec:
        """Return the validated, frozen specification of the model as declared so far."""
        return ModelSpec(
            name=self.name,
            variables=tuple(self._variables.values()),
            time=self.time,
            dimensions=tuple(self._dimensions.values()),
            doc=self.doc,
            source=self.source,
            attrs=tuple(sorted((str(k), str(v)) for k, v in self.attrs.items())),
        )

    def compile(self) -> CompiledModel:
        """Compile the model (cached until the next declaration)."""
        if self._compiled is None:
            self._compiled = compile_model(self.spec())
        return self._compiled

    def run(self, **kwargs: Any) -> xr.Dataset:
        """Compile and run; see :meth:`sd_engine.compile.CompiledModel.run`."""
        return self.compile().run(**kwargs)

    # -- internals ---------------------------------------------------------------------
    def _equation_variable(
        self, kind: str, name: str, equation: str | float, units: str, doc: str, dims: Sequence[str],
        non_negative: bool,
    ) -> Variable:
        expr = parse_equation(equation, variable=name)
        init = None
        # ACTIVE INITIAL is a property of the whole equation, not a value inside it.
        if isinstance(expr, Call) and expr.func == "active_initial":
            if len(expr.args) != 2:
                raise SpecError(f"`active_initial` in `{name}` takes (equation, initial value).")
            expr, init = expr.args
        return self._add(
            Variable(name, kind, expr, text=str(equation), dims=tuple(dims), units=units, doc=doc,  # type: ignore[arg-type]
                     non_negative=non_negative, init_equation=init)
        )

    def _dim(self, name: str) -> Dimension:
        try:
            return self._dimensions[canonical(name)]
        except KeyError:
            raise SpecError(f"Dimension `{name}` is not declared; call `dimension(...)` first.") from None

    def _add(self, var: Variable) -> Variable:
        if var.canonical in TIME_NAMES:
            # `t` is time in the builder's equations, so no variable may take it here.
            raise SpecError(f"`{var.name}` is a reserved name (time and the time step); choose another name.")
        if var.canonical in self._variables:
            first = self._variables[var.canonical].name
            both = "" if first == var.name else \
                f" `{first}` and `{var.name}` are one name (case, spaces, underscores and Unicode forms are ignored)."
            raise SpecError(f"`{var.name}` is already defined in model `{self.name}`; each name is defined once.{both}")
        self._variables[var.canonical] = var
        self._compiled = None
        return var
