"""Delayed transfers of care (DToC) in England: a small capacity-constrained queue.

Patients who are medically ready to leave hospital but need onward care join the stock
of **Delayed patients**. They leave as transfers, which follow the delayed stock when
onward-care capacity is plentiful and saturate at the capacity when it is not (the
"fuzzy minimum" of SD practice)::

    d(Delayed patients)/dt = needing onward care - transfers
    needing onward care    = demand ratio at start * capacity at start
                             * exp(demand growth * years after the pressure start)
    transfers              = capacity * (1 - exp(-(delayed patients / normal delay) / capacity))
    capacity               = capacity at start * (1 + policy uplift * step(1, policy time))

At equilibrium ``delayed = -normal delay * capacity * ln(1 - demand / capacity)``, which
rises steeply as demand approaches capacity -- the mechanism behind the 2014-2017 surge.
The stock starts at that equilibrium. Calibrated: capacity at start, demand ratio at start,
demand growth and the time the pressure starts (with the likelihood's dispersion). Need is
flat until then: the 2011-2013 series is flat and rises steeply from 2014.
Delayed patients times days is the delayed *bed days* the statistics count, so the
monthly `delayed_days_total` is compared with the stock integrated over each month
(``aggregate="total"``) in a model that runs in days from 1 August 2010.

Fixed assumptions (not calibrated): the normal delay (7 days), flat real-terms onward-care
capacity before 2017, and the **2017 policy input**: from 1 April 2017 (the spring 2017
social-care funding and the national DToC targets that followed) capacity rises by
``policy uplift``, 10% by default -- an exogenous scenario input set before looking at
2017-2019, not fitted (the 2011-2016 data contain no information about it).

Examples
--------
>>> ds = build().run()
>>> bool(ds["Delayed patients"].sel(time=0) > 0)
True
"""

from __future__ import annotations

import pandas as pd

from sd_engine.builder import Model

from ..observations import model_times
from . import shared_data

__all__ = ["build", "data", "ORIGIN", "CALIBRATION", "VALIDATION"]

ORIGIN = "2010-08-01"
#: Calibration window (labels of the months used) and out-of-sample window.
CALIBRATION = ("2011-01-01", "2016-12-01")
VALIDATION = ("2017-01-01", "2019-08-01")
_END = float(model_times(pd.DatetimeIndex(["2019-09-01"]), ORIGIN, "day")[0])
_POLICY = float(model_times(pd.DatetimeIndex(["2017-04-01"]), ORIGIN, "day")[0])


def build(policy_uplift: float = 0.10) -> Model:
    """The DToC model, in days from 1 August 2010 to 1 September 2019 (Euler, dt = 1 day)."""
    m = Model("delayed transfers of care", time_units="day", initial_time=0, final_time=_END, dt=1.0,
              doc=__doc__ or "")
    m.constant("demand ratio at start", 0.5, units="dimensionless",
               doc="Patients needing onward care per day in August 2010, as a fraction of capacity.")
    m.constant("demand growth", 0.05, units="1/year", doc="Growth rate of that need once pressure starts.")
    m.constant("pressure start", 1000, units="day", doc="When the need starts to outgrow capacity (days after "
               "1 August 2010).")
    m.constant("capacity at start", 600, units="patients/day", doc="Onward-care capacity: transfers it can take "
               "per day.")
    m.constant("normal delay", 7, units="day", doc="Average delay when capacity is plentiful (assumed).")
    m.constant("policy uplift", policy_uplift, units="dimensionless",
               doc="Fractional rise of capacity from the 2017 funding and targets (scenario input).")
    m.constant("policy time", _POLICY, units="day", doc="1 April 2017.")
    m.stock("Delayed patients", initial="-normal_delay * capacity_at_start * ln(1 - demand_ratio_at_start)", inflows=["needing onward care"],
            outflows=["transfers"], units="patients")
    m.aux("capacity", "capacity_at_start * (1 + policy_uplift * step(1, policy_time))", units="patients/day")
    m.flow("needing onward care",
           "demand_ratio_at_start * capacity_at_start * exp(demand_growth * max(0, time - pressure_start) / 365.25)",
           units="patients/day")
    m.flow("transfers", "capacity * (1 - exp(-(delayed_patients / normal_delay) / capacity))",
           units="patients/day")
    return m


def data() -> pd.DataFrame:
    """``shared/data/england_delayed_transfers_monthly.csv``, indexed by ``period``."""
    return pd.read_csv(shared_data("england_delayed_transfers_monthly.csv"), parse_dates=["period"]).set_index(
        "period")
