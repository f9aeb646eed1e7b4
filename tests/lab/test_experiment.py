"""Experiments: one dataset per scenario × run, equal to plain runs, however and wherever it ran."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import xarray as xr

import sd_engine.ensemble as ensemble
from models.scenarios import Scenario, apply, load
from sd_engine.builder import Model
from sd_engine.errors import SpecError, UnknownVariableError
from sd_engine.lab import Experiment, Uncertainty, compose, run_experiment

MODEL = "whole_system_flow"
RANGES = {"active LoS": (5.6, 6.4), "leave rate": (0.095, 0.12), "a3": (0.85, 1.15)}
SHORT = {"final_time": 40.0, "saveper": 10.0}


def scenarios() -> tuple[Scenario, ...]:
    # Constant levers (one shared ensemble) and a schedule (its own compiled model).
    return (load("baseline"), load("savings_programme").with_params(savings_start=5),
            load("workforce_expansion"), Scenario("more beds", MODEL, params={"bed change": 0.1}))


def experiment(n: int = 7, seed: int = 3) -> Experiment:
    return Experiment(MODEL, scenarios(), Uncertainty.from_ranges(RANGES, n, method="lhs", seed=1), seed=seed, **SHORT)


@pytest.fixture(scope="module")
def reference() -> xr.Dataset:
    return run_experiment(experiment())


def test_every_scenario_equals_its_own_plain_run(reference: xr.Dataset) -> None:
    """Grouped scenarios give exactly what each scenario gives run alone with the same draws."""
    exp = experiment()
    assert dict(reference["Acute DToC"].sizes) == {"scenario": 4, "run": 7, "time": 5}
    for s in exp.scenarios:
        compiled, params = apply(s)
        plain = compiled.run(params=params | exp.uncertainty.params, **SHORT)
        for var in ("Acute DToC", "four hour performance", "nurse vacancy rate", "cost per capita"):
            np.testing.assert_array_equal(reference[var].sel(scenario=s.name).values, plain[var].values)
    np.testing.assert_array_equal(reference["draws"].values, exp.uncertainty.values)
    assert len(set(reference["model_hash"].values)) == 2  # the schedule changes the model


def test_the_levers_move_the_outcomes_the_documented_way(reference: xr.Dataset) -> None:
    o = reference["outcome"]
    # More beds: lower occupancy in every run; savings cut beds: higher occupancy.
    assert bool((o.sel(metric="occupancy", scenario="more beds") < o.sel(metric="occupancy", scenario="baseline")).all())
    assert bool((o.sel(metric="occupancy", scenario="savings programme")
                 > o.sel(metric="occupancy", scenario="baseline")).all())


def test_provenance_is_recorded(reference: xr.Dataset) -> None:
    import json

    assert reference.attrs["model"] == MODEL and reference.attrs["seed"] == 3
    assert [s["name"] for s in json.loads(reference.attrs["scenarios"])] == list(reference["scenario"].values)
    assert {"sdflow", "numpy", "xarray", "dask"} <= set(json.loads(reference.attrs["versions"]))
    assert reference["seed"].dims == ("scenario", "run")
    assert set(np.unique(reference["run_status"].values)) == {"ok"}


@pytest.mark.slow
def test_two_worker_local_cluster_gives_identical_numbers(reference: xr.Dataset) -> None:
    distributed = run_experiment(experiment(), client="local", chunk_size=4)
    for var in ("outcome", "Acute DToC", "four hour performance", "nurse vacancy rate", "seed"):
        xr.testing.assert_equal(distributed[var], reference[var])


def noisy() -> Model:
    m = Model("noisy", final_time=10, dt=1)
    m.constant("rate", 0.3)
    m.constant("lever", 1.0)
    m.stock("level", 10, inflows=["inflow"])
    m.flow("inflow", "lever * random_normal(0, 10, rate, 1)")
    return m


def noisy_experiment() -> Experiment:
    return Experiment("noisy", (Scenario("a", "noisy"), Scenario("b", "noisy", params={"lever": 2.0})),
                      Uncertainty.from_ranges({"rate": (0.1, 0.5)}, 10, method="mc"), seed=11, keep=("*",))


def test_chunked_and_resumed_experiment_gives_identical_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted during its fourth chunk, the experiment resumes with only the missing chunks."""
    whole = run_experiment(noisy_experiment(), builder=noisy())
    real = ensemble._run_chunk
    calls = []

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(args[2]))
        if interrupt and len(calls) == 4:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the fourth chunk
        return real(*args, **kwargs)

    monkeypatch.setattr(ensemble, "_run_chunk", counting)
    interrupt = True
    with pytest.raises(KeyboardInterrupt):
        run_experiment(noisy_experiment(), builder=noisy(), store=tmp_path, chunk_size=4)
    assert len(list(tmp_path.rglob("chunk-*.nc"))) == 3
    calls.clear()
    interrupt = False
    resumed = run_experiment(noisy_experiment(), builder=noisy(), store=tmp_path, chunk_size=4)
    # Two scenarios (random functions: one ensemble each) of 10 runs in chunks of 4: 6 chunks, 3 kept.
    assert calls == [4, 4, 2] or sorted(calls) == [2, 4, 4]
    for var in ("level", "inflow", "run_status", "seed", "draws"):
        xr.testing.assert_equal(resumed[var], whole[var])
    with pytest.raises(SpecError, match="holds chunks of a different experiment"):
        run_experiment(dataclasses.replace(noisy_experiment(), seed=12), builder=noisy(), store=tmp_path,
                       chunk_size=4)


def test_random_models_use_common_random_numbers_across_scenarios() -> None:
    """With random functions, run r of every scenario has seed `seed + r`, as a plain run with that seed."""
    exp = noisy_experiment()
    ds = run_experiment(exp, builder=noisy())
    np.testing.assert_array_equal(ds["seed"].sel(scenario="a").values, 11 + np.arange(10))
    np.testing.assert_array_equal(ds["seed"].sel(scenario="b").values, 11 + np.arange(10))
    compiled = noisy().compile()
    plain = compiled.run(params={"rate": exp.uncertainty.values[:, 0], "lever": 2.0}, seed=11)
    np.testing.assert_array_equal(ds["level"].sel(scenario="b").values, plain["level"].values)
    # Same draws, lever doubled: the inflow is exactly twice scenario a's.
    np.testing.assert_allclose(ds["inflow"].sel(scenario="b").values, 2 * ds["inflow"].sel(scenario="a").values)


def test_compose_merges_levers_and_refuses_clashes() -> None:
    both = compose(load("baseline"), load("savings_programme"), load("pooled_budget"))
    assert both.name == "baseline + savings programme + pooled budget"
    assert dict(both.params) == {"savings rate": 0.03, "savings start": 365.0, "savings end": 1825.0,
                                 "pooled budget share": 0.08, "system accountability": 0.5}
    with_schedule = compose(load("savings_programme"), load("workforce_expansion"))
    assert "international recruits" in with_schedule.schedules
    _, params = apply(with_schedule)
    assert params["savings rate"] == 0.03 and params["training increase"] == 90.0
    clash = Scenario("fewer cuts", MODEL, params={"savings rate": 0.01})
    with pytest.raises(SpecError, match="both set lever `savings rate` differently"):
        compose(load("savings_programme"), clash)
    with pytest.raises(SpecError, match="Cannot compose"):
        compose(load("baseline"), Scenario("x", "sir"))
    with pytest.raises(SpecError, match="at least one scenario"):
        compose()


def test_experiment_errors_name_the_problem() -> None:
    unc = Uncertainty.from_ranges(RANGES, 2)
    with pytest.raises(SpecError, match="`baseline` appears twice"):
        Experiment(MODEL, (load("baseline"), load("baseline")), unc)
    with pytest.raises(SpecError, match="is for model `sir`"):
        Experiment(MODEL, (Scenario("s", "sir"),), unc)
    with pytest.raises(SpecError, match="at least one scenario"):
        Experiment(MODEL, (), unc)
    with pytest.raises(SpecError, match="`leave rate` is both a scenario lever and an uncertain parameter"):
        Experiment(MODEL, (Scenario("s", MODEL, params={"leave rate": 0.1}),), unc)
    with pytest.raises(SpecError, match=r"shape \(runs, 1\)"):
        Uncertainty(("a",), np.zeros((3, 2)), "mc")
    with pytest.raises(SpecError, match="must be finite"):
        Uncertainty(("a",), np.array([[np.nan]]), "mc")


def posterior() -> az.InferenceData:
    rng = np.random.default_rng(0)
    return az.from_dict(posterior={"active LoS": rng.normal(6, 0.1, (2, 50)), "leave rate": rng.normal(0.1, 0.005, (2, 50))})


def test_posterior_draws_are_the_uncertainty(tmp_path: Path) -> None:
    idata = posterior()
    unc = Uncertainty.from_posterior(idata, 6, seed=2)
    flat = idata.posterior.stack(sample=("chain", "draw"))
    table = np.column_stack([flat["active LoS"].values, flat["leave rate"].values])
    # Every chosen row is one joint draw (the parameters stay paired), no draw twice.
    assert all(any(np.array_equal(row, t) for t in table) for row in unc.values)
    assert len({tuple(r) for r in unc.values}) == 6
    path = tmp_path / "post.nc"
    idata.to_netcdf(str(path))
    again = Uncertainty.from_posterior(path, 6, seed=2)
    np.testing.assert_array_equal(again.values, unc.values)
    ds = run_experiment(Experiment(MODEL, (load("baseline"),), unc, **SHORT))
    np.testing.assert_array_equal(ds["draws"].values, unc.values)
    assert ds.attrs["uncertainty"] == "posterior"


def test_posterior_errors() -> None:
    with pytest.raises(SpecError, match="between 1 and the 100 posterior draws"):
        Uncertainty.from_posterior(posterior(), 101)
    with pytest.raises(UnknownVariableError, match="no parameter `active los`"):
        Uncertainty.from_posterior(posterior(), names=["active los"])
    with pytest.raises(SpecError, match="arviz InferenceData"):
        Uncertainty.from_posterior(xr.Dataset({"x": ("run", [1.0])}))
    with pytest.raises(FileNotFoundError, match="No posterior file"):
        Uncertainty.from_posterior("missing.nc")
