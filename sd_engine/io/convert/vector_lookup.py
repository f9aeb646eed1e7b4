"""Vensim VECTOR LOOKUP, written with the engine's own operators.

``VECTOR LOOKUP(vec[first], x, xmin, xmax, mode)`` (Vensim's reference) reads the y values of a
lookup from the elements of `vec`'s last subscript, its x values evenly spaced from `xmin` to
`xmax`; `mode` picks the lookup function: 0 LOOKUP (interpolate, ends held), 2 LOOKUP BACKWARD,
3 LOOKUP EXTRAPOLATE, 4 LOOKUP FORWARD. With ``u`` the position of `x` on the grid (0 at `xmin`,
``n`` at `xmax`, for ``n + 1`` points), interpolation is the sum of the y values weighted by hat
functions, ``sum(y[k] * max(0, 1 - |u - k|))``, exact on an even grid; so `vec` may change
during the run (a level, an auxiliary) as Vensim allows. Modes 1 and 5-9 (areas, inverse,
slopes) are refused by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import SpecError, UnsupportedError
from ...expr import Binary, Call, Expr, Num, Ref, canonical, to_text
from .start_values import start_value

if TYPE_CHECKING:
    from .expressions import ExpressionConverter

__all__ = ["vector_lookup", "MODES"]

#: The modes sdflow runs, with the lookup function each is the equivalent of.
MODES = {0: "LOOKUP", 2: "LOOKUP BACKWARD", 3: "LOOKUP EXTRAPOLATE", 4: "LOOKUP FORWARD"}


def vector_lookup(conv: ExpressionConverter, args: list[Expr]) -> Expr:
    """The equation of one VECTOR LOOKUP call with converted arguments `args`."""
    if len(args) != 5:
        raise SpecError(f"VECTOR LOOKUP in `{conv.current}` takes five arguments (vec, x, xmin, xmax, mode), "
                        f"not {len(args)}.")
    vec, x, xmin, xmax, mode = args
    ys = _vector(conv, vec)
    known = start_value(mode, conv.ctx.elements, conv.expr, controls={}, time=None, follow=False)
    if known is not None and known not in MODES:
        raise UnsupportedError(
            f"VECTOR LOOKUP in `{conv.current}` has mode {known:g}; sdflow runs modes "
            f"{', '.join(f'{k} ({v})' for k, v in MODES.items())}. Areas, inverses and slopes (1, 5-9) are not "
            "supported."
        )
    n = len(ys) - 1
    u = Binary("*", Binary("/", Binary("-", x, xmin), Binary("-", xmax, xmin)), Num(float(n)))
    held = Call("min", (Call("max", (u, Num(0.0))), Num(float(n))))

    def hats(at: Expr) -> Expr:
        terms: Expr = Num(0.0)
        for k, y in enumerate(ys):
            weight = Call("max", (Num(0.0), Binary("-", Num(1.0), Call("abs", (Binary("-", at, Num(float(k))),)))))
            terms = Binary("+", terms, Binary("*", y, weight))
        return terms

    def steps(forward: bool) -> Expr:
        # The y of the grid point at or before (backward) / at or after (forward) the held position.
        index = Call("integer", (held,))
        if forward:
            index = Call("if_then_else", (Binary("==", index, held), index, Binary("+", index, Num(1.0))))
        out: Expr = ys[-1]
        for k in range(n - 1, -1, -1):
            out = Call("if_then_else", (Binary("<=", index, Num(float(k))), ys[k], out))
        return out

    def extrapolated() -> Expr:
        below = Binary("+", ys[0], Binary("*", u, Binary("-", ys[1], ys[0])))
        above = Binary("+", ys[n], Binary("*", Binary("-", u, Num(float(n))), Binary("-", ys[n], ys[n - 1])))
        return Call("if_then_else", (Binary("<", u, Num(0.0)), below,
                                     Call("if_then_else", (Binary(">", u, Num(float(n))), above, hats(u)))))

    by_mode = {0: hats(held), 2: steps(False), 3: extrapolated(), 4: steps(True)}
    if isinstance(mode, Num):
        return by_mode[int(mode.value)]
    # A mode named by a constant may be set for a run like any constant: chosen at run time;
    # any mode but these gives NaN, which the run reports as not finite.
    out: Expr = Num(float("nan"))
    for k in sorted(by_mode, reverse=True):
        out = Call("if_then_else", (Binary("==", mode, Num(float(k))), by_mode[k], out))
    return out


def _vector(conv: ExpressionConverter, vec: Expr) -> list[Expr]:
    """The y values: `vec`'s elements along its last subscript, from the one the call names."""
    target = conv.ctx.elements.get(vec.name) if isinstance(vec, Ref) else None
    if not isinstance(vec, Ref) or target is None or not target.dims or len(vec.subscripts) != len(target.dims):
        raise SpecError(
            f"VECTOR LOOKUP in `{conv.current}` reads `{to_text(vec)}`; its first argument is the first element of "
            "a subscripted variable, as in `VECTOR LOOKUP(y[first], x, xmin, xmax, 0)`."
        )
    elements = conv.ctx.subscripts.elements[canonical(target.dims[-1])]
    names = [canonical(e) for e in elements]
    first = canonical(vec.subscripts[-1])
    if first not in names:
        raise UnsupportedError(
            f"VECTOR LOOKUP in `{conv.current}` reads `{to_text(vec)}`, whose last subscript is not one element of "
            f"`{target.dims[-1]}`; name the first element, as Vensim's reference asks."
        )
    ys = [Ref(vec.name, vec.subscripts[:-1] + (e,)) for e in elements[names.index(first):]]
    if len(ys) < 2:
        raise SpecError(f"VECTOR LOOKUP in `{conv.current}` reads fewer than two values from `{to_text(vec)}`.")
    return list(ys)
