"""The one door to model libraries: models registered under the ``sdflow.models`` entry points.

A model library is any installed package that declares its models in its metadata, as sdflow's
own ``models`` package does in ``pyproject.toml``::

    [project.entry-points."sdflow.models"]
    teacup = "models.teacup"

Each entry point names a module with a ``build()`` function returning a builder
(:class:`sd_engine.builder.Model`), documented by the module's docstring. A module may carry
data that travels with its model: ``LOOPS`` (loop names, read by :mod:`sd_engine.loops`) and
``LAB_PROFILE`` (the policy lab's metrics and levers). The engine reaches library models only
through this module, so it never imports a library package itself (as commands come in through
``sdflow.commands`` and xarray's back ends through ``xarray.backends``).

>>> from sd_engine import library
>>> "teacup" in library.available()
True
>>> library.describe("teacup").split(":")[0]
'Teacup'
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .errors import UnknownVariableError, did_you_mean

if TYPE_CHECKING:
    from .builder import Model

__all__ = ["GROUP", "available", "key", "module", "build", "describe", "attribute", "attribute_of_source"]

GROUP = "sdflow.models"


def key(name: str) -> str:
    """The library key of a model name: ``"Whole system flow"`` -> ``"whole_system_flow"``."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


@functools.cache
def _registry() -> dict[str, EntryPoint]:
    # Read once per process: installed metadata does not change while it runs.
    return {key(ep.name): ep for ep in entry_points(group=GROUP)}


def available() -> tuple[str, ...]:
    """Names of the installed library models, sorted."""
    return tuple(sorted(_registry()))


def module(name: str) -> ModuleType:
    """The module that defines library model `name`.

    Raises
    ------
    UnknownVariableError
        No installed library declares `name`; the message gives the closest names.
    """
    entry = _registry().get(key(name))
    if entry is None:
        raise UnknownVariableError(f"There is no library model `{name}`." + did_you_mean(key(name), _registry())
                                   + " List them with `sdflow models`.")
    return importlib.import_module(entry.value)


def build(name: str) -> Model:
    """A fresh builder for library model `name`; its ``source`` records the model's module."""
    mod = module(name)
    builder: Model = mod.build()
    builder.source = mod.__name__
    return builder


def describe(name: str) -> str:
    """The first line of the model's documentation."""
    return (module(name).__doc__ or "").strip().splitlines()[0]


def attribute(name: str, attr: str, default: Any = None) -> Any:
    """Data that travels with library model `name` (``LOOPS``, ``LAB_PROFILE``...), or `default`."""
    return getattr(module(name), attr, default)


def attribute_of_source(source: str, attr: str, default: Any = None) -> Any:
    """`attr` of the library module a spec was built from (``ModelSpec.source``), or `default`.

    Only modules registered as library models are imported: a spec's source is text, and a
    model file's spec records a file path there, never a module to run.
    """
    for entry in _registry().values():
        if entry.value == source:
            return getattr(importlib.import_module(entry.value), attr, default)
    return default
