"""The calibration problem: parameters + observations + likelihood, evaluated in batches.

:class:`CalibrationProblem` turns a batch of parameter vectors (``(n, k)``) into ``n``
log-likelihoods with **one** ensemble simulation: the run axis of the engine carries the
batch, so population optimisers (differential evolution), finite-difference gradients and
ensemble samplers (emcee's walkers) cost one ``simulate`` call per step. Rows that differ
only in the likelihood's nuisance parameters (``sigma``, ``phi_inv``) share one run: those
parameters do not change the model.

The model is augmented, never mutated:

* inputs (events, time series; :mod:`calibration.inputs`) replace constants;
* for every plain variable compared as a period total or mean, an accumulator stock
  ``C' = x`` is added, so the integral is exact for every integration method;
* a stock whose initial value is calibrated starts from a constant
  ``initial <Stock>`` (``sd_engine.initial.with_initial_parameters``);
* with a warm-up, the simulation starts ``warmup`` time units before the model's initial
  time, and the warm-up is never compared with data.

Series given as expressions over model variables are evaluated with numpy on the
simulation's arrays (:mod:`calibration.expressions`); a total or mean of an expression is
the integral of its values over the steps (the left Riemann sum for Euler, exactly what
Euler's accumulator gives; the trapezoid rule for the other methods).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import sd_engine as sd
from sd_engine.compile import CompiledModel, compile_model
from sd_engine.errors import did_you_mean
from sd_engine.expr import Num, Ref, canonical
from sd_engine.initial import initial_parameter_name, with_initial_parameters
from sd_engine.integrate import simulate_results
from sd_engine.results import Results
from sd_engine.spec import ModelSpec, Variable

from .errors import CalibrationError, DataError
from .expressions import evaluate
from .inputs import apply_inputs, base_name, input_names
from .likelihoods import Likelihood, get_likelihood
from .observations import Observations, Series, model_times
from .parameters import Parameter

__all__ = ["CalibrationProblem", "as_spec"]

_TOTAL = "_calibration total of "
_RATE = "_calibration rate of "


def as_spec(model: Any) -> ModelSpec:
    """The :class:`ModelSpec` of a library name, builder, spec or compiled model."""
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, CompiledModel):
        return model.spec
    if isinstance(model, sd.Model):
        return model.spec()
    if isinstance(model, str):
        return sd.load(model).spec
    raise CalibrationError(f"`model` must be a library name, an sd_engine Model, ModelSpec or compiled model, "
                           f"not {type(model).__name__}.")


class CalibrationProblem:
    """Log-likelihood and log-prior of parameter batches for one model and data set.

    Parameters
    ----------
    model : library name, Model, ModelSpec or CompiledModel
    observations : Observations
        From :func:`calibration.observations.make_observations`.
    parameters : sequence of Parameter
        Free and fixed parameters: model constants, stocks (their initial value, also
        written ``initial <Stock>``), names that input equations introduce, and the
        likelihood's nuisance parameters (``sigma``, ``phi_inv``), which are added as free
        parameters when not listed.
    likelihood : str
        The default observation model (see :mod:`calibration.likelihoods`).
    run_options : mapping, optional
        ``method`` and ``dt`` for the simulations (the model's own by default).
    inputs : mapping, optional
        Events and time-varying inputs (see :mod:`calibration.inputs`).
    warmup : float
        Model time simulated before the model's initial time and not compared with data.

    Attributes
    ----------
    n_simulations : int
        Number of ensemble simulate calls made so far (a test of batching).
    n_runs : int
        Number of runs simulated so far.

    Examples
    --------
    >>> from calibration.examples import flu
    >>> from calibration.observations import make_observations
    >>> spec = flu.build().spec()
    >>> obs = make_observations(spec, flu.data(), {"Infected": "in_bed"})
    >>> prob = CalibrationProblem(spec, obs, [Parameter("beta", 0, 10), Parameter("gamma", 0, 5)], "negbin")
    >>> prob.names
    ('beta', 'gamma', 'phi_inv')
    >>> ll = prob.loglik(np.array([[1.7, 0.5, 0.1], [2.0, 0.5, 0.1], [1.0, 0.2, 0.1]]))
    >>> ll.shape, prob.n_simulations
    ((3,), 1)
    """

    def __init__(self, model: Any, observations: Observations, parameters: Sequence[Parameter],
                 likelihood: str = "normal", run_options: Mapping[str, Any] | None = None, *,
                 inputs: Mapping[str, Any] | None = None, warmup: float = 0.0) -> None:
        spec = as_spec(model)
        self.spec = spec
        self.observations = observations
        self.likelihood_name = get_likelihood(likelihood).name
        self.run_options = dict(run_options or {})
        unknown = set(self.run_options) - {"method", "dt"}
        if unknown:
            raise CalibrationError(f"`run_options` takes `method` and `dt`, not {', '.join(sorted(unknown))}.")
        if not (isinstance(warmup, (int, float)) and math.isfinite(warmup) and warmup >= 0):
            raise CalibrationError(f"`warmup` must be a length of model time of 0 or more, not {warmup!r}.")
        self.warmup = float(warmup)
        self.inputs = dict(inputs or {})
        self.n_simulations = 0
        self.n_runs = 0

        # Observation models and their nuisance parameters.
        self.likelihoods: list[Likelihood] = [get_likelihood(s.likelihood or likelihood)
                                              for s in observations.series]
        with_nuisance = [(s, lik) for s, lik in zip(observations.series, self.likelihoods)
                         if lik.nuisance and s.sigma is None]
        self.nuisance_of: dict[int, str] = {}
        for i, (s, lik) in enumerate(zip(observations.series, self.likelihoods)):
            if lik.nuisance and s.sigma is None:
                assert lik.nuisance is not None
                self.nuisance_of[i] = lik.nuisance if len(with_nuisance) == 1 else f"{lik.nuisance}[{s.column}]"
        self._check_data()

        given = {p.name: p for p in parameters}
        if len(given) != len(parameters):
            raise CalibrationError("A parameter is listed twice; give each once.")
        nuisance_names = set(self.nuisance_of.values())
        # Names that only input equations use become constants of the augmented model.
        fresh = input_names(spec, self.inputs, given)
        new_values = {}
        for name, p in given.items():
            if canonical(name) in fresh:
                v = p.fixed if p.fixed is not None else p.start
                if v is None:
                    v = 0.5 * (p.lower + p.upper) if math.isfinite(p.lower) and math.isfinite(p.upper) else 0.0
                new_values[name] = float(v)
        missing = fresh - {canonical(n) for n in new_values}
        if missing:
            raise CalibrationError(
                "The inputs use " + ", ".join(f"`{n}`" for n in sorted(missing)) + ", which the model does not "
                "define; give each as a parameter of the fit (a number, or bounds to estimate it).")
        to_model_time = None
        if observations.origin is not None:
            origin = observations.origin

            def to_model_time(d: Any) -> np.ndarray:
                return model_times(d, origin, spec.time.units, spec.time.initial_time)
        with_inputs = apply_inputs(spec, self.inputs, new=new_values, to_model_time=to_model_time)

        # Sort the parameters into model constants, stock initial values and nuisance parameters.
        self._model_key: dict[str, str] = {}  # parameter name -> constant of the augmented model
        stocks: list[str] = []
        for name, p in given.items():
            if name in nuisance_names:
                continue
            var = self._target(with_inputs, name, nuisance_names)
            if var.kind == "stock":
                stocks.append(var.name)
                self._model_key[name] = canonical(initial_parameter_name(var.name))
            elif var.kind == "constant" and var.values is None and isinstance(var.equation, Num):
                self._model_key[name] = var.canonical
            else:
                what = ("an arrayed constant" if var.values is not None else
                        f"computed from other variables (`{var.equation_text}`)" if var.kind == "constant" else
                        f"{'an' if var.kind == 'aux' else 'a'} {var.kind}")
                raise CalibrationError(f"`{var.name}` is {what}; calibrate a constant or a stock's initial value.")
        #: The model with the inputs, before the calibration's own accumulators (for FitResult.simulate).
        self.model_spec = with_inputs
        #: Stocks whose initial values are parameters.
        self.initial_stocks = tuple(stocks)
        augmented = self._augment(with_inputs)
        self.t_start = spec.time.initial_time - self.warmup
        base = compile_model(augmented)
        fixed = {self._model_key[n]: float(p.fixed) for n, p in given.items()
                 if p.fixed is not None and n in self._model_key and var_kind(with_inputs, n) != "stock"}
        defaults = self._defaults(base, stocks, fixed)
        self.compiled = with_initial_parameters(base, stocks) if stocks else base
        params: list[Parameter] = []
        for name, p in given.items():
            if p.start is None and p.fixed is None and name in self._model_key:
                v = defaults[self._model_key[name]]
                v = min(max(v, p.lower), p.upper)
                if not (p.lower < v < p.upper) and math.isfinite(p.lower) and math.isfinite(p.upper):
                    v = 0.5 * (p.lower + p.upper)  # the model's value is on a bound: start inside
                p = dataclasses.replace(p, start=v)
            params.append(p)
        for i, nname in self.nuisance_of.items():
            if nname not in given:
                params.append(Parameter(nname, 0.0, math.inf, start=self._nuisance_start(i)))
            elif given[nname].start is None and given[nname].fixed is None:
                params[[p.name for p in params].index(nname)] = dataclasses.replace(
                    given[nname], start=self._nuisance_start(i) if given[nname].lower <= 0 else None)
        for p in params:
            if p.free and p.start is None:
                if math.isfinite(p.lower) and math.isfinite(p.upper):
                    params[params.index(p)] = dataclasses.replace(p, start=0.5 * (p.lower + p.upper))
                else:
                    raise CalibrationError(f"`{p.name}` needs a starting value (`start=`) or finite bounds.")
        self.parameters: tuple[Parameter, ...] = tuple(params)
        self.free: tuple[Parameter, ...] = tuple(p for p in params if p.free)
        if not self.free:
            raise CalibrationError("Every parameter is fixed; free at least one to calibrate.")
        n_used = observations.n_used
        if n_used <= len(self.free):
            raise DataError(
                f"{n_used} observation(s) cannot determine {len(self.free)} free parameters "
                f"({', '.join(p.name for p in self.free)}); give more data or fix some parameters."
            )
        names = [p.name for p in self.free]
        #: Columns of ``theta`` that change the model (the others are nuisance parameters).
        self.model_columns = np.array([j for j, n in enumerate(names) if n in self._model_key], dtype=int)
        #: Series index -> column of its free nuisance parameter in ``theta``.
        self.nuisance_columns = {i: names.index(n) for i, n in self.nuisance_of.items() if n in names}
        self._prepare_extraction()

    # -- set-up ----------------------------------------------------------------------------------
    @staticmethod
    def _target(spec: ModelSpec, name: str, nuisance_names: set[str]) -> Variable:
        """The model variable a parameter name calibrates (a stock for ``initial <Stock>``)."""
        if name in spec:
            var = spec[name]
            if var.kind == "aux" and base_name(var.name) in spec:
                return spec[base_name(var.name)]  # an input of the form f(X): X is its base value
            return var
        prefix = "initial "
        if name.lower().startswith(prefix) and name[len(prefix):] in spec and spec[name[len(prefix):]].kind == "stock":
            return spec[name[len(prefix):]]
        options = list(spec.names) + sorted(nuisance_names)
        raise CalibrationError(f"Model `{spec.name}` has no constant or stock `{name}` to calibrate."
                               + did_you_mean(canonical(name), options)
                               + (f" The likelihood's parameters are {', '.join(sorted(nuisance_names))}."
                                  if nuisance_names else ""))

    def _check_data(self) -> None:
        for s, lik in zip(self.observations.series, self.likelihoods):
            y = s.y
            if lik.counts and (y < 0).any():
                i = int(np.flatnonzero(s.used)[np.flatnonzero(y < 0)[0]])
                raise DataError(
                    f"Column `{s.column}` has a negative count ({s.values[i]:g} at {s.labels[i]!s}) but the "
                    f"`{lik.name}` likelihood is for counts; fix the data or use likelihood=\"normal\"."
                )
            if lik.positive and (y <= 0).any():
                i = int(np.flatnonzero(s.used)[np.flatnonzero(y <= 0)[0]])
                raise DataError(
                    f"Column `{s.column}` has a value {s.values[i]:g} at {s.labels[i]!s}, but the `{lik.name}` "
                    "likelihood needs positive data; exclude it or use likelihood=\"normal\"."
                )

    def _nuisance_start(self, i: int) -> float:
        s, lik = self.observations.series[i], self.likelihoods[i]
        y = s.y
        if lik.name == "negbin":
            return 0.1
        if lik.name == "lognormal":
            return 0.1
        return float(max(np.std(y) * 0.1, 1e-3 * max(np.mean(np.abs(y)), 1e-12), 1e-12))

    def _augment(self, spec: ModelSpec) -> ModelSpec:
        extra: list[Variable] = []
        done: set[str] = set()
        for s in self.observations.series:
            if s.aggregate != "point" and not s.is_expression and s.key not in done:
                done.add(s.key)
                var = spec[s.key]
                extra.append(Variable(_RATE + var.name, "flow", equation=Ref(s.key),
                                      doc="Accumulates the observed variable for period totals."))
                extra.append(Variable(_TOTAL + var.name, "stock", equation=Num(0.0),
                                      inflows=(canonical(_RATE + var.name),)))
        return dataclasses.replace(spec, variables=tuple(spec.variables) + tuple(extra))

    def _defaults(self, model: CompiledModel, stocks: Sequence[str], fixed: Mapping[str, float]) -> dict[str, float]:
        """The model's values of the calibrated constants and the initial values of the calibrated
        stocks, with the fixed parameters applied (a stock that scales with a fixed population
        starts at its scaled value)."""
        res = simulate_results(model, params=dict(fixed), initial_time=self.t_start, final_time=self.t_start,
                               dt=self.spec.time.dt, method="euler")
        out = {k: float(np.asarray(v).ravel()[0]) for k, v in res.constants.items() if np.asarray(v).size == 1}
        for stock in stocks:
            out[canonical(initial_parameter_name(stock))] = float(res.series(stock)[0, 0])
        return out

    def _prepare_extraction(self) -> None:
        t0 = self.t_start
        self.dt = float(self.run_options.get("dt", self.spec.time.dt))
        self.method = str(self.run_options.get("method", self.spec.time.method))
        # Fitting simulates only as far as the data it uses; predictions go to the last observation.
        self.full_time = self._horizon(self.observations.last_time)
        self.final_time = self._horizon(self.observations.last_used_time)
        self._reads: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for s in self.observations.series:
            if s.aggregate == "point":
                key = s.key
                i0, w0 = self._grid(s.end, t0)
                i1, w1 = i0, w0
            else:
                key = "" if s.is_expression else canonical(_TOTAL + self.spec[s.key].name)
                i0, w0 = self._grid(s.start, t0)
                i1, w1 = self._grid(s.end, t0)
            self._reads.append((key, i0, w0, i1, w1))

    def _horizon(self, last: float) -> float:
        t0 = self.t_start
        n = int(math.ceil((last - t0) / self.dt - 1e-9))
        return min(t0 + n * self.dt, self.spec.time.final_time)

    def _grid(self, times: np.ndarray, t0: float) -> tuple[np.ndarray, np.ndarray]:
        # The step at or before each time, not clipped to the horizon: a row past the last
        # simulated step (a date after a series' last value) must read as NaN in `extract`,
        # not as the last value held or an empty total.
        pos = (times - t0) / self.dt
        i = np.maximum(np.floor(pos + 1e-9).astype(int), 0)
        w = np.clip(pos - i, 0.0, 1.0)
        w[w < 1e-9] = 0.0
        return i, w

    # -- evaluation ----------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Names of the free parameters, the columns of ``theta``."""
        return tuple(p.name for p in self.free)

    @property
    def start(self) -> np.ndarray:
        return np.array([p.start for p in self.free], dtype=float)

    def values(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """All parameters (free and fixed) as ``(n,)`` arrays for a batch ``theta`` ``(n, k)``."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if theta.shape[1] != len(self.free):
            raise CalibrationError(f"Expected {len(self.free)} parameter values per row "
                                   f"({', '.join(self.names)}), got {theta.shape[1]}.")
        out = {p.name: theta[:, j] for j, p in enumerate(self.free)}
        for p in self.parameters:
            if not p.free:
                out[p.name] = np.full(theta.shape[0], float(p.fixed))  # type: ignore[arg-type]
        return out

    def model_params(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The constants of the augmented model to set for a batch ``theta``, by canonical name."""
        vals = self.values(theta)
        return {self._model_key[name]: v for name, v in vals.items() if name in self._model_key}

    def simulate(self, theta: np.ndarray, *, full: bool = False) -> Results:
        """One ensemble simulation of the batch ``theta`` (runs that fail are marked, not raised).

        The simulation starts at the model's initial time less the warm-up and ends at the
        last observation used in the fit, or at the last observation of all when `full` (for
        predictions out of sample).
        """
        params = self.model_params(theta)
        n = np.atleast_2d(theta).shape[0]
        if not params:  # only nuisance parameters are free: still one run per row
            first = self.compiled.layout.constants[0].key
            base = self.compiled.lowered[first].equation
            params = {first: np.full(n, float(base.value))}  # type: ignore[union-attr]
        self.n_simulations += 1
        self.n_runs += n
        return simulate_results(
            self.compiled, params=params, initial_time=self.t_start,
            final_time=self.full_time if full else self.final_time, dt=self.dt, saveper=self.dt,
            method=self.method, errors="mark",
        )

    def _values_over_time(self, res: Results, s: Series) -> np.ndarray:
        """An expression series' value at every saved time, ``(runs, times)``."""
        n, n_times = res.n_runs, len(res.times)

        def lookup(key: str) -> np.ndarray:
            if key == "time":
                return np.asarray(res.times, dtype=float)[None, :]
            if key in res.constants:
                return np.asarray(res.constants[key], dtype=float).reshape(n, 1)
            return res.series(key)

        assert s.expression is not None
        with np.errstate(all="ignore"):
            x = evaluate(s.expression, lookup, s.variable, f"The observation of `{s.column}`")
        return np.broadcast_to(np.asarray(x, dtype=float), (n, n_times))

    def _cumulative(self, x: np.ndarray) -> np.ndarray:
        """The running integral of ``x`` over the saved steps, as an accumulator stock would hold it."""
        out = np.zeros_like(x)
        if x.shape[1] > 1:
            if self.method == "euler":
                out[:, 1:] = np.cumsum(x[:, :-1], axis=1) * self.dt
            else:
                out[:, 1:] = np.cumsum(0.5 * (x[:, 1:] + x[:, :-1]), axis=1) * self.dt
        return out

    def extract(self, res: Results) -> list[np.ndarray]:
        """Model values matched to every observation of each series, ``(n, n_obs)`` each."""
        out = []
        n_times = len(res.times)
        for (key, i0, w0, i1, w1), s in zip(self._reads, self.observations.series):
            if s.is_expression:
                x = self._values_over_time(res, s)
                if s.aggregate != "point":
                    x = self._cumulative(x)
            else:
                x = res.series(key)
            last = x.shape[1] - 1
            a = x[:, np.minimum(i0, last)] * (1 - w0) + x[:, np.minimum(i0 + 1, last)] * w0
            if s.aggregate == "point":
                value = a
                needs = i0 + (w0 > 0)
            else:
                b = x[:, np.minimum(i1, last)] * (1 - w1) + x[:, np.minimum(i1 + 1, last)] * w1
                value = b - a if s.aggregate == "total" else (b - a) / (s.end - s.start)
                needs = i1 + (w1 > 0)
            # Observations beyond a shortened (fitting) horizon have no model value.
            out.append(np.where(needs < n_times, value, np.nan))
        return out

    def predict(self, theta: np.ndarray, full: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
        """Model values at the observations and the mask of runs that finished (see :meth:`simulate`).

        Rows of ``theta`` that differ only in nuisance parameters are simulated once.
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if len(self.model_columns) and theta.shape[0] > 1:
            _, first, inverse = np.unique(theta[:, self.model_columns], axis=0, return_index=True,
                                          return_inverse=True)
            if len(first) < theta.shape[0]:
                rows = np.asarray(inverse).ravel()
                res = self.simulate(theta[first], full=full)
                return [m[rows] for m in self.extract(res)], res.ok[rows]
        res = self.simulate(theta, full=full)
        return self.extract(res), res.ok

    def nuisance(self, vals: Mapping[str, np.ndarray], i: int, n: int) -> np.ndarray:
        s = self.observations.series[i]
        if i in self.nuisance_of:
            return vals[self.nuisance_of[i]]
        return np.full(n, s.sigma if s.sigma is not None else 1.0)

    def best_nuisance(self, preds: Sequence[np.ndarray], theta: np.ndarray) -> np.ndarray:
        """``theta`` with each free nuisance parameter at its maximum for the given model values.

        No simulation: ``sigma`` has a closed form, the NB2 dispersion a one-dimensional
        search. Optimisers use it to profile the nuisance parameters out.
        """
        theta = np.array(np.atleast_2d(theta), dtype=float)
        with np.errstate(all="ignore"):
            for i, j in self.nuisance_columns.items():
                s, lik, p = self.observations.series[i], self.likelihoods[i], self.free[j]
                if lik.best_nuisance is None:
                    continue
                m = preds[i][:, s.used]
                good = np.all(np.isfinite(m), axis=1)
                if good.any():
                    theta[good, j] = lik.best_nuisance(s.y, m[good], p.lower, p.upper)
        return theta

    def loglik_from(self, preds: Sequence[np.ndarray], ok: np.ndarray, theta: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(theta)
        n = theta.shape[0]
        vals = self.values(theta)
        total = np.zeros(n)
        with np.errstate(all="ignore"):
            for i, (s, lik, m) in enumerate(zip(self.observations.series, self.likelihoods, preds)):
                ll = lik.loglik(s.y, m[:, s.used], self.nuisance(vals, i, n), s.weight)
                total += ll if lik.name == "wsse" else s.weight * ll
        total[~ok | ~np.isfinite(total)] = -np.inf
        return total

    def loglik(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of each row of ``theta`` (natural units), one simulate call in all."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        inside = self.in_bounds(theta)
        out = np.full(theta.shape[0], -np.inf)
        if inside.any():
            preds, ok = self.predict(theta[inside])
            out[inside] = self.loglik_from(preds, ok, theta[inside])
        return out

    def in_bounds(self, theta: np.ndarray) -> np.ndarray:
        lo = np.array([p.lower for p in self.free])
        hi = np.array([p.upper for p in self.free])
        return np.all((theta >= lo) & (theta <= hi) & np.isfinite(theta), axis=1)

    def log_prior(self, theta: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(theta)
        return np.sum([p.log_prior(theta[:, j]) for j, p in enumerate(self.free)], axis=0)

    # -- the unbounded space of optimisers and samplers ----------------------------------------
    def to_natural(self, z: np.ndarray) -> np.ndarray:
        z = np.atleast_2d(z)
        return np.column_stack([p.to_natural(z[:, j]) for j, p in enumerate(self.free)])

    def to_z(self, theta: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(theta)
        return np.column_stack([p.to_z(theta[:, j]) for j, p in enumerate(self.free)])

    def log_jacobian(self, z: np.ndarray) -> np.ndarray:
        z = np.atleast_2d(z)
        return np.sum([p.log_jacobian(z[:, j]) for j, p in enumerate(self.free)], axis=0)


def var_kind(spec: ModelSpec, name: str) -> str:
    """The kind of the variable a parameter name refers to (``stock`` for ``initial <Stock>``)."""
    if name in spec:
        return spec[name].kind
    prefix = "initial "
    rest = name[len(prefix):]
    if name.lower().startswith(prefix) and rest in spec:
        return spec[rest].kind
    return ""
