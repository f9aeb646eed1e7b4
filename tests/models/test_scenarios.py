"""Scenarios: lever sets as data, saved and loaded as TOML or JSON, applied to library models."""

from __future__ import annotations

import numpy as np
import pytest

import sd_engine as sd
from models import scenarios as sc
from sd_engine.errors import EquationSyntaxError, SpecError, UnknownVariableError


def test_round_trip_through_toml_and_json(tmp_path):
    s = sc.Scenario("mix", "nurse_workforce_burnout", params={"training increase": 90},
                    schedules={"base international recruits": [(0, 60), (1825, 120)]},
                    equations={"retention gain": "0.1 * step(1, 730)"}, description="all kinds", final_time=3650)
    for suffix in (".toml", ".json"):
        path = sc.save(s, tmp_path / f"mix{suffix}")
        assert sc.load(path) == s
    assert s.schedules["base international recruits"] == ((0.0, 60.0), (1825.0, 120.0))
    with pytest.raises(TypeError):
        s.params["training increase"] = 1  # frozen


def test_every_shipped_scenario_loads_and_applies():
    assert {"baseline", "savings_programme", "pooled_budget", "delay_fines"} <= set(sc.available())
    for name in sc.available():
        scenario = sc.load(name)
        compiled, params = sc.apply(scenario)
        assert set(params) == set(scenario.params) | set(scenario.lookups)


def test_a_scenario_run_equals_the_same_levers_passed_by_hand():
    s = sc.load("savings_programme")
    model = sd.load("whole_system_flow")
    by_hand = model.run(params=dict(s.params), final_time=800)
    via = sc.run(s, final_time=800)
    np.testing.assert_array_equal(via["occupancy"].values, by_hand["occupancy"].values)


def test_equations_and_schedules_give_levers_that_vary_in_time():
    m = "nurse_workforce_burnout"
    stepped = sc.run(sc.Scenario("step", m, equations={"training places": "360 + step(90, 365)"}), final_time=2000)
    scheduled = sc.run(sc.Scenario("sched", m, schedules={"training places": [(0, 360), (365, 360), (366, 450)]}),
                       final_time=2000)
    lever = sc.run(sc.Scenario("lever", m, params={"training increase": 90, "training start": 365}), final_time=2000)
    # graduations rise three years after the step in starters, by 90 x 0.75 a year, in all three forms
    for ds in (stepped, scheduled):
        g = ds["graduation"]
        assert float(g.sel(time=365 + 1095 - 2)) == pytest.approx(360 * 0.75 / 365)
        assert float(g.sel(time=1500)) == pytest.approx(450 * 0.75 / 365)
    np.testing.assert_allclose(stepped["nurses"].values, lever["nurses"].values, rtol=1e-12)


def test_lookup_overrides_do_not_recompile():
    s = sc.Scenario("flat productivity", "interruptions_tipping_point",
                    lookups={"productivity": [(0, 1), (10, 1)]}, params={"initial pending": 60})
    ds = sc.run(s)
    # with constant productivity the stock relaxes to arrivals x resolution time: no tipping
    assert float(ds["Pending interruptions"].sel(time=60)) == pytest.approx(22, rel=1e-6)


def test_bad_scenarios_get_clear_errors(tmp_path):
    with pytest.raises(UnknownVariableError, match="`savings rat`"):
        sc.apply(sc.Scenario("typo", "whole_system_flow", params={"savings rat": 0.03}))
    with pytest.raises(SpecError, match="lever `savings rate` must be a number"):
        sc.Scenario("bad", "whole_system_flow", params={"savings rate": "three"})
    with pytest.raises(EquationSyntaxError, match="`training places`"):
        sc.Scenario("bad", "nurse_workforce_burnout", equations={"training places": "360 +"})
    with pytest.raises(SpecError, match="in increasing order"):
        sc.Scenario("bad", "nurse_workforce_burnout", schedules={"training places": [(5, 1), (0, 2)]})
    with pytest.raises(SpecError, match="is a stock"):
        sc.apply(sc.Scenario("bad", "nurse_workforce_burnout", equations={"Fatigue": "0.1"}))
    with pytest.raises(SpecError, match="which is a aux|not a constant lever"):
        sc.apply(sc.Scenario("bad", "nurse_workforce_burnout", params={"vacancies": 1}))
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nmodel = "sir"\nparam = {}\n')
    with pytest.raises(SpecError, match="unknown scenario key `param`.*params"):
        sc.load(bad)
    bad.write_text('name = "x"\n[params\n')
    with pytest.raises(SpecError, match="`bad.toml`: Cannot read the scenario TOML"):
        sc.load(bad)
    with pytest.raises(UnknownVariableError, match="no scenario `savings_programm`.*savings_programme"):
        sc.load("savings_programm")
    with pytest.raises(SpecError, match="as `.toml` or `.json`"):
        sc.save(sc.load("baseline"), tmp_path / "x.yaml")
