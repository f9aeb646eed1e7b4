"""Delayed transfers of care: England's hospital patients waiting for onward care, 2010-2019.

Purpose
    The national version of the delayed-discharge mechanism (domain document §3, C2 and
    §7.1): patients who are medically ready to leave hospital but need onward care (a home
    care package, a care-home place, community rehabilitation) wait in a hospital bed until
    onward-care capacity takes them. Calibrated to England's monthly delayed bed days
    (NHS England DToC statistics, August 2010 - August 2019; `notebooks/03` and the
    calibration tests): the need for onward care was flat until about 2014 and then
    outgrew a capacity that real-terms social-care funding held flat, so delays rose
    steeply until the 2017 social-care funding and national targets.

Structure (time unit: day, from 1 August 2010; Euler, dt = 1 day, to 1 September 2019)
    One stock, ``Delayed patients``, fed by ``needing onward care`` and drained by
    ``transfers``. Transfers follow the delayed stock when capacity is plentiful and
    saturate at the capacity when it is not (the "fuzzy minimum" of SD practice)::

        transfers = capacity * (1 - exp(-(delayed patients / normal delay) / capacity))

    Need is ``demand ratio at start * capacity at start`` until ``pressure start`` and then
    grows at ``demand growth`` a year. Capacity rises by ``policy uplift`` from 1 April
    2017. The stock starts at its equilibrium (see Analytic checks). Delayed patients
    integrated over a month are the month's delayed bed days, the quantity the statistics
    count, so the calibration compares the stock's monthly totals (``aggregate="total"``).

Feedback loops
    Clearing (B): delayed patients -> transfers -> delayed patients. Its gain falls as
    transfers approach capacity, which is why delays explode as need nears capacity
    (the queueing nonlinearity behind the 2014-2017 surge).

Parameters (default, unit, source)::

    demand ratio at start   0.5 dimensionless  calibrated (need / capacity in August 2010)
    demand growth           0.05 1/year        calibrated (growth of need once pressure starts)
    pressure start          1000 day           calibrated (when need starts to grow)
    capacity at start       600 patients/day   calibrated (onward-care transfers a day can take)
    normal delay            7 day              assumed (average delay with ample capacity)
    policy uplift           0.10 dimensionless scenario input: the spring 2017 funding
                                               and DToC targets, set before looking at
                                               2017-2019 (the 2011-2016 data say nothing
                                               about it)
    policy time             2435 day           1 April 2017
    days per year           365.25 day/year    calendar

Policy levers
    ``policy uplift`` (onward-care capacity bought from 2017) and ``capacity at start``.

Analytic checks
    Equilibrium: need = transfers gives
    ``delayed = -normal delay * capacity * ln(1 - need / capacity)``, the initial value;
    a run with no growth stays there. Need at or above capacity has no equilibrium: the
    stock grows without bound.
"""

from __future__ import annotations

import numpy as np

from sd_engine.builder import Model

__all__ = ["build", "ORIGIN", "FINAL_TIME", "POLICY_TIME", "LOOPS"]

#: Day 0 of the model and the last day (1 September 2019), 3,318 days later.
ORIGIN = "2010-08-01"
FINAL_TIME = float((np.datetime64("2019-09-01") - np.datetime64(ORIGIN)).astype(int))
#: 1 April 2017, in days from ORIGIN.
POLICY_TIME = float((np.datetime64("2017-04-01") - np.datetime64(ORIGIN)).astype(int))

LOOPS = {
    "clearing": ["delayed_patients", "transfers"],
}


def build(policy_uplift: float = 0.10) -> Model:
    """The DToC model, in days from 1 August 2010 to 1 September 2019 (Euler, dt = 1 day).

    Examples
    --------
    >>> ds = build().run(final_time=365)
    >>> delayed = ds["Delayed patients"]
    >>> round(float(delayed.sel(time=0)), 3), round(float(delayed.sel(time=365)), 3)  # in equilibrium
    (2911.218, 2911.218)
    """
    m = Model("delayed transfers of care", time_units="day", initial_time=0, final_time=FINAL_TIME, dt=1.0,
              doc=__doc__ or "")
    m.constant("demand ratio at start", 0.5, units="dimensionless",
               doc="Patients needing onward care per day in August 2010, as a fraction of capacity. Calibrated.")
    m.constant("demand growth", 0.05, units="1/year",
               doc="Growth rate of that need once pressure starts. Calibrated.")
    m.constant("pressure start", 1000, units="day",
               doc="When the need starts to outgrow capacity (days after 1 August 2010). Calibrated.")
    m.constant("capacity at start", 600, units="patients/day",
               doc="Onward-care capacity: transfers it can take per day. Calibrated.")
    m.constant("normal delay", 7, units="day", doc="Average delay when capacity is plentiful. Assumed.")
    m.constant("policy uplift", policy_uplift, units="dimensionless",
               doc="Fractional rise of capacity from the 2017 funding and targets. Scenario input, not fitted.")
    m.constant("policy time", POLICY_TIME, units="day", doc="1 April 2017, in days after 1 August 2010.")
    m.constant("days per year", 365.25, units="day/year", doc="Calendar: the data are dated months.")
    m.stock("Delayed patients", initial="-normal_delay * capacity_at_start * ln(1 - demand_ratio_at_start)",
            inflows=["needing onward care"], outflows=["transfers"], units="patients",
            doc="Medically ready hospital patients waiting for onward care; integrated over a month, the "
                "month's delayed bed days.")
    m.aux("capacity", "capacity_at_start * (1 + policy_uplift * step(1, policy_time))", units="patients/day",
          doc="Onward-care capacity, with the 2017 uplift.")
    m.aux("years of pressure", "max(0, time - pressure_start) / days_per_year", units="year",
          doc="Years since the need started to grow.")
    m.flow("needing onward care", "demand_ratio_at_start * capacity_at_start * exp(demand_growth * years_of_pressure)",
           units="patients/day", doc="Patients becoming ready to leave hospital but needing onward care.")
    m.flow("transfers", "capacity * (1 - exp(-(delayed_patients / normal_delay) / capacity))",
           units="patients/day", doc="Transfers to onward care, saturating at the capacity (loop clearing).")
    return m
