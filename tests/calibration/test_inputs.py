"""Expressions as observations, events and time series as inputs, warm-up, fitted initial states,
population scaling."""

import warnings

import numpy as np
import pandas as pd
import pytest

import calibration as cal
import sd_engine as sd
from calibration import CalibrationError, Observe
from calibration.inputs import read_input
from sd_engine import UnknownVariableError
from sd_engine.builder import Model

ORIGIN = "2016-01-01"


def ed_model():
    """A&E-like: attendances by day of year, 4-hour performance falling as attendances rise."""
    m = Model("ed", time_units="day", final_time=200, dt=1)
    m.constant("base rate", 100.0)
    m.constant("time in ED", 0.1)
    m.aux("ED attendances", "base_rate * (1 + 0.2 * sin(2 * 3.141592653589793 * time / 50))", units="person/day")
    m.aux("four hour performance", "1 - exp(-(4 / 24) / (time_in_ed * ed_attendances / base_rate))")
    m.flow("arriving", "ed_attendances", units="person/day")
    m.stock("Seen", initial=0, inflows=["arriving"])
    return m.spec()


def queue_model(scale_initial=False):
    m = Model("queue", time_units="day", final_time=120, dt=0.25, method="rk4")
    m.constant("population", 1_000_000.0)
    m.constant("demand", 20.0)
    m.constant("capacity", 10.0)
    m.constant("target", 100.0)
    m.stock("Waiting", initial="53 * population / 1000000" if scale_initial else 0, inflows=["arriving"],
            outflows=["leaving"])
    m.flow("arriving", "demand")
    m.flow("leaving", "waiting / 10 * capacity / 10")
    return m.spec()


# -- observations of expressions -------------------------------------------------------------------
def test_expression_points_and_totals_equal_the_model_run():
    spec = ed_model()
    ds = sd.load(spec).run()
    breaches = (ds["ED attendances"] * (1 - ds["four hour performance"])).values
    t = np.arange(1.0, 61.0)
    frame = pd.DataFrame({"per_day": 1.0, "monthly": np.nan}, index=pd.Index(t, name="t"))
    frame.loc[[1.0, 31.0], "monthly"] = 1.0
    obs = cal.make_observations(spec, frame, [
        Observe("per_day", variable="ED attendances * (1 - four hour performance)", aggregate="point"),
        Observe("monthly", variable="ED attendances*(1-four_hour_performance)", aggregate="total", frequency=30)])
    prob = cal.CalibrationProblem(spec, obs, [cal.Parameter("base rate", 50, 150)], "normal")
    preds, _ = prob.predict(np.array([[100.0, 1.0, 1.0]]))
    np.testing.assert_allclose(preds[0][0], breaches[1:61], rtol=1e-12)
    # Euler's left Riemann sum over days 1-30 and 31-60
    np.testing.assert_allclose(preds[1][0][[0, 30]], [breaches[1:31].sum(), breaches[31:61].sum()], rtol=1e-12)


def test_expression_errors():
    spec = ed_model()
    frame = pd.DataFrame({"c": [1.0, 2.0, 3.0]}, index=pd.Index([1.0, 2.0, 3.0], name="t"))
    with pytest.raises(CalibrationError, match=r"uses `ed_attendence`, which is not a variable.*Did you mean "
                                               r"`ed_attendances`\?"):
        cal.make_observations(spec, frame, [Observe("c", variable="ed_attendence * 2", aggregate="point")])
    with pytest.raises(CalibrationError, match=r"is the expression `Seen / 2`; say how a row is compared"):
        cal.make_observations(spec, frame, [Observe("c", variable="Seen / 2")])
    with pytest.raises(CalibrationError, match="calls `_import_`, which is not available here"):
        cal.make_observations(spec, frame, [Observe("c", variable="__import__('os')", aggregate="point")])
    with pytest.raises(CalibrationError, match="cannot be read"):
        cal.make_observations(spec, frame, [Observe("c", variable="Seen +* 2", aggregate="point")])
    with pytest.raises(UnknownVariableError, match="no variable `Sen`"):
        cal.make_observations(spec, frame, [Observe("c", variable="Sen")])
    with pytest.raises(CalibrationError, match="needs the model variable or expression"):
        cal.make_observations(spec, frame, [Observe("c")])


# -- inputs ---------------------------------------------------------------------------------------
def test_a_step_of_estimated_size_is_recovered():
    # Data from the engine's own time-series path: capacity is 10 until day 50 and 13 after.
    spec = queue_model()
    series = pd.Series([10.0, 10.0, 13.0, 13.0], index=[0.0, 49.999, 50.0, 120.0])
    ds = sd.load(spec).run(params={"capacity": series})
    t = np.arange(5.0, 121.0, 5.0)
    rng = np.random.default_rng(7)
    sigma = 0.5
    frame = pd.DataFrame({"w": ds["Waiting"].sel(time=t).values + rng.normal(0, sigma, t.size)},
                         index=pd.Index(t, name="t"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cal.CalibrationWarning)
        fit = cal.fit(spec, frame, {"capacity": (5, 20), "jump": (0, 1)},
                      [Observe("w", variable="Waiting", sigma=sigma)],
                      inputs={"capacity": "capacity * (1 + jump * step(1, 50))"})
    # The estimator is approximately normal: within 4 standard errors of the truth except once
    # in 16,000 data sets.
    for name, true in (("capacity", 10.0), ("jump", 0.3)):
        assert abs(fit.params[name] - true) < 4 * fit.ci.loc[name, "se"], (name, fit.params[name])
    assert "inputs: capacity = capacity * (1 + jump * step(1, 50))" in fit.report()


def test_a_series_from_a_csv_file_with_dates(tmp_path):
    path = tmp_path / "inputs.csv"
    path.write_text("period,capacity\n2016-01-01,10\n2016-02-01,\n2016-03-01,16\n")
    series = read_input(path, "capacity")
    assert series.tolist() == [10.0, 16.0]  # the gap is interpolated across
    spec = queue_model()
    t = np.arange(1.0, 100.0, 3.0)
    frame = pd.DataFrame({"w": 1.0}, index=pd.Index(pd.to_datetime(ORIGIN) + pd.to_timedelta(t, "D"), name="d"))
    prob = cal.build_problem(spec, frame, {"demand": (1, 50)}, [Observe("w", variable="Waiting", sigma=1)],
                             origin=ORIGIN, inputs={"capacity": series})
    preds, _ = prob.predict(np.array([[20.0]]))
    # the engine's own series path, with the dates as model days (1 March 2016 is day 60)
    reference = sd.load(spec).run(params={"capacity": pd.Series([10.0, 16.0], index=[0.0, 60.0])})
    np.testing.assert_allclose(preds[0][0], reference["Waiting"].sel(time=t).values, rtol=1e-12)


def test_dates_in_input_equations():
    spec = queue_model()
    frame = pd.DataFrame({"w": 1.0}, index=pd.date_range("2016-01-02", periods=20, freq="D"))
    prob = cal.build_problem(spec, frame, {"demand": (1, 50)}, [Observe("w", variable="Waiting", sigma=1)],
                             origin=ORIGIN, inputs={"demand": "demand + step(5, date('2016-02-01'))"})
    run = prob.compiled.run(params={"demand before inputs": 20.0})  # `demand` itself is now the input
    np.testing.assert_allclose(run["arriving"].sel(time=[30.75, 31.0]).values, [20.0, 25.0])


def test_input_errors():
    spec = queue_model()
    frame = pd.DataFrame({"w": [1.0, 2.0, 3.0]}, index=pd.Index([1.0, 2.0, 3.0], name="t"))
    observe = [Observe("w", variable="Waiting", sigma=1)]

    def build(inputs, params=None, **kw):
        return cal.build_problem(spec, frame, params or {"demand": (1, 50)}, observe, inputs=inputs, **kw)

    with pytest.raises(CalibrationError, match="`Waiting` is a stock; an input can replace a scalar constant"):
        build({"Waiting": "5"})
    with pytest.raises(CalibrationError, match="calls `system`"):
        build({"capacity": "system(1)"})
    with pytest.raises(CalibrationError, match=r"The inputs use `uplift`, which the model does not define; give each as a parameter"):
        build({"capacity": "capacity * uplift"})
    with pytest.raises(CalibrationError, match="uses a date, but the calibration has no `origin`"):
        build({"capacity": "step(1, date('2016-02-01'))"})
    with pytest.raises(UnknownVariableError, match="no variable `capacty`"):
        build({"capacty": "5"})
    with pytest.raises(CalibrationError, match="must be an equation of time"):
        build({"capacity": [1, 2]})


# -- warm-up, initial states, population ------------------------------------------------------------
def test_warmup_starts_the_simulation_before_the_initial_time():
    spec = queue_model()
    t = np.arange(0.0, 60.0, 5.0)
    frame = pd.DataFrame({"w": 1.0}, index=pd.Index(t, name="t"))
    prob = cal.build_problem(spec, frame, {"demand": (1, 50)}, [Observe("w", variable="Waiting", sigma=1)],
                             warmup=40)
    preds, _ = prob.predict(np.array([[20.0]]))
    # the same as running from t = -40 and reading t = 0, 5, ...: the start-up transient is gone
    reference = sd.load(spec).run(initial_time=-40)
    np.testing.assert_allclose(preds[0][0], reference["Waiting"].sel(time=t).values, rtol=1e-12)
    assert preds[0][0][0] > 150  # Waiting(0) is 0 without a warm-up
    with pytest.raises(CalibrationError, match="`warmup` must be a length of model time of 0 or more"):
        cal.build_problem(spec, frame, {"demand": (1, 50)}, [Observe("w", variable="Waiting", sigma=1)],
                          warmup=-1)


def test_fitted_initial_state_starts_from_its_scaled_value_and_is_recovered():
    spec = queue_model(scale_initial=True)
    t = np.arange(0.0, 20.0, 1.0)
    truth = sd.load(spec).run(params={"population": 2_000_000})["Waiting"].sel(time=t).values  # starts at 106
    frame = pd.DataFrame({"w": truth}, index=pd.Index(t, name="t"))
    observe = [Observe("w", variable="Waiting", sigma=1)]
    for name in ("Waiting", "initial Waiting"):
        prob = cal.build_problem(spec, frame, {name: (0, 500)}, observe, population=2_000_000)
        assert prob.start[0] == pytest.approx(106.0)  # the model's own value, with the population applied
    frame["w"] = sd.load(spec).run(params={"population": 2_000_000})["Waiting"].sel(time=t).values
    fit = cal.fit(spec, frame, {"initial Waiting": (0, 500, 20.0)}, observe, population=2_000_000)
    assert fit.params["initial Waiting"] == pytest.approx(106.0, rel=1e-6)
    ds = fit.simulate()
    assert float(ds["Waiting"].sel(time=0)) == pytest.approx(106.0, rel=1e-6)


def test_population_errors():
    frame = pd.DataFrame({"w": [1.0, 2.0, 3.0]}, index=pd.Index([1.0, 2.0, 3.0], name="t"))
    observe = [Observe("w", variable="Seen", sigma=1)]
    with pytest.raises(CalibrationError, match="has no constant `population` to scale"):
        cal.build_problem(ed_model(), frame, {"base rate": (1, 200)}, observe, population=1e6)
    observe = [Observe("w", variable="Waiting", sigma=1)]
    with pytest.raises(CalibrationError, match="`population` is given twice"):
        cal.build_problem(queue_model(), frame, {"population": 1e6, "demand": (1, 50)}, observe, population=1e6)
