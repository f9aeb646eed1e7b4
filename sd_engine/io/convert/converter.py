"""The conversion of a whole model: PySD's abstract model in, a :class:`~sd_engine.spec.ModelSpec` out.

:func:`convert` reads the context (:func:`~sd_engine.io.convert.context.read_context`),
the time settings (:func:`~sd_engine.io.convert.start_values.time_settings`), then each
element's variables (:func:`~sd_engine.io.convert.variables.to_variables`), and adds the
internal variables the equations need, the positions of ranges read as numbers and the
control variables that equations may read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import UnsupportedError
from ...expr import Binary, Call, Expr, Num, Ref, Unary, canonical, walk
from ...spec import LookupTable, ModelSpec, Variable
from ..external import ExternalReader
from ..model_file import ModelFileError
from .context import ModelContext, read_context
from .elements import CONTROL, TIME_STEP_SERIES
from .expressions import ExpressionConverter
from .macros import expand_macro
from .start_values import time_settings
from .variables import check_undefined_reads, mark_flows, split_shared_outflows, to_variables

__all__ = ["Converter", "convert"]


class Converter(ExpressionConverter):
    """The expression converter of one model, which also expands its Vensim macros and
    collects its variables."""

    def __init__(self, ctx: ModelContext) -> None:
        super().__init__(ctx)
        self.variables: list[Variable] = []  # in the order the spec lists them (macro copies before their caller)
        self.expanding: list[str] = []  # the macros being expanded, innermost last
        self.macro_calls: dict[str, int] = {}  # calls so far of each macro, which number its copies
        self.output_calls: dict[str, int] = {}  # calls with extra outputs so far, by calling variable

    def expand_macro(self, key: str, args: list[Expr]) -> Expr:
        return expand_macro(self, key, args)


def convert(path: Path, abstract: Any, method: str, external: ExternalReader,
            graphicals: Mapping[str, Mapping[tuple[str, ...], LookupTable]], text: str | None) -> ModelSpec:
    """The spec of PySD's `abstract` model of `path` (the arguments are those of
    :func:`~sd_engine.io.convert.context.read_context`).

    Raises
    ------
    sd_engine.io.model_file.ModelFileError
        An equation nests too deeply to convert (Python's recursion limit), naming it.
    """
    ctx = read_context(path, abstract, method, external, graphicals, text)
    converter = Converter(ctx)
    try:
        return _convert(converter)
    except RecursionError:
        raise ModelFileError(
            f"`{path.name}` has an equation nested too deeply to convert (in `{converter.current}`); split it into "
            "auxiliaries."
        ) from None


#: The test inputs Vensim holds over a Runge-Kutta step, as Vensim's names.
TEST_INPUTS = {"pulse": "PULSE", "pulse_train": "PULSE TRAIN", "step": "STEP", "ramp": "RAMP"}
STEP_START = "_time at the start of the step"


def _hold_test_inputs(variables: list[Variable]) -> list[Variable]:
    """`variables` with STEP, PULSE, PULSE TRAIN and RAMP read at the start of each step, for a
    Vensim file that asks for Runge-Kutta integration. Vensim's reference (Runge-Kutta
    integration): "it holds all exogenous and test inputs (STEP, PULSE and RAMP) constant over
    the integration interval". Each call is written out (as ``sd_engine.functions`` computes
    it) at a discrete state that holds the step's start time through the Runge-Kutta stages."""
    held = Ref(canonical(STEP_START))
    dt, half = Ref("time_step"), Binary("/", Ref("time_step"), Num(2.0))
    tt = Binary("+", held, half)

    def when(cond: Expr, then: Expr, other: Expr) -> Expr:
        return Call("if_then_else", (cond, then, other))

    def width_of(width: Expr) -> Expr:
        return when(Binary("==", width, Num(0.0)), dt, width)  # a width of 0 lasts one step

    def written(call: Call) -> Expr:
        a = call.args
        if call.func == "step":
            return when(Binary(">", tt, a[1]), a[0], Num(0.0))
        if call.func == "pulse":
            on = Binary("and", Binary(">", tt, a[0]), Binary("<", tt, Binary("+", a[0], width_of(a[1]))))
            return when(on, Num(1.0), Num(0.0))
        if call.func == "pulse_train":
            positive = Binary(">", a[2], Num(0.0))
            since = Binary("-", tt, a[0])
            phase = when(positive, Call("modulo", (since, when(positive, a[2], Num(1.0)))), since)
            on = Binary("and", Binary("and", Binary(">", tt, a[0]), Binary("<=", held, Binary("+", a[3], half))),
                        Binary("<", phase, width_of(a[1])))
            return when(on, Num(1.0), Num(0.0))
        # RAMP(slope, start, end)
        return when(Binary("<", held, a[1]), Num(0.0),
                    Binary("*", a[0], Binary("-", Call("min", (held, a[2])), a[1])))

    def rewrite(expr: Expr) -> Expr:
        if isinstance(expr, Unary):
            return Unary(expr.op, rewrite(expr.operand))
        if isinstance(expr, Binary):
            return Binary(expr.op, rewrite(expr.left), rewrite(expr.right))
        if isinstance(expr, Call):
            call = Call(expr.func, tuple(rewrite(a) for a in expr.args))
            return written(call) if call.func in TEST_INPUTS else call
        return expr

    out, found = [], False
    for var in variables:
        changes: dict[str, Any] = {}
        for field in ("equation", "init_equation"):
            expr = getattr(var, field)
            if expr is not None and any(isinstance(n, Call) and n.func in TEST_INPUTS for n in walk(expr)):
                changes[field] = rewrite(expr)
        found = found or bool(changes)
        out.append(dataclasses.replace(var, **changes) if changes else var)
    if found:
        nxt = Variable(f"{STEP_START} next", "aux", Binary("+", Ref("time"), dt), internal=True,
                       source="the start of the next step, for the test inputs Vensim holds over a Runge-Kutta step")
        out += [nxt, Variable(STEP_START, "stock", Ref("time"), inflows=(nxt.canonical,), update="discrete",
                              internal=True, source="the time at which the current Runge-Kutta step started")]
    return out


def _convert(converter: Converter) -> ModelSpec:
    ctx = converter.ctx
    path = ctx.path
    time, dynamic = time_settings(converter, ctx.controls, ctx.elements, ctx.method)
    converter.time = time
    # The graphical functions given per array element come after what the time settings made.
    converter.views.update((canonical(v.name), v) for v in ctx.element_lookups)
    for element in ctx.elements.values():
        converter.current = element.name
        converter.context = tuple(canonical(d) for d in element.dims)
        converter.variables.extend(to_variables(converter, element))
    variables = converter.variables + list(converter.views.values())
    for dim_key, name in converter.positions.items():
        dim = next(d for d in ctx.subscripts.dimensions if d.canonical == dim_key)
        # An element's number is its position in the widest range holding it (Vensim numbers
        # `C` alike whether read through `A, B, C` or through its reordering `A, C, B`).
        members = {canonical(e) for e in dim.elements}
        family = max((d for d in ctx.subscripts.dimensions if members <= {canonical(e) for e in d.elements}),
                     key=lambda d: len(d.elements))
        order = [canonical(e) for e in family.elements]
        variables.append(Variable(
            name, "constant", values=tuple(float(order.index(canonical(e)) + 1) for e in dim.elements),
            dims=(dim.name,),
            internal=True, doc=f"The position of each element of `{dim.name}`, from 1.",
            source=f"`{dim.name}` used as a number in {path.name}", owner=dim.name))
    # The control variables other than TIME STEP stay readable by equations, as constants.
    for key, element in ctx.controls.items():
        if key in dynamic:
            converter.current = element.name
            # `TIME STEP` itself names the engine's dt in equations; its equation is a series.
            name = TIME_STEP_SERIES if key == "time_step" else element.name
            variables.append(Variable(name, "aux", dynamic[key], units=element.units, doc=element.doc,
                                      source=element.source))
            continue
        if key == "time_step":
            continue
        value = getattr(time, CONTROL[key])
        value = time.dt if value is None else value
        variables.append(Variable(element.name, "constant", Num(float(value)), units=element.units,
                                  doc=element.doc, source=element.source))
    variables = mark_flows(split_shared_outflows(variables))
    check_undefined_reads(variables)
    if ctx.source.vensim and time.method != "euler":
        variables = _hold_test_inputs(variables)
    # Vensim and Stella save TIME STEP with the other control variables; it names the engine's
    # dt, so the results add it as a series (sd_engine.results) under the file's own name.
    attrs: tuple[tuple[str, str], ...] = ()
    if "time_step" in ctx.controls:
        attrs = (("time_step_variable", ctx.controls["time_step"].name),)
        if "time_step" in dynamic:  # a TIME STEP that changes during the run: its series
            attrs += (("time_step_series", TIME_STEP_SERIES),)
    return ModelSpec(path.stem, tuple(variables), time, ctx.subscripts.dimensions, source=str(path), attrs=attrs)
