"""Reading calibration CSV files strictly, with errors that name the file, row and column.

A local data file is usually exported from a spreadsheet, and the ways that goes wrong are
few and well known: the file is empty, saved as UTF-16 ("Unicode text"), has a row with a
missing or extra comma, a row without its date, or a cell with a footnote mark, a thousands
separator or a "n/a". pandas' reader pads short rows silently and turns a stray character
into a column of text, so :func:`read_csv_data` reads the rows itself with :mod:`csv` and
refuses each of these with a :class:`~calibration.errors.DataError` that names the file,
the row (as a spreadsheet numbers it: the header is row 1) and the column, quoting at most a
short, sanitised excerpt of the offending cell.

The format (see ``docs/calibration_data.rst``): UTF-8 (a byte-order mark is allowed), comma
separated, one header row, then one row per period; the first column (or the one named by
``time``) holds the period's date (``YYYY-MM-DD``) or model time; every other column is a
series of numbers. An empty cell, ``NA``, ``N/A`` or ``NaN`` is a missing value (a gap).

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "local.csv"
>>> _ = path.write_text("period,attendances\\n2016-04-01,1200\\n2016-05-01,\\n")
>>> read_csv_data(path)["attendances"].tolist()
[1200.0, nan]
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sd_engine.errors import did_you_mean, excerpt

from .errors import DataError

__all__ = ["read_csv_data", "MISSING"]

#: Cell texts read as a missing value (compared case-insensitively, after stripping spaces).
MISSING = frozenset({"", "na", "n/a", "nan"})


def _decode(path: Path, raw: bytes) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4096]:
        raise DataError(
            f"`{path.name}` is saved as UTF-16 (\"Unicode text\"); save it as \"CSV UTF-8 (comma delimited)\" "
            "and try again."
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        row = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"`{path.name}` row {row} is not UTF-8 text (byte 0x{raw[err.start]:02x}); save the file as "
            "\"CSV UTF-8 (comma delimited)\"."
        ) from None


def _number(cell: str) -> float | None:
    """The cell's value, NaN for a missing value, None when it is not a number."""
    text = cell.strip()
    if text.lower() in MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _dates(path: Path, key: str, labels: list[str], lines: list[int]) -> pd.DatetimeIndex:
    """The time column as dates; a label that is not an ISO date is named with its row."""
    try:
        return pd.DatetimeIndex(pd.to_datetime(labels, format="ISO8601"))
    except (ValueError, TypeError):
        pass
    for label, line in zip(labels, lines):
        try:
            pd.to_datetime(label, format="ISO8601")
        except (ValueError, TypeError):
            raise DataError(
                f"`{path.name}` row {line}, column `{key}`: `{excerpt(label)}` is neither a date (YYYY-MM-DD) nor a "
                "number; give every row's period as an ISO date, or every row's model time as a number."
            ) from None
    raise DataError(f"`{path.name}` column `{key}` mixes dates and numbers; use one or the other in every row.")


def read_csv_data(path: str | Path, time: str | None = None) -> pd.DataFrame:
    """A calibration CSV file as a float frame indexed by its time column.

    Parameters
    ----------
    path : str or Path
        The file.
    time : str, optional
        The time column; the first column by default.

    Returns
    -------
    pandas.DataFrame
        Indexed by the time column's text (dates are parsed later, against the model's
        origin) or numbers; one float column per series, NaN where a cell is missing.

    Raises
    ------
    DataError
        The file is missing, empty, UTF-16 or not UTF-8, has fewer than two columns, an empty
        or repeated column name, a row with more or fewer cells than the header, a row
        without a time, or a cell that is not a number.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"There is no data file `{path}`; check the path.")
    if path.is_dir():
        raise DataError(f"`{path}` is a folder; give the path of a CSV file.")
    text = _decode(path, path.read_bytes())
    if not text.strip():
        raise DataError(f"`{path.name}` is empty; it needs a header row and one row per period.")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as err:
        raise DataError(f"`{path.name}` row 1 cannot be read as CSV ({err}); check its quotes.") from None
    if len(header) < 2:
        raise DataError(f"`{path.name}` needs a header row with a time column and at least one data column, "
                        f"separated by commas; its first row has {len(header)} column.")
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"`{path.name}` column {j + 1} has no name in the header row; name every column.")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"`{path.name}` has two columns called `{excerpt(name)}`; give each column its own name.")
        seen.add(name)
    key = time if time is not None else header[0]
    if key not in header:
        raise DataError(f"`{excerpt(key)}` is not a column of `{path.name}`." + did_you_mean(key, header)
                        + f" Its columns are {', '.join(header)}.")
    k = header.index(key)
    labels: list[str] = []
    lines: list[int] = []
    rows: list[list[float]] = []
    line = 1
    try:
        for record in reader:
            line = reader.line_num
            if not record or all(not cell.strip() for cell in record):
                continue  # blank lines (often at the end of an export) carry nothing
            if len(record) != len(header):
                raise DataError(
                    f"`{path.name}` row {line} has {len(record)} cells but the header has {len(header)}; every row "
                    "needs one cell per column (leave a cell empty for a missing value, and quote text with commas)."
                )
            label = record[k].strip()
            if not label:
                raise DataError(f"`{path.name}` row {line} has no time in column `{key}`; give every row its period "
                                "(YYYY-MM-DD) or model time, or delete the row.")
            values: list[float] = []
            for j, cell in enumerate(record):
                if j == k:
                    continue
                value = _number(cell)
                if value is None:
                    raise DataError(
                        f"`{path.name}` row {line}, column `{header[j]}`: `{excerpt(cell)}` is not a number; write "
                        "plain numbers (no thousands separators, units or notes) and leave missing values empty."
                    )
                values.append(value)
            labels.append(label)
            lines.append(line)
            rows.append(values)
    except csv.Error as err:
        raise DataError(f"`{path.name}` row {reader.line_num} cannot be read as CSV ({err}); check its quotes.") \
            from None
    if not rows:
        raise DataError(f"`{path.name}` has a header but no data rows; add one row per period.")
    columns = [h for j, h in enumerate(header) if j != k]
    index: pd.Index = pd.Index(labels, name=key)
    numbers = [_number(v) for v in labels]
    if all(v is not None and not math.isnan(v) for v in numbers):
        index = pd.Index(np.array(numbers, dtype=float), name=key)
    else:
        index = pd.Index(_dates(path, key, labels, lines), name=key)
    return pd.DataFrame(np.array(rows, dtype=float).reshape(len(rows), len(columns)), index=index, columns=columns)
