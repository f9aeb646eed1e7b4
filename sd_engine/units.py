"""Units: parse unit strings with pint and check a model's equations for consistency.

Every variable of a model may declare units (``units="person/day"``). :func:`check_units`
propagates units through each equation's expression tree and reports, per variable, where
the units of the equation differ from the declared ones, and where a stock's flows are not
the stock's units per time unit. The engine does no unit conversion, so two units that
differ only by a factor (``1/year`` against ``1/day``) are an error too: the numbers would be
wrong by that factor.

Unit strings are read by a pint registry extended with the counts of the field: ``person``
(aliases ``people``, ``patient``, ``client``, ``resident`` ...; a ``bed``, a care ``place``
and a ``package`` each hold one person, so they are the same unit), ``FTE``, ``task``,
``GBP``, and the dimensionless ``dmnl``, ``fraction``, ``index``. Vensim's spellings work:
``Persons/Persons/Day``, ``Degrees Fahrenheit``, ``Minutes``. A year is 365 days, as in the
models' calendars.

Numbers written in equations are dimensionless, and adopt the units of the other side of a
sum or comparison (``max(0, x)``, ``1 - share``). A call the checker does not know makes
the result unknown, which is never an error.

Examples
--------
>>> from sd_engine.builder import Model
>>> m = Model("beds", time_units="day")
>>> _ = m.constant("los", 5, units="day")
>>> _ = m.stock("patients", initial=100, outflows=["discharges"], units="person")
>>> _ = m.flow("discharges", "patients * los", units="person/day")
>>> print(check_units(m.spec()).problems[0].message)  # doctest: +NORMALIZE_WHITESPACE
Units of `discharges` do not match: the equation `patients * los` gives `day * person`,
but the variable declares `person / day`. Fix the equation or the declared units.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pint

from .errors import SDError
from .expr import Binary, Call, Expr, Num, Ref, Str, Table, Unary, to_text
from .spec import ModelSpec, Variable

__all__ = ["UnitError", "UnitProblem", "UnitReport", "registry", "parse_units", "check_units", "assert_units"]


class UnitError(SDError, ValueError):
    """A model's units are inconsistent, or a unit string cannot be read."""


_DEFINITIONS = """
person = [population] = persons = people = patient = patients = client = clients = resident = residents
bed = person = beds
place = person = places
package = person = packages
attendance = person = attendances
admission = person = admissions
FTE = [staff] = fte = wte
task = [task] = tasks
GBP = [currency] = gbp = pounds_sterling
dmnl = [] = Dmnl = fraction = index = unitless
degrees_fahrenheit = [sd_temperature] = degree_fahrenheit = Degrees_Fahrenheit
"""


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The shared unit registry: pint's, with the field's counts and a 365-day year."""
    reg: pint.UnitRegistry = pint.UnitRegistry(case_sensitive=False, on_redefinition="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A model year is 365 days: models convert with "days per year = 365".
        reg.define("year = 365 * day = a = yr = julian_year")
        reg.define("month = year / 12")
        for line in _DEFINITIONS.strip().splitlines():
            reg.define(line)
    return reg


_DIMENSIONLESS_WORDS = {"", "1", "dimensionless", "dmnl", "fraction", "index", "unitless", "0-1"}


def _normalise(text: str) -> str:
    text = text.strip()
    # "Degrees Fahrenheit" and other multi-word unit names: join words, keep operators.
    text = re.sub(r"(?<=[A-Za-z])\s+(?=[A-Za-z])", "_", text)
    return text


@lru_cache(maxsize=4096)
def parse_units(text: str) -> pint.Unit:
    """The pint unit of a unit string, or :class:`UnitError` naming the string.

    Examples
    --------
    >>> str(parse_units("Persons/Persons/Day"))
    '1 / day'
    >>> str(parse_units("GBP/bed/day"))
    'GBP / bed / day'
    """
    reg = registry()
    if text.strip().lower() in _DIMENSIONLESS_WORDS:
        return reg.dimensionless
    try:
        value = reg.parse_units(_normalise(text))
    except Exception as exc:  # pint raises several types for unreadable strings
        raise UnitError(
            f"Cannot read the units `{text}`: {exc}. Write them as a product of units such as "
            "`person/day` or `GBP/bed/day`."
        ) from None
    return value


@dataclass(frozen=True)
class UnitProblem:
    """One inconsistency: the variable, what the equation gives and what was expected."""

    variable: str
    found: str
    expected: str
    message: str


@dataclass(frozen=True)
class UnitReport:
    """The result of :func:`check_units`: the problems found and the variables checked."""

    problems: tuple[UnitProblem, ...]
    checked: tuple[str, ...]
    missing: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"Units are consistent in {len(self.checked)} variables."
        return "\n".join(p.message for p in self.problems)


# A unit value during propagation: a pint Unit, LITERAL (a bare number: dimensionless, but
# adopting the units of the other side of a sum), or None (unknown: never an error).
_LITERAL = "literal"
_Value = Any


class _Mismatch(Exception):
    def __init__(self, left: pint.Unit, right: pint.Unit, where: str) -> None:
        self.left, self.right, self.where = left, right, where


def _same(a: pint.Unit, b: pint.Unit) -> bool:
    """Equal units, up to a factor of exactly 1 (``bed`` and ``person``, ``1/year`` is not ``1/day``)."""
    if a == b:
        return True
    ratio = registry().Quantity(1.0, a / b).to_base_units()
    return bool(ratio.dimensionless and abs(ratio.magnitude - 1.0) < 1e-9)


class _Checker:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.reg = registry()
        self.time_units = parse_units(spec.time.units) if spec.time.units not in ("", "time") else None
        self.declared: dict[str, pint.Unit | None] = {}
        for var in spec.variables:
            self.declared[var.canonical] = parse_units(var.units) if var.units.strip() else None

    @property
    def time(self) -> _Value:
        return self.time_units

    def dimensionless(self) -> pint.Unit:
        return self.reg.dimensionless

    # -- propagation ---------------------------------------------------------------------------
    def unit(self, expr: Expr) -> _Value:
        if isinstance(expr, Num):
            return _LITERAL
        if isinstance(expr, (Str, Table)):
            return None
        if isinstance(expr, Ref):
            if expr.name in ("time", "t", "dt", "time_step") and expr.name not in self.declared:
                return self.time
            return self.declared.get(expr.name)
        if isinstance(expr, Unary):
            inner = self.unit(expr.operand)
            return self.dimensionless() if expr.op == "not" else inner
        if isinstance(expr, Binary):
            return self.binary(expr)
        if isinstance(expr, Call):
            return self.call(expr)
        return None

    def match(self, a: _Value, b: _Value, where: Expr) -> _Value:
        """The common unit of two terms that must agree (sums, comparisons, branches)."""
        if a is None or b is None:
            return None
        if a is _LITERAL:
            return b
        if b is _LITERAL:
            return a
        if not _same(a, b):
            raise _Mismatch(a, b, to_text(where))
        return a

    def binary(self, expr: Binary) -> _Value:
        left, right = self.unit(expr.left), self.unit(expr.right)
        if expr.op in ("+", "-", "%"):
            return self.match(left, right, expr)
        if expr.op in ("==", "!=", "<", "<=", ">", ">="):
            self.match(left, right, expr)
            return self.dimensionless()
        if expr.op in ("and", "or"):
            return self.dimensionless()
        if expr.op == "**":
            if left is None:
                return None
            if left is _LITERAL:
                return _LITERAL
            if isinstance(expr.right, Num):
                return left ** expr.right.value
            if left == self.dimensionless():
                return left
            return None
        if left is None or right is None:
            return None
        lu = self.dimensionless() if left is _LITERAL else left
        ru = self.dimensionless() if right is _LITERAL else right
        if left is _LITERAL and right is _LITERAL:
            return _LITERAL
        return lu * ru if expr.op == "*" else lu / ru

    def call(self, call: Call) -> _Value:
        f, args = call.func, call.args
        var = self.spec[f] if f in self.spec else None
        if var is not None and var.kind == "lookup":
            return self.declared.get(f) or self.dimensionless()
        u = [self.unit(a) for a in args]
        if f in ("min", "max", "vmin", "vmax", "sum", "mean", "abs", "integer", "int", "quantum", "modulo", "mod"):
            out: _Value = _LITERAL
            for value, arg in zip(u if f not in ("quantum", "modulo", "mod") else u[:1], args):
                out = self.match(out, value, call)
            return out
        if f == "if_then_else":
            return self.match(u[1], u[2], call) if len(u) == 3 else None
        if f == "sqrt":
            return None if u[0] is None else (_LITERAL if u[0] is _LITERAL else u[0] ** 0.5)
        if f in ("exp", "ln", "log10", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "asin", "acos", "atan", "log"):
            for value in u:
                if value is not None and value is not _LITERAL and not _same(value, self.dimensionless()):
                    raise _Mismatch(value, self.dimensionless(), to_text(call))
            return self.dimensionless()
        if f == "xidz" and len(u) == 3:
            return self.match(self.binary(Binary("/", args[0], args[1])), u[2], call)
        if f == "zidz" and len(u) == 2:
            return self.binary(Binary("/", args[0], args[1]))
        if f in ("time",):
            return self.time
        if f == "step" and len(u) == 2:
            self.require_time(u[1], call)
            return u[0]
        if f == "ramp" and len(u) >= 2:
            for value in u[1:]:
                self.require_time(value, call)
            if u[0] is None or self.time is None:
                return None
            return (self.dimensionless() if u[0] is _LITERAL else u[0]) * self.time
        if f == "pulse" and len(u) == 2:
            self.require_time(u[0], call)
            return self.dimensionless()
        if f == "pulse_train":
            for value in u[:3]:
                self.require_time(value, call)
            return self.dimensionless()
        if f in ("smooth", "smoothi", "smooth3", "smooth3i", "smooth_n", "delay1", "delay1i", "delay3", "delay3i",
                 "delay_n", "delay_fixed"):
            self.require_time(u[1], call)
            out = u[0]
            if len(u) >= 3:
                out = self.match(out, u[2], call)
            return out
        if f == "trend" and len(u) == 3:
            self.require_time(u[1], call)
            if u[0] is None or self.time is None:
                return None
            return self.dimensionless() / self.time
        if f == "forecast":
            self.require_time(u[1], call)
            return u[0]
        if f == "initial":
            return u[0]
        if f == "sample_if_true" and len(u) == 3:
            return self.match(u[1], u[2], call)
        return None

    def require_time(self, value: _Value, where: Expr) -> None:
        if value is None or value is _LITERAL or self.time is None:
            return
        if not _same(value, self.time):
            raise _Mismatch(value, self.time, to_text(where))

    # -- the model ------------------------------------------------------------------------------
    def check(self, require_units: bool) -> UnitReport:
        problems: list[UnitProblem] = []
        checked: list[str] = []
        missing: list[str] = []
        for var in self.spec.variables:
            if var.internal:
                continue
            declared = self.declared[var.canonical]
            if declared is None:
                missing.append(var.name)
                if require_units:
                    problems.append(UnitProblem(var.name, "", "", f"`{var.name}` has no units; declare them, "
                                                f"e.g. `units=\"person/day\"` or `units=\"dimensionless\"`."))
                continue
            checked.append(var.name)
            if var.kind in ("flow", "aux", "stock") and var.equation is not None:
                problems.extend(self.check_equation(var, declared))
            if var.kind == "stock":
                problems.extend(self.check_stock(var, declared))
        return UnitReport(tuple(problems), tuple(checked), tuple(missing))

    def check_equation(self, var: Variable, declared: pint.Unit) -> list[UnitProblem]:
        assert var.equation is not None
        what = "initial value" if var.kind == "stock" else "equation"
        text = var.equation_text
        try:
            found = self.unit(var.equation)
            if var.init_equation is not None:
                self.match(found, self.unit(var.init_equation), var.init_equation)
        except _Mismatch as m:
            return [UnitProblem(
                var.name, f"{m.left:~}", f"{m.right:~}",
                f"Units of `{var.name}` do not match inside its {what} `{text}`: `{m.where}` combines "
                f"`{_show(m.left)}` with `{_show(m.right)}`. Make both sides the same units.")]
        if found is None or found is _LITERAL:
            return []
        if not _same(found, declared):
            return [UnitProblem(
                var.name, _show(found), _show(declared),
                f"Units of `{var.name}` do not match: the {what} `{text}` gives `{_show(found)}`, but the "
                f"variable declares `{_show(declared)}`. Fix the {what} or the declared units.")]
        return []

    def check_stock(self, var: Variable, declared: pint.Unit) -> list[UnitProblem]:
        if self.time is None or var.update != "continuous":
            return []
        out = []
        expected = declared / self.time
        for flow_name in var.inflows + var.outflows:
            flow_units = self.declared.get(flow_name)
            if flow_units is None:
                continue
            if not _same(flow_units, expected):
                flow = self.spec[flow_name]
                out.append(UnitProblem(
                    var.name, _show(flow_units), _show(expected),
                    f"Units of stock `{var.name}` (`{_show(declared)}`) do not match its flow `{flow.name}` "
                    f"(`{_show(flow_units)}`): a flow must be in the stock's units per `{self.spec.time.units}`, "
                    f"`{_show(expected)}`."))
        return out


def _show(unit: Any) -> str:
    return "dimensionless" if unit == registry().dimensionless else str(unit)


def check_units(spec: ModelSpec | Any, *, require_units: bool = False) -> UnitReport:
    """Check the units of every equation of `spec` (a ModelSpec, builder or compiled model).

    Parameters
    ----------
    spec : ModelSpec, Model or CompiledModel
        The model to check.
    require_units : bool
        Also report variables without units (the library requires units everywhere).

    Returns
    -------
    UnitReport
        ``report.ok`` is true when nothing is inconsistent; ``report.problems`` name the
        variable and both sides of each mismatch.
    """
    if not isinstance(spec, ModelSpec):
        spec = spec.spec() if callable(getattr(spec, "spec", None)) else spec.spec
    return _Checker(spec).check(require_units)


def assert_units(spec: ModelSpec | Any, *, require_units: bool = False) -> UnitReport:
    """Like :func:`check_units`, but raise :class:`UnitError` listing every problem."""
    report = check_units(spec, require_units=require_units)
    if not report.ok:
        raise UnitError(str(report))
    return report

