"""The remaining error messages of observations, inputs and fits: one test each."""

import numpy as np
import pandas as pd
import pytest

import calibration as cal
from calibration import CalibrationError, DataError, Observe, make_observations
from calibration.csvdata import read_csv_data
from calibration.examples import flu
from calibration.inputs import apply_inputs
from calibration.observations import as_observe_list, period_step
from sd_engine.builder import Model


def spec():
    m = Model("m", time_units="day", final_time=100)
    m.constant("rate", 10.0)
    m.stock("Count", initial=0, inflows=["arrivals"])
    m.flow("arrivals", "rate")
    return m.spec()


def test_observe_settings():
    with pytest.raises(CalibrationError, match="needs the name of its data column"):
        Observe("")
    with pytest.raises(CalibrationError, match="frequency of column `x` must be a positive period"):
        Observe("x", frequency=0)
    with pytest.raises(CalibrationError, match="`label` must be \"start\" or \"end\""):
        make_observations(flu.build().spec(), flu.data(), {"Infected": "in_bed"}, label="middle")  # type: ignore


def test_observe_argument_forms():
    with pytest.raises(CalibrationError, match="listed under `Infected` but its Observe names `Recovered`"):
        as_observe_list({"Infected": Observe("in_bed", variable="Recovered")})
    with pytest.raises(CalibrationError, match=r"`observe\['Infected'\]` must be a column name"):
        as_observe_list({"Infected": 3})
    with pytest.raises(CalibrationError, match="must hold calibration.Observe items"):
        as_observe_list(["in_bed"])
    with pytest.raises(CalibrationError, match="must map model variables to columns"):
        as_observe_list(3)
    assert as_observe_list(Observe("in_bed", variable="Infected"))[0].column == "in_bed"


def test_periods_that_cannot_be_inferred():
    frame = pd.DataFrame({"c": [1.0, 1.0]}, index=pd.DatetimeIndex(["2016-01-01 00:00", "2016-01-02 12:00"]))
    with pytest.raises(DataError, match="not whole days apart"):
        make_observations(spec(), frame, {"arrivals": "c"}, origin="2016-01-01")
    numbers = pd.DataFrame({"c": [1.0]}, index=pd.Index([3.0], name="t"))
    with pytest.raises(DataError, match=r"single value.*a number of model time units"):
        make_observations(spec(), numbers, {"arrivals": "c"})
    with pytest.raises(CalibrationError, match="not a regular calendar period"):
        period_step("B")


def test_mixed_time_column(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("period,c\n2016-01-01,1\n3,2\n")
    with pytest.raises(DataError, match="mixes dates and numbers|neither a date"):
        read_csv_data(path)


def test_input_series_errors():
    with pytest.raises(CalibrationError, match="indexed by dates; give the calibration's `origin`"):
        apply_inputs(spec(), {"rate": pd.Series([1.0, 2.0], index=pd.to_datetime(["2016-01-01", "2016-02-01"]))})
    with pytest.raises(CalibrationError, match="needs finite values at distinct times"):
        apply_inputs(spec(), {"rate": pd.Series([1.0, 2.0], index=[5.0, 5.0])})
    with pytest.raises(CalibrationError, match="must be finite"):
        apply_inputs(spec(), {"rate": float("inf")})
    out = apply_inputs(spec(), {"rate": 3.0})
    assert out["rate"].equation.value == 3.0  # type: ignore[union-attr]


def test_information_option():
    with pytest.raises(CalibrationError, match="`information` must be \"expected\" or \"observed\""):
        cal.fit(flu.build(), flu.data(), {"beta": (0.1, 5)}, {"Infected": "in_bed"}, "poisson",
                information="fisher")  # type: ignore[arg-type]
    observed = cal.fit(flu.build(), flu.data(), {"beta": (0.1, 5), "gamma": (0.05, 2)}, {"Infected": "in_bed"},
                       "poisson", information="observed")
    expected = cal.fit(flu.build(), flu.data(), {"beta": (0.1, 5), "gamma": (0.05, 2)}, {"Infected": "in_bed"},
                       "poisson")
    # the same maximum; the two curvatures differ by the model's misfit but agree in size
    assert observed.params["beta"] == pytest.approx(expected.params["beta"], rel=1e-6)
    ratio = observed.ci["se"].astype(float).to_numpy() / expected.ci["se"].astype(float).to_numpy()
    assert np.all((ratio > 0.5) & (ratio < 2)), ratio
