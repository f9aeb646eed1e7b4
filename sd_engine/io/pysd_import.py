"""Vensim and XMILE models into a :class:`~sd_engine.spec.ModelSpec`, through PySD's parsers.

PySD's translators turn a ``.mdl`` or XMILE file into an *abstract model*: sections of
elements, each element a list of components (one per subscript block) whose ``ast`` is
a tree of ``pysd.translators.structures.abstract_expressions`` nodes. This module reads
and checks the file and has PySD parse it (:func:`read_vensim`, :func:`read_xmile`); the
package :mod:`sd_engine.io.convert` walks the abstract model and builds sdflow's own
expression tree and spec. PySD's code generator and runtime are never used here.

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
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parsimonious.exceptions import ParsimoniousError

from ..errors import SDError, UnsupportedError
from ..expr import Num, canonical
from ..spec import LookupTable, ModelSpec
from .convert.converter import convert
from .convert.elements import TIME_STEP_SERIES, VENSIM_SUFFIXES, XMILE_SUFFIXES
from .external import ExternalReader
from .model_file import name_file, read_model_bytes, vensim_file, vensim_text
from .vensim_normalise import normalise, sections_grammar
from .xml_safety import MissingModelFileError, ModelFileError, check_xmile
from .xmile_graphicals import element_graphicals, with_element_equations
from .xmile_modules import prepare_xmile, xmile_file
from .xmile_vensim_calls import (data_placeholders, put_vensim_calls, read_as_data, take_vensim_calls,
                                 vensim_expression_calls)

__all__ = ["read_model", "read_vensim", "read_xmile", "VENSIM_SUFFIXES", "XMILE_SUFFIXES", "TIME_STEP_SERIES"]

#: What PySD's parsers raise on a file they cannot read (RecursionError: nesting too deep).
_PARSE_ERRORS = (ValueError, KeyError, IndexError, AttributeError, TypeError, ParsimoniousError, RecursionError)
#: Per XMILE variable, the graphical function of each array element (PySD's parser drops them).
Graphicals = dict[str, dict[tuple[str, ...], LookupTable]]


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
    graphicals: Graphicals = {}
    save_interval: float | None = None
    if suffix in VENSIM_SUFFIXES:
        abstract, file_text = read_vensim(path, raw)
        method = "euler"
    else:
        abstract, file_text, method, graphicals, save_interval = read_xmile(path, raw, data_files=bool(data_files))
    external = ExternalReader(path.parent, files, data_files, data_root=data_root, model=path.name)
    try:
        spec = convert(path, abstract, method, external, graphicals, file_text)
        spec = _with_save_interval(spec, save_interval)
    except SDError as exc:
        name_file(exc, str(path))
        raise
    read = tuple((f.path, f.size, f.sha256) for f in external.read)
    return dataclasses.replace(spec, data_files=read) if read else spec


def _with_save_interval(spec: ModelSpec, interval: float | None) -> ModelSpec:
    """`spec` saving every `interval` (Stella's ``isee:save_interval``, which PySD's parser
    drops: SDEverywhere's sir.xmile saves every 2 days with dt 1/16), its SAVEPER constant too."""
    if interval is None or spec.time.controls:
        return spec
    saveper = None if math.isclose(interval, spec.time.dt) else interval
    variables = tuple(
        dataclasses.replace(v, equation=Num(interval))
        if v.canonical == "saveper" and v.kind == "constant" and not v.internal else v
        for v in spec.variables)
    return dataclasses.replace(spec, time=dataclasses.replace(spec.time, saveper=saveper), variables=variables)


def read_vensim(path: Path, raw: bytes) -> tuple[Any, str]:
    """PySD's abstract model of the Vensim file `path` whose bytes are `raw`, and its checked text."""
    file_text = vensim_text(path, raw)
    try:
        # PySD reads a normalised copy (comments in equations, data variables with no equation,
        # macros after the main text); messages quote `file_text`, whose lines are the same.
        parsed = vensim_file(path, normalise(file_text), sections=sections_grammar())
        parsed.parse()
        return parsed.get_abstract_model(), file_text
    except _PARSE_ERRORS as exc:
        raise ModelFileError(_parse_failure(path, file_text, exc)) from exc


def read_xmile(path: Path, raw: bytes, *, data_files: bool = False) -> tuple[Any, str, str, Graphicals, float | None]:
    """PySD's abstract model of the XMILE file `path` whose bytes are `raw`, with its text, its
    integration method, the graphical functions given per array element and Stella's save
    interval (None when the file gives none). With `data_files` (data files are given), xmutil's
    placeholders of Vensim data variables are data variables read from them.

    The file is checked with defusedxml first; Stella's arrays with a graphical function per
    element, modules, macros and the legacy isee layout are rewritten as one current model
    before PySD's parser reads it.
    """
    info = check_xmile(path, raw)
    file_text = raw.decode("utf-8", errors="replace")
    expected = info.variables
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
    placeholders = data_placeholders(tree)
    if placeholders and not data_files and _written_by_xmutil(tree):
        first = sorted(placeholders.values())[0]
        where = re.search(rf'name="{re.escape(first)}"', file_text)
        line = f" (line {file_text.count(chr(10), 0, where.start()) + 1})" if where else ""
        raise UnsupportedError(
            f"`{path.name}` was written by xmutil from a Vensim model whose data variables it leaves as a "
            f"placeholder (`{first}`{line}: TIME through a flat graphical function); pass the model's data files "
            "as `data_files=[...]` to read them, or load the Vensim .mdl."
        )
    if data_files:
        graphicals = {k: v for k, v in graphicals.items() if k not in placeholders}
    try:
        # Vensim's file-reading calls that xmutil leaves in comments are read as Vensim reads them.
        text, calls = take_vensim_calls(vensim_expression_calls(text), path.name)
        spelled = _xmile_spellings(_initial_equations(_lookup_builtin_as_call(text)), _variable_dimensions(tree))
        parsed = xmile_file(path, spelled)
        parsed.parse()
        abstract = parsed.get_abstract_model()
        put_vensim_calls(abstract, calls)
        read_as_data(abstract, placeholders if data_files else ())
    except _PARSE_ERRORS as exc:
        raise ModelFileError(_parse_failure(path, file_text, exc)) from exc
    found = {canonical(e.name) for s in abstract.sections for e in s.elements}
    missing = [n for n in expected if canonical(n.replace("\\n", " ")) not in found]
    if missing:
        # Older isee files (XMILE drafts) are not read by PySD's parser: refuse rather
        # than run a model with variables missing.
        raise UnsupportedError(
            f"PySD's XMILE parser did not read {len(missing)} variable(s) of `{path.name}` (first: "
            f"`{missing[0]}`), as happens with legacy isee files; save the model as XMILE from a current "
            "Stella version."
        )
    return abstract, file_text, info.method, graphicals, info.save_interval


_WHOLE_ARRAY = re.compile(rb"\[\s*\*(?:\s*,\s*\*)*\s*\]")
#: A reference with a wildcard among named positions: ``m[DimD, *]``, ``z[*:SubA]``.
_PARTIAL_WILDCARD = re.compile(rb'((?:"[^"<]+"|[\w.$]+)\s*)\[([^\[\]<]*\*[^\[\]<]*)\]')
_EQUATION = re.compile(rb"(<(eqn|inflow|outflow)\b[^>]*>)([^<]*)(</\2>)")
_NAME = re.compile(rb'(\sname\s*=\s*")([^"]*)(")')
#: xmutil writes Vensim's vector functions with their spaces, which PySD's XMILE grammar stops at.
_VECTOR_CALL = re.compile(rb"\bVECTOR (?:ELM MAP|SELECT|SORT ORDER|RANK|REORDER|LOOKUP)(?=\s*\()")
_MOD = re.compile(rb"(?<=[\s)])MOD(?=[\s(])")
_SIZE = re.compile(rb"\bSIZE\s*\(", flags=re.IGNORECASE)


def _written_by_xmutil(root: ET.Element) -> bool:
    """Whether the XMILE header names xmutil, Ventana's translator of Vensim models, as vendor
    or product."""
    return any(node.tag.rsplit("}", 1)[-1] in ("vendor", "product") and "xmutil" in (node.text or "").lower()
               for node in root.iter())


def _variable_dimensions(root: ET.Element) -> dict[str, tuple[str, ...]]:
    """Per XMILE variable (canonical name), the names of its dimensions in order."""
    found: dict[str, tuple[str, ...]] = {}
    for node in root.iter():
        name = node.get("name")
        if name is None or node.tag.rsplit("}", 1)[-1] not in ("aux", "stock", "flow", "gf"):
            continue
        dims = [d.get("name", "") for child in node if child.tag.rsplit("}", 1)[-1] == "dimensions"
                for d in child if d.tag.rsplit("}", 1)[-1] == "dim"]
        if dims:
            found[canonical(name.replace("\\n", " "))] = tuple(dims)
    return found


def _partial_wildcards(body: bytes, dimensions: Mapping[str, tuple[str, ...]]) -> bytes:
    """`body` with each ``*`` of a partly named reference written as Vensim's reduced range.

    ``SUM(m[DimD, *])`` sums over the variable's second dimension for each element of DimD:
    Vensim writes it ``SUM(m[DimD, DimE!])``, which PySD's XMILE grammar also reads. ``*:SubA``
    reduces over the subrange only (``SubA!``). A reference to a name whose dimensions the file
    does not give is left as written, so PySD's parser reports it with its line.
    """
    def reference(match: re.Match[bytes]) -> bytes:
        name = match.group(1).strip().strip(b'"').decode("utf-8", errors="replace")
        positions = [p.strip() for p in match.group(2).split(b",")]
        dims = dimensions.get(canonical(name.replace("_", " ")))
        if dims is None or len(dims) != len(positions):
            # Stella's whole array `a[*]` of a name without dimensions here: the array as a whole.
            return match.group(1).rstrip() if all(p == b"*" for p in positions) else match.group(0)
        written = []
        for position, dim in zip(positions, dims):
            if position == b"*":
                written.append(dim.encode("utf-8") + b"!")
            elif position.startswith(b"*:"):
                written.append(position[2:].strip() + b"!")
            else:
                written.append(position)
        return match.group(1) + b"[" + b", ".join(written) + b"]"

    return _PARTIAL_WILDCARD.sub(reference, body)


def _xmile_spellings(text: bytes, dimensions: Mapping[str, tuple[str, ...]] | None = None) -> bytes:
    """An XMILE document in the spellings PySD's XMILE grammar reads, each on its own line.

    * ``a[*]``, ``m[DimD, *]``, ``z[*:SubA]``: Stella's wildcards as Vensim's reduced ranges
      ``a[DimA!]``, ``m[DimD, DimE!]``, ``z[SubA!]``, from the variable's `dimensions` (name ->
      dimension names), so ``SUM(a[*])`` sums the whole array (SDEverywhere's ``sum.xmile``) and
      ``VECTOR SELECT(sel[*], x[*], ...)`` selects over it; ``a[*]`` of a name whose dimensions the
      file does not give is the whole array, ``a``;
    * xmutil's ``VECTOR ELM MAP(``, ``VECTOR SELECT(`` ... with underscores, as PySD reads them;
    * the infix ``MOD`` in the lower case PySD's grammar reads, and ``SIZE(DimA)`` as Vensim's
      ``ELMCOUNT(DimA)``;
    * ``\\n`` in a name (XMILE's escape for a line break, ``Stock with \\n Newline Character``):
      a space in the name and an underscore where equations name it, as Stella's output
      writes the name (SDXorg test-models ``tests/special_characters_xmile``);
    * a stock's ``<inflow>``/``<outflow>`` naming a flow with punctuation (``Flow_w/_division``):
      quoted, since PySD reads them as expressions.
    """
    # SIZE(range) is XMILE's ELMCOUNT, unless the model has a graphical function of that name.
    size_defined = re.search(rb'\sname\s*=\s*"size"', text, flags=re.IGNORECASE) is not None

    def equation(match: re.Match[bytes]) -> bytes:
        body = _partial_wildcards(match.group(3), dimensions or {})
        body = _WHOLE_ARRAY.sub(b"", body).replace(b"\\n", b"_")
        body = _VECTOR_CALL.sub(lambda m: m.group(0).replace(b" ", b"_"), body)
        body = _MOD.sub(b"mod", body)
        if not size_defined:
            body = _SIZE.sub(b"ELMCOUNT(", body)
        name = body.strip()
        if match.group(2) != b"eqn" and name and not name.startswith(b'"') and re.search(rb"[^\w.]", name):
            # A flow's name, not an expression: quoted, as equations write such names.
            body = body.replace(name, b'"' + name + b'"', 1)
        return match.group(1) + body + match.group(4)

    text = _EQUATION.sub(equation, text)
    return _NAME.sub(lambda m: m.group(1) + m.group(2).replace(b"\\n", b" ") + m.group(3), text)


_LOOKUP_BUILTIN = re.compile(rb"\bLOOKUP\s*\(\s*([^,()<>]+?)\s*,", flags=re.IGNORECASE)


#: An auxiliary's or flow's equation with its initial equation after it, in the same variable.
_INIT_EQN = re.compile(rb"(<eqn>)([^<]*)(</eqn>)((?:(?!</(?:aux|flow|stock)>)[^\0])*?)<init_eqn>([^<]*)</init_eqn>")


def _initial_equations(text: bytes) -> bytes:
    """An XMILE document with each auxiliary's ``<init_eqn>`` (its value at the initial time,
    which PySD's parser drops) written into its equation as Vensim's ACTIVE INITIAL, which it
    means (SDEverywhere's active_initial.xmile); the emptied element keeps its lines."""
    def variable(match: re.Match[bytes]) -> bytes:
        tag_open, equation, tag_close, between, initial = match.groups()
        if not equation.strip() or not initial.strip():
            return match.group(0)
        return (tag_open + b"ACTIVE_INITIAL(" + equation + b", " + initial + b")" + tag_close + between
                + b"<init_eqn>" + b"\n" * initial.count(b"\n") + b"</init_eqn>")

    return _INIT_EQN.sub(variable, text)


def _lookup_builtin_as_call(text: bytes) -> bytes:
    """An XMILE document with each ``LOOKUP(table, x)`` of an equation read ``table(x)``.

    PySD's XMILE grammar takes the LOOKUP builtin for a table definition and fails on it; the
    two spellings mean the same (XMILE 3.5.3), and each stays on its line, so a later parse
    error still points at the right line of the user's file.
    """
    return re.sub(rb"<eqn>[^<]*</eqn>", lambda m: _LOOKUP_BUILTIN.sub(rb"\1(", m.group(0)), text)


def _parse_failure(path: Path, file_text: str, exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return f"PySD's parser could not read `{path.name}`: an equation nests too deeply; split it into auxiliaries."
    text = str(exc).strip().splitlines()
    # PySD quotes the file: show it escaped, so no character of the file reaches a terminal as is.
    detail = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in (text[0] if text else type(exc).__name__))
    detail = detail[:300]
    place = ""
    found = re.search(r"(?:at|begins with) '([^']{1,40})", detail)
    if found:
        # Point at the line of the file and the variable whose equation holds the failing text.
        fragment = " ".join(found.group(1).split())[:20]
        lines = file_text.splitlines()
        for number, line in enumerate(lines, 1):
            if fragment and fragment in " ".join(line.split()):
                owner = ""
                for previous in reversed(lines[:number]):
                    named = re.search(r'<(?:aux|stock|flow|gf|module)\b[^>]*\sname="([^"]+)"', previous)
                    if named:
                        owner = named.group(1)
                        break
                    if previous and not previous[0].isspace() and "=" in previous:
                        owner = previous.split("=")[0].strip()
                        break
                place = f" at line {number}" + (f", in the equation of `{owner}`" if owner else "")
                break
    return f"PySD's parser could not read `{path.name}`{place}: {detail}"
