"""XMILE files are untrusted input: check them with defusedxml before any other parser.

PySD parses XMILE with lxml, which expands internal entities and may resolve external
ones. :func:`check_xmile` reads the file first with :mod:`defusedxml`, which refuses
entity declarations ("billion laughs"), external entities and DTD tricks as soon as it
meets them, and reports a malformed file with its line, column and the element that was
open. It also reads what PySD's abstract model leaves out (the integration method) and
refuses the Stella constructs sdflow cannot run faithfully (conveyors, queues, ovens).

While reading, every name (of a stock, flow, aux, graphical function, module, model,
dimension or element) is checked for control and invisible characters, and a name
defined twice among the variables of one model is refused, both with the line in the file.
"""

from __future__ import annotations

import math

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler

import defusedxml
import defusedxml.sax

from ..errors import UnsupportedError
from ..expr import canonical, forbidden_character
from .model_file import MissingModelFileError, ModelFileError, read_model_bytes

__all__ = ["ModelFileError", "MissingModelFileError", "XmileInfo", "check_xmile", "parse_xmile", "METHODS"]

#: XMILE ``sim_specs/@method`` values and the engine's methods.
METHODS = {"euler": "euler", "rk4": "rk4", "rk2": "rk2", "rk45": "rk45", "rk2 (heun)": "rk2"}


#: Elements whose `name` attribute names something of the model.
_NAMED = {"stock", "flow", "aux", "gf", "module", "model", "dim", "elem"}
#: Elements that define a variable when they are children of `<variables>`.
_VARIABLES = {"stock", "flow", "aux", "gf", "module"}


@dataclass(frozen=True)
class XmileInfo:
    """What sdflow reads from an XMILE file itself: the integration method, the variable
    names, and the checked element tree (so the importer does not parse the file again)."""

    method: str
    variables: tuple[str, ...]
    root: ET.Element = field(repr=False, compare=False)
    #: Stella's ``isee:save_interval`` on ``<sim_specs>``: how often results are saved (None: every dt).
    save_interval: float | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def check_xmile(path: str | Path, data: bytes | None = None) -> XmileInfo:
    """Check an XMILE file for safety and for constructs sdflow refuses; return its settings.

    Parameters
    ----------
    path : str or Path
        The file, named in messages (and read when `data` is not given).
    data : bytes, optional
        The file's bytes, already read safely
        (:func:`sd_engine.io.model_file.read_model_bytes`).

    Raises
    ------
    ModelFileError
        Entity declarations, external references, a malformed file, a name with a control
        character, a variable defined twice, or no complete ``<sim_specs>`` (the message
        names the file, the line and the element).
    UnsupportedError
        Conveyors, queues and ovens, or an integration method the engine lacks. (Modules
        and macros are expanded by :mod:`sd_engine.io.xmile_modules`.)

    Examples
    --------
    >>> import tempfile, os
    >>> bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aa">]><x>&a;</x>'
    >>> with tempfile.NamedTemporaryFile("w", suffix=".xmile", delete=False) as f:
    ...     _ = f.write(bomb)
    >>> try:
    ...     check_xmile(f.name)
    ... except ModelFileError as e:
    ...     print(str(e).split(";")[0])
    XMILE file `...` declares entity `a`
    >>> os.unlink(f.name)
    """
    path = Path(path)
    handler = _Handler(path.name)
    root = parse_xmile(path, data, handler=handler)
    _check_sim_specs(path, root, handler)
    method = "euler"
    names: list[str] = []
    parents = {child: node for node in root.iter() for child in node}
    for node in root.iter():
        tag = _local(node.tag)
        parent = _local(parents[node].tag) if node in parents else ""
        if tag in ("stock", "flow", "aux") and parent in ("variables", "model") and node.get("name"):
            names.append(node.get("name") or "")
        if tag == "module" and parent != "variables":
            continue  # display styles of module icons, not a module
        if tag in ("conveyor", "queue", "oven"):
            owner = _owner(root, node)
            raise UnsupportedError(
                f"`{owner}` in `{path.name}` is a Stella {tag}; sdflow does not simulate {tag}s and will not run "
                "it as a plain stock. Replace it with a stock and explicit delay flows."
            )
        if tag == "sim_specs" and node.get("method"):
            raw = (node.get("method") or "euler").strip().lower()
            if raw not in METHODS:
                raise UnsupportedError(
                    f"`{path.name}` asks for integration method `{node.get('method')}`; sdflow offers Euler, "
                    "RK2, RK4 and RK45."
                )
            method = METHODS[raw]
    return XmileInfo(method, tuple(names), root, _save_interval(path, root))


def _save_interval(path: Path, root: ET.Element) -> float | None:
    """Stella's save interval (``<sim_specs isee:save_interval="2">``), or None when not given."""
    for node in root.iter():
        if _local(node.tag) != "sim_specs":
            continue
        for key, value in node.attrib.items():
            if _local(key) == "save_interval":
                try:
                    number = float(value)
                except ValueError:
                    raise ModelFileError(
                        f"`{path.name}` gives save interval `{value[:40]}` in <sim_specs>, which is not a number; "
                        "write a positive number."
                    ) from None
                return number if math.isfinite(number) and number > 0 else None
    return None


def _check_sim_specs(path: Path, root: ET.Element, handler: _Handler) -> None:
    """PySD reads start, stop and dt from ``<sim_specs>``; refuse a file without them by name
    (a file cut short is malformed XML and is refused before)."""
    specs = [node for node in root.iter() if _local(node.tag) == "sim_specs"]
    if not specs:
        raise ModelFileError(f"XMILE file `{path.name}` has no <sim_specs> (start, stop and dt of the simulation); "
                             "add them or export the model again.")
    given = {_local(child.tag) for child in specs[0]}
    missing = [tag for tag in ("start", "stop", "dt") if tag not in given]
    if missing:
        raise ModelFileError(
            f"XMILE file `{path.name}` gives no <{missing[0]}> in its <sim_specs> at line "
            f"{handler.lines.get(id(specs[0]))}; add it (start, stop and dt are all needed)."
        )


def parse_xmile(path: str | Path, data: bytes | None = None, *, handler: _Handler | None = None) -> ET.Element:
    """Read an XMILE file safely into an element tree, tags and attributes as written.

    The tree is built from defusedxml's SAX events without namespace processing, so a
    prefixed tag stays ``isee:prefs`` and ``xmlns`` declarations stay attributes of their
    element: serialised again, the document keeps its namespaces.

    Raises
    ------
    ModelFileError
        Entity declarations, external references, a malformed file, XML that is not
        XMILE, a name with a control character or a variable defined twice (the message
        names the file, the line and the element).
    """
    path = Path(path)
    handler = handler or _Handler(path.name)
    if data is None:
        data = read_model_bytes(path)
    try:
        # SAX without namespace processing: Stella writes `isee:` attributes without declaring
        # the prefix, which a namespace-aware parser rejects but lxml (PySD) reads.
        defusedxml.sax.parse(io.BytesIO(data), handler, forbid_dtd=False, forbid_entities=True,
                             forbid_external=True)
    except defusedxml.EntitiesForbidden as exc:
        raise ModelFileError(
            f"XMILE file `{path.name}` declares entity `{exc.name}`; entity declarations are refused because they "
            "can expand without bound. Remove the DOCTYPE from the file."
        ) from None
    except (defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden) as exc:
        raise ModelFileError(
            f"XMILE file `{path.name}` refers to an external resource ({exc.sysid or exc.pubid}); external "
            "entities are refused. Remove the DOCTYPE from the file."
        ) from None
    except (LookupError, UnicodeError) as exc:
        raise ModelFileError(
            f"XMILE file `{path.name}` cannot be decoded ({exc}); its XML declaration (line 1) must name an encoding "
            "its bytes are in, such as UTF-8."
        ) from None
    except SAXParseException as exc:
        where = _describe(handler.stack[-1]) if handler.stack else "the start of the file"
        raise ModelFileError(
            f"XMILE file `{path.name}` is malformed at line {exc.getLineNumber()}, column "
            f"{(exc.getColumnNumber() or 0) + 1}, inside {where}: {exc.getMessage()}. Fix the XML there or export the "
            "model again."
        ) from None
    root = handler.root
    assert root is not None
    if _local(root.tag) != "xmile":
        raise ModelFileError(f"`{path.name}` is XML but not XMILE: its root element is <{_local(root.tag)}>.")
    return root


class _Handler(ContentHandler):
    """Builds a light element tree and keeps the open elements, to name where an error is;
    checks names as they come, with their line."""

    def __init__(self, filename: str = "") -> None:
        super().__init__()
        self.filename = filename
        self.stack: list[ET.Element] = []
        self.root: ET.Element | None = None
        self.lines: dict[int, int] = {}  # id(element) -> line of its start tag
        self.defined: dict[tuple[int, str], tuple[str, int]] = {}  # (id(<variables>), name) -> (name, line)
        self.locator: Any = None

    def setDocumentLocator(self, locator: Any) -> None:  # noqa: N802 -- SAX's name
        self.locator = locator

    def startElement(self, name: str, attrs: Any) -> None:  # noqa: N802 -- SAX's name
        node = ET.Element(name, {k: attrs[k] for k in attrs.getNames()})
        line = self.locator.getLineNumber() if self.locator is not None else 0
        self.lines[id(node)] = line
        tag = _local(name)
        label = node.get("name")
        if tag in _NAMED and label is not None:
            self.check_name(tag, label, line)
        if self.stack:
            self.stack[-1].append(node)
        else:
            self.root = node
        self.stack.append(node)

    def check_name(self, tag: str, label: str, line: int) -> None:
        bad = forbidden_character(label)
        if bad is not None:
            raise ModelFileError(
                f"XMILE file `{self.filename}` line {line}: the name {label!r} of a <{tag}> contains {bad}; names may "
                "not hold control or invisible characters. Remove it from the name."
            )
        parent = self.stack[-1] if self.stack else None
        if tag in _VARIABLES and parent is not None and _local(parent.tag) == "variables":
            key = (id(parent), canonical(label))
            first = self.defined.get(key)
            self.defined.setdefault(key, (label, line))
            if first is not None:
                raise ModelFileError(
                    f"XMILE file `{self.filename}` defines `{label}` twice, at lines {first[1]} and {line}"
                    + (f" (as `{first[0]}`)" if first[0] != label else "")
                    + "; names ignore case, spaces and underscores. Remove or rename one definition."
                )

    def endElement(self, name: str) -> None:  # noqa: N802 -- SAX's name
        self.stack.pop()

    def characters(self, content: str) -> None:
        # Text after a child element is that child's tail, as in ElementTree.
        if not self.stack:
            return
        node = self.stack[-1]
        if len(node):
            node[-1].tail = (node[-1].tail or "") + content
        else:
            node.text = (node.text or "") + content


def _describe(node: ET.Element) -> str:
    name = node.get("name")
    return f"<{_local(node.tag)} name=\"{name}\">" if name else f"<{_local(node.tag)}>"


def _owner(root: ET.Element, target: ET.Element) -> str:
    for node in root.iter():
        if target in list(node):
            return node.get("name") or _local(node.tag)
    return _local(target.tag)
