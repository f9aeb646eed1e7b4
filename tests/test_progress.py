"""Progress of long single operations (loop search, loop dominance, profile likelihoods): what each bar
counts, that the counts add up to the work done, and that nothing is written off a terminal or under
``--quiet``."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tqdm.auto

import sd_engine as sd
from sd_engine.cli import main
from sd_engine.loops.discovery import discover_loops
from sd_engine.progress import QUIET_VARIABLE


class Recorder:
    """Stands in for tqdm: keeps each bar's settings and the sum of its updates."""

    bars: list[Recorder] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.n = kwargs.get("initial", 0)
        self.closed = False
        Recorder.bars.append(self)

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[Recorder]:
    # Both sd_engine.progress and the integrator import tqdm.auto's tqdm when a bar starts.
    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    monkeypatch.setenv(QUIET_VARIABLE, "")  # restored after the test, whatever `sdflow --quiet` sets
    Recorder.bars = []
    return Recorder.bars


def by_desc(bars: list[Recorder], desc: str) -> Recorder:
    found = [b for b in bars if b.kwargs["desc"] == desc]
    assert len(found) == 1, [b.kwargs["desc"] for b in bars]
    return found[0]


def test_loop_search_counts_every_saved_step_of_every_run(bars: list[Recorder]) -> None:
    model = sd.load("sir")
    ds = model.run(params={"Contact Infectivity": [0.3, 0.4]}, saveper=1)  # times 0, 1, ..., 100
    discover_loops(model, ds, progress=True)
    bar = by_desc(bars, "loop search")
    assert bar.kwargs["total"] == 101 * 2 and bar.n == 101 * 2 and bar.kwargs["unit"] == "step"
    assert bar.kwargs["disable"] is None and bar.closed  # None: tqdm shows it on a terminal only
    bars.clear()
    discover_loops(model, ds, every=10, progress=True)
    assert by_desc(bars, "loop search").n == 11 * 2  # steps 0, 10, ..., 100


def test_loop_dominance_counts_the_steps_of_the_repeated_run(bars: list[Recorder]) -> None:
    model = sd.load("sir")  # dt = 1/32 from 0 to 100
    model.loop_dominance(model.run(), progress=True)
    bar = by_desc(bars, "simulating")
    assert bar.kwargs["total"] == 3200 and bar.n == 3200 and bar.kwargs["disable"] is None and bar.closed
    bars.clear()
    model.loop_dominance(model.run())
    assert bars == []


def test_profile_fits_count_the_parameters_and_derived_quantities(bars: list[Recorder]) -> None:
    import calibration as cal

    m = sd.Model("decay", final_time=10)
    m.constant("k", 0.3)
    m.stock("x", initial=200, outflows=["loss"])
    m.flow("loss", "x * k")
    times = np.arange(11.0)
    data = pd.DataFrame({"x": np.round(200 * 0.7 ** times)}, index=pd.Index(times, name="time"))
    result = cal.fit(m, data, {"k": (0.05, 0.9)}, {"x": "x"}, "poisson", ci="profile",
                     derived={"half life": "0.693 / k"}, progress=True)
    bar = by_desc(bars, "profile likelihood")
    assert bar.kwargs["total"] == 2 and bar.n == 2 and bar.kwargs["unit"] == "profile"
    # The loss is 30% a day in the model's Euler steps: x(t) = 200 * 0.7^t, the data's own curve.
    assert result.params["k"] == pytest.approx(0.3, abs=0.01)
    assert result.ci.loc["k", "method"] == "profile"


def test_nothing_is_written_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    real = tqdm.auto.tqdm
    monkeypatch.setenv(QUIET_VARIABLE, "")

    class Stream(io.StringIO):
        terminal = False

        def isatty(self) -> bool:
            return self.terminal

    def run(terminal: bool) -> str:
        stream = Stream()
        stream.terminal = terminal
        # The real tqdm, writing at once (no half-second delay) to a stream that is or is not a terminal.
        monkeypatch.setattr(tqdm.auto, "tqdm", lambda **kw: real(**{**kw, "delay": 0, "file": stream}))
        model = sd.load("sir")
        discover_loops(model, model.run(saveper=10), progress=True)
        return stream.getvalue()

    assert "loop search" in run(terminal=True)
    assert run(terminal=False) == ""


def test_the_loops_command_shows_progress_unless_quiet(bars: list[Recorder],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loops", "sir", "--search"]) == 0
    assert by_desc(bars, "loop search").n == by_desc(bars, "loop search").kwargs["total"] > 0
    bars.clear()
    assert main(["--quiet", "loops", "sir", "--search", "--dominance"]) == 0
    assert bars == []
    assert "Dominance phases" in capsys.readouterr().out


def test_listing_loops_counts_the_run_that_signs_their_links(bars: list[Recorder]) -> None:
    # acute_flow_coping has loops whose polarity only a run settles (65 of its 80): one run of 365 days
    # at dt = 1/32, every one of its 11,680 steps counted.
    model = sd.load("acute_flow_coping")
    model.loops(progress=True)
    bar = by_desc(bars, "simulating")
    steps = round((model.spec.time.final_time - model.spec.time.initial_time) / model.spec.time.dt)
    assert bar.kwargs["total"] == steps == bar.n == 365 * 32
