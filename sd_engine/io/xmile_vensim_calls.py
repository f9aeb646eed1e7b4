"""Vensim's GET DIRECT/XLS calls that xmutil leaves in comments of the XMILE it writes.

XMILE has no function that reads a file, so xmutil writes a Vensim equation such as
``a[DimA] = GET DIRECT LOOKUPS('lookup_data.csv', ',', '1', 'E2')`` as the number 0 followed
by the call in a comment, its spaces written as underscores::

    <eqn>0{GET_DIRECT_LOOKUPS('lookup_data.csv',_',',_'1',_'E2')}</eqn>

Run as written that is 0 for every element, which is not the model. :func:`take_vensim_calls`
takes such an equation (the whole equation must be the 0 and its comment) out of the document
before PySD's parser reads it, leaving ``0`` on the same lines, and :func:`put_vensim_calls`
puts the call into PySD's abstract model as the structure PySD's Vensim parser makes of it, so
the file is read (confined to the model's folder) as the Vensim model reads it. Underscores
inside the quoted arguments are read as written (a file name keeps its own underscores).
A call in a comment inside a larger equation is left alone: PySD's parser then stops at it,
naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..errors import UnsupportedError
from ..expr import canonical

__all__ = ["VensimCall", "take_vensim_calls", "put_vensim_calls", "vensim_expression_calls", "data_placeholders", "read_as_data"]

#: The arguments of each call, after the file: PySD's field names.
_FIELDS = {
    "constants": ("tab", "cell"),
    "lookups": ("tab", "x_row_or_col", "cell"),
    "data": ("tab", "time_row_or_col", "cell"),
}
_CALL = re.compile(rb"^\s*0\s*\{\s*GET_+(DIRECT|XLS)_+(CONSTANTS|LOOKUPS|DATA)_*\((.*)\)\s*\}\s*$", re.DOTALL)
#: A variable with a body (a view's self-closing ``<aux .../>`` is not one).
_VARIABLE = re.compile(rb"<(aux|flow|stock)\b[^>]*\sname\s*=\s*\"([^\"]*)\"[^>]*(?<!/)>(.*?)</\1>", re.DOTALL)
_ELEMENT = re.compile(rb"<element\b[^>]*\ssubscript\s*=\s*\"([^\"]*)\"[^>]*>(.*?)</element>", re.DOTALL)
_EQN = re.compile(rb"(<eqn>)([^<]*)(</eqn>)")


@dataclass(frozen=True)
class VensimCall:
    """One call taken from a comment: its kind (``constants``, ``lookups``, ``data``), its
    arguments by PySD's field names, and the line of the equation in the file."""

    kind: str
    arguments: tuple[tuple[str, str], ...]
    line: int


#: Per variable (canonical name), per element (canonical subscripts; () for the whole variable).
Calls = dict[str, dict[tuple[str, ...], VensimCall]]


def take_vensim_calls(text: bytes, file_name: str) -> tuple[bytes, Calls]:
    """`text` with each equation that is only ``0{GET_...(...)}`` left as ``0`` on its lines, and
    the calls taken out.

    Raises
    ------
    UnsupportedError
        A call whose arguments are not the quoted literals Vensim requires, or not as many.
    """
    calls: Calls = {}
    out: list[bytes] = []
    last = 0
    for variable in _VARIABLE.finditer(text):
        name = canonical(variable.group(2).decode("utf-8", errors="replace").replace("\\n", " "))
        body_start = variable.start(3)
        body = variable.group(3)
        elements = [(m.start(2), m.group(2), _subscripts(m.group(1))) for m in _ELEMENT.finditer(body)]
        parts = elements if elements else [(0, body, ())]
        for offset, part, subs in parts:
            for eqn in _EQN.finditer(part):
                found = _CALL.match(eqn.group(2))
                if found is None:
                    continue
                start = body_start + offset + eqn.start(2)
                line = text.count(b"\n", 0, start) + 1
                calls.setdefault(name, {})[subs] = _call(found, variable.group(2).decode("utf-8", "replace"),
                                                         file_name, line)
                out += [text[last:start], b"0" + b"\n" * eqn.group(2).count(b"\n")]
                last = start + len(eqn.group(2))
    out.append(text[last:])
    return b"".join(out), calls


#: A call of a Vensim function of expressions left in a comment inside an equation.
_EXPRESSION_CALL = re.compile(rb"\b0\s*\{\s*(GET_DATA_BETWEEN_TIMES)_*\(([^{}<]*)\)\s*\}")
#: An underscore that stands for a space: next to anything but a letter or digit.
_SPACE = re.compile(rb"_+(?=[^A-Za-z0-9]|$)|(?<=[^A-Za-z0-9_])_+|^_+")


def vensim_expression_calls(text: bytes) -> bytes:
    """`text` with each ``0{GET_DATA_BETWEEN_TIMES_(...)}`` that xmutil leaves inside an equation
    written as the call itself, its underscores that stand for spaces made spaces again (names
    keep theirs, as XMILE writes them), on the same lines. Its arguments are expressions, which
    PySD's XMILE grammar reads (SDEverywhere's getdata.xmile)."""
    def call(match: re.Match[bytes]) -> bytes:
        arguments = _SPACE.sub(b" ", match.group(2))
        lines = match.group(0).count(b"\n") - arguments.count(b"\n")
        return match.group(1) + b"(" + arguments + b")" + b"\n" * lines

    return _EQN.sub(lambda m: m.group(1) + _EXPRESSION_CALL.sub(call, m.group(2)) + m.group(3), text)


def _subscripts(raw: bytes) -> tuple[str, ...]:
    return tuple(canonical(s.strip()) for s in raw.decode("utf-8", errors="replace").split(","))


def _call(found: re.Match[bytes], variable: str, file_name: str, line: int) -> VensimCall:
    kind = found.group(2).decode().lower()
    raw = found.group(3).decode("utf-8", errors="replace")
    literals = re.findall(r"'([^']*)'", raw)
    rest = re.sub(r"'[^']*'", "", raw).replace("_", "").replace(",", "").strip()
    fields = ("file",) + _FIELDS[kind]
    if rest or len(literals) != len(fields):
        raise UnsupportedError(
            f"`{variable}` in `{file_name}` (line {line}) is a Vensim GET {kind.upper()} call left in a comment with "
            f"arguments sdflow cannot read; Vensim takes {len(fields)} quoted literals ({', '.join(fields)})."
        )
    return VensimCall(kind, tuple(zip(fields, literals)), line)


def put_vensim_calls(abstract: Any, calls: Calls) -> None:
    """Put each call into the components of PySD's abstract model `abstract` (in place)."""
    if not calls:
        return
    from pysd.translators.structures import abstract_expressions as ae
    from pysd.translators.structures import abstract_model as am

    structures = {"constants": ae.GetConstantsStructure, "lookups": ae.GetLookupsStructure,
                  "data": ae.GetDataStructure}
    for section in abstract.sections:
        for element in section.elements:
            own = calls.get(canonical(element.name))
            if not own:
                continue
            for index, component in enumerate(element.components):
                subs = tuple(canonical(s) for s in component.subscripts[0])
                call = own.get(subs) or own.get(())
                if call is None:
                    continue
                ast = structures[call.kind](**dict(call.arguments))
                # The component PySD's Vensim parser makes of the call: a lookup, data or a constant.
                if call.kind == "lookups":
                    element.components[index] = am.AbstractLookup(component.subscripts, ast)
                elif call.kind == "data":
                    element.components[index] = am.AbstractData(component.subscripts, ast)
                else:
                    component.ast = ast


def data_placeholders(root: Any) -> dict[str, str]:
    """The variables that xmutil wrote for Vensim data variables (canonical -> display name).

    A Vensim data variable has no equation: its series come from a data file. xmutil writes it
    as ``TIME`` read through a graphical function of one flat segment, (0, 1) to (1, 1), on
    every element: a placeholder, not the data. With data files given (``data_files=``), these
    variables are read from them as the Vensim model reads them (SDEverywhere's extdata, prune,
    sumif); without, the file runs as written.
    """
    found: dict[str, str] = {}
    for node in root.iter():
        if node.tag.rsplit("}", 1)[-1] != "aux" or node.get("name") is None:
            continue
        eqns = [e for e in node.iter() if e.tag.rsplit("}", 1)[-1] == "eqn"]
        gfs = [g for g in node.iter() if g.tag.rsplit("}", 1)[-1] == "gf"]
        if not eqns or len(gfs) != len(eqns) or any((e.text or "").strip().upper() != "TIME" for e in eqns):
            continue
        if all(_points(g, "xpts") == "0,1" and _points(g, "ypts") == "1,1" for g in gfs):
            name = str(node.get("name")).replace("\\n", " ")
            found[canonical(name)] = name
    return found


def _points(gf: Any, tag: str) -> str:
    for child in gf:
        if child.tag.rsplit("}", 1)[-1] == tag:
            return "".join((child.text or "").split())
    return ""


def read_as_data(abstract: Any, names: Collection[str]) -> None:
    """Make the elements `names` of PySD's abstract model Vensim data variables (in place)."""
    if not names:
        return
    from pysd.translators.structures import abstract_expressions as ae
    from pysd.translators.structures import abstract_model as am

    for section in abstract.sections:
        for element in section.elements:
            if canonical(element.name) in names:
                element.components = [am.AbstractData(c.subscripts, ae.DataStructure()) for c in element.components]
