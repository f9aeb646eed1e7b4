"""Delayed transfers of care (DToC) in England: the library model and its data.

The model is the library's ``delayed_transfers_of_care`` (:mod:`models.delayed_transfers_of_care`):
a queue of patients ready to leave hospital, drained by onward-care capacity that saturates.
This module adds what a calibration needs: the data loader and the calibration and
out-of-sample windows. Monthly ``delayed_days_total`` is compared with the ``Delayed patients``
stock integrated over each month (``aggregate="total"``).

Examples
--------
>>> ds = build().run()
>>> bool(ds["Delayed patients"].sel(time=0) > 0)
True
"""

from __future__ import annotations

import pandas as pd

from models.delayed_transfers_of_care import ORIGIN, build

from . import shared_data

__all__ = ["build", "data", "ORIGIN", "CALIBRATION", "VALIDATION"]

#: Calibration window (labels of the months used) and out-of-sample window.
CALIBRATION = ("2011-01-01", "2016-12-01")
VALIDATION = ("2017-01-01", "2019-08-01")


def data() -> pd.DataFrame:
    """``shared/data/england_delayed_transfers_monthly.csv``, indexed by ``period``."""
    return pd.read_csv(shared_data("england_delayed_transfers_monthly.csv"), parse_dates=["period"]).set_index(
        "period")
