"""Large ensembles: runs in memory-sized chunks, optionally on a Dask cluster, resumable.

One :meth:`~sd_engine.compile.CompiledModel.run` call already simulates a whole
ensemble; :func:`run_ensemble` adds what very large ones need:

- the runs are split into chunks sized to a memory budget, each simulated in one
  vectorised call;
- with a ``dask.distributed`` client (a ``LocalCluster`` for ``client="local"``, an
  address, or a client of your own) the chunks are spread over the workers;
- with a ``store`` folder every finished chunk is saved as it arrives, so an interrupted
  ensemble resumes and recomputes only the missing chunks;
- the result is one :class:`xarray.Dataset` with a ``run`` dimension, whatever the
  chunking: run ``i`` always uses seed ``seed + i`` and its own parameter values, so the
  numbers do not depend on how the work was split or where it ran.

A store is safe under concurrency and damage:

- one writer at a time: a process holds an exclusive lock on ``.lock`` in the folder
  (``fcntl.flock``, released by the operating system even when the process is killed; the
  file holds the holder's pid). Another process asking for the store waits up to
  `lock_timeout` seconds (none by default), then gets :class:`StoreLockedError`;
- chunks are written under unique temporary names in the folder and renamed into place,
  the manifest likewise, so a file is either whole or absent;
- each chunk records the experiment's fingerprint, its index, its run range and a SHA-256
  checksum of its values. A chunk that is unreadable, truncated, bit-damaged, swapped with
  another or from another experiment is recomputed with a :class:`StoreWarning` naming the
  file; a damaged manifest is a :class:`StoreError` naming it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .errors import SpecError
from .progress import progress_bar
from .expr import canonical
from .guards import NonFiniteWarning, ResourceLimitError, available_memory, warn_if_not_ok
from .integrate import bind_inputs, is_time_series
from .results import load as load_results
from .results import save as save_results

if TYPE_CHECKING:
    from .compile import CompiledModel

__all__ = ["Chunk", "plan_chunks", "run_ensemble", "StoreError", "StoreLockedError", "StoreWarning"]

_MANIFEST = "manifest.json"
_LOCK = ".lock"
_FORMAT = 2  # stores written before chunks carried their run range and checksum were format 1
#: Attributes a stored chunk carries to prove what it is; dropped when the chunks are gathered.
_CHUNK_ATTRS = ("store_fingerprint", "store_chunk", "store_run_start", "store_run_stop", "store_checksum")


class StoreError(SpecError):
    """A results store cannot be used: it belongs to another experiment, or its manifest is damaged."""


class StoreLockedError(StoreError, BlockingIOError):
    """Another process is writing to the results store."""


class StoreWarning(UserWarning):
    """A stored chunk was damaged, swapped or foreign, and is being recomputed."""


@dataclass(frozen=True)
class Chunk:
    """Runs ``start:stop`` of an ensemble."""

    index: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"chunk-{self.index:05d}.nc"


def plan_chunks(n_runs: int, chunk_size: int) -> tuple[Chunk, ...]:
    """Split `n_runs` runs into consecutive chunks of at most `chunk_size` runs.

    Examples
    --------
    >>> [(c.start, c.stop) for c in plan_chunks(5, 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    if chunk_size < 1:
        raise SpecError(f"`chunk_size` must be at least 1, not {chunk_size}.")
    return tuple(Chunk(i, start, min(start + chunk_size, n_runs))
                 for i, start in enumerate(range(0, n_runs, chunk_size)))


def run_ensemble(
    model: CompiledModel,
    params: Mapping[str, Any],
    *,
    chunk_size: int | None = None,
    memory_budget: float = 256e6,
    client: Any = None,
    store: str | Path | None = None,
    seed: int = 0,
    progress: bool = False,
    variables: Sequence[str] | None = None,
    lock_timeout: float = 0.0,
    **run_kwargs: Any,
) -> xr.Dataset:
    """Simulate an ensemble in chunks, locally or on Dask workers, and gather one dataset.

    Parameters
    ----------
    model : CompiledModel
        The model to run.
    params : mapping
        Parameter values: 1-D arrays of one equal length (the runs) or scalars for all runs.
        Arrayed constants take arrays of shape ``(runs, *subscripts)``.
    chunk_size : int, optional
        Runs per chunk; by default as many as fit `memory_budget` bytes of results.
    client : None, "local", str or distributed.Client
        Where chunks run: in this process (None), on a new two-worker ``LocalCluster``
        ("local"), on the scheduler at an address, or on the given client.
    store : path, optional
        A folder where finished chunks are kept. Running again with the same folder and the
        same experiment reuses them and computes only what is missing; damaged chunks are
        recomputed (see the module docstring).
    seed : int
        Run ``i`` uses seed ``seed + i`` for its random functions.
    variables : sequence of str, optional
        Keep only these series (display or canonical names). Chunks are cut down where they
        run, so workers ship, and stores write, only what is kept: with a large model and a
        few outcomes of interest this is most of an ensemble's cost beyond the simulation.
    lock_timeout : float
        Seconds to wait for a store another process is writing to before raising
        :class:`StoreLockedError` (0: do not wait).
    **run_kwargs
        Passed to :meth:`CompiledModel.run` (``final_time``, ``dt``, ``saveper``, ``method``...).

    Examples
    --------
    >>> import numpy as np, sd_engine as sd
    >>> ds = run_ensemble(sd.load("teacup"), {"Characteristic Time": np.linspace(5, 15, 7)}, chunk_size=3)
    >>> ds.sizes["run"], float(ds["Characteristic Time"][6])
    (7, 15.0)
    """
    for forbidden in ("params", "seed", "errors"):
        if forbidden in run_kwargs:
            raise SpecError(f"`{forbidden}` is set by `run_ensemble` itself; remove it from the keyword arguments.")
    per_run, shared, n_runs = _split_params(model, params)
    keep = tuple(dict.fromkeys(model.resolve(v).name for v in variables)) if variables is not None else None
    _check_gathered_size(model, n_runs, keep, run_kwargs)
    if chunk_size is None:
        chunk_size = _chunk_size(model, n_runs, memory_budget, run_kwargs)
    chunks = plan_chunks(n_runs, chunk_size)
    folder = Path(store) if store is not None else None
    if folder is None:
        done = _compute(model, chunks, per_run, shared, seed, run_kwargs, keep, client, progress, {}, None)
    else:
        fingerprint = _fingerprint(model, per_run, shared, seed, chunk_size, run_kwargs | ({"variables": keep} if keep else {}))
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder, lock_timeout):
            stored = _resume(folder, fingerprint, chunks)

            def save(chunk: Chunk, ds: xr.Dataset) -> None:
                _save_chunk(ds, folder, chunk, fingerprint)

            done = _compute(model, chunks, per_run, shared, seed, run_kwargs, keep, client, progress, stored, save)
    parts = [done[c.index] for c in chunks]
    # One chunk is the ensemble already: concatenating it would copy every value for nothing.
    ds = parts[0] if len(parts) == 1 else xr.concat(parts, dim="run", data_vars="minimal", coords="minimal",
                                                    compat="override", combine_attrs="override")
    ds = ds.assign_coords(run=np.arange(n_runs))
    # Each chunk recorded only its own runs' values; record the whole ensemble's instead.
    values = json.loads(parts[0].attrs.get("parameters", "{}"))
    values |= {model.lowered[canonical(k)].name: np.asarray(v).tolist() for k, v in per_run.items()}
    if keep is not None:
        ds.attrs["variables"] = json.dumps(list(keep))
    ds.attrs.update(parameters=json.dumps(values), chunk_size=chunk_size, n_chunks=len(chunks), ensemble_seed=seed)
    if "run_status" in ds.coords:
        warn_if_not_ok([str(v) for v in ds["run_status"].values])
    return ds


def _compute(model: CompiledModel, chunks: tuple[Chunk, ...], per_run: Mapping[str, np.ndarray],
             shared: Mapping[str, Any], seed: int, run_kwargs: Mapping[str, Any], keep: tuple[str, ...] | None,
             client: Any, progress: bool, done: dict[int, xr.Dataset],
             save: Callable[[Chunk, xr.Dataset], None] | None) -> dict[int, xr.Dataset]:
    """Simulate the chunks not in `done`, saving each as it arrives; all chunks by index."""
    todo = [c for c in chunks if c.index not in done]
    n_runs = sum(c.stop - c.start for c in chunks)
    with progress_bar(n_runs, "run", "ensemble", initial=sum(c.stop - c.start for c in chunks if c.index in done),
                      enabled=progress) as bar:
        _compute_chunks(model, todo, per_run, shared, seed, run_kwargs, keep, client, done, save, bar)
    return done


def _compute_chunks(model: CompiledModel, todo: list[Chunk], per_run: Mapping[str, np.ndarray],
                    shared: Mapping[str, Any], seed: int, run_kwargs: Mapping[str, Any], keep: tuple[str, ...] | None,
                    client: Any, done: dict[int, xr.Dataset], save: Callable[[Chunk, xr.Dataset], None] | None,
                    bar: Any) -> None:
    def finished(chunk: Chunk, ds: xr.Dataset) -> None:
        if save is not None:
            save(chunk, ds)
        done[chunk.index] = ds
        bar.update(chunk.stop - chunk.start)  # the bar counts runs, not chunks

    jobs = [(c, {k: v[c.start:c.stop] for k, v in per_run.items()} | dict(shared),
             seed + np.arange(c.start, c.stop)) for c in todo]
    if client is None:
        for chunk, chunk_params, seeds in jobs:
            finished(chunk, _run_chunk(model, chunk_params, seeds, run_kwargs, keep))
    else:
        with _client(client) as dask_client:
            from distributed import as_completed

            futures = {dask_client.submit(_run_chunk, model, p, s, run_kwargs, keep, pure=False): c
                       for c, p, s in jobs}
            for future in as_completed(futures):
                finished(futures[future], future.result())


def _run_chunk(model: CompiledModel, params: Mapping[str, Any], seeds: np.ndarray,
               run_kwargs: Mapping[str, Any], keep: tuple[str, ...] | None = None) -> xr.Dataset:
    # errors="mark": a failing run is reported in `run_status`, never stops its chunk; the
    # warning is given once for the whole ensemble, not per chunk (nor lost on a worker).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)
        ds = model.run(params=params, seed=seeds.tolist(), errors="mark", **run_kwargs)
    return ds[list(keep)] if keep is not None else ds


def _split_params(model: CompiledModel, params: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any], int]:
    """Separate per-run arrays from values shared by all runs, and count the runs, by the rule
    ``run`` itself applies (:func:`sd_engine.integrate.bind_inputs`); time series are shared."""
    bound = bind_inputs(model, {k: v for k, v in params.items() if not is_time_series(v)})
    if not bound.ensemble:
        raise SpecError("`run_ensemble` needs at least one parameter given as an array with one value per run.")
    per_run = {name: np.asarray(value, dtype=float) for name, value in params.items()
               if canonical(name) in bound.per_run and not is_time_series(value)}
    shared = {name: value for name, value in params.items() if name not in per_run}
    return per_run, shared, bound.n_runs


def _saved_times(model: CompiledModel, run_kwargs: Mapping[str, Any]) -> int:
    settings = model.spec.time
    t0 = run_kwargs.get("initial_time", settings.initial_time)
    t1 = run_kwargs.get("final_time", settings.final_time)
    dt = run_kwargs.get("dt", settings.dt)
    save = run_kwargs.get("saveper", settings.saveper or dt)
    return int(math.floor((t1 - t0) / save + 1e-9)) + 1


def _chunk_size(model: CompiledModel, n_runs: int, budget: float, run_kwargs: Mapping[str, Any]) -> int:
    # The saved series dominate; twice for the buffer and the gathered dataset.
    per_run = 2 * 8 * _saved_times(model, run_kwargs) * max(1, model.layout.n_series)
    return max(1, min(n_runs, int(budget // per_run)))


def _check_gathered_size(model: CompiledModel, n_runs: int, keep: tuple[str, ...] | None,
                         run_kwargs: Mapping[str, Any]) -> None:
    """Refuse, before any run, an ensemble whose gathered dataset would not fit in memory."""
    if keep is None:
        series = model.layout.n_series
    else:
        slots = {s.key: s for s in model.layout.series}
        series = sum(math.prod(slots[canonical(k)].shape) for k in keep if canonical(k) in slots)
    n_times = _saved_times(model, run_kwargs)
    # The chunks and the dataset they are gathered into.
    need = 2 * 8.0 * n_runs * n_times * max(1, series)
    available = available_memory()
    if need > 0.8 * available:
        raise ResourceLimitError(
            f"Gathering {n_runs:,} runs of `{model.spec.name}` ({n_times:,} saved times x {series:,} series x 8 bytes, "
            f"twice) would need about {need / 2**30:.1f} GiB, but {available / 2**30:.1f} GiB of memory is free; keep "
            "fewer variables (`variables=[...]`), save less often (a larger `saveper`), or run fewer runs per call."
        )


def _fingerprint(model: CompiledModel, per_run: Mapping[str, np.ndarray], shared: Mapping[str, Any], seed: int,
                 chunk_size: int, run_kwargs: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(model.spec.hash().encode())
    for name in sorted(per_run):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(per_run[name]).tobytes())
    digest.update(repr(sorted((k, np.asarray(v).tolist()) for k, v in shared.items())).encode())
    digest.update(repr((seed, chunk_size, sorted(run_kwargs.items()))).encode())
    return digest.hexdigest()


@contextmanager
def _locked(folder: Path, timeout: float) -> Iterator[None]:
    """Hold the store's lock for the block: an exclusive ``flock`` on ``.lock``, which the
    operating system releases when the holder exits, however it exits (no stale locks)."""
    path = folder / _LOCK
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: an exclusively created lock file instead
        fcntl = None  # type: ignore[assignment]
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        if fcntl is not None:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"The store `{folder}` cannot be locked: its lock file `{path}` cannot be opened "
                                 f"({exc.strerror}); make the folder writable, or copy the store.") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip()
                os.close(fd)
            except OSError as exc:
                os.close(fd)
                raise StoreError(f"The store `{folder}` cannot be locked ({exc.strerror}), as on some network "
                                 "file systems; use a folder on a local disk.") from None
        else:  # pragma: no cover
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                holder = path.read_text(errors="replace").strip()
        if time.monotonic() >= deadline:
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise StoreLockedError(
                f"The store `{folder}` is in use by {who} (lock file `{path}`); wait for that run to finish, pass "
                "`lock_timeout=` seconds to wait for it, or use another folder."
            )
        time.sleep(0.05)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        if fcntl is not None:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        else:  # pragma: no cover
            os.close(fd)
            path.unlink()


def _resume(folder: Path, fingerprint: str, chunks: tuple[Chunk, ...]) -> dict[int, xr.Dataset]:
    """The chunks of this experiment the store holds intact (the lock held); damaged ones are
    removed with a warning, to be computed again."""
    for stale in folder.glob(".chunk-*.tmp.nc"):
        stale.unlink()  # a temporary left by a writer that was killed: never a finished chunk
    manifest = folder / _MANIFEST
    if manifest.exists():
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8"))["fingerprint"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise StoreError(
                f"The manifest `{manifest}` of the store is damaged; delete it and the chunk files beside it (or the "
                "whole folder) to start afresh."
            ) from None
        if recorded != fingerprint:
            raise StoreError(
                f"The store `{folder}` holds chunks of a different experiment (model, parameters, seed, chunking "
                "or run settings differ); use another folder, or empty this one to start afresh."
            )
    else:
        _write_atomically(manifest, json.dumps({"format": _FORMAT, "fingerprint": fingerprint,
                                                "chunks": len(chunks)}).encode())
    done = {}
    for chunk in chunks:
        path = folder / chunk.name
        if not path.exists():
            continue
        ds, problem = _load_chunk(path, chunk, fingerprint)
        if ds is not None:
            done[chunk.index] = ds
            continue
        warnings.warn(f"Chunk `{path}` of the store {problem}; computing it again.", StoreWarning, stacklevel=3)
        path.unlink()
    return done


def _load_chunk(path: Path, chunk: Chunk, fingerprint: str) -> tuple[xr.Dataset | None, str]:
    """A stored chunk, checked against what it must be; or None and what is wrong with it."""
    try:
        ds = load_results(path)
    except Exception as exc:  # noqa: BLE001 - whatever HDF5 makes of a damaged file, it is damaged
        return None, f"cannot be read ({type(exc).__name__}), as when it is truncated or damaged"
    attrs = ds.attrs
    if attrs.get("store_fingerprint") != fingerprint:
        return None, "belongs to another experiment, or to a store written before chunks were checked"
    expected = (chunk.index, chunk.start, chunk.stop)
    found = tuple(attrs.get(k) for k in ("store_chunk", "store_run_start", "store_run_stop"))
    runs = ds.sizes.get("run")
    if tuple(int(v) if v is not None else None for v in found) != expected or runs != chunk.stop - chunk.start:
        return None, (f"holds runs {found[1]} to {found[2]} (chunk {found[0]}), not runs {chunk.start} to {chunk.stop} "
                      f"(chunk {chunk.index}): it was renamed or swapped")
    if attrs.get("store_checksum") != _checksum(ds):
        return None, "does not match its checksum: its values were damaged"
    ds.attrs = {k: v for k, v in attrs.items() if k not in _CHUNK_ATTRS}
    return ds, ""


def _checksum(ds: xr.Dataset) -> str:
    """SHA-256 of a dataset's values (every variable and coordinate, not the attributes), the
    same after a netCDF round trip."""
    digest = hashlib.sha256()
    for name in sorted(ds.variables, key=str):
        var = ds.variables[name]
        values = np.asarray(var.values)
        digest.update(repr((str(name), var.dims, values.shape)).encode())
        if values.dtype.kind in "fiub":
            digest.update(np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes())
        else:  # text (run_status, element names): its dtype may change on the way through netCDF
            digest.update(json.dumps([str(v) for v in values.ravel()]).encode())
    return digest.hexdigest()


def _save_chunk(ds: xr.Dataset, folder: Path, chunk: Chunk, fingerprint: str) -> None:
    """Write a chunk with its proof of identity, atomically under a unique temporary name."""
    tagged = ds.assign_attrs(store_fingerprint=fingerprint, store_chunk=chunk.index, store_run_start=chunk.start,
                             store_run_stop=chunk.stop, store_checksum=_checksum(ds))
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{chunk.name[:-3]}.", suffix=".tmp.nc")
    os.close(fd)
    tmp = Path(name)
    try:
        save_results(tagged, tmp)
        _fsync(tmp)
        os.replace(tmp, folder / chunk.name)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync(folder)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a rename never outlives its contents."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - folders cannot be opened on some systems
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class _client:
    """A context giving a dask.distributed Client; clusters it starts, it also stops."""

    def __init__(self, client: Any) -> None:
        self.spec = client
        self.owned: list[Any] = []

    def __enter__(self) -> Any:
        from distributed import Client, LocalCluster

        if isinstance(self.spec, Client):
            return self.spec
        if self.spec == "local":
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
            self.owned.append(cluster)
            client = Client(cluster)
        elif isinstance(self.spec, str):
            client = Client(self.spec)
        else:
            raise SpecError(f"`client` must be None, \"local\", a scheduler address or a Client, not {self.spec!r}.")
        self.owned.insert(0, client)
        return client

    def __exit__(self, *exc: object) -> None:
        for thing in self.owned:
            thing.close()
