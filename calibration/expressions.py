"""Expressions over model variables and parameters, parsed by the engine and evaluated with numpy.

Published series are often a combination of model variables: 4-hour breaches are
``ED attendances * (1 - four hour performance)``, total delayed days are acute plus
non-acute. An observation may therefore compare data with an expression instead of one
variable, and a derived quantity (``R0 = beta / gamma``) is an expression of parameters.

Both are parsed with the engine's own parser (:func:`sd_engine.expr.parse_equation`, which
builds a tree with :mod:`ast`; nothing is passed to ``eval``) and evaluated here on numpy
arrays: an observation expression on the ``(runs, times)`` arrays of a simulation result,
so a single ensemble simulation serves every series, whatever their expressions.

Variable names may be written as in the model, spaces included (``four hour performance``),
or in their canonical form (``four_hour_performance``). ``date('2017-04-01')`` is the model
time of a date (it needs the data's ``origin``).

Examples
--------
>>> from sd_engine.builder import Model
>>> m = Model("ed", time_units="day")
>>> _ = m.constant("arrivals", 100.0)
>>> _ = m.aux("ED attendances", "arrivals")
>>> _ = m.aux("four hour performance", "0.9")
>>> expr = parse_model_expression("ED attendances * (1 - four hour performance)", m.spec())
>>> sorted(names_in(expr))
['ed_attendances', 'four_hour_performance']
>>> import numpy as np
>>> values = {"ed_attendances": np.array([100.0]), "four_hour_performance": np.array([0.9])}
>>> evaluate(expr, values.__getitem__, "breaches").round(6).tolist()
[10.0]
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from sd_engine.errors import SDError, did_you_mean
from sd_engine.expr import Binary, Call, Expr, Num, Ref, Str, Unary, canonical, parse_equation, walk
from sd_engine.spec import ModelSpec

from .errors import CalibrationError

__all__ = ["parse_model_expression", "parse_expression", "evaluate", "names_in", "resolve_dates", "FUNCTIONS"]


def _if_then_else(cond: Any, a: Any, b: Any) -> Any:
    return np.where(np.asarray(cond) != 0, a, b)


#: Functions an expression may call, with their numpy implementations.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "exp": np.exp, "ln": np.log, "log10": np.log10, "sqrt": np.sqrt, "abs": np.abs,
    "min": np.minimum, "max": np.maximum, "if_then_else": _if_then_else,
}
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "**": np.power,
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
    "!=": np.not_equal, "and": np.logical_and, "or": np.logical_or,
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _needs_quoting(name: str) -> bool:
    return not _IDENTIFIER.match(name) or keyword.iskeyword(name)


def _protect(text: str, names: Iterable[str]) -> tuple[str, dict[str, str]]:
    """Replace names that are not Python identifiers (``ED attendances``) by placeholders.

    Matching ignores case and treats runs of spaces and underscores alike, as
    :func:`~sd_engine.expr.canonical` does; longer names go first so that ``four hours`` does
    not eat the start of ``four hours target``.
    """
    placeholders: dict[str, str] = {}
    for name in sorted(set(names), key=len, reverse=True):
        if not _needs_quoting(name):
            continue
        words = [re.escape(w) for w in re.split(r"[\s_]+", name.strip()) if w]
        if not words:
            continue
        pattern = re.compile(r"(?<![\w.])" + r"[\s_]+".join(words) + r"(?![\w])", re.IGNORECASE)
        token = f"_calibration_name_{len(placeholders)}"
        new, count = pattern.subn(token, text)
        if count:
            placeholders[token] = canonical(name)
            text = new
    return text, placeholders


def _restore(expr: Expr, placeholders: dict[str, str]) -> Expr:
    if isinstance(expr, Ref):
        return Ref(placeholders.get(expr.name, expr.name), expr.subscripts)
    if isinstance(expr, Unary):
        return Unary(expr.op, _restore(expr.operand, placeholders))
    if isinstance(expr, Binary):
        return Binary(expr.op, _restore(expr.left, placeholders), _restore(expr.right, placeholders))
    if isinstance(expr, Call):
        return Call(expr.func, tuple(_restore(a, placeholders) for a in expr.args))
    return expr


def parse_expression(text: str, names: Iterable[str], *, what: str) -> Expr:
    """Parse `text`, which may use the display names in `names`, into an expression tree.

    Raises :class:`~calibration.errors.CalibrationError` (naming `what`) on a syntax error.
    """
    protected, placeholders = _protect(str(text), names)
    try:
        expr = parse_equation(protected, variable=what)
    except SDError as err:
        message = str(err)
        for token, key in placeholders.items():
            message = message.replace(token, key)
        raise CalibrationError(f"{what} `{text}` cannot be read: {message}") from None
    return _restore(expr, placeholders)


def names_in(expr: Expr) -> set[str]:
    """Canonical names of the variables an expression reads."""
    return {node.name for node in walk(expr) if isinstance(node, Ref)}


def _check_calls(expr: Expr, text: str, what: str, extra: Iterable[str] = ()) -> None:
    allowed = set(FUNCTIONS) | set(extra)
    for node in walk(expr):
        if isinstance(node, Call) and node.func not in allowed:
            raise CalibrationError(
                f"{what} `{text}` calls `{node.func}`, which is not available here; use "
                f"{', '.join(sorted(allowed))}, the operators + - * / ** and comparisons."
            )
        if isinstance(node, Ref) and node.subscripts:
            raise CalibrationError(f"{what} `{text}` reads an element of the arrayed variable `{node.name}`; "
                                   "observe scalar variables.")


def parse_model_expression(text: str, spec: ModelSpec, *, what: str = "Observation") -> Expr:
    """Parse an expression over the variables of `spec` and check that every name exists.

    ``time`` and ``date('YYYY-MM-DD')`` are allowed; constants, stocks, flows and
    auxiliaries may be read. An unknown name raises with a suggestion.
    """
    names = [v.name for v in spec.variables if not v.internal]
    expr = parse_expression(text, names, what=what)
    _check_calls(expr, text, what, extra=("date",))
    for key in names_in(expr):
        if key == "time":
            continue
        if key not in spec:
            raise CalibrationError(f"{what} `{text}` uses `{key}`, which is not a variable of model `{spec.name}`."
                                   + did_you_mean(key, spec.names))
        var = spec[key]
        if var.kind == "lookup":
            raise CalibrationError(f"{what} `{text}` reads the lookup `{var.name}` as a value; call it through a "
                                   "model variable instead.")
        if var.dims:
            raise CalibrationError(f"{what} `{text}` reads the arrayed variable `{var.name}`; observe scalar "
                                   "variables.")
    return expr


def resolve_dates(expr: Expr, to_model_time: Callable[[str], float] | None, text: str, what: str) -> Expr:
    """Replace every ``date('YYYY-MM-DD')`` in `expr` by the model time of that date.

    `to_model_time` converts a date string; None (no origin) makes a ``date`` an error.
    """
    if isinstance(expr, Call) and expr.func == "date":
        if len(expr.args) != 1 or not isinstance(expr.args[0], Str):
            raise CalibrationError(f"{what} `{text}`: write a date as date('YYYY-MM-DD').")
        if to_model_time is None:
            raise CalibrationError(f"{what} `{text}` uses a date, but the calibration has no `origin` (the date at "
                                   "the model's initial time); give `origin=`.")
        try:
            return Num(float(to_model_time(expr.args[0].value)))
        except (ValueError, TypeError):
            raise CalibrationError(f"{what} `{text}`: `{expr.args[0].value}` is not a date (YYYY-MM-DD).") from None
    if isinstance(expr, Unary):
        return Unary(expr.op, resolve_dates(expr.operand, to_model_time, text, what))
    if isinstance(expr, Binary):
        return Binary(expr.op, resolve_dates(expr.left, to_model_time, text, what),
                      resolve_dates(expr.right, to_model_time, text, what))
    if isinstance(expr, Call):
        return Call(expr.func, tuple(resolve_dates(a, to_model_time, text, what) for a in expr.args))
    return expr


def evaluate(expr: Expr, lookup: Callable[[str], Any], text: str, what: str = "Expression") -> Any:
    """Evaluate `expr` with numpy; `lookup(canonical name)` gives each variable's array.

    Arrays broadcast as numpy does, so one call evaluates a whole ensemble over time.
    """
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        return lookup(expr.name)
    if isinstance(expr, Unary):
        v = evaluate(expr.operand, lookup, text, what)
        if expr.op == "-":
            return np.negative(v)
        if expr.op == "not":
            return np.logical_not(v).astype(float)
        return v
    if isinstance(expr, Binary) and expr.op in _OPS:
        out = _OPS[expr.op](evaluate(expr.left, lookup, text, what), evaluate(expr.right, lookup, text, what))
        return out.astype(float) if isinstance(out, np.ndarray) and out.dtype == bool else out
    if isinstance(expr, Call) and expr.func in FUNCTIONS:
        return FUNCTIONS[expr.func](*(evaluate(a, lookup, text, what) for a in expr.args))
    raise CalibrationError(f"{what} `{text}` may use + - * / **, comparisons, numbers, names and "
                           f"{', '.join(sorted(FUNCTIONS))}; rewrite it.")

