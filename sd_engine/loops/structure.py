"""Feedback loops of a causal graph: enumeration with a cap, polarity, ids, names, independent sets.

Loops are the elementary cycles of :func:`sd_engine.graph.causal_graph` (Johnson's
algorithm through :func:`networkx.simple_cycles`, optionally bounded in length with
the Gupta-Suzumura algorithm). Counting stops at a cap: a model with more loops than
that gets its shortest independent loop set (Oliva 2004) instead, with a message.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import networkx as nx
import numpy as np

from ..errors import SpecError, UnknownVariableError, did_you_mean
from ..expr import canonical
from ..graph import combine_polarity
from ..library import attribute_of_source
from ..program import ProgramLike, as_program

__all__ = [
    "Loop",
    "LoopSet",
    "LoopPolarity",
    "TooManyLoopsWarning",
    "DEFAULT_CAP",
    "find_loops",
    "cycle_rank",
    "cycle_partitions",
    "shortest_independent_loops",
    "independent_loops",
    "complete_digraph_cycle_count",
    "library_loop_names",
]

LoopPolarity = Literal["R", "B", "unknown"]

#: Loops listed before falling back to an independent loop set.
DEFAULT_CAP = 100_000

if tuple(int(p) for p in nx.__version__.split(".")[:2]) < (3, 2):  # pragma: no cover - pinned in pyproject
    raise ImportError("sdflow's loop analysis needs networkx >= 3.2 (simple_cycles with length_bound).")


class TooManyLoopsWarning(UserWarning):
    """The model has more feedback loops than the cap; an independent loop set is listed instead."""


@dataclass(frozen=True)
class Loop:
    """One feedback loop: an elementary cycle of the causal graph.

    ``variables`` are display names in causal order, starting at the variable with the
    smallest canonical name (so the same loop always reads the same way); the last
    variable links back to the first. ``links`` are the polarities of those links.

    ``polarity_basis`` says where the polarity comes from: ``"structure"`` when every link's
    sign follows from its equation, ``"run"`` when some link was signed along a run because
    its equation alone does not fix the sign. A run-based polarity holds over
    ``polarity_period`` ``(start, end)``: the first and last time at which every run-signed
    link of the loop was live (its equation responding to its cause) with the sign given.

    Examples
    --------
    >>> import sd_engine as sd
    >>> [(loop.id, loop.polarity, loop.variables) for loop in sd.load("teacup").loops()]
    [('B1', 'B', ('Heat Loss to Room', 'Teacup Temperature'))]
    """

    id: str
    variables: tuple[str, ...]
    polarity: LoopPolarity
    links: tuple[str, ...]
    keys: tuple[str, ...]
    partition: int
    stocks: tuple[str, ...] = ()
    name: str = ""
    polarity_basis: Literal["structure", "run"] = "structure"
    polarity_period: tuple[float, float] | None = None

    @property
    def length(self) -> int:
        """Number of links (and of variables) in the loop."""
        return len(self.variables)

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """The links ``(cause, effect)`` around the loop, by display name."""
        v = self.variables
        return tuple((v[i], v[(i + 1) % len(v)]) for i in range(len(v)))

    @property
    def label(self) -> str:
        """The name if the loop has one, else its id."""
        return self.name or self.id

    def __str__(self) -> str:
        path = " -> ".join(self.variables + self.variables[:1])
        return f"{self.id} ({self.polarity}{', ' + self.name if self.name else ''}): {path}"


@dataclass(frozen=True)
class LoopSet(Sequence[Loop]):
    """The loops of a model: a sequence of :class:`Loop`, indexable by position, id or name.

    ``complete`` is False when the model has more loops than the cap and only an
    independent loop set is listed; ``message`` then says so. ``cycle_rank`` is the
    dimension of the cycle space (the size of a maximal independent loop set).
    """

    loops: tuple[Loop, ...]
    complete: bool = True
    message: str = ""
    cycle_rank: int = 0
    graph: nx.DiGraph | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.loops)

    @overload
    def __getitem__(self, item: int) -> Loop: ...

    @overload
    def __getitem__(self, item: slice) -> Sequence[Loop]: ...

    @overload
    def __getitem__(self, item: str) -> Loop: ...

    def __getitem__(self, item: int | slice | str) -> Loop | Sequence[Loop]:
        if isinstance(item, str):
            for loop in self.loops:
                if item in (loop.id, loop.name):
                    return loop
            labels = [loop.id for loop in self.loops] + [loop.name for loop in self.loops if loop.name]
            raise UnknownVariableError(f"There is no loop `{item}`." + did_you_mean(item, labels))
        return self.loops[item]

    def __iter__(self) -> Iterator[Loop]:
        return iter(self.loops)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(loop.id for loop in self.loops)

    def table(self) -> str:
        """A plain-text listing, one loop per line (used by ``sdflow loops``)."""
        lines = [str(loop) + (f"  [polarity along the run, t = {loop.polarity_period[0]:g} to "
                              f"{loop.polarity_period[1]:g}]" if loop.polarity_period else "")
                 for loop in self.loops]
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)


def complete_digraph_cycle_count(n: int) -> int:
    """Elementary cycles of the complete digraph on `n` nodes: sum of C(n, k) (k - 1)!.

    Examples
    --------
    >>> [complete_digraph_cycle_count(n) for n in (3, 5, 10)]
    [5, 84, 1112073]
    """
    return sum(math.comb(n, k) * math.factorial(k - 1) for k in range(2, n + 1))


def _key(g: nx.DiGraph, node: str) -> str:
    return str(g.nodes[node].get("key", canonical(str(node))))


def cycle_partitions(g: nx.DiGraph) -> list[set[str]]:
    """Strongly connected components that contain a feedback loop, in a stable order."""
    parts = [c for c in nx.strongly_connected_components(g)
             if len(c) > 1 or any(g.has_edge(n, n) for n in c)]
    return sorted(parts, key=lambda c: min(_key(g, n) for n in c))


def cycle_rank(g: nx.DiGraph) -> int:
    """Dimension of the cycle space: the sum of E - N + 1 over the cycle partitions.

    Examples
    --------
    >>> g = nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")])
    >>> cycle_rank(g)
    2
    """
    total = 0
    for part in cycle_partitions(g):
        sub = g.subgraph(part)
        total += sub.number_of_edges() - sub.number_of_nodes() + 1
    return total


def _rotate(g: nx.DiGraph, cycle: Sequence[str]) -> tuple[str, ...]:
    keys = [_key(g, n) for n in cycle]
    start = keys.index(min(keys))
    return tuple(cycle[start:]) + tuple(cycle[:start])


def _edges(cycle: Sequence[str]) -> list[tuple[str, str]]:
    return [(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle))]


def shortest_independent_loops(g: nx.DiGraph) -> list[tuple[str, ...]]:
    """Oliva's shortest independent loop set (SILS), partition by partition.

    For every link the geodetic loop through it (the link and a shortest path back) is
    a candidate; candidates are taken in order of increasing length and kept when they
    add a link not covered yet, until every link of the partition is covered. The cost
    is one breadth-first search per link, whatever the number of loops.
    """
    result: list[tuple[str, ...]] = []
    for part in cycle_partitions(g):
        sub = g.subgraph(part)
        candidates: dict[tuple[str, ...], None] = {}
        for u, v in sorted(sub.edges, key=lambda e: (_key(g, e[0]), _key(g, e[1]))):
            path = [u] if u == v else nx.shortest_path(sub, v, u)
            cycle = _rotate(g, path if u == v else path)
            candidates[cycle] = None
        ordered = sorted(candidates, key=lambda c: (len(c), [_key(g, n) for n in c]))
        covered: set[tuple[str, str]] = set()
        needed = set(sub.edges)
        for cycle in ordered:
            new = set(_edges(cycle)) - covered
            if new:
                result.append(cycle)
                covered |= new
            if covered >= needed:
                break
    return result


def independent_loops(loops: Iterable[Sequence[str]]) -> list[tuple[str, ...]]:
    """Kampmann's greedy independent loop set: keep a loop when it uses a link no earlier loop used."""
    covered: set[tuple[str, str]] = set()
    kept = []
    for cycle in loops:
        new = set(_edges(cycle)) - covered
        if new:
            kept.append(tuple(cycle))
            covered |= new
    return kept


def _name_loops(cycles: list[tuple[str, ...]], names: Mapping[str, Sequence[str]], g: nx.DiGraph,
                model: str, complete: bool = True, max_length: int | None = None) -> dict[tuple[str, ...], str]:
    """Match each named path to the shortest loop that runs through it in that order.

    When `cycles` is not the complete list, a named loop missing from it is built from
    shortest paths between its named variables and added to `cycles`. With `max_length`
    the list holds only the short loops: a named loop missing from it is longer (or not
    a loop at all, which the listing without `max_length` reports) and goes unnamed.
    """
    by_key = {_key(g, n): n for n in g}
    out: dict[tuple[str, ...], str] = {}
    for name, path in names.items():
        nodes = []
        for v in path:
            k = canonical(v)
            if k not in by_key:
                raise UnknownVariableError(
                    f"Loop `{name}` names `{v}`, which is not a variable of the causal graph of `{model}`."
                    + did_you_mean(k, by_key)
                )
            nodes.append(by_key[k])
        matches = []
        for cycle in cycles:
            if not set(nodes) <= set(cycle):
                continue
            positions = [cycle.index(n) for n in nodes]
            start = positions.index(min(positions))
            rotated = positions[start:] + positions[:start]
            if rotated == sorted(rotated):
                matches.append(cycle)
        if not matches and not complete:
            # The listed loops are only an independent set; a named loop may lie outside it.
            through = _loop_through(g, nodes)
            if through is not None and (max_length is None or len(through) <= max_length):
                cycles.append(through)
                matches.append(through)
        if not matches and max_length is not None:
            continue
        if not matches:
            path_text = " -> ".join(f"`{v}`" for v in path)
            raise SpecError(f"Loop `{name}` ({path_text}) is not a feedback loop of `{model}`; check the "
                            "variables and their causal order.")
        out[min(matches, key=lambda c: (len(c), [_key(g, n) for n in c]))] = name
    return out


def _loop_through(g: nx.DiGraph, nodes: Sequence[str]) -> tuple[str, ...] | None:
    """A loop through the named nodes in order: shortest paths from each to the next that
    avoid the variables already on the loop (greedy, so it may miss a loop that exists)."""
    walk: list[str] = []
    for a, b in zip(nodes, list(nodes[1:]) + [nodes[0]]):
        used = set(walk) - {a, b}
        try:
            path = nx.shortest_path(nx.restricted_view(g, used, []), a, b)
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None
        walk += path[:-1]
    if len(walk) != len(set(walk)):
        return None
    return _rotate(g, walk)


def find_loops(
    g: nx.DiGraph,
    *,
    max_length: int | None = None,
    cap: int = DEFAULT_CAP,
    names: Mapping[str, Sequence[str]] | None = None,
    polarity: Mapping[tuple[str, str], str] | None = None,
    live: Mapping[tuple[str, str], np.ndarray] | None = None,
    times: Sequence[float] | np.ndarray | None = None,
    cycles: Iterable[Sequence[str]] | None = None,
    note: str = "",
    complete: bool = False,
) -> LoopSet:
    """The feedback loops of causal graph `g`.

    Parameters
    ----------
    g : networkx.DiGraph
        A causal graph from :func:`sd_engine.graph.causal_graph`.
    max_length : int, optional
        List only loops of at most this many links.
    cap : int
        Stop counting after this many loops. A model with more gets its shortest
        independent loop set instead (``complete=False``), with a
        :class:`TooManyLoopsWarning` and the same text in ``LoopSet.message``.
    names : mapping, optional
        Loop name -> variables on the loop in causal order (enough of them to single it
        out); the shortest matching loop gets the name.
    polarity : mapping, optional
        Link polarities that override the graph's ``polarity`` edge attribute (numerical
        polarities from a run).
    live, times : optional
        For the links signed along a run: boolean arrays ``(runs, len(times))`` of the
        steps at which each link was live. A loop through such links takes its polarity
        from them over the steps where all of them are live in some run
        (``polarity_basis="run"``,
        ``polarity_period`` from the first to the last such time); when they are never
        live together, the run says nothing about the loop and its polarity is unknown.
    cycles : iterable of variable sequences, optional
        Loops found otherwise (e.g. by :func:`~sd_engine.loops.discovery.discover_loops`)
        to describe instead of enumerating them, with `note` as the set's message.
    note : str
        The message of a set given by `cycles`.
    complete : bool
        Whether `cycles` are all the loops of `g` (a set this function listed before);
        otherwise the set is marked incomplete.

    Examples
    --------
    >>> g = nx.DiGraph()
    >>> g.add_edge("a", "b", polarity="+"); g.add_edge("b", "a", polarity="-")
    >>> loops = find_loops(g)
    >>> loops[0].polarity, loops[0].variables
    ('B', ('a', 'b'))
    """
    if not isinstance(cap, int) or cap < 1:
        raise SpecError(f"`cap` must be a positive whole number, not {cap!r}.")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise SpecError(f"`max_length` must be a positive whole number, not {max_length!r}.")
    model = str(g.graph.get("model", "model"))
    rank = cycle_rank(g)
    message = ""
    if cycles is not None:
        listed = list(dict.fromkeys(_rotate(g, c) for c in cycles))
        message = note
    else:
        found = list(itertools.islice(nx.simple_cycles(g, length_bound=max_length), cap + 1))
        complete = len(found) <= cap
        if complete:
            listed = [_rotate(g, c) for c in found]
        else:
            listed = shortest_independent_loops(g)
            if max_length is not None:
                listed = [c for c in listed if len(c) <= max_length]
            message = (
                f"Model `{model}` has more than {cap:,} feedback loops{' of up to ' + str(max_length) + ' links' if max_length else ''}, "
                f"too many to list; showing its shortest independent loop set ({len(listed)} loops, cycle rank {rank}) "
                "instead. Raise `cap`, or set `max_length` to list the short loops."
            )
            warnings.warn(message, TooManyLoopsWarning, stacklevel=3)
        del found
    listed.sort(key=lambda c: (len(c), [_key(g, n) for n in c]))
    named = _name_loops(listed, names or {}, g, model, complete, max_length)
    part_index = {}
    for i, part in enumerate(cycle_partitions(g)):
        for n in part:
            part_index[n] = i + 1
    counters: dict[str, int] = {}
    loops = []
    for cycle in listed:
        links = tuple((polarity or {}).get(e, g.edges[e].get("polarity", "unknown")) for e in _edges(cycle))
        sign = combine_polarity(links)
        basis: Literal["structure", "run"] = "structure"
        period: tuple[float, float] | None = None
        from_run = [live[e] for e in _edges(cycle) if live is not None and e in live]
        if from_run:
            basis = "run"
            together = np.any(np.logical_and.reduce(from_run), axis=0)
            if sign != "unknown" and together.any() and times is not None:
                steps = np.flatnonzero(together)
                period = (float(times[steps[0]]), float(times[steps[-1]]))
            else:
                sign = "unknown"
        letter: LoopPolarity = "R" if sign == "+" else "B" if sign == "-" else "unknown"
        prefix = letter if letter != "unknown" else "U"
        counters[prefix] = counters.get(prefix, 0) + 1
        loops.append(Loop(
            id=f"{prefix}{counters[prefix]}", variables=cycle, polarity=letter, links=links,
            keys=tuple(_key(g, n) for n in cycle), partition=part_index[cycle[0]],
            stocks=tuple(n for n in cycle if g.nodes[n].get("kind") == "stock"), name=named.get(cycle, ""),
            polarity_basis=basis, polarity_period=period,
        ))
    return LoopSet(tuple(loops), complete=complete, message=message, cycle_rank=rank, graph=g)


def library_loop_names(model: ProgramLike) -> dict[str, tuple[str, ...]]:
    """Loop names declared by a library model (a ``LOOPS`` mapping in its module), if any.

    The module is the one the model was built from (its spec's ``source``), found through the
    library door (``sd_engine.library``): a renamed copy keeps its names, and a model file's
    spec never names a module to import.
    """
    loops = attribute_of_source(as_program(model).spec.source, "LOOPS", {})
    return {str(k): tuple(v) for k, v in loops.items()}
