"""The app in a real browser: start ``sdflow app`` on a local port, move a slider with the mouse in
headless Chromium (Playwright), and check that the plotted run is ``model.run(params=...)`` for the
slider values the page used.

The system's Chromium is used (``/usr/bin/chromium``; ``.ci/run`` installs it with apt when it is
missing); Playwright's own browser download is not reachable here. The tests skip, saying why,
only when Chromium or the ``playwright`` package cannot be had. Screenshots go to
``$SDFLOW_SCREENSHOTS`` when set (the README's images are made that way), else to a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from paths import TEST_MODELS

import sd_engine as sd

CHROMIUM = os.environ.get("SDFLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
TEACUP_MDL = TEST_MODELS / "samples" / "teacup" / "teacup.mdl"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    # A TCP connection, not a page request: each page request builds a whole app session, and
    # retried requests would pile them up. The app listens only once its model is loaded.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"`sdflow app` exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"`sdflow app` did not listen on port {port} within {timeout:.0f} s")


def _start_app(model: str, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    log = (tmp_path / "app.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "sd_engine.cli", "app", model, "--port", str(port),
                             "--scenario-dir", str(tmp_path / "scenarios")], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, proc, timeout=240)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SDFLOW_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _source(page: Any, name: str) -> dict[str, Any]:
    return page.evaluate(
        """(name) => { const s = Bokeh.documents[0].get_model_by_name(name);
                      return s === null ? null : {tags: s.tags, t: Array.from(s.data.t), y: Array.from(s.data.y)}; }""",
        name)


def _wait_ready(page: Any, variable: str) -> None:
    page.wait_for_function("(n) => window.Bokeh && Bokeh.documents.length > 0 && "
                           "Bokeh.documents[0].get_model_by_name(n) !== null && "
                           "Bokeh.documents[0].get_model_by_name(n).data.y.length > 0",
                           arg=f"fan:{variable}", timeout=60_000)


def _fan(page: Any, variable: str) -> dict[str, Any]:
    return page.evaluate("""(name) => { const s = Bokeh.documents[0].get_model_by_name(name);
                                        return {y: Array.from(s.data.y), lo: Array.from(s.data.lo)}; }""",
                         f"fan:{variable}")


def _drag(page: Any, slug: str, dx: float) -> None:
    handle = page.locator(f".sd-slider-{slug} .noUi-handle").first
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    assert box is not None, f"slider {slug} is not on the page"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y, steps=4)
    page.mouse.move(x + dx, y, steps=4)
    page.mouse.up()


def _check_slider_move(page: Any, model: Any, slider: str, slug: str, variables: list[str], dx: float) -> None:
    """Drag `slider`; the plotted single runs must change and equal `model.run(params=...)`."""
    _wait_ready(page, variables[0])
    before = {v: _source(page, f"single:{v}") for v in variables}
    params_before = json.loads(before[variables[0]]["tags"][0])["params"]
    _drag(page, slug, dx)
    page.wait_for_function(
        "([n, old]) => { const s = Bokeh.documents[0].get_model_by_name(n);"
        " return s.tags.length > 0 && JSON.parse(s.tags[0]).params[old[0]] !== old[1]; }",
        arg=[f"single:{variables[0]}", [slider, params_before[slider]]], timeout=60_000)
    after = {v: _source(page, f"single:{v}") for v in variables}
    settings = json.loads(after[variables[0]]["tags"][0])
    assert settings["params"][slider] != params_before[slider]
    # The same run through the public API, saved at every step; the plot's times are steps of it.
    ds = model.run(params=settings["params"])
    changed = False
    for v in variables:
        t = np.asarray(after[v]["t"])
        scale = json.loads(after[v]["tags"][0])["scale"]  # e.g. 100 for a share shown in %
        expected = ds[v].sel(time=t).values * scale
        np.testing.assert_allclose(np.asarray(after[v]["y"]), expected, rtol=1e-9, atol=1e-12, err_msg=v)
        changed |= not np.allclose(after[v]["y"], before[v]["y"], rtol=1e-9)
    assert changed, "moving the slider changed no plotted value"


@pytest.mark.skipif(not TEACUP_MDL.exists(), reason="shared test-models not found next to the project")
def test_teacup_mdl_slider_moves_the_plot_to_the_api_run(browser: Any, tmp_path: Path) -> None:
    model = sd.load(TEACUP_MDL)
    for url in _start_app(str(TEACUP_MDL), tmp_path):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        _check_slider_move(page, model, "Characteristic Time", "characteristic-time", ["Teacup Temperature"], 90)
        # The page skips BokehJS's rewrites of unchanged style text (half the cost of a repaint) and
        # its restyling of the whole page when a slider drag starts and ends.
        assert page.evaluate("() => Bokeh.require('core/dom').InlineStyleSheet.prototype._sdflow_same_text === true"
                             " && Bokeh.Widgets.Slider.prototype.default_view.prototype._sdflow_select === true")
        # "Save as scenario" writes a file the lab and the scenario loader read back.
        page.get_by_placeholder("scenario name").fill("slow cooling")
        page.get_by_role("button", name="Save as scenario").click()
        saved = tmp_path / "scenarios" / "slow_cooling.toml"
        deadline = time.monotonic() + 20
        while not saved.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        from sd_engine.scenario import load

        scenario = load(saved)
        params = json.loads(_source(page, "single:Teacup Temperature")["tags"][0])["params"]
        assert scenario.params == {"Characteristic Time": params["Characteristic Time"]}
        page.screenshot(path=str(_shots(tmp_path) / "app-teacup.png"), full_page=True)
        page.close()


@pytest.mark.slow
def test_whole_system_flow_slider_moves_the_plots_to_the_api_run(browser: Any, tmp_path: Path) -> None:
    from sd_engine.app.session import Workbench

    wb = Workbench.open("whole_system_flow")
    variables = wb.outputs()
    for url in _start_app("whole_system_flow", tmp_path):
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url, timeout=120_000)
        _wait_ready(page, variables[0])
        fan_before = _fan(page, variables[0])
        _check_slider_move(page, wb.model, "bed change", "bed-change", variables, 120)
        # The fan follows (the ensemble is the slow part with the numpy back end): its median is
        # that of the same 100-run design run through the API under the new lever.
        page.wait_for_function("([n, old]) => { const s = Bokeh.documents[0].get_model_by_name(n);"
                               " return Array.from(s.data.y).some((v, i) => v !== old[i]); }",
                               arg=[f"fan:{variables[0]}", fan_before["y"]], timeout=120_000)
        params = json.loads(_source(page, f"single:{variables[0]}")["tags"][0])["params"]
        ens = wb.ensemble(params)
        scale = wb.display(variables[0]).scale
        expected = np.quantile(ens[variables[0]].values * scale, 0.5, axis=0)
        np.testing.assert_allclose(_fan(page, variables[0])["y"], expected, rtol=1e-9)
        page.screenshot(path=str(_shots(tmp_path) / "app-whole-system.png"), full_page=False)
        page.close()
