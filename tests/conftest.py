"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The shared conformance models (../shared/test-models from the project root).
TEST_MODELS = Path(__file__).resolve().parents[2] / "shared" / "test-models"


@pytest.fixture
def test_models() -> Path:
    if not TEST_MODELS.exists():
        pytest.skip("shared test-models not found next to the project")
    return TEST_MODELS
