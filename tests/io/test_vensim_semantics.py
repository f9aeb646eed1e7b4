"""Vensim's and Stella's semantics where a plain reading of the equations gives a different
answer: the order of a material delay shorter than its order in time steps, ...

Each is checked against the tool's own output (numbers quoted from the SDXorg test-models
canonical outputs) and an independent hand-written recurrence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import sd_engine as sd

MODELS = Path(__file__).parent / "models"


# -- DELAY N / DELAY3 with a delay shorter than order x TIME STEP ------------------------------
def material_delay(x: np.ndarray, delay: float, init: float, order: int, dt: float) -> np.ndarray:
    """A material delay of `order` stages integrated with Euler: the textbook chain, by hand."""
    stage_time = delay / order
    stages = np.full(order, init * stage_time)
    out = np.empty(len(x))
    for i, xi in enumerate(x):
        rates = stages / stage_time
        out[i] = rates[-1]
        inflows = np.concatenate(([xi], rates[:-1]))
        stages = stages + dt * (inflows - rates)
    return out


def test_delay_n_shorter_than_order_time_steps_lowers_the_order_as_vensim_does() -> None:
    ds = sd.load(MODELS / "delay_short.mdl").run(errors="raise")
    t = ds["time"].values
    x = -1 + 5.0 * (t >= 5)
    second = material_delay(x, 1.25, 6.0, 2, 0.5)
    # 3 x 0.5 > 1.25: Vensim integrates the second-order delay (its own output for this case,
    # test-models tests/delay_pipeline `Output Third order Delay`: 6, 6, 1.52, -0.272, -0.8096).
    np.testing.assert_allclose(ds["Third Order"].values[:5], [6, 6, 1.52, -0.272, -0.8096], rtol=1e-12)
    np.testing.assert_allclose(ds["Third Order"].values, second, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ds["Second Order"].values, second, rtol=1e-12, atol=1e-12)
    # DELAY3 keeps its third order (Vensim's output for DELAY3(Time, 2) with TIME STEP 1,
    # test-models tests/arguments, is the full chain).
    np.testing.assert_allclose(ds["Delay Three"].values, material_delay(x, 1.25, 6.0, 3, 0.5),
                               rtol=1e-12, atol=1e-12)
    # 3 x 0.5 = 1.5 is not shorter: the third order stays.
    np.testing.assert_allclose(ds["Long Third Order"].values, material_delay(x, 1.5, 6.0, 3, 0.5),
                               rtol=1e-12, atol=1e-12)
    # The full third order would oscillate (-6.1 at t = 1 before the fix).
    assert not np.allclose(material_delay(x, 1.25, 6.0, 3, 0.5), second)


def test_delay_order_follows_each_run_and_time_step() -> None:
    model = sd.load(MODELS / "delay_short.mdl")
    ens = model.run(params={"Short Delay": np.array([1.25, 1.5, 0.4])}, errors="raise")
    t = ens["time"].values
    x = -1 + 5.0 * (t >= 5)
    for run, (delay, order) in enumerate([(1.25, 2), (1.5, 3), (0.4, 1)]):
        expected = material_delay(x, delay, 6.0, order, 0.5)
        np.testing.assert_allclose(ens["Third Order"].isel(run=run).values, expected, rtol=1e-12, atol=1e-12)
    # A shorter TIME STEP keeps the full order: 3 x 0.25 <= 1.25.
    fine = model.run(dt=0.25, saveper=0.25, errors="raise")
    tf = fine["time"].values
    np.testing.assert_allclose(fine["Third Order"].values,
                               material_delay(-1 + 5.0 * (tf >= 5), 1.25, 6.0, 3, 0.25), rtol=1e-12, atol=1e-12)


# -- XMILE non-negative stocks ------------------------------------------------------------------
def test_flow_draining_two_stocks_keeps_its_value_and_each_non_negative_stock_stops_at_zero() -> None:
    ds = sd.load(MODELS / "shared_outflow.xmile").run(errors="raise")
    # `Drain` leaves both `Kept` (non-negative) and `Free`: it cannot be capped for one without
    # the other, so it stays 4 (test-models tests/non_negative_all: `OutFlow` 7 at t = 27 while
    # its stocks are empty) and only `Kept` stops at zero.
    np.testing.assert_array_equal(ds["Drain"].values, 4.0)
    np.testing.assert_array_equal(ds["Kept"].values, [10, 6, 2, 0, 0, 0, 0])
    np.testing.assert_array_equal(ds["Free"].values, [10, 6, 2, -2, -6, -10, -14])
    # A flow with one source stock is capped by what the stock holds, and reports the capped value
    # (Stella's rule, unchanged).
    np.testing.assert_array_equal(ds["Single"].values, [4, 4, 2, 0, 0, 0, 0])
    np.testing.assert_array_equal(ds["Alone"].values, [10, 6, 2, 0, 0, 0, 0])


# -- Stella's save interval -------------------------------------------------------------------
def test_xmile_save_interval_sets_the_saved_times_and_saveper() -> None:
    model = sd.load(MODELS / "save_interval.xmile")
    ds = model.run(errors="raise")
    # isee:save_interval="1" with dt 0.25: saved every month, integrated every quarter month.
    assert ds["time"].values.tolist() == [0, 1, 2, 3]
    assert model.spec.time.saveper == 1.0 and model.spec.time.dt == 0.25
    assert ds["SAVEPER"].item() == 1.0
    # Level = sum of dt * Time over the steps before t: 0.25^2 * (0 + 1 + ... + (4t - 1)).
    steps = np.arange(13)
    level = 0.0625 * steps * (steps - 1) / 2
    np.testing.assert_allclose(ds["Level"].values, level[::4], rtol=1e-12)


# -- control variables in the results --------------------------------------------------------
def test_time_step_is_saved_with_the_other_control_variables() -> None:
    from sd_engine.io.conformance import compare, read_canonical

    model = sd.load(MODELS / "decay.mdl")
    ds = model.run()
    # Vensim saves INITIAL TIME, FINAL TIME, SAVEPER and TIME STEP as series: a table with
    # them compares without filling TIME STEP from dt (compare is given no dt here).
    assert {"INITIAL TIME", "FINAL TIME", "SAVEPER", "TIME STEP"} <= set(ds.data_vars)
    assert ds["TIME STEP"].item() == model.spec.time.dt == 0.5
    # Remaining = 100 x 0.75^k after k steps of 0.5 (decay time 2), by hand.
    table = read_canonical(MODELS / "decay_controls.tab")
    worst, _ = compare(ds, table, None)
    assert worst < 1e-3  # the table holds ten significant digits
    # The value is the run's own step.
    assert model.run(dt=0.25)["TIME STEP"].item() == 0.25


def test_a_time_step_that_changes_is_saved_as_its_series(test_models: Path) -> None:
    from sd_engine.io.conformance import compare, read_canonical

    folder = test_models / "tests/control_vars"
    ds = sd.load(folder / "test_control_vars.mdl").run()
    # TIME STEP is given by an equation there (1, then 0.5): the result's TIME STEP is that series,
    # and Vensim's output compares with no dt to fill it from.
    np.testing.assert_array_equal(ds["TIME STEP"].values, ds["TIME STEP (equation)"].values)
    assert set(ds["TIME STEP"].values.tolist()) == {1.0, 0.5}
    assert compare(ds, read_canonical(folder / "output.tab"), None)[0] <= 1.0
