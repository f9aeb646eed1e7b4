"""The sdflow model library: models written with the sd_engine builder, loadable by name.

>>> from models import available
>>> "teacup" in available()
True
"""

from __future__ import annotations

from sd_engine import library
from sd_engine.builder import Model

__all__ = ["available", "build", "describe"]

# The models are declared in pyproject.toml under the `sdflow.models` entry points; these
# functions are the library's own names for the engine's door to them (sd_engine.library).


def available() -> tuple[str, ...]:
    """Names of the library's models."""
    return library.available()


def build(name: str) -> Model:
    """A fresh builder for library model `name`; its ``source`` is the model's module."""
    return library.build(name)


def describe(name: str) -> str:
    """The first line of the model's documentation.

    >>> describe("whole system flow").split(":")[0]
    'Whole-system flow'
    """
    return library.describe(name)
