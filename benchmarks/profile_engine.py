"""Where an sdflow run spends its time: fixed overhead, per step, building the Dataset.

    .venv/bin/python benchmarks/profile_engine.py [MODEL] [RUNS] [PARAMETER LOW HIGH]

Defaults: ``sir 1000 "Contact Infectivity" 0.1 0.5``. Prints a phase breakdown (best of
several repeats) and the top functions of a cProfile of ``model.run``. A companion of
``bench_engine.py`` for finding what to optimise; it asserts nothing.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sd_engine as sd  # noqa: E402
from sd_engine.integrate import simulate_results  # noqa: E402


def best(fn: Callable[[], Any], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "sir"
    runs = int(argv[1]) if len(argv) > 1 else 1000
    if len(argv) > 4:
        parameter, low, high = argv[2], float(argv[3]), float(argv[4])
    elif name == "teacup":
        parameter, low, high = "Characteristic Time", 5.0, 15.0
    else:
        parameter, low, high = "Contact Infectivity", 0.1, 0.5
    model = sd.load(name)
    params = {parameter: np.linspace(low, high, runs)} if runs > 1 else {}
    t = model.spec.time
    steps = int(round((t.final_time - t.initial_time) / t.dt))
    results = simulate_results(model, params=params)

    total = best(lambda: model.run(params=params))
    simulate = best(lambda: simulate_results(model, params=params))
    fixed = best(lambda: simulate_results(model, params=params, final_time=t.initial_time))
    dataset = best(lambda: results.to_dataset())
    print(f"{name}: {runs} run(s), {steps} Euler steps, {model.layout.n_stocks} stocks, "
          f"{model.layout.n_series} recorded series")
    print(f"  model.run()                     {total * 1e3:9.2f} ms")
    print(f"  simulate_results()              {simulate * 1e3:9.2f} ms")
    print(f"    fixed cost (zero steps)       {fixed * 1e3:9.2f} ms")
    print(f"    per step                      {(simulate - fixed) / steps * 1e6:9.2f} µs "
          f"({(simulate - fixed) / steps / runs * 1e9:.1f} ns per run-step)")
    print(f"  Results.to_dataset()            {dataset * 1e3:9.2f} ms")

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(5):
        model.run(params=params)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
    print("\ncProfile of 5 x model.run(), by own time (profiling inflates per-call costs):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
