"""Scale: a 100-variable model's graph, loops and one run's dominance in under a second."""

from __future__ import annotations

import time

import sd_engine as sd


def _sectors(n: int = 20) -> sd.Model:
    """n coupled sectors of five variables each (a stock, its two flows, two auxiliaries), in a ring.

    Each sector's arrivals are pulled from both neighbours and damped by its own crowding, so the
    model has two balancing loops per sector, a reinforcing loop with each neighbour and the two
    ring-wide loops: 62 loops, with link polarities that need the run (1 - crowding changes sign
    only above capacity).
    """
    m = sd.Model("sectors", final_time=50, dt=0.25)
    m.constant("capacity", 100.0)
    m.constant("growth", 0.3)
    m.constant("residence", 8.0)
    for i in range(n):
        before, after = f"s{(i - 1) % n}", f"s{(i + 1) % n}"
        m.stock(f"S{i}", initial=10 + i, inflows=[f"arrivals {i}"], outflows=[f"departures {i}"])
        m.aux(f"crowding {i}", f"s{i} / capacity")
        m.aux(f"pull {i}", f"(0.7 * {before} + 0.3 * {after}) * (1 - crowding_{i})")
        m.flow(f"arrivals {i}", f"growth * pull_{i}")
        m.flow(f"departures {i}", f"s{i} / residence")
    return m


def test_hundred_variable_model_graph_loops_and_dominance_under_a_second():
    model = _sectors().compile()
    assert len([v for v in model.spec.variables if v.kind != "constant"]) == 100
    ds = model.run()
    # CPU time of this process, so that other work on a shared machine does not count.
    start = time.process_time()
    g = model.graph()
    loops = model.loops(ds)
    dom = model.loop_dominance(ds, loops=loops)
    elapsed = time.process_time() - start
    assert g.number_of_nodes() == 103 and len(loops) == 62
    assert sorted(loop.polarity for loop in loops).count("B") == 40  # crowding and departures per sector
    assert dom.sizes == {"loop": 62, "time": 201}
    assert elapsed < 1.0, f"graph + loops + dominance took {elapsed:.2f} s of CPU"
