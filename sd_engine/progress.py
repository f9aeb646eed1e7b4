"""Progress bars for long work: one place that decides when a bar shows and what it counts.

A bar counts the units a person thinks in (runs of an ensemble, steps of a run or a sampler,
loops searched, parameters profiled), appears only on a terminal (tqdm's ``disable=None``:
a log file or a pipe gets no bar) and only for work longer than half a second, and is off
everywhere when ``SDFLOW_QUIET`` is set (``sdflow --quiet`` sets it).

>>> with progress_bar(3, "run", "demo", enabled=False) as bar:
...     bar.update(3)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["progress_bar", "QUIET_VARIABLE"]

#: Set (to anything but an empty string) to switch every progress bar off.
QUIET_VARIABLE = "SDFLOW_QUIET"


class _Silent:
    def update(self, n: float = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass


@contextlib.contextmanager
def progress_bar(total: float, unit: str, desc: str, *, initial: float = 0, enabled: bool = True) -> Iterator[Any]:
    """A tqdm bar of `total` `unit`s, or a silent stand-in with the same ``update`` method."""
    if not enabled or os.environ.get(QUIET_VARIABLE):
        yield _Silent()
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, unit=unit, desc=desc, leave=False, delay=0.5, disable=None,
               dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
