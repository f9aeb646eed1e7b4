"""Names and evaluation order of a lowered model, worked out once before code is generated.

:func:`check_references` refuses an equation that reads an undefined name or calls an
unknown function; :func:`order_rates` and :func:`order_initial` give the order in which
``evaluate`` and ``initialize`` compute their variables (networkx, ties broken by definition
order so the generated source is stable). A cycle among equations is an algebraic loop,
reported by :func:`topological` as its path from cause to effect.

These are free functions of the lowered :class:`~sd_engine.spec.ModelSpec`: every back end
that orders equations itself (a compiled kernel) can use them as the code generator does.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from .errors import AlgebraicLoopError, SpecError, UnknownVariableError, did_you_mean
from .expr import TIME_NAMES, Call, Expr, Num, Ref, references, walk
from .functions import ALIASES, ARRAY_FUNCTIONS, BUILTINS, LOOKUP_FUNCTIONS, PIECE_AT, PIECES, REDUCTIONS
from .lower import STATEFUL
from .spec import ModelSpec, Variable

__all__ = [
    "is_parameter",
    "computed_variables",
    "check_references",
    "order_rates",
    "order_initial",
    "topological",
    "equation_hint",
]


def is_parameter(var: Variable) -> bool:
    """Whether `var` is an input of the run (a slot of ``c`` that ``run(params=...)`` can set):
    a constant given as a number or an array of numbers, not computed from other variables."""
    return var.kind == "constant" and (var.values is not None or isinstance(var.equation, Num))


def computed_variables(lowered: ModelSpec) -> list[Variable]:
    """The variables ``evaluate`` computes at every step: auxiliaries, flows, and constants
    given by an equation of other variables; in definition order."""
    return [v for v in lowered.variables
            if v.kind in ("aux", "flow") or (v.kind == "constant" and not is_parameter(v))]


def equation_hint(var: Variable) -> str:
    """The equation of `var` as written, as an indented line to end a message with ("" if none)."""
    return f"\n    {var.name} = {var.equation_text}" if var.equation_text else ""


def _equations(var: Variable) -> list[Expr]:
    return [e for e in (var.equation, var.init_equation, var.delay_time) if e is not None]


def check_references(lowered: ModelSpec) -> None:
    """Refuse a reference to an undefined variable or a call of an unknown function.

    Raises
    ------
    UnknownVariableError
        An equation reads a name that is not defined, or calls an unknown function; the
        message suggests the closest names and shows the equation.
    SpecError
        An equation calls a variable that is not a lookup.
    """
    variables = {v.canonical: v for v in lowered.variables}
    known = set(variables) | set(TIME_NAMES)
    callables = set(BUILTINS) | set(ALIASES) | set(REDUCTIONS) | set(LOOKUP_FUNCTIONS) | set(ARRAY_FUNCTIONS)
    callables |= {"with_lookup", "time", PIECES, PIECE_AT} | {k for k, v in variables.items() if v.kind == "lookup"}
    for var in variables.values():
        for expr in _equations(var):
            for node in walk(expr):
                if isinstance(node, Ref) and node.name not in known:
                    raise UnknownVariableError(
                        f"The equation of `{var.name}` refers to `{node.name}`, which is not defined."
                        + did_you_mean(node.name, known)
                        + equation_hint(var)
                    )
                if isinstance(node, Call) and node.func not in callables:
                    if node.func in variables:
                        raise SpecError(
                            f"The equation of `{var.name}` calls `{node.func}`, which is a "
                            f"{variables[node.func].kind}, not a lookup; only lookups can be called."
                        )
                    raise UnknownVariableError(
                        f"The equation of `{var.name}` calls unknown function `{node.func}`."
                        + did_you_mean(node.func, callables | set(STATEFUL)) + equation_hint(var)
                    )


def order_rates(lowered: ModelSpec, computed: Sequence[Variable]) -> list[Variable]:
    """The order in which ``evaluate`` computes `computed`: each after what its equation reads.

    An outflow of a non-negative stock is limited by what the stock and its inflows hold, so it
    comes after those inflows and the outflows listed before it.
    """
    variables = {v.canonical: v for v in lowered.variables}
    graph = nx.DiGraph()
    keys = {v.canonical for v in computed}
    graph.add_nodes_from(v.canonical for v in computed)
    for var in computed:
        assert var.equation is not None
        for dep in references(var.equation):
            if dep in keys:
                graph.add_edge(dep, var.canonical)
    for stock in variables.values():
        if stock.kind == "stock" and stock.non_negative and stock.update == "continuous":
            for i, out in enumerate(stock.outflows):
                for before in stock.inflows + stock.outflows[:i]:
                    if before != out:
                        graph.add_edge(before, out)
    return [variables[k] for k in topological(graph, lowered, "equations")]


def order_initial(lowered: ModelSpec) -> list[Variable]:
    """What ``initialize`` computes, in order: only what the initial values of stocks and
    states need (everything else is computed by ``evaluate`` at the first step anyway)."""
    variables = {v.canonical: v for v in lowered.variables}
    graph = nx.DiGraph()
    for var in variables.values():
        if var.kind == "lookup" or is_parameter(var):
            continue
        graph.add_node(var.canonical)
        if var.update == "random":
            continue
        for expr in (var.init_equation or var.equation, var.delay_time):
            if expr is None:
                continue
            for dep in references(expr):
                dv = variables.get(dep)
                if dv is not None and dv.kind != "lookup" and not is_parameter(dv):
                    graph.add_edge(dep, var.canonical)
    roots = [k for k in graph if variables[k].kind == "stock"]
    needed = set(roots).union(*(nx.ancestors(graph, k) for k in roots))
    return [variables[k] for k in topological(graph, lowered, "initial values") if k in needed]


def topological(graph: nx.DiGraph, lowered: ModelSpec, what: str) -> list[str]:
    """The nodes of `graph` (canonical names of `lowered`) in an order where each comes after
    its predecessors, ties broken by definition order so the generated source is stable.

    Raises
    ------
    AlgebraicLoopError
        The graph has a cycle: an algebraic loop in the `what` ("equations", "initial
        values"), reported as its path with the fix; ``cycle`` holds the display names.
    """
    variables = {v.canonical: v for v in lowered.variables}
    position = {k: i for i, k in enumerate(variables)}
    try:
        return list(nx.lexicographical_topological_sort(graph, key=lambda k: position[k]))
    except nx.NetworkXUnfeasible:
        cycle = [u for u, _ in nx.find_cycle(graph)]
        names = [variables[k].name for k in cycle]
        path = " -> ".join(f"`{n}`" for n in names + names[:1])
        raise AlgebraicLoopError(
            f"Algebraic loop in the {what} (cause to effect): {path}. Break it with a stock (for example a "
            "`smooth` or `delay1`), or give one variable an initial value with `active_initial`.",
            cycle=names,
        ) from None
