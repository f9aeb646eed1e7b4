"""Stock initial values as parameters (sd_engine.initial)."""

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.builder import Model
from sd_engine.initial import with_initial_parameters


def test_default_run_is_unchanged_and_overrides_follow_the_euler_solution():
    model = sd.load("teacup")
    warm = with_initial_parameters(model, ["teacup_temperature"])
    np.testing.assert_array_equal(warm.run()["Teacup Temperature"], model.run()["Teacup Temperature"])
    # Euler on dT/dt = -(T - room) / tau: T_n - room = (T_0 - room) (1 - dt/tau)^n, per run.
    t0 = np.array([90.0, 120.0, 180.0])
    ds = warm.run(params={"initial Teacup Temperature": t0}, final_time=4, saveper=1)
    steps = np.arange(5) / 0.125
    expected = 70 + (t0[:, None] - 70) * (1 - 0.125 / 10) ** steps[None, :]
    np.testing.assert_allclose(ds["Teacup Temperature"].values, expected, rtol=1e-12)
    assert ds["initial Teacup Temperature"].attrs["kind"] == "constant"


def test_dependent_initial_equations_and_arrays():
    m = Model("chain", final_time=4)
    m.dimension("region", ["north", "south"])
    m.constant("k", [1.0, 2.0], dims=["region"])
    m.stock("s", initial="k * 10", dims=["region"], outflows=["out"])
    m.flow("out", "s / 2", dims=["region"])
    # A smooth of the stock starts from the stock's initial value: it must follow the override.
    m.aux("smoothed", "smooth(s, 3)", dims=["region"])
    model = with_initial_parameters(m.compile(), ["s"])
    ds = model.run(params={"initial s": np.array([[4.0, 6.0]])}).isel(run=0)  # one run
    np.testing.assert_array_equal(ds["s"].isel(time=0).values, [4.0, 6.0])
    np.testing.assert_array_equal(ds["smoothed"].isel(time=0).values, [4.0, 6.0])
    # s halves each unit step under Euler with dt = 1.
    np.testing.assert_allclose(ds["s"].values[-1], np.array([4.0, 6.0]) * 0.5 ** 4)


def test_refusals_name_the_variable():
    model = sd.load("teacup")
    with pytest.raises(sd.SpecError, match="`Characteristic Time` is a constant, not a stock"):
        with_initial_parameters(model, ["Characteristic Time"])
    with pytest.raises(sd.UnknownVariableError, match="Teacup Temperatur"):
        with_initial_parameters(model, ["Teacup Temperatur"])
    twice = with_initial_parameters(model, ["Teacup Temperature"])
    with pytest.raises(sd.SpecError, match="already has a variable `initial Teacup Temperature`"):
        with_initial_parameters(twice, ["Teacup Temperature"])
