"""The scalar fast path for single runs gives the array code's numbers bit for bit."""

from __future__ import annotations

import re

import numpy as np
import pytest
from zoo import RUN_OPTIONS, ZOO

import models
import sd_engine as sd
import sd_engine.integrate as integrate
from sd_engine.builder import Model
from sd_engine.integrate import simulate_results
from sd_engine.scalar import scalar_path


def both_paths(model: sd.CompiledModel, monkeypatch: pytest.MonkeyPatch, **options: object) -> tuple:
    fast = simulate_results(model, errors="mark", **options)
    with monkeypatch.context() as patch:
        patch.setattr(integrate, "scalar_path", lambda m: None)
        slow = simulate_results(model, errors="mark", **options)
    return fast, slow


SCALAR_ZOO = [name for name, build in ZOO.items() if scalar_path(build().compile()) is not None]


def test_the_zoo_has_scalar_and_arrayed_models() -> None:
    assert len(SCALAR_ZOO) >= 8
    assert scalar_path(ZOO["arrays"]().compile()) is not None  # unrolled, one float per element
    assert scalar_path(ZOO["blocks"]().compile()) is None  # INVERT MATRIX is a whole-array call: the array code


@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize("name", SCALAR_ZOO)
def test_zoo_models_agree_bit_for_bit(name: str, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = ZOO[name]().compile()
    fast, slow = both_paths(model, monkeypatch, method=method, seed=3, **RUN_OPTIONS.get(name, {}))
    np.testing.assert_array_equal(fast.data, slow.data)
    assert fast.status == slow.status


@pytest.mark.parametrize("name", [n for n in models.available() if n != "whole_system_flow"])
def test_library_models_agree_bit_for_bit(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = sd.load(name)
    assert scalar_path(model) is not None
    fast, slow = both_paths(model, monkeypatch)
    np.testing.assert_array_equal(fast.data, slow.data)


def test_steps_that_need_numpy_semantics_fall_back_to_the_array_code(monkeypatch: pytest.MonkeyPatch) -> None:
    # Python floats raise on 1/0, sqrt(-1), (-8) ** 0.5 and exp(1000); numpy gives inf or NaN.
    m = Model("edges", final_time=4)
    m.stock("s", 1, inflows=["f"])
    m.aux("d", "2 - t")  # zero at t = 2
    m.aux("ratio", "1 / d")
    m.aux("root", "sqrt(d)")
    m.aux("power", "(d - 1) ** 0.5")
    m.aux("big", "exp(1000 * (t - 2.5))")
    m.flow("f", "0 * t")
    fast, slow = both_paths(m.compile(), monkeypatch)
    np.testing.assert_array_equal(fast.data, slow.data)
    ds = fast.to_dataset()
    assert np.isnan(ds["power"].sel(time=2))
    assert np.isinf(ds["ratio"].sel(time=2)) and np.isnan(ds["root"].sel(time=3)) and np.isinf(ds["big"].sel(time=4))


def test_a_failing_single_run_reports_the_same_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    m = Model("fragile", final_time=3)
    m.stock("s", 1, inflows=["f"])
    m.flow("f", "1 / (2 - t)")
    fast, slow = both_paths(m.compile(), monkeypatch)
    assert fast.status == slow.status and fast.status[0].failed
    with pytest.raises(sd.NonFiniteStateError, match=r"`s` became inf at time 3"):
        m.run()


def test_ensembles_use_the_array_code_and_equal_single_runs() -> None:
    model = sd.load("sir")
    values = np.array([0.25, 0.3])
    ens = model.run(params={"Contact Infectivity": values})
    for i, v in enumerate(values):
        single = model.run(params={"Contact Infectivity": v})
        np.testing.assert_array_equal(ens["Infectious"].isel(run=i).values, single["Infectious"].values)


def test_the_scalar_source_is_kept_and_readable() -> None:
    path = scalar_path(sd.load("teacup"))
    assert path is not None and "def evaluate_scalar(" in path.source
    assert "'Heat Loss to Room = (teacup_temperature - room_temperature) / characteristic_time'" in path.source
    assert re.search(r"v\d+ = \(\(v\d+ - v\d+\) / v\d+\)  # 'Heat Loss to Room", path.source)
