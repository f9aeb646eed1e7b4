"""Fisher scoring: its pieces against scipy, its batching, and estimates on a bound."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import calibration as cal
from calibration.likelihoods import get_likelihood
from calibration.optimize import fisher_lockstep
from sd_engine.builder import Model


@pytest.mark.parametrize("name", ["normal", "lognormal", "poisson", "negbin", "wsse"])
def test_score_is_the_derivative_of_the_log_likelihood(name):
    lik = get_likelihood(name)
    y = np.array([3.0, 12.0, 40.0])
    m = np.array([[4.0, 10.0, 45.0]])
    nu = np.array([0.3])
    h = 1e-6
    numeric = [(lik.loglik(y[[j]], m[:, [j]] + h, nu, 2.0) - lik.loglik(y[[j]], m[:, [j]] - h, nu, 2.0))[0] / (2 * h)
               for j in range(3)]
    np.testing.assert_allclose(lik.score(y, m, nu, 2.0)[0], numeric, rtol=1e-6)


def test_negbin_information_is_the_variance_of_the_score():
    # Exact expectation over the NB2 distribution (scipy's pmf on its support), not a formula.
    lik = get_likelihood("negbin")
    for mu, phi_inv in ((5.0, 0.2), (300.0, 0.01)):
        phi = 1 / phi_inv
        y = np.arange(0, 4000, dtype=float)
        p = stats.nbinom(phi, phi / (mu + phi)).pmf(y)
        score = lik.score(y, np.full((1, y.size), mu), np.array([phi_inv]), 1.0)[0]
        variance = float(np.sum(p * score ** 2))
        assert lik.information(np.array([[mu]]), np.array([phi_inv]), 1.0)[0, 0] == pytest.approx(variance, rel=1e-6)


def test_profiled_nuisance_parameters_match_scipy():
    rng = np.random.default_rng(3)
    m = rng.uniform(50, 500, size=(4, 30))
    y = rng.negative_binomial(10, 10 / (m[0] + 10)).astype(float)
    best = get_likelihood("negbin").best_nuisance(y, m, 0.0, np.inf)
    for i in range(4):
        res = optimize.minimize_scalar(lambda u: -stats.nbinom(np.exp(-u), np.exp(-u) / (m[i] + np.exp(-u)))
                                       .logpmf(y).sum(), bounds=(-12, 5), method="bounded",
                                       options={"xatol": 1e-10})
        assert best[i] == pytest.approx(np.exp(res.x), rel=1e-5)
    sigma = get_likelihood("normal").best_nuisance(y, m, 0.0, np.inf)
    np.testing.assert_allclose(sigma, np.sqrt(np.mean((y - m) ** 2, axis=1)))


def decay_model():
    m = Model("decay", final_time=20, dt=0.125, method="rk4")
    m.constant("k", 0.5)
    m.constant("x0", 100.0)
    m.stock("x", initial="x0", outflows=["out"])
    m.flow("out", "k * x")
    return m


def decay_data(k=0.3, seed=1):
    t = np.arange(1.0, 21.0)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.poisson(100 * np.exp(-k * t)).astype(float)}, index=pd.Index(t, name="t"))


def test_all_starts_move_together_one_simulation_per_iteration():
    problem = cal.build_problem(decay_model(), decay_data(), {"k": (0.01, 2), "x0": (10, 500)}, {"x": "x"},
                                "poisson")
    z0 = problem.to_z(np.array([[0.1, 50.0], [1.0, 300.0], [0.5, 100.0]]))
    results = fisher_lockstep(problem, z0)
    iterations = max(r.iterations for r in results)
    assert problem.n_simulations == iterations          # one ensemble call per iteration for all starts
    assert problem.n_runs <= iterations * 3 * 5          # three starts x (2k + 1) points
    ends = np.array([problem.to_natural(r.z[None, :])[0] for r in results])
    np.testing.assert_allclose(ends, np.tile(ends[0], (3, 1)), rtol=1e-5)  # all at the same maximum
    assert all(r.converged for r in results)


def test_an_estimate_beyond_its_range_ends_on_the_bound():
    # The data decay at k = 0.3; the range allows 0.35 at least: the fit stops exactly on 0.35,
    # says so, and still gives x0 an interval (with k held on its bound).
    with pytest.warns(cal.CalibrationWarning, match=r"`k` ended on its lower bound \(0.35\)"):
        fit = cal.fit(decay_model(), decay_data(), {"k": (0.35, 2), "x0": (10, 500)}, {"x": "x"}, "poisson")
    assert fit.params["k"] == pytest.approx(0.35, abs=1e-9)
    assert fit.on_bound == {"k": "lower"} and fit.ci.loc["k", "method"] == "on lower bound"
    lo, hi = fit.ci.loc["x0", ["lower", "upper"]]
    assert lo < fit.params["x0"] < hi and np.isfinite(hi - lo)
    # the best value with k fixed at the bound, found separately
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fixed = cal.fit(decay_model(), decay_data(), {"k": 0.35, "x0": (10, 500)}, {"x": "x"}, "poisson")
    assert fit.params["x0"] == pytest.approx(fixed.params["x0"], rel=1e-5)
    assert fit.loglik == pytest.approx(fixed.loglik, abs=1e-6)
