"""Subscript ranges: the model's dimensions, what each subscript stands for, and the
dimensions of each variable.

:class:`Subscripts` is frozen: the ranges of the file, with the ranges a variable defined on
some elements only needs (:func:`element_dimensions`) added as new values. Vensim's rules:

* a subscript is a range (all its elements) or one element; ``:EXCEPT:`` removes elements;
* a range listed inside another range contributes its elements, ``B <-> A`` copies them, and
  ``B: b1, b2 -> A`` maps ``B`` onto ``A`` element by element;
* in a block equation, a range the block does not have stands for the block's subrange or
  element inside it, or for the range mapped onto it (:meth:`Subscripts.swaps`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import SpecError, UnsupportedError
from ...expr import Binary, Call, Expr, Ref, Unary, canonical, walk
from ...spec import Dimension, mapped_dimensions
from ..external import ExternalReader
from ..model_file import ModelFileError
from .elements import Element, SourceFile

__all__ = ["Subscripts", "read_dimensions", "element_mappings", "mapping_lines", "element_dimensions", "substitute", "bang_dims"]


@dataclass(frozen=True)
class Subscripts:
    """The subscript ranges of a model, and the lookups a conversion makes of them.

    Attributes
    ----------
    dimensions : tuple of Dimension
        The ranges, as the spec gets them.
    elements : mapping
        The elements (display names) of each range, by canonical range name.
    mapped : mapping
        The ranges each range is mapped onto or from (either way), by canonical name.
    ranges_of : mapping
        The ranges (display names) holding each element, by canonical element name.
    element_maps : mapping
        Vensim's mappings element by element (``B: b1, b2 -> (A: SubA, a3)``), which the spec's
        positional ``maps_to`` cannot hold: by canonical source range, then canonical
        destination range, the source element each destination element reads (``""`` where
        the mapping gives none or several).
    """

    dimensions: tuple[Dimension, ...]
    elements: Mapping[str, tuple[str, ...]]
    mapped: Mapping[str, frozenset[str]]
    ranges_of: Mapping[str, tuple[str, ...]]
    element_maps: Mapping[str, Mapping[str, tuple[str, ...]]] = dataclasses.field(default_factory=dict)
    #: Where each range mapped element by element is defined (" line N"), for messages.
    mapping_lines: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, dimensions: Sequence[Dimension],
           element_maps: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
           mapping_lines: Mapping[str, str] | None = None) -> Subscripts:
        """The subscripts of `dimensions`, with the mappings element by element `element_maps`
        (defined at `mapping_lines`)."""
        elements = {d.canonical: tuple(d.elements) for d in dimensions}
        ranges_of: dict[str, list[str]] = {}
        for d in dimensions:
            for e in d.elements:
                ranges_of.setdefault(canonical(e), []).append(d.name)
        return cls(tuple(dimensions), elements, mapped_dimensions(dimensions),
                   {k: tuple(v) for k, v in ranges_of.items()}, dict(element_maps or {}), dict(mapping_lines or {}))

    def with_dimension(self, dimension: Dimension) -> Subscripts:
        """These subscripts and one more range."""
        return Subscripts.of(self.dimensions + (dimension,), self.element_maps, self.mapping_lines)

    def _at(self, key: str) -> str:
        line = self.mapping_lines.get(key, "")
        return f" (defined at{line})" if line else ""

    def element_source(self, source: str, element: str) -> str | None:
        """The element of range `source` that Vensim reads for `element` of a range `source` maps
        onto element by element; None when `source` maps onto no range holding `element`.

        Raises
        ------
        UnsupportedError
            When the mapping gives `element` no source element, or several.
        """
        key, target = canonical(source), canonical(element)
        for dest, reads in self.element_maps.get(key, {}).items():
            names = [canonical(e) for e in self.elements[dest]]
            if target in names:
                found = reads[names.index(target)]
                shown = next((d.name for d in self.dimensions if d.canonical == dest), dest)
                if not found:
                    raise UnsupportedError(
                        f"Subscript range `{source}`{self._at(key)} maps onto `{element}` through none or several "
                        f"of its elements (`-> ({shown}: ...)`), so Vensim's reading of `{source}` there is not defined; "
                        "map exactly one element onto each element of the range."
                    )
                return found
        return None

    def expand(self, sub: str, owner: str) -> tuple[str, ...]:
        """The elements a subscript of `owner`'s equation stands for: a range's elements, or the
        element itself."""
        key = canonical(sub)
        if key in self.elements:
            return self.elements[key]
        if key in self.ranges_of:
            return (sub,)
        raise UnsupportedError(f"`{owner}` uses subscript `{sub}`, which no subscript range defines.")

    def except_blocks(self, subs: tuple[str, ...], excepts: list[tuple[str, ...]], owner: str) -> list[tuple[str, ...]]:
        """The element-by-element blocks of ``x[subs] :EXCEPT: excepts``."""
        excluded = set()
        for exc in excepts:
            for combo in itertools.product(*(self.expand(s, owner) for s in exc)):
                excluded.add(tuple(canonical(c) for c in combo))
        blocks = []
        for combo in itertools.product(*(self.expand(s, owner) for s in subs)):
            if tuple(canonical(c) for c in combo) not in excluded:
                blocks.append(tuple(combo))
        return blocks

    def block_index(self, el: Element, subs: tuple[str, ...]) -> list[list[int]]:
        """The positions, along each of `el`'s dimensions, of the elements of block `subs`."""
        index = []
        for dim, sub in zip(el.dims, subs):
            names = [canonical(e) for e in self.elements[canonical(dim)]]
            index.append([names.index(canonical(e)) for e in self.expand(sub, el.name)])
        return index

    def holes(self, el: Element) -> list[tuple[str, ...]]:
        """The elements of `el`'s dimensions that no block defines, in order.

        Vensim lets a variable be defined on some elements only; the others do not exist (its
        output lists only the defined ones). A range of exactly the defined elements covers the
        case of one subscript (:func:`element_dimensions`); what is left are holes in a product
        of ranges (``x[a1, b1]``, ``x[a2, b2]``), which sdflow holds as NaN and lists in the spec.
        """
        if not el.dims:
            return []
        defined = {tuple(canonical(e) for e in combo) for subs, _ in el.pieces
                   for combo in itertools.product(*(self.expand(s, el.name) for s in subs))}
        return [combo for combo in itertools.product(*(self.elements[canonical(d)] for d in el.dims))
                if tuple(canonical(e) for e in combo) not in defined]

    def constant_values(self, el: Element) -> np.ndarray | None:
        """A full array of numbers when every block of `el` is a number or an array of numbers,
        else None; elements no block defines stay NaN (:meth:`holes`), as Vensim has no value."""
        asts = [a for _, a in el.pieces]
        if not all(isinstance(a, (int, float, np.ndarray)) and not isinstance(a, bool) for a in asts):
            return None
        if not el.dims:
            return np.asarray(float(asts[0]))
        shape = tuple(len(self.elements[canonical(d)]) for d in el.dims)
        out = np.full(shape, np.nan)
        for subs, ast in el.pieces:
            index = self.block_index(el, subs)
            block_shape = tuple(len(i) for i in index)
            value = np.asarray(ast, dtype=float)
            squeezed = tuple(s for s, sub in zip(block_shape, subs) if canonical(sub) in self.elements)
            try:
                value = np.broadcast_to(value.reshape(squeezed) if value.size == math.prod(squeezed) else value,
                                        squeezed).reshape(block_shape)
            except ValueError:
                raise SpecError(
                    f"`{el.name}`{list(subs)} has {value.size} values for {math.prod(block_shape)} elements."
                ) from None
            out[np.ix_(*index)] = value
        return out

    def swaps(self, expr: Expr, labels: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
        """How each subscript of `expr` reads in the block `labels` (a dimension, subrange or
        element per position): the subscripts to replace, and those among them that a mapped
        range stands for (``source -> dest``), read through a view laid out along ``dest``."""
        keys = [canonical(label) for label in labels]
        swap: dict[str, str] = {}
        for node in walk(expr):
            if not isinstance(node, Ref):
                continue
            for sub in node.subscripts:
                key = canonical(sub)
                if key in keys or key.endswith("!") or key not in self.elements or key in swap:
                    continue
                members = {canonical(e) for e in self.elements[key]}
                for label, lkey in zip(labels, keys):
                    if lkey in self.elements:
                        fits = {canonical(e) for e in self.elements[lkey]} <= members \
                            or lkey in self.mapped.get(key, ()) or lkey in self.element_maps.get(key, {})
                    else:
                        fits = lkey in members
                        source = None if fits else self.element_source(key, label)
                        if source is not None:
                            # One element of a range `key` maps onto element by element: the
                            # element of `key` the mapping names for it.
                            swap[key] = source
                            break
                    if fits:
                        swap[key] = label
                        break
        remapped = {k: v for k, v in swap.items()
                    if canonical(v) in self.mapped.get(k, ()) or canonical(v) in self.element_maps.get(k, {})}
        return swap, remapped


def read_dimensions(ranges: Sequence[Any], source: SourceFile, external: ExternalReader) -> tuple[Dimension, ...]:
    """The subscript ranges of PySD's abstract section, as spec dimensions."""
    found: dict[str, Any] = {}
    for rng in ranges:
        first = found.setdefault(canonical(rng.name), rng)
        if first is not rng:
            lines = source.definition_lines.get(canonical(rng.name), [])
            where = f" at lines {', '.join(map(str, lines))}" if len(lines) > 1 else " twice"
            raise ModelFileError(f"`{source.path.name}` defines subscript range `{rng.name}`{where}; define it once.")
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
            return external.subscript(rng.name, str(subs["file"]), str(subs["tab"]), str(subs["firstcell"]),
                                      str(subs.get("lastcell") or ""), str(subs.get("prefix") or ""))
        result: list[str] = []
        for s in subs:
            # A range listed inside another range contributes its elements.
            result.extend(elements_of(canonical(s)) if canonical(s) in found and canonical(s) != key else [s])
        return tuple(result)

    element_mapped: dict[str, set[str]] = {}
    for key, rng in list(found.items()):
        listed = _element_mappings(rng.name, source) if rng.mapping and source.vensim else {}
        if listed and isinstance(rng.subscripts, list):
            # `B: b1, b2 -> (A: SubA, a3)` comes out of PySD's parser as B = b1, b2, SubA, a3: the
            # entries of the mappings follow B's own elements. Those mappings are not positional,
            # so they stay out of `maps_to` (:func:`element_mappings` reads them).
            count = len(rng.subscripts) - sum(len(entries) for entries in listed.values())
            found[key] = dataclasses.replace(rng, subscripts=list(rng.subscripts[:count]))
            element_mapped[key] = {canonical(d) for d in listed}
    for key, rng in found.items():
        maps = tuple(m if isinstance(m, str) else m[0] for m in (rng.mapping or []))
        maps = tuple(m for m in maps if canonical(m) not in element_mapped.get(key, set()))
        out.append(Dimension(rng.name, elements_of(key), maps_to=maps))
    return tuple(out)


#: One entry of a mapping list: ``(A: SubA, a3)`` or a range name.
_MAPPING_ENTRY = re.compile(r"\(\s*([^:()]+?)\s*:\s*([^()]*?)\s*\)|([^,()]+)")


def _element_mappings(name: str, source: SourceFile) -> dict[str, list[str]]:
    """The mappings element by element in the definition of range `name`, as written:
    destination range -> its entry for each element of `name`, in order."""
    spelled = r"[\s_]+".join(re.escape(w) for w in name.split())
    found = re.search(rf"(?:^|\|)\s*{spelled}\s*:[^~|]*?->([^~|]*)", source.text, flags=re.IGNORECASE | re.MULTILINE)
    if found is None:
        return {}
    out: dict[str, list[str]] = {}
    written = re.sub(r"\\[ \t]*\r?\n\s*", " ", found.group(1))  # Vensim's line continuations
    for entry in _MAPPING_ENTRY.finditer(written):
        if entry.group(1):
            out[entry.group(1).strip()] = [e.strip() for e in entry.group(2).split(",") if e.strip()]
    return out


def mapping_lines(ranges: Sequence[Any], source: SourceFile) -> dict[str, str]:
    """Where each range with a mapping is defined (canonical name -> " line N"), for messages."""
    return {canonical(r.name): source.at(r.name) for r in ranges if r.mapping} if source.vensim else {}


def element_mappings(ranges: Sequence[Any], source: SourceFile,
                     dimensions: Sequence[Dimension]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Vensim's mappings element by element of the ranges of PySD's abstract section, for
    :attr:`Subscripts.element_maps`: each entry is an element or a subrange of the destination.

    Raises
    ------
    UnsupportedError
        When a mapping lists a different number of entries than its range has elements, or an
        entry that is not an element or subrange of the destination range.
    """
    if not source.vensim:
        return {}
    elements = {d.canonical: d.elements for d in dimensions}
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for rng in ranges:
        if not rng.mapping:
            continue
        own = elements[canonical(rng.name)]
        line = source.at(rng.name)
        where = f" (defined at{line})" if line else ""
        for dest, entries in _element_mappings(rng.name, source).items():
            dest_elements = elements.get(canonical(dest))
            if dest_elements is None or len(entries) != len(own):
                raise UnsupportedError(
                    f"Subscript range `{rng.name}`{where} maps onto `{dest}` with {len(entries)} entries for its "
                    f"{len(own)} elements, or onto a range the file does not define; give one element or "
                    f"subrange of `{dest}` for each element of `{rng.name}`."
                )
            names = [canonical(e) for e in dest_elements]
            reads: list[list[str]] = [[] for _ in names]
            for element, entry in zip(own, entries):
                covered = elements.get(canonical(entry), (entry,))
                for target in covered:
                    if canonical(target) not in names:
                        raise UnsupportedError(
                            f"Subscript range `{rng.name}`{where} maps `{element}` onto `{entry}`, which is not an element "
                            f"or subrange of `{dest}`; name elements of `{dest}`."
                        )
                    reads[names.index(canonical(target))].append(element)
            out.setdefault(canonical(rng.name), {})[canonical(dest)] = tuple(
                r[0] if len(r) == 1 else "" for r in reads)
    return out


def element_dimensions(el: Element, subscripts: Subscripts) -> tuple[tuple[str, ...], Subscripts]:
    """The dimension at each subscript position of `el`: the range that covers every block
    there; with the subscripts, extended by the ranges this needs that the file lacks."""
    if not el.pieces:
        return (), subscripts
    n = len(el.pieces[0][0])
    if any(len(p[0]) != n for p in el.pieces):
        raise SpecError(f"`{el.name}` is defined with different numbers of subscripts in its equations.")
    dims = []
    for i in range(n):
        named = [p[0][i] for p in el.pieces if canonical(p[0][i]) in subscripts.elements]
        used = {canonical(e) for p in el.pieces for e in subscripts.expand(p[0][i], el.name)}
        covering = [d for d in subscripts.dimensions if used <= {canonical(e) for e in d.elements}]
        if not covering:
            raise UnsupportedError(f"The subscripts of `{el.name}` at position {i + 1} do not all belong to one range.")
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
        name = f"{smallest.name} of {el.name}"
        subscripts = subscripts.with_dimension(Dimension(name, tuple(e for e in smallest.elements
                                                                      if canonical(e) in used)))
        dims.append(name)
    for i, name in enumerate(dims):
        if name in dims[:i]:
            # The same range twice (x[Dims, Dims]): the second position gets a copy of it.
            copy = f"{name} ({i + 1})"
            if canonical(copy) not in subscripts.elements:
                subscripts = subscripts.with_dimension(
                    Dimension(copy, subscripts.elements[canonical(name)], maps_to=(name,)))
            dims[i] = copy
    return tuple(dims), subscripts


def substitute(expr: Expr, swap: dict[str, str]) -> Expr:
    """`expr` with subscripts naming a key of `swap` replaced by its value."""
    if not swap:
        return expr
    if isinstance(expr, Ref):
        return Ref(expr.name, tuple(swap.get(canonical(s), s) for s in expr.subscripts))
    if isinstance(expr, Unary):
        return Unary(expr.op, substitute(expr.operand, swap))
    if isinstance(expr, Binary):
        return Binary(expr.op, substitute(expr.left, swap), substitute(expr.right, swap))
    if isinstance(expr, Call):
        return Call(expr.func, tuple(substitute(a, swap) for a in expr.args))
    return expr


def bang_dims(expr: Expr) -> list[str]:
    """The ``dim!`` subscripts of `expr`, in order: the dimensions a vector function runs over."""
    out: list[str] = []
    for node in walk(expr):
        if isinstance(node, Ref):
            out += [canonical(s) for s in node.subscripts if s.endswith("!") and canonical(s) not in out]
    return out
