"""Scenarios: named sets of lever values and schedules, saved and loaded as TOML or JSON.

A :class:`Scenario` says which model it applies to and how the levers differ from the
model's defaults, without editing the model's code:

* ``params``: constant levers, e.g. ``{"savings rate": 0.03, "savings start": 365}``;
* ``schedules``: a lever that changes over time, as ``(time, value)`` points joined by
  straight lines and held beyond the ends (the constant becomes
  ``with_lookup(time, points)``);
* ``equations``: a lever replaced by any builder equation of time, e.g.
  ``{"training places": "360 + step(90, 730)"}`` or ``"ramp(0.01, 365, 1825)"``;
* ``lookups``: a graphical function replaced by new points (passed to ``run`` as an
  override, so no recompilation).

:func:`apply` turns a scenario into a compiled model and run parameters; :func:`run` runs
it; :func:`compose` applies several at once. A library model may ship scenario files (a
``SCENARIO_DIR`` folder in its module, found through :mod:`sd_engine.library`):
:func:`shipped` lists them and :func:`load` reads one by name.

Examples
--------
>>> s = Scenario("savings 3%", "whole_system_flow",
...              params={"savings rate": 0.03, "savings start": 365, "savings end": 1825})
>>> s.params["savings rate"]
0.03
>>> loads(dumps(s, "toml"), "toml") == s
True
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from .compile import compile_model
from .documents import DocumentError, Format, dump_document, parse_document
from .errors import SpecError, UnknownVariableError, did_you_mean
from .expr import canonical, parse_equation
from .io.model_file import MODEL_SUFFIXES
from .library import attribute, build
from .spec import ModelSpec

if TYPE_CHECKING:
    import xarray as xr

    from .compile import CompiledModel

__all__ = ["Scenario", "apply", "run", "compose", "shipped", "load", "save", "loads", "dumps"]

Points = tuple[tuple[float, float], ...]


def _points(name: str, value: Any) -> Points:
    try:
        pts = tuple((float(x), float(y)) for x, y in value)
    except (TypeError, ValueError):
        raise SpecError(f"Schedule or lookup `{name}` needs (x, y) pairs such as [[0, 1], [365, 2]]; got {value!r}.") \
            from None
    if not pts or any(not (math.isfinite(x) and math.isfinite(y)) for x, y in pts):
        raise SpecError(f"Schedule or lookup `{name}` needs at least one pair of finite numbers.")
    if any(b[0] < a[0] for a, b in zip(pts, pts[1:])):
        raise SpecError(f"Schedule or lookup `{name}` needs its times (x values) in increasing order.")
    return pts


@dataclass(frozen=True)
class Scenario:
    """A named set of lever values and schedules for one library model.

    Parameters
    ----------
    name : str
        The scenario's name.
    model : str
        The model it applies to: a library name (see ``sd_engine.library.available()``) or the
        path of a Vensim/XMILE model file.
    params : mapping of str to float
        Constant levers by display or canonical name.
    schedules : mapping of str to sequence of (time, value)
        Levers that vary over time, linear between the points and held outside them.
    equations : mapping of str to str
        Levers replaced by builder equations (of time), e.g. ``"0.03 * step(1, 365)"``.
    lookups : mapping of str to sequence of (x, y)
        Graphical functions replaced by new points.
    description : str
        What the scenario represents and where its values come from.
    final_time : float, optional
        Run horizon in the model's time units; the model's own when omitted.

    Examples
    --------
    >>> s = Scenario("more training", "nurse_workforce_burnout", params={"training increase": 90})
    >>> ds = run(s, final_time=10)
    >>> float(ds["Student nurses"][0]) > 0
    True
    """

    name: str
    model: str
    params: Mapping[str, float] = field(default_factory=dict)
    schedules: Mapping[str, Points] = field(default_factory=dict)
    equations: Mapping[str, str] = field(default_factory=dict)
    lookups: Mapping[str, Points] = field(default_factory=dict)
    description: str = ""
    final_time: float | None = None

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise SpecError("A scenario needs a non-empty `name`.")
        params = {}
        for key, value in dict(self.params).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise SpecError(f"Scenario `{self.name}`: lever `{key}` must be a number, not {value!r}; "
                                "use `equations` for an equation or `schedules` for points over time.") from None
            if not math.isfinite(number):
                raise SpecError(f"Scenario `{self.name}`: lever `{key}` must be finite, not {value!r}.")
            params[str(key)] = number
        for key, text in dict(self.equations).items():
            parse_equation(text, variable=str(key))  # a syntax error names the lever and the column
        object.__setattr__(self, "params", MappingProxyType(params))
        object.__setattr__(self, "schedules",
                           MappingProxyType({str(k): _points(k, v) for k, v in dict(self.schedules).items()}))
        object.__setattr__(self, "equations", MappingProxyType({str(k): str(v) for k, v in dict(self.equations).items()}))
        object.__setattr__(self, "lookups", MappingProxyType({str(k): _points(k, v) for k, v in dict(self.lookups).items()}))
        if self.final_time is not None:
            object.__setattr__(self, "final_time", float(self.final_time))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.as_dict(), sort_keys=True))

    def as_dict(self) -> dict[str, Any]:
        """The scenario as plain data (what TOML and JSON files hold)."""
        out: dict[str, Any] = {"name": self.name, "model": self.model}
        if self.description:
            out["description"] = self.description
        if self.final_time is not None:
            out["final_time"] = self.final_time
        for key in ("params", "equations"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        for key in ("schedules", "lookups"):
            if getattr(self, key):
                out[key] = {k: [list(p) for p in v] for k, v in getattr(self, key).items()}
        return out

    def with_params(self, **changes: float) -> Scenario:
        """A copy with some constant levers changed (names with underscores).

        The description says which levers changed from what, since the original text may
        describe the old values.

        >>> s = Scenario("savings", "whole_system_flow", params={"savings rate": 0.03}, description="3% a year.")
        >>> s.with_params(savings_rate=0.04).description
        '3% a year. Changed from this description: savings rate = 0.04 (was 0.03).'
        """
        params = dict(self.params)
        notes = []
        for key, value in changes.items():
            name = key.replace("_", " ")
            was = next((v for k, v in params.items() if canonical(k) == canonical(name)), None)
            params[name] = float(value)
            notes.append(f"{name} = {float(value):g}" + (f" (was {was:g})" if was is not None else ""))
        description = self.description
        if notes:
            description = (description + " " if description else "") + "Changed from this description: " \
                + ", ".join(notes) + "."
        return dataclasses.replace(self, params=params, description=description)


def _from_dict(data: Mapping[str, Any], where: str) -> Scenario:
    allowed = {"name", "model", "description", "final_time", "params", "schedules", "equations", "lookups"}
    unknown = set(data) - allowed
    if unknown:
        key = sorted(unknown)[0]
        raise SpecError(f"{where}: unknown scenario key `{key}`." + did_you_mean(key, allowed))
    for key in ("name", "model"):
        if key not in data:
            raise SpecError(f"{where}: a scenario needs `{key}`.")
    return Scenario(**{k: data[k] for k in data})


def loads(text: str, fmt: Format = "toml") -> Scenario:
    """A scenario from TOML or JSON text."""
    try:
        data = parse_document(text, fmt)
    except DocumentError as exc:
        raise SpecError(f"Cannot read the scenario {fmt.upper()}: {exc}.") from None
    return _from_dict(data, f"scenario {fmt.upper()}")


def dumps(scenario: Scenario, fmt: Format = "toml") -> str:
    """The TOML or JSON text of `scenario`."""
    return dump_document(scenario.as_dict(), fmt)


def shipped(model: str) -> dict[str, Path]:
    """The scenario files library model `model` ships, by name (the files' stems).

    >>> sorted(shipped("whole_system_flow"))[:2]
    ['baseline', 'delay_fines']
    """
    folder = attribute(model, "SCENARIO_DIR")
    if folder is None:
        return {}
    return {p.stem: p for p in sorted(Path(folder).glob("*.toml"))}


def load(source: str | Path, model: str | None = None) -> Scenario:
    """Load a scenario from a ``.toml`` or ``.json`` file, or a scenario `model` ships by name."""
    path = Path(source)
    if path.suffix.lower() not in (".toml", ".json"):
        files = shipped(model) if model is not None else {}
        if canonical(str(source)) not in files:
            where = f"shipped with `{model}`" if model is not None else "named without its model"
            raise UnknownVariableError(f"There is no scenario `{source}` {where}." + did_you_mean(
                canonical(str(source)), files) + " Give a .toml or .json file, or a name from "
                "`sd_engine.scenario.shipped(model)`.")
        path = files[canonical(str(source))]
    if not path.exists():
        raise FileNotFoundError(f"No scenario file `{path}`.")
    fmt: Format = "json" if path.suffix.lower() == ".json" else "toml"
    try:
        return loads(path.read_text(encoding="utf-8"), fmt)
    except SpecError as exc:
        raise SpecError(f"`{path.name}`: {exc}") from None


def save(scenario: Scenario, path: str | Path) -> Path:
    """Write `scenario` to `path`; the suffix (``.toml`` or ``.json``) picks the format."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SpecError(f"Save a scenario as `.toml` or `.json`, not `{path.name}`.")
    path.write_text(dumps(scenario, "json" if suffix == ".json" else "toml"), encoding="utf-8")
    return path


def apply(scenario: Scenario, model: Any = None) -> tuple[CompiledModel, dict[str, Any]]:
    """The compiled model and the ``run`` parameters for `scenario`.

    Constant levers and lookups become run parameters of the library model, compiled once.
    Schedules and equations rewrite the named constants as equations of time, so they give
    a new model. `model` may be a builder to use instead of the library model.

    Raises
    ------
    UnknownVariableError
        A lever that the model does not have, with the closest names.
    SpecError
        A schedule or equation on something other than a constant or auxiliary.
    """
    if model is not None:
        spec: ModelSpec = model.spec() if callable(getattr(model, "spec", None)) else model.spec
    elif Path(scenario.model).suffix.lower() in MODEL_SUFFIXES:  # a scenario of a model file
        from .io.pysd_import import read_model  # PySD's parser loads only for model files

        spec = read_model(Path(scenario.model))
    else:
        spec = build(scenario.model).spec()
    replaced: dict[str, Any] = {}
    for name, text in scenario.equations.items():
        replaced[name] = (parse_equation(text, variable=name), text)
    for name, pts in scenario.schedules.items():
        table = ", ".join(f"({x!r}, {y!r})" for x, y in pts)
        text = f"with_lookup(time, ({table},))"
        replaced[name] = (parse_equation(text, variable=name), text)
    if replaced:
        variables = []
        keys = {canonical(k): k for k in replaced}
        for var in spec.variables:
            if var.canonical in keys:
                expr, text = replaced.pop(keys.pop(var.canonical))
                if var.kind not in ("constant", "aux", "flow"):
                    raise SpecError(f"Scenario `{scenario.name}` gives `{var.name}` a schedule, but it is a {var.kind}; "
                                    "schedule a constant lever or an auxiliary.")
                kind = "aux" if var.kind == "constant" else var.kind
                var = dataclasses.replace(var, kind=kind, equation=expr, text=text, values=None)
            variables.append(var)
        if keys:
            name = next(iter(keys.values()))
            spec[name]  # raises UnknownVariableError with the closest names
        spec = dataclasses.replace(spec, variables=tuple(variables))
    compiled = compile_model(spec)
    params: dict[str, Any] = {}
    for name, value in scenario.params.items():
        var = compiled.resolve(name)
        if var.canonical not in compiled.parameters:
            raise SpecError(f"Scenario `{scenario.name}` sets `{var.name}`, which is a {var.kind}, not a constant "
                            "lever; use `equations` to replace its equation.")
        params[name] = value
    for name, pts in scenario.lookups.items():
        compiled.resolve(name)
        params[name] = [list(p) for p in pts]
    return compiled, params


def run(scenario: Scenario, model: Any = None, **kwargs: Any) -> xr.Dataset:
    """Run `scenario`; keyword arguments go to ``CompiledModel.run`` (their ``params`` add levers)."""
    compiled, params = apply(scenario, model)
    extra: Mapping[str, Any] = kwargs.pop("params", None) or {}
    params.update(extra)
    if scenario.final_time is not None:
        kwargs.setdefault("final_time", scenario.final_time)
    return compiled.run(params=params, **kwargs)


def compose(*scenarios: Scenario, name: str | None = None, description: str | None = None) -> Scenario:
    """One scenario that applies several: baseline + lever A + lever B.

    Levers set by more than one scenario must agree (same kind and same value); a clash is
    an error that names the lever, since silently letting one win would hide a policy
    conflict.

    Examples
    --------
    >>> wsf = "whole_system_flow"
    >>> both = compose(load("baseline", wsf), load("savings_programme", wsf), load("pooled_budget", wsf))
    >>> both.name, both.params["savings rate"], both.params["pooled budget share"]
    ('baseline + savings programme + pooled budget', 0.03, 0.08)
    """
    if not scenarios:
        raise SpecError("`compose` needs at least one scenario.")
    model = scenarios[0].model
    merged: dict[str, dict[str, Any]] = {"params": {}, "schedules": {}, "equations": {}, "lookups": {}}
    owner: dict[str, tuple[str, str, Any]] = {}  # canonical lever -> (kind, scenario, value)
    final_time = None
    for s in scenarios:
        if canonical(s.model) != canonical(model):
            raise SpecError(f"Cannot compose `{s.name}` (model `{s.model}`) with scenarios of `{model}`.")
        for kind in merged:
            for key, value in getattr(s, kind).items():
                c = canonical(key)
                if c in owner and owner[c][0:1] + (owner[c][2],) != (kind, value):
                    raise SpecError(f"Scenarios `{owner[c][1]}` and `{s.name}` both set lever `{key}` differently; "
                                    "compose scenarios whose levers do not overlap, or edit one of them.")
                owner[c] = (kind, s.name, value)
                merged[kind][key] = value
        if s.final_time is not None:
            if final_time is not None and final_time != s.final_time:
                raise SpecError(f"Scenario `{s.name}` has final time {s.final_time}, another {final_time}; "
                                "composed scenarios must share their horizon.")
            final_time = s.final_time
    text = description if description is not None else " ".join(s.description for s in scenarios if s.description)
    return Scenario(name or " + ".join(s.name for s in scenarios), model, description=text, final_time=final_time,
                    **merged)
