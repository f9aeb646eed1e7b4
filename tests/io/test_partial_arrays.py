"""Vensim arrays defined on some elements only. Vensim has no value for the other elements: its
output lists exactly the defined ones (SDXorg test-models `partial_range_definitions`, and the
`.dat` of SDEverywhere's `except` model). One undefined subscript range becomes a range of the
defined elements; holes in a product of ranges are NaN, listed in the spec and the result's attrs,
and an equation naming one is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import SpecError, UnsupportedError

CONTROL = "INITIAL TIME = 0 ~~|\nFINAL TIME = 2 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n"
RANGES = "a: a1, a2, a3 ~~|\nb: b1, b2 ~~|\nsubA: a2, a3 ~~|\n"


def write(tmp_path: Path, text: str, name: str = "partial.mdl") -> Path:
    path = tmp_path / name
    path.write_text(RANGES + text + CONTROL)
    return path


def test_one_undefined_subscript_leaves_only_the_defined_elements(tmp_path: Path) -> None:
    model = sd.load(write(tmp_path, "x[a1] = 1 ~~|\nx[a2] = 2 ~~|\ny[a1] = Time ~~|\ny[a2] = 2 * Time ~~|\n"))
    ds = model.run()
    # As in Vensim's output: x[a3] and y[a3] do not exist.
    assert [str(e) for e in ds["x"][ds["x"].dims[-1]].values] == ["a1", "a2"]
    np.testing.assert_array_equal(ds["x"].values, [1.0, 2.0])
    np.testing.assert_array_equal(ds["y"].values, np.outer(ds["time"].values, [1.0, 2.0]))
    assert "undefined" not in ds["y"].attrs


def test_holes_in_a_product_of_ranges_are_nan_and_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "c[a1, b1] = 1 ~~|\nc[a2, b2] = 2 ~~|\nc[a3, b] = 3 ~~|\n"
                           "w[a1, b1] = Time ~~|\nw[a2, b] = 2 ~~|\nw[a3, b2] = Time * 3 ~~|\n"
                           "p[a, b] :EXCEPT: [subA, b2] = 5 + Time ~~|\n")
    model = sd.load(path)
    ds = model.run()
    nan = np.nan
    np.testing.assert_array_equal(ds["c"].values, [[1, nan], [nan, 2], [3, 3]])
    time = ds["time"].values
    for k, t in enumerate(time):
        np.testing.assert_array_equal(ds["w"].values[k], [[t, nan], [2, 2], [nan, 3 * t]])
        np.testing.assert_array_equal(ds["p"].values[k], [[5 + t, 5 + t], [5 + t, nan], [5 + t, nan]])
    assert model.spec["c"].undefined == ("a1, b2", "a2, b1")
    assert model.spec["p"].undefined == ("a2, b2", "a3, b2")
    assert ds["w"].attrs["undefined"] == "[a1, b2]; [a3, b1] (no definition in the model: NaN)"
    slow = model.with_backend("interpreter").run()
    for name in ("c", "w", "p"):
        np.testing.assert_array_equal(slow[name].values, ds[name].values)


def test_a_stock_with_holes_is_refused_by_name(tmp_path: Path) -> None:
    # A stock over one range with an undefined element is fine (the range shrinks); a hole in a
    # product of ranges would be a NaN state, which the integrator stops on.
    ok = sd.load(write(tmp_path, "s[a1] = INTEG(1, 0) ~~|\ns[a2] = INTEG(2, 10) ~~|\n", "ok.mdl")).run()
    np.testing.assert_array_equal(ok["s"].values, np.stack([ok["time"].values, 10 + 2 * ok["time"].values], -1))
    path = write(tmp_path, "s[a1, b1] = INTEG(1, 0) ~~|\ns[a2, b] = INTEG(2, 10) ~~|\ns[a3, b2] = INTEG(-1, 5) ~~|\n")
    with pytest.raises(UnsupportedError, match=r"Stock `s` is defined on some elements only \(\[a1, b2\], \[a3, b1\] "
                                              r"have no equation\); .* Define those elements"):
        sd.load(path)


def test_a_sum_over_a_variable_with_holes_is_nan_not_an_invented_total(tmp_path: Path) -> None:
    model = sd.load(write(tmp_path, "c[a1, b1] = 1 ~~|\nc[a2, b2] = 2 ~~|\nc[a3, b] = 3 ~~|\n"
                                    "total = SUM(c[a!, b!]) ~~|\nrow[b] = c[a3, b] * 2 ~~|\n"))
    ds = model.run()
    assert np.isnan(ds["total"].values).all()
    np.testing.assert_array_equal(ds["row"].values, np.full((3, 2), 6.0))  # reads defined elements only


def test_naming_an_undefined_element_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "c[a1, b1] = 1 ~~|\nc[a2, b2] = 2 ~~|\nc[a3, b] = 3 ~~|\nr = c[a1, b2] + 1 ~~|\n")
    with pytest.raises(SpecError, match=r"`r` reads `c\[a1, b2\]`, which the model does not define \(`c` is "
                                        r"defined on some elements only\); define that element"):
        sd.load(path)


def test_holes_agree_with_pysd(tmp_path: Path) -> None:
    # PySD's runtime also leaves undefined elements NaN.
    model = sd.load(write(tmp_path, "w[a1, b1] = Time ~~|\nw[a2, b] = 2 ~~|\nw[a3, b2] = Time * 3 ~~|\n"))
    ours, theirs = model.run(), model.run(backend="pysd")
    np.testing.assert_array_equal(theirs["w"].values, ours["w"].values)
