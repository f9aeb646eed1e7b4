"""Vensim macros, expanded at each call.

A call ``MACRO(a, b)`` copies the macro's variables into the model as internal variables
named after the call (``_MACRO 1 in caller: x``), with the macro's parameters bound to the
call's arguments; the call reads the copy of the variable named after the macro. An
apply-to-all call (``out[r] = MACRO(inp[r], k)``) makes one instance per element: the
copies take the dimensions the arguments vary over.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ...errors import SpecError, UnsupportedError
from ...expr import Expr, Ref, canonical, walk
from .context import read_element
from .variables import to_variables

if TYPE_CHECKING:
    from .converter import Converter

__all__ = ["expand_macro"]


def expand_macro(conv: Converter, key: str, args: list[Expr]) -> Expr:
    """Copy macro `key`'s variables into the model for one call with `args`; the call becomes
    a reference to its output variable."""
    macro = conv.ctx.macros[key]
    if macro.returns:
        raise UnsupportedError(
            f"`{conv.current}` calls macro `{macro.name}`, which has extra outputs "
            f"({', '.join(macro.returns)}); sdflow expands macros with one output only."
        )
    if len(args) != len(macro.params):
        raise SpecError(
            f"`{conv.current}` calls macro `{macro.name}` with {len(args)} argument(s); it takes "
            f"{len(macro.params)} ({', '.join(macro.params)})."
        )
    if key in conv.expanding:
        raise UnsupportedError(f"Macro `{macro.name}` calls itself; sdflow cannot expand recursive macros.")
    count = conv.macro_calls[key] = conv.macro_calls.get(key, 0) + 1
    caller = conv.current
    ctx = conv.ctx
    # The macro's variables take the dimensions its arguments vary over.
    display = {d.canonical: d.name for d in ctx.subscripts.dimensions}
    over: list[str] = []
    for arg in args:
        for node in walk(arg):
            if isinstance(node, Ref):
                for sub in node.subscripts:
                    dim = _in_context(conv, canonical(sub))
                    if dim in display and dim not in over:
                        over.append(dim)
    prefix = f"_{macro.name} {count} in {caller}"
    scope: dict[str, Expr] = {canonical(p): a for p, a in zip(macro.params, args)}
    names = {canonical(e.name): f"{prefix}: {e.name}" for e in macro.elements}
    scope.update({k: Ref(canonical(v)) for k, v in names.items()})
    outer, outer_context, outer_block = conv.scope, conv.context, conv.block
    conv.scope, conv.context = scope, ()
    conv.expanding.append(key)
    try:
        for element in macro.elements:
            el = read_element(element, ctx.source, ctx.subscripts, ctx.external, macro=key)
            if any(subs for subs, _ in el.pieces):
                raise UnsupportedError(f"Macro `{macro.name}` has subscripted variables; sdflow expands "
                                       "macros without subscripts only.")
            dims = tuple(display[d] for d in over)
            el = dataclasses.replace(el, name=names[canonical(element.name)], dims=dims,
                                     source=f"{ctx.path.name}: macro `{macro.name}` called by `{caller}`",
                                     pieces=tuple((dims, ast) for _, ast in el.pieces) if over else el.pieces)
            conv.current = el.name
            for var in to_variables(conv, el):
                conv.variables.append(dataclasses.replace(var, internal=True, owner=macro.name))
    finally:
        conv.expanding.pop()
        conv.scope, conv.context, conv.current, conv.block = outer, outer_context, caller, outer_block
    if key not in names:
        raise SpecError(f"Macro `{macro.name}` has no variable named after it to give its output.")
    return Ref(canonical(names[key]), tuple(display[d] for d in over))


def _in_context(conv: Converter, dim: str) -> str:
    """The caller's dimension that subscript `dim` of a macro argument stands for: `dim` itself,
    or the range of the caller's equation that `dim` is mapped onto (``CLIP(x["N-1"], x[N])`` in
    an equation over ``N``, with ``"N-1" -> N``, is one call per element of ``N``, as Vensim
    reads the mapped range in place of the equation's own)."""
    ranges = conv.ctx.subscripts.elements
    # The ranges of the block being converted (``CX[N]`` of a `CX` over `PM`), then the equation's.
    context = [canonical(s) for s in conv.block if canonical(s) in ranges] + list(conv.context)
    if dim in context:
        return dim
    mapped = list(dict.fromkeys(c for c in context if c in conv.ctx.subscripts.mapped.get(dim, frozenset())))
    return mapped[0] if len(mapped) == 1 else dim
