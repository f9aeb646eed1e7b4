"""The integrators against analytic solutions, through the public API.

Every model here is built with :class:`sd_engine.builder.Model`, run with ``run`` and
read back from the xarray Dataset, so these tests cover the whole pipeline: parse,
lower, compile, integrate, label. They check exact discrete solutions (Euler on linear
decay is ``x0 (1 - k dt)^n``), convergence to the continuous solution at the order each
method promises, conservation laws, and Vensim's time semantics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

import sd_engine as sd
from sd_engine.builder import Model

FIXED = ("euler", "rk2", "rk4")
ADAPTIVE = ("rk45", "dop853")


# -- models ------------------------------------------------------------------------------------
def decay(k: float = 0.5, x0: float = 8.0, **time: float) -> Model:
    """x' = -k x."""
    time = {"final_time": 4.0, "dt": 0.25, **time}
    m = Model("decay", time_units="Day", **time)  # type: ignore[arg-type]
    m.constant("k", k, units="1/Day")
    m.stock("x", initial=x0, outflows=["loss"], units="people")
    m.flow("loss", "k * x", units="people/Day")
    return m


def logistic(r: float = 0.8, capacity: float = 1000.0, p0: float = 10.0, **time: float) -> Model:
    """p' = r p (1 - p / K)."""
    time = {"final_time": 10.0, "dt": 0.125, **time}
    m = Model("logistic", time_units="Year", **time)  # type: ignore[arg-type]
    m.constant("growth rate", r)
    m.constant("carrying capacity", capacity)
    m.stock("Population", initial=p0, inflows=["net growth"])
    m.flow("net growth", "growth_rate * population * (1 - population / carrying_capacity)")
    return m


def logistic_exact(t: np.ndarray, r: float = 0.8, capacity: float = 1000.0, p0: float = 10.0) -> np.ndarray:
    return capacity / (1 + (capacity / p0 - 1) * np.exp(-r * t))


A = np.array([[-1.0, 0.5, 0.0],
              [0.2, -0.8, 0.3],
              [0.1, 0.25, -0.5]])
X0 = np.array([100.0, 50.0, 20.0])


def linear_system(**time: float) -> Model:
    """x' = A x over three stocks, one net flow each (flows may be negative)."""
    m = Model("linear", **{"final_time": 5.0, "dt": 0.01, **time})  # type: ignore[arg-type]
    for i in range(3):
        for j in range(3):
            m.constant(f"a{i}{j}", A[i, j])
    for i in range(3):
        m.stock(f"x{i}", initial=X0[i], inflows=[f"change {i}"])
        m.flow(f"change {i}", " + ".join(f"a{i}{j} * x{j}" for j in range(3)))
    return m


def final_error(model: Model, exact: float, *, dt: float, method: str, name: str) -> float:
    ds = model.run(dt=dt, method=method)
    return abs(float(ds[name].isel(time=-1)) - exact)


def measured_order(errors: list[float], dts: list[float]) -> float:
    slope, _ = np.polyfit(np.log(dts), np.log(errors), 1)
    return float(slope)


# -- exponential decay -------------------------------------------------------------------------
def test_euler_decay_is_exactly_the_discrete_solution() -> None:
    k, x0, dt = 0.5, 8.0, 0.25
    ds = decay(k, x0, dt=dt, final_time=10.0).run()
    n = np.arange(ds.sizes["time"])
    np.testing.assert_array_equal(ds["time"].values, n * dt)
    np.testing.assert_allclose(ds["x"].values, x0 * (1 - k * dt) ** n, rtol=1e-12, atol=0)
    # The flow is recorded at the same time as the stock it drains.
    np.testing.assert_allclose(ds["loss"].values, k * x0 * (1 - k * dt) ** n, rtol=1e-12, atol=0)


@pytest.mark.parametrize("method", FIXED)
def test_decay_converges_to_the_exponential(method: str) -> None:
    model = decay(final_time=4.0)
    exact = 8.0 * math.exp(-0.5 * 4.0)
    errors = [final_error(model, exact, dt=dt, method=method, name="x") for dt in (0.25, 0.0625, 0.015625)]
    assert errors[0] > errors[1] > errors[2]
    # Measured: 1.2e-2, 1.4e-5 and 6.8e-11 relative to the final value 1.08.
    assert errors[-1] < {"euler": 2e-2, "rk2": 3e-5, "rk4": 2e-10}[method]


# -- convergence orders ------------------------------------------------------------------------
# dt ranges are chosen so that the error is well above rounding and well inside the
# asymptotic regime for each method.
ORDER_DTS = {
    "euler": [0.125, 0.0625, 0.03125, 0.015625],
    "rk2": [0.25, 0.125, 0.0625, 0.03125],
    "rk4": [0.5, 0.25, 0.125, 0.0625],
}


@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("rk2", 2), ("rk4", 4)])
def test_convergence_order_on_decay(method: str, order: int) -> None:
    model = decay(k=0.5, x0=8.0, final_time=4.0)
    exact = 8.0 * math.exp(-2.0)
    dts = ORDER_DTS[method]
    errors = [final_error(model, exact, dt=dt, method=method, name="x") for dt in dts]
    assert measured_order(errors, dts) == pytest.approx(order, abs=0.15)


@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("rk2", 2), ("rk4", 4)])
def test_convergence_order_on_logistic(method: str, order: int) -> None:
    model = logistic(final_time=8.0)
    exact = float(logistic_exact(np.array(8.0)))
    dts = ORDER_DTS[method]
    errors = [final_error(model, exact, dt=dt, method=method, name="Population") for dt in dts]
    assert measured_order(errors, dts) == pytest.approx(order, abs=0.15)


# -- logistic growth ---------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "dt", "rtol"), [("euler", 1 / 1024, 2e-3), ("rk2", 1 / 64, 1e-4),
                                                    ("rk4", 1 / 16, 1e-6)])
def test_logistic_follows_the_closed_form(method: str, dt: float, rtol: float) -> None:
    ds = logistic(final_time=10.0).run(dt=dt, method=method, saveper=0.5)
    t = ds["time"].values
    np.testing.assert_array_equal(t, np.arange(0, 10.5, 0.5))
    np.testing.assert_allclose(ds["Population"].values, logistic_exact(t), rtol=rtol)
    # The flow is the right-hand side evaluated on the recorded stock.
    p = ds["Population"].values
    np.testing.assert_allclose(ds["net growth"].values, 0.8 * p * (1 - p / 1000), rtol=1e-12)


# -- a linear system -----------------------------------------------------------------------------
def test_three_stock_linear_system_matches_the_matrix_exponential() -> None:
    ds = linear_system(final_time=5.0, dt=0.01, saveper=0.5).run(method="rk4")
    got = np.stack([ds[f"x{i}"].values for i in range(3)], axis=1)
    exact = np.stack([scipy.linalg.expm(A * t) @ X0 for t in ds["time"].values])
    np.testing.assert_allclose(got, exact, rtol=1e-9, atol=0)


@pytest.mark.parametrize("method", ADAPTIVE)
def test_adaptive_methods_on_the_linear_system(method: str) -> None:
    ds = linear_system().run(method=method, rtol=1e-8, atol=1e-10, saveper=0.5)
    got = np.stack([ds[f"x{i}"].values for i in range(3)], axis=1)
    exact = np.stack([scipy.linalg.expm(A * t) @ X0 for t in ds["time"].values])
    np.testing.assert_allclose(got, exact, rtol=1e-7)


# -- adaptive methods meet their tolerance ----------------------------------------------------------
# `rtol` and `atol` are scipy's (and Vensim's) *local* error tolerances: each step's error
# estimate stays below them. The global error at the end of a long run accumulates a few
# local errors, so it is held to a small multiple of rtol, and it must shrink in proportion
# as rtol does. (Measured over rtol = 1e-3 .. 1e-10: at most 6.0 x rtol for rk45 and 4.9 x
# for dop853.)
GLOBAL_FACTOR = 10.0


def adaptive_errors(method: str, rtol: float) -> tuple[float, float]:
    ds = logistic(final_time=15.0, dt=0.5).run(method=method, rtol=rtol, atol=rtol * 1e-3)
    logistic_error = np.abs(ds["Population"].values / logistic_exact(ds["time"].values) - 1).max()
    ds = decay(final_time=20.0, dt=0.5).run(method=method, rtol=rtol, atol=1e-14)
    decay_error = np.abs(ds["x"].values / (8.0 * np.exp(-0.5 * ds["time"].values)) - 1).max()
    return float(logistic_error), float(decay_error)


@pytest.mark.parametrize("method", ADAPTIVE)
@pytest.mark.parametrize("rtol", [1e-4, 1e-6, 1e-8])
def test_adaptive_methods_meet_their_rtol(method: str, rtol: float) -> None:
    for error in adaptive_errors(method, rtol):
        assert error <= GLOBAL_FACTOR * rtol


@pytest.mark.parametrize("method", ADAPTIVE)
def test_adaptive_error_shrinks_with_rtol(method: str) -> None:
    loose, tight = adaptive_errors(method, 1e-4), adaptive_errors(method, 1e-8)
    for a, b in zip(loose, tight):
        assert b < a / 100


@pytest.mark.parametrize("method", ADAPTIVE)
def test_adaptive_methods_record_on_the_dt_grid(method: str) -> None:
    ds = decay(final_time=3.0, dt=0.25).run(method=method)
    np.testing.assert_array_equal(ds["time"].values, np.arange(13) * 0.25)
    assert ds.attrs["method"] == method
    # Flows are evaluated from the recorded stocks, exactly as for fixed-step methods.
    np.testing.assert_allclose(ds["loss"].values, 0.5 * ds["x"].values, rtol=1e-15)


# -- conservation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ("euler", "rk2", "rk4", "rk45"))
def test_sir_conserves_the_total_population(method: str) -> None:
    ds = sd.load("sir").run(method=method, dt=0.125)
    total = ds["Susceptible"] + ds["Infectious"] + ds["Recovered"]
    np.testing.assert_allclose(total.values, float(total[0]), rtol=1e-9, atol=0)
    assert float(total[0]) == 1005.0  # 1000 susceptible and 5 infectious
    # ... while the epidemic actually happens.
    assert float(ds["Recovered"].isel(time=-1)) > 500
    assert float(ds["Infectious"].max()) > 60  # R0 = 1.5: a peak of about 68


def test_sir_rk4_agrees_with_dop853() -> None:
    model = sd.load("sir")
    reference = model.run(method="dop853", rtol=1e-11, atol=1e-11, dt=0.5)
    ds = model.run(method="rk4", dt=0.03125, saveper=0.5)
    for name in ("Susceptible", "Infectious", "Recovered"):
        np.testing.assert_allclose(ds[name].values, reference[name].values, rtol=1e-7, atol=1e-7)


# -- Vensim time semantics -------------------------------------------------------------------------
def test_initial_time_other_than_zero() -> None:
    k, x0, dt = 0.5, 8.0, 0.25
    ds = decay(k, x0, initial_time=1990.0, final_time=2000.0, dt=dt).run()
    n = np.arange(41)
    np.testing.assert_array_equal(ds["time"].values, 1990.0 + n * dt)
    np.testing.assert_allclose(ds["x"].values, x0 * (1 - k * dt) ** n, rtol=1e-12)
    assert ds.attrs["initial_time"] == 1990.0 and ds.attrs["final_time"] == 2000.0


def test_time_is_absolute_in_equations() -> None:
    m = Model("clock", initial_time=5, final_time=7, dt=0.5)
    m.aux("clock", "time")
    m.aux("after six", "step(1, 6)")
    m.stock("elapsed", initial=0, inflows=["one"])
    m.flow("one", "1")
    ds = m.run()
    np.testing.assert_array_equal(ds["clock"].values, [5.0, 5.5, 6.0, 6.5, 7.0])
    np.testing.assert_array_equal(ds["after six"].values, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(ds["elapsed"].values, [0.0, 0.5, 1.0, 1.5, 2.0])


def test_saveper_a_multiple_of_dt_saves_every_kth_step_at_exact_times() -> None:
    model = decay(final_time=10.0, dt=0.125)
    every_step = model.run()
    ds = model.run(saveper=0.5)
    np.testing.assert_array_equal(ds["time"].values, np.arange(21) * 0.5)
    np.testing.assert_array_equal(ds["x"].values, every_step["x"].values[::4])
    np.testing.assert_array_equal(ds["loss"].values, every_step["loss"].values[::4])


def test_saved_times_are_the_decimal_times_even_when_dt_is_not_binary() -> None:
    # 3 * 0.1 is 0.30000000000000004 in floating point; the saved time is 0.3 as written.
    ds = decay(final_time=2.0, dt=0.1).run()
    expected = [round(0.1 * k, 10) for k in range(21)]
    assert expected[3] == 0.3 and 3 * 0.1 != 0.3
    assert ds["time"].values.tolist() == expected
    assert float(ds["x"].sel(time=0.3)) == float(ds["x"].isel(time=3))
    ds = decay(initial_time=2000.0, final_time=2001.0, dt=0.1, saveper=0.2).run()
    assert ds["time"].values.tolist() == [2000.0, 2000.2, 2000.4, 2000.6, 2000.8, 2001.0]
    # Times that are not short decimals are left as computed.
    ds = decay(final_time=1.0, dt=1 / 3).run()
    assert ds["time"].values.tolist() == [0.0, 1 / 3, 2 * (1 / 3), 1.0]
    ds = decay(initial_time=-5.0, final_time=0.5, dt=0.1).run()
    assert ds["time"].values.tolist() == [round(-5 + 0.1 * k, 10) for k in range(56)]


def test_time_in_equations_equals_the_saved_time() -> None:
    m = Model("clock", final_time=1, dt=0.1)
    m.aux("clock", "time")
    ds = m.run()
    np.testing.assert_array_equal(ds["clock"].values, ds["time"].values)


@pytest.mark.parametrize("saveper", [0.3, 0.1, 0.6])
def test_saveper_off_the_step_grid_saves_the_first_step_at_or_after_each_save_time(saveper: float) -> None:
    # The saved rows are computed steps (values are never moved to times the run did not
    # compute): for each multiple m of saveper, the first step t >= m.
    every_step = decay(dt=0.25, final_time=3.0).run()
    ds = decay(dt=0.25, final_time=3.0, saveper=saveper).run()
    steps = every_step["time"].values
    targets = np.arange(0, 3.0 + 1e-9, saveper)
    expected = sorted({float(steps[np.searchsorted(steps, m - 1e-9)]) for m in targets if m <= steps[-1] + 1e-9})
    np.testing.assert_array_equal(ds["time"].values, expected)
    np.testing.assert_array_equal(ds["x"].values, every_step["x"].sel(time=expected).values)
    if saveper == 0.3:
        assert expected[:5] == [0.0, 0.5, 0.75, 1.0, 1.25]  # by hand: 0.3 -> 0.5, 0.6 -> 0.75, 0.9 -> 1.0


def test_final_time_between_steps_stops_at_the_last_step_before_it() -> None:
    k, x0, dt = 0.5, 8.0, 0.25
    ds = decay(k, x0, final_time=2.6, dt=dt).run()
    np.testing.assert_array_equal(ds["time"].values, np.arange(11) * dt)  # 0 .. 2.5
    np.testing.assert_allclose(ds["x"].values, x0 * (1 - k * dt) ** np.arange(11), rtol=1e-12)
    # With a save interval the last saved time is the last multiple of saveper reached.
    ds = decay(final_time=2.6, dt=0.25).run(saveper=1.0)
    np.testing.assert_array_equal(ds["time"].values, [0.0, 1.0, 2.0])


def test_final_time_equal_to_initial_time_gives_the_initial_values() -> None:
    ds = decay(initial_time=3.0, final_time=3.0).run()
    assert ds["time"].values.tolist() == [3.0]
    assert ds["x"].values.tolist() == [8.0]
    assert ds["loss"].values.tolist() == [4.0]


def test_a_final_time_that_is_a_decimal_multiple_of_dt_is_reached() -> None:
    assert 0.3 / 0.1 < 3  # in binary, 0.3 is not quite three steps of 0.1
    assert decay(final_time=0.3, dt=0.1).run()["time"].values.tolist() == [0.0, 0.1, 0.2, 0.3]
    ds = decay(initial_time=1.1, final_time=201.1, dt=0.02).run(saveper=20.0)
    assert ds["time"].values.tolist() == [round(1.1 + 20.0 * k, 10) for k in range(11)]


def test_run_overrides_time_settings_and_method() -> None:
    model = decay(k=0.5, x0=8.0, final_time=4.0, dt=0.25).compile()
    ds = model.run(final_time=6.0, dt=0.5, saveper=1.0, method="rk4")
    np.testing.assert_array_equal(ds["time"].values, np.arange(7.0))
    assert ds.attrs["method"] == "rk4" and ds.attrs["dt"] == 0.5 and ds.attrs["final_time"] == 6.0
    # RK4 with dt = 0.5 on x' = -k x multiplies x by the degree-4 Taylor polynomial each step.
    h = -0.5 * 0.5
    growth = 1 + h + h**2 / 2 + h**3 / 6 + h**4 / 24
    np.testing.assert_allclose(ds["x"].values, 8.0 * growth ** (2 * np.arange(7)), rtol=1e-13)
    ds = model.run(initial_time=1.0)
    assert float(ds["time"][0]) == 1.0 and float(ds["time"][-1]) == 4.0
    # Overrides apply to one call only: the compiled model keeps its own settings.
    ds = model.run()
    assert ds.attrs["method"] == "euler" and ds.attrs["dt"] == 0.25
    np.testing.assert_array_equal(ds["time"].values, np.arange(17) * 0.25)


def test_method_names_are_case_insensitive_and_default_to_the_models() -> None:
    assert decay().run(method="RK4").attrs["method"] == "rk4"
    m = decay()
    m.time = sd.TimeSettings(final_time=4.0, dt=0.25, method="rk2")
    assert m.run().attrs["method"] == "rk2"
