"""Vensim's :NA: for data it does not have: an element of a data variable with no series in
the data file is :NA:, the number equations test with ``x = :NA:`` (SDEverywhere's sumif
model, whose average leaves the missing element out). Values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.io.external import VENSIM_NA, ExternalDataError

MODEL = """{UTF-8}
Region: north, south, east ~~|
cases[Region] ~~|
known[Region] = IF THEN ELSE(cases[Region] = :NA:, 0, 1) ~~|
mean cases = ZIDZ(SUM(IF THEN ELSE(cases[Region!] = :NA:, 0, cases[Region!])), SUM(known[Region!])) ~~|
INITIAL TIME = 0 ~~|
FINAL TIME = 2 ~~|
TIME STEP = 1 ~~|
SAVEPER = 1 ~~|
"""


def write(tmp_path: Path, data: str) -> Path:
    (tmp_path / "data.tab").write_text(data)
    path = tmp_path / "m.mdl"
    path.write_text(MODEL)
    return path


def test_an_element_without_a_series_is_na(tmp_path: Path) -> None:
    path = write(tmp_path, "Time\tcases[north]\tcases[east]\n0\t10\t30\n2\t20\t50\n")
    ds = sd.load(path, data_files=["data.tab"]).run()
    np.testing.assert_array_equal(ds["cases"].sel(Region="south").values, VENSIM_NA)
    np.testing.assert_array_equal(ds["known"].isel(time=0).values, [1.0, 0.0, 1.0])
    # north 10, 15, 20 and east 30, 40, 50 (interpolated): their mean.
    np.testing.assert_allclose(ds["mean cases"].values, [20.0, 27.5, 35.0], rtol=1e-15)


def test_a_data_variable_absent_from_every_file_is_still_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Time\tdeaths[north]\n0\t1\n2\t2\n")
    with pytest.raises(ExternalDataError, match=r"Data variable `cases` is in none of the data files"):
        sd.load(path, data_files=["data.tab"])
