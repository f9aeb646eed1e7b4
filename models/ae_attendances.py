"""A&E attendances: England's type-1 attendances with growth, trend and seasonality, 2010-2020.

Purpose
    The demand side of emergency care (domain document §2, demand sector): how many people
    arrive at major (type-1) emergency departments, and how that varies through the year.
    Calibrated to NHS England's monthly attendances (August 2010 - February 2020, before
    the COVID-19 break; `tests/calibration/test_realdata.py`) as the demand input a local
    model can be scaled from.

Structure (time unit: day, from 1 August 2010; Euler, dt = 1 day, to 1 March 2020)
    England's population is a stock growing at a fixed rate; attendances are the population
    times an attendance rate that trends over time and varies with the season::

        d(Population)/dt = population * population growth
        attendances      = population * attendance rate * exp(rate trend * years)
                           * (1 + seasonal amplitude * cos(2 pi (time - peak day) / season length))

    Monthly attendance counts are the attendance flow integrated over each calendar month
    (``aggregate="total"``), so February's fewer days come out of the model.

Feedback loops
    Population growth (R): population -> net growth -> population. ``population growth``
    and ``rate trend`` enter attendances only through their sum, so monthly attendances
    cannot tell them apart: calibrate one of them (the calibration warns when both are free).

Parameters (default, unit, source)::

    population growth   0.007 1/year                   ONS mid-year estimates, 2010s
    attendance rate     0.259 attendances/person/year  calibrated (August 2010 level)
    rate trend          0.0098 1/year                  calibrated
    seasonal amplitude  0.022 dimensionless            calibrated
    peak day            317 day                        calibrated (days after 1 August: mid-June)
    days per year       365.25 day/year                calendar
    season length       365.25 day                     calendar
    Population at start 53 million people              ONS, mid-2010 (about 52.6 million)

Policy levers
    ``attendance rate`` and ``rate trend``: demand management (NHS 111, urgent treatment
    centres, admission avoidance) acts on them.

Analytic checks
    With no growth, trend or season, attendances are population x rate every day; a full
    year of the seasonal term integrates to zero.
"""

from __future__ import annotations

import numpy as np

from sd_engine.builder import Model

__all__ = ["build", "ORIGIN", "FINAL_TIME", "LOOPS"]

#: Day 0 of the model and the last day (1 March 2020).
ORIGIN = "2010-08-01"
FINAL_TIME = float((np.datetime64("2020-03-01") - np.datetime64(ORIGIN)).astype(int))

LOOPS = {
    "population growth": ["population", "net_growth"],
}


def build() -> Model:
    """The attendance model, in days from 1 August 2010 to 1 March 2020.

    Examples
    --------
    >>> ds = build().run(final_time=30)
    >>> float(ds["Population"].sel(time=0))
    53000000.0
    """
    m = Model("ae attendances", time_units="day", initial_time=0, final_time=FINAL_TIME, dt=1.0,
              doc=__doc__ or "")
    m.constant("population growth", 0.007, units="1/year",
               doc="Net growth of England's population (ONS, about 0.7% a year in the 2010s).")
    m.constant("attendance rate", 0.259, units="attendances/person/year",
               doc="Type-1 attendances per person per year in August 2010. Calibrated.")
    m.constant("rate trend", 0.0098, units="1/year", doc="Trend of the attendance rate. Calibrated.")
    m.constant("seasonal amplitude", 0.022, units="dimensionless",
               doc="Relative amplitude of the annual cycle of attendances. Calibrated.")
    m.constant("peak day", 317, units="day", doc="Days after 1 August of the seasonal peak (modulo a year). "
               "Calibrated.")
    m.constant("days per year", 365.25, units="day/year", doc="Calendar: the data are dated months.")
    m.constant("season length", 365.25, units="day", doc="Length of the seasonal cycle: a calendar year.")
    m.stock("Population", initial=53_000_000, inflows=["net growth"], units="people",
            doc="England's population; mid-2010 (ONS): about 52.6 million.")
    m.flow("net growth", "population * population_growth / days_per_year", units="people/day",
           doc="Births less deaths plus net migration.")
    m.aux("season", "1 + seasonal_amplitude * cos(2 * 3.141592653589793 * (time - peak_day) / season_length)",
          units="dimensionless", doc="The annual cycle of attendances.")
    m.flow("attendances", "population * attendance_rate / days_per_year * exp(rate_trend * time / days_per_year)"
           " * season", units="attendances/day", doc="Type-1 A&E attendances per day.")
    return m
