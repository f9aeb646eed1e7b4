"""Strongest-path loop search (Eberlein & Schoenberg 2020) against full enumeration."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from builders import arms_race

import sd_engine as sd
from sd_engine.loops import discover_loops, dominant, shortest_independent_loops, strongest_path_loops


def _mixed(n: int, seed: int) -> sd.Model:
    """n stocks, each flow a random linear mix of every stock: n self-loops and every longer cycle."""
    rng = np.random.default_rng(seed)
    m = sd.Model(f"mixed {n}", final_time=20, dt=0.25)
    names = [f"s{i}" for i in range(n)]
    weights = rng.normal(0, 0.1, (n, n))
    m.constant("gain", 1.0)  # scales the first flow, to vary the dominance across an ensemble
    for i, s in enumerate(names):
        m.stock(s, initial=1 + i, inflows=[f"f{i}"])
        mix = " + ".join(f"({weights[i, j]:.4f}) * {x}" for j, x in enumerate(names))
        m.flow(f"f{i}", f"gain * ({mix})" if i == 0 else mix)
    return m


def test_papers_four_variable_example_misses_the_strongest_loop():
    """The known limitation (Eberlein & Schoenberg 2020, Fig. 7): a documented miss, not a bug.

    The paper's figure gives four variables, the loop found (a -> d -> c -> a, score 100) and the
    one missed (a -> b -> c -> a, score 1,000); the link scores here are chosen to reproduce that.
    Searching from a, the branch a -> d -> c -> b reaches b with product 10 before the direct
    link a -> b (score 1) is tried, so that branch is pruned and the stronger loop never closes.
    """
    scores = {("a", "d"): 10.0, ("d", "c"): 10.0, ("c", "a"): 1.0, ("a", "b"): 1.0, ("b", "c"): 1000.0,
              ("c", "b"): 0.1}
    g = nx.DiGraph(list(scores))

    def loop_score(cycle):
        return np.prod([scores[(u, v)] for u, v in zip(cycle, cycle[1:] + cycle[:1])])

    every = {tuple(c): loop_score(list(c)) for c in nx.simple_cycles(g)}
    assert sorted(every.values()) == [100.0, 100.0, 1000.0]
    found = strongest_path_loops(g, scores, ["a"])
    assert found == [("a", "d", "c")]
    assert loop_score(["a", "d", "c"]) == 100.0
    assert loop_score(["a", "b", "c"]) == 1000.0
    # Starting from another variable recovers it, as the paper notes.
    assert ("b", "c", "a") in strongest_path_loops(g, scores, ["b"])


def test_inactive_links_are_not_followed():
    g = nx.DiGraph([("s", "f"), ("f", "s"), ("s", "a"), ("a", "f")])
    scores = {("s", "f"): 2.0, ("f", "s"): -1.0, ("s", "a"): 0.0, ("a", "f"): float("nan")}
    assert strongest_path_loops(g, scores, ["s"]) == [("s", "f")]


def test_arms_race_search_finds_the_dominant_loops_the_independent_set_misses():
    """Three-party arms race: the 9-link loops dominate late; SILS leaves them out, the search finds them."""
    model = arms_race().compile()
    ds = model.run()
    full = model.loops(ds)
    found = discover_loops(model, ds)
    assert not found.complete and "strongest-path search" in found.message
    rls = model.loop_dominance(ds, loops=full)
    ever = rls["loop"].values[dominant(rls).values.any(axis=1)]
    dominant_loops = {full[str(i)].variables for i in ever}
    assert {loop.variables for loop in found} >= dominant_loops
    three_party = {loop.variables for loop in full if loop.length == 9}
    late = rls.sel(time=slice(50, None)).isel(time=slice(None, -1))
    assert np.all(np.abs(late.sel(loop=[loop.id for loop in full if loop.length == 9])).sum("loop") > 0.5)
    assert three_party <= {loop.variables for loop in found}
    assert not three_party & set(shortest_independent_loops(model.graph()))


@pytest.mark.parametrize(("n", "seed"), [(5, 1), (6, 2), (7, 4)])
def test_search_finds_the_strongest_loop_at_every_step(n, seed):
    model = _mixed(n, seed).compile()
    ds = model.run()
    full = model.loops(ds)
    found = discover_loops(model, ds)
    assert len(found) < len(full)  # 89, 415 and 2,372 loops; the search keeps a fraction
    rls = model.loop_dominance(ds, loops=full).values[:, :-1]
    strongest = {full[int(i)].variables for i in np.argmax(np.abs(rls), axis=0)}
    kept = {loop.variables for loop in found}
    assert strongest <= kept
    # The loops found explain at least half the change at every step: a dominant set among them.
    share = np.abs(rls[[loop.variables in kept for loop in full]]).sum(axis=0)
    assert share.min() >= 0.5
    # Scored on their own, the loops found keep their polarity and partition.
    by_vars = {loop.variables: loop for loop in full}
    assert all((loop.polarity, loop.partition) == (by_vars[loop.variables].polarity,
                                                  by_vars[loop.variables].partition) for loop in found)


def test_search_through_model_loops_and_named_loops_kept():
    model = sd.load("sir")
    loops = model.loops(method="search")
    assert {loop.label for loop in loops} == {"contagion", "depletion", "recovery"}
    dom = model.loop_dominance(loops=loops)
    assert dom.sizes["loop"] == 3
    with pytest.raises(sd.SpecError, match="`method` must be \"enumerate\" or \"search\""):
        model.loops(method="guess")
    with pytest.raises(sd.SpecError, match="`every` must be a positive whole number"):
        discover_loops(model, every=0)


def test_search_on_an_ensemble_uses_every_run():
    model = _mixed(5, 1).compile()
    ens = model.run(params={"gain": np.array([0.01, 1.0])})
    union = {loop.variables for loop in discover_loops(model, ens)}
    singles = [{loop.variables for loop in discover_loops(model, model.run(params={"gain": g}))} for g in (0.01, 1.0)]
    assert union == singles[0] | singles[1]


def test_cli_search():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "sd_engine.cli", "loops", "sir", "--search"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "strongest-path search" in result.stdout
    assert "R1 (R, contagion): Infectious -> Succumbing -> Infectious  [polarity along the run, t = 0 to 100]" \
        in result.stdout
