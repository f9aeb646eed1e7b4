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
from dataclasses import dataclass
from typing import Any

from ..errors import UnsupportedError
from ..expr import canonical

__all__ = ["VensimCall", "take_vensim_calls", "put_vensim_calls"]

#: The arguments of each call, after the file: PySD's field names.
_FIELDS = {
    "constants": ("tab", "cell"),
    "lookups": ("tab", "x_row_or_col", "cell"),
    "data": ("tab", "time_row_or_col", "cell"),
}
_CALL = re.compile(rb"^\s*0\s*\{\s*GET_+(DIRECT|XLS)_+(CONSTANTS|LOOKUPS|DATA)_*\((.*)\)\s*\}\s*$", re.DOTALL)
_VARIABLE = re.compile(rb"<(aux|flow|stock)\b[^>]*\sname\s*=\s*\"([^\"]*)\"[^>]*>(.*?)</\1>", re.DOTALL)
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
