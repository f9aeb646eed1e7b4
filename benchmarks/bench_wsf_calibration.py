"""Calibration speed on the whole-system model: the joint fit to England's series.

Run with ``.venv/bin/python benchmarks/bench_wsf_calibration.py`` (``--repeat N``, best of N).
It times the joint fit of ``models/wsf_fit.py`` end to end (data alignment, optimisation,
intervals, statistics): monthly type-1 attendances, 4-hour performance and acute delayed bed
days, April 2012 to February 2020 less the last two years of each series, 7 model parameters
and 3 dispersions, England's population, from two starts:

1. the shipped estimates (``FIT``): the cost of confirming a maximum;
2. the centre of every parameter's range: a cold start, as an analyst's first fit would be.

It prints the wall time, the ensemble simulate calls and the log-likelihood reached. The
machine is shared: run it when it is quiet, and read the best of the repeats.
"""

from __future__ import annotations

import argparse
import time
import warnings

from models import wsf_fit


def one(start: str) -> tuple[float, int, float]:
    params = None
    if start == "centre":
        params = {name: (lo, hi, (lo + hi) / 2) for name, (lo, hi) in wsf_fit.FREE.items()}
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = wsf_fit.fit_england(params=params)
    return time.perf_counter() - t, fit.n_simulations, fit.loglik


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for start in ("shipped", "centre"):
        runs = [one(start) for _ in range(args.repeat)]
        wall, calls, loglik = min(runs)
        print(f"start at {start:8s}: {wall:6.1f} s, {calls} ensemble simulations, log-likelihood {loglik:.3f}")


if __name__ == "__main__":
    main()
