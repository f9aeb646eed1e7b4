"""Parameter recovery on synthetic data from the whole-system model: four series at once.

Monthly attendances and 4-hour breaches (an expression over model variables), weekly bed
occupancy with a quarter of the weeks missing, and quarterly delayed bed days, all in one
frame (``wsf_synthetic``: made with the engine's own run and pandas, not with calibration's
code). Four model parameters and four nuisance parameters are estimated.
"""

import warnings

import numpy as np
import pytest
from scipy import stats

import calibration as cal
import wsf_synthetic as W
from mc import Z, seed


@pytest.fixture(scope="module")
def means():
    return W.expected(W.daily())


def _fit(means, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a dispersion estimated at 0 in one seed is reported, not an error
        return W.fit(W.noisy(means, seed))


def _mahalanobis(fit) -> float:
    """(estimate - truth)' Sigma^-1 (estimate - truth) over the model parameters, Sigma from the curvature."""
    names = list(W.TRUE)
    diff = np.array([fit.params[n] - W.TRUE[n] for n in names])
    cov = fit.cov.loc[names, names].to_numpy()
    return float(diff @ np.linalg.solve(cov, diff))


def test_each_series_has_its_own_period(means):
    problem = cal.build_problem(W.MODEL, W.noisy(means, 0), dict(W.BOUNDS), W.observe(), origin=W.ORIGIN)
    series = {s.column: s for s in problem.observations.series}
    assert series["attendances"].frequency == "monthly" and series["attendances"].n_used == 18
    assert series["breaches"].variable == "ED attendances * (1 - four hour performance)"
    assert series["occupancy"].frequency == "weekly"       # inferred from the column's own gapped rows
    assert series["dtoc_bed_days"].frequency == "quarterly" and series["dtoc_bed_days"].n_used == 6
    dtoc = series["dtoc_bed_days"]
    rows = ~np.isnan(dtoc.values)  # the quarters the column reports (other rows of the frame are gaps)
    np.testing.assert_array_equal(np.unique(dtoc.end[rows] - dtoc.start[rows]), [90, 91, 92])
    # the model at the true values reproduces the noise-free series that pandas summed day by day
    theta = np.array([[W.TRUE.get(n, 0.01) for n in problem.names]])
    preds, _ = problem.predict(theta)
    for s, m in zip(problem.observations.series, preds):
        expected = means[s.column].reindex(s.labels).to_numpy()
        present = ~np.isnan(s.values)
        np.testing.assert_allclose(m[0][present], expected[present], rtol=1e-9)


def test_recovery_is_calibrated_over_two_seeds(means):
    # For each seed, d = (theta_hat - theta)' Sigma^-1 (theta_hat - theta) over the k = 4 model
    # parameters is asymptotically chi-square with 4 degrees of freedom (large counts, a
    # smooth likelihood); for two independent seeds the sum is chi-square with 8. The sum must
    # lie between the quantiles of a Z-standard-error normal tail (3.2e-5 and 1 - 3.2e-5: 0.34
    # and 34.6), so the test fails by chance once in 16,000 runs, and fails when the estimates
    # are biased or the intervals too narrow (large sum) or far too wide (tiny sum).
    total = sum(_mahalanobis(_fit(means, seed(s))) for s in (101, 102))
    k, tail = 2 * len(W.TRUE), stats.norm.sf(Z)
    assert stats.chi2.ppf(tail, k) < total < stats.chi2.isf(tail, k), total


@pytest.mark.slow
def test_95_percent_intervals_cover_the_truth_over_seeds():
    # 20 independent data sets of three years (36 months, 12 quarters, about 150 weeks). Each
    # 95% interval covers its true value with probability 0.95, so each parameter's count of
    # covering intervals is Binomial(20, 0.95): mean 19, standard deviation
    # sqrt(20 * 0.95 * 0.05) = 0.97. Four standard deviations below the mean is 15.1: at least
    # 15 of 20 must cover (a correct procedure falls below with probability 3e-4 per
    # parameter). With shorter series the dispersions, estimated from few values, come out
    # low and the intervals undercover (23 of 30 eighteen-month data sets for the parameter
    # set by six quarterly values): see the README.
    long_means = W.expected(W.daily(last=W.LAST_LONG))
    n = 20
    covered = {name: 0 for name in W.TRUE}
    for i in range(n):
        fit = _fit(long_means, seed(1000 + i))
        for name, value in W.TRUE.items():
            lo, hi = fit.ci.loc[name, ["lower", "upper"]]
            covered[name] += bool(lo <= value <= hi)
    assert all(c >= 15 for c in covered.values()), covered


def test_origin_is_the_models_start_date(means):
    # The whole-system model runs on a calendar: its start date is the origin of dated data. Left
    # out, the start date is used; another date would shift its seasons and history silently.
    frame = W.noisy(means, 0)
    implied = cal.build_problem(W.MODEL, frame, dict(W.BOUNDS), W.observe())
    stated = cal.build_problem(W.MODEL, frame, dict(W.BOUNDS), W.observe(), origin=W.ORIGIN)
    for a, b in zip(implied.observations.series, stated.observations.series):
        np.testing.assert_array_equal(a.start, b.start)
    with pytest.raises(cal.CalibrationError, match=r"`origin` \(2016-01-01\) is not the start date of model "
                                                   r"`whole system flow` \(2018-04-01\)"):
        cal.build_problem(W.MODEL, frame, dict(W.BOUNDS), W.observe(), origin="2016-01-01")
