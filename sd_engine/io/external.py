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

Model files are untrusted: a file name written in the model is read only when its real path
(symbolic links resolved) lies inside the model's folder tree, or inside the wider folder
the user passes as ``data_root``. Files the user names explicitly (``files=`` and
``data_files=``) are the user's choice and are read wherever they are. Every file read is
recorded (:class:`DataFile`: path relative to the model, size, SHA-256) for the results'
provenance, and error messages quote cell text only as a short sanitised excerpt.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
import stat
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SDError, SpecError, UnsupportedError, did_you_mean, excerpt
from ..expr import canonical

__all__ = [
    "ExternalDataError",
    "ExternalFileNotFoundError",
    "DataAccessError",
    "DataFile",
    "settings_indirections",
    "Series",
    "ExternalReader",
    "cell_position",
    "cell_name",
]

SPREADSHEET_SUFFIXES = (".xls", ".xlsx", ".xlsm")
#: Vensim's :NA:, the value of data it does not have (as equations read ``:NA:``).
VENSIM_NA = -1e38
_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]+)$")


class ExternalDataError(SpecError):
    """A model's external data cannot be read: a missing sheet, cell or named range, or a
    cell that is not a number."""


class ExternalFileNotFoundError(ExternalDataError, FileNotFoundError):
    """A file named by a GET XLS/DIRECT function or given as a data file does not exist."""


class DataAccessError(ExternalDataError, PermissionError):
    """A model file names a data file outside the folders it may read (its own folder tree,
    or ``data_root``), or a path that is not a regular file."""


#: A delimited file is read into a rectangle of cells as wide as its longest row; refuse one
#: whose rectangle would be this many times larger than the cells it holds (plus a margin):
#: a few long rows over many short ones (150 KB of text asking for 18.6 GiB) is no table.
_RAGGED_FACTOR = 20
_RAGGED_MARGIN = 1_000_000


@dataclass(frozen=True)
class DataFile:
    """One file a model read: its path relative to the model's folder (``/`` separated), its
    size in bytes and the SHA-256 of its contents, as recorded in the results' provenance."""

    path: str
    size: int
    sha256: str


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
        against `folder`. The user chose these, so they may lie anywhere.
    data_files : sequence of paths, optional
        ``.tab``/``.csv`` tables holding the series of data variables that have no
        equation (PySD's ``data_files``); searched in order. Also the user's choice.
    data_root : path, optional
        The folder whose tree file names written in the model may reach (by default
        `folder`): a model in ``project/models/`` reading ``../data/x.xlsx`` needs
        ``data_root="project"``.
    model : str
        The model file's name, for messages.

    Attributes
    ----------
    read : tuple of DataFile
        The files read so far, in the order first read.

    Examples
    --------
    >>> cell_position("C5"), cell_name(4, 2), cell_position("AA10")
    ((4, 2), 'C5', (9, 26))
    """

    def __init__(self, folder: Path, files: Mapping[str, str | Path] | None = None,
                 data_files: Sequence[str | Path] | None = None, *, data_root: str | Path | None = None,
                 model: str = "") -> None:
        self.folder = folder
        self.model = model or "the model"
        root = Path(data_root) if data_root is not None else folder
        if data_root is not None and not root.is_dir():
            raise ExternalFileNotFoundError(
                f"`data_root` `{root}` is not a folder; give the folder that holds the model's data files."
            )
        self.root = Path(os.path.realpath(root))
        self._given_root = os.path.abspath(root)  # as given, links not resolved: to explain refusals
        self.files = {str(k): Path(v) for k, v in (files or {}).items()}
        # A relative data file is looked for beside the model first, then from the working folder.
        self.data_files = [self.folder / p if not Path(p).is_absolute() and (self.folder / p).is_file() else Path(p)
                           for p in (data_files or [])]
        # Paths the user gave are read wherever they are; names written in the model are confined.
        self._chosen = {os.path.realpath(p if p.is_absolute() else self.folder / p) for p in self.files.values()}
        self._chosen |= {os.path.realpath(p) for p in self.data_files}
        self._read: dict[str, tuple[DataFile, bytes]] = {}
        #: ``?tag`` -> file name, from the model's own settings (:func:`settings_indirections`):
        #: names written in the model, so confined to `data_root` like any other.
        self.indirect: dict[str, str] = {}
        self._books: dict[Path, dict[str, np.ndarray]] = {}
        self._texts: dict[tuple[Path, str], np.ndarray] = {}
        self._names: dict[Path, dict[tuple[str, str], _Rect]] = {}
        self._tables: dict[Path, tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    @property
    def read(self) -> tuple[DataFile, ...]:
        return tuple(record for record, _ in self._read.values())

    # -- files and sheets --------------------------------------------------------------------
    def resolve(self, variable: str, name: str) -> Path:
        """The path of file `name` as written in the model; an error naming the variable when
        it does not exist or lies outside the folders the model may read."""
        given = self.files.get(name, self.files.get(name.strip()))
        shown = excerpt(name, 200)
        via = ""
        if given is None and name.strip() in self.indirect:
            # Vensim resolves `?tag` in Model>Settings>XLS Files, which the .mdl file stores.
            via = f" (`{shown}` in the model's XLS Files settings)"
            name = self.indirect[name.strip()]
            shown = excerpt(name, 200)
            given = self.files.get(name)
        if given is None and name.startswith("?"):
            raise ExternalFileNotFoundError(
                f"`{variable}` reads file `{shown}`, an indirect reference; pass the file as "
                f"`files={{'{shown}': 'path'}}` when loading the model."
            )
        path = given if given is not None else Path(name)
        path = path if path.is_absolute() else self.folder / path
        if given is None:
            # Checked before the file is looked for, so a refusal says nothing about whether
            # a file outside exists.
            self._confine(variable, shown, path)
        if not path.is_file():
            nearby = self._nearby(path.parent, confined=given is None)
            hint = did_you_mean(path.name, nearby)
            raise ExternalFileNotFoundError(
                f"`{variable}` reads file `{shown}`{via}, which is not in `{path.parent}`.{hint} Put the file "
                f"there or pass `files={{'{shown}': 'path'}}` when loading the model."
            )
        return path

    def _inside(self, path: str | Path) -> bool:
        """Whether the real path of `path` (every symbolic link resolved) is in the allowed tree."""
        return _within(os.path.realpath(path), str(self.root))

    def _confine(self, variable: str, shown: str, path: Path) -> None:
        if self._inside(path):
            return
        lexical = os.path.abspath(path)  # `..` folded, links kept
        linked = _within(lexical, self._given_root) or _within(lexical, str(self.root))
        linked_text = " (through a symbolic link)" if linked else ""
        raise DataAccessError(
            f"`{self.model}`: `{variable}` reads file `{shown}`, which is outside the folder `{self.root}`"
            f"{linked_text}; a model reads data only from its own folder tree. Move the file there, allow a wider "
            f"folder with `data_root=` (`--data-root DIR` on the command line), or pass the file yourself "
            f"with `files={{'{shown}': 'path'}}`."
        )

    def _nearby(self, parent: Path, *, confined: bool) -> list[str]:
        """Names in `parent` for a "did you mean" hint: none from outside the allowed tree."""
        if not parent.is_dir() or (confined and not self._inside(parent)):
            return []
        try:
            entries = list(parent.iterdir())
        except OSError:
            return []
        return [p.name for p in entries if not confined or self._inside(p)]

    def contents(self, variable: str, path: Path) -> bytes:
        """The bytes of `path`, read once and recorded for provenance; only regular files are
        read (a FIFO would block, a device never end)."""
        real = os.path.realpath(path)
        if real in self._read:
            return self._read[real][1]
        if not (self._inside(real) or real in self._chosen):
            # Reached only through a name the model wrote: confine it (a path given by the user
            # was added to `_chosen`).
            self._confine(variable, excerpt(path.name, 200), path)
        try:
            info = os.stat(real)
        except OSError as exc:
            raise ExternalFileNotFoundError(f"`{variable}` reads file `{path}`, which cannot be opened "
                                            f"({exc.strerror}).") from None
        if not stat.S_ISREG(info.st_mode):
            raise DataAccessError(
                f"`{self.model}`: `{variable}` reads `{excerpt(path.name, 200)}`, which is not a regular file "
                "(a folder, pipe or device); name a spreadsheet or a delimited text file."
            )
        available = _available_memory()
        if info.st_size > available / 4:
            raise ExternalDataError(
                f"`{variable}` reads `{path.name}`, a file of {info.st_size / 2**30:.1f} GiB, more than a quarter "
                f"of the {available / 2**30:.1f} GiB of memory free; keep only the data the model needs in the file."
            )
        with open(real, "rb") as file:
            data = file.read()
        where = os.path.relpath(os.path.abspath(path), os.path.abspath(self.folder))
        record = DataFile(Path(where).as_posix(), len(data), hashlib.sha256(data).hexdigest())
        self._read[real] = (record, data)
        return data

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
                    f"`{variable}` reads sheet `{excerpt(tab, 40)}` of `{path.name}`, which has no such sheet (it "
                    f"has {', '.join(f'`{n}`' for n in book)})." + did_you_mean(tab, list(book))
                )
            return _Sheet(path, found, book[found])
        sep = tab if tab and not tab[0].isalnum() else ("," if path.suffix.lower() == ".csv" else "\t")
        key = (path, sep)
        if key not in self._texts:
            self._texts[key] = _read_delimited(path, self.contents(variable, path), sep)
        return _Sheet(path, "", self._texts[key])

    def workbook(self, variable: str, path: Path) -> dict[str, np.ndarray]:
        if path not in self._books:
            data = self.contents(variable, path)
            engine = _excel_engine(variable, path, data)
            if engine == "openpyxl":
                _check_unpacked_size(variable, path, data)
            with warnings.catch_warnings():
                # pandas announces it will drop xlrd; it still reads .xls files, which openpyxl cannot.
                warnings.filterwarnings("ignore", message="The xlrd engine is deprecated")
                frames = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=object, engine=engine)
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
            self._names[sheet.path] = _defined_names(variable, sheet.path, self.contents(variable, sheet.path))
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
        """The numbers in `rect` as floats; empty cells, and cells holding text, are NaN when
        `missing` allows them (a series of data or a lookup: Vensim treats a cell that is not a
        number as a missing value and interpolates over it, SDXorg test-models
        ``tests/get_with_missing_values_xlsx``), else an error naming the cell."""
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
                if value is None and missing:
                    value = math.nan
                if value is None:
                    # Only an excerpt: the cell may hold anything (a message can end up in a log).
                    raise ExternalDataError(
                        f"`{variable}` reads cell {cell_name(r, c)} of {sheet.label()}, which holds "
                        f"`{excerpt(raw)}`, not a number; correct the cell or the cell reference in the model."
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
            # Vensim reads such a variable from the datasets (.vdf) named when simulating, a binary
            # format of its own that sdflow does not read; say which ones lie beside the model.
            beside = sorted(p.name for p in self.folder.glob("*") if p.suffix.lower() == ".vdf")[:3]
            there = f" (beside the model: {', '.join(f'`{excerpt(n, 80)}`' for n in beside)})" if beside else ""
            raise UnsupportedError(
                f"`{variable}` is a data variable with no equation: Vensim reads its values from a dataset (.vdf)"
                f"{there}, which sdflow does not read. Export the data from Vensim to a .tab or .csv file and "
                "pass it as `data_files=[...]` when loading the model."
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
                    # Vensim: an element of a data variable with no data is :NA: (-1e38), which
                    # equations test with `x = :NA:` (SDEverywhere's sumif).
                    out.append(Series((float(times[0]),), (VENSIM_NA,), f"`{path.name}` (no series: :NA:)"))
                    continue
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
        cells = _read_delimited(path, self.contents(variable, path), sep)
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


def settings_indirections(text: str) -> dict[str, str]:
    """The ``?tag`` file references a Vensim file resolves in its settings (Model>Settings>XLS
    Files), which the .mdl stores after its sketch as ``30:?tag=file`` lines.

    Examples
    --------
    >>> settings_indirections("x = 1 ~~|\\n:L\\x7f<%^E!@\\n9:run\\n30:?data=data.xlsx\\n")
    {'?data': 'data.xlsx'}
    """
    marker = text.find("<%^E!@")
    if marker < 0:
        return {}
    found: dict[str, str] = {}
    for line in text[marker:].splitlines():
        tag, equals, file = line.strip()[3:].partition("=") if line.startswith("30:?") else ("", "", "")
        if equals and tag.strip() and file.strip():
            found.setdefault(tag.strip(), file.strip())
    return found


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


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


def _excel_engine(variable: str, path: Path, data: bytes) -> str:
    """openpyxl for a zip workbook (.xlsx/.xlsm), xlrd for an OLE2 one (.xls), chosen from the
    file's first bytes: a workbook saved under the other extension is common."""
    head = data[:8]
    if head.startswith(b"PK\x03\x04"):
        return "openpyxl"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xlrd"
    raise ExternalDataError(
        f"`{variable}` reads `{path.name}`, which is not an Excel workbook (.xls or .xlsx); save it from a "
        "spreadsheet program in one of those formats."
    )


def _check_unpacked_size(variable: str, path: Path, data: bytes) -> None:
    """Refuse an .xlsx workbook (a zip archive) whose unpacked size would not fit in memory:
    a few kilobytes can unpack to gigabytes of cells (a "zip bomb")."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ExternalDataError(f"`{variable}` reads `{path.name}`, which is a damaged workbook ({exc}); save it "
                                "again from a spreadsheet program.") from None
    # openpyxl keeps several times the XML's size per cell; a quarter of free memory is the limit.
    available = _available_memory()
    if 4 * unpacked > available / 4:
        raise ExternalDataError(
            f"`{variable}` reads `{path.name}`, a workbook of {len(data):,} bytes that unpacks to {unpacked:,} bytes, "
            f"more than this machine can read with {available / 2**30:.1f} GiB free; save the data the model needs "
            "in a smaller workbook or a .csv file."
        )


def _available_memory() -> float:
    """Bytes of memory available to this process (psutil comes with dask.distributed)."""
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil is a dependency of distributed
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _read_delimited(path: Path, raw: bytes, sep: str) -> np.ndarray:
    """A delimited text file as a rectangle of strings (rows may have different lengths)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = list(csv.reader(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), delimiter=sep))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    width = max((len(r) for r in rows), default=0)
    filled = sum(len(r) for r in rows)
    if len(rows) * width > _RAGGED_FACTOR * filled + _RAGGED_MARGIN:
        # The rectangle of object pointers alone would take len(rows) * width * 8 bytes.
        raise ExternalDataError(
            f"`{path.name}` has {len(rows):,} rows but its longest has {width:,} cells: read as a table it would "
            f"need {len(rows) * width:,} cells ({len(rows) * width * 8 / 2**30:.1f} GiB) for {filled:,} values. "
            "Give every row of the table about the same number of cells."
        )
    cells = np.full((len(rows), width), None, dtype=object)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            cells[i, j] = value
    return cells


def _defined_names(variable: str, path: Path, data: bytes) -> dict[tuple[str, str], _Rect]:
    """Named ranges of a workbook: ``(sheet or "", lower-case name) -> cells``."""
    out: dict[tuple[str, str], _Rect] = {}
    if _excel_engine(variable, path, data) == "xlrd":
        import xlrd

        book = xlrd.open_workbook(file_contents=data, on_demand=True)
        for name in book.name_obj_list:
            try:
                sheet, r0, r1, c0, c1 = name.area2d()
            except (xlrd.XLRDError, AttributeError, IndexError):
                continue  # a name for a formula or constant, not a range of cells
            scope = "" if name.scope < 0 else canonical_sheet(book.sheet_names()[name.scope])
            out[(scope, name.name.lower())] = _Rect(sheet.name, r0, r1 - 1, c0, c1 - 1)
        return out
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=False, data_only=True)
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
