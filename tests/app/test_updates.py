"""How the app redraws after a slider move (the server path, without a browser): stages that a
newer move supersedes, failures shown on the page, and only the changed columns sent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from sd_engine.app.session import Workbench
from sd_engine.app.ui import TRACE_ENV, Explorer
from sd_engine.errors import SpecError

pytest.importorskip("panel")


@pytest.fixture(scope="module")
def teacup() -> Workbench:
    return Workbench.open("teacup", n_runs=20)


def _move(ex: Explorer, value: float) -> int:
    """What a released slider does, up to starting the update: the generation of this move."""
    ex.sliders["Characteristic Time"].value = value
    ex._generation += 1
    return ex._generation


def test_a_newer_move_supersedes_an_older_one(teacup: Workbench, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv(TRACE_ENV, str(trace))
    ex = Explorer(teacup)

    async def two_moves() -> None:
        first = asyncio.ensure_future(ex._update_async(_move(ex, 12.0)))
        await asyncio.sleep(0)  # the first move starts its single run and queues its ensemble ...
        second = _move(ex, 15.0)  # ... and a second move comes before that ensemble starts
        await asyncio.gather(first, ex._update_async(second))

    asyncio.run(two_moves())
    # The page shows the second move: its single run and the median of its ensemble.
    assert ex.last["values"]["Characteristic Time"] == 15.0
    single = teacup.single({"Characteristic Time": 15.0})["Teacup Temperature"].values
    np.testing.assert_array_equal(ex._sources["single:Teacup Temperature"].data["y"], single)
    ens = teacup.ensemble({"Characteristic Time": 15.0})["Teacup Temperature"].values
    np.testing.assert_array_equal(ex._sources["fan:Teacup Temperature"].data["y"], np.quantile(ens, 0.5, axis=0))
    assert json.loads(ex._sources["single:Teacup Temperature"].tags[0])["params"]["Characteristic Time"] == 15.0
    # The first move's ensemble never ran (it was superseded while waiting), and nothing of the
    # first move was pushed; the second move's stages ran in order, the ensemble beside the single run.
    moves = {m["generation"]: [label for label, _ in m["events"]]
             for m in map(json.loads, trace.read_text().splitlines())}
    ens_label = f"{teacup.n_runs}-run ensemble"
    first_gen = min(moves)
    assert f"{ens_label} start" not in moves[first_gen]
    assert not any(label.endswith("pushed") for label in moves[first_gen])
    events = moves[max(moves)]
    assert events.index(f"{ens_label} start") < events.index("single run end")
    assert events.index("single run pushed") < events.index(f"{ens_label} pushed") < events.index("scorecard pushed") \
        < events.index("loop scores start")
    assert "Teacup Temperature" in ex.scorecard.object and "Last update" in ex.status.object


def test_a_failed_update_is_shown_and_the_last_plots_stay(teacup: Workbench,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ex = Explorer(teacup)
    before = np.array(ex._sources["single:Teacup Temperature"].data["y"])

    def broken(*args: object, **kwargs: object) -> None:
        raise SpecError("`Characteristic Time` broke the run (a test).")

    monkeypatch.setattr(teacup, "single", broken)
    asyncio.run(ex._update_async(_move(ex, 12.0)))
    assert "The update failed" in ex.status.object and "`Characteristic Time` broke the run" in ex.status.object
    np.testing.assert_array_equal(ex._sources["single:Teacup Temperature"].data["y"], before)
    monkeypatch.undo()
    asyncio.run(ex._update_async(_move(ex, 13.0)))  # the next move that works clears the message
    assert "failed" not in ex.status.object


def test_a_move_sends_only_the_columns_that_change(teacup: Workbench) -> None:
    from bokeh.document import Document
    from bokeh.document.events import ColumnDataChangedEvent

    ex = Explorer(teacup)
    doc = Document()
    doc.add_root(ex.__panel__().get_root(doc))
    events: list[object] = []
    doc.on_change(events.append)
    ex.sliders["Characteristic Time"].value = 14.0
    single = teacup.single(ex.values())
    ex._apply_single(ex._single_lines(single, ex.values(), None))
    ens = teacup.ensemble(ex.values())
    ex._apply_fans({"Teacup Temperature": ex._fan(ens, "Teacup Temperature")})
    changed = {(e.model.name, tuple(sorted(e.cols or ()))) for e in events  # type: ignore[attr-defined]
               if isinstance(e, ColumnDataChangedEvent)}
    # The times (x, t) are the same for every run of the app: they are not sent again.
    assert changed == {("single:Teacup Temperature", ("y",)),
                       ("fan:Teacup Temperature", ("hi", "lo", "q1", "q3", "y"))}
    np.testing.assert_array_equal(ex._sources["single:Teacup Temperature"].data["y"],
                                  single["Teacup Temperature"].values)


def test_each_plot_is_framed_by_what_it_shows(teacup: Workbench) -> None:
    # The ranges are set on the server with the data (the page does not auto-range them): time
    # over the run's span, values over every band and line padded by 5% of their spread.
    ex = Explorer(teacup)
    ex.variables.value = ["Teacup Temperature", "Heat Loss to Room"]
    ex.sliders["Characteristic Time"].value = 6.0
    single = teacup.single(ex.values())
    ex._apply_single(ex._single_lines(single, ex.values(), None))
    ens = teacup.ensemble(ex.values())
    ex._apply_fans({name: ex._fan(ens, name) for name in ex.variables.value})
    base = teacup.baseline()
    for name in ex.variables.value:
        shown = np.concatenate([single[name].values, base["single"][name].values,
                                np.quantile(ens[name].values, [0.05, 0.95], axis=0).ravel(),
                                np.quantile(base["ensemble"][name].values, [0.05, 0.95], axis=0).ravel()])
        lo, hi = shown.min(), shown.max()
        x_range, y_range = ex._ranges[name]
        np.testing.assert_allclose([y_range.start, y_range.end], [lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)],
                                   rtol=1e-12)
        assert (y_range.reset_start, y_range.reset_end) == (y_range.start, y_range.end)
        t = single["time"].values
        assert (x_range.start, x_range.end) == (t[0], t[-1])
    # A plot the user zoomed stays zoomed at the next move; its reset goes to the new frame, and
    # from there the plot follows its data again.
    x_range, y_range = ex._ranges["Teacup Temperature"]
    y_range.update(start=40.0, end=50.0)  # as a zoom in the page sends it
    ex.sliders["Characteristic Time"].value = 18.0
    single = teacup.single(ex.values())
    ex._apply_single(ex._single_lines(single, ex.values(), None))
    assert (y_range.start, y_range.end) == (40.0, 50.0)
    y_range.update(start=y_range.reset_start, end=y_range.reset_end)  # the reset tool
    lines = ex._single_lines(single, ex.values(), None)
    lines["Teacup Temperature"][0]["y"] = 3 * lines["Teacup Temperature"][0]["y"]  # a line beyond the frame
    ex._apply_single(lines)
    shown = np.concatenate([ex._sources[f"{k}:Teacup Temperature"].data[c] for k, c in (
        ("single", "y"), ("base-single", "y"), ("fan", "lo"), ("fan", "hi"), ("base-fan", "lo"), ("base-fan", "hi"))])
    lo, hi = shown.min(), shown.max()
    np.testing.assert_allclose([y_range.start, y_range.end], [lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)],
                               rtol=1e-12)
    # One legend, on the first plot only.
    plots = [pane.object for pane in ex.plots.objects]
    assert [len(fig.legend) for fig in plots] == [1, 0]
    assert len(plots[0].legend[0].items) == 5


def test_new_scores_of_the_same_loops_update_the_loop_view_in_place() -> None:
    from bokeh.models import GraphRenderer

    from sd_engine.app.loopview import link_labels

    wb = Workbench.open("sir", n_runs=4)
    ex = Explorer(wb)
    figure = ex.loop_pane.object
    links = figure.select_one({"type": GraphRenderer}).edge_renderer.data_source
    before = list(links.data["loops"])
    ex.sliders["Contact Infectivity"].value = ex.sliders["Contact Infectivity"].value * 1.3
    ex._generation += 1
    asyncio.run(ex._update_async(ex._generation))
    top = wb.top_loops(ex.last["dominance"], float(ex.loop_time.value), int(ex.loop_count.value))
    # SIR's three loops, in the same order at day 100 after the move: the figure stays, and the
    # hover text of its links carries the new scores.
    assert [lp.id for lp, _ in top] == ["B1", "R1", "B2"]
    assert ex.loop_pane.object is figure
    assert list(links.data["loops"]) == link_labels(top) != before
    # Another time is another figure.
    ex.loop_time.value = list(ex.loop_time.options.values())[len(ex.loop_time.options) // 2]
    assert ex.loop_pane.object is not figure


def test_a_slider_release_skips_panels_debounce() -> None:
    # Panel reads `_priority_changes` when a change comes from the browser (a hook of its own
    # widgets): a Panel that stopped reading it would put back 50 ms on every move.
    import inspect

    from panel.reactive import Syncable

    from sd_engine.app.ui import _Slider

    assert "_priority_changes" in inspect.getsource(Syncable._server_change)
    assert _Slider._priority_changes == ["value_throttled"]
