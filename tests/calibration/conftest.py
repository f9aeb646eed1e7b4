"""Fixtures of the calibration tests; puts this folder's helper modules on the import path."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from calib_reference import flu_fit  # noqa: E402


@pytest.fixture(scope="session")
def flu_negbin():
    """The NB2 maximum-likelihood fit of the flu data (computed once)."""
    return flu_fit("negbin")
