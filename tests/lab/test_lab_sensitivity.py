"""Sensitivity of the whole-system outcomes: Morris on the real model against its structure."""

from __future__ import annotations

import numpy as np
import pytest

from models.scenarios import load
from sd_engine.errors import SpecError
from sd_engine.lab.analysis import sensitivity


def test_morris_on_the_whole_system_model_follows_its_structure() -> None:
    res = sensitivity("whole_system_flow", load("baseline"),
                      {"nurse cost": (120.0, 160.0), "active LoS": (5.6, 6.4)}, 4, method="morris",
                      final_time=60, saveper=10)
    mu, sigma = res.indices["mu_star"], res.indices["sigma"]
    assert res.design.n_runs == 4 * 3 and res.indices.sizes["metric"] == 14
    # Nurse pay is only an accounting term (no feedback from the finances at the default
    # deficit response of 0): against length of stay its effect on flow is negligible...
    for metric in ("four_hour", "occupancy", "delayed_days", "leaver_rate"):
        los = float(mu.sel(metric=metric, parameter="active LoS"))
        assert los > 0 and float(mu.sel(metric=metric, parameter="nurse cost")) < 1e-5 * los, metric
    # ...while length of stay moves occupancy.
    assert float(mu.sel(metric="occupancy", parameter="active LoS")) > 0
    # Cost per head is nurse pay times the nurses paid plus other costs: its elementary effects
    # differ only as the nurses paid change with length of stay, little over 60 days.
    m = float(mu.sel(metric="cost_per_head", parameter="nurse cost"))
    s = float(sigma.sel(metric="cost_per_head", parameter="nurse cost"))
    assert m > 0 and s < 1e-3 * m
    # The analysis used the experiment's own outcome values.
    outcome = res.results["outcome"].isel(scenario=0).sel(metric="occupancy").values
    assert np.all(np.isfinite(outcome)) and outcome.shape == (12,)


def test_sensitivity_refuses_other_methods() -> None:
    with pytest.raises(SpecError, match="\"morris\" or \"sobol\""):
        sensitivity("whole_system_flow", load("baseline"), {"a1": (0.2, 0.3)}, 4, method="lhs")  # type: ignore[arg-type]
