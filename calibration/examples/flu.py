"""The 1978 boarding-school influenza outbreak: an SIR model and its data.

Closed population N = 763 boys, one index case at t0 = 0 (21 January 1978), observations
of the number of boys in bed on days 1-14, compared with the infectious stock I(t)
(``references/LOOPS_AND_CALIBRATION.md`` B3; Grinsztajn et al. 2021, the Stan case study):

    dS/dt = -beta S I / N,   dI/dt = beta S I / N - gamma I,   dR/dt = gamma I

The model integrates with RK4 at dt = 1/16 day: its error at the observation times is
below 1e-7 relative (checked against scipy's RK45 at rtol 1e-10 in the tests), far inside
the data's noise, and it lets one ensemble call simulate every walker or candidate.

Examples
--------
>>> ds = build().run(params={"beta": 1.7, "gamma": 0.5})
>>> round(float(ds["Infected"].sel(time=14) + ds["Susceptible"].sel(time=14) + ds["Recovered"].sel(time=14)), 6)
763.0
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sd_engine.builder import Model

from ..errors import DataError

__all__ = ["build", "data", "IN_BED", "N"]

N = 763
#: Boys in bed on days 1-14: the values of the R package `outbreaks`
#: (`influenza_england_1978_school`), used by the Stan case study (sum 1,559, peak 298 on day 6).
IN_BED = (3, 8, 26, 76, 225, 298, 258, 233, 189, 128, 68, 29, 14, 4)
#: The `pomp` package's `bsflu` digitisation, which differs (28 on day 3); refused by `data`.
_POMP_DAY3 = 28


def build() -> Model:
    """The SIR model of the outbreak (N = 763, one initial case)."""
    m = Model("boarding school flu", time_units="day", initial_time=0, final_time=14, dt=1 / 16, method="rk4",
              doc=__doc__ or "")
    m.constant("beta", 2.0, units="1/day", doc="Transmission rate.")
    m.constant("gamma", 0.5, units="1/day", doc="Recovery rate (1 / mean recovery time).")
    m.constant("N", N, units="boys", doc="The school's population.")
    m.constant("initial infected", 1, units="boys", doc="The index case.")
    m.stock("Susceptible", initial="n - initial_infected", outflows=["infection"], units="boys")
    m.stock("Infected", initial="initial_infected", inflows=["infection"], outflows=["recovery"], units="boys",
            doc="Infectious boys, compared with the number in bed.")
    m.stock("Recovered", initial=0, inflows=["recovery"], units="boys")
    m.flow("infection", "beta * susceptible * infected / n", units="boys/day")
    m.flow("recovery", "gamma * infected", units="boys/day")
    return m


def data(path: str | Path | None = None) -> pd.DataFrame:
    """The outbreak data, indexed by ``day``: the built-in values, or a CSV file checked against them.

    A file with the `pomp` digitisation (28 in bed on day 3 instead of 26) is refused:
    published results for this benchmark use the `outbreaks` values.

    Examples
    --------
    >>> int(data()["in_bed"].sum())
    1559
    """
    if path is None:
        return pd.DataFrame({"in_bed": list(IN_BED)}, index=pd.Index(range(1, 15), name="day"))
    frame = pd.read_csv(path)
    if not {"day", "in_bed"} <= set(frame.columns):
        raise DataError(f"`{Path(path).name}` needs columns `day` and `in_bed`.")
    frame = frame.set_index("day")
    day3 = frame["in_bed"].get(3)
    if day3 == _POMP_DAY3:
        raise DataError(
            f"`{Path(path).name}` is the `pomp` (bsflu) digitisation of the outbreak (28 in bed on day 3); the "
            "benchmark uses the `outbreaks` values (26 on day 3). Use the file in shared/data or `data()`."
        )
    if tuple(int(v) for v in frame["in_bed"]) != IN_BED:
        raise DataError(f"`{Path(path).name}` does not hold the 1978 outbreak's `outbreaks` values (sum 1,559, "
                        "peak 298 on day 6).")
    return frame[["in_bed"]]
