"""Every loop the library models name is found, with the polarity the domain document gives."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import models
import sd_engine as sd
from sd_engine.loops import Loop, LoopSet

# Polarity documented in each model's docstring and the domain document (section 4.5).
EXPECTED = {
    "sir": {"contagion": "R", "depletion": "B", "recovery": "B"},
    "teacup": {"cooling": "B"},
    "delayed_transfers_of_care": {"clearing": "B"},
    "ae_attendances": {"population growth": "R"},
    "interruptions_tipping_point": {"L15 overwhelm tipping": "B"},  # balancing below the optimum load
    "acute_flow_coping": {"L15 overwhelm tipping": "R", "L6 spot-purchase fix": "R"},
    "trust_collaboration_two_agencies": {"L13 trust-collaboration": "R"},
    "capability_trap_savings_vs_redesign": {"L11 capability trap": "R"},
    "nurse_workforce_burnout": {"L8 burnout-attrition": "R"},
    "whole_system_flow": {
        "L1 admission throttle": "B", "L2 elective buffer": "B", "L2 tail": "R", "L3 outlier congestion": "R",
        "L4 premature discharge": "R", "L5 downstream blockage": "R", "L6 spot purchase": "R",
        "L7 escalation beds": "B", "L7 side effect": "R", "L8 burnout": "R", "L8 sickness": "R",
        "L9 recruitment": "B", "L10 work harder": "B", "L11 capability trap": "R", "L12 savings spiral": "R",
        "L13 trust-collaboration": "R", "L13 knowledge": "R", "L14 blame": "R",
        "L15 breaches and pressure": "R", "L16 policy churn": "R",
    },
}
# Loops whose mechanism the default run never engages: a link on each is signed by the run
# only (its equation alone does not fix the sign) and is never live in the default run -- a
# coping switch that is off, a deficit response of 0, a threshold never crossed (spot purchase
# above the DToC tolerance; home care placements limited by free home care). In the default
# run the engine reports them "unknown" rather than guess; in a run that engages the mechanism
# the run gives their polarity, which must be the documented one.
ENGAGED = {
    ("acute_flow_coping", "L6 spot-purchase fix"): {"spot purchase on": 1, "community places": 300},
    # The whole-system model's admission throttle binds only when beds run out, the savings
    # spiral needs a deficit response, and policy churn a redesign programme to abandon.
    ("whole_system_flow", "L1 admission throttle"): {"bed change": -0.15},
    ("whole_system_flow", "L12 savings spiral"): {"deficit response": 0.5, "nhs budget growth": 0.0},
    ("whole_system_flow", "L14 blame"): {"social care funding growth": -0.05},
    ("whole_system_flow", "L16 policy churn"): {"redesign time": 0.1},
}


def test_every_library_model_with_named_loops_is_covered() -> None:
    named = {n for n in models.available() if getattr(__import__(f"models.{n}", fromlist=["x"]), "LOOPS", None)}
    assert named == set(EXPECTED)


@pytest.fixture(scope="module")
def found() -> dict[str, dict[str, Loop]]:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the whole-system model has too many loops to list
        for name in EXPECTED:
            model = sd.load(name)
            out[name] = {loop.name: loop for loop in model.loops(model.run(), cap=1000) if loop.name}
    return out


CASES = [(m, loop) for m, loops in EXPECTED.items() for loop in loops]


def _check_period(loop: Loop, final_time: float) -> None:
    if loop.polarity_basis == "structure":
        assert loop.polarity_period is None
    else:
        assert loop.polarity_period is not None
        start, end = loop.polarity_period
        assert 0 <= start <= end <= final_time


@pytest.mark.parametrize(("model", "loop"), CASES, ids=[f"{m}:{loop}" for m, loop in CASES])
def test_named_loop_is_found_with_its_polarity(model: str, loop: str, found: dict[str, dict[str, Loop]]) -> None:
    assert loop in found[model], f"{loop} not found in {model}"
    got = found[model][loop]
    if (model, loop) in ENGAGED:
        # Never live in the default run: the run cannot tell, and nothing is guessed.
        assert (got.polarity, got.polarity_basis, got.polarity_period) == ("unknown", "run", None)
    else:
        assert got.polarity == EXPECTED[model][loop]
        _check_period(got, float(sd.load(model).spec.time.final_time))


@pytest.mark.parametrize(("model", "loop"), sorted(ENGAGED), ids=[f"{m}:{loop}" for m, loop in sorted(ENGAGED)])
def test_engaged_loop_has_its_documented_polarity_along_the_run(model: str, loop: str) -> None:
    compiled = sd.load(model)
    ds = compiled.run(params=ENGAGED[(model, loop)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loops = compiled.loops(ds, cap=1000)
    got = loops[loop]
    assert (got.polarity, got.polarity_basis) == (EXPECTED[model][loop], "run")
    _check_period(got, float(ds["time"].values[-1]))
    assert got.polarity_period is not None
    # Independent check with Loops-that-Matter link scores (finite differences along the actual
    # changes, not the nudged derivatives that signed the links): wherever the loop is active
    # in the period, its loop score has the sign of the polarity.
    scored = LoopSet((got,), graph=loops.graph)
    score = compiled.loop_dominance(ds, loops=scored, relative=False).sel(loop=got.id)
    start, end = got.polarity_period
    inside = score.sel(time=slice(start, end)).values
    active = inside[np.isfinite(inside) & (inside != 0)]
    assert active.size > 0
    assert np.all(np.sign(active) == (1 if got.polarity == "R" else -1))


def test_named_loops_follow_the_model_module_not_its_name() -> None:
    builder = models.build("sir")
    assert builder.source == "models.sir"
    builder.name = "my epidemic"  # a renamed copy of a library model keeps its loop names
    names = {loop.name for loop in builder.compile().loops() if loop.name}
    assert names == set(EXPECTED["sir"])
