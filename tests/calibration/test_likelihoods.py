"""Observation models against scipy.stats and the Vensim payoff relation (reference B1/B2)."""

import numpy as np
import pytest
from scipy import stats

from calibration import CalibrationError, get_likelihood, vensim_payoff
from calibration.likelihoods import MEAN_FLOOR

RNG = np.random.default_rng(7)
Y = RNG.poisson(40, size=12).astype(float)
M = RNG.uniform(20, 60, size=(3, 12))


def test_normal_matches_scipy():
    sigma = np.array([2.0, 5.0, 11.0])
    ours = get_likelihood("normal").loglik(Y, M, sigma, 1.0)
    ref = [stats.norm(M[i], sigma[i]).logpdf(Y).sum() for i in range(3)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_lognormal_matches_scipy():
    sigma = np.array([0.1, 0.3, 0.7])
    ours = get_likelihood("lognormal").loglik(Y, M, sigma, 1.0)
    ref = [stats.lognorm(s=sigma[i], scale=M[i]).logpdf(Y).sum() for i in range(3)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_poisson_matches_scipy():
    ours = get_likelihood("poisson").loglik(Y, M, np.ones(3), 1.0)
    np.testing.assert_allclose(ours, stats.poisson(M).logpmf(Y).sum(axis=1), rtol=1e-12)


def test_negbin_is_nb2_as_in_stan():
    # NB2: mean mu, variance mu + mu^2/phi; scipy nbinom(n=phi, p=phi/(mu+phi)); phi_inv = 1/phi.
    phi_inv = np.array([0.01, 0.2, 1.5])
    ours = get_likelihood("negbin").loglik(Y, M, phi_inv, 1.0)
    phi = 1 / phi_inv[:, None]
    ref = stats.nbinom(phi, phi / (M + phi)).logpmf(Y).sum(axis=1)
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    mu, ph = 30.0, 4.0
    assert np.isclose(stats.nbinom(ph, ph / (mu + ph)).var(), mu + mu**2 / ph)


def test_negbin_tends_to_poisson():
    nb = get_likelihood("negbin").loglik(Y, M, np.full(3, 1e-9), 1.0)
    po = get_likelihood("poisson").loglik(Y, M, np.ones(3), 1.0)
    np.testing.assert_allclose(nb, po, rtol=1e-6)


def test_count_means_are_floored():
    ll = get_likelihood("poisson").loglik(np.array([0.0, 2.0]), np.array([[0.0, -3.0]]), np.ones(1), 1.0)
    assert np.isfinite(ll).all()
    assert np.isclose(ll[0], stats.poisson(MEAN_FLOOR).logpmf([0, 2]).sum())


def test_wsse_is_half_the_vensim_payoff_and_a_normal_likelihood():
    w = 0.25
    ours = get_likelihood("wsse").loglik(Y, M, np.ones(3), w)
    payoff = np.array([vensim_payoff(Y, M[i], w) for i in range(3)])
    np.testing.assert_allclose(ours, payoff / 2)
    # with weight = 1/sigma it differs from the normal log-likelihood by a constant
    normal = get_likelihood("normal").loglik(Y, M, np.full(3, 1 / w), 1.0)
    diffs = normal - ours
    np.testing.assert_allclose(diffs, diffs[0])


def test_draws_have_the_right_moments():
    rng = np.random.default_rng(1)
    m = np.full((20000, 1), 50.0)
    draws = get_likelihood("negbin").draw(rng, m, np.full(20000, 0.5), 1.0)
    assert abs(draws.mean() - 50) < 1.5
    assert abs(draws.var() / (50 + 50**2 * 0.5) - 1) < 0.1


def test_unknown_likelihood():
    with pytest.raises(CalibrationError, match="Unknown likelihood `binomial`"):
        get_likelihood("binomial")
    assert get_likelihood("NB2").name == "negbin" and get_likelihood("vensim").name == "wsse"
