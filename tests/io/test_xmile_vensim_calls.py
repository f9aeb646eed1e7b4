"""Vensim's GET DIRECT calls that xmutil leaves in comments of its XMILE (``0{GET_DIRECT_...}``),
read as the Vensim model reads them: lookups, constants (whole and per element) and data from
files beside the model. Values worked out by hand from the small CSV files; the rewrite keeps
every line of the file, and arguments Vensim would not take are refused naming the line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import UnsupportedError
from sd_engine.io.model_file import ModelFileError
from sd_engine.io.xmile_vensim_calls import take_vensim_calls

FOLDER = Path(__file__).parent / "models" / "xmile_vensim_calls"


@pytest.fixture(scope="module")
def ds() -> object:
    return sd.load(FOLDER / "calls.xmile").run()


def test_lookups_constants_and_data_come_from_the_files(ds: object) -> None:
    # curves.csv: x 0..3; near 0, 10, 20, 30; far 5, 5, 15, 15; read at Time + 0.5.
    np.testing.assert_array_equal(ds["read curve"].values, [[5, 5], [15, 10], [25, 15]])  # type: ignore[index]
    assert float(ds["rate"].values) == 2.0  # type: ignore[index]  # rates.csv B1
    np.testing.assert_array_equal(ds["weight"].values, [3.0, 7.0])  # type: ignore[index]  # B2, and 7
    # demand.csv: 1 at 0, 5 at 2, interpolated; total = 2 demand + 3.
    np.testing.assert_array_equal(ds["demand"].values, [1.0, 3.0, 5.0])  # type: ignore[index]
    np.testing.assert_array_equal(ds["total"].values, [5.0, 9.0, 13.0])  # type: ignore[index]


def copy_with(tmp_path: Path, old: str, new: str) -> Path:
    for csv in FOLDER.glob("*.csv"):
        shutil.copy(csv, tmp_path / csv.name)
    text = (FOLDER / "calls.xmile").read_text()
    assert old in text
    path = tmp_path / "calls.xmile"
    path.write_text(text.replace(old, new))
    return path


def test_lines_are_kept_for_a_later_parse_error(tmp_path: Path) -> None:
    # The multi-line call of `rate` is replaced on its own lines: an error below it names its line.
    path = copy_with(tmp_path, "<eqn>rate * demand + weight[near]</eqn>", "<eqn>rate * ??? </eqn>")
    line = next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "???" in row)
    with pytest.raises(ModelFileError, match=rf"at line {line}, in the equation of `total`"):
        sd.load(path)


def test_arguments_that_are_not_quoted_literals_are_refused(tmp_path: Path) -> None:
    path = copy_with(tmp_path, "'rates.csv',_',',_'B2'", "file_name,_',',_'B2'")
    line = next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "file_name" in row)
    with pytest.raises(UnsupportedError, match=rf"`weight` in `calls.xmile` \(line {line}\) is a Vensim GET "
                                               r"CONSTANTS call left in a comment"):
        sd.load(path)


def test_files_outside_the_model_folder_are_refused(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    path = copy_with(tmp_path / "model", "'demand.csv'", "'../demand.csv'")
    # Even when the file exists there: a model reads data only from its own folder tree.
    (tmp_path / "demand.csv").write_text("time,demand\n0,1\n")
    with pytest.raises(sd.SDError, match=r"reads file `../demand.csv`, which is outside the folder"):
        sd.load(path)


def test_xmutil_placeholders_of_data_variables_read_the_data_files() -> None:
    # xmutil writes a Vensim data variable as TIME through a flat graphical function; given the
    # data files, it is the data variable (data.tab: level near 1, 3, 9 and far 10, 30, 90 at 0, 2,
    # 4; flow in near 5 throughout, far 50, 70, 90), interpolated.
    ds = sd.load(FOLDER / "data.xmile", data_files=["data.tab"]).run()
    np.testing.assert_array_equal(ds["level"].values, [[1, 10], [2, 20], [3, 30], [6, 60], [9, 90]])
    np.testing.assert_array_equal(ds["flow in"].values, [[5, 50], [5, 60], [5, 70], [5, 80], [5, 90]])
    # GET DATA BETWEEN TIMES left in a comment, forward from MIN(FINAL TIME, Time + 1): points at
    # or after 1, 2, 3, 4, 4.
    np.testing.assert_array_equal(ds["ahead"].values, [3.0, 3.0, 9.0, 9.0, 9.0])
    # ... and inside INIT, interpolating at 1: 2 and 20, held.
    np.testing.assert_array_equal(ds["start ahead"].values, np.tile([2.0, 20.0], (5, 1)))


def test_xmutil_placeholders_without_data_files_are_refused() -> None:
    line = next(n for n, row in enumerate((FOLDER / "data.xmile").read_text().splitlines(), 1)
                if 'name="flow in"' in row)
    with pytest.raises(UnsupportedError, match=rf"leaves as a placeholder \(`flow in` \(line {line}\).*data_files="):
        sd.load(FOLDER / "data.xmile")


def test_a_flat_graphical_function_of_time_from_another_vendor_runs_as_written(tmp_path: Path) -> None:
    text = (FOLDER / "data.xmile").read_text().replace("Ventana Systems, xmutil", "isee systems")
    text = text.replace("<eqn>0{GET_DATA_BETWEEN_TIMES_(_level[near]_,_MIN(FINAL_TIME,_Time_+_One_year)_,_1_)}</eqn>",
                        "<eqn>1</eqn>")
    text = text.replace("<eqn>INIT(0{GET_DATA_BETWEEN_TIMES_(_level[Site]_,_Time_+_One_year_,_0_)})</eqn>",
                        "<eqn>2</eqn>")
    path = tmp_path / "stella.xmile"
    path.write_text(text)
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["level"].values, 1.0)  # the graphical function is 1 everywhere


def test_a_view_entry_before_a_variable_does_not_take_its_call() -> None:
    # A self-closing <aux .../> (a view's entry) before the variable holding the call.
    text = (b'<views><aux name="unused" x="1"/></views>\n<aux name="rate">\n'
            b"<eqn>0{GET_DIRECT_CONSTANTS('rates.csv',_',',_'B1')}</eqn></aux>")
    rewritten, calls = take_vensim_calls(text, "m.xmile")
    assert list(calls) == ["rate"]
    assert calls["rate"][()].arguments == (("file", "rates.csv"), ("tab", ","), ("cell", "B1"))
    assert calls["rate"][()].line == 3
    assert rewritten.count(b"\n") == text.count(b"\n") and b"<eqn>0</eqn>" in rewritten
