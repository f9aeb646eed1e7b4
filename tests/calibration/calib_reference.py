"""Helpers shared by the calibration tests: flu fits and an independent ODE reference."""

import warnings

import numpy as np
from scipy import optimize, stats
from scipy.integrate import solve_ivp

import calibration as cal
from calibration.examples import flu

FLU_PARAMS = {"beta": (0.1, 5.0), "gamma": (0.05, 2.0)}
DERIVED = {"R0": "beta / gamma", "recovery time": "1 / gamma"}


def flu_fit(likelihood, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", cal.NotIdentifiableWarning)
        return cal.fit(flu.build(), flu.data(), FLU_PARAMS, {"Infected": "in_bed"}, likelihood, derived=DERIVED, **kw)


def ode_infected(beta, gamma, days=np.arange(1, 15)):
    """I(t) of the SIR ODE by scipy's DOP853 at tight tolerance: the reference, independent of sd_engine."""
    n = flu.N

    def rhs(t, y):
        s, i = y[0], y[1]
        inf = beta * s * i / n
        return [-inf, inf - gamma * i]

    sol = solve_ivp(rhs, (0, days[-1]), [n - 1, 1], method="DOP853", rtol=1e-11, atol=1e-11, t_eval=days)
    return sol.y[1]


def direct_fit(likelihood):
    """Maximum likelihood of the ODE written out by hand, with scipy.stats likelihoods and Nelder-Mead."""
    y = np.array(flu.IN_BED, dtype=float)

    def nll(x):
        beta, gamma, extra = np.exp(x[0]), np.exp(x[1]), np.exp(x[2]) if len(x) > 2 else None
        m = ode_infected(beta, gamma)
        if likelihood == "negbin":
            phi = 1 / extra
            return -stats.nbinom(phi, phi / (m + phi)).logpmf(y).sum()
        if likelihood == "poisson":
            return -stats.poisson(m).logpmf(y).sum()
        return -stats.norm(m, extra).logpdf(y).sum()

    x0 = np.log([1.8, 0.5] + ([0.1] if likelihood == "negbin" else [15.0] if likelihood == "normal" else []))
    res = optimize.minimize(nll, x0, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 5000,
                                                                      "maxfev": 10000})
    return np.exp(res.x), -res.fun


def grid_posterior(betas, gammas, phi_invs):
    """The flu posterior under the Stan case study's priors, by quadrature on a grid.

    Independent of sd_engine and of the sampler: scipy's ODE solution, scipy.stats densities,
    and the posterior normalised over the grid (returns weights over the ``(beta, gamma,
    phi_inv)`` grid summing to 1).
    """
    y = np.array(flu.IN_BED, dtype=float)
    b, g = (a.ravel() for a in np.meshgrid(betas, gammas, indexing="ij"))
    n, k = flu.N, len(b)

    def rhs(t, state):  # every (beta, gamma) pair of the grid in one system
        s, i = state[:k], state[k:]
        inf = b * s * i / n
        return np.concatenate([-inf, inf - g * i])

    days = np.arange(1, 15)
    start = np.concatenate([np.full(k, n - 1.0), np.ones(k)])
    sol = solve_ivp(rhs, (0, days[-1]), start, method="DOP853", rtol=1e-10, atol=1e-10, t_eval=days)
    m = sol.y[k:]                                                            # (pairs, days)
    phi = 1 / phi_invs
    loglik = stats.nbinom(phi[None, :, None], phi[None, :, None] / (m[:, None, :] + phi[None, :, None])).logpmf(
        y).sum(axis=2)                                                       # (pairs, phi_inv)
    logp = (loglik + stats.norm(2, 1).logpdf(b)[:, None] + stats.norm(0.4, 0.5).logpdf(g)[:, None]
            + stats.expon(scale=1 / 5).logpdf(phi_invs)[None, :]).reshape(len(betas), len(gammas), len(phi_invs))
    w = np.exp(logp - logp.max())
    return w / w.sum()

