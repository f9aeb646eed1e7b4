"""Sphinx directives ``sdflow-parameters`` and ``sdflow-levers``: a library model's constants, and
its lever table, as tables.

``.. sdflow-parameters:: whole_system_flow`` builds the model's specification with the
builder (declarations only: nothing is compiled or run) and lists every constant with its
default, units and documentation, so the reference cannot drift from the model code.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

import models


def _number(text: str) -> str:
    """A constant's equation text, with thousands separators when it is a plain number."""
    try:
        return f"{float(text):,.10g}"
    except ValueError:
        return text


def _cell(text: str) -> nodes.entry:
    entry = nodes.entry()
    entry += nodes.paragraph(text=text)
    return entry


class ParametersDirective(Directive):
    """Table of a library model's constants: name, default, units, documentation."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        spec = models.build(self.arguments[0]).spec()
        rows = []
        for var in spec.variables:
            if var.kind != "constant" or var.internal:
                continue
            if var.values is not None:
                default = ", ".join(f"{x:g}" for x in var.values)
                default = f"[{default}] over {', '.join(var.dims)}"
            else:
                default = _number(var.text)
            rows.append((var.name, default, var.units, var.doc))
        if not rows:
            return [nodes.paragraph(text="This model has no constants.")]
        headers = ("constant", "default", "units", "documentation")
        table = nodes.table(classes=["sdflow-parameters"])
        group = nodes.tgroup(cols=len(headers))
        table += group
        for width in (22, 14, 14, 50):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head += nodes.row("", *(_cell(h) for h in headers))
        group += head
        body = nodes.tbody()
        for row in rows:
            body += nodes.row("", *(_cell(text) for text in row))
        group += body
        return [table]


def _table(headers: tuple[str, ...], widths: tuple[int, ...], rows: list[tuple[str, ...]], cls: str) -> nodes.table:
    table = nodes.table(classes=[cls])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += nodes.row("", *(_cell(h) for h in headers))
    group += head
    body = nodes.tbody()
    for row in rows:
        body += nodes.row("", *(_cell(text) for text in row))
    group += body
    return table


class LeversDirective(Directive):
    """Table of a library model's lever table (its module's ``LEVERS``): setting, effects, source."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        import importlib

        levers = getattr(importlib.import_module(f"models.{self.arguments[0]}"), "LEVERS", {})
        rows = []
        for name, spec in levers.items():
            setting = ", ".join(f"{k} = {v:g}" for k, v in spec["params"].items())
            if spec.get("reference", "baseline") != "baseline":
                setting += f" (against the {spec['reference']} run)"
            effects = "; ".join(f"{'raises' if sign > 0 else 'lowers'} {outcome} (year {years:g})"
                                for outcome, years, sign in spec["effects"])
            rows.append((name, setting, effects, spec["source"]))
        if not rows:
            return [nodes.paragraph(text="This model has no lever table.")]
        return [_table(("lever", "setting", "effects tested", "source"), (14, 20, 30, 36), rows, "sdflow-levers")]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("sdflow-parameters", ParametersDirective)
    app.add_directive("sdflow-levers", LeversDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
