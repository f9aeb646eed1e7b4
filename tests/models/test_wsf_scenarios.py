"""The shipped scenarios of the whole-system flow model differ from the baseline in the lab's
outcomes, and the ten-year horizon beats the two-year one (Bohmer's decade)."""

from __future__ import annotations

import numpy as np
import pytest

from models.scenarios import available, load
from sd_engine.lab import Experiment, Uncertainty, get_profile, run_experiment


@pytest.fixture(scope="module")
def lab():
    scenarios = sorted((load(n) for n in available() if load(n).model == "whole_system_flow"),
                       key=lambda s: (s.name != "baseline", s.name))
    exp = Experiment("whole_system_flow", tuple(scenarios), Uncertainty.none(), saveper=73.0,
                     keep=("four hour performance",))
    return run_experiment(exp)


def test_every_shipped_scenario_moves_a_lab_outcome_by_at_least_one_percent(lab):
    outcome = lab["outcome"].isel(run=0)
    base = outcome.sel(scenario="baseline")
    assert len(lab["scenario"]) >= 11
    for name in lab["scenario"].values:
        if name == "baseline":
            continue
        change = np.abs(outcome.sel(scenario=name) / base - 1)
        assert float(change.max()) >= 0.01, f"{name}: largest change {float(change.max()):.4f}"


def test_ten_year_horizon_beats_the_two_year_one_by_a_point_of_4_hour_performance_in_years_10_to_15(lab):
    perf = lab["four hour performance"].isel(run=0)
    late = perf.sel(time=slice(3650, 5475)).mean("time")
    gain = float(late.sel(scenario="redesign with a ten-year horizon") - late.sel(scenario="redesign with a two-year horizon"))
    assert gain >= 0.01, gain


def test_the_lab_profile_covers_the_triple_aim_and_staff():
    aims = {m.aim for m in get_profile("whole_system_flow").metrics}
    assert {"health", "waits", "delays", "quality", "cost", "staff"} <= aims
