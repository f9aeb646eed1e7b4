"""The whole-system flow model: physical bounds, England's orders of magnitude, lever
directions (one ensemble run), population scaling and the named loops of domain §4.5."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import sd_engine as sd
from sd_engine.expr import canonical, references
from models.whole_system_flow import LOOPS

# name -> (parameter changes). Run 0 is the baseline; every lever is one more run of a
# single ensemble call, so the whole table costs about one simulation.
LEVERS: dict[str, dict[str, float]] = {
    "baseline": {},
    "nhs budget growth": {"nhs budget growth": 0.04},
    "pooled budget": {"pooled budget share": 0.08},
    "fines": {"fine per delayed day": 100},
    "target pressure": {"target pressure": 2},
    "system accountability": {"system accountability": 0.8},
    "savings": {"savings rate": 0.03},
    "improvement time": {"improvement time": 0.1},
    "tests of change": {"tests of change": 3},
    "training": {"training increase": 90},
    "retention": {"retention gain": 0.2},
    "international": {"international recruits": 150},
    "beds": {"bed change": 0.1},
    "reorganisations": {"first reorganisation": 730, "reorganisation interval": 1825},
    "escalation off": {"escalation on": 0},
    "early discharge off": {"early discharge on": 0},
    "work hour limit": {"work hour limit": 1.0},
    # downstream levers act where social care is the constraint: a reference with LA funding
    # falling 4% a year, so that home care capacity binds within a few years
    "stressed": {"social care funding growth": -0.04},
    "stressed + pay": {"social care funding growth": -0.04, "social care pay index": 1.15},
    "stressed + pooled": {"social care funding growth": -0.04, "pooled budget share": 0.08},
    "stressed + spot off": {"social care funding growth": -0.04, "spot purchase on": 0},
    "stressed - care homes": {"social care funding growth": -0.04, "care home change": -0.2},
    "stressed - IC": {"social care funding growth": -0.04, "IC change": -0.3},
    # L16: results judged after two years or ten; a high bar makes the short window abandon
    "redesign 2y": {"redesign time": 0.1, "results threshold": 0.5, "evaluation window": 730},
    "redesign 10y": {"redesign time": 0.1, "results threshold": 0.5, "evaluation window": 3650},
}


@pytest.fixture(scope="module")
def model():
    return sd.load("whole_system_flow")


@pytest.fixture(scope="module")
def runs(model):
    names = sorted({k for change in LEVERS.values() for k in change})
    defaults = {k: model.lowered[canonical(k)].equation.value for k in names}
    params = {k: np.array([change.get(k, defaults[k]) for change in LEVERS.values()]) for k in names}
    ds = model.run(params=params)
    return {name: ds.isel(run=i) for i, name in enumerate(LEVERS)}


def at(runs, name, var, years):
    return float(runs[name][var].sel(time=365 * years))


def test_fifteen_years_in_days_at_the_default_dt(model, runs):
    ds = runs["baseline"]
    assert model.spec.time.units == "day" and model.spec.time.dt == 1.0
    assert float(ds.time[-1]) == 15 * 365
    assert ds.attrs["status"] == "ok" if "status" in ds.attrs else True


def test_physical_bounds(model, runs):
    stocks = [v.name for v in model.spec.of_kind("stock")]
    for name, ds in runs.items():
        for s in stocks:
            if s != "Financial position":
                assert float(ds[s].min()) >= -1e-9, f"{name}: `{s}` went negative"
        occupied = ds["occupied beds"]
        capacity = ds["beds"] + ds["Escalation beds"]
        assert float((occupied - capacity).max()) <= 1e-6, f"{name}: occupancy above capacity plus escalation"
        for frac in ("Trust", "Shared knowledge", "four hour performance"):
            assert 0 <= float(ds[frac].min()) and float(ds[frac].max()) <= 1


def test_baseline_matches_england_orders_of_magnitude(runs):
    ds = runs["baseline"]
    first_year = ds.sel(time=slice(0, 364))
    # domain §4.1 and §5, per 1 m population (England / 55.98 m)
    assert 600 < float(first_year["value demand"].mean()) < 1000          # type-1: 767/day
    assert 0.85 < float(first_year["occupancy"].mean()) < 0.95            # "more than 90%"
    assert 30 < float(first_year["Acute DToC"].mean()) < 80                # 53 delayed patients a day
    assert 0.78 < float(first_year["four hour performance"].mean()) < 0.92  # type 1: 81.5%
    assert 4000 < at(runs, "baseline", "Nurses", 1) < 6000                 # 5,050 FTE
    assert 60_000 < at(runs, "baseline", "Elective waiting list", 1) < 100_000  # 80,000
    assert 0.06 < float(first_year["nurse leaver rate"].mean() / 1) < 0.15  # 10.7%/yr
    admissions = float(first_year["admissions"].mean())
    assert 150 < admissions < 250                                           # ≈190 overnight admissions a day
    # a stable baseline: no runaway over 15 years
    for var in ("Emergency inpatients", "Nurses", "Care home residents"):
        ratio = at(runs, "baseline", var, 15) / at(runs, "baseline", var, 1)
        assert 0.8 < ratio < 1.25, var


DIRECTIONS = [
    # lever run, reference run, outcome, year, sign (+1: lever raises the outcome)
    ("nhs budget growth", "baseline", "Financial position", 5, +1),
    ("pooled budget", "baseline", "Shared knowledge", 5, +1),
    ("pooled budget", "baseline", "Social care workers", 5, +1),
    ("fines", "baseline", "Trust", 2, -1),
    ("target pressure", "baseline", "Improvement capability", 5, -1),
    ("system accountability", "baseline", "Trust", 5, +1),
    ("savings", "baseline", "occupancy", 5, +1),
    ("savings", "baseline", "four hour performance", 5, -1),
    ("savings", "baseline", "Financial position", 15, -1),
    ("improvement time", "baseline", "Improvement capability", 5, +1),
    ("improvement time", "baseline", "occupancy", 5, -1),
    ("tests of change", "baseline", "Improvement capability", 5, +1),
    ("training", "baseline", "Nurses", 10, +1),
    ("retention", "baseline", "Nurses", 5, +1),
    ("international", "baseline", "Nurses", 5, +1),
    ("beds", "baseline", "occupancy", 5, -1),
    ("beds", "baseline", "four hour performance", 5, +1),
    ("reorganisations", "baseline", "Shared knowledge", 5, -1),
    ("escalation off", "baseline", "occupancy", 5, +1),
    ("early discharge off", "baseline", "readmissions", 5, -1),
    ("work hour limit", "baseline", "Nurse fatigue", 5, -1),
    ("stressed", "baseline", "Acute DToC", 10, +1),
    ("stressed + pay", "stressed", "Acute DToC", 10, -1),
    ("stressed + pooled", "stressed", "Acute DToC", 10, -1),
    ("stressed + spot off", "stressed", "Acute DToC", 10, +1),
    ("stressed - care homes", "stressed", "Unmet need", 10, +1),
    ("stressed - IC", "stressed", "Unmet need", 10, +1),
    ("redesign 10y", "redesign 2y", "Improvement capability", 10, +1),
]


@pytest.mark.parametrize("lever,reference,outcome,year,sign", DIRECTIONS,
                         ids=[f"{d[0]}->{d[2]}" for d in DIRECTIONS])
def test_each_lever_moves_outcomes_in_the_documented_direction(runs, lever, reference, outcome, year, sign):
    changed, ref = at(runs, lever, outcome, year), at(runs, reference, outcome, year)
    assert sign * (changed - ref) > 1e-6 * max(1.0, abs(ref)), f"{lever}: {outcome} {ref} -> {changed}"


def test_savings_programme_is_ahead_at_first_and_behind_later(runs):
    # the financial position improves while beds are cut, then escalation and agency spending reverse it
    assert at(runs, "savings", "Financial position", 2) > at(runs, "baseline", "Financial position", 2)
    assert at(runs, "savings", "Financial position", 10) < at(runs, "baseline", "Financial position", 10)


def test_short_evaluation_window_abandons_the_initiative(runs):
    assert at(runs, "redesign 2y", "abandoned", 15) == 1.0
    assert at(runs, "redesign 10y", "abandoned", 15) == 0.0


def test_population_scales_the_system(model):
    ds = model.run(params={"population": np.array([1e6, 55.98e6])}, final_time=730)
    end = ds.sel(time=730)
    for var in ("Emergency inpatients", "Acute DToC", "Nurses", "admissions"):
        ratio = float(end[var].isel(run=1) / end[var].isel(run=0))
        assert ratio == pytest.approx(55.98, rel=1e-6), var
    for var in ("occupancy", "four hour performance", "Trust"):
        np.testing.assert_allclose(end[var].values[0], end[var].values[1], rtol=1e-9)
    # England: ≈ 4.8 m emergency admissions via A&E in 2018/19 → order of 10^6-10^7 a year
    yearly = float(ds["admissions"].isel(run=1).sel(time=slice(0, 364)).sum())
    assert 3e6 < yearly < 8e6


# -- loops (domain §4.5) on the dependency graph of the compiled model ----------------------------------
def dependency_graph(compiled) -> nx.DiGraph:
    g = nx.DiGraph()
    for var in compiled.lowered.variables:
        g.add_node(var.canonical)
        if var.kind == "stock":
            for f in var.inflows + var.outflows:
                g.add_edge(f, var.canonical)
            continue  # a stock's equation is its initial value, not a causal link
        for expr in (var.equation, var.delay_time):
            if expr is not None:
                for ref in references(expr):
                    if ref in compiled.lowered:
                        g.add_edge(ref, var.canonical)
    return g


WSF_LOOPS = LOOPS


def has_cycle_through(g: nx.DiGraph, nodes: list[str]) -> bool:
    """A closed walk visiting `nodes` in order: each hop is a path in the graph."""
    for node in nodes:
        assert node in g, f"`{node}` is not in the model"
    return all(nx.has_path(g, a, b) for a, b in zip(nodes, nodes[1:] + nodes[:1]))


@pytest.mark.parametrize("loop", list(WSF_LOOPS))
def test_named_loops_exist_in_the_whole_system_graph(model, loop):
    g = dependency_graph(model)
    assert has_cycle_through(g, WSF_LOOPS[loop]), loop


def test_a_missing_link_breaks_a_loop(model):
    """The loop check can fail: if vacancies drove nothing, the recruitment loop L9 would be gone."""
    g = dependency_graph(model)
    assert has_cycle_through(g, WSF_LOOPS["L9 recruitment"])
    g.remove_edges_from(list(g.out_edges("nurse_vacancy_rate")))
    assert not has_cycle_through(g, WSF_LOOPS["L9 recruitment"])


@pytest.mark.parametrize("name,loop", [
    ("interruptions_tipping_point", ["pending_interruptions", "load_ratio", "resolution"]),
    ("acute_flow_coping", ["patients_in_ed", "ed_time", "ed_departures"]),
    ("acute_flow_coping", ["delayed_transfers", "spot_purchases", "community_budget_index", "community_capacity",
                           "transfers"]),
    ("trust_collaboration_two_agencies", ["nhs_trust_in_la", "collaboration", "placement_time", "placements",
                                          "delayed_patients", "joint_success", "positive_experience",
                                          "nhs_trust_building"]),
    ("capability_trap_savings_vs_redesign", ["perceived_pressure", "improvement_time", "capability_investment",
                                             "process_capability", "failure_demand", "work_backlog",
                                             "pressure_change"]),
    ("nurse_workforce_burnout", ["nurses", "workload_ratio", "effort", "fatigue_build_up", "fatigue", "leavers",
                                 "experienced_nurses"]),
])
def test_canonical_model_loops_exist(name, loop):
    assert has_cycle_through(dependency_graph(sd.load(name)), loop)
