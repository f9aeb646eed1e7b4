"""Causal graph conventions, polarity, loop enumeration, caps and independent loop sets."""

from __future__ import annotations

import itertools
import time
import warnings

import networkx as nx
import numpy as np
import pytest
from builders import arms_race, logistic

import sd_engine as sd
from sd_engine.graph import causal_graph, link_polarity
from sd_engine.loops import (
    TooManyLoopsWarning,
    complete_digraph_cycle_count,
    cycle_rank,
    find_loops,
    independent_loops,
    shortest_independent_loops,
)


def test_arms_race_loops_rank_and_sils():
    model = arms_race().compile()
    g = model.graph()
    assert (g.number_of_nodes() - 1, g.number_of_edges() - 3) == (9, 15)  # minus the constant and its links
    loops = model.loops()
    assert sorted(loop.polarity for loop in loops) == ["B"] * 3 + ["R"] * 5
    assert sorted(loop.length for loop in loops) == [2, 2, 2, 6, 6, 6, 9, 9]
    assert loops.cycle_rank == 7
    three_party = [loop for loop in loops if loop.length == 9]
    assert len({loop.variables for loop in three_party}) == 2
    assert {tuple(s for s in loop.stocks) for loop in three_party} == {("A", "B", "C"), ("A", "C", "B")}
    sils = shortest_independent_loops(g)
    assert len(sils) == 6 and all(len(c) in (2, 6) for c in sils)
    # Independent check of the cycle rank: the loops' link-incidence vectors span a 7-dimensional space.
    edges = list(g.edges)
    incidence = np.array([[e in set(loop.edges) for e in edges] for loop in loops], dtype=float)
    assert np.linalg.matrix_rank(incidence) == 7
    # Kampmann's greedy set, shortest loops first, also stops at the 6 that cover every link.
    assert len(independent_loops(loop.variables for loop in loops)) == 6


@pytest.mark.parametrize("n, count", [(3, 5), (5, 84)])
def test_complete_digraph_cycle_counts(n, count):
    assert complete_digraph_cycle_count(n) == count
    assert sum(1 for _ in nx.simple_cycles(nx.complete_graph(n, nx.DiGraph))) == count


def test_cycle_explosion_reference_values():
    assert complete_digraph_cycle_count(10) == 1_112_073
    assert complete_digraph_cycle_count(14) == 18_348_340_113


def _dense(n: int) -> sd.Model:
    """n stocks whose flows each read every stock: millions of loops for n = 12."""
    m = sd.Model(f"dense {n}", final_time=5, dt=0.5)
    names = [f"s{i}" for i in range(n)]
    for i, s in enumerate(names):
        m.stock(s, initial=1 + i, inflows=[f"f{i}"])
        m.flow(f"f{i}", " + ".join(f"0.01 * {x}" for x in names) + f" - 0.2 * {s}")
    return m


def test_dense_model_caps_with_message_and_independent_set():
    model = _dense(12).compile()
    start = time.perf_counter()
    with pytest.warns(TooManyLoopsWarning, match=r"more than 10,000 feedback loops.*shortest independent"):
        loops = model.loops(cap=10_000)
    elapsed = time.perf_counter() - start
    assert not loops.complete and "cycle rank" in loops.message
    g = model.graph()
    assert loops.cycle_rank == cycle_rank(g) == g.number_of_edges() - g.number_of_nodes() + 1
    covered = {e for loop in loops for e in loop.edges}
    assert covered == set(g.edges)  # the SILS covers every link
    assert len(loops) <= loops.cycle_rank
    assert elapsed < 60  # generous: the point is that it returns at all, with bounded memory


def test_length_bound_and_cap_are_exact():
    g = nx.complete_graph(5, nx.DiGraph)
    nx.set_edge_attributes(g, "+", "polarity")
    assert len(find_loops(g, max_length=2)) == 10
    assert len(find_loops(g, cap=84)) == 84 and find_loops(g, cap=84).complete
    with pytest.warns(TooManyLoopsWarning):
        assert not find_loops(g, cap=83).complete


def test_loop_ids_are_canonical_rotations():
    g = nx.DiGraph()
    nx.add_cycle(g, ["c", "a", "b"], polarity="+")
    nx.add_cycle(g, ["b", "a", "c"], polarity="-")
    g.edges["b", "a"]["polarity"] = "+"
    loops = find_loops(g)
    assert [loop.variables for loop in loops] == [("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c"),
                                                  ("a", "c", "b")]
    assert [loop.polarity for loop in loops] == ["R", "B", "B", "R", "R"]
    assert loops.ids == ("R1", "B1", "B2", "R2", "R3")
    assert loops["B2"].variables == ("b", "c")


def test_sir_named_loops_polarity():
    model = sd.load("sir")
    names = {"R1 contagion": ["Infectious", "Succumbing"], "B1 depletion": ["Susceptible", "Succumbing"],
             "B2 recovery": ["Infectious", "Recovering"]}
    loops = model.loops(names=names)
    assert {loop.name: loop.polarity for loop in loops} == {"R1 contagion": "R", "B1 depletion": "B",
                                                          "B2 recovery": "B"}
    # Structurally the contagion link's sign depends on the sign of Susceptible: settled by the run.
    assert model.loops(names=names, numeric=False)["R1 contagion"].polarity == "unknown"


def test_teacup_single_balancing_loop():
    loops = sd.load("teacup").loops()
    assert [(loop.polarity, loop.length) for loop in loops] == [("B", 2)]


def test_structural_polarity_rules():
    m = sd.Model("polarity")
    m.constant("k", 2)
    m.lookup("effect", [(0, 1), (1, 0.5), (2, 0.2)])
    m.stock("s", initial=1, inflows=["f"], non_negative=True)
    m.aux("a", "k - s")
    m.aux("b", "effect(s)")
    m.aux("c", "exp(-s) * k")
    m.aux("d", "if_then_else(s > 1, s, -s)")
    m.aux("e", "min(s, k) / k")
    m.flow("f", "a + b + c + d + e")
    spec = m.compile().lowered
    assert [link_polarity(spec, "s", x) for x in "abcde"] == ["-", "-", "-", "unknown", "+"]
    assert link_polarity(spec, "f", "s") == "+"


def test_smooth_collapsed_or_expanded():
    m = sd.Model("smoothed")
    m.constant("goal", 100)
    m.stock("level", initial=10, inflows=["adjust"])
    m.aux("perceived", "smooth(level, 2)")
    m.flow("adjust", "(goal - perceived) / 4")
    model = m.compile()
    collapsed = model.graph()
    assert collapsed.edges["level", "perceived"]["via"] == ("_smooth_1 of perceived change", "_smooth_1 of perceived")
    assert collapsed.edges["level", "perceived"]["polarity"] == "+"
    expanded = model.graph(internal="expand")
    assert expanded.nodes["_smooth_1 of perceived"]["internal"]
    assert len(model.loops(internal="expand")) == 2  # the smooth's own adjustment loop appears
    assert len(model.loops()) == 1


def test_stock_flow_view_and_initial_only_links():
    m = sd.Model("view")
    m.constant("k", 3)
    m.stock("x", initial="k * 2", outflows=["out"])
    m.aux("rate", "x / k")
    m.flow("out", "rate")
    model = m.compile()
    full = model.graph()
    assert full.nodes["x"]["kind"] == "stock" and not full.has_edge("k", "x")  # initial-only: not a link
    sf = model.graph(view="stock_flow")
    assert set(sf.nodes) == {"x", "out"}
    assert sf.edges["x", "out"]["polarity"] == "+" and sf.edges["out", "x"]["polarity"] == "-"


def test_logistic_polarity_needs_the_run():
    # net growth = g * P: the sign of P -> net growth is the sign of g, which the structure
    # does not fix (g < 0 above K); along the run (P < K) it is positive.
    model = logistic().compile()
    assert [loop.polarity for loop in model.loops(numeric=False)] == ["unknown", "unknown"]
    assert [(loop.id, loop.variables) for loop in model.loops()] == [("R1", ("net growth", "P")),
                                                                    ("B1", ("g", "net growth", "P"))]


def test_step_functions_are_monotone_links():
    m = sd.Model("steps")
    m.constant("c", 1)
    m.stock("s", initial=1, inflows=["f"])
    m.aux("below", "if_then_else(s - c < 0.5, 1, 0)")  # falls from 1 to 0 as s rises
    m.aux("above", "if_then_else(s >= c, 2, 0)")
    m.aux("mixed", "if_then_else(s > c, s, 0)")  # a branch that depends on s too: undetermined
    m.aux("equal", "if_then_else(s == c, 1, 0)")
    m.flow("f", "below + above + mixed + equal")
    spec = m.compile().lowered
    assert [link_polarity(spec, "s", x) for x in ("below", "above", "mixed", "equal")] == ["-", "+", "unknown",
                                                                                         "unknown"]


def _threshold_loop() -> sd.Model:
    """A balancing loop through a link that a threshold switches on: live once x passes 5."""
    m = sd.Model("threshold", final_time=10, dt=0.5)
    m.stock("x", initial=1, inflows=["inflow"], outflows=["drain"])
    m.flow("inflow", "1")
    m.aux("sign flip", "if_then_else(time > 100, -1, 1)")  # constant in the run; its sign is not structural
    m.aux("excess", "max(0, x - 5) * sign_flip")
    m.flow("drain", "excess * 0.3")
    return m


def test_run_settled_polarity_and_its_period():
    model = _threshold_loop().compile()
    ds = model.run()
    assert model.loops(numeric=False)[0].polarity == "unknown"
    loop = model.loops(ds)[0]
    assert (loop.polarity, loop.polarity_basis) == ("B", "run")
    x = ds["x"].values
    first = float(ds["time"].values[np.argmax(x >= 5)])  # at x = 5 the slope from above is live
    assert loop.polarity_period == (first, 10.0)
    # The same loop in a run that never reaches the threshold: the run cannot tell.
    short = model.run(final_time=3)
    assert (model.loops(short)[0].polarity, model.loops(short)[0].polarity_period) == ("unknown", None)


def test_derivative_signs_need_no_change_in_the_cause():
    from sd_engine.loops.scores import link_derivative_signs, trajectories

    m = sd.Model("held", final_time=4, dt=1)
    m.constant("k", 3)
    m.aux("y", "2 - time")  # positive, zero, then negative
    m.stock("x", initial=2, inflows=["f"])
    m.flow("f", "0 * x + k")  # x stays steady apart from a constant inflow
    m.aux("z", "x * y")
    model = m.compile()
    g = model.graph()
    signs = link_derivative_signs(trajectories(model), g, [("x", "z"), ("y", "z")])
    np.testing.assert_array_equal(signs[("x", "z")][0], [1, 1, 0, -1, -1])  # the sign of y
    np.testing.assert_array_equal(signs[("y", "z")][0], [1, 1, 1, 1, 1])  # the sign of x (> 0)
