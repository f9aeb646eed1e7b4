"""Values at the initial time: the time settings and the orders of DELAY N / SMOOTH N, from one evaluator."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.expr import parse_equation
from sd_engine.io.convert.start_values import start_value

CONTROLS = {"initial_time": 0.0, "final_time": 10.0, "dt": 0.5, "saveper": 1.0}


def value(text: str, *, time: float | None = 2.0, follow: bool = True) -> float | None:
    return start_value(parse_equation(text), {}, None, controls=CONTROLS, time=time, follow=follow)


def test_numbers_controls_and_operators_by_hand() -> None:
    assert value("1 + 2 * 3 - 4 / 8") == 6.5
    assert value("time_step * 4 + final_time") == 12.0  # 0.5 * 4 + 10
    assert value("-(2 ** 3)") == -8.0
    assert value("(time > 1) + (not 0)") == 2.0
    assert value("1 / 0") == math.inf  # numpy's semantics, as in the run


def test_functions_at_the_initial_time_by_hand() -> None:
    assert value("if_then_else(time >= 2, 7, 8)") == 7.0
    assert value("max(3, time, 1)") == 3.0 and value("min(3, time, 1)") == 1.0
    # STEP switches at time + dt / 2 > start: 2 + 0.25 > 2.2, not > 2.3.
    assert value("step(5, 2.2)") == 5.0 and value("step(5, 2.3)") == 0.0
    assert value("step(5, 1)", time=None) is None  # no Time before the run has one


def test_a_constant_setting_reads_numbers_controls_and_arithmetic_only() -> None:
    assert value("2 * time_step + 1", follow=False) == 2.0
    for text in ("time", "max(1, 2)", "1 < 2", "not 0", "undefined_name"):
        assert value(text, follow=False) is None, text


CONTROL = "INITIAL TIME = 0 ~~|\nTIME STEP = 1 ~~|\nSAVEPER = TIME STEP ~~|\n"


def test_final_time_of_constants_is_a_setting_and_of_functions_an_equation(tmp_path: Path) -> None:
    path = tmp_path / "horizon.mdl"
    path.write_text("horizon = 4 ~~|\nx = 1 ~~|\nFINAL TIME = horizon * 2 ~~|\n" + CONTROL)
    spec = sd.load(path).spec
    assert spec.time.final_time == 8.0 and spec.time.controls == ()
    path.write_text("horizon = 4 ~~|\nx = 1 ~~|\nFINAL TIME = MAX(horizon, 3) ~~|\n" + CONTROL)
    spec = sd.load(path).spec
    assert spec.time.final_time == 4.0 and spec.time.controls == (("final_time", "final_time"),)


@pytest.mark.parametrize("order", ["3", "TIME STEP * 12", "stages", "IF THEN ELSE(stages > 2, 3, 1)"])
def test_delay_n_order_read_at_the_initial_time_equals_delay3(order: str, tmp_path: Path) -> None:
    path = tmp_path / "order.mdl"
    path.write_text(
        "stages = 1 + 2 ~~|\ninput = 1 + STEP(4, 2) ~~|\n"
        f"nth = DELAY N(input, 3, 1, {order}) ~~|\nthird = DELAY3I(input, 3, 1) ~~|\n"
        "FINAL TIME = 12 ~~|\n" + CONTROL.replace("TIME STEP = 1", "TIME STEP = 0.25")
    )
    ds = sd.load(path).run()
    np.testing.assert_allclose(ds["nth"].values, ds["third"].values, rtol=1e-12, atol=1e-12)
    assert ds["third"].values[-1] > 4.0  # the step has come through the delay
