"""Each element of the file as spec variables: stocks and their flows, constants, lookups,
and equations given block by block.

:func:`to_variables` converts one element with the expression converter. A stock's net
flow is split into its inflows and outflows where they are the file's own flows; what is
left becomes an internal flow. An arrayed variable whose blocks have their own equations
becomes one ``_pieces(...)`` equation (:func:`piecewise`), each block read in its own
subscripts (Vensim's rules: :meth:`~sd_engine.io.convert.subscripts.Subscripts.swaps`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import SpecError, UnsupportedError
from ...expr import Binary, Call, Expr, Num, Ref, Str, Unary, canonical, walk
from ...spec import Variable
from .data import ExternalTables
from .elements import Element, terms
from .expressions import ExpressionConverter
from .subscripts import substitute

__all__ = ["to_variables", "piecewise", "mark_flows", "split_shared_outflows", "check_undefined_reads"]


def to_variables(conv: ExpressionConverter, el: Element) -> list[Variable]:
    """The spec variables of element `el` (a stock may bring an internal net flow; a subscripted
    lookup is one internal lookup per element)."""
    subscripts = conv.ctx.subscripts
    common: dict[str, Any] = dict(units=el.units, doc=el.doc, dims=el.dims, source=el.source)
    if el.kind != "lookup" and subscripts.holes(el):
        common["undefined"] = tuple(", ".join(h) for h in subscripts.holes(el))
    if el.kind == "lookup":
        for _, ast in el.pieces:
            if type(ast).__name__ != "LookupsStructure" and not isinstance(ast, ExternalTables):
                raise UnsupportedError(f"Lookup `{el.name}` has a definition that is not a table of points.")
        if not el.dims:
            return [Variable(el.name, "lookup", lookup=conv.lookup_table(el.pieces[0][1], ()), **common)]
        # A subscripted lookup: one table per element, each its own internal lookup.
        tables = []
        for subs, ast in el.pieces:
            for combo in itertools.product(*(subscripts.expand(sub, conv.current) for sub in subs)):
                name = f"{el.name}[{', '.join(combo)}]"
                tables.append(Variable(name, "lookup", lookup=conv.lookup_table(ast, combo), units=el.units,
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
        return _stock(conv, el, common)
    if any(type(a).__name__ == "CallStructure" and a.function.reference == "sinteg" for a in asts):
        return _sinteg(conv, el, common)
    if len(asts) == 1 and type(asts[0]).__name__ == "CallStructure" \
            and asts[0].function.reference == "active_initial":
        conv.current = el.name
        args = asts[0].arguments
        conv.block = el.pieces[0][0]  # a subscripted lookup call inside reads over the block
        equation = piecewise(conv, el, [(el.pieces[0][0], conv.expr(args[0]))])
        init = piecewise(conv, el, [(el.pieces[0][0], conv.expr(args[1]))])
        conv.block = ()
        return [Variable(el.name, "aux", equation, init_equation=init, **common)]
    # Constants: numbers and arrays of numbers for every block.
    values = subscripts.constant_values(el)
    if values is not None:
        if not el.dims:
            return [Variable(el.name, "constant", Num(float(values)), **common)]
        return [Variable(el.name, "constant", values=tuple(float(v) for v in values.ravel()), **common)]
    converted = []
    for subs, ast in _split_arrays(conv, el):
        conv.block = subs  # what a subscripted lookup call inside is evaluated over
        converted.append((subs, conv.expr(ast)))
    conv.block = ()
    equation = piecewise(conv, el, converted)
    return [Variable(el.name, "constant" if isinstance(equation, Num) else "aux", equation, **common)]


def _split_arrays(conv: ExpressionConverter, el: Element) -> list[tuple[tuple[str, ...], Any]]:
    """Blocks given as arrays of numbers, split into one block per element, so they can sit
    beside blocks defined by equations."""
    elements = conv.ctx.subscripts.elements
    out: list[tuple[tuple[str, ...], Any]] = []
    for subs, ast in el.pieces:
        if isinstance(ast, ExternalTables) and len(ast.tables) > 1:
            # Series read from a file: one block per element, each reading its own table.
            out.extend((combo, ExternalTables(((combo, table),), ast.mode, ast.source)) for combo, table in ast.tables)
            continue
        if not isinstance(ast, np.ndarray):
            out.append((subs, ast))
            continue
        ranges = [i for i, sub in enumerate(subs) if canonical(sub) in elements]
        values = np.asarray(ast, dtype=float)
        sizes = [len(elements[canonical(subs[i])]) for i in ranges]
        if values.size != math.prod(sizes):
            raise SpecError(f"`{el.name}`{list(subs)} has {values.size} values for {math.prod(sizes)} elements.")
        values = values.reshape(sizes)
        for combo in itertools.product(*(range(k) for k in sizes)):
            block = list(subs)
            for i, k in zip(ranges, combo):
                block[i] = elements[canonical(subs[i])][k]
            out.append((tuple(block), float(values[combo])))
    return out


def piecewise(conv: ExpressionConverter, el: Element, pieces: list[tuple[tuple[str, ...], Expr]]) -> Expr:
    """One equation, or ``_pieces(_at(...), eq, ...)`` when blocks have their own equations."""
    if not el.dims:
        return pieces[0][1]
    if len(pieces) == 1 and [canonical(s) for s in pieces[0][0]] == [canonical(d) for d in el.dims]:
        return _contextualize(conv, pieces[0][1], pieces[0][0])
    args: list[Expr] = []
    for subs, expr in pieces:
        args += [Call("_at", tuple(Str(s) for s in subs)), _contextualize(conv, expr, subs)]
    for hole in conv.ctx.subscripts.holes(el):
        # No value in Vensim: NaN, so whatever reads it shows it (listed in `undefined`).
        args += [Call("_at", tuple(Str(s) for s in hole)), Num(math.nan)]
    return Call("_pieces", tuple(args))


def _contextualize(conv: ExpressionConverter, expr: Expr, labels: Sequence[str]) -> Expr:
    """Read each subscript of `expr` in the block `labels`, as Vensim does."""
    swap, remapped = conv.ctx.subscripts.swaps(expr, labels)
    if not remapped:
        return substitute(expr, swap)
    return _remap(conv, expr, swap, remapped)


def _remap(conv: ExpressionConverter, expr: Expr, swap: dict[str, str], remapped: dict[str, str]) -> Expr:
    """Swap subscripts; where a mapped subrange reads a variable over its parent range, read
    through an auxiliary that lays those elements out along the mapped-to range."""
    if isinstance(expr, Ref):
        target = conv.ctx.elements.get(expr.name)
        subs = tuple(swap.get(canonical(s), s) for s in expr.subscripts)
        if target is not None and len(target.dims) == len(expr.subscripts):
            for i, sub in enumerate(expr.subscripts):
                key = canonical(sub)
                element_mapped = canonical(remapped.get(key, "")) in conv.ctx.subscripts.element_maps.get(key, {})
                if key in remapped and (canonical(target.dims[i]) != key or element_mapped):
                    return Ref(_mapped_view(conv, target, i, sub, remapped[key]), subs)
        return Ref(expr.name, subs)
    if isinstance(expr, Unary):
        return Unary(expr.op, _remap(conv, expr.operand, swap, remapped))
    if isinstance(expr, Binary):
        return Binary(expr.op, _remap(conv, expr.left, swap, remapped), _remap(conv, expr.right, swap, remapped))
    if isinstance(expr, Call):
        return Call(expr.func, tuple(_remap(conv, a, swap, remapped) for a in expr.args))
    return expr


def _mapped_view(conv: ExpressionConverter, target: Element, position: int, source: str, dest: str) -> str:
    """An internal auxiliary: `target` with the elements of subrange `source` at `position`
    laid out, one by one, along range `dest` (Vensim's ``source: ... -> dest``), or as a mapping
    element by element lists them (``source: ... -> (dest: ...)``)."""
    name = f"_{target.name} from {source} as {dest}"
    key = canonical(name)
    if key not in conv.views:
        subscripts = conv.ctx.subscripts
        elements = subscripts.elements
        sources, dests = elements[canonical(source)], elements[canonical(dest)]
        if canonical(dest) in subscripts.element_maps.get(canonical(source), {}):
            sources = tuple(subscripts.element_source(source, d) or "" for d in dests)
        if len(sources) != len(dests):
            raise UnsupportedError(
                f"`{conv.current}` maps `{source}` onto `{dest}`, which have different numbers of elements."
            )
        dims = tuple(dest if k == position else d for k, d in enumerate(target.dims))
        args: list[Expr] = []
        for s_el, d_el in zip(sources, dests):
            args.append(Call("_at", tuple(Str(d_el if k == position else d) for k, d in enumerate(target.dims))))
            args.append(Ref(target.key, tuple(s_el if k == position else d for k, d in enumerate(target.dims))))
        conv.views[key] = Variable(name, "aux", Call("_pieces", tuple(args)), dims=dims, internal=True,
                                   source=f"`{source}` read as `{dest}` in {conv.ctx.path.name}", owner=source)
    return key


def _stock(conv: ExpressionConverter, el: Element, common: dict[str, Any]) -> list[Variable]:
    flows = [(subs, conv.expr(a.flow)) for subs, a in el.pieces]
    inits = [(subs, conv.expr(a.initial)) for subs, a in el.pieces]
    non_negative = any(bool(getattr(a, "non_negative", False)) for _, a in el.pieces)
    init = piecewise(conv, el, inits)
    flow = piecewise(conv, el, flows)
    inflows: list[str] = []
    outflows: list[str] = []
    rest: list[tuple[str, Expr]] = []
    for sign, term in terms(flow):
        if isinstance(term, Ref) and _can_be_flow(conv, term, el):
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
                              source=f"the rate of stock `{el.name}` in {conv.ctx.path.name}", owner=el.name))
        inflows.append(canonical(name))
    stock = Variable(el.name, "stock", init, inflows=tuple(inflows), outflows=tuple(outflows),
                     non_negative=non_negative, **common)
    return [stock, *extra]


def _sinteg(conv: ExpressionConverter, el: Element, common: dict[str, Any]) -> list[Variable]:
    """SINTEG(rate, initial, min, max, quant, spec, thresh): Vensim's reference defines it as the
    integral of `rate` that "will never go below min or above max" (a bound given as :NA: is
    none). With Euler, each step's value is ``clip(level + TIME STEP * rate, min, max)``, the
    start clipped too: a stock updated once a step, so the level itself is held at the bound
    (the reference calls SINTEG non-conservative). How the bounds act inside a Runge-Kutta step,
    and which multiple of `quant` a value rounds to, the reference does not say: refused."""
    conv.current = el.name
    where = conv.ctx.source.at(el.name, search=False)
    if conv.ctx.method != "euler":
        raise UnsupportedError(
            f"`{conv.ctx.path.name}`{where}: `{el.name}` calls SINTEG in a model run with {conv.ctx.method}; "
            "Vensim's reference does not say how its bounds act inside a Runge-Kutta step, so sdflow runs "
            "SINTEG with Euler only. Set the model's integration method to Euler, or write the stock with INTEG."
        )
    if len(el.pieces) != 1:
        raise UnsupportedError(f"`{conv.ctx.path.name}`{where}: `{el.name}` is defined by SINTEG block by block; "
                               "sdflow needs one SINTEG equation for the whole variable.")
    ast = el.pieces[0][1]
    args = list(ast.arguments)
    if len(args) != 7:
        raise SpecError(f"`{conv.ctx.path.name}`{where}: SINTEG in `{el.name}` takes seven arguments (rate, "
                        f"initial, min, max, quant, spec, thresh), not {len(args)}.")
    bounds = []
    for what, arg in zip(("min", "max", "quant", "spec", "thresh"), args[2:]):
        if not isinstance(arg, (int, float)):
            raise UnsupportedError(f"`{conv.ctx.path.name}`{where}: SINTEG's `{what}` in `{el.name}` must be a "
                                   "number or :NA:, as Vensim's reference requires.")
        bounds.append(None if math.isnan(arg) else float(arg))
    if any(b is not None for b in bounds[2:]):
        raise UnsupportedError(
            f"`{conv.ctx.path.name}`{where}: SINTEG in `{el.name}` gives `quant`, `spec` or `thresh`; Vensim's "
            "reference does not say how a value rounds to a multiple of quant or in which order these apply, "
            "so sdflow runs SINTEG with min and max only. Give those three as :NA:."
        )

    def clip(expr: Expr) -> Expr:
        if bounds[0] is not None:
            expr = Call("max", (expr, Num(bounds[0])))
        if bounds[1] is not None:
            expr = Call("min", (expr, Num(bounds[1])))
        return expr

    rate, initial = conv.expr(args[0]), conv.expr(args[1])
    name = f"{el.name} bounded step"
    step = Variable(name, "aux", clip(Binary("+", Ref(canonical(el.name)), Binary("*", Ref("time_step"), rate))),
                    dims=el.dims, internal=True, owner=el.name,
                    source=f"the level of SINTEG `{el.name}` after this step, in {conv.ctx.path.name}")
    stock = Variable(el.name, "stock", clip(initial), inflows=(canonical(name),), update="discrete", **common)
    return [stock, step]


def _can_be_flow(conv: ExpressionConverter, ref: Ref, stock: Element) -> bool:
    """Whether `ref`, a term of `stock`'s net flow, is one of the file's variables that can be
    the stock's own flow (an auxiliary over the stock's dimensions, not a constant or a state)."""
    target = conv.ctx.elements.get(ref.name)
    if target is None or target.kind != "aux":
        return False
    asts = [a for _, a in target.pieces]
    if any(isinstance(a, (int, float, np.ndarray)) for a in asts):
        return False
    if len(asts) == 1 and type(asts[0]).__name__ == "GameStructure" and isinstance(asts[0].expression, (int, float)):
        return False
    if any(type(a).__name__ == "IntegStructure" for a in asts):
        return False
    if len(asts) == 1 and type(asts[0]).__name__ == "CallStructure" \
            and asts[0].function.reference == "active_initial":
        return False
    if [canonical(d) for d in target.dims] != [canonical(d) for d in stock.dims]:
        return False
    return not ref.subscripts or [canonical(s) for s in ref.subscripts] == [canonical(d) for d in stock.dims]


def split_shared_outflows(variables: Sequence[Variable]) -> list[Variable]:
    """`variables` with a flow that drains several stocks, one of them non-negative, read by each
    of those stocks through an internal inflow ``-flow`` instead of as its outflow.

    Stella caps an outflow by what its one source stock holds (first listed, first served), and
    the flow reports the capped value. A flow listed as the outflow of two stocks (possible in
    hand-written XMILE, not in Stella) cannot be capped for one without changing the other, so
    it keeps its own value and each non-negative stock stops at zero instead: the rule of the
    SDXorg test-models ``tests/non_negative_all`` canonical output (``OutFlow`` 7 at t = 27 while
    the two stocks it drains hold 4 and empty, `TestStock3`, which may go negative, -1 at t = 12).
    """
    drained: dict[str, list[Variable]] = {}
    for v in variables:
        if v.kind == "stock":
            for f in v.outflows:
                drained.setdefault(f, []).append(v)
    shared = {f for f, stocks in drained.items() if len(stocks) > 1 and any(s.non_negative for s in stocks)}
    if not shared:
        return list(variables)
    names = {v.canonical: v.name for v in variables}
    out: list[Variable] = []
    for v in variables:
        if v.kind != "stock" or not set(v.outflows) & shared:
            out.append(v)
            continue
        extra: list[Variable] = []
        for f in v.outflows:
            if f in shared:
                extra.append(Variable(f"{v.name} draining {names.get(f, f)}", "flow", Unary("-", Ref(f)),
                                      dims=v.dims, units="", internal=True, owner=v.name,
                                      source=f"outflow `{names.get(f, f)}` of stock `{v.name}`, shared with "
                                             "another stock"))
        out.append(dataclasses.replace(
            v, outflows=tuple(f for f in v.outflows if f not in shared),
            inflows=v.inflows + tuple(x.canonical for x in extra)))
        out.extend(extra)
    return out


def mark_flows(variables: Sequence[Variable]) -> list[Variable]:
    """`variables` with those listed as a stock's inflow or outflow made flows."""
    names = {f for v in variables if v.kind == "stock" for f in v.inflows + v.outflows}
    return [dataclasses.replace(v, kind="flow") if v.canonical in names and v.kind == "aux" else v for v in variables]


def check_undefined_reads(variables: Sequence[Variable]) -> None:
    """Refuse an equation that names an element its variable leaves undefined: Vensim has no
    value for it (and reports the equation), so no number may stand in for it."""
    holes = {v.canonical: {tuple(canonical(e) for e in h.split(", ")) for h in v.undefined}
             for v in variables if v.undefined}
    if not holes:
        return
    for var in variables:
        for expr in (var.equation, var.init_equation):
            for node in walk(expr) if expr is not None else ():
                if isinstance(node, Ref) and node.name in holes \
                        and tuple(canonical(s) for s in node.subscripts) in holes[node.name]:
                    target = next(v for v in variables if v.canonical == node.name)
                    raise SpecError(
                        f"`{var.name}` reads `{target.name}[{', '.join(node.subscripts)}]`, which the model "
                        f"does not define (`{target.name}` is defined on some elements only); define that "
                        "element or read a defined one."
                    )
