"""Calibration of sdflow models: fit parameters to historical data, with uncertainty.

>>> import calibration as cal
>>> from calibration.examples import flu
>>> result = cal.fit(flu.build(), flu.data(), params={"beta": (0.1, 5.0), "gamma": (0.05, 2.0)},
...                  observe={"Infected": "in_bed"}, likelihood="negbin", derived={"R0": "beta / gamma"})
>>> round(result.derived["R0"], 1)
3.2

The main entry points are :func:`fit` (maximum likelihood, intervals from curvature or
profile likelihood) and :func:`sample` (emcee posterior as arviz InferenceData). Both
evaluate every batch of parameter sets with one ensemble simulation.
"""

from __future__ import annotations

from .errors import CalibrationError, CalibrationWarning, DataError, NotIdentifiableWarning
from .fit import FitResult, build_problem, fit
from .likelihoods import LIKELIHOODS, get_likelihood
from .observations import Observations, Observe, Series, make_observations, model_times, read_data
from .parameters import Parameter
from .problem import CalibrationProblem
from .statistics import fit_statistics, theil, vensim_payoff

__all__ = [
    "fit",
    "sample",
    "FitResult",
    "Observe",
    "Parameter",
    "Observations",
    "Series",
    "CalibrationProblem",
    "build_problem",
    "make_observations",
    "model_times",
    "read_data",
    "get_likelihood",
    "LIKELIHOODS",
    "fit_statistics",
    "theil",
    "vensim_payoff",
    "CalibrationError",
    "DataError",
    "CalibrationWarning",
    "NotIdentifiableWarning",
]


def __getattr__(name: str) -> object:
    # emcee and arviz load only when a posterior is asked for.
    if name == "sample":
        from .posterior import sample

        return sample
    raise AttributeError(f"module 'calibration' has no attribute {name!r}")
