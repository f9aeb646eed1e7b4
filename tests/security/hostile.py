"""Hostile model text for the security tests: names and files that would run code if any
of it reached generated source unescaped, and the traps that notice if it does."""

from __future__ import annotations

import html
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["payloads", "guard", "xmile_model", "vensim_model", "stock_values", "FOLDING", "IDENTIFIER_NAMES"]

#: Names that fold together under NFKC, or are not valid in Python source as they stand.
FOLDING = ["µ", "μ", "ﬁx", "fix", "ｃ", "c", "x₂", "y²", "½ life", "ℌ", "Ⅸ"]
#: Names that are Python keywords or builtins, or names the generated code uses itself.
IDENTIFIER_NAMES = ["float", "lambda", "None", "True", "sf", "cs", "_table0", "v0", "v1", "np", "fn", "c", "n", "y",
                    "z", "out", "dy", "zn", "rates", "delay", "print", "__import__", "__builtins__", "self"]


def payloads(marker: Path) -> list[str]:
    """Names that create `marker` if any part of them runs as Python code."""
    call = f"open({str(marker)!r}, 'w')"
    # Generated code is indented by 4 (array code) or 8 (scalar code) spaces: both are tried.
    return [
        f"x\r    {call}  #",
        f"x\r        {call}  #",
        f"x\n    {call}  #",
        f"x\n        {call}  #",
        f"x\r\n{call}\r\n#",
        f'x"""\n{call}\n"""',
        f"x'''\n{call}\n'''",
        f"x'); {call}; ('",
        f'x"); {call}; ("',
        f"x\\\n{call}",
        f"x\u2028{call}",
        f"x\x0c\n    {call}",
        f"x\x85{call}",
        f"x # {call}",
        f"x\x00{call}",
        f"x\u202e{call}",
    ]


@contextmanager
def guard(marker: Path) -> Iterator[list[str]]:
    """Record (and block) every attempt to start a process; afterwards the marker file
    must not exist and nothing may have been started."""
    calls: list[str] = []

    def refuse(*args: object, **kwargs: object) -> int:
        calls.append(repr(args)[:200])
        raise AssertionError(f"model text started a process: {args!r}")

    saved = os.system, subprocess.run, subprocess.Popen
    os.system = refuse  # type: ignore[assignment]
    subprocess.run = refuse  # type: ignore[assignment]
    subprocess.Popen = refuse  # type: ignore[assignment,misc]
    try:
        yield calls
    finally:
        os.system, subprocess.run, subprocess.Popen = saved  # type: ignore[misc]
    assert not marker.exists(), f"model text ran: {marker} was created"
    assert not calls, calls


def _xml(text: str) -> str:
    # Every character that is not plainly printable becomes a character reference, as an
    # attacker's file would write it (XML 1.0 has no reference for NUL: that file is malformed).
    return "".join(ch if ch.isprintable() and ch not in "<>&\"'" else f"&#{ord(ch)};" for ch in text)


def xmile_model(names: Sequence[str], rate: float = 0.3) -> str:
    """An XMILE model: constant `names[0]` = `rate`, stock `names[1]` = 10 drained by flow
    `names[2]` = stock * constant, over 4 time units."""
    k, s, f = (_xml(n) for n in names)
    ref = [html.escape('"' + n.replace("\\", "\\\\").replace('"', '\\"') + '"', quote=False) for n in names]
    return f"""<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
    <header><vendor>test</vendor><product version="1">test</product></header>
    <sim_specs method="Euler" time_units="Months"><start>0</start><stop>4</stop><dt>0.5</dt></sim_specs>
    <model>
        <variables>
            <aux name="{k}"><eqn>{rate}</eqn></aux>
            <stock name="{s}"><eqn>10</eqn><outflow>{ref[2]}</outflow></stock>
            <flow name="{f}"><eqn>{ref[1]} * {ref[0]}</eqn></flow>
        </variables>
    </model>
</xmile>
"""


def vensim_model(names: Sequence[str], rate: float = 0.3) -> str:
    """The model of :func:`xmile_model` as a Vensim file, names in quotes."""
    k, s, f = ('"' + n.replace("\\", "\\\\").replace('"', '\\"') + '"' for n in names)
    return f"""{{UTF-8}}
{k} = {rate}
	~	1/Month
	~	|

{s} = INTEG(-{f}, 10)
	~	people
	~	|

{f} = {s} * {k}
	~	people/Month
	~	|

FINAL TIME = 4
	~	Month
	~	|

INITIAL TIME = 0
	~	Month
	~	|

SAVEPER = TIME STEP
	~	Month
	~	|

TIME STEP = 0.5
	~	Month
	~	|

\\\\\\---/// Sketch information - do not modify anything except names
"""


def stock_values(ds: xr.Dataset) -> np.ndarray:
    """The trajectory of the one stock of a result, whatever it is called."""
    stocks = [name for name, var in ds.data_vars.items() if var.attrs.get("kind") == "stock"]
    assert len(stocks) == 1, stocks
    return np.asarray(ds[stocks[0]].values)
