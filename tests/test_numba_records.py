"""A call's record reused by a later call once its results are dropped (``results.empty_record``),
never while anything holds them: results checked against Euler's closed form."""

from __future__ import annotations

import gc
from typing import Literal

import numpy as np
import pytest

from sd_engine import results
from sd_engine.builder import Model
from sd_engine.results import SPARE_MIN_BYTES, empty_record

pytest.importorskip("numba")

STEPS = 300  # 1,000 runs x 301 saved times x 2 series x 8 B = 4.8 MB: a record kept for reuse


def _decay() -> Model:
    model = Model("decay", final_time=STEPS, dt=1)
    model.constant("rate", 0.01)
    model.stock("x", initial=100, outflows=["loss"])
    model.flow("loss", "x * rate")
    return model


def _expected(rates: np.ndarray) -> np.ndarray:
    # Euler's x_{k+1} = x_k - dt * x_k * rate, in closed form: x_k = 100 (1 - rate)^k.
    return 100.0 * (1.0 - rates[:, None]) ** np.arange(STEPS + 1)[None, :]


def test_a_spare_record_is_handed_out_only_when_nothing_holds_it() -> None:
    shape = (2, 512, 1024)
    assert 8 * np.prod(shape) >= SPARE_MIN_BYTES
    first = empty_record(shape)
    view = first.transpose(2, 1, 0)
    del first
    second = empty_record(shape)
    assert view.base is not second  # a view keeps the record its own
    del view
    address = second.__array_interface__["data"][0]
    del second
    gc.collect()
    third = empty_record(shape)
    assert third.__array_interface__["data"][0] == address  # nothing holds it: the same memory again
    assert empty_record((2, 512, 1025)).shape == (2, 512, 1025)  # another shape: a new one
    del third
    assert results._SPARE[0].shape == (2, 512, 1025)  # at most one kept: the last


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_calls_with_other_params_runs_and_outputs_get_their_own_numbers(backend: Literal["numba", "numpy"]) -> None:
    model = _decay().compile()
    a = np.linspace(0.005, 0.02, 1000)
    b = np.linspace(0.03, 0.001, 1000)
    held = model.run({"rate": a}, backend=backend)
    kept = held["x"].values.copy()
    np.testing.assert_allclose(kept, _expected(a), rtol=1e-12)
    # A second call while the first is held: the first's numbers stay.
    other = model.run({"rate": b}, backend=backend)
    np.testing.assert_allclose(other["x"].values, _expected(b), rtol=1e-12)
    np.testing.assert_array_equal(held["x"].values, kept)
    del other
    gc.collect()
    # The second's record is free now: the next call of that shape may reuse it, and writes all of it.
    again = model.run({"rate": a}, backend=backend)
    np.testing.assert_array_equal(again["x"].values, kept)
    np.testing.assert_allclose(again["loss"].values, _expected(a) * a[:, None], rtol=1e-12)
    np.testing.assert_array_equal(held["x"].values, kept)
    del again
    gc.collect()
    # Other runs, another saving interval, fewer series kept: the right shapes and numbers.
    fewer = model.run({"rate": b[:700]}, backend=backend, saveper=2, variables=["x"])
    assert fewer["x"].shape == (700, STEPS // 2 + 1)
    np.testing.assert_allclose(fewer["x"].values, _expected(b[:700])[:, ::2], rtol=1e-12)
    np.testing.assert_array_equal(held["x"].values, kept)
