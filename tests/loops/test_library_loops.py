"""Every loop the library models name is found, with the polarity the domain document gives."""

from __future__ import annotations

import warnings

import pytest

import models
import sd_engine as sd

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
# Loops whose polarity the baseline run leaves undetermined: a link on them changes sign along
# the run or is not signed by its equation, so the engine reports "unknown" rather than guess.
UNSETTLED = {
    ("acute_flow_coping", "L6 spot-purchase fix"),
    ("whole_system_flow", "L7 side effect"), ("whole_system_flow", "L10 work harder"),
    ("whole_system_flow", "L12 savings spiral"), ("whole_system_flow", "L13 trust-collaboration"),
    ("whole_system_flow", "L14 blame"), ("whole_system_flow", "L16 policy churn"),
}


def test_every_library_model_with_named_loops_is_covered() -> None:
    named = {n for n in models.available() if getattr(__import__(f"models.{n}", fromlist=["x"]), "LOOPS", None)}
    assert named == set(EXPECTED)


@pytest.fixture(scope="module")
def found() -> dict[str, dict[str, str]]:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the whole-system model has too many loops to list
        for name in EXPECTED:
            out[name] = {loop.name: loop.polarity for loop in sd.load(name).loops() if loop.name}
    return out


CASES = [(m, loop) for m, loops in EXPECTED.items() for loop in loops]


@pytest.mark.parametrize(("model", "loop"), CASES, ids=[f"{m}:{loop}" for m, loop in CASES])
def test_named_loop_is_found_with_its_polarity(model: str, loop: str, found: dict[str, dict[str, str]]) -> None:
    assert loop in found[model], f"{loop} not found in {model}"
    if (model, loop) in UNSETTLED:
        assert found[model][loop] == "unknown"  # if this starts to pass, move the loop out of UNSETTLED
    else:
        assert found[model][loop] == EXPECTED[model][loop]
