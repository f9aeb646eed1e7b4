"""The app's sliders: which constants a person can move, and over which range.

A :class:`Control` is one slider. :func:`controls_for` chooses them:

- with a lab profile: the model's *levers* (constants set by a shipped scenario, or whose
  documentation calls them a lever) and the profile's *uncertain* parameters, over the
  profile's ranges;
- without one (an imported Vensim/XMILE model, a library model with no profile): every scalar
  constant, over a range around its default.

Ranges, in order of preference: the profile's range (uncertain parameters); a range written in
the constant's documentation next to the word "lever" (``"(lever, 0–2)"``, ``"(lever, ±0.2)"``,
``"(lever; 0 to 0.3)"``) when it holds the default; for a lever whose units are the model's time
units (a start date, an interval), the run's horizon; otherwise from half to twice the largest
value the default and the shipped scenarios give (from 0 when one of them is 0).

Examples
--------
>>> import sd_engine as sd
>>> [(c.name, c.low, c.high) for c in controls_for(sd.load("teacup"), None)]
[('Characteristic Time', 5.0, 20.0), ('Room Temperature', 35.0, 140.0)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..expr import canonical

if TYPE_CHECKING:
    from ..compile import CompiledModel
    from ..lab.metrics import LabProfile
    from ..scenario import Scenario

__all__ = ["Control", "controls_for", "lever_range", "nice_step"]

Role = Literal["lever", "uncertain", "constant"]

_NUMBER = r"[-+]?\d+(?:[.,]\d+)*(?:\.\d+)?"
#: "(lever, 0–2)", "(lever; 0 to 0.3)", "(lever, 0.9–1.2)": a range written next to "lever".
_DOC_RANGE = re.compile(rf"lever[^()]*?({_NUMBER})\s*(?:–|-|to)\s*({_NUMBER})(?!\s*%)", re.IGNORECASE)
#: "(lever, ±0.2)": a half-width around the default.
_DOC_PLUS_MINUS = re.compile(rf"lever[^()]*?±\s*({_NUMBER})(?!\s*%)", re.IGNORECASE)
_LEVER_WORD = re.compile(r"\blever\b", re.IGNORECASE)


@dataclass(frozen=True)
class Control:
    """One slider: a scalar constant of the model and the range it moves over.

    Parameters
    ----------
    name : str
        The constant's display name (what ``model.run(params=...)`` takes).
    role : {"lever", "uncertain", "constant"}
        A policy lever, an uncertain parameter of the lab profile (the ensemble draws it),
        or a constant of a model without a profile.
    default : float
        The model's own value.
    low, high : float
        The slider's range; it holds `default`.
    units, doc : str
        From the model.
    range_source : str
        Where the range comes from, for the tooltip ("lab profile", "documentation", ...).
    """

    name: str
    role: Role
    default: float
    low: float
    high: float
    units: str = ""
    doc: str = ""
    range_source: str = ""

    @property
    def step(self) -> float:
        """The slider's step: about a two-hundredth of the range, rounded to 1, 2 or 5 × 10^k."""
        return nice_step((self.high - self.low) / 200)


def nice_step(x: float) -> float:
    """The value of 1, 2 or 5 × 10^k nearest below `x` (a positive width), for slider steps.

    >>> nice_step(0.037), nice_step(3.0), nice_step(740.0)
    (0.02, 2.0, 500.0)
    """
    if not x > 0 or not math.isfinite(x):
        return 1.0
    exponent = math.floor(math.log10(x))
    base = 10.0 ** exponent
    for m in (5.0, 2.0, 1.0):
        if m * base <= x * (1 + 1e-9):
            return float(f"{m * base:.12g}")
    return float(f"{base:.12g}")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _doc_range(doc: str, default: float) -> tuple[float, float] | None:
    # Only a range that holds the default: "2–4%" on a lever whose default is 0 is a domain
    # note, not the slider's range.
    match = _DOC_RANGE.search(doc)
    if match:
        low, high = _number(match.group(1)), _number(match.group(2))
        if low < high and low <= default <= high:
            return low, high
    match = _DOC_PLUS_MINUS.search(doc)
    if match:
        half = abs(_number(match.group(1)))
        if half > 0:
            return default - half, default + half
    return None


def lever_range(default: float, values: Iterable[float] = ()) -> tuple[float, float]:
    """A range around `default` that holds every value in `values` (those of shipped scenarios).

    From half the smallest to twice the largest, from 0 when one of them is 0, and mirrored for
    negative values; ``(0, 1)`` when all are 0.

    >>> lever_range(10.0), lever_range(0.0, [0.03]), lever_range(-2.0), lever_range(0.0)
    ((5.0, 20.0), (0.0, 0.06), (-4.0, -1.0), (0.0, 1.0))
    """
    vals = [float(default), *(float(v) for v in values)]
    lo, hi = min(vals), max(vals)
    if lo == 0 and hi == 0:
        return 0.0, 1.0
    if lo >= 0:
        return (0.0 if lo == 0 else lo / 2), 2 * hi
    if hi <= 0:
        return 2 * lo, (0.0 if hi == 0 else hi / 2)
    return 2 * lo, 2 * hi


def _scalar_constants(model: CompiledModel) -> dict[str, Any]:
    """Scalar constants by canonical name (subscripted ones have no single slider)."""
    return {key: var for key, var in model.parameters.items() if not var.dims}


def _defaults(model: CompiledModel, names: Sequence[str]) -> dict[str, float]:
    """The model's own values of constants (an equation of other constants is evaluated)."""
    if not names:
        return {}
    t0 = model.spec.time.initial_time
    ds = model.run(final_time=t0, saveper=model.spec.time.dt)
    return {n: float(ds[n].values.reshape(-1)[0]) for n in names}


def controls_for(model: CompiledModel, profile: LabProfile | None,
                 scenarios: Mapping[str, Scenario] | None = None) -> tuple[Control, ...]:
    """The sliders for `model`: levers and uncertain parameters, or every scalar constant.

    Parameters
    ----------
    model : CompiledModel
    profile : LabProfile or None
        The model's lab profile; without one every scalar constant gets a slider.
    scenarios : mapping of str to Scenario, optional
        The model's shipped scenarios: the constants they set are levers, and their values
        widen the lever ranges.
    """
    constants = _scalar_constants(model)
    names = {key: var.name for key, var in constants.items()}
    defaults = _defaults(model, list(names.values()))
    time = model.spec.time
    if profile is None:
        out = []
        for key, var in constants.items():
            default = defaults[var.name]
            found = _doc_range(var.doc, default)
            low, high = found if found else lever_range(default)
            out.append(Control(var.name, "constant", default, low, high, var.units, var.doc,
                               "documentation" if found else "around the default"))
        return tuple(out)

    scenario_values: dict[str, list[float]] = {}
    for s in (scenarios or {}).values():
        for key, value in s.params.items():
            scenario_values.setdefault(canonical(key), []).append(float(value))
        for key, points in s.schedules.items():
            scenario_values.setdefault(canonical(key), []).extend(y for _, y in points)
    uncertain = {canonical(k): v for k, v in profile.uncertainty.items()}
    out = []
    for key, var in constants.items():
        if key in uncertain:
            continue
        if key not in scenario_values and not _LEVER_WORD.search(var.doc):
            continue
        default = defaults[var.name]
        values = scenario_values.get(key, [])
        found = _doc_range(var.doc, default)
        if found is not None and all(found[0] <= v <= found[1] for v in values):
            low, high, source = found[0], found[1], "documentation"
        elif var.units and canonical(var.units) in (canonical(time.units), canonical(time.units) + "s"):
            # A date or an interval in model time: anywhere in the run, or where the model puts it.
            low = min(time.initial_time, default, *values)
            high = max(time.final_time, default, *values)
            source = "the run's horizon"
        else:
            low, high = lever_range(default, values)
            source = "around the default and the shipped scenarios"
        out.append(Control(var.name, "lever", default, low, high, var.units, var.doc, source))
    for name, (low, high) in profile.uncertainty.items():
        var = model.resolve(name)
        found_default = defaults.get(var.name)
        if found_default is None:  # a subscripted constant: the lab draws it, no slider here
            continue
        out.append(Control(var.name, "uncertain", found_default, min(low, found_default), max(high, found_default),
                           var.units,
                           var.doc, "lab profile"))
    return tuple(out)
