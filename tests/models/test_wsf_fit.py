"""The whole-system flow model's joint fit to England's data: the shipped defaults are the fit's
estimates, they meet the acceptance in sample, the held-out errors are those the model card
states, the lab's ranges are the fit's intervals, and (slow) the estimates are a maximum of
the joint likelihood."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import calibration as cal
import sd_engine as sd
from models import wsf_fit
from models.whole_system_flow import FIT, FIT_SCORES, build
from paths import DATA
from sd_engine.lab import get_profile

pytestmark = pytest.mark.skipif(not (DATA / "england_ae_attendances_monthly.csv").exists(),
                                reason="the shared England data are not next to the project")


@pytest.fixture(scope="module")
def scores():
    return {s.series: s for s in wsf_fit.scores(folder=DATA)}


def test_the_shipped_defaults_are_the_fit_estimates():
    model = sd.load("whole_system_flow")
    start = model.run(final_time=0, saveper=1)
    assert set(FIT) == set(wsf_fit.FREE)
    for name, (estimate, low, high) in FIT.items():
        assert float(start[model.resolve(name).name].values.ravel()[0]) == pytest.approx(estimate, rel=1e-9), name
        assert low < estimate < high, name
        lo, hi = wsf_fit.FREE[name]
        assert lo < low and high < hi, f"{name}: the interval reaches a bound of the fit"


def test_the_lab_draws_the_fitted_parameters_from_their_intervals():
    ranges = get_profile("whole_system_flow").uncertainty
    for name, (_, low, high) in FIT.items():
        if name == "LA pre 2017 trend":
            assert name not in ranges  # history before 2017: no effect on runs from 2018
            continue
        assert ranges[name] == pytest.approx((low, high), rel=1e-3), name


def test_in_sample_fit_meets_the_acceptance(scores):
    assert scores["attendances_type1"].r2_in >= 0.7
    assert scores["four_hour_type1"].r2_in >= 0.5
    assert scores["attendances_type1"].n_in == 71 and scores["four_hour_type1"].n_in == 12
    for s in scores.values():
        assert s.n_out == 24  # the last two years of every series are held out


def test_held_out_errors_are_those_the_model_card_states(scores):
    for series, stated in FIT_SCORES.items():
        got = scores[series]
        for key, value in stated.items():
            assert getattr(got, key) == pytest.approx(value, abs=5e-4), (series, key)


def test_held_out_split_blanks_the_last_two_years_of_each_series():
    frame = wsf_fit.england_data(DATA)
    fit, test = wsf_fit.held_out_split(frame)
    assert fit["four_hour_type1"].last_valid_index() == pd.Timestamp("2017-03-01")
    assert test["four_hour_type1"].first_valid_index() == pd.Timestamp("2017-04-01")
    assert fit["attendances_type1"].last_valid_index() == pd.Timestamp("2018-02-01")
    assert fit["delayed_days_acute"].last_valid_index() == pd.Timestamp("2017-08-01")
    assert int(fit.notna().sum().sum() + test.notna().sum().sum()) == int(frame.notna().sum().sum())


@pytest.mark.slow
def test_the_estimates_are_a_maximum_of_the_joint_likelihood():
    """Moving any fitted parameter a quarter of its interval either way lowers the joint
    log-likelihood (normal errors, each series' own variance at its maximum): the shipped values
    are the optimum the calibration package found, not hand-set numbers."""
    frame, _ = wsf_fit.held_out_split(wsf_fit.england_data(DATA))
    horizon = float((pd.Timestamp(wsf_fit.FIT_END) - pd.Timestamp(wsf_fit.FIT_START)).days)
    model = build(start_date=wsf_fit.FIT_START, final_time=horizon)
    observe = {var: cal.Observe(column, aggregate=agg) for var, (column, agg) in wsf_fit.OBSERVE.items()}
    params = {**{name: bounds for name, bounds in wsf_fit.FREE.items()}, "population": wsf_fit.ENGLAND}
    problem = cal.build_problem(model, frame, params, observe, "normal", origin=wsf_fit.FIT_START)
    names = list(wsf_fit.FREE)
    best = np.array([FIT[n][0] for n in names])
    points = [best]
    for i, name in enumerate(names):
        step = (FIT[name][2] - FIT[name][1]) / 4
        for sign in (-1, 1):
            p = best.copy()
            p[i] += sign * step
            points.append(p)
    theta = np.tile(problem.start, (len(points), 1))
    theta[:, :len(names)] = np.array(points)
    preds, _ = problem.predict(theta)
    loglik = np.zeros(len(points))
    for series, pred in zip(problem.observations.series, preds):
        y, f = series.values[series.used], pred[:, series.used]
        loglik += -series.n_used / 2 * np.log(np.mean((f - y) ** 2, axis=1))  # variance profiled out
    assert np.all(loglik[1:] < loglik[0]), dict(zip(["best"] + [f"{n}{s}" for n in names for s in "-+"], loglik))
