"""The policy lab: scenarios × parameter uncertainty, outcome metrics, sensitivity, and a report.

>>> from sd_engine.lab import find_profile
>>> find_profile("whole_system_flow").metrics[0].label
'4-hour performance'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from .experiment import (
        RANDOM_FUNCTIONS,
        Experiment,
        Uncertainty,
        compose,
        describe_scenarios,
        run_experiment,
        versions,
    )
    from .metrics import PROFILES, LabProfile, Metric, compute_metrics, find_profile, get_profile, register_profile

__all__ = [
    "Experiment",
    "Uncertainty",
    "compose",
    "run_experiment",
    "describe_scenarios",
    "versions",
    "RANDOM_FUNCTIONS",
    "Metric",
    "LabProfile",
    "PROFILES",
    "register_profile",
    "find_profile",
    "get_profile",
    "compute_metrics",
]

# Submodules load on first use (lazy_loader, SPEC 1): the `sdflow` command registers its
# subcommands without importing what they run.
__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs={
    "experiment": ["RANDOM_FUNCTIONS", "Experiment", "Uncertainty", "compose", "describe_scenarios",
                   "run_experiment", "versions"],
    "metrics": ["PROFILES", "LabProfile", "Metric", "compute_metrics", "find_profile", "get_profile",
                "register_profile"],
})
