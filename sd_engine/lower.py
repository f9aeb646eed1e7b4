"""Lowering: replace stateful builtins by explicit internal stocks and flows.

After :func:`lower`, no equation contains SMOOTH*, DELAY*, TREND, FORECAST,
SAMPLE IF TRUE, INITIAL, PREVIOUS, DELAY FIXED, NPV or RANDOM* calls: each became internal
variables (names starting with ``_``) whose structure is the textbook (and
Vensim-documented) definition, so the compiler, the graph and the integrators
only see stocks, flows and auxiliaries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import networkx as nx

from .errors import SpecError, UnsupportedError
from .expr import Binary, Call, Expr, Num, Ref, Str, Unary, canonical, references, to_text, walk
from .functions import fold
from .spec import ModelSpec, Variable

__all__ = ["STATEFUL", "lower", "split_element_cycles"]

#: Stateful builtins and their accepted argument counts.
STATEFUL: dict[str, tuple[int, ...]] = {
    "smooth": (2,),
    "smoothi": (3,),
    "smooth3": (2,),
    "smooth3i": (3,),
    "smooth_n": (4,),
    "delay1": (2,),
    "delay1i": (3,),
    "delay3": (2,),
    "delay3i": (3,),
    "delay_n": (4,),
    "delay_fixed": (3,),
    "delay_material": (4,),
    "trend": (3,),
    "forecast": (3,),
    "sample_if_true": (3,),
    "initial": (1,),
    "npv": (4,),
    "previous": (1, 2),
    "random_uniform": (2, 3),
    "random_normal": (4, 5),
    "random_exponential": (4, 5),
    "random_poisson": (5, 6),
}


def lower(spec: ModelSpec) -> ModelSpec:
    """Return `spec` with every stateful builtin lowered to internal variables."""
    lowering = _Lowering(spec)
    new_vars: list[Variable] = []
    for var in spec.variables:
        changes: dict[str, Any] = {}
        for field in ("equation", "init_equation"):
            expr = getattr(var, field)
            if expr is not None:
                new = lowering.rewrite(expr, var)
                if new is not expr:
                    changes[field] = new
        new_vars.append(dataclasses.replace(var, **changes) if changes else var)
    if not lowering.added:
        return spec
    return dataclasses.replace(spec, variables=tuple(new_vars) + tuple(lowering.added))


def split_element_cycles(spec: ModelSpec) -> ModelSpec:
    """Give each element of an arrayed variable on a dependency cycle its own variable.

    Vensim orders equations element by element, so ``a[A1] = x``, ``a[A2] = y``,
    ``y = a[A1]`` is no loop there, although `a` and `y` read each other as whole variables;
    nor is ``e[t1] = 1``, ``e[tNext] = e[tPrev] * 2`` over mapped subranges, each element reading
    an earlier one. Each element of such a variable (a block over a range or subrange gives one per
    element, its subscripts read at that element) becomes an internal variable, the array reads
    them, and references to one element read it directly; a loop that remains is a real one and is
    reported as such, naming the elements. Cycles are found over the initial values too (stocks
    read their initial equations), so INITIAL blocks are split: their internal stocks, which only
    hold a value from the start, split into one stock per element.
    """
    by_key = {v.canonical: v for v in spec.variables}
    dims = {d.canonical: d for d in spec.dimensions}
    dim_names = set(dims)
    graph = nx.DiGraph()
    for var in spec.variables:
        if var.kind == "lookup" or var.equation is None or var.update == "random":
            continue
        graph.add_node(var.canonical)
        # Initial values are computed in one order too, in which stocks read their initial
        # equations and every variable reads the stocks' initial values.
        exprs = [e for e in (var.equation, var.init_equation, var.delay_time) if e is not None]
        for ref in set().union(*(references(e) for e in exprs)):
            if ref in by_key and by_key[ref].kind != "lookup":
                graph.add_edge(ref, var.canonical)
    cyclic: set[str] = set()
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 or any(graph.has_edge(k, k) for k in component):
            cyclic |= component

    def mapped(a: str, b: str) -> bool:
        return a == b or b in {canonical(m) for m in dims[a].maps_to} \
            or a in {canonical(m) for m in dims[b].maps_to}

    def at_element(expr: Expr, chosen: dict[str, int]) -> Expr | None:
        """`expr` of a block over ranges read at one element: `chosen` gives, for each range of
        the block, the position of the element. None where a subscript cannot be placed."""
        if isinstance(expr, Ref):
            target = by_key.get(expr.name)
            subs = expr.subscripts
            if not subs and target is not None and target.dims:
                subs = target.dims  # an unsubscripted read follows the block's dimensions
            if not subs or not any(canonical(s) in chosen for s in subs):
                return expr
            if target is None or len(target.dims) != len(subs):
                return None
            out = []
            for sub, dim in zip(subs, target.dims):
                key, dkey = canonical(sub), canonical(dim)
                if key not in chosen:
                    out.append(sub)
                elif mapped(key, dkey) and len(dims[dkey].elements) == len(dims[key].elements):
                    out.append(dims[dkey].elements[chosen[key]])  # position by position
                elif canonical(dims[key].elements[chosen[key]]) in {canonical(e) for e in dims[dkey].elements}:
                    out.append(dims[key].elements[chosen[key]])  # a subrange of the variable's range
                else:
                    return None
            return Ref(expr.name, tuple(out))
        if isinstance(expr, Unary):
            operand = at_element(expr.operand, chosen)
            return None if operand is None else Unary(expr.op, operand)
        if isinstance(expr, Binary):
            left, right = at_element(expr.left, chosen), at_element(expr.right, chosen)
            return None if left is None or right is None else Binary(expr.op, left, right)
        if isinstance(expr, Call):
            if expr.func == "_pieces":
                return None  # blocks inside blocks (an arrayed lookup's call) keep the whole block
            args = [at_element(a, chosen) for a in expr.args]
            return None if any(a is None for a in args) else Call(expr.func, tuple(a for a in args if a is not None))
        return expr

    pieces: dict[tuple[str, tuple[str, ...]], str] = {}
    initial_pieces: dict[tuple[str, tuple[str, ...]], str] = {}  # a stock's element -> its initial value
    added: list[Variable] = []
    rebuilt: dict[str, Variable] = {}
    for var in spec.variables:
        eq = var.equation
        if var.canonical not in cyclic or not var.dims or eq is None:
            continue
        # A stock is split only when it holds one value from the start (INITIAL's state).
        held = var.kind == "stock" and var.update == "discrete" and not var.inflows and not var.outflows
        # Any other stock on a cycle starts element by element, as Vensim orders initial values:
        # each element's initial value is held by an internal stock of its own, the stock starts
        # from those, and an equation that reads one element of the stock at the start reads
        # that element's own (SDEverywhere's init_recurrence: cs[t2] starts from ecs[t1] + 1).
        starts = var.kind == "stock" and not held and var.update in ("continuous", "discrete")
        if var.kind not in ("aux", "flow") and not held and not starts:
            continue
        if isinstance(eq, Call) and eq.func == "_pieces":
            args = list(eq.args)
        else:
            args = [Call("_at", tuple(Str(d) for d in var.dims)), eq]
        new_args: list[Expr] = []
        for i in range(0, len(args) - 1, 2):
            at, body = args[i], args[i + 1]
            if not (isinstance(at, Call) and at.func == "_at" and all(isinstance(a, Str) for a in at.args)):
                new_args += [at, body]
                continue
            labels = [a.value for a in at.args if isinstance(a, Str)]
            ranges = [label for label in labels if canonical(label) in dim_names]
            combos = list(itertools.product(*(range(len(dims[canonical(r)].elements)) for r in ranges)))
            split: list[tuple[list[str], Expr, Expr | None]] = []
            for combo in combos:
                chosen = {canonical(r): k for r, k in zip(ranges, combo)}
                expr = at_element(body, chosen)
                # ACTIVE INITIAL's initial equation goes with each element, read at that element.
                init = None if var.init_equation is None or held else at_element(var.init_equation, chosen)
                if expr is None or (var.init_equation is not None and not held and init is None):
                    break
                names = [dims[canonical(label)].elements[chosen[canonical(label)]]
                         if canonical(label) in chosen else label for label in labels]
                split.append((names, expr, init))
            if len(split) != len(combos):
                new_args += [at, body]  # a block whose subscripts cannot be read element by element
                continue
            for names, expr, init in split:
                elements = tuple(canonical(n) for n in names)
                if starts:
                    start = Variable(f"_initial {var.name}[{', '.join(names)}]", "stock", expr, internal=True,
                                     update="discrete", owner=var.owner or var.name,
                                     source=f"initial value of an element of `{var.name}`, to order it on its own")
                    added.append(start)
                    initial_pieces[(var.canonical, elements)] = start.canonical
                    new_args += [Call("_at", tuple(Str(n) for n in names)), Ref(start.canonical)]
                    continue
                piece = Variable(f"_{var.name}[{', '.join(names)}]", "stock" if held else "aux", expr,
                                 init_equation=init, internal=True, update="discrete" if held else "continuous",
                                 source=f"element of `{var.name}`, on its own to order it element by element",
                                 owner=var.owner or var.name)
                added.append(piece)
                pieces[(var.canonical, elements)] = piece.canonical
                new_args += [Call("_at", tuple(Str(n) for n in names)), Ref(piece.canonical)]
        if new_args != args:
            rebuilt[var.canonical] = dataclasses.replace(var, equation=Call("_pieces", tuple(new_args)))
    if not pieces and not initial_pieces:
        return spec

    views: dict[str, Variable] = {}

    def slice_of_pieces(ref: Ref) -> Expr:
        """`x[e, r!]` of a split `x` (C-LEARN's ``VECTOR SELECT(on[COP, set targets!], ...)``):
        an internal array over the `!` ranges that reads the elements' own variables, so the
        reader depends on those elements only."""
        ranges = [canonical(s[:-1]) for s in ref.subscripts if s.endswith("!")]
        if not ranges or any(r not in dims for r in ranges):
            return ref
        args: list[Expr] = []
        for combo in itertools.product(*(dims[r].elements for r in ranges)):
            chosen = iter(combo)
            elements = tuple(canonical(next(chosen)) if s.endswith("!") else canonical(s) for s in ref.subscripts)
            piece = pieces.get((ref.name, elements))
            if piece is None:
                return ref
            args += [Call("_at", tuple(Str(e) for e in combo)), Ref(piece)]
        owner = by_key[ref.name]
        name = f"_{owner.name}[{', '.join(ref.subscripts)}]"
        views.setdefault(canonical(name), Variable(
            name, "aux", Call("_pieces", tuple(args)), dims=tuple(dims[r].name for r in ranges), internal=True,
            source=f"elements of `{owner.name}` read over a `!` range, to order them one by one",
            owner=owner.owner or owner.name))
        return Ref(canonical(name), tuple(f"{dims[r].name}!" for r in ranges))

    def redirect(expr: Expr, to: dict[tuple[str, tuple[str, ...]], str] = pieces) -> Expr:
        if isinstance(expr, Ref):
            key = (expr.name, tuple(canonical(s) for s in expr.subscripts))
            if key not in to and to is pieces and expr.name in rebuilt:
                return slice_of_pieces(expr)
            return Ref(to[key]) if key in to else expr
        if isinstance(expr, Unary):
            return Unary(expr.op, redirect(expr.operand, to))
        if isinstance(expr, Binary):
            return Binary(expr.op, redirect(expr.left, to), redirect(expr.right, to))
        if isinstance(expr, Call):
            return Call(expr.func, tuple(redirect(a, to) for a in expr.args))
        return expr

    new_vars = []
    for var in list(spec.variables) + added:
        var = rebuilt.get(var.canonical, var)
        changes: dict[str, Any] = {f: redirect(getattr(var, f)) for f in ("equation", "init_equation")
                                   if getattr(var, f) is not None}
        if initial_pieces and var.update != "random":
            # At the start, an element of a stock split above is read from its own initial value:
            # a stock's equation is its initial value; anything else starts from an initial
            # equation that reads it (equal to its equation at the start, so nothing else changes).
            field = "equation" if var.kind == "stock" else "init_equation"
            base = changes.get(field, getattr(var, field))
            if base is None:
                base = changes.get("equation", var.equation)
            if base is not None:
                begun = redirect(base, initial_pieces)
                if begun != base:
                    changes[field] = begun
        new_vars.append(dataclasses.replace(var, **changes))
    return dataclasses.replace(spec, variables=tuple(new_vars) + tuple(views.values()))


def _renamed(expr: Expr, old: str, new: str) -> Expr:
    """`expr` with every reference to `old` reading `new` instead, subscripts kept."""
    if isinstance(expr, Ref):
        return Ref(new, expr.subscripts) if expr.name == old else expr
    if isinstance(expr, Unary):
        return Unary(expr.op, _renamed(expr.operand, old, new))
    if isinstance(expr, Binary):
        return Binary(expr.op, _renamed(expr.left, old, new), _renamed(expr.right, old, new))
    if isinstance(expr, Call):
        return Call(expr.func, tuple(_renamed(a, old, new) for a in expr.args))
    return expr


class _Lowering:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.added: list[Variable] = []
        self.counter: dict[str, int] = {}

    # -- tree rewriting ----------------------------------------------------------------
    def rewrite(self, expr: Expr, owner: Variable) -> Expr:
        if isinstance(expr, Unary):
            operand = self.rewrite(expr.operand, owner)
            return expr if operand is expr.operand else Unary(expr.op, operand)
        if isinstance(expr, Binary):
            left, right = self.rewrite(expr.left, owner), self.rewrite(expr.right, owner)
            if left is expr.left and right is expr.right:
                return expr
            return Binary(expr.op, left, right)
        if isinstance(expr, Call) and expr.func == "_pieces" and owner.dims:
            # Each block's stateful builtins get the block's dimensions, not the whole array's.
            pairs = list(expr.args)
            for i in range(1, len(pairs), 2):
                pairs[i] = self.rewrite(pairs[i], self.block_view(owner, pairs[i - 1]))
            if any(a is not b for a, b in zip(pairs, expr.args)):
                return Call(expr.func, tuple(pairs))
            return expr
        if isinstance(expr, Call):
            args = tuple(self.rewrite(a, owner) for a in expr.args)
            if expr.func == "active_initial":
                raise SpecError(
                    f"`active_initial` must be the whole equation of `{owner.name}`, not part of it."
                )
            if expr.func in STATEFUL:
                counts = STATEFUL[expr.func]
                if len(args) not in counts:
                    raise SpecError(
                        f"`{expr.func}` in the equation of `{owner.name}` takes "
                        f"{' or '.join(map(str, counts))} arguments, not {len(args)}."
                    )
                builder: Callable[..., Expr] = getattr(self, "lower_" + expr.func)
                return builder(owner, *args)
            if any(a is not b for a, b in zip(args, expr.args)):
                return Call(expr.func, args)
        return expr

    # -- helpers -------------------------------------------------------------------------
    def block_view(self, owner: Variable, at: Expr) -> Variable:
        """`owner` seen from one block of its ``_pieces`` equation: the block's dimensions (a
        whole dimension, a subrange, or none for a single element)."""
        if not (isinstance(at, Call) and at.func == "_at" and len(at.args) == len(owner.dims)
                and all(isinstance(a, Str) for a in at.args)):
            return owner
        names = {d.canonical: d.name for d in self.spec.dimensions}
        kept = []
        for sub, dim in zip(at.args, owner.dims):
            assert isinstance(sub, Str)
            key = canonical(sub.value)
            if key == canonical(dim):
                kept.append(dim)
            elif key in names:
                kept.append(names[key])
        return dataclasses.replace(owner, dims=tuple(kept))

    def name(self, owner: Variable, what: str) -> str:
        key = f"{owner.canonical}:{what}"
        self.counter[key] = self.counter.get(key, 0) + 1
        return f"_{what}_{self.counter[key]} of {owner.name}"

    def add(self, var: Variable) -> Ref:
        self.added.append(var)
        return Ref(var.canonical)

    def internal(self, owner: Variable, name: str, kind: str, equation: Expr | None, **kw: Any) -> Ref:
        return self.add(
            Variable(name, kind, equation, dims=owner.dims, internal=True,  # type: ignore[arg-type]
                     source=f"lowered from the equation of `{owner.name}`", owner=owner.owner or owner.name, **kw)
        )

    def order(self, owner: Variable, value: Expr, func: str) -> int:
        """The order of SMOOTH N / DELAY N: a positive integer known before the run."""
        number = value
        if isinstance(value, Ref) and value.name in self.spec:
            target = self.spec[value.name]
            if target.kind == "constant" and target.equation is not None:
                number = target.equation
        if not isinstance(number, Num) or number.value != int(number.value) or number.value < 1:
            raise UnsupportedError(
                f"The order of `{func}` in `{owner.name}` must be a positive whole number fixed before "
                f"the run, not `{to_text(value)}`; write the number or a scalar constant."
            )
        return int(number.value)

    # -- smooths ---------------------------------------------------------------------------
    def smooth_chain(self, owner: Variable, x: Expr, time: Expr, init: Expr, n: int, what: str) -> Expr:
        stage_time = time if n == 1 else Binary("/", time, Num(n))
        base = self.name(owner, what)
        upstream = x
        stock_ref: Ref | None = None
        for k in range(1, n + 1):
            stock_name = f"{base} stage {k}" if n > 1 else base
            flow_name = f"{stock_name} change"
            stock_ref = Ref(Variable(stock_name, "stock", init).canonical)
            self.internal(owner, flow_name, "flow",
                          Binary("/", Binary("-", upstream, stock_ref), stage_time))
            self.internal(owner, stock_name, "stock", init,
                          inflows=(Variable(flow_name, "flow", Num(0)).canonical,))
            upstream = stock_ref
        assert stock_ref is not None
        return stock_ref

    def lower_smooth(self, owner: Variable, x: Expr, time: Expr) -> Expr:
        return self.smooth_chain(owner, x, time, x, 1, "smooth")

    def lower_smoothi(self, owner: Variable, x: Expr, time: Expr, init: Expr) -> Expr:
        return self.smooth_chain(owner, x, time, init, 1, "smooth")

    def lower_smooth3(self, owner: Variable, x: Expr, time: Expr) -> Expr:
        return self.smooth_chain(owner, x, time, x, 3, "smooth3")

    def lower_smooth3i(self, owner: Variable, x: Expr, time: Expr, init: Expr) -> Expr:
        return self.smooth_chain(owner, x, time, init, 3, "smooth3")

    def lower_smooth_n(self, owner: Variable, x: Expr, time: Expr, init: Expr, n: Expr) -> Expr:
        return self.smooth_chain(owner, x, time, init, self.order(owner, n, "smooth_n"), "smooth_n")

    # -- material delays ---------------------------------------------------------------
    def effective_order(self, owner: Variable, time: Expr, n: int, what: str) -> Expr:
        """Vensim's order for DELAY N of order `n` with delay time `time`: the largest ``m <= n``
        with ``m * TIME STEP <= time`` at the start (at least 1).

        Vensim lowers the order of DELAY N when the delay is shorter than `n` time steps (its
        output for ``DELAY N(x, 1.25, i, 3)`` with TIME STEP 0.5 is the second-order delay, SDXorg
        test-models ``tests/delay_pipeline``), as PySD does (``m * dt > delay time`` lowers it).
        DELAY3 keeps its order (see :meth:`delay_chain`). The order is fixed from the initial
        values, so an ensemble or a changed TIME STEP gets its own order per run.
        """
        count: Expr = Num(1)
        for k in range(2, n + 1):
            fits = Call("if_then_else", (Binary("<=", Binary("*", Num(k), Ref("time_step")), time), Num(1), Num(0)))
            count = Binary("+", count, fits)
        return self.internal(owner, self.name(owner, f"{what} order"), "stock", count, update="discrete")

    def delay_chain(self, owner: Variable, x: Expr, time: Expr, init: Expr, n: int, what: str) -> Expr:
        # DELAY3 keeps its third order even when a stage is shorter than TIME STEP: Vensim's output
        # for DELAY3(Time, 2) with TIME STEP 1 (SDXorg test-models tests/arguments) is the full chain.
        stage_time = time if n == 1 else Binary("/", time, Num(n))
        base = self.name(owner, what)
        inflow = self.internal(owner, f"{base} inflow", "flow", x)
        for k in range(1, n + 1):
            stock_name = f"{base} stage {k}" if n > 1 else base
            stock_ref = Ref(Variable(stock_name, "stock", init).canonical)
            outflow = self.internal(owner, f"{stock_name} outflow", "flow", Binary("/", stock_ref, stage_time))
            self.internal(owner, stock_name, "stock", Binary("*", init, stage_time),
                          inflows=(inflow.name,), outflows=(outflow.name,))
            inflow = outflow
        return inflow

    def lower_delay1(self, owner: Variable, x: Expr, time: Expr) -> Expr:
        return self.delay_chain(owner, x, time, x, 1, "delay1")

    def lower_delay1i(self, owner: Variable, x: Expr, time: Expr, init: Expr) -> Expr:
        return self.delay_chain(owner, x, time, init, 1, "delay1")

    def lower_delay3(self, owner: Variable, x: Expr, time: Expr) -> Expr:
        return self.delay_chain(owner, x, time, x, 3, "delay3")

    def lower_delay3i(self, owner: Variable, x: Expr, time: Expr, init: Expr) -> Expr:
        return self.delay_chain(owner, x, time, init, 3, "delay3")

    def lower_delay_n(self, owner: Variable, x: Expr, time: Expr, init: Expr, n: Expr) -> Expr:
        """Vensim's DELAY N: each stage drains with the delay time in force when its contents
        entered the pipeline (stage k sees the delay time of k steps ago), and the output reads
        the last stage with the delay time of the step before. With a constant delay time this is the
        DELAY3-style chain; when the delay time changes, Vensim's results differ from that
        chain (SDXorg test-models ``tests/delays``), and this reproduces them."""
        order = self.order(owner, n, "delay_n")
        base = self.name(owner, "delay_n")
        # The delay time k steps back, as discrete states shifted once per step.
        current = self.internal(owner, f"{base} time", "aux", time)
        times: list[Ref] = [current]
        for k in range(1, max(order, 2)):
            times.append(self.internal(owner, f"{base} time lag {k}", "stock", time,
                                       inflows=(times[-1].name,), update="discrete"))
        # Vensim lowers the order when the delay is shorter than `order` time steps; stages past
        # the effective order pass their inflow on unchanged (see effective_order).
        effective: Expr = Num(order) if order == 1 else self.effective_order(owner, time, order, "delay_n")
        # Stage contents are kept as value x delay time, as Vensim does.
        upstream: Expr = x
        output: Expr | None = None
        for k in range(order):
            stage_name = f"{base} stage {k + 1}"
            stage_ref = Ref(Variable(stage_name, "stock", init).canonical)
            inflow = self.internal(owner, f"{stage_name} inflow", "flow", Binary("*", effective, upstream))
            outflow_rate: Expr = Binary("/", stage_ref, times[k])
            # Vensim reads the output before the step's delay time takes effect: the time of one step back.
            stage_output: Expr = Binary("/", stage_ref, times[1])
            if k > 0:
                active = Binary(">=", effective, Num(k + 1))
                outflow_rate = Call("if_then_else", (active, outflow_rate, upstream))
                assert output is not None
                stage_output = Call("if_then_else", (active, stage_output, output))
            outflow = self.internal(owner, f"{stage_name} outflow", "flow", Binary("*", effective, outflow_rate))
            self.internal(owner, stage_name, "stock", Binary("*", init, time),
                          inflows=(inflow.name,), outflows=(outflow.name,))
            upstream = outflow_rate
            output = stage_output
        assert output is not None
        return output

    def lower_delay_fixed(self, owner: Variable, x: Expr, time: Expr, init: Expr) -> Expr:
        base = self.name(owner, "delay_fixed")
        pushed = self.internal(owner, f"{base} input", "aux", x)
        return self.internal(owner, base, "stock", init, inflows=(pushed.name,), update="pipeline",
                             delay_time=time)

    def lower_delay_material(self, owner: Variable, x: Expr, time: Expr, init: Expr, missing: Expr) -> Expr:
        """Vensim's DELAY MATERIAL with a delay time fixed for the run: "the same as DELAY FIXED
        except that delay time can be a variable" (Vensim's reference), so a constant delay time
        is DELAY FIXED and the missing value (used only when the delay time grows) is never read.
        A delay time that may change is refused: how Vensim merges and spaces the material then
        is not documented."""
        changing = sorted({node.name for node in walk(time) if isinstance(node, Ref)
                           and (node.name not in self.spec or self.spec[node.name].kind != "constant")})
        if changing:
            raise UnsupportedError(
                f"DELAY MATERIAL in `{owner.name}` has a delay time that may change during the run "
                f"(`{to_text(time)}` reads `{changing[0]}`); sdflow runs DELAY MATERIAL with a delay time fixed "
                "for the run only. Make the delay time a constant, or use DELAY FIXED."
            )
        return self.lower_delay_fixed(owner, x, time, init)

    # -- trend and forecast (Vensim's definitions) -------------------------------------
    def lower_trend(self, owner: Variable, x: Expr, time: Expr, initial_trend: Expr) -> Expr:
        init = Binary("/", x, Binary("+", Num(1), Binary("*", initial_trend, time)))
        average = self.smooth_chain(owner, x, time, init, 1, "trend")
        return Call("zidz", (Binary("-", x, average), Binary("*", time, Call("abs", (average,)))))

    def lower_forecast(self, owner: Variable, x: Expr, time: Expr, horizon: Expr) -> Expr:
        average = self.smooth_chain(owner, x, time, x, 1, "forecast")
        trend = Call("zidz", (Binary("-", x, average), Binary("*", time, Call("abs", (average,)))))
        return Binary("*", x, Binary("+", Num(1), Binary("*", trend, horizon)))

    # -- net present value (Vensim's definition) -----------------------------------------
    def lower_npv(self, owner: Variable, stream: Expr, rate: Expr, init: Expr, factor: Expr) -> Expr:
        """Vensim's NPV: ``(ncum + stream * TIME STEP * df) * factor`` with
        ``ncum = INTEG(stream * df, init)`` and
        ``df = INTEG(-df * rate / (1 + rate * TIME STEP), 1)``, as the Vensim reference defines it;
        the ``1 + rate * TIME STEP`` makes the Euler discount factor exact at each step."""
        base = self.name(owner, "npv")
        factor_name, sum_name = f"{base} discount factor", f"{base} accumulated"
        df = Ref(Variable(factor_name, "stock", Num(1)).canonical)
        ncum = Ref(Variable(sum_name, "stock", init).canonical)
        discounting = self.internal(owner, f"{factor_name} change", "flow",
                                    Binary("/", Unary("-", Binary("*", df, rate)),
                                           Binary("+", Num(1), Binary("*", rate, Ref("time_step")))))
        self.internal(owner, factor_name, "stock", Num(1), inflows=(discounting.name,))
        accrual = self.internal(owner, f"{sum_name} inflow", "flow", Binary("*", stream, df))
        self.internal(owner, sum_name, "stock", init, inflows=(accrual.name,))
        return Binary("*", Binary("+", ncum, Binary("*", Binary("*", stream, Ref("time_step")), df)), factor)

    # -- discrete states ---------------------------------------------------------------
    def lower_sample_if_true(self, owner: Variable, condition: Expr, x: Expr, init: Expr) -> Expr:
        base = self.name(owner, "sample_if_true")
        state = Ref(Variable(base, "stock", init).canonical)
        if owner.canonical in references(init):
            raise UnsupportedError(
                f"SAMPLE IF TRUE in `{owner.name}` reads `{owner.name}` in its initial value, which has no "
                "previous value to read; start it from other variables."
            )
        # Vensim's reference: "When the same variable appears on the right it is the previous value
        # of the variable that is used" (`Peak = SAMPLE IF TRUE(x > Peak, x, x)`, Sterman's beer
        # game): that is the held state, the value at the end of the last step.
        condition, x = (_renamed(e, owner.canonical, state.name) for e in (condition, x))
        value = self.internal(owner, f"{base} value", "aux", Call("if_then_else", (condition, x, state)))
        self.internal(owner, base, "stock", init, inflows=(value.name,), update="discrete")
        return value

    def lower_previous(self, owner: Variable, x: Expr, init: Expr | None = None) -> Expr:
        """XMILE PREVIOUS(x, init): `x` one time step ago; `init` (or `x` itself) at the start."""
        base = self.name(owner, "previous")
        value = self.internal(owner, f"{base} input", "aux", x)
        return self.internal(owner, base, "stock", x if init is None else init, inflows=(value.name,),
                             update="discrete")

    def lower_initial(self, owner: Variable, x: Expr) -> Expr:
        # A discrete state with no inflow keeps its initial value for the whole run.
        return self.internal(owner, self.name(owner, "initial"), "stock", x, update="discrete")

    # -- random numbers: one uniform draw per run and time step, transformed ------------
    def uniform(self, owner: Variable, seed: Expr | None) -> Ref:
        if seed is not None and not isinstance(seed, Num):
            seed = self.fixed_seed(seed)
        if seed is not None and not isinstance(seed, Num):
            raise UnsupportedError(
                f"The seed of a random function in `{owner.name}` must be a number, not `{to_text(seed)}`."
            )
        return self.internal(owner, self.name(owner, "random"), "stock", seed or Num(0), update="random")

    def fixed_seed(self, seed: Expr) -> Expr:
        """A seed written with constants (PINK NOISE macros: ``seed``; Sterman's beer game:
        ``Order Noise Seed + Games``, one seed per element) as the number that picks its stream,
        or `seed` unchanged when it reads anything else. The number is the seed's own value for a
        scalar; for a seed that differs across elements it is derived from all their values,
        since each element already draws its own stream."""
        arrays: list[tuple[float, ...]] = []

        def substitute(expr: Expr) -> Expr | None:
            if isinstance(expr, Ref):
                target = self.spec[expr.name] if expr.name in self.spec else None
                if target is None or target.kind != "constant":
                    return None
                if isinstance(target.equation, Num):
                    return target.equation
                if target.values is None:
                    return None
                arrays.append(tuple(target.values))
                return expr
            if isinstance(expr, Unary):
                operand = substitute(expr.operand)
                return None if operand is None else Unary(expr.op, operand)
            if isinstance(expr, Binary):
                left, right = substitute(expr.left), substitute(expr.right)
                return None if left is None or right is None else Binary(expr.op, left, right)
            return expr if isinstance(expr, Num) else None

        constant = substitute(seed)
        if constant is None:
            return seed
        folded = fold(constant)
        if isinstance(folded, Num):
            return folded
        digest = hashlib.sha256(repr((to_text(folded), arrays)).encode()).digest()
        return Num(float(int.from_bytes(digest[:6], "big")))

    def lower_random_uniform(self, owner: Variable, low: Expr, high: Expr, seed: Expr | None = None) -> Expr:
        u = self.uniform(owner, seed)
        return Binary("+", low, Binary("*", Binary("-", high, low), u))

    def lower_random_normal(self, owner: Variable, low: Expr, high: Expr, mean: Expr, sd: Expr,
                            seed: Expr | None = None) -> Expr:
        return Call("_truncated_normal", (self.uniform(owner, seed), low, high, mean, sd))

    def lower_random_exponential(self, owner: Variable, low: Expr, high: Expr, shift: Expr, stretch: Expr,
                                 seed: Expr | None = None) -> Expr:
        return Call("_truncated_exponential", (self.uniform(owner, seed), low, high, shift, stretch))

    def lower_random_poisson(self, owner: Variable, low: Expr, high: Expr, mean: Expr, shift: Expr,
                             stretch: Expr, seed: Expr | None = None) -> Expr:
        return Call("_truncated_poisson", (self.uniform(owner, seed), low, high, mean, shift, stretch))

