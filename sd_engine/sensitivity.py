"""Uncertainty designs and global sensitivity analysis, through SALib.

A :class:`Design` is a table of parameter values, one row per run, drawn by Monte Carlo,
Latin hypercube, Sobol (Saltelli) or Morris sampling over the parameters' ranges. Its
columns go straight to :meth:`CompiledModel.run` or
:func:`sd_engine.ensemble.run_ensemble` as one ensemble; :func:`analyze` then turns one
outcome per run into Sobol or Morris sensitivity indices.

Examples
--------
>>> import numpy as np, sd_engine as sd
>>> design = sample({"Characteristic Time": (5, 15), "Room Temperature": (60, 80)}, 64, method="lhs", seed=1)
>>> ds = sd.load("teacup").run(params=design.params)
>>> ds.sizes["run"]
64
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import xarray as xr

from .errors import SpecError

__all__ = ["Design", "sample", "analyze"]

Method = Literal["mc", "lhs", "sobol", "morris"]


@dataclass(frozen=True)
class Design:
    """Parameter values for an ensemble: ``values[i, j]`` is parameter ``names[j]`` in run ``i``."""

    names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    values: np.ndarray = field(repr=False)
    method: Method
    seed: int | None
    second_order: bool = False
    levels: int = 4

    @property
    def n_runs(self) -> int:
        return int(self.values.shape[0])

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{name: per-run values}``, ready for ``model.run(params=...)``."""
        return {name: self.values[:, j].copy() for j, name in enumerate(self.names)}

    def problem(self) -> dict[str, Any]:
        """The SALib problem dictionary."""
        return {"num_vars": len(self.names), "names": list(self.names), "bounds": [list(b) for b in self.bounds]}


def sample(ranges: Mapping[str, tuple[float, float]], n: int, *, method: Method = "lhs", seed: int | None = 0,
           second_order: bool = False, levels: int = 4) -> Design:
    """Draw a design over uniform parameter ranges.

    Parameters
    ----------
    ranges : mapping
        ``{parameter name: (low, high)}``.
    n : int
        Runs for "mc" and "lhs"; the base sample for "sobol" (giving ``n * (k + 2)`` runs,
        or ``n * (2k + 2)`` with `second_order`; a power of two) and the number of
        trajectories for "morris" (``n * (k + 1)`` runs).
    method : {"mc", "lhs", "sobol", "morris"}
        Plain Monte Carlo, Latin hypercube, Saltelli's scheme for Sobol indices, or Morris
        elementary-effect trajectories.
    """
    if not ranges:
        raise SpecError("A design needs at least one parameter range.")
    names = tuple(ranges)
    bounds = []
    for name, pair in ranges.items():
        try:
            low, high = (float(v) for v in pair)
        except (TypeError, ValueError):
            raise SpecError(f"The range of `{name}` must be a pair (low, high), not {pair!r}.") from None
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise SpecError(f"The range of `{name}` must have finite low < high, not ({low}, {high}).")
        bounds.append((low, high))
    if n < 1:
        raise SpecError(f"`n` must be at least 1, not {n}.")
    design = Design(names, tuple(bounds), np.empty((0, len(names))), method, seed, second_order, levels)
    problem = design.problem()
    if method == "mc":
        u = np.random.default_rng(seed).random((n, len(names)))
        lo, hi = np.array(bounds).T
        values = lo + u * (hi - lo)
    elif method == "lhs":
        from SALib.sample import latin

        values = latin.sample(problem, n, seed=seed)
    elif method == "sobol":
        from SALib.sample import sobol

        if n & (n - 1):
            raise SpecError(f"Sobol sampling needs `n` to be a power of two (e.g. {1 << max(0, n.bit_length() - 1)}), "
                            f"not {n}.")
        values = sobol.sample(problem, n, calc_second_order=second_order, seed=seed)
    elif method == "morris":
        from SALib.sample import morris

        values = morris.sample(problem, n, num_levels=levels, seed=seed)
    else:
        raise SpecError(f"Unknown sampling method `{method}`; choose mc, lhs, sobol or morris.")
    return Design(names, tuple(bounds), np.asarray(values, dtype=float), method, seed, second_order, levels)


def analyze(design: Design, outcome: Any, *, seed: int | None = 0, num_resamples: int = 100) -> xr.Dataset:
    """Sensitivity indices of one outcome per run.

    Returns a Dataset over ``parameter`` with ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` for a
    "sobol" design, or ``mu_star``, ``mu_star_conf``, ``sigma`` for a "morris" design.
    `outcome` may be an array or a DataArray with a ``run`` dimension.
    """
    y = np.asarray(outcome.values if isinstance(outcome, xr.DataArray) else outcome, dtype=float)
    if y.shape != (design.n_runs,):
        raise SpecError(f"The outcome must have one value per run ({design.n_runs}), not shape {y.shape}.")
    if not np.all(np.isfinite(y)):
        bad = int(np.flatnonzero(~np.isfinite(y))[0])
        raise SpecError(f"The outcome is not finite in run {bad}; exclude failed runs or choose another outcome.")
    coords = {"parameter": list(design.names)}
    if design.method == "sobol":
        from SALib.analyze import sobol

        r = sobol.analyze(design.problem(), y, calc_second_order=design.second_order,
                          num_resamples=num_resamples, seed=seed)
        keys: tuple[str, ...] = ("S1", "S1_conf", "ST", "ST_conf")
    elif design.method == "morris":
        from SALib.analyze import morris

        r = morris.analyze(design.problem(), design.values, y, num_resamples=num_resamples,
                           num_levels=design.levels, seed=seed)
        keys = ("mu_star", "mu_star_conf", "sigma")
    else:
        raise SpecError(f"Sensitivity indices need a \"sobol\" or \"morris\" design, not \"{design.method}\".")
    return xr.Dataset({k: ("parameter", np.asarray(r[k], dtype=float)) for k in keys}, coords=coords,
                      attrs={"method": design.method, "n_runs": design.n_runs})
