"""The boarding-school influenza benchmark (reference B3): maximum likelihood against a direct ODE fit."""

import math
import warnings

import numpy as np
import pytest

import calibration as cal
from calibration.examples import flu
from calibration.optimize import differential_evolution, threshold
from calib_reference import DERIVED, FLU_PARAMS, direct_fit, flu_fit, ode_infected
from mc import seed


def test_sd_model_matches_the_ode_to_solver_tolerance():
    ds = flu.build().run(params={"beta": 1.73, "gamma": 0.54}, saveper=1)
    np.testing.assert_allclose(ds["Infected"].values[1:], ode_infected(1.73, 0.54), rtol=1e-6)


@pytest.mark.parametrize("likelihood", ["negbin", "poisson", "normal"])
def test_maximum_likelihood_matches_the_direct_ode_fit(likelihood, flu_negbin):
    result = flu_negbin if likelihood == "negbin" else flu_fit(likelihood)
    ref, ll_ref = direct_fit(likelihood)
    ours = [result.params["beta"], result.params["gamma"]]
    if likelihood != "poisson":
        ours.append(result.params["phi_inv" if likelihood == "negbin" else "sigma"])
    np.testing.assert_allclose(ours, ref, rtol=2e-4)
    assert result.loglik == pytest.approx(ll_ref, abs=1e-4)
    assert result.loglik >= ll_ref - 1e-6  # never worse than the reference optimiser
    assert result.derived["R0"] == pytest.approx(ref[0] / ref[1], rel=3e-4)
    assert result.derived["recovery time"] == pytest.approx(1 / ref[1], rel=3e-4)


def test_every_start_reaches_the_same_maximum(flu_negbin):
    starts = flu_negbin.starts
    assert len(starts) == 4 and starts["converged"].all()
    assert (starts["loglik"] - flu_negbin.loglik).abs().max() < 1e-6
    for end in starts["end"]:
        assert end["beta"] == pytest.approx(flu_negbin.params["beta"], rel=1e-4)


def test_least_squares_differs_from_negbin_mainly_in_gamma(flu_negbin):
    ls = cal.fit(flu.build(), flu.data(), FLU_PARAMS, {"Infected": "in_bed"}, "wsse", method="least_squares")
    normal = flu_fit("normal")
    # weighted least squares (weight 1) and the normal likelihood with sigma estimated share the optimum
    assert ls.params["gamma"] == pytest.approx(normal.params["gamma"], rel=1e-5)
    assert ls.params["beta"] == pytest.approx(normal.params["beta"], rel=1e-5)
    assert abs(ls.params["gamma"] - flu_negbin.params["gamma"]) > 0.05
    assert abs(ls.params["beta"] - flu_negbin.params["beta"]) < 0.1


def test_differential_evolution_simulates_each_generation_in_one_call(flu_negbin):
    problem = cal.build_problem(flu.build(), flu.data(), FLU_PARAMS, {"Infected": "in_bed"}, "negbin")
    sizes = []
    original = problem.loglik

    def recording(theta):
        sizes.append(len(np.atleast_2d(theta)))
        return original(theta)

    problem.loglik = recording  # type: ignore[method-assign]
    best, generations = differential_evolution(problem, seed=seed(3))
    population = 15 * 3
    assert sizes.count(population) == generations + 1  # the initial population and one call per generation
    theta = problem.to_natural(best.z[None, :])[0]
    np.testing.assert_allclose(theta, [flu_negbin.params[n] for n in problem.names], rtol=1e-4)


def test_curvature_intervals_are_consistent(flu_negbin):
    ci = flu_negbin.ci
    for name in ("beta", "gamma", "phi_inv", "R0", "recovery time"):
        row = ci.loc[name]
        assert row["lower"] < row["estimate"] < row["upper"]
    # the curvature covariance equals the inverse Hessian mapped through the transforms
    assert np.all(np.linalg.eigvalsh(flu_negbin.hessian) > 0)
    assert flu_negbin.cov.loc["beta", "beta"] == pytest.approx(ci.loc["beta", "se"] ** 2)


@pytest.mark.slow
def test_profile_intervals():
    result = flu_fit("negbin", ci="profile")
    ci = result.ci
    drop = threshold(0.95)
    assert drop == pytest.approx(1.920729, abs=1e-6)
    problem = result.problem
    for name in ("beta", "gamma"):
        j = problem.names.index(name)
        for bound in ("lower", "upper"):
            # at the interval's ends, the log-likelihood maximised over the others is max - 1.92
            z = result.z.copy()
            z[j] = problem.free[j].to_z(np.array(ci.loc[name, bound]))
            mask = np.ones(len(z), bool)
            mask[j] = False
            from calibration.optimize import local_fit

            inner = local_fit(problem, z, mask=mask)
            assert inner.loglik == pytest.approx(result.loglik - drop, abs=2e-3)
    # profile intervals are invariant under monotone maps: recovery time's is 1/gamma's, reversed
    assert ci.loc["recovery time", "lower"] == pytest.approx(1 / ci.loc["gamma", "upper"], rel=2e-3)
    assert ci.loc["recovery time", "upper"] == pytest.approx(1 / ci.loc["gamma", "lower"], rel=2e-3)
    # beta is nearly Gaussian: profile and curvature intervals agree to within 15%
    curv = result.ci.loc["beta", "se"] * 1.96
    assert ci.loc["beta", "upper"] - ci.loc["beta", "lower"] == pytest.approx(2 * curv, rel=0.15)
    assert (ci["method"] == "profile").all()
    assert all(result.identifiable.values())


def test_report_and_dataset(flu_negbin, tmp_path):
    text = flu_negbin.report()
    assert "beta" in text and "R0" in text and "Theil" not in text  # columns are named theil_um ...
    assert "theil_um" in text and "Starts reaching the maximum: 4 of 4" in text
    ds = flu_negbin.to_dataset()
    path = tmp_path / "fit.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    import xarray as xr

    back = xr.open_dataset(path, engine="h5netcdf")
    assert float(back["estimate"].sel(parameter="beta")) == pytest.approx(flu_negbin.params["beta"])
    fig = flu_negbin.plot()
    fig.savefig(tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 1000
    stats_row = flu_negbin.statistics.loc["in_bed"]
    assert stats_row["theil_um"] + stats_row["theil_us"] + stats_row["theil_uc"] == pytest.approx(1.0)


def test_simulate_with_fitted_values(flu_negbin):
    ds = flu_negbin.simulate(saveper=1)
    np.testing.assert_allclose(ds["Infected"].values[1:], flu_negbin.predictions[0], rtol=1e-12)
