"""Analyses on top of an experiment: global sensitivity of the outcomes, loop dominance by scenario.

Examples
--------
>>> from sd_engine.scenario import Scenario
>>> res = sensitivity("whole_system_flow", Scenario("baseline", "whole_system_flow"),
...                   {"active LoS": (5.6, 6.4), "leave rate": (0.095, 0.12)}, 4, method="morris",
...                   final_time=40, saveper=10)
>>> res.indices["mu_star"].dims
('metric', 'parameter')
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..errors import SpecError
from ..sensitivity import Design, analyze, sample
from .experiment import Experiment, Uncertainty, run_experiment

__all__ = ["SensitivityResult", "sensitivity", "loop_dominance_by_scenario", "dominance_share"]


@dataclass(frozen=True)
class SensitivityResult:
    """Sensitivity indices of every outcome metric to every parameter, and the runs behind them."""

    design: Design = field(repr=False)
    indices: xr.Dataset
    results: xr.Dataset = field(repr=False)


def sensitivity(
    model: str,
    scenario: Any,
    ranges: Mapping[str, tuple[float, float]],
    n: int,
    *,
    method: Literal["morris", "sobol"] = "morris",
    seed: int = 0,
    levels: int = 4,
    final_time: float | None = None,
    saveper: float | None = None,
    client: Any = None,
    store: Any = None,
    progress: bool = False,
) -> SensitivityResult:
    """Morris or Sobol indices of the lab profile's metrics to parameters (and levers) in `ranges`.

    The design (:func:`sd_engine.sensitivity.sample`) runs as one experiment of `scenario`
    through :func:`run_experiment`; :func:`sd_engine.sensitivity.analyze` then gives, per
    metric, Morris ``mu_star``/``sigma`` (`n` trajectories) or Sobol ``S1``/``ST`` (`n` a
    power of two). Runs that failed are refused rather than silently dropped.
    """
    if method not in ("morris", "sobol"):
        raise SpecError(f"Sensitivity indices need method \"morris\" or \"sobol\", not {method!r}.")
    design = sample(ranges, n, method=method, seed=seed, levels=levels)
    experiment = Experiment(model, (scenario,), Uncertainty.from_design(design), final_time=final_time,
                            saveper=saveper, seed=seed)
    results = run_experiment(experiment, client=client, store=store, progress=progress)
    if "outcome" not in results:
        raise SpecError(f"Model `{model}` has no lab profile, so there are no outcome metrics to analyse.")
    outcome = results["outcome"].isel(scenario=0)
    per_metric = []
    for key in outcome["metric"].values:
        per_metric.append(analyze(design, outcome.sel(metric=key), seed=seed))
    indices = xr.concat(per_metric, dim="metric", coords="minimal", compat="override")
    indices = indices.assign_coords(metric=outcome["metric"].values,
                                    metric_label=("metric", outcome["metric_label"].values),
                                    metric_units=("metric", outcome["metric_units"].values))
    indices.attrs.update(method=method, n_runs=design.n_runs, scenario=scenario.name)
    return SensitivityResult(design, indices, results)


def loop_dominance_by_scenario(experiment: Experiment, *, saveper: float | None = None,
                               final_time: float | None = None) -> xr.DataArray:
    """Relative loop scores of one central run per scenario, dims ``("scenario", "loop", "time")``.

    Each scenario is run once with the model's own values of the uncertain parameters (the
    centre of the design) and scored with Loops that Matter
    (:meth:`CompiledModel.loop_dominance`). The loop set is the first scenario's; scenarios
    of the same model share its causal structure. A model with too many loops to list gets
    its shortest independent loop set (noted in ``attrs["note"]``).
    """
    from .experiment import group_params, group_scenarios

    central = Experiment(experiment.model, experiment.scenarios, Uncertainty.none(), seed=experiment.seed)
    groups, _ = group_scenarios(central, None)
    loops = None
    note = ""
    parts: dict[int, xr.DataArray] = {}
    for group in groups:
        # Scenarios sharing a compiled model are scored together: one ensemble, one pass.
        kwargs: dict[str, Any] = {"final_time": final_time or group.model.spec.time.final_time}
        if saveper is not None:
            kwargs["saveper"] = saveper
        ds = group.model.run(params=group_params(group, central.uncertainty), seed=experiment.seed, **kwargs)
        if loops is None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                loops = group.model.loops(ds)
            note = loops.message or "; ".join(str(w.message) for w in caught)
        rls = group.model.loop_dominance(ds, loops=loops)
        for position, index in enumerate(group.scenarios):
            parts[index] = rls.isel(run=position, drop=True)
    out = xr.concat([parts[i] for i in range(len(central.scenarios))],
                    dim=xr.DataArray(list(experiment.scenario_names), dims="scenario", name="scenario"),
                    coords="minimal", compat="override")
    labels = []
    assert loops is not None
    for loop in loops:
        path = " → ".join(loop.variables)
        labels.append(f"{loop.id} ({loop.polarity}) {loop.name + ': ' if loop.name else ''}{path}")
    out = out.assign_coords(loop_label=("loop", labels))
    out.attrs["note"] = note
    return out


def dominance_share(rls: xr.DataArray, threshold: float | None = None) -> xr.DataArray:
    """The share of the time each loop is in the dominant set, dims ``("loop", "scenario")``.

    Examples
    --------
    >>> rls = xr.DataArray([[[1.0, 0.2], [0.0, 0.8]]], dims=("scenario", "loop", "time"),
    ...                    coords={"scenario": ["s"], "loop": ["B1", "R1"], "time": [0, 1]})
    >>> dominance_share(rls).sel(scenario="s").values.tolist()
    [0.5, 0.5]
    """
    from ..loops import DOMINANCE_THRESHOLD, dominant

    dom = dominant(rls, DOMINANCE_THRESHOLD if threshold is None else threshold)
    valid = rls.notnull().any("loop")  # the last time of a forward-labelled run has no score
    share = (dom & valid).sum("time") / np.maximum(valid.sum("time"), 1)
    return share.transpose("loop", ...)
