"""Everything known about a model file before any equation is converted, read once and frozen.

:func:`read_context` checks the names of PySD's abstract model, reads its subscript ranges
and elements (with the files GET XLS/DIRECT reads), sets the control variables apart,
gives each element of a subscripted lookup and of an XMILE graphical function per array
element its own table, and returns a :class:`ModelContext`. Converting equations reads the
context and never changes it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from ...errors import UnsupportedError
from ...expr import canonical, forbidden_character
from ...spec import LookupTable, Variable
from ..external import ExternalReader, settings_indirections
from ..model_file import ModelFileError, read_model_bytes
from ..vensim_normalise import macro_call_outputs
from .data import EXTERNAL, read_external
from .elements import CONTROL, Element, GraphicalElement, SourceFile, describe
from .subscripts import Subscripts, element_dimensions, element_mappings, mapping_lines, read_dimensions

__all__ = ["ModelContext", "read_context", "read_element", "vensim_method"]


@dataclass(frozen=True)
class ModelContext:
    """A model file as read before its equations are converted.

    Attributes
    ----------
    source : SourceFile
        The file's path and checked text.
    method : str
        The integration method the file asks for ("euler" for Vensim).
    subscripts : Subscripts
        The subscript ranges, with those the elements need added.
    elements : mapping
        The model's elements by canonical name, control variables apart.
    controls : mapping
        INITIAL TIME, FINAL TIME, TIME STEP and SAVEPER, by canonical name.
    macros : mapping
        Vensim macros (PySD sections) by canonical name.
    external : ExternalReader
        The reader of the data files the model names.
    element_tables : mapping
        ``(lookup, element names) -> internal lookup`` for each element of a subscripted
        lookup or of an XMILE variable with a graphical function per element.
    element_lookups : tuple of Variable
        The internal lookups of the XMILE graphical functions given per element.
    graphicals : frozenset of str
        The elements with a graphical function per array element (XMILE), by canonical name.
    macro_outputs : mapping
        The extra outputs bound at each call of a Vensim macro that has them
        (``SPLIT(10, 0.3 : rest)``), by canonical name of the calling variable:
        ``(macro, output names)`` per call, in order.
    """

    source: SourceFile
    method: str
    subscripts: Subscripts
    elements: Mapping[str, Element]
    controls: Mapping[str, Element]
    macros: Mapping[str, Any]
    external: ExternalReader
    element_tables: Mapping[tuple[str, tuple[str, ...]], str]
    element_lookups: tuple[Variable, ...]
    graphicals: frozenset[str]
    macro_outputs: Mapping[str, Sequence[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.source.path


def read_context(path: Path, abstract: Any, method: str, external: ExternalReader,
                 graphicals: Mapping[str, Mapping[tuple[str, ...], LookupTable]], text: str | None) -> ModelContext:
    """Read what PySD's abstract model of `path` holds before its equations are converted.

    `graphicals` gives the tables of XMILE variables with a graphical function per array
    element (which PySD's parser drops); `text` is the file's checked text (read again from
    `path` when None).
    """
    source = SourceFile(path, text if text is not None else read_model_bytes(path).decode("utf-8", errors="replace"))
    if source.vensim:
        method = vensim_method(source.text, method)
    sections = list(abstract.sections)
    _check_names(sections, source)
    _refuse_unsimulatable(sections, source)
    if source.vensim:
        # `?tag` file names resolved in the model's XLS Files settings, before any file is read.
        external.indirect.update(settings_indirections(source.text))
    others = [s for s in sections if s.type not in ("main", "macro")]
    if others:
        kinds = sorted({s.type for s in others})
        names = ", ".join(f"`{s.name}`" for s in others)
        raise UnsupportedError(
            f"`{path.name}` defines {' and '.join(kinds)} section(s) {names}, which sdflow does not read (it reads "
            "one model, with its Vensim macros); report the file as an sdflow bug."
        )
    # Vensim macros are expanded at each call: one copy of their variables per call.
    macros = {canonical(s.name): s for s in sections if s.type == "macro"}
    section = [s for s in sections if s.type == "main"][0]
    dimensions = read_dimensions(section.subscripts, source, external)
    subscripts = Subscripts.of(dimensions, element_mappings(section.subscripts, source, dimensions),
                               mapping_lines(section.subscripts, source))
    elements: list[Element] = []
    for element in section.elements:
        el = read_element(element, source, subscripts, external)
        dims, subscripts = element_dimensions(el, subscripts)
        elements.append(replace(el, dims=dims))
    controls = {e.key: e for e in elements if e.key in CONTROL}
    model = [e for e in elements if e.key not in CONTROL]
    _check_complete(source, controls, model)
    tables: dict[tuple[str, tuple[str, ...]], str] = {}
    for el in model:  # each element of a subscripted lookup is a lookup of its own
        if el.kind == "lookup" and el.dims:
            for subs, _ in el.pieces:
                for combo in itertools.product(*(subscripts.expand(sub, el.name) for sub in subs)):
                    tables[(el.key, tuple(canonical(c) for c in combo))] = canonical(f"{el.name}[{', '.join(combo)}]")
    lookups: list[Variable] = []
    model = [_element_graphicals(el, graphicals[el.key], subscripts, tables, lookups) if el.key in graphicals else el
             for el in model]
    outputs = macro_call_outputs(source.text) if source.vensim and macros else {}
    return ModelContext(source, method, subscripts, {e.key: e for e in model}, controls, macros, external, tables,
                        tuple(lookups), frozenset(graphicals), outputs)


def read_element(element: Any, source: SourceFile, subscripts: Subscripts, external: ExternalReader,
                 macro: str = "") -> Element:
    """One element of PySD's abstract model: its blocks (``:EXCEPT:`` worked out, files read),
    without its dimensions (:func:`~sd_engine.io.convert.subscripts.element_dimensions`).
    `macro` names the macro whose copy is being read, if any."""
    units = element.units or ""
    if isinstance(units, (tuple, list)):
        units = units[0] if units else ""
    doc = (element.documentation or "").strip()
    line = "" if macro else source.at(element.name, search=False)
    kinds = set()
    covered: dict[tuple[str, ...], int] = {}
    pieces: list[tuple[tuple[str, ...], Any]] = []
    for index, comp in enumerate(element.components):
        subs, excepts = comp.subscripts
        ast = comp.ast
        if type(ast).__name__ in EXTERNAL:
            if excepts:
                raise UnsupportedError(
                    f"`{element.name}` reads {describe(type(ast).__name__)} for a block with :EXCEPT:; "
                    "sdflow reads files for whole blocks. Write the block element by element."
                )
            ast = read_external(element.name, tuple(subs), ast, getattr(comp, "keyword", None), subscripts, external)
        if excepts:
            blocks = subscripts.except_blocks(tuple(subs), [tuple(e) for e in excepts], element.name)
        else:
            blocks = [tuple(subs)]
        if len(element.components) > 1:
            _check_single_definition(element, covered, index, blocks, source, subscripts, macro)
        if type(comp).__name__ == "AbstractLookup" or type(ast).__name__ in ("LookupsStructure", "GetLookupsStructure"):
            kinds.add("lookup")
        pieces += [(block, ast) for block in blocks]
    return Element(element.name, str(units).strip(), doc, pieces=tuple(pieces),
                   kind="lookup" if "lookup" in kinds else "aux", source=f"{source.path.name}{line}: {element.name}")


def _element_graphicals(el: Element, tables: Mapping[tuple[str, ...], LookupTable], subscripts: Subscripts,
                        names: dict[tuple[str, tuple[str, ...]], str], lookups: list[Variable]) -> Element:
    """XMILE graphical functions given per array element: each element's table becomes an
    internal lookup (added to `lookups`), named and registered in `names` as the tables of a
    subscripted Vensim lookup (so ``tables[a](x)`` reads it), and the element's value is its
    table read at its equation."""
    pieces = []
    for subs, ast in el.pieces:
        combo = tuple(canonical(s) for s in subs)
        table = tables.get(combo)
        if table is None:  # an element without a table of its own keeps its equation
            pieces.append((subs, ast))
            continue
        if len(el.dims) != len(subs) or any(canonical(s) in subscripts.elements for s in subs):
            raise UnsupportedError(
                f"`{el.name}` gives a graphical function to `[{', '.join(subs)}]`, which is not one element of "
                f"its dimensions; give each <element> one subscript per dimension."
            )
        name = f"{el.name}[{', '.join(s.strip() for s in subs)}]"
        names[(el.key, combo)] = canonical(name)
        lookups.append(Variable(name, "lookup", lookup=table, units=el.units, doc=el.doc, internal=True,
                                source=el.source))
        if type(ast).__name__ == "InlineLookupsStructure":
            ast = ast.argument  # the element's own table wins over the variable's
        pieces.append((subs, GraphicalElement(canonical(name), ast)))
    return replace(el, pieces=tuple(pieces))


#: Vensim's integration type, the fourth number of the ``15:`` line of a .mdl file's settings,
#: as the method sdflow runs (read as xmutil, Ventana's own converter, reads it: 1 and 5 RK4,
#: 3 and 4 RK2, anything else Euler).
VENSIM_METHODS = {1: "rk4", 5: "rk4", 3: "rk2", 4: "rk2"}


def vensim_method(text: str, default: str = "euler") -> str:
    """The integration method a Vensim file's settings ask for (`default` without a ``15:`` line):
    PySD's parser does not read them, and running Euler where the file asks for Runge-Kutta
    gives another answer (MetaSD's critical-slowing, thyroid and catastrophe models).

    Examples
    --------
    >>> vensim_method("x = 1 ~~|\\n:L\\x7f<%^E!@\\n15:0,0,0,1,0,0\\n")
    'rk4'
    """
    marker = text.find("<%^E!@")
    if marker < 0:
        return default
    for line in text[marker:].splitlines():
        if line.startswith("15:"):
            fields = line[3:].split(",")
            code = fields[3].strip() if len(fields) > 3 else ""
            return VENSIM_METHODS.get(int(code), "euler") if code.isdigit() and len(code) < 4 else default
    return default


#: Calls no model can be simulated with, by PySD's name, and why.
UNSIMULATABLE = {
    "a_function_of": ("A FUNCTION OF", "a placeholder Vensim writes for a variable of a causal-loop diagram whose "
                      "equation has not been written; the diagram is not a simulation model. Write the equation"),
}


def _pysd_nodes(node: Any) -> Any:
    """Every node of a PySD abstract expression (dataclasses, lists and tuples of them)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if is_dataclass(item) and not isinstance(item, type):
            yield item
            stack.extend(getattr(item, f.name) for f in fields(item))
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _refuse_unsimulatable(sections: Sequence[Any], source: SourceFile) -> None:
    """Refuse, naming the variable, its line and the call, a model whose equations call one of
    :data:`UNSIMULATABLE` (FREE6's causal-loop diagrams)."""
    for section in sections:
        for element in section.elements:
            for component in element.components:
                for node in _pysd_nodes(component.ast):
                    if type(node).__name__ != "CallStructure":
                        continue
                    func = getattr(node.function, "reference", node.function)
                    if isinstance(func, str) and canonical(func) in UNSIMULATABLE:
                        written, why = UNSIMULATABLE[canonical(func)]
                        where = "" if section.type == "macro" else source.at(str(element.name), search=False)
                        raise UnsupportedError(
                            f"`{source.path.name}`{where}: `{element.name}` calls {written}, {why}."
                        )


# -- what an untrusted file must get right -----------------------------------------------------
def _check_names(sections: Sequence[Any], source: SourceFile) -> None:
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
                    f"`{source.path.name}`{source.at(name)}: the {what} name {name!r} contains {bad}; names may not "
                    "hold control or invisible characters. Remove it from the name."
                )


def _check_complete(source: SourceFile, controls: Mapping[str, Element], model: Sequence[Element]) -> None:
    """Refuse a file without variables, and a Vensim file without its time settings: a
    file cut short or not a model at all must not run with made-up settings (dt = 1)."""
    last = source.text.count("\n") + 1
    if source.vensim:
        missing = [name for key, name in (("initial_time", "INITIAL TIME"), ("final_time", "FINAL TIME"),
                                          ("time_step", "TIME STEP")) if key not in controls]
        if missing:
            raise ModelFileError(
                f"`{source.path.name}` does not define {', '.join(f'`{m}`' for m in missing)} (the file has {last} "
                "lines): a Vensim model defines INITIAL TIME, FINAL TIME and TIME STEP, so the file is "
                "incomplete or not a model. Restore its control section."
            )
    if not model:
        raise ModelFileError(
            f"`{source.path.name}` defines no model variables (the file has {last} lines); it is empty or not a "
            "model."
        )


def _check_single_definition(element: Any, covered: dict[tuple[str, ...], int], index: int,
                             blocks: Sequence[tuple[str, ...]], source: SourceFile, subscripts: Subscripts,
                             macro: str) -> None:
    """Refuse a second definition of an element (Vensim keeps the first, silently)."""
    for block in blocks:
        for combo in itertools.product(*(subscripts.expand(sub, element.name) for sub in block)):
            first = covered.setdefault(tuple(canonical(c) for c in combo), index)
            if first == index:
                continue
            label = f"{element.name}[{', '.join(combo)}]" if combo else element.name
            lines = [] if macro else source.definition_lines.get(canonical(element.name), [])
            if len(lines) > index:
                where = f"at lines {lines[first]} and {lines[index]}"
            elif lines:
                where = f"(defined at lines {', '.join(map(str, lines))})"
            else:
                where = "twice" if not macro else f"twice in macro `{macro}`"
            raise ModelFileError(
                f"`{source.path.name}` defines `{label}` {where}; a variable has one definition for each element, "
                "and sdflow will not pick one. Remove or rename the other."
            )
