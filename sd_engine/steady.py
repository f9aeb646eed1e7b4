"""Warm starts: run a model up to its initial time and start it from where it got to.

A model whose stocks start from round numbers (published levels, guesses for latent stocks)
spends its first weeks or years moving to where its own flows balance, and every scenario
inherits that transient. :func:`warm_start` runs the model with the same parameters from
``initial_time - duration`` to ``initial_time`` (a spin-up: time-dependent inputs such as
seasons and trends run over the warm-up period, so the state reached is the one the model's
own history leads to), then returns the model with its stocks' initial values as parameters
(:func:`sd_engine.initial.with_initial_parameters`) together with the values reached, per run
for an ensemble. It reports how close to equilibrium each stock got: the relative rate of
change over the last time unit of the warm-up.

A model whose initial values are written as equilibrium equations needs no warm-up; the
warm start is then an independent check of those equations (see the whole-system flow model).

Examples
--------
>>> import sd_engine as sd
>>> from sd_engine.steady import warm_start
>>> m = sd.Model("decay to a level", time_units="day", final_time=10)
>>> _ = m.constant("inflow", 2.0)
>>> _ = m.stock("Level", initial=0.0, inflows=["filling"], outflows=["draining"])
>>> _ = m.flow("filling", "inflow")
>>> _ = m.flow("draining", "level / 5")
>>> ws = warm_start(m.compile(), duration=200)
>>> round(float(ws.initial["Level"]), 6), ws.converged
(10.0, True)
>>> round(float(ws.model.run(params=ws.params)["Level"][0]), 9)
10.0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .compile import CompiledModel
from .errors import SpecError
from .initial import initial_parameter_name, with_initial_parameters

__all__ = ["warm_start", "WarmStart", "NotSteadyWarning", "YEAR_IN"]

#: One year in the time units a model may use (``warm_start(years=...)``).
YEAR_IN = {"day": 365.25, "days": 365.25, "week": 365.25 / 7, "weeks": 365.25 / 7, "month": 12.0, "months": 12.0,
           "quarter": 4.0, "quarters": 4.0, "year": 1.0, "years": 1.0}


class NotSteadyWarning(UserWarning):
    """A warm start ended with stocks still changing faster than the tolerance."""


@dataclass(frozen=True)
class WarmStart:
    """The result of :func:`warm_start`.

    Attributes
    ----------
    model : CompiledModel
        The model with a constant ``initial <Stock>`` for every warmed stock.
    initial : mapping of str to numpy.ndarray
        The value each stock reached (one per run for an ensemble, a 0-d array otherwise).
    params : mapping of str to Any
        The run parameters given plus the ``initial <Stock>`` values: ``model.run(params=params)``
        starts from the warm state.
    drift : mapping of str to numpy.ndarray
        Each stock's relative rate of change at the end of the warm-up, per time unit:
        ``|x(t0) - x(t0 - 1)| / max(|x(t0)|, scale)``, with ``scale`` a tiny fraction of the
        stock's largest magnitude over the warm-up (so a stock at zero is not divided by zero).
    tolerance : float
        The drift accepted as equilibrium.
    duration : float
        Length of the warm-up in model time units.
    """

    model: CompiledModel
    initial: Mapping[str, np.ndarray]
    params: Mapping[str, Any]
    drift: Mapping[str, np.ndarray]
    tolerance: float
    duration: float
    stocks: tuple[str, ...] = field(default=())

    @property
    def converged(self) -> bool:
        """True when every stock's drift, in every run, is within the tolerance."""
        return all(bool(np.all(d <= self.tolerance)) for d in self.drift.values())

    def unsteady(self) -> dict[str, float]:
        """Stocks whose drift exceeds the tolerance in some run, with their largest drift."""
        return {k: float(np.max(d)) for k, d in self.drift.items() if np.any(d > self.tolerance)}

    def report(self) -> str:
        """One line per stock: the value reached and its drift, the worst first."""
        order = sorted(self.drift, key=lambda k: -float(np.max(self.drift[k])))
        lines = [f"Warm start over {self.duration:g} time units: "
                 + ("every stock within" if self.converged else "stocks still moving beyond")
                 + f" a relative drift of {self.tolerance:g} per time unit"]
        for name in order:
            value, drift = np.asarray(self.initial[name]), np.asarray(self.drift[name])
            lines.append(f"  {name}: {float(np.mean(value)):.6g}  drift {float(np.max(drift)):.3g}")
        return "\n".join(lines)


def warm_start(
    model: CompiledModel,
    params: Mapping[str, Any] | None = None,
    *,
    duration: float | None = None,
    years: float | None = None,
    stocks: Iterable[str] | None = None,
    tolerance: float = 1e-3,
    warn: bool = True,
    **run_options: Any,
) -> WarmStart:
    """Run `model` from ``initial_time - duration`` to its initial time; start it from the state reached.

    Parameters
    ----------
    model : CompiledModel
        The model (not changed).
    params : mapping, optional
        Run parameters, as for ``model.run``; arrays of equal length make an ensemble, and each
        run is warmed with its own values.
    duration, years : float
        Length of the warm-up in model time units, or in years (converted with the model's
        time units: day, week, month, quarter or year). Give one.
    stocks : iterable of str, optional
        Stocks to start from the warm state; by default every integrated stock of the model
        (internal SMOOTH/DELAY stocks start from their own inputs, as in the original).
    tolerance : float
        Relative drift per time unit accepted as equilibrium (see :class:`WarmStart`).
    warn : bool
        Issue a :class:`NotSteadyWarning` naming the stocks beyond the tolerance.
    **run_options
        ``method`` and ``dt`` of the warm-up run.

    Returns
    -------
    WarmStart

    Raises
    ------
    SpecError
        Neither or both of `duration` and `years`, a duration that is not positive, years for
        a model whose time units are not calendar units, or an unknown run option.
    """
    unknown = set(run_options) - {"method", "dt"}
    if unknown:
        raise SpecError(f"`warm_start` takes the run options `method` and `dt`, not `{sorted(unknown)[0]}`.")
    length = _duration(model, duration, years)
    spec = model.spec
    names = [v.name for v in spec.variables if v.kind == "stock" and v.update == "continuous"] if stocks is None \
        else [model.resolve(s).name for s in stocks]
    t0 = spec.time.initial_time
    dt = float(run_options.get("dt", spec.time.dt))
    # Save at the last step and one time unit (at least a step) before it: the drift needs both.
    back = max(1.0, dt)
    if back >= length:
        raise SpecError(f"The warm-up of {length:g} time units is too short to measure drift over {back:g}; "
                        "make `duration` longer.")
    run = dict(params or {})
    ds = model.run(params=run, initial_time=t0 - length, final_time=t0, saveper=dt, **run_options)
    end = ds.sel(time=t0, method="nearest")
    before = ds.sel(time=t0 - back, method="nearest")
    initial: dict[str, np.ndarray] = {}
    drift: dict[str, np.ndarray] = {}
    for name in names:
        x = ds[name]
        if set(x.dims) - {"run", "time"}:
            raise SpecError(f"`{name}` is subscripted; warm starts handle scalar stocks only. Pass `stocks=` "
                            "without it.")
        now = np.asarray(end[name].values, dtype=float)
        earlier = np.asarray(before[name].values, dtype=float)
        largest = np.asarray(abs(x).max("time").values, dtype=float)
        scale = np.maximum(np.abs(now), np.maximum(1e-9 * largest, 1e-300))
        initial[name] = now
        drift[name] = np.abs(now - earlier) / back / scale
    warmed = with_initial_parameters(model, names)
    values = {initial_parameter_name(n): (float(v) if v.ndim == 0 else v) for n, v in initial.items()}
    result = WarmStart(warmed, MappingProxyType(initial), MappingProxyType({**run, **values}),
                       MappingProxyType(drift), float(tolerance), length, tuple(names))
    if warn and not result.converged:
        worst = sorted(result.unsteady().items(), key=lambda kv: -kv[1])[:3]
        listing = ", ".join(f"`{k}` ({v:.2g})" for k, v in worst)
        warnings.warn(f"After a warm-up of {length:g} time units some stocks still drift beyond {tolerance:g} per "
                      f"time unit: {listing}. Lengthen the warm-up or accept a moving start.", NotSteadyWarning,
                      stacklevel=2)
    return result


def _duration(model: CompiledModel, duration: float | None, years: float | None) -> float:
    if (duration is None) == (years is None):
        raise SpecError("Give the warm-up as `duration` (model time units) or `years`, not both or neither.")
    if years is not None:
        units = model.spec.time.units.strip().lower()
        if units not in YEAR_IN:
            raise SpecError(f"The model's time units are `{model.spec.time.units}`, not calendar units; give the "
                            "warm-up as `duration` in those units.")
        duration = float(years) * YEAR_IN[units]
    assert duration is not None
    if not (math.isfinite(duration) and duration > 0):
        raise SpecError(f"The warm-up `duration` must be a positive number of time units, not {duration}.")
    return float(duration)
