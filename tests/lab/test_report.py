"""Comparison table, figures, the HTML report and the `sdflow lab` command."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sd_engine.cli import main
from sd_engine.errors import SpecError, UnknownVariableError
from sd_engine.lab.analysis import dominance_share
from sd_engine.lab.cli import load_scenarios
from sd_engine.lab.figures import comparison_table, dominance_heatmap, fan_chart, sobol_plot, tornado
from sd_engine.lab.report import identical_scenarios, render_report, sensitivity_caveats, summarise


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
    # The baseline is not better or worse than itself: undefined, not 0 (which read as "never better").
    assert t.loc["baseline", "p_better"].isna().all() and (t.loc["baseline", "change"] == 0.0).all()


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
    assert "<img" not in _markup(text) and text.count('<figure role="img"') == 1  # one interactive (Bokeh) chart
    assert "Scenario comparison" in text and "better in 100% of runs" in text
    # The summary: outcomes that move the same way in at least 90% of the paired runs.
    assert "Better: Cost (-1.00 £, in 100% of runs)." in text
    assert "Worse: Cost (+2.00 £, in 100% of runs)." in text
    assert "Score (median 0.00 pts, better in 75% of runs)" not in text  # not material: the median change is 0
    assert "No consistent direction" in text or "cheaper" in text


def test_summary_classifies_outcomes_and_names_trade_offs() -> None:
    table = comparison_table(experiment_like())
    by_name = {e["scenario"]: e for e in summarise(table)}
    assert [b["label"] for b in by_name["cheaper"]["better"]] == ["Cost"]
    assert [b["label"] for b in by_name["cheaper"]["uncertain"]] == ["Score"]  # better in 3 of 4 runs only
    assert by_name["dearer"]["verdict"] == "Worse on cost and better on none."
    ds = experiment_like()
    ds["outcome"][1, 1] = ds["outcome"][1, 0] - 5  # cheaper now also scores lower in every run
    trade = {e["scenario"]: e for e in summarise(comparison_table(ds))}["cheaper"]
    assert trade["verdict"] == "A trade-off: better on cost, worse on score."


def test_identical_scenarios_are_found_exactly() -> None:
    ds = experiment_like()
    assert identical_scenarios(ds) == []
    ds["outcome"][:, 2] = ds["outcome"][:, 1]
    ds["Stock"][2] = ds["Stock"][1]
    assert identical_scenarios(ds) == [["cheaper", "dearer"]]
    ds["Stock"][2, 0, 0] += 1e-12  # one value in one run differs: not identical
    assert identical_scenarios(ds) == []


def test_sensitivity_caveats_name_wide_intervals_and_negative_first_order_indices() -> None:
    sobol = xr.Dataset({"S1": (("metric", "parameter"), [[-0.05, 0.6]]), "S1_conf": (("metric", "parameter"), [[0.3, 0.4]]),
                        "ST": (("metric", "parameter"), [[0.1, 0.9]]), "ST_conf": (("metric", "parameter"), [[0.1, 0.5]])},
                       coords={"metric": ["cost"], "parameter": ["a", "b"], "metric_label": ("metric", ["Cost"])},
                       attrs={"n_runs": 32})
    notes = sensitivity_caveats(None, sobol)["sobol"]
    assert "from 32 runs, and 3 of the 4 have 95% intervals wider than ±0.15 (up to ±0.5)" in notes[0]
    assert "Indices below 0 or above 1 (S1 of a on Cost: -0.05)" in notes[1]
    tight = sobol.assign(S1=sobol["S1"] * 0 + 0.2, S1_conf=sobol["S1_conf"] * 0 + 0.02, ST_conf=sobol["ST_conf"] * 0 + 0.02)
    assert sensitivity_caveats(None, tight)["sobol"] == []


def _markup(text: str) -> str:
    """The page without its scripts (Bokeh's library mentions `<img` in its own code)."""
    import re

    return re.sub(r"<script.*?</script>", "", text, flags=re.S)


REPORT_SCENARIOS = ("baseline", "savings_programme", "pooled_budget")


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small but complete lab run of the whole-system model, with a scenario that cannot act."""
    from sd_engine.scenario import Scenario, load, save, shipped

    out = tmp_path_factory.mktemp("lab")
    folder = out / "scenarios"
    folder.mkdir()
    for name in REPORT_SCENARIOS:
        save(load(shipped("whole_system_flow")[name]), folder / f"{name}.toml")
    # The savings programme's start date with no savings rate: a lever that changes nothing.
    save(Scenario("savings start only", "whole_system_flow", params={"savings start": 730.0},
                  description="Moves the start of a savings programme that saves nothing."), folder / "idle.toml")
    status = main(["lab", "whole_system_flow", "--scenarios", str(folder), "--samples", "8",
                   "--final-time", "730", "--morris", "2", "--sobol", "8", "--no-progress", "--out", str(out)])
    assert status == 0
    return out


def test_lab_report_checklist(lab_run: Path) -> None:
    """The report explains itself: the checklist of issue 19."""
    import re

    from sd_engine.lab import find_profile

    text = (lab_run / "report.html").read_text(encoding="utf-8")
    ds = xr.open_dataset(lab_run / "results.nc", engine="h5netcdf").load()
    profile = find_profile("whole_system_flow")
    # 1. An executive summary first, before the table, with a verdict for each policy.
    assert text.index('id="summary"') < text.index('id="comparison"') < text.index('id="fans"')
    summary = text[text.index('id="summary"'):text.index('id="scenarios"')]
    for name in ("savings programme", "pooled budget", "savings start only"):
        assert f"<h3>{name}</h3>" in summary
    assert "The best policy for each outcome" in summary
    # 2. Every metric's definition and measurement window.
    definitions = text[text.index('id="definitions"'):text.index('id="fans"')]
    for m in profile.metrics:
        assert m.label in definitions and m.description in html.unescape(definitions)
    assert definitions.count("the mean over the last 365 day (the final year)") == sum(
        m.statistic == "window_mean" for m in profile.metrics)
    # 3. A glossary of every parameter shown, with units and the model's documentation.
    import sd_engine as sd

    model = sd.load("whole_system_flow")
    glossary = text[text.index('id="glossary"'):text.index('id="downloads"')]
    for name in [*profile.uncertainty, "savings rate", "pooled budget share", "savings start"]:
        var = model.resolve(name)
        row = re.search(rf'<tr id="param-[^"]+"><td class="name"><b>{re.escape(name)}</b></td>.*?</tr>', glossary)
        assert row is not None, name
        assert f">{var.units}<" in row.group(0) and var.doc in html.unescape(row.group(0))
    # 4. No saw-tooth: output saved at least monthly.
    assert ds.attrs["saveper"] <= 31 and float(np.diff(ds["time"].values).max()) <= 31
    # 5. Scenarios with identical results flagged.
    assert "Identical results:</b> baseline and savings start only give exactly the same values in all 8 runs" in text
    assert "They differ in savings start" in text
    # 6. Real alt text on every figure; interactive figures, no static images.
    labels = re.findall(r'<figure role="img" aria-label="([^"]*)"', text)
    n_metrics = len(profile.metrics)
    assert len(labels) == len(profile.fan_variables) + 2 * n_metrics + 1  # fans, tornadoes, Sobol, loops
    assert all(len(a) > 80 and a.lower() != "figure" for a in labels)
    assert "<img" not in _markup(text) and "Bokeh.embed" in text
    assert any(a.startswith("Line chart of 4-hour performance in % over 2 years") for a in labels)
    # 7. Every tornado, and the caveat on the small Sobol sample.
    assert sum(a.startswith("Bar chart of the Morris screening") for a in labels) == n_metrics
    assert "their 95% intervals are wide" in text
    # 8. Downloads: links and files; the scorecard is the paired comparison of the runs.
    for name in ("scorecard.csv", "runs.csv", "lab.xlsx"):
        assert f'href="{name}"' in text and (lab_run / name).exists()
    assert "data:text/csv;charset=utf-8;base64," in text
    score = pd.read_excel(lab_run / "lab.xlsx", sheet_name="scorecard")
    runs = pd.read_csv(lab_run / "runs.csv")
    assert len(runs) == 4 * 8 and all(f"parameter: {p}" in runs.columns for p in profile.uncertainty)
    row = score[(score["scenario"] == "savings programme") & (score["outcome"] == "4-hour performance")].iloc[0]
    o = ds["outcome"].sel(metric="four_hour")
    diff = (o.sel(scenario="savings programme") - o.sel(scenario="baseline")).values
    assert row["paired change (median)"] == pytest.approx(float(np.median(diff)))
    assert row["share of runs better than baseline"] == pytest.approx(float(np.mean(diff > 1e-12 * (1 + abs(
        o.sel(scenario="baseline").values)))))


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
    assert '<figure role="img"' in (out / "report.html").read_text()


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
