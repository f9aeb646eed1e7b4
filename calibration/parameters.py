"""Calibration parameters: bounds, fixed values, priors and transforms.

A :class:`Parameter` is a model constant (display or canonical name), a stock (its
initial value), or an observation model's nuisance parameter (``sigma``, ``phi_inv``).
Optimisers and samplers work on an unbounded vector ``z``; each parameter maps it to its
natural value ``theta`` with a transform chosen from its bounds (``log`` for ``(lo, inf)``,
``logit`` for ``(lo, hi)``), as lmfit and Stan do.

Priors are frozen :mod:`scipy.stats` distributions (anything with ``logpdf`` and ``rvs``).
Bounds truncate them: ``Normal(2, 1)`` with bounds ``(0, inf)`` is the truncated normal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import CalibrationError

__all__ = ["Transform", "Parameter", "as_parameter"]

Transform = Literal["auto", "none", "log", "logit"]


@dataclass(frozen=True)
class Parameter:
    """One parameter of a calibration.

    Parameters
    ----------
    name : str
        A model constant, a stock (meaning its initial value), or a nuisance parameter.
    lower, upper : float
        Bounds (infinite by default).
    start : float, optional
        Starting value; the model's own value when omitted.
    fixed : float, optional
        Hold the parameter at this value.
    prior : scipy.stats frozen distribution, optional
        Prior for :func:`calibration.sample`; uniform between finite bounds when omitted.
    transform : {"auto", "none", "log", "logit"}
        The map from the unbounded optimisation space; "auto" picks it from the bounds.

    Examples
    --------
    >>> p = Parameter("beta", 0.1, 5.0)
    >>> p.kind, round(float(p.to_natural(p.to_z(np.array(2.0)))), 12)
    ('logit', 2.0)
    """

    name: str
    lower: float = -math.inf
    upper: float = math.inf
    start: float | None = None
    fixed: float | None = None
    prior: Any = None
    transform: Transform = "auto"

    def __post_init__(self) -> None:
        lo, hi = float(self.lower), float(self.upper)
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        if math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise CalibrationError(
                f"Bounds of `{self.name}` are ({self.lower}, {self.upper}); the lower bound must be below the upper."
            )
        for label, v in (("start", self.start), ("fixed", self.fixed)):
            if v is not None and not (math.isfinite(v) and lo <= v <= hi):
                raise CalibrationError(f"The {label} value of `{self.name}` ({v}) must be finite and within its "
                                       f"bounds ({lo:g}, {hi:g}).")
        if self.prior is not None and not (hasattr(self.prior, "logpdf") and hasattr(self.prior, "rvs")):
            raise CalibrationError(f"The prior of `{self.name}` must be a frozen scipy.stats distribution, "
                                   f"for example scipy.stats.norm(2, 1); got {type(self.prior).__name__}.")
        if self.transform not in ("auto", "none", "log", "logit"):
            raise CalibrationError(f"Unknown transform {self.transform!r} for `{self.name}`; use auto, none, log "
                                   "or logit.")
        kind = self.kind
        if kind == "log" and not math.isfinite(lo) and not math.isfinite(hi):
            raise CalibrationError(f"A log transform of `{self.name}` needs a finite lower bound.")
        if kind == "logit" and not (math.isfinite(lo) and math.isfinite(hi)):
            raise CalibrationError(f"A logit transform of `{self.name}` needs finite lower and upper bounds.")

    @property
    def free(self) -> bool:
        return self.fixed is None

    @property
    def kind(self) -> str:
        """The transform actually used."""
        if self.transform != "auto":
            return self.transform
        lo_f, hi_f = math.isfinite(self.lower), math.isfinite(self.upper)
        if lo_f and hi_f:
            return "logit"
        if lo_f or hi_f:
            return "log"
        return "none"

    # -- transforms (vectorised) --------------------------------------------------------------
    def to_natural(self, z: np.ndarray) -> np.ndarray:
        lo, hi, k = self.lower, self.upper, self.kind
        if k == "none":
            return z
        if k == "log":
            return lo + np.exp(z) if math.isfinite(lo) else hi - np.exp(z)
        # logit: the two-sided form keeps precision near both bounds
        s = 0.5 * (1 + np.tanh(0.5 * z))
        return lo + (hi - lo) * s

    def to_z(self, theta: np.ndarray) -> np.ndarray:
        lo, hi, k = self.lower, self.upper, self.kind
        theta = np.asarray(theta, dtype=float)
        with np.errstate(divide="ignore"):
            if k == "none":
                return theta
            if k == "log":
                return np.log(theta - lo) if math.isfinite(lo) else np.log(hi - theta)
            return np.log(theta - lo) - np.log(hi - theta)

    def log_jacobian(self, z: np.ndarray) -> np.ndarray:
        """``log |d theta / d z|``, the density correction for sampling in ``z``."""
        k = self.kind
        if k == "none":
            return np.zeros_like(z)
        if k == "log":
            return np.asarray(z, dtype=float)
        # log((hi - lo) * s * (1 - s)) with s = sigmoid(z), written to avoid overflow
        return math.log(self.upper - self.lower) - np.logaddexp(0, z) - np.logaddexp(0, -z)

    def log_prior(self, theta: np.ndarray) -> np.ndarray:
        inside = (theta >= self.lower) & (theta <= self.upper)
        if self.prior is None:
            return np.where(inside, 0.0, -np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = np.asarray(self.prior.logpdf(theta), dtype=float)
        return np.where(inside, lp, -np.inf)

    def width(self) -> float:
        """A natural scale for random starts and finite-difference steps."""
        if math.isfinite(self.lower) and math.isfinite(self.upper):
            return self.upper - self.lower
        return max(abs(self.start or 1.0), 1e-3)


def as_parameter(name: str, value: Any) -> Parameter:
    """A :class:`Parameter` from the shorthand of the ``params=`` and ``priors=`` mappings.

    ``(lo, hi)`` bounds, ``(lo, hi, start)``, ``(lo, hi, prior)`` (the prior truncated to the
    bounds; ``None`` is an open bound), a number (fixed), a frozen scipy.stats
    distribution (a prior, bounded by its support), a mapping of Parameter fields, or a
    Parameter.

    Examples
    --------
    >>> as_parameter("gamma", (0.05, 2.0)).upper
    2.0
    >>> as_parameter("N", 763).fixed
    763.0
    """
    if isinstance(value, Parameter):
        return value if value.name == name else Parameter(**{**value.__dict__, "name": name})
    if isinstance(value, Mapping):
        return Parameter(name=name, **value)
    if hasattr(value, "logpdf") and hasattr(value, "support"):
        lo, hi = (float(b) for b in value.support())
        return Parameter(name, lo, hi, prior=value)
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return Parameter(name, fixed=float(value))
    if isinstance(value, (tuple, list)) and len(value) in (2, 3):
        lo = -math.inf if value[0] is None else float(value[0])
        hi = math.inf if value[1] is None else float(value[1])
        if len(value) == 3 and hasattr(value[2], "logpdf"):
            return Parameter(name, lo, hi, prior=value[2])
        start = float(value[2]) if len(value) == 3 and value[2] is not None else None
        return Parameter(name, lo, hi, start=start)
    raise CalibrationError(
        f"Cannot read the setting of parameter `{name}` ({value!r}); give bounds (lo, hi), (lo, hi, start), a "
        "fixed number, a scipy.stats prior or a calibration.Parameter."
    )
