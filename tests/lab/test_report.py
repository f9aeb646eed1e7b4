"""Comparison table, figures, the HTML report and the `sdflow lab` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sd_engine.cli import main
from sd_engine.errors import SpecError, UnknownVariableError
from sd_engine.lab.analysis import dominance_share
from sd_engine.lab.cli import load_scenarios
from sd_engine.lab.figures import comparison_table, dominance_heatmap, fan_chart, sobol_plot, tornado
from sd_engine.lab.report import render_report


def experiment_like() -> xr.Dataset:
    # Two metrics, three scenarios, four paired runs with known differences from the baseline.
    base = np.array([10.0, 20.0, 30.0, 40.0])
    outcome = np.stack([
        np.stack([base, base - 1, base + 2]),          # cost: lower is better
        np.stack([base, base + np.array([1, -1, 1, 1]), base]),  # score: higher is better
    ])
    ds = xr.Dataset(
        {"outcome": (("metric", "scenario", "run"), outcome),
         "run_status": (("scenario", "run"), np.full((3, 4), "ok")),
         "Stock": (("scenario", "run", "time"), np.arange(36.0).reshape(3, 4, 3))},
        coords={"metric": ["cost", "score"], "scenario": ["baseline", "cheaper", "dearer"], "time": [0.0, 1, 2],
                "metric_label": ("metric", ["Cost", "Score"]), "metric_units": ("metric", ["£", "pts"]),
                "better": ("metric", ["lower", "higher"]), "aim": ("metric", ["cost", "quality"])},
        attrs={"model": "demo", "scenarios": '[{"name": "baseline", "model": "demo"}]', "seed": 0})
    return ds


def test_comparison_table_pairs_runs_with_the_baseline() -> None:
    t = comparison_table(experiment_like())
    assert t.loc[("cheaper", "cost"), "change"] == -1.0 and t.loc[("cheaper", "cost"), "p_better"] == 1.0
    assert t.loc[("dearer", "cost"), "p_better"] == 0.0
    assert t.loc[("cheaper", "score"), "p_better"] == 0.75  # better in three of the four runs
    assert t.loc[("baseline", "cost"), "median"] == 25.0
    assert t.loc[("dearer", "score"), "change"] == 0.0 and t.loc[("dearer", "score"), "p_better"] == 0.0


def test_failed_runs_are_left_out_of_the_table() -> None:
    ds = experiment_like()
    ds["run_status"][1, 0] = "failed at t=3"
    t = comparison_table(ds)
    assert t.loc[("cheaper", "cost"), "median"] == np.median([19.0, 29.0, 39.0])


def test_figures() -> None:
    ds = experiment_like()
    assert len([a for a in fan_chart(ds, "Stock").axes if a.get_visible()]) == 3
    with pytest.raises(UnknownVariableError, match="did not keep `Stok`"):
        fan_chart(ds, "Stok")
    morris = xr.Dataset({"mu_star": (("metric", "parameter"), [[3.0, 1.0]]),
                         "mu_star_conf": (("metric", "parameter"), [[0.1, 0.1]]),
                         "sigma": (("metric", "parameter"), [[0.5, 2.0]])},
                        coords={"metric": ["cost"], "parameter": ["a", "b"]})
    fig = tornado(morris, "cost")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["b", "a"]  # largest at the top
    with pytest.raises(SpecError, match="needs Morris indices"):
        tornado(morris.rename({"mu_star": "S1"}), "cost")
    with pytest.raises(SpecError, match="needs Sobol indices"):
        sobol_plot(morris)
    rls = xr.DataArray(np.array([[[1.0, 0.1, np.nan], [0.0, 0.9, np.nan]]] * 2),
                       dims=("scenario", "loop", "time"),
                       coords={"scenario": ["a", "b"], "loop": ["B1", "R1"], "time": [0, 1, 2]})
    share = dominance_share(rls)
    assert share.sel(scenario="a").values.tolist() == [0.5, 0.5]  # the unscored last time does not count
    assert dominance_heatmap(share).axes


def test_report_reads_as_html() -> None:
    text = render_report(experiment_like(), fan_variables=["Stock"], timings={"runs": 1.0})
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert text.count("data:image/png;base64,") == 1
    assert "Scenario comparison" in text and "better in 100% of runs" in text
    # Headlines: only outcomes that move the same way in at least 90% of the paired runs.
    assert "<b>cheaper</b>: better cost (-1.00 £)." in text and "<b>dearer</b>: worse cost (+2.00 £)." in text


def test_load_scenarios_by_name_composition_folder_and_file(tmp_path: Path) -> None:
    from models.scenarios import load, save

    default = load_scenarios("whole_system_flow", None)
    assert default[0].name == "baseline" and len(default) >= 5
    two = load_scenarios("whole_system_flow", "baseline, savings_programme+pooled_budget")
    assert [s.name for s in two] == ["baseline", "savings programme + pooled budget"]
    save(load("pooled_budget"), tmp_path / "a.toml")
    save(load("baseline"), tmp_path / "b.json")
    assert [s.name for s in load_scenarios("whole_system_flow", str(tmp_path))] == ["baseline", "pooled budget"]
    assert [s.name for s in load_scenarios("whole_system_flow", str(tmp_path / "a.toml"))] == ["pooled budget"]
    with pytest.raises(SpecError, match="empty name"):
        load_scenarios("whole_system_flow", "baseline,,pooled_budget")
    with pytest.raises(SpecError, match="holds no scenario files"):
        load_scenarios("whole_system_flow", str(_empty(tmp_path)))
    with pytest.raises(SpecError, match="No shipped scenario is for model `sir`"):
        load_scenarios("sir", None)


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_sdflow_lab_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lab"
    status = main(["lab", "whole_system_flow", "--scenarios", "baseline,savings_programme", "--samples", "3",
                   "--final-time", "30", "--morris", "0", "--no-loops", "--no-progress", "--out", str(out)])
    assert status == 0
    captured = capsys.readouterr()
    assert "[1/2] 2 scenarios × 3 runs" in captured.err and "report:" in captured.out
    ds = xr.open_dataset(out / "results.nc", engine="h5netcdf")
    assert dict(ds["outcome"].sizes) == {"metric": 14, "scenario": 2, "run": 3}
    assert "<img" in (out / "report.html").read_text()


@pytest.mark.parametrize("argv,message", [
    (["--scenarios", "no_such_scenario"], "There is no scenario `no_such_scenario`"),
    (["--samples", "0"], "`--samples` must be at least 1"),
    (["--sobol", "48"], "`--sobol` must be a power of two"),
])
def test_sdflow_lab_errors(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "whole_system_flow", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_sdflow_lab_refuses_a_model_without_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "teacup", "--scenarios", str(_teacup_scenario(tmp_path)), "--out", str(tmp_path)]) == 2
    assert "has no lab profile" in capsys.readouterr().err


def _teacup_scenario(tmp_path: Path) -> Path:
    from models.scenarios import Scenario, save

    return save(Scenario("warm room", "teacup", params={"Room Temperature": 75}), tmp_path / "warm.toml")


@pytest.mark.slow
def test_sdflow_lab_on_a_local_cluster_matches_the_local_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["lab", "whole_system_flow", "--scenarios", "baseline,pooled_budget", "--samples", "4",
              "--final-time", "30", "--morris", "0", "--no-loops", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "here")]) == 0
    assert main([*common, "--out", str(tmp_path / "dask"), "--scheduler", "local"]) == 0
    assert "Dask: 2 worker(s)" in capsys.readouterr().err
    here = xr.open_dataset(tmp_path / "here" / "results.nc", engine="h5netcdf")
    dask = xr.open_dataset(tmp_path / "dask" / "results.nc", engine="h5netcdf")
    xr.testing.assert_equal(here["outcome"], dask["outcome"])
    xr.testing.assert_equal(here["Acute DToC"], dask["Acute DToC"])
