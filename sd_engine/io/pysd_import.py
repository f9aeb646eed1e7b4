"""Vensim and XMILE models into a :class:`~sd_engine.spec.ModelSpec`, through PySD's parsers.

PySD's translators turn a ``.mdl`` or XMILE file into an *abstract model*: sections of
elements, each element a list of components (one per subscript block) whose ``ast`` is
a tree of ``pysd.translators.structures.abstract_expressions`` nodes. This module walks
that tree and builds sdflow's own expression tree and spec. PySD's code generator and
runtime are never used here.

Anything the engine cannot simulate faithfully is refused with
:class:`~sd_engine.errors.UnsupportedError` naming the variable and the construct: an
import that succeeds runs the model as written.

Model files are untrusted. The file is read once, by :mod:`sd_engine.io.model_file`
(regular files only, strict decoding, no control characters, no truncated last
definition), and PySD's parsers are given that checked text. The converter then refuses,
with the file and the line, names with control or invisible characters, a name defined
twice, a Vensim file without its INITIAL TIME, FINAL TIME and TIME STEP, and a file that
defines no variables.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from parsimonious.exceptions import ParsimoniousError

from ..errors import SDError, SpecError, UnsupportedError
from ..expr import (
    Binary,
    Call,
    Expr,
    Num,
    Ref,
    Str,
    Table,
    Unary,
    canonical,
    chain,
    forbidden_character,
    references,
    walk,
)
from ..functions import NUMPY_OPERATORS
from ..spec import Dimension, LookupTable, ModelSpec, TimeSettings, Variable
from .external import ExternalDataError, ExternalReader, Series
from .model_file import line_of, name_file, read_model_bytes, vensim_definitions, vensim_file, vensim_text
from .xml_safety import MissingModelFileError, ModelFileError, check_xmile
from .xmile_graphicals import element_graphicals, with_element_equations
from .xmile_modules import prepare_xmile, xmile_file

__all__ = ["read_model", "VENSIM_SUFFIXES", "XMILE_SUFFIXES", "TIME_STEP_SERIES"]

VENSIM_SUFFIXES = (".mdl",)
XMILE_SUFFIXES = (".xmile", ".xml", ".stmx", ".itmx")

#: The series of a TIME STEP given by an equation that changes during the run.
TIME_STEP_SERIES = "TIME STEP (equation)"
#: Control variables: Vensim names (canonical) -> TimeSettings fields.
_CONTROL = {"initial_time": "initial_time", "final_time": "final_time", "time_step": "dt", "saveper": "saveper"}

#: Builtins whose PySD name maps one-to-one to an engine builtin.
_SAME = {
    "abs", "exp", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sqrt", "ln",
    "log", "integer", "modulo", "quantum", "xidz", "zidz", "if_then_else", "step", "pulse", "ramp", "min",
    "max", "invert_matrix", "random_uniform", "random_normal", "random_exponential", "random_poisson",
    "gamma_ln",
}
_REDUCERS = {"sum", "prod", "vmin", "vmax"}
#: Functions we know and refuse, with the reason shown to the user.
_REFUSED: dict[str, str] = {}
#: Vensim's vector functions, kept as engine array functions.
_VECTOR = {"vector_sort_order", "vector_reorder", "vector_rank"}


def read_model(path: str | Path, *, data_files: Sequence[str | Path] | None = None,
               files: Mapping[str, str | Path] | None = None, data_root: str | Path | None = None) -> ModelSpec:
    """Read a Vensim ``.mdl`` or XMILE ``.xmile``/``.stmx``/``.itmx`` file into a spec.

    Parameters
    ----------
    path : str or Path
        The model file. XMILE files are checked with defusedxml first, so entity
        expansion ("billion laughs") and external entities are refused before PySD's
        parser sees the file.
    data_files : sequence of paths, optional
        ``.tab``/``.csv`` tables (a Vensim data export: one column or row per variable)
        holding the series of data variables that have no equation, searched in order
        (PySD's ``data_files``); relative to the model's folder.
    files : mapping, optional
        Replacement paths for files named in GET XLS/DIRECT functions (or ``?tag``
        indirections), as in Vensim's XLS Files settings.
    data_root : path, optional
        The folder whose tree the file names written in the model may reach; by default the
        model's own folder. Paths in `files` and `data_files` are read wherever they are.

    Returns
    -------
    ModelSpec
        Variables named as in the file, with units and documentation; the file's time
        settings and (XMILE) integration method.

    Examples
    --------
    >>> from pathlib import Path
    >>> spec = read_model(Path(__file__).parents[2] / "tests" / "io" / "models" / "decay.mdl")
    >>> spec["Remaining"].kind, spec.time.final_time
    ('stock', 4.0)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VENSIM_SUFFIXES + XMILE_SUFFIXES:
        if not path.exists():
            raise MissingModelFileError(f"No model file `{path}`.")
        raise ModelFileError(
            f"`{path.name}` is not a model file sdflow reads; use .mdl (Vensim) or .xmile/.stmx/.itmx (XMILE)."
        )
    raw = read_model_bytes(path)  # once, regular files only: the parsers get this checked text
    method = "euler"
    graphicals: dict[str, dict[tuple[str, ...], LookupTable]] = {}
    if suffix in VENSIM_SUFFIXES:
        file_text = vensim_text(path, raw)
        try:
            parsed = vensim_file(path, file_text)
            parsed.parse()
            abstract = parsed.get_abstract_model()
        except _PARSE_ERRORS as exc:
            extra = _macro_with_extra_outputs(file_text)
            if extra:
                # PySD's grammar stops at the `:` of such a call; the file itself is valid Vensim.
                raise UnsupportedError(
                    f"`{path.name}` defines macro `{extra}` with extra outputs (after `:`), which sdflow does "
                    "not run; give the macro one output and write the others as ordinary variables."
                ) from exc
            raise ModelFileError(_parse_failure(path, file_text, exc)) from exc
    else:
        info = check_xmile(path, raw)
        file_text = raw.decode("utf-8", errors="replace")
        method, expected = info.method, info.variables
        # Stella: one equation for the array and only a graphical function in each element.
        filled = with_element_equations(info.root, path.name)
        tree = info.root if filled is None else filled
        # Modules, macros and the legacy isee layout are rewritten as one current model.
        prepared = prepare_xmile(tree, path.name)
        if prepared is not None:
            expected, text, tree = prepared.variables, prepared.text, ET.fromstring(prepared.text)
        else:
            text = raw if filled is None else ET.tostring(filled, encoding="utf-8")
        # PySD's parser keeps each element's equation but drops its own <gf>: read those here.
        graphicals = element_graphicals(tree, path.name)
        try:
            parsed_x = xmile_file(path, _lookup_builtin_as_call(text))
            parsed_x.parse()
            abstract = parsed_x.get_abstract_model()
        except _PARSE_ERRORS as exc:
            raise ModelFileError(_parse_failure(path, file_text, exc)) from exc
        found = {canonical(e.name) for s in abstract.sections for e in s.elements}
        missing = [n for n in expected if canonical(n) not in found]
        if missing:
            # Older isee files (XMILE drafts) are not read by PySD's parser: refuse rather
            # than run a model with variables missing.
            raise UnsupportedError(
                f"PySD's XMILE parser did not read {len(missing)} variable(s) of `{path.name}` (first: "
                f"`{missing[0]}`), as happens with legacy isee files; save the model as XMILE from a current "
                "Stella version."
            )
    external = ExternalReader(path.parent, files, data_files, data_root=data_root, model=path.name)
    converter = _Converter(path, abstract, method, external, graphicals, text=file_text)
    try:
        spec = converter.convert()
        read = tuple((f.path, f.size, f.sha256) for f in external.read)
        return dataclasses.replace(spec, data_files=read) if read else spec
    except RecursionError:
        raise ModelFileError(
            f"`{path.name}` has an equation nested too deeply to convert (in `{converter.current}`); split it into "
            "auxiliaries."
        ) from None
    except SDError as exc:
        name_file(exc, str(path))
        raise


#: What PySD's parsers raise on a file they cannot read (RecursionError: nesting too deep).
_PARSE_ERRORS = (ValueError, KeyError, IndexError, AttributeError, TypeError, ParsimoniousError, RecursionError)


_LOOKUP_BUILTIN = re.compile(rb"\bLOOKUP\s*\(\s*([^,()<>]+?)\s*,", flags=re.IGNORECASE)


def _lookup_builtin_as_call(text: bytes) -> bytes:
    """An XMILE document with each ``LOOKUP(table, x)`` of an equation read ``table(x)``.

    PySD's XMILE grammar takes the LOOKUP builtin for a table definition and fails on it; the
    two spellings mean the same (XMILE 3.5.3), and each stays on its line, so a later parse
    error still points at the right line of the user's file.
    """
    return re.sub(rb"<eqn>[^<]*</eqn>", lambda m: _LOOKUP_BUILTIN.sub(rb"\1(", m.group(0)), text)


def _macro_with_extra_outputs(text: str) -> str:
    """The name of the first Vensim macro whose header declares extra outputs, or ``""``."""
    found = re.search(r"^\s*:MACRO:\s*([^(\n]+)\(([^)]*:[^)]*)\)", text, flags=re.MULTILINE | re.IGNORECASE)
    return found.group(1).strip() if found else ""


def _parse_failure(path: Path, file_text: str, exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return f"PySD's parser could not read `{path.name}`: an equation nests too deeply; split it into auxiliaries."
    text = str(exc).strip().splitlines()
    # PySD quotes the file: show it escaped, so no character of the file reaches a terminal as is.
    detail = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in (text[0] if text else type(exc).__name__))
    detail = detail[:300]
    place = ""
    found = re.search(r"at '([^']{1,40})", detail)
    if found:
        # Point at the line of the file and the variable whose equation holds the failing text.
        fragment = " ".join(found.group(1).split())[:20]
        lines = file_text.splitlines()
        for number, line in enumerate(lines, 1):
            if fragment and fragment in " ".join(line.split()):
                owner = ""
                for previous in reversed(lines[:number]):
                    named = re.search(r'name="([^"]+)"', previous)
                    if named:
                        owner = named.group(1)
                        break
                    if previous and not previous[0].isspace() and "=" in previous:
                        owner = previous.split("=")[0].strip()
                        break
                place = f" at line {number}" + (f", in the equation of `{owner}`" if owner else "")
                break
    return f"PySD's parser could not read `{path.name}`{place}: {detail}"


# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _GraphicalElement:
    """One array element of an XMILE variable with a graphical function per element: its
    equation (a PySD abstract syntax tree) read through its own table, an internal lookup."""

    table: str  # the lookup's canonical name
    argument: Any


@dataclass
class _Element:
    """One model element while it is being converted."""

    name: str
    units: str
    doc: str
    dims: tuple[str, ...] = ()  # display names of its dimensions
    pieces: list[tuple[tuple[str, ...], Any]] = field(default_factory=list)  # (subscripts, abstract ast)
    kind: str = "aux"
    lookup: LookupTable | None = None
    source: str = ""

    @property
    def key(self) -> str:
        return canonical(self.name)


class _Converter:
    def __init__(self, path: Path, abstract: Any, method: str, external: ExternalReader | None = None,
                 graphicals: Mapping[str, Mapping[tuple[str, ...], LookupTable]] | None = None,
                 text: str | None = None) -> None:
        self.path = path
        self.text = text  # the file's checked text, when the caller has read it
        self.graphicals = dict(graphicals or {})  # XMILE: variable -> its tables per array element
        self.external = external if external is not None else ExternalReader(path.parent)
        self.abstract = abstract
        self.method = method
        self.variables: list[Variable] = []
        self.current = ""  # the element being converted, for messages

    # -- top level ---------------------------------------------------------------------------
    def convert(self) -> ModelSpec:
        sections = list(self.abstract.sections)
        self.check_names(sections)
        main = [s for s in sections if s.type == "main"]
        # Vensim macros are expanded at each call: one copy of their variables per call.
        self.macros = {canonical(s.name): s for s in sections if s.type == "macro"}
        self.macro_calls: dict[str, int] = {}
        self.scope: dict[str, Expr] = {}
        self.expanding: list[str] = []
        others = [s for s in sections if s.type not in ("main", "macro")]
        if others:
            kinds = sorted({s.type for s in others})
            names = ", ".join(f"`{s.name}`" for s in others)
            raise UnsupportedError(
                f"`{self.path.name}` defines {' and '.join(kinds)} section(s) {names}; sdflow does not run "
                "Vensim macros or XMILE modules yet. Expand the macro into plain equations."
            )
        section = main[0]
        self.dimensions = self.read_dimensions(section.subscripts)
        self.dim_elements = {d.canonical: tuple(d.elements) for d in self.dimensions}
        self.mapped: dict[str, set[str]] = {d.canonical: set() for d in self.dimensions}
        for d in self.dimensions:
            for other in d.maps_to:
                if canonical(other) in self.mapped:
                    self.mapped[d.canonical].add(canonical(other))
                    self.mapped[canonical(other)].add(d.canonical)
        self.element_dims: dict[str, list[str]] = {}
        for d in self.dimensions:
            for e in d.elements:
                self.element_dims.setdefault(canonical(e), []).append(d.name)
        elements = [self.read_element(e) for e in section.elements]
        controls = {e.key: e for e in elements if e.key in _CONTROL}
        model = [e for e in elements if e.key not in _CONTROL]
        self.check_complete(controls, model)
        self.elements = {e.key: e for e in model}
        time = self.time_settings(controls)
        self.time = time
        self.positions: dict[str, str] = {}  # dimensions used as numbers -> their position variable
        self.views: dict[str, Variable] = {}  # mapped subranges read from a parent range, lookup reads
        self.element_tables: dict[tuple[str, tuple[str, ...]], str] = {}
        self.lookup_calls = 0
        self.block: tuple[str, ...] = ()
        self.context: tuple[str, ...] = ()
        for element in model:  # subscripted lookups first: equations anywhere may read them
            if element.kind == "lookup" and element.dims:
                for subs, _ in element.pieces:
                    for combo in itertools.product(*(self.expand(sub) for sub in subs)):
                        self.element_tables[(element.key, tuple(canonical(c) for c in combo))] = canonical(
                            f"{element.name}[{', '.join(combo)}]")
        for element in model:
            if element.key in self.graphicals:
                self.element_graphicals(element)
        for element in model:
            self.current = element.name
            self.context = tuple(canonical(d) for d in element.dims)
            self.variables.extend(self.to_variables(element))
        self.variables.extend(self.views.values())
        for dim_key, name in self.positions.items():
            dim = next(d for d in self.dimensions if d.canonical == dim_key)
            # An element's number is its position in the widest range holding it (Vensim numbers
            # `C` alike whether read through `A, B, C` or through its reordering `A, C, B`).
            members = {canonical(e) for e in dim.elements}
            family = max((d for d in self.dimensions if members <= {canonical(e) for e in d.elements}),
                         key=lambda d: len(d.elements))
            order = [canonical(e) for e in family.elements]
            self.variables.append(Variable(
                name, "constant", values=tuple(float(order.index(canonical(e)) + 1) for e in dim.elements),
                dims=(dim.name,),
                internal=True, doc=f"The position of each element of `{dim.name}`, from 1.",
                source=f"`{dim.name}` used as a number in {self.path.name}", owner=dim.name))
        # The control variables other than TIME STEP stay readable by equations, as constants.
        for key, element in controls.items():
            if key in self.dynamic_controls:
                self.current = element.name
                # `TIME STEP` itself names the engine's dt in equations; its equation is a series.
                name = TIME_STEP_SERIES if key == "time_step" else element.name
                self.variables.append(Variable(name, "aux", self.dynamic_controls[key], units=element.units,
                                               doc=element.doc, source=element.source))
                continue
            if key == "time_step":
                continue
            value = getattr(time, _CONTROL[key])
            value = time.dt if value is None else value
            self.variables.append(Variable(element.name, "constant", Num(float(value)), units=element.units,
                                           doc=element.doc, source=element.source))
        self.mark_flows()
        self.check_undefined_reads()
        return ModelSpec(self.path.stem, tuple(self.variables), time, tuple(self.dimensions),
                         source=str(self.path))

    # -- what an untrusted file must get right ---------------------------------------------------
    def at(self, name: str, search: bool = True) -> str:
        """" line N" for the (first) definition of `name` in the file, or ``""``; with `search`,
        a name not found among the definitions is looked for in the whole text (for messages:
        once per error, not once per variable)."""
        lines = self.definition_lines.get(canonical(name))
        if not lines and search:
            lines = [line_of(self.file_text, name.split("\n")[0]) or 0]
        return f" line {lines[0]}" if lines and lines[0] else ""

    @functools.cached_property
    def definition_lines(self) -> dict[str, list[int]]:
        """The lines defining each name (canonical) in the file, in order."""
        if self.path.suffix.lower() in VENSIM_SUFFIXES:
            return vensim_definitions(self.file_text)
        found: dict[str, list[int]] = {}
        for match in re.finditer(r"<(?:\w+:)?(?:aux|flow|stock|gf|dim)\b[^>]*?\sname=\"([^\"]+)\"", self.file_text):
            key = canonical(html.unescape(match.group(1)))
            found.setdefault(key, []).append(self.file_text.count("\n", 0, match.start()) + 1)
        return found

    def check_names(self, sections: Sequence[Any]) -> None:
        """Refuse names with control or invisible characters (line breaks, NUL, bidirectional
        overrides ...), naming the file and the line, before anything is built from them."""
        for section in sections:
            named = [(str(e.name), "variable") for e in section.elements]
            for rng in section.subscripts:
                named.append((str(rng.name), "subscript range"))
                if isinstance(rng.subscripts, (list, tuple)):
                    named += [(str(e), "subscript element") for e in rng.subscripts]
            for name, what in named:
                bad = forbidden_character(name)
                if bad is not None:
                    raise ModelFileError(
                        f"`{self.path.name}`{self.at(name)}: the {what} name {name!r} contains {bad}; names may not "
                        "hold control or invisible characters. Remove it from the name."
                    )

    def check_complete(self, controls: Mapping[str, _Element], model: Sequence[_Element]) -> None:
        """Refuse a file without variables, and a Vensim file without its time settings: a
        file cut short or not a model at all must not run with made-up settings (dt = 1)."""
        last = self.file_text.count("\n") + 1
        if self.path.suffix.lower() in VENSIM_SUFFIXES:
            missing = [name for key, name in (("initial_time", "INITIAL TIME"), ("final_time", "FINAL TIME"),
                                              ("time_step", "TIME STEP")) if key not in controls]
            if missing:
                raise ModelFileError(
                    f"`{self.path.name}` does not define {', '.join(f'`{m}`' for m in missing)} (the file has {last} "
                    "lines): a Vensim model defines INITIAL TIME, FINAL TIME and TIME STEP, so the file is "
                    "incomplete or not a model. Restore its control section."
                )
        if not model:
            raise ModelFileError(
                f"`{self.path.name}` defines no model variables (the file has {last} lines); it is empty or not a "
                "model."
            )

    def check_single_definition(self, element: Any, covered: dict[tuple[str, ...], int], index: int,
                                blocks: Sequence[tuple[str, ...]]) -> None:
        """Refuse a second definition of an element (Vensim keeps the first, silently)."""
        for block in blocks:
            for combo in itertools.product(*(self.expand(sub) for sub in block)):
                first = covered.setdefault(tuple(canonical(c) for c in combo), index)
                if first == index:
                    continue
                label = f"{element.name}[{', '.join(combo)}]" if combo else element.name
                lines = [] if self.expanding else self.definition_lines.get(canonical(element.name), [])
                if len(lines) > index:
                    where = f"at lines {lines[first]} and {lines[index]}"
                elif lines:
                    where = f"(defined at lines {', '.join(map(str, lines))})"
                else:
                    where = "twice" if not self.expanding else f"twice in macro `{self.expanding[-1]}`"
                raise ModelFileError(
                    f"`{self.path.name}` defines `{label}` {where}; a variable has one definition for each element, "
                    "and sdflow will not pick one. Remove or rename the other."
                )

    def check_undefined_reads(self) -> None:
        """Refuse an equation that names an element its variable leaves undefined: Vensim has no
        value for it (and reports the equation), so no number may stand in for it."""
        holes = {v.canonical: {tuple(canonical(e) for e in h.split(", ")) for h in v.undefined}
                 for v in self.variables if v.undefined}
        if not holes:
            return
        for var in self.variables:
            for expr in (var.equation, var.init_equation):
                for node in walk(expr) if expr is not None else ():
                    if isinstance(node, Ref) and node.name in holes \
                            and tuple(canonical(s) for s in node.subscripts) in holes[node.name]:
                        target = next(v for v in self.variables if v.canonical == node.name)
                        raise SpecError(
                            f"`{var.name}` reads `{target.name}[{', '.join(node.subscripts)}]`, which the model "
                            f"does not define (`{target.name}` is defined on some elements only); define that "
                            "element or read a defined one."
                        )

    # -- dimensions ----------------------------------------------------------------------------
    def read_dimensions(self, ranges: Sequence[Any]) -> list[Dimension]:
        found: dict[str, Any] = {}
        for rng in ranges:
            first = found.setdefault(canonical(rng.name), rng)
            if first is not rng:
                lines = self.definition_lines.get(canonical(rng.name), [])
                where = f" at lines {', '.join(map(str, lines))}" if len(lines) > 1 else " twice"
                raise ModelFileError(
                    f"`{self.path.name}` defines subscript range `{rng.name}`{where}; define it once."
                )
        out: list[Dimension] = []
        resolving: set[str] = set()

        def elements_of(key: str) -> tuple[str, ...]:
            rng = found[key]
            subs = rng.subscripts
            if isinstance(subs, str):  # an equivalent range: the same elements as another
                if key in resolving or canonical(subs) not in found:
                    raise UnsupportedError(f"Subscript range `{rng.name}` copies unknown range `{subs}`.")
                resolving.add(key)
                return elements_of(canonical(subs))
            if isinstance(subs, dict):  # GET XLS/DIRECT SUBSCRIPT: elements read from a file
                return self.external.subscript(rng.name, str(subs["file"]), str(subs["tab"]),
                                               str(subs["firstcell"]), str(subs.get("lastcell") or ""),
                                               str(subs.get("prefix") or ""))
            result: list[str] = []
            for s in subs:
                # A range listed inside another range contributes its elements.
                result.extend(elements_of(canonical(s)) if canonical(s) in found and canonical(s) != key else [s])
            return tuple(result)

        for key, rng in found.items():
            maps = tuple(m if isinstance(m, str) else m[0] for m in (rng.mapping or []))
            if maps and self.path.suffix.lower() in VENSIM_SUFFIXES:
                # `B: b1, b2 -> (A: SubA, a3)` comes out of PySD's parser as B = b1, b2, SubA, a3.
                spelled = r"[\s_]+".join(re.escape(w) for w in rng.name.split())
                if re.search(rf"(^|\|)\s*{spelled}\s*:[^~|]*->\s*\(", self.file_text,
                             flags=re.IGNORECASE | re.MULTILINE):
                    raise UnsupportedError(
                        f"Subscript range `{rng.name}` maps to `{maps[0]}` element by element "
                        f"(`-> ({maps[0]}: ...)`), which PySD's parser misreads as elements of `{rng.name}`; "
                        "map it to a whole range of the same length instead."
                    )
            out.append(Dimension(rng.name, elements_of(key), maps_to=maps))
        return out

    # -- elements ------------------------------------------------------------------------------
    def read_element(self, element: Any) -> _Element:
        units = element.units or ""
        if isinstance(units, (tuple, list)):
            units = units[0] if units else ""
        doc = (element.documentation or "").strip()
        line = "" if self.expanding else self.at(element.name, search=False)
        el = _Element(element.name, str(units).strip(), doc, source=f"{self.path.name}{line}: {element.name}")
        self.current = element.name
        kinds = set()
        covered: dict[tuple[str, ...], int] = {}
        for index, comp in enumerate(element.components):
            subs, excepts = comp.subscripts
            ctype = type(comp).__name__
            ast = comp.ast
            if type(ast).__name__ in _EXTERNAL:
                if excepts:
                    raise UnsupportedError(
                        f"`{element.name}` reads {_describe(type(ast).__name__)} for a block with :EXCEPT:; "
                        "sdflow reads files for whole blocks. Write the block element by element."
                    )
                ast = self.read_external(element.name, tuple(subs), ast, getattr(comp, "keyword", None))
            if excepts:
                blocks = self.except_blocks(tuple(subs), [tuple(e) for e in excepts])
            else:
                blocks = [tuple(subs)]
            if len(element.components) > 1:
                self.check_single_definition(element, covered, index, blocks)
            if ctype == "AbstractLookup" or type(ast).__name__ in ("LookupsStructure", "GetLookupsStructure"):
                kinds.add("lookup")
            for block in blocks:
                el.pieces.append((block, ast))
        if "lookup" in kinds:
            el.kind = "lookup"
        el.dims = self.element_dimensions(el)
        return el

    def element_graphicals(self, el: _Element) -> None:
        """XMILE graphical functions given per array element: each element's table becomes an
        internal lookup, named and registered as the tables of a subscripted Vensim lookup (so
        ``tables[a](x)`` reads it), and the element's value is its table read at its equation."""
        tables = self.graphicals[el.key]
        self.current = el.name
        pieces = []
        for subs, ast in el.pieces:
            combo = tuple(canonical(s) for s in subs)
            table = tables.get(combo)
            if table is None:  # an element without a table of its own keeps its equation
                pieces.append((subs, ast))
                continue
            if len(el.dims) != len(subs) or any(canonical(s) in self.dim_elements for s in subs):
                raise UnsupportedError(
                    f"`{el.name}` gives a graphical function to `[{', '.join(subs)}]`, which is not one element of "
                    f"its dimensions; give each <element> one subscript per dimension."
                )
            name = f"{el.name}[{', '.join(s.strip() for s in subs)}]"
            self.element_tables[(el.key, combo)] = canonical(name)
            self.views[canonical(name)] = Variable(name, "lookup", lookup=table, units=el.units, doc=el.doc,
                                                   internal=True, source=el.source)
            if type(ast).__name__ == "InlineLookupsStructure":
                ast = ast.argument  # the element's own table wins over the variable's
            pieces.append((subs, _GraphicalElement(canonical(name), ast)))
        el.pieces = pieces

    def expand(self, sub: str) -> tuple[str, ...]:
        """The elements a subscript stands for: a range's elements, or the element itself."""
        key = canonical(sub)
        if key in self.dim_elements:
            return self.dim_elements[key]
        if key in self.element_dims:
            return (sub,)
        raise UnsupportedError(f"`{self.current}` uses subscript `{sub}`, which no subscript range defines.")

    def except_blocks(self, subs: tuple[str, ...], excepts: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """The element-by-element blocks of ``x[subs] :EXCEPT: excepts``."""
        excluded = set()
        for exc in excepts:
            for combo in itertools.product(*(self.expand(s) for s in exc)):
                excluded.add(tuple(canonical(c) for c in combo))
        blocks = []
        for combo in itertools.product(*(self.expand(s) for s in subs)):
            if tuple(canonical(c) for c in combo) not in excluded:
                blocks.append(tuple(combo))
        return blocks

    def element_dimensions(self, el: _Element) -> tuple[str, ...]:
        """The dimension at each subscript position: the range that covers every block there."""
        if not el.pieces:
            return ()
        n = len(el.pieces[0][0])
        if any(len(p[0]) != n for p in el.pieces):
            raise SpecError(f"`{el.name}` is defined with different numbers of subscripts in its equations.")
        dims = []
        for i in range(n):
            named = [p[0][i] for p in el.pieces if canonical(p[0][i]) in self.dim_elements]
            used = {canonical(e) for p in el.pieces for e in self.expand(p[0][i])}
            covering = [d for d in self.dimensions if used <= {canonical(e) for e in d.elements}]
            if not covering:
                raise UnsupportedError(
                    f"The subscripts of `{el.name}` at position {i + 1} do not all belong to one range."
                )
            direct = [d for d in covering if d.name in named and len(d.elements) == len(used)]
            if direct:
                dims.append(direct[0].name)
                continue
            smallest = min(covering, key=lambda d: len(d.elements))
            if len(smallest.elements) == len(used):
                dims.append(smallest.name)
                continue
            # Only some elements of a range are defined (Vensim runs it and reports only those):
            # the variable gets a range of exactly those elements, so reading an undefined one
            # is an error instead of a silent number.
            elements = tuple(e for e in smallest.elements if canonical(e) in used)
            name = f"{smallest.name} of {el.name}"
            implicit = Dimension(name, elements)
            self.dimensions.append(implicit)
            self.dim_elements[implicit.canonical] = elements
            self.mapped[implicit.canonical] = set()
            dims.append(name)
        for i, name in enumerate(dims):
            if name in dims[:i]:
                # The same range twice (x[Dims, Dims]): the second position gets a copy of it.
                copy = f"{name} ({i + 1})"
                if canonical(copy) not in self.dim_elements:
                    elements = self.dim_elements[canonical(name)]
                    self.dimensions.append(Dimension(copy, elements, maps_to=(name,)))
                    self.dim_elements[canonical(copy)] = elements
                    self.mapped[canonical(copy)] = {canonical(name)}
                    self.mapped[canonical(name)].add(canonical(copy))
                dims[i] = copy
        return tuple(dims)

    # -- time settings -------------------------------------------------------------------------
    def time_settings(self, controls: dict[str, _Element]) -> TimeSettings:
        values: dict[str, float] = {}
        pending = dict(controls)
        units = ""
        for _ in range(len(pending) + 1):
            for key, element in list(pending.items()):
                self.current = element.name
                if len(element.pieces) != 1 or element.pieces[0][0]:
                    raise UnsupportedError(f"Control variable `{element.name}` cannot be subscripted.")
                expr = self.expr(element.pieces[0][1])
                number = self.evaluate_constant(expr, values)
                if number is not None:
                    values[_CONTROL[key]] = number
                    del pending[key]
                    if key == "time_step" or not units:
                        units = element.units or units
        # Equations that change during the run (Vensim reads them at every step): their values
        # at the initial time go into the settings, the equations stay as auxiliaries that
        # the integrator reads (TimeSettings.controls).
        self.dynamic_controls: dict[str, Expr] = {}
        for key in sorted(pending, key=["initial_time", "time_step", "final_time", "saveper"].index):
            element = pending[key]
            self.current = element.name
            expr = self.expr(element.pieces[0][1])
            # INITIAL TIME is needed before there is a Time: Vensim's Time is then 0.
            number = self.start_value(expr, values, values.get("initial_time", 0.0), set())
            if number is None or not math.isfinite(number):
                raise UnsupportedError(
                    f"Control variable `{element.name}` has an equation sdflow cannot evaluate at the initial time "
                    "(it reads lookups, arrays or functions beyond IF THEN ELSE, MIN, MAX and arithmetic); write "
                    "it with those or as a number."
                )
            values[_CONTROL[key]] = number
            self.dynamic_controls[key] = expr
            if key == "time_step" or not units:
                units = element.units or units
        kwargs: dict[str, Any] = {}
        for name in ("initial_time", "final_time", "dt", "saveper"):
            if name in values:
                kwargs[name] = values[name]
        if "saveper" in kwargs and "dt" in kwargs and math.isclose(kwargs["saveper"], kwargs["dt"]) \
                and "saveper" not in self.dynamic_controls:
            kwargs["saveper"] = None
        kwargs["controls"] = tuple((_CONTROL[key], canonical(TIME_STEP_SERIES) if key == "time_step" else key)
                                   for key in ("final_time", "time_step", "saveper") if key in self.dynamic_controls)
        return TimeSettings(units=units or "time", method=self.method, **kwargs)

    def start_value(self, expr: Expr, known: dict[str, float], time: float, seen: set[str]) -> float | None:
        """The value of a control variable's equation at the initial time: numbers, Time, other
        control variables, scalar model variables (stocks at their initial values), arithmetic,
        comparisons, IF THEN ELSE, MIN, MAX."""
        controls = {"dt": "dt", "time_step": "dt", "initial_time": "initial_time", "final_time": "final_time",
                    "saveper": "saveper"}
        if isinstance(expr, Num):
            return expr.value
        if isinstance(expr, Ref) and not expr.subscripts:
            if expr.name == "time":
                return time
            if expr.name in controls:
                return known.get(controls[expr.name])
            target = self.elements.get(expr.name)
            if target is None or target.dims or len(target.pieces) != 1 or expr.name in seen:
                return None
            ast = target.pieces[0][1]
            if type(ast).__name__ == "IntegStructure":  # a stock starts at its initial value
                return self.start_value(self.expr(ast.initial), known, time, seen | {expr.name})
            if type(ast).__name__ == "LookupsStructure" or target.kind == "lookup":
                return None
            return self.start_value(self.expr(ast), known, time, seen | {expr.name})
        if isinstance(expr, Unary):
            v = self.start_value(expr.operand, known, time, seen)
            return None if v is None else (-v if expr.op == "-" else float(not v))
        if isinstance(expr, Binary):
            a, b = self.start_value(expr.left, known, time, seen), self.start_value(expr.right, known, time, seen)
            if a is None or b is None:
                return None
            with np.errstate(all="ignore"):
                return float(NUMPY_OPERATORS[expr.op](np.float64(a), np.float64(b)))
        if isinstance(expr, Call) and expr.func in ("if_then_else", "min", "max"):
            found = [self.start_value(a, known, time, seen) for a in expr.args]
            args = [a for a in found if a is not None]
            if len(args) != len(found) or not args:
                return None
            if expr.func == "if_then_else":
                return args[1] if args[0] else args[2]
            return float(min(args) if expr.func == "min" else max(args))
        return None

    def evaluate_constant(self, expr: Expr, known: dict[str, float]) -> float | None:
        """The value of an equation of numbers, other control variables and scalar constants."""
        lookup = {"time_step": known.get("dt"), "dt": known.get("dt"), "initial_time": known.get("initial_time"),
                  "final_time": known.get("final_time"), "saveper": known.get("saveper")}

        def value(e: Expr) -> float | None:
            if isinstance(e, Num):
                return e.value
            if isinstance(e, Ref) and not e.subscripts:
                if e.name in lookup:
                    return lookup[e.name]
                target = self.elements.get(e.name) if hasattr(self, "elements") else None
                if target is not None and len(target.pieces) == 1 and not target.dims:
                    inner = target.pieces[0][1]
                    if isinstance(inner, (int, float)):
                        return float(inner)
                return None
            if isinstance(e, Unary) and e.op == "-":
                v = value(e.operand)
                return None if v is None else -v
            if isinstance(e, Binary) and e.op in "+-*/**":
                a, b = value(e.left), value(e.right)
                if a is None or b is None:
                    return None
                with np.errstate(all="ignore"):
                    return float({"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                                  "**": np.power}[e.op](a, b))
            return None

        return value(expr)

    # -- variables -----------------------------------------------------------------------------
    def to_variables(self, el: _Element) -> list[Variable]:
        common = dict(units=el.units, doc=el.doc, dims=el.dims, source=el.source)
        if el.kind != "lookup" and self.holes(el):
            common["undefined"] = tuple(", ".join(h) for h in self.holes(el))
        if el.kind == "lookup":
            for _, ast in el.pieces:
                if type(ast).__name__ != "LookupsStructure" and not isinstance(ast, _ExternalTables):
                    raise UnsupportedError(f"Lookup `{el.name}` has a definition that is not a table of points.")
            if not el.dims:
                table = self.lookup_table(el.pieces[0][1], ())
                return [Variable(el.name, "lookup", lookup=table, **common)]  # type: ignore[arg-type]
            # A subscripted lookup: one table per element, each its own internal lookup.
            tables = []
            for subs, ast in el.pieces:
                for combo in itertools.product(*(self.expand(sub) for sub in subs)):
                    name = f"{el.name}[{', '.join(combo)}]"
                    tables.append(Variable(name, "lookup", lookup=self.lookup_table(ast, combo), units=el.units,
                                           doc=el.doc, internal=True, source=el.source))
            return tables
        asts = [a for _, a in el.pieces]
        integ = [type(a).__name__ == "IntegStructure" for a in asts]
        if any(integ):
            if not all(integ):
                raise UnsupportedError(
                    f"`{el.name}` is a stock for some subscripts and not for others; sdflow needs one kind."
                )
            if common.get("undefined"):
                # A NaN state would stop the integrator; a hole in a stock is refused by name.
                raise UnsupportedError(
                    f"Stock `{el.name}` is defined on some elements only ([{'], ['.join(common['undefined'])}] "
                    "have no equation); sdflow integrates whole arrays of stocks. Define those elements "
                    "(for example `INTEG(0, 0)`)."
                )
            return self.stock(el, common)
        if len(asts) == 1 and type(asts[0]).__name__ == "CallStructure" \
                and asts[0].function.reference == "active_initial":
            self.current = el.name
            args = asts[0].arguments
            equation = self.piecewise(el, [(el.pieces[0][0], self.expr(args[0]))])
            init = self.piecewise(el, [(el.pieces[0][0], self.expr(args[1]))])
            return [Variable(el.name, "aux", equation, init_equation=init, **common)]  # type: ignore[arg-type]
        # Constants: numbers and arrays of numbers for every block.
        values = self.constant_values(el)
        if values is not None:
            if not el.dims:
                return [Variable(el.name, "constant", Num(float(values)), **common)]  # type: ignore[arg-type]
            return [Variable(el.name, "constant", values=tuple(float(v) for v in values.ravel()),
                             **common)]  # type: ignore[arg-type]
        converted = []
        for subs, ast in self.split_arrays(el):
            self.block = subs  # what a subscripted lookup call inside is evaluated over
            converted.append((subs, self.expr(ast)))
        self.block = ()
        equation = self.piecewise(el, converted)
        kind = "aux"
        if isinstance(equation, Num):
            kind = "constant"
        return [Variable(el.name, kind, equation, **common)]  # type: ignore[arg-type]

    def constant_values(self, el: _Element) -> np.ndarray | None:
        """A full array of numbers when every block is a number or an array of numbers, else None."""
        asts = [a for _, a in el.pieces]
        if not all(isinstance(a, (int, float, np.ndarray)) and not isinstance(a, bool) for a in asts):
            return None
        if not el.dims:
            return np.asarray(float(asts[0]))
        shape = tuple(len(self.dim_elements[canonical(d)]) for d in el.dims)
        out = np.full(shape, np.nan)
        for subs, ast in el.pieces:
            index = self.block_index(el, subs)
            block_shape = tuple(len(i) for i in index)
            value = np.asarray(ast, dtype=float)
            squeezed = tuple(s for s, sub in zip(block_shape, subs) if canonical(sub) in self.dim_elements)
            try:
                value = np.broadcast_to(value.reshape(squeezed) if value.size == math.prod(squeezed) else value,
                                        squeezed).reshape(block_shape)
            except ValueError:
                raise SpecError(
                    f"`{el.name}`{list(subs)} has {value.size} values for {math.prod(block_shape)} elements."
                ) from None
            out[np.ix_(*index)] = value
        return out  # elements no block defines stay NaN (`holes`), as Vensim has no value for them

    def holes(self, el: _Element) -> list[tuple[str, ...]]:
        """The elements of `el`'s dimensions that no block defines, in order.

        Vensim lets a variable be defined on some elements only; the others do not exist (its
        output lists only the defined ones). A range of exactly the defined elements covers the
        case of one subscript (`element_dimensions`); what is left are holes in a product of
        ranges (``x[a1, b1]``, ``x[a2, b2]``), which sdflow holds as NaN and lists in the spec.
        """
        if not el.dims:
            return []
        defined = {tuple(canonical(e) for e in combo) for subs, _ in el.pieces
                   for combo in itertools.product(*(self.expand(s) for s in subs))}
        return [combo for combo in itertools.product(*(self.dim_elements[canonical(d)] for d in el.dims))
                if tuple(canonical(e) for e in combo) not in defined]

    def split_arrays(self, el: _Element) -> list[tuple[tuple[str, ...], Any]]:
        """Blocks given as arrays of numbers, split into one block per element, so they can sit
        beside blocks defined by equations."""
        out: list[tuple[tuple[str, ...], Any]] = []
        for subs, ast in el.pieces:
            if isinstance(ast, _ExternalTables) and len(ast.tables) > 1:
                # Series read from a file: one block per element, each reading its own table.
                out.extend((combo, _ExternalTables(((combo, table),), ast.mode, ast.source))
                           for combo, table in ast.tables)
                continue
            if not isinstance(ast, np.ndarray):
                out.append((subs, ast))
                continue
            ranges = [i for i, sub in enumerate(subs) if canonical(sub) in self.dim_elements]
            values = np.asarray(ast, dtype=float)
            sizes = [len(self.dim_elements[canonical(subs[i])]) for i in ranges]
            if values.size != math.prod(sizes):
                raise SpecError(f"`{el.name}`{list(subs)} has {values.size} values for {math.prod(sizes)} elements.")
            values = values.reshape(sizes)
            for combo in itertools.product(*(range(k) for k in sizes)):
                block = list(subs)
                for i, k in zip(ranges, combo):
                    block[i] = self.dim_elements[canonical(subs[i])][k]
                out.append((tuple(block), float(values[combo])))
        return out

    def block_index(self, el: _Element, subs: tuple[str, ...]) -> list[list[int]]:
        index = []
        for dim, sub in zip(el.dims, subs):
            names = [canonical(e) for e in self.dim_elements[canonical(dim)]]
            index.append([names.index(canonical(e)) for e in self.expand(sub)])
        return index

    def piecewise(self, el: _Element, pieces: list[tuple[tuple[str, ...], Expr]]) -> Expr:
        """One equation, or ``_pieces(_at(...), eq, ...)`` when blocks have their own equations."""
        if not el.dims:
            return pieces[0][1]
        if len(pieces) == 1 and [canonical(s) for s in pieces[0][0]] == [canonical(d) for d in el.dims]:
            return self.contextualize(pieces[0][1], pieces[0][0])
        args: list[Expr] = []
        for subs, expr in pieces:
            args += [Call("_at", tuple(Str(s) for s in subs)), self.contextualize(expr, subs)]
        for hole in self.holes(el):
            # No value in Vensim: NaN, so whatever reads it shows it (listed in `undefined`).
            args += [Call("_at", tuple(Str(s) for s in hole)), Num(math.nan)]
        return Call("_pieces", tuple(args))

    def contextualize(self, expr: Expr, labels: Sequence[str]) -> Expr:
        """Read each subscript of `expr` in the block `labels` (a dimension, subrange or element
        per position), as Vensim does: a range the block does not have stands for the block's
        subrange or element inside it, or for the range mapped onto it."""
        keys = [canonical(label) for label in labels]
        swap: dict[str, str] = {}
        for node in walk(expr):
            if not isinstance(node, Ref):
                continue
            for sub in node.subscripts:
                key = canonical(sub)
                if key in keys or key.endswith("!") or key not in self.dim_elements or key in swap:
                    continue
                members = {canonical(e) for e in self.dim_elements[key]}
                for label, lkey in zip(labels, keys):
                    if lkey in self.dim_elements:
                        fits = {canonical(e) for e in self.dim_elements[lkey]} <= members \
                            or lkey in self.mapped.get(key, ())
                    else:
                        fits = lkey in members
                    if fits:
                        swap[key] = label
                        break
        remapped = {k: v for k, v in swap.items() if canonical(v) in self.mapped.get(k, ())}
        if not remapped:
            return _substitute(expr, swap)
        return self.remap(expr, swap, remapped)

    def mapped_view(self, target: _Element, position: int, source: str, dest: str) -> str:
        """An internal auxiliary: `target` with the elements of subrange `source` at `position`
        laid out, one by one, along range `dest` (Vensim's ``source: ... -> dest``)."""
        name = f"_{target.name} from {source} as {dest}"
        key = canonical(name)
        if key not in self.views:
            sources = self.dim_elements[canonical(source)]
            dests = self.dim_elements[canonical(dest)]
            if len(sources) != len(dests):
                raise UnsupportedError(
                    f"`{self.current}` maps `{source}` onto `{dest}`, which have different numbers of elements."
                )
            dims = tuple(dest if k == position else d for k, d in enumerate(target.dims))
            args: list[Expr] = []
            for s_el, d_el in zip(sources, dests):
                args.append(Call("_at", tuple(Str(d_el if k == position else d) for k, d in enumerate(target.dims))))
                args.append(Ref(target.key, tuple(s_el if k == position else d for k, d in enumerate(target.dims))))
            self.views[key] = Variable(name, "aux", Call("_pieces", tuple(args)), dims=dims, internal=True,
                                       source=f"`{source}` read as `{dest}` in {self.path.name}", owner=source)
        return key

    def remap(self, expr: Expr, swap: dict[str, str], remapped: dict[str, str]) -> Expr:
        """Swap subscripts; where a mapped subrange reads a variable over its parent range, read
        through an auxiliary that lays those elements out along the mapped-to range."""
        if isinstance(expr, Ref):
            target = self.elements.get(expr.name)
            subs = tuple(swap.get(canonical(s), s) for s in expr.subscripts)
            if target is not None and len(target.dims) == len(expr.subscripts):
                for i, sub in enumerate(expr.subscripts):
                    key = canonical(sub)
                    if key in remapped and canonical(target.dims[i]) != key:
                        view = self.mapped_view(target, i, sub, remapped[key])
                        return Ref(view, subs)
            return Ref(expr.name, subs)
        if isinstance(expr, Unary):
            return Unary(expr.op, self.remap(expr.operand, swap, remapped))
        if isinstance(expr, Binary):
            return Binary(expr.op, self.remap(expr.left, swap, remapped), self.remap(expr.right, swap, remapped))
        if isinstance(expr, Call):
            return Call(expr.func, tuple(self.remap(a, swap, remapped) for a in expr.args))
        return expr

    def stock(self, el: _Element, common: dict[str, Any]) -> list[Variable]:
        flows = [(subs, self.expr(a.flow)) for subs, a in el.pieces]
        inits = [(subs, self.expr(a.initial)) for subs, a in el.pieces]
        non_negative = any(bool(getattr(a, "non_negative", False)) for _, a in el.pieces)
        init = self.piecewise(el, inits)
        flow = self.piecewise(el, flows)
        inflows: list[str] = []
        outflows: list[str] = []
        rest: list[tuple[str, Expr]] = []
        for sign, term in _terms(flow):
            if isinstance(term, Ref) and self.can_be_flow(term, el):
                (inflows if sign == "+" else outflows).append(term.name)
            else:
                rest.append((sign, term))
        if len(set(inflows + outflows)) != len(inflows + outflows):
            inflows, outflows, rest = [], [], [("+", flow)]
        extra: list[Variable] = []
        if rest:
            net: Expr | None = None
            for sign, term in rest:
                if net is None:
                    net = term if sign == "+" else Unary("-", term)
                else:
                    net = Binary(sign, net, term)
            assert net is not None
            name = f"{el.name} net flow"
            extra.append(Variable(name, "flow", net, dims=el.dims, units="", internal=True,
                                  source=f"the rate of stock `{el.name}` in {self.path.name}", owner=el.name))
            inflows.append(canonical(name))
        stock = Variable(el.name, "stock", init, inflows=tuple(inflows), outflows=tuple(outflows),
                         non_negative=non_negative, **common)
        return [stock, *extra]

    def can_be_flow(self, ref: Ref, stock: _Element) -> bool:
        target = self.elements.get(ref.name)
        if target is None or target.kind != "aux":
            return False
        asts = [a for _, a in target.pieces]
        if any(isinstance(a, (int, float, np.ndarray)) for a in asts):
            return False
        if len(asts) == 1 and type(asts[0]).__name__ == "GameStructure" \
                and isinstance(asts[0].expression, (int, float)):
            return False
        if any(type(a).__name__ == "IntegStructure" for a in asts):
            return False
        if len(asts) == 1 and type(asts[0]).__name__ == "CallStructure" \
                and asts[0].function.reference == "active_initial":
            return False
        if [canonical(d) for d in target.dims] != [canonical(d) for d in stock.dims]:
            return False
        return not ref.subscripts or [canonical(s) for s in ref.subscripts] == [canonical(d) for d in stock.dims]

    def mark_flows(self) -> None:
        """Variables listed as a stock's inflow or outflow become flows."""
        names = {f for v in self.variables if v.kind == "stock" for f in v.inflows + v.outflows}
        self.variables = [dataclasses.replace(v, kind="flow") if v.canonical in names and v.kind == "aux" else v
                          for v in self.variables]

    # -- external data ---------------------------------------------------------------------------
    def read_external(self, name: str, subs: tuple[str, ...], ast: Any, keyword: str | None) -> Any:
        """A GET XLS/DIRECT block or a data variable without equation, read from its file: an
        array of numbers (constants) or the table of each element (lookups, data)."""
        elements = [self.expand(sub) for sub in subs]
        shape = [len(e) for e in elements]
        combos = list(itertools.product(*elements))
        kind = type(ast).__name__
        if kind == "GetConstantsStructure":
            values = self.external.constants(name, str(ast.file), str(ast.tab), str(ast.cell), shape)
            return float(values.ravel()[0]) if values.size == 1 else values
        if kind == "DataStructure":
            series = self.external.data_file_series(name, combos)
        else:
            if sum(n > 1 for n in shape) > 1:
                raise UnsupportedError(
                    f"`{name}` reads {_describe(kind)} for a block over {sum(n > 1 for n in shape)} ranges; Vensim "
                    "reads one series per row (or column). Split the equation by one of its subscripts."
                )
            axis = ast.time_row_or_col if kind == "GetDataStructure" else ast.x_row_or_col
            series = self.external.series(name, str(ast.file), str(ast.tab), str(axis), str(ast.cell), len(combos))
        mode = "lookup" if kind == "GetLookupsStructure" else (keyword or "interpolate").replace(" ", "_")
        if mode not in ("lookup", "interpolate", "hold_backward", "look_forward", "raw"):
            raise UnsupportedError(f"Data variable `{name}` is read as `{mode}`, which sdflow does not support.")
        tables = tuple((tuple(combo), _points(name, combo, s)) for combo, s in zip(combos, series))
        return _ExternalTables(tables, mode, series[0].where if series else "")

    def ast_GetConstantsStructure(self, node: Any) -> Expr:
        raise UnsupportedError(
            f"`{self.current}` uses {_describe(type(node).__name__)} inside an expression; Vensim reads files only as "
            "a whole equation. Give the value its own variable."
        )

    ast_GetDataStructure = ast_GetLookupsStructure = ast_GetConstantsStructure

    def lookup_table(self, ast: Any, combo: Sequence[str]) -> LookupTable:
        """The table of one element of a lookup: its own points, or those read from a file."""
        if isinstance(ast, _ExternalTables):
            return ast.table(combo)
        return self.table(ast)

    def ast__ExternalTables(self, node: _ExternalTables) -> Expr:
        """A data variable's element: its series as an internal lookup of time. Outside the data
        it holds the end values, as Vensim does; `raw` data are :NA: (NaN) between data times."""
        [(combo, table)] = node.tables
        label = f"{self.current}[{', '.join(combo)}]" if combo else self.current
        source = f"data of `{label}` read from {node.source}"
        time = Ref("time")
        if node.mode != "raw":
            name = f"_data {label}"
            mode: Any = node.mode  # interpolate, hold_backward or look_forward: lookup modes of the same name
            self.views[canonical(name)] = Variable(name, "lookup", lookup=dataclasses.replace(table, mode=mode),
                                                   internal=True, source=source)
            return Call(canonical(name), (time,))
        # RAW: the value at the nearest data time when the step falls on it (to round-off), NaN
        # elsewhere; the nearest time holds from the midpoint to the previous data time.
        xs = table.xs
        starts = (xs[0],) + tuple((a + b) / 2 for a, b in zip(xs, xs[1:]))
        nearest, value = f"_data time {label}", f"_data {label}"
        self.views[canonical(nearest)] = Variable(nearest, "lookup", lookup=LookupTable(starts, xs, "hold_backward"),
                                                  internal=True, source=source)
        self.views[canonical(value)] = Variable(value, "lookup", lookup=LookupTable(starts, table.ys, "hold_backward"),
                                                internal=True, source=source)
        gap = Call("abs", (Binary("-", Call(canonical(nearest), (time,)), time),))
        tolerance = Binary("*", Num(1e-9), Binary("+", Num(1.0), Call("abs", (time,))))
        return Call("if_then_else", (Binary("<=", gap, tolerance), Call(canonical(value), (time,)), Num(math.nan)))

    def table(self, ast: Any) -> LookupTable:
        kind = getattr(ast, "type", "interpolate") or "interpolate"
        modes = {"interpolate": "interpolate", "extrapolate": "extrapolate", "hold_backward": "hold_backward",
                 "look_forward": "look_forward"}
        if kind not in modes:
            raise UnsupportedError(f"Lookup `{self.current}` reads its table as `{kind}`, which sdflow lacks.")
        xs = tuple(float(x) for x in ast.x)
        ys = tuple(float(y) for y in ast.y)
        order = np.argsort(xs, kind="stable")
        mode: Any = modes[kind]
        return LookupTable(tuple(xs[i] for i in order), tuple(ys[i] for i in order), mode)

    # -- expressions ---------------------------------------------------------------------------
    def expr(self, node: Any) -> Expr:
        kind = type(node).__name__
        if isinstance(node, bool):
            return Num(float(node))
        if isinstance(node, (int, float, np.integer, np.floating)):
            return Num(float(node))
        if isinstance(node, np.ndarray):
            raise UnsupportedError(f"`{self.current}` uses an array of numbers inside an equation.")
        if isinstance(node, str):
            return self.string(node)
        method = getattr(self, "ast_" + kind, None)
        if method is None:
            raise UnsupportedError(f"`{self.current}` uses {_describe(kind)}, which sdflow does not support.")
        result: Expr = method(node)
        return result

    def string(self, text: str) -> Expr:
        low = text.strip().lower()
        if low in ("inf", "+inf", "np.inf"):
            return Num(math.inf)
        if low in ("-inf", "-np.inf"):
            return Num(-math.inf)
        if low in ("nan", "np.nan", ":na:", "na"):
            return Num(-1e38)  # Vensim's :NA: is the number -1e38
        try:
            return Num(float(text))
        except ValueError:
            raise UnsupportedError(f"`{self.current}` has a text value `{text}` where a number is expected.") \
                from None

    def ast_ArithmeticStructure(self, node: Any) -> Expr:
        args = [self.expr(a) for a in node.arguments]
        ops = list(node.operators)
        if ops == ["negative"]:
            return _negate(args[0])
        if ops and all(op == "^" for op in ops):
            # A chain of powers as PySD's own code generator reads it (Python's right-to-left **).
            # PySD folds the minus of `-2^2` into the number, so a negative number as a base is
            # either written `(-2)^2` or a minus over the power, `-(2^2)`, which Vensim and Stella
            # both give (-4; SDXorg test-models `tests/exponentiation`): the file's text tells.
            negated = [isinstance(a, Num) and a.value < 0 and isinstance(raw, (int, float))
                       and not self.odd_power(args[i:], ops[i:]) and self.minus_over_power(a.value)
                       for i, (a, raw) in enumerate(zip(args[:-1], node.arguments[:-1]))]
            result = args[-1]
            for arg, minus in zip(reversed(args[:-1]), reversed(negated)):
                if minus:
                    assert isinstance(arg, Num)
                    result = Unary("-", Binary("**", Num(-arg.value), result))
                else:
                    result = Binary("**", arg, result)
            return result
        for base in (args[i] for i, op in enumerate(ops) if op == "^"):
            if isinstance(base, Num) and base.value < 0:
                raise UnsupportedError(
                    f"`{self.current}` raises the negative number {base.value:g} to a power; PySD's parser "
                    f"cannot tell `-{-base.value:g}^x` from `(-{-base.value:g})^x`. Write `-({-base.value:g}^x)` "
                    "or `(0 - " f"{-base.value:g})^x`."
                )
        # Left to right as written; a long sum is grouped so that its tree stays shallow.
        return chain(args[0], [({"^": "**"}.get(op, op), arg) for op, arg in zip(ops, args[1:])])

    def minus_over_power(self, value: float) -> bool:
        """Whether the negative base `value` in the current equation is written `-n^x` (a minus
        over the power) rather than `(-n)^x`, from the equation's text in the model file."""
        text = self.equation_texts.get(canonical(self.current), "")
        forms = set()
        for found in _NEGATIVE_BASE.finditer(text):
            try:
                number = float(found.group(2))
            except ValueError:
                continue
            if number == -value:
                forms.add("literal" if found.group(1) and found.group(3) else "minus")
        if len(forms) != 1:
            raise UnsupportedError(
                f"`{self.current}` raises the negative number {value:g} to a power and sdflow cannot find in "
                f"the file whether it is written `-{-value:g}^x` or `(-{-value:g})^x`. Write `-({-value:g}^x)` "
                f"or `(0 - {-value:g})^x`."
            )
        return forms == {"minus"}

    @functools.cached_property
    def file_text(self) -> str:
        """The model file as written: the checked text read by `read_model`, or read once when
        first needed (a converter built without it)."""
        if self.text is not None:
            return self.text
        return read_model_bytes(self.path).decode("utf-8", errors="replace")

    @functools.cached_property
    def equation_texts(self) -> dict[str, str]:
        """The equations of the model file as written, by canonical variable name (all the
        blocks of a subscripted variable joined)."""
        return _read_equation_texts(self.file_text, vensim=self.path.suffix.lower() in VENSIM_SUFFIXES)

    @staticmethod
    def odd_power(args: list[Expr], ops: list[str]) -> bool:
        """Whether a one-power chain has an odd whole exponent, where -(a^n) == (-a)^n."""
        if len(ops) != 1 or not isinstance(args[1], Num):
            return False
        n = args[1].value
        return n == int(n) and int(n) % 2 == 1

    def ast_LogicStructure(self, node: Any) -> Expr:
        args = [self.expr(a) for a in node.arguments]
        ops = [o.lower().strip(":") for o in node.operators]
        if ops == ["not"]:
            return Unary("not", args[0])
        result = args[0]
        names = {"=": "==", "<>": "!=", "and": "and", "or": "or"}
        for op, arg in zip(ops, args[1:]):
            result = Binary(names.get(op, op), result, arg)
        return result

    def ast_ReferenceStructure(self, node: Any) -> Expr:
        name = canonical(node.reference)
        subs = tuple(node.subscripts.subscripts) if node.subscripts is not None else ()
        main_model = name.endswith("$") and len(name) > 1
        if main_model:
            # Inside a Vensim macro, `name$` is the main model's variable (`TIME STEP$`).
            name = name[:-1].rstrip("_")
        if name in self.scope and not main_model:
            # Inside a macro: a parameter is the caller's argument, a macro variable its copy.
            bound = self.scope[name]
            if subs:
                if not isinstance(bound, Ref) or bound.subscripts:
                    raise UnsupportedError(
                        f"Macro variable `{node.reference}` is subscripted inside the macro called by "
                        f"`{self.current}`; sdflow expands macros without subscripts only."
                    )
                return Ref(bound.name, subs)
            return bound
        if name in ("time", "time_step") and not subs:
            return Ref("dt" if name == "time_step" else "time")
        if name == "pi" and not subs and name not in self.elements:  # XMILE PI, written without ()
            return Num(math.pi)
        if name == "self" and not subs and name not in self.elements:
            # XMILE SELF: the variable whose equation this is (as in PREVIOUS(SELF, 0)).
            return Ref(canonical(self.current))
        if not subs and name not in self.elements and name in self.dim_elements:
            # A dimension read as a number is the position of the element, from 1 (Vensim).
            position = self.positions.setdefault(name, f"_position in {name}")
            return Ref(canonical(position), (name,))
        if not subs and name not in self.elements:
            # A subscript element read as a number (`IF THEN ELSE(region = south, ...)`) is its
            # position, from 1, in the widest range holding it, as a range read as a number is.
            holders = [d for d in self.dimensions if name in {canonical(e) for e in d.elements}]
            if holders:
                family = max(holders, key=lambda d: len(d.elements))
                return Num(float([canonical(e) for e in family.elements].index(name) + 1))
        target = self.elements.get(name)
        if not subs and target is not None and target.dims and self.context:
            # An arrayed variable read without subscripts follows the equation's dimensions,
            # through a mapping where it is over another range.
            dims = [canonical(d) for d in target.dims]
            if any(d not in self.context for d in dims):
                filled = []
                for d in dims:
                    if d in self.context:
                        filled.append(d)
                        continue
                    mapped = [c for c in self.context if c in self.mapped.get(d, ()) and c not in dims]
                    filled.append(mapped[0] if mapped else d)
                return Ref(name, tuple(filled))
        return Ref(name, subs)

    def ast_CallStructure(self, node: Any) -> Expr:
        func = node.function.reference if hasattr(node.function, "reference") else str(node.function)
        key = canonical(func)
        raw = list(node.arguments)
        if key in self.elements and self.elements[key].kind == "lookup" and self.elements[key].dims:
            subs = tuple(node.function.subscripts.subscripts) if node.function.subscripts is not None else ()
            if len(raw) != 1:
                raise SpecError(f"Lookup `{self.elements[key].name}` takes one input, in `{self.current}`.")
            return self.arrayed_lookup_call(key, subs, self.expr(raw[0]))
        if key in self.elements and self.elements[key].kind == "lookup":
            if len(raw) != 1:
                raise SpecError(f"Lookup `{self.elements[key].name}` is called with {len(raw)} inputs in "
                                f"`{self.current}`; a lookup takes one.")
            return Call(key, (self.expr(raw[0]),))
        if key in self.graphicals and key in self.elements and len(raw) == 1:
            # XMILE `tables[a](x)` of a graphical function per array element; without subscripts,
            # each element of the equation reads the table of the same element.
            subs = tuple(node.function.subscripts.subscripts) if node.function.subscripts is not None \
                else self.elements[key].dims
            return self.arrayed_lookup_call(key, subs, self.expr(raw[0]))
        graphical = self.elements.get(key)
        if graphical is not None and graphical.kind != "lookup" and len(raw) == 1 and graphical.pieces \
                and all(type(a).__name__ == "InlineLookupsStructure" and a.lookups == graphical.pieces[0][1].lookups
                        for _, a in graphical.pieces):
            # XMILE: a graphical function called by name, `gf(x)`, reads its own table at x.
            return self.ast_InlineLookupsStructure(
                dataclasses.replace(graphical.pieces[0][1], argument=raw[0]))
        if key in self.macros:
            return self.expand_macro(key, [self.expr(a) for a in raw])
        if key == "elmcount":
            dim = canonical(raw[0].reference) if raw and hasattr(raw[0], "reference") else ""
            if dim not in self.dim_elements:
                raise SpecError(f"ELMCOUNT in `{self.current}` needs a subscript range, as in `ELMCOUNT(region)`.")
            return Num(float(len(self.dim_elements[dim])))
        if key == "vector_select":
            args = [self.expr(a) for a in raw]
            if len(args) != 5:
                raise SpecError(f"VECTOR SELECT in `{self.current}` takes five arguments (selection, expression, "
                                f"missing value, action, error action), not {len(args)}.")
            over = _bang_dims(args[0]) + [d for d in _bang_dims(args[1]) if d not in _bang_dims(args[0])]
            if not over:
                raise SpecError(f"VECTOR SELECT in `{self.current}` needs the dimension to select over marked with "
                                "`!`, as in `VECTOR SELECT(sel[dim!], x[dim!], 0, 0, 0)`.")
            return Call("vector_select", tuple(args) + tuple(Str(d) for d in over))
        if key in _VECTOR:
            args = [self.expr(a) for a in raw]
            if len(args) != 2:
                raise SpecError(f"{key.replace('_', ' ').upper()} in `{self.current}` takes two arguments.")
            return Call(key, tuple(args))
        if key == "get_time_value":
            return self.get_time_value([self.expr(a) for a in raw])
        if key in _REFUSED:
            raise UnsupportedError(f"`{self.current}` uses {_REFUSED[key]}, which sdflow does not support yet.")
        if key in ("active_initial",):
            raise UnsupportedError(
                f"ACTIVE INITIAL in `{self.current}` must be the whole equation; sdflow does not support it "
                "inside a larger expression."
            )
        args = [self.expr(a) for a in raw]
        if key in _SAME:
            if key == "pulse" and len(args) == 2:
                return Call("pulse", tuple(args))
            return Call(key, tuple(args))
        if key == "power":
            return Binary("**", args[0], args[1])
        if key in ("lookup_forward", "lookup_backward", "lookup_extrapolate") and len(args) == 2:
            # Vensim LOOKUP FORWARD/BACKWARD/EXTRAPOLATE(table, x): the table by name, read in that mode.
            return Call(key, tuple(args))
        if key == "previous":  # XMILE PREVIOUS(x[, init]): a discrete state (sd_engine.lower)
            return Call("previous", tuple(args))
        if key == "npv":  # stateful: lowered to its two stocks (sd_engine.lower)
            return Call("npv", tuple(args))
        if key == "pi":
            return Num(math.pi)
        if key == "pulse_train":  # PySD passes (start, interval, width, end)
            start, interval, width, end = args
            return Call("pulse_train", (start, width, interval, end))
        if key == "xramp":  # XMILE RAMP(slope, start): no end
            return Call("ramp", (args[0], args[1], Num(math.inf)))
        if key == "xpulse":  # XMILE PULSE(magnitude, first): magnitude / DT for one step
            start, magnitude = args
            return Binary("*", Binary("/", magnitude, Ref("dt")),
                          Call("pulse", (start, Num(0.0))))
        if key == "xpulse_train":  # XMILE PULSE(magnitude, first, interval)
            start, interval, magnitude = args
            return Binary("*", Binary("/", magnitude, Ref("dt")),
                          Call("_xmile_pulse_train", (start, interval)))
        if key in _REDUCERS or key in ("vmax_xmile", "vmin_xmile"):
            return self.reduction({"vmax_xmile": "vmax", "vmin_xmile": "vmin"}.get(key, key), args)
        raise UnsupportedError(f"`{self.current}` calls `{func}`, which sdflow does not support.")

    def get_time_value(self, args: list[Expr]) -> Expr:
        """Vensim GET TIME VALUE(relativeto, offset, measure) for the simulation's own time.

        With relativeto 0 and measure 0 it is Time + offset (Vensim's documentation). The
        calendar measures (1-10) depend on the date settings of Vensim's Model>Settings, which
        the .mdl file does not carry, and relativeto 2 reads the computer's clock: refused.
        """
        if len(args) != 3:
            raise SpecError(f"GET TIME VALUE in `{self.current}` takes three arguments (relativeto, offset, "
                            f"measure), not {len(args)}.")
        relativeto, offset, measure = args
        if not (isinstance(relativeto, Num) and relativeto.value == 0):
            raise UnsupportedError(
                f"GET TIME VALUE in `{self.current}` is relative to the initial time or the computer clock; sdflow "
                "supports relativeto 0 (the current simulation time) only. Use `Time` or `INITIAL TIME` instead."
            )
        if not (isinstance(measure, Num) and measure.value == 0):
            raise UnsupportedError(
                f"GET TIME VALUE in `{self.current}` asks for a calendar measure (years, months, days...), which "
                "needs Vensim's date settings; sdflow supports measure 0 (model time units) only."
            )
        return Binary("+", Ref("time"), offset)

    def arrayed_lookup_call(self, key: str, subs: tuple[str, ...], arg: Expr) -> Expr:
        """``table[dims](x)`` for a subscripted lookup: an internal auxiliary over the equation's
        block, each element reading its own table at its own input."""
        lookup = self.elements[key]
        if len(subs) != len(lookup.dims):
            raise SpecError(
                f"Lookup `{lookup.name}` has {len(lookup.dims)} subscript(s) but `{self.current}` calls it with "
                f"{len(subs)}."
            )
        labels = self.block
        ranges = [label for label in labels if canonical(label) in self.dim_elements]
        args: list[Expr] = []
        for combo in itertools.product(*(self.expand(label) for label in labels)):
            swap = {canonical(label): element for label, element in zip(labels, combo)}
            for label, element in zip(labels, combo):
                # A range of the call named through a range the block is over.
                for sub in subs:
                    key_sub = canonical(sub)
                    if key_sub in self.dim_elements and key_sub not in swap \
                            and canonical(element) in {canonical(e) for e in self.dim_elements[key_sub]}:
                        swap[key_sub] = element
            chosen = tuple(canonical(swap.get(canonical(sub), sub)) for sub in subs)
            table = self.element_tables.get((key, chosen))
            if table is None:
                raise UnsupportedError(
                    f"`{self.current}` reads lookup `{lookup.name}` at [{', '.join(chosen)}], which has no table."
                )
            block = tuple(element for label, element in zip(labels, combo) if label in ranges)
            args += [Call("_at", tuple(Str(e) for e in block)), Call(table, (_substitute(arg, swap),))]
        if not ranges:
            assert isinstance(args[1], Expr)
            return args[1]
        self.lookup_calls += 1
        name = f"_{lookup.name} read in {self.current} {self.lookup_calls}"
        self.views[canonical(name)] = Variable(name, "aux", Call("_pieces", tuple(args)), dims=tuple(ranges),
                                               internal=True, source=f"lookup `{lookup.name}` in {self.path.name}",
                                               owner=lookup.name)
        return Ref(canonical(name), tuple(ranges))

    def expand_macro(self, key: str, args: list[Expr]) -> Expr:
        """Copy a Vensim macro's variables for one call; the call becomes its output variable."""
        macro = self.macros[key]
        if macro.returns:
            raise UnsupportedError(
                f"`{self.current}` calls macro `{macro.name}`, which has extra outputs "
                f"({', '.join(macro.returns)}); sdflow expands macros with one output only."
            )
        if len(args) != len(macro.params):
            raise SpecError(
                f"`{self.current}` calls macro `{macro.name}` with {len(args)} argument(s); it takes "
                f"{len(macro.params)} ({', '.join(macro.params)})."
            )
        if key in self.expanding:
            raise UnsupportedError(f"Macro `{macro.name}` calls itself; sdflow cannot expand recursive macros.")
        count = self.macro_calls[key] = self.macro_calls.get(key, 0) + 1
        caller = self.current
        # An apply-to-all call (`out[r] = MACRO(inp[r], k)`) makes one macro instance per element:
        # the macro's variables take the dimensions its arguments vary over.
        display = {d.canonical: d.name for d in self.dimensions}
        over: list[str] = []
        for arg in args:
            for node in walk(arg):
                if isinstance(node, Ref):
                    over += [canonical(s) for s in node.subscripts
                             if canonical(s) in display and canonical(s) not in over]
        prefix = f"_{macro.name} {count} in {caller}"
        scope = {canonical(p): a for p, a in zip(macro.params, args)}
        names = {canonical(e.name): f"{prefix}: {e.name}" for e in macro.elements}
        scope.update({k: Ref(canonical(v)) for k, v in names.items()})
        outer, outer_context = self.scope, self.context
        self.scope, self.context = scope, ()
        self.expanding.append(key)
        try:
            for element in macro.elements:
                el = self.read_element(element)
                el.name = names[canonical(element.name)]
                el.source = f"{self.path.name}: macro `{macro.name}` called by `{caller}`"
                el.dims = ()
                if any(subs for subs, _ in el.pieces):
                    raise UnsupportedError(f"Macro `{macro.name}` has subscripted variables; sdflow expands "
                                           "macros without subscripts only.")
                if over:
                    el.dims = tuple(display[d] for d in over)
                    el.pieces = [(el.dims, ast) for _, ast in el.pieces]
                self.current = el.name
                for var in self.to_variables(el):
                    self.variables.append(dataclasses.replace(var, internal=True, owner=macro.name))
        finally:
            self.expanding.pop()
            self.scope, self.context, self.current = outer, outer_context, caller
        if key not in names:
            raise SpecError(f"Macro `{macro.name}` has no variable named after it to give its output.")
        return Ref(canonical(names[key]))

    def reduction(self, func: str, args: list[Expr]) -> Expr:
        if len(args) != 1:
            if func in ("vmax", "vmin") and len(args) > 1:
                return Call({"vmax": "max", "vmin": "min"}[func], tuple(args))
            raise SpecError(f"`{func}` in `{self.current}` takes one argument.")
        arg = args[0]
        bang = []
        for node in walk(arg):
            if isinstance(node, Ref):
                for s in node.subscripts:
                    if s.endswith("!") and canonical(s) not in bang:
                        bang.append(canonical(s))
        if not bang:
            # XMILE MAX(array) and Vensim SUM over a whole array: reduce over everything.
            return Call(func, (arg,))
        result = arg
        for dim in bang:
            result = Call(func, (result, Str(dim)))
        return result

    def ast_AllocateAvailableStructure(self, node: Any) -> Expr:
        """ALLOCATE AVAILABLE(request, pp[..., ptype], avail): the priority profiles are read
        along the dimension of their last subscript, starting at that element."""
        request, supply = self.expr(node.request), self.expr(node.avail)
        pp = self.expr(node.pp)
        if not (isinstance(pp, Ref) and pp.subscripts):
            raise UnsupportedError(f"ALLOCATE AVAILABLE in `{self.current}` needs its priority profiles as a "
                                   "subscripted variable, as in `pp[branch, ptype]`.")
        first = canonical(pp.subscripts[-1])
        profile = next((d for d, elements in self.dim_elements.items()
                        if elements and canonical(elements[0]) == first and len(elements) >= 3), None)
        if profile is None:
            raise UnsupportedError(
                f"ALLOCATE AVAILABLE in `{self.current}` reads priority profiles from `{pp.subscripts[-1]}`; sdflow "
                "needs the first element of a range of at least three (ptype, ppriority, pwidth, ...)."
            )
        target = self.elements.get(pp.name)
        if target is not None:
            self.check_profile_types(target, profile)
        return Call("allocate_available", (request, Ref(pp.name, pp.subscripts[:-1] + (profile,)), supply,
                                           Str(profile)))

    def check_profile_types(self, target: _Element, profile: str) -> None:
        """Refuse the priority profiles sdflow lacks (0 fixed quantity, 5 constant elasticity)
        where the profile type is given as a number."""
        position = [canonical(d) for d in target.dims].index(profile) if profile in \
            [canonical(d) for d in target.dims] else None
        if position is None:
            return
        types: set[float] = set()
        values = self.constant_values(target) if all(
            isinstance(a, (int, float, np.ndarray)) for _, a in target.pieces) else None
        if values is not None:
            types = set(np.take(values, 0, axis=position).ravel().tolist())
        else:
            first = canonical(self.dim_elements[profile][0])
            for subs, ast in target.pieces:
                if canonical(subs[position]) in (first, profile) and isinstance(ast, (int, float)):
                    types.add(float(ast))
        unknown = sorted(t for t in types if t not in (1.0, 2.0, 3.0, 4.0))
        if unknown:
            raise UnsupportedError(
                f"ALLOCATE AVAILABLE in `{self.current}` uses priority profile type {unknown[0]:g} in "
                f"`{target.name}`; sdflow supports 1 (rectangular), 2 (triangular), 3 (normal) and 4 "
                "(exponential)."
            )

    def ast_AllocateByPriorityStructure(self, node: Any) -> Expr:
        args = tuple(self.expr(a) for a in (node.request, node.priority, node.size, node.width, node.supply))
        return Call("allocate_by_priority", args)

    def ast_InlineLookupsStructure(self, node: Any) -> Expr:
        table = self.table(node.lookups)
        if table.mode != "interpolate":
            # A literal table only interpolates: an XMILE extrapolate or discrete graphical
            # function is read through an internal lookup of that mode.
            self.lookup_calls += 1
            name = f"_{self.current} graphical function {self.lookup_calls}"
            self.views[canonical(name)] = Variable(name, "lookup", lookup=table, internal=True,
                                                   source=f"graphical function of `{self.current}` in {self.path.name}",
                                                   owner=self.current)
            return Call(canonical(name), (self.expr(node.argument),))
        return Call("with_lookup", (self.expr(node.argument), Table(table.xs, table.ys)))

    def ast__GraphicalElement(self, node: _GraphicalElement) -> Expr:
        return Call(node.table, (self.expr(node.argument),))

    def ast_LookupsStructure(self, node: Any) -> Expr:
        raise UnsupportedError(f"`{self.current}` uses a table of points where a number is expected.")

    def ast_GameStructure(self, node: Any) -> Expr:
        return self.expr(node.expression)

    def ast_InitialStructure(self, node: Any) -> Expr:
        return Call("initial", (self.expr(node.initial),))

    def ast_IntegStructure(self, node: Any) -> Expr:
        raise UnsupportedError(f"INTEG in `{self.current}` must be the whole equation of a stock.")

    def ast_DelayStructure(self, node: Any) -> Expr:
        order = int(node.order)
        func = {1: "delay1i", 3: "delay3i"}.get(order)
        if func is None:
            return Call("delay_n", tuple(self.expr(a) for a in (node.input, node.delay_time, node.initial))
                        + (Num(order),))
        return Call(func, tuple(self.expr(a) for a in (node.input, node.delay_time, node.initial)))

    def ast_DelayNStructure(self, node: Any) -> Expr:
        args = tuple(self.expr(a) for a in (node.input, node.delay_time, node.initial))
        return Call("delay_n", args + (self.order(node.order),))

    def order(self, node: Any) -> Expr:
        """The order of DELAY N / SMOOTH N: Vensim reads it once, at the initial time."""
        expr = self.expr(node)
        value = self.initial_value(expr, set())
        return expr if value is None else Num(value)

    def initial_value(self, expr: Expr, seen: set[str]) -> float | None:
        """The value of `expr` at the initial time, from numbers, scalar variables and STEP."""
        if isinstance(expr, Num):
            return expr.value
        if isinstance(expr, Ref) and not expr.subscripts:
            if expr.name == "time":
                return self.time.initial_time
            target = self.elements.get(expr.name)
            if target is None or target.dims or len(target.pieces) != 1 or expr.name in seen:
                return None
            ast = target.pieces[0][1]
            if type(ast).__name__ in ("IntegStructure", "LookupsStructure"):
                return None
            return self.initial_value(self.expr(ast), seen | {expr.name})
        if isinstance(expr, Unary) and expr.op == "-":
            v = self.initial_value(expr.operand, seen)
            return None if v is None else -v
        if isinstance(expr, Binary) and expr.op in ("+", "-", "*", "/"):
            a, b = self.initial_value(expr.left, seen), self.initial_value(expr.right, seen)
            if a is None or b is None or (expr.op == "/" and b == 0):
                return None
            return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0}[expr.op]
        if isinstance(expr, Call) and expr.func == "step" and len(expr.args) == 2:
            height, start = (self.initial_value(a, seen) for a in expr.args)
            if height is None or start is None:
                return None
            return height if self.time.initial_time + self.time.dt / 2 > start else 0.0
        return None

    def ast_DelayFixedStructure(self, node: Any) -> Expr:
        return Call("delay_fixed", tuple(self.expr(a) for a in (node.input, node.delay_time, node.initial)))

    def ast_SmoothStructure(self, node: Any) -> Expr:
        order = int(node.order)
        func = {1: "smoothi", 3: "smooth3i"}.get(order)
        args = tuple(self.expr(a) for a in (node.input, node.smooth_time, node.initial))
        if func is None:
            return Call("smooth_n", args + (Num(order),))
        return Call(func, args)

    def ast_SmoothNStructure(self, node: Any) -> Expr:
        args = tuple(self.expr(a) for a in (node.input, node.smooth_time, node.initial))
        return Call("smooth_n", args + (self.order(node.order),))

    def ast_TrendStructure(self, node: Any) -> Expr:
        return Call("trend", tuple(self.expr(a) for a in (node.input, node.average_time, node.initial_trend)))

    def ast_ForecastStructure(self, node: Any) -> Expr:
        initial_trend = self.expr(node.initial_trend)
        if not (isinstance(initial_trend, Num) and initial_trend.value == 0):
            raise UnsupportedError(f"FORECAST in `{self.current}` has an initial trend; sdflow supports 0 only.")
        return Call("forecast", tuple(self.expr(a) for a in (node.input, node.average_time, node.horizon)))

    def ast_SampleIfTrueStructure(self, node: Any) -> Expr:
        return Call("sample_if_true", tuple(self.expr(a) for a in (node.condition, node.input, node.initial)))


#: Abstract structures whose values are read from files when the model is loaded.
_EXTERNAL = {"GetConstantsStructure", "GetDataStructure", "GetLookupsStructure", "DataStructure"}


@dataclass(frozen=True)
class _ExternalTables:
    """The tables of a block read from a file: per element (a tuple of element names), its
    points; ``mode`` is ``lookup`` for GET LOOKUPS, else the data variable's reading."""

    tables: tuple[tuple[tuple[str, ...], LookupTable], ...]
    mode: str
    source: str

    def table(self, combo: Sequence[str]) -> LookupTable:
        key = tuple(canonical(c) for c in combo)
        for elements, table in self.tables:
            if tuple(canonical(e) for e in elements) == key:
                return table
        raise SpecError(f"No table was read for element [{', '.join(combo)}].")


def _points(name: str, combo: Sequence[str], series: Series) -> LookupTable:
    """One element's points, leaving out empty cells: a data variable interpolates (or holds)
    over a missing value as Vensim does, and a lookup reads between its other points."""
    xs = np.asarray(series.xs, dtype=float)
    ys = np.asarray(series.ys, dtype=float)
    keep = np.isfinite(ys)
    if not keep.any():
        label = f"{name}[{', '.join(combo)}]" if combo else name
        raise ExternalDataError(f"`{label}` has no numbers in {series.where}; fill its cells or correct the reference.")
    return LookupTable(tuple(xs[keep].tolist()), tuple(ys[keep].tolist()))


#: A negative number followed by `^`, possibly in brackets: `-2^x` or `(-2)^x`.
_NEGATIVE_BASE = re.compile(r"(\(\s*)?-\s*(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)\s*(\))?\s*\^")


def _read_equation_texts(raw: str, *, vensim: bool) -> dict[str, str]:
    """Each variable's equation text as written in a Vensim or XMILE file's text `raw`."""
    texts: dict[str, str] = {}
    if vensim:
        body = raw.split("\\\\\\---///", 1)[0].replace("\\\n", "")
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
    named = list(re.finditer(r"<(?:\w+:)?(?:aux|flow|stock)\b[^>]*?\sname=\"([^\"]+)\"", raw))
    for found, after in zip(named, named[1:] + [None]):
        segment = raw[found.end():after.start() if after is not None else len(raw)]
        eqns = re.findall(r"<eqn>(.*?)</eqn>", segment, flags=re.DOTALL)
        if eqns:
            key = canonical(html.unescape(found.group(1)))
            texts[key] = texts.get(key, "") + "\n" + html.unescape("\n".join(eqns))
    return texts


def _substitute(expr: Expr, swap: dict[str, str]) -> Expr:
    """`expr` with subscripts naming a key of `swap` replaced by its value."""
    if not swap:
        return expr
    if isinstance(expr, Ref):
        return Ref(expr.name, tuple(swap.get(canonical(s), s) for s in expr.subscripts))
    if isinstance(expr, Unary):
        return Unary(expr.op, _substitute(expr.operand, swap))
    if isinstance(expr, Binary):
        return Binary(expr.op, _substitute(expr.left, swap), _substitute(expr.right, swap))
    if isinstance(expr, Call):
        return Call(expr.func, tuple(_substitute(a, swap) for a in expr.args))
    return expr


def _bang_dims(expr: Expr) -> list[str]:
    """The ``dim!`` subscripts of `expr`, in order: the dimensions a vector function runs over."""
    out: list[str] = []
    for node in walk(expr):
        if isinstance(node, Ref):
            out += [canonical(s) for s in node.subscripts if s.endswith("!") and canonical(s) not in out]
    return out


def _negate(e: Expr) -> Expr:
    return Num(-e.value) if isinstance(e, Num) else Unary("-", e)


def _terms(expr: Expr, sign: str = "+") -> Iterable[tuple[str, Expr]]:
    """The top-level terms of a sum, with their signs."""
    flip = {"+": "-", "-": "+"}
    if isinstance(expr, Binary) and expr.op in ("+", "-"):
        yield from _terms(expr.left, sign)
        yield from _terms(expr.right, sign if expr.op == "+" else flip[sign])
    elif isinstance(expr, Unary) and expr.op == "-":
        yield from _terms(expr.operand, flip[sign])
    else:
        yield sign, expr


def _describe(kind: str) -> str:
    names = {
        "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
        "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
        "DataStructure": "a data variable",
        "GetDataStructure": "GET XLS/DIRECT DATA",
        "GetConstantsStructure": "GET XLS/DIRECT CONSTANTS",
        "GetLookupsStructure": "GET XLS/DIRECT LOOKUPS",
    }
    return names.get(kind, kind.replace("Structure", "").upper())


