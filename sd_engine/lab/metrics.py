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

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..errors import SpecError, UnknownVariableError, did_you_mean
from ..expr import canonical
from ..documents import DocumentError, dump_document, parse_document
from ..library import attribute, available, key

__all__ = ["Metric", "LabProfile", "register_profile", "find_profile", "get_profile", "compute_metrics", "PROFILES",
           "load_profile", "save_profile"]

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


_METRIC_DEFAULTS = {"scale": 1.0, "window": 0.0, "description": ""}


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

    def as_dict(self) -> dict[str, Any]:
        """The profile as plain data: what a TOML or JSON profile file holds (see :func:`load_profile`)."""
        out: dict[str, Any] = {"model": self.model, "year": self.year}
        if self.saveper is not None:
            out["saveper"] = self.saveper
        if self.fan_variables:
            out["fan_variables"] = list(self.fan_variables)
        if self.uncertainty:
            out["uncertainty"] = {k: [float(lo), float(hi)] for k, (lo, hi) in self.uncertainty.items()}
        out["metrics"] = [{k: v for k, v in dataclasses.asdict(m).items() if v != _METRIC_DEFAULTS.get(k)}
                          for m in self.metrics]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "lab profile") -> LabProfile:
        """A profile from plain data (a parsed TOML or JSON file); errors name `where` and the field."""
        unknown = set(data) - {"model", "metrics", "uncertainty", "fan_variables", "saveper", "year"}
        if unknown:
            key = sorted(unknown)[0]
            raise SpecError(f"{where}: unknown field `{key}`." + did_you_mean(key, ["model", "metrics", "uncertainty",
                            "fan_variables", "saveper", "year"]))
        if "model" not in data or not data.get("metrics"):
            raise SpecError(f"{where}: a lab profile needs `model` and at least one entry in `metrics`.")
        fields = {f.name for f in dataclasses.fields(Metric)}
        metrics = []
        for i, entry in enumerate(data["metrics"]):
            if not isinstance(entry, Mapping) or set(entry) - fields:
                bad = sorted(set(entry) - fields) if isinstance(entry, Mapping) else ["(not a table)"]
                raise SpecError(f"{where}: metric {i + 1} has unknown field `{bad[0]}`; metrics take "
                                + ", ".join(sorted(fields)) + ".")
            try:
                metrics.append(Metric(**entry))
            except TypeError as exc:
                raise SpecError(f"{where}: metric {i + 1} is incomplete ({exc}); give at least key, label, "
                                "variable, statistic, units, aim and better.") from None
        ranges = {}
        for name, bounds in dict(data.get("uncertainty", {})).items():
            try:
                lo, hi = (float(b) for b in bounds)
            except (TypeError, ValueError):
                raise SpecError(f"{where}: the range of `{name}` must be two numbers [low, high].") from None
            if not lo < hi:
                raise SpecError(f"{where}: the range of `{name}` must have low < high, not [{lo}, {hi}].")
            ranges[str(name)] = (lo, hi)
        saveper = data.get("saveper")
        return cls(model=str(data["model"]), metrics=tuple(metrics), uncertainty=ranges,
                   fan_variables=tuple(str(v) for v in data.get("fan_variables", ())),
                   saveper=None if saveper is None else float(saveper), year=float(data.get("year", 1.0)))

    def metric(self, key: str) -> Metric:
        for m in self.metrics:
            if m.key == key:
                return m
        raise UnknownVariableError(f"Profile `{self.model}` has no metric `{key}`."
                                   + did_you_mean(key, [m.key for m in self.metrics]))


#: Lab profiles registered in this process (a user's own models), by canonical model name; a
#: library model's own profile is its module's ``LAB_PROFILE``.
PROFILES: dict[str, LabProfile] = {}


def register_profile(profile: LabProfile) -> LabProfile:
    """Add (or replace) the lab profile of a model."""
    PROFILES[canonical(profile.model)] = profile
    return profile


def find_profile(model: str) -> LabProfile | None:
    """The lab profile of `model`: one registered for it, or its library module's ``LAB_PROFILE``; or None."""
    registered = PROFILES.get(canonical(model))
    if registered is not None:
        return registered
    if key(model) in available():
        profile: LabProfile | None = attribute(model, "LAB_PROFILE")
        return profile
    return None


def load_profile(path: str | Path, model: str | None = None) -> LabProfile:
    """A lab profile from a TOML or JSON file, for any model (a library name or a model file).

    The file holds the fields of :meth:`LabProfile.as_dict`: ``model``, ``year``, ``saveper``,
    ``fan_variables``, ``[uncertainty]`` ranges and ``[[metrics]]`` tables. `model`, when given,
    replaces the file's own ``model`` (the command line names the model the lab runs).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> text = '''model = "teacup"
    ... [uncertainty]
    ... "Characteristic Time" = [5, 15]
    ... [[metrics]]
    ... key = "final_temperature"
    ... label = "Temperature at the end"
    ... variable = "Teacup Temperature"
    ... statistic = "final"
    ... units = "degrees F"
    ... aim = "comfort"
    ... better = "lower"
    ... '''
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = pathlib.Path(d, "teacup.toml"); _ = path.write_text(text)
    ...     profile = load_profile(path)
    >>> profile.metrics[0].variable, profile.uncertainty
    ('Teacup Temperature', {'Characteristic Time': (5.0, 15.0)})
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SpecError(f"A lab profile is a `.toml` or `.json` file, not `{path.name}`.")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"No lab profile file `{path}`.") from None
    try:
        data = parse_document(text, "json" if suffix == ".json" else "toml")
    except DocumentError as exc:
        raise SpecError(f"`{path.name}` is {exc}.") from None
    if model is not None:
        data = {**data, "model": model}
    return LabProfile.from_dict(data, where=f"`{path.name}`")


def save_profile(profile: LabProfile, path: str | Path) -> Path:
    """Write `profile` to a ``.toml`` or ``.json`` file that :func:`load_profile` reads back."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SpecError(f"Save a lab profile as `.toml` or `.json`, not `{path.name}`.")
    path.write_text(dump_document(profile.as_dict(), "json" if suffix == ".json" else "toml"), encoding="utf-8")
    return path


def get_profile(model: str) -> LabProfile:
    """The lab profile of `model`; an error naming the models that have one otherwise."""
    profile = find_profile(model)
    if profile is None:
        raise UnknownVariableError(f"Model `{model}` has no lab profile (outcome metrics and uncertainty)."
                                   + did_you_mean(canonical(model), PROFILES)
                                   + " Give one in a TOML or JSON file (`sdflow lab MODEL --profile FILE`, see "
                                   "`sd_engine.lab.load_profile`), or register one with "
                                   "`sd_engine.lab.register_profile`.")
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
