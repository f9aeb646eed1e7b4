"""Pictures and tables of an experiment: fan charts, scenario comparison, tornado, Sobol, loop dominance.

Every function takes the dataset of :func:`~sd_engine.lab.run_experiment` (or the result of
an analysis) and returns a figure or a pandas DataFrame; nothing is shown or saved. The
matplotlib figures (``fan_chart``, ``tornado``...) serve notebooks and papers; the Bokeh ones
(``fan_figure``, ``tornado_figure``...) are interactive (zoom, pan, hover) and come with a plain
description for alt text: the HTML report embeds them standalone.

Examples
--------
>>> import numpy as np, xarray as xr
>>> ds = xr.Dataset({"Stock": (("scenario", "run", "time"), np.ones((2, 3, 4)))},
...                 coords={"scenario": ["baseline", "cuts"], "time": [0, 1, 2, 3]})
>>> fig = fan_chart(ds, "Stock")
>>> len(fig.axes)
2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SpecError, UnknownVariableError, did_you_mean

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["fan_chart", "comparison_table", "tornado", "sobol_plot", "dominance_heatmap", "SCENARIO_COLOURS",
           "variable_display", "fan_figure", "tornado_figure", "sobol_figure", "dominance_figure"]

#: Colour-blind-safe palette (Okabe & Ito, with Tol's wine for the too-pale yellow), baseline in black.
SCENARIO_COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#882255",
                    "#999999")


def _figure(width: float, height: float) -> Figure:
    # Figure objects without pyplot: no global state, no GUI backend, safe in worker threads.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _time_axis(ds: xr.Dataset, year: float | None) -> tuple[np.ndarray, str]:
    t = np.asarray(ds["time"].values, dtype=float)
    if year:
        return t / year, "years"
    return t, str(ds["time"].attrs.get("units", "time"))


def fan_chart(ds: xr.Dataset, variable: str, *, scenarios: Sequence[str] | None = None, year: float | None = None,
              bands: Sequence[float] = (0.05, 0.25, 0.75, 0.95), scale: float = 1.0, units: str | None = None,
              ncols: int = 4) -> Figure:
    """One panel per scenario: the median of `variable` over the runs and shaded quantile bands.

    The baseline (first scenario) median is repeated as a dashed grey line in every panel,
    so each panel reads as "this scenario against doing nothing".
    """
    if variable not in ds.data_vars:
        raise UnknownVariableError(f"The experiment did not keep `{variable}`."
                                   + did_you_mean(variable, [str(v) for v in ds.data_vars]))
    x = ds[variable] * scale
    names = list(ds["scenario"].values) if scenarios is None else list(scenarios)
    t, t_label = _time_axis(ds, year)
    ncols = min(ncols, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    fig = _figure(3.1 * ncols, 2.3 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    has_runs = "run" in x.dims and x.sizes["run"] > 1
    base = x.sel(scenario=names[0]).median("run") if "run" in x.dims else x.sel(scenario=names[0])
    lo, hi = sorted(bands)[0], sorted(bands)[-1]
    for i, (ax, name) in enumerate(zip(axes, names)):
        xs = x.sel(scenario=name)
        colour = SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)]
        if has_runs:
            q = xs.quantile(sorted(bands), dim="run").values
            half = len(bands) // 2
            for k in range(half):
                ax.fill_between(t, q[k], q[-1 - k], color=colour, alpha=0.18 + 0.17 * k, lw=0)
        median = xs.median("run") if "run" in xs.dims else xs
        ax.plot(t, median.values, color=colour, lw=1.6)
        if i:
            ax.plot(t, base.values, color="#666666", lw=1, ls="--")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    unit = units if units is not None else str(ds[variable].attrs.get("units", ""))
    fig.supxlabel(t_label, fontsize=9)
    fig.supylabel(f"{variable} ({unit})" if unit else variable, fontsize=9)
    if has_runs:
        fig.suptitle(f"{variable}: median, {round(100 * (hi - lo))}% and 50% ranges of {x.sizes['run']} runs; "
                     "dashed = baseline median", fontsize=10)
    return fig


def comparison_table(ds: xr.Dataset, *, quantiles: tuple[float, float] = (0.05, 0.95)) -> pd.DataFrame:
    """Each metric by scenario: median and range over the runs, paired change from the baseline.

    Because every scenario uses the same parameter draws, the change in run ``r`` is the
    effect of the levers alone; the table gives its median and the share of runs in which
    the scenario is better than the baseline.

    Returns
    -------
    pandas.DataFrame
        Rows ``(scenario, metric)``; columns ``median``, ``low``, ``high``, ``change``
        (median paired difference from the first scenario), ``p_better``, ``units``,
        ``better``, ``label``. The baseline's ``p_better`` is NaN: it is not compared with itself.
    """
    if "outcome" not in ds:
        raise SpecError("The dataset has no `outcome` metrics; run the experiment on a model with a lab profile.")
    o = ds["outcome"]
    if "run" not in o.dims:
        o = o.expand_dims(run=[0])
    ok = ds["run_status"] == "ok" if "run_status" in ds else xr.full_like(o.isel(metric=0), True, dtype=bool)
    base = o.isel(scenario=0)
    rows = []
    for i, s in enumerate(o["scenario"].values):
        for m in o["metric"].values:
            values = o.sel(scenario=s, metric=m).where(ok.sel(scenario=s))
            diff = (o.sel(scenario=s, metric=m) - base.sel(metric=m)).where(ok.sel(scenario=s) & ok.isel(scenario=0))
            better = str(o["better"].sel(metric=m).values)
            sign = 1.0 if better == "higher" else -1.0
            valid = diff.notnull()
            p_better = float(((sign * diff) > 1e-12 * (1 + abs(base.sel(metric=m)))).where(valid).mean())
            rows.append({
                "scenario": str(s), "metric": str(m), "label": str(o["metric_label"].sel(metric=m).values),
                "units": str(o["metric_units"].sel(metric=m).values), "better": better,
                "median": float(values.median()), "low": float(values.quantile(quantiles[0])),
                "high": float(values.quantile(quantiles[1])), "change": float(diff.median()),
                "p_better": p_better if i and int(valid.sum()) else np.nan,
            })
    return pd.DataFrame(rows).set_index(["scenario", "metric"])


def tornado(indices: xr.Dataset, metric: str, *, top: int = 12) -> Figure:
    """Morris screening of one metric: bars of mu* (mean absolute elementary effect) with sigma.

    Parameters are sorted by mu*; sigma (the spread of the effects) large against mu*
    means the parameter acts non-linearly or through interactions.
    """
    if "mu_star" not in indices:
        raise SpecError("A tornado needs Morris indices (`mu_star`); run `sensitivity(..., method=\"morris\")`.")
    d = indices.sel(metric=metric)
    order = np.argsort(-np.nan_to_num(d["mu_star"].values), kind="stable")[:top][::-1]
    names = [str(p) for p in d["parameter"].values[order]]
    fig = _figure(6.2, 0.32 * len(names) + 1.2)
    ax = fig.subplots()
    y = np.arange(len(names))
    ax.barh(y, d["mu_star"].values[order], xerr=d["mu_star_conf"].values[order], color="#0072B2",
            height=0.6, label="μ* (mean |effect|)", error_kw={"lw": 0.8})
    ax.plot(d["sigma"].values[order], y, "o", color="#D55E00", ms=4, label="σ (spread of effects)")
    ax.set_yticks(y, names, fontsize=8)
    label = str(d["metric_label"].values) if "metric_label" in d.coords else metric
    units = str(d["metric_units"].values) if "metric_units" in d.coords else ""
    ax.set_xlabel(f"effect on {label} ({units})", fontsize=9)
    ax.set_title(f"Morris screening: {label}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def sobol_plot(indices: xr.Dataset, metrics: Sequence[str] | None = None) -> Figure:
    """First-order (S1) and total (ST) Sobol indices with confidence bars, one panel per metric."""
    if "ST" not in indices:
        raise SpecError("A Sobol plot needs Sobol indices (`S1`, `ST`); run `sensitivity(..., method=\"sobol\")`.")
    keys = list(indices["metric"].values) if metrics is None else list(metrics)
    ncols = min(3, len(keys))
    nrows = int(np.ceil(len(keys) / ncols))
    params = [str(p) for p in indices["parameter"].values]
    fig = _figure(3.3 * ncols, 0.28 * len(params) * nrows + 1.2 * nrows + 0.3)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    y = np.arange(len(params))
    for ax, key in zip(axes, keys):
        d = indices.sel(metric=key)
        ax.barh(y + 0.2, d["S1"].values, 0.4, xerr=d["S1_conf"].values, color="#56B4E9", label="S1 first order",
                error_kw={"lw": 0.7})
        ax.barh(y - 0.2, d["ST"].values, 0.4, xerr=d["ST_conf"].values, color="#E69F00", label="ST total",
                error_kw={"lw": 0.7})
        ax.set_yticks(y, params, fontsize=8)
        label = str(d["metric_label"].values) if "metric_label" in d.coords else str(key)
        ax.set_title(label, fontsize=9)
        ax.set_xlim(-0.05, 1.05)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Sobol indices: share of the outcome's variance due to each parameter", fontsize=10)
    return fig


def dominance_heatmap(share: xr.DataArray, *, top: int = 12, labels: Sequence[str] | None = None) -> Figure:
    """Loops (rows) by scenario (columns): the share of the run each loop dominates its partition.

    Shows the `top` loops whose share differs most between scenarios (then the largest shares).
    """
    from matplotlib import colormaps

    values = share.transpose("loop", "scenario").values
    # Loops whose dominance the policies change most first, then the loops that dominate most.
    spread = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    order = np.lexsort((-np.nanmax(values, axis=1), -np.round(spread, 2)))[:top]
    names = [str(x) for x in (labels if labels is not None else share["loop"].values)]
    rows = [names[k] if len(names[k]) <= 70 else names[k][:67] + "..." for k in order]
    scen = [str(s) for s in share["scenario"].values]
    fig = _figure(1.0 * len(scen) + 5.2, 0.34 * len(rows) + 2.3)
    ax = fig.subplots()
    im = ax.imshow(values[order], aspect="auto", vmin=0, vmax=1, cmap=colormaps["viridis"])
    ax.set_yticks(np.arange(len(rows)), rows, fontsize=7)
    ax.set_xticks(np.arange(len(scen)), scen, rotation=35, ha="right", fontsize=8)
    for i in range(len(rows)):
        for j in range(len(scen)):
            v = values[order][i, j]
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5, color="white" if v < 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of time dominant")
    ax.set_title("Which feedback loops dominate, by scenario", fontsize=10)
    return fig


# -- labels shared by the tables, the figures and the app -----------------------------------------------
def variable_display(profile: Any, variable: str, units: str = "") -> tuple[str, str, float]:
    """``(label, units, scale)`` of a model variable as tables and figures show it.

    When a metric of the lab profile reads the variable (other than as a time integral), the
    metric's label, units and scale are used, so a fan chart and the table name and measure the
    same thing ("4-hour performance", %, ×100); otherwise the variable's own name and units.

    >>> from sd_engine.lab import find_profile
    >>> variable_display(find_profile("whole_system_flow"), "four hour performance")
    ('4-hour performance', '%', 100.0)
    >>> variable_display(None, "Nurses", "FTE")
    ('Nurses', 'FTE', 1.0)
    """
    from ..expr import canonical

    if profile is not None:
        for m in profile.metrics:
            if canonical(m.variable) == canonical(variable) and m.statistic != "total":
                return m.label, m.units, float(m.scale)
    return variable, units, 1.0


# -- interactive figures (Bokeh): the report embeds them standalone, with zoom, pan and hover ----------
def _bokeh_figure(**kwargs: Any) -> Any:
    from bokeh.plotting import figure

    kwargs.setdefault("tools", "pan,wheel_zoom,box_zoom,reset,save")
    kwargs.setdefault("toolbar_location", "above")
    return figure(**kwargs)


def fan_figure(ds: xr.Dataset, variable: str, *, label: str | None = None, units: str = "", scale: float = 1.0,
               year: float | None = None, bands: tuple[float, float] = (0.05, 0.95)) -> tuple[Any, str]:
    """All scenarios of one variable: baseline 5-95% band (grey), each scenario's median (a line).

    Returns the Bokeh figure and a plain-text description of what it shows (the alt text).
    Click a scenario in the legend to hide it; hover a line for its values.
    """
    from bokeh.models import ColumnDataSource, HoverTool

    if variable not in ds.data_vars:
        raise UnknownVariableError(f"The experiment did not keep `{variable}`."
                                   + did_you_mean(variable, [str(v) for v in ds.data_vars]))
    label = label or variable
    x = ds[variable] * scale
    t, t_label = _time_axis(ds, year)
    names = [str(s) for s in ds["scenario"].values]
    has_runs = "run" in x.dims and x.sizes["run"] > 1
    fig = _bokeh_figure(title=f"{label}" + (f" ({units})" if units else ""), height=330, sizing_mode="stretch_width",
                        x_axis_label=t_label, y_axis_label=units or label)
    medians = {}
    base = x.sel(scenario=names[0])
    if has_runs:
        q = base.quantile(list(bands), dim="run").values
        fig.varea(t, q[0], q[1], fill_color="#999999", fill_alpha=0.25,
                  legend_label=f"{names[0]}: {round(100 * (bands[1] - bands[0]))}% of runs")
    lines = []
    for i, name in enumerate(names):
        xs = x.sel(scenario=name)
        med = (xs.median("run") if "run" in xs.dims else xs).values
        medians[name] = med
        src = ColumnDataSource({"x": t, "y": med, "scenario": [name] * len(t)})
        lines.append(fig.line("x", "y", source=src, color=SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)],
                              line_width=2.2 if i == 0 else 1.6, line_dash="solid" if i == 0 else "solid",
                              legend_label=name))
    fig.add_tools(HoverTool(renderers=lines, tooltips=[("scenario", "@scenario"), (t_label, "@x{0.00}"),
                                                       (label, "@y{0,0.00}")]))
    fig.legend.click_policy = "hide"
    fig.legend.label_text_font_size = "8pt"
    fig.add_layout(fig.legend[0], "right")
    end = {n: float(m[-1]) for n, m in medians.items()}
    hi, lo = max(end, key=end.__getitem__), min(end, key=end.__getitem__)
    span = f"{t[-1] - t[0]:g} {t_label}"
    alt = (f"Line chart of {label}{' in ' + units if units else ''} over {span}: the median of each of the "
           f"{len(names)} scenarios{', with the band holding ' + str(round(100 * (bands[1] - bands[0]))) + '% of the baseline runs' if has_runs else ''}. "
           f"At the end the baseline median is {_short(end[names[0]])}; the highest median is {hi} "
           f"({_short(end[hi])}) and the lowest {lo} ({_short(end[lo])}).")
    return fig, alt


def tornado_figure(indices: xr.Dataset, metric: str, *, top: int = 12) -> tuple[Any, str]:
    """Morris screening of one metric as a Bokeh bar chart (mu* with its interval, sigma as dots) and alt text."""
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.models.annotations.geometry import Whisker

    if "mu_star" not in indices:
        raise SpecError("A tornado needs Morris indices (`mu_star`); run `sensitivity(..., method=\"morris\")`.")
    d = indices.sel(metric=metric)
    order = np.argsort(-np.nan_to_num(d["mu_star"].values), kind="stable")[:top][::-1]
    names = [str(p) for p in d["parameter"].values[order]]
    mu = d["mu_star"].values[order]
    conf = d["mu_star_conf"].values[order] if "mu_star_conf" in d else np.zeros_like(mu)
    sigma = d["sigma"].values[order]
    label = str(d["metric_label"].values) if "metric_label" in d.coords else str(metric)
    units = str(d["metric_units"].values) if "metric_units" in d.coords else ""
    src = ColumnDataSource({"p": names, "mu": mu, "lo": mu - conf, "hi": mu + conf, "sigma": sigma})
    fig = _bokeh_figure(title=f"Morris screening: {label}", y_range=names, height=60 + 24 * len(names),
                        sizing_mode="stretch_width", x_axis_label=f"effect on {label} ({units})")
    bars = fig.hbar(y="p", right="mu", height=0.6, source=src, color="#0072B2", legend_label="μ* (mean |effect|)")
    fig.add_layout(Whisker(source=src, base="p", lower="lo", upper="hi", dimension="width", line_color="#333333"))
    dots = fig.scatter(x="sigma", y="p", source=src, color="#D55E00", size=7, legend_label="σ (spread of effects)")
    fig.add_tools(HoverTool(renderers=[bars, dots], tooltips=[("parameter", "@p"), ("μ*", "@mu{0,0.000}"),
                                                              ("σ", "@sigma{0,0.000}")]))
    fig.legend.location = "bottom_right"
    fig.legend.label_text_font_size = "8pt"
    ranked = list(reversed(names))
    alt = (f"Bar chart of the Morris screening of {label}: {len(names)} parameters ranked by μ*, the mean size of "
           f"their effect. Largest: {', '.join(ranked[:3])}" + (f" (μ* {_short(float(mu[-1]))} {units})" if len(mu)
                                                                  else "") + ".")
    return fig, alt


def sobol_figure(indices: xr.Dataset, metric: str) -> tuple[Any, str]:
    """First-order (S1) and total (ST) Sobol indices of one metric with their 95% intervals, and alt text.

    The axis runs from -0.25 to 1.25 in every chart, so bars compare across outcomes; an
    interval beyond it is cut at the edge (the report says when intervals are that wide).
    """
    from bokeh.models import ColumnDataSource, HoverTool, Range1d
    from bokeh.models.annotations.geometry import Whisker
    from bokeh.transform import dodge

    if "ST" not in indices:
        raise SpecError("A Sobol plot needs Sobol indices (`S1`, `ST`); run `sensitivity(..., method=\"sobol\")`.")
    d = indices.sel(metric=metric)
    params = [str(p) for p in d["parameter"].values]
    label = str(d["metric_label"].values) if "metric_label" in d.coords else str(metric)
    fig = _bokeh_figure(title=f"Sobol indices: {label}", y_range=list(reversed(params)), x_range=Range1d(start=-0.25, end=1.25),
                        height=90 + 44 * len(params), sizing_mode="stretch_width",
                        x_axis_label="share of the variance of the outcome")
    bars = []
    for key, colour, offset in (("S1", "#56B4E9", 0.18), ("ST", "#E69F00", -0.18)):
        v = d[key].values.astype(float)
        c = d[f"{key}_conf"].values.astype(float)
        src = ColumnDataSource({"p": params, "v": v, "lo": v - c, "hi": v + c, "kind": [key] * len(params)})
        bars.append(fig.hbar(y=dodge("p", offset, range=fig.y_range), right="v", height=0.34, source=src,
                             color=colour, legend_label="S1 first order" if key == "S1" else "ST total"))
        fig.add_layout(Whisker(source=src, base=dodge("p", offset, range=fig.y_range), lower="lo", upper="hi",
                               dimension="width", line_color="#333333"))
    fig.add_tools(HoverTool(renderers=bars, tooltips=[("parameter", "@p"), ("", "@kind"), ("index", "@v{0.00}"),
                                                      ("95% interval", "@lo{0.00} to @hi{0.00}")]))
    fig.legend.location = "bottom_right"
    fig.legend.label_text_font_size = "8pt"
    st = d["ST"].values.astype(float)
    top = params[int(np.nanargmax(st))] if len(params) and np.isfinite(st).any() else ""
    alt = (f"Bar chart of Sobol indices of {label} for {len(params)} parameters: first-order (S1) and total (ST) "
           f"shares of its variance with 95% intervals."
           + (f" Largest total index: {top} (ST {_short(float(np.nanmax(st)))}, interval "
              f"±{_short(float(d['ST_conf'].values[params.index(top)]))})." if top else ""))
    return fig, alt


def dominance_figure(share: xr.DataArray, *, labels: Sequence[str] | None = None, top: int = 12) -> tuple[Any, str]:
    """Loops (rows) by scenario (columns): the share of the run each loop is dominant, as a Bokeh heat map."""
    from bokeh.models import ColumnDataSource, HoverTool, LinearColorMapper
    from bokeh.palettes import Viridis256

    values = share.transpose("loop", "scenario").values
    spread = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    order = np.lexsort((-np.nanmax(values, axis=1), -np.round(spread, 2)))[:top]
    ids = [str(x) for x in share["loop"].values]
    full = [str(x) for x in (labels if labels is not None else ids)]
    scen = [str(s) for s in share["scenario"].values]
    rows = [ids[k] for k in order]
    data: dict[str, list[Any]] = {"loop": [], "scenario": [], "v": [], "label": [], "text": []}
    for k in order:
        for j, s in enumerate(scen):
            v = float(values[k, j])
            data["loop"].append(ids[k])
            data["scenario"].append(s)
            data["v"].append(v)
            data["label"].append(full[k])
            data["text"].append(f"{v:.2f}")
    mapper = LinearColorMapper(palette=Viridis256, low=0, high=1)
    fig = _bokeh_figure(title="Which feedback loops dominate, by scenario (share of the run)", x_range=scen,
                        y_range=list(reversed(rows)), height=110 + 30 * len(rows), sizing_mode="stretch_width")
    src = ColumnDataSource(data)
    cells = fig.rect(x="scenario", y="loop", width=1, height=1, source=src,
                     fill_color={"field": "v", "transform": mapper}, line_color="white")
    fig.text(x="scenario", y="loop", text="text", source=src, text_align="center", text_baseline="middle",
             text_font_size="8pt", text_color="#ffffff")
    fig.xaxis.major_label_orientation = 0.6
    fig.add_tools(HoverTool(renderers=[cells], tooltips=[("loop", "@label"), ("scenario", "@scenario"),
                                                         ("share of the run dominant", "@v{0.00}")]))
    moved = [ids[k] for k in order if spread[k] >= 0.05]
    alt = (f"Heat map of {len(rows)} feedback loops (rows) by {len(scen)} scenarios (columns): the share of each run "
           f"in which the loop is among the dominant ones. "
           + (f"The scenarios change the dominance of {', '.join(moved[:5])}." if moved else
              "No scenario changes which loops dominate by more than 5% of the run."))
    return fig, alt


def _short(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    a = abs(x)
    return f"{x:,.0f}" if a >= 1000 else f"{x:.3g}"
