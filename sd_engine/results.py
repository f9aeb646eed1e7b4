"""Simulation results: a flat ``(runs, times, series)`` buffer, and its xarray view.

:class:`Results` is what the integrators return; :meth:`Results.to_dataset` gives
the labelled :class:`xarray.Dataset` users work with: variables named as in the
model, dimensions ``time``, the model's subscripts, and ``run`` for ensembles, with
units, documentation and provenance in ``attrs``. :func:`save` and :func:`load`
keep datasets in netCDF; :func:`save` also writes tables a spreadsheet opens (CSV, Excel,
Vensim's ``.tab``), and :func:`to_pandas` gives the DataFrame PySD users know.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import itertools
import json
import math
import sys
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ._version import __version__
from .errors import SpecError
from .expr import canonical
from .program import Program, Slot

__all__ = ["RunStatus", "Results", "build_dataset", "empty_record", "save", "load", "save_results", "open_results", "to_table",
           "to_pandas", "run_table", "SAVE_SUFFIXES"]

#: The file types :func:`save` writes (the command line checks ``--out`` against them before a run).
SAVE_SUFFIXES = (".nc", ".nc4", ".netcdf", ".csv", ".tab", ".xlsx")
# Excel's limits on one sheet.
_EXCEL_ROWS, _EXCEL_COLUMNS = 1_048_576, 16_384

# HDF5 (under netCDF4) reserves "/" in names; model names may contain it.
_SLASH = "\u2215"


@dataclass(frozen=True)
class RunStatus:
    """How one run ended: finished, failed, or finished with values flagged.

    A run *fails* at `time` when stock `variable` becomes `value` (NaN or infinite): the
    integration cannot go on. A run is *flagged* when it finished but a saved value of any
    variable (auxiliaries and flows included) is NaN or infinite, or beyond
    :data:`sd_engine.guards.OVERFLOW` in magnitude; `time` and `variable` then name the
    first such value. `reason`, when set, says what happened instead of "became `value`"
    (an adaptive solver whose step size collapsed before any value became non-finite).
    """

    failed: bool = False
    time: float = math.nan
    variable: str = ""
    value: str = ""
    reason: str = ""
    flagged: bool = False

    def __eq__(self, other: object) -> bool:
        # Field by field with NaN times equal: the generated __eq__ compares `time` with ==
        # on Python 3.13 (a tuple compare before), so two ok runs (time NaN) were unequal there.
        if not isinstance(other, RunStatus):
            return NotImplemented
        return (self.failed, self.variable, self.value, self.reason, self.flagged) == (
            other.failed, other.variable, other.value, other.reason, other.flagged) and (
            self.time == other.time or (math.isnan(self.time) and math.isnan(other.time)))

    def __hash__(self) -> int:
        return hash((self.failed, None if math.isnan(self.time) else self.time, self.variable, self.value,
                     self.reason, self.flagged))

    @property
    def ok(self) -> bool:
        """True when the run finished with every saved value finite and in range."""
        return not (self.failed or self.flagged)

    @property
    def label(self) -> str:
        if self.failed:
            what = self.reason or f"became {self.value}"
            return f"failed at t={self.time:g}: `{self.variable}` {what}"
        if self.flagged:
            what = self.reason or f"was {self.value}"
            return f"flagged at t={self.time:g}: `{self.variable}` {what}"
        return "ok"


@dataclass(frozen=True, eq=False)
class Results:
    """The raw output of one simulate call (one run or an ensemble) of `program`."""

    program: Program
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
    backend: str = "numpy"  # the back end that computed the numbers: "numba", "numpy" or "interpreter"
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def n_runs(self) -> int:
        return self.data.shape[0]

    @functools.cached_property
    def labels(self) -> list[str]:
        """Each run's status label (``"ok"``, or what failed or was flagged where), computed
        once per distinct status: the runs that ended ok share one status object."""
        status = self.status
        if status and status.count(status[0]) == len(status):  # one object throughout (an `is` per run, in C)
            return [status[0].label] * len(status)
        distinct = dict(zip(map(id, status), status))
        label = {key: status.label for key, status in distinct.items()}
        return list(map(label.__getitem__, map(id, self.status)))

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of runs that finished (flagged runs included: see :attr:`flagged`)."""
        return np.array([not s.failed for s in self.status])

    @property
    def flagged(self) -> np.ndarray:
        """Boolean mask of runs that finished with a saved value NaN, infinite or overflowing."""
        return np.array([s.flagged for s in self.status])

    def series(self, name: str) -> np.ndarray:
        """Values of one recorded variable, shaped ``(runs, times, *subscripts)``."""
        key = canonical(name)
        for slot in self.program.layout.series:
            if slot.key == key:
                return self.block(slot)
        self.program.spec[name]  # raises with a suggestion if the name is unknown
        raise SpecError(f"`{name}` is not recorded over time (constants and lookups are in `constants`).")

    def block(self, slot: Slot) -> np.ndarray:
        """The values of the series in `slot`, shaped ``(runs, times, *slot.shape)``."""
        n, T = self.data.shape[:2]
        return self.data[:, :, slot.start:slot.stop].reshape((n, T) + slot.shape)

    def to_dataset(self) -> xr.Dataset:
        """The results as an :class:`xarray.Dataset` (see the module docstring)."""
        program = self.program
        spec = program.spec
        lowered = program.lowered
        dim_names = {d.canonical: d.name for d in lowered.dimensions}
        coords: dict[str, Any] = {"time": ("time", self.times, {"units": spec.time.units})}
        for d in lowered.dimensions:
            coords[d.name] = (d.name, list(d.elements))
        lead = ("run",) if self.ensemble else ()
        if self.ensemble:
            coords["run"] = np.arange(self.n_runs)
            labels = self.labels
            # One label for every run (all ok, the common case): the array numpy would make of
            # the list, made without reading the list (0.1 ms for a thousand runs).
            coords["run_status"] = ("run", np.full(len(labels), labels[0]) if labels and
                                    labels.count(labels[0]) == len(labels) else np.array(labels))
            if self.seeds is not None:
                coords["run_seed"] = ("run", self.seeds)

        def squeeze(a: np.ndarray) -> np.ndarray:
            return a if self.ensemble else a[0]

        data_vars: dict[str, xr.Variable] = {}
        attributes = _program_attrs(program)  # each variable gets its own copy (users may edit them)
        for slot in program.layout.series:
            var = lowered[slot.key]
            dims = lead + ("time",) + tuple(dim_names[d] for d in slot.dims)
            # fastpath: the data is a float array of these dimensions already.
            data_vars[var.name] = xr.Variable(dims, squeeze(self.block(slot)), dict(attributes[slot.key]),
                                              fastpath=True)
        for slot in program.layout.constants:
            var = lowered[slot.key]
            if var.internal:
                continue
            dims = lead + tuple(dim_names[d] for d in slot.dims)
            data_vars[var.name] = xr.Variable(dims, squeeze(self.constants[slot.key]), dict(attributes[slot.key]),
                                              fastpath=True)
        built = _built_indexes(program)
        indexed: dict[str, tuple[xr.IndexVariable, Any]] = {}
        for key, (xs, ys) in self.lookups.items():
            var = lowered[key]
            if var.internal:
                continue  # a table per element of a data variable or arrayed lookup: the model's own are kept
            axis = f"{var.name} input"
            data_vars[var.name] = xr.Variable((axis,), np.array(ys, dtype=float), dict(attributes[key]),
                                              fastpath=True)
            coords[axis] = xs
            index = built.get(axis)
            if index is not None and index[0] is xs:  # the model's own table (read-only): its index is built
                indexed[axis] = index[1]
        for name, (values, index) in built.items():
            if name in coords and not name.endswith(" input") and np.array_equal(
                    values, coords[name] if name == "run" else coords[name][1]):
                indexed[name] = index
        step_name = dict(spec.attrs).get("time_step_variable")
        step_series = dict(spec.attrs).get("time_step_series")
        if step_name and step_name not in data_vars:
            # An imported model's TIME STEP, saved as Vensim and Stella save it: the engine's dt,
            # or the series of its equation when it changes during the run.
            if step_series in data_vars:
                data_vars[step_name] = data_vars[step_series]
            else:
                data_vars[step_name] = xr.Variable((), self.dt, {"kind": "constant", "units": spec.time.units,
                                                                 "doc": "The time step of the run."})
        clash = sorted(set(data_vars) & set(coords))
        if clash:
            raise SpecError(
                f"Variable `{clash[0]}` has the same name as a coordinate of the results (`time`, `run`, "
                "`run_status`, `run_seed`, a dimension, or a lookup's `<name> input`); rename the variable."
            )
        attrs: dict[str, Any] = dict(spec.attrs)  # the model's own metadata; the engine's keys take precedence
        attrs.update({
            "model": spec.name,
            "model_hash": attributes[_HASH]["hash"],
            "source": spec.source,
            "method": self.method,
            "backend": self.backend,
            "dt": self.dt,
            "initial_time": float(self.times[0]) if len(self.times) else math.nan,
            "final_time": float(self.times[-1]) if len(self.times) else math.nan,
            "time_units": spec.time.units,
            "sdflow_version": __version__,
            "created": self.created,
            "parameters": self._parameters_json(),
        })
        if spec.data_files:
            # The files an imported model read its data from: path (relative to the model),
            # size and SHA-256, so a result says which data it was computed from.
            attrs["data_files"] = json.dumps([{"path": p, "size": n, "sha256": h} for p, n, h in spec.data_files])
        if not self.ensemble:
            attrs["status"] = self.status[0].label
            if self.seeds is not None:
                attrs["seed"] = int(self.seeds[0])
        dataset = build_dataset(data_vars, coords, attrs, indexed)
        _remember_indexes(program, indexed, dataset, coords)
        return dataset

    def _parameters_json(self) -> str:
        """``json.dumps(self._overridden())``, each parameter's part kept for the next call that
        sets the same values (writing a thousand runs' values costs ~0.5 ms, more than a small
        model's compiled ensemble)."""
        lowered = self.program.lowered
        parts = []
        for name in self.overrides:
            key = canonical(name)
            if key not in self.constants:
                break  # a lookup: the whole dictionary as json writes it
            values = np.ascontiguousarray(self.constants[key])
            digest = (hashlib.blake2b(values.tobytes(), digest_size=16).digest(), values.dtype.str, values.shape)
            part = _JSON_PARTS.get(digest)
            if part is None:
                part = json.dumps(_jsonable(values))
                if values.size >= 64:  # a small array costs less to write than to keep
                    with _JSON_LOCK:
                        _JSON_PARTS[digest] = part
                        if len(_JSON_PARTS) > 32:
                            del _JSON_PARTS[next(iter(_JSON_PARTS))]  # the oldest
            parts.append(f"{json.dumps(lowered[key].name)}: {part}")
        else:
            return "{" + ", ".join(parts) + "}"  # json.dumps' own separators
        return json.dumps(self._overridden())

    def _overridden(self) -> dict[str, Any]:
        """Parameter values set for this call, by display name (lookups as ``[xs, ys]``)."""
        lowered = self.program.lowered
        out: dict[str, Any] = {}
        for name in self.overrides:
            key = canonical(name)
            if key in self.constants:
                out[lowered[key].name] = _jsonable(self.constants[key])
            elif key in self.lookups:
                xs, ys = self.lookups[key]
                out[lowered[key].name] = [np.asarray(xs).tolist(), np.asarray(ys).tolist()]
        return out


def build_dataset(data_vars: dict[str, xr.Variable], coords: dict[str, Any], attrs: dict[str, Any],
                  indexed: Mapping[str, tuple[xr.IndexVariable, Any]] | None = None) -> xr.Dataset:
    """The dataset of `data_vars` with `coords` (``name: values`` or ``(dims, values[, attrs])``).

    ``xr.Dataset(data_vars, coords)`` aligns and merges every variable, which for a model of
    hundreds of series (World3: 314, and a coordinate per lookup) costs ten milliseconds, more
    than the compiled run itself. The variables here are already consistent (built from one
    layout), so the dataset is put together directly: an index for each dimension coordinate,
    and ``Dataset._construct_direct``. Where that private constructor is missing or changed
    (another xarray), the public one builds the same dataset. `indexed` gives dimension
    coordinates built already, as ``name: (variable, index)``: the index is shared (pandas
    indexes are immutable), the variable copied shallowly (its attributes are the caller's).
    """
    construct = getattr(xr.Dataset, "_construct_direct", None)
    if construct is not None:
        try:
            from xarray.core.indexes import PandasIndex

            variables: dict[Any, xr.Variable] = {}
            indexes: dict[Any, Any] = {}
            for name, value in coords.items():
                dims, values, cattrs = (value + ({},))[:3] if isinstance(value, tuple) else ((name,), value, {})
                if isinstance(dims, str):
                    dims = (dims,)
                if indexed and name in indexed:
                    variable, index = indexed[name]
                    variables[name] = variable.copy(deep=False)
                    indexes[name] = index
                elif tuple(dims) == (name,):  # a dimension coordinate: indexed, as xarray would
                    variable = xr.IndexVariable(dims, values, cattrs)
                    variables[name] = variable
                    indexes[name] = PandasIndex(variable.to_index(), name)
                else:
                    variables[name] = xr.Variable(dims, values, cattrs)
            variables.update(data_vars)
            return construct(variables, set(coords), attrs=attrs, indexes=indexes)  # type: ignore[no-any-return]
        except (TypeError, ValueError, AttributeError, ImportError):
            pass
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


#: Records from this size up to ``SPARE_MAX_BYTES`` are kept for reuse (:func:`empty_record`):
#: a smaller one the C library's allocator keeps at hand by itself.
SPARE_MIN_BYTES = 2**20
#: The largest record kept for reuse: the memory a process holds after its results are gone.
SPARE_MAX_BYTES = 256 * 2**20
# The last record handed out, at most one, with the lock that makes taking it atomic.
_SPARE: list[np.ndarray] = []
_SPARE_LOCK = threading.Lock()
# Reuse needs exact reference counts: CPython's, with the GIL (a free-threaded build defers some).
_COUNTS = hasattr(sys, "getrefcount") and getattr(sys, "_is_gil_enabled", lambda: True)()


def _free_count() -> int:
    """What ``sys.getrefcount`` says of a spare held by the spare list and one local alone, as
    :func:`empty_record` asks it (whether the call's own argument counts varies by version)."""
    spares = [np.empty(0)]
    spare = spares[0]
    return sys.getrefcount(spare)


_FREE = _free_count() if _COUNTS else -1


def empty_record(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float array of `shape` for a call's record: the previous call's record
    of that shape when nothing refers to it any more (its results were dropped), else a new one.

    A new array of tens of megabytes is mapped fresh from the system, and the first write to
    each page costs a page fault and the kernel zeroing it (SIR's 1,000-run record, 128 MB:
    ~12 ms of a 25 ms compiled ensemble); an array used before is written at memory speed.
    Only a record nobody holds is reused (its reference count says the spare list alone has
    it: a dataset, a view or a buffer export of it counts), so no result changes under its
    holder. One record of ``SPARE_MIN_BYTES`` to ``SPARE_MAX_BYTES`` is kept.
    """
    if not _COUNTS or not SPARE_MIN_BYTES <= 8 * math.prod(shape) <= SPARE_MAX_BYTES:
        return np.empty(shape)
    with _SPARE_LOCK:
        spare = _SPARE[0] if _SPARE else None
        if spare is not None and spare.shape == shape and sys.getrefcount(spare) == _FREE:  # held by nobody else
            return spare  # stays the spare: once this caller drops it too, the next call takes it
        del spare
        _SPARE.clear()  # the old spare freed first (if nobody holds it), not kept beside the new one
        fresh = np.empty(shape)
        _SPARE.append(fresh)
        return fresh


# Dimension coordinates of a program's datasets (the time axis, each lookup's input axis) with
# their pandas indexes, as last built: building an index costs ~50 us, and a model has dozens.
# Lookup axes are kept for the model's own (read-only) tables, the time axis for its last value.
_INDEXES: weakref.WeakKeyDictionary[Program, dict[str, tuple[Any, tuple[Any, Any]]]] = \
    weakref.WeakKeyDictionary()


def _built_indexes(program: Program) -> dict[str, tuple[Any, tuple[Any, Any]]]:
    return _INDEXES.get(program, {})


def _remember_indexes(program: Program, indexed: Mapping[str, Any], dataset: xr.Dataset,
                      coords: dict[str, Any]) -> None:
    new: dict[str, tuple[Any, tuple[Any, Any]]] = {}
    for name, value in coords.items():
        if name in indexed or name not in dataset.xindexes:
            continue
        if name == "time":
            values = np.array(value[1])
        elif name == "run":
            values = np.array(value)
        elif name.endswith(" input") and isinstance(value, np.ndarray) and not value.flags.writeable:
            values = value
        else:
            continue
        # A copy of the variable: its attributes are the dataset's, which the user may change.
        new[name] = (values, (dataset.variables[name].copy(deep=False), dataset.xindexes[name]))
    if new:
        _INDEXES[program] = {**_INDEXES.get(program, {}), **new}  # replaced whole: threads read it


# The attributes of a program's variables (and its model hash), built once per program: writing
# every equation as text is a good part of the cost of a large model's dataset.
_ATTRS: weakref.WeakKeyDictionary[Program, dict[str, dict[str, str]]] = weakref.WeakKeyDictionary()
_HASH = "\0hash"  # not a canonical name


# The JSON of parameter values written lately, by a digest of their bytes, dtype and shape.
_JSON_PARTS: dict[tuple[bytes, str, tuple[int, ...]], str] = {}
_JSON_LOCK = threading.Lock()


def _program_attrs(program: Program) -> dict[str, dict[str, str]]:
    cached = _ATTRS.get(program)
    if cached is None:
        cached = {v.canonical: _attrs(v) for v in program.lowered.variables}
        cached[_HASH] = {"hash": program.spec.hash()}
        _ATTRS[program] = cached
    return cached


def _attrs(var: Any) -> dict[str, str]:
    attrs = {"kind": var.kind, "units": var.units, "doc": var.doc, "equation": var.equation_text}
    if getattr(var, "undefined", ()):
        # Elements the model leaves undefined are NaN; say so where the values are read.
        attrs["undefined"] = "; ".join(f"[{e}]" for e in var.undefined) + " (no definition in the model: NaN)"
    return attrs


def _jsonable(a: np.ndarray) -> Any:
    """A parameter's values (runs first) as JSON: one number, one array, or one per run."""
    a = np.asarray(a)
    if a.size and np.all(a == a.flat[0]):
        return float(a.flat[0])
    if a.ndim > 1 and np.all(a == a[:1]):  # the same array in every run
        return a[0].tolist()
    return a.tolist()


def save(ds: xr.Dataset, path: str | Path) -> Path:
    """Save a result dataset to ``.nc`` (netCDF4), ``.csv``, ``.xlsx`` or ``.tab``.

    netCDF keeps everything (ensembles, subscripts, attributes) and :func:`load` reads it
    back unchanged; names containing ``/``, which HDF5 reserves, are stored with a
    look-alike character and restored on load. ``.csv`` is the table of :func:`to_table`: one
    row per time, or per run and time for an ensemble, with the run's varied parameters and
    status as columns. ``.xlsx`` is the same table on a sheet ``results``, with a sheet
    ``variables`` of units and documentation. ``.tab`` is Vensim's export layout, one row per
    variable and the times across (a single run only).

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
    suffix = path.suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        raise SpecError(f"Cannot save results as `{path.name}`; use a `.nc`, `.csv`, `.xlsx` or `.tab` file name.")
    if suffix == ".tab" and "run" in ds.dims:
        raise SpecError(f"`{path.name}`: a `.tab` file holds one run (Vensim's layout, one row per variable); save an "
                        "ensemble as `.csv`, `.xlsx` or `.nc`.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        to_table(ds).to_csv(path)
        return path
    if suffix == ".tab":
        _tab(ds).to_csv(path, sep="\t")
        return path
    if suffix == ".xlsx":
        _write_xlsx(ds, path)
        return path
    _require_h5py()
    renamed = {name: str(name).replace("/", _SLASH) for name in list(ds.variables) if "/" in str(name)}
    out = ds.rename(renamed) if renamed else ds
    out.to_netcdf(path, engine="h5netcdf")
    return path


def to_table(ds: xr.Dataset, *, constants: bool = False) -> pd.DataFrame:
    """The time series of a result as a wide table, as Vensim and PySD write them.

    One row per saved time (per run and time for an ensemble: a ``(run, time)`` index),
    one column per variable, and one per element of an arrayed variable, named
    ``"Population[north]"`` or ``"Flow[north,young]"``. An ensemble's table starts with the
    columns of :func:`run_table` (the parameters that differ between runs, ``run_seed``,
    ``run_status``), so each row says which run it is. With `constants`, the model's constants
    are columns too, their value repeated at every time (as PySD gives them).

    Examples
    --------
    >>> from sd_engine.builder import Model
    >>> m = Model("decay", final_time=1, dt=0.5)
    >>> _ = m.stock("x", initial=1, outflows=["loss"]); _ = m.flow("loss", "x / 2")
    >>> to_table(m.run()).round(4).to_dict("list")
    {'x': [1.0, 0.75, 0.5625], 'loss': [0.5, 0.375, 0.2812]}
    """
    lead = [d for d in ("run", "time") if d in ds.dims]
    columns: dict[str, np.ndarray] = {}
    if "run" in lead:
        n_times = ds.sizes["time"]
        columns.update({k: np.repeat(v.to_numpy(), n_times) for k, v in run_table(ds).items()})
    for name, var in ds.data_vars.items():
        if "time" not in var.dims:
            if not constants or var.attrs.get("kind") != "constant":
                continue  # lookups are tables over their own input, not values over time
            var = var.expand_dims(time=ds["time"].values)
        columns.update(_flat_columns(str(name), var, lead, ds))
    index = pd.MultiIndex.from_product([ds[d].values for d in lead], names=lead) if len(lead) > 1 \
        else pd.Index(ds["time"].values, name="time")
    return pd.DataFrame(columns, index=index)


def _product(axes: list[np.ndarray]) -> list[tuple[Any, ...]]:
    return list(itertools.product(*(list(a) for a in axes)))


def _flat_columns(name: str, var: xr.DataArray, lead: list[str], ds: xr.Dataset) -> dict[str, np.ndarray]:
    """`var` (dims `lead` then subscripts) as one column per element, ``name[a,b]``."""
    extra = [d for d in var.dims if d not in lead]
    arr = var.transpose(*lead, *extra).values.reshape(-1, int(np.prod([ds.sizes[d] for d in extra])))
    if not extra:
        return {name: arr[:, 0]}
    labels = [",".join(str(e) for e in combo) for combo in _product([ds[d].values for d in extra])]
    return {f"{name}[{label}]": arr[:, j] for j, label in enumerate(labels)}


def run_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per run of an ensemble: the parameters that differ between runs, the seed and the status.

    A parameter is a column when its value differs between runs, or when it was set with one
    value per run (the ``parameters`` attribute of the result); an arrayed one has a column per
    element, ``name[a]``. ``run_seed`` and ``run_status`` follow when the result has them.

    Examples
    --------
    >>> import numpy as np
    >>> from sd_engine.builder import Model
    >>> m = Model("decay", final_time=1)
    >>> _ = m.constant("rate", 0.5); _ = m.constant("size", 1.0)
    >>> _ = m.stock("x", initial="size", outflows=["loss"]); _ = m.flow("loss", "x * rate")
    >>> run_table(m.compile().run(params={"rate": np.array([0.1, 0.2])})).to_dict("list")
    {'rate': [0.1, 0.2], 'run_status': ['ok', 'ok']}
    """
    if "run" not in ds.dims:
        raise SpecError("`run_table` needs an ensemble (a result with a `run` dimension); this is a single run.")
    n_runs = ds.sizes["run"]
    per_run = {k for k, v in json.loads(ds.attrs.get("parameters", "{}")).items()
               if isinstance(v, list) and len(v) == n_runs}
    columns: dict[str, np.ndarray] = {}
    for name, var in ds.data_vars.items():
        if "time" in var.dims or "run" not in var.dims or var.attrs.get("kind") != "constant":
            continue
        values = var.transpose("run", ...).values.reshape(n_runs, -1)
        if str(name) in per_run or not np.all(values == values[:1]):
            columns.update(_flat_columns(str(name), var, ["run"], ds))
    for coord in ("run_seed", "run_status"):
        if coord in ds.coords:  # per run, or per scenario and run in a policy-lab result
            columns.update(_flat_columns(coord, ds[coord], ["run"], ds))
    return pd.DataFrame(columns, index=pd.Index(ds["run"].values, name="run"))


def to_pandas(ds: xr.Dataset) -> pd.DataFrame:
    """The result as PySD's ``model.run()`` gives it: a DataFrame indexed by time.

    One column per variable named as in the model, constants included (their value at every
    time), and one column per element of an arrayed variable, ``"Stock A[Entry 1,Column 2]"``
    (PySD's flattened output). An ensemble has a ``(run, time)`` index and starts with the
    columns of :func:`run_table`. The same as ``to_table(ds, constants=True)``.

    Examples
    --------
    >>> from sd_engine.builder import Model
    >>> m = Model("decay", final_time=1)
    >>> _ = m.constant("rate", 0.5)
    >>> _ = m.stock("x", initial=1, outflows=["loss"]); _ = m.flow("loss", "x * rate")
    >>> to_pandas(m.run()).to_dict("list")
    {'x': [1.0, 0.5], 'loss': [0.5, 0.25], 'rate': [0.5, 0.5]}
    """
    return to_table(ds, constants=True)


def _tab(ds: xr.Dataset) -> pd.DataFrame:
    """Vensim's tab-separated export: one row per variable, a column per time (headed ``Time``)."""
    table = to_table(ds, constants=True).T
    # Times as Vensim prints them: 0, 0.25, 12 (not 0.0, 12.0).
    table.columns = [np.format_float_positional(t, trim="-") for t in table.columns]
    table.index.name = "Time"
    return table


def _write_xlsx(ds: xr.Dataset, path: Path) -> None:
    table = to_table(ds)
    rows, cols = len(table) + 1, table.shape[1] + table.index.nlevels
    if rows > _EXCEL_ROWS or cols > _EXCEL_COLUMNS:
        raise SpecError(
            f"`{path.name}`: the table has {rows:,} rows and {cols:,} columns, more than an Excel sheet holds "
            f"({_EXCEL_ROWS:,} x {_EXCEL_COLUMNS:,}); save it as `.csv` or `.nc`, or keep fewer runs or times."
        )
    about = pd.DataFrame(
        [{"name": str(n), "kind": v.attrs.get("kind", ""), "units": v.attrs.get("units", ""),
          "doc": v.attrs.get("doc", "")} for n, v in ds.data_vars.items()]
    ).set_index("name")
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        table.to_excel(writer, sheet_name="results")
        about.to_excel(writer, sheet_name="variables")


def load(path: str | Path) -> xr.Dataset:
    """Load a result dataset saved by :func:`save` (netCDF)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        raise SpecError(
            f"`{path.name}` is a CSV table; read it with `pandas.read_csv`. Only netCDF results load back "
            "as a dataset."
        )
    if not path.exists():
        raise FileNotFoundError(f"No results file `{path}`.")
    _require_h5py()
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    renamed = {name: str(name).replace(_SLASH, "/") for name in ds.variables if _SLASH in str(name)}
    return ds.rename(renamed) if renamed else ds


def _require_h5py() -> None:
    # h5netcdf >= 1.4 no longer installs h5py itself; say so instead of failing deep inside xarray.
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise ImportError(
            "Saving and loading netCDF results needs the `h5py` package: `pip install h5py` "
            "(or save a `.csv` table instead)."
        ) from None


#: The names the package exports them under (``sd.save_results``, ``sd.open_results``).
save_results = save
open_results = load
