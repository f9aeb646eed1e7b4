"""The policy-lab report: one self-contained HTML page that explains itself.

The page opens with an executive summary (which scenarios beat the baseline on which outcomes,
in what share of the paired runs, and what they trade off), then the comparison table, the
definition and measurement window of every outcome, interactive figures (Bokeh, embedded
standalone: zoom, pan, hover, a legend that hides scenarios), sensitivity indices with caveats
where they cannot be read, loop dominance, a glossary of every parameter shown (units, source,
range) and downloads (CSV and Excel). It is rendered from jinja2 templates shipped with the
package (``sd_engine/lab/templates``), which escape every name and description.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset({"Stock": (("scenario", "run", "time"), np.ones((1, 2, 3)))},
...                 coords={"scenario": ["baseline"], "time": [0, 1, 2]}, attrs={"model": "demo"})
>>> "<html" in render_report(ds, fan_variables=["Stock"])
True
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .experiment import describe_scenarios
from .figures import (
    comparison_table,
    dominance_figure,
    fan_figure,
    sobol_figure,
    tornado_figure,
    variable_display,
)
from .templating import render

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["render_report", "write_report", "write_downloads", "figure_png", "format_number", "summarise",
           "identical_scenarios", "metric_definitions", "glossary", "sensitivity_caveats", "CERTAIN"]

#: A change is "consistent" when it goes the same way in at least this share of the paired runs.
CERTAIN = 0.9
#: Sobol indices whose 95% interval is wider than this (half-width) cannot be ranked reliably.
WIDE_INTERVAL = 0.15


def figure_png(fig: Figure, dpi: int = 110, alt: str = "") -> str:
    """A matplotlib figure as an inline ``<img>`` (base64 PNG) with alt text (for notebooks and pages)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt or "figure without description")}" src="data:image/png;base64,{data}">'


def format_number(x: float) -> str:
    """A number for a table: thousands separated, three significant figures or so, '–' if not finite.

    >>> format_number(1234.5), format_number(12.345), format_number(0.01234), format_number(float("nan"))
    ('1,234', '12.3', '0.0123', '–')
    """
    if x is None or not np.isfinite(x):
        return "–"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 0.1 or a == 0:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _change_units(units: str) -> str:
    # A change in a percentage is in percentage points.
    return "percentage points" if units.strip() == "%" else units


def _signed(x: float) -> str:
    return ("+" if x > 0 else "") + format_number(x)


# -- the summary -----------------------------------------------------------------------------------
def identical_scenarios(ds: xr.Dataset) -> list[list[str]]:
    """Groups of scenarios whose results are identical in every run (every outcome and saved series).

    >>> ds = xr.Dataset({"x": (("scenario", "run"), [[1.0, 2.0], [1.0, 2.0], [1.0, 3.0]])},
    ...                 coords={"scenario": ["a", "b", "c"]})
    >>> identical_scenarios(ds)
    [['a', 'b']]
    """
    names = [str(s) for s in ds["scenario"].values]
    # Results only: the seeds and statuses are provenance (runs of one ensemble get different seeds).
    keys = [v for v in ds.data_vars if "scenario" in ds[v].dims and v not in ("run_status", "seed")]
    groups: dict[bytes, list[str]] = {}
    for s in names:
        sub = ds.sel(scenario=s)
        digest = b"".join(np.ascontiguousarray(sub[v].values).tobytes() for v in keys)
        groups.setdefault(digest, []).append(s)
    return [g for g in groups.values() if len(g) > 1]


def _lever_difference(ds: xr.Dataset, group: Sequence[str]) -> list[str]:
    """The levers whose settings differ between the scenarios of `group`."""
    defs = {d["name"]: d for d in describe_scenarios(ds)}
    settings = [{k: json.dumps(v) for kind in ("params", "schedules", "equations", "lookups")
                 for k, v in defs.get(name, {}).get(kind, {}).items()} for name in group]
    keys = set().union(*settings) if settings else set()
    return sorted(k for k in keys if len({s.get(k) for s in settings}) > 1)


def summarise(table: pd.DataFrame, certainty: float = CERTAIN) -> list[dict[str, Any]]:
    """For each policy: the outcomes it improves, worsens, or moves without a consistent direction.

    An outcome counts when it moves the same way in at least `certainty` of the paired runs and
    by more than 0.1% of the baseline level; a material change that is less consistent is
    "uncertain". Each entry has ``scenario``, ``better``, ``worse``, ``uncertain`` (lists of
    dicts with ``label``, ``change``, ``units``, ``share``, ``aim``) and ``verdict``.
    """
    scenarios = list(dict.fromkeys(table.index.get_level_values("scenario")))
    base = table.loc[scenarios[0]]
    out = []
    for s in scenarios[1:]:
        sub = table.loc[s]
        entry: dict[str, Any] = {"scenario": s, "better": [], "worse": [], "uncertain": []}
        for metric, r in sub.iterrows():
            material = abs(r["change"]) > 1e-3 * abs(base.loc[metric, "median"])
            p = r["p_better"]
            if not material or not np.isfinite(p):
                continue
            item = {"label": r["label"], "change": _signed(r["change"]), "units": _change_units(str(r["units"])),
                    "share": p, "aim": str(r.get("aim", "")) if "aim" in r else ""}
            if p >= certainty:
                entry["better"].append({**item, "share_text": f"{100 * p:.0f}%"})
            elif p <= 1 - certainty:
                entry["worse"].append({**item, "share_text": f"{100 * (1 - p):.0f}%"})
            else:
                entry["uncertain"].append({**item, "share_text": f"better in {100 * p:.0f}%"})
        b, w = entry["better"], entry["worse"]
        if b and w:
            entry["verdict"] = (f"A trade-off: better on {_aims(b)}, worse on {_aims(w)}.")
        elif b:
            entry["verdict"] = f"Better on {_aims(b)} and worse on none: no regret in these runs."
        elif w:
            entry["verdict"] = f"Worse on {_aims(w)} and better on none."
        else:
            entry["verdict"] = f"No outcome moves consistently (in {100 * certainty:.0f}% of the runs) from the baseline."
        out.append(entry)
    return out


def _aims(items: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(dict.fromkeys(_lower_first(str(i["label"])) for i in items))


def _lower_first(label: str) -> str:
    """"Waiting for a bed" -> "waiting for a bed", but "NHS financial position" keeps its acronym."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def best_by_outcome(table: pd.DataFrame) -> list[dict[str, Any]]:
    """For each outcome, the policy with the best median paired change, and how consistent it is."""
    scenarios = list(dict.fromkeys(table.index.get_level_values("scenario")))
    metrics = list(dict.fromkeys(table.index.get_level_values("metric")))
    rows = []
    for m in metrics:
        sub = table.xs(m, level="metric").loc[scenarios[1:]]
        if sub.empty:
            continue
        sign = 1.0 if sub["better"].iloc[0] == "higher" else -1.0
        best = (sign * sub["change"]).idxmax()
        r = sub.loc[best]
        good = sign * r["change"] > 0 and r["p_better"] >= 0.5
        rows.append({"label": r["label"], "units": r["units"], "scenario": best if good else "none of the policies",
                     "change": f"{_signed(r['change'])} {_change_units(str(r['units']))}" if good else "–",
                     "share": f"{100 * r['p_better']:.0f}%" if good else "–"})
    return rows


# -- definitions, glossary, caveats -------------------------------------------------------------------
def metric_definitions(ds: xr.Dataset, profile: Any = None) -> list[dict[str, str]]:
    """Each outcome: label, units, better direction, what it is, the variable it reads and when."""
    out = []
    if profile is not None:
        time_units = str(ds.attrs.get("time_units", ""))
        for m in profile.metrics:
            when = {"final": "the value at the end of the run", "mean": "the mean over the whole run",
                    "max": "the highest value over the run", "total": "the total over the whole run",
                    "window_mean": f"the mean over the last {m.window:g} {time_units}"
                                   + (" (the final year)" if profile.year and abs(m.window - profile.year) < 1e-9
                                      else "")}[m.statistic]
            scale = f", × {m.scale:g}" if m.scale != 1 else ""
            out.append({"label": m.label, "units": m.units, "better": f"{m.better} is better",
                        "definition": m.description or "–", "variable": m.variable, "when": when + scale,
                        "aim": m.aim})
        return out
    if "outcome" in ds:
        o = ds["outcome"]
        for k in o["metric"].values:
            out.append({"label": str(o["metric_label"].sel(metric=k).values),
                        "units": str(o["metric_units"].sel(metric=k).values),
                        "better": f"{o['better'].sel(metric=k).values} is better", "definition": "–",
                        "variable": "–", "when": "not recorded in the dataset (give the lab profile)",
                        "aim": str(o["aim"].sel(metric=k).values) if "aim" in o.coords else ""})
    return out


def glossary(ds: xr.Dataset, model: Any = None, profile: Any = None, names: Sequence[str] = ()) -> list[dict[str, str]]:
    """Every parameter the report shows: the uncertain ones, the scenario levers and `names`.

    Each entry: ``name``, ``anchor``, ``role``, ``units``, ``default``, ``range``, ``about`` (the
    model's documentation of it, which names its source) and ``range_source``.
    """
    entries: dict[str, dict[str, str]] = {}
    drawn = [str(p) for p in ds["parameter"].values] if "parameter" in ds.coords else []
    ranges = dict(profile.uncertainty) if profile is not None else {}
    for p in [*drawn, *names]:
        if p in entries:
            continue
        if p in ranges:
            lo, hi = ranges[p]
            rng, src = f"{format_number(lo)} to {format_number(hi)}", "lab profile (uniform)"
        elif p in drawn and "draws" in ds:
            col = ds["draws"].sel(parameter=p).values
            rng, src = f"{format_number(float(col.min()))} to {format_number(float(col.max()))}", "draws"
        else:
            rng, src = "–", ""
        entries[p] = {"name": p, "role": "uncertain parameter", "range": rng, "range_source": src}
    for d in describe_scenarios(ds):
        for kind in ("params", "schedules", "equations", "lookups"):
            for k, v in d.get(kind, {}).items():
                e = entries.setdefault(k, {"name": k, "role": "policy lever", "range": "", "range_source": "scenarios"})
                e["range"] = (e["range"] + "; " if e["range"] else "") + f"{d['name']}: {_lever_text(v)}"
    for e in entries.values():
        e["anchor"] = "param-" + re.sub(r"[^a-z0-9]+", "-", e["name"].lower()).strip("-")
        e["units"], e["about"], e["default"] = "–", "–", "–"
        if model is not None:
            try:
                var = model.resolve(e["name"])
            except KeyError:
                continue
            e["units"] = var.units or "–"
            e["about"] = var.doc or "–"
            if var.kind == "constant" and var.text:
                e["default"] = var.text if len(var.text) < 24 else var.text[:21] + "..."
    return sorted(entries.values(), key=lambda e: (e["role"] != "policy lever", e["name"].lower()))


def _lever_text(v: Any) -> str:
    if isinstance(v, (int, float)):
        return format_number(float(v))
    if isinstance(v, str):
        return v
    return "schedule " + ", ".join(f"({format_number(float(x))}, {format_number(float(y))})" for x, y in v)


def sensitivity_caveats(morris: xr.Dataset | None, sobol: xr.Dataset | None) -> dict[str, list[str]]:
    """Plain warnings about indices that cannot be read as they stand: wide intervals, negative S1."""
    notes: dict[str, list[str]] = {"morris": [], "sobol": []}
    if morris is not None and "mu_star_conf" in morris:
        unsure = []
        for m in morris["metric"].values:
            d = morris.sel(metric=m)
            order = np.argsort(-np.nan_to_num(d["mu_star"].values))[:2]
            if len(order) == 2:
                a, b = order
                if d["mu_star"].values[a] - d["mu_star_conf"].values[a] < d["mu_star"].values[b] + \
                        d["mu_star_conf"].values[b]:
                    label = str(d["metric_label"].values) if "metric_label" in d.coords else str(m)
                    unsure.append(label)
        if unsure:
            notes["morris"].append(
                f"For {', '.join(unsure)} the intervals of the two largest μ* overlap: which of the two matters "
                "more is not settled by this screening (more trajectories: --morris).")
    if sobol is not None and "S1" in sobol:
        n = sobol.attrs.get("n_runs", "?")
        half = np.concatenate([sobol["S1_conf"].values.ravel(), sobol["ST_conf"].values.ravel()])
        half = half[np.isfinite(half)]
        wide = int((half > WIDE_INTERVAL).sum())
        if wide:
            notes["sobol"].append(
                f"These indices come from {n} runs, and {wide} of the {half.size} have 95% intervals wider than "
                f"±{WIDE_INTERVAL:g} (up to ±{float(half.max()):.2g}): their 95% intervals are wide, so read only "
                "indices whose interval stays clear of the others, or rerun with a larger base sample "
                "(--sobol 512 or more).")
        outside = []
        for m in sobol["metric"].values:
            d = sobol.sel(metric=m)
            label = str(d["metric_label"].values) if "metric_label" in d.coords else str(m)
            for key in ("S1", "ST"):
                for i, p in enumerate(d["parameter"].values):
                    v = float(d[key].values[i])
                    if v < 0 or v > 1:
                        outside.append(f"{key} of {p} on {label}: {v:.2f}")
        if outside:
            notes["sobol"].append(
                "Indices below 0 or above 1 (" + "; ".join(outside[:6]) + ("; …" if len(outside) > 6 else "")
                + ") are sampling noise: a share of variance lies between 0 and 1.")
    return notes


# -- downloads -----------------------------------------------------------------------------------------
def _runs_frame(ds: xr.Dataset) -> pd.DataFrame:
    """One row per scenario and run: status, every outcome, the parameter draws."""
    parts = []
    if "outcome" in ds:
        o = ds["outcome"]
        labels = {str(k): f"{o['metric_label'].sel(metric=k).values} ({o['metric_units'].sel(metric=k).values})"
                  for k in o["metric"].values}
        frame = o.to_dataframe().reset_index().pivot_table(index=["scenario", "run"], columns="metric",
                                                            values="outcome")
        parts.append(frame.rename(columns=labels))
    if "run_status" in ds:
        parts.append(ds["run_status"].to_dataframe()[["run_status"]])
    out = pd.concat(parts, axis=1) if parts else pd.DataFrame()
    if "draws" in ds:
        draws = ds["draws"].to_pandas()
        out = out.reset_index().merge(draws.add_prefix("parameter: "), left_on="run", right_index=True) \
            .set_index(["scenario", "run"])
    return out


def _scorecard_frame(table: pd.DataFrame) -> pd.DataFrame:
    out = table.reset_index()[["scenario", "label", "units", "better", "median", "low", "high", "change", "p_better"]]
    return out.rename(columns={"label": "outcome", "low": "5%", "high": "95%", "change": "paired change (median)",
                               "p_better": "share of runs better than baseline"})


def write_downloads(folder: str | Path, ds: xr.Dataset) -> dict[str, Path]:
    """The scorecard and the runs as CSV files and one Excel workbook (sheets scorecard, runs).

    Returns the files by kind: ``scorecard`` (``scorecard.csv``), ``runs`` (``runs.csv``: every
    outcome, status and parameter draw of every run) and ``workbook`` (``lab.xlsx``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    runs = _runs_frame(ds)
    if "outcome" in ds:
        score = _scorecard_frame(comparison_table(ds))
        score.to_csv(folder / "scorecard.csv", index=False)
        files["scorecard"] = folder / "scorecard.csv"
    runs.to_csv(folder / "runs.csv")
    files["runs"] = folder / "runs.csv"
    with pd.ExcelWriter(folder / "lab.xlsx", engine="openpyxl") as writer:
        if "outcome" in ds:
            score.to_excel(writer, sheet_name="scorecard", index=False)
        runs.to_excel(writer, sheet_name="runs")
    files["workbook"] = folder / "lab.xlsx"
    return files


# -- the page ------------------------------------------------------------------------------------------
def render_report(
    ds: xr.Dataset,
    *,
    title: str | None = None,
    fan_variables: Sequence[str] = (),
    year: float | None = None,
    morris: xr.Dataset | None = None,
    sobol: xr.Dataset | None = None,
    dominance: xr.DataArray | None = None,
    dominance_share: xr.DataArray | None = None,
    timings: dict[str, float] | None = None,
    profile: Any = None,
    model: Any = None,
    downloads: Mapping[str, str] | None = None,
) -> str:
    """The HTML text of the report for an experiment's dataset and optional analyses.

    Parameters
    ----------
    profile : LabProfile, optional
        Gives the metrics' definitions and windows and the ranges of the glossary.
    model : CompiledModel, optional
        Gives the glossary's units and documentation.
    downloads : mapping of str to str, optional
        Link text to a file next to the report (see :func:`write_downloads`); the scorecard CSV
        is embedded in the page in any case.
    """
    from bokeh.embed import components
    from bokeh.resources import INLINE
    from markupsafe import Markup

    model_name = str(ds.attrs.get("model", "model"))
    n_runs = int(ds.sizes.get("run", 1))
    scenarios = [str(s) for s in ds["scenario"].values]
    title = title or f"Policy lab: {model_name.replace('_', ' ')}"
    unit = "years" if year else str(ds["time"].attrs.get("units", ds.attrs.get("time_units", "time")))
    horizon = float(ds["time"].values[-1] - ds["time"].values[0]) / (year or 1.0)
    versions = json.loads(ds.attrs.get("versions", "{}"))
    saveper = float(ds.attrs["saveper"]) if "saveper" in ds.attrs else None

    table = comparison_table(ds) if "outcome" in ds else None
    figures: list[tuple[str, Any, str, str]] = []  # (section, figure, alt text, caption)
    for v in fan_variables:
        if v in ds.data_vars:
            label, units, scale = variable_display(profile, v, str(ds[v].attrs.get("units", "")))
            fig, alt = fan_figure(ds, v, label=label, units=units, scale=scale, year=year)
            figures.append(("fans", fig, alt, f"{label}: median of each scenario; the grey band holds 90% of the "
                                                f"baseline runs."))
    tornado_metrics = [str(m) for m in morris["metric"].values] if morris is not None else []
    for m in tornado_metrics:
        fig, alt = tornado_figure(morris, m)  # type: ignore[arg-type]
        figures.append(("morris", fig, alt, ""))
    if sobol is not None:
        for m in sobol["metric"].values:
            fig, alt = sobol_figure(sobol, str(m))
            figures.append(("sobol", fig, alt, ""))
    loop_rows = []
    if dominance_share is not None:
        labels = ([str(x) for x in dominance["loop_label"].values]
                  if dominance is not None and "loop_label" in dominance.coords else None)
        fig, alt = dominance_figure(dominance_share, labels=labels)
        figures.append(("loops", fig, alt, "Hover a cell for the loop's full path."))
        ids = [str(x) for x in dominance_share["loop"].values]
        loop_rows = [{"id": i, "label": (labels[k] if labels else i)} for k, i in enumerate(ids)]
    script, divs = components([f[1] for f in figures]) if figures else ("", [])
    sections: dict[str, list[dict[str, Any]]] = {}
    for (section, _, alt, caption), div in zip(figures, divs):
        sections.setdefault(section, []).append({"div": Markup(div), "alt": alt, "caption": caption})

    sens_names = [str(p) for p in morris["parameter"].values] if morris is not None else []
    sens_names += [str(p) for p in sobol["parameter"].values] if sobol is not None else []
    score_csv = ""
    if table is not None:
        score_csv = "data:text/csv;charset=utf-8;base64," + base64.b64encode(
            _scorecard_frame(table).to_csv(index=False).encode("utf-8")).decode("ascii")
    failed = int((ds["run_status"] != "ok").sum()) if "run_status" in ds else 0
    identical = [{"names": g, "levers": _lever_difference(ds, g)} for g in identical_scenarios(ds)]
    context = {
        "title": title, "model": model_name, "n_runs": n_runs, "scenarios": scenarios, "horizon": f"{horizon:g}",
        "unit": unit, "uncertainty": str(ds.attrs.get("uncertainty", "none")),
        "n_parameters": int(ds.sizes.get("parameter", 0)), "seed": ds.attrs.get("seed", 0),
        "model_hash": str(ds["model_hash"].values[0]) if "model_hash" in ds.coords else "",
        "versions": versions, "created": str(ds.attrs.get("created", "")),
        "saveper": (f"{saveper:.3g} {ds.attrs.get('time_units', '')}" if saveper is not None else ""),
        "saveper_days": saveper * 365.0 / year if saveper is not None and year else None,
        "certain": f"{100 * CERTAIN:.0f}%",
        "summary": summarise(table) if table is not None else [],
        "best": best_by_outcome(table) if table is not None else [],
        "identical": identical, "failed": failed,
        "comparison": _comparison_rows(table) if table is not None else None,
        "definitions": metric_definitions(ds, profile),
        "scenario_list": _scenario_items(ds),
        "figures": sections, "fan_variables": [v for v in fan_variables if v in ds.data_vars],
        "missing_fans": [v for v in fan_variables if v not in ds.data_vars],
        "morris": _sensitivity_rows(morris, "mu_star") if morris is not None else None,
        "morris_runs": morris.attrs.get("n_runs", "?") if morris is not None else None,
        "sobol": sobol is not None, "sobol_runs": sobol.attrs.get("n_runs", "?") if sobol is not None else None,
        "caveats": sensitivity_caveats(morris, sobol),
        "loop_note": str(dominance.attrs.get("note", "")) if dominance is not None else "",
        "loop_rows": loop_rows,
        "glossary": glossary(ds, model, profile, sens_names),
        "score_csv": score_csv, "downloads": dict(downloads or {}),
        "timings": [(k, f"{v:.1f} s") for k, v in (timings or {}).items()],
        "bokeh_resources": Markup(INLINE.render()), "bokeh_script": Markup(script),
    }
    return render("sd_engine.lab", "report.html.j2", **context)


def _comparison_rows(table: pd.DataFrame) -> dict[str, Any]:
    metrics = list(dict.fromkeys(table.index.get_level_values("metric")))
    scenarios = list(dict.fromkeys(table.index.get_level_values("scenario")))
    head = [{"label": table.loc[(scenarios[0], m), "label"], "units": table.loc[(scenarios[0], m), "units"],
             "better": table.loc[(scenarios[0], m), "better"]} for m in metrics]
    rows = []
    for i, s in enumerate(scenarios):
        cells = []
        for m in metrics:
            r = table.loc[(s, m)]
            cell = {"median": format_number(r["median"]), "low": format_number(r["low"]),
                    "high": format_number(r["high"]), "cls": "", "change": "", "share": ""}
            if i and np.isfinite(r["p_better"]):
                level = abs(table.loc[(scenarios[0], m), "median"])
                # Rounding noise (1e-14 of the level) is no change.
                change = 0.0 if abs(r["change"]) <= 1e-9 * max(level, 1e-300) else r["change"]
                cell["change"] = f"{_signed(change)} {_change_units(str(r['units']))}"
                cell["share"] = f"{100 * r['p_better']:.0f}%"
                material = abs(r["change"]) > 1e-3 * abs(table.loc[(scenarios[0], m), "median"])
                if material:
                    cell["cls"] = "good" if r["p_better"] >= CERTAIN else "bad" if r["p_better"] <= 1 - CERTAIN else ""
            cells.append(cell)
        rows.append({"scenario": s, "cells": cells})
    return {"head": head, "rows": rows}


def _scenario_items(ds: xr.Dataset) -> list[dict[str, Any]]:
    items = []
    for s in describe_scenarios(ds):
        levers = []
        for key in ("params", "schedules", "equations", "lookups"):
            for name, value in s.get(key, {}).items():
                levers.append({"name": name, "value": _lever_text(value),
                               "anchor": "param-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")})
        items.append({"name": s["name"], "description": s.get("description", ""), "levers": levers})
    return items


def _sensitivity_rows(indices: xr.Dataset, key: str) -> list[dict[str, Any]]:
    rows = []
    for m in indices["metric"].values:
        d = indices.sel(metric=m)
        order = np.argsort(-np.nan_to_num(d[key].values), kind="stable")[:3]
        label = str(d["metric_label"].values) if "metric_label" in d.coords else str(m)
        rows.append({"label": label, "top": [
            {"name": str(d["parameter"].values[k]), "value": format_number(float(d[key].values[k])),
             "anchor": "param-" + re.sub(r"[^a-z0-9]+", "-", str(d["parameter"].values[k]).lower()).strip("-")}
            for k in order]})
    return rows


def write_report(path: str | Path, ds: xr.Dataset, **kwargs: Any) -> Path:
    """Write :func:`render_report` to `path` (UTF-8) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(ds, **kwargs), encoding="utf-8")
    return path
