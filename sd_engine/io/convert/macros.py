"""Vensim macros, expanded at each call.

A call ``MACRO(a, b)`` copies the macro's variables into the model as internal variables
named after the call (``_MACRO 1 in caller: x``), with the macro's parameters bound to the
call's arguments; the call reads the copy of the variable named after the macro. An
apply-to-all call (``out[r] = MACRO(inp[r], k)``) makes one instance per element: the
copies take the dimensions the arguments vary over.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ...errors import SpecError, UnsupportedError
from ...expr import Expr, Ref, canonical, walk
from ...spec import Variable
from .context import read_element
from .variables import to_variables

if TYPE_CHECKING:
    from .converter import Converter

__all__ = ["expand_macro"]


def expand_macro(conv: Converter, key: str, args: list[Expr]) -> Expr:
    """Copy macro `key`'s variables into the model for one call with `args`; the call becomes
    a reference to its output variable."""
    macro = conv.ctx.macros[key]
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
    subs = tuple(display[d] for d in over)
    if macro.returns:
        _bind_outputs(conv, macro, caller, names, subs)
    return Ref(canonical(names[key]), subs)


def _bind_outputs(conv: Converter, macro: Any, caller: str, names: dict[str, str], subs: tuple[str, ...]) -> None:
    """The extra outputs a call binds (``SPLIT(10, 0.3 : remainder)``) as model variables, each
    reading the copy of the macro's variable of that output (Vensim: "they generate model
    variables ... and can be used in equations"). A call that binds none adds none."""
    calls = conv.ctx.macro_outputs.get(canonical(caller), ())
    index = conv.output_calls.get(canonical(caller), 0)
    if index >= len(calls) or canonical(calls[index][0]) != canonical(macro.name):
        return
    conv.output_calls[canonical(caller)] = index + 1
    written, bound = calls[index]
    if len(bound) != len(macro.returns):
        raise SpecError(
            f"`{caller}` binds {len(bound)} output(s) of macro `{written}` after `:`; the macro has "
            f"{len(macro.returns)} ({', '.join(macro.returns)})."
        )
    for output, name in zip(macro.returns, bound):
        name = name.split("[", 1)[0].strip()  # `s[R]`: the output over the call's dimensions
        if canonical(output) not in names:
            raise SpecError(f"Macro `{macro.name}` lists output `{output}` but defines no variable of that name.")
        conv.variables.append(Variable(
            name, "aux", Ref(canonical(names[canonical(output)]), subs), dims=subs,
            doc=f"Output `{output}` of macro `{macro.name}` called by `{caller}`.",
            source=f"{conv.ctx.path.name}: `{caller}` calls macro `{macro.name}`"))


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
