"""Imported models: sdflow against PySD on the shared test models (``python benchmarks/bench_import.py``).

For each sample model of ``../shared/test-models/samples`` that sdflow imports and that
matches its canonical output, this times

(a) loading: ``sd.load(path)`` (PySD's parser, conversion, compilation) against
    ``pysd.read_vensim``/``read_xmile`` (PySD's parser and code generator);
(b) one run: ``model.run()`` against PySD's ``model.run()``;
(c) a 1,000-run ensemble over the model's first constant (+-10 %): one sdflow call with a
    1-D parameter array against a loop of PySD runs, extrapolated from a measured subset.

Before timing, it checks that sdflow and PySD agree on the model's stocks (relative 1e-6).
Times are best-of-N ``time.perf_counter`` with the garbage collector off; the table gives
seconds and the ratio PySD / sdflow (above 1: sdflow is faster). It prints the table and
writes it to ``benchmarks/results_import.md``. A script, not a test.
"""

from __future__ import annotations

import datetime as dt
import gc
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import sd_engine as sd  # noqa: E402
from sd_engine.expr import canonical  # noqa: E402
from sd_engine.io.pysd_runtime import translate  # noqa: E402

SAMPLES = REPO.parent / "shared" / "test-models" / "samples"
RESULTS = Path(__file__).resolve().parent / "results_import.md"
MODELS = [
    "teacup/teacup.mdl",
    "SIR/SIR.mdl",
    "SIR/SIR.xmile",
    "Lotka_Volterra/Lotka_Volterra.mdl",
    "Population/Subscripted Population Model.mdl",
    "Workforce/workforce.mdl",
]
# Not timed: pendulum/Single_Pendulum.mdl saves every 0.1 with a time step of 1/128, which sdflow
# refuses (SAVEPER must be a whole number of steps); Query_file and Roessler are known failures.
ENSEMBLE = 1_000
PYSD_SUBSET = 10


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return min(times)


def pysd_load(path: Path) -> object:
    return translate(path)  # PySD's parser and code generator, on a copy of the file


def main() -> int:
    rows = []
    for name in MODELS:
        path = SAMPLES / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sd.load(path)
        params = [p for p in model.parameters.values() if p.values is None and not p.internal
                  and canonical(p.name) not in ("initial_time", "final_time", "saveper")]
        if not params:
            print(f"skip {name}: no scalar constant to vary")
            continue
        param = params[0]
        assert param.equation is not None and hasattr(param.equation, "value")
        base = float(param.equation.value)  # type: ignore[union-attr]
        values = base * np.linspace(0.9, 1.1, ENSEMBLE)

        pysd_model = pysd_load(path)
        # Same numbers first: compare the stocks at every saved time.
        ours = model.run()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = pysd_model.run()  # type: ignore[attr-defined]
        by_key = {canonical(str(c).split("[")[0]): c for c in theirs.columns}
        for stock in model.spec.of_kind("stock"):
            if stock.dims or canonical(stock.name) not in by_key:
                continue
            np.testing.assert_allclose(ours[stock.name].values, theirs[by_key[canonical(stock.name)]].values,
                                       rtol=1e-6, atol=1e-9, err_msg=f"{name}: {stock.name}")

        load_ours = best(lambda: sd.load(path), 3)
        load_pysd = best(lambda: pysd_load(path), 1)
        run_ours = best(lambda: model.run(), 10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_pysd = best(lambda: pysd_model.run(), 3)  # type: ignore[attr-defined]
            ens_ours = best(lambda: model.run(params={param.name: values}), 3)

            def pysd_subset() -> None:
                for v in values[:PYSD_SUBSET]:
                    pysd_model.run(params={param.name: float(v)})  # type: ignore[attr-defined]

            ens_pysd = best(pysd_subset, 1) * ENSEMBLE / PYSD_SUBSET
        rows.append((name, param.name, load_ours, load_pysd, run_ours, run_pysd, ens_ours, ens_pysd))
        print(f"{name}: run {run_pysd / run_ours:.1f}x, ensemble {ens_pysd / ens_ours:.0f}x", flush=True)

    lines = [
        f"# Imported models: sdflow vs PySD ({dt.date.today()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()})",
        "",
        "Seconds (best of N); ratio = PySD / sdflow. The 1,000-run PySD ensemble is a loop of "
        f"`run(params=...)` extrapolated from {PYSD_SUBSET} runs; sdflow's is one call with a parameter array.",
        "",
        "| model | varied constant | load sdflow | load PySD | ratio | run sdflow | run PySD | ratio "
        "| 1,000 runs sdflow | 1,000 runs PySD | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, pname, lo, lp, ro, rp, eo, ep in rows:
        lines.append(f"| {name} | {pname} | {lo:.3f} | {lp:.3f} | {lp / lo:.1f} | {ro:.4f} | {rp:.4f} | "
                     f"{rp / ro:.1f} | {eo:.3f} | {ep:.1f} | {ep / eo:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
