"""External data of Vensim models: GET XLS/DIRECT functions and data files.

Values are checked against the files read independently with pandas, against Vensim's
data semantics worked out by hand, and across backends (generated numpy code, the scalar
fast path and the reference interpreter).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sd_engine as sd
from sd_engine import integrate
from sd_engine.io.conformance import compare, read_canonical
from sd_engine.io.external import ExternalDataError, ExternalFileNotFoundError, cell_name, cell_position


def load(path: Path, **options: object) -> sd.CompiledModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about encodings
        return sd.load(path, **options)  # type: ignore[arg-type]


def write_mdl(folder: Path, body: str, final_time: float = 5, dt: float = 0.5) -> Path:
    controls = "".join(f"{k} = {v}\n\t~\t~\t|\n" for k, v in
                       [("FINAL TIME", final_time), ("INITIAL TIME", 0), ("SAVEPER", dt), ("TIME STEP", dt)])
    path = folder / "m.mdl"
    path.write_text("{UTF-8}\n" + body + controls, encoding="utf-8")
    return path


def same(a: xr.Dataset, b: xr.Dataset) -> None:
    for name in a.data_vars:
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-12, atol=0, equal_nan=True,
                                   err_msg=str(name))


# -- cells ------------------------------------------------------------------------------------
def test_cell_names_round_trip() -> None:
    for row, col in [(0, 0), (4, 2), (9, 25), (0, 26), (99, 701), (5, 702)]:
        assert cell_position(cell_name(row, col)) == (row, col)
    assert cell_position("$B$5") == (4, 1)
    assert cell_position("value1") is None and cell_position("A0") is None


# -- the shared models without canonical output -----------------------------------------------
def test_get_constants_values_are_the_file_contents(test_models: Path) -> None:
    folder = test_models / "tests/get_constants"
    # The model names data.xls and data.csv; the folder has data.xlsx and data down.csv.
    model = load(folder / "test_get_constants.mdl", files={"data.xls": "data.xlsx", "data.csv": "data down.csv"})
    ds = model.run()
    sheet = pd.read_excel(folder / "data.xlsx", sheet_name=None, header=None, engine="openpyxl")
    (table,) = sheet.values()
    text = pd.read_csv(folder / "data down.csv", sep=",", header=None, dtype=str)
    assert float(ds["xls constants"]) == float(table.iloc[1, 0])  # cell A2
    assert float(ds["direct constants"]) == float(text.iloc[1, 0].strip())
    assert ds["xls constants"].attrs["kind"] == "constant"


def test_get_data_follows_the_file_and_holds_its_ends(test_models: Path) -> None:
    folder = test_models / "tests/get_data"
    model = load(folder / "test_get_data.mdl",
                 files={"data down.xls": "data down.xlsx", "data across.xls": "data across.xlsx"})
    ds = model.run(dt=0.25, saveper=0.25)
    t = ds["time"].values
    down = pd.read_excel(folder / "data down.xlsx", header=None, engine="openpyxl").iloc[1:, :2].astype(float).to_numpy()
    across = pd.read_excel(folder / "data across.xlsx", header=None, engine="openpyxl").iloc[:2, 1:].astype(float).to_numpy().T
    csv_down = pd.read_csv(folder / "data down.csv", sep=",", dtype=str).map(str.strip).astype(float)
    csv_across = pd.read_csv(folder / "data across.csv", sep=",", header=None, dtype=str).map(str.strip)
    csv_across = csv_across.iloc[:2, 1:].astype(float).to_numpy().T
    # Vensim interpolates between data points and holds the first and last values outside.
    for name, points in [("xls data down", down), ("xls data across", across),
                         ("direct data down", csv_down.iloc[:, :2].to_numpy()), ("direct data across", csv_across)]:
        np.testing.assert_allclose(ds[name].values, np.interp(t, points[:, 0], points[:, 1]), err_msg=name)
    assert ds["xls data down"].sel(time=0).item() == 1 and ds["xls data down"].sel(time=2.5).item() == 5.5


def test_a_file_the_model_names_but_the_folder_lacks(test_models: Path) -> None:
    with pytest.raises(ExternalFileNotFoundError, match=r"`xls constants` reads file `data.xls`, which is not in "
                                                        r"`.*get_constants`. Did you mean `data.xlsx`\?"):
        load(test_models / "tests/get_constants/test_get_constants.mdl")


# -- data variables: interpolation modes ------------------------------------------------------
@pytest.fixture
def modes_model(tmp_path: Path) -> Path:
    # Times 1..4 across row 1; the value at time 3 is missing.
    (tmp_path / "d.csv").write_text("time,1,2,3,4\nx,10,20,,40\n")
    body = "".join(
        f"d {label}{keyword}:= GET DIRECT DATA('d.csv', ',', '1', 'B2')\n\t~\t~\t|\n"
        for label, keyword in [("interp", ""), ("back", ":HOLD BACKWARD:"), ("fwd", ":LOOK FORWARD:"),
                               ("raw", ":RAW:")]
    ) + "total = INTEG(d back, 0)\n\t~\t~\t|\n"
    return write_mdl(tmp_path, body)


def test_data_interpolation_modes(modes_model: Path) -> None:
    ds = load(modes_model).run()
    # The tables behind the data variables stay internal: the results hold the model's variables.
    assert set(map(str, ds.data_vars)) == {"d interp", "d back", "d fwd", "d raw", "total", "FINAL TIME",
                                           "INITIAL TIME", "SAVEPER", "TIME STEP"}
    at = {name: dict(zip(ds["time"].values.tolist(), ds[name].values.tolist()))
          for name in ("d interp", "d back", "d fwd", "d raw")}
    # interpolate: linear between points, over the missing one, ends held.
    assert [at["d interp"][t] for t in (0, 1.5, 3, 3.5, 5)] == [10, 15, 30, 35, 40]
    # hold backward: the last point at or before t (the missing point is no point).
    assert [at["d back"][t] for t in (0, 1, 1.5, 3, 3.5, 4, 5)] == [10, 10, 10, 20, 20, 40, 40]
    # look forward: the next point at or after t.
    assert [at["d fwd"][t] for t in (0, 1, 1.5, 2.5, 3, 5)] == [10, 10, 20, 40, 40, 40]
    # raw: the value at a data time, NaN (Vensim's :NA:) anywhere else.
    raw = [at["d raw"][t] for t in (0, 1, 1.5, 2, 3, 4, 5)]
    assert raw[1] == 10 and raw[3] == 20 and raw[5] == 40
    assert np.isnan([raw[0], raw[2], raw[4], raw[6]]).all()
    # Euler over hold-backward data: 0.5 * (10 * 4 + 20 * 4 + 40 * 2)
    assert ds["total"].sel(time=5).item() == pytest.approx(100.0)


def test_data_modes_agree_across_backends(modes_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = load(modes_model)
    fast = model.run()
    same(fast, model.with_backend("interpreter").run())
    monkeypatch.setattr(integrate, "scalar_path", lambda m: None)
    same(fast, model.run())


@pytest.mark.parametrize("folder, name", [
    ("get_mixed_definitions", "test_get_mixed_definitions.mdl"),
    ("get_lookups_subscripted_args", "test_get_lookups_subscripted_args.mdl"),
    ("get_data_args_3d_xls", "test_get_data_args_3d_xls.mdl"),
])
def test_spreadsheet_models_compiled_equal_interpreted(test_models: Path, folder: str, name: str) -> None:
    model = load(test_models / "tests" / folder / name)
    same(model.run(), model.with_backend("interpreter").run())


# -- data files ------------------------------------------------------------------------------
def test_data_files_are_found_and_either_way_round(test_models: Path, tmp_path: Path) -> None:
    folder = test_models / "tests/data_from_other_model"
    model = load(folder / "test_data_from_other_model.mdl", data_files=["data.tab"])
    expected = read_canonical(folder / "output.tab")
    assert compare(model.run(), expected)[0] <= 1
    # The same data with one row per variable (times across the first row).
    shutil.copy(folder / "test_data_from_other_model.mdl", tmp_path)
    table = pd.read_csv(folder / "data.tab", sep="\t", index_col=0)
    table.T.to_csv(tmp_path / "rows.tab", sep="\t", index_label="Time")
    turned = load(tmp_path / "test_data_from_other_model.mdl", data_files=[tmp_path / "rows.tab"])
    same(model.run(), turned.run())
    # `conflict var` is in the data file too, but the model's own equation wins.
    assert float(model.run()["conflict var"].isel(dim1=0, dim2=0)) == 0.0


def test_data_variable_without_data_files(test_models: Path) -> None:
    with pytest.raises(sd.UnsupportedError, match=r"`var 0dim` is a data variable with no equation: .*pass it as "
                                                   r"`data_files=\[...\]`"):
        load(test_models / "tests/data_from_other_model/test_data_from_other_model.mdl")


def test_data_file_without_the_variable(tmp_path: Path) -> None:
    (tmp_path / "other.tab").write_text("Time\ty\n0\t1\n1\t2\n")
    path = write_mdl(tmp_path, "x:INTERPOLATE:\n\t~\t~\t|\nz = x\n\t~\t~\t|\n")
    with pytest.raises(ExternalDataError, match=r"Data variable `x` is in none of the data files \(`other.tab`\)"):
        load(path, data_files=["other.tab"])


# -- GET SUBSCRIPT ---------------------------------------------------------------------------
def test_subscript_elements_read_from_the_spreadsheet(test_models: Path) -> None:
    folder = test_models / "tests/get_subscript_3d_arrays_xls"
    spec = load(folder / "test_get_subscript_3d_arrays_xls.mdl").spec
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas announces it will drop xlrd
        sheet = pd.read_excel(folder / "input.xls", sheet_name="Sheet1", header=None, engine="xlrd")
    entries = tuple(f"Entry{int(v)}" for v in sheet.iloc[3:6, 1])  # B4:B6
    depths = tuple(f"Depth{int(v)}" for v in sheet.iloc[2, 2:4])  # C3:D3
    assert spec.dimension("One Dimensional Subscript").elements == entries
    assert spec.dimension("Third Dimension Subscript").elements == depths


# -- errors ----------------------------------------------------------------------------------
@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.workbook.defined_name import DefinedName

    book = Workbook()
    sheet = book.active
    sheet.title = "S1"
    for row in (["time", 0, 1, 2], ["x", 5, 6, 7], ["y", 1, "abc", 3]):
        sheet.append(row)
    book.defined_names["times"] = DefinedName("times", attr_text="S1!$B$1:$D$1")
    book.defined_names["vals"] = DefinedName("vals", attr_text="S1!$B$2:$D$2")
    path = tmp_path / "w.xlsx"
    book.save(path)
    return path


@pytest.mark.parametrize("equation, message", [
    ("GET XLS CONSTANTS('w.xlsx', 'Nope', 'B2')",
     r"`c` reads sheet `Nope` of `w.xlsx`, which has no such sheet \(it has `S1`\)"),
    ("GET XLS CONSTANTS('w.xlsx', 'S1', 'H9')", r"`c` reads cell H9 of `w.xlsx`, sheet `S1`, which is empty"),
    ("GET XLS CONSTANTS('w.xlsx', 'S1', 'A2')",
     r"`c` reads cell A2 of `w.xlsx`, sheet `S1`, which holds `x`, not a number"),
    ("GET XLS CONSTANTS('w.xlsx', 'S1', 'tims')",
     r"`c` reads `tims` from `w.xlsx`, sheet `S1`, which is neither a cell such as `B2` nor a named range of that "
     r"sheet. Did you mean `times`\?"),
    ("GET XLS CONSTANTS('missing.xlsx', 'S1', 'B2')", r"`c` reads file `missing.xlsx`, which is not in"),
])
def test_constant_read_errors_name_variable_file_and_cell(workbook: Path, equation: str, message: str) -> None:
    path = write_mdl(workbook.parent, f"c = {equation}\n\t~\t~\t|\n")
    with pytest.raises(ExternalDataError, match=message):
        load(path)


def test_non_numeric_data_cell_is_a_missing_value(workbook: Path) -> None:
    # Vensim reads a cell holding text in a data series or a lookup as a missing value and
    # interpolates over it (test-models tests/get_with_missing_values_xlsx, matched in the corpus
    # run): C3 holds `abc` between 1 at t = 0 and 3 at t = 2.
    body = ("d := GET XLS DATA('w.xlsx', 'S1', '1', 'B3')\n\t~\t~\t|\n"
            "l(GET XLS LOOKUPS('w.xlsx', 'S1', '1', 'B3'))\n\t~\t~\t|\n"
            "c = l(Time)\n\t~\t~\t|\n")
    ds = load(write_mdl(workbook.parent, body, final_time=2)).run()
    assert ds["d"].values.tolist() == [1, 1.5, 2, 2.5, 3]
    assert ds["c"].values.tolist() == [1, 1.5, 2, 2.5, 3]
    # A constant must be a number: the same cell read as a constant is refused by name.
    path = write_mdl(workbook.parent, "k = GET XLS CONSTANTS('w.xlsx', 'S1', 'C3')\n\t~\t~\t|\n")
    with pytest.raises(ExternalDataError, match=r"`k` reads cell C3 of `w.xlsx`, sheet `S1`, which holds `abc`"):
        load(path)


def test_named_ranges_for_times(workbook: Path) -> None:
    # Times and values from named ranges across rows 1 and 2; the lookup from cell references.
    path = write_mdl(workbook.parent, "d := GET XLS DATA('w.xlsx', 'S1', 'times', 'vals')\n\t~\t~\t|\n"
                                      "l(GET XLS LOOKUPS('w.xlsx', 'S1', '1', 'B2'))\n\t~\t~\t|\n"
                                      "k = GET XLS CONSTANTS('w.xlsx', 'S1', 'D2')\n\t~\t~\t|\n"
                                      "c = l(0.5) + k\n\t~\t~\t|\n", final_time=3)
    ds = load(path).run()
    assert ds["d"].values.tolist() == [5, 5.5, 6, 6.5, 7, 7, 7]
    assert ds["c"].values.tolist() == [5.5 + 7] * 7


def test_get_functions_inside_an_expression_are_refused(workbook: Path) -> None:
    path = write_mdl(workbook.parent, "c = 1 + GET XLS CONSTANTS('w.xlsx', 'S1', 'D2')\n\t~\t~\t|\n")
    with pytest.raises(sd.UnsupportedError, match=r"`c` uses GET XLS/DIRECT CONSTANTS inside an expression; Vensim "
                                                   r"reads files only as a whole equation"):
        load(path)


def test_blocks_over_too_many_ranges_are_refused(workbook: Path) -> None:
    body = ("a: a1, a2\n\t~\t~\t|\nb: b1, b2\n\t~\t~\t|\nc: c1, c2\n\t~\t~\t|\n"
            "k[a, b, c] = GET XLS CONSTANTS('w.xlsx', 'S1', 'B2')\n\t~\t~\t|\n")
    with pytest.raises(sd.UnsupportedError, match=r"`k` reads constants over 3 ranges from `B2`; Vensim reads a "
                                                   r"table of at most two"):
        load(write_mdl(workbook.parent, body))
    body = "a: a1, a2\n\t~\t~\t|\nb: b1, b2\n\t~\t~\t|\nd[a, b] := GET XLS DATA('w.xlsx', 'S1', '1', 'B2')\n\t~\t~\t|\n"
    with pytest.raises(sd.UnsupportedError, match=r"`d` reads GET XLS/DIRECT DATA for a block over 2 ranges"):
        load(write_mdl(workbook.parent, body))
