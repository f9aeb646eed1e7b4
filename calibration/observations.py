"""Observed time series and how they map onto model time and model output.

A data set (CSV file, :class:`pandas.DataFrame` or :class:`xarray.Dataset`) holds one column
per published series, one row per period, gaps allowed. Each series to fit is described by an
:class:`Observe`: its column, the model variable or expression it measures, how a row is
compared with the model, its frequency, likelihood and weight. :func:`make_observations` reads
them into :class:`Observations`, one :class:`Series` each, with the model time each
observation covers, whether it is used in the fit or held out, and its weight.

Mapping model output to data (see ``references/LOOPS_AND_CALIBRATION.md`` B2):

* ``"point"`` -- the value at the observation time (a stock such as people in bed on day 6);
* ``"total"`` -- the integral over the row's own reporting period (attendances per day
  compared with the monthly count; a stock such as delayed patients compared with the
  delayed *bed days* of the month). Days-in-month exposure falls out of the model's time
  units;
* ``"mean"`` -- the same integral divided by the length of the period.

**Each series has its own period.** A quarterly column in a monthly file is compared with
the integral over its quarter, not over a month: the frequency is inferred from the dates of
the column's own non-empty rows (weekly data with missing weeks included), or stated with
``frequency=``. Dates are turned into model time with ``origin`` (the date at the model's
initial time) and the model's time units (days, weeks, calendar months, years).

Labels: with ``label="start"`` (the convention of ``shared/data``) a row labelled with the
first day of its period covers ``[label, label + period)``. With ``label="end"`` a dated row
is labelled with the **last day** of its period (NHS "week ending" and month-end dates), so it
covers ``(label + 1 day - period, label + 1 day)``; a numeric label is the period's end time.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
import xarray as xr
from pandas.tseries import offsets
from pandas.tseries.frequencies import to_offset

from sd_engine.errors import did_you_mean, excerpt
from sd_engine.expr import Expr, Ref, canonical
from sd_engine.spec import ModelSpec

from .csvdata import read_csv_data
from .errors import CalibrationError, DataError
from .expressions import names_in, parse_expression, parse_model_expression, resolve_dates

__all__ = ["Aggregate", "Observe", "Series", "Observations", "ObserveSpec", "read_data", "make_observations",
           "model_times", "period_step", "as_dates", "in_ranges", "as_observe_list"]

Aggregate = Literal["point", "total", "mean"]
_AGGREGATES = ("point", "total", "mean")
_WORDS = {"daily": "D", "day": "D", "weekly": "W", "week": "W", "monthly": "MS", "month": "MS",
          "quarterly": "QS", "quarter": "QS", "annual": "YS", "annually": "YS", "yearly": "YS", "year": "YS"}
Step: TypeAlias = "pd.DateOffset | pd.Timedelta"


@dataclass(frozen=True)
class Observe:
    """How one data column is compared with the model.

    Parameters
    ----------
    column : str
        The data column.
    aggregate : {"point", "total", "mean"}, optional
        Value at the observation time, integral over the row's period, or mean over it. By
        default flows and variables whose units are per unit of model time (``person/day``)
        are integrated (``"total"``) and other variables are read at the observation time
        (``"point"``); an expression needs it stated.
    weight : float
        For ``likelihood="wsse"`` (Vensim's ``*C`` payoff) the weight multiplies the error,
        ``(weight * (model - data))**2``, so choose about one over the error's standard
        deviation. For the other likelihoods it multiplies the series' log-likelihood.
    likelihood : str, optional
        This series' likelihood when it differs from the fit's.
    sigma : float, optional
        A known error scale for ``"normal"`` and ``"lognormal"``; estimated when omitted.
    variable : str, optional
        The model variable, or an expression over model variables such as
        ``"ED attendances * (1 - four hour performance)"``. In the mapping form of
        ``observe`` it is the key.
    frequency : str or float, optional
        The reporting period of a total or mean: ``"daily"``, ``"weekly"``, ``"monthly"``,
        ``"quarterly"``, ``"annual"``, a pandas frequency (``"W-MON"``, ``"3MS"``) or a
        number in model time units. Inferred from the column's own dated rows when omitted.

    Examples
    --------
    >>> Observe("attendances", aggregate="total", weight=2.0).aggregate
    'total'
    >>> Observe("breaches", variable="ED attendances * (1 - four hour performance)",
    ...         aggregate="total", frequency="quarterly").frequency
    'quarterly'
    """

    column: str
    aggregate: Aggregate | None = None
    weight: float = 1.0
    likelihood: str | None = None
    sigma: float | None = None
    variable: str | None = None
    frequency: str | float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise CalibrationError(f"An observation needs the name of its data column, not {self.column!r}.")
        if self.aggregate is not None and self.aggregate not in _AGGREGATES:
            raise CalibrationError(
                f"`aggregate` of column `{self.column}` is {self.aggregate!r}; use one of "
                + ", ".join(f'"{a}"' for a in _AGGREGATES) + "."
            )
        if not (isinstance(self.weight, (int, float)) and math.isfinite(self.weight) and self.weight > 0):
            raise CalibrationError(f"The weight of column `{self.column}` must be a positive number, "
                                   f"not {self.weight}.")
        if self.sigma is not None and not (math.isfinite(self.sigma) and self.sigma > 0):
            raise CalibrationError(f"`sigma` of column `{self.column}` must be a positive number, not {self.sigma}.")
        if isinstance(self.frequency, (int, float)) and not (math.isfinite(self.frequency) and self.frequency > 0):
            raise CalibrationError(f"The frequency of column `{self.column}` must be a positive period, "
                                   f"not {self.frequency}.")


#: What ``observe=`` accepts: ``{variable: column}``, ``{variable: Observe}`` or a list of Observe.
ObserveSpec = Mapping[str, "str | Observe"] | Sequence[Observe] | Observe


@dataclass(frozen=True, eq=False)
class Series:
    """One observed series, aligned to model time.

    ``start`` and ``end`` are model times: the period an observation covers (equal for
    ``"point"`` observations). ``used`` marks the observations that enter the fit: present,
    inside the calibration window, not excluded and not held out. ``held_out`` marks the
    observations scored out of sample. Unused observations are kept for plots and scores.
    ``variable`` is the model variable's display name or the expression's text; ``key`` is
    the variable's canonical name, empty for an expression.
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
    expression: Expr | None = None
    held_out: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    frequency: str = ""

    @property
    def n_used(self) -> int:
        return int(self.used.sum())

    @property
    def y(self) -> np.ndarray:
        """The observations used in the fit."""
        return self.values[self.used]

    @property
    def is_expression(self) -> bool:
        return not self.key

    @property
    def reads(self) -> tuple[str, ...]:
        """Canonical names of the model variables the series reads."""
        if self.expression is None:
            return (self.key,)
        return tuple(sorted(names_in(self.expression) - {"time"}))


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
        """The last model time any observation (a row with a value) needs."""
        ends = [float(s.end[~np.isnan(s.values)].max()) for s in self.series if (~np.isnan(s.values)).any()]
        return max(ends) if ends else max(float(s.end.max()) for s in self.series if len(s.end))

    @property
    def last_used_time(self) -> float:
        """The last model time an observation used in the fit needs."""
        return max(float(s.end[s.used].max()) for s in self.series if s.used.any())


# ---------------------------------------------------------------------------------------------
def read_data(data: Any, time: str | None = None) -> pd.DataFrame:
    """A data frame indexed by observation time from a CSV path, DataFrame, Series or Dataset.

    A CSV file's time column is `time` when given, otherwise its first column; the file is
    read strictly by :func:`calibration.csvdata.read_csv_data` (errors name the row and
    column). A frame's time is `time` when given, otherwise its index. An
    :class:`xarray.Dataset` needs a ``time`` dimension (or the dimension named by `time`).

    Examples
    --------
    >>> df = read_data(pd.DataFrame({"day": [1, 2], "in_bed": [3, 8]}), time="day")
    >>> df.index.name, df["in_bed"].tolist()
    ('day', [3, 8])
    """
    if isinstance(data, (str, Path)):
        return read_csv_data(data, time)
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


def as_dates(index: pd.Index) -> pd.DatetimeIndex | None:
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
            f"The time column has a value `{excerpt(str(bad))}` that is neither a number nor an ISO date (YYYY-MM-DD); "
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


# -- reporting periods ----------------------------------------------------------------------------
def period_step(frequency: str | float, column: str = "") -> pd.DateOffset | pd.Timedelta | float:
    """A calendar step (or a length in model time) from a stated frequency.

    Words (``"monthly"``, ``"quarterly"``, ``"weekly"``, ``"daily"``, ``"annual"``) and pandas
    frequencies (``"MS"``, ``"QS-APR"``, ``"W-MON"``, ``"7D"``) become calendar steps: a
    month, three months, seven days ... added to a period's first day gives the next
    period's first day. A number is a length in model time units.

    Examples
    --------
    >>> period_step("quarterly")
    <DateOffset: months=3>
    >>> period_step("W-SUN")
    Timedelta('7 days 00:00:00')
    >>> period_step(7.0)
    7.0
    """
    if isinstance(frequency, (int, float, np.integer, np.floating)) and not isinstance(frequency, bool):
        return float(frequency)
    text = str(frequency).strip()
    alias = _WORDS.get(text.lower(), text)
    try:
        off = to_offset(alias)
    except ValueError:
        where = f" of column `{column}`" if column else ""
        raise CalibrationError(
            f"The frequency{where} `{excerpt(text)}` is not understood; use daily, weekly, monthly, quarterly, "
            "annual, a pandas frequency such as \"W-MON\" or \"3MS\", or a number of model time units."
        ) from None
    n = off.n
    if isinstance(off, offsets.Week):
        return pd.Timedelta(weeks=n)
    if isinstance(off, offsets.Day):
        return pd.Timedelta(days=n)
    if isinstance(off, offsets.Tick):
        return pd.Timedelta(off.nanos, unit="ns")
    if isinstance(off, (offsets.MonthBegin, offsets.MonthEnd)):
        return pd.DateOffset(months=n)
    if isinstance(off, (offsets.QuarterBegin, offsets.QuarterEnd)):
        return pd.DateOffset(months=3 * n)
    if isinstance(off, (offsets.YearBegin, offsets.YearEnd)):
        return pd.DateOffset(years=n)
    raise CalibrationError(f"The frequency `{excerpt(text)}` is not a regular calendar period; use daily, weekly, "
                           "monthly, quarterly or annual.")


def _describe(step: Step | float) -> str:
    if isinstance(step, pd.Timedelta):
        days = step / pd.Timedelta(days=1)
        return "weekly" if days == 7 else "daily" if days == 1 else f"{days:g} days"
    if isinstance(step, pd.DateOffset):
        months = step.kwds.get("months", 0) + 12 * step.kwds.get("years", 0)
        return {1: "monthly", 3: "quarterly", 12: "annual"}.get(months, f"{months} months")
    return f"{step:g} time units"


def _infer_step(dates: pd.DatetimeIndex, column: str) -> Step:
    """The reporting period of a dated column from its own non-empty rows (gaps allowed).

    Labels on the first or the last day of months step in whole months (the greatest common
    divisor of the gaps: 1 for monthly data with missing months, 3 for quarterly); other
    labels step in whole days (7 for weekly data with missing weeks).
    """
    if len(dates) < 2:
        raise DataError(f"Column `{column}` has a single value, so its reporting period cannot be inferred; state it "
                        "with `frequency=` (for example \"monthly\" or \"quarterly\").")
    if all(d.day == 1 for d in dates) or all(d.is_month_end for d in dates):
        months = np.array([d.year * 12 + d.month for d in dates])
        return pd.DateOffset(months=int(np.gcd.reduce(np.diff(months))))
    days = np.asarray((dates[1:] - dates[:-1]) / pd.Timedelta(days=1), dtype=float)
    if not np.allclose(days, np.round(days)):
        raise DataError(f"The dates of column `{column}` are not whole days apart, so its reporting period cannot be "
                        "inferred; state it with `frequency=`.")
    return pd.Timedelta(days=int(np.gcd.reduce(np.round(days).astype(np.int64))))


def _dated_periods(dates: pd.DatetimeIndex, step: Step | float, label: str,
                   to_model: Any) -> tuple[np.ndarray, np.ndarray]:
    """Model times of each dated row's first moment and of the moment after its last day."""
    if label == "start":
        first = np.asarray(to_model(dates), dtype=float)
        if isinstance(step, float):
            return first, first + step
        return first, np.asarray(to_model(pd.DatetimeIndex([d + step for d in dates])), dtype=float)
    after = dates + pd.Timedelta(days=1)  # the label is the period's last day
    end = np.asarray(to_model(after), dtype=float)
    if isinstance(step, float):
        return end - step, end
    return np.asarray(to_model(pd.DatetimeIndex([d - step for d in after])), dtype=float), end


def _numeric_step(t: np.ndarray, column: str) -> float:
    if len(t) < 2:
        raise DataError(f"Column `{column}` has a single value, so its reporting period cannot be inferred; state it "
                        "with `frequency=` (a number of model time units).")
    gaps = np.diff(t)
    step = float(gaps.min())
    if step <= 0 or not np.allclose(gaps / step, np.round(gaps / step), atol=1e-6):
        raise DataError(f"The times of column `{column}` are not evenly spaced (gaps allowed), so its reporting period "
                        "cannot be inferred; state it with `frequency=` (a number of model time units).")
    return step


def in_ranges(labels: pd.Index, dates: pd.DatetimeIndex | None,
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


# -- the observe argument ---------------------------------------------------------------------------
def as_observe_list(observe: Any) -> list[Observe]:
    """The ``observe=`` argument as a list of :class:`Observe` with their variables filled in.

    Examples
    --------
    >>> [o.variable for o in as_observe_list({"Infected": "in_bed"})]
    ['Infected']
    """
    if isinstance(observe, Observe):
        observe = [observe]
    if isinstance(observe, Mapping):
        out = []
        for variable, how in observe.items():
            if isinstance(how, Observe):
                if how.variable is not None and canonical(how.variable) != canonical(str(variable)):
                    raise CalibrationError(f"Column `{how.column}` is listed under `{variable}` but its Observe names "
                                           f"`{how.variable}`; name the variable once.")
                out.append(Observe(**{**how.__dict__, "variable": str(variable)}))
            elif isinstance(how, str):
                out.append(Observe(how, variable=str(variable)))
            else:
                raise CalibrationError(f"`observe[{variable!r}]` must be a column name or a calibration.Observe, "
                                       f"not {type(how).__name__}.")
        return out
    if isinstance(observe, Sequence) and not isinstance(observe, str):
        out = []
        for item in observe:
            if not isinstance(item, Observe):
                raise CalibrationError(f"A list given as `observe` must hold calibration.Observe items, not "
                                       f"{type(item).__name__}.")
            if item.variable is None:
                raise CalibrationError(f"The observation of column `{item.column}` needs the model variable or "
                                       "expression it measures: Observe(column, variable=...).")
            out.append(item)
        return out
    raise CalibrationError("`observe` must map model variables to columns, or be a list of calibration.Observe.")


def _per_time(units: str, time_units: str) -> bool:
    """Whether `units` are a rate per unit of model time (``person/day`` in a model in days)."""
    if "/" not in units:
        return False
    per = canonical(units.rsplit("/", 1)[1].strip("() "))
    try:
        return _unit(per) == _unit(time_units)
    except CalibrationError:
        return False


def make_observations(
    spec: ModelSpec,
    data: Any,
    observe: ObserveSpec,
    *,
    time: str | None = None,
    origin: Any = None,
    period: float | str | None = None,
    label: Literal["start", "end"] = "start",
    window: tuple[Any, Any] | None = None,
    exclude: Iterable[tuple[Any, Any]] = (),
    holdout: tuple[Any, Any] | None = None,
    final_time: float | None = None,
) -> Observations:
    """Read `data` and align the columns named in `observe` to the model `spec`'s time.

    Parameters
    ----------
    spec : ModelSpec
        The model (its variables and time settings).
    data : path, DataFrame, Series or Dataset
        The observations (see :func:`read_data`): one row per period, one column per series.
    observe : mapping or list of Observe
        ``{model variable: column or Observe}``, or a list of :class:`Observe` each naming its
        ``variable`` (a variable or an expression over variables). A variable may be observed
        by several columns (a monthly and a quarterly series of attendances).
    time : str, optional
        The time column; see :func:`read_data`.
    origin : date, optional
        The date at the model's initial time; needed when times are dates.
    period : float or str, optional
        The reporting period of series that state no ``frequency`` (see :func:`period_step`);
        by default each series' own period is inferred from its rows.
    label : {"start", "end"}
        Whether a row's label is the first day (time) of its period or the last.
    window : (first, last), optional
        Calibrate only on rows labelled within this closed range (dates or numbers).
    exclude : sequence of (first, last)
        Closed ranges of rows left out of the fit (structural breaks); they stay in plots.
    holdout : (first, last), optional
        Rows held out of the fit and scored out of sample. By default the rows after the
        calibration window are held out.
    final_time : float, optional
        The last model time that may be simulated (the model's own final time by default).

    Examples
    --------
    >>> from calibration.examples import flu
    >>> obs = make_observations(flu.build().spec(), flu.data(), {"Infected": "in_bed"})
    >>> obs.series[0].aggregate, obs.n_used
    ('point', 14)
    """
    if label not in ("start", "end"):
        raise CalibrationError(f"`label` must be \"start\" or \"end\", not {label!r}.")
    frame = read_data(data, time)
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()][0]
        raise DataError(f"The time {dup!r} appears twice in the data; give one row per time.")
    items = as_observe_list(observe)
    if not items:
        raise CalibrationError("Nothing to compare: give `observe={model variable: data column}`.")
    columns = [o.column for o in items]
    twice = next((c for c in columns if columns.count(c) > 1), None)
    if twice is not None:
        raise CalibrationError(f"Column `{twice}` is observed twice; compare each column once (copy the column to "
                               "compare it with a second variable).")
    frame = frame.sort_index()
    labels = frame.index
    dates = as_dates(labels)
    t0, t1 = spec.time.initial_time, spec.time.final_time if final_time is None else float(final_time)
    # A model on a calendar (``start_date`` in its attrs) says which date its initial time is: that
    # is the origin, and another would shift its seasons and history silently.
    start = dict(spec.attrs).get("start_date")
    if start is not None and origin is not None and pd.Timestamp(origin) != pd.Timestamp(start):
        raise CalibrationError(
            f"`origin` ({pd.Timestamp(origin).date()}) is not the start date of model `{spec.name}` "
            f"({pd.Timestamp(start).date()}): its seasons and history follow its own calendar. Leave `origin` out, "
            "or build the model with `start_date` equal to the origin."
        )
    if dates is not None and origin is None and start is not None:
        origin = start
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

    def date_time(text: str) -> float:
        return float(model_times(pd.DatetimeIndex([pd.Timestamp(text)]), origin, spec.time.units, t0)[0])

    in_window = in_ranges(labels, dates, [window]) if window is not None else np.ones(len(labels), dtype=bool)
    excluded = in_ranges(labels, dates, exclude)
    if holdout is not None:
        held = in_ranges(labels, dates, [holdout])
    elif window is not None:
        last = window[1]
        held = ~in_window & ~in_ranges(labels, dates, [(None, last)]) if last is not None else np.zeros(len(labels),
                                                                                                          dtype=bool)
    else:
        held = np.zeros(len(labels), dtype=bool)
    used_rows = in_window & ~excluded & ~held
    held &= ~excluded

    series = []
    for obs in items:
        assert obs.variable is not None
        series.append(_series(spec, frame, obs, dates, at, to_model, date_time if origin is not None else None,
                              period, label, used_rows, held, in_window, t0, t1))
    return Observations(series=tuple(series), time_units=spec.time.units,
                        origin=pd.Timestamp(origin) if origin is not None else None, frame=frame)


def _series(spec: ModelSpec, frame: pd.DataFrame, obs: Observe, dates: pd.DatetimeIndex | None, at: np.ndarray,
            to_model: Any, date_time: Any, period: float | str | None, label: str, used_rows: np.ndarray,
            held: np.ndarray, in_window: np.ndarray, t0: float, t1: float) -> Series:
    """One :class:`Series`: the column's values, the model variable or expression, and each row's period."""
    labels = frame.index
    text = str(obs.variable)
    expression: Expr | None = None
    if text in spec:
        var = spec[text]
        if var.kind in ("constant", "lookup"):
            raise CalibrationError(
                f"`{var.name}` is a {var.kind}, which does not change over time; observe a stock, flow or "
                "auxiliary instead."
            )
        if var.dims:
            raise CalibrationError(f"`{var.name}` is arrayed; observe a scalar variable.")
        variable, key = var.name, var.canonical
        default: Aggregate = "total" if var.kind == "flow" or _per_time(var.units, spec.time.units) else "point"
    else:
        what = f"The observation of `{obs.column}`"
        if isinstance(parse_expression(text, [v.name for v in spec.variables], what=what), Ref):
            spec[text]  # an unknown single name: UnknownVariableError with a suggestion
        parsed = parse_model_expression(text, spec, what=what)
        expression = resolve_dates(parsed, date_time, text, what)
        variable, key = text, ""
        if obs.aggregate is None:
            raise CalibrationError(
                f"The observation of `{obs.column}` is the expression `{text}`; say how a row is compared with it: "
                "aggregate=\"total\" (over the row's period), \"mean\" or \"point\"."
            )
        default = "point"
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
            f"Column `{obs.column}` has a non-numeric value {excerpt(str(raw.iloc[i]))!r} at {labels[i]!r}; numbers "
            "only (leave a cell empty for a missing value)."
        )
    if np.isinf(values).any():
        i = int(np.flatnonzero(np.isinf(values))[0])
        raise DataError(f"Column `{obs.column}` has an infinite value at {labels[i]!r}; give finite numbers.")
    present = ~np.isnan(values)
    aggregate: Aggregate = obs.aggregate or default
    if aggregate == "point":
        start = end = at
        frequency = "point"
    else:
        stated = obs.frequency if obs.frequency is not None else period
        if dates is not None:
            step: Step | float = (period_step(stated, obs.column) if stated is not None
                                  else _infer_step(dates[present], obs.column))
            start, end = _dated_periods(dates, step, label, to_model)
        else:
            if isinstance(stated, str):
                raise CalibrationError(f"The frequency `{excerpt(stated)}` of column `{obs.column}` is a calendar "
                                       "period, but the data's times are numbers; give it in model time units "
                                       "(a number) or label the rows with dates.")
            step = float(stated) if stated is not None else _numeric_step(at[present], obs.column)
            start, end = (at, at + step) if label == "start" else (at - step, at)
        frequency = _describe(step)
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
    return Series(
        variable=variable, key=key, column=obs.column, labels=np.asarray(labels)[keep],
        start=np.asarray(start, dtype=float)[keep], end=np.asarray(end, dtype=float)[keep], values=values[keep],
        used=(used_rows & present)[keep], aggregate=aggregate, weight=obs.weight, likelihood=obs.likelihood,
        sigma=obs.sigma, expression=expression, held_out=(held & present)[keep], frequency=frequency,
    )
