"""The calibration problem: batching, parameters of every kind, transforms, and set-up errors."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

import calibration as cal
from calibration import CalibrationError, Parameter
from calibration.examples import flu
from calibration.parameters import as_parameter
from sd_engine.builder import Model


def flu_problem(params=None, likelihood="negbin"):
    return cal.build_problem(flu.build(), flu.data(), params or {"beta": (0.1, 5), "gamma": (0.05, 2)},
                             {"Infected": "in_bed"}, likelihood)


def test_a_batch_is_one_simulation_and_equals_single_runs():
    prob = flu_problem()
    rng = np.random.default_rng(0)
    theta = np.column_stack([rng.uniform(1, 3, 20), rng.uniform(0.2, 1, 20), rng.uniform(0.01, 1, 20)])
    batch = prob.loglik(theta)
    assert prob.n_simulations == 1 and prob.n_runs == 20
    single = np.array([prob.loglik(row[None, :])[0] for row in theta])
    np.testing.assert_allclose(batch, single, rtol=1e-12)


def test_out_of_bounds_rows_are_not_simulated():
    prob = flu_problem()
    ll = prob.loglik(np.array([[6.0, 0.5, 0.1], [1.7, 0.5, 0.1]]))
    assert ll[0] == -np.inf and np.isfinite(ll[1]) and prob.n_runs == 1


def test_starting_values_come_from_the_model():
    prob = flu_problem({"beta": (0.1, 5), "gamma": (0.05, 2), "initial infected": (0.1, 10), "Recovered": (0, 50)})
    assert dict(zip(prob.names, prob.start)) == {"beta": 2.0, "gamma": 0.5, "initial infected": 1.0,
                                                "Recovered": 25.0, "phi_inv": 0.1}
    # the model's Recovered(0) = 0 lies on the bound, so the start moves inside: the middle of the bounds


def test_a_stock_name_sets_its_initial_value():
    # Susceptible(0) is computed from constants in the model; calibrating it replaces that equation.
    prob = flu_problem({"beta": (0.1, 5), "Susceptible": (100, 800)}, likelihood="poisson")
    assert prob.start[1] == pytest.approx(762.0)
    res = prob.simulate(np.array([[1.7, 500.0]]))
    assert res.series("Susceptible")[0, 0] == 500.0 and res.series("Infected")[0, 0] == 1.0


def test_transforms_round_trip_and_jacobian():
    for p in (Parameter("a", 0.1, 5.0), Parameter("b", 0, math.inf), Parameter("c"), Parameter("d", -math.inf, 3)):
        theta = np.array([0.3, 1.7, 2.9]) if p.name != "c" else np.array([-4.0, 0.0, 9.0])
        np.testing.assert_allclose(p.to_natural(p.to_z(theta)), theta, rtol=1e-12)
        z = p.to_z(theta)
        h = 1e-6
        numeric = (p.to_natural(z + h) - p.to_natural(z - h)) / (2 * h)
        np.testing.assert_allclose(p.log_jacobian(z), np.log(np.abs(numeric)), rtol=1e-6, atol=1e-8)
    assert Parameter("a", 0.1, 5.0).kind == "logit" and Parameter("b", 0).kind == "log"


def test_priors_are_truncated_by_bounds():
    p = as_parameter("beta", (0, None, stats.norm(2, 1)))
    assert p.lower == 0 and p.upper == math.inf
    np.testing.assert_allclose(p.log_prior(np.array([-1.0, 2.0])), [-np.inf, stats.norm(2, 1).logpdf(2.0)])
    assert as_parameter("phi_inv", stats.expon(scale=0.2)).lower == 0


def test_nuisance_parameters_are_named_per_series():
    m = Model("two", final_time=10)
    m.constant("k", 0.3)
    m.stock("x", initial=10, outflows=["out"])
    m.flow("out", "k * x")
    t = np.arange(1.0, 11.0)
    import pandas as pd

    data = pd.DataFrame({"a": 10 * np.exp(-0.3 * t), "b": 3 * np.exp(-0.3 * t)}, index=t)
    prob = cal.build_problem(m, data, {"k": (0.01, 1)}, {"x": "a", "out": cal.Observe("b", aggregate="point")},
                             "normal")
    assert prob.names == ("k", "sigma[a]", "sigma[b]")


def test_setup_errors():
    with pytest.raises(CalibrationError, match=r"no constant or stock `bta` to calibrate. Did you mean `beta`\?"):
        flu_problem({"bta": (0.1, 5)})
    with pytest.raises(CalibrationError, match="`infection` is a flow; calibrate a constant"):
        flu_problem({"infection": (0.1, 5)})
    with pytest.raises(CalibrationError, match="Every parameter is fixed"):
        flu_problem({"beta": 1.7, "gamma": 0.5, "phi_inv": 0.1})
    with pytest.raises(CalibrationError, match=r"Bounds of `beta` are \(5.0, 1.0\)"):
        Parameter("beta", 5, 1)
    with pytest.raises(CalibrationError, match="start value of `beta` \\(9.0\\) must be finite and within"):
        Parameter("beta", 0, 5, start=9.0)
    with pytest.raises(CalibrationError, match="prior of `beta` must be a frozen scipy.stats distribution"):
        Parameter("beta", prior="normal(2, 1)")
    with pytest.raises(CalibrationError, match="Cannot read the setting of parameter `beta`"):
        as_parameter("beta", "0.1:5")
    with pytest.raises(CalibrationError, match="No parameters to calibrate"):
        cal.fit(flu.build(), flu.data(), {}, {"Infected": "in_bed"})
    with pytest.raises(CalibrationError, match="`run_options` takes `method` and `dt`"):
        cal.build_problem(flu.build(), flu.data(), {"beta": (0.1, 5)}, {"Infected": "in_bed"},
                          run_options={"saveper": 1})
    with pytest.raises(CalibrationError, match="Unknown method `newton`"):
        cal.fit(flu.build(), flu.data(), {"beta": (0.1, 5)}, {"Infected": "in_bed"}, method="newton")  # type: ignore
    with pytest.raises(CalibrationError, match="Differential evolution needs finite bounds; give bounds to `beta`"):
        cal.fit(flu.build(), flu.data(), {"beta": (0.1, None)}, {"Infected": "in_bed"}, "poisson", method="de")
    with pytest.raises(CalibrationError, match="method=\"least_squares\" needs likelihood=\"wsse\""):
        cal.fit(flu.build(), flu.data(), {"beta": (0.1, 5)}, {"Infected": "in_bed"}, "poisson",
                method="least_squares")
    with pytest.raises(CalibrationError, match="Derived quantity `beta / delta` uses `delta`"):
        cal.fit(flu.build(), flu.data(), {"beta": (0.1, 5)}, {"Infected": "in_bed"}, "poisson",
                derived={"x": "beta / delta"})


def test_non_identifiable_parameters_are_flagged():
    # Only the product a * b sets the decay rate: the curvature is singular along a line.
    m = Model("product", final_time=10, dt=0.125, method="rk4")
    m.constant("a", 0.5)
    m.constant("b", 0.4)
    m.stock("x", initial=100, outflows=["decay"])
    m.flow("decay", "a * b * x")
    t = np.arange(1.0, 11.0)
    rng = np.random.default_rng(2)
    import pandas as pd

    data = pd.DataFrame({"x": 100 * np.exp(-0.2 * t) + rng.normal(0, 0.5, t.size)}, index=t)
    with pytest.warns(cal.NotIdentifiableWarning, match="`a`.*`b`"):
        result = cal.fit(m, data, {"a": (0.05, 2), "b": (0.05, 2)}, {"x": "x"}, "normal", starts=2)
    assert result.identifiable["a"] is False and result.identifiable["b"] is False
    assert result.params["a"] * result.params["b"] == pytest.approx(0.2, rel=0.01)
    # fixing one makes the other identifiable
    with warnings.catch_warnings():
        warnings.simplefilter("error", cal.NotIdentifiableWarning)
        fixed = cal.fit(m, data, {"a": 0.5, "b": (0.05, 2)}, {"x": "x"}, "normal", starts=2)
    assert fixed.params["b"] == pytest.approx(0.4, rel=0.01)
    lo, hi = fixed.ci.loc["b", ["lower", "upper"]]
    assert lo < 0.4 < hi


def test_rows_after_the_last_value_have_no_model_value():
    # A frame's last rows may belong to other series (a monthly row after a quarterly series'
    # last value): there the fit has no model value, not the last one held or an empty total.
    import pandas as pd

    data = flu.data()
    after = pd.DataFrame({"in_bed": [np.nan, np.nan]}, index=pd.Index([15, 16], name=data.index.name))
    extended = pd.concat([data, after])
    fit = cal.fit(flu.build(), extended, {"beta": (0.1, 5.0), "gamma": (0.05, 2.0)}, {"Infected": "in_bed"}, "negbin")
    reference = cal.fit(flu.build(), data, {"beta": (0.1, 5.0), "gamma": (0.05, 2.0)}, {"Infected": "in_bed"}, "negbin")
    assert np.isnan(fit.predictions[0][-2:]).all()
    np.testing.assert_allclose(fit.predictions[0][:-2], reference.predictions[0], rtol=1e-9)
