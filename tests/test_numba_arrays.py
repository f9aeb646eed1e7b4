"""The whole-array functions on the compiled back end against their numpy implementations.

Each helper of ``sd_engine.numba_arrays`` (rows of one run, gathered by the unroller) is
compared with the function of ``sd_engine.functions`` that the numpy back end calls, on the
same array: random rows, ties, NaN, zero and negative supplies, singular matrices. Sorting,
reordering and the sums are the same operations, so they are compared exactly; the
allocations call ``exp`` (numpy's vectorised one against the C library's, which may differ in
the last bit) and INVERT MATRIX calls LAPACK through scipy (numba) and through numpy, two
builds of the same routine, so those get 1e-12 relative. Then one small model using all of
them runs on both back ends with equal results, and its ensemble equals its single runs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sd_engine import functions
from sd_engine.builder import Model
from sd_engine.codegen_numba import is_exact, numba_kernel, refusal
from sd_engine.errors import UnsupportedError
from sd_engine.testing import assert_ensemble_matches_single_runs, assert_results_close

numba_arrays = pytest.importorskip("sd_engine.numba_arrays")

RNG = np.random.default_rng(17)


def _rows(shape: tuple[int, ...], ties: bool) -> np.ndarray:
    """Random rows; with `ties`, few distinct values (with -0.0 beside 0.0) and some NaN."""
    if not ties:
        return RNG.normal(size=shape)
    values = np.array([0.0, -0.0, 1.0, 2.0, -1.5, np.nan])
    return values[RNG.integers(0, len(values), size=shape)]


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_sort_order_rank_and_reorder_equal_numpys(n: int, ties: bool) -> None:
    vector = _rows((7, n), ties)
    direction = np.array([1.0, 0.0, -1.0, np.nan, 2.0, 1.0, 0.0])
    for func, helper in (("vector_sort_order", "sort_order_rows"), ("vector_rank", "rank_rows")):
        expected = getattr(functions, func)(vector, direction[:, None])
        actual = getattr(numba_arrays, helper)(vector.ravel(), direction, n)
        np.testing.assert_array_equal(actual, expected.ravel(), err_msg=func)
    # Orders: valid positions, and ones that are not (negative, too large, fractional, NaN).
    order = RNG.integers(-1, n + 1, size=(7, n)).astype(float)
    order[0, 0], order[1, -1] = 0.5, np.nan
    expected = functions.vector_reorder(vector, order)
    actual = numba_arrays.reorder_rows(vector.ravel(), order.ravel(), n)
    np.testing.assert_array_equal(actual, expected.ravel())


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 16, 127, 128, 129, 300, 1000])
def test_row_sums_add_in_numpys_order(n: int) -> None:
    # Values spanning many magnitudes, so another order of additions gives another double.
    a = RNG.normal(size=(3, n)) * 10.0 ** RNG.integers(-8, 9, size=(3, n))
    expected = np.sum(a, axis=-1)
    actual = [numba_arrays.row_sum(a.ravel(), g * n, n) for g in range(3)]
    np.testing.assert_array_equal(actual, expected)


def test_invert_matrix_equals_numpys_and_gives_nan_where_it_does() -> None:
    good = RNG.normal(size=(4, 3, 3)) + 3 * np.eye(3)
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]])
    edge = [singular, np.zeros((3, 3)), np.full((3, 3), np.nan), np.where(np.eye(3) > 0, np.inf, 0.0),
            np.diag([1.0, np.inf, 1.0]), np.eye(3) * 1e-120, np.eye(3) * 1e200]
    x = np.concatenate([good, np.stack(edge)])
    with np.errstate(all="ignore"):
        expected = functions.invert_matrix(x, 3)
    actual = numba_arrays.invert_matrices(x.ravel(), 3).reshape(x.shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0, equal_nan=True)
    assert np.isnan(actual[4:8]).all() and np.isfinite(actual[:4]).all()
    for n in (1, 2, 4):
        m = RNG.normal(size=(3, n, n)) + 2 * np.eye(n)
        np.testing.assert_allclose(numba_arrays.invert_matrices(m.ravel(), n).reshape(m.shape),
                                   functions.invert_matrix(m, n), rtol=1e-12, atol=0)


def _profiles(rows: int, n: int) -> tuple[np.ndarray, ...]:
    request = RNG.uniform(0, 10, size=(rows, n)) * (RNG.random((rows, n)) > 0.2)  # some zero requests
    ptype = RNG.integers(1, 5, size=(rows, 1)) * np.ones((rows, n))  # one profile type per row
    priority = np.round(RNG.uniform(0, 5, size=(rows, n)))  # whole numbers: ties
    width = RNG.uniform(0.5, 3, size=(rows, n))
    supply = np.concatenate([[0.0, -1.0, 1e9, np.nan], RNG.uniform(0, 30, size=rows - 4)])
    return request, ptype, priority, width, supply


@pytest.mark.parametrize("n", [1, 4, 9])
def test_allocate_available_equals_numpys(n: int) -> None:
    request, ptype, priority, width, supply = _profiles(16, n)
    with np.errstate(all="ignore"):
        expected = functions.allocate_available(request, np.stack([ptype, priority, width], axis=-1), supply)
    actual = numba_arrays.allocate_available_rows(request.ravel(), ptype.ravel(), priority.ravel(),
                                                    width.ravel(), supply, n).reshape(request.shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert np.isfinite(actual[4:]).all() and (actual[0] == 0).all() and np.isnan(actual[1]).all()
    np.testing.assert_array_equal(actual[2], request[2])  # enough for every request


def test_allocate_edges_equal_numpys() -> None:
    # Every requester of a row of type 0 (rationed in proportion), a zero width and a negative
    # request (NaN), no request at all, a row of equal priorities, and huge widths.
    request = np.array([[200.0, 300.0, 0.0], [1.0, 2.0, 3.0], [1.0, -2.0, 3.0], [0.0, 0.0, 0.0],
                        [4.0, 4.0, 4.0], [5.0, 1.0, 2.0]])
    ptype = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0], [3.0, 3.0, 3.0],
                      [4.0, 4.0, 4.0]])
    priority = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [2.0, 2.0, 2.0],
                         [1.0, 2.0, 3.0]])
    width = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0],
                      [1e6, 1e6, 1e6]])
    supply = np.array([100.0, 2.0, 3.0, 5.0, 6.0, 4.0])
    with np.errstate(all="ignore"):
        expected = functions.allocate_profiles(request, ptype, priority, width, supply)
    actual = numba_arrays.allocate_rows(request.ravel(), ptype.ravel(), priority.ravel(), width.ravel(),
                                          supply, 3).reshape(request.shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(actual[0, :2], [40.0, 60.0], rtol=1e-15)  # Vensim's rationing
    # A zero width: NaN for that requester; a negative request: NaN for the row.
    assert np.isnan(actual[1, 1]) and not np.isnan(actual[1, 0]) and np.isnan(actual[2]).all()


def test_allocate_profiles_numpy_refuses_give_nan_rows() -> None:
    # numpy raises during the run; an exception cannot leave the compiled step loop, so the
    # row is NaN there (and the run reported as not finite), never a number.
    request, priority, width = np.ones((2, 2)), np.array([[1.0, 2.0], [1.0, 2.0]]), np.ones((2, 2))
    for ptype in (np.array([[7.0, 7.0], [1.0, 1.0]]), np.array([[0.0, 1.0], [1.0, 1.0]])):
        with pytest.raises(UnsupportedError):
            functions.allocate_profiles(request, ptype, priority, width, np.array([1.0, 1.0]))
        actual = numba_arrays.allocate_rows(request.ravel(), ptype.ravel(), priority.ravel(), width.ravel(),
                                              np.array([1.0, 1.0]), 2).reshape(2, 2)
        assert np.isnan(actual[0]).all()
        np.testing.assert_allclose(actual[1], functions.allocate_profiles(request[1:], ptype[1:], priority[1:],
                                                                         width[1:], np.array([1.0]))[0], rtol=1e-12)


def test_allocate_by_priority_equals_numpys() -> None:
    request, _, priority, _, supply = _profiles(12, 5)
    width = RNG.uniform(0.5, 3, size=12)
    with np.errstate(all="ignore"):
        expected = functions.allocate_by_priority(request, priority, width, supply)
    actual = numba_arrays.allocate_by_priority_rows(request.ravel(), priority.ravel(), width, supply,
                                                      5).reshape(request.shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


def _whole_arrays() -> Model:
    """A stock-and-flow model whose flows go through every whole-array function."""
    m = Model("whole arrays", final_time=6, dt=0.25)
    m.dimension("team", ["a", "b", "c", "d"])
    m.dimension("row", ["r1", "r2"])
    m.dimension("col", ["c1", "c2"])
    m.dimension("profile", ["ptype", "ppriority", "pwidth", "pextra"])
    m.constant("growth", [0.3, 0.1, 0.2, 0.25], dims=["team"])
    m.constant("supply share", 0.6)
    m.constant("profiles", [[3, 1, 1, 0], [3, 2, 1, 0], [3, 2, 2, 0], [3, 4, 1, 0]], dims=["team", "profile"])
    m.constant("matrix", [[4.0, 7.0], [2.0, 6.0]], dims=["row", "col"])
    m.constant("initial backlog", [5.0, 3.0, 8.0, 1.0], dims=["team"])
    m.stock("backlog", initial="initial_backlog", inflows=["arrivals"], outflows=["served"], dims=["team"])
    m.flow("arrivals", "backlog * growth + 1", dims=["team"])
    m.aux("supply", "sum(backlog) * supply_share")
    m.aux("by profile", "allocate_available(backlog, profiles, supply, 'profile')", dims=["team"])
    m.aux("by priority", "allocate_by_priority(backlog, vector_rank(backlog, 1), 4, 1.5, supply)", dims=["team"])
    m.aux("order", "vector_sort_order(backlog, 0)", dims=["team"])
    m.aux("sorted", "vector_reorder(backlog, order)", dims=["team"])
    m.aux("inverse", "invert_matrix(matrix * (1 + time / 10), 2)", dims=["row", "col"])
    m.flow("served", "(by_profile + by_priority) / 2 + sorted * 0.01 + inverse['r1', 'c1'] * 0.1", dims=["team"])
    return m


def test_a_model_of_whole_array_functions_runs_compiled_with_numpys_results() -> None:
    model = _whole_arrays().compile()
    assert refusal(model) is None and not is_exact(model)
    numba_kernel(model)
    for method in ("euler", "rk4"):
        expected = model.run(backend="numpy", method=method)
        actual = model.run(backend="numba", method=method)
        assert actual.attrs["status"] == expected.attrs["status"]
        assert_results_close(actual, expected, rtol=1e-12, atol=1e-12)
    # The functions work: a shortage is shared out, the sort order is a permutation.
    ds = model.run(backend="numba")
    np.testing.assert_allclose(ds["by profile"].sum("team"), ds["supply"], rtol=1e-12)
    assert (np.sort(ds["order"].values, axis=-1) == np.arange(4)).all()
    shares = {"supply share": np.linspace(0.2, 1.4, 5)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ensemble = assert_ensemble_matches_single_runs(model, shares, backend="numba")
    assert_results_close(ensemble, model.run(shares, backend="numpy"), rtol=1e-12, atol=1e-12)
