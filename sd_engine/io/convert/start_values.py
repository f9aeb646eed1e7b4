"""Values known before the run starts: the time settings, and what Vensim reads once at the
initial time (the order of DELAY N and SMOOTH N).

One evaluator, :func:`start_value`, works out an equation's value at the initial time from
the converted expression tree, with numpy's float semantics (so ``1 / 0`` is inf, as in the
run). It reads numbers, the control variables, Time, and the scalar variables of the model,
a stock at its initial value; ``follow=False`` restricts it to what makes a setting a
constant -- numbers, control variables, constants written as numbers, ``-``, ``+ - * / **``
-- so that a control variable given by any other equation stays an equation that the
integrator reads at every step (:attr:`sd_engine.TimeSettings.controls`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from ...errors import UnsupportedError
from ...expr import Binary, Call, Expr, Num, Ref, Unary, canonical
from ...functions import NUMPY_OPERATORS
from ...spec import TimeSettings
from .elements import CONTROL, TIME_STEP_SERIES, Element

__all__ = ["Converting", "start_value", "time_settings"]

#: How equations name the control variables, with the TimeSettings field each is.
_CONTROL_NAMES = {"dt": "dt", "time_step": "dt", "initial_time": "initial_time", "final_time": "final_time",
                  "saveper": "saveper"}
#: The operators an equation of a constant setting may use.
_CONSTANT_OPERATORS = frozenset({"+", "-", "*", "/", "**"})


class Converting(Protocol):
    """What the time settings need of the converter: the element named in messages, and the
    conversion of PySD's expression trees."""

    current: str

    def expr(self, node: Any) -> Expr: ...


def start_value(expr: Expr, elements: Mapping[str, Element], convert: Any, *, controls: Mapping[str, float],
                time: float | None, follow: bool = True) -> float | None:
    """The value of `expr` at the initial time, or None when it cannot be known before the run.

    Parameters
    ----------
    expr : Expr
        A converted equation.
    elements : mapping
        The model's elements, whose scalar variables `expr` may read.
    convert : callable
        Converts the PySD expression tree of a variable that `expr` reads.
    controls : mapping
        The control variables known so far, by TimeSettings field (``dt``, ``initial_time`` ...).
    time : float or None
        The value of Time (None: not known).
    follow : bool
        Read variables through their equations, and every operator and IF THEN ELSE, MIN, MAX
        and STEP; or only the constants of a setting (see the module docstring).
    """

    def value(e: Expr, seen: frozenset[str]) -> float | None:
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Ref) and not e.subscripts:
            if e.name == "time":
                return time if follow else None  # a setting that reads Time is no constant
            if e.name in _CONTROL_NAMES:
                return controls.get(_CONTROL_NAMES[e.name])
            target = elements.get(e.name)
            if target is None or target.dims or len(target.pieces) != 1 or e.name in seen:
                return None
            ast = target.pieces[0][1]
            if not follow:
                return float(ast) if isinstance(ast, (int, float)) else None
            if type(ast).__name__ == "IntegStructure":  # a stock starts at its initial value
                return value(convert(ast.initial), seen | {e.name})
            if type(ast).__name__ == "LookupsStructure" or target.kind == "lookup":
                return None
            return value(convert(ast), seen | {e.name})
        if isinstance(e, Unary) and (follow or e.op == "-"):
            v = value(e.operand, seen)
            return None if v is None else (-v if e.op == "-" else float(not v))
        if isinstance(e, Binary) and (follow or e.op in _CONSTANT_OPERATORS):
            a, b = value(e.left, seen), value(e.right, seen)
            if a is None or b is None:
                return None
            with np.errstate(all="ignore"):
                return float(NUMPY_OPERATORS[e.op](np.float64(a), np.float64(b)))
        if follow and isinstance(e, Call) and e.func in ("if_then_else", "min", "max", "step"):
            found = [value(a, seen) for a in e.args]
            args = [a for a in found if a is not None]
            if len(args) != len(found) or not args:
                return None
            if e.func == "if_then_else":
                return args[1] if args[0] else args[2]
            if e.func == "step":  # STEP(height, start), switched as Vensim does at t + dt / 2
                dt = controls.get("dt")
                if len(args) != 2 or time is None or dt is None:
                    return None
                return args[0] if time + dt / 2 > args[1] else 0.0
            return float(min(args) if e.func == "min" else max(args))
        return None

    return value(expr, frozenset())


def time_settings(conv: Converting, controls: Mapping[str, Element], elements: Mapping[str, Element],
                  method: str) -> tuple[TimeSettings, dict[str, Expr]]:
    """The time settings of the model, and the equations of the control variables that change
    during the run (by canonical control name), which the integrator reads at every step."""
    values: dict[str, float] = {}
    pending = dict(controls)
    units = ""
    # Settings given by numbers, or by equations of other settings in any order.
    for _ in range(len(pending) + 1):
        for key, element in list(pending.items()):
            conv.current = element.name
            if len(element.pieces) != 1 or element.pieces[0][0]:
                raise UnsupportedError(f"Control variable `{element.name}` cannot be subscripted.")
            number = start_value(conv.expr(element.pieces[0][1]), elements, conv.expr, controls=values, time=None,
                                 follow=False)
            if number is not None:
                values[CONTROL[key]] = number
                del pending[key]
                if key == "time_step" or not units:
                    units = element.units or units
    # Equations that change during the run (Vensim reads them at every step): their values
    # at the initial time go into the settings, the equations stay as auxiliaries that
    # the integrator reads (TimeSettings.controls).
    dynamic: dict[str, Expr] = {}
    for key in sorted(pending, key=["initial_time", "time_step", "final_time", "saveper"].index):
        element = pending[key]
        conv.current = element.name
        expr = conv.expr(element.pieces[0][1])
        # INITIAL TIME is needed before there is a Time: Vensim's Time is then 0.
        number = start_value(expr, elements, conv.expr, controls=values, time=values.get("initial_time", 0.0))
        if number is None or not math.isfinite(number):
            raise UnsupportedError(
                f"Control variable `{element.name}` has an equation sdflow cannot evaluate at the initial time "
                "(it reads lookups, arrays or functions beyond IF THEN ELSE, MIN, MAX and arithmetic); write "
                "it with those or as a number."
            )
        values[CONTROL[key]] = number
        dynamic[key] = expr
        if key == "time_step" or not units:
            units = element.units or units
    kwargs: dict[str, Any] = {}
    for name in ("initial_time", "final_time", "dt", "saveper"):
        if name in values:
            kwargs[name] = values[name]
    if "saveper" in kwargs and "dt" in kwargs and math.isclose(kwargs["saveper"], kwargs["dt"]) \
            and "saveper" not in dynamic:
        kwargs["saveper"] = None
    kwargs["controls"] = tuple((CONTROL[key], canonical(TIME_STEP_SERIES) if key == "time_step" else key)
                               for key in ("final_time", "time_step", "saveper") if key in dynamic)
    return TimeSettings(units=units or "time", method=method, **kwargs), dynamic
