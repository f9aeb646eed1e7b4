"""VECTOR SELECT on the compiled back end against its numpy implementation.

``sd_engine.numba_arrays.select_rows`` takes the rows the unroller gathers (``whole_select``:
each result's selection and values in C order over the selected-over axes, then one missing
value, action and error action per result) and must give what ``sd_engine.functions.vector_select``
gives on the array the numpy back end passes: the same sums in numpy's order (pairwise along
runs of the innermost selected-over axes, the runs one after the other), products in C order,
min and max with NaN kept, the missing value, the error actions. The arithmetic is the same
IEEE operations in the same order, so values are compared exactly; action 5 calls ``pow``
(the C library's against numpy's vectorised one, which may differ in the last bit), so it
gets 1e-12 relative.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sd_engine import functions
from sd_engine.builder import Model
from sd_engine.codegen_numba import numba_kernel, refusal
from sd_engine.testing import assert_results_close
from sd_engine.expr import Call
from sd_engine.unroll import ARRAY_ELEMENT, unroll

numba_arrays = pytest.importorskip("sd_engine.numba_arrays")

RNG = np.random.default_rng(23)
ACTIONS = [*range(11), 11, -1, 2.5, np.nan]


def _selection(shape: tuple[int, ...]) -> np.ndarray:
    """Mostly zeros, some ones, negatives, fractions and NaN (NaN selects: it is not 0)."""
    values = np.array([0.0, 0.0, 0.0, 1.0, -2.0, 0.5, 3.0, np.nan])
    return values[RNG.integers(0, len(values), size=shape)]


def _check(selection: np.ndarray, value: np.ndarray, axes: tuple[int, ...], kept: tuple[int, ...]) -> None:
    """Every action and error action of `selection` and `value` (shape ``(1, *union)``),
    selecting over `axes` (of that shape) and keeping `kept`, against numpy."""
    over = [a for a in range(1, selection.ndim) if a in axes]
    inner = 1
    for a in reversed(range(1, selection.ndim)):
        if a not in axes:
            break
        inner *= selection.shape[a]
    # The helper's rows: each kept element's selected-over elements in C order.
    order = (0, *kept, *over)
    rows = int(np.prod([selection.shape[a] for a in kept]))
    n = int(np.prod([selection.shape[a] for a in over]))
    sel_rows = selection.transpose(order).reshape(-1)
    value_rows = value.transpose(order).reshape(-1)
    missing = RNG.normal(size=rows)
    for action in ACTIONS:
        for error in (0.0, 1.0, 2.0, 3.0):
            shape = (1, *(selection.shape[a] for a in kept))
            with np.errstate(all="ignore"):
                expected = functions.vector_select(selection, value, missing.reshape(shape), np.float64(action),
                                                   np.float64(error), axes).reshape(-1)
            actual = numba_arrays.select_rows(sel_rows, value_rows, missing, np.full(rows, float(action)),
                                              np.full(rows, error), n, inner)
            if action == 5:
                np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0, err_msg=f"{action}, {error}")
            else:
                np.testing.assert_array_equal(actual, expected, err_msg=f"action {action}, error {error}")


@pytest.mark.parametrize("n", [1, 3, 8, 9, 130])
def test_select_rows_equal_numpys_over_a_last_axis(n: int) -> None:
    # Lengths across numpy's summation regimes (a loop, eight partial sums, halves).
    selection = _selection((1, 6, n))
    selection[0, 0] = 0.0  # a row that selects nothing: the missing value, or NaN for errors 1 and 3
    selection[0, 1] = 1.0
    value = RNG.normal(size=(1, 6, n)) * 10.0 ** RNG.integers(-6, 7, size=(1, 6, n))
    value[0, 2, 0] = np.nan
    value[0, 3, :] = -0.0  # sums of negative zeros
    _check(selection, value, (2,), (1,))


def test_select_rows_equal_numpys_over_leading_and_split_axes() -> None:
    # Over the first axis (numpy adds the kept elements' terms one after the other) and over
    # the first and last of three (runs of the last axis pairwise, the runs in sequence).
    value = RNG.normal(size=(1, 9, 4, 10)) * 10.0 ** RNG.integers(-6, 7, size=(1, 9, 4, 10))
    selection = _selection((1, 9, 4, 10))
    _check(selection[:, :, :, 0], value[:, :, :, 0], (1,), (2,))
    _check(selection, value, (1, 3), (2,))
    _check(selection, value, (1, 2, 3), ())


def selections() -> Model:
    """VECTOR SELECT over one and two `dim!` axes, its action changing with time."""
    m = Model("selections", final_time=12, dt=1)
    m.dimension("k", ["a", "b", "c"])
    m.dimension("j", ["x", "y"])
    m.constant("sel", [[1, 0], [2, 0], [0, 0]], dims=["k", "j"])
    m.stock("level", initial="sel['k', 'x'] + 1.5", inflows=["growth"], dims=["k"])
    m.flow("growth", "level * 0.1", dims=["k"])
    m.aux("action", "time - 1")  # -1, then every action 0-10, then 11 (none: NaN)
    m.aux("picked", "vector_select(sel['k!', 'j'], level['k!'], -1, action, 0, 'k!')", dims=["j"])
    m.aux("checked", "vector_select(sel['k!', 'j'], level['k!'] * 2, -1, 6, 3, 'k!')", dims=["j"])
    m.aux("both", "vector_select(sel['k!', 'j!'], level['k!'], -1, action, 2, 'k!', 'j!')")
    return m


@pytest.mark.filterwarnings("ignore::sd_engine.guards.NonFiniteWarning")  # error actions and action 11 give NaN
def test_a_model_of_vector_selects_runs_compiled_with_the_numpy_results() -> None:
    model = selections().compile()
    assert refusal(model) is None
    # Each select is one whole-array call, its rows computed once per step.
    unrolled = unroll(model.program, whole_select=True)
    calls = {v.name: v.equation for v in unrolled.spec.variables if v.name.startswith(("picked", "both"))}
    assert len(calls) == 3 and all(isinstance(e, Call) and e.func == ARRAY_ELEMENT for e in calls.values())
    expected = model.run(backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        actual = model.run(backend="numba")
    evaluate = numba_kernel(model).source.split("def evaluate(")[1].split("\ndef ")[0]
    assert evaluate.count(" = _whole") == 3  # one call per select and step
    assert actual.attrs["status"] == expected.attrs["status"]
    assert_results_close(actual, expected, rtol=1e-12, atol=1e-12)
    picked = expected["picked"].values  # (time, j): j = y selects nothing
    assert np.isnan(picked[[0, -1], 0]).all() and np.isfinite(picked[1:-1, 0]).all() and (picked[:, 1] == -1).all()
