"""What a conversion works on: the file's text and its elements, and small shared helpers.

An :class:`Element` is one variable of the file as PySD's parser left it: its name,
units, documentation and the abstract syntax tree of each of its subscript blocks.
:class:`SourceFile` holds the file's checked text and finds in it what PySD's abstract
model does not keep (the line of each definition, each equation as written).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UnsupportedError
from ...expr import Binary, Expr, Num, Unary, canonical
from ...spec import LookupTable
from ..model_file import line_of, vensim_definitions

__all__ = [
    "VENSIM_SUFFIXES",
    "XMILE_SUFFIXES",
    "CONTROL",
    "TIME_STEP_SERIES",
    "Element",
    "GraphicalElement",
    "SourceFile",
    "points_table",
    "describe",
    "terms",
    "negate",
]

VENSIM_SUFFIXES = (".mdl",)
XMILE_SUFFIXES = (".xmile", ".xml", ".stmx", ".itmx")
#: Control variables: Vensim names (canonical) -> TimeSettings fields.
CONTROL = {"initial_time": "initial_time", "final_time": "final_time", "time_step": "dt", "saveper": "saveper"}
#: The series of a TIME STEP given by an equation that changes during the run.
TIME_STEP_SERIES = "TIME STEP (equation)"


@dataclass(frozen=True)
class GraphicalElement:
    """One array element of an XMILE variable with a graphical function per element: its
    equation (a PySD abstract syntax tree) read through its own table, an internal lookup."""

    table: str  # the lookup's canonical name
    argument: Any


@dataclass(frozen=True)
class Element:
    """One model element as read from the file, before its equations are converted."""

    name: str
    units: str
    doc: str
    dims: tuple[str, ...] = ()  # display names of its dimensions
    pieces: tuple[tuple[tuple[str, ...], Any], ...] = ()  # (subscripts, abstract ast) per block
    kind: str = "aux"  # "lookup" when the file defines a table of points
    source: str = ""  # the file and line, for messages and the spec

    @property
    def key(self) -> str:
        return canonical(self.name)


@dataclass(frozen=True)
class SourceFile:
    """The model file being converted: its path and its checked text."""

    path: Path
    text: str

    @property
    def vensim(self) -> bool:
        return self.path.suffix.lower() in VENSIM_SUFFIXES

    @functools.cached_property
    def definition_lines(self) -> dict[str, list[int]]:
        """The lines defining each name (canonical) in the file, in order."""
        if self.vensim:
            return vensim_definitions(self.text)
        found: dict[str, list[int]] = {}
        for match in re.finditer(r"<(?:\w+:)?(?:aux|flow|stock|gf|dim)\b[^>]*?\sname=\"([^\"]+)\"", self.text):
            key = canonical(html.unescape(match.group(1)))
            found.setdefault(key, []).append(self.text.count("\n", 0, match.start()) + 1)
        return found

    @functools.cached_property
    def equation_texts(self) -> dict[str, str]:
        """The equations of the model file as written, by canonical variable name (all the
        blocks of a subscripted variable joined)."""
        texts: dict[str, str] = {}
        if self.vensim:
            body = self.text.split("\\\\\\---///", 1)[0].replace("\\\n", "")
            for chunk in body.split("|"):
                definition = chunk.split("~", 1)[0]
                if "=" not in definition:
                    continue
                left, right = definition.split("=", 1)
                name = canonical(left.split("[", 1)[0].split(":", 1)[0].split("}")[-1])
                texts[name] = texts.get(name, "") + "\n" + right
            return texts
        # The file has passed check_xmile; a plain scan is enough here and, unlike an XML parser,
        # tolerates the undeclared namespace prefixes some isee files carry.
        named = list(re.finditer(r"<(?:\w+:)?(?:aux|flow|stock)\b[^>]*?\sname=\"([^\"]+)\"", self.text))
        for found, after in zip(named, named[1:] + [None]):
            segment = self.text[found.end():after.start() if after is not None else len(self.text)]
            eqns = re.findall(r"<eqn>(.*?)</eqn>", segment, flags=re.DOTALL)
            if eqns:
                key = canonical(html.unescape(found.group(1)))
                texts[key] = texts.get(key, "") + "\n" + html.unescape("\n".join(eqns))
        return texts

    def at(self, name: str, search: bool = True) -> str:
        """" line N" for the (first) definition of `name` in the file, or ``""``; with `search`,
        a name not found among the definitions is looked for in the whole text (for messages:
        once per error, not once per variable)."""
        lines = self.definition_lines.get(canonical(name))
        if not lines and search:
            lines = [line_of(self.text, name.split("\n")[0]) or 0]
        return f" line {lines[0]}" if lines and lines[0] else ""


def points_table(ast: Any, owner: str) -> LookupTable:
    """The table of a PySD lookups structure (points and how to read them), for `owner`."""
    kind = getattr(ast, "type", "interpolate") or "interpolate"
    modes = {"interpolate": "interpolate", "extrapolate": "extrapolate", "hold_backward": "hold_backward",
             "look_forward": "look_forward"}
    if kind not in modes:
        raise UnsupportedError(f"Lookup `{owner}` reads its table as `{kind}`, which sdflow lacks.")
    xs = tuple(float(x) for x in ast.x)
    ys = tuple(float(y) for y in ast.y)
    order = np.argsort(xs, kind="stable")
    mode: Any = modes[kind]
    return LookupTable(tuple(xs[i] for i in order), tuple(ys[i] for i in order), mode)


def describe(kind: str) -> str:
    """How messages name a PySD structure: ``GET XLS/DIRECT DATA``, ``DELAY FIXED`` ..."""
    names = {
        "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
        "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
        "DataStructure": "a data variable",
        "GetDataStructure": "GET XLS/DIRECT DATA",
        "GetConstantsStructure": "GET XLS/DIRECT CONSTANTS",
        "GetLookupsStructure": "GET XLS/DIRECT LOOKUPS",
    }
    return names.get(kind, kind.replace("Structure", "").upper())


def negate(e: Expr) -> Expr:
    """``-e``, folded into a number."""
    return Num(-e.value) if isinstance(e, Num) else Unary("-", e)


def terms(expr: Expr, sign: str = "+") -> Iterable[tuple[str, Expr]]:
    """The top-level terms of a sum, with their signs."""
    flip = {"+": "-", "-": "+"}
    if isinstance(expr, Binary) and expr.op in ("+", "-"):
        yield from terms(expr.left, sign)
        yield from terms(expr.right, sign if expr.op == "+" else flip[sign])
    elif isinstance(expr, Unary) and expr.op == "-":
        yield from terms(expr.operand, flip[sign])
    else:
        yield sign, expr
