"""Goodness-of-fit statistics for historical fit (Sterman 1984; Vensim's payoff report).

All functions take the data ``y`` and model values ``m`` of one series (1-D, equal length).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_statistics", "theil", "durbin_watson", "vensim_payoff"]


def theil(y: np.ndarray, m: np.ndarray) -> tuple[float, float, float]:
    """Theil's inequality proportions ``(U_M, U_S, U_C)`` of the mean squared error.

    ``MSE = (mean(m) - mean(y))**2 + (s_m - s_y)**2 + 2 (1 - r) s_m s_y`` with population
    standard deviations, so the three proportions (bias, unequal variation, unequal
    covariation) sum to one (Sterman 1984).

    Examples
    --------
    >>> um, us, uc = theil(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0]))
    >>> round(um, 12), round(us, 12), round(uc, 12)
    (1.0, 0.0, 0.0)
    """
    y, m = np.asarray(y, float), np.asarray(m, float)
    mse = float(np.mean((m - y) ** 2))
    if mse == 0:
        return 0.0, 0.0, 0.0
    sy, sm = float(np.std(y)), float(np.std(m))
    r = float(np.corrcoef(y, m)[0, 1]) if sy > 0 and sm > 0 else 0.0
    um = (float(np.mean(m)) - float(np.mean(y))) ** 2 / mse
    us = (sm - sy) ** 2 / mse
    uc = 2 * (1 - r) * sm * sy / mse
    return um, us, uc


def durbin_watson(residuals: np.ndarray) -> float:
    """``sum(diff(e)**2) / sum(e**2)``: about 2 without autocorrelation, towards 0 with positive."""
    e = np.asarray(residuals, float)
    denom = float(np.sum(e * e))
    return float(np.sum(np.diff(e) ** 2) / denom) if denom > 0 else float("nan")


def vensim_payoff(y: np.ndarray, m: np.ndarray, weight: float = 1.0) -> float:
    """Vensim's calibration payoff ``-sum((weight * (m - y))**2)`` (maximised by Vensim)."""
    return -float(np.sum((weight * (np.asarray(m, float) - np.asarray(y, float))) ** 2))


def fit_statistics(y: np.ndarray, m: np.ndarray, weight: float = 1.0) -> dict[str, float]:
    """The summary statistics of one series' fit, as a dict.

    Keys: ``n``, ``r2`` (``1 - SSE/SST``, may be negative), ``rmse``, ``mae``, ``mape``
    (percent, over non-zero data), ``durbin_watson``, ``rho1``..``rho4`` (residual
    autocorrelations), ``theil_um``, ``theil_us``, ``theil_uc`` and ``payoff``.
    """
    y, m = np.asarray(y, float), np.asarray(m, float)
    e = m - y
    sst = float(np.sum((y - y.mean()) ** 2))
    nz = y != 0
    out: dict[str, float] = {
        "n": float(len(y)),
        "r2": 1 - float(np.sum(e * e)) / sst if sst > 0 else float("nan"),
        "rmse": float(np.sqrt(np.mean(e * e))),
        "mae": float(np.mean(np.abs(e))),
        "mape": float(100 * np.mean(np.abs(e[nz] / y[nz]))) if nz.any() else float("nan"),
        "durbin_watson": durbin_watson(e),
    }
    ec = e - e.mean()
    denom = float(np.sum(ec * ec))
    for lag in range(1, 5):
        out[f"rho{lag}"] = (float(np.sum(ec[lag:] * ec[:-lag]) / denom) if denom > 0 and len(e) > lag
                            else float("nan"))
    out["theil_um"], out["theil_us"], out["theil_uc"] = theil(y, m)
    out["payoff"] = vensim_payoff(y, m, weight)
    return out
