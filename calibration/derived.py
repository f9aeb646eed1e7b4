"""Derived quantities of the parameters (R0 = beta / gamma, recovery time = 1 / gamma ...).

A derived quantity is an equation string in the builder's syntax, parsed with
:func:`sd_engine.expr.parse_equation` (never ``eval``), or a Python callable of a mapping
``name -> value``. Both evaluate vectorised over arrays of parameter values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sd_engine.errors import SpecError
from sd_engine.expr import Binary, Call, Expr, Num, Ref, Unary, canonical, parse_equation

from .errors import CalibrationError

__all__ = ["Derived", "make_derived"]

Derived = Callable[[Mapping[str, Any]], Any]

_FUNCS: dict[str, Callable[..., Any]] = {"exp": np.exp, "ln": np.log, "sqrt": np.sqrt, "abs": np.abs,
                                         "log10": np.log10, "min": np.minimum, "max": np.maximum}
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power,
}


def _evaluate(expr: Expr, values: Mapping[str, Any], text: str) -> Any:
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        key = canonical(expr.name)
        if key not in values:
            raise CalibrationError(f"Derived quantity `{text}` uses `{expr.name}`, which is not a parameter of the "
                                   f"fit; use one of {', '.join(sorted(values))}.")
        return values[key]
    if isinstance(expr, Unary) and expr.op in ("-", "+"):
        v = _evaluate(expr.operand, values, text)
        return -v if expr.op == "-" else v
    if isinstance(expr, Binary) and expr.op in _OPS:
        return _OPS[expr.op](_evaluate(expr.left, values, text), _evaluate(expr.right, values, text))
    if isinstance(expr, Call) and expr.func in _FUNCS:
        return _FUNCS[expr.func](*(_evaluate(a, values, text) for a in expr.args))
    raise CalibrationError(f"Derived quantity `{text}` may use + - * / **, numbers, parameters and "
                           f"{', '.join(sorted(_FUNCS))}; rewrite it or pass a Python function.")


def make_derived(name: str, how: str | Derived) -> Derived:
    """A function of a parameter mapping for the derived quantity `name`.

    Examples
    --------
    >>> r0 = make_derived("R0", "beta / gamma")
    >>> float(r0({"beta": 1.5, "gamma": 0.5}))
    3.0
    """
    if callable(how):
        return how
    text = str(how)
    try:
        expr = parse_equation(text, variable=name)
    except SpecError as err:
        raise CalibrationError(f"Derived quantity `{name}` = `{text}` cannot be read: {err}") from None

    def g(values: Mapping[str, Any]) -> Any:
        return _evaluate(expr, {canonical(k): v for k, v in values.items()}, text)

    return g
