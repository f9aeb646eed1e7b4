"""XMILE modules (flattened into one model) and legacy isee files (moved to the current layout).

Checked against Stella's own output for the shared samples, against the same model written
by hand as one flat model, against analytic solutions, and across the formats of a sample
(.xmile, .stmx, legacy .stmx), which must give identical results.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sd_engine as sd
from sd_engine.errors import SpecError, UnsupportedError
from sd_engine.expr import canonical
from sd_engine.io.conformance import compare, read_canonical
from sd_engine.testing import assert_results_close

HEAD = ('<?xml version="1.0"?>\n<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">'
        '<sim_specs method="Euler"><start>0</start><stop>4</stop><dt>0.25</dt></sim_specs>')
MODULES = "samples/bpowers-hares_and_lynxes_modules"


def write(tmp_path: Path, body: str, name: str = "m.xmile") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body + "</xmile>")
    return path


def load(path: Path) -> sd.CompiledModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about what it ignores
        return sd.load(path)


def by_key(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    return {canonical(str(name)): ds[name] for name in ds.data_vars}


def assert_identical(a: xr.Dataset, b: xr.Dataset) -> None:
    # The formats spell some names differently (`hare_density`, `hare density`).
    assert_results_close(a, b, rtol=0, atol=0, key=canonical, check_status=False)


# -- the shared samples --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["model.xmile", "model.stmx", "model_legacy.stmx"])
def test_hares_and_lynxes_modules_match_stella(test_models: Path, name: str) -> None:
    model = load(test_models / MODULES / name)
    ds = model.run()
    # Variables are named by instance path, as Stella's output columns are.
    assert {"area", "hares.hares", "hares.hare_density", "lynxes.lynxes", "lynxes.harvest"} <= set(by_key(ds))
    assert ds["hares.hares"].attrs["kind"] == "stock"
    error, where = compare(ds, read_canonical(test_models / MODULES / "output.csv"), model.spec.time.dt)
    assert error <= 1.0, where


def test_module_formats_give_identical_results(test_models: Path) -> None:
    xmile, stmx, legacy = (load(test_models / MODULES / n).run()
                           for n in ("model.xmile", "model.stmx", "model_legacy.stmx"))
    assert_identical(xmile, legacy)
    # model.stmx writes the graphical functions' x-points rounded (150, not 150.00000000000003):
    # the same model up to that last bit.
    left, right = by_key(xmile), by_key(stmx)
    assert sorted(left) == sorted(right)
    for key in left:
        np.testing.assert_allclose(left[key].values, right[key].values, rtol=1e-13, err_msg=key)


def test_module_input_is_bound_to_its_source(test_models: Path) -> None:
    ds = load(test_models / MODULES / "model.stmx").run()
    # `hares.lynxes` is a stock inside `hares` standing in for the lynx population it is connected to.
    np.testing.assert_array_equal(ds["hares.lynxes"].values, ds["lynxes.lynxes"].values)
    np.testing.assert_array_equal(ds["lynxes.hare density"].values, ds["hares.hare density"].values)


def test_module_parameters_are_set_by_their_flattened_names(test_models: Path) -> None:
    model = load(test_models / MODULES / "model.stmx")
    ds = model.run(params={"hares.birth fraction": np.array([1.25, 0.0])})
    base = model.run()
    np.testing.assert_array_equal(ds["hares.hares"].isel(run=0).values, base["hares.hares"].values)
    # Without births the hares only die: the stock never grows.
    assert (np.diff(ds["hares.hares"].isel(run=1).values) <= 0).all()


@pytest.mark.parametrize("folder, legacy, current", [
    ("samples/teacup", "teacup_legacy.stmx", "teacup.stmx"),
    ("samples/SIR", "SIR_legacy.stmx", "SIR.stmx"),
])
def test_legacy_stmx_matches_current_file_and_stella_10(test_models: Path, folder: str, legacy: str,
                                                        current: str) -> None:
    old = load(test_models / folder / legacy)
    assert_identical(old.run(), load(test_models / folder / current).run())
    # The legacy files were saved by Stella 10.0.6, whose output is kept beside them; it prints
    # times to three decimals (0.031 for 0.03125), so its times are put back on the dt grid.
    expected = read_canonical(test_models / folder / "output_stella1006.csv")
    dt = old.spec.time.dt
    expected.index = np.round(expected.index.to_numpy(dtype=float) / dt) * dt
    error, where = compare(old.run(), expected, dt)
    assert error <= 1.0, where


# -- small models, checked by hand -------------------------------------------------------------
NESTED = (
    '<model><variables>'
    '<module name="outer"><connect to="outer.rate" from=".base_rate"/></module>'
    '<aux name="base rate"><eqn>2</eqn></aux>'
    '<aux name="total"><eqn>outer.doubled + outer.inner.level</eqn></aux>'
    '</variables></model>'
    '<model name="outer"><variables>'
    '<aux name="rate" access="input"><eqn>{connected}</eqn></aux>'
    '<aux name="doubled" access="output"><eqn>2 * rate</eqn></aux>'
    '<module name="inner"><connect to="inflow_rate" from="doubled"/></module>'
    '</variables></model>'
    '<model name="inner"><variables>'
    '<stock name="level"><eqn>1</eqn><inflow>filling</inflow></stock>'
    '<flow name="filling"><eqn>inflow_rate</eqn></flow>'
    '<aux name="inflow rate" access="input"><eqn>0</eqn></aux>'
    '</variables></model>'
)
FLAT = (
    '<model><variables>'
    '<aux name="base rate"><eqn>2</eqn></aux>'
    '<aux name="total"><eqn>"outer.doubled" + "outer.inner.level"</eqn></aux>'
    '<aux name="outer.rate"><eqn>base_rate</eqn></aux>'
    '<aux name="outer.doubled"><eqn>2 * "outer.rate"</eqn></aux>'
    '<stock name="outer.inner.level"><eqn>1</eqn><inflow>"outer.inner.filling"</inflow></stock>'
    '<flow name="outer.inner.filling"><eqn>"outer.inner.inflow rate"</eqn></flow>'
    '<aux name="outer.inner.inflow rate"><eqn>"outer.doubled"</eqn></aux>'
    '</variables></model>'
)


def test_nested_modules_equal_the_model_flattened_by_hand(tmp_path: Path) -> None:
    nested = load(write(tmp_path, NESTED)).run()
    flat = load(write(tmp_path, FLAT, "flat.xmile")).run()
    assert_identical(nested, flat)
    # level' = 2 * 2, level(0) = 1: a straight line, exact under Euler.
    t = nested["time"].values
    np.testing.assert_allclose(nested["outer.inner.level"].values, 1 + 4 * t)
    np.testing.assert_allclose(nested["total"].values, 4 + 1 + 4 * t)


def test_unconnected_module_input_keeps_its_own_equation(tmp_path: Path) -> None:
    body = NESTED.replace('<connect to="inflow_rate" from="doubled"/>', "")
    ds = load(write(tmp_path, body)).run()
    np.testing.assert_array_equal(ds["outer.inner.level"].values, 1.0)  # inflow rate's own 0


def test_variable_sharing_a_builtins_name_is_not_called(tmp_path: Path) -> None:
    body = (
        '<model><variables><module name="m"/></variables></model>'
        '<model name="m"><variables>'
        '<aux name="max"><eqn>3</eqn></aux>'
        '<aux name="y"><eqn>MAX(max, 5) + max</eqn></aux>'
        '</variables></model>'
    )
    ds = load(write(tmp_path, body)).run()
    np.testing.assert_array_equal(ds["m.y"].values, 8.0)


def test_graphical_function_of_a_module_is_called_by_its_flattened_name(tmp_path: Path) -> None:
    body = (
        '<model><variables><module name="m"/></variables></model>'
        '<model name="m"><variables>'
        '<gf name="shape"><xpts>0,10</xpts><ypts>0,100</ypts></gf>'
        '<aux name="y"><eqn>shape(TIME)</eqn></aux>'
        '</variables></model>'
    )
    ds = load(write(tmp_path, body)).run()
    np.testing.assert_allclose(ds["m.y"].values, 10 * ds["time"].values)


def test_listed_x_points_win_over_the_x_scale(tmp_path: Path) -> None:
    body = ('<model><variables><aux name="y"><eqn>TIME</eqn><gf><xscale min="0" max="0"/>'
            '<xpts>0,2,4</xpts><ypts>0,1,10</ypts></gf></aux></variables></model>')
    ds = load(write(tmp_path, body)).run()
    np.testing.assert_allclose(ds["y"].sel(time=[1.0, 3.0]).values, [0.5, 5.5])


# -- refusals and errors --------------------------------------------------------------------------
def test_unconnected_input_without_an_equation_is_an_error(tmp_path: Path) -> None:
    body = NESTED.replace('<connect to="outer.rate" from=".base_rate"/>', "")
    with pytest.raises(SpecError, match=r"`outer.rate` in `m.xmile` has no equation, only a comment; if it is a "
                                        r"module input, connect it"):
        load(write(tmp_path, body))


def test_connection_to_an_unknown_input_is_an_error(tmp_path: Path) -> None:
    body = NESTED.replace('to="outer.rate"', 'to="outer.speed"')
    with pytest.raises(SpecError, match=r"connects `outer.speed` of module `outer`, which the module's model "
                                        r"does not define"):
        load(write(tmp_path, body))


def test_connection_from_an_unknown_variable_is_an_error(tmp_path: Path) -> None:
    body = NESTED.replace('from=".base_rate"', 'from=".base_speed"')
    with pytest.raises(SpecError, match=r"connects module input `outer.rate` to `.base_speed`, which the main "
                                        r"model does not define"):
        load(write(tmp_path, body))


def test_reading_an_unknown_module_variable_is_an_error(tmp_path: Path) -> None:
    body = NESTED.replace("outer.doubled + ", "outer.tripled + ")
    with pytest.raises(SpecError, match=r"`total` in `m.xmile` reads `outer.tripled`, which module `outer` does "
                                        r"not define"):
        load(write(tmp_path, body))


def test_module_of_an_undefined_model_is_an_error(tmp_path: Path) -> None:
    body = NESTED.replace('<model name="inner">', '<model name="elsewhere">')
    with pytest.raises(SpecError, match=r"Module `outer.inner` in `m.xmile` uses model `inner`, which the file "
                                        r"does not define"):
        load(write(tmp_path, body))


def test_module_containing_itself_is_refused(tmp_path: Path) -> None:
    body = ('<model><variables><module name="m"/></variables></model>'
            '<model name="m"><variables><module name="m"/><aux name="x"><eqn>1</eqn></aux></variables></model>')
    with pytest.raises(UnsupportedError, match=r"Module `m.m` in `m.xmile` contains its own model `m`"):
        load(write(tmp_path, body))


def test_module_in_another_file_is_refused(tmp_path: Path) -> None:
    body = ('<model><variables><module name="m" resource="other.xmile"/></variables></model>')
    with pytest.raises(UnsupportedError, match=r"Module `m` in `m.xmile` reads its model from `other.xmile`; "
                                               r"sdflow reads modules from the same file only"):
        load(write(tmp_path, body))


def test_unknown_legacy_element_is_refused_by_name(tmp_path: Path) -> None:
    body = '<model><aux name="x"><eqn>1</eqn></aux><spreadsheet_link name="y"/></model>'
    with pytest.raises(UnsupportedError, match=r"`m.stmx` has a legacy isee element <spreadsheet_link> in the main "
                                               r"model, which sdflow cannot read"):
        load(write(tmp_path, body, "m.stmx"))


def test_variables_the_parser_does_not_read_are_refused(tmp_path: Path) -> None:
    # A model in a namespace of its own: PySD's parser looks for variables in the file's
    # namespace only, and must not run the model without them.
    body = ('<model xmlns="http://example.org/other"><variables><aux name="x"><eqn>1</eqn></aux>'
            '</variables></model>')
    with pytest.raises(UnsupportedError, match=r"PySD's XMILE parser did not read 1 variable\(s\) of `m.xmile` "
                                               r"\(first: `x`\)"):
        load(write(tmp_path, body))


# -- macros -------------------------------------------------------------------------------------
MACROS = (
    '<macro name="twice"><parm>x</parm><eqn>2 * x</eqn></macro>'
    '<macro name="scaled_gap"><parm>target</parm><parm>value</parm><parm default="4">time_to_adjust</parm>'
    '<eqn>(target - value) / time_to_adjust</eqn></macro>'
    '<macro name="capped"><parm>x</parm><parm>cap</parm><eqn>MIN(twice(x), cap)</eqn></macro>'
)
MACRO_MODEL = (
    '<model><variables>'
    '<stock name="level"><eqn>1</eqn><inflow>adjusting</inflow></stock>'
    '<flow name="adjusting"><eqn>scaled_gap(goal, level) + scaled_gap(goal, level, 2)</eqn></flow>'
    '<aux name="goal"><eqn>twice(5)</eqn></aux>'
    '<aux name="limited"><eqn>capped(level + 1, 6)</eqn></aux>'
    '<module name="m"><connect to="x" from=".level"/></module>'
    '</variables></model>'
    '<model name="m"><variables><aux name="x"><eqn>0</eqn></aux><aux name="y"><eqn>twice(x) + 1</eqn></aux>'
    '</variables></model>'
)
BY_HAND = (
    '<model><variables>'
    '<stock name="level"><eqn>1</eqn><inflow>adjusting</inflow></stock>'
    '<flow name="adjusting"><eqn>(goal - level) / 4 + (goal - level) / 2</eqn></flow>'
    '<aux name="goal"><eqn>2 * 5</eqn></aux>'
    '<aux name="limited"><eqn>MIN(2 * (level + 1), 6)</eqn></aux>'
    '<aux name="m.x"><eqn>level</eqn></aux>'
    '<aux name="m.y"><eqn>2 * "m.x" + 1</eqn></aux>'
    '</variables></model>'
)


def test_macros_equal_the_model_expanded_by_hand(tmp_path: Path) -> None:
    expanded = load(write(tmp_path, MACROS + MACRO_MODEL)).run()
    by_hand = load(write(tmp_path, BY_HAND, "by_hand.xmile")).run()
    assert_identical(expanded, by_hand)
    # level' = 0.75 (10 - level): the gap shrinks by (1 - 0.75 dt) each step under Euler.
    t = expanded["time"].values
    np.testing.assert_allclose(expanded["level"].values, 10 - 9 * (1 - 0.75 * 0.25) ** (t / 0.25))
    np.testing.assert_allclose(expanded["limited"].values, np.minimum(2 * (expanded["level"].values + 1), 6))


def test_macro_called_with_too_many_arguments(tmp_path: Path) -> None:
    body = MACROS + MACRO_MODEL.replace("twice(5)", "twice(5, 6)")
    with pytest.raises(SpecError, match=r"`goal` calls macro `twice` with 2 argument\(s\); it takes 1 \(x\)"):
        load(write(tmp_path, body))


def test_macro_called_without_a_parameter_that_has_no_default(tmp_path: Path) -> None:
    body = MACROS + MACRO_MODEL.replace("scaled_gap(goal, level, 2)", "scaled_gap(goal)")
    with pytest.raises(SpecError, match=r"`adjusting` calls macro `scaled_gap` with 1 argument\(s\); it takes 3 "
                                        r"\(target, value, time_to_adjust\)"):
        load(write(tmp_path, body))


def test_macro_reading_a_model_variable_is_an_error(tmp_path: Path) -> None:
    body = MACROS.replace("<eqn>2 * x</eqn>", "<eqn>2 * goal</eqn>") + MACRO_MODEL
    with pytest.raises(SpecError, match=r"Macro `twice` in `m.xmile` reads `goal`, which is not one of its "
                                        r"parameters \(x\)"):
        load(write(tmp_path, body))


def test_recursive_macro_is_refused(tmp_path: Path) -> None:
    body = MACROS.replace("<eqn>2 * x</eqn>", "<eqn>capped(x, 1)</eqn>") + MACRO_MODEL
    with pytest.raises(UnsupportedError, match=r"Macro `twice` in `m.xmile` calls itself \(through `twice` -> "
                                               r"`capped` -> `twice`\)"):
        load(write(tmp_path, body))


def test_model_no_module_uses_is_not_run(tmp_path: Path) -> None:
    body = ('<model><variables><aux name="x"><eqn>1</eqn></aux></variables></model>'
            '<model name="spare"><variables><aux name="x"><eqn>2</eqn></aux><aux name="z"><eqn>3</eqn></aux>'
            '</variables></model>')
    ds = load(write(tmp_path, body)).run()
    assert "z" not in ds.data_vars
    np.testing.assert_array_equal(ds["x"].values, 1.0)
