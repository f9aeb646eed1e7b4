"""Every shared test model with a canonical output, run through the importer and compared.

One case per model file: every canonical column at every canonical time within
|a - e| <= 1e-5 + 1e-5 |e|, or the wider tolerance ``TOLERANCES`` documents for a file.
Files with defects of their own are in ``KNOWN_FAILURES``;
refusals must be :class:`UnsupportedError` naming the construct (reported as expected
failures, so the count of what is not yet supported stays visible); everything else must pass.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import UnsupportedError
from paths import TEST_MODELS
from sd_engine.expr import canonical
from sd_engine.io.conformance import DEFECT_EVIDENCE, KNOWN_FAILURES, TOLERANCES, compare, find_cases, read_canonical, run_case

CASES = find_cases(TEST_MODELS) if TEST_MODELS.exists() else []


def _id(case: tuple[Path, Path]) -> str:
    return str(case[0].relative_to(TEST_MODELS))


@pytest.mark.slow  # the whole corpus, about 20 s; CI runs it
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_model_matches_canonical_output(case: tuple[Path, Path]) -> None:
    label = _id(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about encodings and ignored sections
        result = run_case(case[0], case[1], TEST_MODELS)
    if label in KNOWN_FAILURES:
        assert result.status != "pass", f"{label} passes now; take it off KNOWN_FAILURES"
        return
    if result.status == "refused":
        # A clear refusal names a variable or the file, never a silent different answer.
        assert "`" in result.message
        pytest.xfail(f"refused: {result.message.splitlines()[0]}")
    assert result.status == "pass", f"{label}: {result.status} {result.max_error:.3g} {result.message}"


def test_the_sample_is_there_and_mostly_passes(test_models: Path) -> None:
    assert len(CASES) > 150
    # Entries beyond the sample name files of the whole SDXorg tree; each states what proves its
    # defect, which `sdflow conformance` checks in the file whenever it runs it.
    beyond = set(KNOWN_FAILURES) - {_id(c) for c in CASES}
    assert beyond <= set(DEFECT_EVIDENCE), "a listed model is neither in the sample nor checked by its defect"
    assert set(TOLERANCES) <= {_id(c) for c in CASES}, "a listed model is no longer in the sample"
    assert not set(TOLERANCES) & set(KNOWN_FAILURES)
    assert all(reason and atol <= 1e-4 and rtol <= 1e-4 for atol, rtol, reason in TOLERANCES.values())


# -- evidence for the reasons in KNOWN_FAILURES -------------------------------------------------
def _quiet_load(path: Path) -> sd.CompiledModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sd.load(path)


def test_active_initial_xmile_matches_its_stella_output(test_models: Path) -> None:
    folder = test_models / "tests/active_initial"
    for name in ("test_active_initial.xmile", "test_active_initial.stmx"):
        model = _quiet_load(folder / name)
        error, where = compare(model.run(), read_canonical(folder / "output_stella.csv"), model.spec.time.dt)
        assert error <= 1.0, (name, where)


def test_smooth_and_stock_xmile_matches_its_own_columns(test_models: Path) -> None:
    folder = test_models / "tests/smooth_and_stock"
    expected = read_canonical(folder / "output.tab")
    model = _quiet_load(folder / "test_smooth_and_stock.xmile")
    own = [c for c in expected.columns if canonical(c) in {canonical(str(v)) for v in model.run().data_vars}
           or canonical(c) == "time_step"]
    assert {"Input", "Smoothed Input"} <= set(expected.columns) - set(own)
    error, where = compare(model.run(), expected[own], model.spec.time.dt)
    assert error <= 1.0, where


def test_zeroled_decimals_xmile_matches_with_euler(test_models: Path) -> None:
    folder = test_models / "tests/zeroled_decimals"
    model = _quiet_load(folder / "test_zeroled_decimals.xmile")
    assert model.spec.time.method == "rk4"
    expected = read_canonical(folder / "output.tab")
    assert compare(model.run(), expected, 1.0)[0] > 1.0
    assert compare(model.run(method="euler"), expected, 1.0)[0] <= 1.0


def test_query_file_random_draws_within_bounds(test_models: Path) -> None:
    model = _quiet_load(test_models / "samples/Query_file/Query_file.mdl")
    draws = model.run()["kWhPerStovePerDay"].values
    assert draws.min() >= 0.23 and draws.max() <= 0.53
    assert draws.std() > 0.05  # a fresh draw each step, as Vensim's RANDOM UNIFORM


def test_roessler_error_grows_from_round_off(test_models: Path) -> None:
    folder = test_models / "samples/Roessler_Chaos"
    model = _quiet_load(folder / "roessler_chaos.mdl")
    ds = model.run()
    expected = read_canonical(folder / "output.tab")
    early = expected[expected.index <= 30]
    assert compare(ds, early, model.spec.time.dt)[0] <= 1.0  # identical to print precision at first
    times = ds["time"].values
    rows = np.abs(times[None, :] - expected.index.values[:, None]).argmin(axis=1)
    error = np.abs(ds["x"].values[rows] - expected["x"].values)
    windows = [error[(expected.index >= t0) & (expected.index < t0 + 10)].max() for t0 in range(0, 100, 10)]
    rate = np.polyfit(np.arange(5, 100, 10), np.log(windows), 1)[0]
    # Growth at the Rössler attractor's largest Lyapunov exponent (about 0.07), not a jump.
    assert 0.03 < rate < 0.12
    # Our own run, perturbed by one part in 1e9, separates at the same rate.
    nudged = model.run(params={"a": 0.2 * (1 + 1e-9)})
    spread = np.abs(nudged["x"].values - ds["x"].values)
    spread_windows = [spread[(times >= t0) & (times < t0 + 10)].max() for t0 in range(20, 100, 10)]
    own_rate = np.polyfit(np.arange(25, 100, 10), np.log(spread_windows), 1)[0]
    assert abs(own_rate - rate) < 0.05


def test_get_time_value_output_belongs_to_the_simple_model(test_models: Path) -> None:
    folder = test_models / "tests/get_time_value"
    expected = read_canonical(folder / "output.tab")
    names = {canonical(c.split("[")[0]) for c in expected.columns}
    assert names - {"initial_time", "final_time", "time_step", "saveper"} == {"get_time_0_dim_0"}
    simple = _quiet_load(folder / "test_get_time_value_simple.mdl")
    assert compare(simple.run(), expected, simple.spec.time.dt)[0] <= 1.0
    with pytest.raises(UnsupportedError, match=r"GET TIME VALUE in `get time 1 dim 0` is relative to the initial"):
        _quiet_load(folder / "test_get_time_value.mdl")
