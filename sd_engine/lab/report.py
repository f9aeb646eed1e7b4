"""The policy-lab report: one self-contained HTML page of figures, tables and plain explanations.

Figures are embedded as base64 PNG, so the page opens anywhere without the files next to it.

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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .experiment import describe_scenarios
from .figures import comparison_table, dominance_heatmap, fan_chart, sobol_plot, tornado

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["render_report", "write_report", "figure_png"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1180px;margin:2em auto;padding:0 1.2em;
color:#222;line-height:1.5}
h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:2px solid #0072B2;padding-bottom:.2em}
h3{margin-bottom:.3em}.meta{color:#555;font-size:.92em}
table{border-collapse:collapse;font-size:.86em;margin:.8em 0}
th,td{border:1px solid #ccc;padding:.3em .55em;text-align:right;vertical-align:top}
th{background:#f2f5f8}td.name,th.name{text-align:left}
td.good{background:#e3f3e8}td.bad{background:#fbe4e0}
.small{font-size:.8em;color:#666}img{max-width:100%;height:auto;border:1px solid #eee}
.note{background:#fff8e1;border-left:4px solid #E69F00;padding:.5em .8em;margin:1em 0}
code{background:#f4f4f4;padding:0 .25em}
"""


def figure_png(fig: Figure, dpi: int = 110) -> str:
    """A figure as an inline ``<img>`` (base64 PNG)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def format_number(x: float) -> str:
    """A number for a table: thousands separated, three significant figures or so, '–' if not finite."""
    if not np.isfinite(x):
        return "–"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _comparison_html(table: pd.DataFrame) -> str:
    metrics = list(dict.fromkeys(table.index.get_level_values("metric")))
    scenarios = list(dict.fromkeys(table.index.get_level_values("scenario")))
    head = "".join(
        f"<th>{html.escape(str(table.loc[(scenarios[0], m), 'label']))}<br>"
        f"<span class=small>{html.escape(str(table.loc[(scenarios[0], m), 'units']))}, "
        f"{'higher' if table.loc[(scenarios[0], m), 'better'] == 'higher' else 'lower'} is better</span></th>"
        for m in metrics)
    rows = []
    for i, s in enumerate(scenarios):
        cells = []
        for m in metrics:
            r = table.loc[(s, m)]
            text = f"<b>{format_number(r['median'])}</b><br><span class=small>{format_number(r['low'])} to {format_number(r['high'])}</span>"
            cls = ""
            if i:
                p = r["p_better"]
                change = r["change"]
                text += f"<br><span class=small>change {'+' if change >= 0 else ''}{format_number(change)}; better in " \
                        f"{100 * p:.0f}% of runs</span>" if np.isfinite(p) else ""
                material = abs(change) > 1e-3 * abs(table.loc[(scenarios[0], m), "median"])
                cls = "" if not material else " class=good" if p >= 0.9 else " class=bad" if p <= 0.1 else ""
            cells.append(f"<td{cls}>{text}</td>")
        rows.append(f"<tr><td class=name>{html.escape(s)}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th class=name>scenario</th>{head}</tr>{''.join(rows)}</table>"


def _headlines(table: pd.DataFrame) -> str:
    """One line per policy: the outcomes it improves or worsens in at least 90% of the runs."""
    scenarios = list(dict.fromkeys(table.index.get_level_values("scenario")))
    items = []
    base = table.loc[scenarios[0]]["median"].abs()
    for s in scenarios[1:]:
        sub = table.loc[s]
        # A consistent change smaller than 0.1% of the baseline level is not a headline.
        material = sub["change"].abs() > 1e-3 * base
        said = []
        for verdict, mask in (("better", (sub["p_better"] >= 0.9) & material),
                              ("worse", (sub["p_better"] <= 0.1) & material)):
            for _, r in sub[mask].iterrows():
                said.append(f"{verdict} {html.escape(str(r['label']).lower())} "
                            f"({'+' if r['change'] >= 0 else ''}{format_number(r['change'])} {html.escape(str(r['units']))})")
        text = "; ".join(said) if said else "no outcome changes consistently from the baseline"
        items.append(f"<li><b>{html.escape(s)}</b>: {text}.</li>")
    return ("<p>Compared with the baseline in the same runs, each policy is consistently (in at least 90% of "
            "the runs):</p><ul>" + "".join(items) + "</ul>")


def _scenario_list(ds: xr.Dataset) -> str:
    items = []
    for s in describe_scenarios(ds):
        levers = []
        for key in ("params", "schedules", "equations", "lookups"):
            for name, value in s.get(key, {}).items():
                levers.append(f"<code>{html.escape(name)}</code> = {html.escape(json.dumps(value))}")
        lever_text = "; ".join(levers) if levers else "levers at their defaults"
        items.append(f"<li><b>{html.escape(s['name'])}</b>: {html.escape(s.get('description', ''))} "
                     f"<span class=small>({lever_text})</span></li>")
    return "<ul>" + "".join(items) + "</ul>"


def _sensitivity_table(indices: xr.Dataset, key: str) -> str:
    rows = []
    for m in indices["metric"].values:
        d = indices.sel(metric=m)
        order = np.argsort(-np.nan_to_num(d[key].values), kind="stable")[:3]
        names = ", ".join(f"{d['parameter'].values[k]} ({format_number(float(d[key].values[k]))})" for k in order)
        label = str(d["metric_label"].values) if "metric_label" in d.coords else str(m)
        rows.append(f"<tr><td class=name>{html.escape(label)}</td><td class=name>{html.escape(names)}</td></tr>")
    return f"<table><tr><th class=name>outcome</th><th class=name>most influential ({key})</th></tr>{''.join(rows)}</table>"


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
) -> str:
    """The HTML text of the report for an experiment's dataset and optional analyses."""
    model = str(ds.attrs.get("model", "model"))
    n_runs = int(ds.sizes.get("run", 1))
    scenarios = [str(s) for s in ds["scenario"].values]
    title = title or f"Policy lab: {model.replace('_', ' ')}"
    unit = "years" if year else str(ds["time"].attrs.get("units", "time"))
    horizon = float(ds["time"].values[-1] - ds["time"].values[0]) / (year or 1.0)
    versions = json.loads(ds.attrs.get("versions", "{}"))
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    parts.append(
        f"<p class=meta>{len(scenarios)} scenarios × {n_runs} runs each, over {horizon:g} {unit}. Parameter "
        f"uncertainty: {html.escape(str(ds.attrs.get('uncertainty', 'none')))} design over "
        f"{ds.sizes.get('parameter', 0)} parameters, seed {ds.attrs.get('seed', 0)}. Model hash "
        f"<code>{html.escape(str(ds['model_hash'].values[0]) if 'model_hash' in ds.coords else '')}</code>; "
        f"sdflow {html.escape(versions.get('sdflow', ''))}, numpy {html.escape(versions.get('numpy', ''))}; "
        f"created {html.escape(str(ds.attrs.get('created', '')))}.</p>")
    parts.append(
        "<h2>What this report shows</h2><p>Each scenario sets some of the model's policy levers. The model's "
        "uncertain parameters — the values its documentation marks as assumed — are drawn many times, and "
        f"<b>every scenario is run with the same {n_runs} draws</b>. So when a scenario differs from the "
        "baseline in a run, the difference comes from its levers, not from luck of the draw. Ranges show what "
        "we do not know about the system; the share of runs in which a scenario beats the baseline shows how "
        "robust its effect is to that ignorance.</p>")
    parts.append("<h2>Scenarios</h2>" + _scenario_list(ds))
    if "outcome" in ds:
        table = comparison_table(ds)
        parts.append(
            "<h2>Scenario comparison</h2><p>Each cell: the median over the runs (bold), the 5–95% range, and for "
            "each policy the median change from the baseline in the same runs and the share of runs in which it "
            "is better. Green: better in at least 90% of runs; red: worse in at least 90% (changes under 0.1% of the "
            "baseline level are not coloured).</p>"
            + _headlines(table) + _comparison_html(table))
        failed = int((ds["run_status"] != "ok").sum()) if "run_status" in ds else 0
        if failed:
            parts.append(f"<p class=note>{failed} run(s) failed (non-finite values) and are left out of the "
                         "table; see <code>run_status</code> in the dataset.</p>")
    if fan_variables:
        parts.append("<h2>How the outcomes unfold</h2><p>Fan charts: the line is the median over the runs, the "
                     "dark band holds the middle half of the runs and the light band 90% of them. The dashed grey "
                     "line repeats the baseline median for comparison."
                     + (f" Values are saved every {float(ds.attrs['saveper']):g} {html.escape(str(ds.attrs.get('time_units', '')))}"
                        "; the saw-tooth in seasonal series is the winter and summer cycle seen at those points."
                        if "saveper" in ds.attrs else "") + "</p>")
        for v in fan_variables:
            if v in ds.data_vars:
                parts.append(f"<h3>{html.escape(v)}</h3>" + figure_png(fan_chart(ds, v, year=year)))
    if morris is not None:
        parts.append(
            "<h2>Which uncertainties matter (Morris screening)</h2><p>Each parameter is moved across its range "
            f"step by step along {morris.attrs.get('n_runs', '?')} runs of the baseline. μ* is the average size of "
            "the change in the outcome that a step causes; σ is how much that change varies, which is large when "
            "the parameter acts through interactions or thresholds. The longest bars are the assumptions most "
            "worth calibrating against local data.</p>" + _sensitivity_table(morris, "mu_star"))
        for m in [m for m in morris["metric"].values][:4]:
            parts.append(figure_png(tornado(morris, str(m))))
    if sobol is not None:
        parts.append(
            "<h2>Variance decomposition (Sobol)</h2><p>For the most influential parameters of the screening: the "
            "share of the variance of each outcome explained by a parameter alone (S1) and including all its "
            "interactions (ST). ST well above S1 means the parameter matters in combination with others. Bars "
            f"carry 95% bootstrap intervals ({sobol.attrs.get('n_runs', '?')} runs).</p>"
            + figure_png(sobol_plot(sobol)))
    if dominance_share is not None:
        note = str(dominance.attrs.get("note", "")) if dominance is not None else ""
        labels = ([str(x) for x in dominance["loop_label"].values]
                  if dominance is not None and "loop_label" in dominance.coords else None)
        parts.append(
            "<h2>Feedback loops by scenario</h2><p>Loops that Matter scores each feedback loop by how much of the "
            "change in the model it explains at each moment, for one central run of each scenario. The map shows "
            "the share of the run each loop is among the loops that together explain most of the change in its "
            "part of the model. Policies that change which loops dominate change how the system behaves, not just "
            "by how much.</p>" + figure_png(dominance_heatmap(dominance_share, labels=labels))
            + (f"<p class=small>{html.escape(note)}</p>" if note else ""))
    if timings:
        cells = "".join(f"<tr><td class=name>{html.escape(k)}</td><td>{v:.1f} s</td></tr>" for k, v in timings.items())
        parts.append(f"<h2>Run</h2><table><tr><th class=name>stage</th><th>time</th></tr>{cells}</table>")
    parts.append("<p class=small>Results, draws, seeds, scenario definitions and versions are in the dataset "
                 "next to this report (<code>results.nc</code>), so every number here can be recomputed.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, ds: xr.Dataset, **kwargs: Any) -> Path:
    """Write :func:`render_report` to `path` (UTF-8) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(ds, **kwargs), encoding="utf-8")
    return path
