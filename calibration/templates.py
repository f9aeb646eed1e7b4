"""Templates for local data: a CSV to fill in and a calibration file that reads it.

``sdflow calibrate --template MODEL`` writes two files an analyst can start from:

* ``MODEL_data.csv`` -- one row per period (the first day of each month, ISO dates), one
  column per published series, every cell empty: paste the local figures in, leave a cell
  empty where a figure is missing. A quarterly series fills every third row (the first
  month of its quarter); its period is inferred from its own rows. Weekly series can be
  added as rows of their own dates.
* ``MODEL_calibration.toml`` -- a calibration file (:mod:`calibration.config`) that maps
  each column to the model variable or expression it measures, with its aggregation,
  frequency and likelihood, the population of the local footprint and a first set of
  parameters to estimate. Every line is commented.

For the library's health and care models the series are the published ones (NHS England
A&E attendances and 4-hour breaches, delayed transfers of care, KH03 bed occupancy); for any
other model the template lists its stocks (compared as point values) and flows (compared as
period totals). See ``docs/calibration_data.rst``.

Examples
--------
>>> csv_text, toml_text = template("delayed_transfers_of_care")
>>> csv_text.splitlines()[0]
'period,delayed_days_total'
>>> 'variable = "Delayed patients"' in toml_text
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import CalibrationError

__all__ = ["TemplateSeries", "Template", "TEMPLATES", "template", "write_template"]


@dataclass(frozen=True)
class TemplateSeries:
    """One column of a template: what it measures and how it is compared."""

    column: str
    variable: str
    aggregate: str
    frequency: str
    likelihood: str
    doc: str


@dataclass(frozen=True)
class Template:
    """A model's template: its series, time column, origin and suggested parameters."""

    series: tuple[TemplateSeries, ...]
    params: dict[str, tuple[float, float]] = field(default_factory=dict)
    times: tuple[float, ...] = ()  # model times for a model without dates (then no origin)
    origin: str | None = "2022-01-01"
    first: str = "2022-04-01"
    periods: int = 24
    population: float | None = None
    note: str = ""


_WSF = Template(
    series=(
        TemplateSeries("attendances_type1", "ED attendances", "total", "monthly", "negbin",
                       "type-1 A&E attendances in the month (NHS England A&E Attendances and Emergency "
                       "Admissions, summed over the footprint's trusts)"),
        TemplateSeries("breaches_type1", "ED attendances * (1 - four hour performance)", "total", "monthly",
                       "negbin", "type-1 attendances that spent more than 4 hours in A&E"),
        TemplateSeries("delayed_days_acute", "Acute DToC", "total", "monthly", "negbin",
                       "delayed bed days in acute beds in the month (delayed transfers of care)"),
        TemplateSeries("occupancy_ga", "occupancy", "mean", "quarterly", "normal",
                       "general and acute bed occupancy, 0 to 1, quarterly (KH03): fill the first month of "
                       "each quarter"),
    ),
    # The parameters the joint England fit estimates (models/wsf_fit.py), with its bounds.
    params={"attendance level": (0.8, 1.1), "attendance trend": (-0.01, 0.03),
            "median time non admitted": (1.2, 3.2), "winter LoS rise": (0.0, 0.3), "placement scale": (0.1, 4.0)},
    origin="2018-04-01", first="2018-04-01",
    population=1_000_000,
    note="The whole-system model runs on a calendar from its start date (1 April 2018 unless built with "
         "another `start_date`), so `origin` is that date: seasons, the ageing population and the history "
         "before the start follow it. For data before April 2018, build the model with an earlier start date.",
)

#: Templates of the library's health and care models, by model name.
TEMPLATES: dict[str, Template] = {
    "whole_system_flow": _WSF,
    "delayed_transfers_of_care": Template(
        series=(TemplateSeries("delayed_days_total", "Delayed patients", "total", "monthly", "negbin",
                               "delayed bed days in the month, all bed types"),),
        params={"demand ratio at start": (0.05, 0.99), "capacity at start": (50, 5000),
                "demand growth": (-0.2, 0.5)},
        origin="2010-08-01", first="2010-08-01"),
    "ae_attendances": Template(
        series=(TemplateSeries("type1", "attendances", "total", "monthly", "negbin",
                               "type-1 A&E attendances in the month"),),
        params={"attendance rate": (0.1, 0.5), "rate trend": (-0.05, 0.1)},
        origin="2010-08-01", first="2010-08-01"),
}


def _generic(model: str) -> Template:
    from .loading import load_model
    from .problem import as_spec

    spec = as_spec(load_model(model))
    series = []
    for v in spec.variables:
        if v.internal or v.dims or v.kind not in ("stock", "flow"):
            continue
        column = v.canonical
        if v.kind == "stock":
            series.append(TemplateSeries(column, v.name, "point", "", "normal",
                                         f"{v.name} at the start of each period ({v.units or 'units'})"))
        else:
            series.append(TemplateSeries(column, v.name, "total", "", "poisson",
                                         f"{v.name} over each period ({v.units or 'units'})"))
    if not series:
        raise CalibrationError(f"Model `{model}` has no stock or flow to observe.")
    t0, t1 = spec.time.initial_time, spec.time.final_time
    step = (t1 - t0) / 12
    return Template(series=tuple(series), origin=None, times=tuple(t0 + step * (i + 1) for i in range(12)),
                    note="Rows are model times; to use dates instead, label the rows YYYY-MM-DD and give `origin`, "
                         "the date at the model's initial time. Delete the columns and [[observe]] entries you have "
                         "no data for, and give the parameters to estimate.")


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string is a JSON string


def template(model: str, name: str | None = None) -> tuple[str, str]:
    """The CSV and TOML texts of the template of `model` (a library name or a ``.py`` file)."""
    spec = TEMPLATES.get(model) or _generic(model)
    stem = name or Path(model).stem
    dates = pd.date_range(spec.first, periods=spec.periods, freq="MS")
    labels = [f"{t:g}" for t in spec.times] if spec.times else [d.strftime("%Y-%m-%d") for d in dates]
    header = ["time" if spec.times else "period"] + [s.column for s in spec.series]
    rows = [",".join(header)] + [",".join([label] + [""] * len(spec.series)) for label in labels]
    csv_text = "\n".join(rows) + "\n"
    lines = [
        f"# Calibration of `{model}` to local data (sdflow calibrate --config {stem}_calibration.toml).",
        "# Fill in the CSV (one row per period, labelled with its first day or model time; empty cell =",
        "# missing), then adjust the footprint, the parameters and the windows below. Paths are relative",
        "# to this file.",
        "",
        f"model = {_quote(model)}",
        f"data = {_quote(stem + '_data.csv')}",
    ]
    if spec.origin:
        lines.append(f"origin = {_quote(spec.origin)}          # the date at the model's initial time")
    else:
        lines.append('# origin = "2022-01-01"      # the date at the model\'s initial time (for rows labelled with dates)')
    if spec.note:
        lines += [f"# {part}" for part in _wrap(spec.note)]
    if spec.population is not None:
        lines.append(f"population = {int(spec.population)}       # people in the local footprint (the model scales "
                     "with it)")
    first, last = (spec.times[0], spec.times[len(spec.times) * 3 // 4 - 1]) if spec.times else (
        _quote(dates[0].strftime("%Y-%m-%d")), _quote(dates[len(dates) * 3 // 4 - 1].strftime("%Y-%m-%d")))
    lines += [
        f"window = [{first:g}, {last:g}]   # rows the fit uses" if spec.times else
        f"window = [{first}, {last}]   # rows the fit uses",
        "# rows after the window are held out and scored out of sample, next to the in-sample fit",
        '# exclude = [["2020-03-01", "2021-03-01"]]   # structural breaks left out (COVID-19)',
        "# warmup = 365                  # model time simulated first and never compared",
        "",
        "[params]                        # [low, high] to estimate, [low, high, start], or a number to fix",
    ]
    if spec.params:
        lines += [f"{_quote(k)} = [{lo:g}, {hi:g}]" for k, (lo, hi) in spec.params.items()]
    else:
        lines.append('# "some constant" = [0.1, 10]')
    for s in spec.series:
        lines += [
            "",
            f"[[observe]]                     # {s.doc}",
            f"column = {_quote(s.column)}",
            f"variable = {_quote(s.variable)}",
            f"aggregate = {_quote(s.aggregate)}     # point, total or mean over each row's own period",
        ]
        lines += [f"frequency = {_quote(s.frequency)}"] if s.frequency else [
            "# frequency = 1             # inferred from the column's rows; or a length of model time"]
        lines += [f"likelihood = {_quote(s.likelihood)}", "weight = 1.0"]
    lines += [
        "",
        "# [inputs]                      # events: an equation of time, or a column of a CSV file",
        "# \"min transfer time\" = \"min transfer time * (1 - 0.1 * step(1, date('2017-04-01')))\"",
        "# \"social care funding growth\" = { csv = \"inputs.csv\", column = \"funding\" }",
        "",
        "[output]",
        f"report = {_quote(stem + '_fit.txt')}",
        f"netcdf = {_quote(stem + '_fit.nc')}",
        f"plot = {_quote(stem + '_fit.png')}",
    ]
    return csv_text, "\n".join(lines) + "\n"


def _wrap(text: str, width: int = 94) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)


def write_template(model: str, folder: str | Path = ".") -> tuple[Path, Path]:
    """Write ``MODEL_data.csv`` and ``MODEL_calibration.toml`` into `folder`; existing files are not replaced."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CalibrationError(f"`{folder}` is a file; give a folder for the template files.")
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(model).stem
    csv_text, toml_text = template(model, stem)
    paths = (folder / f"{stem}_data.csv", folder / f"{stem}_calibration.toml")
    for path in paths:
        if path.exists():
            raise CalibrationError(f"`{path}` already exists; move it or choose another folder with --out.")
    paths[0].write_text(csv_text, encoding="utf-8")
    paths[1].write_text(toml_text, encoding="utf-8")
    return paths
