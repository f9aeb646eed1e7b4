"""Calibration speed on the whole-system model: multi-series fits to England's series.

Run with ``.venv/bin/python benchmarks/bench_wsf_calibration.py`` (``--repeat N``, best of N).
It times two fits of ``whole_system_flow`` end to end (data alignment, optimisation,
intervals, statistics in and out of sample):

1. the review's set-up (``reviews/whole_system_flow_scripts/wsf_multi.py``) with a start
   date: type-1 attendances, type-1 breaches (an expression) and acute delayed bed days,
   monthly 2016-2019; ``a1``, ``a2``, ``base ED time``, ``min transfer time``, ``initial DToC``
   and three dispersions (8 free parameters); four starts;
2. notebook 07's set-up: quarterly and monthly attendances, breaches and delayed days
   2014-2019 with the 2017 event as an input of estimated size, twelve months held out
   (9 free parameters); two starts.

It prints the wall time, the ensemble simulate calls and the runs simulated. The machine is
shared: run it when it is quiet, and read the best of the repeats.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

import calibration as cal
from calibration.examples import shared_data


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(shared_data(name), parse_dates=["period"]).set_index("period")


def review_setup() -> dict:
    ae, dtoc = read("england_ae_trust_totals_monthly.csv"), read("england_delayed_transfers_monthly.csv")
    frame = pd.DataFrame({"att1": ae["attendances_type1"], "br1": ae["breaches_type1"]}).join(
        dtoc[["delayed_days_acute"]], how="left")
    return dict(
        data=frame,
        params={"population": 55_980_000, "a1": (0.15, 0.35), "a2": (0.2, 0.8), "base ED time": (0.03, 0.12),
                "min transfer time": (0.5, 4.0), "initial DToC": (10, 200)},
        observe=[cal.Observe("att1", variable="ED attendances", aggregate="total", likelihood="negbin"),
                 cal.Observe("br1", variable="ED attendances * (1 - four hour performance)", aggregate="total",
                             likelihood="negbin"),
                 cal.Observe("delayed_days_acute", variable="Acute DToC", aggregate="total", likelihood="negbin")],
        origin="2016-01-01", starts=4)


def notebook_setup() -> dict:
    monthly, quarterly = read("england_ae_attendances_monthly.csv"), read("england_ae_quarterly_2004_2015.csv")
    trusts, dtoc = read("england_ae_trust_totals_monthly.csv"), read("england_delayed_transfers_monthly.csv")
    frame = pd.concat({
        "attendances_quarterly": quarterly["type1_attendances"].loc["2014-04-01":"2015-04-01"],
        "attendances_monthly": monthly["type1"].loc["2015-07-01":"2019-03-01"],
        "breaches": trusts["breaches_type1"],
        "delayed_days_acute": dtoc["delayed_days_acute"].loc["2014-04-01":"2019-03-01"],
    }, axis=1, sort=True)
    return dict(
        data=frame,
        params={"a1": (0.15, 0.35), "a2": (0.2, 0.8), "base ED time": (0.03, 0.12),
                "min transfer time": (0.5, 4.0), "dtoc drop": (0.0, 0.6)},
        observe=[cal.Observe("attendances_quarterly", variable="ED attendances", aggregate="total",
                             likelihood="negbin"),
                 cal.Observe("attendances_monthly", variable="ED attendances", aggregate="total", likelihood="negbin"),
                 cal.Observe("breaches", variable="ED attendances * (1 - four hour performance)", aggregate="total",
                             likelihood="negbin"),
                 cal.Observe("delayed_days_acute", variable="Acute DToC", aggregate="total", likelihood="negbin")],
        origin="2014-01-01", population=55_980_000, window=("2014-04-01", "2018-03-01"),
        holdout=("2018-04-01", "2019-03-01"), starts=2,
        inputs={"min transfer time": "min transfer time * (1 - dtoc drop * ramp(1 / 122, date('2017-04-01'), "
                                     "date('2017-08-01')))"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for label, setup in (("review set-up, 8 free parameters", review_setup),
                         ("notebook 07 set-up, 9 free parameters", notebook_setup)):
        best = None
        for _ in range(args.repeat):
            kw = setup()
            data, params, observe = kw.pop("data"), kw.pop("params"), kw.pop("observe")
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = cal.fit("whole_system_flow", data, params, observe, **kw)
            seconds = time.perf_counter() - start
            if best is None or seconds < best[0]:
                best = (seconds, fit)
        assert best is not None
        seconds, fit = best
        print(f"{label}: {seconds:.1f} s, {fit.n_simulations} ensemble simulations, {fit.problem.n_runs} runs, "
              f"{fit.n_obs} observations, log-likelihood {fit.loglik:.2f}, on a bound: {sorted(fit.on_bound)}")


if __name__ == "__main__":
    main()
