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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .errors import SpecError
from .expr import canonical
from .results import load as load_results
from .results import save as save_results

if TYPE_CHECKING:
    from .compile import CompiledModel

__all__ = ["Chunk", "plan_chunks", "run_ensemble"]

_MANIFEST = "manifest.json"


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
        same experiment reuses them and computes only what is missing.
    seed : int
        Run ``i`` uses seed ``seed + i`` for its random functions.
    variables : sequence of str, optional
        Keep only these series (display or canonical names). Chunks are cut down where they
        run, so workers ship, and stores write, only what is kept: with a large model and a
        few outcomes of interest this is most of an ensemble's cost beyond the simulation.
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
    if chunk_size is None:
        chunk_size = _chunk_size(model, n_runs, memory_budget, run_kwargs)
    chunks = plan_chunks(n_runs, chunk_size)
    folder = Path(store) if store is not None else None
    done: dict[int, xr.Dataset] = {}
    if folder is not None:
        fingerprint = _fingerprint(model, per_run, shared, seed, chunk_size, run_kwargs | ({"variables": keep} if keep else {}))
        done = _resume(folder, fingerprint, chunks)
    todo = [c for c in chunks if c.index not in done]
    bar = _progress(len(chunks), len(done), progress)

    def finished(chunk: Chunk, ds: xr.Dataset) -> None:
        if folder is not None:
            _save_atomically(ds, folder / chunk.name)
        done[chunk.index] = ds
        if bar is not None:
            bar.update(1)

    jobs = [(c, {k: v[c.start:c.stop] for k, v in per_run.items()} | shared,
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
    if bar is not None:
        bar.close()
    parts = [done[c.index] for c in chunks]
    ds = xr.concat(parts, dim="run", data_vars="minimal", coords="minimal", compat="override",
                   combine_attrs="override")
    ds = ds.assign_coords(run=np.arange(n_runs))
    # Each chunk recorded only its own runs' values; record the whole ensemble's instead.
    values = json.loads(parts[0].attrs.get("parameters", "{}"))
    values |= {model.lowered[canonical(k)].name: np.asarray(v).tolist() for k, v in per_run.items()}
    if keep is not None:
        ds.attrs["variables"] = json.dumps(list(keep))
    ds.attrs.update(parameters=json.dumps(values), chunk_size=chunk_size, n_chunks=len(chunks), ensemble_seed=seed)
    return ds


def _run_chunk(model: CompiledModel, params: Mapping[str, Any], seeds: np.ndarray,
               run_kwargs: Mapping[str, Any], keep: tuple[str, ...] | None = None) -> xr.Dataset:
    # errors="mark": a failing run is reported in `run_status`, never stops its chunk.
    ds = model.run(params=params, seed=seeds.tolist(), errors="mark", **run_kwargs)
    return ds[list(keep)] if keep is not None else ds


def _split_params(model: CompiledModel, params: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any], int]:
    """Separate per-run arrays from values shared by all runs, and count the runs."""
    constants = {s.key: s for s in model.layout.constants}
    per_run: dict[str, np.ndarray] = {}
    shared: dict[str, Any] = {}
    for name, value in params.items():
        slot = constants.get(canonical(name))
        arr = np.asarray(value, dtype=float) if slot is not None else None
        if slot is not None and arr is not None and arr.ndim == len(slot.shape) + 1:
            per_run[name] = arr
        else:
            shared[name] = value  # scalars, arrays for all runs, lookups: checked by `run`
    lengths = {len(v) for v in per_run.values()}
    if len(lengths) > 1:
        sizes = ", ".join(f"`{k}`: {len(v)}" for k, v in per_run.items())
        raise SpecError(f"Per-run parameter arrays must have one length; got {sizes}.")
    if not lengths:
        raise SpecError("`run_ensemble` needs at least one parameter given as an array with one value per run.")
    return per_run, shared, lengths.pop()


def _chunk_size(model: CompiledModel, n_runs: int, budget: float, run_kwargs: Mapping[str, Any]) -> int:
    time = model.spec.time
    t0 = run_kwargs.get("initial_time", time.initial_time)
    t1 = run_kwargs.get("final_time", time.final_time)
    dt = run_kwargs.get("dt", time.dt)
    save = run_kwargs.get("saveper", time.saveper or dt)
    n_times = int(math.floor((t1 - t0) / save + 1e-9)) + 1
    # The saved series dominate; twice for the buffer and the gathered dataset.
    per_run = 2 * 8 * n_times * max(1, model.layout.n_series)
    return max(1, min(n_runs, int(budget // per_run)))


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


def _resume(folder: Path, fingerprint: str, chunks: tuple[Chunk, ...]) -> dict[int, xr.Dataset]:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / _MANIFEST
    if manifest.exists():
        recorded = json.loads(manifest.read_text()).get("fingerprint")
        if recorded != fingerprint:
            raise SpecError(
                f"The store `{folder}` holds chunks of a different experiment (model, parameters, seed, chunking "
                "or run settings differ); use another folder, or empty this one to start afresh."
            )
    else:
        manifest.write_text(json.dumps({"fingerprint": fingerprint, "chunks": len(chunks)}))
    done = {}
    for chunk in chunks:
        path = folder / chunk.name
        if path.exists():
            done[chunk.index] = load_results(path)
    return done


def _save_atomically(ds: xr.Dataset, path: Path) -> None:
    # Written under a temporary name, then renamed: a chunk file is either whole or absent,
    # so an interruption while writing cannot leave a truncated chunk that looks finished.
    tmp = path.with_suffix(".partial.nc")
    save_results(ds, tmp)
    os.replace(tmp, path)


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


def _progress(total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="chunk", desc="ensemble", leave=False)
