"""Every shared test model with a canonical output, run through the importer and compared.

One case per model file: every canonical column at every canonical time within
|a - e| <= 1e-5 + 1e-5 |e|. Files with defects of their own are in ``KNOWN_FAILURES``;
refusals must be :class:`UnsupportedError` naming the construct; models failing today
for the engine's own reasons are listed in ``ENGINE_GAPS`` and marked strict xfail.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from conftest import TEST_MODELS
from sd_engine.io.conformance import ENGINE_GAPS, KNOWN_FAILURES, find_cases, run_case

CASES = find_cases(TEST_MODELS) if TEST_MODELS.exists() else []


def _id(case: tuple[Path, Path]) -> str:
    return str(case[0].relative_to(TEST_MODELS))


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_model_matches_canonical_output(case: tuple[Path, Path]) -> None:
    label = _id(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about encodings and ignored sections
        result = run_case(case[0], case[1], TEST_MODELS)
    if label in KNOWN_FAILURES:
        assert result.status != "pass", f"{label} passes now; take it off KNOWN_FAILURES"
        return
    if label in ENGINE_GAPS:
        if result.status == "pass":
            pytest.fail(f"{label} passes now; take it off ENGINE_GAPS")
        pytest.xfail(ENGINE_GAPS[label])
    if result.status == "refused":
        # A clear refusal names a variable or the file, never a silent different answer.
        assert "`" in result.message
        pytest.xfail(f"refused: {result.message.splitlines()[0]}")
    assert result.status == "pass", f"{label}: {result.status} {result.max_error:.3g} {result.message}"


def test_the_sample_is_there_and_mostly_passes(test_models: Path) -> None:
    assert len(CASES) > 150
    listed = set(KNOWN_FAILURES) | set(ENGINE_GAPS)
    assert listed <= {_id(c) for c in CASES}, "a listed model is no longer in the sample"
    assert not set(KNOWN_FAILURES) & set(ENGINE_GAPS)
