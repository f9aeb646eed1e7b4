"""Calibration files: a whole fit written down in TOML or JSON, for repeatable runs.

A calibration file names the model, the data and everything :func:`calibration.fit` needs,
so the same fit runs again from ``sdflow calibrate --config fit.toml`` or
``calibration.config.load("fit.toml").fit()``. Paths are relative to the file's folder.

.. code-block:: toml

    model = "whole_system_flow"
    data = "local_data.csv"          # one row per period, one column per series
    origin = "2018-04-01"            # the date at the model's initial time (its start date)
    population = 1_200_000           # the local footprint
    likelihood = "negbin"            # the default observation model
    window = ["2016-04-01", "2018-03-01"]
    holdout = ["2018-04-01", "2019-03-01"]
    exclude = [["2017-06-01", "2017-08-01"]]
    warmup = 90                      # model time units before the initial time

    [params]
    "attendance level" = [0.8, 1.1]                 # bounds
    "median time non admitted" = [1.2, 3.2, 2.0]     # bounds and start
    "reference population" = 1_000_000   # fixed

    [[observe]]
    column = "attendances_type1"
    variable = "ED attendances"
    aggregate = "total"

    [[observe]]
    column = "breaches_type1"
    variable = "ED attendances * (1 - four hour performance)"
    aggregate = "total"
    weight = 0.5

    [inputs]
    "min transfer time" = "min transfer time * (1 - drop * step(1, date('2017-04-01')))"
    "social care funding growth" = { csv = "inputs.csv", column = "funding" }

The keys of the top level are the keyword arguments of :func:`calibration.fit` (``time``,
``period``, ``label``, ``method``, ``starts``, ``ci``, ``level``, ``seed``, ``derived``,
``run_options`` too) plus ``model``, ``data``, ``params``, ``observe`` and ``inputs``, and
an optional ``[output]`` table (``netcdf``, ``plot``, ``report``) for the command line.
A misspelt key is an error that suggests the right one.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "fit.toml").write_text('''
... model = "flu"
... data = "flu.csv"
... likelihood = "negbin"
... [params]
... beta = [0.1, 5.0]
... gamma = [0.05, 2.0]
... [[observe]]
... column = "in_bed"
... variable = "Infected"
... ''')
>>> config = load(folder / "fit.toml")
>>> config.model, config.options["likelihood"], config.data.name
('flu', 'negbin', 'flu.csv')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sd_engine.documents import DocumentError, parse_document
from sd_engine.errors import did_you_mean, excerpt

from .errors import CalibrationError
from .inputs import read_input
from .observations import Observe

if TYPE_CHECKING:
    from .fit import FitResult

__all__ = ["CalibrationConfig", "load", "loads", "OPTIONS"]

#: Top-level keys passed on to :func:`calibration.fit` as they are.
OPTIONS = ("likelihood", "time", "origin", "period", "label", "window", "exclude", "holdout", "warmup",
           "population", "method", "starts", "ci", "level", "seed", "derived", "run_options")
_KEYS = ("model", "data", "params", "observe", "inputs", "output") + OPTIONS
_OBSERVE_KEYS = ("column", "variable", "aggregate", "frequency", "likelihood", "weight", "sigma")
_OUTPUT_KEYS = ("netcdf", "plot", "report")


@dataclass(frozen=True)
class CalibrationConfig:
    """A calibration read from a file: the model, data, parameters, observations and options.

    Attributes
    ----------
    model : str
        A library model name, one of calibration's examples, or a ``.py`` file (resolved
        against the file's folder) whose ``build()`` returns a model.
    data : Path
        The data file.
    params : mapping
        Parameter settings as :func:`calibration.fit` takes them.
    observe : tuple of Observe
        The observed series.
    inputs : mapping
        Events and time-varying inputs (CSV columns already read as series).
    options : mapping
        The other keyword arguments of :func:`calibration.fit`.
    output : mapping
        Files the command line writes: ``netcdf``, ``plot``, ``report``.
    source : Path or None
        The file the configuration was read from.
    """

    model: str
    data: Path
    params: Mapping[str, Any]
    observe: tuple[Observe, ...]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    output: Mapping[str, Path] = field(default_factory=dict)
    source: Path | None = None

    def fit(self, **overrides: Any) -> FitResult:
        """Run the calibration (:func:`calibration.fit`); keyword arguments override the file's options."""
        from .fit import fit
        from .loading import load_model

        options = {**self.options, **overrides}
        return fit(load_model(self.model), self.data, dict(self.params), list(self.observe),
                   inputs=dict(self.inputs) or None, **options)


def _where(source: Path | None) -> str:
    return f"`{source.name}`" if source is not None else "The calibration file"


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str, what: str) -> None:
    for key in table:
        if key not in allowed:
            raise CalibrationError(f"{where}: unknown {what} `{excerpt(str(key))}`." + did_you_mean(str(key), allowed)
                                   + f" Allowed: {', '.join(allowed)}.")


def _range(value: Any, key: str, where: str) -> tuple[Any, Any]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    raise CalibrationError(f"{where}: `{key}` must be a pair [first, last], not {excerpt(repr(value))}.")


def _param(name: str, value: Any, where: str) -> Any:
    if isinstance(value, bool):
        raise CalibrationError(f"{where}: parameter `{name}` must be a number, [low, high] or [low, high, start].")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list) and len(value) in (2, 3) and all(v is None or isinstance(v, (int, float))
                                                                 for v in value):
        return tuple(value)
    if isinstance(value, Mapping):
        return dict(value)  # the fields of calibration.Parameter
    raise CalibrationError(f"{where}: parameter `{name}` must be a number (fixed), [low, high], [low, high, start] "
                           f"or a table of Parameter fields, not {excerpt(repr(value))}.")


def from_mapping(raw: Mapping[str, Any], base: Path, source: Path | None = None) -> CalibrationConfig:
    """A :class:`CalibrationConfig` from parsed TOML or JSON; relative paths start at `base`."""
    where = _where(source)
    if not isinstance(raw, Mapping):
        raise CalibrationError(f"{where} must hold a table of settings at its top level.")
    _check_keys(raw, _KEYS, where, "setting")
    for key in ("model", "data", "params", "observe"):
        if key not in raw:
            raise CalibrationError(f"{where} needs `{key}`; see calibration.config for the format.")
    model = str(raw["model"])
    if model.endswith(".py"):
        model = str((base / model).resolve())
    data = (base / str(raw["data"])).resolve()
    if not isinstance(raw["params"], Mapping) or not raw["params"]:
        raise CalibrationError(f"{where}: `params` must be a table of parameter settings.")
    params = {str(k): _param(str(k), v, where) for k, v in raw["params"].items()}
    entries = raw["observe"]
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise CalibrationError(f"{where}: `observe` must be a list of tables ([[observe]] in TOML).")
    observe = []
    for n, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            raise CalibrationError(f"{where}: observation {n} must be a table with `column` and `variable`.")
        _check_keys(entry, _OBSERVE_KEYS, f"{where}, observation {n}", "key")
        if "column" not in entry or "variable" not in entry:
            raise CalibrationError(f"{where}: observation {n} needs `column` (the data column) and `variable` (the "
                                   "model variable or expression it measures).")
        observe.append(Observe(**{str(k): v for k, v in entry.items()}))
    inputs: dict[str, Any] = {}
    for name, value in dict(raw.get("inputs", {})).items():
        if isinstance(value, Mapping):
            _check_keys(value, ("csv", "column", "time"), f"{where}, input `{name}`", "key")
            if "csv" not in value or "column" not in value:
                raise CalibrationError(f"{where}: input `{name}` read from a file needs `csv` and `column`.")
            inputs[str(name)] = read_input(base / str(value["csv"]), str(value["column"]), value.get("time"))
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            inputs[str(name)] = value
        else:
            raise CalibrationError(f"{where}: input `{name}` must be an equation (text), a number or "
                                   "{ csv = ..., column = ... }.")
    options: dict[str, Any] = {k: raw[k] for k in OPTIONS if k in raw}
    for key in ("window", "holdout"):
        if key in options:
            options[key] = _range(options[key], key, where)
    if "exclude" in options:
        if not isinstance(options["exclude"], list):
            raise CalibrationError(f"{where}: `exclude` must be a list of [first, last] pairs.")
        options["exclude"] = [_range(v, "exclude", where) for v in options["exclude"]]
    output_raw = raw.get("output", {})
    if not isinstance(output_raw, Mapping):
        raise CalibrationError(f"{where}: `output` must be a table (netcdf, plot, report).")
    _check_keys(output_raw, _OUTPUT_KEYS, f"{where}, output", "key")
    output = {str(k): (base / str(v)).resolve() for k, v in output_raw.items()}
    return CalibrationConfig(model=model, data=data, params=MappingProxyType(params), observe=tuple(observe),
                             inputs=MappingProxyType(inputs), options=MappingProxyType(options),
                             output=MappingProxyType(output), source=source)


def loads(text: str, format: str = "toml", base: str | Path = ".") -> CalibrationConfig:
    """A :class:`CalibrationConfig` from TOML or JSON text; relative paths start at `base`."""
    try:
        raw = parse_document(text, "json" if format == "json" else "toml")
    except DocumentError as err:
        raise CalibrationError(f"The calibration file is {err}.") from None
    return from_mapping(raw, Path(base))


def load(path: str | Path) -> CalibrationConfig:
    """Read a calibration file (``.toml`` or ``.json``).

    Raises
    ------
    CalibrationError
        The file is missing, not valid TOML/JSON, or has an unknown, missing or malformed
        setting (the message names it and suggests the right spelling).
    """
    path = Path(path)
    if not path.exists():
        raise CalibrationError(f"There is no calibration file `{path}`; check the path.")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise CalibrationError(f"`{path.name}`: a calibration file is .toml or .json.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CalibrationError(f"`{path.name}` is not UTF-8 text; save it as UTF-8.") from None
    try:
        raw = parse_document(text, "toml" if suffix == ".toml" else "json")
    except DocumentError as err:
        raise CalibrationError(f"`{path.name}` is {err}.") from None
    return from_mapping(raw, path.parent, path)
