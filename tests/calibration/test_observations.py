"""Reading data and aligning it to model time: dates, periods, totals, windows and every data error."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import calibration as cal
from calibration import CalibrationError, DataError, Observe, make_observations, model_times
from calibration.examples import flu, shared_data
from sd_engine import UnknownVariableError
from sd_engine.builder import Model


def monthly_model():
    m = Model("monthly", time_units="day", final_time=400, dt=0.25)
    m.constant("rate", 10.0)
    m.stock("Count", initial=0, inflows=["arrivals"])
    m.flow("arrivals", "rate")
    return m.spec()


def test_model_times_days_and_calendar_months():
    d = pd.DatetimeIndex(["2016-02-01", "2016-03-01", "2017-02-01"])
    np.testing.assert_allclose(model_times(d, "2016-01-01", "days"), [31, 60, 397])
    np.testing.assert_allclose(model_times(d, "2016-01-01", "Month"), [1, 2, 13])
    np.testing.assert_allclose(model_times(pd.DatetimeIndex(["2016-02-15"]), "2016-01-01", "month"), [1 + 14 / 29])
    np.testing.assert_allclose(model_times(d, "2016-01-01", "year", initial_time=2016), [2016 + 31 / 365.25,
                                                                                        2016 + 60 / 365.25,
                                                                                        2016 + 397 / 365.25])


def test_monthly_totals_cover_calendar_months():
    # A constant flow of 10/day integrated over each calendar month is 10 x days in the month.
    frame = pd.DataFrame({"period": ["2016-01-01", "2016-02-01", "2016-03-01", "2016-04-01"],
                          "arrivals": [310.0, 290.0, 310.0, 300.0]})
    obs = make_observations(monthly_model(), frame, {"arrivals": "arrivals"}, time="period", origin="2016-01-01")
    s = obs.series[0]
    assert s.aggregate == "total"  # flows are integrated by default
    np.testing.assert_allclose(s.start, [0, 31, 60, 91])
    np.testing.assert_allclose(s.end - s.start, [31, 29, 31, 30])
    prob = cal.CalibrationProblem(monthly_model(), obs, [cal.Parameter("rate", 1, 100)], "poisson")
    preds, _ = prob.predict(np.array([[10.0]]))
    np.testing.assert_allclose(preds[0][0], [310, 290, 310, 300], rtol=1e-12)


def test_point_mean_and_end_labels():
    spec = monthly_model()
    frame = pd.DataFrame({"t": [10.0, 20.0, 30.0], "c": [100.0, 200.0, 300.0]})
    prob = cal.CalibrationProblem(spec, make_observations(spec, frame, {"Count": "c"}, time="t"),
                                  [cal.Parameter("rate", 1, 100)], "normal")
    np.testing.assert_allclose(prob.predict(np.array([[10.0, 1.0]]))[0][0][0], [100, 200, 300])
    # the mean of a stock growing as 10 t over (0, 10] is 50; labels at period ends
    frame2 = pd.DataFrame({"t": [10.0, 20.0], "c": [50.0, 150.0]})
    obs = make_observations(spec, frame2, {"Count": Observe("c", aggregate="mean", sigma=1.0)}, time="t", label="end")
    np.testing.assert_allclose(obs.series[0].start, [0, 10])
    prob = cal.CalibrationProblem(spec, obs, [cal.Parameter("rate", 1, 100)], "normal", {"method": "rk4"})
    assert prob.names == ("rate",)  # a known sigma is not estimated
    np.testing.assert_allclose(prob.predict(np.array([[10.0]]))[0][0][0], [50, 150], rtol=1e-12)
    # Euler (the model's method) accumulates as Vensim does: a left Riemann sum with dt = 0.25
    euler = cal.CalibrationProblem(spec, obs, [cal.Parameter("rate", 1, 100)], "normal")
    left = [sum(10 * (a + 0.25 * k) * 0.25 for k in range(40)) / 10 for a in (0, 10)]
    np.testing.assert_allclose(euler.predict(np.array([[10.0]]))[0][0][0], left, rtol=1e-12)


def test_missing_values_windows_and_exclusions():
    frame = pd.DataFrame({"t": np.arange(1.0, 11.0), "c": [1, 2, np.nan, 4, 5, 6, 7, 8, 9, 10]})
    obs = make_observations(monthly_model(), frame, {"Count": "c"}, time="t", window=(2, 9), exclude=[(5, 6)])
    np.testing.assert_array_equal(obs.series[0].used,
                                  [False, True, False, True, False, False, True, True, True, False])
    assert obs.n_used == 5


def test_csv_and_xarray_inputs(tmp_path):
    path = tmp_path / "flu.csv"
    flu.data().to_csv(path)
    a = make_observations(flu.build().spec(), path, {"Infected": "in_bed"})
    ds = xr.Dataset({"in_bed": ("time", list(flu.IN_BED))}, coords={"time": np.arange(1, 15)})
    b = make_observations(flu.build().spec(), ds, {"Infected": "in_bed"})
    np.testing.assert_array_equal(a.series[0].values, b.series[0].values)
    np.testing.assert_array_equal(a.series[0].end, np.arange(1, 15))


def test_shared_flu_file_is_the_outbreaks_version(tmp_path):
    frame = flu.data(shared_data("flu_boarding_school_1978.csv"))
    assert int(frame["in_bed"].sum()) == 1559 and int(frame["in_bed"].max()) == 298
    pomp = tmp_path / "bsflu.csv"
    pd.DataFrame({"day": range(1, 15), "in_bed": [3, 8, 28, 76, 222, 293, 257, 237, 192, 126, 70, 28, 12, 5]}
                 ).to_csv(pomp, index=False)
    with pytest.raises(DataError, match=r"`pomp` \(bsflu\) digitisation"):
        flu.data(pomp)


# -- errors: one test per message -------------------------------------------------------------
def test_unknown_column():
    with pytest.raises(DataError, match=r"`in_bd` is not a column of the data. Did you mean `in_bed`\?"):
        make_observations(flu.build().spec(), flu.data(), {"Infected": "in_bd"})


def test_unknown_variable():
    with pytest.raises(UnknownVariableError, match="no variable `Infectd`"):
        make_observations(flu.build().spec(), flu.data(), {"Infectd": "in_bed"})


def test_constant_cannot_be_observed():
    with pytest.raises(CalibrationError, match="`beta` is a constant"):
        make_observations(flu.build().spec(), flu.data(), {"beta": "in_bed"})


def test_non_numeric_values():
    frame = flu.data().astype(object)
    frame.loc[4, "in_bed"] = "76?"
    with pytest.raises(DataError, match=r"non-numeric value '76\?' at 4"):
        make_observations(flu.build().spec(), frame, {"Infected": "in_bed"})


def test_infinite_values():
    frame = flu.data().astype(float)
    frame.loc[2, "in_bed"] = np.inf
    with pytest.raises(DataError, match="infinite value at 2"):
        make_observations(flu.build().spec(), frame, {"Infected": "in_bed"})


def test_times_outside_the_model():
    frame = pd.DataFrame({"in_bed": [3, 8, 4]}, index=pd.Index([1, 2, 15], name="day"))
    with pytest.raises(DataError, match=r"at 15 covers model time 15 to 15, outside the model's time range 0 to 14"):
        make_observations(flu.build().spec(), frame, {"Infected": "in_bed"})


def test_dates_need_an_origin():
    frame = pd.DataFrame({"period": ["2016-01-01", "2016-02-01"], "arrivals": [1.0, 2.0]})
    with pytest.raises(DataError, match=r"give `origin=`.*origin=\"2016-01-01\""):
        make_observations(monthly_model(), frame, {"arrivals": "arrivals"}, time="period")


def test_dates_before_the_origin():
    frame = pd.DataFrame({"period": ["2015-12-01", "2016-01-01"], "arrivals": [1.0, 2.0]})
    with pytest.raises(DataError, match="outside the model's time range"):
        make_observations(monthly_model(), frame, {"arrivals": "arrivals"}, time="period", origin="2016-01-01")


def test_bad_time_values():
    frame = pd.DataFrame({"when": ["day one", "day two"], "arrivals": [1.0, 2.0]})
    with pytest.raises(DataError, match="neither a number nor an ISO date"):
        make_observations(monthly_model(), frame, {"arrivals": "arrivals"}, time="when")


def test_duplicate_times():
    frame = pd.DataFrame({"in_bed": [3, 8]}, index=pd.Index([1, 1], name="day"))
    with pytest.raises(DataError, match="appears twice"):
        make_observations(flu.build().spec(), frame, {"Infected": "in_bed"})


def test_missing_file():
    with pytest.raises(DataError, match="no data file `nowhere.csv`"):
        make_observations(flu.build().spec(), "nowhere.csv", {"Infected": "in_bed"})


def test_negative_counts_under_a_count_likelihood():
    frame = flu.data().astype(float)
    frame.loc[3, "in_bed"] = -2
    with pytest.raises(DataError, match=r"negative count \(-2 at 3\) but the `negbin` likelihood is for counts"):
        cal.fit(flu.build(), frame, {"beta": (0.1, 5)}, {"Infected": "in_bed"}, likelihood="negbin")
    # the same data are fine under a normal likelihood
    cal.build_problem(flu.build(), frame, {"beta": (0.1, 5)}, {"Infected": "in_bed"}, likelihood="normal")


def test_non_positive_data_under_lognormal():
    frame = flu.data().astype(float)
    frame.loc[3, "in_bed"] = 0
    with pytest.raises(DataError, match="needs positive data"):
        cal.build_problem(flu.build(), frame, {"beta": (0.1, 5)}, {"Infected": "in_bed"}, likelihood="lognormal")


def test_too_few_points():
    frame = flu.data().iloc[:3]
    with pytest.raises(DataError, match=r"3 observation\(s\) cannot determine 3 free parameters"):
        cal.fit(flu.build(), frame, {"beta": (0.1, 5), "gamma": (0.05, 2)}, {"Infected": "in_bed"}, "negbin")


def test_bad_observe_settings():
    with pytest.raises(CalibrationError, match="`aggregate` of column `x` is 'sum'"):
        Observe("x", aggregate="sum")  # type: ignore[arg-type]
    with pytest.raises(CalibrationError, match="weight of column `x` must be a positive number"):
        Observe("x", weight=0)
    with pytest.raises(CalibrationError, match="Nothing to compare"):
        make_observations(flu.build().spec(), flu.data(), {})
