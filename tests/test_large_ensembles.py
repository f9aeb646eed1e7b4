"""Chunked, distributed and resumable ensembles give the numbers of one plain ensemble run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sd_engine as sd
from sd_engine.builder import Model
from sd_engine.ensemble import plan_chunks, run_ensemble
from sd_engine.errors import SpecError, UnknownVariableError

RATES = np.linspace(0.2, 0.4, 23)


def noisy_model() -> Model:
    # Random draws and a fixed delay: the chunking must not change any run's stream.
    m = Model("noisy", final_time=20, dt=0.5)
    m.constant("rate", 0.3)
    m.stock("level", 10, inflows=["inflow"], outflows=["outflow"])
    m.flow("inflow", "random_uniform(0, 2 * rate * 10, 1)")
    m.flow("outflow", "delay_fixed(level * rate, 2, 3)")
    return m


def test_plan_chunks_covers_every_run_once() -> None:
    chunks = plan_chunks(23, 5)
    covered = np.concatenate([np.arange(c.start, c.stop) for c in chunks])
    np.testing.assert_array_equal(covered, np.arange(23))
    with pytest.raises(SpecError, match="`chunk_size` must be at least 1"):
        plan_chunks(3, 0)


@pytest.mark.parametrize("chunk_size", [1, 4, 23, 100])
def test_chunked_equals_one_call(chunk_size: int) -> None:
    model = noisy_model().compile()
    whole = model.run(params={"rate": RATES}, seed=7)
    chunked = run_ensemble(model, {"rate": RATES}, chunk_size=chunk_size, seed=7)
    for name in ("level", "inflow", "outflow", "rate"):
        np.testing.assert_array_equal(chunked[name].values, whole[name].values)
    assert chunked.sizes["run"] == 23
    assert json.loads(chunked.attrs["parameters"])["rate"] == RATES.tolist()


def test_interrupted_ensemble_resumes_only_missing_chunks(tmp_path: Path) -> None:
    model = noisy_model().compile()
    full = run_ensemble(model, {"rate": RATES}, chunk_size=5, store=tmp_path, seed=3)
    files = sorted(tmp_path.glob("chunk-?????.nc"))
    assert len(files) == 5
    # Simulate an interruption: two chunks never finished, one left as a partial write.
    files[1].unlink()
    files[3].rename(files[3].with_suffix(".partial.nc"))
    kept = {f.name: f.stat().st_mtime_ns for f in sorted(tmp_path.glob("chunk-?????.nc"))}
    resumed = run_ensemble(model, {"rate": RATES}, chunk_size=5, store=tmp_path, seed=3)
    xr.testing.assert_equal(resumed.drop_attrs(), full.drop_attrs())
    for name, mtime in kept.items():
        assert (tmp_path / name).stat().st_mtime_ns == mtime, "a finished chunk was recomputed"
    assert len(list(tmp_path.glob("chunk-?????.nc"))) == 5


def test_store_of_another_experiment_is_refused(tmp_path: Path) -> None:
    model = noisy_model().compile()
    run_ensemble(model, {"rate": RATES}, chunk_size=5, store=tmp_path)
    with pytest.raises(SpecError, match="holds chunks of a different experiment"):
        run_ensemble(model, {"rate": RATES * 2}, chunk_size=5, store=tmp_path)


def test_kept_variables_are_cut_where_the_chunks_run(tmp_path: Path) -> None:
    model = noisy_model().compile()
    whole = run_ensemble(model, {"rate": RATES}, chunk_size=5, seed=3)
    kept = run_ensemble(model, {"rate": RATES}, chunk_size=5, seed=3, store=tmp_path, variables=["Level", "outflow"])
    assert set(kept.data_vars) == {"level", "outflow"}
    xr.testing.assert_equal(kept.drop_attrs(), whole[["level", "outflow"]].drop_attrs())
    assert list(kept["run_status"].values) == ["ok"] * 23
    # Stores hold only what is kept, and a store of all variables is another experiment.
    assert set(xr.open_dataset(tmp_path / "chunk-00000.nc").data_vars) == {"level", "outflow"}
    with pytest.raises(SpecError, match="holds chunks of a different experiment"):
        run_ensemble(model, {"rate": RATES}, chunk_size=5, seed=3, store=tmp_path)
    with pytest.raises(UnknownVariableError, match="`levle`"):
        run_ensemble(model, {"rate": RATES}, variables=["levle"])


def test_failed_runs_are_marked_per_run_in_their_chunk() -> None:
    m = Model("fragile", final_time=4)
    m.constant("k", 1.0)
    m.stock("s", 1, inflows=["f"])
    m.flow("f", "s / k")
    ds = run_ensemble(m.compile(), {"k": [1.0, 0.0, 2.0]}, chunk_size=2)
    assert list(ds["run_status"].values[[0, 2]]) == ["ok", "ok"]
    assert ds["run_status"].values[1].startswith("failed at t=1")
    np.testing.assert_allclose(ds["s"].isel(run=2).values, 1.5 ** np.arange(5))


def test_needs_per_run_values_and_rejects_its_own_keywords() -> None:
    model = sd.load("teacup")
    with pytest.raises(SpecError, match="at least one parameter given as an array"):
        run_ensemble(model, {"Characteristic Time": 5})
    with pytest.raises(SpecError, match="`errors` is set by `run_ensemble` itself"):
        run_ensemble(model, {"Characteristic Time": [5, 6]}, errors="raise")


def test_runs_are_counted_by_the_rule_run_applies() -> None:
    m = Model("two rates", final_time=2)
    m.constant("a", 1.0)
    m.constant("b", 2.0)
    m.stock("s", 1, inflows=["f"])
    m.flow("f", "a * b")
    model = m.compile()
    with pytest.raises(SpecError, match="Parameter arrays make ensembles of different sizes: `a` has 2 runs"):
        run_ensemble(model, {"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]})
    with pytest.raises(UnknownVariableError, match="has no parameter `c`"):
        run_ensemble(model, {"a": [1.0, 2.0], "c": 1.0})  # refused before any chunk runs
    ds = run_ensemble(model, {"a": [1.0, 2.0], "b": 3.0}, chunk_size=1)
    np.testing.assert_allclose(ds["s"].isel(time=-1).values, [1 + 2 * 3.0, 1 + 2 * 6.0])


@pytest.mark.slow
def test_two_worker_local_cluster_gives_identical_numbers() -> None:
    model = noisy_model().compile()
    local = run_ensemble(model, {"rate": RATES}, chunk_size=6, seed=11)
    distributed = run_ensemble(model, {"rate": RATES}, chunk_size=6, seed=11, client="local")
    xr.testing.assert_equal(distributed.drop_attrs(), local.drop_attrs())
