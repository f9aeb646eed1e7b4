"""Synthetic local data from the whole-system model, made independently of the calibration code.

The model is run once with known parameter values (``sd_engine``'s own ``run``, daily Euler
steps), and the published-style series are built from the daily values with pandas alone:
calendar-month and calendar-quarter totals are sums of the daily values over the days of
each period (Euler's accumulator is exactly that left Riemann sum), weekly means are the
mean over each week's seven days, and noise is drawn from the observation models (NB2 for
counts, normal for occupancy). Weeks are deleted at random to leave gaps.

Everything that depends on today's whole-system model (names, true values, the data's
dates) is in the constants below, so the recovery test can follow the model as it changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import sd_engine as sd

import calibration as cal

# -- the model-dependent numbers, in one place --------------------------------------------------
MODEL = "whole_system_flow"
#: The model's own calendar: day 0 is its start date (1 April 2018 by default).
ORIGIN = "2018-04-01"
FIRST = "2018-07-01"   # the data start after three months of the model running on its own
LAST = "2019-12-31"    # 18 months: the quick checks
LAST_LONG = "2021-06-30"   # 36 months (12 quarters): the coverage check, where asymptotics apply
#: Four parameters, each set mainly by one series: attendance level (attendances), median time
#: non admitted (4-hour breaches), active LoS (occupancy) and placement scale (delayed bed days).
#: Not `winter LoS rise`: occupancy answers it through the capped, kinked winter response, its
#: likelihood is not near-quadratic at three years of data, and its curvature interval is too
#: narrow (12 data sets: the standardised error's sd 1.64; the observed Hessian is not positive
#: definite) -- an asymptotic interval's limit, not something a coverage test should hide.
TRUE = {"attendance level": 0.89, "median time non admitted": 2.0, "active LoS": 6.6, "placement scale": 0.45}
BOUNDS = {"attendance level": (0.7, 1.1), "median time non admitted": (1.0, 4.0), "active LoS": (4.0, 9.0),
          "placement scale": (0.15, 1.5)}
PHI_INV = {"attendances": 0.002, "breaches": 0.01, "dtoc_bed_days": 0.005}   # NB2 dispersions
SIGMA_OCCUPANCY = 0.01
GAP_SHARE = 0.25   # share of weeks of occupancy missing


def observe() -> list[cal.Observe]:
    """The four series: monthly, monthly (an expression), weekly with gaps, quarterly."""
    return [
        cal.Observe("attendances", variable="ED attendances", aggregate="total", likelihood="negbin"),
        cal.Observe("breaches", variable="ED attendances * (1 - four hour performance)", aggregate="total",
                    likelihood="negbin"),
        cal.Observe("occupancy", variable="occupancy", aggregate="mean", likelihood="normal"),
        cal.Observe("dtoc_bed_days", variable="Acute DToC", aggregate="total", likelihood="negbin",
                    frequency="quarterly"),
    ]


def daily(params: dict[str, float] | None = None, last: str = LAST) -> pd.DataFrame:
    """The model's daily values from ORIGIN to `last` (one row per day, dated)."""
    end = (pd.Timestamp(last) - pd.Timestamp(ORIGIN)).days + 1
    ds = sd.load(MODEL).run(params=params or TRUE, final_time=end, dt=1, saveper=1)
    frame = pd.DataFrame({name: ds[name].values for name in ("ED attendances", "four hour performance", "occupancy",
                                                             "Acute DToC")})
    frame.index = pd.date_range(ORIGIN, periods=len(frame), freq="D")
    return frame.loc[:last]


def expected(day: pd.DataFrame) -> dict[str, pd.Series]:
    """Noise-free series: sums and means of the daily values over each row's own period."""
    d = day.loc[FIRST:]
    breaches = d["ED attendances"] * (1 - d["four hour performance"])
    return {
        "attendances": d["ED attendances"].resample("MS").sum(),
        "breaches": breaches.resample("MS").sum(),
        "occupancy": d["occupancy"].resample("W-MON", label="left", closed="left").mean(),
        "dtoc_bed_days": d["Acute DToC"].resample("QS-JAN").sum(),
    }


def noisy(means: dict[str, pd.Series], seed: int) -> pd.DataFrame:
    """One data set: the series with observation noise, weeks missing at random, in one frame."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, mu in means.items():
        if name == "occupancy":
            weeks = mu.iloc[1:-1]  # whole weeks inside the data range
            values = weeks + rng.normal(0, SIGMA_OCCUPANCY, len(weeks))
            keep = rng.random(len(weeks)) >= GAP_SHARE
            out[name] = values[keep]
        else:
            phi = 1 / PHI_INV[name]
            out[name] = pd.Series(rng.negative_binomial(phi, phi / (mu.to_numpy() + phi)).astype(float), mu.index)
    frame = pd.DataFrame(out)   # the union of monthly, weekly and quarterly dates; gaps are NaN
    frame.index.name = "period"
    return frame


def fit(frame: pd.DataFrame, **kw):
    return cal.fit(MODEL, frame, dict(BOUNDS), observe(), origin=ORIGIN, starts=1, **kw)
