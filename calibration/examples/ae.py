"""Type-1 A&E attendances in England with seasonality.

The population of England is a stock growing at a fixed rate (ONS mid-year estimates grew
by about 0.7% a year in the 2010s); attendances are the population times an attendance
rate that trends over time and varies with the season::

    d(Population)/dt = population * population growth
    attendances      = population * attendance rate * exp(rate trend * years)
                       * (1 + seasonal amplitude * cos(2 pi (time - peak day) / 365.25))

The monthly type-1 counts are the attendance flow integrated over each calendar month
(``aggregate="total"``), so February's fewer days come out of the model. The model runs in
days from 1 August 2010 (Euler, dt = 1 day). The data end before the COVID-19 break of
March 2020 (``shared/data`` README); fit with ``window=(None, "2020-02-01")``.

``population growth`` and ``rate trend`` enter only through their sum, so the data cannot
tell them apart: calibrate one of them (the tests show the warning when both are free).

Examples
--------
>>> ds = build().run(final_time=30)
>>> float(ds["Population"].sel(time=0))
53000000.0
"""

from __future__ import annotations

import pandas as pd

from sd_engine.builder import Model

from ..observations import model_times
from . import shared_data

__all__ = ["build", "data", "ORIGIN"]

ORIGIN = "2010-08-01"
_END = float(model_times(pd.DatetimeIndex(["2020-03-01"]), ORIGIN, "day")[0])


def build() -> Model:
    """The attendance model, in days from 1 August 2010 to 1 March 2020."""
    m = Model("type 1 A&E attendances", time_units="day", initial_time=0, final_time=_END, dt=1.0, doc=__doc__ or "")
    m.constant("population growth", 0.007, units="1/year", doc="Net growth of England's population (ONS, about "
               "0.7% a year in the 2010s).")
    m.constant("attendance rate", 0.27, units="attendances/person/year", doc="Type-1 attendances per person per "
               "year in August 2010.")
    m.constant("rate trend", 0.0, units="1/year", doc="Trend of the attendance rate.")
    m.constant("seasonal amplitude", 0.05, units="dimensionless")
    m.constant("peak day", 180, units="day", doc="Days after 1 August of the seasonal peak (modulo a year).")
    m.stock("Population", initial=53_000_000, inflows=["net growth"], units="people",
            doc="England, mid-2010 (ONS): about 52.6 million.")
    m.flow("net growth", "population * population_growth / 365.25", units="people/day")
    m.flow("attendances", "population * attendance_rate / 365.25 * exp(rate_trend * time / 365.25)"
           " * (1 + seasonal_amplitude * cos(2 * 3.141592653589793 * (time - peak_day) / 365.25))",
           units="attendances/day")
    return m


def data() -> pd.DataFrame:
    """``shared/data/england_ae_attendances_monthly.csv``, indexed by ``period``."""
    return pd.read_csv(shared_data("england_ae_attendances_monthly.csv"), parse_dates=["period"]).set_index("period")
