"""The app without a browser: sliders and their ranges, runs against the API, the paired scorecard,
scenario files, the loop view and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sd_engine as sd
from sd_engine.app.controls import Control, _doc_range, controls_for, lever_range, nice_step
from sd_engine.app.session import Workbench
from sd_engine.cli import main
from sd_engine.errors import SpecError, UnknownVariableError

TEACUP_PROFILE = '''model = "teacup"
[uncertainty]
"Room Temperature" = [60, 80]
[[metrics]]
key = "final_temperature"
label = "Temperature at the end"
variable = "Teacup Temperature"
statistic = "final"
units = "degrees F"
aim = "comfort"
better = "lower"
description = "Tea temperature at minute 30."
'''


@pytest.fixture(scope="module")
def teacup() -> Workbench:
    return Workbench.open("teacup", n_runs=20)


def test_ranges_from_documentation_scenarios_and_defaults() -> None:
    assert _doc_range("Fractional change in beds (lever, ±0.2).", 0.0) == (-0.2, 0.2)
    assert _doc_range("Weight of targets (lever, 0–2).", 1.0) == (0.0, 2.0)
    assert _doc_range("Cut in the leave rate (lever; 0 to 0.3).", 0.0) == (0.0, 0.3)
    # A domain note that does not hold the default is not the slider's range.
    assert _doc_range("Required cost reduction (lever; 2–4%).", 0.0) is None
    assert _doc_range("Required cost reduction (lever; 2–4).", 0.0) is None
    assert lever_range(0.0, [0.03, 0.05]) == (0.0, 0.1)
    assert lever_range(4.0, [8.0]) == (2.0, 16.0)
    assert nice_step(0.0049) == 0.002 and nice_step(1.0) == 1.0 and nice_step(0.0) == 1.0


def test_every_constant_of_a_model_without_profile_gets_a_slider(teacup: Workbench) -> None:
    assert [(c.name, c.role, c.default) for c in teacup.controls] == [
        ("Characteristic Time", "constant", 10.0), ("Room Temperature", "constant", 70.0)]
    assert all(c.low < c.default < c.high for c in teacup.controls)
    with pytest.raises(UnknownVariableError, match="Did you mean `Room Temperature`"):
        teacup.control("Room Temprature")


def test_the_single_run_is_the_api_run_at_the_plotted_times(teacup: Workbench) -> None:
    ds = teacup.single({"Characteristic Time": 7.5})
    reference = sd.load("teacup").run(params={"Characteristic Time": 7.5})
    t = ds["time"].values
    assert len(t) <= 401 and t[-1] == 30.0
    np.testing.assert_array_equal(ds["Teacup Temperature"].values, reference["Teacup Temperature"].sel(time=t).values)
    with pytest.raises(UnknownVariableError, match="no slider for `Characteristc Time`"):
        teacup.single({"Characteristc Time": 7.5})


def test_the_ensemble_is_one_call_whose_runs_are_single_runs(teacup: Workbench) -> None:
    values = {"Characteristic Time": 12.0, "Room Temperature": 72.0}
    ens = teacup.ensemble(values)
    draws = teacup.draws(values)
    assert ens.sizes["run"] == 20
    # Without a profile every constant is drawn within ±10% of its slider value, a Latin hypercube:
    # one draw in each twentieth of the range.
    ct = draws["Characteristic Time"]
    assert ct.min() >= 12.0 * 0.9 and ct.max() <= 12.0 * 1.1
    assert sorted(np.floor((ct - 10.8) / 2.4 * 20).astype(int).tolist()) == list(range(20))
    for r in (0, 7, 19):
        one = teacup.single({k: float(v[r]) for k, v in draws.items()})
        np.testing.assert_allclose(ens["Teacup Temperature"].isel(run=r).values, one["Teacup Temperature"].values,
                                   rtol=1e-12)


def test_scorecard_pairs_each_run_with_the_baseline(tmp_path: Path) -> None:
    path = tmp_path / "teacup.toml"
    path.write_text(TEACUP_PROFILE)
    wb = Workbench.open(path, n_runs=16)
    assert [(c.name, c.role) for c in wb.controls] == [("Room Temperature", "uncertain")]
    # The ensemble draws Room Temperature over the profile's range whatever the slider says.
    assert wb.draws()["Room Temperature"].min() >= 60 and wb.draws()["Room Temperature"].max() <= 80
    base = wb.baseline()["ensemble"]
    same = wb.scorecard(base, wb.baseline()["single"]).iloc[0]
    assert same["change"] == 0.0 and same["p_better"] == 0.0 and same["when"] == "Tea temperature at minute 30."
    # Hand computation: the final temperature of each run, paired with the baseline's.
    hotter = base.copy(deep=True)
    hotter["Teacup Temperature"] = base["Teacup Temperature"] + xr.DataArray(np.arange(16.0) - 3, dims="run")
    row = wb.scorecard(hotter).iloc[0]
    finals = base["Teacup Temperature"].isel(time=-1).values
    assert row["baseline"] == pytest.approx(np.median(finals))
    assert row["change"] == pytest.approx(np.median(np.arange(16.0) - 3))
    assert row["p_better"] == pytest.approx(3 / 16)  # lower is better: the three runs cooled by 3, 2 and 1


def test_a_saved_scenario_runs_in_the_lab_and_keeps_only_levers(tmp_path: Path) -> None:
    from sd_engine.lab.cli import load_scenarios
    from sd_engine.scenario import load

    wb = Workbench.open("whole_system_flow", n_runs=4)
    roles = {c.name: c.role for c in wb.controls}
    assert roles["pooled budget share"] == "lever" and roles["leave rate"] == "uncertain"
    assert roles["savings rate"] == "lever"  # set by a shipped scenario
    values = wb.scenario_values("workforce expansion")
    assert values["training increase"] == 90.0
    assert wb.fixed_by("workforce expansion") == ["international recruits"]
    values.update({"pooled budget share": 0.06, "leave rate": 0.2})
    scenario = wb.scenario(values, "more pooling", based_on="workforce expansion")
    # Levers at their defaults ("training start" = 365) are not written.
    assert scenario.params == {"training increase": 90.0, "retention gain": 0.1, "pooled budget share": 0.06}
    assert "leave rate" not in scenario.params  # uncertain: the lab draws it
    assert dict(scenario.schedules) == {"international recruits": ((0.0, 60.0), (1825.0, 120.0))}
    path = wb.save_scenario(scenario, tmp_path)
    assert path.name == "more_pooling.toml" and load(path) == scenario
    assert load_scenarios("whole_system_flow", str(path))[0] == scenario
    assert "more pooling" in wb.scenarios
    with pytest.raises(SpecError, match="Give the scenario a name"):
        wb.scenario(values, "  ")


def test_top_loops_and_loop_view_on_sir() -> None:
    from bokeh.models import GraphRenderer

    from sd_engine.app.loopview import loop_figure, sector_layout

    wb = Workbench.open("sir", n_runs=4)
    rls = wb.dominance(wb.single())
    assert rls is not None and set(rls.dims) == {"loop", "time"}
    top = wb.top_loops(rls, float(rls["time"].values[-1]), k=2)
    assert len(top) == 2 and abs(top[0][1]) >= abs(top[1][1])
    fig = loop_figure(wb.graph(), top, wb.sectors())
    graph = next(r for r in fig.renderers if isinstance(r, GraphRenderer))
    assert set(graph.node_renderer.data_source.data["index"]) == {v for loop, _ in top for v in loop.variables}
    pos = sector_layout(["a", "b", "c", "d"], {"a": "x", "b": "x", "c": "y", "d": "y"})
    # Nodes of one sector are closer to each other than to the other sector's.
    dist = {k: np.hypot(pos[k[0]][0] - pos[k[1]][0], pos[k[0]][1] - pos[k[1]][1]) for k in ("ab", "cd", "ac", "bd")}
    assert max(dist["ab"], dist["cd"]) < min(dist["ac"], dist["bd"])


def test_explorer_builds_and_updates_without_a_server(teacup: Workbench) -> None:
    from sd_engine.app.ui import Explorer

    ex = Explorer(teacup)
    root = ex.__panel__().get_root()
    assert root is not None
    before = np.array(ex._sources["single:Teacup Temperature"].data["y"])
    ex.sliders["Characteristic Time"].value = 15.0
    ex.update()
    after = np.array(ex._sources["single:Teacup Temperature"].data["y"])
    np.testing.assert_allclose(after, teacup.single({"Characteristic Time": 15.0})["Teacup Temperature"].values)
    assert not np.allclose(before, after)
    assert "Teacup Temperature" in ex.scorecard.object and "B1" in ex.loop_table.object


def test_import_and_help_do_not_load_panel() -> None:
    script = ("import sys, contextlib, io\n"
              "import sd_engine as sd\n"
              "sd.explore\n"
              "from sd_engine.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
              "    assert main(['--help']) == 0\n"
              "assert 'app' in out.getvalue()\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'panel', 'bokeh', 'jinja2', 'numpy'}))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.mark.parametrize("argv,message", [
    (["--port", "0"], "`--port` must be between 1 and 65535"),
    (["--runs", "1"], "`--runs` must be at least 2"),
])
def test_sdflow_app_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "teacup", *argv]) == 2
    assert message in capsys.readouterr().err


def test_control_is_frozen() -> None:
    c = Control("x", "lever", 1.0, 0.0, 2.0)
    with pytest.raises(AttributeError):
        c.low = 3.0  # type: ignore[misc]
    assert controls_for(sd.load("teacup"), None)[0].range_source == "around the default"


def test_a_profile_file_naming_a_model_file_next_to_it(tmp_path: Path, test_models: Path) -> None:
    import shutil

    shutil.copy(test_models / "samples" / "teacup" / "teacup.mdl", tmp_path / "teacup.mdl")
    (tmp_path / "lab.toml").write_text(TEACUP_PROFILE.replace('model = "teacup"', 'model = "teacup.mdl"'))
    wb = Workbench.open(tmp_path / "lab.toml", n_runs=4)
    assert Path(wb.model_name) == tmp_path / "teacup.mdl" and wb.profile is not None
    assert [c.name for c in wb.controls] == ["Room Temperature"]
    reference = sd.load(tmp_path / "teacup.mdl").run(params={"Room Temperature": 65.0})
    ds = wb.single({"Room Temperature": 65.0})
    np.testing.assert_array_equal(ds["Teacup Temperature"].values,
                                  reference["Teacup Temperature"].sel(time=ds["time"].values).values)


def test_precompiled_workbench_runs_compiled_and_agrees_with_numpy(chosen_backends: list[str]) -> None:
    # The app compiles its model once so that slider moves run on numba; the plotted numbers must
    # be the API's (numpy) to the last few bits, and every run of the workbench must go compiled.
    wb = Workbench.open("teacup", n_runs=8)
    assert wb.precompile()
    chosen_backends.clear()
    values = {"Characteristic Time": 7.5}
    single, ens = wb.single(values), wb.ensemble(values)
    assert chosen_backends == ["numba", "numba"]
    expected = wb.model.run(params=values, backend="numpy", final_time=wb.final_time, saveper=wb.saveper)
    np.testing.assert_allclose(single["Teacup Temperature"], expected["Teacup Temperature"], rtol=1e-12)
    params = {**values, **wb.draws(values)}
    expected_ens = wb.model.run(params=params, seed=wb.seed, backend="numpy", final_time=wb.final_time,
                                saveper=wb.saveper)
    np.testing.assert_allclose(ens["Teacup Temperature"], expected_ens["Teacup Temperature"], rtol=1e-12)
