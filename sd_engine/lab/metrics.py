"""Outcome metrics and lab profiles: what the policy lab measures for each library model.

A :class:`LabProfile` is defined once per model and holds

- its outcome :class:`Metric` s — for the whole-system flow model the triple aim plus staff:
  health (excess deaths), waits (4-hour performance, patients waiting for a bed, 12-hour
  waits), delayed transfers of care (acute and non-acute), unmet need, readmissions and trust,
  cost per head and the NHS financial position, and nurse vacancies and leavers — each a
  statistic of one model variable over time;
- the default parameter uncertainty (for the whole-system model: the 95% intervals of its fit
  to England's data, and ranges of the parameters it documents as assumed);
- the variables drawn as fan charts, and the output interval.

:func:`compute_metrics` evaluates every metric for every scenario and run of an experiment.

Examples
--------
>>> p = find_profile("whole_system_flow")
>>> [m.key for m in p.metrics][:3]
['four_hour', 'awaiting_bed', 'delayed_days']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import xarray as xr

from ..errors import SpecError, UnknownVariableError, did_you_mean
from ..expr import canonical

__all__ = ["Metric", "LabProfile", "register_profile", "find_profile", "get_profile", "compute_metrics", "PROFILES"]

Statistic = Literal["final", "mean", "window_mean", "total", "max"]


@dataclass(frozen=True)
class Metric:
    """One outcome: a statistic of a model variable over time, per scenario and run.

    Parameters
    ----------
    key : str
        Short identifier (the ``metric`` coordinate).
    label : str
        What a reader sees, e.g. "4-hour performance".
    variable : str
        The model variable it reads (display name).
    statistic : {"final", "mean", "window_mean", "total", "max"}
        Value at the final time, mean over the run, mean over the last `window` time units,
        time integral (trapezoid over the saved times), or maximum.
    units : str
        Units after `scale`.
    aim : str
        The aim it measures (waits, delays, unmet need, cost, staff...).
    better : {"lower", "higher"}
        Which direction is an improvement.
    scale : float
        Factor applied to the statistic (e.g. 100 for a percentage).
    window : float
        Length of the averaging window for "window_mean", in model time units.

    Examples
    --------
    >>> m = Metric("x", "X at the end", "Stock", "final", "people", "demo", "lower")
    >>> ds = xr.Dataset({"Stock": (("run", "time"), [[1.0, 2.0], [3.0, 5.0]])}, coords={"time": [0.0, 1.0]})
    >>> m.compute(ds).values.tolist()
    [2.0, 5.0]
    """

    key: str
    label: str
    variable: str
    statistic: Statistic
    units: str
    aim: str
    better: Literal["lower", "higher"]
    scale: float = 1.0
    window: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        if self.statistic not in ("final", "mean", "window_mean", "total", "max"):
            raise SpecError(f"Metric `{self.key}`: unknown statistic `{self.statistic}`; choose final, mean, "
                            "window_mean, total or max.")
        if self.better not in ("lower", "higher"):
            raise SpecError(f"Metric `{self.key}`: `better` must be \"lower\" or \"higher\", not {self.better!r}.")
        if self.statistic == "window_mean" and not self.window > 0:
            raise SpecError(f"Metric `{self.key}`: a window mean needs a positive `window` (in model time units).")

    def compute(self, ds: xr.Dataset) -> xr.DataArray:
        """The metric for every run (and scenario) of `ds`: the variable reduced over ``time``."""
        if self.variable not in ds.data_vars:
            raise UnknownVariableError(f"Metric `{self.key}` reads `{self.variable}`, which the results do not hold."
                                       + did_you_mean(self.variable, [str(v) for v in ds.data_vars])
                                       + " Keep it when running the experiment (`keep=`).")
        x = ds[self.variable]
        if "time" not in x.dims:
            raise SpecError(f"Metric `{self.key}` needs `{self.variable}` over time.")
        times = x["time"].values
        if self.statistic == "final":
            value = x.isel(time=-1)
        elif self.statistic == "mean":
            value = x.mean("time")
        elif self.statistic == "max":
            value = x.max("time")
        elif self.statistic == "total":
            value = x.integrate("time") if len(times) > 1 else x.isel(time=0) * 0.0
        else:
            # The last `window` time units, end included: with a saved interval that divides
            # the window, exactly window / saveper points, evenly spread over it.
            start = times[-1] - self.window
            inside = times > start + 1e-9 * max(1.0, abs(start))
            value = x.isel(time=np.flatnonzero(inside)).mean("time")
        value = value * self.scale
        value = value.drop_vars([c for c in value.coords if c not in value.dims and c != "scenario"], errors="ignore")
        value.attrs = {"label": self.label, "units": self.units, "aim": self.aim, "better": self.better}
        return value


@dataclass(frozen=True)
class LabProfile:
    """What the lab measures and varies for one model.

    Parameters
    ----------
    model : str
        Library model name.
    metrics : tuple of Metric
    uncertainty : mapping of str to (low, high)
        Default uniform ranges of the uncertain parameters.
    fan_variables : tuple of str
        Variables shown as fan charts in the report.
    saveper : float, optional
        Output interval the lab uses for this model.
    year : float
        One year in model time units (for labels).
    """

    model: str
    metrics: tuple[Metric, ...]
    uncertainty: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    fan_variables: tuple[str, ...] = ()
    saveper: float | None = None
    year: float = 1.0

    def __post_init__(self) -> None:
        keys = [m.key for m in self.metrics]
        if len(set(keys)) != len(keys):
            raise SpecError(f"Profile `{self.model}` defines a metric key twice: {keys}.")

    def metric(self, key: str) -> Metric:
        for m in self.metrics:
            if m.key == key:
                return m
        raise UnknownVariableError(f"Profile `{self.model}` has no metric `{key}`."
                                   + did_you_mean(key, [m.key for m in self.metrics]))


#: Lab profiles by canonical model name.
PROFILES: dict[str, LabProfile] = {}


def register_profile(profile: LabProfile) -> LabProfile:
    """Add (or replace) the lab profile of a model."""
    PROFILES[canonical(profile.model)] = profile
    return profile


def find_profile(model: str) -> LabProfile | None:
    """The lab profile of `model`, or None."""
    return PROFILES.get(canonical(model))


def get_profile(model: str) -> LabProfile:
    """The lab profile of `model`; an error naming the models that have one otherwise."""
    profile = find_profile(model)
    if profile is None:
        raise UnknownVariableError(f"Model `{model}` has no lab profile (outcome metrics and uncertainty)."
                                   + did_you_mean(canonical(model), PROFILES)
                                   + " Define one with `sd_engine.lab.register_profile`.")
    return profile


def compute_metrics(ds: xr.Dataset, profile: LabProfile) -> xr.DataArray:
    """Every metric of `profile` for every scenario and run: dims ``("metric", ...)``.

    Coordinates along ``metric`` carry each metric's label, units, aim and better direction.
    """
    values = [m.compute(ds) for m in profile.metrics]
    out = xr.concat(values, dim="metric", coords="minimal", compat="override")
    out = out.assign_coords(
        metric=[m.key for m in profile.metrics],
        metric_label=("metric", [m.label for m in profile.metrics]),
        metric_units=("metric", [m.units for m in profile.metrics]),
        aim=("metric", [m.aim for m in profile.metrics]),
        better=("metric", [m.better for m in profile.metrics]),
    )
    out.name = "outcome"
    out.attrs = {"doc": "Outcome metrics of each run (see the metric coordinates).", "model": profile.model}
    return out


# -- the whole-system flow model (models/whole_system_flow.py) -----------------------------------------
_YEAR = 365.0

#: The joint fit of the whole-system model to England's data (``models.whole_system_flow.FIT``,
#: ``docs/model_card.rst``): each fitted constant's 95% interval is its lab range, so the lab's
#: uncertainty is the data's. The engine does not import the model library, so the numbers are
#: copied here; ``tests/models/test_wsf_fit.py`` checks that they are the fit's.
_WSF_FITTED = {
    "attendance level": (0.881146, 0.899308),
    "attendance trend": (0.0043123, 0.00957094),
    "median time non admitted": (1.90948, 2.07329),
    "winter LoS rise": (0.0346023, 0.090088),
    "placement scale": (0.334667, 0.626995),
    "base IC places": (547.291, 586.66),
}
#: Parameters the model documents as assumed: ranges around their defaults (wider where the
#: domain gives a range), kept where the baseline stays physically sensible.
_WSF_ASSUMED = {
    "bed pool size": (30.0, 60.0),
    "boarding crowding": (0.05, 0.3),
    "ED load sensitivity": (0.05, 0.2),
    "conversion trend": (0.01, 0.02),
    "LoS trend": (-0.015, -0.005),
    "readmission fraction": (0.065, 0.095),
    "deconditioning": (0.025, 0.075),
    "placement time home care": (0.5, 2.0),
    "leave rate": (0.095, 0.12),
    "capability LoS sensitivity": (0.1, 0.3),
    "trust erode time": (60.0, 120.0),
    "base negative": (0.08, 0.12),
    "commissioning response": (0.3, 0.7),
    "nurse cost": (110.0, 140.0),
    "bed day cost": (200.0, 300.0),
}

register_profile(LabProfile(
    model="whole_system_flow",
    metrics=(
        Metric("four_hour", "4-hour performance", "four hour performance", "window_mean", "%", "waits", "higher",
               scale=100, window=_YEAR, description="Share of type-1 ED attendances within 4 hours, final-year mean."),
        Metric("awaiting_bed", "Waiting for a bed", "Awaiting a bed", "window_mean", "people", "waits", "lower",
               window=_YEAR, description="Patients decided to admit and waiting for a bed (Little's law on the bed "
                                         "queue), final-year mean."),
        Metric("delayed_days", "Acute delayed days a month", "DToC days per month", "window_mean", "days/month",
               "delays", "lower", window=_YEAR,
               description="Acute delayed transfers of care (bed-days a month), final-year mean."),
        Metric("twelve_hour", "12-hour waits a year", "twelve hour waits", "window_mean", "people/year", "waits",
               "lower", scale=_YEAR, window=_YEAR, description="Admitted patients more than 12 hours in ED, final year."),
        Metric("nonacute_delays", "Non-acute delayed patients", "Non acute DToC", "window_mean", "people", "delays",
               "lower", window=_YEAR, description="Delayed patients in community beds, final-year mean."),
        Metric("unmet_need", "Unmet care need", "Unmet need", "window_mean", "people", "unmet need", "lower",
               window=_YEAR, description="People in the community with an unmet care need, final-year mean."),
        Metric("excess_deaths", "Excess deaths a year", "excess deaths", "window_mean", "deaths/year", "health",
               "lower", scale=_YEAR, window=_YEAR,
               description="Deaths attributable to long ED waits (Jones et al. 2022) and unmet need, final year."),
        Metric("readmissions", "Readmissions a year", "readmissions", "window_mean", "people/year", "quality",
               "lower", scale=_YEAR, window=_YEAR, description="Emergency readmissions within 30 days, final year."),
        Metric("trust", "Inter-agency trust", "Trust", "window_mean", "0-1", "quality", "higher", window=_YEAR,
               description="Trust between the NHS and the local authority, final-year mean."),
        Metric("cost_per_head", "Health and care cost per head", "cost per capita", "window_mean", "£/person/year",
               "cost", "lower", window=_YEAR,
               description="NHS acute and LA social care spending per person per year, final-year mean."),
        Metric("financial_position", "NHS financial position", "Financial position", "final", "£m", "cost",
               "higher", scale=1e-6, description="Cumulative NHS income minus spending at the end."),
        Metric("vacancy", "Nurse vacancy rate", "nurse vacancy rate", "window_mean", "%", "staff", "lower",
               scale=100, window=_YEAR, description="Unfilled funded nursing posts, final-year mean."),
        Metric("leaver_rate", "Nurse leaver rate", "nurse leaver rate", "window_mean", "%/year", "staff", "lower",
               scale=100, window=_YEAR, description="Nurses leaving per nurse per year, final-year mean."),
        Metric("occupancy", "Bed occupancy", "occupancy", "window_mean", "%", "flow", "lower", scale=100,
               window=_YEAR, description="General and acute bed occupancy, final-year mean."),
    ),
    uncertainty={**_WSF_FITTED, **_WSF_ASSUMED},
    fan_variables=("four hour performance", "Acute DToC", "Unmet need", "excess deaths", "cost per capita",
                   "nurse vacancy rate", "Trust", "occupancy"),
    # A fifth of a year: 5,475 days is exactly 75 intervals, so the final-year window holds
    # five evenly spread points, and a 10,000-run ensemble stays within memory.
    saveper=73.0,
    year=_YEAR,
))
