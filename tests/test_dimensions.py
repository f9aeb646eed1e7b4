"""Subscripts: arrayed variables broadcast by dimension name, select elements, reduce."""

from __future__ import annotations

import numpy as np
import pytest

from sd_engine.builder import Model
from sd_engine.errors import DimensionError, SpecError, UnknownVariableError

POP0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # region x age
GROWTH = np.array([0.1, 0.2, 0.3])  # by age


def population_model() -> Model:
    m = Model("regions", final_time=4)
    m.dimension("region", ["north", "south"])
    m.dimension("age", ["young", "adult", "old"])
    m.constant("pop0", POP0, dims=("region", "age"))
    m.constant("growth", GROWTH, dims=("age",))
    m.constant("scale", [1.0, 10.0], dims=("region",))
    m.stock("pop", "pop0", inflows=["births"], dims=("region", "age"))
    m.flow("births", "pop * growth", dims=("region", "age"))
    m.aux("total", "sum(pop)")
    m.aux("by region", 'sum(pop, "age")', dims=("region",))
    m.aux("oldest", 'vmax(pop, "age")', dims=("region",))
    m.aux("north adults", 'pop["north", "adult"]')
    m.aux("old by region", 'pop[region, "old"]', dims=("region",))
    m.aux("transposed", "pop * 2", dims=("age", "region"))
    m.aux("outer", "scale * growth", dims=("age", "region"))
    m.aux("broadcast", "scale", dims=("region", "age"))
    return m


def test_arrayed_stock_grows_elementwise_with_broadcast_by_name() -> None:
    ds = population_model().run()
    steps = np.arange(5)[:, None, None]
    expected = POP0[None] * (1 + GROWTH[None, None, :]) ** steps  # exact Euler with dt = 1
    np.testing.assert_allclose(ds["pop"].values, expected, rtol=1e-14)
    assert ds["pop"].dims == ("time", "region", "age")
    assert list(ds["age"].values) == ["young", "adult", "old"]


def test_reductions_selection_and_transposition() -> None:
    ds = population_model().run()
    pop = ds["pop"].values
    np.testing.assert_allclose(ds["total"].values, pop.sum(axis=(1, 2)), rtol=1e-14)
    np.testing.assert_allclose(ds["by region"].values, pop.sum(axis=2), rtol=1e-14)
    np.testing.assert_allclose(ds["oldest"].values, pop.max(axis=2), rtol=1e-14)
    np.testing.assert_allclose(ds["north adults"].values, pop[:, 0, 1], rtol=1e-14)
    np.testing.assert_allclose(ds["old by region"].values, pop[:, :, 2], rtol=1e-14)
    assert ds["transposed"].dims == ("time", "age", "region")
    np.testing.assert_allclose(ds["transposed"].values, 2 * pop.transpose(0, 2, 1), rtol=1e-14)
    outer = np.array([1.0, 10.0])[None, :] * GROWTH[:, None]
    np.testing.assert_allclose(ds["outer"].values[0], outer, rtol=1e-14)
    np.testing.assert_allclose(ds["broadcast"].values[0], np.repeat([[1.0], [10.0]], 3, axis=1))


def test_arrayed_constant_varies_across_an_ensemble() -> None:
    model = population_model().compile()
    pops = np.stack([POP0, 2 * POP0])
    ds = model.run(params={"pop0": pops})
    assert ds["pop"].dims == ("run", "time", "region", "age")
    np.testing.assert_allclose(ds["pop"].isel(run=1).values, 2 * ds["pop"].isel(run=0).values, rtol=1e-14)
    single = model.run(params={"pop0": 2 * POP0})
    np.testing.assert_array_equal(ds["pop"].isel(run=1).values, single["pop"].values)


def test_equation_with_a_dimension_the_variable_lacks_is_refused() -> None:
    m = population_model()
    m.aux("bad", "pop * 2", dims=("region",))
    with pytest.raises(DimensionError, match=r"`bad` varies over dimension `age`.*sum\(\.\.\., \"age\"\)"):
        m.compile()


def test_unknown_element_and_wrong_subscript_count() -> None:
    m = population_model()
    m.aux("bad", 'pop["east", "old"]')
    with pytest.raises(DimensionError, match="`east` in `bad` is neither dimension `region`"):
        m.compile()
    m = population_model()
    m.aux("bad", 'pop["north"]')
    with pytest.raises(DimensionError, match="gives 1 subscript"):
        m.compile()


def test_reduction_over_missing_dimension() -> None:
    m = population_model()
    m.aux("bad", 'sum(growth, "region")')
    with pytest.raises(DimensionError, match="reduces over `region`"):
        m.compile()


def test_undeclared_dimension_and_wrong_value_count() -> None:
    m = Model("d")
    with pytest.raises(SpecError, match="Dimension `zone` is not declared"):
        m.constant("x", [1, 2], dims=("zone",))
    m.dimension("zone", ["a", "b"])
    with pytest.raises(SpecError, match=r"`x` has shape \(3,\) but its dimensions"):
        m.constant("x", [1, 2, 3], dims=("zone",))
    m2 = Model("d2")
    m2.aux("y", "1", dims=("nowhere",))
    with pytest.raises(SpecError, match="dimension `nowhere`, which the model does not define"):
        m2.spec()


def test_dimension_elements_are_validated() -> None:
    m = Model("d")
    with pytest.raises(SpecError, match="repeats an element"):
        m.dimension("zone", ["a", "a"])
    with pytest.raises(SpecError, match="has no elements"):
        m.dimension("zone", [])


def test_flow_dimensions_must_fit_the_stock() -> None:
    m = Model("d")
    m.dimension("zone", ["a", "b"])
    m.stock("s", 0, inflows=["f"])
    m.flow("f", "1", dims=("zone",))
    with pytest.raises(DimensionError, match="Flow `f` has dimensions"):
        m.compile()


def test_scalar_flow_fills_every_element_of_an_arrayed_stock() -> None:
    m = Model("d", final_time=2)
    m.dimension("zone", ["a", "b"])
    m.stock("s", 0, inflows=["f"], dims=("zone",))
    m.flow("f", "1")
    ds = m.run()
    np.testing.assert_array_equal(ds["s"].values, [[0, 0], [1, 1], [2, 2]])


def test_element_name_lookup_error_mentions_dimension() -> None:
    m = population_model()
    with pytest.raises(UnknownVariableError, match="not an element of dimension `age`"):
        m.spec().dimension("age").index("baby")


def test_stateful_call_inside_a_reduction_gets_an_actionable_message() -> None:
    m = population_model()
    m.aux("smoothed total", "sum(smooth(pop, 3))")
    with pytest.raises(DimensionError, match="A stateful function in the equation of `smoothed total`.*own auxiliary"):
        m.compile()
    m = population_model()
    m.aux("smoothed pop", "smooth(pop, 3)", dims=("region", "age"))
    m.aux("smoothed total", "sum(smoothed_pop)")
    ds = m.run()
    np.testing.assert_allclose(ds["smoothed total"].values[0], POP0.sum())
