"""Calibration speed: the boarding-school flu fit and posterior, and the naive way for comparison.

Run with ``.venv/bin/python benchmarks/bench_calibration.py`` (add ``--quick`` for a short
posterior). It measures

1. the maximum-likelihood fit of the flu model (NB2 likelihood; beta, gamma, phi_inv; four
   quasi-Newton starts, curvature intervals and derived R0 and recovery time), best of 3;
2. 20,000 posterior draws with emcee (24 walkers x 834 steps after 300 tuning steps, from
   the Laplace approximation at the maximum; the Stan case study's priors), with the
   estimates and diagnostics (834 steps are more than 50 autocorrelation times);
3. the naive way: scipy's L-BFGS-B (finite-difference gradient, one simulation per
   evaluation) on PySD runs of the same model written in Vensim's language, from the same
   starting values, and the time ratio against (1).

PySD integrates with Euler only, so the naive fit uses Euler at the same dt (1/16 day), which
takes a quarter of the derivative evaluations of sdflow's RK4 -- the comparison favours the
naive way.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import optimize, stats

import calibration as cal
from calibration.examples import flu
from calibration.posterior import diagnostics

PARAMS = {"beta": (0.1, 5.0), "gamma": (0.05, 2.0)}
PRIORS = {"beta": (0, None, stats.norm(2, 1)), "gamma": (0, None, stats.norm(0.4, 0.5)),
          "phi_inv": stats.expon(scale=1 / 5)}
DERIVED = {"R0": "beta / gamma", "recovery time": "1 / gamma"}

FLU_MDL = """{UTF-8}
Susceptible = INTEG(-infection, N - initial infected) ~ boys ~ |
Infected = INTEG(infection - recovery, initial infected) ~ boys ~ |
Recovered = INTEG(recovery, 0) ~ boys ~ |
infection = beta * Susceptible * Infected / N ~ boys/Day ~ |
recovery = gamma * Infected ~ boys/Day ~ |
beta = 2 ~ 1/Day ~ |
gamma = 0.5 ~ 1/Day ~ |
N = 763 ~ boys ~ |
initial infected = 1 ~ boys ~ |
********************************************************
	.Control
********************************************************~
		Simulation Control Parameters
	|
FINAL TIME = 14 ~ Day ~ |
INITIAL TIME = 0 ~ Day ~ |
SAVEPER = 1 ~ Day ~ |
TIME STEP = 0.0625 ~ Day ~ |
"""


def bench_fit(repeats: int = 3) -> cal.FitResult:
    times = []
    result = None
    for _ in range(repeats):
        t = time.perf_counter()
        result = cal.fit(flu.build(), flu.data(), PARAMS, {"Infected": "in_bed"}, "negbin", derived=DERIVED)
        times.append(time.perf_counter() - t)
    assert result is not None
    print(f"ML fit (NB2, 4 starts, curvature intervals): best {min(times):.2f} s of {repeats} "
          f"({', '.join(f'{t:.2f}' for t in times)}); {result.n_simulations} ensemble simulate calls")
    print(result.ci.to_string(float_format=lambda v: f"{v:.4f}"))
    return result


def bench_profile(result: cal.FitResult) -> None:
    t = time.perf_counter()
    rows = []
    for name in ("beta", "gamma", "phi_inv", "R0", "recovery time"):
        prof = result.profile(name)
        rows.append(f"  {name:14s} {prof.lower:.4f} - {prof.upper:.4f}")
    print(f"profile-likelihood 95% intervals ({time.perf_counter() - t:.1f} s):")
    print("\n".join(rows))


def bench_posterior(result: cal.FitResult, draws: int) -> None:
    import arviz as az

    t = time.perf_counter()
    idata = cal.sample(flu.build(), flu.data(), PRIORS, {"Infected": "in_bed"}, "negbin", draws=draws, walkers=24,
                       tune=300, seed=1, start=result, derived=DERIVED)
    elapsed = time.perf_counter() - t
    n = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    print(f"posterior: {n} draws (24 walkers x {idata.posterior.sizes['draw']} after 300 tuning steps) in "
          f"{elapsed:.1f} s; {idata.posterior.attrs['simulate_calls']} simulate calls; acceptance "
          f"{idata.posterior.attrs['acceptance_fraction']:.2f}")
    print(az.summary(idata, var_names=["beta", "gamma", "phi_inv", "R0", "recovery time"], hdi_prob=0.95,
                     round_to=4).to_string())
    q = {v: np.percentile(idata.posterior[v].values, [2.5, 50, 97.5]) for v in
         ("beta", "gamma", "phi_inv", "R0", "recovery time")}
    print("posterior median [2.5%, 97.5%]:")
    for v, (lo, med, hi) in q.items():
        print(f"  {v:14s} {med:.4f} [{lo:.4f}, {hi:.4f}]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(diagnostics(idata).to_string())


def bench_naive(result: cal.FitResult) -> float:
    import pysd

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flu.mdl"
        path.write_text(FLU_MDL)
        model = pysd.read_vensim(str(path))
        y = np.array(flu.IN_BED, dtype=float)
        calls = [0]

        def nll(x: np.ndarray) -> float:
            beta, gamma, phi_inv = x
            calls[0] += 1
            out = model.run(params={"beta": beta, "gamma": gamma}, return_columns=["Infected"],
                            return_timestamps=list(range(1, 15)), progress=False)
            m = np.maximum(out["Infected"].to_numpy(), 1e-5)
            phi = 1 / phi_inv
            return float(-stats.nbinom(phi, phi / (m + phi)).logpmf(y).sum())

        t = time.perf_counter()
        single = [nll(np.array([1.7, 0.5, 0.1])) for _ in range(5)]
        per_run = (time.perf_counter() - t) / 5
        runs = []
        for _ in range(2):  # best of two: the machine is shared
            calls[0] = 5
            t = time.perf_counter()
            res = optimize.minimize(nll, np.array([2.0, 0.5, 0.1]), method="L-BFGS-B",
                                    bounds=[(0.1, 5.0), (0.05, 2.0), (1e-6, 10.0)])
            runs.append(time.perf_counter() - t)
        elapsed = min(runs)
        del single
    print(f"naive (scipy L-BFGS-B on PySD runs, one start, no intervals): best {elapsed:.2f} s of 2, {calls[0] - 5} PySD runs "
          f"({per_run * 1000:.1f} ms each); estimates beta {res.x[0]:.4f}, gamma {res.x[1]:.4f}, "
          f"phi_inv {res.x[2]:.4f}, log-likelihood {-res.fun:.4f}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 posterior draws instead of 20,000")
    args = parser.parse_args()
    result = bench_fit()
    fit_time = result.elapsed
    t0 = time.perf_counter()
    cal.fit(flu.build(), flu.data(), PARAMS, {"Infected": "in_bed"}, "negbin", derived=DERIVED)
    fit_time = min(fit_time, time.perf_counter() - t0)
    bench_profile(result)
    bench_posterior(result, 2000 if args.quick else 20_000)
    naive = bench_naive(result)
    print(f"ratio naive / sdflow ML fit: {naive / fit_time:.1f}x (sdflow's fit also runs 4 starts, the Hessian and "
          "derived quantities)")


if __name__ == "__main__":
    main()
