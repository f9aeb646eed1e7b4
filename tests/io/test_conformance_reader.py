"""Reading canonical outputs: Stella's time column, Vensim's turned-round tables, rounded times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sd_engine.io.conformance import compare, read_canonical


def _result(times: np.ndarray, **series: np.ndarray) -> xr.Dataset:
    return xr.Dataset({k: ("time", v) for k, v in series.items()}, coords={"time": times})


def test_stella_time_column_named_by_its_units_is_read(tmp_path: Path) -> None:
    # Stella heads the time column with the time units, not "Time".
    path = tmp_path / "output_stella.csv"
    path.write_text("Months,Stock A,Flow A\n0,10,1\n1,11,1\n2,12,1\n")
    frame = read_canonical(path)
    assert list(frame.columns) == ["Stock A", "Flow A"]
    assert frame.index.tolist() == [0, 1, 2]
    assert frame["Stock A"].tolist() == [10, 11, 12]
    good = _result(np.array([0.0, 1.0, 2.0]), **{"Stock A": np.array([10.0, 11, 12]), "Flow A": np.ones(3)})
    bad = _result(np.array([0.0, 1.0, 2.0]), **{"Stock A": np.array([10.0, 11, 13]), "Flow A": np.ones(3)})
    assert compare(good, frame)[0] == 0.0
    error, where = compare(bad, frame)
    assert where == "Stock A" and error > 1e3


def test_vensim_table_with_one_row_per_variable_is_turned_round(tmp_path: Path) -> None:
    path = tmp_path / "output.tab"
    path.write_text("Time\t0\t1\t2\nStock\t5\t6\t7\n")
    frame = read_canonical(path)
    assert frame["Stock"].tolist() == [5, 6, 7]
    assert frame.index.tolist() == [0, 1, 2]


def test_an_empty_canonical_output_never_passes() -> None:
    empty = pd.DataFrame(index=pd.Index([], name="time", dtype=float))
    error, why = compare(_result(np.array([0.0, 1.0]), x=np.zeros(2)), empty)
    assert error == float("inf") and "no canonical values" in why


def test_times_printed_to_three_decimals_find_their_step(tmp_path: Path) -> None:
    # Stella 10 prints a dt of 1/32 as 0.031, 0.063, 0.094: half a unit of the last decimal.
    path = tmp_path / "output.csv"
    path.write_text("Time,x\n0.000,0\n0.031,1\n0.063,2\n0.094,3\n")
    frame = read_canonical(path)
    times = np.arange(4) / 32
    assert compare(_result(times, x=np.arange(4.0)), frame)[0] == 0.0
    # A time more than half a printed unit away is still missing.
    shifted = times + np.array([0, 0, 0.002, 0])
    assert "no result at canonical time 0.063" in compare(_result(shifted, x=np.arange(4.0)), frame)[1]
    # Whole-number times keep the strict rule.
    path.write_text("Time,x\n0,0\n1,1\n")
    assert compare(_result(np.array([0.0, 1.0004]), x=np.arange(2.0)), read_canonical(path))[0] == float("inf")
