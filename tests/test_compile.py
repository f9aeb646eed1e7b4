"""The compiler: readable generated source, tracebacks into equations, ordering, purity."""

from __future__ import annotations

import re
import traceback

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.builder import Model
from sd_engine.errors import AlgebraicLoopError


def test_generated_source_is_kept_and_readable() -> None:
    model = sd.load("sir")
    src = model.source
    assert "def initialize(" in src and "def evaluate(" in src
    # One line per equation, with the equation as written in a trailing comment (through repr:
    # identifiers are generated, model text only ever appears repr'd in comments).
    line = next(ln for ln in src.splitlines() if "'Succumbing = " in ln)
    assert "# 'Succumbing = susceptible * infectious / total_population * contact_infectivity'" in line
    assert re.fullmatch(r"    v\d+ = \(v\d+ \* v\d+ / v\d+ \* v\d+\)  # .*", line)
    assert "eval(" not in src and "exec(" not in src


def test_tracebacks_show_the_generated_equation_line() -> None:
    model = sd.load("teacup")
    y = np.zeros((2, 1))
    bad_c = [np.ones(3), np.ones(2)]  # wrong run length on purpose
    try:
        model.evaluate(0.0, y, np.zeros((2, 0)), bad_c, 0.1, np.zeros((2, 1)), np.zeros((2, 0)), None)
    except ValueError:
        text = traceback.format_exc()
    else:  # pragma: no cover - the shapes cannot broadcast
        pytest.fail("mismatched shapes must raise")
    assert "<sdflow model 'teacup'" in text
    assert "'Heat Loss to Room = (teacup_temperature - room_temperature) / characteristic_time'" in text


def test_equations_are_ordered_once_regardless_of_declaration_order() -> None:
    m = Model("order", final_time=1)
    m.aux("c", "b * 2")
    m.aux("b", "a + 1")
    m.constant("a", 1)
    ds = m.run()
    assert float(ds["c"][0]) == 4.0
    src = m.compile().source.split("def evaluate")[1]
    assert src.index("b = ") < src.index("c = ")


def test_algebraic_loop_reports_the_cycle_path() -> None:
    m = Model("loop")
    m.aux("a", "b + 1")
    m.aux("b", "c * 2")
    m.aux("c", "a - 3")
    # The path follows cause to effect: `a` feeds `c`, which feeds `b`, which feeds `a`.
    with pytest.raises(AlgebraicLoopError, match=r"Algebraic loop in the equations \(cause to effect\): (`a` -> `c` -> `b` -> `a`|`c` -> `b` -> `a` -> `c`|`b` -> `a` -> `c` -> `b`)") as info:
        m.compile()
    assert sorted(info.value.cycle) == ["a", "b", "c"]


def test_a_stock_breaks_a_feedback_loop() -> None:
    m = Model("ok", final_time=1)
    m.stock("s", 1, inflows=["f"])
    m.flow("f", "s * g")
    m.aux("g", "0.5 + 0 * f")  # depends on f, which depends on s: fine only because g feeds f...
    with pytest.raises(AlgebraicLoopError):
        m.compile()
    m2 = Model("ok2", final_time=1)
    m2.stock("s", 1, inflows=["f"])
    m2.flow("f", "s * g")
    m2.aux("g", "0.5 + 0 * s")
    assert float(m2.run()["s"][-1]) == 1.5


def test_active_initial_breaks_an_initialisation_loop() -> None:
    # Vensim's ACTIVE INITIAL: `capacity` needs `stock`'s initial value, which needs `capacity`.
    m = Model("ai", final_time=2)
    m.stock("stock", "capacity * 2", inflows=["f"])
    m.flow("f", "1")
    m.aux("capacity", "active_initial(stock / 4, 5)")
    ds = m.run()
    np.testing.assert_allclose(ds["stock"].values, [10, 11, 12])
    np.testing.assert_allclose(ds["capacity"].values, [2.5, 2.75, 3.0])


def test_a_run_never_mutates_the_compiled_model_or_its_parameters() -> None:
    model = sd.load("teacup")
    before = model.source
    a = model.run(params={"Characteristic Time": 5})
    b = model.run()
    assert model.source == before
    assert float(b["Characteristic Time"]) == 10
    assert float(a["Teacup Temperature"][-1]) < float(b["Teacup Temperature"][-1])


class TestNonNegative:
    def test_non_negative_flow_is_clipped_at_zero(self) -> None:
        m = Model("nn", final_time=4)
        m.stock("s", 10, inflows=["f"])
        m.flow("f", "2 - t", non_negative=True)
        ds = m.run()
        np.testing.assert_array_equal(ds["f"].values, [2, 1, 0, 0, 0])
        np.testing.assert_array_equal(ds["s"].values, [10, 12, 13, 13, 13])

    def test_outflows_of_a_non_negative_stock_are_limited_in_order(self) -> None:
        # XMILE non-negative stocks: outflows are cut, first listed first served, so the
        # stock reaches zero and stays there; the recorded flows are the limited ones.
        m = Model("nn", final_time=4, dt=1)
        m.stock("s", 5, inflows=["inflow"], outflows=["first", "second"], non_negative=True)
        m.flow("inflow", "1")
        m.flow("first", "4")
        m.flow("second", "3")
        ds = m.run()
        np.testing.assert_array_equal(ds["s"].values, [5, 0, 0, 0, 0])
        np.testing.assert_array_equal(ds["first"].values, [4, 1, 1, 1, 1])
        np.testing.assert_array_equal(ds["second"].values, [2, 0, 0, 0, 0])

    def test_plain_stocks_may_go_negative_as_in_vensim(self) -> None:
        m = Model("neg", final_time=2)
        m.stock("s", 1, outflows=["out"])
        m.flow("out", "2")
        np.testing.assert_array_equal(m.run()["s"].values, [1, -1, -3])


class TestTimeSeriesOverrides:
    def test_a_constant_given_as_a_series_is_interpolated_in_time(self) -> None:
        import pandas as pd

        m = Model("driven", final_time=4)
        m.constant("arrivals", 10)
        m.stock("s", 0, inflows=["f"])
        m.flow("f", "arrivals")
        model = m.compile()
        ds = model.run(params={"arrivals": pd.Series([0.0, 4.0, 4.0], index=[0.0, 2.0, 10.0])})
        np.testing.assert_allclose(ds["f"].values, [0, 2, 4, 4, 4])
        np.testing.assert_allclose(ds["s"].values, [0, 0, 2, 6, 10])
        # The compiled model itself is unchanged.
        np.testing.assert_allclose(model.run()["f"].values, 10)

    def test_series_with_an_ensemble_of_other_parameters(self) -> None:
        import xarray as xr

        m = Model("driven", final_time=2)
        m.constant("arrivals", 10)
        m.constant("share", 1)
        m.aux("used", "arrivals * share")
        series = xr.DataArray([1.0, 3.0], dims="time", coords={"time": [0.0, 2.0]})
        ds = m.compile().run(params={"arrivals": series, "share": np.array([1.0, 2.0])})
        np.testing.assert_allclose(ds["used"].values, [[1, 2, 3], [2, 4, 6]])

    def test_bad_series_are_refused(self) -> None:
        import pandas as pd

        m = Model("driven", final_time=2)
        m.constant("arrivals", 10)
        m.stock("s", 0, inflows=["f"])
        m.flow("f", "arrivals")
        with pytest.raises(sd.SpecError, match="`s` is a stock; only scalar constants and auxiliaries"):
            m.compile().run(params={"s": pd.Series([1.0], index=[0.0])})
        with pytest.raises(sd.SpecError, match="needs finite values at increasing"):
            m.compile().run(params={"arrivals": pd.Series([1.0, 2.0], index=[2.0, 0.0])})
