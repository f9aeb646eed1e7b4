"""Failures found by running models beyond the shared sample, each pinned by a model of our own."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import UnsupportedError
from sd_engine.io.xml_safety import ModelFileError

CONTROL = "INITIAL TIME = 0 ~~|\nFINAL TIME = 2 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n"


def test_macro_with_extra_outputs_runs_each_output_as_a_model_variable(tmp_path: Path) -> None:
    # Valid Vensim: `rest` is a second output of the macro, bound at the call after `:` to the
    # model variable `remainder` (tests/io/test_realworld_constructs.py has more).
    path = tmp_path / "split.mdl"
    path.write_text(":MACRO: SPLIT(total, share: rest)\nSPLIT = total * share ~~|\n"
                    "rest = total * (1 - share) ~~|\n:END OF MACRO:\n"
                    "part = SPLIT(10, 0.3 : remainder) ~~|\n" + CONTROL)
    ds = sd.load(path).run()
    np.testing.assert_allclose([ds["part"].values[0], ds["remainder"].values[0]], [3.0, 7.0], rtol=1e-15)


def test_a_file_the_parser_cannot_read_still_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "broken.mdl"
    path.write_text("x = 1 +* 2 ~~|\n" + CONTROL)
    with pytest.raises(ModelFileError, match=r"could not read `broken.mdl`"):
        sd.load(path)


def test_gamma_ln_is_the_log_of_the_gamma_function(tmp_path: Path) -> None:
    path = tmp_path / "gamma.mdl"
    path.write_text("a = GAMMA LN(10) ~~|\nb = GAMMA LN(0.5) ~~|\nc = GAMMA LN(x) ~~|\nx = 1 + Time ~~|\n" + CONTROL)
    model = sd.load(path)
    ds = model.run()
    assert ds["a"].values[0] == pytest.approx(math.log(math.factorial(9)), rel=1e-14)  # Gamma(10) = 9!
    assert ds["b"].values[0] == pytest.approx(0.5 * math.log(math.pi), rel=1e-14)  # Gamma(1/2) = sqrt(pi)
    np.testing.assert_allclose(ds["c"].values, [0.0, 0.0, math.log(2.0)], atol=1e-15)  # 0!, 1!, 2!
    np.testing.assert_array_equal(model.with_backend("interpreter").run()["c"].values, ds["c"].values)


def test_vensim_lookup_forward_backward_extrapolate_read_the_named_table(tmp_path: Path) -> None:
    path = tmp_path / "modes.mdl"
    path.write_text("h((0,0),(1,2),(2,3)) ~~|\nx = Time - 1.5 ~~|\n"
                    "fwd = LOOKUP FORWARD(h, x) ~~|\nbwd = LOOKUP BACKWARD(h, x) ~~|\n"
                    "ext = LOOKUP EXTRAPOLATE(h, x + 2.5) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 3 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n")
    model = sd.load(path)
    ds = model.run()
    # x = -1.5, -0.5, 0.5, 1.5: forward takes the next point's y, backward the previous one's,
    # both hold the end values outside the table; extrapolate continues the end segments.
    np.testing.assert_array_equal(ds["fwd"].values, [0, 0, 2, 3])
    np.testing.assert_array_equal(ds["bwd"].values, [0, 0, 0, 2])
    np.testing.assert_allclose(ds["ext"].values, [2, 3, 4, 5])  # h(1), h(2), then slope 1 past x = 2
    slow = model.with_backend("interpreter").run()
    for name in ("fwd", "bwd", "ext"):
        np.testing.assert_array_equal(slow[name].values, ds[name].values)


def test_elements_of_an_array_are_ordered_one_by_one(tmp_path: Path) -> None:
    # No loop element by element (Vensim runs it), though `a` and `y` read each other as wholes;
    # `c` reads its own earlier elements.
    path = tmp_path / "interleaved.mdl"
    path.write_text("D: first, second ~~|\nE: one, two, three ~~|\nx = 1 + Time ~~|\n"
                    "a[first] = x ~~|\na[second] = y * 2 ~~|\ny = a[first] + 1 ~~|\nb[D] = a[D] * 10 ~~|\n"
                    "c[one] = x ~~|\nc[two] = c[one] + 1 ~~|\nc[three] = c[two] * 3 ~~|\n" + CONTROL)
    model = sd.load(path)
    ds = model.run()
    x = 1 + ds["time"].values
    np.testing.assert_array_equal(ds["y"].values, x + 1)
    np.testing.assert_array_equal(ds["a"].values, np.stack([x, 2 * (x + 1)], axis=-1))
    np.testing.assert_array_equal(ds["b"].values, 10 * ds["a"].values)
    np.testing.assert_array_equal(ds["c"].values, np.stack([x, x + 1, 3 * (x + 1)], axis=-1))
    assert set(ds.data_vars) >= {"a", "b", "c", "y"} and not any(str(v).startswith("_") for v in ds.data_vars)
    slow = model.with_backend("interpreter").run()
    for name in ("a", "b", "c", "y"):
        np.testing.assert_array_equal(slow[name].values, ds[name].values)


def test_a_loop_between_elements_is_still_reported(tmp_path: Path) -> None:
    from sd_engine.errors import AlgebraicLoopError

    path = tmp_path / "loop.mdl"
    path.write_text("D: first, second ~~|\na[first] = a[second] + 1 ~~|\na[second] = a[first] ~~|\n" + CONTROL)
    with pytest.raises(AlgebraicLoopError, match=r"`_a\[first\]` -> `_a\[second\]`|`_a\[second\]` -> `_a\[first\]`"):
        sd.load(path).run()


def test_stateful_builtins_in_a_block_of_an_array_take_the_blocks_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "blocks.mdl"
    path.write_text("D: a1, a2, a3 ~~|\nS: a2, a3 ~~|\ninp = 5 + STEP(5, 2) ~~|\n"
                    "x[a1] = SMOOTH(inp, 2) ~~|\nx[a2] = INITIAL(inp * 2) ~~|\nx[a3] = 0 ~~|\n"
                    "z[D] = 1, 2, 3 ~~|\ny[a1] = -1 ~~|\ny[S] = DELAY1I(z[S] * inp, 1, 0) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 4 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n")
    model = sd.load(path)
    ds = model.run()
    # SMOOTH of 5 -> 10 at t = 2 with time 2, Euler step 1: 5, 5, 5, 7.5, 8.75; INITIAL keeps 10.
    np.testing.assert_allclose(ds["x"].values[:, 0], [5, 5, 5, 7.5, 8.75])
    np.testing.assert_array_equal(ds["x"].values[:, 1], 10.0)
    # DELAY1I with delay 1 and step 1 passes the input on one step later, from 0.
    inp = np.array([5, 5, 10, 10, 10])
    np.testing.assert_allclose(ds["y"].values[:, 1:], np.stack([[0, 0]] + [[2 * v, 3 * v] for v in inp[:-1]]))
    np.testing.assert_array_equal(ds["y"].values[:, 0], -1.0)
    slow = model.with_backend("interpreter").run()
    for name in ("x", "y"):
        np.testing.assert_array_equal(slow[name].values, ds[name].values)


def test_a_mapping_with_an_element_list_keeps_the_range_elements(tmp_path: Path) -> None:
    # Valid Vensim (b1 -> the subrange SubA, b2 -> a3); PySD's parser folds SubA and a3 into B,
    # which keeps its own two elements here (SDEverywhere's mapping.mdl: a = 10, 10, 20).
    path = tmp_path / "maplist.mdl"
    path.write_text("A: a1, a2, a3 ~~|\nSubA: a1, a2 ~~|\nB: b1, b2 -> (A: SubA, a3) ~~|\n"
                    "v[B] = 1, 2 ~~|\nw[A] = v[B] * 10 ~~|\n" + CONTROL)
    with pytest.warns(UserWarning, match="Subscript mapping"):
        ds = sd.load(path).run()
    assert ds["v"].sizes["B"] == 2
    np.testing.assert_array_equal(ds["w"].isel(time=0).values, [10.0, 10.0, 20.0])


def test_the_xmile_lookup_builtin_reads_the_named_table(tmp_path: Path) -> None:
    # Valid XMILE that PySD's grammar cannot read as written: LOOKUP(table, x) is table(x).
    path = tmp_path / "gf.xmile"
    path.write_text(
        '<xmile xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0" version="1.0">'
        "<header><vendor>sdflow tests</vendor><product>none</product></header>"
        "<sim_specs><start>0</start><stop>2</stop><dt>0.5</dt></sim_specs><model><variables>"
        '<aux name="curve"><eqn>time</eqn><gf><xscale min="0" max="2"/><ypts>0,1,4</ypts></gf></aux>'
        '<aux name="read curve"><eqn>LOOKUP(curve, time) + lookup( curve , 2 - time)</eqn></aux>'
        '<aux name="called"><eqn>curve(time)</eqn></aux>'
        "</variables></model></xmile>")
    ds = sd.load(path).run()
    # curve: 0 at 0, 1 at 1, 4 at 2, straight in between.
    curve = np.array([0, 0.5, 1, 2.5, 4])
    np.testing.assert_allclose(ds["called"].values, curve)
    np.testing.assert_allclose(ds["read curve"].values, curve + curve[::-1])


def test_a_macro_called_over_an_array_runs_one_instance_per_element(tmp_path: Path) -> None:
    path = tmp_path / "macro_array.mdl"
    path.write_text(":MACRO: FILL(input, tau)\nFILL = INTEG(input - FILL / tau, 0) ~~|\n:END OF MACRO:\n"
                    "R: r1, r2, r3 ~~|\ninflow[R] = 1, 2, 4 ~~|\ntau = 2 ~~|\n"
                    "level[R] = FILL(inflow[R], tau) ~~|\nfirst = FILL(inflow[r1], tau) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 3 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n")
    model = sd.load(path)
    ds = model.run()
    # Euler, step 1: L' = u - L / 2 from 0 gives u * (0, 1, 1.5, 1.75).
    shape = np.array([0, 1, 1.5, 1.75])
    np.testing.assert_allclose(ds["level"].values, shape[:, None] * np.array([1, 2, 4])[None, :])
    np.testing.assert_allclose(ds["first"].values, shape)
    slow = model.with_backend("interpreter").run()
    np.testing.assert_array_equal(slow["level"].values, ds["level"].values)


def test_a_subscript_element_read_as_a_number_is_its_position(tmp_path: Path) -> None:
    # Vensim numbers an element by its place in the widest range holding it, from 1:
    # north 1, south 2, east 3, also when read through the subrange `S` (east, north).
    path = tmp_path / "elements.mdl"
    path.write_text("R: north, south, east ~~|\nS: east, north ~~|\n"
                    "v[R] = IF THEN ELSE(R = south, 1, 0) ~~|\nw[S] = IF THEN ELSE(S = north, 10, 0) + east ~~|\n"
                    + CONTROL)
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["v"].values[0], [0, 1, 0])
    assert [str(e) for e in ds["w"].coords[ds["w"].dims[-1]].values] == ["east", "north"]
    np.testing.assert_array_equal(ds["w"].values[0], [3, 13])


def test_a_dollar_name_inside_a_macro_reads_the_main_model(tmp_path: Path) -> None:
    # `TIME STEP$` and `scale$` are the main model's; the macro's own `scale` is its argument.
    path = tmp_path / "dollar.mdl"
    path.write_text(":MACRO: CATCH UP(x, scale)\nCATCH UP = level + scale$ ~~|\n"
                    "level = INTEG((x * scale - level) / TIME STEP$, 0) ~~|\n:END OF MACRO:\nscale = 100 ~~|\ntarget = 3 ~~|\ncaught = CATCH UP(target, 2) ~~|\n"
                    "INITIAL TIME = 0 ~~|\nFINAL TIME = 2 ~~|\nTIME STEP = 0.5 ~~|\nSAVEPER = TIME STEP ~~|\n")
    ds = sd.load(path).run()
    # The stock jumps to x * scale = 6 in one step (the gap over one TIME STEP); + 100 from `scale$`.
    np.testing.assert_allclose(ds["caught"].values, [100, 106, 106, 106, 106])


def test_xmile_previous_self_and_pi(tmp_path: Path) -> None:
    path = tmp_path / "previous.xmile"
    path.write_text(
        '<xmile xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0" version="1.0">'
        "<header><vendor>sdflow tests</vendor><product>none</product></header>"
        "<sim_specs><start>0</start><stop>2</stop><dt>0.5</dt></sim_specs><model><variables>"
        '<aux name="x"><eqn>TIME * PI</eqn></aux>'
        '<aux name="last x"><eqn>PREVIOUS(x, 5)</eqn></aux>'
        '<aux name="last x no init"><eqn>PREVIOUS(x + 1)</eqn></aux>'
        '<aux name="frozen"><eqn>IF TIME &gt; 0.75 THEN PREVIOUS(SELF, 0) ELSE x</eqn></aux>'
        "</variables></model></xmile>")
    model = sd.load(path)
    ds = model.run()
    x = np.arange(5) * 0.5 * math.pi
    np.testing.assert_allclose(ds["last x"].values, [5, *x[:-1]])
    np.testing.assert_allclose(ds["last x no init"].values, [1, *(x[:-1] + 1)])  # starts at x + 1 itself
    np.testing.assert_allclose(ds["frozen"].values, [0, x[1], x[1], x[1], x[1]])  # held from t = 0.5
    slow = model.with_backend("interpreter").run()
    for name in ("last x", "last x no init", "frozen"):
        np.testing.assert_array_equal(slow[name].values, ds[name].values)


def test_graphical_functions_per_array_element_are_read_not_dropped(tmp_path: Path) -> None:
    # PySD's parser keeps `time` and loses both tables; running that would answer 0, 1, 2
    # where the model says 10, 15, 20 and 0, -1, -2.
    path = tmp_path / "element_gf.xmile"
    path.write_text(
        '<xmile xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0" version="1.0">'
        "<header><vendor>sdflow tests</vendor><product>none</product></header>"
        "<sim_specs><start>0</start><stop>2</stop><dt>1</dt></sim_specs>"
        '<dimensions><dim name="Items"><elem name="A"/><elem name="B"/></dim></dimensions><model><variables>'
        '<aux name="shaped"><dimensions><dim name="Items"/></dimensions>'
        '<element subscript="A"><eqn>time</eqn><gf><xpts>0,2</xpts><ypts>10,20</ypts></gf></element>'
        '<element subscript="B"><eqn>time</eqn><gf><xpts>0,2</xpts><ypts>0,-2</ypts></gf></element></aux>'
        '<aux name="whole"><dimensions><dim name="Items"/></dimensions><eqn>time</eqn>'
        '<gf><xpts>0,2</xpts><ypts>5,7</ypts></gf></aux>'
        "</variables></model></xmile>")
    ds = sd.load(path).run()
    np.testing.assert_allclose(ds["shaped"].values, [[10, 0], [15, -1], [20, -2]])
    # One table for the whole array is read and applied to every element.
    path.write_text(path.read_text().replace(
        '<element subscript="A"><eqn>time</eqn><gf><xpts>0,2</xpts><ypts>10,20</ypts></gf></element>'
        '<element subscript="B"><eqn>time</eqn><gf><xpts>0,2</xpts><ypts>0,-2</ypts></gf></element>',
        "<eqn>time * 2</eqn>"))
    ds = sd.load(path).run()
    np.testing.assert_allclose(ds["whole"].values, [[5, 5], [6, 6], [7, 7]])
