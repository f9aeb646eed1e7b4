"""The conversion of a whole model: PySD's abstract model in, a :class:`~sd_engine.spec.ModelSpec` out.

:func:`convert` reads the context (:func:`~sd_engine.io.convert.context.read_context`),
the time settings (:func:`~sd_engine.io.convert.start_values.time_settings`), then each
element's variables (:func:`~sd_engine.io.convert.variables.to_variables`), and adds the
internal variables the equations need, the positions of ranges read as numbers and the
control variables that equations may read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import UnsupportedError
from ...expr import Call, Expr, Num, canonical, walk
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


#: Builtins whose value jumps within a time step, as Vensim's names.
STEP_FUNCTIONS = {"pulse": "PULSE", "pulse_train": "PULSE TRAIN", "step": "STEP"}


def _check_runge_kutta(ctx: ModelContext, variables: list[Variable], method: str) -> None:
    """Refuse a Vensim file that asks for Runge-Kutta integration (its settings) and calls a
    builtin that jumps within a step: sdflow evaluates it at each stage's time, where Vensim's
    reference does not say what it does (a PULSE of one TIME STEP then moves a third of its
    volume under RK4); Euler, which the file does not ask for, would be another answer."""
    for var in variables:
        for expr in (var.equation, var.init_equation):
            for node in walk(expr) if expr is not None else ():
                if isinstance(node, Call) and node.func in STEP_FUNCTIONS:
                    owner = var.owner or var.name
                    raise UnsupportedError(
                        f"`{ctx.path.name}` asks for {method.upper()} integration (its settings), and `{owner}` calls "
                        f"{STEP_FUNCTIONS[node.func]}, whose value between time steps Vensim does not document; "
                        "sdflow does not run that combination. Set the model's integration type to Euler in "
                        "Vensim, or replace the call with a continuous input."
                    )


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
        _check_runge_kutta(ctx, variables, time.method)
    # Vensim and Stella save TIME STEP with the other control variables; it names the engine's
    # dt, so the results add it as a series (sd_engine.results) under the file's own name.
    attrs: tuple[tuple[str, str], ...] = ()
    if "time_step" in ctx.controls:
        attrs = (("time_step_variable", ctx.controls["time_step"].name),)
        if "time_step" in dynamic:  # a TIME STEP that changes during the run: its series
            attrs += (("time_step_series", TIME_STEP_SERIES),)
    return ModelSpec(path.stem, tuple(variables), time, ctx.subscripts.dimensions, source=str(path), attrs=attrs)
