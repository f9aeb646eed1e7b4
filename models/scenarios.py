"""The scenarios shipped with the model library, and the scenario machinery under its old names.

Scenario files live in ``models/scenarios/`` and belong to the whole-system flow model (its
``SCENARIO_DIR``); they load by name. What a scenario is and how it applies to a model is the
engine's (:mod:`sd_engine.scenario`), re-exported here so ``from models.scenarios import
Scenario, load`` keeps working.

Examples
--------
>>> load("savings_programme").params["savings rate"]
0.03
>>> "baseline" in available()
True
"""

from __future__ import annotations

from pathlib import Path

from sd_engine.scenario import Scenario, apply, compose, dumps, loads, run, save
from sd_engine.scenario import load as _load_file
from sd_engine.scenario import shipped

from .whole_system_flow import SCENARIO_DIR

__all__ = ["Scenario", "apply", "run", "compose", "load", "save", "loads", "dumps", "available", "SCENARIO_DIR"]

_MODEL = "whole_system_flow"


def available() -> tuple[str, ...]:
    """Names of the scenario files shipped with the library."""
    return tuple(shipped(_MODEL))


def load(source: str | Path) -> Scenario:
    """Load a scenario from a ``.toml`` or ``.json`` file, or a shipped scenario by name."""
    return _load_file(source, _MODEL)
