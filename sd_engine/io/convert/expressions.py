"""The visitor of PySD's abstract expression trees: each node to sdflow's expression tree.

:meth:`ExpressionConverter.expr` dispatches on the node's class (``ArithmeticStructure`` to
the method ``ast_ArithmeticStructure`` ...). Function calls go through one
table, :data:`CALLS`: PySD's name of the function -> how to write it with the engine's
builtins. Calls that name something of the model instead -- a lookup, an XMILE graphical
function, a Vensim macro, a range (ELMCOUNT) -- are handled before the table.

A construct with no faithful equivalent is refused with
:class:`~sd_engine.errors.UnsupportedError` naming the variable (:attr:`~ExpressionConverter.current`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import SpecError, UnsupportedError
from ...expr import Binary, Call, Expr, Num, Ref, Str, Table, Unary, canonical, chain, walk
from ...spec import LookupTable, TimeSettings, Variable
from ..external import VENSIM_NA
from .context import ModelContext
from .data import ExternalTables
from .elements import Element, GraphicalElement, describe, negate, points_table
from .start_values import start_value
from .subscripts import bang_dims, substitute
from .vector_lookup import vector_lookup

__all__ = ["ExpressionConverter", "CALLS"]

#: A negative number followed by `^`, possibly in brackets: `-2^x` or `(-2)^x`.
_NEGATIVE_BASE = re.compile(r"(\(\s*)?-\s*(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)\s*(\))?\s*\^")


class ExpressionConverter(ABC):
    """Converts the equations of one model, node by node; keeps what a conversion makes.

    Besides the tree of each equation, converting makes internal variables that equations
    read (:attr:`views`: mapped subranges laid out along a range, subscripted lookups read
    element by element, data series, graphical functions that do not interpolate) and the
    position variables of ranges read as numbers (:attr:`positions`). The concrete converter
    (:class:`sd_engine.io.convert.converter.Converter`) expands Vensim macros.
    """

    def __init__(self, ctx: ModelContext) -> None:
        self.ctx = ctx
        #: The time settings, once read (the order of DELAY N is read at the initial time).
        self.time: TimeSettings | None = None
        self.views: dict[str, Variable] = {}
        self.positions: dict[str, str] = {}  # ranges read as numbers -> their position variable
        self.lookup_calls = 0  # numbers the internal variables of lookup reads
        self.current = ""  # the element being converted, for messages
        self.block: tuple[str, ...] = ()  # the block a subscripted lookup call is evaluated over
        self.context: tuple[str, ...] = ()  # the dimensions (canonical) of the equation being converted
        self.scope: dict[str, Expr] = {}  # inside a macro: its parameters and variables, by canonical name

    @abstractmethod
    def expand_macro(self, key: str, args: list[Expr]) -> Expr:
        """The output of a call of macro `key` with `args`, its variables copied into the model."""

    # -- dispatch ----------------------------------------------------------------------------------
    def expr(self, node: Any) -> Expr:
        """The expression tree of PySD's `node` (a structure, a number or a string)."""
        kind = type(node).__name__
        if isinstance(node, bool):
            return Num(float(node))
        if isinstance(node, (int, float, np.integer, np.floating)):
            if math.isnan(node) and self.ctx.source.vensim:
                # PySD reads Vensim's :NA: as NaN; Vensim's :NA: is a number that equals itself,
                # so `x = :NA:` tests for data a data variable does not have (SDEverywhere's sumif).
                return Num(VENSIM_NA)
            return Num(float(node))
        if isinstance(node, np.ndarray):
            raise UnsupportedError(f"`{self.current}` uses an array of numbers inside an equation.")
        if isinstance(node, str):
            return self.string(node)
        method = getattr(self, "ast_" + kind, None)
        if method is None:
            raise UnsupportedError(f"`{self.current}` uses {describe(kind)}, which sdflow does not support.")
        result: Expr = method(node)
        return result

    def string(self, text: str) -> Expr:
        low = text.strip().lower()
        if low in ("inf", "+inf", "np.inf"):
            return Num(math.inf)
        if low in ("-inf", "-np.inf"):
            return Num(-math.inf)
        if low in ("nan", "np.nan", ":na:", "na"):
            return Num(VENSIM_NA)  # Vensim's :NA: is the number -1e38
        try:
            return Num(float(text))
        except ValueError:
            raise UnsupportedError(f"`{self.current}` has a text value `{text}` where a number is expected.") \
                from None

    # -- operators ---------------------------------------------------------------------------------
    def ast_ArithmeticStructure(self, node: Any) -> Expr:
        args = [self.expr(a) for a in node.arguments]
        ops = list(node.operators)
        if ops == ["negative"]:
            return negate(args[0])
        if ops and all(op == "^" for op in ops):
            # A chain of powers as PySD's own code generator reads it (Python's right-to-left **).
            # PySD folds the minus of `-2^2` into the number, so a negative number as a base is
            # either written `(-2)^2` or a minus over the power, `-(2^2)`, which Vensim and Stella
            # both give (-4; SDXorg test-models `tests/exponentiation`): the file's text tells.
            negated = [isinstance(a, Num) and a.value < 0 and isinstance(raw, (int, float))
                       and not _odd_power(args[i:], ops[i:]) and self.minus_over_power(a.value)
                       for i, (a, raw) in enumerate(zip(args[:-1], node.arguments[:-1]))]
            result = args[-1]
            for arg, minus in zip(reversed(args[:-1]), reversed(negated)):
                if minus:
                    assert isinstance(arg, Num)
                    result = Unary("-", Binary("**", Num(-arg.value), result))
                else:
                    result = Binary("**", arg, result)
            return result
        for base in (args[i] for i, op in enumerate(ops) if op == "^"):
            if isinstance(base, Num) and base.value < 0:
                raise UnsupportedError(
                    f"`{self.current}` raises the negative number {base.value:g} to a power; PySD's parser "
                    f"cannot tell `-{-base.value:g}^x` from `(-{-base.value:g})^x`. Write `-({-base.value:g}^x)` "
                    "or `(0 - " f"{-base.value:g})^x`."
                )
        # Left to right as written; a long sum is grouped so that its tree stays shallow.
        return chain(args[0], [({"^": "**"}.get(op, op), arg) for op, arg in zip(ops, args[1:])])

    def minus_over_power(self, value: float) -> bool:
        """Whether the negative base `value` in the current equation is written `-n^x` (a minus
        over the power) rather than `(-n)^x`, from the equation's text in the model file."""
        text = self.ctx.source.equation_texts.get(canonical(self.current), "")
        forms = set()
        for found in _NEGATIVE_BASE.finditer(text):
            try:
                number = float(found.group(2))
            except ValueError:
                continue
            if number == -value:
                forms.add("literal" if found.group(1) and found.group(3) else "minus")
        if len(forms) != 1:
            raise UnsupportedError(
                f"`{self.current}` raises the negative number {value:g} to a power and sdflow cannot find in "
                f"the file whether it is written `-{-value:g}^x` or `(-{-value:g})^x`. Write `-({-value:g}^x)` "
                f"or `(0 - {-value:g})^x`."
            )
        return forms == {"minus"}

    def ast_LogicStructure(self, node: Any) -> Expr:
        args = [self.expr(a) for a in node.arguments]
        ops = [o.lower().strip(":") for o in node.operators]
        if ops == ["not"]:
            return Unary("not", args[0])
        result = args[0]
        names = {"=": "==", "<>": "!=", "and": "and", "or": "or"}
        for op, arg in zip(ops, args[1:]):
            result = Binary(names.get(op, op), result, arg)
        return result

    # -- names -------------------------------------------------------------------------------------
    def ast_ReferenceStructure(self, node: Any) -> Expr:
        name = canonical(node.reference)
        subs = tuple(node.subscripts.subscripts) if node.subscripts is not None else ()
        elements = self.ctx.elements
        ranges = self.ctx.subscripts
        main_model = name.endswith("$") and len(name) > 1
        if main_model:
            # Inside a Vensim macro, `name$` is the main model's variable (`TIME STEP$`).
            name = name[:-1].rstrip("_")
        if name in self.scope and not main_model:
            # Inside a macro: a parameter is the caller's argument, a macro variable its copy.
            bound = self.scope[name]
            if subs:
                if not isinstance(bound, Ref) or bound.subscripts:
                    raise UnsupportedError(
                        f"Macro variable `{node.reference}` is subscripted inside the macro called by "
                        f"`{self.current}`; sdflow expands macros without subscripts only."
                    )
                return Ref(bound.name, subs)
            return bound
        if name in ("time", "time_step") and not subs:
            # TIME STEP as `time_step`, not `dt`: a Vensim model may name a variable DT.
            return Ref("time_step" if name == "time_step" else "time")
        if name == "pi" and not subs and name not in elements:  # XMILE PI, written without ()
            return Num(math.pi)
        if name == "nan" and not subs and name not in elements and not self.ctx.source.vensim:
            return Num(math.nan)  # XMILE NAN: not a number (Stella writes it for a missing element)
        if name == "self" and not subs and name not in elements:
            # XMILE SELF: the variable whose equation this is (as in PREVIOUS(SELF, 0)).
            return Ref(canonical(self.current))
        if not subs and name not in elements and name in ranges.elements:
            # A dimension read as a number is the position of the element, from 1 (Vensim).
            position = self.positions.setdefault(name, f"_position in {name}")
            return Ref(canonical(position), (name,))
        if not subs and name not in elements:
            # A subscript element read as a number (`IF THEN ELSE(region = south, ...)`) is its
            # position, from 1, in the widest range holding it, as a range read as a number is.
            holders = [d for d in ranges.dimensions if name in {canonical(e) for e in d.elements}]
            if holders:
                family = max(holders, key=lambda d: len(d.elements))
                return Num(float([canonical(e) for e in family.elements].index(name) + 1))
        target = elements.get(name)
        if subs and target is not None and not self.ctx.source.vensim and len(subs) == len(target.dims) \
                and any(canonical(s) in elements and canonical(s) not in ranges.elements for s in subs):
            return self.indexed_by_value(target, subs)
        if not subs and target is not None and target.dims and self.context:
            # An arrayed variable read without subscripts follows the equation's dimensions,
            # through a mapping where it is over another range.
            dims = [canonical(d) for d in target.dims]
            if any(d not in self.context for d in dims):
                filled = []
                for d in dims:
                    if d in self.context:
                        filled.append(d)
                        continue
                    mapped = [c for c in self.context if c in ranges.mapped.get(d, ()) and c not in dims]
                    filled.append(mapped[0] if mapped else d)
                return Ref(name, tuple(filled))
        return Ref(name, subs)

    # -- function calls ----------------------------------------------------------------------------
    def ast_CallStructure(self, node: Any) -> Expr:
        func = node.function.reference if hasattr(node.function, "reference") else str(node.function)
        key = canonical(func)
        raw = list(node.arguments)
        named = self.call_by_name(key, node.function, raw)
        if named is not None:
            return named
        if key == "elmcount":
            dim = canonical(raw[0].reference) if raw and hasattr(raw[0], "reference") else ""
            if dim not in self.ctx.subscripts.elements:
                raise SpecError(f"ELMCOUNT in `{self.current}` needs a subscript range, as in `ELMCOUNT(region)`.")
            return Num(float(len(self.ctx.subscripts.elements[dim])))
        if key == "get_data_between_times":
            return self.get_data_between_times(raw)
        if key == "active_initial":
            raise UnsupportedError(
                f"ACTIVE INITIAL in `{self.current}` must be the whole equation; sdflow does not support it "
                "inside a larger expression."
            )
        build = CALLS.get(key)
        result = None if build is None else build(self, key, [self.expr(a) for a in raw])
        if result is None:
            raise UnsupportedError(f"`{self.current}` calls `{func}`, which sdflow does not support.")
        return result

    def call_by_name(self, key: str, function: Any, raw: list[Any]) -> Expr | None:
        """A call of something the model defines: a lookup, an XMILE graphical function (one
        per array element, or called by name), a Vensim macro; None for a function."""
        elements = self.ctx.elements
        target = elements.get(key)
        subscripted = tuple(function.subscripts.subscripts) if getattr(function, "subscripts", None) is not None \
            else None
        if target is not None and target.kind == "lookup":
            if target.dims:
                if len(raw) != 1:
                    raise SpecError(f"Lookup `{target.name}` takes one input, in `{self.current}`.")
                return self.arrayed_lookup_call(key, subscripted or (), self.expr(raw[0]))
            if len(raw) != 1:
                raise SpecError(f"Lookup `{target.name}` is called with {len(raw)} inputs in "
                                f"`{self.current}`; a lookup takes one.")
            return Call(key, (self.expr(raw[0]),))
        if key in self.ctx.graphicals and target is not None and len(raw) == 1:
            # XMILE `tables[a](x)` of a graphical function per array element; without subscripts,
            # each element of the equation reads the table of the same element.
            return self.arrayed_lookup_call(key, subscripted if subscripted is not None else target.dims,
                                            self.expr(raw[0]))
        if target is not None and len(raw) == 1 and target.pieces \
                and all(type(a).__name__ == "InlineLookupsStructure" and a.lookups == target.pieces[0][1].lookups
                        for _, a in target.pieces):
            # XMILE: a graphical function called by name, `gf(x)`, reads its own table at x.
            return self.ast_InlineLookupsStructure(dataclasses.replace(target.pieces[0][1], argument=raw[0]))
        if key in self.ctx.macros:
            return self.expand_macro(key, [self.expr(a) for a in raw])
        return None

    def get_time_value(self, args: list[Expr]) -> Expr:
        """Vensim GET TIME VALUE(relativeto, offset, measure) for the simulation's own time.

        With relativeto 0 and measure 0 it is Time + offset (Vensim's documentation). The
        calendar measures (1-10) depend on the date settings of Vensim's Model>Settings, which
        the .mdl file does not carry, and relativeto 2 reads the computer's clock: refused.
        """
        if len(args) != 3:
            raise SpecError(f"GET TIME VALUE in `{self.current}` takes three arguments (relativeto, offset, "
                            f"measure), not {len(args)}.")
        relativeto, offset, measure = args
        if not (isinstance(relativeto, Num) and relativeto.value == 0):
            raise UnsupportedError(
                f"GET TIME VALUE in `{self.current}` is relative to the initial time or the computer clock; sdflow "
                "supports relativeto 0 (the current simulation time) only. Use `Time` or `INITIAL TIME` instead."
            )
        if not (isinstance(measure, Num) and measure.value == 0):
            raise UnsupportedError(
                f"GET TIME VALUE in `{self.current}` asks for a calendar measure (years, months, days...), which "
                "needs Vensim's date settings; sdflow supports measure 0 (model time units) only."
            )
        return Binary("+", Ref("time"), offset)

    def vector_select(self, args: list[Expr]) -> Expr:
        if len(args) != 5:
            raise SpecError(f"VECTOR SELECT in `{self.current}` takes five arguments (selection, expression, "
                            f"missing value, action, error action), not {len(args)}.")
        over = bang_dims(args[0]) + [d for d in bang_dims(args[1]) if d not in bang_dims(args[0])]
        if not over:
            raise SpecError(f"VECTOR SELECT in `{self.current}` needs the dimension to select over marked with "
                            "`!`, as in `VECTOR SELECT(sel[dim!], x[dim!], 0, 0, 0)`.")
        return Call("vector_select", tuple(args) + tuple(Str(d) for d in over))

    def vector_elm_map(self, args: list[Expr]) -> Expr:
        """VECTOR ELM MAP(vec[start], offset): the element `offset` places after `start` in the
        whole array of `vec`, counted row by row over all its subscripts, from 0 (Vensim's help).

        Written with VECTOR SELECT over the array's own ranges (marked ``!``, apart from the
        equation's ranges): the one element whose place equals the start's place plus `offset`.
        An offset outside the array gives NaN, which fails the run, where Vensim reports an
        error and returns :NA:.
        """
        if len(args) != 2:
            raise SpecError(f"VECTOR ELM MAP in `{self.current}` takes two arguments (vector, offset), "
                            f"not {len(args)}.")
        vec, offset = args
        target = self.ctx.elements.get(vec.name) if isinstance(vec, Ref) else None
        if not isinstance(vec, Ref) or target is None or not target.dims or len(vec.subscripts) != len(target.dims):
            raise UnsupportedError(
                f"VECTOR ELM MAP in `{self.current}` needs a subscripted variable of the model, with one "
                "subscript for each of its dimensions, as its first argument: `VECTOR ELM MAP(x[a1], offset)`."
            )
        elements = self.ctx.subscripts.elements
        sizes = [len(elements[canonical(d)]) for d in target.dims]
        start: Expr = Num(0.0)
        place: Expr = Num(0.0)
        for i, (dim, sub) in enumerate(zip(target.dims, vec.subscripts)):
            stride = float(math.prod(sizes[i + 1:]))
            place = Binary("+", place, Binary("*", Num(stride), Ref(self._index_of(dim, dim), (f"{dim}!",))))
            members = [canonical(e) for e in elements[canonical(dim)]]
            if canonical(sub) in members:
                start = Binary("+", start, Num(stride * members.index(canonical(sub))))
            elif canonical(sub) in elements:
                start = Binary("+", start, Binary("*", Num(stride), Ref(self._index_of(sub, dim), (sub,))))
            else:
                raise UnsupportedError(
                    f"VECTOR ELM MAP in `{self.current}` starts `{target.name}` at `{sub}`, which is not an element "
                    f"or subrange of its dimension `{dim}`."
                )
        selection = Binary("==", place, Binary("+", start, offset))
        whole = Ref(vec.name, tuple(f"{d}!" for d in target.dims))
        return Call("vector_select", (selection, whole, Num(math.nan), Num(6.0), Num(0.0))
                    + tuple(Str(canonical(d) + "!") for d in target.dims))

    def indexed_by_value(self, target: Element, subs: tuple[str, ...]) -> Expr:
        """XMILE ``a[i]`` where `i` is a variable: the element of `a` at position `i` (from 1)
        along that dimension (Stella's subscript by value; SDEverywhere's arrays.stmx), written as
        VECTOR ELM MAP from the dimension's first element; a position outside gives NaN."""
        elements = self.ctx.elements
        sizes = [len(self.ctx.subscripts.elements[canonical(d)]) for d in target.dims]
        start: list[str] = []
        offset: Expr = Num(0.0)
        for i, (sub, dim) in enumerate(zip(subs, target.dims)):
            index = elements.get(canonical(sub))
            if index is None or canonical(sub) in self.ctx.subscripts.elements:
                start.append(sub)
                continue
            start.append(self.ctx.subscripts.elements[canonical(dim)][0])
            value = Ref(index.key, tuple(index.dims))
            offset = Binary("+", offset, Binary("*", Num(float(math.prod(sizes[i + 1:]))),
                                                Binary("-", value, Num(1.0))))
        return self.vector_elm_map([Ref(target.key, tuple(start)), offset])

    def _index_of(self, sub: str, dim: str) -> str:
        """An internal constant over range `sub`: the place (from 0) of each of its elements in
        range `dim`."""
        name = f"_index of {sub} in {dim}"
        key = canonical(name)
        if key not in self.views:
            members = [canonical(e) for e in self.ctx.subscripts.elements[canonical(dim)]]
            own = self.ctx.subscripts.elements[canonical(sub)]
            if any(canonical(e) not in members for e in own):
                raise UnsupportedError(
                    f"VECTOR ELM MAP in `{self.current}` starts at range `{sub}`, whose elements are not all in "
                    f"`{dim}`; start at an element or a subrange of `{dim}`."
                )
            self.views[key] = Variable(name, "constant", values=tuple(float(members.index(canonical(e))) for e in own),
                                       dims=(sub,), internal=True, owner=sub,
                                       doc=f"The place of each element of `{sub}` in `{dim}`, from 0.",
                                       source=f"VECTOR ELM MAP in {self.ctx.path.name}")
        return key

    def get_data_between_times(self, raw: list[Any]) -> Expr:
        """Vensim GET DATA BETWEEN TIMES(data[...], time, mode): the data variable's points read at
        `time`, interpolated (mode 0), forward (1) or backward (-1); :NA: outside the data.

        Vensim's output for SDEverywhere's getdata model reads forward and backward at the whole
        time unit at or below `time`: forward, the first data point at or after it; backward,
        the last data point before it (so at a data time, the one before). Interpolation reads
        `time` itself. This follows that output.
        """
        if len(raw) != 3:
            raise SpecError(f"GET DATA BETWEEN TIMES in `{self.current}` takes three arguments (data variable, "
                            f"time, mode), not {len(raw)}.")
        reference = getattr(raw[0], "reference", None)
        key = canonical(str(reference)) if reference is not None else ""
        target = self.ctx.elements.get(key)
        if target is None or not target.pieces or not all(isinstance(a, ExternalTables) for _, a in target.pieces):
            raise UnsupportedError(
                f"GET DATA BETWEEN TIMES in `{self.current}` reads something other than a data variable; its "
                "first argument must name a data variable, as in `GET DATA BETWEEN TIMES(sales data, Time, 0)`."
            )
        subs = tuple(raw[0].subscripts.subscripts) if getattr(raw[0], "subscripts", None) is not None else ()
        when, mode = self.expr(raw[1]), self.expr(raw[2])

        def read(chosen: tuple[str, ...], swap: dict[str, str]) -> Expr:
            table = next((t for elements, t in (pair for _, a in target.pieces for pair in a.tables)
                          if tuple(canonical(e) for e in elements) == chosen), None)
            if table is None:
                raise UnsupportedError(f"`{self.current}` reads data `{target.name}` at [{', '.join(chosen)}], "
                                       "which has no data.")
            label = f"{target.name}[{', '.join(chosen)}]" if chosen else target.name
            tables = {}
            for reading in ("interpolate", "look_forward", "hold_backward"):
                name = f"_{label} between times {reading}"
                self.views.setdefault(canonical(name), Variable(
                    name, "lookup", lookup=dataclasses.replace(table, mode=reading), internal=True,
                    owner=target.name, source=f"GET DATA BETWEEN TIMES in {self.ctx.path.name}"))
                tables[reading] = canonical(name)
            at, how = substitute(when, swap), substitute(mode, swap)
            truncated = Call("integer", (at,))
            whole = Binary("-", truncated, Call("if_then_else", (Binary("<", at, truncated), Num(1.0), Num(0.0))))
            # The last point strictly before `whole`: hold backward just below it.
            before = Binary("-", whole, Num(1e-9))
            value = Call("if_then_else", (
                Binary(">", how, Num(0.5)), Call(tables["look_forward"], (whole,)),
                Call("if_then_else", (Binary("<", how, Num(-0.5)), Call(tables["hold_backward"], (before,)),
                                      Call(tables["interpolate"], (at,))))))
            outside = Binary("or", Binary("<", at, Num(table.xs[0])), Binary(">", at, Num(table.xs[-1])))
            return Call("if_then_else", (outside, Num(VENSIM_NA), value))

        return self.arrayed_lookup_call(key, subs, Num(0.0), read=read)

    def arrayed_lookup_call(self, key: str, subs: tuple[str, ...], arg: Expr,
                            read: Callable[[tuple[str, ...], dict[str, str]], Expr] | None = None) -> Expr:
        """``table[dims](x)`` for a subscripted lookup: an internal auxiliary over the equation's
        block, each element reading its own table at its own input. `read` writes an element's
        reading instead (given the element and the block's subscripts as elements)."""
        lookup = self.ctx.elements[key]
        elements = self.ctx.subscripts.elements
        if len(subs) != len(lookup.dims):
            raise SpecError(
                f"Lookup `{lookup.name}` has {len(lookup.dims)} subscript(s) but `{self.current}` calls it with "
                f"{len(subs)}."
            )
        # A range marked `!` (`SUM(table[dim!](x))`) is one more dimension of the readings, kept
        # marked so the enclosing reduction sums over it, as it does for a variable's `x[dim!]`.
        bangs = [sub[:-1] for sub in subs if sub.endswith("!")
                 and canonical(sub[:-1]) in elements and canonical(sub[:-1]) not in map(canonical, self.block)]
        labels = tuple(self.block) + tuple(bangs)
        ranges = [label for label in labels if canonical(label) in elements]
        args: list[Expr] = []
        for combo in itertools.product(*(self.ctx.subscripts.expand(label, self.current) for label in labels)):
            swap = {canonical(label): element for label, element in zip(labels, combo)}
            swap.update({canonical(label) + "!": element for label, element in zip(labels, combo)})
            for label, element in zip(labels, combo):
                # A range of the call named through a range the block is over.
                for sub in subs:
                    key_sub = canonical(sub)
                    if key_sub in elements and key_sub not in swap \
                            and canonical(element) in {canonical(e) for e in elements[key_sub]}:
                        swap[key_sub] = element
            chosen = tuple(canonical(swap.get(canonical(sub), sub)) for sub in subs)
            block = tuple(element for label, element in zip(labels, combo) if label in ranges)
            if read is not None:
                args += [Call("_at", tuple(Str(e) for e in block)), read(chosen, swap)]
                continue
            table = self.ctx.element_tables.get((key, chosen))
            if table is None:
                raise UnsupportedError(
                    f"`{self.current}` reads lookup `{lookup.name}` at [{', '.join(chosen)}], which has no table."
                )
            args += [Call("_at", tuple(Str(e) for e in block)), Call(table, (substitute(arg, swap),))]
        if not ranges:
            assert isinstance(args[1], Expr)
            return args[1]
        self.lookup_calls += 1
        name = f"_{lookup.name} read in {self.current} {self.lookup_calls}"
        self.views[canonical(name)] = Variable(name, "aux", Call("_pieces", tuple(args)), dims=tuple(ranges),
                                               internal=True, source=f"lookup `{lookup.name}` in {self.ctx.path.name}",
                                               owner=lookup.name)
        return Ref(canonical(name), tuple(label + "!" if label in bangs else label for label in ranges))

    def reduction(self, func: str, args: list[Expr]) -> Expr:
        if len(args) != 1:
            if func in ("vmax", "vmin") and len(args) > 1:
                return Call({"vmax": "max", "vmin": "min"}[func], tuple(args))
            raise SpecError(f"`{func}` in `{self.current}` takes one argument.")
        arg = args[0]
        bang = []
        for node in walk(arg):
            if isinstance(node, Ref):
                for s in node.subscripts:
                    if s.endswith("!") and canonical(s) not in bang:
                        bang.append(canonical(s))
        if not bang:
            # XMILE MAX(array) and Vensim SUM over a whole array: reduce over everything.
            return Call(func, (arg,))
        result = arg
        for dim in bang:
            result = Call(func, (result, Str(dim)))
        return result

    def ast_AllocateAvailableStructure(self, node: Any) -> Expr:
        """ALLOCATE AVAILABLE(request, pp[..., ptype], avail): the priority profiles are read
        along the dimension of their last subscript, starting at that element."""
        request, supply = self.expr(node.request), self.expr(node.avail)
        pp = self.expr(node.pp)
        if not (isinstance(pp, Ref) and pp.subscripts):
            raise UnsupportedError(f"ALLOCATE AVAILABLE in `{self.current}` needs its priority profiles as a "
                                   "subscripted variable, as in `pp[branch, ptype]`.")
        first = canonical(pp.subscripts[-1])
        profile = next((d for d, elements in self.ctx.subscripts.elements.items()
                        if elements and canonical(elements[0]) == first and len(elements) >= 3), None)
        if profile is None:
            raise UnsupportedError(
                f"ALLOCATE AVAILABLE in `{self.current}` reads priority profiles from `{pp.subscripts[-1]}`; sdflow "
                "needs the first element of a range of at least three (ptype, ppriority, pwidth, ...)."
            )
        target = self.ctx.elements.get(pp.name)
        if target is not None:
            self.check_profile_types(target, profile)
        return Call("allocate_available", (request, Ref(pp.name, pp.subscripts[:-1] + (profile,)), supply,
                                           Str(profile)))

    def check_profile_types(self, target: Element, profile: str) -> None:
        """Refuse the priority profiles sdflow lacks (5 constant elasticity, and 0 fixed quantity
        beside other types) where the profile type is given as a number; a type given by an
        equation is checked during the run (``sd_engine.functions.allocate_profiles``)."""
        position = [canonical(d) for d in target.dims].index(profile) if profile in \
            [canonical(d) for d in target.dims] else None
        if position is None:
            return
        types: set[float] = set()
        values = self.ctx.subscripts.constant_values(target) if all(
            isinstance(a, (int, float, np.ndarray)) for _, a in target.pieces) else None
        if values is not None:
            types = set(np.take(values, 0, axis=position).ravel().tolist())
        else:
            first = canonical(self.ctx.subscripts.elements[profile][0])
            for subs, ast in target.pieces:
                if canonical(subs[position]) in (first, profile) and isinstance(ast, (int, float)):
                    types.add(float(ast))
        unknown = sorted(t for t in types if t not in (0.0, 1.0, 2.0, 3.0, 4.0))
        if 0.0 in types and len(types) > 1:
            unknown = [0.0]  # fixed quantities beside other profiles: how they share is not documented
        if unknown:
            raise UnsupportedError(
                f"ALLOCATE AVAILABLE in `{self.current}` uses priority profile type {unknown[0]:g} in "
                f"`{target.name}`; sdflow supports 0 (fixed quantity, for every requester at once), 1 (rectangular), "
                "2 (triangular), 3 (normal) and 4 (exponential)."
            )

    def ast_AllocateByPriorityStructure(self, node: Any) -> Expr:
        args = tuple(self.expr(a) for a in (node.request, node.priority, node.size, node.width, node.supply))
        return Call("allocate_by_priority", args)

    # -- tables ------------------------------------------------------------------------------------
    def lookup_table(self, ast: Any, combo: tuple[str, ...]) -> LookupTable:
        """The table of one element of a lookup: its own points, or those read from a file."""
        if isinstance(ast, ExternalTables):
            return ast.table(combo)
        return points_table(ast, self.current)

    def ast_InlineLookupsStructure(self, node: Any) -> Expr:
        table = points_table(node.lookups, self.current)
        if table.mode != "interpolate":
            # A literal table only interpolates: an XMILE extrapolate or discrete graphical
            # function is read through an internal lookup of that mode.
            self.lookup_calls += 1
            name = f"_{self.current} graphical function {self.lookup_calls}"
            self.views[canonical(name)] = Variable(
                name, "lookup", lookup=table, internal=True, owner=self.current,
                source=f"graphical function of `{self.current}` in {self.ctx.path.name}")
            return Call(canonical(name), (self.expr(node.argument),))
        return Call("with_lookup", (self.expr(node.argument), Table(table.xs, table.ys)))

    def ast_GraphicalElement(self, node: GraphicalElement) -> Expr:
        return Call(node.table, (self.expr(node.argument),))

    def ast_LookupsStructure(self, node: Any) -> Expr:
        raise UnsupportedError(f"`{self.current}` uses a table of points where a number is expected.")

    def ast_ExternalTables(self, node: ExternalTables) -> Expr:
        """A data variable's element: its series as an internal lookup of time. Outside the data
        it holds the end values, as Vensim does; `raw` data are :NA: (NaN) between data times."""
        [(combo, table)] = node.tables
        label = f"{self.current}[{', '.join(combo)}]" if combo else self.current
        source = f"data of `{label}` read from {node.source}"
        time = Ref("time")
        if node.mode != "raw":
            name = f"_data {label}"
            mode: Any = node.mode  # interpolate, hold_backward or look_forward: lookup modes of the same name
            self.views[canonical(name)] = Variable(name, "lookup", lookup=dataclasses.replace(table, mode=mode),
                                                   internal=True, source=source)
            return Call(canonical(name), (time,))
        # RAW: the value at the nearest data time when the step falls on it (to round-off), NaN
        # elsewhere; the nearest time holds from the midpoint to the previous data time.
        xs = table.xs
        starts = (xs[0],) + tuple((a + b) / 2 for a, b in zip(xs, xs[1:]))
        nearest, value = f"_data time {label}", f"_data {label}"
        self.views[canonical(nearest)] = Variable(nearest, "lookup", lookup=LookupTable(starts, xs, "hold_backward"),
                                                  internal=True, source=source)
        self.views[canonical(value)] = Variable(value, "lookup", lookup=LookupTable(starts, table.ys, "hold_backward"),
                                                internal=True, source=source)
        gap = Call("abs", (Binary("-", Call(canonical(nearest), (time,)), time),))
        tolerance = Binary("*", Num(1e-9), Binary("+", Num(1.0), Call("abs", (time,))))
        return Call("if_then_else", (Binary("<=", gap, tolerance), Call(canonical(value), (time,)), Num(math.nan)))

    def ast_GetConstantsStructure(self, node: Any) -> Expr:
        raise UnsupportedError(
            f"`{self.current}` uses {describe(type(node).__name__)} inside an expression; Vensim reads files only as "
            "a whole equation. Give the value its own variable."
        )

    ast_GetDataStructure = ast_GetLookupsStructure = ast_GetConstantsStructure

    # -- stateful functions (lowered by sd_engine.lower) -------------------------------------------
    def ast_GameStructure(self, node: Any) -> Expr:
        return self.expr(node.expression)

    def ast_InitialStructure(self, node: Any) -> Expr:
        return Call("initial", (self.expr(node.initial),))

    def ast_IntegStructure(self, node: Any) -> Expr:
        raise UnsupportedError(f"INTEG in `{self.current}` must be the whole equation of a stock.")

    def ast_DelayStructure(self, node: Any) -> Expr:
        order = int(node.order)
        func = {1: "delay1i", 3: "delay3i"}.get(order)
        if func is None:
            return Call("delay_n", tuple(self.expr(a) for a in (node.input, node.delay_time, node.initial))
                        + (Num(order),))
        return Call(func, tuple(self.expr(a) for a in (node.input, node.delay_time, node.initial)))

    def ast_DelayNStructure(self, node: Any) -> Expr:
        args = tuple(self.expr(a) for a in (node.input, node.delay_time, node.initial))
        return Call("delay_n", args + (self.order(node.order),))

    def ast_DelayFixedStructure(self, node: Any) -> Expr:
        return Call("delay_fixed", tuple(self.expr(a) for a in (node.input, node.delay_time, node.initial)))

    def ast_SmoothStructure(self, node: Any) -> Expr:
        order = int(node.order)
        func = {1: "smoothi", 3: "smooth3i"}.get(order)
        args = tuple(self.expr(a) for a in (node.input, node.smooth_time, node.initial))
        if func is None:
            return Call("smooth_n", args + (Num(order),))
        return Call(func, args)

    def ast_SmoothNStructure(self, node: Any) -> Expr:
        args = tuple(self.expr(a) for a in (node.input, node.smooth_time, node.initial))
        return Call("smooth_n", args + (self.order(node.order),))

    def order(self, node: Any) -> Expr:
        """The order of DELAY N / SMOOTH N: Vensim reads it once, at the initial time."""
        expr = self.expr(node)
        time = self.time
        controls = {} if time is None else {"initial_time": time.initial_time, "final_time": time.final_time,
                                            "dt": time.dt, "saveper": time.saveper or time.dt}
        value = start_value(expr, self.ctx.elements, self.expr, controls=controls,
                            time=None if time is None else time.initial_time)
        return expr if value is None else Num(value)

    def ast_TrendStructure(self, node: Any) -> Expr:
        return Call("trend", tuple(self.expr(a) for a in (node.input, node.average_time, node.initial_trend)))

    def ast_ForecastStructure(self, node: Any) -> Expr:
        initial_trend = self.expr(node.initial_trend)
        if not (isinstance(initial_trend, Num) and initial_trend.value == 0):
            raise UnsupportedError(f"FORECAST in `{self.current}` has an initial trend; sdflow supports 0 only.")
        return Call("forecast", tuple(self.expr(a) for a in (node.input, node.average_time, node.horizon)))

    def ast_SampleIfTrueStructure(self, node: Any) -> Expr:
        return Call("sample_if_true", tuple(self.expr(a) for a in (node.condition, node.input, node.initial)))


def _odd_power(args: list[Expr], ops: list[str]) -> bool:
    """Whether a one-power chain has an odd whole exponent, where -(a^n) == (-a)^n."""
    if len(ops) != 1 or not isinstance(args[1], Num):
        return False
    n = args[1].value
    return n == int(n) and int(n) % 2 == 1


# -- the table of functions ------------------------------------------------------------------------
Builder = Callable[[ExpressionConverter, str, list[Expr]], Expr | None]


def _same(conv: ExpressionConverter, key: str, args: list[Expr]) -> Expr:
    return Call(key, tuple(args))


def _two_arguments(conv: ExpressionConverter, key: str, args: list[Expr]) -> Expr | None:
    # Vensim LOOKUP FORWARD/BACKWARD/EXTRAPOLATE(table, x): the table by name, read in that mode.
    if len(args) != 2:
        return None
    table = args[0]
    target = conv.ctx.elements.get(table.name) if isinstance(table, Ref) and not table.subscripts else None
    if target is not None and not target.dims and target.pieces \
            and type(target.pieces[0][1]).__name__ == "InlineLookupsStructure":
        # XMILE: a variable with a graphical function named as the table (SDEverywhere's
        # lookup.xmile, `LOOKUP_BACKWARD(g, 0)`) reads its table, an internal lookup.
        name = f"_{target.name} table"
        if canonical(name) not in conv.views:
            conv.views[canonical(name)] = Variable(
                name, "lookup", lookup=points_table(target.pieces[0][1].lookups, target.name), internal=True,
                owner=target.name, source=f"graphical function of `{target.name}` in {conv.ctx.path.name}")
        table = Ref(canonical(name))
    return Call(key, (table, args[1]))


def _vector(conv: ExpressionConverter, key: str, args: list[Expr]) -> Expr:
    if len(args) != 2:
        raise SpecError(f"{key.replace('_', ' ').upper()} in `{conv.current}` takes two arguments.")
    return Call(key, tuple(args))


def _xmile_pulse(conv: ExpressionConverter, key: str, args: list[Expr]) -> Expr:
    # XMILE PULSE(magnitude, first): magnitude / DT for one step.
    start, magnitude = args
    return Binary("*", Binary("/", magnitude, Ref("time_step")), Call("pulse", (start, Num(0.0))))


def _xmile_pulse_train(conv: ExpressionConverter, key: str, args: list[Expr]) -> Expr:
    # XMILE PULSE(magnitude, first, interval).
    start, interval, magnitude = args
    return Binary("*", Binary("/", magnitude, Ref("time_step")), Call("_xmile_pulse_train", (start, interval)))


def _invert_matrix(conv: ExpressionConverter, key: str, args: list[Expr]) -> Expr:
    matrix = args[0] if args else None
    if isinstance(matrix, Ref) and len({canonical(s) for s in matrix.subscripts}) < len(matrix.subscripts):
        target = conv.ctx.elements.get(matrix.name)
        shown = target.name if target is not None else matrix.name
        raise UnsupportedError(
            f"INVERT MATRIX in `{conv.current}` reads `{shown}[{', '.join(matrix.subscripts)}]`, one range in "
            "two places; sdflow inverts a matrix over two ranges: write it over the range and its equivalent, "
            "as the variable is defined."
        )
    return Call("invert_matrix", tuple(args))


def _pulse_train(conv: ExpressionConverter, key: str, args: list[Expr]) -> Expr:
    start, interval, width, end = args  # PySD's order; the engine's is (start, width, interval, end)
    return Call("pulse_train", (start, width, interval, end))


#: PySD's name of a function -> how it is written with the engine's builtins (None: not in
#: this form). Calls of the model's lookups, graphical functions and macros come first.
CALLS: dict[str, Builder] = {
    **{name: _same for name in (
        "abs", "exp", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sqrt", "ln",
        "log", "integer", "modulo", "quantum", "xidz", "zidz", "if_then_else", "step", "pulse", "ramp", "min",
        "max", "random_uniform", "random_normal", "random_exponential", "random_poisson",
        "gamma_ln",
        "previous",  # XMILE PREVIOUS(x[, init]): a discrete state (sd_engine.lower)
        "npv",  # stateful: lowered to its two stocks (sd_engine.lower)
        "delay_material",  # stateful: DELAY FIXED for a fixed delay time (sd_engine.lower)
    )},
    **{name: _two_arguments for name in ("lookup_forward", "lookup_backward", "lookup_extrapolate")},
    **{name: _vector for name in ("vector_sort_order", "vector_reorder", "vector_rank")},
    **{name: (lambda conv, key, args: conv.reduction(key, args)) for name in ("sum", "prod", "vmin", "vmax")},
    "vmax_xmile": lambda conv, key, args: conv.reduction("vmax", args),
    "vmin_xmile": lambda conv, key, args: conv.reduction("vmin", args),
    "power": lambda conv, key, args: Binary("**", args[0], args[1]),
    "pi": lambda conv, key, args: Num(math.pi),
    "pulse_train": _pulse_train,
    "invert_matrix": _invert_matrix,
    "vector_lookup": lambda conv, key, args: vector_lookup(conv, args),
    "xramp": lambda conv, key, args: Call("ramp", (args[0], args[1], Num(math.inf))),  # XMILE RAMP: no end
    "xpulse": _xmile_pulse,
    "xpulse_train": _xmile_pulse_train,
    "vector_select": lambda conv, key, args: conv.vector_select(args),
    "vector_elm_map": lambda conv, key, args: conv.vector_elm_map(args),
    "get_time_value": lambda conv, key, args: conv.get_time_value(args),
}
