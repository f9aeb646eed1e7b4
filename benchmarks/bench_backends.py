"""sdflow's back ends against Simlin and PySD, one run and 1,000-run ensembles (``make bench``).

Models: teacup and SIR (the SDXorg ``.mdl`` files in ``../shared/test-models``), the
whole-system model of the library (its 15-year run; Simlin reads it as XMILE written by
``sd_engine.io.xmile_writer``) and World3-03 (the public ``wrld3-03.mdl``: give its path as
the first argument or in ``$WORLD3_MDL``; it is not shipped). For each it times

- one run: ``model.run(backend=...)`` for numpy and numba (the Dataset included), Simlin's
  ``model.run(analyze_loops=False).results`` (its DataFrame included), PySD's ``run()`` for
  teacup and SIR;
- a 1,000-run ensemble (a constant varied over +-20 %): one sdflow call per back end, a loop
  of 1,000 Simlin runs with ``overrides``, and PySD's time per run x 1,000 (teacup, SIR);
- the whole-system model's 10,000-run ensemble on numpy and numba (the policy lab's size).

Before timing, numba's results are checked against numpy's (1e-10 relative) and Simlin's
stocks against sdflow's (reported, not asserted: different engines). The numba kernels are
compiled into a fresh cache folder first, and the compile time is reported. Times are the
best of several repeats (``time.perf_counter``, garbage collector off during each call; one full
collection before the rounds, not before each call), the contenders interleaved round by round
so that load from other processes hits them alike. Writes
``benchmarks/results.md``. A script, not a test: wall-clock numbers depend on the machine.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "test-models" / "samples"
RESULTS = Path(__file__).resolve().parent / "results.md"
os.environ.setdefault("SDFLOW_CACHE_DIR", tempfile.mkdtemp(prefix="sdflow-bench-"))  # a cold cache: compile timed

import sd_engine as sd  # noqa: E402
from sd_engine.backends import precompile  # noqa: E402
from sd_engine.testing import assert_results_close  # noqa: E402

RUNS = 1_000
LAB_RUNS = 10_000


def best(fn: Callable[[], Any], repeats: int) -> float:
    """The best of `repeats` timed calls, garbage collector off during each.

    No full collection before each call: one walks every object of the process (~250,000
    here, tens of megabytes) and leaves the caches cold, which made a 0.8 ms call take 1.4 ms
    (teacup's compiled ensemble); a program running models pays that only when Python's own
    collector runs, rarely. :func:`interleaved` collects once before its rounds."""
    times = []
    for _ in range(repeats):
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def interleaved(contenders: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best time of each contender, the contenders taking turns round by round."""
    out = {name: float("inf") for name in contenders}
    gc.collect()
    for _ in range(repeats):
        for name, fn in contenders.items():
            out[name] = min(out[name], best(fn, 1))
    return out


def fmt(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)) or b == 0:
        return "-"
    return f"{a / b:,.1f}×"


def simlin_model(path: Path | None, spec: Any) -> Any:
    import simlin

    if path is not None:
        return simlin.load(str(path))
    from sd_engine.io.xmile_writer import write_xmile

    out = Path(tempfile.mkdtemp(prefix="sdflow-bench-")) / f"{spec.name.replace(' ', '_')}.xmile"
    write_xmile(spec, out)
    return simlin.load(str(out))


def pysd_model(path: Path | None) -> Any:
    if path is None:
        return None
    import pysd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_vensim(str(path))


def parameter(model: sd.CompiledModel) -> tuple[str, float]:
    """The first settable scalar constant with a non-zero value: what the ensembles vary."""
    for key, var in model.parameters.items():
        value = var.values[0] if var.values is not None else getattr(var.equation, "value", 0.0)
        if not var.internal and not var.dims and value:
            return var.name, float(value)
    raise ValueError(f"{model.spec.name}: no constant to vary")


def bench_model(label: str, model: sd.CompiledModel, source: Path | None, repeats: int,
                with_pysd: bool, ensemble_options: dict[str, Any] | None = None,
                ensemble_rounds: int | None = None) -> dict[str, Any]:
    name, base = parameter(model)
    values = np.linspace(0.8, 1.2, RUNS) * base
    row: dict[str, Any] = {"model": label, "steps": None, "parameter": name}
    # Compile the numba kernels (single-run and ensemble drivers) into the cold cache, timed.
    start = time.perf_counter()
    single_numba = model.run(backend="numba")
    row["compile"] = time.perf_counter() - start
    row["compile_ensemble"] = precompile(model)  # the model's own ensemble driver, used from then on
    single_numpy = model.run(backend="numpy")
    row["steps"] = len(single_numpy["time"]) - 1
    assert_results_close(single_numba, single_numpy, rtol=1e-10, atol=1e-10)
    ens = {name: values}
    opts = ensemble_options or {}
    row["ensemble_options"] = opts
    assert_results_close(model.run(ens, backend="numba", **opts), model.run(ens, backend="numpy", **opts), rtol=1e-10,
                         atol=1e-10)

    try:
        slm = simlin_model(source, model.spec)
        slm.run(analyze_loops=False)
    except Exception as exc:  # noqa: BLE001 -- a model Simlin cannot read is reported, not fatal
        print(f"{label}: Simlin cannot run it: {type(exc).__name__}: {exc}")
        slm = None
    contenders: dict[str, Callable[[], Any]] = {
        "numpy": lambda: model.run(backend="numpy"),
        "numba": lambda: model.run(backend="numba"),
    }
    if slm is not None:
        contenders["simlin"] = lambda: slm.run(analyze_loops=False).results
    pysd = pysd_model(source) if with_pysd else None
    if pysd is not None:
        contenders["pysd"] = lambda: pysd.run()
    row["single"] = interleaved(contenders, repeats)
    # Simlin's answer against sdflow's, on the stocks it names alike.
    df = slm.run(analyze_loops=False).results if slm is not None else None
    diffs = []
    for stock in [v for v in model.spec.variables if v.kind == "stock"] if df is not None else []:
        col = next((c for c in df.columns if str(c).lower().replace("_", " ") == stock.name.lower()), None)
        if col is not None and len(df[col]) == len(single_numpy["time"]):
            ref = single_numpy[stock.name].values
            diffs.append(float(np.max(np.abs(df[col].values - ref) / np.maximum(np.abs(ref), 1e-9))))
    row["simlin_diff"] = max(diffs) if diffs else None

    ensemble: dict[str, Callable[[], Any]] = {
        "numpy": lambda: model.run(ens, backend="numpy", **opts),
        "numba": lambda: model.run(ens, backend="numba", **opts),
    }
    if slm is not None:
        simlin_name = next((c for c in slm.get_var_names() if c.lower().replace("_", " ") == name.lower()), name)

        def simlin_loop() -> None:
            for v in values:
                slm.run(overrides={simlin_name: float(v)}, analyze_loops=False).results

        ensemble["simlin"] = simlin_loop
    row["ensemble"] = interleaved(ensemble, max(1, repeats // 4) if ensemble_rounds is None else ensemble_rounds)
    if "pysd" in row["single"]:
        row["ensemble"]["pysd"] = row["single"]["pysd"] * RUNS  # per run x runs (a loop of 1,000 would take minutes)
    return row


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    world3 = Path(sys.argv[1]) if len(sys.argv) > 1 else (Path(os.environ["WORLD3_MDL"])
                                                          if os.environ.get("WORLD3_MDL") else None)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    rows = []
    rows.append(bench_model("teacup", sd.load(SHARED / "teacup" / "teacup.mdl"), SHARED / "teacup" / "teacup.mdl", 20,
                            True))
    # Five rounds of SIR's ensembles (~0.7 s each, Simlin's loop most of it), as teacup's: the
    # best of two, as before, moved with the machine's noise (10-20 %).
    rows.append(bench_model("SIR", sd.load(SHARED / "SIR" / "SIR.mdl"), SHARED / "SIR" / "SIR.mdl", 10, True,
                            ensemble_rounds=5))
    wsf = sd.load("whole_system_flow")
    from sd_engine.lab import get_profile
    from sd_engine.lab.cli import report_saveper
    from sd_engine.sensitivity import sample

    profile = get_profile("whole_system_flow")
    # As the policy lab saves it: once a month (all 5,476 days of 339 series x 1,000 runs would be 15 GB).
    lab_saveper = report_saveper(profile)
    rows.append(bench_model("whole-system flow (15 years)", wsf, None, 5, False, {"saveper": lab_saveper}))
    if world3 is not None and world3.exists():
        rows.append(bench_model("World3-03", sd.load(world3), world3, 10, False))
    # The policy lab's size: 10,000 runs of the whole-system model, a Latin hypercube over the lab
    # profile's own uncertain parameters (as benchmarks/bench_lab.py and `sdflow lab` draw them).
    lab = sample(profile.uncertainty, LAB_RUNS, method="lhs", seed=0).params
    # The series the lab keeps: its metrics' and fan charts' variables.
    kept = list(dict.fromkeys([m.variable for m in profile.metrics] + list(profile.fan_variables)))
    from sd_engine.ensemble import run_ensemble

    outcome: dict[str, Any] = {}

    def lab_run(backend: str) -> None:
        ds = run_ensemble(wsf, lab, chunk_size=2500, saveper=lab_saveper, backend=backend, variables=kept)
        outcome[backend] = int((ds["run_status"] == "ok").sum())

    lab_times = interleaved({"numpy": lambda: lab_run("numpy"), "numba": lambda: lab_run("numba")}, 1)
    lab_times["ok"] = min(outcome.values())
    write(rows, lab_times, list(profile.uncertainty), world3, load_before, time.perf_counter() - started,
          lab_saveper)


def write(rows: list[dict[str, Any]], lab: dict[str, float], levers: list[str], world3: Path | None,
          load_before: float, wall: float, lab_saveper: float) -> None:
    import numba
    import simlin

    lines = ["# sdflow back ends against Simlin and PySD", "",
             "Generated by `make bench` (`benchmarks/bench_backends.py`); overwritten on each run. One run and a "
             f"{RUNS:,}-run ensemble (a constant varied over ±20 %) per model; sdflow's times include its "
             "`xarray.Dataset`, Simlin's its DataFrame (`run(analyze_loops=False).results`), PySD's its DataFrame. "
             "sdflow runs an ensemble in one call; Simlin in a loop of runs with `overrides`; PySD's ensemble "
             "time is its time per run × runs. Best of several repeats, contenders interleaved (one full garbage "
             "collection before the rounds, none before each call). numba's results "
             "are checked equal to numpy's (1e-10 relative) before timing.", "",
             "## One run", "",
             "| model | steps | numpy | numba | Simlin | PySD | numba / Simlin | numpy / numba |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["single"]
        lines.append(f"| {r['model']} | {r['steps']:,} | {fmt(s['numpy'])} | {fmt(s['numba'])} | {fmt(s.get('simlin'))} | "
                     f"{fmt(s.get('pysd'))} | {ratio(s['numba'], s.get('simlin'))} | {ratio(s['numpy'], s['numba'])} |")
    lines += ["", f"## {RUNS:,}-run ensembles", "",
              "| model | varied | numpy | numba | Simlin loop | PySD (per run × runs) | Simlin / numba | numpy / numba |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = r["ensemble"]
        lines.append(f"| {r['model']} | {r['parameter']} | {fmt(e['numpy'])} | {fmt(e['numba'])} | "
                     f"{fmt(e.get('simlin'))} | {fmt(e.get('pysd'))} | {ratio(e.get('simlin'), e['numba'])} | "
                     f"{ratio(e['numpy'], e['numba'])} |")
    lines += ["", f"The whole-system model's ensembles save every {lab_saveper:.1f} days (a month), as the policy "
              "lab does (Simlin's loop keeps every day).", "",
              f"## The policy lab's size: {LAB_RUNS:,} runs of the whole-system model (15 years)", "",
              f"`run_ensemble` in this process, chunks of 2,500 runs, saved every {lab_saveper:.1f} days and keeping "
              "the lab profile's metric and fan-chart variables (as `sdflow lab`).", "",
              f"Parameters varied: the lab profile's {len(levers)} uncertain parameters over their ranges, a Latin "
              f"hypercube (as `benchmarks/bench_lab.py`): {', '.join(levers)}. Runs that ended ok: "
              f"{int(lab['ok']):,} of {LAB_RUNS:,}.", "",
              f"| numpy | numba | numpy / numba |", "|---|---|---|",
              f"| {fmt(lab['numpy'])} | {fmt(lab['numba'])} | {ratio(lab['numpy'], lab['numba'])} |", "",
              "## Compile (numba, a cold cache)", "",
              "| model | single-run kernel | ensemble driver | Simlin's largest relative difference on stocks |",
              "|---|---|---|---|"]
    for r in rows:
        diff = "-" if r["simlin_diff"] is None else f"{r['simlin_diff']:.1e}"
        lines.append(f"| {r['model']} | {fmt(r['compile'])} | {fmt(r['compile_ensemble'])} | {diff} |")
    lines += ["", "The first model's single-run time includes compiling the shared drivers once per machine "
              "(cached beside `sd_engine/numba_builtins.py`); a second process loads every kernel from the "
              "disk cache.", "", "## Machine", "",
              f"- date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
              f"- python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
              f"pysimlin {getattr(simlin, '__version__', '?')}, sdflow {sd.__version__}",
              f"- {platform.platform()}, {os.cpu_count()} cores; load average before / after: "
              f"{load_before:.2f} / {os.getloadavg()[0]:.2f} (a shared machine: ratios from one run are steadier "
              "than times)",
              f"- World3-03: {world3 if world3 else 'not given (pass wrld3-03.mdl as the first argument)'}",
              f"- wall time: {wall:.0f} s"]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
