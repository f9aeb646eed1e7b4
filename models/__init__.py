"""The sdflow model library: models written with the sd_engine builder, loadable by name.

>>> from models import available
>>> "teacup" in available()
True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from sd_engine.builder import Model
from sd_engine.errors import UnknownVariableError, did_you_mean

__all__ = ["available", "build", "describe"]

# name -> module; each module defines `build() -> Model` and documents the model.
_REGISTRY = {
    "teacup": "models.teacup",
    "sir": "models.sir",
}


def available() -> tuple[str, ...]:
    """Names of the library's models."""
    return tuple(sorted(_REGISTRY))


def _builder(name: str) -> Callable[[], Model]:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in _REGISTRY:
        raise UnknownVariableError(f"There is no library model `{name}`." + did_you_mean(key, _REGISTRY)
                                   + " List them with `sdflow models`.")
    return importlib.import_module(_REGISTRY[key]).build  # type: ignore[no-any-return]


def build(name: str) -> Model:
    """A fresh builder for library model `name`."""
    return _builder(name)()


def describe(name: str) -> str:
    """The first line of the model's documentation."""
    key = name.strip().lower()
    module = importlib.import_module(_REGISTRY[key])
    return (module.__doc__ or "").strip().splitlines()[0]
