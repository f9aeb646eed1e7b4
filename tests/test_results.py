"""Result datasets: structure, attributes, provenance, and saving to netCDF and CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sd_engine as sd
from sd_engine.builder import Model
from sd_engine.results import to_table


def health_board() -> Model:
    """Names with capitals, spaces and '/', arrays over two dimensions, a lookup, and noise."""
    m = Model("Board A/B", time_units="Week", final_time=4, dt=0.5, doc="A test board.")
    m.dimension("region", ["north", "south/east"])
    m.dimension("age band", ["0-64", "65+"])
    m.constant("Referral Rate", [30.0, 20.0], dims=["region"], units="people/Week", doc="GP referrals.")
    m.constant("age split", [[0.8, 0.2], [0.6, 0.4]], dims=["region", "age band"], units="1")
    m.constant("Treatment Time", 3.0, units="Week", doc="Average time in treatment.")
    m.lookup("capacity effect", [(0, 1.0), (100, 0.8), (200, 0.5)], units="1", doc="Crowding slows care.")
    m.stock("Patients In Treatment", initial=10, inflows=["Admissions/week"], outflows=["Discharges"],
            dims=["region"], units="people", doc="People being treated.")
    m.flow("Admissions/week", "referral_rate", dims=["region"], units="people/Week")
    m.flow("Discharges", "patients_in_treatment / treatment_time * capacity_effect(total_patients)",
           dims=["region"], units="people/Week")
    m.aux("patients by age", "patients_in_treatment * age_split", dims=["region", "age band"], units="people")
    m.aux("total patients", "sum(patients_in_treatment)", units="people", doc="Across regions.")
    m.aux("noise", "random_uniform(0, 1)", units="1")
    return m


# -- structure -------------------------------------------------------------------------------------
def test_variables_are_named_exactly_as_in_the_model() -> None:
    ds = health_board().run()
    assert set(ds.data_vars) == {
        "Referral Rate", "age split", "Treatment Time", "capacity effect", "Patients In Treatment",
        "Admissions/week", "Discharges", "patients by age", "total patients", "noise",
    }
    # Internal stocks of lowered builtins never show.
    assert not [name for name in ds.variables if str(name).startswith("_")]


def test_every_data_variable_carries_kind_units_and_doc() -> None:
    ds = health_board().run()
    for name, var in ds.data_vars.items():
        assert {"kind", "units", "doc"} <= set(var.attrs), name
    expected = {
        "Patients In Treatment": ("stock", "people", "People being treated."),
        "Admissions/week": ("flow", "people/Week", ""),
        "total patients": ("aux", "people", "Across regions."),
        "Treatment Time": ("constant", "Week", "Average time in treatment."),
        "capacity effect": ("lookup", "1", "Crowding slows care."),
    }
    for name, (kind, units, doc) in expected.items():
        attrs = ds[name].attrs
        assert (attrs["kind"], attrs["units"], attrs["doc"]) == (kind, units, doc), name
    assert ds["Discharges"].attrs["equation"].startswith("patients_in_treatment / treatment_time")


def test_time_coordinate_carries_the_models_time_units() -> None:
    ds = health_board().run()
    assert ds["time"].attrs["units"] == "Week"
    assert ds.attrs["time_units"] == "Week"
    np.testing.assert_array_equal(ds["time"].values, np.arange(9) * 0.5)


def test_arrayed_variables_have_their_subscript_dimensions_and_element_coordinates() -> None:
    ds = health_board().run()
    assert ds["Patients In Treatment"].dims == ("time", "region")
    assert ds["patients by age"].dims == ("time", "region", "age band")
    assert ds["age split"].dims == ("region", "age band")
    assert ds["total patients"].dims == ("time",)
    assert ds["region"].values.tolist() == ["north", "south/east"]
    assert ds["age band"].values.tolist() == ["0-64", "65+"]
    # Elements select the right values.
    assert float(ds["Referral Rate"].sel(region="south/east")) == 20.0
    np.testing.assert_array_equal(
        ds["patients by age"].sel(region="north", **{"age band": "65+"}).values,
        0.2 * ds["Patients In Treatment"].sel(region="north").values,
    )
    np.testing.assert_allclose(ds["total patients"].values, ds["Patients In Treatment"].sum("region").values)


def test_lookups_are_stored_as_their_points() -> None:
    ds = health_board().run()
    table = ds["capacity effect"]
    assert table.dims == ("capacity effect input",)
    assert table["capacity effect input"].values.tolist() == [0.0, 100.0, 200.0]
    assert table.values.tolist() == [1.0, 0.8, 0.5]


def test_an_overridden_lookup_is_stored_and_recorded() -> None:
    model = health_board().compile()
    ds = model.run(params={"capacity effect": [(0, 1.0), (50, 0.0)]})
    assert ds["capacity effect input"].values.tolist() == [0.0, 50.0]
    assert json.loads(ds.attrs["parameters"]) == {"capacity effect": [[0.0, 50.0], [1.0, 0.0]]}
    assert not np.array_equal(ds["Discharges"].values, model.run()["Discharges"].values)


def test_ensemble_dimensions_and_coordinates() -> None:
    ds = health_board().compile().run(params={"Treatment Time": [2.0, 3.0, 4.0]}, seed=10)
    assert ds["Patients In Treatment"].dims == ("run", "time", "region")
    assert ds["patients by age"].dims == ("run", "time", "region", "age band")
    assert ds["Treatment Time"].dims == ("run",)
    assert ds["Referral Rate"].dims == ("run", "region")
    assert ds["capacity effect"].dims == ("capacity effect input",)
    assert ds["run"].values.tolist() == [0, 1, 2]
    assert ds["run_status"].values.tolist() == ["ok", "ok", "ok"]
    assert ds["run_seed"].values.tolist() == [10, 11, 12]


# -- provenance ------------------------------------------------------------------------------------
def test_provenance_attributes() -> None:
    model = health_board().compile()
    ds = model.run(params={"Treatment Time": 2.5}, method="rk4", dt=0.25, seed=3)
    assert ds.attrs["model"] == "Board A/B"
    assert ds.attrs["model_hash"] == model.spec.hash() and len(ds.attrs["model_hash"]) == 16
    assert ds.attrs["method"] == "rk4"
    assert ds.attrs["dt"] == 0.25
    assert ds.attrs["sdflow_version"] == sd.__version__
    assert ds.attrs["seed"] == 3
    assert ds.attrs["status"] == "ok"
    assert json.loads(ds.attrs["parameters"]) == {"Treatment Time": 2.5}
    assert ds.attrs["source"] == "python builder"
    assert ds.attrs["initial_time"] == 0.0 and ds.attrs["final_time"] == 4.0
    assert ds.attrs["created"].endswith("+00:00")


def test_parameters_kept_from_an_earlier_call_give_the_same_json_and_dataset() -> None:
    # The JSON of a large parameter array is kept for the next call with the same values
    # (and the run index for the next call of as many runs): what the call writes must not
    # depend on it. Reference: json.dumps of the parameters, and a dataset built anew.
    model = health_board().compile()
    params = {"Treatment Time": np.linspace(2.0, 4.0, 100), "capacity effect": [(0, 1.0), (50, 0.0)]}
    first = model.run(params=params, seed=1)
    again = model.run(params={"Treatment Time": np.linspace(2.0, 4.0, 100)}, seed=1)
    changed = model.run(params={"Treatment Time": np.linspace(2.0, 4.0, 100)[::-1].copy()}, seed=1)
    expected = {"Treatment Time": np.linspace(2.0, 4.0, 100).tolist()}
    assert json.loads(first.attrs["parameters"]) == {**expected, "capacity effect": [[0.0, 50.0], [1.0, 0.0]]}
    assert again.attrs["parameters"] == json.dumps(expected)
    assert changed.attrs["parameters"] == json.dumps({"Treatment Time": expected["Treatment Time"][::-1]})
    results = sd.integrate.simulate_results(model.program, params={"Treatment Time": np.linspace(2.0, 4.0, 100)},
                                            seed=1)
    assert results.to_dataset().attrs["parameters"] == json.dumps(results._overridden())
    fresh = xr.Dataset({k: v.variable for k, v in again.data_vars.items()}, coords=again.coords, attrs=again.attrs)
    xr.testing.assert_identical(again, fresh)
    assert again.indexes["run"].equals(pd.RangeIndex(100))


def test_provenance_parameters_of_an_ensemble_use_display_names() -> None:
    ds = health_board().compile().run(params={"treatment_time": [2.0, 3.0], "referral rate": [10.0, 5.0]})
    assert json.loads(ds.attrs["parameters"]) == {"Treatment Time": [2.0, 3.0], "Referral Rate": [10.0, 5.0]}
    assert json.loads(health_board().run().attrs["parameters"]) == {}


def test_model_hash_follows_the_model_not_the_run() -> None:
    a, b = health_board().run(), health_board().run(params={"Treatment Time": 9.0})
    assert a.attrs["model_hash"] == b.attrs["model_hash"]
    changed = health_board()
    changed.constant("extra", 1.0)
    assert changed.run().attrs["model_hash"] != a.attrs["model_hash"]


# -- netCDF -------------------------------------------------------------------------------------------
def test_netcdf_round_trip_of_a_single_run(tmp_path: Path) -> None:
    ds = health_board().run()
    path = sd.save_results(ds, tmp_path / "run.nc")
    assert path == tmp_path / "run.nc" and path.exists()
    back = sd.open_results(path)
    xr.testing.assert_identical(back, ds)
    assert list(back.data_vars) == list(ds.data_vars)
    assert back["Admissions/week"].attrs == ds["Admissions/week"].attrs


def test_netcdf_round_trip_of_an_ensemble(tmp_path: Path) -> None:
    model = health_board().compile()
    ds = model.run(params={"Treatment Time": [0.0, 3.0]}, seed=5)  # run 0 fails: status strings too
    assert ds["run_status"].values[0].startswith("failed")
    back = sd.open_results(sd.save_results(ds, tmp_path / "nested" / "ensemble.nc"))
    xr.testing.assert_identical(back, ds)


def test_netcdf_keeps_a_slash_in_names_and_elements(tmp_path: Path) -> None:
    ds = health_board().run()
    back = sd.open_results(sd.save_results(ds, tmp_path / "slash.nc"))
    assert "Admissions/week" in back.data_vars
    assert back["region"].values.tolist() == ["north", "south/east"]
    assert back.attrs["model"] == "Board A/B"


def test_saving_to_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(sd.SpecError, match=r"Cannot save results as `run.parquet`; use a `.nc`, `.csv`, `.xlsx`"):
        sd.save_results(health_board().run(), tmp_path / "run.parquet")
    assert not (tmp_path / "run.parquet").exists()


def test_loading_a_missing_file_or_a_csv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No results file `.*missing.nc`"):
        sd.open_results(tmp_path / "missing.nc")
    path = sd.save_results(health_board().run(), tmp_path / "run.csv")
    with pytest.raises(ValueError, match=r"`run.csv` is a CSV table; read it with `pandas.read_csv`"):
        sd.open_results(path)


# -- CSV ------------------------------------------------------------------------------------------------
def test_csv_of_a_single_run_is_a_wide_table(tmp_path: Path) -> None:
    ds = health_board().run()
    path = sd.save_results(ds, tmp_path / "run.csv")
    # The file holds every digit (repr); pandas before 3.0 parses with a faster, inexact routine
    # unless asked for the round trip.
    frame = pd.read_csv(path, index_col="time", float_precision="round_trip")
    assert list(frame.columns) == [
        "Patients In Treatment[north]", "Patients In Treatment[south/east]",
        "Admissions/week[north]", "Admissions/week[south/east]",
        "Discharges[north]", "Discharges[south/east]",
        "patients by age[north,0-64]", "patients by age[north,65+]",
        "patients by age[south/east,0-64]", "patients by age[south/east,65+]",
        "total patients", "noise",
    ]
    np.testing.assert_array_equal(frame.index.values, ds["time"].values)
    np.testing.assert_array_equal(frame["total patients"].values, ds["total patients"].values)
    np.testing.assert_array_equal(frame["patients by age[south/east,65+]"].values,
                                  ds["patients by age"].sel(region="south/east", **{"age band": "65+"}).values)


def test_csv_of_an_ensemble_has_a_run_and_time_index(tmp_path: Path) -> None:
    ds = health_board().compile().run(params={"Treatment Time": [2.0, 3.0, 4.0]})
    frame = pd.read_csv(sd.save_results(ds, tmp_path / "ens.csv"), index_col=["run", "time"],
                        float_precision="round_trip")
    assert len(frame) == 3 * 9
    np.testing.assert_array_equal(frame.loc[2, "Discharges[north]"].values,
                                  ds["Discharges"].sel(run=2, region="north").values)
    np.testing.assert_array_equal(frame.loc[(1, 1.5), "total patients"], ds["total patients"].sel(run=1, time=1.5))


def test_to_table_of_the_teacup() -> None:
    ds = sd.load("teacup").run(saveper=10)
    table = to_table(ds)
    assert list(table.columns) == ["Teacup Temperature", "Heat Loss to Room"]
    assert table.index.name == "time" and table.index.tolist() == [0.0, 10.0, 20.0, 30.0]
    assert table["Teacup Temperature"].iloc[0] == 180.0


# -- names that cannot be labels ---------------------------------------------------------------------
def test_a_variable_named_like_a_result_coordinate_is_refused_with_its_name() -> None:
    m = Model("clash", final_time=1)
    m.constant("rate", 1.0)
    m.aux("run", "rate * 2")
    assert float(m.run()["run"][0]) == 2.0  # a single run has no `run` coordinate
    with pytest.raises(sd.SpecError, match=r"Variable `run` has the same name as a coordinate of the results"):
        m.run(params={"rate": [1.0, 2.0]})


def test_results_series_by_display_or_canonical_name() -> None:
    from sd_engine.integrate import simulate_results

    model = health_board().compile()
    results = simulate_results(model, params={"Treatment Time": [2.0, 3.0]})
    block = results.series("patients in treatment")
    assert block.shape == (2, 9, 2)
    np.testing.assert_array_equal(block, results.series("Patients In Treatment"))
    assert results.ok.tolist() == [True, True]
    with pytest.raises(KeyError, match=r"Did you mean `patients_in_treatment`"):
        results.series("patients in treatmnt")
    with pytest.raises(ValueError, match=r"`Treatment Time` is not recorded over time"):
        results.series("Treatment Time")


def test_run_statuses_compare_by_value_with_nan_times_equal() -> None:
    # An ok run's time is NaN; Python 3.13's generated __eq__ compares fields with ==, where
    # NaN != NaN, so equal statuses compared unequal there.
    from sd_engine.results import RunStatus

    assert RunStatus() == RunStatus() and hash(RunStatus()) == hash(RunStatus())
    assert RunStatus(failed=True, time=2.0, variable="x", value="inf") == RunStatus(True, 2.0, "x", "inf")
    assert RunStatus() != RunStatus(flagged=True) and RunStatus(True, 2.0) != RunStatus(True, 3.0)
    assert len({RunStatus(), RunStatus()}) == 1


# -- the fast dataset build -------------------------------------------------------------------------
def test_datasets_built_from_cached_indexes_equal_xarrays_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time axis and the lookups' input axes are built once per model and shared: each
    dataset equals the one xarray's public constructor builds, and what a user changes in one
    dataset (attributes, lookup values) does not reach the next."""
    model = health_board().compile()
    first = model.run()
    first["time"].attrs["units"] = "changed"
    first["capacity effect"].values[0] = -1.0  # the result's copy, not the model's table
    first["capacity effect"].attrs["doc"] = "changed"
    runs = [model.run(), model.run(params={"capacity effect": [(0, 1.0), (50, 0.7)]}),
            model.run(params={"Treatment Time": [2.0, 3.0]}, final_time=3)]
    import sd_engine.results as results

    monkeypatch.setattr(results, "build_dataset", lambda data_vars, coords, attrs, indexed=None: xr.Dataset(
        data_vars, coords=coords, attrs=attrs))  # xarray's public constructor, no cached index
    expected = [model.run(), model.run(params={"capacity effect": [(0, 1.0), (50, 0.7)]}),
                model.run(params={"Treatment Time": [2.0, 3.0]}, final_time=3)]
    for got, want in zip(runs, expected):
        got.attrs.pop("created"), want.attrs.pop("created")
        xr.testing.assert_identical(got, want)
    assert runs[0]["time"].attrs["units"] == "Week"
    assert runs[0]["capacity effect"].values.tolist() == [1.0, 0.8, 0.5]
    assert runs[1]["capacity effect input"].values.tolist() == [0.0, 50.0]
    assert runs[2]["time"].values.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
