"""Simulation results: a flat ``(runs, times, series)`` buffer, and its xarray view.

:class:`Results` is what the integrators return; :meth:`Results.to_dataset` gives
the labelled :class:`xarray.Dataset` users work with: variables named as in the
model, dimensions ``time``, the model's subscripts, and ``run`` for ensembles, with
units, documentation and provenance in ``attrs``. :func:`save` and :func:`load`
keep datasets in netCDF (or CSV for a table).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .errors import SpecError

if TYPE_CHECKING:
    from .compile import CompiledModel, Slot

__all__ = ["RunStatus", "Results", "save", "load"]

# HDF5 (under netCDF4) reserves "/" in names; model names may contain it.
_SLASH = "\u2215"


@dataclass(frozen=True)
class RunStatus:
    """How one run ended: finished, or failed at `time` when stock `variable` became `value`."""

    failed: bool = False
    time: float = math.nan
    variable: str = ""
    value: str = ""

    @property
    def label(self) -> str:
        if not self.failed:
            return "ok"
        return f"failed at t={self.time:g}: `{self.variable}` became {self.value}"


@dataclass(frozen=True, eq=False)
class Results:
    """The raw output of one simulate call (one run or an ensemble)."""

    model: CompiledModel
    data: np.ndarray  # (runs, times, series)
    times: np.ndarray
    constants: Mapping[str, np.ndarray]  # canonical name -> (runs, *shape)
    lookups: Mapping[str, tuple[np.ndarray, np.ndarray]]
    ensemble: bool
    status: tuple[RunStatus, ...]
    method: str
    dt: float
    seeds: np.ndarray | None = None
    overrides: tuple[str, ...] = ()
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def n_runs(self) -> int:
        return self.data.shape[0]

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of runs that finished."""
        return np.array([not s.failed for s in self.status])

    def series(self, name: str) -> np.ndarray:
        """Values of one recorded variable, shaped ``(runs, times, *subscripts)``."""
        from .expr import canonical

        key = canonical(name)
        for slot in self.model.layout.series:
            if slot.key == key:
                return self._block(slot)
        self.model.resolve(name)  # raises with a suggestion if the name is unknown
        raise SpecError(f"`{name}` is not recorded over time (constants and lookups are in `constants`).")

    def _block(self, slot: Slot) -> np.ndarray:
        n, T = self.data.shape[:2]
        return self.data[:, :, slot.start:slot.stop].reshape((n, T) + slot.shape)

    def to_dataset(self) -> xr.Dataset:
        """The results as an :class:`xarray.Dataset` (see the module docstring)."""
        from . import __version__

        model = self.model
        spec = model.spec
        lowered = model.lowered
        dim_names = {d.canonical: d.name for d in lowered.dimensions}
        coords: dict[str, Any] = {"time": ("time", self.times, {"units": spec.time.units})}
        for d in lowered.dimensions:
            coords[d.name] = (d.name, list(d.elements))
        lead = ("run",) if self.ensemble else ()
        if self.ensemble:
            coords["run"] = np.arange(self.n_runs)
            coords["run_status"] = ("run", [s.label for s in self.status])
            if self.seeds is not None:
                coords["run_seed"] = ("run", self.seeds)

        def squeeze(a: np.ndarray) -> np.ndarray:
            return a if self.ensemble else a[0]

        data_vars: dict[str, xr.Variable] = {}
        for slot in model.layout.series:
            var = lowered[slot.key]
            dims = lead + ("time",) + tuple(dim_names[d] for d in slot.dims)
            data_vars[var.name] = xr.Variable(dims, squeeze(self._block(slot)), _attrs(var))
        for slot in model.layout.constants:
            var = lowered[slot.key]
            if var.internal:
                continue
            dims = lead + tuple(dim_names[d] for d in slot.dims)
            data_vars[var.name] = xr.Variable(dims, squeeze(self.constants[slot.key]), _attrs(var))
        for key, (xs, ys) in self.lookups.items():
            var = lowered[key]
            data_vars[var.name] = xr.Variable((f"{var.name} input",), ys, _attrs(var))
            coords[f"{var.name} input"] = xs
        attrs = {
            "model": spec.name,
            "model_hash": spec.hash(),
            "source": spec.source,
            "method": self.method,
            "dt": self.dt,
            "initial_time": float(self.times[0]) if len(self.times) else math.nan,
            "final_time": float(self.times[-1]) if len(self.times) else math.nan,
            "time_units": spec.time.units,
            "sdflow_version": __version__,
            "created": self.created,
            "parameters": json.dumps(
                {lowered[k].name: _jsonable(self.constants[k]) for k in self.overrides if k in self.constants}
            ),
        }
        if not self.ensemble:
            attrs["status"] = self.status[0].label
            if self.seeds is not None:
                attrs["seed"] = int(self.seeds[0])
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _attrs(var: Any) -> dict[str, str]:
    return {"kind": var.kind, "units": var.units, "doc": var.doc, "equation": var.equation_text}


def _jsonable(a: np.ndarray) -> Any:
    a = np.asarray(a)
    if a.size and np.all(a == a.flat[0]):
        return float(a.flat[0])
    return a.tolist()


def save(ds: xr.Dataset, path: str | Path) -> Path:
    """Save a result dataset to ``.nc`` (netCDF4) or ``.csv`` (a table: time, run, variables).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sd_engine.builder import Model
    >>> m = Model("decay", final_time=2)
    >>> _ = m.stock("x", initial=1, outflows=["loss"]); _ = m.flow("loss", "x / 2")
    >>> path = save(m.run(), pathlib.Path(tempfile.mkdtemp()) / "decay.nc")
    >>> float(load(path)["x"][-1])
    0.25
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        timed = [name for name, v in ds.data_vars.items() if "time" in v.dims]
        frame = ds[timed].to_dataframe()
        frame = frame[[c for c in frame.columns if c in timed]]
        frame.to_csv(path)
        return path
    if suffix not in (".nc", ".nc4", ".netcdf"):
        raise SpecError(f"Cannot save results as `{path.name}`; use a `.nc` or `.csv` file name.")
    renamed = {name: str(name).replace("/", _SLASH) for name in list(ds.variables) if "/" in str(name)}
    out = ds.rename(renamed) if renamed else ds
    out.to_netcdf(path, engine="h5netcdf")
    return path


def load(path: str | Path) -> xr.Dataset:
    """Load a result dataset saved by :func:`save` (netCDF)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No results file `{path}`.")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    renamed = {name: str(name).replace(_SLASH, "/") for name in ds.variables if _SLASH in str(name)}
    return ds.rename(renamed) if renamed else ds
