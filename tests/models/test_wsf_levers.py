"""Every lever of the whole-system flow model's lever table moves its outcomes in the documented
direction (both sides of the two-sided ones), and has a documented source.

One ensemble call runs the baseline, the reference runs and every lever: the table
(``models.whole_system_flow.LEVERS``) is the single statement of what each lever does.
"""

from __future__ import annotations

import numpy as np
import pytest

import sd_engine as sd
from models.whole_system_flow import LEVERS, REFERENCES

DAYS_PER_YEAR = 365.25


@pytest.fixture(scope="module")
def runs():
    model = sd.load("whole_system_flow")
    settings = {"baseline": {}, **REFERENCES}
    for name, lever in LEVERS.items():
        settings[name] = {**REFERENCES.get(lever.get("reference", "baseline"), {}), **lever["params"]}
    names = sorted({k for s in settings.values() for k in s})
    start = model.run(final_time=0, saveper=1)
    defaults = {k: float(start[model.resolve(k).name].values.ravel()[0]) for k in names}
    params = {k: np.array([s.get(k, defaults[k]) for s in settings.values()]) for k in names}
    ds = model.run(params=params)
    assert set(ds["run_status"].values) == {"ok"}
    return {name: ds.isel(run=i) for i, name in enumerate(settings)}


def value(ds, var: str, years: float) -> float:
    return float(ds[var].sel(time=round(years * DAYS_PER_YEAR)))


CASES = [(lever, outcome, years, sign) for lever, spec in LEVERS.items() for outcome, years, sign in spec["effects"]]


@pytest.mark.parametrize("lever,outcome,years,sign", CASES, ids=[f"{c[0]}->{c[1]}" for c in CASES])
def test_lever_moves_outcome_in_the_documented_direction(runs, lever, outcome, years, sign):
    reference = LEVERS[lever].get("reference", "baseline")
    changed, ref = value(runs[lever], outcome, years), value(runs[reference], outcome, years)
    assert sign * (changed - ref) > 1e-4 * max(abs(ref), 1e-3), f"{lever}: {outcome} {ref:.6g} -> {changed:.6g}"


def test_every_lever_is_two_sided_or_says_why_and_has_a_source():
    model = sd.load("whole_system_flow")
    for name, spec in LEVERS.items():
        assert len(spec["source"]) > 20, name
        assert spec["effects"], name
        for param in spec["params"]:
            var = model.resolve(param)
            assert var.kind == "constant" and var.doc, f"{name}: `{param}` has no documented constant"


def test_the_table_can_fail():
    """A lever with no effect would fail its row: check the comparison on a parameter that does nothing."""
    model = sd.load("whole_system_flow")
    ds = model.run(params={"reorganisation loss": np.array([0.3, 0.9])}, final_time=400)  # no reorganisation happens
    a, b = (float(ds["Shared knowledge"].isel(run=i).sel(time=365)) for i in (0, 1))
    assert not (b - a) < -1e-4 * a
