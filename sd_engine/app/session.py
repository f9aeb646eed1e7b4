"""What the app computes, without any user interface: the :class:`Workbench`.

A workbench holds one model, its sliders (:mod:`sd_engine.app.controls`), its scenarios and a
fixed uncertainty design, and answers the questions the app asks each time a slider moves:

- :meth:`Workbench.single` — one run at the current slider values;
- :meth:`Workbench.ensemble` — 100 runs under the current levers, the uncertain parameters
  drawn from the lab profile's ranges (one ``model.run`` call: the run axis);
- :meth:`Workbench.scorecard` — the lab profile's outcome metrics against the baseline, paired
  run by run (both ensembles use the same draws: common random numbers);
- :meth:`Workbench.dominance` — Loops that Matter scores of the single run;
- :meth:`Workbench.scenario` — the current levers as a :class:`~sd_engine.scenario.Scenario`
  that ``sdflow lab`` and :func:`sd_engine.scenario.load` read back.

Every run goes through ``CompiledModel.run``, so a faster back end speeds the app up without a
change here. Output is saved at a plotting interval (a month for models with a lab profile's
year), not every time step.

Examples
--------
>>> wb = Workbench.open("teacup")
>>> ds = wb.single({"Characteristic Time": 5.0})
>>> round(float(ds["Teacup Temperature"].isel(time=-1)), 3)
70.253
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SpecError, UnknownVariableError, did_you_mean
from ..expr import canonical
from .controls import Control, controls_for

if TYPE_CHECKING:
    from ..compile import CompiledModel
    from ..lab.metrics import LabProfile
    from ..scenario import Scenario

__all__ = ["Workbench", "Display", "ENSEMBLE_SIZE", "LOCAL_SPREAD", "load_source", "values_in"]

#: Runs in the fan: enough for stable 5-95% bands (the 5% quantile of 100 runs has a standard
#: error of about 2 percentage points), few enough to redraw as a slider moves.
ENSEMBLE_SIZE = 100
#: Without a lab profile the fan draws every constant within ±10% of its slider value.
LOCAL_SPREAD = 0.10
#: At most this many saved points over a run without a lab profile's year.
_MAX_POINTS = 400


@dataclass(frozen=True)
class Display:
    """How a variable is shown: the metric's label, units and scale when a metric reads it."""

    variable: str
    label: str
    units: str
    scale: float = 1.0


def load_source(source: str | Path, profile: str | Path | None = None) -> tuple[CompiledModel, LabProfile | None, str]:
    """The compiled model, its lab profile (or None) and the model's name, from what the user typed.

    `source` is a library name, a Vensim/XMILE file, or a lab profile file (``.toml``/``.json``)
    whose ``model`` names the model (a library name, or a file relative to the profile's folder).
    """
    from .. import load
    from ..io.model_file import MODEL_SUFFIXES
    from ..lab.metrics import find_profile, load_profile

    path = Path(source)
    lab: LabProfile | None = None
    if path.suffix.lower() in (".toml", ".json"):
        lab = load_profile(path)
        model_name = lab.model
        candidate = path.parent / model_name
        if Path(model_name).suffix.lower() in MODEL_SUFFIXES and not Path(model_name).is_absolute() \
                and candidate.exists():
            model_name = str(candidate)
            lab = _with_model(lab, model_name)
    else:
        model_name = str(source)
    if profile is not None:
        lab = load_profile(profile, model=model_name)
    model = load(model_name)
    if lab is None:
        lab = find_profile(model_name) if Path(model_name).suffix.lower() not in MODEL_SUFFIXES else None
    return model, lab, model_name


def _with_model(profile: LabProfile, model: str) -> LabProfile:
    import dataclasses

    return dataclasses.replace(profile, model=model)


def _lhs_unit(n: int, k: int, seed: int) -> np.ndarray:
    """A Latin hypercube of `n` points in the unit cube of `k` dimensions (scipy's)."""
    if k == 0:
        return np.zeros((n, 0))
    from scipy.stats import qmc

    return np.asarray(qmc.LatinHypercube(d=k, seed=seed).random(n))


@dataclass
class Workbench:
    """One model, its sliders, scenarios and uncertainty design, and the runs the app shows.

    Build one with :meth:`open`. Methods take the slider values as ``{name: value}`` (names as
    in :attr:`controls`); values not given stay at their defaults.
    """

    model: CompiledModel
    model_name: str
    profile: LabProfile | None
    controls: tuple[Control, ...]
    scenarios: dict[str, Scenario]
    n_runs: int = ENSEMBLE_SIZE
    seed: int = 0
    final_time: float = 0.0
    saveper: float = 1.0
    _unit_design: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    _compiled: dict[str, tuple[CompiledModel, dict[str, Any]]] = field(default_factory=dict, repr=False)
    _loops: dict[int, Any] = field(default_factory=dict, repr=False)
    _baseline: dict[str, Any] = field(default_factory=dict, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _numba: bool = field(default=False, repr=False)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def open(cls, source: str | Path, *, profile: str | Path | None = None, n_runs: int = ENSEMBLE_SIZE,
             seed: int = 0) -> Workbench:
        """Load `source` (library name, model file or lab profile file) and prepare its sliders."""
        model, lab, name = load_source(source, profile)
        return cls.from_model(model, lab, name=name, n_runs=n_runs, seed=seed)

    @classmethod
    def from_model(cls, model: CompiledModel, profile: LabProfile | None = None, *, name: str | None = None,
                   n_runs: int = ENSEMBLE_SIZE, seed: int = 0) -> Workbench:
        """A workbench for a compiled model (and its lab profile, if any)."""
        from ..scenario import load, shipped

        model_name = name or str(model.spec.name)
        scenarios: dict[str, Scenario] = {}
        try:
            files = shipped(model_name)
        except (SpecError, KeyError, ImportError):
            files = {}
        for path in files.values():
            s = load(path)
            scenarios[s.name] = s
        if n_runs < 2:
            raise SpecError(f"The app's ensemble needs at least 2 runs, not {n_runs}.")
        controls = controls_for(model, profile, scenarios)
        time = model.spec.time
        final_time = float(time.final_time)
        if profile is not None and profile.year and profile.year > 12 * time.dt:
            saveper = profile.year / 12  # monthly: seasons show, nothing aliases
        else:
            span = (final_time - time.initial_time) / time.dt
            saveper = time.dt * max(1, math.ceil(span / _MAX_POINTS))
            saveper = max(saveper, float(time.saveper or 0.0))
        uncertain = [c for c in controls if c.role == "uncertain"]
        k = len(uncertain) if profile is not None else len(controls)
        wb = cls(model, model_name, profile, controls, scenarios, n_runs, seed, final_time, saveper,
                 _lhs_unit(n_runs, k, seed))
        return wb

    def precompile(self) -> bool:
        """Compile the model's numba kernels now, or load them from the disk cache, so that every
        slider move runs compiled (a 100-run fan of the whole-system model in about 0.4 s where
        numpy takes about 3 s). The first compile on a machine takes seconds; later opens load
        the kernels from the disk cache. Returns False, and runs stay on numpy, when the compiled back end
        does not cover the model.
        """
        from ..backends import precompile

        try:
            precompile(self.model)
        except SpecError:  # not covered (e.g. subscripts): numpy runs it, as `run` would
            return False
        self._numba = True
        return True

    # -- lookups ----------------------------------------------------------------------------------
    def control(self, name: str) -> Control:
        """The slider of constant `name` (display or canonical form)."""
        for c in self.controls:
            if canonical(c.name) == canonical(name):
                return c
        raise UnknownVariableError(f"There is no slider for `{name}` in the app of `{self.model_name}`."
                                   + did_you_mean(name, [c.name for c in self.controls]))

    @property
    def defaults(self) -> dict[str, float]:
        return {c.name: c.default for c in self.controls}

    @property
    def baseline_name(self) -> str | None:
        """The scenario the app compares with: the shipped "baseline", or none (the defaults)."""
        return next((n for n in self.scenarios if canonical(n) == "baseline"), None)

    def outputs(self) -> list[str]:
        """Variables plotted by default: the profile's fan variables, or the model's stocks."""
        if self.profile is not None:
            names = list(self.profile.fan_variables) or [m.variable for m in self.profile.metrics]
            return [self.model.resolve(n).name for n in names]
        stocks = [v.name for v in self.model.spec.variables if v.kind == "stock" and not v.internal and not v.dims]
        if stocks:
            return stocks[:6]
        return [v.name for v in self.model.spec.variables if v.kind in ("flow", "aux") and not v.dims][:4]

    def plottable(self) -> list[str]:
        """Every scalar stock, flow and auxiliary, for the variable picker."""
        return [v.name for v in self.model.spec.variables
                if v.kind in ("stock", "flow", "aux") and not v.internal and not v.dims]

    def display(self, variable: str) -> Display:
        """Label, units and scale of `variable`: a metric's when one reads it (names as in the scorecard)."""
        from ..lab.figures import variable_display  # one rule for the app, the report's table and figures

        var = self.model.resolve(variable)
        label, units, scale = variable_display(self.profile, var.name, var.units)
        return Display(var.name, label, units, scale)

    def time_axis(self, times: np.ndarray) -> tuple[np.ndarray, str]:
        """Times for a plot axis: years (from the start date when the model records one) or model time."""
        if self.profile is not None and self.profile.year and self.profile.year != 1.0:
            start = _start_year(self.model)
            years = np.asarray(times, dtype=float) / self.profile.year
            return (years + start, "year") if start is not None else (years, "years")
        return np.asarray(times, dtype=float), str(self.model.spec.time.units or "time")

    # -- scenarios ----------------------------------------------------------------------------------
    def _applied(self, scenario: str | None) -> tuple[CompiledModel, dict[str, Any]]:
        """The compiled model and run parameters of a scenario (the model itself for none)."""
        if scenario is None:
            return self.model, {}
        if scenario not in self._compiled:
            from ..scenario import apply

            s = self.scenarios[scenario]
            if not (s.schedules or s.equations):
                # Constant levers and lookups are run parameters of the model already compiled.
                params: dict[str, Any] = dict(s.params)
                params.update({k: [list(p) for p in pts] for k, pts in s.lookups.items()})
                self._compiled[scenario] = (self.model, params)
            else:
                self._compiled[scenario] = apply(s)
        return self._compiled[scenario]

    def scenario_values(self, scenario: str | None) -> dict[str, float]:
        """Slider values for `scenario`: its constant levers over the defaults."""
        values = self.defaults
        if scenario is None:
            return values
        for key, value in self.scenarios[scenario].params.items():
            for c in self.controls:
                if canonical(c.name) == canonical(key):
                    values[c.name] = float(value)
        return values

    def fixed_by(self, scenario: str | None) -> list[str]:
        """Sliders a scenario replaces by a schedule or an equation (they do nothing under it)."""
        if scenario is None:
            return []
        s = self.scenarios[scenario]
        changed = {canonical(k) for k in (*s.schedules, *s.equations)}
        return [c.name for c in self.controls if canonical(c.name) in changed]

    def scenario(self, values: Mapping[str, float], name: str, *, based_on: str | None = None,
                 description: str = "") -> Scenario:
        """The current levers as a scenario file's content (levers that differ from the defaults).

        Uncertain parameters are not levers: the lab draws them, so they are left out (a
        scenario that set one could not run in ``sdflow lab``). The schedules, equations and
        lookups of `based_on` are kept.
        """
        from ..scenario import Scenario

        if not name.strip():
            raise SpecError("Give the scenario a name before saving it.")
        params = {}
        for c in self.controls:
            if c.role == "uncertain":
                continue
            value = float(values.get(c.name, c.default))
            if not math.isclose(value, c.default, rel_tol=1e-12, abs_tol=0.0):
                params[c.name] = value
        base = self.scenarios[based_on] if based_on is not None else None
        fixed = {canonical(n) for n in self.fixed_by(based_on)}
        params = {k: v for k, v in params.items() if canonical(k) not in fixed}
        text = description or (f"Levers set in the sdflow app{' from ' + repr(base.name) if base else ''}: "
                               + (", ".join(f"{k} = {v:g}" for k, v in params.items()) or "all at their defaults")
                               + ".")
        return Scenario(name.strip(), self.model_name, params=params,
                        schedules=dict(base.schedules) if base else {},
                        equations=dict(base.equations) if base else {},
                        lookups=dict(base.lookups) if base else {}, description=text)

    def save_scenario(self, scenario: Scenario, folder: str | Path) -> Path:
        """Write `scenario` as ``folder/<name>.toml`` and remember it in the scenario picker."""
        from ..scenario import save

        slug = re.sub(r"[^a-z0-9]+", "_", scenario.name.lower()).strip("_") or "scenario"
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = save(scenario, folder / f"{slug}.toml")
        self.scenarios[scenario.name] = scenario
        self._compiled.pop(scenario.name, None)
        return path

    # -- runs -----------------------------------------------------------------------------------------
    def _params(self, values: Mapping[str, float], scenario: str | None) -> tuple[CompiledModel, dict[str, Any]]:
        model, params = self._applied(scenario)
        params = dict(params)
        fixed = {canonical(n) for n in self.fixed_by(scenario)}
        for c in self.controls:
            if canonical(c.name) in fixed:
                continue
            params[c.name] = float(values.get(c.name, c.default))
        unknown = [k for k in values if canonical(k) not in {canonical(c.name) for c in self.controls}]
        if unknown:
            self.control(unknown[0])  # raises with the closest names
        return model, params

    def _run_kwargs(self, model: CompiledModel) -> dict[str, Any]:
        # The precompiled kernels by name: "auto" alone may judge a 100-run call too small to
        # repay a compile it does not know is paid. Scenarios that change equations are other
        # models, left to "auto".
        backend = "numba" if self._numba and model is self.model else "auto"
        return {"final_time": self.final_time, "saveper": self.saveper, "errors": "mark", "backend": backend}

    def single(self, values: Mapping[str, float] | None = None, scenario: str | None = None) -> xr.Dataset:
        """One run at the slider values (failures are marked in ``attrs["status"]``, not raised)."""
        model, params = self._params(values or {}, scenario)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the app shows the run's status instead
            return model.run(params=params, **self._run_kwargs(model))

    def draws(self, values: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
        """The ensemble's parameter values: the profile's ranges, or ±10% around the sliders."""
        values = values or {}
        if self.profile is not None:
            chosen = [c for c in self.controls if c.role == "uncertain"]
            lows = np.array([c.low for c in chosen])
            highs = np.array([c.high for c in chosen])
            # The profile's own range, not the slider's widened one.
            for j, c in enumerate(chosen):
                for name, (lo, hi) in self.profile.uncertainty.items():
                    if canonical(name) == canonical(c.name):
                        lows[j], highs[j] = lo, hi
        else:
            chosen = list(self.controls)
            centre = np.array([float(values.get(c.name, c.default)) for c in chosen])
            lows, highs = centre * (1 - LOCAL_SPREAD), centre * (1 + LOCAL_SPREAD)
        table = lows + self._unit_design * (highs - lows)
        return {c.name: table[:, j] for j, c in enumerate(chosen)}

    def ensemble(self, values: Mapping[str, float] | None = None, scenario: str | None = None) -> xr.Dataset:
        """`n_runs` runs under the current levers with the uncertain parameters drawn: one ``run`` call."""
        values = values or {}
        model, params = self._params(values, scenario)
        params.update(self.draws(values))
        if not params:  # a model without constants: the same run n times
            return self.single(values, scenario).expand_dims(run=np.arange(self.n_runs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.run(params=params, seed=self.seed, **self._run_kwargs(model))

    def baseline(self) -> dict[str, Any]:
        """The single run, the ensemble and the loop scores of the baseline (computed once, shared by
        every browser tab)."""
        with self._lock:
            if not self._baseline:
                name = self.baseline_name
                values = self.scenario_values(name)
                single = self.single(values, name)
                self._baseline = {"single": single, "ensemble": self.ensemble(values, name)}
                self._baseline["dominance"] = self.dominance(single, name)
        return self._baseline

    def graph(self) -> Any:
        """The model's causal graph (networkx), computed once."""
        with self._lock:
            if "graph" not in self._cache:
                self._cache["graph"] = self.model.graph()
        return self._cache["graph"]

    def sectors(self) -> dict[str, str]:
        """Each variable's sector for the loop view (:func:`~sd_engine.app.loopview.sector_map`), computed once."""
        from .loopview import sector_map

        graph = self.graph()
        with self._lock:
            if "sectors" not in self._cache:
                self._cache["sectors"] = sector_map(graph)
        return dict(self._cache["sectors"])

    # -- outcomes -------------------------------------------------------------------------------------
    def scorecard(self, ensemble: xr.Dataset, single: xr.Dataset | None = None) -> pd.DataFrame:
        """The outcome metrics under the current settings against the baseline, paired run by run.

        With a lab profile: each metric's median and 5-95% range over the runs, the median
        paired change from the baseline and the share of runs in which it is better. Without
        one: the final value of each plotted stock (higher is not better or worse).

        Returns
        -------
        pandas.DataFrame
            One row per outcome: ``label``, ``units``, ``when``, ``better``, ``baseline``,
            ``median``, ``low``, ``high``, ``change``, ``p_better``, ``single``.
        """
        base = self.baseline()
        rows = []
        ok = _ok(ensemble) & _ok(base["ensemble"])
        if self.profile is not None:
            # The metrics' variables first: a result holds hundreds, and each lookup in the
            # whole dataset looks through all of them. The baseline's metrics are computed once.
            needed = list(dict.fromkeys(m.variable for m in self.profile.metrics))
            ensemble = ensemble[needed]
            single = single[needed] if single is not None else None
            with self._lock:
                if "base metrics" not in self._cache:
                    self._cache["base metrics"] = [m.compute(base["ensemble"][needed]).values.reshape(-1)
                                                   for m in self.profile.metrics]
            for m, ref in zip(self.profile.metrics, self._cache["base metrics"]):
                now = m.compute(ensemble).values.reshape(-1)
                one = float(m.compute(single).values.reshape(-1)[0]) if single is not None else math.nan
                sign = 1.0 if m.better == "higher" else -1.0
                rows.append(_row(m.label, m.units, m.description or m.statistic, m.better, now, ref, ok, sign, one))
        else:
            for name in self.outputs():
                d = self.display(name)
                now = ensemble[name].isel(time=-1).values.reshape(-1) * d.scale
                ref = base["ensemble"][name].isel(time=-1).values.reshape(-1) * d.scale
                one = float(single[name].isel(time=-1).values.reshape(-1)[0]) * d.scale if single is not None \
                    else math.nan
                t = float(ensemble["time"].values[-1])
                rows.append(_row(d.label, d.units, f"value at the final time ({t:g})", "", now, ref, ok, 0.0, one))
        return pd.DataFrame(rows)

    def loops(self, model: CompiledModel | None = None) -> Any:
        """The model's feedback loops (computed once per compiled model) and any note about them."""
        model = model or self.model
        with self._lock:
            if id(model) not in self._loops:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    loops = model.loops()
                note = getattr(loops, "message", "") or "; ".join(str(w.message) for w in caught)
                self._loops[id(model)] = (loops, note)
        return self._loops[id(model)]

    def dominance(self, single: xr.Dataset, scenario: str | None = None) -> xr.DataArray | None:
        """Relative loop scores (Loops that Matter) of a single run, dims ``("loop", "time")``; None if
        the model has no feedback loop or the run failed."""
        model, _ = self._applied(scenario)
        if str(single.attrs.get("status", "ok")) != "ok":
            return None
        loops, _ = self.loops(model)
        if not len(loops):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rls = model.loop_dominance(single, loops=loops)
        return rls.squeeze(drop=True) if "run" in rls.dims else rls

    def top_loops(self, rls: xr.DataArray, time: float, k: int = 5) -> list[tuple[Any, float]]:
        """The `k` loops with the largest relative score (in absolute value) at `time`."""
        loops, _ = self.loops()
        at = rls.sel(time=time, method="nearest")
        if not bool(at.notnull().any()):  # the last time of a run has no score: the step before
            at = rls.isel(time=max(0, int(np.searchsorted(rls["time"].values, time)) - 1))
        scores = {str(k_): float(v) for k_, v in zip(at["loop"].values, at.values) if np.isfinite(v)}
        order = sorted(scores, key=lambda i: -abs(scores[i]))[:k]
        by_id = {loop.id: loop for loop in loops}
        return [(by_id[i], scores[i]) for i in order if i in by_id]


def _ok(ds: xr.Dataset) -> np.ndarray:
    if "run_status" in ds.coords:
        return np.asarray(ds["run_status"].values == "ok")
    return np.array([str(ds.attrs.get("status", "ok")) == "ok"])


def _row(label: str, units: str, when: str, better: str, now: np.ndarray, ref: np.ndarray, ok: np.ndarray,
         sign: float, one: float) -> dict[str, Any]:
    now_ok = now[ok] if now.size == ok.size else now
    diff = (now - ref)[ok] if now.size == ok.size == ref.size else np.array([])
    finite = now_ok[np.isfinite(now_ok)]
    tol = 1e-12 * (1 + np.abs(ref[ok])) if diff.size else 0.0
    return {
        "label": label, "units": units, "when": when, "better": better,
        "baseline": float(np.nanmedian(ref[ok])) if ref.size == ok.size and ok.any() else math.nan,
        "median": float(np.median(finite)) if finite.size else math.nan,
        "low": float(np.quantile(finite, 0.05)) if finite.size else math.nan,
        "high": float(np.quantile(finite, 0.95)) if finite.size else math.nan,
        "change": float(np.median(diff)) if diff.size else math.nan,
        "p_better": float(np.mean(sign * diff > tol)) if diff.size and sign else math.nan,
        "single": one,
    }


def _start_year(model: CompiledModel) -> float | None:
    """The calendar year of the initial time, when the model records a start date."""
    attrs = dict(getattr(model.spec, "attrs", ()) or ())
    start = attrs.get("start_date")
    if not start:
        return None
    try:
        stamp = pd.Timestamp(str(start))
    except ValueError:
        return None
    return float(stamp.year + (stamp.dayofyear - 1) / (366 if stamp.is_leap_year else 365))


def values_in(controls: Sequence[Control], values: Mapping[str, float]) -> dict[str, float]:
    """`values` clipped into each control's range (a scenario may set a lever beyond it)."""
    out = {}
    for c in controls:
        v = float(values.get(c.name, c.default))
        out[c.name] = min(max(v, c.low), c.high)
    return out
