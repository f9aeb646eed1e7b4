"""The generated numpy code against the reference interpreter, on every model of the zoo.

The interpreter (:mod:`sd_engine.interpret`) walks the expression trees and aligns
dimensions by name with xarray; the compiler generates positional numpy code. Equal
results over the whole zoo, with both solvers and for ensembles, mean the compiler's
names, dimensions, ordering and buffers are right wherever the zoo reaches.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr
from zoo import RUN_OPTIONS, ZOO

import sd_engine as sd
from sd_engine import functions
from sd_engine.builder import Model
from sd_engine.compile import CompiledModel
from sd_engine.functions import LOOKUP_FUNCTIONS, REDUCTIONS
from sd_engine.errors import DimensionError
from sd_engine.expr import Call, walk
from sd_engine.interpret import Interpreter
from sd_engine.lower import STATEFUL
from sd_engine.testing import assert_results_close

METHODS = ("euler", "rk4")


def ensemble_params(model: CompiledModel) -> dict[str, np.ndarray]:
    """Three runs that vary the model's first constant by -20%, 0 and +25%."""
    slot = model.layout.constants[0]
    base = model.parameters[slot.key]
    values = np.asarray(base.values if base.values is not None else base.equation.value,  # type: ignore[union-attr]
                        dtype=float).reshape(slot.shape)
    return {base.name: np.stack([values * f for f in (0.8, 1.0, 1.25)])}


def assert_same_results(actual: xr.Dataset, expected: xr.Dataset) -> None:
    for name, var in expected.data_vars.items():
        # The zoo stays finite, so a NaN here is a defect, not a value to match.
        assert np.isfinite(var.values).all(), f"`{name}` is not finite in the interpreter's run"
    assert_results_close(actual, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(ZOO))
def test_compiled_code_equals_the_interpreter(name: str, method: str) -> None:
    compiled = ZOO[name]().compile()
    options = RUN_OPTIONS.get(name, {})
    expected = compiled.with_backend("interpreter").run(method=method, **options)
    actual = compiled.run(method=method, **options)
    assert_same_results(actual, expected)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(ZOO))
def test_compiled_ensemble_equals_the_interpreter(name: str, method: str) -> None:
    compiled = ZOO[name]().compile()
    options = RUN_OPTIONS.get(name, {})
    params = ensemble_params(compiled)
    expected = compiled.with_backend("interpreter").run(params=params, method=method, **options)
    actual = compiled.run(params=params, method=method, **options)
    assert expected.sizes["run"] == 3
    assert_same_results(actual, expected)
    # The varied parameter must reach the dynamics, or the runs test nothing more than one run.
    timed = [v for v in expected.data_vars.values() if "time" in v.dims]
    assert any(float(v.std("run").max()) > 0 for v in timed)


def test_the_zoo_uses_every_builtin_and_stateful_function() -> None:
    used: set[str] = set()
    modes: set[str] = set()
    for build in ZOO.values():
        spec = build().spec()
        for var in spec.variables:
            if var.lookup is not None:
                modes.add(var.lookup.mode)
            for expr in (var.equation, var.init_equation):
                if expr is not None:
                    used |= {functions.ALIASES.get(n.func, n.func) for n in walk(expr) if isinstance(n, Call)}
        used |= {"active_initial"} if any(v.init_equation is not None for v in spec.variables) else set()
    # The truncated distributions are reached through the random_* functions.
    public = {name for name in functions.BUILTINS if not name.startswith("_")}
    required = public | set(STATEFUL) | set(REDUCTIONS) | set(LOOKUP_FUNCTIONS) | {"with_lookup", "active_initial"}
    assert not required - used, f"no zoo model uses {sorted(required - used)}"
    assert modes == set(functions.LOOKUP_MODES)


def test_the_interpreter_runs_without_the_generated_functions() -> None:
    compiled = ZOO["arrays"]().compile()
    slow = compiled.with_backend("interpreter")
    assert isinstance(slow.program.evaluator, Interpreter) and slow.backend == "interpreter"
    slow = CompiledModel(dataclasses.replace(slow.program, source="", tables={}))  # nothing generated is left
    ds = slow.run(final_time=1)
    assert np.isfinite(ds["people"].values).all()
    assert not isinstance(slow.with_backend("numpy").program.evaluator, Interpreter)


def test_the_interpreter_reproduces_euler_for_the_teacup_exactly() -> None:
    ds = sd.load("teacup").with_backend("interpreter").run(final_time=5)
    k = np.arange(len(ds.time))
    # T_k = room + (T0 - room) (1 - dt / tau)^k for Euler with dt = 0.125, tau = 10.
    expected = 70 + 110 * (1 - 0.125 / 10) ** k
    np.testing.assert_allclose(ds["Teacup Temperature"].values, expected, rtol=1e-13)


# -- bugs the oracle found in the compiler, pinned with hand-computed values ------------------
def test_arrayed_delay_fixed_delays_every_element_by_its_delay() -> None:
    m = Model("arrayed pipeline", final_time=6, dt=1)
    m.dimension("region", ["a", "b", "c"])
    m.constant("inp", [1, 2, 3], dims=["region"])
    m.aux("x", "inp * time", dims=["region"])
    m.aux("late", "delay_fixed(x, 3, 0)", dims=["region"])
    m.aux("later", "delay_fixed(time, 2, -1)")  # a second pipeline after the arrayed one
    ds = m.run()
    times = ds.time.values
    x = np.array([1, 2, 3])[None, :] * np.maximum(times - 3, 0)[:, None]
    np.testing.assert_array_equal(ds["late"].values, x)
    np.testing.assert_array_equal(ds["later"].values, np.where(times >= 2, times - 2, -1))


def test_non_negative_stock_caps_a_transposed_outflow_by_name() -> None:
    ds = ZOO["non_negative_arrays"]().run(final_time=0.5)
    leavers = ds["leavers"].isel(time=0).transpose("site", "shift").values
    moves = ds["moves"].isel(time=0).transpose("site", "shift").values
    # rota / dt + hiring = [[10.5, 2.5], [7, 19]]; leavers want [[4, 4], [19, 19]], moves want 3.
    np.testing.assert_array_equal(leavers, [[4, 2.5], [7, 19]])
    np.testing.assert_array_equal(moves, [[3, 0], [0, 0]])
    np.testing.assert_array_equal(ds["rota"].isel(time=1).transpose("site", "shift").values,
                                  [[1.75, 0], [0, 0]])


def test_outflow_of_a_non_negative_stock_needs_the_stocks_dimensions() -> None:
    m = Model("partial drain", final_time=2)
    m.dimension("r", ["a", "b"])
    m.dimension("s", ["x", "y"])
    m.stock("st", 5, dims=["r", "s"], outflows=["out"], non_negative=True)
    m.flow("out", "1", dims=["r"])
    with pytest.raises(DimensionError, match=r"Flow `out` drains non-negative stock `st` but has dimensions \['r'\]"):
        m.compile()


def test_logical_results_are_numbers() -> None:
    m = Model("logic", final_time=1)
    m.constant("a", 2)
    m.aux("negated and", "-(a > 1 and a < 5)")
    m.aux("negated not", "-(not a > 3) * 2")
    m.aux("or times", "(a < 1 or a > 1) * 3")
    ds = m.run()
    assert ds["negated and"].values.tolist() == [-1.0, -1.0]
    assert ds["negated not"].values.tolist() == [-2.0, -2.0]
    assert ds["or times"].values.tolist() == [3.0, 3.0]
