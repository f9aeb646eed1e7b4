"""XMILE graphical functions given per array element, and one graphical function for an array.

PySD's parser drops a ``<gf>`` inside an ``<element>``; sdflow reads it itself. Each model
here is checked against values computed by hand from the tables (``np.interp`` and the
XMILE 1.0 definitions of the continuous, extrapolate and discrete types) and against the
reference interpreter (compiled == interpreted, bit for bit).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sd_engine as sd
from sd_engine.errors import SpecError, UnsupportedError
from sd_engine.io.xmile_graphicals import element_graphicals
from sd_engine.io.xml_safety import parse_xmile

HEAD = ('<?xml version="1.0"?>\n<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">'
        '<header><vendor>sdflow tests</vendor><product>none</product></header>'
        '<sim_specs method="Euler"><start>0</start><stop>4</stop><dt>1</dt></sim_specs>'
        '<dimensions><dim name="Items"><elem name="A"/><elem name="B"/><elem name="C"/></dim>'
        '<dim name="Side"><elem name="left"/><elem name="right"/></dim></dimensions>')
T = np.arange(5.0)

# A: continuous, B: extrapolate with evenly spaced points, C: discrete whose listed points
# win over a drawing axis of min = max = 0.
SHAPED = (
    '<aux name="shaped"><dimensions><dim name="Items"/></dimensions>'
    '<element subscript="A"><eqn>time</eqn><gf><xpts>0,2</xpts><ypts>10,20</ypts></gf></element>'
    '<element subscript="B"><eqn>time * 2</eqn><gf type="extrapolate"><xscale min="0" max="2"/>'
    '<ypts>0,-1,-2</ypts></gf></element>'
    '<element subscript="C"><eqn>time - 1</eqn><gf type="discrete"><xscale min="0" max="0"/>'
    '<xpts>0,1,3</xpts><ypts>5,6,7</ypts></gf></element></aux>'
)


def write(tmp_path: Path, body: str, name: str = "gf.xmile") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + "<model><variables>" + body + "</variables></model>" + "</xmile>")
    return path


def run(path: Path) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about what it ignores
        model = sd.load(path)
    ds = model.run()
    slow = model.with_backend("interpreter").run()
    for name in ds.data_vars:
        np.testing.assert_array_equal(slow[name].values, ds[name].values, err_msg=str(name))
    return ds


def continuous(x: np.ndarray) -> np.ndarray:
    return np.interp(x, [0, 2], [10, 20])  # held at the end values outside the table


def extrapolated(x: np.ndarray) -> np.ndarray:
    return -x  # the points (0, 0), (1, -1), (2, -2), continued beyond them


def discrete(x: np.ndarray) -> np.ndarray:
    # The y of the last point at or before x; the first y before the table.
    return np.select([x < 1, x < 3], [5.0, 6.0], 7.0)


def test_each_element_reads_its_own_table_at_its_own_equation(tmp_path: Path) -> None:
    ds = run(write(tmp_path, SHAPED))
    np.testing.assert_allclose(ds["shaped"].sel(Items="A").values, continuous(T))  # 10, 15, 20, 20, 20
    np.testing.assert_allclose(ds["shaped"].sel(Items="B").values, extrapolated(2 * T))  # 0, -2, ..., -8
    np.testing.assert_allclose(ds["shaped"].sel(Items="C").values, discrete(T - 1))  # 5, 5, 6, 6, 7


def test_the_tables_are_called_by_element_and_over_the_array(tmp_path: Path) -> None:
    ds = run(write(tmp_path, SHAPED + (
        '<aux name="x"><eqn>time * 0.75</eqn></aux>'
        '<aux name="a at x"><eqn>shaped[A](x)</eqn></aux>'
        '<aux name="b at x"><eqn>LOOKUP(shaped[B], x)</eqn></aux>'
        '<aux name="c at x"><eqn>LOOKUP(shaped[C], x)</eqn></aux>'
        '<aux name="each"><dimensions><dim name="Items"/></dimensions><eqn>shaped(x + 1)</eqn></aux>'
    )))
    x = 0.75 * T
    np.testing.assert_allclose(ds["a at x"].values, continuous(x))
    np.testing.assert_allclose(ds["b at x"].values, extrapolated(x))
    np.testing.assert_allclose(ds["c at x"].values, discrete(x))
    # Without subscripts each element of `each` reads the table of the same element.
    np.testing.assert_allclose(ds["each"].values, np.stack([continuous(x + 1), extrapolated(x + 1),
                                                            discrete(x + 1)], axis=1))


def test_an_element_without_a_table_keeps_its_equation(tmp_path: Path) -> None:
    ds = run(write(tmp_path, (
        '<aux name="mixed"><dimensions><dim name="Items"/></dimensions>'
        '<element subscript="A"><eqn>time</eqn><gf><xpts>0,4</xpts><ypts>0,100</ypts></gf></element>'
        '<element subscript="B"><eqn>time + 0.5</eqn></element>'
        '<element subscript="C"><eqn>7</eqn><gf><xpts>6,8</xpts><ypts>1,3</ypts></gf></element></aux>'
    )))
    np.testing.assert_allclose(ds["mixed"].values, np.stack([25 * T, T + 0.5, np.full(5, 2.0)], axis=1))


def test_two_dimensional_elements_each_have_their_table(tmp_path: Path) -> None:
    elements = "".join(
        f'<element subscript="{item}, {side}"><eqn>time</eqn><gf><xpts>0,4</xpts><ypts>0,{k}</ypts></gf></element>'
        for k, (item, side) in enumerate(((i, s) for i in "ABC" for s in ("left", "right")), start=1))
    ds = run(write(tmp_path, (
        '<aux name="grid"><dimensions><dim name="Items"/><dim name="Side"/></dimensions>' + elements + "</aux>"
        '<aux name="c right"><eqn>grid[C, right](2)</eqn></aux>'
    )))
    slopes = np.arange(1, 7).reshape(3, 2) / 4  # ypts 0..k over xpts 0..4
    np.testing.assert_allclose(ds["grid"].values, T[:, None, None] * slopes[None])
    np.testing.assert_allclose(ds["c right"].values, np.full(5, 2 * 6 / 4))


def test_one_table_for_the_array_serves_every_element_equation(tmp_path: Path) -> None:
    ds = run(write(tmp_path, (
        '<aux name="whole"><dimensions><dim name="Items"/></dimensions>'
        '<element subscript="A"><eqn>time</eqn></element><element subscript="B"><eqn>time * 2</eqn></element>'
        '<element subscript="C"><eqn>0 - time</eqn></element>'
        '<gf type="extrapolate"><xpts>0,2</xpts><ypts>5,7</ypts></gf></aux>'
        '<aux name="whole at 3"><eqn>whole[B](3)</eqn></aux>'
        '<aux name="steps"><dimensions><dim name="Items"/></dimensions><eqn>time / 2</eqn>'
        '<gf type="discrete"><xpts>0,1,1.5</xpts><ypts>1,2,3</ypts></gf></aux>'
        '<aux name="smooth"><dimensions><dim name="Items"/></dimensions><eqn>time</eqn>'
        '<gf><xscale min="0" max="2"/><ypts>0,4,6</ypts></gf></aux>'
    )))
    line = 5 + T[:, None] * np.array([1.0, 2.0, -1.0])  # y = 5 + x, continued on both sides
    np.testing.assert_allclose(ds["whole"].values, line)
    np.testing.assert_allclose(ds["whole at 3"].values, np.full(5, 8.0))
    np.testing.assert_allclose(ds["steps"].values, np.repeat(np.array([1, 1, 2, 3, 3.0])[:, None], 3, axis=1))
    np.testing.assert_allclose(ds["smooth"].values,
                               np.repeat(np.interp(T, [0, 1, 2], [0, 4, 6])[:, None], 3, axis=1))


def test_tables_per_element_inside_a_module(tmp_path: Path) -> None:
    path = tmp_path / "module_gf.xmile"
    path.write_text(
        HEAD + '<model><variables><module name="m"><connect to="m.x" from=".input"/></module>'
        '<aux name="input"><eqn>time</eqn></aux></variables></model>'
        '<model name="m"><variables><aux name="x"><eqn>0</eqn></aux>' + SHAPED.replace(
            "<eqn>time</eqn>", "<eqn>x</eqn>").replace("<eqn>time * 2</eqn>", "<eqn>x * 2</eqn>").replace(
            "<eqn>time - 1</eqn>", "<eqn>x - 1</eqn>") + "</variables></model></xmile>")
    ds = run(path)
    np.testing.assert_allclose(ds["m.shaped"].values,
                               np.stack([continuous(T), extrapolated(2 * T), discrete(T - 1)], axis=1))


def test_points_are_read_as_xmile_defines_them(tmp_path: Path) -> None:
    path = write(tmp_path, (
        '<aux name="v"><dimensions><dim name="Side"/></dimensions>'
        '<element subscript="left"><eqn>0</eqn><gf><xpts sep=";">2;0;1</xpts><ypts sep=";">4;0;1</ypts></gf>'
        '</element><element subscript="right"><eqn>0</eqn><gf><xscale min="-1" max="1"/><ypts>3,2,1,0,-1</ypts>'
        "</gf></element></aux>"))
    tables = element_graphicals(parse_xmile(path), path.name)["v"]
    assert tables[("left",)].xs == (0.0, 1.0, 2.0) and tables[("left",)].ys == (0.0, 1.0, 4.0)  # sorted by x
    assert tables[("right",)].xs == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert tables[("right",)].mode == "interpolate"


def test_an_unknown_graphical_function_type_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, SHAPED.replace('type="discrete"', 'type="stepwise"'))
    with pytest.raises(UnsupportedError, match=r"of `shaped`\[C\] in `gf.xmile` is of type `stepwise`.*use "
                                                r"continuous, extrapolate or discrete"):
        sd.load(path)


@pytest.mark.parametrize(("gf", "message"), [
    ("<xpts>0,1</xpts><ypts>0,1,2</ypts>", r"has 2 x values for 3 y values"),
    ("<xpts>0,a</xpts><ypts>0,1</ypts>", r"has a value that is not a number in <xpts>: `0,a`"),
    ("<ypts>0,1</ypts>", r"has neither <xpts> nor <xscale>"),
])
def test_a_broken_element_table_names_the_variable_and_element(tmp_path: Path, gf: str, message: str) -> None:
    path = write(tmp_path, '<aux name="bad"><dimensions><dim name="Side"/></dimensions>'
                           f'<element subscript="left"><eqn>time</eqn><gf>{gf}</gf></element>'
                           '<element subscript="right"><eqn>1</eqn></element></aux>')
    with pytest.raises(SpecError, match=r"`bad`\[left\] in `gf.xmile` " + message):
        sd.load(path)


def test_stella_layout_one_equation_for_the_array_and_a_table_per_element(tmp_path: Path) -> None:
    # As Stella saves it (shared sample `samples/arrays/non-a2a/non-a2a-gf.stmx`): the elements
    # hold only their tables, the variable holds the equation they all read.
    ds = run(write(tmp_path, (
        '<aux name="by item"><dimensions><dim name="Items"/></dimensions>'
        '<element subscript="A"><gf><xscale min="0" max="4"/><ypts>0,1,4,9,16</ypts></gf></element>'
        '<element subscript="B"><gf><xscale min="0" max="4"/><ypts>16,9,4,1,0</ypts></gf></element>'
        '<element subscript="C"><gf type="discrete"><xpts>0,2.5</xpts><ypts>-1,1</ypts></gf></element>'
        "<eqn>time / 2 + 0.5</eqn></aux>"
    )))
    x = T / 2 + 0.5
    grid = np.linspace(0, 4, 5)
    np.testing.assert_allclose(ds["by item"].values, np.stack(
        [np.interp(x, grid, grid ** 2), np.interp(x, grid, (4 - grid) ** 2), np.where(x < 2.5, -1.0, 1.0)], axis=1))


def test_an_element_table_with_no_equation_anywhere_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, '<aux name="orphan"><dimensions><dim name="Side"/></dimensions>'
                           '<element subscript="left"><gf><xpts>0,1</xpts><ypts>0,1</ypts></gf></element>'
                           '<element subscript="right"><eqn>1</eqn></element></aux>')
    with pytest.raises(SpecError, match=r"`orphan`\[left\] in `gf.xmile` has no equation, and its variable has none"):
        sd.load(path)


def test_a_flow_with_tables_per_element_fills_its_stock(tmp_path: Path) -> None:
    ds = run(write(tmp_path, (
        '<stock name="s"><dimensions><dim name="Side"/></dimensions><eqn>0</eqn><inflow>f</inflow></stock>'
        '<flow name="f"><dimensions><dim name="Side"/></dimensions>'
        '<element subscript="left"><eqn>time</eqn><gf><xpts>0,4</xpts><ypts>0,8</ypts></gf></element>'
        '<element subscript="right"><eqn>time</eqn><gf><xpts>0,4</xpts><ypts>1,1</ypts></gf></element></flow>'
        # The element's own table wins over the variable's; the other element reads the variable's.
        '<aux name="both"><dimensions><dim name="Side"/></dimensions>'
        '<element subscript="left"><eqn>time</eqn><gf><xpts>0,4</xpts><ypts>0,-4</ypts></gf></element>'
        '<element subscript="right"><eqn>time</eqn></element><gf><xpts>0,4</xpts><ypts>0,40</ypts></gf></aux>'
    )))
    flow = np.stack([2 * T, np.ones(5)], axis=1)
    np.testing.assert_allclose(ds["f"].values, flow)
    # Euler with dt = 1: the stock is the sum of the earlier flows.
    np.testing.assert_allclose(ds["s"].values, np.vstack([np.zeros((1, 2)), np.cumsum(flow, axis=0)[:-1]]))
    np.testing.assert_allclose(ds["both"].values, np.stack([-T, 10 * T], axis=1))
