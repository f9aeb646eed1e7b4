"""Vensim functions and constructs read from model files: negative power bases, VECTOR
SELECT/SORT ORDER/REORDER/RANK, GET TIME VALUE, ALLOCATE AVAILABLE/BY PRIORITY and
control variables given by equations.

Each is checked against hand values, numpy, a brute-force reference or the reference
interpreter; the SDXorg canonical outputs are compared in ``test_conformance.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import UnsupportedError

CONTROL = """
FINAL TIME = {final} ~~|
INITIAL TIME = {initial} ~~|
SAVEPER = {saveper} ~~|
TIME STEP = {dt} ~~|
"""


def mdl(tmp_path: Path, body: str, *, final: object = 1, initial: object = 0, saveper: object = "TIME STEP",
        dt: object = 1, name: str = "model.mdl") -> Path:
    path = tmp_path / name
    path.write_text("{UTF-8}\n" + body + CONTROL.format(final=final, initial=initial, saveper=saveper, dt=dt))
    return path


# -- negative numbers raised to a power ----------------------------------------------------------
def test_minus_binds_looser_than_power_unless_bracketed(tmp_path: Path) -> None:
    # Vensim and Stella: -2^2 = -(2^2) = -4 (test-models `tests/exponentiation`); (-2)^2 = 4.
    body = """
a = -2^2 ~~|
b = (-3)^2 ~~|
c = 30^ - 30^-cons ~~|
d = 3 * - 2 ^ 2 ~~|
e = (- 2)^3 + 2^-2 ~~|
cons = 1.2 ~~|
"""
    ds = sd.load(mdl(tmp_path, body)).run()
    got = {k: float(ds[k][0]) for k in "abcde"}
    assert got == pytest.approx({"a": -4.0, "b": 9.0, "c": 30 ** -(30 ** -1.2), "d": -12.0, "e": -8.0 + 0.25})


def test_negative_base_in_xmile_reads_the_equation_text(tmp_path: Path) -> None:
    path = tmp_path / "m.xmile"
    path.write_text("""<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
<header><vendor>test</vendor><product version="1">test</product></header>
<sim_specs><start>0</start><stop>1</stop><dt>1</dt></sim_specs>
<model><variables>
<aux name="minus"><eqn>-2^2</eqn></aux>
<aux name="bracketed"><eqn>(-2)^2</eqn></aux>
</variables></model></xmile>""")
    ds = sd.load(path).run()
    assert float(ds["minus"][0]) == -4.0 and float(ds["bracketed"][0]) == 4.0


def test_negative_base_written_both_ways_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError, match=r"`x` raises the negative number -2 to a power and sdflow cannot "
                                               r"find .* Write `-\(2\^x\)` or `\(0 - 2\)\^x`"):
        sd.load(mdl(tmp_path, "x = -2^2 + (-2)^2 ~~|\n"))


# -- GET TIME VALUE --------------------------------------------------------------------------------
def test_get_time_value_is_time_plus_offset(tmp_path: Path) -> None:
    body = "dim: (A1-A3) ~~|\ng[dim] = GET TIME VALUE(0, dim * 0.5, 0) ~~|\n"
    ds = sd.load(mdl(tmp_path, body, initial=-2, final=1, dt=0.25)).run()
    expected = ds["time"].values[:, None] + np.array([0.5, 1.0, 1.5])[None, :]
    np.testing.assert_allclose(ds["g"].values, expected)


@pytest.mark.parametrize("call, message", [
    ("GET TIME VALUE(1, 0, 0)", r"GET TIME VALUE in `g` is relative to the initial time or the computer clock"),
    ("GET TIME VALUE(2, 0, 0)", r"relativeto 0 \(the current simulation time\) only"),
    ("GET TIME VALUE(0, 0, 3)", r"GET TIME VALUE in `g` asks for a calendar measure"),
])
def test_get_time_value_calendar_and_clock_are_refused(tmp_path: Path, call: str, message: str) -> None:
    with pytest.raises(UnsupportedError, match=message):
        sd.load(mdl(tmp_path, f"g = {call} ~~|\n"))
