"""Unrolling: a subscripted model as one scalar variable per element, for the scalar back ends.

The scalar path (:mod:`sd_engine.scalar`) and the compiled back end
(:mod:`sd_engine.codegen_numba`) write equations over single floats. :func:`unroll` turns a
program's lowered model into a model of the same equations with no dimensions: every
element of an arrayed variable becomes a variable of its own (``births[north]``), every
reference an element reference, and the array functions scalar expressions -- SUM, PROD,
VMIN, VMAX and MEAN become chains of their elements, subranges, mappings and broadcasts
become the elements they select, block equations (``_pieces``) the equation of each
element's block, stateful builtins (lowered to internal arrayed stocks) one stock per
element, and VECTOR SELECT its computation over the elements it selects from (for the
compiled back end, ``whole_select``: a whole-array call, below). The functions
that compute a whole array at once (VECTOR SORT ORDER, RANK and REORDER, the allocation
functions, INVERT MATRIX) become one element of a call over all the elements of the array the
numpy code passes (:data:`ARRAY_ELEMENT`, below), which a back end computes once per step. The dimension
rules are the numpy code generator's own: the dimensions of every part of an equation come
from :meth:`sd_engine.codegen.CodeGenerator.emit`, and each reference is resolved as
``CodeGenerator.emit_ref`` (:mod:`sd_engine.codegen`) resolves it.

The unrolled model comes with a flat :class:`~sd_engine.program.Layout` that keeps the
original's columns: element ``k`` (C order) of a variable whose slot starts at column ``s``
lives in column ``s + k``, so the flat buffers are the numpy back end's buffers and results
are built with the original layout, unchanged. Inputs change in one way: the constants
(``c``) are flattened, one column per element, in the order of the original slots.

Sums follow numpy's order of additions: pairwise (eight partial sums at a time, checked
against ``np.sum`` in the tests) along the innermost run of reduced axes, the runs added one
after the other. So a single run gives the numpy back end's numbers bit for bit
wherever the argument is laid out in the order of its dimensions (an argument numpy
transposes in memory may be summed in another order: a difference of rounding only).

An array function at one element is ``Call(ARRAY_ELEMENT, (Str(function), Num(index),
Num(row), vector, ...))``: element ``index`` (C order) of the function's result over the
numpy call's whole array, whose last axis (INVERT MATRIX: last two) has ``row`` elements;
each ``vector`` is ``Call(VECTOR, elements)``, an argument's elements in the C order of that
array (a per-row argument, such as a direction or a supply, one element per row); a
trailing ``Num`` is a whole-number option of the function (VECTOR SELECT's run length). The
elements of one array share their vectors (the same objects), so a back end computes the
call once. The scalar path does not take these (it refuses them as a call it does not know).

What cannot be unrolled is refused by name (:class:`NotUnrolled`, naming the construct and
the variable): arrayed lookups, and models that unroll to more than :data:`MAX_ELEMENTS` variables or
:data:`MAX_OPERATIONS` operations (the scalar path's limits, which a caller may change: the
compiled back end writes runs of like elements as loops and limits what it writes instead,
:mod:`sd_engine.codegen_numba`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .codegen import CodeGenerator
from .errors import SDError
from .expr import TIME_NAMES, Binary, Call, Expr, Num, Ref, Str, Table, Unary, canonical, walk
from .functions import ALIASES, ARRAY_FUNCTIONS, BUILTINS, LOOKUP_FUNCTIONS, PIECE_AT, PIECES, REDUCTIONS, piece_blocks
from .order import is_parameter
from .program import Layout, Program, Slot
from .spec import ModelSpec, Variable

__all__ = ["NotUnrolled", "Unrolled", "unroll", "flatten_constants", "MAX_ELEMENTS", "MAX_OPERATIONS", "ARRAY_ELEMENT",
           "VECTOR", "WHOLE_ARRAY"]

#: The most variables an unrolled model may have (by default; the compiled back end, which
#: writes runs of like elements as loops, passes its own): numba's compile time of a line per
#: element grows faster than the size of the function (531 elements measured at 4 s, 1,207 at
#: 28 s; with loops 1.0 s and 3.3 s). Splitting ``evaluate`` does not help enough: the 1,207-element
#: conformance model (test_subscripted_delays) took 43 s CPU as one function and 42 s as nine
#: functions of 200 lines called directly (numba links them into one module and LLVM optimises
#: them as one); called through function pointers 28 s, of which the parts alone 26 s (2-9 s
#: each: typing and lowering cost 20-35 ms per element equation), and a pointer's address
#: cannot be kept in numba's disk cache.
MAX_ELEMENTS = 1000
#: The most operations (nodes of the equations' trees) an unrolled model may have: a model of
#: 3,363 compiles in about 8 s, one of 6,620 in 28 s. A whole-array call's vectors count each
#: distinct element once, as the compiled back end passes them: the VECTOR SELECT conformance
#: model (64 selects, some over four axes of which the selection repeats along two) counts
#: 4,480 and compiles in 12 s of CPU (written out per element, 347,471: not in 400 s).
MAX_OPERATIONS = 8000
#: The function of an element of a whole-array call, and of the vector of an argument's elements.
ARRAY_ELEMENT = "_array_element"
VECTOR = "_vector"
#: The functions computed over a whole array (the rows along its last axis; INVERT MATRIX: the
#: matrices over its last two).
WHOLE_ARRAY = frozenset({"vector_sort_order", "vector_rank", "vector_reorder", "allocate_available",
                         "allocate_by_priority", "invert_matrix"})
# numpy's pairwise summation: below this many terms a plain loop, up to _BLOCK eight
# partial sums, beyond that two halves (numpy/_core/src/umath/loops_utils.h.src).
_UNROLL = 8
_BLOCK = 128


class NotUnrolled(Exception):
    """The model uses something that has no element-by-element form; the message names it."""


@dataclass(frozen=True)
class Unrolled:
    """A lowered model without dimensions and its flat layout.

    Attributes
    ----------
    spec : ModelSpec
        One scalar variable per element of the lowered model (a model without subscripts:
        the lowered model itself).
    layout : Layout
        The original layout with one slot per element, in the original columns; its
        ``constants`` are the flattened constants, one per element.
    """

    spec: ModelSpec
    layout: Layout


def flatten_constants(c: Sequence[object], n_constants: int, n: int) -> list[np.ndarray]:
    """The first `n_constants` inputs of `c` (arrays ``(n, *shape)``) as one ``(n,)`` array
    per element, in the order of :attr:`Unrolled.layout`'s constants."""
    out: list[np.ndarray] = []
    for a in c[:n_constants]:
        flat = np.asarray(a, dtype=float).reshape(n, -1)
        out += [flat[:, k] for k in range(flat.shape[1])]
    return out


def unroll(program: Program, *, whole_select: bool = False, max_elements: float | None = None,
           max_operations: float | None = None) -> Unrolled:
    """The program's lowered model unrolled element by element, with its flat layout.

    With `whole_select`, VECTOR SELECT is a whole-array call (:data:`ARRAY_ELEMENT`: one
    result per row of the elements it selects from, computed once for all), as the compiled
    back end takes it; without, the scalar expression of each element (the scalar path).
    `max_elements` and `max_operations` (None: :data:`MAX_ELEMENTS`, :data:`MAX_OPERATIONS`;
    ``math.inf``: no limit) bound the size of the unrolled model.

    Raises
    ------
    NotUnrolled
        The model uses a construct with no element-by-element form (the message names it
        and the variable), or unrolls to more than :data:`MAX_ELEMENTS` variables.
    """
    lowered, layout = program.lowered, program.layout
    if not lowered.dimensions and not any(v.dims for v in lowered.variables):
        return Unrolled(lowered, layout)
    limits = (MAX_ELEMENTS if max_elements is None else max_elements,
              MAX_OPERATIONS if max_operations is None else max_operations)
    return _Unroller(lowered, whole_select).run(layout, *limits)


class _Unroller:
    def __init__(self, lowered: ModelSpec, whole_select: bool = False) -> None:
        self.lowered = lowered
        self.whole_select = whole_select
        # The numpy generator resolves the dimensions of every expression (its `dims` grows
        # with the labels equations use, as it does when it writes the numpy code).
        self.gen = CodeGenerator(lowered)
        self.vars = self.gen.vars
        self.display = {d.canonical: tuple(d.elements) for d in lowered.dimensions}
        self.keys: dict[str, list[str]] = {}
        self.names: dict[str, list[str]] = {}
        self._labels: dict[int, tuple[Expr, tuple[str, ...] | None]] = {}
        # The vectors of a whole-array call, by the call and the positions of the labels the
        # call's array does not have (every element of one array shares them).
        self._vectors: dict[tuple[int, tuple[tuple[str, int], ...]], tuple[Call, tuple[Expr, ...]]] = {}

    # -- elements ----------------------------------------------------------------------------
    def shape(self, key: str) -> tuple[int, ...]:
        return self.gen.shape(self.vars[key])

    def elements(self, var: Variable) -> None:
        dims = self.gen.var_dims(var)
        if not dims:
            self.names[var.canonical], self.keys[var.canonical] = [var.name], [var.canonical]
            return
        names = [f"{var.name}[{', '.join(self.display[d][i] for d, i in zip(dims, idx))}]"
                 for idx in np.ndindex(*self.shape(var.canonical))]
        self.names[var.canonical] = names
        self.keys[var.canonical] = [canonical(n) for n in names]

    def key(self, name: str, positions: Sequence[int]) -> str:
        shape = self.shape(name)
        return self.keys[name][int(np.ravel_multi_index(tuple(positions), shape)) if shape else 0]

    def labels(self, expr: Expr, var: Variable) -> tuple[str, ...] | None:
        """The dimensions of `expr` as the numpy generator sees them (labels, in axis order)."""
        hit = self._labels.get(id(expr))
        if hit is None or hit[0] is not expr:
            hit = (expr, self.gen.emit(expr, var)[1])
            self._labels[id(expr)] = hit
        return hit[1]

    # -- the model ---------------------------------------------------------------------------
    def run(self, layout: Layout, max_elements: float, max_operations: float) -> Unrolled:
        for var in self.lowered.variables:
            if var.kind == "lookup" and var.dims:
                raise NotUnrolled(f"the arrayed lookup `{var.name}`")
            self.elements(var)
        total = sum(len(k) for k in self.keys.values())
        if total > max_elements:
            raise NotUnrolled(f"model `{self.lowered.name}` of {total:,} elements (more than {max_elements:,}: "
                              "its compile would take long)")
        variables: list[Variable] = []
        size = 0
        counted: set[int] = set()  # the vectors of whole-array calls, each counted once
        for var in self.lowered.variables:
            try:
                elements = self.variable(var)
            except SDError as exc:  # an element's equation nests too deeply (a product of many terms)
                raise NotUnrolled(f"the elements of `{var.name}` ({exc})") from None
            size += sum(_operations(v.equation, counted) for v in elements if v.equation is not None)
            if size > max_operations:
                raise NotUnrolled(f"model `{self.lowered.name}`, whose equations unroll to more than "
                                  f"{max_operations:,} operations (at `{var.name}`; its compile would take long)")
            variables += elements
        try:
            spec = ModelSpec(self.lowered.name, tuple(variables), self.lowered.time, (), self.lowered.doc,
                             self.lowered.source, self.lowered.data_files, self.lowered.attrs)
        except SDError as exc:  # an element's name is another variable's (`x[a]` named so in XMILE)
            raise NotUnrolled(f"an element name that another variable has ({exc})") from None
        flat = Layout(self.flat(layout.stocks), self.flat(layout.states), self.flat(layout.constants),
                      layout.lookups, self.flat(layout.series))
        return Unrolled(spec, flat)

    def flat(self, slots: tuple[Slot, ...]) -> tuple[Slot, ...]:
        return tuple(Slot(name, key, s.kind, (), (), s.start + k, s.update, s.internal)
                     for s in slots for k, (name, key) in enumerate(zip(self.names[s.key], self.keys[s.key])))

    def variable(self, var: Variable) -> list[Variable]:
        """The element variables of `var`, in C order."""
        if var.kind == "lookup":
            return [var]
        dims = self.gen.var_dims(var)
        shape = self.shape(var.canonical)
        parameter = is_parameter(var)
        if parameter:
            # The values are read from the inputs (c); the equations keep the spec's numbers.
            number = var.equation.value if isinstance(var.equation, Num) else math.nan
            values = var.values if var.values is not None else (number,) * math.prod(shape)
        out = []
        for k, idx in enumerate(np.ndindex(*shape)):
            env = dict(zip(dims, idx))
            changes: dict[str, object] = {"name": self.names[var.canonical][k], "dims": (), "text": "",
                                          "values": None, "owner": var.owner or var.name}
            if parameter:
                changes["equation"] = Num(values[k])
            else:
                for field in ("equation", "init_equation", "delay_time"):
                    expr = getattr(var, field)
                    if expr is not None:
                        changes[field] = self.at(expr, var, env, idx)
                if var.kind == "constant":
                    changes["kind"] = "aux"  # computed at every step, as its arrayed original
            if var.kind == "stock":
                changes["inflows"] = tuple(self.flow_key(f, env) for f in var.inflows)
                changes["outflows"] = tuple(self.flow_key(f, env) for f in var.outflows)
            out.append(dataclasses.replace(var, **changes))  # type: ignore[arg-type]
        return out

    def flow_key(self, flow: str, env: dict[str, int]) -> str:
        return self.key(flow, [env[d] for d in self.gen.var_dims(self.vars[flow])])

    def at(self, expr: Expr, var: Variable, env: dict[str, int], idx: tuple[int, ...]) -> Expr:
        """The scalar expression of element `idx` of `var` (an equation, or a block equation)."""
        if not (isinstance(expr, Call) and expr.func == PIECES):
            return self.elem(expr, var, env)
        target = self.gen.var_dims(var)
        for selector, piece in piece_blocks(expr, var):
            labels, index = self.gen.block(selector, target, var)
            if all(i in positions for i, positions in zip(idx, index)):
                block_env = {label: positions.index(i) for label, i, positions in zip(labels, idx, index)}
                return self.elem(piece, var, block_env)
        raise NotUnrolled(f"an element of `{var.name}` without an equation")  # the numpy compiler refuses it first

    # -- expressions -------------------------------------------------------------------------
    def elem(self, expr: Expr, var: Variable, env: dict[str, int]) -> Expr:
        """`expr` at the element `env` (label -> position along that label's elements)."""
        if isinstance(expr, (Num, Str, Table)):
            return expr
        if isinstance(expr, Ref):
            return self.ref(expr, var, env)
        if isinstance(expr, Unary):
            return Unary(expr.op, self.elem(expr.operand, var, env))
        if isinstance(expr, Binary):
            return Binary(expr.op, self.elem(expr.left, var, env), self.elem(expr.right, var, env))
        assert isinstance(expr, Call)
        func = ALIASES.get(expr.func, expr.func)
        args = expr.args
        if func == "time" and not args:
            return expr
        if func in REDUCTIONS:
            return self.reduction(func, expr, var, env)
        if func == "with_lookup" and len(args) == 2:
            return Call(expr.func, (self.elem(args[0], var, env), args[1]))
        if func in LOOKUP_FUNCTIONS and len(args) == 2:
            return Call(expr.func, (args[0], self.elem(args[1], var, env)))
        if func in self.vars and self.vars[func].kind == "lookup":
            return Call(expr.func, tuple(self.elem(a, var, env) for a in args))
        if func == "vector_select" and len(args) > 5:
            return self.select_element(expr, var, env) if self.whole_select else self.vector_select(expr, var, env)
        if func in WHOLE_ARRAY:
            return self.array_element(func, expr, var, env)
        if func in BUILTINS:
            return Call(expr.func, tuple(self.elem(a, var, env) for a in args))
        what = func if func in ARRAY_FUNCTIONS or func in (PIECES, PIECE_AT) \
            else expr.func
        raise NotUnrolled(f"`{what}` (in `{var.name}`)")

    def ref(self, ref: Ref, var: Variable, env: dict[str, int]) -> Expr:
        if ref.name in TIME_NAMES and ref.name not in self.vars:
            return ref
        target = self.vars[ref.name]
        dims = self.gen.var_dims(target)
        if not dims or target.kind == "lookup":
            return ref
        try:
            if not ref.subscripts:
                return Ref(self.key(ref.name, [env[d] for d in dims]))
            positions = []
            # As CodeGenerator.emit_ref: a dimension (or one mapped to it, or a range with its
            # elements) takes the position of its label; a subrange the element it names; an
            # element its own position.
            for sub, dim in zip(ref.subscripts, dims):
                key = canonical(sub)
                base = key[:-1] if key.endswith("!") else key
                elements = self.gen.dims[dim]
                if base == dim or (base in self.gen.mapped.get(dim, ()) and len(self.gen.dims[base]) == len(elements)) \
                        or (base in self.gen.dims and base != dim and self.gen.dims[base] == elements):
                    positions.append(env[key])
                elif base in self.gen.dims and set(self.gen.dims[base]) < set(elements):
                    positions.append(elements.index(self.gen.dims[base][env[key]]))
                else:
                    positions.append(elements.index(key))
        except (KeyError, ValueError):
            # The numpy compiler accepted the program, so this is a gap of the unroller.
            raise NotUnrolled(f"the reference `{ref.name}[{', '.join(ref.subscripts)}]` (in `{var.name}`)") from None
        return Ref(self.key(ref.name, positions))

    def reduction(self, func: str, call: Call, var: Variable, env: dict[str, int]) -> Expr:
        arg = call.args[0]
        dims = self.labels(arg, var) or ()
        over = [canonical(call.args[1].value)] if len(call.args) == 2 and isinstance(call.args[1], Str) \
            else list(dims)
        over = [d for d in dims if d in over]  # the axes in their order: C order over them
        ranges = [range(len(self.gen.dims[d])) for d in over]
        terms = [self.elem(arg, var, {**env, **dict(zip(over, pos))}) for pos in itertools.product(*ranges)]
        if func == "vmin":
            return Call("min", tuple(terms))
        if func == "vmax":
            return Call("max", tuple(terms))
        if func == "prod":
            return _fold("*", terms)
        total = self.ordered_sum(terms, dims, over)
        return Binary("/", total, Num(len(terms))) if func == "mean" else total


    def ordered_sum(self, terms: Sequence[Expr], dims: Sequence[str], over: Sequence[str]) -> Expr:
        """The sum of `terms` (in C order over the axes `over` of an array with axes `dims`) in
        numpy's order: pairwise along the innermost run of reduced axes (the last axes of the
        array, as the array code lays it out), those runs added one after the other."""
        inner = self.run_length(dims, over)
        return _fold("+", [numpy_sum(terms[i:i + inner]) for i in range(0, len(terms), inner)])

    def run_length(self, dims: Sequence[str], over: Sequence[str]) -> int:
        """The elements of the innermost run of reduced axes: the last axes of `dims` that are
        all in `over`, which numpy sums pairwise in one pass."""
        inner = 1
        for d in reversed(dims):
            if d not in over:
                break
            inner *= len(self.gen.dims[d])
        return inner

    def shared_vectors(self, call: Call, env: dict[str, int], dims: Sequence[str],
                       make: Callable[[], tuple[Expr, ...]]) -> tuple[int, tuple[Expr, ...]]:
        """This element's index (C order over `dims`, the call's result) in a whole-array call,
        and the call's vectors: made by `make` once for all the elements that share them (the
        same call and values of the other dimensions), so a back end computes the call once."""
        sizes = tuple(len(self.gen.dims[d]) for d in dims)
        index = int(np.ravel_multi_index(tuple(env[d] for d in dims), sizes)) if dims else 0
        outside = tuple(sorted((k, v) for k, v in env.items() if k not in dims))
        hit = self._vectors.get((id(call), outside))
        if hit is None or hit[0] is not call:
            hit = (call, make())
            self._vectors[(id(call), outside)] = hit
        return index, hit[1]

    def select_axes(self, call: Call, var: Variable) -> tuple[tuple[str, ...], list[str]]:
        """VECTOR SELECT's axes: the union of its selection's and values' dimensions (in the
        order of numpy's broadcast), and those of them it selects over (named with `!`)."""
        args = call.args
        union = tuple(dict.fromkeys((self.labels(args[0], var) or ()) + (self.labels(args[1], var) or ())))
        named = {canonical(a.value) for a in args[5:] if isinstance(a, Str)}
        return union, [d for d in union if d in named]

    def array_element(self, func: str, call: Call, var: Variable, env: dict[str, int]) -> Expr:
        """An array function at one element: that element of the function over the array the
        numpy code computes it on (dimensions and argument alignment as
        :meth:`sd_engine.codegen.CodeGenerator.emit_array_function`; INVERT MATRIX as a builtin,
        over the union of its arguments' dimensions)."""
        dims = self.labels(call, var) or ()
        sizes = tuple(len(self.gen.dims[d]) for d in dims)
        if not dims or (func == "invert_matrix" and (len(dims) < 2 or sizes[-1] != sizes[-2])):
            raise NotUnrolled(f"`{func}` over dimensions {list(dims)} (in `{var.name}`)")
        try:
            index, vectors = self.shared_vectors(call, env, dims, lambda: self.vectors(func, call, var, env, dims))
        except (KeyError, ValueError, IndexError):
            raise NotUnrolled(f"`{func}` over dimensions {list(dims)} (in `{var.name}`)") from None
        return Call(ARRAY_ELEMENT, (Str(func), Num(float(index)), Num(float(sizes[-1])), *vectors))

    def vectors(self, func: str, call: Call, var: Variable, env: dict[str, int],
                dims: tuple[str, ...]) -> tuple[Expr, ...]:
        """The arguments of a whole-array call as vectors of elements (see :data:`ARRAY_ELEMENT`)."""
        args = call.args
        ranges = [range(len(self.gen.dims[d])) for d in dims]
        places = [{**env, **dict(zip(dims, pos))} for pos in itertools.product(*ranges)]
        rows = places[::len(ranges[-1])]  # the first element of each row

        def vector(arg: Expr, at: list[dict[str, int]]) -> Call:
            return Call(VECTOR, tuple(self.elem(arg, var, e) for e in at))

        if func in ("vector_sort_order", "vector_rank"):
            return vector(args[0], places), vector(args[1], rows)
        if func == "vector_reorder":
            return vector(args[0], places), vector(args[1], places)
        if func == "allocate_available":
            # (request, ptype, ppriority, pwidth, supply): the first three of the profile axis.
            profile = canonical(args[3].value) if isinstance(args[3], Str) else ""
            profiles = [vector(args[1], [{**e, profile: q} for e in places]) for q in range(3)]
            return vector(args[0], places), *profiles, vector(args[2], rows)
        if func == "allocate_by_priority":
            # (request, priority, width, supply); the size argument is not used.
            return vector(args[0], places), vector(args[1], places), vector(args[3], rows), vector(args[4], rows)
        return (vector(args[0], places),)  # invert_matrix: its size argument is not used

    def select_element(self, call: Call, var: Variable, env: dict[str, int]) -> Expr:
        """VECTOR SELECT at one element as a whole-array call (see :data:`ARRAY_ELEMENT`): its
        result has one element per row (the kept dimensions, :meth:`CodeGenerator.emit_array_function`),
        `row` elements are selected over in each; the vectors are the selection and the
        values at every (row, selected) place in C order, then the missing value, action and
        error action of each row; a last ``Num`` is the length of the runs numpy sums pairwise
        (as :meth:`ordered_sum`)."""
        args = call.args
        kept = self.labels(call, var) or ()
        union, over = self.select_axes(call, var)
        width = math.prod(len(self.gen.dims[d]) for d in over)

        def make() -> tuple[Expr, ...]:
            rows = [{**env, **dict(zip(kept, pos))}
                    for pos in itertools.product(*(range(len(self.gen.dims[d])) for d in kept))]
            places = [{**r, **dict(zip(over, pos))} for r in rows
                      for pos in itertools.product(*(range(len(self.gen.dims[d])) for d in over))]
            return (Call(VECTOR, tuple(self.elem(args[0], var, e) for e in places)),
                    Call(VECTOR, tuple(self.elem(args[1], var, e) for e in places)),
                    *(Call(VECTOR, tuple(self.elem(a, var, r) for r in rows)) for a in args[2:5]))

        try:
            index, vectors = self.shared_vectors(call, env, kept, make)
        except (KeyError, ValueError, IndexError):
            raise NotUnrolled(f"`vector_select` over dimensions {list(union)} (in `{var.name}`)") from None
        return Call(ARRAY_ELEMENT, (Str("vector_select"), Num(float(index)), Num(float(width)), *vectors,
                                    Num(float(self.run_length(union, over)))))

    def vector_select(self, call: Call, var: Variable, env: dict[str, int]) -> Expr:
        """VECTOR SELECT at one element: :func:`sd_engine.functions.vector_select` written out
        over the selected elements, operation for operation."""
        args = call.args
        union, over = self.select_axes(call, var)
        places = [{**env, **dict(zip(over, pos))}
                  for pos in itertools.product(*(range(len(self.gen.dims[d])) for d in over))]
        sel = [self.elem(args[0], var, e) for e in places]
        value = [self.elem(args[1], var, e) for e in places]
        missing, action, error = (self.elem(a, var, env) for a in args[2:5])
        chosen = [Binary("!=", x, Num(0.0)) for x in sel]
        weighted = [Binary("*", x, v) for x, v in zip(sel, value)]
        powered = [Binary("**", v, x) for x, v in zip(sel, value)]

        def where(terms: Sequence[Expr], other: float) -> list[Expr]:
            return [Call("if_then_else", (c, t, Num(other))) for c, t in zip(chosen, terms)]

        count = _fold("+", chosen)  # whole numbers: exact in any order
        # np.where makes a new array, its axes in the order of `union`.
        sums = [self.ordered_sum(where(a, 0.0), union, over) for a in (weighted, value)]
        results = [sums[0], _fold("*", where(weighted, 1.0)), Call("min", tuple(where(weighted, math.inf))),
                   Call("max", tuple(where(weighted, -math.inf))), Binary("/", sums[0], count),
                   _fold("*", where(powered, 1.0)), sums[1], _fold("*", where(value, 1.0)),
                   Call("min", tuple(where(value, math.inf))), Call("max", tuple(where(value, -math.inf))),
                   Binary("/", sums[1], count)]
        out: Expr = Num(math.nan)  # np.select's default: an action that is none of 0-10
        if isinstance(action, Num):  # the usual case: one action, the others' results unused
            out = results[int(action.value)] if action.value in range(len(results)) else out
        else:
            for k in reversed(range(len(results))):
                out = Call("if_then_else", (Binary("==", action, Num(k)), results[k], out))
        out = Call("if_then_else", (Binary("==", count, Num(0.0)), missing, out))
        if isinstance(error, Num) and error.value not in (1.0, 2.0, 3.0):
            return out
        one_or_three = Binary("or", Binary("==", error, Num(1.0)), Binary("==", error, Num(3.0)))
        two_or_three = Binary("or", Binary("==", error, Num(2.0)), Binary("==", error, Num(3.0)))
        failed = Binary("or", Binary("and", one_or_three, Binary("==", count, Num(0.0))),
                        Binary("and", two_or_three, Binary(">", count, Num(1.0))))
        return Call("if_then_else", (failed, Num(math.nan), out))


def _operations(expr: Expr, counted: set[int]) -> int:
    """The nodes of `expr`, the vectors of a whole-array call counted once (its elements share
    them), each distinct element of a vector once (the compiled back end passes it once)."""
    if isinstance(expr, Call) and expr.func == ARRAY_ELEMENT:
        vectors = [a for a in expr.args[3:] if id(a) not in counted]
        counted.update(id(a) for a in vectors)
        return 4 + sum(sum(1 for _ in walk(e)) for a in vectors
                       for e in (dict.fromkeys(a.args) if isinstance(a, Call) else (a,)))
    return 1 + sum(_operations(c, counted) for c in _children(expr))


def _children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Binary):
        return expr.left, expr.right
    return expr.args if isinstance(expr, Call) else ()


def _fold(op: str, terms: Sequence[Expr]) -> Expr:
    out = terms[0]
    for term in terms[1:]:
        out = Binary(op, out, term)
    return out


def numpy_sum(terms: Sequence[Expr]) -> Expr:
    """The sum of `terms` in numpy's order for a contiguous reduction (``np.add.reduce``:
    pairwise summation from numpy's identity)."""
    n = len(terms)
    if n < _UNROLL:
        return _fold("+", terms)  # numpy starts from -0.0, which changes no sum but -0.0's
    if n <= _BLOCK:
        r = [_fold("+", terms[j:n - n % _UNROLL:_UNROLL]) for j in range(_UNROLL)]
        out = Binary("+", Binary("+", Binary("+", r[0], r[1]), Binary("+", r[2], r[3])),
                     Binary("+", Binary("+", r[4], r[5]), Binary("+", r[6], r[7])))
        return _fold("+", [out, *terms[n - n % _UNROLL:]])
    half = n // 2
    half -= half % _UNROLL
    return Binary("+", numpy_sum(terms[:half]), numpy_sum(terms[half:]))
