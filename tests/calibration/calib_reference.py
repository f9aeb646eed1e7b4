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
