"""The units consistency check (sd_engine.units): the library passes, and errors name both sides."""

from __future__ import annotations

import pytest

import sd_engine as sd
from models import available, build
from sd_engine.errors import SDError
from sd_engine.units import UnitError, assert_units, check_units, parse_units


@pytest.mark.parametrize("name", available())
def test_every_library_model_has_consistent_units_on_every_variable(name):
    report = check_units(build(name), require_units=True)
    assert report.ok, str(report)
    assert not report.missing
    assert len(report.checked) == len([v for v in build(name).spec().variables if not v.internal])


def test_unit_strings():
    assert parse_units("Persons/Persons/Day") == parse_units("1/day")
    from sd_engine.units import registry

    one = registry().Quantity(1, parse_units("bed") / parse_units("person")).to_base_units()
    assert one.dimensionless and one.magnitude == 1  # a bed holds one person
    assert parse_units("") == parse_units("dimensionless") == parse_units("Dmnl")
    assert str(parse_units("GBP/bed/day")) == "GBP / bed / day"
    assert parse_units("Degrees Fahrenheit/Minute") == parse_units("degrees_fahrenheit") / parse_units("minute")
    y = (1 * parse_units("year")).to("day")
    assert y.magnitude == 365  # the models' calendar


def test_unreadable_units_are_a_clear_error():
    with pytest.raises(UnitError, match="Cannot read the units `persns/dya`"):
        parse_units("persns/dya")
    assert issubclass(UnitError, SDError) and issubclass(UnitError, ValueError)


def _model():
    m = sd.Model("beds", time_units="day", final_time=5)
    m.constant("los", 5, units="day")
    m.constant("per year", 0.1, units="1/year")
    m.stock("patients", initial=100, inflows=["arrivals"], outflows=["discharges"], units="person")
    m.flow("arrivals", 20, units="person/day")
    return m


def test_an_equation_that_gives_other_units_names_both_sides_and_the_variable():
    m = _model()
    m.flow("discharges", "patients * los", units="person/day")
    report = check_units(m)
    assert not report.ok
    (problem,) = report.problems
    assert problem.variable == "discharges"
    assert "`patients * los` gives `day * person`" in problem.message
    assert "declares `person / day`" in problem.message
    with pytest.raises(UnitError, match="Units of `discharges` do not match"):
        assert_units(m)


def test_a_sum_of_different_units_names_both_terms():
    m = _model()
    m.flow("discharges", "patients / los + los", units="person/day")
    (problem,) = check_units(m).problems
    assert "combines `person / day` with `day`" in problem.message
    assert "`discharges`" in problem.message


def test_a_year_rate_in_a_day_model_is_an_error():
    """1/year and 1/day have the same dimension, but the engine does not convert: a factor of 365."""
    m = _model()
    m.flow("discharges", "patients * per_year", units="person/day")
    (problem,) = check_units(m).problems
    assert "gives `person / year`" in problem.message


def test_a_flow_in_the_wrong_units_for_its_stock_names_the_stock_and_the_flow():
    m = _model()
    m.flow("discharges", "patients / los / los", units="person/day/day")
    messages = [p.message for p in check_units(m).problems]
    assert any("stock `patients` (`person`) do not match its flow `discharges` (`person / day ** 2`)" in msg
               for msg in messages)


def test_missing_units_are_reported_when_required():
    m = _model()
    m.flow("discharges", "patients / los")
    assert check_units(m).ok
    report = check_units(m, require_units=True)
    assert [p.variable for p in report.problems] == ["discharges"]
    assert "has no units" in report.problems[0].message


def test_numbers_adopt_units_and_time_functions_need_time():
    m = _model()
    m.flow("discharges", "max(0, patients - 10) / los + step(1, 3) * 0", units="person/day")
    assert check_units(m).ok
    m2 = _model()
    m2.flow("discharges", "patients / los * step(1, per_year)", units="person/day")
    (problem,) = check_units(m2).problems
    assert "step(1, per_year)" in problem.message
