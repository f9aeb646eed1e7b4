"""Experiments: scenarios × parameter uncertainty, run in chunks, gathered into one dataset.

An :class:`Experiment` crosses a list of scenarios (lever settings of one library model,
see :mod:`sd_engine.scenario`) with one table of uncertain parameter values (an
:class:`Uncertainty`: a Monte Carlo, Latin hypercube or Sobol design, or posterior draws of
a calibration). Every scenario sees the *same* parameter draws — common random numbers —
so the difference between two scenarios in run ``r`` is the effect of the levers alone, not
of sampling noise.

:func:`run_experiment` simulates it through :func:`sd_engine.ensemble.run_ensemble`
(memory-sized chunks, in this process or on a Dask cluster, resumable from a store) and
returns one :class:`xarray.Dataset` with dimensions ``scenario``, ``run`` and ``time``,
the outcome metrics of the model's lab profile (``outcome``, dims ``metric``, ``scenario``,
``run``) and the provenance: model hash per scenario, scenario definitions, seeds and
package versions.

Examples
--------
>>> from sd_engine.scenario import Scenario
>>> base = Scenario("baseline", "whole_system_flow")
>>> cuts = Scenario("savings", "whole_system_flow", params={"savings rate": 0.03, "savings start": 10})
>>> unc = Uncertainty.from_ranges({"active LoS": (5.4, 6.6)}, 4, method="lhs", seed=1)
>>> ds = run_experiment(Experiment("whole_system_flow", (base, cuts), unc, final_time=40, saveper=10))
>>> dict(ds["outcome"].sizes)
{'metric': 14, 'scenario': 2, 'run': 4}
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from ..errors import SpecError, UnknownVariableError, did_you_mean
from ..expr import Call, canonical, walk
from ..scenario import Scenario, apply, compose
from ..sensitivity import Design, sample

if TYPE_CHECKING:
    from ..compile import CompiledModel

__all__ = ["Uncertainty", "Experiment", "compose", "run_experiment", "describe_scenarios", "versions",
           "RANDOM_FUNCTIONS", "ScenarioGroup", "group_scenarios", "group_params"]

#: Builtins that draw random numbers: a model using one is run scenario by scenario, so that
#: run ``r`` of every scenario has the same seed (common random numbers).
RANDOM_FUNCTIONS = frozenset({"random_uniform", "random_normal", "random_exponential", "random_poisson"})


@dataclass(frozen=True)
class Uncertainty:
    """Uncertain parameter values: ``values[i, j]`` is parameter ``names[j]`` in run ``i``.

    Build one with :meth:`from_ranges` (a design of :func:`sd_engine.sensitivity.sample`),
    :meth:`from_design`, :meth:`from_posterior` (draws of a calibration posterior) or
    :meth:`none` (a single run at the model's values).

    Examples
    --------
    >>> u = Uncertainty.from_ranges({"a1": (0.2, 0.27), "a3": (0.8, 1.2)}, 8, method="mc", seed=3)
    >>> u.n_runs, u.names
    (8, ('a1', 'a3'))
    """

    names: tuple[str, ...]
    values: np.ndarray = field(repr=False)
    source: str
    seed: int | None = None
    design: Design | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=float)
        if values.ndim != 2 or values.shape[1] != len(self.names) or values.shape[0] < 1:
            raise SpecError(f"Uncertainty values must have shape (runs, {len(self.names)}) with at least one run, "
                            f"not {values.shape}.")
        if not np.all(np.isfinite(values)):
            raise SpecError("Uncertainty values must be finite; drop or fix the draws that are not.")
        if len({canonical(n) for n in self.names}) != len(self.names):
            raise SpecError(f"Uncertain parameters are named twice: {list(self.names)}.")
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        object.__setattr__(self, "values", values)

    @property
    def n_runs(self) -> int:
        return int(self.values.shape[0])

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{name: per-run values}``."""
        return {n: self.values[:, j].copy() for j, n in enumerate(self.names)}

    @classmethod
    def none(cls) -> Uncertainty:
        """No uncertainty: one run per scenario at the model's own parameter values."""
        return cls((), np.zeros((1, 0)), "none")

    @classmethod
    def from_design(cls, design: Design) -> Uncertainty:
        """The runs of a :class:`~sd_engine.sensitivity.Design` (kept for :func:`analyze`)."""
        return cls(design.names, design.values, design.method, design.seed, design)

    @classmethod
    def from_ranges(cls, ranges: Mapping[str, tuple[float, float]], n: int, *,
                    method: Literal["mc", "lhs", "sobol", "morris"] = "lhs", seed: int | None = 0) -> Uncertainty:
        """Draw `n` runs over uniform `ranges` by Monte Carlo, Latin hypercube, Sobol or Morris."""
        return cls.from_design(sample(ranges, n, method=method, seed=seed))

    @classmethod
    def from_posterior(cls, posterior: Any, n: int | None = None, *, names: Sequence[str] | None = None,
                       seed: int | None = 0) -> Uncertainty:
        """Draws of a calibration posterior (``calibration.sample``'s arviz InferenceData).

        Parameters
        ----------
        posterior : arviz.InferenceData, xarray.Dataset or path
            The posterior (its ``posterior`` group), or a netCDF file written by
            ``idata.to_netcdf``.
        n : int, optional
            Number of draws, chosen at random without replacement over chains and draws
            (all of them by default).
        names : sequence of str, optional
            Parameters to take; every variable of the posterior by default.
        """
        if isinstance(posterior, (str, Path)):
            import arviz as az

            path = Path(posterior)
            if not path.exists():
                raise FileNotFoundError(f"No posterior file `{path}`.")
            posterior = az.from_netcdf(path)
        group = getattr(posterior, "posterior", posterior)
        if not isinstance(group, xr.Dataset) or not {"chain", "draw"} <= set(group.dims):
            raise SpecError("Give posterior draws as the arviz InferenceData of `calibration.sample` (a `posterior` "
                            "group with `chain` and `draw` dimensions), or its netCDF file.")
        chosen = [str(v) for v in group.data_vars] if names is None else [str(n) for n in names]
        for name in chosen:
            if name not in group.data_vars:
                raise UnknownVariableError(f"The posterior has no parameter `{name}`."
                                           + did_you_mean(name, [str(v) for v in group.data_vars]))
        stacked = group[chosen].stack(sample=("chain", "draw")).transpose("sample", ...)
        for name in chosen:
            if stacked[name].ndim != 1:
                raise SpecError(f"Posterior variable `{name}` has extra dimensions {stacked[name].dims[1:]}; "
                                "pick scalar parameters with `names`.")
        values = np.column_stack([stacked[name].values for name in chosen])
        total = values.shape[0]
        if n is not None:
            if not 1 <= n <= total:
                raise SpecError(f"`n` must be between 1 and the {total} posterior draws, not {n}.")
            rows = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
            values = values[rows]
        return cls(tuple(chosen), values, "posterior", seed)


@dataclass(frozen=True)
class Experiment:
    """Scenarios of one library model crossed with one uncertainty design.

    Parameters
    ----------
    model : str
        Library model name (``models.available()``).
    scenarios : sequence of Scenario
        Distinct names; the first is the reference ("baseline") of comparisons.
    uncertainty : Uncertainty
        The uncertain parameter values, shared by every scenario.
    final_time, saveper : float, optional
        Horizon and output interval in model time units; the lab profile's (or the model's)
        by default.
    method : str, optional
        Integration method; the model's by default.
    seed : int
        Run ``r`` of every scenario uses seed ``seed + r``.
    keep : sequence of str, optional
        Model variables saved over time; the profile's outcome variables by default, ``("*",)``
        for all of them.

    Examples
    --------
    >>> from sd_engine.scenario import Scenario
    >>> e = Experiment("whole_system_flow", [Scenario("baseline", "whole_system_flow")], Uncertainty.none())
    >>> e.scenario_names
    ('baseline',)
    """

    model: str
    scenarios: tuple[Scenario, ...]
    uncertainty: Uncertainty
    final_time: float | None = None
    saveper: float | None = None
    method: str | None = None
    seed: int = 0
    keep: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        scenarios = tuple(self.scenarios)
        if not scenarios:
            raise SpecError("An experiment needs at least one scenario, e.g. `Scenario(\"baseline\", model)`.")
        names = [s.name for s in scenarios]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SpecError(f"Scenario `{twice[0]}` appears twice in the experiment; give each scenario its own name.")
        for s in scenarios:
            if canonical(s.model) != canonical(self.model):
                raise SpecError(f"Scenario `{s.name}` is for model `{s.model}`, not `{self.model}`; "
                                "an experiment compares scenarios of one model.")
        levers = {canonical(k) for s in scenarios for k in (*s.params, *s.schedules, *s.equations)}
        both = [n for n in self.uncertainty.names if canonical(n) in levers]
        if both:
            raise SpecError(f"`{both[0]}` is both a scenario lever and an uncertain parameter; drop it from one "
                            "of them (to study a lever's influence, put its range in the uncertainty design).")
        object.__setattr__(self, "scenarios", scenarios)
        if self.keep is not None:
            object.__setattr__(self, "keep", tuple(self.keep))

    @property
    def scenario_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scenarios)


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that determine the numbers."""
    out = {"python": sys.version.split()[0]}
    for pkg in ("sdflow", "numpy", "xarray", "scipy", "dask", "distributed", "SALib"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _uses_random(model: CompiledModel) -> bool:
    # The spec as written: lowering turns random builtins into internal streams.
    for var in model.spec.variables:
        for expr in (var.equation, var.init_equation, var.delay_time):
            if expr is not None and any(isinstance(e, Call) and e.func in RANDOM_FUNCTIONS for e in walk(expr)):
                return True
    return False


def _defaults(model: CompiledModel, names: Sequence[str]) -> dict[str, float]:
    """The model's own values of constant levers (what a scenario that leaves them alone uses)."""
    if not names:
        return {}
    t0 = model.spec.time.initial_time
    ds = model.run(final_time=t0, saveper=model.spec.time.dt)
    return {n: float(ds[model.resolve(n).name].values) for n in names}


@dataclass(frozen=True)
class ScenarioGroup:
    """Scenarios that share one compiled model and one set of lookups: run as one ensemble."""

    model: Any
    scenarios: tuple[int, ...]
    levers: tuple[dict[str, Any], ...]
    lookups: dict[str, Any]
    key: str


def group_scenarios(experiment: Experiment, builder: Any) -> tuple[list[ScenarioGroup], list[str]]:
    """The experiment's scenarios in groups that run as one ensemble each, and each scenario's model hash.

    Scenarios whose levers are all constants of the same compiled model, with the same lookups,
    share a group; with random functions each scenario is its own group, so run ``r`` has seed
    ``seed + r`` in every scenario (common random numbers).
    """
    applied = [apply(s, builder) for s in experiment.scenarios]
    hashes = [compiled.spec.hash() for compiled, _ in applied]
    separate = _uses_random(applied[0][0])
    buckets: dict[str, list[int]] = {}
    for i, (s, h) in enumerate(zip(experiment.scenarios, hashes)):
        lookup_text = json.dumps({canonical(k): [list(p) for p in v] for k, v in sorted(s.lookups.items())})
        # With random functions each scenario is its own ensemble, so run r has seed `seed + r` in all of them.
        key = h + lookup_text + (s.name if separate else "")
        buckets.setdefault(key, []).append(i)
    groups = []
    for key, members in buckets.items():
        compiled = applied[members[0]][0]
        lookup_names = {canonical(k) for k in experiment.scenarios[members[0]].lookups}
        levers = tuple({k: v for k, v in applied[i][1].items() if canonical(k) not in lookup_names} for i in members)
        lookups = {k: v for k, v in applied[members[0]][1].items() if canonical(k) in lookup_names}
        digest = hashlib.sha256((key + "|".join(experiment.scenario_names[i] for i in members)).encode())
        groups.append(ScenarioGroup(compiled, tuple(members), levers, lookups, digest.hexdigest()[:12]))
    return groups, hashes


def group_params(group: ScenarioGroup, uncertainty: Uncertainty) -> dict[str, Any]:
    """The run parameters of `group`: its scenarios' levers, each crossed with every draw of `uncertainty`."""
    n, k = uncertainty.n_runs, len(group.scenarios)
    params: dict[str, Any] = {name: np.tile(col, k) for name, col in uncertainty.params.items()}
    lever_names: dict[str, str] = {}
    for levers in group.levers:
        for name in levers:
            lever_names.setdefault(canonical(name), name)
    defaults = _defaults(group.model, list(lever_names.values()))
    for c, name in lever_names.items():
        per_scenario = [next((v for kk, v in lv.items() if canonical(kk) == c), defaults[name]) for lv in group.levers]
        params[name] = np.repeat(np.asarray(per_scenario, dtype=float), n)
    if not params:
        # run_ensemble needs one per-run array to count the runs: the first constant at its own value.
        first = group.model.layout.constants[0].name
        params[first] = np.full(n * k, _defaults(group.model, [first])[first])
    params.update(group.lookups)
    return params


def run_experiment(
    experiment: Experiment,
    *,
    client: Any = None,
    store: str | Path | None = None,
    chunk_size: int | None = None,
    memory_budget: float = 512e6,
    progress: bool = False,
    builder: Any = None,
) -> xr.Dataset:
    """Run every scenario over the uncertainty design and gather one dataset.

    Scenarios that share one compiled model (levers that are constants) run together as
    one vectorised ensemble; a scenario with schedules or equations gets its own. Each
    ensemble goes through :func:`~sd_engine.ensemble.run_ensemble`, so the numbers do not
    depend on the chunking or on where the chunks ran.

    Parameters
    ----------
    experiment : Experiment
    client : None, "local", str or distributed.Client
        Where the chunks run (see :func:`~sd_engine.ensemble.run_ensemble`).
    store : path, optional
        A folder for finished chunks (one sub-folder per ensemble). Run again with the same
        folder after an interruption and only the missing chunks are computed.
    chunk_size, memory_budget
        Runs per chunk, or the memory budget in bytes that sets it.
    progress : bool
        Show a progress bar per ensemble on stderr.
    builder : sd_engine.Model, optional
        A builder to use instead of the library model (passed to :func:`sd_engine.scenario.apply`).

    Returns
    -------
    xarray.Dataset
        Kept variables over ``(scenario, run, time)``, ``run_status`` and ``seed`` over
        ``(scenario, run)``, the draws over ``(run, parameter)``, ``outcome`` over
        ``(metric, scenario, run)`` when the model has a lab profile; ``model_hash`` along
        ``scenario``; provenance in ``attrs``.
    """
    from ..ensemble import run_ensemble
    from .metrics import compute_metrics, find_profile

    profile = find_profile(experiment.model)
    groups, hashes = group_scenarios(experiment, builder)
    unc = experiment.uncertainty
    base_time = groups[0].model.spec.time
    final_time = experiment.final_time
    if final_time is None:
        scenario_times = {s.final_time for s in experiment.scenarios if s.final_time is not None}
        if len(scenario_times) > 1:
            raise SpecError(f"The scenarios have different final times {sorted(scenario_times)}; set the "
                            "experiment's `final_time` so that they are compared over one horizon.")
        final_time = scenario_times.pop() if scenario_times else base_time.final_time
    saveper = (experiment.saveper or (profile.saveper if profile is not None else None) or base_time.saveper
               or base_time.dt)
    run_kwargs: dict[str, Any] = {"final_time": final_time, "saveper": saveper}
    if experiment.method is not None:
        run_kwargs["method"] = experiment.method
    keep = _kept_variables(experiment, profile, groups[0].model)
    n = unc.n_runs
    parts: dict[int, xr.Dataset] = {}
    seeds: dict[int, np.ndarray] = {}
    for group in groups:
        params = group_params(group, unc)
        folder = Path(store) / f"ensemble-{group.key}" if store is not None else None
        ds = run_ensemble(group.model, params, chunk_size=chunk_size, memory_budget=memory_budget, client=client,
                          store=folder, seed=experiment.seed, progress=progress, variables=keep, **run_kwargs)
        for position, index in enumerate(group.scenarios):
            rows = slice(position * n, (position + 1) * n)
            part = ds[keep].isel(run=rows).reset_coords(drop=True)
            # `run_status` is a coordinate of the ensemble; here a variable that also varies by scenario.
            part["run_status"] = ("run", ds["run_status"].values[rows])
            parts[index] = part.assign_coords(run=np.arange(n)).load()
            seeds[index] = experiment.seed + position * n + np.arange(n)
        del ds
    names = list(experiment.scenario_names)
    for part in parts.values():
        part.attrs = {}
    out = xr.concat([parts[i] for i in range(len(names))], dim=xr.DataArray(names, dims="scenario", name="scenario"),
                    data_vars="all", coords="minimal", compat="override", join="exact")
    for var in keep:  # units, kind and doc of each variable, from the model
        out[var].attrs = dict(parts[0][var].attrs)
    out["seed"] = (("scenario", "run"), np.stack([seeds[i] for i in range(len(names))]))
    out["seed"].attrs["doc"] = "Seed of the random functions in this run."
    out["draws"] = (("run", "parameter"), unc.values)
    out = out.assign_coords(parameter=list(unc.names), model_hash=("scenario", hashes),
                            description=("scenario", [s.description for s in experiment.scenarios]))
    out["draws"].attrs["doc"] = f"Uncertain parameter values of each run ({unc.source})."
    out.attrs.update(
        model=experiment.model,
        model_name=groups[0].model.spec.name,
        time_units=base_time.units,
        scenarios=json.dumps([s.as_dict() for s in experiment.scenarios]),
        uncertainty=unc.source,
        uncertainty_seed=-1 if unc.seed is None else unc.seed,
        seed=experiment.seed,
        final_time=float(final_time),
        saveper=float(saveper),
        n_ensembles=len(groups),
        versions=json.dumps(versions()),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if profile is not None:
        out["outcome"] = compute_metrics(out, profile)
    return out


def _kept_variables(experiment: Experiment, profile: Any, model: CompiledModel) -> list[str]:
    if experiment.keep == ("*",):
        return [v.name for v in model.spec.variables if v.kind in ("stock", "flow", "aux")]
    wanted = list(experiment.keep) if experiment.keep is not None else []
    if profile is not None:
        wanted += [m.variable for m in profile.metrics] + list(profile.fan_variables)
    if not wanted:
        wanted = [v.name for v in model.spec.variables if v.kind == "stock"]
    names: list[str] = []
    for w in wanted:
        name = model.resolve(w).name
        if name not in names:
            names.append(name)
    return names


def describe_scenarios(ds: xr.Dataset) -> list[dict[str, Any]]:
    """The scenario definitions recorded in an experiment's dataset."""
    return list(json.loads(ds.attrs.get("scenarios", "[]")))

