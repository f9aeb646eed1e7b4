"""Vensim's GET DATA BETWEEN TIMES(data, time, mode) on a data variable read from a data file:
mode 0 interpolates at `time`; mode 1 reads forward and -1 backward from the whole time unit at
or below `time` (forward: the first point at or after it; backward: the last point before it),
as Vensim's output for SDEverywhere's getdata model shows; :NA: outside the data. Values
worked out by hand from the points below."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import UnsupportedError
from sd_engine.io.external import VENSIM_NA

MODEL = """{UTF-8}
Site: near, far ~~|
level[Site] ~~|
shift = 0.5 ~~|
ahead[Site] = GET DATA BETWEEN TIMES(level[Site], Time + shift, 1) ~~|
behind = GET DATA BETWEEN TIMES(level[far], Time + shift, -1) ~~|
mode = 0 ~~|
between = GET DATA BETWEEN TIMES(level[near], Time + shift, mode) ~~|
INITIAL TIME = 0 ~~|
FINAL TIME = 6 ~~|
TIME STEP = 1 ~~|
SAVEPER = 1 ~~|
"""
# near: 1 at 0, 3 at 2, 11 at 6; far: 100 at 1, 200 at 4.
DATA = "Time\tlevel[near]\tlevel[far]\n0\t1\t\n1\t\t100\n2\t3\t\n4\t\t200\n6\t11\t\n"


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = tmp_path_factory.mktemp("gdbt")
    (folder / "data.tab").write_text(DATA)
    (folder / "m.mdl").write_text(MODEL)
    return sd.load(folder / "m.mdl", data_files=["data.tab"]).run()


def test_forward_reads_the_first_point_at_or_after_the_whole_time(ds: object) -> None:
    # Time + 0.5 -> whole times 0..6. near: points 0, 2, 6; far: 1, 4 (past 4: :NA:, past the data).
    near = [1.0, 3.0, 3.0, 11.0, 11.0, 11.0, 11.0]
    np.testing.assert_array_equal(ds["ahead"].sel(Site="near").values[:6], near[:6])  # type: ignore[index]
    assert ds["ahead"].sel(Site="near").values[6] == VENSIM_NA  # type: ignore[index]  # 6.5 is past the data
    far = ds["ahead"].sel(Site="far").values  # type: ignore[index]
    assert far[0] == VENSIM_NA  # 0.5 is before far's first point at 1
    np.testing.assert_array_equal(far[1:4], [100.0, 200.0, 200.0])
    assert (far[4:] == VENSIM_NA).all()


def test_backward_reads_the_last_point_before_the_whole_time(ds: object) -> None:
    # far at whole times 1, 2, 3 -> points before them: none (the first, 100), 100, 100; 4 -> 100.
    got = ds["behind"].values  # type: ignore[index]
    assert got[0] == VENSIM_NA
    np.testing.assert_array_equal(got[1:4], [100.0, 100.0, 100.0])
    assert (got[4:] == VENSIM_NA).all()  # 4.5 and later are past far's last point


def test_interpolate_reads_the_time_itself(ds: object) -> None:
    # near between 0 (1), 2 (3), 6 (11), at 0.5 ... 5.5.
    np.testing.assert_allclose(ds["between"].values[:6], [1.5, 2.5, 4.0, 6.0, 8.0, 10.0], rtol=1e-15)  # type: ignore[index]


def test_the_first_argument_must_be_a_data_variable(tmp_path: Path) -> None:
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\nx = 1 ~~|\ny = GET DATA BETWEEN TIMES(x, Time, 0) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 1 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = 1 ~~|\n")
    with pytest.raises(UnsupportedError, match=r"GET DATA BETWEEN TIMES in `y` reads something other than a data"):
        sd.load(path)
