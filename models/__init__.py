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
    "two_stage_delayed_discharge": "models.two_stage_delayed_discharge",
    "acute_flow_coping": "models.acute_flow_coping",
    "nurse_workforce_burnout": "models.nurse_workforce_burnout",
    "capability_trap_savings_vs_redesign": "models.capability_trap_savings_vs_redesign",
    "trust_collaboration_two_agencies": "models.trust_collaboration_two_agencies",
    "interruptions_tipping_point": "models.interruptions_tipping_point",
    "ageing_chain_demand": "models.ageing_chain_demand",
    "whole_system_flow": "models.whole_system_flow",
    "delayed_transfers_of_care": "models.delayed_transfers_of_care",
    "ae_attendances": "models.ae_attendances",
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
    """A fresh builder for library model `name`; its ``source`` is the model's module."""
    builder = _builder(name)
    model = builder()
    model.source = builder.__module__
    return model


def describe(name: str) -> str:
    """The first line of the model's documentation.

    >>> describe("whole system flow").split(":")[0]
    'Whole-system flow'
    """
    module = importlib.import_module(_builder(name).__module__)
    return (module.__doc__ or "").strip().splitlines()[0]
