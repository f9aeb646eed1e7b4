"""Observed time series and how they map onto model time and model output.

A data set (CSV file, :class:`pandas.DataFrame` or :class:`xarray.Dataset`) is read into
:class:`Observations`: one :class:`Series` per observed model variable, with the model
time of each observation, its period, whether it is used in the fit, and its weight.

Mapping model output to data (see ``references/LOOPS_AND_CALIBRATION.md`` B2):

* ``"point"`` -- the variable's value at the observation time (a stock such as people in
  bed on day 6);
* ``"total"`` -- the variable integrated over the reporting period (a flow such as
  attendances per day, compared with the monthly count; a stock such as delayed patients,
  compared with the delayed *bed days* of the month). Calibration adds an accumulator stock
  ``C' = x`` to the model and uses ``C(end) - C(start)``, so the integral is exact for
  every integration method and days-in-month exposure falls out of the model's time
  units;
* ``"mean"`` -- the same integral divided by the length of the period.

Dates are turned into model time with ``origin`` (the date at the model's initial time)
and the model's time units (days, weeks, calendar months, years). Rows labelled with the
first day of their period (the convention of ``shared/data``) cover ``[label, next label)``.
"""

from __future__ import annotations

import calendar
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from sd_engine.errors import did_you_mean
from sd_engine.expr import canonical
from sd_engine.spec import ModelSpec

from .errors import CalibrationError, DataError

__all__ = ["Aggregate", "Observe", "Series", "Observations", "read_data", "make_observations", "model_times"]

Aggregate = Literal["point", "total", "mean"]
_AGGREGATES = ("point", "total", "mean")


@dataclass(frozen=True)
class Observe:
    """How one model variable is compared with one data column.

    Parameters
    ----------
    column : str
        The data column.
    aggregate : {"point", "total", "mean"}, optional
        Value at the observation time, integral over the period, or mean over the period.
        By default flows are integrated (``"total"``) and stocks and auxiliaries are read
        at the observation time (``"point"``).
    weight : float
        For ``likelihood="wsse"`` (Vensim's ``*C`` payoff) the weight multiplies the error,
        ``(weight * (model - data))**2``, so choose about one over the error's standard
        deviation. For the other likelihoods it multiplies the series' log-likelihood.
    likelihood : str, optional
        This series' likelihood when it differs from the fit's.
    sigma : float, optional
        A known error scale for ``"normal"`` and ``"lognormal"``; estimated when omitted.

    Examples
    --------
    >>> Observe("attendances", aggregate="total", weight=2.0).aggregate
    'total'
    """

    column: str
    aggregate: Aggregate | None = None
    weight: float = 1.0
    likelihood: str | None = None
    sigma: float | None = None

    def __post_init__(self) -> None:
        if self.aggregate is not None and self.aggregate not in _AGGREGATES:
            raise CalibrationError(
                f"`aggregate` of column `{self.column}` is {self.aggregate!r}; use one of "
                + ", ".join(f'"{a}"' for a in _AGGREGATES) + "."
            )
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise CalibrationError(f"The weight of column `{self.column}` must be a positive number, "
                                   f"not {self.weight}.")
        if self.sigma is not None and not (math.isfinite(self.sigma) and self.sigma > 0):
            raise CalibrationError(f"`sigma` of column `{self.column}` must be a positive number, not {self.sigma}.")


@dataclass(frozen=True, eq=False)
class Series:
    """One observed series, aligned to model time.

    ``start`` and ``end`` are model times: the period an observation covers (equal for
    ``"point"`` observations). ``used`` marks the observations that enter the fit: present,
    inside the calibration window and not excluded. Excluded observations are kept (for
    plots and out-of-sample scores).
    """

    variable: str
    key: str
    column: str
    labels: np.ndarray
    start: np.ndarray
    end: np.ndarray
    values: np.ndarray
    used: np.ndarray
    aggregate: Aggregate
    weight: float = 1.0
    likelihood: str | None = None
    sigma: float | None = None

    @property
    def n_used(self) -> int:
        return int(self.used.sum())

    @property
    def y(self) -> np.ndarray:
        """The observations used in the fit."""
        return self.values[self.used]


@dataclass(frozen=True, eq=False)
class Observations:
    """All observed series of a calibration, aligned to one model's time."""

    series: tuple[Series, ...]
    time_units: str
    origin: pd.Timestamp | None = None
    frame: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def n_used(self) -> int:
        return sum(s.n_used for s in self.series)

    @property
    def last_time(self) -> float:
        """The last model time any observation needs."""
        return max(float(s.end.max()) for s in self.series if len(s.end))

    @property
    def last_used_time(self) -> float:
        """The last model time an observation used in the fit needs."""
        return max(float(s.end[s.used].max()) for s in self.series if s.used.any())


# ---------------------------------------------------------------------------------------------
def read_data(data: Any, time: str | None = None) -> pd.DataFrame:
    """A data frame indexed by observation time from a CSV path, DataFrame, Series or Dataset.

    A CSV file's time column is `time` when given, otherwise its first column. A frame's is
    `time` when given, otherwise its index. An :class:`xarray.Dataset` needs a ``time``
    dimension (or the dimension named by `time`).

    Examples
    --------
    >>> df = read_data(pd.DataFrame({"day": [1, 2], "in_bed": [3, 8]}), time="day")
    >>> df.index.name, df["in_bed"].tolist()
    ('day', [3, 8])
    """
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise DataError(f"There is no data file `{path}`; check the path.")
        frame = pd.read_csv(path)
        if frame.empty or frame.shape[1] < 2:
            raise DataError(f"Data file `{path}` needs a header row, a time column and at least one data column.")
        key = time if time is not None else str(frame.columns[0])
        if key not in frame.columns:
            raise DataError(f"`{key}` is not a column of `{path.name}`." + did_you_mean(key, map(str, frame.columns))
                            + f" Its columns are {', '.join(map(str, frame.columns))}.")
        return frame.set_index(key)
    if isinstance(data, xr.Dataset):
        dim = time or "time"
        if dim not in data.dims:
            raise DataError(f"The data set has no `{dim}` dimension; name the time dimension with `time=`.")
        return data.to_dataframe()
    if isinstance(data, pd.Series):
        data = data.to_frame(name=data.name if data.name is not None else "value")
    if isinstance(data, pd.DataFrame):
        if time is not None:
            if time not in data.columns:
                if data.index.name == time:
                    return data
                raise DataError(f"`{time}` is not a column of the data." + did_you_mean(time, map(str, data.columns)))
            return data.set_index(time)
        return data
    raise DataError(f"Data must be a CSV path, a pandas DataFrame or an xarray Dataset, not {type(data).__name__}.")


def _as_dates(index: pd.Index) -> pd.DatetimeIndex | None:
    """The index as dates, or None when it is numeric."""
    if isinstance(index, pd.DatetimeIndex):
        return index
    if pd.api.types.is_numeric_dtype(index.dtype):
        return None
    try:
        return pd.DatetimeIndex(pd.to_datetime(index.astype(str), format="ISO8601"))
    except (ValueError, TypeError):
        bad = next((v for v in index if not _is_number(v)), index[0])
        raise DataError(
            f"The time column has a value {bad!r} that is neither a number nor an ISO date (YYYY-MM-DD); "
            "fix the data or name the right time column with `time=`."
        ) from None


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _unit(time_units: str) -> str:
    u = canonical(time_units).rstrip("s")
    for name in ("day", "week", "month", "quarter", "year"):
        if u == name or u.endswith("_" + name):
            return name
    raise CalibrationError(
        f"Dates cannot be converted to model time in units `{time_units}`; give the model time units "
        "of day, week, month, quarter or year, or give the data as model times (numbers)."
    )


def model_times(dates: pd.DatetimeIndex | pd.Timestamp | Sequence[Any], origin: Any, time_units: str,
                initial_time: float = 0.0) -> np.ndarray:
    """Model times of `dates` when the model's initial time is the date `origin`.

    Months and quarters are calendar months: the 1st of each month is a whole number and a
    day within a month is the fraction of that month's days.

    Examples
    --------
    >>> model_times(pd.DatetimeIndex(["2010-08-01", "2010-09-16"]), "2010-08-01", "month").tolist()
    [0.0, 1.5]
    >>> model_times(pd.DatetimeIndex(["2010-09-01"]), "2010-08-01", "days").tolist()
    [31.0]
    """
    d = pd.DatetimeIndex(pd.to_datetime(dates if not isinstance(dates, pd.Timestamp) else [dates]))
    o = pd.Timestamp(origin)
    unit = _unit(time_units)
    if unit in ("day", "week", "year"):
        days = (d - o) / pd.Timedelta(days=1)
        values = np.asarray(days, dtype=float) / {"day": 1.0, "week": 7.0, "year": 365.25}[unit]
    else:
        def months(ts: pd.Timestamp) -> float:
            dim = calendar.monthrange(ts.year, ts.month)[1]
            return ts.year * 12 + (ts.month - 1) + (ts.day - 1 + (ts - ts.normalize()) / pd.Timedelta(days=1)) / dim

        base = months(o)
        values = np.array([months(ts) - base for ts in d], dtype=float)
        if unit == "quarter":
            values = values / 3.0
    return initial_time + values


def _periods(labels: pd.Index, dates: pd.DatetimeIndex | None, period: float | str | None,
             to_model: Any) -> np.ndarray:
    """The length of each row's reporting period, in model time, for labels at period starts."""
    n = len(labels)
    if dates is not None:
        if isinstance(period, str):
            offset = pd.tseries.frequencies.to_offset(period)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas 3 announces a change of return type we do not depend on
                freq = pd.infer_freq(dates) if n >= 3 else None
            offset = pd.tseries.frequencies.to_offset(freq) if freq else None
        if offset is not None:
            ends = pd.DatetimeIndex([ts + offset for ts in dates])
        else:
            if n < 2:
                raise DataError("A single dated observation of a period total needs its period; give `period=`.")
            gaps = dates[1:] - dates[:-1]
            ends = pd.DatetimeIndex(list(dates[1:]) + [dates[-1] + gaps[-1]])
        return np.asarray(to_model(ends) - to_model(dates), dtype=float)
    t = np.asarray(labels, dtype=float)
    if period is not None:
        return np.full(n, float(period))
    if n < 2:
        raise DataError("A single observation of a period total needs its period; give `period=`.")
    gaps = np.diff(t)
    return np.append(gaps, gaps[-1])


def _in_ranges(labels: pd.Index, dates: pd.DatetimeIndex | None,
               ranges: Iterable[tuple[Any, Any]]) -> np.ndarray:
    """Rows whose label lies in any closed range ``(first, last)`` (dates or numbers, None = open)."""
    hit = np.zeros(len(labels), dtype=bool)
    for rng in ranges:
        if not (isinstance(rng, (tuple, list)) and len(rng) == 2):
            raise CalibrationError(f"A time range must be a pair (first, last), not {rng!r}.")
        lo, hi = rng
        if dates is not None:
            x = dates
            lo_v = pd.Timestamp(lo) if lo is not None else x.min()
            hi_v = pd.Timestamp(hi) if hi is not None else x.max()
        else:
            x = np.asarray(labels, dtype=float)
            lo_v = float(lo) if lo is not None else -np.inf
            hi_v = float(hi) if hi is not None else np.inf
        hit |= np.asarray((x >= lo_v) & (x <= hi_v))
    return hit


def make_observations(
    spec: ModelSpec,
    data: Any,
    observe: Mapping[str, str | Observe],
    *,
    time: str | None = None,
    origin: Any = None,
    period: float | str | None = None,
    label: Literal["start", "end"] = "start",
    window: tuple[Any, Any] | None = None,
    exclude: Iterable[tuple[Any, Any]] = (),
    final_time: float | None = None,
) -> Observations:
    """Read `data` and align the columns named in `observe` to the model `spec`'s time.

    Parameters
    ----------
    spec : ModelSpec
        The model (its variables and time settings).
    data : path, DataFrame, Series or Dataset
        The observations (see :func:`read_data`).
    observe : mapping
        Model variable (display or canonical name) -> column name or :class:`Observe`.
    time : str, optional
        The time column; see :func:`read_data`.
    origin : date, optional
        The date at the model's initial time; needed when times are dates.
    period : float or pandas frequency string, optional
        The reporting period of totals and means; inferred from the labels otherwise.
    label : {"start", "end"}
        Whether a period's label is its first time (``shared/data`` convention) or its last.
    window : (first, last), optional
        Calibrate only on rows labelled within this closed range (dates or numbers).
    exclude : sequence of (first, last)
        Closed ranges of rows left out of the fit (structural breaks); they stay in plots.
    final_time : float, optional
        The last model time that may be simulated (the model's own final time by default).

    Examples
    --------
    >>> from calibration.examples import flu
    >>> obs = make_observations(flu.build().spec(), flu.data(), {"Infected": "in_bed"})
    >>> obs.series[0].aggregate, obs.n_used
    ('point', 14)
    """
    frame = read_data(data, time)
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()][0]
        raise DataError(f"The time {dup!r} appears twice in the data; give one row per time.")
    if not observe:
        raise CalibrationError("Nothing to compare: give `observe={model variable: data column}`.")
    frame = frame.sort_index()
    labels = frame.index
    dates = _as_dates(labels)
    t0, t1 = spec.time.initial_time, spec.time.final_time if final_time is None else float(final_time)
    if dates is not None:
        if origin is None:
            raise DataError(
                "The observation times are dates; give `origin=`, the date at the model's initial time "
                f"(for example origin=\"{dates[0].date()}\")."
            )

        def to_model(d: Any) -> np.ndarray:
            return model_times(d, origin, spec.time.units, t0)

        at = to_model(dates)
    else:
        def to_model(d: Any) -> np.ndarray:
            return np.asarray(d, dtype=float)

        at = np.asarray(labels, dtype=float)
    in_window = np.ones(len(labels), dtype=bool)
    if window is not None:
        in_window = _in_ranges(labels, dates, [window])
    used_rows = in_window.copy()
    excluded = _in_ranges(labels, dates, exclude)
    used_rows &= ~excluded

    series = []
    for variable, how in observe.items():
        obs = how if isinstance(how, Observe) else Observe(str(how))
        var = spec[variable]  # UnknownVariableError with a suggestion
        if var.kind in ("constant", "lookup"):
            raise CalibrationError(
                f"`{var.name}` is a {var.kind}, which does not change over time; observe a stock, flow or "
                "auxiliary instead."
            )
        if obs.column not in frame.columns:
            raise DataError(
                f"`{obs.column}` is not a column of the data." + did_you_mean(obs.column, map(str, frame.columns))
                + f" The columns are {', '.join(map(str, frame.columns))}."
            )
        raw = frame[obs.column]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(values) & raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"Column `{obs.column}` has a non-numeric value {raw.iloc[i]!r} at {labels[i]!r}; numbers only "
                "(leave a cell empty for a missing value)."
            )
        if np.isinf(values).any():
            i = int(np.flatnonzero(np.isinf(values))[0])
            raise DataError(f"Column `{obs.column}` has an infinite value at {labels[i]!r}; give finite numbers.")
        aggregate: Aggregate = obs.aggregate or ("total" if var.kind == "flow" else "point")
        if aggregate == "point":
            start = end = at
        else:
            length = _periods(labels, dates, period, to_model)
            start, end = (at, at + length) if label == "start" else (at - length, at)
        present = ~np.isnan(values)
        beyond = (start < t0 - 1e-9) | (end > t1 + 1e-9)
        # Rows outside the calibration window may lie beyond the model's time: they are dropped.
        keep = ~beyond | in_window
        outside = present & beyond & in_window
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise DataError(
                f"The observation of `{obs.column}` at {labels[i]!s} covers model time {start[i]:g} to {end[i]:g}, "
                f"outside the model's time range {t0:g} to {t1:g}; drop those rows, check `origin`, or extend "
                "the model's time range."
            )
        series.append(Series(
            variable=var.name, key=var.canonical, column=obs.column, labels=np.asarray(labels)[keep],
            start=np.asarray(start, dtype=float)[keep], end=np.asarray(end, dtype=float)[keep], values=values[keep],
            used=(used_rows & present)[keep], aggregate=aggregate, weight=obs.weight, likelihood=obs.likelihood,
            sigma=obs.sigma,
        ))
    return Observations(series=tuple(series), time_units=spec.time.units,
                        origin=pd.Timestamp(origin) if origin is not None else None, frame=frame)
