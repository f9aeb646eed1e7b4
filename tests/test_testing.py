"""The public test assertions (sd_engine.testing) fail where and only where results differ."""

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.expr import canonical
from sd_engine.testing import assert_ensemble_matches_single_runs, assert_results_close


def test_the_message_names_the_variable_run_and_time_of_the_largest_difference():
    model = sd.load("teacup")
    ens = model.run(params={"Characteristic Time": [10.0, 10.0]}, final_time=5)
    changed = ens.copy(deep=True)
    changed["Teacup Temperature"][1, 3] += 1e-6
    assert_results_close(changed, ens, rtol=1e-6)  # within the tolerance
    with pytest.raises(AssertionError, match=r"`Teacup Temperature` differs at 1 of \d+ values; the largest "
                                             r"difference is at run=1, time=0.375"):
        assert_results_close(changed, ens)


def test_nan_meets_nan_only_and_names_must_match():
    model = sd.load("teacup")
    a = model.run(final_time=1)
    b = a.copy(deep=True)
    a["Heat Loss to Room"][2] = b["Heat Loss to Room"][2] = np.nan
    assert_results_close(a, b, rtol=0, atol=0)
    b["Heat Loss to Room"][3] = np.nan
    with pytest.raises(AssertionError, match="`Heat Loss to Room` differs at 1 of"):
        assert_results_close(a, b)
    renamed = b.rename({"Heat Loss to Room": "heat_loss_to_room"})
    with pytest.raises(AssertionError, match=r"only in actual \['Heat Loss to Room'\]"):
        assert_results_close(a, renamed)
    with pytest.raises(AssertionError, match="differs"):  # matched by canonical name, then compared
        assert_results_close(a, renamed, key=canonical)


def test_ensemble_against_single_runs_catches_a_run_that_differs(monkeypatch):
    model = sd.load("sir")
    assert_ensemble_matches_single_runs(model, {"Contact Infectivity": [0.2, 0.3]}, final_time=10)
    original = type(model).run

    def skewed(self, params=None, **kw):  # a single run that is off by a little
        ds = original(self, params, **kw)
        if ds.sizes.get("run") is None:
            ds["Infectious"] = ds["Infectious"] * (1 + 1e-15)
        return ds

    monkeypatch.setattr(type(model), "run", skewed)
    with pytest.raises(AssertionError, match="`Infectious` differs"):
        assert_ensemble_matches_single_runs(model, {"Contact Infectivity": [0.2, 0.3]}, final_time=10)
