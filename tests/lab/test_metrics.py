"""Outcome metrics: statistics checked by hand, the registry, and the whole-system profile's names."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import sd_engine as sd
from sd_engine.errors import SpecError, UnknownVariableError
from sd_engine.lab import LabProfile, Metric, compute_metrics, find_profile, get_profile, register_profile
from sd_engine.lab.metrics import PROFILES

TIMES = np.arange(0.0, 731.0, 73.0)  # 0 .. 730, eleven points


def ramp() -> xr.Dataset:
    # x(t) = t in run 0, 2t in run 1: every statistic has a closed form.
    x = np.stack([TIMES, 2 * TIMES])
    return xr.Dataset({"x": (("run", "time"), x)}, coords={"time": TIMES})


@pytest.mark.parametrize("statistic,window,expected", [
    ("final", 0.0, 730.0),
    ("mean", 0.0, 365.0),
    ("max", 0.0, 730.0),
    ("total", 0.0, 730.0 ** 2 / 2),          # trapezoid is exact for a straight line
    ("window_mean", 365.0, (438 + 511 + 584 + 657 + 730) / 5),  # the last year: five points, end included
])
def test_statistics_have_their_closed_forms(statistic: str, window: float, expected: float) -> None:
    m = Metric("k", "K", "x", statistic, "u", "demo", "lower", window=window)  # type: ignore[arg-type]
    np.testing.assert_allclose(m.compute(ramp()).values, [expected, 2 * expected])


def test_scale_and_attributes() -> None:
    m = Metric("pct", "Share", "x", "final", "%", "demo", "higher", scale=100)
    out = m.compute(ramp())
    assert out.values.tolist() == [73000.0, 146000.0]
    assert out.attrs == {"label": "Share", "units": "%", "aim": "demo", "better": "higher"}


def test_metric_errors() -> None:
    with pytest.raises(SpecError, match="unknown statistic `median`"):
        Metric("k", "K", "x", "median", "u", "a", "lower")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="`better` must be"):
        Metric("k", "K", "x", "final", "u", "a", "smaller")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="needs a positive `window`"):
        Metric("k", "K", "x", "window_mean", "u", "a", "lower")
    with pytest.raises(UnknownVariableError, match="reads `y`, which the results do not hold"):
        Metric("k", "K", "y", "final", "u", "a", "lower").compute(ramp())
    with pytest.raises(SpecError, match="defines a metric key twice"):
        LabProfile("m", (Metric("k", "K", "x", "final", "u", "a", "lower"),) * 2)


def test_registry() -> None:
    profile = LabProfile("my model", (Metric("end", "End", "x", "final", "u", "a", "lower"),))
    try:
        register_profile(profile)
        assert get_profile("My Model") is profile
        out = compute_metrics(ramp(), profile)
        assert out.dims == ("metric", "run") and out["metric_label"].values.tolist() == ["End"]
    finally:
        PROFILES.pop("my_model", None)
    assert find_profile("my model") is None
    with pytest.raises(UnknownVariableError, match="has no lab profile"):
        get_profile("teacup")


def test_whole_system_profile_reads_variables_of_the_model() -> None:
    """Every metric, fan variable and uncertain parameter names something the model has."""
    model = sd.load("whole_system_flow")
    profile = get_profile("whole_system_flow")
    aims = {m.aim for m in profile.metrics}
    assert {"waits", "delays", "unmet need", "cost", "staff"} <= aims
    for m in profile.metrics:
        assert model.resolve(m.variable).kind in ("stock", "aux", "flow"), m.key
    for v in profile.fan_variables:
        model.resolve(v)
    for name, (low, high) in profile.uncertainty.items():
        var = model.resolve(name)
        assert var.canonical in model.parameters, name
        default = float(var.equation.value)  # type: ignore[union-attr]
        assert low < default < high, name   # the ranges are around the model's own values
    # The year window holds whole years of the saved interval.
    assert 5475 % profile.saveper == 0 and 365 % profile.saveper == 0
