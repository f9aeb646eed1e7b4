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

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from .errors import CalibrationError, CalibrationWarning, DataError, NotIdentifiableWarning
    from .fit import FitResult, build_problem, fit
    from .likelihoods import LIKELIHOODS, get_likelihood
    from .observations import Observations, Observe, Series, make_observations, model_times, read_data
    from .parameters import Parameter
    from .posterior import sample
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


# Submodules load on first use (lazy_loader, SPEC 1): the `sdflow` command registers its
# subcommands without importing what they run, and emcee and arviz load only for a posterior.
__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs={
    "errors": ["CalibrationError", "CalibrationWarning", "DataError", "NotIdentifiableWarning"],
    "fit": ["FitResult", "build_problem", "fit"],
    "posterior": ["sample"],
    "likelihoods": ["LIKELIHOODS", "get_likelihood"],
    "observations": ["Observations", "Observe", "Series", "make_observations", "model_times", "read_data"],
    "parameters": ["Parameter"],
    "problem": ["CalibrationProblem"],
    "statistics": ["fit_statistics", "theil", "vensim_payoff"],
})
