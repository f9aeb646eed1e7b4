"""Type-1 A&E attendances in England with seasonality: the library model and its data.

The model is the library's ``ae_attendances`` (:mod:`models.ae_attendances`): England's
population times a trending attendance rate and an annual cycle. Monthly type-1 counts are
the attendance flow integrated over each calendar month (``aggregate="total"``). The data
end before the COVID-19 break of March 2020 (``shared/data`` README); fit with
``window=(None, "2020-02-01")``.

Examples
--------
>>> ds = build().run(final_time=30)
>>> float(ds["Population"].sel(time=0))
53000000.0
"""

from __future__ import annotations

import pandas as pd

from models.ae_attendances import ORIGIN, build

from . import shared_data

__all__ = ["build", "data", "ORIGIN"]


def data() -> pd.DataFrame:
    """``shared/data/england_ae_attendances_monthly.csv``, indexed by ``period``."""
    return pd.read_csv(shared_data("england_ae_attendances_monthly.csv"), parse_dates=["period"]).set_index("period")
