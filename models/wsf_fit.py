"""The joint fit of the whole-system flow model to England's monthly data, with held-out scores.

Fits :mod:`models.whole_system_flow`, run from 1 April 2012 for England (population
55.98 m), through the public API of :mod:`calibration` (``cal.fit``) to three monthly series
of the project's shared data folder at once:

* type-1 A&E attendances (``england_ae_attendances_monthly.csv``), monthly totals;
* type-1 4-hour performance, ``1 - breaches / attendances``
  (``england_ae_trust_totals_monthly.csv``), monthly means;
* acute delayed bed days (``england_delayed_transfers_monthly.csv``), monthly totals.

The last two years of each series are held out of the fit and scored afterwards
(:func:`held_out_scores`); COVID months (March 2020 on) are not used. The estimates are the
model's defaults (``models.whole_system_flow.FIT``) and their intervals the lab's ranges.

Run it with ``python -m models.wsf_fit [DATA_FOLDER]``: about 20 s from the shipped values on a 2-core machine (a free
start takes longer); it prints the report, the estimates in the form of ``FIT`` and the scores.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["FIT_START", "FIT_END", "FIT_DAYS", "ENGLAND", "FREE", "OBSERVE", "HELD_OUT_MONTHS", "england_data",
           "held_out_split", "fit_model", "observations", "fit_england", "predict_monthly", "scores", "HeldOut"]

#: The fit's model runs start on 1 April 2012 (FY2012/13, the start of the growth period the issue
#: names) and end on 1 March 2020, before COVID.
FIT_START = "2012-04-01"
FIT_END = "2020-03-01"
#: Days from FIT_START to FIT_END: the fit's model runs (2,891 days).
FIT_DAYS = float((pd.Timestamp(FIT_END) - pd.Timestamp(FIT_START)).days)
#: England's population, mid-2018 (ONS), the model's ``population`` in the fit.
ENGLAND = 55_980_000.0
#: The free parameters and their bounds (each has a documented prior range in its ``doc``).
FREE: dict[str, tuple[float, float]] = {
    "attendance level": (0.8, 1.1),
    "attendance trend": (-0.01, 0.03),
    "median time non admitted": (1.2, 3.2),
    "winter LoS rise": (0.0, 0.3),
    "placement scale": (0.1, 4.0),
    "base IC places": (450.0, 1000.0),
    "LA pre 2017 trend": (-0.1, 0.04),
}
#: The queue's shape (bed pool size, boarding crowding, ED load sensitivity) is not identified by
#: twelve in-sample months of 4-hour performance: a free fit ran the pool size to its bound and
#: crowding to zero (a flat queue that cannot reach England's 96-98% of 2006-10 with slack beds).
#: They stay at their documented assumed values; see the model card.
#: Model variable -> (data column, aggregation over the month).
OBSERVE: dict[str, tuple[str, Literal["total", "mean"]]] = {
    "ED attendances": ("attendances_type1", "total"),
    "four hour performance": ("four_hour_type1", "mean"),
    "Acute DToC": ("delayed_days_acute", "total"),
}
#: How many months of each series are held out at its end.
HELD_OUT_MONTHS = 24


def default_data_folder() -> Path:
    """The project's shared data folder (``../shared/data`` from the project root)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def england_data(folder: str | Path | None = None) -> pd.DataFrame:
    """The three monthly series, one row per month (labelled by its first day), April 2012 - February 2020."""
    folder = Path(folder) if folder is not None else default_data_folder()
    att = pd.read_csv(folder / "england_ae_attendances_monthly.csv", parse_dates=["period"], index_col="period")
    trust = pd.read_csv(folder / "england_ae_trust_totals_monthly.csv", parse_dates=["period"], index_col="period")
    dtoc = pd.read_csv(folder / "england_delayed_transfers_monthly.csv", parse_dates=["period"], index_col="period")
    months = pd.date_range(FIT_START, pd.Timestamp(FIT_END) - pd.offsets.MonthBegin(1), freq="MS")
    frame = pd.DataFrame(index=months)
    frame.index.name = "period"
    frame["attendances_type1"] = att["type1"].astype(float)
    frame["four_hour_type1"] = 1 - trust["breaches_type1"] / trust["attendances_type1"]
    frame["delayed_days_acute"] = dtoc["delayed_days_acute"].astype(float)
    return frame


def held_out_split(frame: pd.DataFrame, months: int = HELD_OUT_MONTHS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(in-sample frame, held-out frame): the rows of each series dated within `months` calendar months of its
    last observation (its last two years by default) blanked in the first, kept alone in the second.

    The cut is in calendar time, so a quarterly column loses its last eight quarters as a monthly one loses
    its last 24 months.
    """
    fit, test = frame.copy(), frame.copy() * np.nan
    for column in frame:
        present = pd.DatetimeIndex(frame[column].dropna().index)
        cut = present[present > present[-1] - pd.DateOffset(months=months)]
        fit.loc[cut, column] = np.nan
        test.loc[cut, column] = frame.loc[cut, column]
    return fit, test


def fit_model() -> Any:
    """The model of the fit: :func:`models.whole_system_flow.build` from FIT_START for FIT_DAYS days."""
    from .whole_system_flow import build

    return build(start_date=FIT_START, final_time=FIT_DAYS)


def observations() -> list[Any]:
    """The fit's series as ``calibration.Observe`` entries: OBSERVE's columns, monthly, each with a normal
    likelihood of its own variance."""
    import calibration as cal

    return [cal.Observe(column, variable=var, aggregate=agg, frequency="monthly", likelihood="normal")
            for var, (column, agg) in OBSERVE.items()]


def fit_england(folder: str | Path | None = None, *, starts: int = 1, seed: int = 0,
                params: dict[str, tuple[float, ...]] | None = None, **options: Any) -> Any:
    """The joint maximum-likelihood fit (``calibration.fit``) on the in-sample months; returns its FitResult.

    `params` replaces the free parameters' bounds (``FREE``), e.g. with a third number, the start.
    """
    import calibration as cal

    frame, _ = held_out_split(england_data(folder))
    # The intervals of ``FIT`` (and so the lab's ranges) are the observed information's (the
    # Hessian of the log-likelihood); `cal.fit`'s default, the expected information, differs
    # by up to 5% of an interval's width here.
    options.setdefault("information", "observed")
    free = dict(FREE if params is None else params)
    return cal.fit(fit_model(), frame, params=free, observe=observations(), likelihood="normal",
                   origin=FIT_START, population=ENGLAND, starts=starts, seed=seed, **options)


def predict_monthly(params: dict[str, float] | None = None, folder: str | Path | None = None) -> pd.DataFrame:
    """Monthly model values of the observed series at `params` (the defaults when None), England scale."""
    frame = england_data(folder)
    model = fit_model().compile()
    run = {"population": ENGLAND, **(params or {})}
    ds = model.run(params=run)
    days = pd.Timestamp(FIT_START) + pd.to_timedelta(ds["time"].values, unit="D")
    # Daily values integrated over each calendar month (a rate over its days, a stock as bed days).
    daily = pd.DataFrame({var: ds[var].values for var in OBSERVE}, index=days).iloc[:-1]
    out = pd.DataFrame(index=frame.index)
    for var, (column, agg) in OBSERVE.items():
        monthly = daily[var].resample("MS").sum() if agg == "total" else daily[var].resample("MS").mean()
        out[column] = monthly.reindex(frame.index)
    return out


@dataclass(frozen=True)
class HeldOut:
    """Fit statistics of one series in and out of sample."""

    series: str
    r2_in: float
    r2_out: float
    mape_in: float
    mape_out: float
    rmse_out: float
    n_in: int
    n_out: int


def _r2(y: np.ndarray, f: np.ndarray) -> float:
    return float(1 - np.sum((y - f) ** 2) / np.sum((y - y.mean()) ** 2))


def scores(params: dict[str, float] | None = None, folder: str | Path | None = None) -> list[HeldOut]:
    """R² and MAPE of each series in sample and on its held-out last two years, at `params`."""
    frame = england_data(folder)
    fit, test = held_out_split(frame)
    model = predict_monthly(params, folder)
    out = []
    for column in frame:
        rows_in, rows_out = fit[column].notna(), test[column].notna()
        y_in, f_in = fit.loc[rows_in, column].to_numpy(), model.loc[rows_in, column].to_numpy()
        y_out, f_out = test.loc[rows_out, column].to_numpy(), model.loc[rows_out, column].to_numpy()
        out.append(HeldOut(column, _r2(y_in, f_in), _r2(y_out, f_out),
                           float(np.mean(np.abs(f_in / y_in - 1))), float(np.mean(np.abs(f_out / y_out - 1))),
                           float(np.sqrt(np.mean((f_out - y_out) ** 2))), int(rows_in.sum()), int(rows_out.sum())))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    result = fit_england(args[0] if args else None)
    print(result.report())
    print()
    print("estimates and 95% intervals (FIT):")
    for name in FREE:
        row = result.ci.loc[name]
        print(f"    {name!r}: ({row['estimate']:.6g}, {row['lower']:.6g}, {row['upper']:.6g}),")
    print()
    for s in scores({k: result.params[k] for k in FREE}, args[0] if args else None):
        print(s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
