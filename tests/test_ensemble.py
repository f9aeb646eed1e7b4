"""Ensembles: one call with parameter arrays equals the loop of the single runs.

The generated code carries a leading run axis, so an ensemble is one vectorised
simulation. Nothing in a run may depend on which other runs share the call: values,
random draws (run ``i`` with seed ``s`` draws like a single run with seed ``s + i``),
discrete states, and failures (a run that fails is marked in ``run_status`` and the
others go on untouched).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import sd_engine as sd
from mc import Z, seed
from sd_engine.builder import Model
from sd_engine.testing import assert_ensemble_matches_single_runs

FIXED = ("euler", "rk4")


def stateful_arrayed() -> Model:
    """Two regions, an age split, and every kind of stateful builtin the engine lowers."""
    m = Model("regional demand", time_units="Week", final_time=12, dt=0.25)
    m.dimension("region", ["north", "south"])
    m.dimension("age", ["young", "old"])
    m.constant("base demand", [100.0, 80.0], dims=["region"])
    m.constant("age share", [[0.7, 0.3], [0.6, 0.4]], dims=["region", "age"])
    m.constant("service time", 3.0)
    m.constant("perception time", 2.0)
    m.constant("noise", 0.1)
    m.constant("threshold", 110.0)
    m.aux("demand", "base_demand * (1 + noise * random_uniform(-1, 1, 7)) + step(20, 4)", dims=["region"])
    m.aux("demand by age", "demand * age_share", dims=["region", "age"])
    m.aux("perceived demand", "smooth(demand, perception_time)", dims=["region"])
    m.aux("delayed demand", "delay_fixed(demand, service_time, base_demand)", dims=["region"])
    m.aux("peak", "sample_if_true(demand > threshold, demand, 0)", dims=["region"])
    m.aux("total demand", "sum(demand_by_age)")
    m.stock("Waiting", initial=50, inflows=["arrivals"], outflows=["treated"], dims=["region"])
    m.flow("arrivals", "demand", dims=["region"])
    m.flow("treated", "waiting / service_time + 0 * delayed_demand", dims=["region"])
    return m


def assert_ensemble_equals_singles(model: sd.CompiledModel, params: dict[str, np.ndarray], *,
                                   method: str, seed: int = 0, **time: float) -> xr.Dataset:
    ens = assert_ensemble_matches_single_runs(model, params, method=method, seed=seed, **time)
    assert (ens["run_status"].values == "ok").all()
    return ens


# -- equality with single runs ------------------------------------------------------------------------
@pytest.mark.parametrize("method", FIXED)
def test_teacup_ensemble_equals_single_runs(method: str) -> None:
    model = sd.load("teacup")
    params = {"Characteristic Time": np.linspace(5, 15, 7), "Room Temperature": np.linspace(60, 75, 7)}
    ens = assert_ensemble_equals_singles(model, params, method=method)
    assert ens["Teacup Temperature"].dims == ("run", "time")
    np.testing.assert_array_equal(ens["Characteristic Time"].values, params["Characteristic Time"])


@pytest.mark.parametrize("method", FIXED)
def test_sir_ensemble_equals_single_runs(method: str) -> None:
    model = sd.load("sir")
    rng = np.random.default_rng(1)
    params = {"contact_infectivity": rng.uniform(0.2, 0.6, 9), "Duration": rng.uniform(2, 8, 9)}
    ens = assert_ensemble_equals_singles(model, params, method=method, dt=0.125, saveper=0.5)
    # Different parameters give different epidemics, each conserving its population.
    peaks = ens["Infectious"].max("time").values
    assert len(np.unique(peaks)) == 9
    total = ens["Susceptible"] + ens["Infectious"] + ens["Recovered"]
    np.testing.assert_allclose(total.values, 1005.0, rtol=1e-12)


@pytest.mark.parametrize("method", FIXED)
def test_arrayed_stateful_ensemble_equals_single_runs(method: str) -> None:
    model = stateful_arrayed().compile()
    params = {"service time": np.array([1.0, 2.0, 3.5, 5.0]), "noise": np.array([0.0, 0.1, 0.2, 0.3]),
              "perception_time": np.array([1.0, 1.5, 2.0, 4.0])}
    ens = assert_ensemble_equals_singles(model, params, method=method, seed=42)
    assert ens["demand"].dims == ("run", "time", "region")
    assert ens["demand by age"].dims == ("run", "time", "region", "age")
    assert ens["total demand"].dims == ("run", "time")
    assert ens["run_seed"].values.tolist() == [42, 43, 44, 45]
    # The builtins did something: noise differs by run, the sample holds peaks, the delay lags.
    demand = ens["demand"].sel(region="north").values
    assert np.ptp(demand[0]) == 20  # run 0 has no noise: only the step of 20 at week 4
    assert np.ptp(demand[3]) > 20
    assert float(ens["peak"].max()) > 110
    delayed = ens["delayed demand"].isel(run=1).sel(region="north").values
    lag = int(round(2.0 / 0.25))
    np.testing.assert_array_equal(delayed[lag:], demand[1][:-lag])


def test_arrayed_constant_ensembles_take_a_leading_run_axis() -> None:
    model = stateful_arrayed().compile()
    base = np.array([[100.0, 80.0], [90.0, 85.0], [120.0, 60.0]])
    ens = model.run(params={"base demand": base, "noise": 0.0})
    assert ens["base demand"].dims == ("run", "region")
    for i in range(3):
        single = model.run(params={"base demand": base[i], "noise": 0.0})
        np.testing.assert_array_equal(ens["Waiting"].isel(run=i).values, single["Waiting"].values)


def test_scalar_parameters_broadcast_over_the_runs() -> None:
    model = sd.load("teacup")
    ens = model.run(params={"Characteristic Time": [8.0, 12.0], "Room Temperature": 65.0})
    np.testing.assert_array_equal(ens["Room Temperature"].values, [65.0, 65.0])
    single = model.run(params={"Characteristic Time": 12.0, "Room Temperature": 65.0})
    np.testing.assert_array_equal(ens["Teacup Temperature"].isel(run=1).values, single["Teacup Temperature"].values)


def test_an_ensemble_of_one_run_keeps_the_run_dimension() -> None:
    ens = sd.load("teacup").run(params={"Characteristic Time": [10.0]})
    assert ens["Teacup Temperature"].dims == ("run", "time")
    single = sd.load("teacup").run()
    np.testing.assert_array_equal(ens["Teacup Temperature"].isel(run=0).values, single["Teacup Temperature"].values)


def test_a_single_run_has_no_run_dimension() -> None:
    ds = sd.load("teacup").run()
    assert ds["Teacup Temperature"].dims == ("time",)
    assert "run" not in ds.dims and "run_status" not in ds.coords
    assert ds.attrs["status"] == "ok"


# -- random numbers ---------------------------------------------------------------------------------
def noisy() -> Model:
    m = Model("noisy", final_time=5, dt=0.5)
    m.constant("scale", 1.0)
    m.aux("u", "scale * random_uniform(0, 1)")
    m.aux("v", "random_uniform(10, 20, 3)")
    m.stock("sum of u", initial=0, inflows=["adding"])
    m.flow("adding", "u")
    return m


def test_run_i_of_an_ensemble_with_seed_s_equals_a_single_run_with_seed_s_plus_i() -> None:
    model = noisy().compile()
    ens = model.run(params={"scale": np.ones(5)}, seed=100)
    for i in range(5):
        single = model.run(seed=100 + i)
        np.testing.assert_array_equal(ens["u"].isel(run=i).values, single["u"].values)
        np.testing.assert_array_equal(ens["v"].isel(run=i).values, single["v"].values)
        assert single.attrs["seed"] == 100 + i
    assert ens["run_seed"].values.tolist() == [100, 101, 102, 103, 104]


def test_random_draws_are_reproducible_independent_and_in_range() -> None:
    model = noisy().compile()
    a, b = model.run(seed=3), model.run(seed=3)
    np.testing.assert_array_equal(a["u"].values, b["u"].values)
    assert not np.array_equal(a["u"].values, model.run(seed=4)["u"].values)
    # Two random functions in one model draw different streams.
    assert not np.allclose(a["u"].values, (a["v"].values - 10) / 10)
    ens = model.run(params={"scale": np.ones(200)}, seed=seed(0))
    u = ens["u"].values
    # Uniform(0, 1) draws: the mean's standard error is sqrt(1/12 / n).
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < Z * np.sqrt(1 / 12 / u.size)
    v = ens["v"].values
    assert v.min() >= 10 and v.max() < 20
    # A fresh draw every step.
    assert len(np.unique(u[0])) == u.shape[1]


def test_explicit_seeds_per_run() -> None:
    model = noisy().compile()
    ens = model.run(params={"scale": np.ones(3)}, seed=[7, 1, 7])
    np.testing.assert_array_equal(ens["u"].isel(run=0).values, ens["u"].isel(run=2).values)
    np.testing.assert_array_equal(ens["u"].isel(run=1).values, model.run(seed=1)["u"].values)


# -- failures are per run -------------------------------------------------------------------------
def test_a_failing_run_is_marked_and_the_others_are_unaffected() -> None:
    model = sd.load("teacup")
    times = np.array([10.0, 0.0, 5.0])  # a characteristic time of 0 divides by zero into the stock
    ens = model.run(params={"Characteristic Time": times})
    status = ens["run_status"].values.tolist()
    assert status[0] == "ok" and status[2] == "ok"
    assert status[1].startswith("failed at t=0.125: `Teacup Temperature` became -inf")
    for i in (0, 2):
        single = model.run(params={"Characteristic Time": times[i]})
        np.testing.assert_array_equal(ens["Teacup Temperature"].isel(run=i).values,
                                      single["Teacup Temperature"].values)
    temperature = ens["Teacup Temperature"].isel(run=1).values
    assert temperature[0] == 180.0 and not np.isfinite(temperature[1:]).any()


@pytest.mark.parametrize("method", ("euler", "rk2", "rk4", "rk45"))
def test_failures_are_marked_per_run_for_every_method(method: str) -> None:
    m = Model("blow-up", final_time=3, dt=0.25)
    m.constant("singular time", 10.0)
    m.stock("x", initial=1, inflows=["growth"])
    m.flow("growth", "x / (singular_time - time)")
    model = m.compile()
    ens = model.run(params={"singular time": [10.0, 1.0, 20.0]}, method=method)
    status = ens["run_status"].values.tolist()
    assert status[0] == status[2] == "ok"
    assert status[1].startswith("failed at t=1") and "`x`" in status[1]
    for i, value in ((0, 10.0), (2, 20.0)):
        single = model.run(params={"singular time": value}, method=method)
        got, want = ens["x"].isel(run=i).values, single["x"].values
        # Adaptive runs too: every run has its own step-size control.
        np.testing.assert_array_equal(got, want)


def test_a_single_failing_run_raises_naming_variable_run_and_time() -> None:
    model = sd.load("teacup")
    with pytest.raises(sd.NonFiniteStateError, match=r"`Teacup Temperature` became -inf at time 0\.125 in run 0") as info:
        model.run(params={"Characteristic Time": 0.0})
    assert (info.value.variable, info.value.run, info.value.time) == ("Teacup Temperature", 0, 0.125)
    assert isinstance(info.value, FloatingPointError)


def test_an_ensemble_can_be_asked_to_raise() -> None:
    model = sd.load("teacup")
    with pytest.raises(sd.NonFiniteStateError, match=r"in run 2 \(Characteristic Time=0\)") as info:
        model.run(params={"Characteristic Time": [10.0, 5.0, 0.0]}, errors="raise")
    assert info.value.run == 2


def test_a_single_run_can_be_marked_instead() -> None:
    ds = sd.load("teacup").run(params={"Characteristic Time": 0.0}, errors="mark")
    assert ds.attrs["status"].startswith("failed at t=0.125")
    assert ds["Teacup Temperature"].values[0] == 180.0


def test_failure_of_an_internal_stock_names_the_model_variable() -> None:
    m = Model("smoothing", final_time=2, dt=0.5)
    m.constant("smoothing time", 1.0)
    m.aux("signal", "1 / (1 - time)")
    m.aux("smoothed", "smooth(signal, smoothing_time)")
    ens = m.run(params={"smoothing time": [1.0, 2.0]})
    for label in ens["run_status"].values:
        assert "`smoothed`" in label  # not the internal stock `_smooth_1 of smoothed`


def test_an_initial_value_that_is_not_finite_fails_at_the_initial_time() -> None:
    m = Model("bad start", initial_time=1, final_time=2, dt=0.5)
    m.constant("zero", 0.0)
    m.stock("x", initial="1 / zero", inflows=["f"])
    m.flow("f", "1")
    with pytest.raises(sd.NonFiniteStateError, match=r"`x` became inf at time 1 in run 0"):
        m.run()
    ens = m.run(params={"zero": [0.0, 1.0]})
    assert ens["run_status"].values.tolist() == ["failed at t=1: `x` became inf", "ok"]
    np.testing.assert_array_equal(ens["x"].isel(run=1).values, [1.0, 1.5, 2.0])
