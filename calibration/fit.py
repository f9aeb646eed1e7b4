"""Maximum-likelihood calibration: :func:`fit` and its :class:`FitResult`.

>>> import calibration as cal
>>> from calibration.examples import flu
>>> result = cal.fit(flu.build(), flu.data(), params={"beta": (0.1, 5.0), "gamma": (0.05, 2.0)},
...                  observe={"Infected": "in_bed"}, likelihood="negbin")
>>> 1.5 < result.params["beta"] < 2.0 and 0.4 < result.params["gamma"] < 0.6
True
"""

from __future__ import annotations

import dataclasses
import math
import time as _time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .derived import Derived, make_derived
from .errors import CalibrationError, CalibrationWarning, NotIdentifiableWarning
from .observations import ObserveSpec, make_observations
from .optimize import (
    LocalResult,
    Profile,
    derived_gradient,
    differential_evolution,
    hessian_z,
    information_z,
    least_squares_fit,
    multistart,
    profile_function,
    profile_parameter,
    threshold,
)
from .parameters import Parameter, as_parameter
from .problem import CalibrationProblem, as_spec
from sd_engine.expr import canonical
from sd_engine.progress import progress_bar
from .statistics import fit_statistics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["fit", "FitResult", "build_problem"]

Method = Literal["multistart", "de", "least_squares"]
CIMethod = Literal["curvature", "profile", "none"]
_CORRELATED = 0.95
_UNIDENTIFIED = 0.995  # |r| beyond this: only a combination is determined
_ON_BOUND = 1e-3  # an estimate this close to a bound (relative to the range) lies on it


def build_problem(model: Any, data: Any, params: Mapping[str, Any], observe: ObserveSpec,
                  likelihood: str = "normal", *, time: str | None = None, origin: Any = None,
                  period: float | str | None = None, label: Literal["start", "end"] = "start",
                  window: tuple[Any, Any] | None = None, exclude: Iterable[tuple[Any, Any]] = (),
                  holdout: tuple[Any, Any] | None = None, run_options: Mapping[str, Any] | None = None,
                  inputs: Mapping[str, Any] | None = None, warmup: float = 0.0,
                  population: float | None = None) -> CalibrationProblem:
    """The :class:`~calibration.problem.CalibrationProblem` behind :func:`fit` and :func:`sample`."""
    spec = as_spec(model)
    if not params:
        raise CalibrationError("No parameters to calibrate: give `params={name: (lower, upper)}`.")
    params = dict(params)
    if population is not None:
        if "population" not in spec or spec["population"].kind != "constant":
            raise CalibrationError(f"Model `{spec.name}` has no constant `population` to scale to the local "
                                   "footprint; fix the constant that sets its size in `params` instead.")
        if any(canonical(n) == "population" for n in params):
            raise CalibrationError("`population` is given twice, as `population=` and in `params`; give it once.")
        if not (isinstance(population, (int, float)) and math.isfinite(population) and population > 0):
            raise CalibrationError(f"`population` must be a positive number of people, not {population!r}.")
        params["population"] = float(population)
    obs = make_observations(spec, data, observe, time=time, origin=origin, period=period, label=label,
                            window=window, exclude=exclude, holdout=holdout,
                            final_time=spec.time.final_time)
    parameters = [as_parameter(name, value) for name, value in params.items()]
    return CalibrationProblem(spec, obs, parameters, likelihood, run_options, inputs=inputs, warmup=warmup)


@dataclass(frozen=True, eq=False)
class FitResult:
    """The result of :func:`fit`.

    Attributes
    ----------
    params : dict
        Estimates of the free parameters (and the values of fixed ones) by name.
    derived : dict
        Estimates of the derived quantities.
    ci : pandas.DataFrame
        One row per free parameter and derived quantity: ``estimate``, ``lower``, ``upper``,
        ``se`` (from the curvature) and ``method`` ("profile" or "curvature"); intervals at
        ``level``.
    cov, corr : pandas.DataFrame
        Covariance and correlation of the free parameters from the curvature (inverse
        Hessian of the negative log-likelihood).
    loglik, aic, bic : float
        Maximised log-likelihood and information criteria.
    statistics : pandas.DataFrame
        In sample, per series: R², RMSE, MAPE, Durbin-Watson, residual autocorrelations,
        Theil's proportions and Vensim's payoff (:func:`calibration.statistics.fit_statistics`).
    validation : pandas.DataFrame
        The same statistics out of sample: over each series' held-out rows (``holdout=``, or
        the rows after the calibration ``window``); empty when nothing is held out.
    on_bound : dict
        Parameters whose estimate lies on a bound of their range: name -> "lower" or "upper".
    starts : pandas.DataFrame
        Every local optimisation: start, end, log-likelihood, convergence.
    identifiable : dict
        ``False`` for a parameter the data do not determine (see ``warnings``).
    """

    problem: CalibrationProblem = field(repr=False)
    params: dict[str, float]
    derived: dict[str, float]
    ci: pd.DataFrame
    cov: pd.DataFrame
    corr: pd.DataFrame
    loglik: float
    n_obs: int
    statistics: pd.DataFrame
    validation: pd.DataFrame
    on_bound: dict[str, str]
    starts: pd.DataFrame
    identifiable: dict[str, bool]
    warnings: tuple[str, ...]
    method: str
    level: float
    z: np.ndarray = field(repr=False)
    hessian: np.ndarray = field(repr=False)
    predictions: tuple[np.ndarray, ...] = field(repr=False)
    profiles: dict[str, Profile] = field(default_factory=dict, repr=False)
    derived_functions: dict[str, Derived] = field(default_factory=dict, repr=False)
    n_simulations: int = 0
    elapsed: float = 0.0

    @property
    def n_free(self) -> int:
        return len(self.problem.free)

    @property
    def aic(self) -> float:
        return 2 * self.n_free - 2 * self.loglik

    @property
    def bic(self) -> float:
        return self.n_free * math.log(self.n_obs) - 2 * self.loglik

    @property
    def theta(self) -> np.ndarray:
        """The free parameters' estimates as a vector (in ``problem.names`` order)."""
        return np.array([self.params[n] for n in self.problem.names])

    # -- use ------------------------------------------------------------------------------------
    def simulate(self, **run: Any) -> xr.Dataset:
        """Run the model with the fitted values, its inputs and warm-up (keyword arguments go to
        :meth:`sd_engine.CompiledModel.run`; by default from the start of the warm-up)."""
        from sd_engine.compile import compile_model
        from sd_engine.initial import with_initial_parameters

        problem = self.problem
        model = compile_model(problem.model_spec)
        if problem.initial_stocks:
            model = with_initial_parameters(model, problem.initial_stocks)
        params = {key: float(v[0]) for key, v in problem.model_params(self.theta[None, :]).items()}
        run.setdefault("initial_time", problem.t_start)
        return model.run(params=params, **run)

    def table(self) -> pd.DataFrame:
        """The estimates and intervals (``ci``)."""
        return self.ci

    def fitted(self) -> pd.DataFrame:
        """Data and fitted values of every series, long format (used and excluded rows)."""
        rows = []
        for s, m in zip(self.problem.observations.series, self.predictions):
            rows.append(pd.DataFrame({"series": s.column, "variable": s.variable, "label": s.labels,
                                      "start": s.start, "end": s.end, "data": s.values, "model": m,
                                      "used": s.used}))
        return pd.concat(rows, ignore_index=True)

    def score(self, window: tuple[Any, Any] | None = None) -> pd.DataFrame:
        """Fit statistics over the rows labelled within `window` (by default the rows not used in the fit).

        This is the out-of-sample score when the fit had a calibration ``window``: call
        ``score(("2017-01-01", "2019-08-01"))`` to score 2017-2019.
        """
        from .observations import as_dates, in_ranges

        out = {}
        for s, m in zip(self.problem.observations.series, self.predictions):
            present = ~np.isnan(s.values)
            if window is None:
                rows = present & ~s.used
            else:
                idx = pd.Index(s.labels)
                rows = present & in_ranges(idx, as_dates(idx), [window])
            if not rows.any():
                raise CalibrationError(f"No observations of `{s.column}` to score in {window or 'the unused rows'}.")
            out[s.column] = fit_statistics(s.values[rows], m[rows], s.weight)
        return pd.DataFrame(out).T

    def profile(self, name: str) -> Profile:
        """The profile likelihood of a free parameter or derived quantity (computed if needed)."""
        if name in self.profiles:
            return self.profiles[name]
        prof = _profile_one(self, name)
        self.profiles[name] = prof
        return prof

    def series_table(self) -> pd.DataFrame:
        """One row per observed series: what it measures and how (variable or expression,
        aggregate, frequency, likelihood, weight) and its observations used and held out."""
        rows = {}
        for s, lik in zip(self.problem.observations.series, self.problem.likelihoods):
            rows[s.column] = {"measures": s.variable, "aggregate": s.aggregate, "frequency": s.frequency,
                              "likelihood": lik.name, "weight": s.weight, "used": s.n_used,
                              "held out": int(s.held_out.sum())}
        return pd.DataFrame(rows).T

    def comparison(self) -> pd.DataFrame:
        """In-sample and out-of-sample statistics side by side (n, R², RMSE, MAPE, Theil U^M)."""
        keys = ["n", "r2", "rmse", "mape", "theil_um"]
        inside = self.statistics[keys].add_prefix("in: ")
        if self.validation.empty:
            return inside
        outside = self.validation.reindex(self.statistics.index)[keys].add_prefix("out: ")
        return pd.concat([inside, outside], axis=1)

    def report(self) -> str:
        """A plain-text fit report: series, estimates with intervals, correlations, in-sample and
        out-of-sample statistics side by side, warnings."""
        likelihoods = "+".join(dict.fromkeys(lik.name for lik in self.problem.likelihoods))
        lines = [f"Calibration of `{self.problem.spec.name}`: {self.method}, likelihood {likelihoods}, "
                 f"{self.n_obs} observations, {self.n_free} free parameters",
                 f"log-likelihood {self.loglik:.4f}   AIC {self.aic:.2f}   BIC {self.bic:.2f}   "
                 f"({self.n_simulations} ensemble simulations, {self.elapsed:.2f} s)"]
        if self.problem.warmup:
            lines.append(f"warm-up: {self.problem.warmup:g} {self.problem.spec.time.units} before the initial time")
        if self.problem.inputs:
            lines.append("inputs: " + "; ".join(f"{k} = {v if isinstance(v, str) else type(v).__name__}"
                                                for k, v in self.problem.inputs.items()))
        lines += ["", "Series", self.series_table().to_string(), "",
                  f"Estimates ({100 * self.level:g}% intervals)"]
        ci = self.ci.copy()
        lines.append(ci.to_string(float_format=lambda v: f"{v:.6g}"))
        ok = int((self.starts["loglik"] > self.loglik - 1e-3).sum())
        lines += ["", f"Starts reaching the maximum: {ok} of {len(self.starts)}"]
        if self.n_free > 1:
            lines += ["", "Correlations", self.corr.to_string(float_format=lambda v: f"{v:.3f}")]
        lines += ["", "Fit in sample and out of sample", self.comparison().to_string(float_format=lambda v: f"{v:.4g}")]
        if self.validation.empty:
            lines.append("Out of sample: no rows held out; give `holdout=` (or a calibration `window`) to score a "
                         "prediction, not only the fit.")
        lines += ["", "Fit statistics in sample", self.statistics.to_string(float_format=lambda v: f"{v:.4g}")]
        if not self.validation.empty:
            lines += ["", "Fit statistics out of sample",
                      self.validation.to_string(float_format=lambda v: f"{v:.4g}")]
        if self.warnings:
            lines += ["", "Warnings"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + self.report().replace("&", "&amp;").replace("<", "&lt;") + "</pre>"

    def plot(self) -> Figure:
        """A figure with, for each series, data and fit over time (excluded rows hollow) and the residuals."""
        from .plots import plot_fit

        return plot_fit(self)

    def to_dataset(self) -> xr.Dataset:
        """Estimates, intervals, covariance and fitted series as an :class:`xarray.Dataset` (for netCDF)."""
        names = list(self.ci.index)
        ds = xr.Dataset(
            {
                "estimate": ("parameter", self.ci["estimate"].to_numpy(float)),
                "lower": ("parameter", self.ci["lower"].to_numpy(float)),
                "upper": ("parameter", self.ci["upper"].to_numpy(float)),
                "se": ("parameter", self.ci["se"].to_numpy(float)),
                "cov": (("free", "free_2"), self.cov.to_numpy(float)),
            },
            coords={"parameter": names, "free": list(self.cov.index), "free_2": list(self.cov.index),
                    "interval_method": ("parameter", self.ci["method"].astype(str).to_numpy())},
            attrs={"model": self.problem.spec.name, "likelihood": self.problem.likelihood_name,
                   "method": self.method, "loglik": self.loglik, "aic": self.aic, "bic": self.bic,
                   "level": self.level, "n_obs": self.n_obs, "warnings": "\n".join(self.warnings)},
        )
        for s, m in zip(self.problem.observations.series, self.predictions):
            dim = f"obs_{s.column}"
            ds[f"{s.column}_data"] = (dim, s.values)
            ds[f"{s.column}_model"] = (dim, m)
            ds[f"{s.column}_used"] = (dim, s.used.astype("int8"))
            ds = ds.assign_coords({f"{s.column}_end": (dim, s.end)})
        return ds


# ---------------------------------------------------------------------------------------------
def fit(
    model: Any,
    data: Any,
    params: Mapping[str, Any],
    observe: ObserveSpec,
    likelihood: str = "normal",
    *,
    method: Method = "multistart",
    starts: int = 4,
    ci: CIMethod = "curvature",
    information: Literal["expected", "observed"] = "expected",
    level: float = 0.95,
    derived: Mapping[str, str | Derived] | None = None,
    seed: int = 0,
    time: str | None = None,
    origin: Any = None,
    period: float | str | None = None,
    label: Literal["start", "end"] = "start",
    window: tuple[Any, Any] | None = None,
    exclude: Iterable[tuple[Any, Any]] = (),
    holdout: tuple[Any, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    warmup: float = 0.0,
    population: float | None = None,
    run_options: Mapping[str, Any] | None = None,
    warn: bool = True,
    progress: bool = False,
) -> FitResult:
    """Fit model parameters to data by maximum likelihood.

    Parameters
    ----------
    model : library name, sd_engine Model, ModelSpec or CompiledModel
    data : CSV path, pandas DataFrame/Series or xarray Dataset
        Observations indexed by model time (numbers) or dates (with `origin`).
    params : mapping
        Parameter name -> bounds ``(lo, hi)``, ``(lo, hi, start)``, a fixed number, a scipy.stats
        prior or a :class:`~calibration.parameters.Parameter`. Names are model constants,
        stocks (their initial value) or the likelihood's nuisance parameters (``sigma``,
        ``phi_inv``; added as free parameters when not listed). Starting values are the
        model's own values unless given.
    observe : mapping or list of Observe
        Model variable -> data column or :class:`~calibration.observations.Observe`, or a
        list of ``Observe(column, variable=..., aggregate=..., frequency=..., likelihood=...,
        weight=...)``: each series with its own column, period, observation model and weight;
        ``variable`` may be an expression over model variables
        (``"ED attendances * (1 - four hour performance)"``).
    likelihood : {"normal", "lognormal", "poisson", "negbin", "wsse"}
        The observation model (see :mod:`calibration.likelihoods`; "negbin" is NB2,
        variance ``mu + mu**2 / phi``, with ``phi_inv = 1/phi`` estimated).
    method : {"multistart", "de", "least_squares"}
        Quasi-Newton (L-BFGS-B) from the model's values and the best of 64 Sobol points;
        differential evolution over the bounds (one ensemble call per generation), polished
        by L-BFGS-B; or trust-region least squares for ``likelihood="wsse"``.
    starts : int
        Number of local optimisations of "multistart".
    ci : {"curvature", "profile", "none"}
        Intervals from the curvature (Wald intervals in the transformed space, so they respect
        bounds; delta method for derived quantities), or from the profile likelihood
        (likelihood-ratio intervals: the log-likelihood drops by ``chi2_1(level)/2``, 1.92 at 95%).
    information : {"expected", "observed"}
        The curvature behind the covariance and the curvature intervals: the expected (Fisher)
        information ``J' W J`` from the model's first derivatives (the default: stable for
        models with lookups, ``min`` and ``max``, whose kinks make a finite-difference Hessian
        of the log-likelihood unreliable), or the observed information (that Hessian).
    level : float
        Confidence level of the intervals.
    derived : mapping, optional
        Derived quantities: name -> equation string (``"beta / gamma"``) or function of a
        ``{name: value}`` mapping.
    seed : int
        Seed of the random starts and of differential evolution.
    time, origin, period, label, window, exclude, holdout
        How data rows map to model time, which rows are used and which are held out and
        scored out of sample (by default the rows after the `window`); see
        :func:`calibration.observations.make_observations`.
    inputs : mapping, optional
        Events and time-varying inputs: constant -> equation of time
        (``"step(0.2, date('2017-04-01'))"``), pandas Series or number; see
        :mod:`calibration.inputs`. Names used by these equations and listed in `params` are
        estimated.
    warmup : float
        Model time simulated before the model's initial time and never compared with data,
        so the first observations do not see the model's start-up transient.
    population : float, optional
        The population of the local footprint: fixes the model's ``population`` constant
        (the library models scale with it).
    run_options : mapping, optional
        ``method`` and ``dt`` of the simulations.
    warn : bool
        Issue :class:`~calibration.errors.NotIdentifiableWarning` for parameters the data do
        not determine (they are listed in ``warnings`` in any case).
    progress : bool
        With ``ci="profile"``, show a bar counting the profiles (one per free parameter and
        derived quantity, each a walk of constrained fits) on a terminal.

    Returns
    -------
    FitResult
    """
    t_start = _time.perf_counter()
    if not 0 < level < 1:
        raise CalibrationError(f"`level` must be between 0 and 1, not {level}.")
    if information not in ("expected", "observed"):
        raise CalibrationError(f"`information` must be \"expected\" or \"observed\", not {information!r}.")
    if ci not in ("curvature", "profile", "none"):
        raise CalibrationError(f"`ci` must be \"curvature\", \"profile\" or \"none\", not {ci!r}.")
    problem = build_problem(model, data, params, observe, likelihood, time=time, origin=origin, period=period,
                            label=label, window=window, exclude=exclude, holdout=holdout, run_options=run_options,
                            inputs=inputs, warmup=warmup, population=population)
    names = [p.name for p in problem.parameters]
    funcs = {name: make_derived(name, how, names) for name, how in (derived or {}).items()}
    if method == "multistart":
        locals_ = multistart(problem, starts=starts, seed=seed)
        best = locals_[0]
    elif method == "de":
        best, _ = differential_evolution(problem, seed=seed)
        locals_ = [best]
    elif method == "least_squares":
        best = least_squares_fit(problem, problem.to_z(problem.start[None, :])[0])
        locals_ = [best]
    else:
        raise CalibrationError(f"Unknown method `{method}`; use \"multistart\", \"de\" or \"least_squares\".")
    if not math.isfinite(best.loglik) or best.loglik < -1e99:
        raise CalibrationError("Every simulation failed or gave an impossible likelihood; check the bounds and the "
                               "model (see the run status of `model.run` at the starting values).")
    return _finish(problem, best, locals_, funcs, method, ci, level, warn, t_start, information, progress)


def _finish(problem: CalibrationProblem, best: LocalResult, locals_: list[LocalResult], funcs: dict[str, Derived],
            method: str, ci: str, level: float, warn: bool, t_start: float,
            information: str = "expected", progress: bool = False) -> FitResult:
    z = best.z
    theta = problem.to_natural(z[None, :])[0]
    names = list(problem.names)
    # Each message with its class, chosen where it is made: not identifiable (singular curvature,
    # |r| near 1, a bound or an open profile) or only worth attention (CalibrationWarning).
    messages: list[tuple[str, type[Warning]]] = []
    if not best.converged:
        messages.append((f"The optimiser stopped before converging ({best.message}).", CalibrationWarning))
    H = information_z(problem, z) if information == "expected" else hessian_z(problem, z)
    k = len(names)
    identifiable = {n: True for n in names}
    # A parameter that ended on a bound of its range has no curvature there (in the unbounded
    # space the bound is infinitely far): say so, and compute the others' covariance with it fixed.
    on_bound: dict[str, str] = {}
    for j, p in enumerate(problem.free):
        # Within 0.1% of a finite range, or (one bound only) where the optimisers clip: on it.
        if math.isfinite(p.upper - p.lower):
            near_lo = near_hi = _ON_BOUND * (p.upper - p.lower)
        else:
            near_lo, near_hi = (1e-8 * max(1.0, abs(b)) if math.isfinite(b) else -1.0 for b in (p.lower, p.upper))
        if theta[j] - p.lower <= near_lo:
            on_bound[p.name] = "lower"
        elif p.upper - theta[j] <= near_hi:
            on_bound[p.name] = "upper"
    for name, side in on_bound.items():
        bound = problem.free[names.index(name)].lower if side == "lower" else problem.free[names.index(name)].upper
        if name.startswith("phi_inv") and side == "lower" and bound == 0:
            messages.append((f"`{name}` ended at 0: the series shows no overdispersion, and a Poisson likelihood "
                             "describes it as well.", NotIdentifiableWarning))
            continue
        messages.append((f"`{name}` ended on its {side} bound ({bound:g}): the data push it out of its range. "
                         "Widen the range if wider values are plausible; otherwise the model may lack a mechanism "
                         "the data show (a trend, a break, a missing input).", NotIdentifiableWarning))
    inner = [j for j, n in enumerate(names) if n not in on_bound]
    Hi = H[np.ix_(inner, inner)]
    ki = len(inner)
    cov_z = np.full((k, k), np.nan)
    if ki:
        eig = np.linalg.eigvalsh(Hi) if np.all(np.isfinite(Hi)) else np.full(ki, np.nan)
        if not np.all(np.isfinite(eig)) or eig.min() <= 1e-8 * max(abs(eig.max()), 1.0):
            ci_z = np.linalg.pinv(Hi) if np.all(np.isfinite(Hi)) else np.full((ki, ki), np.nan)
            w, v = np.linalg.eigh(Hi) if np.all(np.isfinite(Hi)) else (np.zeros(ki), np.eye(ki))
            flat = np.abs(v[:, int(np.argmin(w))])
            involved = [names[inner[i]] for i in np.flatnonzero(flat > 0.3)] or [names[j] for j in inner]
            for n in involved:
                identifiable[n] = False
            messages.append(("The log-likelihood is flat (singular curvature) along a combination of "
                             + ", ".join(f"`{n}`" for n in involved) + "; the data do not identify them. Fix one "
                             "or add data.", NotIdentifiableWarning))
        else:
            ci_z = np.linalg.inv(Hi)
        cov_z[np.ix_(inner, inner)] = ci_z
    jac = np.array([_dtheta_dz(p, zi) for p, zi in zip(problem.free, z)])
    cov = cov_z * np.outer(jac, jac)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.diag(cov))
        se_z = np.sqrt(np.diag(cov_z))
        corr = cov / np.outer(se, se)
    for i in range(k):
        for j in range(i + 1, k):
            if abs(corr[i, j]) > _UNIDENTIFIED:
                identifiable[names[i]] = identifiable[names[j]] = False
                messages.append((f"`{names[i]}` and `{names[j]}` are not identifiable separately "
                                 f"(r = {corr[i, j]:.4f}); the data constrain only a combination of them. Fix one "
                                 "or add data.", NotIdentifiableWarning))
            elif abs(corr[i, j]) > _CORRELATED:
                messages.append((f"`{names[i]}` and `{names[j]}` are strongly correlated (r = {corr[i, j]:.3f}); "
                                 "the data constrain mainly a combination of them.", CalibrationWarning))
    zq = float(_norm_ppf(0.5 + level / 2))
    rows: dict[str, dict[str, Any]] = {}
    for j, p in enumerate(problem.free):
        lo = p.to_natural(np.array(z[j] - zq * se_z[j])) if np.isfinite(se_z[j]) else np.nan
        hi = p.to_natural(np.array(z[j] + zq * se_z[j])) if np.isfinite(se_z[j]) else np.nan
        rows[p.name] = {"estimate": theta[j], "lower": float(lo), "upper": float(hi), "se": se[j],
                        "method": f"on {on_bound[p.name]} bound" if p.name in on_bound else "curvature"}
    values = {n: float(v) for n, v in zip(names, theta)}
    full = {n: float(v[0]) for n, v in problem.values(theta[None, :]).items()}
    derived_values: dict[str, float] = {}
    sd_derived: dict[str, float] = {}
    for dname, g in funcs.items():
        def gz(th: np.ndarray, g: Derived = g) -> float:
            return float(g({**full, **dict(zip(names, th))}))

        est = gz(theta)
        grad = derived_gradient(problem, z, gz)
        gi, ci_z = grad[inner], cov_z[np.ix_(inner, inner)]  # parameters on a bound count as fixed
        sd = float(np.sqrt(gi @ ci_z @ gi)) if np.all(np.isfinite(ci_z)) else float("nan")
        derived_values[dname] = est
        sd_derived[dname] = sd
        rows[dname] = {"estimate": est, "lower": est - zq * sd, "upper": est + zq * sd, "se": sd,
                       "method": "curvature (delta)"}
    preds, _ = problem.predict(theta[None, :], full=True)
    predictions = tuple(m[0] for m in preds)
    stats_rows = {s.column: fit_statistics(s.y, m[s.used], s.weight)
                  for s, m in zip(problem.observations.series, predictions)}
    held_rows = {s.column: fit_statistics(s.values[s.held_out], m[s.held_out], s.weight)
                 for s, m in zip(problem.observations.series, predictions) if s.held_out.sum() >= 2}
    starts = pd.DataFrame({
        "start": [dict(zip(names, np.round(problem.to_natural(r.z_start[None, :])[0], 6))) for r in locals_],
        "end": [dict(zip(names, np.round(problem.to_natural(r.z[None, :])[0], 6))) for r in locals_],
        "loglik": [r.loglik for r in locals_],
        "converged": [r.converged for r in locals_],
        "iterations": [r.iterations for r in locals_],
    })
    ci_table = pd.DataFrame(rows).T
    result = FitResult(
        problem=problem, params={**full, **values}, derived=derived_values, ci=ci_table, cov=pd.DataFrame(
            cov, index=names, columns=names), corr=pd.DataFrame(corr, index=names, columns=names),
        loglik=best.loglik, n_obs=problem.observations.n_used, statistics=pd.DataFrame(stats_rows).T,
        validation=pd.DataFrame(held_rows).T, on_bound=on_bound,
        starts=starts, identifiable=identifiable, warnings=(), method=method, level=level, z=z,
        hessian=H, predictions=predictions, derived_functions=funcs,
    )
    if ci == "profile":
        # Profiles need the fitted result; their intervals go into a new table, not the built one.
        ci_table = ci_table.copy()
        profiled = names + list(funcs)
        with progress_bar(len(profiled), "profile", "profile likelihood", enabled=progress) as bar:
            for name in profiled:
                bar.set_postfix_str(name)
                result.profile(name)
                bar.update(1)
        for name in profiled:
            prof = result.profile(name)  # computed above and kept on the result
            ci_table.loc[name, ["lower", "upper", "method"]] = [prof.lower, prof.upper, "profile"]
            for side, is_open in (("lower", prof.lower_open), ("upper", prof.upper_open)):
                if is_open:
                    if name in identifiable:
                        identifiable[name] = False
                    messages.append((f"The profile likelihood of `{name}` stays within {threshold(level):.2f} of "
                                     f"the maximum towards its {side} end; the data do not bound it there.",
                                     NotIdentifiableWarning))
    result = dataclasses.replace(result, ci=ci_table, identifiable=identifiable,
                                 warnings=tuple(msg for msg, _ in messages), n_simulations=problem.n_simulations,
                                 elapsed=_time.perf_counter() - t_start)
    if warn:
        for msg, category in messages:
            warnings.warn(msg, category, stacklevel=3)
    return result


def _norm_ppf(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


def _dtheta_dz(p: Parameter, z: float) -> float:
    h = 1e-6
    return float((p.to_natural(np.array(z + h)) - p.to_natural(np.array(z - h))) / (2 * h))


def _profile_one(result: FitResult, name: str) -> Profile:
    problem = result.problem
    names = list(problem.names)
    if name in names:
        j = names.index(name)
        cov_z = np.linalg.pinv(result.hessian) if np.all(np.isfinite(result.hessian)) else np.full((1, 1), np.nan)
        se_z = float(np.sqrt(cov_z[j, j])) if cov_z.shape[0] > j and cov_z[j, j] > 0 else float("nan")
        return profile_parameter(problem, result.z, result.loglik, j, se_z, result.level)
    if name in result.derived_functions:
        g = result.derived_functions[name]
        full = dict(result.params)

        def gz(th: np.ndarray) -> float:
            return float(g({**full, **dict(zip(names, th))}))

        return profile_function(problem, result.z, result.loglik, name, gz, float(result.ci.loc[name, "se"]),
                                result.level)
    raise CalibrationError(f"`{name}` is neither a free parameter nor a derived quantity of this fit; choose one "
                           f"of {', '.join(names + list(result.derived_functions))}.")
