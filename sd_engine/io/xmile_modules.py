"""XMILE modules, macros and legacy isee files, rewritten into one current single-model document.

PySD's XMILE parser reads the variables of ``<model>/<variables>`` and knows nothing of
modules: it would read every model of a file as one, with clashing names and unconnected
inputs. It also reads nothing from the legacy isee layout (Stella 10 ``.stmx`` files),
whose variables sit directly under ``<model>`` without a ``<variables>`` element.

:func:`prepare_xmile` works on the element tree read (safely, with defusedxml) by
:func:`~sd_engine.io.xml_safety.parse_xmile` and returns a new single-model document that
PySD's parser reads as usual:

- **legacy layout**: the variables of each ``<model>`` are moved into a ``<variables>``
  element; drawing elements (``<display>``, ``<interface>``) are dropped, and any other
  element is refused by name rather than silently skipped;
- **modules**: each module instance's variables become variables of the one model, named
  with the instance path as the XMILE file refers to them (``hares.hare_density``; nested
  instances ``outer.inner.x``). A module input bound by ``<connect to=... from=...>``
  becomes an auxiliary equal to the variable it is connected to; references to a module's
  outputs (``lynxes.lynxes``) read the flattened variable. Equations are rewritten token by
  token (names only, never evaluated), with flattened names quoted so PySD's grammar reads
  the dots as part of the name. Models that no module instantiates are not read;
- **macros of one equation** (``<macro name="f"><parm>x</parm><eqn>...</eqn></macro>``): each
  call ``f(a)`` is replaced by the macro's equation with each parameter replaced by its
  argument, in parentheses (parameter defaults and macros calling macros included);
- **graphical functions** listing their ``<xpts>`` keep them, whatever their ``<xscale>``.

Name resolution follows XMILE 1.0: names in a model's equations are that model's own
variables; ``module.var`` reads variable ``var`` of the module instance ``module`` of the
same model; in ``<connect from=...>`` a leading period marks a name of the model that holds
the module (Stella writes ``.area``), and ``to`` may repeat the module's name
(``hares.area``).
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError, UnsupportedError
from ..expr import canonical

__all__ = ["PreparedXmile", "prepare_xmile", "xmile_file"]

#: Elements that are variables of a model (what PySD reads from ``<variables>``).
_VARIABLE_TAGS = ("stock", "flow", "aux", "gf")
#: Legacy children of ``<model>`` that only draw the diagram or the interface.
_DRAWING_TAGS = ("display", "interface", "views", "view")
#: Legacy children of ``<model>`` that belong in ``<variables>``. Groups (sectors) only
#: list the names of their members.
_LEGACY_TAGS = _VARIABLE_TAGS + ("module", "group")

# One token of an XMILE equation: a comment, a subscript, a number, a (dotted) name with
# quoted or plain parts, or any other single character. Numbers come before names so
# that `1.5e3` is one number; a name part may start with a letter, an underscore or any
# non-ASCII letter, as PySD's grammar allows.
_PART = r'(?:"(?:\\"|[^"])*"|[^\W\d][\w$\']*)'
_TOKEN = re.compile(
    r'(?P<comment>\{[^}]*\})'
    r'|(?P<subscript>\[[^\]]*\])'
    r'|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)'
    rf'|(?P<name>{_PART}(?:\s*\.\s*{_PART})*)'
    r'|(?P<other>.)',
    re.DOTALL,
)


@dataclass(frozen=True)
class PreparedXmile:
    """A single-model XMILE document and the names of the variables it defines.

    Attributes
    ----------
    text : bytes
        The document, UTF-8, for PySD's parser.
    variables : tuple of str
        Every variable the document defines (flattened names), so the importer can check
        that the parser read them all.
    """

    text: bytes
    variables: tuple[str, ...]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _display(name: str) -> str:
    # Stella writes a line break in a name as the two characters `\n`; it reads as a space.
    return " ".join(name.replace("\\n", " ").split())


def _key(name: str) -> str:
    return canonical(_display(name.strip().strip('"')))


def _split(dotted: str) -> list[str]:
    """The parts of a dotted name, quotes removed (``"a b".c`` -> ``["a b", "c"]``)."""
    return [p.strip().strip('"') for p in re.findall(_PART, dotted)]


def _is_prefixed(node: ET.Element) -> bool:
    # A vendor element written with a prefix (`isee:...`); the SAX tree keeps the raw name.
    return ":" in node.tag and not node.tag.startswith("{")


@dataclass
class _Instance:
    """One instance of a model: the root model, or a module inside another instance."""

    model: ET.Element
    prefix: str  # "" for the root, "hares." for module `hares`, "a.b." when nested
    variables: dict[str, ET.Element] = field(default_factory=dict)  # key -> element
    modules: dict[str, _Instance] = field(default_factory=dict)  # key -> instance
    bindings: dict[str, str] = field(default_factory=dict)  # input key -> flattened source
    connects: list[tuple[_Instance, ET.Element]] = field(default_factory=list)  # (module, its <module>)

    def full(self, key: str) -> str:
        return self.prefix + _display(self.variables[key].get("name", ""))


def prepare_xmile(root: ET.Element, file_name: str) -> PreparedXmile | None:
    """Rewrite a modular or legacy XMILE document as one current single-model document.

    Parameters
    ----------
    root : xml.etree.ElementTree.Element
        The ``<xmile>`` element, as read by :func:`~sd_engine.io.xml_safety.parse_xmile`
        (tags and attributes as written, prefixes kept). Not modified.
    file_name : str
        The file's name, for messages.

    Returns
    -------
    PreparedXmile or None
        None when the document already is one model in the current layout, which PySD
        reads as it is.

    Raises
    ------
    UnsupportedError
        A legacy element sdflow cannot read, a module whose model is in another file, or
        a module that contains itself.
    SpecError
        A connection to or from a variable that does not exist, or an input left
        unconnected with no equation of its own.

    Examples
    --------
    >>> doc = ET.fromstring(
    ...     '<xmile><sim_specs><start>0</start><stop>1</stop><dt>1</dt></sim_specs>'
    ...     '<model><variables><module name="m"><connect to="x" from=".a"/></module>'
    ...     '<aux name="a"><eqn>2</eqn></aux></variables></model>'
    ...     '<model name="m"><variables><aux name="x"><eqn>{input}</eqn></aux>'
    ...     '<aux name="y"><eqn>3 * x</eqn></aux></variables></model></xmile>')
    >>> prepared = prepare_xmile(doc, "demo.xmile")
    >>> prepared.variables
    ('a', 'm.x', 'm.y')
    >>> flat = ET.fromstring(prepared.text)
    >>> [(v.get("name"), v.findtext("eqn")) for v in flat.iter("aux")]
    [('a', '2'), ('m.x', '"a"'), ('m.y', '3 * "m.x"')]
    """
    root = copy.deepcopy(root)
    models = [child for child in root if _local(child.tag) == "model"]
    if not models:
        return None
    legacy = False
    for model in models:
        legacy |= _to_current_layout(model, file_name)
    main = next((m for m in models if not m.get("name")), models[0])
    has_modules = any(_local(v.tag) == "module" for m in models for v in _variables(m))
    scaled = _explicit_points_only(root)
    macros = _read_macros(root, file_name)
    # Models no module instantiates are not run (PySD would read their variables into the main model).
    if not legacy and not has_modules and not scaled and not macros and len(models) == 1:
        return None
    named = {_key(m.get("name", "")): m for m in models if m.get("name")}
    top = _instantiate(main, "", named, file_name, ())
    _connect(top, file_name)

    flat_variables = ET.Element(_same_namespace(main, "variables"))
    names: list[str] = []
    _emit(top, flat_variables, names, file_name, macros)
    flat_model = ET.Element(main.tag, {k: v for k, v in main.attrib.items() if k != "name"})
    flat_model.append(flat_variables)
    position = list(root).index(models[0])
    for model in models:
        root.remove(model)
    for macro in [c for c in root if _local(c.tag) == "macro"]:
        root.remove(macro)  # expanded at each call
    root.insert(position, flat_model)
    return PreparedXmile(ET.tostring(root, encoding="utf-8"), tuple(names))


def _explicit_points_only(root: ET.Element) -> bool:
    """Drop ``<xscale>`` from graphical functions that list their ``<xpts>``; True if any did.

    In XMILE the x-scale spaces the points evenly only when they are not listed; with
    ``<xpts>`` it is the axis of the drawing (go-xmile writes ``min = max = 0`` there). PySD
    would read the points from the scale whenever there is one.
    """
    found = False
    for gf in root.iter():
        if _local(gf.tag) != "gf":
            continue
        children = {_local(c.tag): c for c in gf}
        if "xpts" in children and "xscale" in children:
            gf.remove(children["xscale"])
            found = True
    return found


def _same_namespace(model: ET.Element, local: str) -> str:
    # Keep the tag form of the file: `{ns}variables` when the tree is namespace-aware, or
    # the plain name (the SAX tree keeps `xmlns` as an attribute of the root).
    return model.tag[: -len(_local(model.tag))] + local if model.tag.startswith("{") else local


def _variables(model: ET.Element) -> list[ET.Element]:
    block = next((c for c in model if _local(c.tag) == "variables"), None)
    return [] if block is None else list(block)


def _to_current_layout(model: ET.Element, file_name: str) -> bool:
    """Move a legacy model's variables into ``<variables>``; True when the model was legacy."""
    if any(_local(c.tag) == "variables" for c in model):
        return False
    block = ET.Element(_same_namespace(model, "variables"))
    for child in list(model):
        tag = _local(child.tag)
        if tag in _LEGACY_TAGS:
            model.remove(child)
            block.append(child)
        elif tag in _DRAWING_TAGS or _is_prefixed(child):
            model.remove(child)
        else:
            where = f"model `{model.get('name')}`" if model.get("name") else "the main model"
            raise UnsupportedError(
                f"`{file_name}` has a legacy isee element <{tag}> in {where}, which sdflow cannot read; save the "
                "model as XMILE from a current Stella version."
            )
    model.insert(0, block)
    return True


def _instantiate(model: ET.Element, prefix: str, named: dict[str, ET.Element], file_name: str,
                 path: tuple[str, ...]) -> _Instance:
    instance = _Instance(model, prefix)
    for node in _variables(model):
        tag = _local(node.tag)
        if tag in _VARIABLE_TAGS and node.get("name"):
            instance.variables[_key(node.get("name", ""))] = node
        elif tag == "module":
            name = _display(node.get("name", ""))
            if node.get("resource"):
                raise UnsupportedError(
                    f"Module `{prefix}{name}` in `{file_name}` reads its model from `{node.get('resource')}`; "
                    "sdflow reads modules from the same file only. Copy the model into the file."
                )
            model_name = name  # an instance runs the model of its own name
            key = _key(model_name)
            if key not in named:
                raise SpecError(f"Module `{prefix}{name}` in `{file_name}` uses model `{model_name}`, which the "
                                "file does not define.")
            if key in path:
                raise UnsupportedError(
                    f"Module `{prefix}{name}` in `{file_name}` contains its own model `{model_name}`; a model "
                    "cannot be a module of itself."
                )
            child = _instantiate(named[key], f"{prefix}{name}.", named, file_name, path + (key,))
            instance.modules[_key(name)] = child
            instance.connects.append((child, node))
    return instance


def _resolve(instance: _Instance, parts: list[str]) -> str | None:
    """The flattened name a (dotted) reference in `instance` stands for, or None if it is not a name there."""
    key = _key(parts[0])
    if len(parts) > 1 and key in instance.modules:
        return _resolve(instance.modules[key], parts[1:])
    if len(parts) == 1 and key in instance.variables:
        return instance.full(key)
    return None


def _connect(instance: _Instance, file_name: str) -> None:
    for child, node in instance.connects:
        module = child.prefix[:-1]
        own = _split(module.rsplit(".", 1)[-1])[0] if module else ""
        for link in node:
            if _local(link.tag) != "connect":
                continue
            to, source = link.get("to", ""), link.get("from", "")
            to_parts = _split(to)
            if len(to_parts) > 1 and _key(to_parts[0]) == _key(own):
                to_parts = to_parts[1:]  # `hares.area` in the module `hares` is its `area`
            if len(to_parts) != 1 or _key(to_parts[0]) not in child.variables:
                raise SpecError(f"`{file_name}` connects `{to}` of module `{module}`, which the module's model "
                                "does not define.")
            found = _resolve(instance, _split(source))
            if found is None:
                where = f"module `{instance.prefix[:-1]}`" if instance.prefix else "the main model"
                raise SpecError(f"`{file_name}` connects module input `{module}.{to_parts[0]}` to `{source}`, "
                                f"which {where} does not define.")
            child.bindings[_key(to_parts[0])] = found
        _connect(child, file_name)


def _rewrite(text: str, instance: _Instance, owner: str, file_name: str, macros: dict[str, _Macro]) -> str:
    """An equation of `instance` with every name of the model replaced by its quoted flattened name."""
    text = _expand(text, macros, owner, file_name, ())
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if match.lastgroup == "name":
            parts = _split(token)
            found = _resolve(instance, parts)
            called = re.match(r"\s*\(", text[match.end():]) is not None
            if found is not None and called and len(parts) == 1 and not _is_lookup(instance.variables[_key(parts[0])]):
                found = None  # a builtin (`DELAY(...)`) that shares its name with a variable
            if found is not None and (instance.prefix or len(parts) > 1):
                token = '"' + found + '"'  # names of the main model stay as written
            elif len(parts) > 1 and _key(parts[0]) in instance.modules:
                raise SpecError(f"`{owner}` in `{file_name}` reads `{token.strip()}`, which module "
                                f"`{instance.prefix}{_display(parts[0])}` does not define.")
        out.append(token)
    return "".join(out)


def _is_lookup(node: ET.Element) -> bool:
    return _local(node.tag) == "gf" or any(_local(c.tag) == "gf" for c in node.iter())


def _emit(instance: _Instance, target: ET.Element, names: list[str], file_name: str,
          macros: dict[str, _Macro]) -> None:
    for key, node in instance.variables.items():
        name = instance.full(key)
        names.append(name)
        if key in instance.bindings:
            # A connected input: an auxiliary equal to its source, whatever it was inside the
            # module (Stella lets a stock be an input, standing in when unconnected).
            alias = ET.Element(_same_namespace(node, "aux"), {"name": name})
            for child in node:
                if _local(child.tag) in ("units", "doc", "dimensions"):
                    alias.append(copy.deepcopy(child))
            equation = ET.SubElement(alias, _same_namespace(node, "eqn"))
            equation.text = '"' + instance.bindings[key] + '"'
            target.append(alias)
            continue
        flat = copy.deepcopy(node)
        flat.set("name", name)
        for child in flat.iter():
            tag = _local(child.tag)
            if tag in ("eqn", "inflow", "outflow") and child.text is not None:
                if tag == "eqn" and not re.sub(r"\{[^}]*\}", "", child.text).strip():
                    raise SpecError(
                        f"`{name}` in `{file_name}` has no equation, only a comment; if it is a module input, "
                        "connect it with a <connect> element of its module, or give it an equation."
                    )
                child.text = _rewrite(child.text, instance, name, file_name, macros)
        target.append(flat)
    for module in instance.modules.values():
        _emit(module, target, names, file_name, macros)


# -- macros --------------------------------------------------------------------------------------
#: Names a macro's equation may use besides its parameters: XMILE's keywords and the
#: simulation's own values.
_MACRO_NAMES = {"if", "then", "else", "and", "or", "not", "mod", "time", "dt", "starttime", "stoptime", "pi"}


@dataclass(frozen=True)
class _Macro:
    """An XMILE macro of one equation: ``<macro name><parm>...</parm><eqn>...</eqn></macro>``."""

    name: str
    params: tuple[str, ...]
    defaults: tuple[str | None, ...]  # each parameter's `default`, or None when it has none
    body: str


def _read_macros(root: ET.Element, file_name: str) -> dict[str, _Macro]:
    macros: dict[str, _Macro] = {}
    for node in root:
        if _local(node.tag) != "macro":
            continue
        name = _display(node.get("name", ""))
        children = [c for c in node if not _is_prefixed(c)]
        inner = [v for c in children if _local(c.tag) == "variables" for v in c
                 if _local(v.tag) in _VARIABLE_TAGS + ("module",)]
        if inner:
            raise UnsupportedError(
                f"`{file_name}` defines macro `{name}` with variables of its own (`{inner[0].get('name', '?')}`); "
                "sdflow expands macros of one equation only. Write the macro's variables in the model."
            )
        body = next((c.text for c in children if _local(c.tag) == "eqn"), None)
        if body is None or not body.strip():
            raise SpecError(f"Macro `{name}` in `{file_name}` has no equation.")
        params = [c for c in children if _local(c.tag) == "parm"]
        macros[_key(name)] = _Macro(name, tuple(_display((p.text or "").strip()) for p in params),
                                    tuple(p.get("default") for p in params), body)
    return macros


def _arguments(text: str, start: int) -> tuple[list[str], int]:
    """The top-level arguments of the call whose `(` is at `start`, and the position after its `)`."""
    depth = 0
    args: list[str] = []
    current: list[str] = []
    position = start
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match is not None  # `other` matches any single character
        token = match.group(0)
        position = match.end()
        if token == "(":
            depth += 1
            if depth == 1:
                continue
        elif token == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(current))
                return ([] if len(args) == 1 and not args[0].strip() else args), position
        elif token == "," and depth == 1:
            args.append("".join(current))
            current = []
            continue
        current.append(token)
    raise SpecError(f"Unbalanced parentheses in `{text.strip()}`.")


def _expand(text: str, macros: dict[str, _Macro], owner: str, file_name: str, stack: tuple[str, ...]) -> str:
    """`text` with every macro call replaced by the macro's equation of its arguments, in parentheses."""
    if not macros:
        return text
    out: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match is not None
        token, position = match.group(0), match.end()
        call = re.match(r"\s*\(", text[position:])
        key = _key(token) if match.lastgroup == "name" and len(_split(token)) == 1 else ""
        if key not in macros or call is None:
            out.append(token)
            continue
        macro = macros[key]
        if key in stack:
            raise UnsupportedError(f"Macro `{macro.name}` in `{file_name}` calls itself (through "
                                   f"{' -> '.join(f'`{macros[k].name}`' for k in stack + (key,))}); sdflow does "
                                   "not expand recursive macros.")
        args, position = _arguments(text, position + call.end() - 1)
        args = [_expand(a, macros, owner, file_name, stack) for a in args]
        missing = macro.defaults[len(args):]
        if len(args) > len(macro.params) or any(d is None for d in missing):
            raise SpecError(f"`{owner}` calls macro `{macro.name}` with {len(args)} argument(s); it takes "
                            f"{len(macro.params)} ({', '.join(macro.params)}).")
        values = {_key(p): a for p, a in zip(macro.params, args + [d for d in missing if d is not None])}
        out.append("(" + _substitute(_expand(macro.body, macros, owner, file_name, stack + (key,)), macro, values,
                                     file_name) + ")")
    return "".join(out)


def _substitute(body: str, macro: _Macro, values: dict[str, str], file_name: str) -> str:
    out: list[str] = []
    for match in _TOKEN.finditer(body):
        token = match.group(0)
        if match.lastgroup == "name":
            key = _key(token) if len(_split(token)) == 1 else ""
            called = re.match(r"\s*\(", body[match.end():]) is not None
            if key in values:
                token = "(" + values[key] + ")"
            elif not called and key not in _MACRO_NAMES:
                raise SpecError(f"Macro `{macro.name}` in `{file_name}` reads `{token.strip()}`, which is not one "
                                f"of its parameters ({', '.join(macro.params)}); a macro sees only its parameters.")
        out.append(token)
    return "".join(out)


def xmile_file(path: Path, text: bytes) -> Any:
    """PySD's ``XmileFile`` reading the document `text` in place of the file at `path`.

    The document has passed the defusedxml check (or was written by ElementTree from a tree
    that did), so it holds no DTD or entities; lxml parses it without resolving any and
    without network access.
    """
    from lxml import etree
    from pysd.translators.xmile.xmile_file import XmileFile

    class _PreparedXmileFile(XmileFile):  # type: ignore[misc]
        def _get_root(self) -> Any:
            parser = etree.XMLParser(encoding="utf-8", recover=True, resolve_entities=False, no_network=True)
            return etree.fromstring(text, parser=parser)

    return _PreparedXmileFile(path)
