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


LIKELIHOODS: dict[str, Likelihood] = {
    "normal": Likelihood("normal", _normal, _draw_normal, nuisance="sigma"),
    "lognormal": Likelihood("lognormal", _lognormal, _draw_lognormal, nuisance="sigma", positive=True),
    "poisson": Likelihood("poisson", _poisson, _draw_poisson, counts=True),
    "negbin": Likelihood("negbin", _negbin, _draw_negbin, nuisance="phi_inv", counts=True),
    "wsse": Likelihood("wsse", _wsse, _draw_wsse),
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
