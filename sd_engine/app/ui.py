"""The app's user interface (Panel): sliders, scenario picker, live plots, scorecard and loop view.

:class:`Explorer` is one Panel component; :func:`explore` returns it for a notebook cell and
:func:`serve` serves it on a local port (127.0.0.1 only) for ``sdflow app``.

When a slider is released (or a value typed), the app redraws in stages so the first answer
comes fast: the single run (its line in every plot), then the 100-run ensemble (the fans, then
the scorecard), then the loop scores. The ensemble, the long pole, starts at once beside the
single run. The work runs in worker threads; each stage reaches the page as one message with
only the columns that change, and is dropped if a newer move has started, so a quick succession
of moves never queues stale work (an ensemble waiting behind a running one is skipped, and loop
scores are not started for a superseded move). A failed update is shown on the status line.
The plots' ranges are set with their data in the same message, so the page paints a stage
without an auto-range pass, and a small script (``_LESS_RESTYLING_JS``) spares the page
BokehJS's restyling of the whole page at every paint and slider drag.

Every plotted series is a Bokeh ``ColumnDataSource`` named ``single:<variable>``,
``fan:<variable>``, ``base-single:<variable>`` or ``base-fan:<variable>``, with the run's slider
values as JSON in the single run's ``tags``: the browser test reads them back from the page.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import panel as pn
import xarray as xr
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, Range1d
from bokeh.models.renderers.graph_renderer import GraphRenderer
from bokeh.plotting import figure

from ..errors import SpecError
from .controls import Control
from .loopview import link_labels, loop_figure
from .session import LOCAL_SPREAD, Workbench

if TYPE_CHECKING:
    from ..compile import CompiledModel

__all__ = ["Explorer", "explore", "serve"]

_DEFAULTS = "(model defaults)"
_LOG = logging.getLogger(__name__)
#: When set to a file path, each slider move appends one JSON line to it: the wall-clock times
#: (epoch seconds, comparable with the browser's) at which the server received the move and each
#: stage started, ended and was pushed to the page. ``benchmarks/bench_app.py`` reads it.
TRACE_ENV = "SDFLOW_APP_TRACE"
_BLUE, _GREY = "#0072B2", "#7f7f7f"
#: How long the scorecard and the loop scores wait after the fans are sent: the browser paints
#: them in its next frame, 50-90 ms after they arrive (headless Chromium, whole-system model),
#: and work on the server meanwhile competes with it for the cores (2 cores: fan painted 0.47 s
#: after release when the scorecard followed at once, 0.44 s with this wait; medians of 7 moves).
PAINT_SECONDS = 0.1

_CSS = """
.sd-note {font-size: 0.85em; color: #555;}
.sd-status {font-size: 0.85em; color: #333;}
table.sd-score {border-collapse: collapse; font-size: 0.85em;}
table.sd-score th, table.sd-score td {border: 1px solid #ccc; padding: 3px 6px; text-align: right;}
table.sd-score th.name, table.sd-score td.name {text-align: left;}
table.sd-score td.good {background: #e3f3e8;} table.sd-score td.bad {background: #fbe4e0;}
"""
#: Run in the page once its document is ready; two of BokehJS's habits cost the page a style
#: recalculation of everything in it, measured in Chromium's profile of a slider move:
#:
#: - it rewrites the text of a ``<style>`` element for every renderer at every paint
#:   (``update_position``) even when the text is the same, and each rewrite makes the next read of
#:   a computed style (every visual reads some while painting) recompute the page's styles: that
#:   was half of the browser's time to paint a new fan. An unchanged text is not written again.
#: - a slider sets ``user-select`` on the page's body when a drag starts and ends (30-45 ms each
#:   with forty sliders on the page, while the single run and the ensemble start). Text selection
#:   is refused during the drag by cancelling ``selectstart`` instead, which restyles nothing.
_LESS_RESTYLING_JS = """
try {
  const proto = Bokeh.require("core/dom").InlineStyleSheet.prototype;
  if (!proto._sdflow_same_text) {
    const write = proto._update;
    proto._update = function (css) { if (this.el.textContent !== css) { write.call(this, css); } };
    proto._sdflow_same_text = true;
  }
  const slider = Bokeh.Widgets.Slider.prototype.default_view.prototype;
  if (!slider._sdflow_select) {
    const refuse = (event) => event.preventDefault();
    slider._toggle_user_select = function (enable) {
      if (enable) { document.removeEventListener("selectstart", refuse); }
      else { document.addEventListener("selectstart", refuse); }
    };
    slider._sdflow_select = true;
  }
} catch (err) {  // another BokehJS: the page works as before, only slower
  console.warn("sdflow: BokehJS's restyling not reduced", err);
}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _fmt(x: float) -> str:
    from ..lab.report import format_number

    return format_number(x)


class _Slider(pn.widgets.FloatSlider):
    """A slider whose release reaches the server at once.

    Panel holds a change from the browser for 50 ms (``_debounce``), to merge bursts, unless the
    property is one of the widget's ``_priority_changes`` (Panel's own Tabulator lists its edits
    there). A release is one event, and the move waits for it.
    """

    _priority_changes: ClassVar[list[str]] = ["value_throttled"]


class Explorer(pn.viewable.Viewer):
    """A model explorer: the sliders of a :class:`Workbench` and what its runs show.

    Parameters
    ----------
    workbench : Workbench
    scenario_dir : path
        Where "Save as scenario" writes its TOML files.
    """

    def __init__(self, workbench: Workbench, *, scenario_dir: str | Path = "scenarios", **params: Any) -> None:
        super().__init__(**params)
        self.wb = workbench
        self.scenario_dir = Path(scenario_dir)
        self._generation = 0
        self._holding = False
        self.timings: dict[str, float] = {}
        self._traces: dict[int, list[tuple[str, float]]] = {}
        #: The last finished move's stamps: ``(label, time.time())`` from "received" to "loop scores pushed".
        self.last_trace: list[tuple[str, float]] = []
        self._ensemble_lock = asyncio.Lock()
        self._loop_key: Any = None
        self._times_shown = ""
        self.last: dict[str, Any] = {}
        pn.config.raw_css = [*pn.config.raw_css, _CSS] if _CSS not in pn.config.raw_css else pn.config.raw_css
        self.sliders: dict[str, pn.widgets.FloatSlider] = {}
        for c in workbench.controls:
            label = f"{c.name} ({c.units})" if c.units else c.name
            # Plain sliders: an editable one costs three times as much to render, and a whole-system
            # model has forty of them.
            slider = _Slider(
                label=label, start=c.low, end=c.high, step=c.step, value=c.default, sizing_mode="stretch_width",
                css_classes=["sd-slider", f"sd-slider-{_slug(c.name)}"], format="0[.]00000")
            slider.param.watch(self._moved, "value_throttled")
            self.sliders[c.name] = slider
        names = [_DEFAULTS, *workbench.scenarios]
        self.picker = pn.widgets.Select(label="Scenario", options=names, value=workbench.baseline_name or _DEFAULTS,
                                        sizing_mode="stretch_width")
        self.picker.param.watch(self._picked, "value")
        self.reset = pn.widgets.Button(label="Reset to the scenario")
        self.reset.on_click(lambda _: self._apply_scenario(self.picker.value))
        self.save_name = pn.widgets.TextInput(label="Save as scenario", placeholder="scenario name")
        self.save_button = pn.widgets.Button(label="Save as scenario")
        self.save_button.on_click(self._save_clicked)
        self.save_status = pn.pane.Markdown("", css_classes=["sd-note"])
        self.download = pn.widgets.FileDownload(callback=self._scenario_file, filename="scenario.toml",
                                                label="Download the scenario (TOML)")
        outputs = workbench.outputs()
        self.variables = pn.widgets.MultiChoice(label="Variables plotted", options=workbench.plottable(),
                                                value=outputs, sizing_mode="stretch_width")
        self.variables.param.watch(self._variables_changed, "value")
        self.status = pn.pane.Markdown("", css_classes=["sd-status"], sizing_mode="stretch_width")
        self.plots = pn.GridBox(ncols=2, sizing_mode="stretch_width")
        self.scorecard = pn.pane.HTML("", sizing_mode="stretch_width")
        t = self._times()
        axis, _ = workbench.time_axis(t)
        self.loop_time = pn.widgets.DiscreteSlider(label="Loops dominating at", options={f"{x:.4g}": float(v)
                                                   for x, v in zip(axis, t)}, value=float(t[-1]))
        self.loop_count = pn.widgets.IntSlider(label="Loops shown", start=1, end=10, value=5)
        self.loop_time.param.watch(self._loops_changed, "value")
        self.loop_count.param.watch(self._loops_changed, "value")
        self.loop_table = pn.pane.HTML("", sizing_mode="stretch_width")
        self.loop_pane = pn.pane.Bokeh(sizing_mode="fixed")
        self.loop_note = pn.pane.Markdown("", css_classes=["sd-note"])
        self._sources: dict[str, ColumnDataSource] = {}
        self._ranges: dict[str, tuple[Range1d, Range1d]] = {}
        self._framed: dict[str, tuple[tuple[float, float], ...]] = {}  # by range id: where `_frame` put it
        self._build_plots()
        self._apply_scenario(self.picker.value, update=False)
        self._draw_initial()

    # -- layout ---------------------------------------------------------------------------------
    def _times(self) -> np.ndarray:
        return np.asarray(self.wb.baseline()["single"]["time"].values, dtype=float)

    def __panel__(self) -> pn.viewable.Viewable:
        wb = self.wb
        groups = []
        for role, title in (("lever", "Levers"), ("uncertain", "Uncertain parameters (single run)"),
                            ("constant", "Constants")):
            rows = [pn.Row(self.sliders[c.name], pn.widgets.TooltipIcon(value=self._tooltip(c)), margin=0)
                    for c in wb.controls if c.role == role]
            if rows:
                groups.append(pn.Card(*rows, title=f"{title} ({len(rows)})", collapsed=role == "uncertain",
                                      sizing_mode="stretch_width"))
        fan_text = ("with the uncertain parameters drawn from the lab profile's ranges" if wb.profile is not None
                    else f"with every constant drawn within ±{100 * LOCAL_SPREAD:.0f}% of its slider value")
        intro = pn.pane.Markdown(
            f"## {wb.model.spec.name}\nMove a lever and release it: the solid line is one run at the slider values; "
            f"the blue bands hold 90% and 50% of {wb.n_runs} runs under the current levers {fan_text}. Grey shows "
            f"the {'baseline scenario' if wb.baseline_name else 'model defaults'} the same way.",
            sizing_mode="stretch_width")
        sidebar = pn.Column(self.picker, self.reset, *groups, pn.layout.Divider(), self.save_name, self.save_button,
                            self.download, self.save_status, width=380, scroll=True, height=900)
        loops = pn.Column(pn.pane.Markdown("### Feedback loops dominating (Loops that Matter)"),
                          pn.pane.Markdown(
                              "Each loop's share of the change in its part of the model at the chosen time, in the "
                              "single run (negative: balancing). Loops alone in their part of the model always "
                              "explain all of it and are left out. Drag to pan, scroll to zoom, hover for details.",
                              css_classes=["sd-note"]),
                          pn.Row(self.loop_time, self.loop_count), self.loop_table, self.loop_pane, self.loop_note,
                          sizing_mode="stretch_width")
        main = pn.Column(intro, self.status, self.variables, self.plots,
                         pn.pane.Markdown("### Outcome scorecard"), self.scorecard, loops,
                         sizing_mode="stretch_width")
        return pn.Row(sidebar, main, sizing_mode="stretch_width")

    @staticmethod
    def _tooltip(c: Control) -> str:
        return (f"{c.doc or c.name} Default {c.default:g}; range {c.low:g} to {c.high:g} ({c.range_source})."
                + (" The ensemble draws this parameter; the slider sets it for the single run only."
                   if c.role == "uncertain" else ""))

    def _build_plots(self) -> None:
        figures: list[pn.pane.Bokeh] = []
        for name in self.variables.value:
            d = self.wb.display(name)
            unit = f" ({d.units})" if d.units else ""
            _, xlabel = self.wb.time_axis(np.zeros(1))
            x_range, y_range = Range1d(name=f"x-range:{name}"), Range1d(name=f"y-range:{name}")
            self._ranges[name] = (x_range, y_range)
            # Ranges set here, with the data they frame, not auto-ranged in the page: an auto range is
            # recomputed at every paint and each change is sent back to the server.
            fig = figure(title=f"{d.label}{unit}", height=260, sizing_mode="stretch_width", x_axis_label=xlabel,
                         tools="pan,wheel_zoom,box_zoom,reset,save", name=f"plot:{name}",
                         x_range=x_range, y_range=y_range, min_border_left=72)
            for key in ("base-fan", "fan", "base-single", "single"):
                columns = ("x", "t", "y", "lo", "hi", "q1", "q3") if key.endswith("fan") else ("x", "t", "y")
                src = self._sources.get(f"{key}:{name}") or ColumnDataSource(
                    name=f"{key}:{name}", data={c: [] for c in columns})
                self._sources[f"{key}:{name}"] = src
            # One legend, under the first plot, where it hides no data. The other plots have none
            # (not a hidden one: a legend re-renders its items at every data change).
            first = not figures

            def label(text: str) -> dict[str, Any]:
                return {"legend_label": text} if first else {}

            fig.varea("x", "lo", "hi", source=self._sources[f"base-fan:{name}"], fill_color=_GREY, fill_alpha=0.18,
                      **label("baseline 5–95%"))
            fig.varea("x", "lo", "hi", source=self._sources[f"fan:{name}"], fill_color=_BLUE, fill_alpha=0.18,
                      **label("now 5–95%"))
            fig.varea("x", "q1", "q3", source=self._sources[f"fan:{name}"], fill_color=_BLUE, fill_alpha=0.25,
                      **label("now 25–75%"))
            fig.line("x", "y", source=self._sources[f"base-single:{name}"], color=_GREY, line_dash="dashed",
                     line_width=1.5, **label("baseline run"))
            line = fig.line("x", "y", source=self._sources[f"single:{name}"], color=_BLUE, line_width=2,
                            **label("this run"))
            fig.add_tools(HoverTool(renderers=[line], tooltips=[(xlabel, "@x{0.00}"), (d.label, "@y{0.000}")],
                                    mode="vline"))
            if first:
                legend = fig.legend[0]
                fig.height = 300
                fig.add_layout(legend, "below")
                legend.orientation = "horizontal"
                legend.label_text_font_size = "7pt"
                legend.click_policy = "hide"
            figures.append(pn.pane.Bokeh(fig, sizing_mode="stretch_width"))
        self.plots.objects = figures

    # -- values and scenarios ---------------------------------------------------------------------
    def values(self) -> dict[str, float]:
        """The slider values by constant name."""
        return {name: float(s.value or 0.0) for name, s in self.sliders.items()}

    def _scenario(self) -> str | None:
        return None if self.picker.value == _DEFAULTS else str(self.picker.value)

    def _apply_scenario(self, name: str, update: bool = True) -> None:
        scenario = None if name == _DEFAULTS else name
        values = self.wb.scenario_values(scenario)
        fixed = set(self.wb.fixed_by(scenario))
        self._holding = True
        try:
            for cname, slider in self.sliders.items():
                c = self.wb.control(cname)
                v = min(max(values[cname], c.low), c.high)
                slider.param.update(value=v, value_throttled=v, disabled=cname in fixed)
        finally:
            self._holding = False
        if update:
            self._schedule()

    def _picked(self, event: Any) -> None:
        self._apply_scenario(event.new)

    def _moved(self, event: Any) -> None:
        if not self._holding:
            self._schedule()

    def _variables_changed(self, event: Any) -> None:
        self._build_plots()
        self._draw_all()

    def _loops_changed(self, event: Any) -> None:
        self._draw_loops()

    # -- updates ----------------------------------------------------------------------------------
    def _stamp(self, generation: int, label: str) -> None:
        self._traces.setdefault(generation, []).append((label, time.time()))

    def _write_trace(self, generation: int) -> None:
        events = self._traces.pop(generation, [])
        self.last_trace = events
        path = os.environ.get(TRACE_ENV)
        if path:
            line = json.dumps({"generation": generation, "events": events})
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def _schedule(self) -> None:
        self._generation += 1
        self._stamp(self._generation, "received")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            loop.create_task(self._update_async(self._generation))
        else:  # a notebook without a server, a test: in this thread
            self.update()

    def update(self) -> None:
        """Recompute and redraw everything for the current sliders, in this thread."""
        values, scenario = self.values(), self._scenario()
        t0 = time.perf_counter()
        single = self.wb.single(values, scenario)
        self.timings["single run"] = time.perf_counter() - t0
        self._store(single=single, values=values, scenario=scenario)
        t0 = time.perf_counter()
        self._store(ensemble=self.wb.ensemble(values, scenario))
        self.timings[f"{self.wb.n_runs}-run ensemble"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._store(dominance=self.wb.dominance(single, scenario))
        self.timings["loop scores"] = time.perf_counter() - t0
        self._draw_all()

    async def _update_async(self, generation: int) -> None:
        """One slider move in stages, each pushed to the page as one batch as soon as it is ready:
        the single run, then the fans and the scorecard, then the loop scores.

        The ensemble is the long pole (about 0.4 s of the whole-system model's 0.45 s of work), so
        it starts at once, beside the single run (one thread, which the ensemble's kernel does not
        need: one run takes the serial driver). Work, including the fans' quantiles and the
        scorecard, runs in worker threads; the event loop only hands finished numbers to the plots.
        """
        values, scenario = self.values(), self._scenario()
        self._stamp(generation, "task started")
        ensemble = asyncio.ensure_future(self._ensemble_stage(generation, values, scenario))
        try:
            single, lines = await self._in_thread(generation, "single run", self._single_work, values, scenario)
            if generation != self._generation:
                return  # a newer move has started: its results will be drawn instead
            self._store(single=single, values=values, scenario=scenario, error=None)
            self._push(generation, "single run", lambda: self._apply_single(lines))
            staged = await ensemble
            if staged is None or generation != self._generation:
                return
            ens, fans = staged
            self._store(ensemble=ens)
            self._push(generation, f"{self.wb.n_runs}-run ensemble", lambda: self._apply_fans(fans))
            # The scorecard (a few tens of milliseconds of metrics) after the fans, not before them,
            # and not until the page has had a frame to paint them: its metrics and the loop scores
            # after it would take a core from the browser while it paints.
            await asyncio.sleep(PAINT_SECONDS)
            card = await self._in_thread(generation, "scorecard", self._scorecard_work, ens, single)
            if generation != self._generation:
                return
            self._push(generation, "scorecard", lambda: setattr(self.scorecard, "object", card))
            # Loop scores come after the fan, never beside the ensemble's threads; not at all
            # when a newer move has come meanwhile.
            if generation != self._generation:
                return
            rls, view = await self._in_thread(generation, "loop scores", self._loops_work, single, scenario)
            if generation != self._generation:
                return
            self._store(dominance=rls)
            self._push(generation, "loop scores", lambda: self._apply_loops(view), times=True)
        except Exception as exc:  # shown on the page, and logged with its traceback
            _LOG.exception("The app's update failed")
            if generation == self._generation:
                self._store(error=f"{type(exc).__name__}: {exc}")
                self._push(generation, "failure", lambda: None, times=True)
        finally:
            if not ensemble.done():
                ensemble.add_done_callback(_retrieve)
            self._write_trace(generation)

    async def _in_thread(self, generation: int, label: str, work: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        self._stamp(generation, f"{label} start")
        result = await asyncio.to_thread(work, *args)
        self._stamp(generation, f"{label} end")
        if generation == self._generation:
            self.timings[label] = time.perf_counter() - t0
        return result

    async def _ensemble_stage(self, generation: int, values: dict[str, float], scenario: str | None) -> Any:
        # One ensemble at a time from this page: numba's thread pool runs one parallel kernel at a
        # time (a second caller takes the serial driver, half the speed on two cores), and a move
        # superseded while it waited here is skipped.
        async with self._ensemble_lock:
            if generation != self._generation:
                return None
            return await self._in_thread(generation, f"{self.wb.n_runs}-run ensemble", self._ensemble_work,
                                         generation, values, scenario)

    def _single_work(self, values: dict[str, float], scenario: str | None) -> tuple[xr.Dataset, dict[str, Any]]:
        """In a worker thread: the single run and the plots' new columns."""
        single = self.wb.single(values, scenario)
        return single, self._single_lines(single, values, scenario)

    def _ensemble_work(self, generation: int, values: dict[str, float],
                       scenario: str | None) -> tuple[xr.Dataset, dict[str, Any]]:
        """In a worker thread: the ensemble and the fans' quantiles."""
        ens = self.wb.ensemble(values, scenario)
        self._stamp(generation, "ensemble runs done")
        return ens, {name: self._fan(ens, name) for name in self.variables.value}

    def _scorecard_work(self, ens: xr.Dataset, single: xr.Dataset) -> str:
        """In a worker thread: the scorecard's HTML."""
        return self._scorecard_html(self.wb.scorecard(ens, single))

    def _loops_work(self, single: xr.Dataset, scenario: str | None) -> tuple[xr.DataArray | None, Any]:
        """In a worker thread: the loop scores of the single run, the loop table and the loop view."""
        rls = self.wb.dominance(single, scenario)
        return rls, self._loop_view(rls)

    def _push(self, generation: int, label: str, apply: Any, times: bool = False) -> None:
        """Apply a stage's numbers to the page's models and send them as one message (the status
        line with the stage timings only at the end: every change of it costs the browser a
        relayout while the ensemble runs)."""
        doc = pn.state.curdoc
        with pn.io.unlocked() if doc is not None else _nothing():
            apply()
            self._draw_status(times)
        self._stamp(generation, f"{label} pushed")

    def _store(self, **items: Any) -> None:
        self.last.update(items)

    def _draw_initial(self) -> None:
        base = self.wb.baseline()
        scenario = self._scenario()
        if scenario == self.wb.baseline_name:
            # The opening view is the baseline: its runs are already there.
            self._store(single=base["single"], ensemble=base["ensemble"], values=self.values(), scenario=scenario)
            self._store(dominance=base["dominance"])
            self._draw_all()
        else:
            self.update()

    def _draw_all(self) -> None:
        self._draw_base()
        self._draw_single()
        self._draw_ensemble()
        self._draw_loops()
        self._draw_status()

    def _series(self, ds: xr.Dataset, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Through `variables`: a result holds hundreds of variables, and `ds[name]` builds a
        # DataArray by looking through all of them (0.4 ms each, most of a fan's cost).
        d = self.wb.display(name)
        t = np.asarray(ds.variables["time"].values, dtype=float)
        x, _ = self.wb.time_axis(t)
        return t, x, np.asarray(ds.variables[name].values, dtype=float) * d.scale

    def _single_lines(self, single: xr.Dataset, values: dict[str, Any], scenario: str | None) -> dict[str, Any]:
        """Each plotted variable's single-run columns and the tags the browser test reads back."""
        lines = {}
        for name in self.variables.value:
            t, x, y = self._series(single, name)
            tags = [json.dumps({"params": values, "scenario": scenario, "scale": self.wb.display(name).scale,
                                "status": single.attrs.get("status")})]
            lines[name] = ({"x": x, "t": t, "y": y}, tags)
        return lines

    def _set(self, key: str, data: dict[str, np.ndarray]) -> None:
        """New columns for one plot source; the time columns only when they changed (the page gets
        the columns that change, not the whole table)."""
        src = self._sources.get(key)
        if src is None:  # the variable was taken off the plots meanwhile
            return
        old = src.data
        if len(old.get("t", ())) == len(data["t"]) and np.array_equal(old["t"], data["t"]):
            src.data.update({k: v for k, v in data.items() if k not in ("x", "t")})
        else:
            src.data = data

    def _apply_single(self, lines: dict[str, Any]) -> None:
        for name, (data, tags) in lines.items():
            self._set(f"single:{name}", data)
            if f"single:{name}" in self._sources:
                self._sources[f"single:{name}"].tags = tags
            self._frame(name)

    def _apply_fans(self, fans: dict[str, dict[str, np.ndarray]]) -> None:
        for name, data in fans.items():
            self._set(f"fan:{name}", data)
            self._frame(name)

    def _frame(self, name: str) -> None:
        """Set a plot's ranges to hold all it shows (in the same message as the data; a range that
        does not change is not sent): the run's span in time, and the values padded by 5% on each
        side as Bokeh's auto range pads them. As with an auto range, a plot the user has zoomed or
        panned stays where it is, and its reset tool goes to the new frame (then follows again)."""
        if name not in self._ranges:
            return
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for key, cols in (("base-fan", ("lo", "hi")), ("fan", ("lo", "hi")), ("base-single", ("y",)),
                          ("single", ("y",))):
            data = self._sources[f"{key}:{name}"].data
            xs.append(np.asarray(data["x"], dtype=float))
            ys.extend(np.asarray(data[c], dtype=float) for c in cols)
        x_range, y_range = self._ranges[name]
        for rng, values, padding in ((x_range, xs, 0.0), (y_range, ys, 0.05)):
            v = np.concatenate(values)
            v = v[np.isfinite(v)]
            if not v.size:
                continue
            lo, hi = float(v.min()), float(v.max())
            pad = padding * (hi - lo) if hi > lo else 0.05 * abs(hi) or 1.0
            frame = (lo - pad, hi + pad)
            # The page sends a zoom or a pan back to these models: a range that is neither where
            # it was last put nor where its reset puts it has been moved by the user.
            here = (rng.start, rng.end)
            if here in self._framed.get(rng.id, (here,)) or here == (rng.reset_start, rng.reset_end):
                rng.update(start=frame[0], end=frame[1], reset_start=frame[0], reset_end=frame[1])
                self._framed[rng.id] = (frame,)
            else:
                rng.update(reset_start=frame[0], reset_end=frame[1])

    def _draw_base(self) -> None:
        """The baseline's line and fan: drawn when the plots are built, not at every move."""
        base = self.wb.baseline()
        for name in self.variables.value:
            t, x, y = self._series(base["single"], name)
            self._set(f"base-single:{name}", {"x": x, "t": t, "y": y})
            self._set(f"base-fan:{name}", self._fan(base["ensemble"], name))
            self._frame(name)

    def _draw_single(self) -> None:
        single = self.last.get("single")
        if single is not None:
            self._apply_single(self._single_lines(single, self.last.get("values", {}), self.last.get("scenario")))

    def _fan(self, ds: xr.Dataset, name: str) -> dict[str, np.ndarray]:
        t, x, y = self._series(ds, name)
        ok = np.asarray(ds["run_status"].values == "ok") if "run_status" in ds.coords else np.ones(y.shape[0], bool)
        q = np.quantile(y[ok], [0.05, 0.25, 0.5, 0.75, 0.95], axis=0) if ok.any() else np.full((5, t.size), np.nan)
        return {"x": x, "t": t, "y": q[2], "lo": q[0], "q1": q[1], "q3": q[3], "hi": q[4]}

    def _draw_ensemble(self) -> None:
        ens = self.last.get("ensemble")
        if ens is not None:
            self._apply_fans({name: self._fan(ens, name) for name in self.variables.value})
            self.scorecard.object = self._scorecard_html(self.wb.scorecard(ens, self.last.get("single")))

    def _scorecard_html(self, table: Any) -> str:
        from ..lab.templating import render

        return render("sd_engine.app", "scorecard.html.j2", rows=table.to_dict("records"), fmt=_fmt,
                      has_profile=self.wb.profile is not None, n_runs=self.wb.n_runs,
                      baseline=self.wb.baseline_name or "model defaults")

    def _draw_loops(self) -> None:
        self._apply_loops(self._loop_view(self.last.get("dominance")))

    def _loop_view(self, rls: xr.DataArray | None) -> tuple[Any, ...] | None:
        """The loop table's HTML, the loop view's figure and what they show (a worker thread may
        build them: the figure is a new Bokeh model, not yet on the page)."""
        if rls is None:
            return None
        competing = _competing(rls)
        chosen = self.wb.top_loops(rls.sel(loop=competing) if competing else rls, float(self.loop_time.value),
                                   int(self.loop_count.value or 5))
        from ..lab.templating import render

        title = f"Dominant loops at {self._loop_time_label()}"
        # The same loops at the same time need no new figure (a whole new Bokeh model for the page
        # to build): their new scores go to its links' hover text in place.
        key = (title, tuple(loop.id for loop, _ in chosen))
        table = render("sd_engine.app", "loops.html.j2", loops=chosen, colours=_loop_colours())
        figure = None if key == self._loop_key else loop_figure(self.wb.graph(), chosen, self.wb.sectors(), title=title)
        return table, figure, key, chosen

    def _apply_loops(self, view: tuple[Any, ...] | None) -> None:
        _, note = self.wb.loops()
        if view is None:
            self.loop_table.object = "<p class=sd-note>No loop scores for this run (the model has no feedback " \
                                     "loop, or the run failed).</p>"
            self.loop_pane.object = None
            self._loop_key = None
            return
        table, figure, key, chosen = view
        self.loop_table.object = table
        if figure is None and key != self._loop_key:  # the view changed since this one was prepared
            figure = loop_figure(self.wb.graph(), chosen, self.wb.sectors(), title=key[0])
        if figure is not None:
            self.loop_pane.object = figure
            self._loop_key = key
        else:
            links = self.loop_pane.object.select_one({"type": GraphRenderer}).edge_renderer.data_source
            labels = link_labels(chosen)
            if list(links.data["loops"]) != labels:
                links.data.update(loops=labels)
        self.loop_note.object = note

    def _loop_time_label(self) -> str:
        _, unit = self.wb.time_axis(np.zeros(1))
        value = float(self.loop_time.value)
        label = next((k for k, v in self.loop_time.options.items() if v == value), f"{value:g}")
        return f"{unit} {label}" if unit == "year" else f"{label} {unit}"

    def _draw_status(self, times_now: bool = True) -> None:
        """The status line: warnings about this move's runs, and the stage timings of the last
        finished move (new timings only when `times_now`)."""
        single = self.last.get("single")
        status = str(single.attrs.get("status", "ok")) if single is not None else ""
        if times_now:
            self._times_shown = " · ".join(f"{k}: {v:.2f} s" for k, v in self.timings.items())
        times = self._times_shown
        warn = "" if status in ("", "ok") else f"**The single run {status}.** "
        if self.last.get("error"):
            warn = f"**The update failed** ({self.last['error']}); the plots show the last runs that worked. " + warn
        ens = self.last.get("ensemble")
        if ens is not None and "run_status" in ens.coords:
            bad = int((ens["run_status"] != "ok").sum())
            if bad:
                warn += f"**{bad} of {ens.sizes['run']} ensemble runs failed** and are left out of the bands. "
        text = warn + (f"Last update — {times}" if times else "")
        if text != self.status.object:  # an unchanged line is not sent again
            self.status.object = text

    # -- saving ---------------------------------------------------------------------------------------
    def _current_scenario(self) -> Any:
        return self.wb.scenario(self.values(), self.save_name.value or "my scenario", based_on=self._scenario())

    def _save_clicked(self, _: Any) -> None:
        self._save()

    def _save(self) -> Path | None:
        try:
            if not (self.save_name.value or "").strip():
                raise SpecError("Give the scenario a name before saving it.")
            path = self.wb.save_scenario(self._current_scenario(), self.scenario_dir)
        except (SpecError, OSError) as exc:
            self.save_status.object = f"Not saved: {exc}"
            return None
        options = [_DEFAULTS, *self.wb.scenarios]
        self.picker.options = options
        self.save_status.object = (f"Saved `{path}`. Run it in the policy lab with "
                                   f"`sdflow lab {self.wb.model_name} --scenarios {path}`.")
        return path

    def _scenario_file(self) -> io.BytesIO:
        from ..scenario import dumps

        scenario = self._current_scenario()
        self.download.filename = f"{_slug(scenario.name).replace('-', '_') or 'scenario'}.toml"
        return io.BytesIO(dumps(scenario, "toml").encode("utf-8"))


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Collect the outcome of a stage nobody waits for any more (no "never retrieved" warning)."""
    if not future.cancelled() and future.exception() is not None:
        _LOG.debug("A superseded stage failed: %s", future.exception())


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _competing(rls: xr.DataArray) -> list[str]:
    """Loops that share their part of the model (cycle partition) with another loop."""
    if "partition" not in rls.coords:
        return [str(x) for x in rls["loop"].values]
    parts = [int(p) for p in rls["partition"].values]
    return [str(k) for k, p in zip(rls["loop"].values, parts) if parts.count(p) > 1]


def _loop_colours() -> tuple[str, ...]:
    from .loopview import LOOP_COLOURS

    return LOOP_COLOURS


def explore(model: CompiledModel | str | Path, *, profile: Any = None, scenario_dir: str | Path = "scenarios",
            n_runs: int = 100) -> Explorer:
    """The model app as a notebook component: ``sd.explore(model)`` in a cell shows it.

    Parameters
    ----------
    model : CompiledModel, library name or file
        A compiled model, or what ``sdflow app`` takes (library name, model file, lab profile file).
    profile : LabProfile or path, optional
        A lab profile for a compiled model (library models find theirs).
    """
    from ..lab.metrics import LabProfile, find_profile, load_profile

    pn.extension()
    if isinstance(model, (str, Path)):
        wb = Workbench.open(model, profile=profile if not isinstance(profile, LabProfile) else None, n_runs=n_runs)
        if isinstance(profile, LabProfile):
            wb = Workbench.from_model(wb.model, profile, name=wb.model_name, n_runs=n_runs)
    else:
        lab = profile if isinstance(profile, LabProfile) or profile is None else load_profile(profile)
        name = str(model.spec.name)
        lab = lab or find_profile(name.replace(" ", "_"))
        wb = Workbench.from_model(model, lab, name=name.replace(" ", "_") if lab is not None else name, n_runs=n_runs)
    wb.precompile()
    return Explorer(wb, scenario_dir=scenario_dir)


def serve(source: str | Path, *, port: int = 5006, profile: str | Path | None = None, show: bool = False,
          scenario_dir: str | Path = "scenarios", n_runs: int = 100, threaded: bool = False,
          ready: Any = None) -> Any:
    """Serve the app for `source` on ``http://127.0.0.1:<port>/`` (this machine only).

    The model is loaded, and its baseline and loops computed, once; each browser tab gets its
    own :class:`Explorer` over the shared :class:`Workbench`. Blocks until interrupted unless
    `threaded`.
    """
    wb = Workbench.open(source, profile=profile, n_runs=n_runs)
    wb.precompile()  # once per machine (disk cache): slider moves then run compiled
    wb.baseline()
    wb.loops()
    if ready is not None:
        ready(wb)

    def app() -> pn.viewable.Viewable:
        view = Explorer(wb, scenario_dir=scenario_dir).__panel__()
        if pn.state.curdoc is not None:
            pn.state.curdoc.js_on_event("document_ready", CustomJS(code=_LESS_RESTYLING_JS))
        return view

    pn.extension()
    return pn.serve({"/": app}, port=port, address="127.0.0.1", websocket_origin=[f"127.0.0.1:{port}",
                    f"localhost:{port}"], show=show, title=f"sdflow app: {wb.model.spec.name}", threaded=threaded,
                    start=not threaded)
