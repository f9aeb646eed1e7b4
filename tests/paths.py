"""Paths the tests share (importable from any test folder: `tests` is on the path)."""

from pathlib import Path

#: The shared conformance models (../shared/test-models from the project root).
TEST_MODELS = Path(__file__).resolve().parents[2] / "shared" / "test-models"
#: The shared data sets (../shared/data from the project root).
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
