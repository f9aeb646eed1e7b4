"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import TEST_MODELS


@pytest.fixture
def test_models() -> Path:
    if not TEST_MODELS.exists():
        pytest.skip("shared test-models not found next to the project")
    return TEST_MODELS
