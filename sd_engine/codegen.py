"""The code generator: a lowered model as readable numpy source, and the compiler's entry point.

:func:`compile_program` is the compiler. Stages, in order:

1. lower stateful builtins to internal stocks (:mod:`sd_engine.lower`);
2. lay out the state: continuous stocks in ``y``, discrete states in ``z``, constants
   and lookup tables in ``c``, recorded series in ``out`` -- every array with a
   leading run axis (:class:`~sd_engine.program.Layout`);
3. resolve names and order the equations once with networkx (:mod:`sd_engine.order`;
   algebraic loops are reported as their cycle path), resolving dimensions as the code is
   written;
4. generate readable Python source for two functions, ``initialize`` and ``evaluate``
   (:class:`CodeGenerator`), keep it on the :class:`~sd_engine.program.Program` and register
   it with :mod:`linecache` so tracebacks show the equations.

:class:`CodeGenerator` is a public extension point: a back end that writes other code for the
same model (the scalar path of :mod:`sd_engine.scalar` writes the equations over Python
floats) subclasses it and overrides its hooks.

The generated code is built from the validated tree only, and model files are untrusted:

* every identifier is generated (``v0``, ``v1`` ... in the order of the lowered
  variables; ``_table0`` ... for literal tables), never derived from a name, so the map
  from names to identifiers is injective by construction and no name -- a Python
  keyword, a builtin, ``sf``, ``_table0``, a Unicode letter that NFKC folds -- can
  collide with anything the code uses;
* model text (names, equations) appears only in trailing comments, and only through
  :func:`comment` (``repr``), which escapes line breaks and every other control character, so
  it can never end the comment; the comments keep the source readable and show each equation
  in tracebacks;
* every number is rendered with ``repr``;
* chains of ``+``/``-`` (and of ``*``/``/``) are written without brackets in between,
  which Python evaluates left to right exactly as the nested tree, so a long sum does not
  hit Python's limit of 200 nested brackets; an equation that would still need more
  than :data:`MAX_NESTING` levels is refused with an error naming the variable.

A subclass keeps these properties by writing identifiers from ``self.ident``, numbers with
``repr`` and model text only through :func:`comment`, and by passing each equation's code
through :func:`check_nesting`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np

from .errors import DimensionError, SDError, SpecError, did_you_mean
from .expr import TIME_NAMES, Binary, Call, Expr, Num, Ref, Str, Table, Unary, canonical, to_text
from .functions import (
    ALIASES,
    ARRAY_FUNCTIONS,
    ARRAY_USAGE,
    BUILTINS,
    LOOKUP_FUNCTIONS,
    LOOKUP_MODES,
    PIECE_AT,
    PIECES,
    REDUCTIONS,
    fold,
    piece_blocks,
)
from .io.model_file import name_file
from .lower import lower, split_element_cycles
from .order import (
    check_references,
    computed_variables,
    equation_hint,
    is_parameter,
    order_initial,
    order_rates,
)
from .program import GeneratedEvaluator, Layout, Program, Slot
from .spec import ModelSpec, Variable, mapped_dimensions

__all__ = [
    "Record",
    "compile_program",
    "CodeGenerator",
    "MAX_NESTING",
    "CHAIN_OPERATORS",
    "comment",
    "chain_operands",
    "check_nesting",
    "net_flow_text",
]

#: What a program records per saved time: the model's own stocks, flows, auxiliaries and computed
#: constants ("default"), or every stock, flow and auxiliary, internal ones included ("all", what
#: loop scores need).
Record = Literal["default", "all"]
#: The most nested brackets the code of one equation may need. Python refuses source nested
#: more than 200 deep ("too many nested parentheses"); the margin covers the wrapping code.
MAX_NESTING = 180
#: Operators written as one flat chain: Python evaluates `a + b - c` as `(a + b) - c`.
CHAIN_OPERATORS = {"+": ("+", "-"), "-": ("+", "-"), "*": ("*", "/"), "/": ("*", "/")}


def compile_program(spec: ModelSpec, *, record: Record = "default") -> Program:
    """Compile `spec` into a :class:`~sd_engine.program.Program`: lower, lay out, check names,
    order and generate the numpy code.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    record : {"default", "all"}
        The series the program records: the model's own variables, or every stock, flow and
        auxiliary including the internal ones of SMOOTH, DELAY and the like.

    Raises
    ------
    SDError
        The model cannot be compiled (an unknown name, an algebraic loop, a dimension
        mismatch ...); the message names the variable, and the file of an imported model.

    Examples
    --------
    >>> from sd_engine.builder import Model
    >>> m = Model("smoothed decay")
    >>> _ = m.stock("x", initial=8, outflows=["loss"])
    >>> _ = m.flow("loss", "smooth(x, 2) / 2")
    >>> [slot.name for slot in compile_program(m.spec()).layout.series]
    ['x', 'loss']
    >>> [slot.name for slot in compile_program(m.spec(), record="all").layout.series]
    ['x', 'loss', '_smooth_1 of loss change', '_smooth_1 of loss']
    """
    if record not in ("default", "all"):
        raise SpecError(f"`record` must be \"default\" or \"all\", not {record!r}.")
    try:
        lowered = split_element_cycles(lower(spec))
        generator = CodeGenerator(lowered)
        layout = generator.layout(record)
        check_references(lowered)
        source = generator.generate(layout)
        # Each program's own file name: tracebacks then show the lines of the code that ran.
        label = " (every variable recorded)" if record == "all" else ""
        filename = f"<sdflow model {spec.name!r} {spec.hash()}{label}>"
        tables = dict(generator.tables)
        return Program(spec, lowered, layout, source, tables, GeneratedEvaluator(source, filename, tables))
    except SDError as exc:
        name_file(exc, spec.source)  # an imported model's spec keeps its file's path
        raise


class CodeGenerator:
    """Writes the numpy source of a lowered model's ``initialize`` and ``evaluate``.

    One generator serves one lowered spec: it assigns each variable its identifier
    (``ident``), resolves dimensions while it writes (``dims``, ``mapped``) and collects the
    literal tables the code reads (``tables``). :meth:`layout` lays out the buffers and
    :meth:`generate` writes the two functions of :class:`~sd_engine.program.Evaluator` for it.

    Hooks a subclass overrides to write other code for the same model:

    * :meth:`emit` -- the code of an expression and its dimensions;
    * :meth:`emit_call` -- the code of a function call (reached from :meth:`emit`);
    * :meth:`net_flow` -- the code of a stock's net flow;
    * :meth:`limit_outflow` -- the lines capping an outflow of a non-negative stock;

    and :meth:`generate` itself, to write other functions around them (see
    :class:`sd_engine.scalar.ScalarGenerator`). The order of the equations comes from
    :meth:`rate_order` and :meth:`initial_order` (:mod:`sd_engine.order`). The module
    docstring lists the properties of generated code a subclass must keep.

    Parameters
    ----------
    lowered : ModelSpec
        The model after :func:`sd_engine.lower.lower` (and
        :func:`~sd_engine.lower.split_element_cycles`).
    """

    def __init__(self, lowered: ModelSpec) -> None:
        self.lowered = lowered
        self.vars: dict[str, Variable] = {v.canonical: v for v in lowered.variables}
        self.dims: dict[str, tuple[str, ...]] = {
            d.canonical: tuple(canonical(e) for e in d.elements) for d in lowered.dimensions
        }
        # Dimensions an equation may read in each other's place: Vensim mappings (either way)
        # and, in `emit_ref`, ranges with the same elements.
        self.mapped = mapped_dimensions(lowered.dimensions)
        # Generated identifiers, never derived from names: `v<number>` cannot be a keyword, a
        # builtin or a name the generated code uses (np, fn, sf, c, cs, t, dt, _table0 ...).
        self.ident: dict[str, str] = {key: f"v{i}" for i, key in enumerate(self.vars)}
        self.tables: dict[Table, str] = {}

    # -- layout and order ------------------------------------------------------------------
    def var_dims(self, var: Variable) -> tuple[str, ...]:
        return tuple(canonical(d) for d in var.dims)

    def shape(self, var: Variable) -> tuple[int, ...]:
        return tuple(len(self.dims[d]) for d in self.var_dims(var))

    def slots(self, variables: Iterable[Variable]) -> tuple[Slot, ...]:
        """Consecutive slots of `variables` in one buffer, in the order given."""
        out, start = [], 0
        for var in variables:
            slot = Slot(var.name, var.canonical, var.kind, self.var_dims(var), self.shape(var), start,
                        var.update, var.internal)
            out.append(slot)
            start = slot.stop
        return tuple(out)

    def layout(self, record: Record = "default") -> Layout:
        """The buffers of the program, recording the series `record` says."""
        variables = list(self.vars.values())
        stocks = [v for v in variables if v.kind == "stock" and v.update == "continuous"]
        states = [v for v in variables if v.kind == "stock" and v.update != "continuous"]
        constants = [v for v in variables if is_parameter(v)]
        lookups = [v.canonical for v in variables if v.kind == "lookup"]
        if record == "all":
            series = [v for v in variables if v.kind in ("stock", "flow", "aux")]
        else:
            series = [v for v in variables if not v.internal and v.kind in ("stock", "flow", "aux")]
            series += [v for v in computed_variables(self.lowered) if v.kind == "constant" and not v.internal]
        return Layout(self.slots(stocks), self.slots(states), self.slots(constants), tuple(lookups),
                      self.slots(series))

    def rate_order(self) -> list[Variable]:
        """The variables ``evaluate`` computes, in order (:func:`sd_engine.order.order_rates`)."""
        return order_rates(self.lowered, computed_variables(self.lowered))

    def initial_order(self) -> list[Variable]:
        """What ``initialize`` computes, in order (:func:`sd_engine.order.order_initial`)."""
        return order_initial(self.lowered)

    # -- code generation -------------------------------------------------------------------
    def generate(self, layout: Layout) -> str:
        """The source of ``initialize`` and ``evaluate`` for `layout` (see :class:`~sd_engine.program.Evaluator`)."""
        rate_order = self.rate_order()
        init_order = self.initial_order()
        lines = [f"# Generated by sdflow from model {self.lowered.name!r}. Every array has a leading run axis.", ""]
        lines += ["def initialize(t, c, dt, y, z, delay):",
                  "    n = y.shape[0]"]
        lines += self.read_inputs(layout, read_states=False)
        # The integrator keeps one delay column per pipeline element, pipelines in state order.
        delay_slots: dict[str, Slot] = {}
        column = 0
        for s in layout.states:
            if s.update == "pipeline":
                delay_slots[s.key] = dataclasses.replace(s, start=column)
                column = delay_slots[s.key].stop
        slot_states = {s.key: s for s in layout.states}
        for var in init_order:
            expr = var.init_equation or var.equation
            if var.update == "random":
                lines.append(f"    {self.ident[var.canonical]} = {self.read(slot_states[var.canonical], 'z')}"
                             + comment(var.name))
                continue
            assert expr is not None
            lines.append(self.assign(var, expr))
            if var.kind == "stock":
                buffer = "y" if var.update == "continuous" else "z"
                slot = next(s for s in (layout.stocks if buffer == "y" else layout.states) if s.key == var.canonical)
                lines.append(self.write(slot, buffer, self.ident[var.canonical]))
            if var.update == "pipeline":
                assert var.delay_time is not None
                code, dims = self.emit(var.delay_time, var)
                code = check_nesting(self.fit(code, dims, self.var_dims(var), var, var.delay_time), var)
                lines.append(self.write(delay_slots[var.canonical], "delay", code)
                             + comment(f"delay time of {var.name} = {to_text(var.delay_time)}"))
        lines.append("")
        lines += ["def evaluate(t, y, z, c, dt, dy, zn, out):", "    n = y.shape[0]"]
        lines += self.read_inputs(layout, read_states=True)
        for var in rate_order:
            assert var.equation is not None
            lines.append(self.assign(var, var.equation))
            if var.kind == "flow":
                lines += self.limit_outflow(var)
        for slot in layout.stocks:
            lines.append(self.write(slot, "dy", self.net_flow(self.vars[slot.key]), full_shape=False)
                         + comment(f"net flow of {slot.name}"))
        for slot in layout.states:
            var = self.vars[slot.key]
            if var.update in ("discrete", "pipeline") and var.inflows:
                lines.append(self.write(slot, "zn", self.ident[var.inflows[0]]) + comment(f"next {slot.name}"))
            else:
                lines.append(self.write(slot, "zn", self.ident[slot.key]) + comment(f"next {slot.name}"))
        lines.append("    if out is not None:")
        for slot in layout.series:
            lines.append("    " + self.write(slot, "out", self.ident[slot.key]) + comment(slot.name))
        if not layout.series:
            lines.append("        pass  # a model of constants only records nothing per step")
        lines.append("")
        return "\n".join(lines)

    def net_flow(self, stock: Variable) -> str:
        """Hook: the code of `stock`'s net flow, inflows minus outflows, each aligned to the
        stock's dimensions (and floored for a non-negative stock)."""
        target = self.var_dims(stock)
        terms = []
        for sign, names in (("+", stock.inflows), ("-", stock.outflows)):
            for name in names:
                dims = self.var_dims(self.vars[name])
                if not set(dims) <= set(target):
                    raise DimensionError(
                        f"Flow `{self.vars[name].name}` has dimensions {list(dims)} that stock `{stock.name}` "
                        f"({list(target)}) lacks; give them the same dimensions."
                    )
                terms.append(f"{sign} {self.align(self.ident[name], dims, target)}")
        return net_flow_text(terms, stock, self.ident[stock.canonical], "np")

    def read(self, slot: Slot, buffer: str) -> str:
        if not slot.shape:
            return f"{buffer}[:, {slot.start}]"
        return f"{buffer}[:, {slot.start}:{slot.stop}].reshape((n,) + {slot.shape})"

    def write(self, slot: Slot, buffer: str, code: str, full_shape: bool = True) -> str:
        """Store `code` into the slot's columns; `full_shape` says it is already ``(n, *shape)``."""
        if full_shape:
            full = f"{code}.reshape(n, {slot.size})" if slot.shape else code
        else:
            full = f"np.broadcast_to({code}, (n,) + {slot.shape}).reshape(n, {slot.size})" if slot.shape else code
        if not slot.shape:
            return f"    {buffer}[:, {slot.start}] = {full}"
        return f"    {buffer}[:, {slot.start}:{slot.stop}] = {full}"

    def read_inputs(self, layout: Layout, read_states: bool, *, read: Callable[[Slot, str], str] | None = None,
                    constants: str = "c", indent: str = "    ") -> list[str]:
        """Lines binding each stock, state, constant and lookup to its identifier; `read` says
        how a slot of ``y`` or ``z`` is read (the scalar path reads Python lists)."""
        read = read or self.read
        lines = []
        if read_states:
            for slot in layout.stocks:
                lines.append(f"{indent}{self.ident[slot.key]} = {read(slot, 'y')}" + comment(slot.name))
            for slot in layout.states:
                lines.append(f"{indent}{self.ident[slot.key]} = {read(slot, 'z')}" + comment(slot.name))
        for i, slot in enumerate(layout.constants):
            lines.append(f"{indent}{self.ident[slot.key]} = {constants}[{i}]" + comment(slot.name))
        for j, key in enumerate(layout.lookups):
            lines.append(f"{indent}{self.ident[key]} = {constants}[{len(layout.constants) + j}]"
                         + comment(self.vars[key].name))
        return lines

    def assign(self, var: Variable, expr: Expr) -> str:
        if isinstance(expr, Call) and expr.func == PIECES:
            return self.assign_pieces(var, expr)
        code, dims = self.emit(expr, var)
        target = self.var_dims(var)
        code = self.fit(code, dims, target, var, expr)
        if var.kind == "flow" and var.non_negative:
            code = f"np.maximum({code}, 0.0)"
        return (f"    {self.ident[var.canonical]} = {check_nesting(code, var)}"
                + comment(f"{var.name} = {to_text(expr)}"))

    def assign_pieces(self, var: Variable, expr: Call) -> str:
        """An arrayed variable assembled from blocks that each have their own equation."""
        ident = self.ident[var.canonical]
        target = self.var_dims(var)
        shape = tuple(len(self.dims[d]) for d in target)
        lines = [f"np.full((n,) + {shape}, np.nan)" + comment(f"{var.name}: one equation per block")]
        covered = np.zeros(shape, dtype=int)
        for selector, piece in piece_blocks(expr, var):
            labels, index = self.block(selector, target, var)
            block_shape = tuple(len(i) for i in index)
            covered[np.ix_(*index)] += 1
            code, dims = self.emit(piece, var)
            extra = [d for d in (dims or ()) if d not in labels]
            if extra:
                raise DimensionError(
                    f"The equation of `{var.name}`[{', '.join(selector)}] varies over dimension `{extra[0]}`, "
                    f"which that block does not have: `{to_text(piece)}`."
                )
            if dims is None:
                value = f"{code}"
            else:
                value = f"np.broadcast_to({self.align(code, dims, labels)}, (n,) + {block_shape})"
            lines.append(f"    {ident}[{self.block_index(index)}] = {check_nesting(value, var)}"
                         + comment(f"[{', '.join(selector)}] = {to_text(piece)}"))
        if covered.min() == 0 or covered.max() > 1:
            cell = np.argwhere(covered != 1)[0]
            element = ", ".join(self.dims[d][k] for d, k in zip(target, cell))
            what = "no equation" if covered[tuple(cell)] == 0 else "more than one equation"
            raise SpecError(f"`{var.name}`[{element}] has {what}; give every element exactly one equation.")
        if var.kind == "flow" and var.non_negative:
            lines.append(f"    {ident} = np.maximum({ident}, 0.0)")
        return f"    {ident} = " + "\n".join(lines)

    def block(self, selector: tuple[str, ...], target: tuple[str, ...],
              var: Variable) -> tuple[tuple[str, ...], list[list[int]]]:
        """Dimension labels and element positions of one block of an arrayed variable."""
        if len(selector) != len(target):
            raise DimensionError(
                f"A block of `{var.name}` gives {len(selector)} subscript(s) {list(selector)} for its "
                f"{len(target)} dimension(s) {list(target)}."
            )
        labels: list[str] = []
        index: list[list[int]] = []
        for sub, dim in zip(selector, target):
            key = canonical(sub)
            elements = self.dims[dim]
            if key == dim:
                labels.append(dim)
                index.append(list(range(len(elements))))
            elif key in self.dims and set(self.dims[key]) <= set(elements):
                labels.append(key)
                index.append([elements.index(e) for e in self.dims[key]])
            elif key in elements:
                labels.append(f"{dim}={key}")  # a one-element block: no equation varies over it
                index.append([elements.index(key)])
            else:
                raise DimensionError(
                    f"`{sub}` in a block of `{var.name}` is neither dimension `{dim}`, a subrange of it, nor one "
                    f"of its elements." + did_you_mean(key, elements)
                )
        return tuple(labels), index

    @staticmethod
    def block_index(index: list[list[int]]) -> str:
        parts = []
        for positions in index:
            lo, hi = positions[0], positions[-1] + 1
            parts.append(f"{lo}:{hi}" if positions == list(range(lo, hi)) else repr(positions))
        if sum(p.startswith("[") for p in parts) > 1:
            # Several element lists: an open mesh, so they do not pair up element by element.
            return "(slice(None),) + np.ix_(" + ", ".join(repr(p) for p in index) + ")"
        return ":, " + ", ".join(parts)

    def fit(self, code: str, dims: tuple[str, ...] | None, target: tuple[str, ...], var: Variable,
            expr: Expr) -> str:
        """Make `code` exactly the variable's shape ``(n, *dims)``."""
        shape = tuple(len(self.dims[d]) for d in target)
        if dims is None:
            return f"np.full((n,) + {shape}, {code}, dtype=float)" if shape else f"np.full(n, {code}, dtype=float)"
        extra = [d for d in dims if d not in target]
        if extra and var.internal:
            owner = var.owner or var.name
            raise DimensionError(
                f"A stateful function in the equation of `{owner}` has an input that varies over dimension "
                f"`{extra[0]}`, which `{owner}` does not have. Move the call into its own auxiliary with "
                f"that dimension and reduce that auxiliary instead."
            )
        if extra:
            raise DimensionError(
                f"The equation of `{var.name}` varies over dimension `{extra[0]}`, which `{var.name}` does "
                f"not have: `{to_text(expr)}`. Give `{var.name}` that dimension, or reduce over it "
                f"(e.g. `sum(..., \"{extra[0]}\")`)."
            )
        aligned = self.align(code, dims, target)
        if dims == target:
            return aligned
        return f"np.broadcast_to({aligned}, (n,) + {shape})"

    def draining(self, flow: Variable) -> list[tuple[Variable, tuple[str, ...], tuple[str, ...]]]:
        """The non-negative stocks `flow` drains, each with what is available to the flow: the
        stock's inflows and the outflows listed before it (XMILE: first listed, first served)."""
        return [(stock, stock.inflows, stock.outflows[:stock.outflows.index(flow.canonical)])
                for stock in self.vars.values()
                if stock.kind == "stock" and stock.non_negative and flow.canonical in stock.outflows]

    def limit_outflow(self, flow: Variable) -> list[str]:
        """Hook: the lines that cap outflow `flow` of each non-negative stock it drains by what
        the stock and the flows before it hold (written after the flow's own equation)."""
        lines = []
        for stock, inflows, before in self.draining(flow):
            # Add up what is available in the stock's dimensions, then line it up with the
            # flow's: flows may list the same dimensions in another order.
            target = self.var_dims(stock)
            if set(self.var_dims(flow)) != set(target):
                raise DimensionError(
                    f"Flow `{flow.name}` drains non-negative stock `{stock.name}` but has dimensions "
                    f"{list(self.var_dims(flow))}, not the stock's {list(target)}; give it the stock's dimensions."
                )

            def term(f: str) -> str:
                dims = self.var_dims(self.vars[f])
                if not set(dims) <= set(target):
                    raise DimensionError(
                        f"Flow `{self.vars[f].name}` has dimensions {list(dims)} that stock `{stock.name}` "
                        f"({list(target)}) lacks; give them the same dimensions."
                    )
                return self.align(self.ident[f], dims, target)

            available = [f"{self.ident[stock.canonical]} / dt"] + [f"+ {term(f)}" for f in inflows]
            available += [f"- {term(f)}" for f in before]
            total = self.align(f"({' '.join(available)})", target, self.var_dims(flow))
            ident = self.ident[flow.canonical]
            lines.append(f"    {ident} = np.minimum({ident}, np.maximum({total}, 0.0))"
                         + comment(f"non-negative {stock.name}"))
        return lines

    def align(self, code: str, dims: tuple[str, ...] | None, target: tuple[str, ...]) -> str:
        if dims is None or dims == target:
            return code
        order = sorted(dims, key=target.index)
        if list(order) != list(dims):
            perm = (0,) + tuple(1 + dims.index(d) for d in order)
            code = f"np.transpose({code}, {perm})"
        index = ", ".join(":" if d in dims else "None" for d in target)
        return f"{code}[:, {index}]"

    def union(self, *all_dims: tuple[str, ...] | None) -> tuple[str, ...] | None:
        result: list[str] | None = None
        for dims in all_dims:
            if dims is None:
                continue
            result = result or []
            result += [d for d in dims if d not in result]
        return None if result is None else tuple(result)

    def emit(self, expr: Expr, var: Variable) -> tuple[str, tuple[str, ...] | None]:
        """Hook: the numpy code of `expr` (in the equation of `var`) and its dimensions, in the
        order of its axes after the run axis (None: a number, the same for every run)."""
        if isinstance(expr, Num):
            v = expr.value
            if not math.isfinite(v):
                return f"float({str(v)!r})", None
            # Bracket negatives: `-2.0 ** 2` would mean -(2 ** 2) to Python.
            return (repr(v) if v >= 0 else f"({v!r})"), None
        if isinstance(expr, Ref):
            return self.emit_ref(expr, var)
        if isinstance(expr, (Unary, Binary)):
            folded = fold(expr)
            if isinstance(folded, Num):
                return self.emit(folded, var)
        if isinstance(expr, Unary):
            code, dims = self.emit(expr.operand, var)
            if expr.op == "not":
                # Logical results are numbers, as comparisons are, so `-(not x)` works too.
                return f"(1.0 * np.logical_not({code}))", dims
            return f"(-{code})", dims
        if isinstance(expr, Binary) and expr.op in CHAIN_OPERATORS:
            # One flat chain, each operand lined up with the dimensions of the whole: the same
            # operations on the same elements in the same order as the nested form.
            first, rest = chain_operands(expr)
            emitted = [self.emit(first, var)] + [self.emit(operand, var) for _, operand in rest]
            dims = self.union(*(d for _, d in emitted))
            codes = [self.align(code, d, dims) if dims is not None else code for code, d in emitted]
            return "(" + codes[0] + "".join(f" {op} {code}" for (op, _), code in zip(rest, codes[1:])) + ")", dims
        if isinstance(expr, Binary):
            left, ldims = self.emit(expr.left, var)
            right, rdims = self.emit(expr.right, var)
            dims = self.union(ldims, rdims)
            if dims is not None:
                left, right = self.align(left, ldims, dims), self.align(right, rdims, dims)
            if expr.op in ("and", "or"):
                return f"(1.0 * np.logical_{expr.op}({left}, {right}))", dims
            if expr.op == "%":
                return f"np.mod({left}, {right})", dims
            if expr.op in ("==", "!=", "<", "<=", ">", ">="):
                return f"(1.0 * ({left} {expr.op} {right}))", dims
            return f"({left} {expr.op} {right})", dims
        if isinstance(expr, Call):
            return self.emit_call(expr, var)
        if isinstance(expr, (Str, Table)):
            raise SpecError(
                f"The equation of `{var.name}` uses `{to_text(expr)}` where a number is expected."
            )
        raise TypeError(expr)

    def emit_ref(self, ref: Ref, var: Variable) -> tuple[str, tuple[str, ...] | None]:
        if ref.name in TIME_NAMES and ref.name not in self.vars:
            if ref.subscripts:
                raise SpecError(f"`{ref.name}` in `{var.name}` cannot be subscripted.")
            return TIME_NAMES[ref.name], None
        target = self.vars[ref.name]
        if target.kind == "lookup":
            raise SpecError(
                f"Lookup `{target.name}` is used as a value in `{var.name}`; call it with an input, "
                f"as in `{ref.name}(x)`."
            )
        code, dims = self.ident[ref.name], self.var_dims(target)
        if not ref.subscripts:
            return code, dims
        if len(ref.subscripts) != len(dims):
            raise DimensionError(
                f"`{target.name}` has {len(dims)} dimension(s) {dims} but `{var.name}` gives "
                f"{len(ref.subscripts)} subscript(s) {list(ref.subscripts)}."
            )
        index, kept = [], []
        takes: list[tuple[int, list[int]]] = []  # (axis, positions) of subrange selections
        for sub, dim in zip(ref.subscripts, dims):
            key = canonical(sub)
            # `dim!` (Vensim) is the dimension a reduction runs over: its own label, so an
            # equation over `dim` can also reduce a variable over `dim` x `dim`.
            base = key[:-1] if key.endswith("!") else key
            if base == dim or (base in self.mapped.get(dim, ()) and len(self.dims[base]) == len(self.dims[dim])) \
                    or (base in self.dims and base != dim and self.dims[base] == self.dims[dim]):
                index.append(":")
                kept.append(key)
                self.dims.setdefault(key, self.dims[dim])
            elif base in self.dims and set(self.dims[base]) < set(self.dims[dim]):
                index.append(":")
                takes.append((1 + len(kept), [self.dims[dim].index(e) for e in self.dims[base]]))
                kept.append(key)
                self.dims.setdefault(key, self.dims[base])
            elif key in self.dims[dim]:
                index.append(str(self.dims[dim].index(key)))
            else:
                raise DimensionError(
                    f"`{sub}` in `{var.name}` is neither dimension `{dim}` nor one of its elements "
                    f"{list(self.dims[dim])}." + did_you_mean(key, self.dims[dim])
                )
        code = f"{code}[:, {', '.join(index)}]"
        for axis, positions in takes:
            code = f"np.take({code}, {positions}, axis={axis})"
        return code, tuple(kept)

    def emit_call(self, call: Call, var: Variable) -> tuple[str, tuple[str, ...] | None]:
        """Hook: the code of a function call and its dimensions, as :meth:`emit`."""
        func = ALIASES.get(call.func, call.func)
        if func == "time" and not call.args:
            return "t", None
        if func in (PIECES, PIECE_AT):
            raise SpecError(f"`{func}` must be the whole equation of `{var.name}`, not part of it.")
        if func in REDUCTIONS:
            return self.emit_reduction(call, var)
        if func == "with_lookup":
            if len(call.args) != 2 or not isinstance(call.args[1], Table):
                raise SpecError(f"`with_lookup` in `{var.name}` takes an input and a table of (x, y) points.")
            literal = call.args[1]
            name = self.tables.setdefault(literal, f"_table{len(self.tables)}")
            code, dims = self.emit(call.args[0], var)
            return f"fn.lookup({code}, {name}[0], {name}[1])", dims
        if func in LOOKUP_FUNCTIONS:
            if len(call.args) != 2 or not isinstance(call.args[0], Ref) or call.args[0].name not in self.vars \
                    or self.vars[call.args[0].name].kind != "lookup":
                raise SpecError(f"`{func}` in `{var.name}` takes a lookup's name and an input: `{func}(table, x)`.")
            return self.emit_lookup(call.args[0].name, call.args[1], var, LOOKUP_FUNCTIONS[func])
        if func in self.vars and self.vars[func].kind == "lookup":
            if len(call.args) != 1:
                raise SpecError(f"Lookup `{self.vars[func].name}` takes one input, in `{var.name}`.")
            lookup = self.vars[func].lookup
            assert lookup is not None
            return self.emit_lookup(func, call.args[0], var, lookup.mode)
        if func in ARRAY_FUNCTIONS:
            return self.emit_array_function(func, call, var)
        builtin = BUILTINS[func]
        if builtin.nargs is not None and len(call.args) not in builtin.nargs:
            raise SpecError(
                f"`{func}` in the equation of `{var.name}` takes "
                f"{' or '.join(map(str, builtin.nargs))} argument(s), not {len(call.args)}."
            )
        if builtin.nargs is None and not call.args:
            raise SpecError(f"`{func}` in the equation of `{var.name}` needs at least one argument.")
        emitted = [self.emit(a, var) for a in call.args]
        dims = self.union(*(d for _, d in emitted))
        args = [self.align(code, d, dims) if dims is not None else code for code, d in emitted]
        prefix = (["t"] if builtin.time else []) + (["dt"] if builtin.dt else [])
        return f"fn.{func.lstrip('_')}({', '.join(prefix + args)})", dims

    def emit_array_function(self, func: str, call: Call, var: Variable) -> tuple[str, tuple[str, ...] | None]:
        """Vector and allocation functions: the arguments lined up so that the dimension the
        function works along is the last axis (VECTOR SELECT: the ``dim!`` axes it reduces)."""
        args = call.args
        usage = ARRAY_USAGE[func]
        count = len([a for a in args if not isinstance(a, Str)])
        expected = {"vector_select": 5, "allocate_available": 3}.get(func, usage.count(",") + 1)
        if count != expected or (func == "vector_select" and len(args) == count) \
                or (func == "allocate_available" and len(args) != 4):
            raise SpecError(f"`{func}` in the equation of `{var.name}` is written `{usage}`.")

        def arrayed(expr: Expr, what: str) -> tuple[str, tuple[str, ...]]:
            code, dims = self.emit(expr, var)
            if not dims:
                raise DimensionError(f"The {what} of `{func}` in `{var.name}` must be an array: `{usage}`.")
            return code, dims

        def per_group(expr: Expr, what: str, target: tuple[str, ...]) -> str:
            code, dims = self.emit(expr, var)
            extra = [d for d in dims or () if d not in target]
            if extra:
                raise DimensionError(
                    f"The {what} of `{func}` in `{var.name}` varies over `{extra[0]}`, the dimension the function "
                    f"works along (or one its result lacks): `{usage}`."
                )
            return self.align(code, dims, target)

        if func == "vector_select":
            sel, sdims = arrayed(args[0], "selection")
            expr, edims = arrayed(args[1], "expression")
            union = self.union(sdims, edims) or ()
            over = [canonical(a.value) for a in args[5:] if isinstance(a, Str)]
            missing = [d for d in over if d not in union]
            if missing:
                raise DimensionError(f"`{func}` in `{var.name}` selects over `{missing[0]}`, which its arrays lack.")
            kept = tuple(d for d in union if d not in over)
            axes = tuple(1 + union.index(d) for d in over)
            rest = [per_group(a, what, kept) for a, what in zip(args[2:5], ("missing value", "action", "error action"))]
            code = f"fn.vector_select({self.align(sel, sdims, union)}, {self.align(expr, edims, union)}, " \
                   f"{', '.join(rest)}, {axes})"
            return code, kept
        vector, vdims = arrayed(args[0], "first argument")
        along = vdims[-1]  # Vensim: the last subscript of the first argument
        if func in ("vector_sort_order", "vector_rank"):
            return f"fn.{func}({vector}, {per_group(args[1], 'direction', vdims[:-1])})", vdims
        if func == "vector_reorder":
            order, odims = arrayed(args[1], "order")
            union = tuple(d for d in self.union(vdims, odims) or () if d != along) + (along,)
            return f"fn.vector_reorder({self.align(vector, vdims, union)}, {self.align(order, odims, union)})", union
        if func == "allocate_available":
            profiles, pdims = arrayed(args[1], "priority profile")
            profile = canonical(args[3].value) if isinstance(args[3], Str) else ""
            if profile not in pdims or along not in pdims:
                raise DimensionError(
                    f"The priority profiles of `{func}` in `{var.name}` must vary over the requesters' dimension "
                    f"`{along}` and the profile dimension: `{usage}`."
                )
            others = [d for d in pdims if d != profile]
            union = tuple(d for d in self.union(vdims, tuple(others)) or () if d != along)
            supply_dims = self.emit(args[2], var)[1] or ()
            union = tuple(self.union(union, tuple(d for d in supply_dims if d != along)) or ()) + (along,)
            return (f"fn.allocate_available({self.align(vector, vdims, union)}, "
                    f"{self.align(profiles, pdims, union + (profile,))}, "
                    f"{per_group(args[2], 'supply', union[:-1])})"), union
        # allocate_by_priority(request, priority, size, width, supply)
        priority, pdims = arrayed(args[1], "priority")
        union = tuple(d for d in self.union(vdims, pdims) or () if d != along)
        for extra in args[3:5]:
            union = tuple(self.union(union, tuple(d for d in self.emit(extra, var)[1] or () if d != along)) or ())
        union = union + (along,)
        return (f"fn.allocate_by_priority({self.align(vector, vdims, union)}, {self.align(priority, pdims, union)}, "
                f"{per_group(args[3], 'width', union[:-1])}, {per_group(args[4], 'supply', union[:-1])})"), union

    def emit_lookup(self, key: str, arg: Expr, var: Variable, mode: str) -> tuple[str, tuple[str, ...] | None]:
        code, dims = self.emit(arg, var)
        impl = LOOKUP_MODES[mode].__name__
        ident = self.ident[key]
        return f"fn.{impl}({code}, {ident}[0], {ident}[1])", dims

    def emit_reduction(self, call: Call, var: Variable) -> tuple[str, tuple[str, ...] | None]:
        if not call.args or len(call.args) > 2 or (len(call.args) == 2 and not isinstance(call.args[1], Str)):
            raise SpecError(
                f"`{call.func}` in `{var.name}` takes an array and optionally a dimension name: "
                f"`{call.func}(x, \"dim\")`."
            )
        code, dims = self.emit(call.args[0], var)
        if not dims:
            raise DimensionError(f"`{call.func}` in `{var.name}` needs an arrayed argument.")
        if len(call.args) == 2:
            assert isinstance(call.args[1], Str)
            dim = canonical(call.args[1].value)
            if dim not in dims:
                raise DimensionError(
                    f"`{call.func}` in `{var.name}` reduces over `{dim}`, but its argument has dimensions "
                    f"{list(dims)}." + did_you_mean(dim, dims)
                )
            axes: tuple[int, ...] = (1 + dims.index(dim),)
            kept = tuple(d for d in dims if d != dim)
        else:
            axes = tuple(range(1, 1 + len(dims)))
            kept = ()
        return f"np.{REDUCTIONS[call.func]}({code}, axis={axes})", kept


def net_flow_text(terms: list[str], stock: Variable, ident: str, ns: str) -> str:
    """The code of a stock's net flow from its signed terms (``"+ inflow"``, ``"- outflow"``),
    with `ns` the namespace of ``maximum``/``minimum`` (numpy for arrays, floats for the
    scalar path)."""
    if not terms:
        return "0.0"
    text = " ".join(terms)
    text = text[2:] if text.startswith("+ ") else "-" + text[2:]
    if stock.non_negative and stock.update == "continuous":
        # Outflows are capped already; a negative inflow (an XMILE biflow) must not drain
        # the stock below zero either, nor drain one that already is.
        text = f"{ns}.maximum({text}, {ns}.minimum(-{ident} / dt, 0.0))"
    return text


def chain_operands(expr: Binary) -> tuple[Expr, list[tuple[str, Expr]]]:
    """The left spine of a chain of ``+``/``-`` (or ``*``/``/``) as its first operand and the
    ``(operator, operand)`` pairs that follow, to be written without brackets in between.

    A part of the spine made of numbers alone stays one operand, folded at compile time with
    numpy's semantics (Python would raise on ``1 / 0``).
    """
    group = CHAIN_OPERATORS[expr.op]
    rest: list[tuple[str, Expr]] = []
    node: Expr = expr
    while isinstance(node, Binary) and node.op in group and not isinstance(fold(node), Num):
        rest.append((node.op, node.right))
        node = node.left
    rest.reverse()
    return node, rest


def comment(text: str) -> str:
    """A trailing comment carrying model text (a name, an equation) into generated source.

    The text goes through ``repr`` and nothing else: ``repr`` escapes CR, LF and every other
    control or invisible character, so the text can never end the comment and run as code.

    Examples
    --------
    >>> print(comment("x = 1\\rimport os"))
      # 'x = 1\\rimport os'
    """
    if len(text) > 100:
        text = text[:97] + "..."
    return f"  # {text!r}"


def check_nesting(code: str, var: Variable) -> str:
    """Return `code` (the generated code of one equation of `var`), or refuse it when Python
    could not compile its nesting of brackets."""
    if len(code) > 2 * MAX_NESTING:  # shorter code cannot nest that deep
        steps = np.frombuffer(code.encode("ascii"), dtype=np.uint8)
        opening = np.isin(steps, np.frombuffer(b"([{", dtype=np.uint8))
        closing = np.isin(steps, np.frombuffer(b")]}", dtype=np.uint8))
        deepest = int(np.cumsum(opening.astype(np.int64) - closing).max())
        if deepest > MAX_NESTING:
            raise SpecError(
                f"The equation of `{var.name}` nests too deeply for generated code ({deepest} levels of brackets, "
                f"at most {MAX_NESTING}); split it into auxiliaries.{equation_hint(var)}"
            )
    return code
