"""Vensim's VECTOR ELM MAP(vec[start], offset): the element `offset` places after `start`,
counted row by row over all the subscripts of `vec`'s variable, from 0 (Vensim's help, with its
examples: an aging chain, a task reading a skill, a two-dimensional array). Values worked out
by hand; an offset outside the array gives NaN where Vensim stops with an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import UnsupportedError

MODEL = Path(__file__).parent / "models" / "vector_elm_map.mdl"
CONTROL = "INITIAL TIME = 0 ~~|\nFINAL TIME = 1 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = 1 ~~|\n"


@pytest.fixture(scope="module")
def mapped() -> object:
    return sd.load(MODEL).run()


def test_offsets_from_an_element_and_from_each_element_of_a_range(mapped: object) -> None:
    ds = mapped
    # value = 10, 20, 30, 40 over s1..s4; `later` = s2..s4 reads the element before each.
    np.testing.assert_array_equal(ds["previous"].isel(time=0).values, [10.0, 20.0, 30.0])  # type: ignore[index]
    # VECTOR ELM MAP(value[s1], stage - 1) is value[stage] (Vensim's help).
    np.testing.assert_array_equal(ds["same"].isel(time=0).values, [10.0, 20.0, 30.0, 40.0])  # type: ignore[index]
    # Skills 5 (brawn), 7 (brain); task skill 0, 1, 1 picks brawn, brain, brain.
    np.testing.assert_array_equal(ds["avg task skill"].isel(time=0).values, [5.0, 7.0, 7.0])  # type: ignore[index]


def test_two_dimensions_count_row_by_row_and_outside_is_nan(mapped: object) -> None:
    ds = mapped
    # grid row by row: 1, 2, 3, 4, 5, 6; each task starts at its brawn column (places 0, 2, 4)
    # and moves Time places on: at Time 2 the last one is outside the array.
    got = ds["diagonal step"].values  # type: ignore[index]
    np.testing.assert_array_equal(got[:2], [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])
    np.testing.assert_array_equal(got[2, :2], [3.0, 5.0])
    assert np.isnan(got[2, 2])


def test_the_first_argument_must_be_a_subscripted_variable(tmp_path: Path) -> None:
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\nA: a1, a2 ~~|\nx[A] = 1, 2 ~~|\ny[A] = VECTOR ELM MAP(x[a1] + 1, 1) ~~|\n" + CONTROL)
    with pytest.raises(UnsupportedError, match=r"VECTOR ELM MAP in `y` needs a subscripted variable"):
        sd.load(path)


def test_a_start_outside_the_variables_dimension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\nA: a1, a2 ~~|\nB: b1, b2 ~~|\nx[A] = 1, 2 ~~|\ny[B] = VECTOR ELM MAP(x[b1], 0) ~~|\n"
                    + CONTROL)
    with pytest.raises(UnsupportedError, match=r"starts `x` at `b1`, which is not an element or subrange of its"):
        sd.load(path)


def test_the_interpreter_agrees(mapped: object) -> None:
    slow = sd.load(MODEL).with_backend("interpreter").run()
    for name in ("previous", "same", "avg task skill", "diagonal step"):
        np.testing.assert_array_equal(slow[name].values, mapped[name].values)  # type: ignore[index]


VECTOR_LOOKUP = """{UTF-8}
i: (i1-i4) ~~|
k: k1, k2 ~~|
y[i] = 0, 10, 40, 90 ~~|
z[k, i] = 0, 10, 40, 90; 1, 1, 2, 2; ~~|
x = Time ~~|
mode = 0 ~~|
m0 = VECTOR LOOKUP(y[i1], x, 1, 4, mode) ~~|
m2 = VECTOR LOOKUP(y[i1], x, 1, 4, 2) ~~|
m3 = VECTOR LOOKUP(y[i1], x, 1, 4, 3) ~~|
m4 = VECTOR LOOKUP(y[i1], x, 1, 4, 4) ~~|
rows[k] = VECTOR LOOKUP(z[k, i1], x, 1, 4, 0) ~~|
INITIAL TIME = 0 ~~|
FINAL TIME = 5 ~~|
TIME STEP = 0.5 ~~|
SAVEPER = 0.5 ~~|
"""


def test_vector_lookup_reads_the_last_range_as_a_lookup(tmp_path: Path) -> None:
    # y = 0, 10, 40, 90 at x = 1, 2, 3, 4 (equally spaced from xmin 1 to xmax 4); x = Time, 0 .. 5.
    path = tmp_path / "vl.mdl"
    path.write_text(VECTOR_LOOKUP)
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["m0"].values, [0, 0, 0, 5, 10, 25, 40, 65, 90, 90, 90])  # ends held
    np.testing.assert_array_equal(ds["m2"].values, [0, 0, 0, 0, 10, 10, 40, 40, 90, 90, 90])  # backward
    np.testing.assert_array_equal(ds["m3"].values, [-10, -5, 0, 5, 10, 25, 40, 65, 90, 115, 140])  # extrapolate
    np.testing.assert_array_equal(ds["m4"].values, [0, 0, 0, 10, 10, 40, 40, 90, 90, 90, 90])  # forward
    # Each row of a two-dimensional array along its last range: k2 is 1, 1, 2, 2.
    np.testing.assert_array_equal(ds["rows"].sel(k="k2").values, [1, 1, 1, 1, 1, 1.5, 2, 2, 2, 2, 2])
    np.testing.assert_array_equal(ds["rows"].sel(k="k1").values, ds["m0"].values)


def test_vector_lookup_from_a_later_element_reads_the_rest_of_the_range(tmp_path: Path) -> None:
    # From y[i2]: y = 10, 40, 90 on a grid from 1 to 4 (points 1, 2.5, 4); backward holds each value
    # from its point until the next.
    path = tmp_path / "vl.mdl"
    path.write_text(VECTOR_LOOKUP.replace("VECTOR LOOKUP(y[i1], x, 1, 4, 2)", "VECTOR LOOKUP(y[i2], x, 1, 4, 2)"))
    np.testing.assert_array_equal(sd.load(path).run()["m2"].values, [10, 10, 10, 10, 10, 40, 40, 40, 90, 90, 90])