"""Calibration CSV files: what a spreadsheet export gets wrong, refused with the file, row and column."""

import numpy as np
import pytest

import calibration as cal
from calibration import DataError
from calibration.csvdata import read_csv_data
from sd_engine.errors import excerpt


def write(tmp_path, text, name="local.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_gaps_missing_markers_bom_and_blank_lines(tmp_path):
    path = write(tmp_path, "\ufeffperiod,attendances,occupancy\n2016-04-01,1200,0.91\n2016-05-01,,NA\n"
                           "2016-06-01,1250, n/a \n\n")
    frame = read_csv_data(path)
    assert frame.index.name == "period" and list(frame.columns) == ["attendances", "occupancy"]
    np.testing.assert_array_equal(frame["attendances"].to_numpy(), [1200, np.nan, 1250])
    assert frame["occupancy"].isna().tolist() == [False, True, True]
    assert str(frame.index[0].date()) == "2016-04-01"


def test_numeric_times(tmp_path):
    frame = read_csv_data(write(tmp_path, "day,in_bed\n1,3\n2,8\n"))
    assert frame.index.tolist() == [1.0, 2.0] and frame["in_bed"].tolist() == [3.0, 8.0]


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"`local.csv` is empty; it needs a header row"):
        read_csv_data(write(tmp_path, "  \n"))


def test_header_only(tmp_path):
    with pytest.raises(DataError, match="has a header but no data rows"):
        read_csv_data(write(tmp_path, "period,attendances\n"))


def test_utf16(tmp_path):
    with pytest.raises(DataError, match=r"`local.csv` is saved as UTF-16 .*save it as \"CSV UTF-8"):
        read_csv_data(write(tmp_path, "period,attendances\n2016-04-01,1\n", encoding="utf-16"))


def test_not_utf8_names_the_row(tmp_path):
    with pytest.raises(DataError, match=r"`local.csv` row 3 is not UTF-8 text \(byte 0xe9\)"):
        read_csv_data(write(tmp_path, b"period,attendances\n2016-04-01,1\n2016-05-01,caf\xe9\n"))


def test_ragged_row(tmp_path):
    with pytest.raises(DataError, match=r"`local.csv` row 3 has 3 cells but the header has 2"):
        read_csv_data(write(tmp_path, "period,attendances\n2016-04-01,1\n2016-05-01,2,3\n"))
    with pytest.raises(DataError, match=r"row 2 has 1 cells but the header has 2"):
        read_csv_data(write(tmp_path, "period,attendances\n2016-04-01\n"))


def test_empty_time_cell(tmp_path):
    with pytest.raises(DataError, match=r"`local.csv` row 3 has no time in column `period`"):
        read_csv_data(write(tmp_path, "period,attendances\n2016-04-01,1\n,2\n"))


def test_non_numeric_cell_is_quoted_short_and_sanitised(tmp_path):
    long_note = "1,234 (provisional figure, see the footnote on the NHS England website)"
    path = write(tmp_path, f'period,attendances\n2016-04-01,1\n2016-05-01,"{long_note}"\n')
    with pytest.raises(DataError) as err:
        read_csv_data(path)
    message = str(err.value)
    assert message.startswith("`local.csv` row 3, column `attendances`: `1,234 (provisional f…` is not a number")
    assert "footnote" not in message  # never the whole cell
    # control characters (a terminal escape) are not echoed
    with pytest.raises(DataError, match=r"`12\?\[31m` is not a number"):
        read_csv_data(write(tmp_path, "period,attendances\n2016-04-01,12\x1b[31m\n"))


def test_bad_date_names_row_and_column(tmp_path):
    with pytest.raises(DataError, match=r"row 3, column `period`: `April 2016` is neither a date"):
        read_csv_data(write(tmp_path, "period,attendances\n2016-03-01,1\nApril 2016,2\n"))


def test_header_problems(tmp_path):
    with pytest.raises(DataError, match="two columns called `a`"):
        read_csv_data(write(tmp_path, "period,a,a\n2016-04-01,1,2\n"))
    with pytest.raises(DataError, match="column 2 has no name"):
        read_csv_data(write(tmp_path, "period,,a\n2016-04-01,1,2\n"))
    with pytest.raises(DataError, match="at least one data column, separated by commas"):
        read_csv_data(write(tmp_path, "period;attendances\n2016-04-01;1\n"))
    with pytest.raises(DataError, match=r"`when` is not a column of `local.csv`"):
        read_csv_data(write(tmp_path, "period,a\n2016-04-01,1\n"), time="when")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="no data file"):
        read_csv_data(tmp_path / "nowhere.csv")
    with pytest.raises(DataError, match="is a folder"):
        read_csv_data(tmp_path)


def test_fit_reads_csv_paths_strictly(tmp_path):
    from calibration.examples import flu

    path = write(tmp_path, "day,in_bed\n" + "".join(f"{d},{v}\n" for d, v in zip(range(1, 15), flu.IN_BED))
                 + "15,?\n")
    with pytest.raises(DataError, match=r"row 16, column `in_bed`: `\?` is not a number"):
        cal.fit(flu.build(), path, {"beta": (0.1, 5)}, {"Infected": "in_bed"}, "poisson")


def test_excerpt():
    assert excerpt("  ok  ") == "ok"
    assert excerpt("a\tb\nc") == "a?b?c"
    assert len(excerpt("x" * 100)) == 21
