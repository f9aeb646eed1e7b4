"""Events and time-varying inputs in a fit: steps, ramps and series replace model constants.

History does not keep a model's levers constant: social care got extra funding in spring
2017, COVID cut attendances from March 2020. A fit can give such events to the model as
**inputs**: a constant (or auxiliary) of the model is replaced, for the fit only, by

* an equation of time in the builder's syntax, with dates written ``date('2017-04-01')``:
  ``"min transfer time * (1 - 0.2 * step(1, date('2017-04-01')))"`` or
  ``"ramp(0.01, date('2017-04-01'), date('2017-09-01'))"``. Inside the equation of ``X``,
  the name ``X`` itself means the model's own value of ``X`` (kept in a new constant
  ``X before inputs``, which is also what a parameter called ``X`` then calibrates);
* a :class:`pandas.Series` of values at dates (or model times), joined by straight lines
  and held beyond its ends (as :meth:`sd_engine.CompiledModel.run` does with a series) --
  for instance a column of a CSV file read with :func:`read_input`;
* a number (the constant held at another value).

An input equation may use names that are not in the model: they become new constants, and
a parameter of the fit of that name is estimated (the size of a step, say). The model is
never edited; :func:`apply_inputs` returns a new spec.

Examples
--------
>>> from sd_engine.builder import Model
>>> m = Model("queue", time_units="day", final_time=10)
>>> _ = m.constant("capacity", 10.0)
>>> _ = m.stock("Waiting", initial=0, inflows=["arrivals"])
>>> _ = m.flow("arrivals", "capacity")
>>> spec = apply_inputs(m.spec(), {"capacity": "capacity * (1 + jump * step(1, 5))"}, new={"jump": 0.5})
>>> import sd_engine as sd
>>> sd.load(spec).run()["arrivals"].values[[0, 5]].tolist()
[10.0, 15.0]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sd_engine.errors import did_you_mean
from sd_engine.expr import Binary, Call, Expr, Num, Ref, Table, Unary, canonical, walk
from sd_engine.spec import ModelSpec, Variable

from .csvdata import read_csv_data
from .errors import CalibrationError, DataError
from .expressions import FUNCTIONS, names_in, parse_expression, resolve_dates

__all__ = ["apply_inputs", "read_input", "input_names", "base_name"]

#: Builtins of the engine an input equation may call besides the expression functions.
_TIME_FUNCTIONS = ("step", "ramp", "pulse", "pulse_train", "with_lookup", "if_then_else", "min", "max", "exp",
                   "ln", "sqrt", "abs", "date")


def base_name(name: str) -> str:
    """The constant that keeps the model's own value of an input ``name``."""
    return f"{name} before inputs"


def read_input(path: str | Path, column: str, time: str | None = None) -> pd.Series:
    """One column of a CSV file as an input series (read strictly, see :mod:`calibration.csvdata`).

    Missing cells are dropped: the input is interpolated across them.
    """
    frame = read_csv_data(path, time)
    if column not in frame.columns:
        raise DataError(f"`{column}` is not a column of `{Path(path).name}`." + did_you_mean(column, frame.columns)
                        + f" Its columns are {', '.join(frame.columns)}.")
    series = frame[column].dropna()
    if series.empty:
        raise DataError(f"Column `{column}` of `{Path(path).name}` has no values.")
    return series


def input_names(spec: ModelSpec, inputs: Mapping[str, Any], parameters: Iterable[str] = ()) -> set[str]:
    """Canonical names that input equations use but the model does not define (new constants).

    `parameters` are the fit's parameter names, which input equations may use as written
    (spaces included)."""
    known = set(spec.names) | {"time"}
    out: set[str] = set()
    names = [v.name for v in spec.variables] + list(parameters)
    for name, value in inputs.items():
        if isinstance(value, str):
            expr = parse_expression(value, names, what=f"The input `{name}`")
            out |= {k for k in names_in(expr) if k not in known}
    return out


def _swap(expr: Expr, old: str, new: str) -> Expr:
    if isinstance(expr, Ref):
        return Ref(new, expr.subscripts) if expr.name == old else expr
    if isinstance(expr, Unary):
        return Unary(expr.op, _swap(expr.operand, old, new))
    if isinstance(expr, Binary):
        return Binary(expr.op, _swap(expr.left, old, new), _swap(expr.right, old, new))
    if isinstance(expr, Call):
        return Call(expr.func, tuple(_swap(a, old, new) for a in expr.args))
    return expr


def _series_table(name: str, value: pd.Series, to_model_time: Callable[[Any], np.ndarray] | None) -> Table:
    index = value.index
    if isinstance(index, pd.DatetimeIndex) or not pd.api.types.is_numeric_dtype(index.dtype):
        if to_model_time is None:
            raise CalibrationError(f"The input series for `{name}` is indexed by dates; give the calibration's "
                                   "`origin` (the date at the model's initial time).")
        try:
            xs = np.asarray(to_model_time(pd.DatetimeIndex(pd.to_datetime(index.astype(str), format="ISO8601"))),
                            dtype=float)
        except (ValueError, TypeError):
            raise CalibrationError(f"The input series for `{name}` needs dates (YYYY-MM-DD) or model times as its "
                                   "index.") from None
    else:
        xs = np.asarray(index, dtype=float)
    ys = pd.to_numeric(value, errors="coerce").to_numpy(dtype=float)
    keep = ~np.isnan(ys)
    xs, ys = xs[keep], ys[keep]
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    if not len(xs) or not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))) or np.any(np.diff(xs) <= 0):
        raise CalibrationError(f"The input series for `{name}` needs finite values at distinct times.")
    return Table(tuple(xs.tolist()), tuple(ys.tolist()))


def apply_inputs(spec: ModelSpec, inputs: Mapping[str, Any], *, new: Mapping[str, float] | None = None,
                 to_model_time: Callable[[Any], np.ndarray] | None = None) -> ModelSpec:
    """A copy of `spec` with constants or auxiliaries replaced by the given inputs.

    Parameters
    ----------
    spec : ModelSpec
        The model; not changed.
    inputs : mapping
        Variable name -> equation of time (str), :class:`pandas.Series`, or number.
    new : mapping, optional
        Values of names that input equations use and the model lacks; they become constants.
    to_model_time : callable, optional
        Dates -> model times (from the data's ``origin``), for ``date('...')`` and dated series.

    Raises
    ------
    CalibrationError
        An unknown or unsuitable variable, an equation that cannot be read or calls an
        unknown function, or a name used but given no value.
    """
    new = dict(new or {})
    names = [v.name for v in spec.variables] + list(new)
    replaced: dict[str, Variable] = {}
    extra: list[Variable] = []
    for name, value in inputs.items():
        var = spec[name]  # UnknownVariableError with a suggestion
        if var.kind not in ("constant", "aux") or var.dims or var.internal:
            what = "an arrayed variable" if var.dims else f"a {var.kind}"
            raise CalibrationError(f"`{var.name}` is {what}; an input can replace a scalar constant or auxiliary only.")
        if isinstance(value, pd.Series):
            equation: Expr = Call("with_lookup", (Ref("time"), _series_table(var.name, value, to_model_time)))
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise CalibrationError(f"The input for `{var.name}` must be finite, not {value}.")
            equation = Num(float(value))
        elif isinstance(value, str):
            what = f"The input `{var.name}`"
            expr = parse_expression(value, names, what=what)
            for node_name in sorted(names_in(expr)):
                if node_name not in spec and node_name != "time" and canonical(node_name) not in map(canonical, new):
                    raise CalibrationError(
                        f"{what} = `{value}` uses `{node_name}`, which is neither in the model nor a parameter of the "
                        f"fit; give it as a parameter (params={{\"{node_name}\": (low, high)}})."
                        + did_you_mean(node_name, spec.names))
            _check_functions(expr, value, what, spec)
            expr = resolve_dates(expr, (lambda d: float(to_model_time(pd.DatetimeIndex([pd.Timestamp(d)]))[0]))
                                 if to_model_time is not None else None, value, what)
            if var.canonical in names_in(expr):
                base = base_name(var.name)
                if base in spec:
                    raise CalibrationError(f"`{var.name}`: the model already has a variable `{base}`; rename it.")
                extra.append(dataclasses.replace(var, name=base, text="", internal=False,
                                                 doc=f"The model's own `{var.name}`, before the fit's inputs."))
                expr = _swap(expr, var.canonical, canonical(base))
            equation = expr
        else:
            raise CalibrationError(f"The input for `{var.name}` must be an equation of time (text), a pandas Series "
                                   f"or a number, not {type(value).__name__}.")
        replaced[var.canonical] = dataclasses.replace(var, kind="aux" if not isinstance(equation, Num) else var.kind,
                                                      equation=equation, values=None, text="", init_equation=None,
                                                      doc=(var.doc + " (replaced by a calibration input)").strip())
    for name, value in new.items():
        if name in spec:
            continue
        extra.append(Variable(name, "constant", equation=Num(float(value)), doc="Added by calibration for an input."))
    variables = tuple(replaced.get(v.canonical, v) for v in spec.variables) + tuple(extra)
    return dataclasses.replace(spec, variables=variables)


def _check_functions(expr: Expr, text: str, what: str, spec: ModelSpec) -> None:
    allowed = set(_TIME_FUNCTIONS) | set(FUNCTIONS) | {v.canonical for v in spec.variables if v.kind == "lookup"}
    for node in walk(expr):
        if isinstance(node, Call) and node.func not in allowed:
            raise CalibrationError(f"{what} = `{text}` calls `{node.func}`; an input may use "
                                   f"{', '.join(sorted(allowed))} and the operators.")
