"""Designs and sensitivity indices, checked on the Ishigami function (known indices)."""

from __future__ import annotations

import numpy as np
import pytest

from mc import Z, seed
from sd_engine.builder import Model
from sd_engine.errors import SpecError
from sd_engine.sensitivity import analyze, sample

PI = float(np.pi)
RANGES = {"x1": (-PI, PI), "x2": (-PI, PI), "x3": (-PI, PI)}


def ishigami() -> Model:
    # The Ishigami function as a model auxiliary, so the indices go through the engine's ensemble.
    m = Model("ishigami", final_time=0)
    for name in RANGES:
        m.constant(name, 0.0)
    m.aux("y", "sin(x1) + 7 * sin(x2) ** 2 + 0.1 * x3 ** 4 * sin(x1)")
    return m


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form first-order and total indices (Ishigami & Homma 1990; Sobol' & Levitan 1999)."""
    v1 = 0.5 * (1 + b * PI**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * PI**8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / var, np.array([v1 + v13, v2, v13]) / var


def test_sobol_indices_of_the_ishigami_function() -> None:
    design = sample(RANGES, 2048, method="sobol", seed=seed(3))
    assert design.n_runs == 2048 * 5
    ds = ishigami().compile().run(params=design.params)
    indices = analyze(design, ds["y"].isel(time=0), seed=seed(0))
    first, total = ishigami_indices()
    # SALib's `*_conf` is the bootstrap 95% half-width, 1.96 standard errors of the estimator:
    # each index must be within Z of those standard errors of its closed form (about 0.03-0.06).
    for key, exact in (("S1", first), ("ST", total)):
        se = indices[f"{key}_conf"].values / 1.96
        assert np.all(np.abs(indices[key].values - exact) < Z * se), (key, indices[key].values, exact, se)
    assert list(indices["parameter"].values) == ["x1", "x2", "x3"]


def test_morris_ranks_the_ishigami_inputs() -> None:
    # 3,000 trajectories: the x1-x3 gap (about 1.8) is then some 11 standard errors wide.
    design = sample(RANGES, 3000, method="morris", seed=seed(5))
    y = ishigami().compile().run(params=design.params)["y"].isel(time=0)
    indices = analyze(design, y, seed=seed(0))
    mu_star, se = indices["mu_star"].values, indices["mu_star_conf"].values / 1.96  # bootstrap 95%: 1.96 se
    # x3 matters only through its interaction with x1, x2 on its own: all clearly above zero, and
    # x3 below x1 by more than Z standard errors of their difference.
    assert np.all(mu_star > Z * se)
    assert mu_star[0] - mu_star[2] > Z * np.hypot(se[0], se[2])


@pytest.mark.parametrize("method", ["mc", "lhs"])
def test_designs_stay_in_range_and_lhs_stratifies(method: str) -> None:
    design = sample({"a": (2, 4), "b": (-1, 0)}, 100, method=method, seed=1)  # type: ignore[arg-type]
    a, b = design.params["a"], design.params["b"]
    assert design.n_runs == 100 and a.min() >= 2 and a.max() <= 4 and b.min() >= -1 and b.max() <= 0
    if method == "lhs":
        # One value in each of the 100 equal strata of each range.
        np.testing.assert_array_equal(np.sort(np.floor((a - 2) / 2 * 100)), np.arange(100))
    again = sample({"a": (2, 4), "b": (-1, 0)}, 100, method=method, seed=1)  # type: ignore[arg-type]
    np.testing.assert_array_equal(again.values, design.values)


def test_bad_designs_and_outcomes_are_refused() -> None:
    with pytest.raises(SpecError, match="range of `a` must have finite low < high"):
        sample({"a": (1, 1)}, 4)
    with pytest.raises(SpecError, match="power of two"):
        sample({"a": (0, 1)}, 100, method="sobol")
    with pytest.raises(SpecError, match="Unknown sampling method `grid`"):
        sample({"a": (0, 1)}, 4, method="grid")  # type: ignore[arg-type]
    design = sample({"a": (0, 1)}, 8, method="sobol")
    with pytest.raises(SpecError, match="one value per run"):
        analyze(design, np.zeros(3))
    with pytest.raises(SpecError, match="not finite in run 2"):
        analyze(design, np.where(np.arange(design.n_runs) == 2, np.nan, 1.0))
    with pytest.raises(SpecError, match="need a \"sobol\" or \"morris\" design"):
        analyze(sample({"a": (0, 1)}, 8, method="lhs"), np.zeros(8))
