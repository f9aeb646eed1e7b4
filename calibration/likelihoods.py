"""Observation models: log-likelihoods of data given model output, vectorised over runs.

Each function takes the data ``y`` (shape ``(n_obs,)``), the model's mapped output ``m``
(shape ``(n_runs, n_obs)``) and the series' nuisance parameter (shape ``(n_runs,)``) and
returns one log-likelihood per run. The formulas are those of
``references/LOOPS_AND_CALIBRATION.md`` B2.

========== ============================================== ====================================
name       observation model                              nuisance parameter
========== ============================================== ====================================
normal     ``y ~ Normal(m, sigma)``                       ``sigma`` (estimated unless given)
lognormal  ``log y ~ Normal(log m, sigma)`` (Vensim \\*CL) ``sigma``
poisson    ``y ~ Poisson(m)``                             none
negbin     ``y ~ NegBinomial2(m, phi)``, NB2:             ``phi_inv = 1 / phi``
           variance ``m + m**2 / phi`` (Stan's
           ``neg_binomial_2``; scipy ``nbinom(n=phi,
           p=phi / (m + phi))``)
wsse       ``-1/2 * sum((weight * (m - y))**2)``: the     none
           Vensim ``*C`` payoff / 2, a normal likelihood
           with ``sigma = 1 / weight`` up to a constant
========== ============================================== ====================================

Poisson and negative-binomial means are floored at ``1e-5`` so that ``log 0`` never occurs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from .errors import CalibrationError

__all__ = ["Likelihood", "LIKELIHOODS", "get_likelihood", "MEAN_FLOOR"]

MEAN_FLOOR = 1e-5
_LOG_2PI = float(np.log(2 * np.pi))


def _normal(y: np.ndarray, m: np.ndarray, sigma: np.ndarray, weight: float) -> np.ndarray:
    s = sigma[:, None]
    return -0.5 * np.sum(((y - m) / s) ** 2 + np.log(s * s) + _LOG_2PI, axis=1)


def _lognormal(y: np.ndarray, m: np.ndarray, sigma: np.ndarray, weight: float) -> np.ndarray:
    s = sigma[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = np.where(m > 0, np.log(np.where(m > 0, m, 1.0)), -np.inf)
    ly = np.log(y)
    out = -np.sum((ly - lm) ** 2 / (2 * s * s) + np.log(s) + 0.5 * _LOG_2PI + ly, axis=1)
    return np.where(np.isnan(out), -np.inf, out)


def _poisson(y: np.ndarray, m: np.ndarray, nuisance: np.ndarray, weight: float) -> np.ndarray:
    mu = np.maximum(m, MEAN_FLOOR)
    return np.sum(y * np.log(mu) - mu - gammaln(y + 1), axis=1)


def _negbin(y: np.ndarray, m: np.ndarray, phi_inv: np.ndarray, weight: float) -> np.ndarray:
    mu = np.maximum(m, MEAN_FLOOR)
    phi = 1.0 / phi_inv[:, None]
    return np.sum(
        gammaln(y + phi) - gammaln(phi) - gammaln(y + 1)
        + phi * np.log(phi / (mu + phi)) + y * np.log(mu / (mu + phi)),
        axis=1,
    )


def _wsse(y: np.ndarray, m: np.ndarray, nuisance: np.ndarray, weight: float) -> np.ndarray:
    return -0.5 * np.sum((weight * (m - y)) ** 2, axis=1)


def _draw_normal(rng: np.random.Generator, m: np.ndarray, sigma: np.ndarray, weight: float) -> np.ndarray:
    return rng.normal(m, sigma[:, None])


def _draw_lognormal(rng: np.random.Generator, m: np.ndarray, sigma: np.ndarray, weight: float) -> np.ndarray:
    return np.exp(rng.normal(np.log(np.maximum(m, MEAN_FLOOR)), sigma[:, None]))


def _draw_poisson(rng: np.random.Generator, m: np.ndarray, nuisance: np.ndarray, weight: float) -> np.ndarray:
    return rng.poisson(np.maximum(m, MEAN_FLOOR)).astype(float)


def _draw_negbin(rng: np.random.Generator, m: np.ndarray, phi_inv: np.ndarray, weight: float) -> np.ndarray:
    phi = 1.0 / phi_inv[:, None]
    mu = np.maximum(m, MEAN_FLOOR)
    return rng.negative_binomial(phi, phi / (mu + phi)).astype(float)


def _draw_wsse(rng: np.random.Generator, m: np.ndarray, nuisance: np.ndarray, weight: float) -> np.ndarray:
    return rng.normal(m, 1.0 / weight)


# -- score and expected information in the mean: Fisher scoring (calibration.optimize) ---------
# score = d loglik / d m per observation; information = E[-d2 loglik / d m2]. The weight is
# applied by the caller as for the log-likelihood.
def _score_normal(y: np.ndarray, m: np.ndarray, sigma: np.ndarray, weight: float) -> np.ndarray:
    return (y - m) / sigma[:, None] ** 2


def _info_normal(m: np.ndarray, sigma: np.ndarray, weight: float) -> np.ndarray:
    return np.broadcast_to(1.0 / sigma[:, None] ** 2, m.shape)


def _score_lognormal(y: np.ndarray, m: np.ndarray, sigma: np.ndarray, weight: float) -> np.ndarray:
    mu = np.maximum(m, MEAN_FLOOR)
    return (np.log(y) - np.log(mu)) / (sigma[:, None] ** 2 * mu)


def _info_lognormal(m: np.ndarray, sigma: np.ndarray, weight: float) -> np.ndarray:
    mu = np.maximum(m, MEAN_FLOOR)
    return 1.0 / (sigma[:, None] ** 2 * mu * mu)


def _score_poisson(y: np.ndarray, m: np.ndarray, nuisance: np.ndarray, weight: float) -> np.ndarray:
    mu = np.maximum(m, MEAN_FLOOR)
    return y / mu - 1.0


def _info_poisson(m: np.ndarray, nuisance: np.ndarray, weight: float) -> np.ndarray:
    return 1.0 / np.maximum(m, MEAN_FLOOR)


def _score_negbin(y: np.ndarray, m: np.ndarray, phi_inv: np.ndarray, weight: float) -> np.ndarray:
    mu = np.maximum(m, MEAN_FLOOR)
    return (y - mu) / (mu * (1.0 + mu * phi_inv[:, None]))


def _info_negbin(m: np.ndarray, phi_inv: np.ndarray, weight: float) -> np.ndarray:
    mu = np.maximum(m, MEAN_FLOOR)
    return 1.0 / (mu * (1.0 + mu * phi_inv[:, None]))


def _score_wsse(y: np.ndarray, m: np.ndarray, nuisance: np.ndarray, weight: float) -> np.ndarray:
    return weight * weight * (y - m)


def _info_wsse(m: np.ndarray, nuisance: np.ndarray, weight: float) -> np.ndarray:
    return np.full(m.shape, weight * weight)


# -- the maximum over the nuisance parameter for given model values (no simulation) -------------
def _best_sigma(y: np.ndarray, m: np.ndarray, lower: float, upper: float) -> np.ndarray:
    s = np.sqrt(np.mean((y - m) ** 2, axis=1))
    return np.clip(s, max(lower, 1e-300), upper)


def _best_log_sigma(y: np.ndarray, m: np.ndarray, lower: float, upper: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sqrt(np.mean((np.log(y) - np.log(np.maximum(m, MEAN_FLOOR))) ** 2, axis=1))
    return np.clip(np.nan_to_num(s, nan=1.0), max(lower, 1e-300), upper)


def _best_phi_inv(y: np.ndarray, m: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """The NB2 dispersion maximising the log-likelihood of each run: a log-spaced grid, then
    golden-section search in ``log phi_inv`` around the best grid point (vectorised over runs)."""
    lo = math.log(max(lower, 1e-9))
    hi = math.log(min(upper, 1e3))
    if hi <= lo:
        return np.full(m.shape[0], math.exp(lo))
    grid = np.linspace(lo, hi, 33)
    one = np.ones(m.shape[0])
    vals = np.array([_negbin(y, m, one * math.exp(u), 1.0) for u in grid])  # (grid, runs)
    vals = np.where(np.isfinite(vals), vals, -np.inf)
    best = np.argmax(vals, axis=0)
    step = grid[1] - grid[0]
    a = np.clip(grid[best] - step, lo, hi)
    b = np.clip(grid[best] + step, lo, hi)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _negbin(y, m, np.exp(c), 1.0), _negbin(y, m, np.exp(d), 1.0)
    for _ in range(40):  # the bracket shrinks by 0.618 each time: 40 steps reach 1e-9 of it
        left = fc >= fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new_c, new_d = b - ratio * (b - a), a + ratio * (b - a)
        c_eval = np.where(left, new_c, d)
        d_eval = np.where(left, c, new_d)
        fc_new = np.where(left, _negbin(y, m, np.exp(new_c), 1.0), fd)
        fd_new = np.where(left, fc, _negbin(y, m, np.exp(new_d), 1.0))
        c, d, fc, fd = c_eval, d_eval, fc_new, fd_new
    return np.exp(0.5 * (a + b))


@dataclass(frozen=True)
class Likelihood:
    """One observation model.

    Attributes
    ----------
    name : str
        Its name in the API (``likelihood="negbin"``).
    loglik : callable
        ``(y, m, nuisance, weight) -> (n_runs,)`` log-likelihoods.
    draw : callable
        ``(rng, m, nuisance, weight) -> (n_runs, n_obs)`` simulated observations.
    nuisance : str or None
        The name of the estimated scale/dispersion parameter, if any.
    counts : bool
        Whether the data must be non-negative counts.
    positive : bool
        Whether the data must be strictly positive.
    score, information : callable
        ``d loglik / d m`` per observation, ``(y, m, nuisance, weight)``, and its expected
        negative derivative ``E[-d2 loglik / d m2]``, ``(m, nuisance, weight)``: the pieces of
        Fisher scoring.
    best_nuisance : callable or None
        ``(y, m, lower, upper) -> (n_runs,)``: the nuisance parameter that maximises the
        log-likelihood for given model values (closed form for sigma; a one-dimensional search
        for the NB2 dispersion), within its bounds.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> nb = get_likelihood("negbin")
    >>> y, m = np.array([3.0, 10.0]), np.array([[4.0, 8.0]])
    >>> ours = nb.loglik(y, m, np.array([0.5]), 1.0)[0]
    >>> ref = stats.nbinom(2.0, 2.0 / (m + 2.0)).logpmf(y).sum()
    >>> bool(np.isclose(ours, ref))
    True
    """

    name: str
    loglik: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]
    draw: Callable[[np.random.Generator, np.ndarray, np.ndarray, float], np.ndarray]
    nuisance: str | None = None
    counts: bool = False
    positive: bool = False
    score: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray] | None = None
    information: Callable[[np.ndarray, np.ndarray, float], np.ndarray] | None = None
    best_nuisance: Callable[[np.ndarray, np.ndarray, float, float], np.ndarray] | None = None


LIKELIHOODS: dict[str, Likelihood] = {
    "normal": Likelihood("normal", _normal, _draw_normal, nuisance="sigma", score=_score_normal,
                         information=_info_normal, best_nuisance=_best_sigma),
    "lognormal": Likelihood("lognormal", _lognormal, _draw_lognormal, nuisance="sigma", positive=True,
                            score=_score_lognormal, information=_info_lognormal, best_nuisance=_best_log_sigma),
    "poisson": Likelihood("poisson", _poisson, _draw_poisson, counts=True, score=_score_poisson,
                          information=_info_poisson),
    "negbin": Likelihood("negbin", _negbin, _draw_negbin, nuisance="phi_inv", counts=True, score=_score_negbin,
                         information=_info_negbin, best_nuisance=_best_phi_inv),
    "wsse": Likelihood("wsse", _wsse, _draw_wsse, score=_score_wsse, information=_info_wsse),
}
_ALIASES = {"gaussian": "normal", "nb": "negbin", "nb2": "negbin", "negative_binomial": "negbin",
            "sse": "wsse", "vensim": "wsse", "payoff": "wsse"}


def get_likelihood(name: str) -> Likelihood:
    """The observation model called `name` (see the module table; "sse" and "vensim" mean "wsse")."""
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in LIKELIHOODS:
        raise CalibrationError(
            f"Unknown likelihood `{name}`; choose one of {', '.join(LIKELIHOODS)}."
        )
    return LIKELIHOODS[key]
