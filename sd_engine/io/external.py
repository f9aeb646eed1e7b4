"""External data of imported Vensim models: spreadsheets, delimited files and data files.

Vensim models read numbers from files with ``GET XLS/DIRECT CONSTANTS``, ``... DATA``,
``... LOOKUPS`` and ``... SUBSCRIPT``, and data variables without an equation take their
series from a data file (PySD's ``data_files``: a ``.tab``/``.csv`` table with one column,
or row, per variable, as Vensim exports a ``.vdf``). This module reads those files when
the model is loaded, so the numbers become part of the spec (constants, lookup tables,
time series as lookups of time) and every backend sees the same values. PySD's runtime
is not used: spreadsheets are read with pandas (openpyxl for ``.xlsx``, xlrd for
``.xls``), named ranges with openpyxl or xlrd.

Cells follow Vensim's conventions: ``'C5'`` is column C, row 5; a number as the
``time row or col`` argument is a row of times (series across), a letter a column of
times (series down), and anything else a named range. A trailing ``*`` on a constants
cell reads the block transposed. Empty cells inside a series are missing points (the
series interpolates over them, as Vensim does); a cell holding text is an error.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SDError, SpecError, UnsupportedError, did_you_mean
from ..expr import canonical

__all__ = [
    "ExternalDataError",
    "ExternalFileNotFoundError",
    "Series",
    "ExternalReader",
    "cell_position",
    "cell_name",
]

SPREADSHEET_SUFFIXES = (".xls", ".xlsx", ".xlsm")
_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]+)$")


class ExternalDataError(SpecError):
    """A model's external data cannot be read: a missing sheet, cell or named range, or a
    cell that is not a number."""


class ExternalFileNotFoundError(ExternalDataError, FileNotFoundError):
    """A file named by a GET XLS/DIRECT function or given as a data file does not exist."""


@dataclass(frozen=True)
class Series:
    """Points ``(xs, ys)`` read for one element: times of a data variable or the x values
    of a lookup. ``ys`` may hold NaN where a cell was empty."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    where: str  # file, sheet and first cell, for messages


def cell_position(cell: str) -> tuple[int, int] | None:
    """``'C5'`` -> ``(4, 2)``: zero-based row and column; None when `cell` is not a cell."""
    match = _CELL.match(cell.strip())
    if not match or int(match.group(2)) == 0:
        return None
    return int(match.group(2)) - 1, column_number(match.group(1))


def column_number(letters: str) -> int:
    """``'A'`` -> 0, ``'Z'`` -> 25, ``'AA'`` -> 26 (spreadsheet column letters, base 26)."""
    number = 0
    for ch in letters.upper():
        number = number * 26 + (ord(ch) - ord("A") + 1)
    return number - 1


def cell_name(row: int, col: int) -> str:
    """``(4, 2)`` -> ``'C5'``."""
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"{letters}{row + 1}"


@dataclass
class _Sheet:
    """One sheet (or delimited file) as a rectangle of raw cell values."""

    path: Path
    name: str  # sheet name as in the file, or "" for delimited text
    cells: np.ndarray  # 2-D object array

    def label(self) -> str:
        return f"`{self.path.name}`" + (f", sheet `{self.name}`" if self.name else "")


@dataclass(frozen=True)
class _Rect:
    """Rows r0..r1 and columns c0..c1 (zero-based, inclusive) of a sheet."""

    sheet: str
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.r1 - self.r0 + 1, self.c1 - self.c0 + 1


class ExternalReader:
    """Reads the external data of one model, resolving file names against its folder.

    Parameters
    ----------
    folder : Path
        The model file's folder: file names in the model are relative to it.
    files : mapping, optional
        Replacement paths for file names as written in the model (or Vensim's ``?tag``
        indirections), like Vensim's *XLS Files* settings; relative paths are resolved
        against `folder`.
    data_files : sequence of paths, optional
        ``.tab``/``.csv`` tables holding the series of data variables that have no
        equation (PySD's ``data_files``); searched in order.

    Examples
    --------
    >>> cell_position("C5"), cell_name(4, 2), cell_position("AA10")
    ((4, 2), 'C5', (9, 26))
    """

    def __init__(self, folder: Path, files: Mapping[str, str | Path] | None = None,
                 data_files: Sequence[str | Path] | None = None) -> None:
        self.folder = folder
        self.files = {str(k): Path(v) for k, v in (files or {}).items()}
        # A relative data file is looked for beside the model first, then from the working folder.
        self.data_files = [self.folder / p if not Path(p).is_absolute() and (self.folder / p).is_file() else Path(p)
                           for p in (data_files or [])]
        self._books: dict[Path, dict[str, np.ndarray]] = {}
        self._texts: dict[tuple[Path, str], np.ndarray] = {}
        self._names: dict[Path, dict[tuple[str, str], _Rect]] = {}
        self._tables: dict[Path, tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    # -- files and sheets --------------------------------------------------------------------
    def resolve(self, variable: str, name: str) -> Path:
        """The path of file `name` as written in the model; an error naming the variable when
        it does not exist."""
        given = self.files.get(name, self.files.get(name.strip()))
        if given is None and name.startswith("?"):
            raise ExternalFileNotFoundError(
                f"`{variable}` reads file `{name}`, an indirect reference; pass the file as "
                f"`files={{'{name}': 'path'}}` when loading the model."
            )
        path = given if given is not None else Path(name)
        path = path if path.is_absolute() else self.folder / path
        if not path.is_file():
            nearby = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
            hint = did_you_mean(path.name, nearby)
            raise ExternalFileNotFoundError(
                f"`{variable}` reads file `{name}`, which is not in `{path.parent}`.{hint} Put the file "
                f"there or pass `files={{'{name}': 'path'}}` when loading the model."
            )
        return path

    def _sheet(self, variable: str, file: str, tab: str) -> _Sheet:
        """The sheet `tab` of spreadsheet `file`, or delimited file `file` (then `tab` is its
        separator when it is not a letter or digit, as in Vensim's GET DIRECT functions)."""
        path = self.resolve(variable, file)
        if path.suffix.lower() in SPREADSHEET_SUFFIXES:
            book = self.workbook(variable, path)
            names = {canonical_sheet(n): n for n in book}
            # Vensim matches sheet names without regard to case.
            found = names.get(canonical_sheet(tab))
            if found is None:
                raise ExternalDataError(
                    f"`{variable}` reads sheet `{tab}` of `{path.name}`, which has no such sheet (it has "
                    f"{', '.join(f'`{n}`' for n in book)})." + did_you_mean(tab, list(book))
                )
            return _Sheet(path, found, book[found])
        sep = tab if tab and not tab[0].isalnum() else ("," if path.suffix.lower() == ".csv" else "\t")
        key = (path, sep)
        if key not in self._texts:
            self._texts[key] = _read_delimited(path, sep)
        return _Sheet(path, "", self._texts[key])

    def workbook(self, variable: str, path: Path) -> dict[str, np.ndarray]:
        if path not in self._books:
            engine = _excel_engine(variable, path)
            with warnings.catch_warnings():
                # pandas announces it will drop xlrd; it still reads .xls files, which openpyxl cannot.
                warnings.filterwarnings("ignore", message="The xlrd engine is deprecated")
                frames = pd.read_excel(path, sheet_name=None, header=None, dtype=object, engine=engine)
            self._books[path] = {str(name): frame.to_numpy(dtype=object) for name, frame in frames.items()}
        return self._books[path]

    def _named_range(self, variable: str, sheet: _Sheet, name: str) -> _Rect:
        """The cells of range `name`: one local to the sheet first, then a workbook-wide one."""
        if not sheet.name:
            raise ExternalDataError(
                f"`{variable}` reads `{name}` from `{sheet.path.name}`, which is neither a cell such as `B2` nor "
                "possible here: named ranges exist in spreadsheets only."
            )
        if sheet.path not in self._names:
            self._names[sheet.path] = _defined_names(variable, sheet.path)
        names = self._names[sheet.path]
        rect = names.get((canonical_sheet(sheet.name), name.lower())) or names.get(("", name.lower()))
        if rect is None:
            known = sorted({n for s, n in names if s in ("", canonical_sheet(sheet.name))})
            raise ExternalDataError(
                f"`{variable}` reads `{name}` from {sheet.label()}, which is neither a cell such as `B2` nor a "
                "named range of that sheet." + did_you_mean(name.lower(), known)
            )
        return rect

    def _values(self, variable: str, sheet: _Sheet, rect: _Rect, *, missing: bool) -> np.ndarray:
        """The numbers in `rect` as floats; empty cells are NaN when `missing` allows them,
        else an error naming the cell, as is any cell holding text."""
        if rect.sheet and canonical_sheet(rect.sheet) != canonical_sheet(sheet.name):
            book = self._books[sheet.path]
            found = {canonical_sheet(n): n for n in book}[canonical_sheet(rect.sheet)]
            sheet = _Sheet(sheet.path, found, book[found])
        out = np.full(rect.shape, np.nan)
        cells = sheet.cells
        for i in range(rect.shape[0]):
            for j in range(rect.shape[1]):
                r, c = rect.r0 + i, rect.c0 + j
                raw = cells[r, c] if r < cells.shape[0] and c < cells.shape[1] else None
                value = _number(raw)
                if value is None:
                    raise ExternalDataError(
                        f"`{variable}` reads cell {cell_name(r, c)} of {sheet.label()}, which holds `{raw}`, not a "
                        "number; correct the cell or the cell reference in the model."
                    )
                if math.isnan(value) and not missing:
                    raise ExternalDataError(
                        f"`{variable}` reads cell {cell_name(r, c)} of {sheet.label()}, which is empty; fill it "
                        "or correct the cell reference in the model."
                    )
                out[i, j] = value
        return out

    # -- GET ... CONSTANTS -------------------------------------------------------------------
    def constants(self, variable: str, file: str, tab: str, cell: str, shape: Sequence[int]) -> np.ndarray:
        """The block of constants for a block of `shape` (its elements per subscript), in C
        order; Vensim reads a block of at most two ranges as a table, the last range across."""
        transpose = cell.strip().endswith("*")
        cell = cell.strip().rstrip("*")
        table = [n for n in shape if n > 1]
        if len(table) > 2:
            raise UnsupportedError(
                f"`{variable}` reads constants over {len(table)} ranges from `{cell}`; Vensim reads a table of "
                "at most two. Split the equation by one of its subscripts."
            )
        table = [1] * (2 - len(table)) + table
        if transpose:
            table.reverse()
        sheet = self._sheet(variable, file, tab)
        start = cell_position(cell)
        if start is not None:
            rect = _Rect(sheet.name, start[0], start[0] + table[0] - 1, start[1], start[1] + table[1] - 1)
        else:
            rect = self._named_range(variable, sheet, cell)
            if list(rect.shape) != table:
                raise ExternalDataError(
                    f"`{variable}` reads named range `{cell}` of {sheet.label()}, which is {rect.shape[0]}x"
                    f"{rect.shape[1]} cells; its subscripts need {table[0]}x{table[1]}."
                )
        data = self._values(variable, sheet, rect, missing=False)
        if transpose:
            data = data.T
        return data.reshape(tuple(shape))

    # -- GET ... DATA and GET ... LOOKUPS ----------------------------------------------------
    def series(self, variable: str, file: str, tab: str, row_or_col: str, cell: str, size: int) -> list[Series]:
        """`size` series sharing one row (or column, or named range) of times or x values."""
        sheet = self._sheet(variable, file, tab)
        start = cell_position(cell)
        where = f"{sheet.label()} at `{cell}`"
        if row_or_col.strip().isdigit() and start is not None:
            row = int(row_or_col) - 1
            last = sheet.cells.shape[1] - 1
            xs = self._values(variable, sheet, _Rect(sheet.name, row, row, start[1], max(last, start[1])),
                             missing=True)[0]
            ys = self._values(variable, sheet, _Rect(sheet.name, start[0], start[0] + size - 1, start[1],
                                                    max(last, start[1])), missing=True).T
        elif start is not None and re.fullmatch(r"[A-Za-z]{1,3}", row_or_col.strip()):
            col = column_number(row_or_col.strip())
            last = sheet.cells.shape[0] - 1
            xs = self._values(variable, sheet, _Rect(sheet.name, start[0], max(last, start[0]), col, col),
                             missing=True)[:, 0]
            ys = self._values(variable, sheet, _Rect(sheet.name, start[0], max(last, start[0]), start[1],
                                                    start[1] + size - 1), missing=True)
        else:
            x_rect = self._named_range(variable, sheet, row_or_col.strip())
            y_rect = self._named_range(variable, sheet, cell.strip())
            if min(x_rect.shape) != 1:
                raise ExternalDataError(
                    f"`{variable}` reads its times or x values from named range `{row_or_col}` of "
                    f"{sheet.label()}, which is a table; it must be one row or one column."
                )
            across = x_rect.shape[0] == 1
            xs = self._values(variable, sheet, x_rect, missing=True).ravel()
            ys = self._values(variable, sheet, y_rect, missing=True)
            ys = ys.T if across else ys
            if ys.shape != (len(xs), size):
                raise ExternalDataError(
                    f"`{variable}` reads named range `{cell}` of {sheet.label()} with {ys.shape[1]} series of "
                    f"{ys.shape[0]} values; it needs {size} series of {len(xs)} (one per x value)."
                )
            where = f"{sheet.label()} at `{cell}`"
        # Trailing empty cells after the series are not part of it; empty times inside it drop
        # their points; the rest is ordered by time (or x).
        keep = ~np.isnan(xs)
        xs, ys = xs[keep], ys[keep]
        if not len(xs):
            raise ExternalDataError(
                f"`{variable}` finds no times or x values in {sheet.label()} at `{row_or_col}`; correct the row, "
                "column or range in the model."
            )
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
        if np.any(np.diff(xs) == 0):
            repeated = xs[:-1][np.diff(xs) == 0][0]
            raise ExternalDataError(
                f"`{variable}` reads the time or x value {repeated:g} twice from {sheet.label()} at `{row_or_col}`; "
                "each must appear once."
            )
        return [Series(tuple(xs.tolist()), tuple(ys[:, k].tolist()), where) for k in range(size)]

    # -- GET ... SUBSCRIPT -------------------------------------------------------------------
    def subscript(self, dimension: str, file: str, tab: str, first: str, last: str, prefix: str) -> tuple[str, ...]:
        """Element names read across then down from `first` to `last` (to the end of the sheet
        when `last` is empty or names only a row or a column), each after `prefix`."""
        sheet = self._sheet(dimension, file, tab)
        start = cell_position(first)
        if start is None:
            rect = self._named_range(dimension, sheet, first)
        else:
            r1, c1 = sheet.cells.shape[0] - 1, sheet.cells.shape[1] - 1
            end = cell_position(last) if last else None
            if end is not None:
                r1, c1 = end
            elif last and last.strip().isdigit():
                r1 = int(last) - 1
            elif last and re.fullmatch(r"[A-Za-z]{1,3}", last.strip()):
                c1 = column_number(last.strip())
            rect = _Rect(sheet.name, start[0], r1, start[1], c1)
        names = []
        for r in range(rect.r0, rect.r1 + 1):
            for c in range(rect.c0, rect.c1 + 1):
                raw = sheet.cells[r, c] if r < sheet.cells.shape[0] and c < sheet.cells.shape[1] else None
                text = _element_text(raw)
                if text:
                    names.append(prefix + text)
        if not names:
            raise ExternalDataError(
                f"Subscript range `{dimension}` reads no elements from {sheet.label()} between `{first}` and "
                f"`{last}`; correct the cells in the model."
            )
        return tuple(names)

    # -- data files ----------------------------------------------------------------------------
    def data_file_series(self, variable: str, elements: Sequence[tuple[str, ...]]) -> list[Series]:
        """The series of data variable `variable` for each element (a tuple of subscripts, empty
        for a scalar) from the first data file that has it."""
        if not self.data_files:
            raise UnsupportedError(
                f"`{variable}` is a data variable with no equation: its values come from a Vensim data file. "
                "Export the data to a .tab or .csv file and pass it as `data_files=[...]` when loading the model."
            )
        for path in self.data_files:
            times, columns = self.data_table(variable, path)
            wanted = canonical(variable)
            found: dict[tuple[str, ...], np.ndarray] = {}
            for column, values in columns.items():
                name, subs = _split_column(column)
                if canonical(name) == wanted:
                    found[tuple(canonical(s) for s in subs)] = values
            if not found:
                continue
            out = []
            for combo in elements:
                key = tuple(canonical(s) for s in combo)
                if key not in found:
                    label = f"{variable}[{', '.join(combo)}]" if combo else variable
                    raise ExternalDataError(
                        f"Data file `{path.name}` has `{variable}` but no series for `{label}`; add it to the file."
                    )
                out.append(Series(tuple(times.tolist()), tuple(found[key].tolist()), f"`{path.name}`"))
            return out
        names = ", ".join(f"`{p.name}`" for p in self.data_files)
        raise ExternalDataError(f"Data variable `{variable}` is in none of the data files ({names}); add its series.")

    def data_table(self, variable: str, path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A data file as times and one array per column name: variables down the first row
        (a Vensim export) or, transposed, down the first column."""
        if path in self._tables:
            return self._tables[path]
        if not path.is_file():
            raise ExternalFileNotFoundError(f"Data file `{path}` for `{variable}` does not exist.")
        sep = "," if path.suffix.lower() == ".csv" else "\t"
        cells = _read_delimited(path, sep)
        header = [_element_text(c) for c in cells[0, 1:]]
        if header and all(_number(c) is not None and not _is_empty(c) for c in cells[0, 1:] if not _is_empty(c)):
            cells = cells.T  # times across the first row: one row per variable
            header = [_element_text(c) for c in cells[0, 1:]]
        times = np.array([_number(c) for c in cells[1:, 0]], dtype=float)
        keep = ~np.isnan(times)
        columns: dict[str, np.ndarray] = {}
        for j, name in enumerate(header, start=1):
            if not name:
                continue
            raw = cells[1:, j]
            values = np.array([_number(c) if _number(c) is not None else np.nan for c in raw], dtype=float)
            columns[name] = values[keep]
        self._tables[path] = (times[keep], columns)
        return self._tables[path]


def canonical_sheet(name: str) -> str:
    return name.strip().lower()


def _split_column(column: str) -> tuple[str, list[str]]:
    match = re.match(r"^(.*?)\[(.*)\]$", column.strip())
    if not match:
        return column.strip().strip('"'), []
    return match.group(1).strip().strip('"'), [s.strip() for s in match.group(2).split(",")]


def _is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return True
    return isinstance(raw, str) and not raw.strip()


def _number(raw: Any) -> float | None:
    """A cell as a float: NaN when empty, None when it holds text that is not a number."""
    if _is_empty(raw) or raw is pd.NaT:
        return math.nan
    if isinstance(raw, (bool, np.bool_)):
        return float(raw)
    if isinstance(raw, (int, float, np.integer, np.floating)):
        return float(raw)
    try:
        return float(str(raw).strip())
    except ValueError:
        return None


def _element_text(raw: Any) -> str:
    """A cell as an element name: whole numbers without a decimal point (``1``, not ``1.0``)."""
    if _is_empty(raw):
        return ""
    if isinstance(raw, (float, np.floating)) and float(raw).is_integer():
        return str(int(raw))
    return str(raw).strip()


def _excel_engine(variable: str, path: Path) -> str:
    """openpyxl for a zip workbook (.xlsx/.xlsm), xlrd for an OLE2 one (.xls), chosen from the
    file's first bytes: a workbook saved under the other extension is common."""
    with path.open("rb") as file:
        head = file.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "openpyxl"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xlrd"
    raise ExternalDataError(
        f"`{variable}` reads `{path.name}`, which is not an Excel workbook (.xls or .xlsx); save it from a "
        "spreadsheet program in one of those formats."
    )


def _read_delimited(path: Path, sep: str) -> np.ndarray:
    """A delimited text file as a rectangle of strings (rows may have different lengths)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = list(csv.reader(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), delimiter=sep))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    width = max((len(r) for r in rows), default=0)
    cells = np.full((len(rows), width), None, dtype=object)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            cells[i, j] = value
    return cells


def _defined_names(variable: str, path: Path) -> dict[tuple[str, str], _Rect]:
    """Named ranges of a workbook: ``(sheet or "", lower-case name) -> cells``."""
    out: dict[tuple[str, str], _Rect] = {}
    if _excel_engine(variable, path) == "xlrd":
        import xlrd

        book = xlrd.open_workbook(str(path), on_demand=True)
        for name in book.name_obj_list:
            try:
                sheet, r0, r1, c0, c1 = name.area2d()
            except (xlrd.XLRDError, AttributeError, IndexError):
                continue  # a name for a formula or constant, not a range of cells
            scope = "" if name.scope < 0 else canonical_sheet(book.sheet_names()[name.scope])
            out[(scope, name.name.lower())] = _Rect(sheet.name, r0, r1 - 1, c0, c1 - 1)
        return out
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=False, data_only=True)
    scopes: list[tuple[str, Iterable[Any]]] = [("", book.defined_names.items())]
    scopes += [(canonical_sheet(ws.title), ws.defined_names.items()) for ws in book.worksheets]
    for scope, items in scopes:
        for key, definition in items:
            for sheet, cells in definition.destinations:
                parts = cells.replace("$", "").split(":")
                first = cell_position(parts[0])
                last = cell_position(parts[-1])
                if first is None or last is None:
                    continue
                out[(scope, str(key).lower())] = _Rect(sheet, first[0], last[0], first[1], last[1])
    return out
