"""A model's documentation as a table: what ``model.doc`` and ``sdflow describe`` show.

One row per variable of the model as written (the internal stocks of SMOOTH and DELAY are left
out): its display name, kind, units, dimensions, equation, default value (constants), the range
the policy lab varies it over (when the model has a lab profile), where it is defined (a model
file's line) and its documentation. PySD users know the same table as ``model.doc``.

>>> import sd_engine as sd
>>> doc = describe_model(sd.load("teacup"))
>>> doc.loc["Characteristic Time", ["kind", "units", "value"]].tolist()
['constant', 'Minutes', 10.0]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .compile import CompiledModel

__all__ = ["describe_model", "format_doc", "summary_line", "doc_html", "COLUMNS"]

COLUMNS = ("kind", "units", "dimensions", "equation", "value", "low", "high", "source", "doc")

_ORDER = {"constant": 0, "lookup": 1, "stock": 2, "flow": 3, "aux": 4}


def describe_model(model: CompiledModel, kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The documentation table of `model`, indexed by display name, constants first.

    Parameters
    ----------
    model : CompiledModel
    kinds : tuple of str, optional
        Keep only these kinds (``("constant",)`` for the parameters a run can set).
    """
    from .lab.metrics import find_profile

    profile = find_profile(model.spec.name)
    ranges = {model.resolve(k).canonical: v for k, v in profile.uncertainty.items() if k in model.spec} \
        if profile is not None else {}
    rows = []
    for var in model.spec.variables:
        if var.internal or (kinds is not None and var.kind not in kinds):
            continue
        value: float | str = ""
        if var.kind == "constant":
            if var.values is not None:
                value = _values_text(np.asarray(var.values))
            elif var.canonical in model.parameters:
                value = float(var.equation.value)  # type: ignore[union-attr]
        low, high = ranges.get(var.canonical, (math.nan, math.nan))
        rows.append({
            "name": var.name, "kind": var.kind, "units": var.units, "dimensions": ", ".join(var.dims),
            "equation": "" if var.kind in ("lookup", "constant") else var.equation_text, "value": value, "low": low,
            "high": high, "source": var.source, "doc": " ".join(var.doc.split()),
        })
    frame = pd.DataFrame(rows, columns=("name",) + COLUMNS)
    frame["order"] = frame["kind"].map(_ORDER)
    frame = frame.sort_values(["order", "name"], key=lambda c: c.str.lower() if c.dtype == object else c,
                              kind="stable").drop(columns="order")
    return frame.set_index("name")


def _values_text(values: np.ndarray) -> str:
    shown = ", ".join(f"{v:g}" for v in values[:6])
    return f"[{shown}{', ...' if values.size > 6 else ''}]"


def format_doc(doc: pd.DataFrame, *, width: int = 60, columns: tuple[str, ...] | None = None) -> str:
    """`doc` as plain text for a terminal: text left-aligned, numbers right-aligned, long cells cut at
    `width` characters, empty columns left out."""
    shown = doc if columns is None else doc.loc[:, list(columns)]
    shown = shown.loc[:, [c for c in shown.columns if not _empty(shown[c])]]
    header = [str(shown.index.name or "")] + [str(c) for c in shown.columns]
    rows = [[_cell(name, width)] + [_cell(v, width) for v in row] for name, row in zip(shown.index, shown.values)]
    numeric = [False] + [shown[c].map(lambda v: isinstance(v, float)).all() for c in shown.columns]
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip()
             for row in [header] + rows]
    return "\n".join(lines) + "\n"


def _cell(value: object, width: int) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _empty(column: pd.Series) -> bool:
    return bool(column.map(lambda v: v == "" or (isinstance(v, float) and math.isnan(v))).all())


def summary_line(model: CompiledModel) -> str:
    """One line about `model`: name, counts by kind, time settings and back end (its ``repr``)."""
    counts: dict[str, int] = {}
    for var in model.spec.variables:
        if not var.internal:
            counts[var.kind] = counts.get(var.kind, 0) + 1
    plural = {"constant": "constants", "lookup": "lookups", "stock": "stocks", "flow": "flows", "aux": "auxiliaries"}
    parts = ", ".join(f"{counts[k]} {k if counts[k] == 1 else plural[k]}" for k in _ORDER if k in counts)
    t = model.spec.time
    return (f"<CompiledModel {model.spec.name!r}: {parts}; {t.method} dt={t.dt:g} from {t.initial_time:g} to "
            f"{t.final_time:g} {t.units}>")


def doc_html(model: CompiledModel, kinds: tuple[str, ...] | None = ("constant",), *, max_rows: int = 40,
             width: int = 80) -> str:
    """HTML for a notebook: the summary line and the documentation table (escaped by pandas).

    A long table shows its first and last rows around a "..." row (pandas' `max_rows`) and cells
    are cut at `width` characters, so a model with hundreds of parameters stays one screen;
    ``model.doc`` has them all.
    """
    import html

    table = describe_model(model, kinds)
    table = table.loc[:, [c for c in table.columns if not _empty(table[c])]]
    table = table.apply(lambda c: c.map(lambda v: _cell(v, width) if isinstance(v, str) else v))
    what: Literal["parameters", "variables"] = "parameters" if kinds == ("constant",) else "variables"
    more = f" (first and last {max_rows // 2} shown; <code>model.doc</code> has all)" if len(table) > max_rows else ""
    return (f"<p><code>{html.escape(summary_line(model))}</code></p>"
            f"<details><summary>{len(table)} {what}{more}</summary>"
            f"{table.to_html(na_rep='', escape=True, max_rows=max_rows)}</details>")
