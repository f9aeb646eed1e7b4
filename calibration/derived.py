"""Derived quantities of the parameters (R0 = beta / gamma, recovery time = 1 / gamma ...).

A derived quantity is an equation string in the builder's syntax, parsed with
:func:`sd_engine.expr.parse_equation` (never ``eval``), or a Python callable of a mapping
``name -> value``. Both evaluate vectorised over arrays of parameter values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sd_engine.expr import canonical

from .errors import CalibrationError
from .expressions import evaluate, parse_expression

__all__ = ["Derived", "make_derived"]

Derived = Callable[[Mapping[str, Any]], Any]


def make_derived(name: str, how: str | Derived, names: Iterable[str] = ()) -> Derived:
    """A function of a parameter mapping for the derived quantity `name`.

    Parameter names may be written as in the model, spaces included; with `names` (the
    parameters of the fit) the equation is parsed, and a syntax error raised, at once.

    Examples
    --------
    >>> r0 = make_derived("R0", "beta / gamma")
    >>> float(r0({"beta": 1.5, "gamma": 0.5}))
    3.0
    >>> float(make_derived("ratio", "demand growth * 2")({"demand growth": 0.25}))
    0.5
    """
    if callable(how):
        return how
    text = str(how)
    names = tuple(names)
    parsed = parse_expression(text, names, what=f"Derived quantity `{name}` =") if names else None

    def g(values: Mapping[str, Any]) -> Any:
        by_key = {canonical(k): v for k, v in values.items()}
        expr = parsed if parsed is not None else parse_expression(text, values, what=f"Derived quantity `{name}` =")

        def lookup(key: str) -> Any:
            if key not in by_key:
                raise CalibrationError(f"Derived quantity `{text}` uses `{key}`, which is not a parameter of the "
                                       f"fit; use one of {', '.join(sorted(by_key))}.")
            return by_key[key]

        return evaluate(expr, lookup, text, "Derived quantity")

    return g
