"""``sdflow lab``: scenarios × uncertainty for a library model, with an HTML report.

Examples
--------
.. code-block:: console

    $ sdflow lab whole_system_flow --samples 200 --out demo-output
    $ sdflow lab whole_system_flow --scenarios "baseline,savings_programme+pooled_budget" --samples 50
    $ sdflow lab whole_system_flow --scenarios my_scenarios/ --scheduler tcp://10.0.0.5:8786

``--scenarios`` takes a ``.toml``/``.json`` file, a folder of them, or comma-separated names
of shipped scenarios, where ``a+b`` composes scenarios ``a`` and ``b``. By default every
shipped scenario of the model runs, the baseline first. The output folder gets
``results.nc`` (the experiment), ``sensitivity.nc`` (Morris and Sobol indices),
``report.html`` and ``store/`` (finished chunks: run the same command again after an
interruption and only the missing chunks are computed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError

if TYPE_CHECKING:  # xarray loads when the lab runs, not when `sdflow` registers the command
    import xarray as xr

__all__ = ["register", "run_lab", "load_scenarios", "LabOutput", "report_saveper"]


def register(subparsers: Any) -> None:
    """Add the ``lab`` subcommand to the ``sdflow`` argument parser."""
    p = subparsers.add_parser(
        "lab", help="run policy scenarios under parameter uncertainty and write an HTML report",
        description="Run scenarios of a model (a library model, or a model file with its --profile) over a "
                    "parameter-uncertainty design (in chunks, locally or on a Dask cluster), compute the outcome "
                    "metrics, sensitivity indices and loop dominance, and write results.nc, report.html and the "
                    "scorecard and runs as CSV and Excel files.")
    p.add_argument("model", help="a library model (e.g. whole_system_flow) or a Vensim/XMILE model file")
    p.add_argument("--profile", metavar="FILE", default=None,
                   help="the lab profile (outcome metrics, uncertain parameters) as a TOML or JSON file; needed for a "
                        "model that has none, such as an imported one (see sd_engine.lab.load_profile)")
    p.add_argument("--scenarios", default=None, metavar="FILE|DIR|NAMES",
                   help="a scenario file, a folder of them, or names (comma-separated; a+b composes); "
                        "default: every shipped scenario of the model")
    p.add_argument("--samples", type=int, default=100, metavar="N", help="parameter draws per scenario (default 100)")
    p.add_argument("--design", choices=("lhs", "mc", "sobol"), default="lhs", help="uncertainty design (default lhs)")
    p.add_argument("--posterior", metavar="FILE", default=None,
                   help="use draws of a calibration posterior (arviz netCDF) instead of the design")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="Dask scheduler address, or 'local' for a two-worker LocalCluster; default: this process")
    p.add_argument("--out", metavar="DIR", default="lab-output", help="output folder (default lab-output)")
    p.add_argument("--seed", type=int, default=0, help="seed of the design and of the runs (default 0)")
    p.add_argument("--final-time", type=float, default=None, help="horizon in model time units (default: the model's)")
    p.add_argument("--morris", type=int, default=10, metavar="R",
                   help="Morris trajectories for the tornado plots (0 to skip; default 10)")
    p.add_argument("--sobol", type=int, default=64, metavar="N",
                   help="Sobol base sample (a power of two; 0 to skip; default 64) over the top Morris parameters")
    p.add_argument("--sobol-parameters", type=int, default=5, metavar="K",
                   help="parameters in the Sobol analysis, the K most influential in the screening (default 5)")
    p.add_argument("--no-loops", action="store_true", help="skip loop dominance by scenario")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_main)


def load_scenarios(model: str, spec: str | None) -> tuple[Any, ...]:
    """Scenarios from a file, a folder, or comma-separated names (``a+b`` composes)."""
    from ..scenario import compose, load, shipped

    if spec is None:
        chosen = [load(path) for path in shipped(model).values()]
        if not chosen:
            raise SpecError(f"No shipped scenario is for model `{model}`; give `--scenarios FILE|DIR|NAMES`.")
        chosen.sort(key=lambda s: (s.name != "baseline", s.name))
        return tuple(chosen)
    path = Path(spec)
    if path.is_dir():
        files = sorted([*path.glob("*.toml"), *path.glob("*.json")])
        if not files:
            raise SpecError(f"The folder `{path}` holds no scenario files (.toml or .json).")
        out = [load(f) for f in files]
        out.sort(key=lambda s: (s.name != "baseline", s.name))
        return tuple(out)
    if path.suffix.lower() in (".toml", ".json"):
        return (load(path),)
    result = []
    for item in (x.strip() for x in spec.split(",")):
        if not item:
            raise SpecError(f"`--scenarios {spec}` has an empty name; separate names with single commas.")
        parts = [load(x.strip(), model) for x in item.split("+")]
        result.append(parts[0] if len(parts) == 1 else compose(*parts))
    return tuple(result)


@dataclass
class LabOutput:
    """What :func:`run_lab` produced: the datasets and the files written."""

    results: xr.Dataset
    morris: xr.Dataset | None = None
    sobol: xr.Dataset | None = None
    dominance: xr.DataArray | None = None
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def run_lab(
    model: str,
    scenarios: Sequence[Any],
    *,
    samples: int = 100,
    design: str = "lhs",
    posterior: str | Path | None = None,
    out: str | Path = "lab-output",
    seed: int = 0,
    final_time: float | None = None,
    client: Any = None,
    morris: int = 10,
    sobol: int = 64,
    sobol_parameters: int = 5,
    loops: bool = True,
    progress: bool = True,
    log: Any = None,
) -> LabOutput:
    """The whole lab: experiment, metrics, sensitivity, loop dominance, report. Returns what it wrote.

    Examples
    --------
    >>> import tempfile
    >>> from sd_engine.scenario import Scenario
    >>> with tempfile.TemporaryDirectory() as d:
    ...     res = run_lab("whole_system_flow", [Scenario("baseline", "whole_system_flow")], samples=3,
    ...                   out=d, final_time=30, morris=0, sobol=0, loops=False, progress=False)
    ...     sorted(res.files)
    ['report', 'results', 'runs', 'scorecard', 'workbook']
    """
    import xarray as xr

    from ..results import save as save_results
    from .analysis import dominance_share, loop_dominance_by_scenario, sensitivity
    from .experiment import Experiment, Uncertainty, run_experiment
    from .metrics import get_profile
    from .report import write_downloads, write_report

    stream = log if log is not None else sys.stderr
    profile = get_profile(model)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    if posterior is not None:
        unc = Uncertainty.from_posterior(posterior, samples, seed=seed)
    else:
        unc = Uncertainty.from_ranges(profile.uncertainty, samples, method=design, seed=seed)  # type: ignore[arg-type]
    saveper = report_saveper(profile)
    experiment = Experiment(model, tuple(scenarios), unc, final_time=final_time, saveper=saveper, seed=seed)
    # Finished chunks are kept per set of options: the same command run again resumes, the lab run
    # again with other options into the same folder starts its own runs.
    options = [model, [s.as_dict() for s in scenarios], samples, design, str(posterior), seed, final_time, morris,
               sobol, sobol_parameters, saveper]
    store = folder / "store" / hashlib.sha256(json.dumps(options, default=str).encode()).hexdigest()[:12]
    result = LabOutput(results=xr.Dataset())
    steps = 2 + bool(morris) + bool(sobol and morris) + bool(loops)
    step = 0

    def stage(text: str) -> float:
        nonlocal step
        step += 1
        print(f"[{step}/{steps}] {text}", file=stream, flush=True)
        return time.perf_counter()

    t = stage(f"{len(experiment.scenarios)} scenarios × {unc.n_runs} runs of `{model}` "
              f"({unc.source} design over {len(unc.names)} parameters)")
    ds = run_experiment(experiment, client=client, store=store, progress=progress)
    result.results = ds
    save_results(ds, folder / "results.nc")
    result.files["results"] = folder / "results.nc"
    result.timings["scenarios × uncertainty"] = time.perf_counter() - t
    baseline = experiment.scenarios[0]
    indices = []
    if morris:
        t = stage(f"Morris screening of {len(profile.uncertainty)} parameters, {morris} trajectories")
        m = sensitivity(model, baseline, profile.uncertainty, morris, method="morris", seed=seed,
                        final_time=final_time, saveper=saveper, client=client, store=store / "morris",
                        progress=progress)
        result.morris = m.indices
        indices.append(m.indices.rename({k: f"morris_{k}" for k in m.indices.data_vars}))
        result.timings["Morris screening"] = time.perf_counter() - t
        if sobol:
            # Sobol indices of the parameters the screening ranks highest, averaged over the metrics
            # after scaling each metric's mu* by its largest value.
            mu = m.indices["mu_star"] / m.indices["mu_star"].max("parameter")
            top = mu.mean("metric").to_series().sort_values(ascending=False).index[:sobol_parameters]
            ranges = {p: profile.uncertainty[p] for p in top}
            t = stage(f"Sobol indices of the top {len(ranges)} parameters, base sample {sobol}")
            s = sensitivity(model, baseline, ranges, sobol, method="sobol", seed=seed, final_time=final_time,
                            saveper=saveper, client=client, store=store / "sobol", progress=progress)
            result.sobol = s.indices
            indices.append(s.indices.rename({k: f"sobol_{k}" for k in s.indices.data_vars}).rename(
                {"parameter": "sobol_parameter"}))
            result.timings["Sobol indices"] = time.perf_counter() - t
    if indices:
        merged = xr.merge(indices, compat="override", combine_attrs="drop")
        merged.to_netcdf(folder / "sensitivity.nc", engine="h5netcdf")
        result.files["sensitivity"] = folder / "sensitivity.nc"
    share = None
    if loops:
        t = stage("loop dominance (Loops that Matter) for a central run of each scenario")
        result.dominance = loop_dominance_by_scenario(experiment, saveper=saveper, final_time=final_time)
        share = dominance_share(result.dominance)
        # Loops alone in their cycle partition always "dominate" it; show the ones that compete.
        sizes = result.dominance["partition"].to_series().value_counts()
        competing = [str(k) for k, p in zip(result.dominance["loop"].values, result.dominance["partition"].values)
                     if sizes[p] > 1]
        share = share.sel(loop=competing)
        result.timings["loop dominance"] = time.perf_counter() - t
    t = stage(f"report → {folder / 'report.html'}")
    dom = result.dominance.sel(loop=share["loop"].values) if result.dominance is not None and share is not None else None
    downloads = write_downloads(folder, ds)
    result.files.update(downloads)
    link_text = {"scorecard": "Scorecard (CSV file)", "runs": "Every run: outcomes, status, parameter draws (CSV)",
                 "workbook": "Scorecard and runs (Excel workbook)"}
    from .. import load

    result.files["report"] = write_report(
        folder / "report.html", ds, fan_variables=profile.fan_variables, year=profile.year, morris=result.morris,
        sobol=result.sobol, dominance=dom, dominance_share=share, timings=result.timings, profile=profile,
        model=load(model), downloads={link_text[k]: v.name for k, v in downloads.items()})
    return result


def report_saveper(profile: Any) -> float | None:
    """The output interval of the lab: the profile's, but at most a month, so seasons are not aliased.

    A year is ``profile.year`` model time units; a month is a twelfth of it, which divides the
    final-year window of the metrics into twelve evenly spread points.

    >>> from sd_engine.lab import find_profile
    >>> round(report_saveper(find_profile("whole_system_flow")), 4)
    30.4167
    """
    month = profile.year / 12 if profile.year and profile.year > 1 else None
    if profile.saveper is None:
        return month
    return min(profile.saveper, month) if month is not None else profile.saveper


def _main(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise SpecError(f"`--samples` must be at least 1, not {args.samples}.")
    if args.sobol and args.sobol & (args.sobol - 1):
        raise SpecError(f"`--sobol` must be a power of two such as 64, not {args.sobol}.")
    if args.profile is not None:
        from .metrics import load_profile, register_profile

        register_profile(load_profile(args.profile, model=args.model))
    scenarios = load_scenarios(args.model, args.scenarios)
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        client: Any = args.scheduler
        if client is not None:
            # One client for every ensemble of the lab (a "local" cluster starts once, not per ensemble).
            from distributed import Client, LocalCluster

            if client == "local":
                cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                           dashboard_address=None))
                client = stack.enter_context(Client(cluster))
            else:
                client = stack.enter_context(Client(client))
            print(f"Dask: {len(client.scheduler_info()['workers'])} worker(s) at {client.scheduler.address}",
                  file=sys.stderr)
        res = run_lab(args.model, scenarios, samples=args.samples, design=args.design, posterior=args.posterior,
                      out=args.out, seed=args.seed, final_time=args.final_time, client=client,
                      morris=args.morris, sobol=args.sobol if args.morris else 0,
                      sobol_parameters=args.sobol_parameters, loops=not args.no_loops, progress=not args.no_progress)
    for name, path in res.files.items():
        print(f"{name}: {path}")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0
