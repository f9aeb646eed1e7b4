"""Vensim element recurrences through mapped subranges: each element reads an earlier one, which is
no loop element by element (Vensim runs these), though the arrays read each other as wholes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import AlgebraicLoopError

CONTROL = "INITIAL TIME = 0 ~~|\nFINAL TIME = 2 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n"
RANGES = "t: (t1-t5) ~~|\ntPrev: (t1-t4) -> tNext ~~|\ntNext: (t2-t5) -> tPrev ~~|\n"


def load(tmp_path: Path, text: str) -> sd.CompiledModel:
    path = tmp_path / "recur.mdl"
    path.write_text(RANGES + text + CONTROL)
    return sd.load(path)


def loop_message(tmp_path: Path, text: str) -> str:
    """The AlgebraicLoopError's message for a model over three elements whose equations are `text`."""
    path = tmp_path / "loop.mdl"
    path.write_text("t: (t1-t3) ~~|\ntPrev: (t1-t2) -> tNext ~~|\ntNext: (t2-t3) -> tPrev ~~|\n" + text + CONTROL)
    with pytest.raises(AlgebraicLoopError) as info:
        sd.load(path).run()
    return str(info.value)


def same_as_interpreter(model: sd.CompiledModel, names: list[str]) -> None:
    fast, slow = model.run(), model.with_backend("interpreter").run()
    for name in names:
        np.testing.assert_array_equal(slow[name].values, fast[name].values)


def test_each_element_reads_the_one_before_through_the_mapping(tmp_path: Path) -> None:
    model = load(tmp_path, "growth = 1 + Time ~~|\necc[t1] = growth ~~|\necc[tNext] = ecc[tPrev] * 2 ~~|\n"
                           "s[t] = INTEG(ecc[t], 0) ~~|\n")
    ds = model.run()
    g = 1 + ds["time"].values[:, None]
    np.testing.assert_array_equal(ds["ecc"].values, g * 2.0 ** np.arange(5))  # (1 + Time) 2^(k-1)
    # Euler with step 1: the stock adds the previous step's ecc.
    ecc = ds["ecc"].values
    np.testing.assert_array_equal(ds["s"].values, np.vstack([np.zeros((1, 5)), np.cumsum(ecc[:-1], axis=0)]))
    same_as_interpreter(model, ["ecc", "s"])
    assert not any(str(v).startswith("_") for v in ds.data_vars)


def test_the_recurrence_inside_initial_keeps_the_first_values(tmp_path: Path) -> None:
    model = load(tmp_path, "eci[t1] = 1 + Time ~~|\neci[tNext] = INITIAL(eci[tPrev] * 3) ~~|\n")
    ds = model.run()
    time = ds["time"].values
    # t1 follows Time; the others are 3^(k-1) times t1's value at the start (1), held.
    np.testing.assert_array_equal(ds["eci"].values[:, 0], 1 + time)
    np.testing.assert_array_equal(ds["eci"].values[:, 1:], np.tile([3.0, 9.0, 27.0, 81.0], (len(time), 1)))
    same_as_interpreter(model, ["eci"])


def test_a_whole_array_reader_between_the_elements_is_split_too(tmp_path: Path) -> None:
    # `a` reads `b` over the whole range and `b` reads `a` one element back.
    model = load(tmp_path, "a[t] = b[t] ~~|\nb[t1] = 1 ~~|\nb[tNext] = a[tPrev] + 1 ~~|\n")
    ds = model.run()
    np.testing.assert_array_equal(ds["b"].values, np.tile([1.0, 2.0, 3.0, 4.0, 5.0], (3, 1)))
    np.testing.assert_array_equal(ds["a"].values, ds["b"].values)
    same_as_interpreter(model, ["a", "b"])


def test_a_second_subscript_is_carried_through_each_element(tmp_path: Path) -> None:
    model = load(tmp_path, "D: d1, d2 ~~|\nbase[D] = 1, 10 ~~|\nm[t1, D] = base[D] ~~|\n"
                           "m[tNext, D] = m[tPrev, D] + base[D] ~~|\n")
    ds = model.run()
    expected = np.outer(np.arange(1, 6), [1.0, 10.0])  # element k holds k * base
    np.testing.assert_array_equal(ds["m"].values, np.broadcast_to(expected, (3, 5, 2)))
    same_as_interpreter(model, ["m"])


def test_a_true_loop_between_elements_is_reported_naming_them(tmp_path: Path) -> None:
    message = loop_message(tmp_path, "ecc[t1] = ecc[t3] + 1 ~~|\necc[tNext] = ecc[tPrev] * 2 ~~|\n")
    for element in ("`_ecc[t1]`", "`_ecc[t2]`", "`_ecc[t3]`"):
        assert element in message


def test_stock_initial_values_are_ordered_element_by_element(tmp_path: Path) -> None:
    # SDEverywhere's init_recurrence: cs and ecs start from each other's initial values, one
    # element back. Its Vensim output (init_recurrence.dat): cs = 1, 3, 5 and ecs = 2, 4, 6,
    # which is the hand calculation cs[t1] = 1, ecs[k] = cs[k] + 1, cs[k] = ecs[k-1] + 1.
    path = tmp_path / "init_recurrence.mdl"
    path.write_text("Target: (t1-t3) ~~|\ntNext: (t2-t3) -> tPrev ~~|\ntPrev: (t1-t2) -> tNext ~~|\n"
                    "g[Target] = 0 ~~|\ncs[t1] = INTEG(g[t1], 1) ~~|\ncs[tNext] = INTEG(g[tNext], ecs[tPrev] + 1) ~~|\n"
                    "ecs[t1] = INTEG(g[t1], cs[t1] + 1) ~~|\necs[tNext] = INTEG(g[tNext], cs[tNext] + 1) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 1 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n")
    model = sd.load(path)
    ds = model.run()
    np.testing.assert_array_equal(ds["cs"].values, [[1.0, 3.0, 5.0]] * 2)
    np.testing.assert_array_equal(ds["ecs"].values, [[2.0, 4.0, 6.0]] * 2)
    same_as_interpreter(model, ["cs", "ecs"])
    assert not any(str(v).startswith("_") for v in ds.data_vars)


def test_a_stock_that_grows_keeps_its_flows_when_its_start_is_split(tmp_path: Path) -> None:
    # s[k] starts at s[k-1]'s start + 1 and grows by k per step: the split is of the start only.
    model = load(tmp_path, "rate[t] = 1, 2, 3, 4, 5 ~~|\ns[t1] = INTEG(rate[t1], 0) ~~|\n"
                           "s[tNext] = INTEG(rate[tNext], s[tPrev] + 1) ~~|\n")
    ds = model.run()
    time = ds["time"].values[:, None]
    np.testing.assert_array_equal(ds["s"].values, np.arange(5.0) + time * np.arange(1.0, 6.0))
    same_as_interpreter(model, ["s"])


def test_a_loop_between_stock_elements_at_the_start_is_reported_naming_them(tmp_path: Path) -> None:
    message = loop_message(tmp_path, "s[t1] = INTEG(0, s[t3] + 1) ~~|\ns[tNext] = INTEG(0, s[tPrev] + 1) ~~|\n")
    for element in ("`_initial s[t1]`", "`_initial s[t2]`", "`_initial s[t3]`"):
        assert element in message


def test_active_initial_keeps_its_initial_value_on_each_element(tmp_path: Path) -> None:
    # `a` and `x` read each other as wholes, so `a` is split element by element; each element
    # keeps ACTIVE INITIAL's start (10), which the stock starts from, and runs on x * 2 after.
    model = load(tmp_path, "x[t1] = 1 ~~|\nx[tNext] = a[tPrev] + 1 ~~|\na[t] = ACTIVE INITIAL(x[t] * 2, 10) ~~|\n"
                           "s[t] = INTEG(0, a[t]) ~~|\n")
    ds = model.run()
    np.testing.assert_array_equal(ds["s"].values, np.full((3, 5), 10.0))
    np.testing.assert_array_equal(ds["a"].values[-1], [2.0, 6.0, 14.0, 30.0, 62.0])  # x = 1, 3, 7, 15, 31
    same_as_interpreter(model, ["s", "a"])


def test_a_sum_over_a_subrange_reads_only_those_elements(tmp_path: Path) -> None:
    # total reads y over `first!` (t1, t2) and x[t3] reads total: a loop of whole arrays, none
    # element by element. Hand calculation: x = 1, 2, 6 and y = 2x = 2, 4, 12, total = 2 + 4.
    # C-LEARN: Last Set Target Year = INITIAL(VECTOR SELECT(on[COP, set targets!], ...)).
    path = tmp_path / "slice.mdl"
    path.write_text("t: (t1-t3) ~~|\nfirst: (t1-t2) ~~|\nx[t1] = 1 ~~|\nx[t2] = 2 ~~|\nx[t3] = total ~~|\n"
                    "y[t] = x[t] * 2 ~~|\ntotal = SUM(y[first!]) ~~|\nheld = INITIAL(VMAX(y[first!])) ~~|\n"
                    "s[t] = INTEG(0, x[t] + held) ~~|\n" + CONTROL)
    model = sd.load(path)
    ds = model.run()
    np.testing.assert_array_equal(ds["x"].values[-1], [1.0, 2.0, 6.0])
    np.testing.assert_array_equal(ds["y"].values[-1], [2.0, 4.0, 12.0])
    np.testing.assert_array_equal(ds["total"].values, [6.0] * 3)
    np.testing.assert_array_equal(ds["s"].values[0], [5.0, 6.0, 10.0])
    same_as_interpreter(model, ["x", "y", "total", "s"])
