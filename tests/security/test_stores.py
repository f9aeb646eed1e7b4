"""Ensemble stores under concurrency and damage.

Two processes writing one store at once must leave, and return, exactly the numbers of a
clean run; chunks that are truncated, bit-damaged, swapped or foreign are detected and
recomputed with a warning naming the file; a damaged manifest is a typed error naming it.
The reference is always the same ensemble run without a store.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sd_engine as sd
from sd_engine.builder import Model
from sd_engine.ensemble import StoreError, StoreLockedError, StoreWarning, _locked, run_ensemble
from sd_engine.errors import SDError

RATES = np.linspace(0.2, 0.4, 23)
SEED = 5


def noisy_model() -> Model:
    # Random draws and a fixed delay: any mix-up of runs or chunks changes the numbers.
    m = Model("noisy", final_time=20, dt=0.5)
    m.constant("rate", 0.3)
    m.stock("level", 10, inflows=["inflow"], outflows=["outflow"])
    m.flow("inflow", "random_uniform(0, 2 * rate * 10, 1)")
    m.flow("outflow", "delay_fixed(level * rate, 2, 3)")
    return m


MODEL = noisy_model().compile()


def ensemble(store: Path | None = None, **options: object) -> xr.Dataset:
    return run_ensemble(MODEL, {"rate": RATES}, chunk_size=4, seed=SEED, store=store,
                        **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def clean() -> xr.Dataset:
    return ensemble().drop_attrs()


def same(ds: xr.Dataset, clean: xr.Dataset) -> None:
    xr.testing.assert_identical(ds.drop_attrs(), clean)


def quietly(store: Path) -> xr.Dataset:
    """A resume that must find every chunk intact: any store warning fails it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)
        return ensemble(store)


# -- two writers -------------------------------------------------------------------------------
def _writer(store: Path, start: object, out: Path) -> None:
    start.wait()  # type: ignore[attr-defined]
    sd.save_results(ensemble(store, lock_timeout=120), out)


def concurrent_writers(tmp_path: Path, trials: int, clean: xr.Dataset) -> None:
    context = multiprocessing.get_context("fork")  # the compiled model travels with the fork
    for trial in range(trials):
        store = tmp_path / f"store-{trial}"
        start = context.Barrier(2)
        outs = [tmp_path / f"trial-{trial}-writer-{k}.nc" for k in range(2)]
        writers = [context.Process(target=_writer, args=(store, start, out)) for out in outs]
        for w in writers:
            w.start()
        for w in writers:
            w.join(timeout=300)
        assert [w.exitcode for w in writers] == [0, 0], f"trial {trial}"
        for out in outs:
            same(sd.open_results(out), clean)
        same(quietly(store), clean)
        assert sorted(p.name for p in store.iterdir()) == [".lock", *[f"chunk-{i:05d}.nc" for i in range(6)],
                                                          "manifest.json"]


def test_two_concurrent_writers_leave_the_numbers_of_a_clean_run(tmp_path: Path, clean: xr.Dataset) -> None:
    concurrent_writers(tmp_path, 3, clean)


@pytest.mark.slow
def test_two_concurrent_writers_twenty_times(tmp_path: Path, clean: xr.Dataset) -> None:
    concurrent_writers(tmp_path, 20, clean)


def test_a_second_writer_gets_a_typed_error_or_waits(tmp_path: Path, clean: xr.Dataset) -> None:
    tmp_path.mkdir(exist_ok=True)
    with _locked(tmp_path, 0):  # another writer holds the store
        with pytest.raises(StoreLockedError) as info:
            ensemble(tmp_path)
        assert isinstance(info.value, SDError) and isinstance(info.value, BlockingIOError)
        assert str(info.value).startswith(f"The store `{tmp_path}` is in use by process {os.getpid()} (lock file "
                                          f"`{tmp_path / '.lock'}`)")
        with pytest.raises(StoreLockedError):
            ensemble(tmp_path, lock_timeout=0.2)  # waits, then gives up
    same(ensemble(tmp_path), clean)  # released: the store is free


def test_a_dead_writer_leaves_no_lock_and_no_temporaries(tmp_path: Path, clean: xr.Dataset) -> None:
    # A writer killed mid-write: its pid in the lock file, a temporary half written. The
    # operating system dropped its lock; the temporary is never taken for a chunk.
    (tmp_path / ".lock").write_text("999999999\n")
    (tmp_path / ".chunk-00001.x1y2.tmp.nc").write_bytes(b"\x89HDF\r\n half a chunk")
    same(ensemble(tmp_path), clean)
    assert not list(tmp_path.glob("*.tmp*")) and not list(tmp_path.glob(".*.tmp*"))


# -- damage ------------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path, clean: xr.Dataset) -> Path:
    same(ensemble(tmp_path), clean)
    return tmp_path


def recomputed(store: Path, clean: xr.Dataset, *messages: str) -> None:
    """The store resumes with one StoreWarning per message, the clean numbers, and is whole again."""
    with pytest.warns(StoreWarning) as caught:
        same(ensemble(store), clean)
    texts = sorted(str(w.message) for w in caught if issubclass(w.category, StoreWarning))
    assert len(texts) == len(messages), texts
    for text, expected in zip(texts, sorted(messages)):
        assert expected in text, text
    same(quietly(store), clean)


def test_each_chunk_records_its_runs_fingerprint_and_checksum(store: Path) -> None:
    manifest = json.loads((store / "manifest.json").read_text())
    with xr.open_dataset(store / "chunk-00003.nc", engine="h5netcdf") as chunk:
        attrs = dict(chunk.attrs)
        runs = chunk.sizes["run"]
    assert attrs["store_fingerprint"] == manifest["fingerprint"]
    assert (attrs["store_chunk"], attrs["store_run_start"], attrs["store_run_stop"], runs) == (3, 12, 16, 4)
    assert len(attrs["store_checksum"]) == 64
    assert not any(k.startswith("store_") for k in ensemble(store).attrs)  # not in the gathered result


def test_a_truncated_chunk_is_recomputed(store: Path, clean: xr.Dataset) -> None:
    path = store / "chunk-00005.nc"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    recomputed(store, clean, f"Chunk `{path}` of the store cannot be read")


def test_a_bit_flipped_value_is_recomputed(store: Path, clean: xr.Dataset) -> None:
    path = store / "chunk-00002.nc"
    value = float(clean["level"].isel(run=9, time=17))  # chunk 2 holds runs 8 to 11
    raw = bytearray(path.read_bytes())
    at = raw.find(struct.pack("<d", value))
    assert at >= 0
    raw[at] ^= 1  # the last bit of the mantissa: one ulp, a file HDF5 still reads
    path.write_bytes(bytes(raw))
    with xr.open_dataset(path, engine="h5netcdf") as damaged:
        assert float(damaged["level"].isel(run=1, time=17)) != value
    recomputed(store, clean, f"Chunk `{path}` of the store does not match its checksum")


def test_swapped_chunks_are_recomputed(store: Path, clean: xr.Dataset) -> None:
    a, b = store / "chunk-00001.nc", store / "chunk-00004.nc"
    a.rename(store / "swap")
    b.rename(a)
    (store / "swap").rename(b)
    recomputed(store, clean, f"Chunk `{a}` of the store holds runs 16 to 20 (chunk 4), not runs 4 to 8 (chunk 1)",
               f"Chunk `{b}` of the store holds runs 4 to 8 (chunk 1), not runs 16 to 20 (chunk 4)")


def test_a_chunk_of_another_experiment_is_recomputed(store: Path, clean: xr.Dataset, tmp_path_factory:
                                                      pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other")
    run_ensemble(MODEL, {"rate": RATES}, chunk_size=4, seed=SEED + 1, store=other)  # other draws
    (other / "chunk-00000.nc").replace(store / "chunk-00000.nc")
    recomputed(store, clean, f"Chunk `{store / 'chunk-00000.nc'}` of the store belongs to another experiment")


def test_a_damaged_manifest_is_a_typed_error_naming_it(store: Path) -> None:
    manifest = store / "manifest.json"
    for damage in (b'{"fingerprint": "ab', b"\xff\xfe\x00", b"[1, 2]", b"{}"):
        manifest.write_bytes(damage)
        with pytest.raises(StoreError) as info:
            ensemble(store)
        assert isinstance(info.value, SDError) and isinstance(info.value, ValueError)
        assert str(info.value).startswith(f"The manifest `{manifest}` of the store is damaged; delete it")


def test_a_store_of_another_experiment_is_still_refused(store: Path) -> None:
    with pytest.raises(StoreError, match="holds chunks of a different experiment"):
        run_ensemble(MODEL, {"rate": RATES}, chunk_size=4, seed=SEED + 1, store=store)


def test_a_store_that_cannot_be_locked_is_a_typed_error(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a read-only share (tests may run as root, for whom chmod forbids nothing).
    real_open = os.open

    def refuse(path: object, *args: object, **kwargs: object) -> int:
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(StoreError, match=f"The store `{store}` cannot be locked: its lock file `{store / '.lock'}` "
                                         r"cannot be opened \(Permission denied\); make the folder writable"):
        ensemble(store)
