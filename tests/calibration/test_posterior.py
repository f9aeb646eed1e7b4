"""Posterior sampling: batching, InferenceData, predictive checks, checkpoints that survive a kill."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import calibration as cal
from calibration import CalibrationError
from calibration.examples import flu
from calibration.posterior import diagnostics
from calib_reference import grid_posterior
from mc import Z, grid_marginal, mcse_mean, mcse_quantile, mcse_sd, seed

# The Stan case study's priors (reference B3): beta ~ N(2, 1) and gamma ~ N(0.4, 0.5), both
# truncated at 0; phi_inv ~ Exponential(5).
PRIORS = {"beta": (0, None, stats.norm(2, 1)), "gamma": (0, None, stats.norm(0.4, 0.5)),
          "phi_inv": stats.expon(scale=1 / 5)}
OBSERVE = {"Infected": "in_bed"}


def run(**kw):
    options = {"draws": 16 * 60, "walkers": 16, "tune": 40, "seed": seed(4), "predictive": 200}
    options.update(kw)
    return cal.sample(flu.build(), flu.data(), PRIORS, OBSERVE, "negbin", derived={"R0": "beta / gamma"}, **options)


def interrupt_after(steps):
    """A `callback` that interrupts sampling as Ctrl-C would, once `steps` steps are done."""
    def callback(progress):
        if progress.step >= steps:
            raise KeyboardInterrupt(f"stopped after {progress.step} steps")
    return callback


@pytest.fixture(scope="module")
def idata(flu_negbin):
    # 6,400 draws: an effective sample size of about 500, so four Monte Carlo standard errors of
    # a mean are about 0.18 posterior sd, small enough for the checks below to catch a biased sampler.
    return run(start=flu_negbin, draws=16 * 400, tune=150)


@pytest.fixture(scope="module")
def reference():
    """The flu posterior by quadrature on a grid: (values of each quantity, weights)."""
    betas, gammas, phi_invs = np.linspace(1.35, 2.25, 61), np.linspace(0.36, 0.8, 61), np.linspace(0.004, 0.6, 80)
    w = grid_posterior(betas, gammas, phi_invs)
    b, g, f = np.meshgrid(betas, gammas, phi_invs, indexing="ij")
    assert w[[0, -1]].sum() + w[:, [0, -1]].sum() + w[:, :, -1].sum() < 1e-3  # the grid holds the posterior
    return {"beta": b, "gamma": g, "R0": b / g, "phi_inv": f}, w


def _moments(values, w):
    mean = (values * w).sum()
    return mean, np.sqrt(((values - mean) ** 2 * w).sum())


def _quantiles(values, w, probs):
    edges, cdf = grid_marginal(values, w)
    return np.interp(probs, cdf, edges)


def _density(values, w, x, sd):
    # The reference density at x, from the grid's CDF over a window of a fifth of a posterior sd.
    edges, cdf = grid_marginal(values, w)
    h = 0.1 * sd
    return float((np.interp(x + h, edges, cdf) - np.interp(x - h, edges, cdf)) / (2 * h))


def test_inference_data_layout(idata):
    post = idata.posterior
    assert set(post.data_vars) == {"beta", "gamma", "phi_inv", "R0"}
    assert post.sizes == {"chain": 16, "draw": 400}
    np.testing.assert_allclose(post["R0"], post["beta"] / post["gamma"])
    assert {"lp", "loglik"} <= set(idata.sample_stats.data_vars)
    np.testing.assert_array_equal(idata.observed_data["in_bed"], flu.IN_BED)
    assert idata.posterior_predictive["in_bed"].shape == (1, 200, 14)
    assert 0.15 < post.attrs["acceptance_fraction"] < 0.9


@pytest.mark.filterwarnings("ignore:More chains")  # ten draws per walker on purpose
def test_one_simulation_per_half_ensemble(flu_negbin):
    result = run(start=flu_negbin, draws=16 * 10, tune=5, predictive=50)
    steps = 15
    # emcee's moves update the ensemble in two halves, each one batch: two simulate calls per
    # step, plus the starting positions and the posterior-predictive batch.
    assert result.posterior.attrs["simulate_calls"] == 2 * steps + 1 + 1


def test_posterior_agrees_with_the_likelihood_fit(idata, flu_negbin, reference):
    # With 14 informative counts the priors are weak: the posterior median lies near the maximum
    # likelihood estimate and the posterior sd near the curvature se. How near is not a matter of
    # taste: the quadrature reference gives the exact gap (up to 0.32 se for beta, whose posterior
    # is skewed; the posterior sd is 1.21-1.27 times the curvature se), and the sampler must
    # reproduce that gap within Z Monte Carlo standard errors of its median and sd.
    values, w = reference
    for name in ("beta", "gamma", "R0"):
        chains = idata.posterior[name].values
        est = flu_negbin.params.get(name, flu_negbin.derived.get(name))
        se = flu_negbin.ci.loc[name, "se"]
        median = _quantiles(values[name], w, 0.5)
        _, sd = _moments(values[name], w)
        tol = Z * mcse_quantile(chains, 0.5, _density(values[name], w, median, sd))
        assert abs((np.median(chains) - est) - (median - est)) < tol, name
        assert abs(np.std(chains) / se - sd / se) < Z * mcse_sd(chains) / se, name


def test_posterior_matches_quadrature_of_the_same_posterior(idata, reference):
    # The reference: the posterior of the Stan case study's model (NB2, its priors) normalised
    # on a grid, from scipy's ODE solution; independent of sd_engine and of the sampler. Each
    # statistic of the draws must lie within Z Monte Carlo standard errors of the reference
    # (arviz's effective sample sizes; quantiles with the reference density, see mc.py). The
    # grid's own error (midpoint rule, cells of 0.3 sd) is far under these.
    values, w = reference
    for name, grid in values.items():
        chains = idata.posterior[name].values
        draws = chains.ravel()
        mean, sd = _moments(grid, w)
        assert abs(draws.mean() - mean) < Z * mcse_mean(chains), name
        assert abs(draws.std() - sd) < Z * mcse_sd(chains), name
        for prob, q in zip((0.025, 0.975), _quantiles(grid, w, [0.025, 0.975])):
            tol = Z * mcse_quantile(chains, prob, _density(grid, w, q, sd))
            assert abs(np.quantile(draws, prob) - q) < tol, f"{name} {prob:.1%} quantile"


def test_posterior_predictive_covers_the_data(idata):
    pp = idata.posterior_predictive["in_bed"].values[0]
    lo, hi = np.percentile(pp, [2.5, 97.5], axis=0)
    y = np.array(flu.IN_BED)
    assert np.sum((y >= lo) & (y <= hi)) >= 12
    mean = idata.predictions["in_bed"].values[0].mean(axis=0)
    assert np.argmax(mean) == 5  # the peak on day 6


def test_diagnostics(idata):
    with pytest.warns(cal.CalibrationWarning, match="has not converged"):
        table = diagnostics(idata)  # 250 draws per walker are too few for 50 autocorrelation times
    assert {"r_hat", "ess_bulk", "ess_tail", "autocorr_time", "ok"} <= set(table.columns)
    assert (table["r_hat"] < 1.2).all()


def test_resume_after_an_interruption_gives_the_same_draws(tmp_path, flu_negbin):
    reference = run(start=flu_negbin)
    path = tmp_path / "chain.npz"
    with pytest.raises(KeyboardInterrupt):
        run(start=flu_negbin, checkpoint=path, checkpoint_every=10, callback=interrupt_after(45))
    assert path.exists()
    saved = np.load(path)
    assert int(saved["done"]) == 40  # the last complete checkpoint before the stop
    resumed = run(start=flu_negbin, checkpoint=path, checkpoint_every=10)
    assert resumed.posterior.sizes == reference.posterior.sizes
    np.testing.assert_array_equal(resumed.posterior["beta"].values, reference.posterior["beta"].values)


@pytest.mark.slow
def test_resume_after_a_kill(tmp_path):
    """A sampler killed with SIGKILL mid-run resumes from its checkpoint with the same draws."""
    path = tmp_path / "killed.npz"
    script = (
        "import sys; sys.path.insert(0, %r); sys.path.append(%r)\n"  # this folder; tests/ for mc.py
        "from test_posterior import run\n"
        "run(checkpoint=%r, checkpoint_every=5, draws=16 * 150, tune=50)\n"
    ) % (str(Path(__file__).parent), str(Path(__file__).parent.parent), str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if path.exists() and int(np.load(path)["done"]) >= 30:
                break
            if proc.poll() is not None:
                pytest.fail("the sampler ended before it could be killed: " + proc.stderr.read().decode()[-500:])
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = int(np.load(path)["done"])
    assert 30 <= done < 200
    resumed = run(checkpoint=path, checkpoint_every=5, draws=16 * 150, tune=50, predictive=0)
    assert resumed.posterior.sizes == {"chain": 16, "draw": 150}
    assert resumed.posterior.attrs["steps"] == 200
    reference = run(draws=16 * 150, tune=50, predictive=0)
    np.testing.assert_array_equal(resumed.posterior["gamma"].values, reference.posterior["gamma"].values)


def test_sampling_errors(tmp_path, flu_negbin):
    with pytest.raises(CalibrationError, match="proper prior for every free parameter.*`phi_inv`"):
        cal.sample(flu.build(), flu.data(), {"beta": (0.1, 5), "gamma": (0.05, 2)}, OBSERVE, "negbin")
    with pytest.raises(CalibrationError, match=r"`walkers` must be even and at least twice .* \(6\); got 4"):
        run(walkers=4)
    path = tmp_path / "other.npz"
    with pytest.raises(KeyboardInterrupt):
        run(start=flu_negbin, checkpoint=path, checkpoint_every=5, callback=interrupt_after(5))
    with pytest.raises(CalibrationError, match="belongs to a different run \\(walkers, total differ\\)"):
        run(start=flu_negbin, checkpoint=path, walkers=18)
