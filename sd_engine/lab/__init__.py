"""The policy lab: scenarios × parameter uncertainty, outcome metrics, sensitivity, and a report.

>>> from sd_engine.lab import find_profile
>>> find_profile("whole_system_flow").metrics[0].label
'4-hour performance'
"""

from __future__ import annotations

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
