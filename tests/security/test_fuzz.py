"""Fuzzing the front ends: mutated model files never crash, hang or fail untyped.

Seeds are Vensim and XMILE files from the shared SDXorg test-models and the XMILE the
library writes for its own models. Each case applies one or two mutations (bit flips,
truncation, duplicated, deleted or swapped lines, injected control characters, random
bytes, extreme numbers), then loads the file and runs a few steps. Every outcome must be
one of: loaded and ran; loaded, and the run stopped with a typed
:class:`~sd_engine.errors.SDError`; or refused by a typed ``SDError`` naming the file.
Anything else -- an untyped exception, a case running past its time limit, a crash of the
process -- fails the test, listing the cases so they can be replayed (a case is its seed
file and number; ``mutate`` is deterministic).

A few hundred cases run in the normal suite (well under a minute); thousands run under
``-m slow``.
"""

from __future__ import annotations

import random
import signal
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import SDError
from sd_engine.io.xmile_writer import to_xmile

#: Seconds a case may take (load and a few steps); a hang shows as a failure, not a stuck suite.
CASE_SECONDS = 10.0
SHARED_SEEDS = [
    "samples/teacup/teacup.mdl", "samples/teacup/teacup.xmile", "samples/SIR/SIR.mdl", "samples/SIR/SIR.xmile",
    "tests/delays/test_delays.mdl", "tests/subscript_2d_arrays/test_subscript_2d_arrays.mdl",
    "tests/lookups_with_expr/test_lookups_with_expr.mdl", "tests/if_stmt/if_stmt.xmile",
    "tests/smooth_and_stock/test_smooth_and_stock.xmile", "tests/subscripted_lookups/test_subscripted_lookups.mdl",
]
LIBRARY_SEEDS = ["sir", "two_stage_delayed_discharge"]
_EXTREMES = [b"0", b"-0", b"1e308", b"-1e308", b"1e-308", b"nan", b"inf", b"-1", b"99999999999", b"1e400", b""]
_CONTROL = ["\x00", "\r", "\n", "\x1b", "\x7f", "\x0c", "\u2028", "\u202e", "\ufeff", "\x85"]


class _CaseTimeout(BaseException):
    """A case ran past CASE_SECONDS (a BaseException, so no `except Exception` swallows it)."""


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [data]


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def duplicate_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    return b"".join(lines[:i + 1] + [lines[i]] + lines[i + 1:])


def delete_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    del lines[rng.randrange(len(lines))]
    return b"".join(lines)


def swap_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def inject_control(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(_CONTROL).encode() + data[at:]


def insert_random_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data[at:]


def replace_number(data: bytes, rng: random.Random) -> bytes:
    import re

    numbers = list(re.finditer(rb"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", data))
    if not numbers:
        return flip_bits(data, rng)
    found = rng.choice(numbers)
    return data[:found.start()] + rng.choice(_EXTREMES) + data[found.end():]


MUTATORS: list[Callable[[bytes, random.Random], bytes]] = [
    flip_bits, truncate, duplicate_line, delete_line, swap_lines, inject_control, insert_random_bytes, replace_number,
]


def mutate(data: bytes, key: str) -> bytes:
    """Case `key`'s mutation of `data` (one or two mutators, chosen by a generator seeded with the key)."""
    rng = random.Random(key)
    for _ in range(rng.choice((1, 1, 2))):
        data = rng.choice(MUTATORS)(data, rng)
    return data


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    from paths import TEST_MODELS

    if not TEST_MODELS.exists():
        pytest.skip("shared test-models not found next to the project")
    found = {name: (TEST_MODELS / name).read_bytes() for name in SHARED_SEEDS if (TEST_MODELS / name).exists()}
    for name in LIBRARY_SEEDS:
        found[f"library/{name}.xmile"] = to_xmile(sd.load(name).spec).encode("utf-8")
    # Each seed must load unmutated: a fuzz of files that never worked would test nothing.
    folder = tmp_path_factory.mktemp("seeds")
    for name, data in found.items():
        path = folder / Path(name).name
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sd.load(path).run()
    return found


def run_case(path: Path) -> str:
    """Load and run the file at `path` for a few steps; return the outcome, or raise what is untyped."""
    try:
        model = sd.load(path)
    except SDError as exc:
        assert f"`{path.name}`" in str(exc), f"a refusal that does not name the file: {exc}"
        return "refused"
    t = model.spec.time
    try:
        # A few steps only: the fuzz is of the front ends; huge or tiny time settings are the
        # resource guards' business.
        model.run(final_time=t.initial_time + 4 * t.dt, saveper=t.dt, errors="mark")
    except SDError:
        return "stopped"
    return "ran"


def fuzz(seeds: dict[str, bytes], per_seed: int, folder: Path) -> dict[str, int]:
    if not hasattr(signal, "setitimer"):
        pytest.skip("per-case time limits need signal.setitimer")

    def on_alarm(signum: int, frame: object) -> None:
        raise _CaseTimeout

    outcomes = {"ran": 0, "stopped": 0, "refused": 0}
    failures: list[str] = []
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        for name, data in seeds.items():
            suffix = Path(name).suffix
            for case in range(per_seed):
                key = f"{name}:{case}"
                path = folder / f"case{suffix}"
                path.write_bytes(mutate(data, key))
                signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
                try:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        outcomes[run_case(path)] += 1
                except _CaseTimeout:
                    failures.append(f"{key}: no result after {CASE_SECONDS} s")
                except Exception as exc:  # noqa: BLE001 -- an untyped error is the finding
                    failures.append(f"{key}: {type(exc).__name__}: {str(exc)[:200]}")
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert not failures, f"{len(failures)} case(s) failed:\n" + "\n".join(failures[:40])
    return outcomes


def test_fuzz_mutated_model_files(seeds: dict[str, bytes], tmp_path: Path) -> None:
    outcomes = fuzz(seeds, 30, tmp_path)
    assert sum(outcomes.values()) == 30 * len(seeds) >= 360
    # The mutations reach both sides: files that still run and files that are refused.
    assert outcomes["refused"] > 50 and outcomes["ran"] > 50, outcomes


@pytest.mark.slow
def test_fuzz_thousands_of_mutated_model_files(seeds: dict[str, bytes], tmp_path: Path) -> None:
    outcomes = fuzz({f"{name}": data for name, data in seeds.items()}, 400, tmp_path)
    assert sum(outcomes.values()) == 400 * len(seeds)


def test_mutations_are_reproducible() -> None:
    data = b"x = 1\n~~|\ny = 2\n~~|\n"
    assert mutate(data, "a:1") == mutate(data, "a:1")
    assert len({mutate(data, f"a:{i}") for i in range(50)}) > 30
