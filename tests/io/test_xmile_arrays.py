"""XMILE array spellings PySD's XMILE grammar does not read, as xmutil and Stella write them:
wildcards among named positions (``m[DimD, *]``, ``z[*:SubA]``), the infix ``MOD`` and
``SIZE(range)``. Values are checked by hand against the small model's numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.io.model_file import ModelFileError

MODELS = Path(__file__).parent / "models"


@pytest.fixture(scope="module")
def wildcards() -> object:
    return sd.load(MODELS / "xmile_wildcards.xmile").run()


def test_partial_wildcards_reduce_over_the_starred_position(wildcards: object) -> None:
    ds = wildcards
    # Cases: north 1/2, south 10/20, east 100/200 (young/old).
    np.testing.assert_array_equal(ds["Per region"].sel(Region="north").values, 3.0)  # type: ignore[index]
    np.testing.assert_array_equal(ds["Per region"].isel(time=0).values, [3.0, 30.0, 300.0])  # type: ignore[index]
    np.testing.assert_array_equal(ds["Per age"].isel(time=0).values, [111.0, 222.0])  # type: ignore[index]
    # `*:Coast`: only south and east of the region totals.
    np.testing.assert_array_equal(ds["Coast total"].values, 330.0)  # type: ignore[index]
    np.testing.assert_array_equal(ds["Largest region"].values, 300.0)  # type: ignore[index]


def test_infix_mod_and_size(wildcards: object) -> None:
    ds = wildcards
    np.testing.assert_array_equal(ds["Phase"].values, [1, 2, 0, 1, 2])  # type: ignore[index]
    np.testing.assert_array_equal(ds["Regions"].values, [31, 32, 30, 31, 32])  # type: ignore[index]


def test_rewrites_keep_lines_and_a_bad_wildcard_is_reported_at_its_line(tmp_path: Path) -> None:
    text = (MODELS / "xmile_wildcards.xmile").read_text()
    bad = text.replace("SUM(Cases[*, Age])", "SUM(Cases[*, Age, *])")
    line = next(n for n, row in enumerate(bad.splitlines(), 1) if "Age, *]" in row)
    path = tmp_path / "bad.xmile"
    path.write_text(bad)
    # Three positions for a variable of two dimensions: left as written, so PySD's parser
    # stops at it and the message points at the user's line.
    with pytest.raises(ModelFileError, match=rf"`bad.xmile` at line {line}, in the equation of `Per age`"):
        sd.load(path)


GF_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
    <header><vendor>sdflow tests</vendor><product version="1.0">hand-written</product></header>
    <sim_specs><start>0</start><stop>1</stop><dt>1</dt></sim_specs>
    <model>
        <variables>
            <aux name="g">
                <eqn>0+0</eqn>
                <gf><xscale min="0" max="2"/><yscale min="0" max="4"/><xpts>0,1,2</xpts><ypts>0,1,4</ypts></gf>
            </aux>
            <aux name="back"><eqn>LOOKUP_BACKWARD(g, 1.5)</eqn></aux>
            <aux name="ahead"><eqn>LOOKUP_FORWARD(g, 1.5)</eqn></aux>
            <aux name="at point"><eqn>LOOKUP_BACKWARD(g, 1)</eqn></aux>
        </variables>
    </model>
</xmile>
"""


def test_lookup_modes_read_the_graphical_function_of_a_variable(tmp_path: Path) -> None:
    # `g` is a variable with a graphical function (0,0), (1,1), (2,4), as xmutil writes a Vensim
    # lookup; LOOKUP_BACKWARD/FORWARD name it as the table (SDEverywhere's lookup.xmile).
    path = tmp_path / "gf.xmile"
    path.write_text(GF_MODEL)
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["g"].values, 0.0)  # the variable: its table at 0 + 0
    np.testing.assert_array_equal(ds["back"].values, 1.0)
    np.testing.assert_array_equal(ds["ahead"].values, 4.0)
    np.testing.assert_array_equal(ds["at point"].values, 1.0)


INIT_EQN_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
    <header><vendor>sdflow tests</vendor><product version="1.0">hand-written</product></header>
    <sim_specs><start>0</start><stop>2</stop><dt>1</dt></sim_specs>
    <model>
        <variables>
            <stock name="S"><eqn>T</eqn><inflow>adjust</inflow></stock>
            <flow name="adjust"><eqn>(T - S) / 10</eqn></flow>
            <aux name="T">
                <eqn>S * 2</eqn>
                <init_eqn>5</init_eqn>
            </aux>
        </variables>
    </model>
</xmile>
"""


def test_an_initial_equation_breaks_the_initial_loop(tmp_path: Path) -> None:
    # S starts at T and T is 2 S: a loop, except that T's <init_eqn> gives it 5 at the initial
    # time (Vensim's ACTIVE INITIAL). Then T = 2 S, and S grows by (2 S - S) / 10 a step.
    path = tmp_path / "init.xmile"
    path.write_text(INIT_EQN_MODEL)
    ds = sd.load(path).run()
    np.testing.assert_allclose(ds["S"].values, [5.0, 5.5, 6.05], rtol=1e-15)
    np.testing.assert_allclose(ds["T"].values, [10.0, 11.0, 12.1], rtol=1e-15)
    # Without the initial equation the loop is refused by name.
    path.write_text(INIT_EQN_MODEL.replace("<init_eqn>5</init_eqn>", ""))
    with pytest.raises(sd.AlgebraicLoopError, match=r"`T` -> `S` -> `T`|`S` -> `T` -> `S`"):
        sd.load(path)


INDEX_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
    <header><vendor>sdflow tests</vendor><product version="1.0">hand-written</product></header>
    <sim_specs><start>0</start><stop>1</stop><dt>1</dt></sim_specs>
    <dimensions>
        <dim name="Stage"><elem name="s1"/><elem name="s2"/><elem name="s3"/></dim>
        <dim name="Slot"><elem name="x"/><elem name="y"/></dim>
    </dimensions>
    <model>
        <variables>
            <aux name="cost">
                <dimensions><dim name="Stage"/></dimensions>
                <element subscript="s1"><eqn>10</eqn></element>
                <element subscript="s2"><eqn>20</eqn></element>
                <element subscript="s3"><eqn>NAN</eqn></element>
            </aux>
            <aux name="pick">
                <dimensions><dim name="Slot"/></dimensions>
                <element subscript="x"><eqn>2</eqn></element>
                <element subscript="y"><eqn>1</eqn></element>
            </aux>
            <aux name="picked">
                <dimensions><dim name="Slot"/></dimensions>
                <eqn>cost[pick]</eqn>
            </aux>
            <aux name="third"><eqn>cost[s3]</eqn></aux>
            <aux name="beyond"><eqn>cost[count]</eqn></aux>
            <aux name="count"><eqn>4</eqn></aux>
        </variables>
    </model>
</xmile>
"""


def test_a_subscript_given_by_a_variable_and_nan(tmp_path: Path) -> None:
    # Stella: `cost[pick]` is the element of cost at the position pick holds (from 1); NAN is
    # not a number; a position past the end is NaN too.
    path = tmp_path / "index.xmile"
    path.write_text(INDEX_MODEL)
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["picked"].values, [[20.0, 10.0], [20.0, 10.0]])
    assert np.isnan(ds["third"].values).all()
    assert np.isnan(ds["beyond"].values).all()


def test_size_stays_a_call_of_a_graphical_function_named_size(tmp_path: Path) -> None:
    text = GF_MODEL.replace('<aux name="g">', '<aux name="size">').replace("(g, ", "(size, ")
    text = text.replace('<aux name="at point"><eqn>LOOKUP_BACKWARD(size, 1)</eqn></aux>',
                        '<aux name="at point"><eqn>SIZE(1.5)</eqn></aux>')
    path = tmp_path / "size.xmile"
    path.write_text(text)
    ds = sd.load(path).run()
    np.testing.assert_array_equal(ds["at point"].values, 2.5)  # the table (1, 1), (2, 4) at 1.5
