"""XMILE graphical functions given per array element, read from the document itself.

Stella lets each element of an arrayed auxiliary or flow carry its own graphical function::

    <aux name="tables"><dimensions><dim name="D"/></dimensions>
        <element subscript="a"><eqn>x</eqn><gf><xpts>0,1</xpts><ypts>0,2</ypts></gf></element>
        ...
    </aux>

PySD's XMILE parser keeps each element's equation but drops its ``<gf>``. :func:`element_graphicals`
reads those tables from the element tree built by :func:`~sd_engine.io.xml_safety.parse_xmile`
(or the document :func:`~sd_engine.io.xmile_modules.prepare_xmile` writes), so the importer can
apply each element's own table to its own equation. The points are read as XMILE 1.0 (3.1.2)
defines them: listed ``<xpts>`` when given (they win over an ``<xscale>``, which is then only
the drawing's axis), else ``<xscale min max>`` spaced evenly over the ``<ypts>``; the ``type``
attribute chooses how the table is read between and beyond its points.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import numpy as np

from ..errors import SpecError, UnsupportedError
from ..expr import canonical
from ..spec import LookupMode, LookupTable

__all__ = ["element_graphicals", "with_element_equations", "GF_MODES"]

#: XMILE ``<gf type=...>`` -> the engine's lookup modes (PySD's reading of the same types).
GF_MODES: dict[str, LookupMode] = {"continuous": "interpolate", "extrapolate": "extrapolate", "discrete": "hold_backward"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _child(node: ET.Element, local: str) -> ET.Element | None:
    return next((c for c in node if _local(c.tag) == local), None)


def element_graphicals(root: ET.Element, file_name: str) -> dict[str, dict[tuple[str, ...], LookupTable]]:
    """The graphical functions given inside ``<element>`` blocks of arrayed variables.

    Parameters
    ----------
    root : xml.etree.ElementTree.Element
        The ``<xmile>`` element (namespaced or not; prefixes are ignored).
    file_name : str
        The file's name, for messages.

    Returns
    -------
    dict
        Canonical variable name -> {canonical element subscripts -> table}, for each
        ``<aux>`` or ``<flow>`` with at least one ``<element>`` holding a ``<gf>``.

    Raises
    ------
    UnsupportedError
        A graphical function ``type`` other than continuous, extrapolate or discrete.
    SpecError
        A table without points, with as many x as y values missing, or with numbers that
        cannot be read (the message names the variable and the element).

    Examples
    --------
    >>> doc = ET.fromstring(
    ...     '<xmile><model><variables><aux name="Shape"><dimensions><dim name="D"/></dimensions>'
    ...     '<element subscript="a"><eqn>t</eqn><gf type="discrete"><xpts>0,2</xpts><ypts>1,3</ypts></gf>'
    ...     '</element><element subscript="b"><eqn>t</eqn><gf><xscale min="0" max="1"/>'
    ...     '<ypts sep=";">0;4;8</ypts></gf></element></aux></variables></model></xmile>')
    >>> tables = element_graphicals(doc, "demo.xmile")["shape"]
    >>> tables[("a",)]
    LookupTable(xs=(0.0, 2.0), ys=(1.0, 3.0), mode='hold_backward')
    >>> tables[("b",)].xs
    (0.0, 0.5, 1.0)
    """
    found: dict[str, dict[tuple[str, ...], LookupTable]] = {}
    for node in root.iter():
        if _local(node.tag) not in ("aux", "flow") or not node.get("name"):
            continue
        name = " ".join(node.get("name", "").replace("\\n", " ").split())
        tables: dict[tuple[str, ...], LookupTable] = {}
        for element in node:
            gf = _child(element, "gf") if _local(element.tag) == "element" else None
            if gf is None:
                continue
            subscript = element.get("subscript", "")
            combo = tuple(canonical(s.strip()) for s in subscript.split(","))
            tables[combo] = _table(gf, f"`{name}`[{subscript}] in `{file_name}`")
        if tables:
            found[canonical(name)] = tables
    return found


def with_element_equations(root: ET.Element, file_name: str) -> ET.Element | None:
    """A copy of the document where each ``<element>`` without an ``<eqn>`` has its variable's.

    Stella writes an array whose elements differ only by their graphical function with one
    ``<eqn>`` for the whole variable and an ``<element>`` holding just the ``<gf>`` for each
    element; PySD's parser reads equations from the elements only.

    Parameters
    ----------
    root : xml.etree.ElementTree.Element
        The ``<xmile>`` element. Not modified.
    file_name : str
        The file's name, for messages.

    Returns
    -------
    xml.etree.ElementTree.Element or None
        The completed copy, or None when every element has its own equation.

    Raises
    ------
    SpecError
        An element with neither an equation of its own nor one of its variable.

    Examples
    --------
    >>> doc = ET.fromstring('<xmile><model><variables><aux name="v"><element subscript="a"><gf/>'
    ...                     '</element><eqn>TIME</eqn></aux></variables></model></xmile>')
    >>> filled = with_element_equations(doc, "demo.xmile")
    >>> [e.findtext("eqn") for e in filled.iter("element")]
    ['TIME']
    """
    def lacking(tree: ET.Element) -> list[tuple[ET.Element, ET.Element]]:
        return [(node, element) for node in tree.iter() if _local(node.tag) in ("aux", "flow")
                for element in node if _local(element.tag) == "element" and _child(element, "eqn") is None]

    if not lacking(root):
        return None
    root = copy.deepcopy(root)
    for node, element in lacking(root):
        equation = _child(node, "eqn")
        if equation is None:
            raise SpecError(
                f"`{node.get('name')}`[{element.get('subscript', '')}] in `{file_name}` has no equation, and its "
                "variable has none for all its elements; give the element or the variable an <eqn>."
            )
        element.insert(0, copy.deepcopy(equation))
    return root


def _numbers(node: ET.Element, where: str) -> np.ndarray:
    sep = node.get("sep") or ","
    text = (node.text or "").strip()
    try:
        return np.array([float(v) for v in text.split(sep) if v.strip()], dtype=float)
    except ValueError:
        raise SpecError(f"The graphical function of {where} has a value that is not a number in "
                        f"<{_local(node.tag)}>: `{text}`.") from None


def _table(gf: ET.Element, where: str) -> LookupTable:
    kind = (gf.get("type") or "continuous").strip().lower()
    if kind not in GF_MODES:
        raise UnsupportedError(
            f"The graphical function of {where} is of type `{kind}`, which sdflow does not read; use "
            "continuous, extrapolate or discrete."
        )
    ypts = _child(gf, "ypts")
    if ypts is None:
        raise SpecError(f"The graphical function of {where} has no <ypts>.")
    ys = _numbers(ypts, where)
    xpts, xscale = _child(gf, "xpts"), _child(gf, "xscale")
    if xpts is not None:  # listed points win over the scale, which is then the drawing's axis
        xs = _numbers(xpts, where)
    elif xscale is not None:
        try:
            xs = np.linspace(float(xscale.get("min", "")), float(xscale.get("max", "")), len(ys))
        except ValueError:
            raise SpecError(f"The graphical function of {where} needs numbers for <xscale min max>.") from None
    else:
        raise SpecError(f"The graphical function of {where} has neither <xpts> nor <xscale>.")
    if len(xs) != len(ys) or not len(ys):
        raise SpecError(f"The graphical function of {where} has {len(xs)} x values for {len(ys)} y values.")
    order = np.argsort(xs, kind="stable")
    return LookupTable(tuple(xs[order].tolist()), tuple(ys[order].tolist()), GF_MODES[kind])
