"""The slow reference interpreter: the test oracle for the generated numpy code.

:class:`Interpreter` evaluates the same lowered model as the code generator in
:mod:`sd_engine.codegen`, as an :class:`~sd_engine.program.Evaluator` of its own (the same
``initialize``/``evaluate`` calls and buffers), but shares none of its code generation: it
walks the expression tree recursively for every variable on every call, finds the
evaluation order itself by recursion with memoisation, and aligns subscripts by *name*
with :class:`xarray.DataArray` instead of by axis position. Builtin semantics come from :mod:`sd_engine.functions`, so a
disagreement between the two backends points at the compiler (names, dimensions,
order, buffers), not at a function's definition.

It is slow on purpose -- many xarray operations per variable per call -- and meant
for tests and for debugging a suspect generated model, never for production runs.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .errors import AlgebraicLoopError, DimensionError, SpecError, UnknownVariableError
from .expr import TIME_NAMES, Binary, Call, Expr, Num, Ref, Str, Table, Unary, canonical, to_text
from .functions import (
    ALIASES,
    ARRAY_FUNCTIONS,
    BUILTINS,
    LOOKUP_FUNCTIONS,
    LOOKUP_MODES,
    PIECES,
    REDUCTIONS,
    piece_blocks,
)
from .program import Layout, Program, Slot
from .spec import ModelSpec, Variable, mapped_dimensions

__all__ = ["Interpreter", "interpreted"]

_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
    "%": np.mod,
}
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge,
}
_LOGICAL: dict[str, Callable[[Any, Any], Any]] = {"and": np.logical_and, "or": np.logical_or}
_RUN = "run"


def _apply(ufunc: Callable[..., Any], *args: Any) -> xr.DataArray:
    """A numpy function of DataArrays, broadcast by dimension name."""
    result: xr.DataArray = xr.apply_ufunc(ufunc, *args)
    return result


def _vector_select(selection: xr.DataArray, expression: xr.DataArray, missing: xr.DataArray,
                   action: xr.DataArray, error: xr.DataArray, over: list[str]) -> xr.DataArray:
    """VECTOR SELECT written with xarray's own reductions (an independent check of
    :func:`sd_engine.functions.vector_select`)."""
    selection, expression = xr.broadcast(selection, expression)
    chosen = selection != 0
    count = chosen.sum(over)
    weighted = (selection * expression).where(chosen)
    powered = (expression ** selection).where(chosen)
    plain = expression.where(chosen)
    results = [weighted.sum(over), weighted.prod(over), weighted.min(over), weighted.max(over), weighted.mean(over),
               powered.prod(over), plain.sum(over), plain.prod(over), plain.min(over), plain.max(over),
               plain.mean(over)]
    out = xr.full_like(results[0], np.nan)
    for k, value in enumerate(results):
        out = xr.where(action == k, value, out)
    out = xr.where(count == 0, missing, out)
    failed = (error.isin([1, 3]) & (count == 0)) | (error.isin([2, 3]) & (count > 1))
    result: xr.DataArray = xr.where(failed, np.nan, out)
    return result


def interpreted(program: Program) -> Program:
    """`program` evaluated by the reference interpreter instead of its generated code.

    Examples
    --------
    >>> import sd_engine as sd
    >>> from sd_engine.integrate import simulate
    >>> teacup = sd.load("teacup").program
    >>> a = simulate(teacup, final_time=5)["Teacup Temperature"]
    >>> b = simulate(interpreted(teacup), final_time=5)["Teacup Temperature"]
    >>> bool(abs(a - b).max() < 1e-12)
    True
    """
    return dataclasses.replace(program, evaluator=Interpreter(program.lowered, program.layout))


class Interpreter:
    """The reference :class:`~sd_engine.program.Evaluator`: a tree-walking interpreter.

    :meth:`initialize` and :meth:`evaluate` have exactly the signatures and buffer semantics
    of the generated functions, so every integrator runs it unchanged, but each call walks
    the expression trees of the lowered model and aligns dimensions by name with xarray. It
    is orders of magnitude slower than the generated code. Between calls it keeps only what
    it knows of the model: variables, dimensions and buffer slots.

    Use it through :func:`interpreted`, or ``compiled.with_backend("interpreter")``.
    """

    def __init__(self, lowered: ModelSpec, layout: Layout) -> None:
        self.vars: dict[str, Variable] = {v.canonical: v for v in lowered.variables}
        self.elements: dict[str, tuple[str, ...]] = {
            d.canonical: tuple(canonical(e) for e in d.elements) for d in lowered.dimensions
        }
        # Dimensions read in each other's place (Vensim mappings, either way).
        self.mapped = mapped_dimensions(lowered.dimensions)
        # The layout only says where each variable lives in the buffers.
        self.stocks: tuple[Slot, ...] = layout.stocks
        self.states: tuple[Slot, ...] = layout.states
        self.series: tuple[Slot, ...] = layout.series
        self.slots: dict[str, tuple[str, Slot]] = {s.key: ("y", s) for s in layout.stocks}
        self.slots.update({s.key: ("z", s) for s in layout.states})
        self.parameters: dict[str, int] = {s.key: i for i, s in enumerate(layout.constants)}
        self.tables: dict[str, int] = {k: len(layout.constants) + j for j, k in enumerate(layout.lookups)}
        # The integrator keeps one delay column per pipeline element, in state order.
        self.pipelines: dict[str, int] = {}
        column = 0
        for slot in layout.states:
            if slot.update == "pipeline":
                self.pipelines[slot.key] = column
                column += slot.size

    def dims(self, var: Variable) -> tuple[str, ...]:
        return tuple(canonical(d) for d in var.dims)

    def initialize(self, t: float, c: Sequence[Any], dt: float, y: np.ndarray, z: np.ndarray,
                   delay: np.ndarray) -> None:
        """Fill initial stocks ``y``, discrete states ``z`` and pipeline delays ``delay``."""
        # Recursion from the stocks computes exactly what their initial values need.
        frame = _Frame(self, "initial", t, dt, c, y, z)
        for slot in self.stocks:
            self.write(y, slot, frame.value(slot.key))
        for slot in self.states:
            if slot.update != "random":  # random columns hold the integrator's first draw
                self.write(z, slot, frame.value(slot.key))
        for key, column in self.pipelines.items():
            var = self.vars[key]
            assert var.delay_time is not None
            length = frame.fit(frame.value_of(var.delay_time, var), var)
            size = math.prod(length.shape[1:])
            delay[:, column:column + size] = length.data.reshape(length.shape[0], size)

    def evaluate(self, t: float, y: np.ndarray, z: np.ndarray, c: Sequence[Any], dt: float, dy: np.ndarray,
                 zn: np.ndarray, out: np.ndarray | None) -> None:
        """Fill net flows ``dy``, next discrete states ``zn`` and, unless None, series ``out``."""
        frame = _Frame(self, "rate", t, dt, c, y, z)
        for key, var in self.vars.items():
            if var.kind in ("aux", "flow") or (var.kind == "constant" and key not in self.parameters):
                frame.value(key)
        for slot in self.stocks:
            self.write(dy, slot, frame.net_flow(self.vars[slot.key]))
        for slot in self.states:
            var = self.vars[slot.key]
            # Samples and pipelines take their single inflow's value; INITIAL and random states
            # keep their own (the integrator replaces random ones with fresh draws).
            if var.update in ("discrete", "pipeline") and var.inflows:
                self.write(zn, slot, frame.value(var.inflows[0]))
            else:
                self.write(zn, slot, frame.value(slot.key))
        if out is not None:
            for slot in self.series:
                self.write(out, slot, frame.value(slot.key))

    def write(self, buffer: np.ndarray, slot: Slot, value: xr.DataArray) -> None:
        # Transposing by name fails loudly if the layout and the interpreter disagree on dimensions.
        data = value.transpose(_RUN, *slot.dims).data
        buffer[:, slot.start:slot.stop] = data.reshape(buffer.shape[0], slot.size)


class _Frame:
    """One call of ``initialize`` or ``evaluate``: the inputs and the values worked out so far."""

    def __init__(self, model: Interpreter, mode: str, t: float, dt: float, c: Sequence[Any], y: np.ndarray,
                 z: np.ndarray) -> None:
        self.model = model
        self.mode = mode  # "initial": stocks from their initial equations; "rate": from y and z
        self.t, self.dt = float(t), float(dt)
        self.c, self.y, self.z = c, y, z
        self.n = y.shape[0]
        self.memo: dict[str, xr.DataArray] = {}
        self.active: list[str] = []  # the chain of variables being evaluated, to report loops

    # -- values of variables -----------------------------------------------------------------------
    def labelled(self, data: np.ndarray, var: Variable) -> xr.DataArray:
        # Dimension names, no coordinates: names are what broadcasting needs, and indexes
        # would make every operation several times slower.
        return xr.DataArray(np.asarray(data, dtype=float), dims=(_RUN,) + self.model.dims(var))

    def value(self, key: str) -> xr.DataArray:
        """The value of variable `key` in this frame, dims ``("run", *its dimensions)``."""
        if key in self.memo:
            return self.memo[key]
        var = self.model.vars[key]
        if key in self.active:
            cycle = self.active[self.active.index(key):]
            names = [self.model.vars[k].name for k in cycle]
            raise AlgebraicLoopError(
                "Algebraic loop: " + " -> ".join(f"`{name}`" for name in names + names[:1]) + ".", cycle=names
            )
        self.active.append(key)
        try:
            result = self.compute(var)
        finally:
            self.active.pop()
        self.memo[key] = result
        return result

    def compute(self, var: Variable) -> xr.DataArray:
        key = var.canonical
        if key in self.model.parameters:
            return self.labelled(self.c[self.model.parameters[key]], var)
        if var.kind == "lookup":
            raise SpecError(f"Lookup `{var.name}` is used as a value; call it with an input.")
        if var.kind == "stock" and (self.mode == "rate" or var.update == "random"):
            buffer, slot = self.model.slots[key]
            data = (self.y if buffer == "y" else self.z)[:, slot.start:slot.stop]
            return self.labelled(data.reshape((self.n,) + slot.shape), var)
        expr = var.equation if self.mode == "rate" else (var.init_equation or var.equation)
        assert expr is not None
        if isinstance(expr, Call) and expr.func == PIECES:
            value = self.pieces(expr, var)
        else:
            value = self.fit(self.value_of(expr, var), var)
        if var.kind == "flow" and var.non_negative:
            value = _apply(np.maximum, value, 0.0)
        if var.kind == "flow" and self.mode == "rate":
            value = self.limit_outflow(var, value)
        return value

    def pieces(self, expr: Call, var: Variable) -> xr.DataArray:
        """An arrayed variable filled block by block, each block from its own equation."""
        target = self.model.dims(var)
        out = np.full((self.n,) + tuple(len(self.model.elements[d]) for d in target), np.nan)
        filled = np.zeros(out.shape[1:], dtype=int)
        for selector, piece in piece_blocks(expr, var):
            labels, positions = [], []
            for sub, dim in zip(selector, target):
                key, elements = canonical(sub), self.model.elements[dim]
                if key == dim:
                    labels.append(dim)
                    positions.append(list(range(len(elements))))
                elif key in self.model.elements and set(self.model.elements[key]) <= set(elements):
                    labels.append(key)
                    positions.append([elements.index(e) for e in self.model.elements[key]])
                elif key in elements:
                    labels.append(f"{dim}={key}")
                    positions.append([elements.index(key)])
                else:
                    raise DimensionError(f"`{sub}` in a block of `{var.name}` does not belong to `{dim}`.")
            value = self.value_of(piece, var)
            extra = [d for d in value.dims if d != _RUN and d not in labels]
            if extra:
                raise DimensionError(f"A block of `{var.name}` varies over `{extra[0]}`, which it does not have.")
            sizes = {_RUN: self.n} | {label: len(p) for label, p in zip(labels, positions)}
            value = value.expand_dims({d: k for d, k in sizes.items() if d not in value.dims})
            block = np.ix_(*positions)
            out[(slice(None),) + block] = value.transpose(_RUN, *labels).data
            filled[block] += 1
        if (filled != 1).any():
            raise SpecError(f"`{var.name}` does not give every element exactly one equation.")
        return xr.DataArray(out, dims=(_RUN,) + target)

    def fit(self, value: xr.DataArray, var: Variable) -> xr.DataArray:
        """`value` broadcast to exactly ``("run", *var's dimensions)``."""
        target = self.model.dims(var)
        extra = [d for d in value.dims if d != _RUN and d not in target]
        if extra:
            raise DimensionError(
                f"The equation of `{var.name}` varies over dimension `{extra[0]}`, which `{var.name}` does "
                "not have."
            )
        sizes = {d: len(self.model.elements[d]) for d in target}
        missing = {d: size for d, size in ({_RUN: self.n} | sizes).items() if d not in value.dims}
        if missing:
            value = value.expand_dims(missing)
        return value.transpose(_RUN, *target).astype(float)

    def limit_outflow(self, flow: Variable, value: xr.DataArray) -> xr.DataArray:
        """Cap an outflow of a non-negative stock by what the stock and the flows before it hold."""
        for stock in self.model.vars.values():
            if stock.kind != "stock" or not stock.non_negative or flow.canonical not in stock.outflows:
                continue
            if set(self.model.dims(stock)) != set(self.model.dims(flow)):
                raise DimensionError(
                    f"Flow `{flow.name}` drains non-negative stock `{stock.name}` but does not have its "
                    "dimensions."
                )
            available = self.value(stock.canonical) / self.dt
            before = stock.outflows[: stock.outflows.index(flow.canonical)]
            for name in stock.inflows:
                # A flow that also fills the stock counts with its value before this cap.
                available = available + (value if name == flow.canonical else self.value(name))
            for name in before:
                available = available - self.value(name)
            value = _apply(np.minimum, value, _apply(np.maximum, available, 0.0))
            value = value.transpose(_RUN, *self.model.dims(flow))
        return value

    def net_flow(self, stock: Variable) -> xr.DataArray:
        total: xr.DataArray | None = None
        for sign, names in ((1, stock.inflows), (-1, stock.outflows)):
            for name in names:
                flow = self.value(name)
                if total is None:
                    total = flow if sign > 0 else -flow
                else:
                    total = total + flow if sign > 0 else total - flow
        if total is None:
            return self.fit(xr.DataArray(0.0), stock)
        if stock.non_negative:
            # No flow, not even a negative inflow, drains a non-negative stock below zero.
            floor = _apply(np.minimum, -self.value(stock.canonical) / self.dt, 0.0)
            total = _apply(np.maximum, total, floor)
        return self.fit(total, stock)

    # -- expressions ----------------------------------------------------------------------------
    def value_of(self, expr: Expr, var: Variable) -> xr.DataArray:
        """The value of `expr` in the equation of `var`; 0-d when the same for every run."""
        if isinstance(expr, Num):
            return xr.DataArray(expr.value)
        if isinstance(expr, Ref):
            return self.reference(expr, var)
        if isinstance(expr, Unary):
            operand = self.value_of(expr.operand, var)
            if expr.op == "not":
                return _apply(np.logical_not, operand).astype(float)
            return -operand
        if isinstance(expr, Binary):
            left, right = self.value_of(expr.left, var), self.value_of(expr.right, var)
            if expr.op in _ARITHMETIC:
                return _ARITHMETIC[expr.op](left, right)
            if expr.op in _COMPARISONS:
                return _COMPARISONS[expr.op](left, right).astype(float)
            return _LOGICAL[expr.op](left, right).astype(float)
        if isinstance(expr, Call):
            return self.call(expr, var)
        raise SpecError(f"The equation of `{var.name}` uses `{to_text(expr)}` where a number is expected.")

    def reference(self, ref: Ref, var: Variable) -> xr.DataArray:
        if ref.name in TIME_NAMES and ref.name not in self.model.vars:
            return xr.DataArray(self.t if TIME_NAMES[ref.name] == "t" else self.dt)
        if ref.name not in self.model.vars:
            raise UnknownVariableError(f"The equation of `{var.name}` refers to `{ref.name}`, which is not defined.")
        target = self.model.vars[ref.name]
        value = self.value(ref.name)
        if not ref.subscripts:
            return value
        dims = self.model.dims(target)
        if len(ref.subscripts) != len(dims):
            raise DimensionError(
                f"`{target.name}` has {len(dims)} dimension(s) but `{var.name}` gives {len(ref.subscripts)}."
            )
        selection: dict[str, Any] = {}
        renames: dict[str, str] = {}
        for sub, dim in zip(ref.subscripts, dims):
            key = canonical(sub)
            base = key[:-1] if key.endswith("!") else key  # `dim!`: the dimension a reduction runs over
            elements = self.model.elements[dim]
            if base == dim or (base in self.model.mapped[dim] and len(self.model.elements[base]) == len(elements)) \
                    or self.model.elements.get(base) == elements:
                pass
            elif base in self.model.elements and set(self.model.elements[base]) < set(elements):
                selection[dim] = [elements.index(e) for e in self.model.elements[base]]
            elif key in elements:
                selection[dim] = elements.index(key)
                continue
            else:
                raise DimensionError(f"`{sub}` in `{var.name}` is neither dimension `{dim}` nor one of its elements.")
            if key != dim:
                renames[dim] = key
        if selection:
            value = value.isel(selection)
        return value.rename(renames) if renames else value

    def call(self, call: Call, var: Variable) -> xr.DataArray:
        func = ALIASES.get(call.func, call.func)
        if func == "time" and not call.args:
            return xr.DataArray(self.t)
        if func in REDUCTIONS:
            return self.reduce(func, call, var)
        if func == "with_lookup":
            table = call.args[-1] if call.args else None
            if len(call.args) != 2 or not isinstance(table, Table):
                raise SpecError(f"`with_lookup` in `{var.name}` takes an input and a table of (x, y) points.")
            return self.look_up(self.value_of(call.args[0], var), np.array(table.xs), np.array(table.ys),
                                "interpolate")
        if func in LOOKUP_FUNCTIONS:
            name = call.args[0]
            if len(call.args) != 2 or not isinstance(name, Ref) or name.name not in self.model.tables:
                raise SpecError(f"`{func}` in `{var.name}` takes a lookup's name and an input.")
            xs, ys = self.c[self.model.tables[name.name]]
            return self.look_up(self.value_of(call.args[1], var), xs, ys, LOOKUP_FUNCTIONS[func])
        if func in self.model.tables:
            if len(call.args) != 1:
                raise SpecError(f"Lookup `{self.model.vars[func].name}` takes one input, in `{var.name}`.")
            points = self.model.vars[func].lookup
            assert points is not None
            xs, ys = self.c[self.model.tables[func]]
            return self.look_up(self.value_of(call.args[0], var), xs, ys, points.mode)
        if func in ARRAY_FUNCTIONS:
            return self.array_function(func, call, var)
        if func not in BUILTINS:
            raise UnknownVariableError(f"The equation of `{var.name}` calls unknown function `{func}`.")
        builtin = BUILTINS[func]
        if (builtin.nargs is not None and len(call.args) not in builtin.nargs) or not call.args:
            raise SpecError(f"`{func}` in the equation of `{var.name}` has the wrong number of arguments.")
        args = xr.broadcast(*(self.value_of(a, var) for a in call.args))
        prefix = ([self.t] if builtin.time else []) + ([self.dt] if builtin.dt else [])
        result = np.asarray(builtin.impl(*prefix, *(a.data for a in args)), dtype=float)
        if result.shape != args[0].shape:
            raise DimensionError(f"`{func}` in `{var.name}` changed the shape of its arguments.")
        return xr.DataArray(result, dims=args[0].dims)

    def array_function(self, func: str, call: Call, var: Variable) -> xr.DataArray:
        """Vector and allocation functions, their arguments matched by dimension name."""
        args = [a for a in call.args if not isinstance(a, Str)]
        values = [self.value_of(a, var) for a in args]
        if func == "vector_select":
            over = [canonical(a.value) for a in call.args if isinstance(a, Str)]
            selection, expression, missing, action, error = values
            return _vector_select(selection, expression, missing, action, error, over)
        vector = values[0]
        along = [d for d in vector.dims if d != _RUN][-1]
        if func == "allocate_available":
            profile = canonical(call.args[3].value) if isinstance(call.args[3], Str) else ""
            request, profiles, supply = values
            cores = [[along], [along, profile], []]
            inputs = [request, profiles, supply]
        elif func == "allocate_by_priority":
            request, priority, _, width, supply = values
            cores, inputs = [[along], [along], [], []], [request, priority, width, supply]
        elif func == "vector_reorder":
            cores, inputs = [[along], [along]], values
        else:
            cores, inputs = [[along], []], values
        result: xr.DataArray = xr.apply_ufunc(ARRAY_FUNCTIONS[func], *inputs, input_core_dims=cores,
                                              output_core_dims=[[along]])
        return result

    def look_up(self, x: xr.DataArray, xs: np.ndarray, ys: np.ndarray, mode: str) -> xr.DataArray:
        result = LOOKUP_MODES[mode](x.data, np.asarray(xs), np.asarray(ys))
        return xr.DataArray(np.asarray(result, dtype=float), dims=x.dims)

    def reduce(self, func: str, call: Call, var: Variable) -> xr.DataArray:
        if not call.args or len(call.args) > 2 or (len(call.args) == 2 and not isinstance(call.args[1], Str)):
            raise SpecError(f"`{func}` in `{var.name}` takes an array and optionally a dimension name.")
        value = self.value_of(call.args[0], var)
        dims = [d for d in value.dims if d != _RUN]
        if not dims:
            raise DimensionError(f"`{func}` in `{var.name}` needs an arrayed argument.")
        if len(call.args) == 2:
            assert isinstance(call.args[1], Str)
            dim = canonical(call.args[1].value)
            if dim not in dims:
                raise DimensionError(f"`{func}` in `{var.name}` reduces over `{dim}`, which its argument lacks.")
            dims = [dim]
        return value.reduce(getattr(np, REDUCTIONS[func]), dim=dims)
