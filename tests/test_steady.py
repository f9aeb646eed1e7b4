"""Warm starts (sd_engine.steady) against analytic equilibria and an analytic periodic state."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import SpecError, UnknownVariableError
from sd_engine.steady import NotSteadyWarning, warm_start


def chain() -> sd.CompiledModel:
    """Inflow B into X (residence tau1), X into Y (residence tau2): equilibria B tau1 and B tau2."""
    m = sd.Model("two stages", time_units="day", final_time=30)
    m.constant("B", 4.0)
    m.constant("tau1", 3.0)
    m.constant("tau2", 10.0)
    m.stock("X", initial=0.0, inflows=["arrivals"], outflows=["moves"])
    m.stock("Y", initial=100.0, inflows=["moves"], outflows=["exits"])
    m.flow("arrivals", "b")
    m.flow("moves", "x / tau1")
    m.flow("exits", "y / tau2")
    return m.compile()


def test_each_run_warms_to_its_own_analytic_equilibrium():
    model = chain()
    b = np.array([1.0, 4.0, 10.0])
    ws = warm_start(model, {"B": b}, duration=300)
    np.testing.assert_allclose(ws.initial["X"], b * 3.0, rtol=1e-9)
    np.testing.assert_allclose(ws.initial["Y"], b * 10.0, rtol=1e-9)
    assert ws.converged and ws.stocks == ("X", "Y")
    # From the warm state nothing moves: the first day's change is zero to rounding.
    ds = ws.model.run(params=ws.params, final_time=5)
    np.testing.assert_allclose(ds["Y"].isel(time=1).values, b * 10.0, rtol=1e-12)
    # The original model is untouched and still starts from its own initial values.
    assert float(model.run(final_time=0, saveper=1)["Y"].isel(time=0)) == 100.0


def test_spin_up_through_a_season_reaches_the_analytic_periodic_state():
    # x' = a + c sin(w t) - x / tau has the periodic solution
    # x(t) = a tau + c tau / (1 + (w tau)^2) (sin w t - w tau cos w t); at t = 0: a tau - c w tau^2 / (1 + (w tau)^2).
    a, c, tau, w = 10.0, 4.0, 20.0, 2 * math.pi / 365
    m = sd.Model("seasonal stock", time_units="day", final_time=365)
    m.constant("a", a)
    m.constant("c", c)
    m.constant("tau", tau)
    m.stock("X", initial=0.0, inflows=["in"], outflows=["out"])
    m.flow("in", f"a + c * sin({w!r} * time)")
    m.flow("out", "x / tau")
    ws = warm_start(m.compile(), duration=20 * 365, method="rk4", dt=0.25, warn=False)
    expected = a * tau - c * w * tau**2 / (1 + (w * tau) ** 2)
    assert float(ws.initial["X"]) == pytest.approx(expected, rel=1e-6)
    # A periodic state is not a fixed point: the drift is the season's, about c/(a tau) a day.
    assert 0 < float(ws.drift["X"]) < c / (a * tau)


def test_a_short_warm_up_reports_stocks_still_moving():
    model = chain()
    with pytest.warns(NotSteadyWarning, match="`Y`"):
        ws = warm_start(model, duration=5)
    assert not ws.converged
    assert set(ws.unsteady()) == {"X", "Y"}
    assert "still moving" in ws.report()


def test_years_use_the_model_time_units_and_named_stocks_only():
    model = chain()
    ws = warm_start(model, years=1, stocks=["x"])
    assert ws.duration == 365.25 and ws.stocks == ("X",)
    assert set(ws.params) == {"initial X"}


def test_bad_requests_are_refused_by_name():
    model = chain()
    with pytest.raises(SpecError, match="`duration` .* or `years`"):
        warm_start(model)
    with pytest.raises(SpecError, match="`duration` .* or `years`"):
        warm_start(model, duration=10, years=1)
    with pytest.raises(SpecError, match="positive"):
        warm_start(model, duration=-3)
    with pytest.raises(SpecError, match="too short"):
        warm_start(model, duration=0.5)
    with pytest.raises(SpecError, match="`saveper`"):
        warm_start(model, duration=10, saveper=2)
    with pytest.raises(UnknownVariableError):
        warm_start(model, duration=10, stocks=["Z"])
    with pytest.raises(SpecError, match="`arrivals` is a flow"):
        warm_start(model, duration=10, stocks=["arrivals"])
    m = sd.Model("generic", time_units="tick", final_time=3)
    m.stock("S", initial=1.0)
    with pytest.raises(SpecError, match="not calendar units"):
        warm_start(m.compile(), years=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warm_start(m.compile(), duration=3)  # a stock with no flows is already steady
