"""Shared test helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import TEST_MODELS


@pytest.fixture
def test_models() -> Path:
    if not TEST_MODELS.exists():
        pytest.skip("shared test-models not found next to the project")
    return TEST_MODELS


@pytest.fixture(autouse=True, scope="session")
def numba_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compiled (numba) kernels go to a folder of this session, not the user's cache: each model
    compiles once per session, and a session never reuses another's kernels."""
    folder = tmp_path_factory.mktemp("numba-cache")
    before = os.environ.get("SDFLOW_CACHE_DIR")
    os.environ["SDFLOW_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("SDFLOW_CACHE_DIR", None)
    else:
        os.environ["SDFLOW_CACHE_DIR"] = before


@pytest.fixture
def chosen_backends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The back ends that runs choose from here on (``"numba"``, ``"numpy"``, ...), in order."""
    import sd_engine.integrate as integrate

    chosen: list[str] = []
    real = integrate.choose_backend

    def spy(*args: object, **kwargs: object) -> str:
        chosen.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return chosen[-1]

    monkeypatch.setattr(integrate, "choose_backend", spy)
    return chosen
