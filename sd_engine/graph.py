"""The causal graph of a model and the structural polarity of its links.

:func:`causal_graph` turns a (lowered) :class:`~sd_engine.spec.ModelSpec` into a
:class:`networkx.DiGraph` whose nodes are variables (by display name) and whose edges
are causal links ``cause -> effect``. Conventions, which change loop counts and are
therefore fixed and tested:

* an aux or flow depends on every variable its rate equation reads (lookups are part
  of the equation that calls them, not nodes; ``time`` and ``dt`` are not nodes);
* a stock depends on its inflows (polarity ``+``) and outflows (polarity ``-``) only:
  dependencies of initial values alone (INITIAL-only links) are not causal links;
* stateful builtins are lowered to internal stocks (``"_smooth_1 of X"`` ...). With
  ``internal="collapse"`` (the default) each chain of internal variables is replaced
  by direct links from its inputs to the variable that uses it, so the loops inside a
  SMOOTH or DELAY are not reported (as in Stella); ``internal="expand"`` keeps them.

Link polarity is worked out from the equation where the structure determines it
(sums, products of quantities of known sign, monotone functions and lookups) and is
``"unknown"`` otherwise; :func:`numeric_polarity` settles it along a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import networkx as nx
import numpy as np

from .errors import SpecError
from .expr import TIME_NAMES, Binary, Call, Expr, Num, Ref, Str, Table, Unary, canonical, references
from .functions import LOOKUP_FUNCTIONS
from .program import ProgramLike, as_program
from .spec import ModelSpec, Variable

__all__ = ["Polarity", "View", "InternalMode", "causal_graph", "model_graph", "link_polarity", "value_sign",
           "combine_polarity"]

Polarity = Literal["+", "-", "unknown"]
View = Literal["full", "stock_flow"]
InternalMode = Literal["collapse", "expand"]

_REDUCTIONS = {"sum", "mean", "vmin", "vmax"}
# Non-decreasing functions of one argument, with the sign of their value when known
# from the sign of the argument (None: not determined).
_INCREASING: dict[str, Callable[[int | None], int | None]] = {
    "exp": lambda s: 1,
    "sqrt": lambda s: 1,
    "ln": lambda s: None,
    "log10": lambda s: None,
    "arctan": lambda s: s,
    "atan": lambda s: s,
    "arcsin": lambda s: s,
    "asin": lambda s: s,
    "sinh": lambda s: s,
    "tanh": lambda s: s,
    "integer": lambda s: None,
    "int": lambda s: None,
}

# A sign is +1, -1, 0 (no dependence, or exactly zero) or None (not determined).
Sign = int | None


def _neg(a: Sign) -> Sign:
    return None if a is None else -a


def _add(a: Sign, b: Sign) -> Sign:
    if a == 0:
        return b
    if b == 0:
        return a
    return a if a == b else None


def _mul(a: Sign, b: Sign) -> Sign:
    if a == 0 or b == 0:
        return 0
    if a is None or b is None:
        return None
    return a * b


def _sign_of(value: float) -> int:
    return int(np.sign(value))


def _table_sign(ys: Iterable[float]) -> tuple[Sign, Sign]:
    """Slope sign and value sign of a graphical function."""
    y = np.asarray(list(ys), dtype=float)
    d = np.diff(y)
    slope: Sign = 0 if not d.size or np.all(d == 0) else 1 if np.all(d >= 0) else -1 if np.all(d <= 0) else None
    value: Sign = 1 if np.all(y > 0) else -1 if np.all(y < 0) else 0 if np.all(y == 0) else None
    return slope, value


class _SignAnalysis:
    """Signs of values and of partial derivatives, from the equations alone."""

    def __init__(self, spec: ModelSpec) -> None:
        self.vars = {v.canonical: v for v in spec.variables}
        self.memo: dict[str, Sign] = {}
        self.active: set[str] = set()

    def value_sign(self, key: str) -> Sign:
        if key in self.memo:
            return self.memo[key]
        if key in self.active or key not in self.vars:
            return None
        self.active.add(key)
        try:
            result = self._value_sign(self.vars[key])
        finally:
            self.active.discard(key)
        self.memo[key] = result
        return result

    def _value_sign(self, var: Variable) -> Sign:
        if var.kind == "constant":
            if var.values is not None:
                signs = {_sign_of(v) for v in var.values}
                return signs.pop() if len(signs) == 1 else None
            return self.expr_sign(var.equation) if var.equation is not None else None
        if var.kind == "stock":
            if var.non_negative:
                return 1
            # A stock that only fills, from a start of known sign, keeps that sign.
            start = self.expr_sign(var.init_equation or var.equation) if var.equation is not None else None
            if var.update != "continuous":
                return None
            if var.outflows or start is None or start < 0:
                return None
            # Induction over time steps: assume the stock non-negative, and keep the
            # assumption only if every inflow is then non-negative too.
            snapshot = dict(self.memo)
            self.memo[var.canonical] = 1
            inflow_signs = [self.value_sign(f) for f in var.inflows]
            if all(s is not None and s >= 0 for s in inflow_signs):
                return 1 if start > 0 or any(inflow_signs) else 0
            self.memo = snapshot
            return None
        if var.kind == "flow" and var.non_negative:
            return 1
        return self.expr_sign(var.equation) if var.equation is not None else None

    def expr_sign(self, expr: Expr) -> Sign:
        return self.analyse(expr, None)[1]

    def analyse(self, expr: Expr, x: str | None) -> tuple[Sign, Sign]:
        """(sign of d expr / d x, sign of expr)."""
        if isinstance(expr, Num):
            return 0, _sign_of(expr.value)
        if isinstance(expr, (Str, Table)):
            return 0, None
        if isinstance(expr, Ref):
            if expr.name in TIME_NAMES and expr.name not in self.vars:
                return 0, 1 if TIME_NAMES[expr.name] == "dt" else None
            return (1 if expr.name == x else 0), self.value_sign(expr.name)
        if isinstance(expr, Unary):
            d, v = self.analyse(expr.operand, x)
            if expr.op == "not":
                return (0 if d == 0 else None), 1
            return _neg(d), _neg(v)
        if isinstance(expr, Binary):
            return self.binary(expr, x)
        if isinstance(expr, Call):
            return self.call(expr, x)
        raise TypeError(expr)

    def binary(self, expr: Binary, x: str | None) -> tuple[Sign, Sign]:
        (da, va), (db, vb) = self.analyse(expr.left, x), self.analyse(expr.right, x)
        op = expr.op
        if op == "+":
            return _add(da, db), _add(va, vb)
        if op == "-":
            return _add(da, _neg(db)), _add(va, _neg(vb))
        if op == "*":
            return _add(_mul(da, vb), _mul(va, db)), _mul(va, vb)
        if op == "/":
            # d(a/b) = a'/b - a b'/b**2
            return _add(_mul(da, vb), _neg(_mul(va, db))), _mul(va, vb)
        if op == "**":
            if db == 0 and isinstance(expr.right, Num):
                n = expr.right.value
                if n == 0:
                    return 0, 1
                even = float(n).is_integer() and int(n) % 2 == 0
                # d a**n = n a**(n-1) a'; a**(n-1) > 0 when a > 0 or n - 1 is even.
                base_pos: Sign = 1 if (va == 1 or (float(n).is_integer() and int(n) % 2 == 1)) else None
                value: Sign = 1 if (va == 1 or even) else (va if float(n).is_integer() else None)
                return _mul(_mul(_sign_of(n), base_pos), da), value
            return (0 if da == 0 and db == 0 else None), (1 if va == 1 else None)
        if op in ("<", "<=", ">", ">="):
            # A comparison is a step function of `left - right`: non-decreasing for > and >=,
            # non-increasing for < and <= (the weak monotonicity that MIN/MAX links get too).
            rising = _add(da, _neg(db))
            return (rising if op in (">", ">=") else _neg(rising)), 1
        # Equality, logic and remainders: a 0/1 (or sawtooth) value, no monotone relation.
        value = 1 if op in ("==", "!=", "and", "or") else None
        return (0 if da == 0 and db == 0 else None), value

    def call(self, call: Call, x: str | None) -> tuple[Sign, Sign]:
        func = call.func
        parts = [self.analyse(a, x) for a in call.args]
        ds = [d for d, _ in parts]
        vs = [v for _, v in parts]
        independent = all(d == 0 for d in ds)
        if func in _INCREASING and len(parts) == 1:
            return ds[0], _INCREASING[func](vs[0])
        if func == "abs" and len(parts) == 1:
            return _mul(ds[0], vs[0]), (1 if vs[0] != 0 else 0)
        if func in ("min", "max") or func in _REDUCTIONS:
            d: Sign = 0
            for di in ds:
                d = _add(d, di)
            v: Sign = vs[0]
            for vi in vs[1:]:
                v = v if v == vi else (1 if func == "max" and 1 in (v, vi) else
                                       -1 if func == "min" and -1 in (v, vi) else None)
            return d, v
        if func == "if_then_else" and len(parts) == 3:
            if ds[0] != 0:
                if ds[1] == 0 and ds[2] == 0:
                    # Fixed branches: a step from the else-value to the then-value as the
                    # condition turns true, so the sign is the condition's times sign(then - else).
                    return _mul(ds[0], _add(vs[1], _neg(vs[2]))), vs[1] if vs[1] == vs[2] else None
                return None, vs[1] if vs[1] == vs[2] else None
            return _add(ds[1], ds[2]), (vs[1] if vs[1] == vs[2] else None)
        if func in ("zidz", "xidz") and len(parts) >= 2:
            (da, va), (db, vb) = parts[0], parts[1]
            d = _add(_mul(da, vb), _neg(_mul(va, db)))
            v = _mul(va, vb)
            if func == "xidz":
                d = _add(d, ds[2])
                v = v if v == vs[2] else None
            return d, v
        if func == "with_lookup" and len(call.args) == 2 and isinstance(call.args[1], Table):
            slope, value = _table_sign(call.args[1].ys)
            return _mul(ds[0], slope), value
        if func in LOOKUP_FUNCTIONS and len(call.args) == 2 and isinstance(call.args[0], Ref):
            table = self.vars.get(call.args[0].name)
            if table is not None and table.lookup is not None:
                slope, value = _table_sign(table.lookup.ys)
                return _mul(ds[1], slope), value
        if func in self.vars and self.vars[func].lookup is not None and len(parts) == 1:
            lookup = self.vars[func].lookup
            assert lookup is not None
            slope, value = _table_sign(lookup.ys)
            return _mul(ds[0], slope), value
        return (0 if independent else None), None


def value_sign(spec: ModelSpec, name: str) -> Sign:
    """The sign of a variable's value over any run, when its equations determine it (else None).

    Examples
    --------
    >>> from sd_engine.builder import Model
    >>> m = Model("decay")
    >>> _ = m.constant("rate", 0.5)
    >>> _ = m.stock("x", initial=1.0, inflows=["gain"])
    >>> _ = m.flow("gain", "x * rate")
    >>> value_sign(m.spec(), "x")
    1
    """
    return _SignAnalysis(spec).value_sign(canonical(name))


def link_polarity(spec: ModelSpec, cause: str, effect: str, *, _analysis: _SignAnalysis | None = None) -> Polarity:
    """The structural polarity of the link `cause` -> `effect`: ``"+"``, ``"-"`` or ``"unknown"``.

    For a flow into or out of a stock the polarity is ``"+"`` or ``"-"``. For an aux or
    flow it is the sign of the partial derivative of its equation with respect to
    `cause`, when the equation's structure determines it for every value of the
    inputs (Richardson's definition); otherwise ``"unknown"``.

    Examples
    --------
    >>> from sd_engine.builder import Model
    >>> m = Model("logistic")
    >>> _ = m.constant("k", 1000); _ = m.constant("r", 0.1)
    >>> _ = m.stock("p", initial=5, inflows=["growth"])
    >>> _ = m.aux("g", "r * (1 - p / k)"); _ = m.flow("growth", "g * p")
    >>> link_polarity(m.spec(), "p", "g")
    '-'
    """
    analysis = _analysis or _SignAnalysis(spec)
    cause_key, effect_key = canonical(cause), canonical(effect)
    var = spec[effect_key]
    if var.kind == "stock":
        if cause_key in var.inflows:
            return "+"
        if cause_key in var.outflows:
            return "-"
        raise SpecError(f"`{spec[cause_key].name}` is not a flow of stock `{var.name}`.")
    if var.equation is None:
        raise SpecError(f"`{var.name}` has no equation, so nothing causes it.")
    d, _ = analysis.analyse(var.equation, cause_key)
    if d == 0 and cause_key not in references(var.equation):
        raise SpecError(f"The equation of `{var.name}` does not use `{spec[cause_key].name}`.")
    return "+" if d == 1 else "-" if d == -1 else "unknown"


def combine_polarity(polarities: Iterable[str]) -> Polarity:
    """The polarity of a chain of links: the product of their signs (unknown if any is)."""
    negative = 0
    for p in polarities:
        if p not in ("+", "-"):
            return "unknown"
        negative += p == "-"
    return "-" if negative % 2 else "+"


def _causes(var: Variable, keys: set[str]) -> list[str]:
    if var.kind == "stock":
        return [f for f in var.inflows + var.outflows if f in keys]
    if var.equation is None:
        return []
    return sorted(r for r in references(var.equation) if r in keys)


def causal_graph(spec: ModelSpec, *, view: View = "full", internal: InternalMode = "collapse") -> nx.DiGraph:
    """The causal graph of a lowered model spec.

    Parameters
    ----------
    spec : ModelSpec
        A lowered spec (``CompiledModel.lowered``): stateful builtins already replaced by
        internal variables.
    view : {"full", "stock_flow"}
        ``"full"``: every stock, flow, aux and constant. ``"stock_flow"``: stocks and
        flows only, with a link ``stock -> flow`` wherever the flow depends on the stock
        through auxiliaries (its polarity is the product along that path, ``"unknown"``
        when paths disagree).
    internal : {"collapse", "expand"}
        Replace the internal variables of SMOOTH/DELAY/TREND... by direct links from their
        inputs (edge attribute ``via`` lists what was collapsed), or keep them as nodes.

    Returns
    -------
    networkx.DiGraph
        Nodes keyed by display name with attributes ``key`` (canonical name), ``kind``,
        ``units``, ``doc``, ``equation`` and ``internal``; edges with ``polarity``
        (``"+"``, ``"-"``, ``"unknown"``), ``link`` (``"flow"`` for a flow into or out of
        a stock, ``"causal"`` otherwise) and ``via``.

    Examples
    --------
    >>> import sd_engine as sd
    >>> g = causal_graph(sd.load("teacup").lowered)
    >>> sorted(g.successors("Teacup Temperature"))
    ['Heat Loss to Room']
    >>> g.edges["Heat Loss to Room", "Teacup Temperature"]["polarity"]
    '-'
    """
    if view not in ("full", "stock_flow"):
        raise SpecError(f"Unknown graph view `{view}`; use \"full\" or \"stock_flow\".")
    if internal not in ("collapse", "expand"):
        raise SpecError(f"Unknown `internal` mode `{internal}`; use \"collapse\" or \"expand\".")
    analysis = _SignAnalysis(spec)
    nodes = [v for v in spec.variables if v.kind != "lookup"]
    keys = {v.canonical for v in nodes}
    name = {v.canonical: v.name for v in spec.variables}
    g = nx.DiGraph(model=spec.name)
    for v in nodes:
        g.add_node(v.name, key=v.canonical, kind=v.kind, units=v.units, doc=v.doc,
                   equation=v.equation_text, internal=v.internal)
    for v in nodes:
        for cause in _causes(v, keys):
            g.add_edge(name[cause], v.name, polarity=link_polarity(spec, cause, v.canonical, _analysis=analysis),
                       link="flow" if v.kind == "stock" else "causal", via=())
    if internal == "collapse":
        g = _collapse(g, lambda n: bool(g.nodes[n]["internal"]))
    if view == "stock_flow":
        g = _collapse(g, lambda n: g.nodes[n]["kind"] not in ("stock", "flow"))
    return g


def model_graph(model: ProgramLike, view: View = "full", internal: InternalMode = "collapse") -> nx.DiGraph:
    """The causal graph of a compiled model or program: :func:`causal_graph` of its lowered spec."""
    return causal_graph(as_program(model).lowered, view=view, internal=internal)


def _collapse(g: nx.DiGraph, hidden: Callable[[str], bool]) -> nx.DiGraph:
    """Remove `hidden` nodes, linking each kept node to the kept causes it reads through them."""
    out = nx.DiGraph(**g.graph)
    kept = [n for n in g if not hidden(n)]
    out.add_nodes_from((n, g.nodes[n]) for n in kept)
    for target in kept:
        # Paths cause -> hidden ... hidden -> target; the polarity is the product along
        # each path, and "unknown" when two paths from one cause disagree.
        found: dict[str, tuple[str, tuple[str, ...]]] = {}
        stack: list[tuple[str, str, tuple[str, ...]]] = [(target, "+", ())]
        while stack:
            node, sign, via = stack.pop()
            for cause in g.predecessors(node):
                data = g.edges[cause, node]
                path_sign = combine_polarity((sign, data["polarity"]))
                if hidden(cause):
                    if cause in via:
                        continue  # a loop entirely inside the hidden part
                    stack.append((cause, path_sign, (cause,) + data["via"] + via))
                    continue
                link = data["link"] if not via else "causal"
                inner = data["via"] + via
                if cause in found:
                    old_sign, old_via = found[cause]
                    merged: str = old_sign if old_sign == path_sign else "unknown"
                    found[cause] = (merged, tuple(dict.fromkeys(old_via + inner)))
                else:
                    found[cause] = (path_sign, inner)
                if not via and out.has_edge(cause, target):
                    continue
                out.add_edge(cause, target, polarity=found[cause][0], link=link, via=found[cause][1])
        for cause, (sign, via) in found.items():
            out.edges[cause, target]["polarity"] = sign
            out.edges[cause, target]["via"] = via
    return out
