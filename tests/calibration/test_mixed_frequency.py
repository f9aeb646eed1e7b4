"""Series of different frequencies in one frame: each total or mean covers its own period.

The model's flow is ``10 + time`` per day (model time in days from 1 January 2016), so the
integral over ``[a, b)`` is ``10 (b - a) + (b^2 - a^2) / 2`` exactly, and RK4 integrates it
exactly: every expected value below is that hand calculation.
"""

import numpy as np
import pandas as pd
import pytest

import calibration as cal
from calibration import CalibrationError, DataError, Observe, make_observations
from sd_engine.builder import Model

ORIGIN = "2016-01-01"


def ramp_model(method="rk4"):
    m = Model("ramp", time_units="day", final_time=400, dt=1, method=method)
    m.constant("base", 10.0)
    m.flow("arrivals", "base + time", units="person/day")
    m.stock("Seen", initial=0, inflows=["arrivals"], units="person")
    m.aux("doubled", "2 * arrivals", units="person/day")
    return m.spec()


def integral(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return 10 * (b - a) + (b * b - a * a) / 2


def day(date):
    return float((pd.Timestamp(date) - pd.Timestamp(ORIGIN)).days)


def predictions(spec, frame, observe, **kw):
    obs = make_observations(spec, frame, observe, origin=ORIGIN, **kw)
    prob = cal.CalibrationProblem(spec, obs, [cal.Parameter("base", 1, 100)], "normal")
    preds, _ = prob.predict(np.array([[10.0] + [1.0] * (len(prob.names) - 1)]))
    return obs, [p[0] for p in preds]


def test_a_quarterly_column_in_a_monthly_file_is_a_quarterly_total():
    months = pd.date_range("2016-01-01", "2016-12-01", freq="MS")
    quarterly = pd.Series(np.nan, index=months)
    quarterly[months.month.isin([1, 4, 7, 10])] = 1.0
    frame = pd.DataFrame({"monthly": 1.0, "quarterly": quarterly}, index=months)
    # the same variable observed twice, by two columns of different frequency
    obs, preds = predictions(ramp_model(), frame, [Observe("monthly", variable="arrivals"),
                                                   Observe("quarterly", variable="arrivals")])
    monthly, quarter = obs.series
    assert monthly.frequency == "monthly" and quarter.frequency == "quarterly"
    q = quarter.used
    # 2016 is a leap year: quarters of 91, 91, 92 and 92 days, not one month each
    np.testing.assert_array_equal(quarter.end[q] - quarter.start[q], [91, 91, 92, 92])
    starts = [day(d) for d in ("2016-01-01", "2016-04-01", "2016-07-01", "2016-10-01")]
    ends = [day(d) for d in ("2016-04-01", "2016-07-01", "2016-10-01", "2017-01-01")]
    np.testing.assert_allclose(preds[1][q], integral(starts, ends), rtol=1e-12)
    assert preds[1][q][1] == pytest.approx(13331.5)  # April-June: 10 * 91 + (182^2 - 91^2) / 2
    np.testing.assert_allclose(preds[0][:3], integral([0, 31, 60], [31, 60, 91]), rtol=1e-12)
    # and a quarter is the sum of its three months
    np.testing.assert_allclose(preds[1][q], preds[0].reshape(4, 3).sum(axis=1), rtol=1e-12)


def test_weekly_means_with_gaps_beside_monthly_totals():
    weeks = pd.date_range("2016-01-04", periods=12, freq="W-MON")
    weekly = pd.Series(np.arange(12.0), index=weeks).drop(weeks[[2, 3, 7]])  # three weeks missing
    months = pd.date_range("2016-01-01", periods=3, freq="MS")
    frame = pd.concat([pd.Series(1.0, index=months, name="monthly"), weekly.rename("weekly")], axis=1, sort=True)
    obs, preds = predictions(ramp_model(), frame, {"arrivals": "monthly", "doubled": Observe("weekly",
                                                                                              aggregate="mean")})
    s = obs.series[1]
    assert s.frequency == "weekly" and s.n_used == 9
    a = np.array([day(d) for d in weekly.index])
    np.testing.assert_allclose(preds[1][s.used], 2 * (10 + a + 3.5), rtol=1e-12)  # mean of 2(10 + t) over 7 days
    np.testing.assert_allclose(preds[0][obs.series[0].used], integral([0, 31, 60], [31, 60, 91]), rtol=1e-12)


def test_labels_on_the_last_day_of_the_period():
    month_ends = pd.DatetimeIndex(["2016-01-31", "2016-02-29", "2016-03-31"])
    obs, preds = predictions(ramp_model(), pd.DataFrame({"m": 1.0}, index=month_ends), {"arrivals": "m"},
                             label="end")
    np.testing.assert_allclose(obs.series[0].start, [0, 31, 60])
    np.testing.assert_allclose(preds[0], integral([0, 31, 60], [31, 60, 91]), rtol=1e-12)
    # "week ending Sunday 10 January" covers Monday 4 to Sunday 10 January
    sundays = pd.date_range("2016-01-10", periods=4, freq="W-SUN")
    obs, preds = predictions(ramp_model(), pd.DataFrame({"w": 1.0}, index=sundays), {"arrivals": "w"}, label="end")
    np.testing.assert_allclose(obs.series[0].start, [3, 10, 17, 24])
    np.testing.assert_allclose(obs.series[0].end, [10, 17, 24, 31])


def test_stated_frequency_for_a_single_value_and_numbers():
    frame = pd.DataFrame({"q": [1.0]}, index=pd.DatetimeIndex(["2016-04-01"]))
    with pytest.raises(DataError, match=r"Column `q` has a single value.*state it with `frequency=`"):
        make_observations(ramp_model(), frame, {"arrivals": "q"}, origin=ORIGIN)
    months = pd.date_range("2016-04-01", periods=3, freq="MS")
    both = pd.DataFrame({"q": [1.0, np.nan, np.nan], "m": 1.0}, index=months)
    for frequency in ("quarterly", "QS-APR", "3MS"):
        obs, preds = predictions(ramp_model(), both, [Observe("q", variable="arrivals", frequency=frequency, sigma=1),
                                                      Observe("m", variable="arrivals", sigma=1)])
        assert preds[0][0] == pytest.approx(13331.5)
    # model times as numbers: gaps allowed, the step is the smallest gap
    numeric = pd.DataFrame({"c": [1.0, 1.0, 1.0]}, index=pd.Index([0.0, 10.0, 30.0], name="t"))
    obs, preds = predictions(ramp_model(), numeric, {"arrivals": "c"})
    np.testing.assert_allclose(obs.series[0].end - obs.series[0].start, 10)
    np.testing.assert_allclose(preds[0], integral([0, 10, 30], [10, 20, 40]), rtol=1e-12)


def test_frequency_errors():
    uneven = pd.DataFrame({"c": [1.0, 1.0, 1.0]}, index=pd.Index([0.0, 10.0, 25.0], name="t"))
    with pytest.raises(DataError, match="not evenly spaced"):
        make_observations(ramp_model(), uneven, {"arrivals": "c"})
    numbers = pd.DataFrame({"c": [1.0, 1.0]}, index=pd.Index([0.0, 10.0], name="t"))
    with pytest.raises(CalibrationError, match="is a calendar period, but the data's times are numbers"):
        make_observations(ramp_model(), numbers, [Observe("c", variable="arrivals", frequency="monthly")])
    frame = pd.DataFrame({"c": [1.0, 1.0]}, index=pd.DatetimeIndex(["2016-01-01", "2016-02-01"]))
    with pytest.raises(CalibrationError, match="The frequency of column `c` `fortnightly-ish` is not understood"):
        make_observations(ramp_model(), frame, [Observe("c", variable="arrivals", frequency="fortnightly-ish")],
                          origin=ORIGIN)
    with pytest.raises(CalibrationError, match="Column `c` is observed twice"):
        make_observations(ramp_model(), frame, [Observe("c", variable="arrivals"), Observe("c", variable="Seen")],
                          origin=ORIGIN)


def test_euler_totals_of_variables_and_expressions_agree():
    # Euler accumulates a left Riemann sum; an expression's total is the same sum over the
    # saved steps, so "doubled" and "arrivals * 2" agree to rounding, and equal the hand sum.
    months = pd.date_range("2016-01-01", periods=3, freq="MS")
    frame = pd.DataFrame({"a": 1.0, "b": 1.0}, index=months)
    obs, preds = predictions(ramp_model("euler"), frame, [
        Observe("a", variable="doubled", aggregate="total"),
        Observe("b", variable="arrivals * 2", aggregate="total")])
    left = [2 * sum(10 + t for t in range(int(a), int(b))) for a, b in ((0, 31), (31, 60), (60, 91))]
    np.testing.assert_allclose(preds[0], left, rtol=1e-12)
    np.testing.assert_allclose(preds[1], left, rtol=1e-12)
