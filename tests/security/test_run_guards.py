"""Run guards: resources estimated before allocating, adaptive steps capped and tolerances
checked, non-finite (or overflowing) values anywhere in a run flagged per run.

Expected values are worked out independently: buffer sizes from the run's own settings,
Euler's growth factor ``1 - k * dt`` for the unstable run, the time a pole is crossed.
"""

from __future__ import annotations

import math
import re
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine import ensemble, guards, integrate
from sd_engine.builder import Model
from sd_engine.cli import main
from sd_engine.errors import SDError, SimulationError, SpecError
from sd_engine.integrate import MAX_ADAPTIVE_STEPS, OVERFLOW, NonFiniteWarning, ResourceLimitError
from sd_engine.io.external import ExternalDataError

CONTROLS = "".join(f"{k} = {v}\n\t~\t~\t|\n" for k, v in
                   [("FINAL TIME", 4), ("INITIAL TIME", 0), ("SAVEPER", 0.5), ("TIME STEP", 0.5)])


def write_model(folder: Path, body: str) -> Path:
    path = folder / "m.mdl"
    path.write_text("{UTF-8}\n" + body + CONTROLS, encoding="utf-8")
    return path


def load(path: Path) -> sd.CompiledModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about encodings
        return sd.load(path)


# -- memory ----------------------------------------------------------------------------------
def test_a_huge_final_time_is_refused_before_anything_is_allocated() -> None:
    model = sd.load("teacup")
    tracemalloc.start()
    try:
        with pytest.raises(ResourceLimitError) as info:
            model.run(final_time=1e13)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(info.value, SDError) and isinstance(info.value, MemoryError)
    message = str(info.value)
    steps = float(re.search(r"and ([\d,]+) steps\)", message).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert steps == pytest.approx(1e13 / 0.125, rel=1e-6)  # teacup's dt is 0.125
    assert "GiB" in message and "take fewer steps: a larger `dt` or an earlier `final_time`" in message
    assert peak < 50e6  # the 640 TB of step times were never asked for


def test_the_estimate_names_the_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    model = sd.load("teacup")
    n_runs = 10_000
    n_saved = int(30 / 0.125) + 1  # teacup runs to 30 with dt 0.125, saving every step
    series = model.layout.n_series
    need = 2 * 8 * n_saved * series * n_runs + 64 * n_saved
    monkeypatch.setattr(guards, "available_memory", lambda: need)  # 80 % of it is the limit
    with pytest.raises(ResourceLimitError) as info:
        model.run(params={"Characteristic Time": np.linspace(5, 15, n_runs)})
    message = str(info.value)
    assert f"about {need / 2**30:.1f} GiB ({n_saved:,} saved times x {series:,} series x {n_runs:,} run(s)" in message
    assert "a larger `saveper`" in message and "`run_ensemble` chunks" in message
    monkeypatch.setattr(guards, "available_memory", lambda: need / 0.79)
    assert model.run(params={"Characteristic Time": np.linspace(5, 15, n_runs)}).sizes["run"] == n_runs


def test_an_ensemble_too_large_to_gather_is_refused_before_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    model = sd.load("teacup")
    calls: list[object] = []
    monkeypatch.setattr(ensemble, "available_memory", lambda: 1e6)
    monkeypatch.setattr(ensemble, "_run_chunk", lambda *a, **k: calls.append(a))
    with pytest.raises(ResourceLimitError, match=r"Gathering 5,000 runs of `teacup` \(241 saved times x 1 series"):
        ensemble.run_ensemble(model, {"Characteristic Time": np.linspace(5, 15, 5000)}, chunk_size=100,
                              variables=["Teacup Temperature"])
    assert calls == []


def test_a_ragged_150_kb_csv_is_refused_without_a_large_allocation(tmp_path: Path) -> None:
    # One row of 50,000 cells over 50,000 one-cell rows: 150 KB of text that, padded into a
    # rectangle, would take 2.5e9 cells, 18.6 GiB of pointers.
    text = "time" + "," * 49_999 + "\n" + "1\n" * 50_000
    (tmp_path / "ragged.csv").write_text(text)
    assert 140_000 < len(text) < 160_000
    path = write_model(tmp_path, "c = GET DIRECT CONSTANTS('ragged.csv', ',', 'A2')\n\t~\t~\t|\n")
    tracemalloc.start()
    try:
        with pytest.raises(ExternalDataError) as info:
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value).startswith("`ragged.csv` has 50,001 rows but its longest has 50,000 cells")
    assert "(18.6 GiB)" in str(info.value)
    assert peak < 200e6


# -- adaptive methods ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["rk45", "dop853"])
@pytest.mark.parametrize("options, name", [({"rtol": 0.0}, "rtol"), ({"rtol": 1e-15}, "rtol"),
                                            ({"rtol": math.nan}, "rtol"), ({"rtol": 1.0}, "rtol"),
                                            ({"atol": -1e-9}, "atol"), ({"atol": math.inf}, "atol")])
def test_tolerances_the_solver_cannot_meet_are_refused(method: str, options: dict[str, float], name: str) -> None:
    with pytest.raises(SpecError, match=f"`{name}` of the adaptive method `{method}` must be a number from"):
        sd.load("teacup").run(method=method, **options)


def stiff() -> Model:
    # y follows cos(t) with a time constant of 1e-5: explicit methods need steps of ~3e-5.
    m = Model("stiff", final_time=10, dt=0.5)
    m.stock("y", 0, inflows=["pull"])
    m.flow("pull", "(cos(time) - y) * 1e5")
    return m


def test_adaptive_steps_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_ADAPTIVE_STEPS == 500_000
    monkeypatch.setattr(integrate, "MAX_ADAPTIVE_STEPS", 300)
    model = stiff().compile()
    with pytest.raises(SimulationError, match=r"Stock `y` changed too fast for `rk45` .*needed more than 300 steps"):
        model.run(method="rk45")
    with pytest.warns(NonFiniteWarning, match="needed more than 300 steps"):
        ds = model.run(method="rk45", errors="mark")
    assert ds.attrs["status"].startswith("failed at t=")
    # Below the cap the same model runs: rk45 keeps to its stability limit, ~3e-5 a step.
    monkeypatch.setattr(integrate, "MAX_ADAPTIVE_STEPS", 200_000)
    ds = model.run(method="rk45", final_time=1)
    assert ds.attrs["status"] == "ok"
    assert float(ds["y"].sel(time=1)) == pytest.approx(math.cos(1), rel=1e-3)


# -- non-finite values anywhere ----------------------------------------------------------------
def pole() -> Model:
    m = Model("pole", final_time=4, dt=0.5)
    m.constant("k", 2.0)
    m.stock("x", 1, outflows=["loss"])
    m.flow("loss", "x * 0.1")
    m.aux("r", "1 / (time - k)")  # infinite when time reaches k
    return m


def test_an_infinite_auxiliary_flags_its_run_and_names_it() -> None:
    model = pole().compile()
    with pytest.warns(NonFiniteWarning, match=r"The run is flagged at t=2: `r` was inf"):
        ds = model.run()
    assert ds.attrs["status"] == "flagged at t=2: `r` was inf"
    np.testing.assert_allclose(ds["x"].values, 0.95 ** np.arange(9))  # the stocks are untouched
    with pytest.warns(NonFiniteWarning, match=r"1 of 3 runs did not end ok .* run 1, is flagged at t=2"):
        ens = model.run(params={"k": [2.3, 2.0, 5.0]})
    assert list(ens["run_status"].values) == ["ok", "flagged at t=2: `r` was inf", "ok"]


def test_a_non_finite_flow_and_an_arrayed_element_are_named() -> None:
    m = Model("drain", final_time=4, dt=0.5)
    m.stock("x", 1, outflows=["out"])
    m.flow("out", "x / (4 - time)")  # Euler empties x at t=4, where the flow is 0 / 0
    with pytest.warns(NonFiniteWarning):
        assert m.compile().run().attrs["status"] == "flagged at t=4: `out` was nan"
    a = Model("arrayed", final_time=4, dt=0.5)
    a.dimension("zone", ["a", "b", "c"])
    a.constant("k", [3.0, 2.0, 2.0], dims=("zone",))
    a.stock("s", 1, inflows=["f"], dims=("zone",))
    a.flow("f", "0 * s", dims=("zone",))
    a.aux("r", "-1 / (time - k)", dims=("zone",))
    with pytest.warns(NonFiniteWarning):
        assert a.compile().run().attrs["status"] == "flagged at t=2: `r[b]` was -inf"


def test_an_unstable_euler_run_is_flagged_when_it_passes_the_overflow_limit() -> None:
    m = Model("decay", final_time=1000, dt=10)
    m.constant("k", 1.0)
    m.stock("x", 1, outflows=["loss"])
    m.flow("loss", "k * x")
    # Euler multiplies x by 1 - k * dt = -9 each step: |x| first exceeds 1e50 after n steps.
    n = next(n for n in range(1, 100) if 9.0 ** n > OVERFLOW)
    with pytest.warns(NonFiniteWarning, match=f"flagged at t={10 * n}"):
        ds = m.compile().run()
    assert ds.attrs["status"] == f"flagged at t={10 * n}: `x` reached {(-9.0) ** n:.3g}, beyond the limit 1e+50"
    assert np.isfinite(ds["x"].values).all()  # finite all the way: only the limit catches it
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        assert m.compile().run(dt=1, params={"k": 0.5}).attrs["status"] == "ok"  # stable: factor 0.5


def test_the_clean_path_is_one_pass_of_reductions(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only a run whose extremes fail the check is searched; a clean run never gets that far.
    def searched(model: object) -> np.ndarray:
        raise AssertionError("a clean run was searched value by value")

    monkeypatch.setattr(guards, "_nan_by_design", searched)
    ds = sd.load("teacup").run(params={"Characteristic Time": np.linspace(5, 15, 50)})
    assert set(ds["run_status"].values) == {"ok"}


@pytest.mark.parametrize("runs", [1, 3, 5000])
def test_the_largest_magnitudes_agree_with_numpy_in_both_layouts(runs: int) -> None:
    rng = np.random.default_rng(runs)
    values = rng.normal(size=(runs, 300, 7)) * 10.0 ** rng.integers(-5, 60, size=(runs, 300, 7))
    values[runs // 2, 299, 6] = np.nan  # the very last value of a run, past every block boundary
    values[0, 150, 3] = -np.inf
    expected = np.abs(values).max(axis=(1, 2))
    buffer = np.ascontiguousarray(values.transpose(2, 1, 0))  # as the fixed-step integrators store it
    for record in (buffer.transpose(2, 1, 0), values):  # ... and the run-major array of controlled runs
        np.testing.assert_array_equal(guards._largest_magnitudes(record), expected)


def test_nan_written_on_purpose_is_not_flagged_but_other_nan_is(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("time,1,2,3,4\nx,10,20,,40\n")
    body = ("d raw:RAW::= GET DIRECT DATA('d.csv', ',', '1', 'B2')\n\t~\t~\t|\n"
            "twice = 2 * d raw\n\t~\t~\t|\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        ds = load(write_model(tmp_path, body)).run()
    assert np.isnan(ds["twice"].sel(time=0.5)) and ds.attrs["status"] == "ok"  # Vensim's :NA: between data times
    # Elements a model leaves undefined are NaN, and so is a total over them.
    holes = ("a: a1, a2, a3 ~~|\nb: b1, b2 ~~|\nc[a1, b1] = 1 ~~|\nc[a2, b2] = 2 ~~|\nc[a3, b] = 3 ~~|\n"
             "total = SUM(c[a!, b!]) ~~|\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        ds = load(write_model(tmp_path, body + holes)).run()
    assert np.isnan(ds["total"]).all() and ds.attrs["status"] == "ok"
    body += "ratio = (time - 1) / (time - 1)\n\t~\t~\t|\n"
    with pytest.warns(NonFiniteWarning, match="flagged at t=1: `ratio` was nan"):
        load(write_model(tmp_path, body + holes)).run()


# -- the command line ------------------------------------------------------------------------
def test_the_command_line_exits_non_zero_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_model(tmp_path, "x = INTEG(1, 0)\n\t~\t~\t|\nr = 1 / (Time - 2)\n\t~\t~\t|\n")
    out = tmp_path / "r.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about encodings
        code = main(["run", str(path), "--no-progress", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 3
        assert "sdflow: error: The run is flagged at t=2: `r` was inf." in err and "--allow-nonfinite" in err
        assert out.exists()  # written, to be looked at
        assert main(["run", str(path), "--no-progress", "--allow-nonfinite"]) == 0
    capsys.readouterr()
    # An ensemble with a failed run, and a single run whose stock fails: marked when allowed.
    code = main(["run", "teacup", "--set", "Characteristic Time=10,0", "--no-progress"])
    assert code == 3 and "1 of 2 runs are not ok; run 1 is failed at t=" in capsys.readouterr().err
    assert main(["run", "teacup", "--set", "Characteristic Time=10,0", "--no-progress", "--allow-nonfinite"]) == 0
    out_text = capsys.readouterr().out
    assert "2 runs (1 failed, excluded below)" in out_text
    assert main(["run", "teacup", "--set", "Characteristic Time=0", "--no-progress"]) == 2
    assert main(["run", "teacup", "--set", "Characteristic Time=0", "--no-progress", "--allow-nonfinite"]) == 0
