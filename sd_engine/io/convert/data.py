"""Values and series a model reads from data files when it is loaded.

GET XLS/DIRECT CONSTANTS give numbers; GET XLS/DIRECT LOOKUPS and DATA, and data variables
without an equation (read from ``data_files``), give one table of points per element
(:class:`ExternalTables`). The files themselves are read, confined to the model's folder
tree, by :class:`sd_engine.io.external.ExternalReader`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import SpecError, UnsupportedError
from ...expr import canonical
from ...spec import LookupTable
from ..external import ExternalDataError, ExternalReader, Series
from .elements import describe
from .subscripts import Subscripts

__all__ = ["EXTERNAL", "ExternalTables", "read_external", "points"]

#: Abstract structures whose values are read from files when the model is loaded.
EXTERNAL = {"GetConstantsStructure", "GetDataStructure", "GetLookupsStructure", "DataStructure"}


@dataclass(frozen=True)
class ExternalTables:
    """The tables of a block read from a file: per element (a tuple of element names), its
    points; ``mode`` is ``lookup`` for GET LOOKUPS, else the data variable's reading."""

    tables: tuple[tuple[tuple[str, ...], LookupTable], ...]
    mode: str
    source: str

    def table(self, combo: Sequence[str]) -> LookupTable:
        key = tuple(canonical(c) for c in combo)
        for elements, table in self.tables:
            if tuple(canonical(e) for e in elements) == key:
                return table
        raise SpecError(f"No table was read for element [{', '.join(combo)}].")


def read_external(name: str, subs: tuple[str, ...], ast: Any, keyword: str | None, subscripts: Subscripts,
                  external: ExternalReader) -> Any:
    """A GET XLS/DIRECT block or a data variable without equation, read from its file: an
    array of numbers (constants) or the table of each element (lookups, data)."""
    elements = [subscripts.expand(sub, name) for sub in subs]
    shape = [len(e) for e in elements]
    combos = list(itertools.product(*elements))
    kind = type(ast).__name__
    if kind == "GetConstantsStructure":
        values = external.constants(name, str(ast.file), str(ast.tab), str(ast.cell), shape)
        return float(values.ravel()[0]) if values.size == 1 else values
    if kind == "DataStructure":
        series = external.data_file_series(name, combos)
    else:
        if sum(n > 1 for n in shape) > 1:
            raise UnsupportedError(
                f"`{name}` reads {describe(kind)} for a block over {sum(n > 1 for n in shape)} ranges; Vensim "
                "reads one series per row (or column). Split the equation by one of its subscripts."
            )
        axis = ast.time_row_or_col if kind == "GetDataStructure" else ast.x_row_or_col
        series = external.series(name, str(ast.file), str(ast.tab), str(axis), str(ast.cell), len(combos))
    mode = "lookup" if kind == "GetLookupsStructure" else (keyword or "interpolate").replace(" ", "_")
    if mode not in ("lookup", "interpolate", "hold_backward", "look_forward", "raw"):
        raise UnsupportedError(f"Data variable `{name}` is read as `{mode}`, which sdflow does not support.")
    tables = tuple((tuple(combo), points(name, combo, s)) for combo, s in zip(combos, series))
    return ExternalTables(tables, mode, series[0].where if series else "")


def points(name: str, combo: Sequence[str], series: Series) -> LookupTable:
    """One element's points, leaving out empty cells: a data variable interpolates (or holds)
    over a missing value as Vensim does, and a lookup reads between its other points."""
    xs = np.asarray(series.xs, dtype=float)
    ys = np.asarray(series.ys, dtype=float)
    keep = np.isfinite(ys)
    if not keep.any():
        label = f"{name}[{', '.join(combo)}]" if combo else name
        raise ExternalDataError(f"`{label}` has no numbers in {series.where}; fill its cells or correct the reference.")
    return LookupTable(tuple(xs[keep].tolist()), tuple(ys[keep].tolist()))
