"""Results as tables a user opens: ensemble CSV/xlsx with the run's parameters and status, Vensim's
``.tab``, PySD-shaped frames, and ``run(variables=[...])``. Each table is checked against the single
runs it came from, a reader written for Vensim's files, or PySD's own frame."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sd_engine as sd
from paths import TEST_MODELS
from sd_engine.cli import _OUT_SUFFIXES, main
from sd_engine.io.conformance import compare, read_canonical
from sd_engine.results import SAVE_SUFFIXES, run_table, to_pandas, to_table

TEACUP = TEST_MODELS / "samples" / "teacup" / "teacup.mdl"
ARRAYS_2D = TEST_MODELS / "tests" / "subscript_2d_arrays" / "test_subscript_2d_arrays.mdl"


def test_the_command_line_knows_every_file_type_save_writes() -> None:
    assert _OUT_SUFFIXES == SAVE_SUFFIXES


def test_an_ensemble_csv_from_the_command_line_has_a_row_per_run_and_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sir.csv"
    assert main(["run", "sir", "--set", "Contact Infectivity=0.2,0.3,0.4", "--out", str(out), "--no-progress"]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns[:4]) == ["run", "time", "Contact Infectivity", "run_status"]
    model = sd.load("sir")
    for run, value in enumerate((0.2, 0.3, 0.4)):
        rows = frame[frame["run"] == run]
        single = model.run(params={"Contact Infectivity": value})
        assert len(rows) == single.sizes["time"]
        assert (rows["Contact Infectivity"] == value).all() and (rows["run_status"] == "ok").all()
        np.testing.assert_array_equal(rows["time"].to_numpy(), single["time"].values)
        for name in ("Susceptible", "Infectious", "Recovering"):
            # The batched run is the single run (the CSV keeps every digit).
            np.testing.assert_allclose(rows[name].to_numpy(), single[name].values, rtol=1e-12, err_msg=name)
    assert len(frame) == 3 * model.run()["time"].size


def test_an_ensemble_table_names_varied_arrayed_parameters_seeds_and_failed_runs() -> None:
    m = sd.Model("board", final_time=2, dt=0.5)
    m.dimension("region", ["north", "south"])
    m.constant("referrals", [30.0, 20.0], dims=["region"])
    m.constant("treatment time", 3.0)
    m.constant("unchanged", 7.0)
    m.stock("patients", initial=10, inflows=["admissions"], outflows=["discharges"], dims=["region"])
    m.flow("admissions", "referrals * (1 + random_uniform(0, 0.1))", dims=["region"])
    m.flow("discharges", "patients / treatment_time", dims=["region"])
    model = m.compile()
    referrals = np.array([[30.0, 20.0], [31.0, 20.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = model.run(params={"referrals": referrals, "treatment time": [3.0, 0.0]}, seed=11)
    runs = run_table(ds)
    assert list(runs.columns) == ["referrals[north]", "referrals[south]", "treatment time", "run_seed",
                                  "run_status"]
    assert runs["referrals[north]"].tolist() == [30.0, 31.0] and runs["run_seed"].tolist() == [11, 12]
    assert runs["run_status"].iloc[0] == "ok" and runs["run_status"].iloc[1].startswith("failed")
    table = to_table(ds)
    assert table.loc[(1, 1.0), "treatment time"] == 0.0 and table.loc[(0, 2.0), "referrals[south]"] == 20.0
    single = model.run(params={"referrals": referrals[0], "treatment time": 3.0}, seed=11)
    np.testing.assert_array_equal(table.loc[0, "patients[south]"].to_numpy(),
                                  single["patients"].sel(region="south").values)


def test_xlsx_holds_the_same_table_and_the_units(tmp_path: Path) -> None:
    model = sd.load("sir")
    ds = model.run(params={"Contact Infectivity": [0.25, 0.35]}, saveper=10)
    path = sd.save_results(ds, tmp_path / "sir.xlsx")
    sheet = pd.read_excel(path, sheet_name="results", index_col=[0, 1])
    expected = to_table(ds)
    assert list(sheet.columns) == list(expected.columns) and sheet.index.names == ["run", "time"]
    np.testing.assert_allclose(sheet["Infectious"].to_numpy(), expected["Infectious"].to_numpy(), rtol=1e-15)
    single = model.run(params={"Contact Infectivity": 0.35}, saveper=10)
    np.testing.assert_allclose(sheet.loc[1, "Recovered"].to_numpy(), single["Recovered"].values, rtol=1e-12)
    about = pd.read_excel(path, sheet_name="variables", index_col=0)
    assert about.loc["Infectious", "units"] == "Persons" and about.loc["Infectious", "kind"] == "stock"


def test_tab_is_vensims_layout_and_reads_back_through_the_canonical_reader(tmp_path: Path) -> None:
    ds = sd.load(TEACUP).run()
    path = sd.save_results(ds, tmp_path / "teacup.tab")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("Time\t0\t0.125\t0.25\t") and lines[0].endswith("\t30")
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in lines[1:]}
    assert rows["Teacup Temperature"][:2] == ["180.0", "178.625"]  # 180 - 0.125 * (180 - 70) / 10
    # The reader the conformance suite uses for Vensim's own output.tab files.
    back = read_canonical(path)
    assert {"Teacup Temperature", "Heat Loss to Room", "Characteristic Time", "Room Temperature"} <= set(back.columns)
    worst, where = compare(ds, back)
    assert worst < 1e-9, where


def test_tab_refuses_an_ensemble_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = sd.load("sir").run(params={"Contact Infectivity": [0.2, 0.3]}, saveper=50)
    with pytest.raises(sd.SpecError, match=r"`sir.tab`: a `.tab` file holds one run"):
        sd.save_results(ds, tmp_path / "sir.tab")
    assert main(["run", "sir", "--set", "Contact Infectivity=0.2,0.3", "--out", str(tmp_path / "e.tab")]) == 2
    assert "save an ensemble as `.csv`" in capsys.readouterr().err and not (tmp_path / "e.tab").exists()


def test_to_pandas_matches_pysds_own_frame() -> None:
    import pysd

    for path in (TEACUP, ARRAYS_2D):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = pysd.read_vensim(str(path)).run()
        ours = to_pandas(sd.load(path).run())
        control = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"}
        # The control variables are PySD columns; an imported model has those its file defines.
        assert set(ours.columns) - control == set(theirs.columns) - control, path.name
        assert ours.index.name == theirs.index.name == "time"
        np.testing.assert_allclose(ours.index.to_numpy(), theirs.index.to_numpy())
        for column in ours.columns:
            np.testing.assert_allclose(ours[column].to_numpy(), theirs[column].to_numpy(dtype=float), rtol=1e-10,
                                       err_msg=f"{path.name}: {column}")


def test_run_keeps_only_the_variables_asked_for() -> None:
    model = sd.load("sir")
    full = model.run()
    ds = model.run(variables=["infectious", "Contact Infectivity", "Infectious"])
    assert list(ds.data_vars) == ["Infectious", "Contact Infectivity"]
    np.testing.assert_array_equal(ds["Infectious"].values, full["Infectious"].values)
    assert ds.attrs["model"] == "SIR"
    with pytest.raises(sd.UnknownVariableError, match=r"no variable `Infectd`\. Did you mean `infectious`"):
        model.run(variables=["Infectd"])


def test_a_table_of_scenarios_names_each_scenarios_parameters_and_status() -> None:
    # A policy-lab result has a scenario dimension before run: one column per scenario.
    import xarray as xr

    model = sd.load("sir")
    runs = [model.run(params={"Contact Infectivity": values}, saveper=50) for values in ([0.2, 0.3], [0.25, 0.35])]
    ds = xr.concat(runs, dim=xr.DataArray(["base", "alt"], dims="scenario", name="scenario"), coords="minimal",
                   compat="override")
    ds = ds.assign_coords(run_status=(("scenario", "run"), [["ok", "ok"], ["ok", "failed at t=3"]]))
    runs_table = run_table(ds)
    assert runs_table["Contact Infectivity[alt]"].tolist() == [0.25, 0.35]
    assert runs_table["run_status[alt]"].tolist() == ["ok", "failed at t=3"]
    table = to_table(ds)
    assert table.loc[(1, 50.0), "Infectious[alt]"] == runs[1]["Infectious"].sel(run=1, time=50.0)
