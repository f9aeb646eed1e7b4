"""Monte Carlo error for statistical tests: seeds that can be changed, tolerances from the error.

A statistical test checks a random estimate against an independent reference. Its tolerance is
``Z`` standard errors of that estimate, the standard error derived from the draws themselves
(effective sample size for correlated chains, binomial error for coverage), so the test passes
for any seed and machine with probability about ``1 - 6e-5`` per check, and still fails when the
estimate is biased by a few standard errors.

Every seeded statistical test takes its seed through :func:`seed`: setting the environment
variable ``SDFLOW_TEST_SEED_OFFSET`` (e.g. ``SDFLOW_TEST_SEED_OFFSET=1000 make test``) reruns
all of them on other random numbers.
"""

from __future__ import annotations

import math
import os

import arviz as az

az.Numba.disable_numba()  # arviz's numba path fails with numpy 2 (see calibration.posterior._arviz)
import numpy as np

__all__ = ["Z", "SEED_OFFSET", "seed", "binomial_lower_bound", "mcse_mean", "mcse_sd", "mcse_quantile",
           "grid_marginal"]

#: Standard errors allowed: a two-sided normal tail of 6e-5 per check.
Z = 4.0
SEED_OFFSET = int(os.environ.get("SDFLOW_TEST_SEED_OFFSET", "0"))


def seed(base: int) -> int:
    """The seed a statistical test uses: its own `base`, shifted by ``SDFLOW_TEST_SEED_OFFSET``."""
    return base + SEED_OFFSET


def binomial_lower_bound(p: float, n: int, z: float = Z) -> float:
    """The lowest hit rate of `n` independent trials with success probability `p` that is not
    `z` binomial standard errors below `p`."""
    return p - z * math.sqrt(p * (1 - p) / n)


def _chains(draws: np.ndarray) -> np.ndarray:
    draws = np.asarray(draws, dtype=float)
    return draws[None, :] if draws.ndim == 1 else draws


def mcse_mean(draws: np.ndarray) -> float:
    """Monte Carlo standard error of the mean of `draws` (``(chain, draw)``), from arviz's bulk ESS."""
    return float(az.mcse(_chains(draws), method="mean"))


def mcse_sd(draws: np.ndarray) -> float:
    """Monte Carlo standard error of the standard deviation of `draws` (``(chain, draw)``)."""
    return float(az.mcse(_chains(draws), method="sd"))


def mcse_quantile(draws: np.ndarray, prob: float, density: float) -> float:
    """Monte Carlo standard error of the `prob` quantile of `draws` (``(chain, draw)``).

    The asymptotic variance of a sample quantile, ``p (1 - p) / (ESS f(q)^2)``, with the ESS of
    the indicator ``x <= q`` from arviz and the density `density` at the quantile taken from the
    reference distribution: estimating the density from the draws would add its own noise in
    the tails.
    """
    ess = float(az.ess(_chains(draws), method="quantile", prob=prob))
    return math.sqrt(prob * (1 - prob) / ess) / density


def grid_marginal(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CDF of a quantity over a quadrature grid, at the edges of its cells.

    `values` (the quantity at each grid point) and `weights` (summing to 1) describe the
    distribution; each distinct value holds its summed weight spread evenly over the cell
    between the midpoints to its neighbours. Spreading it matters: a parameter of the grid
    takes one value on a whole slice of points, and reading quantiles off the raw points would
    snap them to the grid (half a step: 0.15 posterior sd for a 61-point grid).
    Returns ``(edges, cdf)`` for :func:`numpy.interp`.
    """
    u, inverse = np.unique(np.ravel(values), return_inverse=True)
    mass = np.bincount(inverse, weights=np.ravel(weights))
    mid = (u[1:] + u[:-1]) / 2
    first = u[0] - (mid[0] - u[0]) if len(u) > 1 else u[0] - 0.5
    last = u[-1] + (u[-1] - mid[-1]) if len(u) > 1 else u[-1] + 0.5
    edges = np.concatenate([[first], mid, [last]])
    return edges, np.concatenate([[0.0], np.cumsum(mass)])
