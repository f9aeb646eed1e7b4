"""Figures of a fit: data and model over time, residuals, profile likelihoods.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state), so they
work in notebooks, scripts and the CLI without a display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .fit import FitResult

__all__ = ["plot_fit"]


def _x(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    # Dates stay dates (numpy would turn datetime64 into nanoseconds as floats).
    if labels.dtype.kind == "M":
        return labels.astype("datetime64[D]")
    try:
        return np.asarray(labels, dtype=float)
    except (TypeError, ValueError):
        return np.asarray(labels, dtype="datetime64[D]")


def plot_fit(result: FitResult) -> Figure:
    """For each observed series: data (filled: used in the fit; hollow: excluded or outside the
    window) with the fitted model, and the residuals below."""
    from matplotlib.figure import Figure

    series = result.problem.observations.series
    fig = Figure(figsize=(8, 4.2 * len(series)), layout="constrained")
    axes = fig.subplots(2 * len(series), 1, sharex=False, gridspec_kw={"height_ratios": [3, 1] * len(series)})
    for i, (s, m) in enumerate(zip(series, result.predictions)):
        ax, axr = axes[2 * i], axes[2 * i + 1]
        x = _x(s.labels)
        # The model over this series' own rows: in a frame shared with series of other
        # frequencies, the other rows would be periods this series does not report.
        own = ~np.isnan(s.values)
        ax.plot(x[own], m[own], "-", color="C0", label=f"model: {s.variable} ({s.aggregate})")
        ax.plot(x[s.used], s.values[s.used], "o", color="C1", ms=4, label=f"data: {s.column}")
        rest = ~s.used & ~np.isnan(s.values)
        if rest.any():
            ax.plot(x[rest], s.values[rest], "o", mfc="none", color="C1", ms=4, label="not used in the fit")
        ax.set_ylabel(s.column)
        ax.legend(loc="best", fontsize="small")
        ax.set_title(f"{result.problem.spec.name}: {s.column} ({result.problem.likelihoods[i].name} likelihood)")
        resid = s.values - m
        axr.axhline(0, color="0.5", lw=0.8)
        axr.plot(x[s.used], resid[s.used], "o", color="C2", ms=3)
        if rest.any():
            axr.plot(x[rest], resid[rest], "o", mfc="none", color="C2", ms=3)
        axr.set_ylabel("data - model")
        axr.set_xlabel("date" if x.dtype.kind == "M" else f"time ({result.problem.spec.time.units})")
    return fig
