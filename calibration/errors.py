"""Typed errors and warnings of the calibration package.

Every error derives from :class:`sd_engine.SDError` and the matching builtin, as in the
engine, so ``except ValueError`` and ``except sd_engine.SDError`` both catch them.
"""

from __future__ import annotations

from sd_engine.errors import SDError

__all__ = ["CalibrationError", "DataError", "NotIdentifiableWarning", "CalibrationWarning"]


class CalibrationError(SDError, ValueError):
    """The calibration set-up is invalid (unknown parameter, bad bounds, bad prior ...)."""


class DataError(CalibrationError):
    """The observed data cannot be used (unknown column, non-numeric values, times out of range ...)."""


class CalibrationWarning(UserWarning):
    """Something about a fit deserves attention (an optimiser that did not converge ...)."""


class NotIdentifiableWarning(CalibrationWarning):
    """A parameter is not identifiable from the data given (flat profile, singular curvature)."""
