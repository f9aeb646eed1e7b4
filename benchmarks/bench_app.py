"""Slider-to-redraw latency of `sdflow app` on a model (the whole-system model by default).

Two measurements, medians over several slider moves:

1. **In process**: the server's update of a released slider (``Explorer._update_async``, its
   worker threads and stages, without a page): when each stage started, ended and was handed to
   the plots after the move was received; then the parts alone, one after another.
2. **In the browser** (when Chromium and Playwright are there): ``sdflow app`` on a local port,
   the slider dragged with the mouse in headless Chromium, and the time until the page holds the
   new single run, then the new fan (the ensemble's bands). This is what a person waits for.

Usage::

    python benchmarks/bench_app.py                    # whole_system_flow, 5 moves, browser if possible
    python benchmarks/bench_app.py --model teacup --slider "Characteristic Time" --moves 8 --no-browser

Results go to stdout and, with ``--out``, to a Markdown file (benchmarks/app_results.md).
Every run goes through ``CompiledModel.run``: a faster back end shows up here without a change.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def in_process(model: str, slider: str, moves: int) -> dict[str, list[float]]:
    from sd_engine.app.session import Workbench
    from sd_engine.app.ui import Explorer

    t0 = time.perf_counter()
    wb = Workbench.open(model)
    wb.precompile()  # as `sdflow app` does
    wb.baseline()
    wb.loops()
    opened = time.perf_counter() - t0
    ex = Explorer(wb)
    c = wb.control(slider)
    values = np.linspace(c.low, c.high, moves + 2)[1:-1]
    out: dict[str, list[float]] = {"open model, baseline and loops (once)": [opened]}
    for v in values:
        # The server's own update of a released slider (its worker threads, its stages, its
        # trace), without the page: each stage's start and end after the move was received.
        ex.sliders[c.name].value = float(v)
        ex._generation += 1
        ex._stamp(ex._generation, "received")
        asyncio.run(ex._update_async(ex._generation))
        start = ex.last_trace[0][1]
        for label, at in ex.last_trace[1:]:
            out.setdefault(f"received → {label}", []).append(at - start)
        # The parts on their own, one after another.
        vals, scenario = ex.values(), ex._scenario()
        t = time.perf_counter()
        single = wb.single(vals, scenario)
        out.setdefault("alone: single run", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        ens = wb.ensemble(vals, scenario)
        out.setdefault(f"alone: ensemble of {wb.n_runs} runs (one call)", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        for name in ex.variables.value:
            ex._fan(ens, name)
        out.setdefault("alone: fans (quantiles of the plotted variables)", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        ex._scorecard_work(ens, single)
        out.setdefault("alone: scorecard (metrics, table)", []).append(time.perf_counter() - t)
    return out


def in_browser(model: str, slider: str, moves: int) -> dict[str, list[float]] | str:
    chromium = os.environ.get("SDFLOW_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return f"skipped: no Chromium at {chromium}"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "skipped: the playwright package is not installed"
    from sd_engine.app.session import Workbench
    from sd_engine.app.ui import TRACE_ENV

    wb = Workbench.open(model)
    variable = wb.outputs()[0]
    slug = "".join(ch if ch.isalnum() else "-" for ch in slider.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The server writes when it received each move and when each stage started, ended and was
    # pushed (wall clock, as the browser's stamps below): where the time between goes.
    trace = Path(tempfile.mkdtemp()) / "trace.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "sd_engine.cli", "app", model, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, TRACE_ENV: str(trace)})
    out: dict[str, list[float]] = {}
    moves_seen: list[dict[str, float]] = []
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    return "skipped: the app did not start"
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/", timeout=180_000)
            page.wait_for_function("(n) => window.Bokeh && Bokeh.documents.length > 0 && "
                                   "Bokeh.documents[0].get_model_by_name(n) !== null", arg=f"fan:{variable}",
                                   timeout=180_000)
            out["page load (new session)"] = [time.perf_counter() - t]
            # The page notes when each source changes, in the browser's own clock.
            # The page notes when each source changes and, a frame later, when it has been painted,
            # on the wall clock (performance.timeOrigin + now()) that the server's trace uses.
            page.evaluate("""(v) => { window._changed = {}; window._painted = {};
                const now = () => (performance.timeOrigin + performance.now()) / 1000;
                for (const key of ['single:' + v, 'fan:' + v]) {
                  const s = Bokeh.documents[0].get_model_by_name(key);
                  const seen = () => { window._changed[key] = now();
                    requestAnimationFrame(() => setTimeout(() => { window._painted[key] = now(); }, 0)); };
                  s.connect(s.properties.data.change, seen);
                  s.connect(s.streaming, seen); s.connect(s.patching, seen);
                } }""", variable)
            handle = page.locator(f".sd-slider-{slug} .noUi-handle").first
            handle.scroll_into_view_if_needed()
            for k in range(moves):
                box = handle.bounding_box()
                assert box is not None
                x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                dx = 25 if k % 2 == 0 else -25
                page.evaluate("() => { window._changed = {}; window._painted = {}; }")
                page.mouse.move(x, y)
                page.mouse.down()
                page.mouse.move(x + dx, y, steps=3)
                released = page.evaluate("() => (performance.timeOrigin + performance.now()) / 1000")
                cpu = _chromium_cpu()
                page.mouse.up()
                page.wait_for_function(f"() => window._painted['fan:{variable}'] !== undefined", timeout=180_000)
                # What the browser's drawing takes from the cores the ensemble runs on.
                out.setdefault("Chromium CPU time, release → fan painted (all its processes)", []).append(
                    _chromium_cpu() - cpu)
                changed = page.evaluate("() => window._changed")
                painted = page.evaluate("() => window._painted")
                out.setdefault("release → single run drawn", []).append(changed[f"single:{variable}"] - released)
                out.setdefault("release → fan drawn", []).append(changed[f"fan:{variable}"] - released)
                out.setdefault("release → fan painted (a frame later)", []).append(
                    painted[f"fan:{variable}"] - released)
                moves_seen.append({"released": released, "single in page": changed[f"single:{variable}"],
                                   "fan in page": changed[f"fan:{variable}"]})
                # The next move once this one has finished on the server (loop scores drawn: its
                # trace line is written), so that moves do not overlap.
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and (not trace.exists() or len(
                        trace.read_text(encoding="utf-8").splitlines()) <= k):
                    page.wait_for_timeout(100)
                page.wait_for_timeout(500)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out.update(_server_stages(trace, moves_seen))
    return out


def _chromium_cpu() -> float:
    """CPU seconds (user + system) used so far by the Chromium processes this script started
    (read from /proc; 0 where there is no /proc)."""
    if not Path("/proc").is_dir():
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                comm = (entry / "comm").read_text().strip()
            except (OSError, IndexError):
                continue  # the process ended meanwhile
            procs[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, comm)
    me, total = os.getpid(), 0.0
    for pid, (parent, cpu, comm) in procs.items():
        while parent in procs and parent not in (me, 0, 1):
            parent = procs[parent][0]
        if parent == me and "chrom" in comm:
            total += cpu
    return total


def _server_stages(trace: Path, moves: list[dict[str, float]]) -> dict[str, list[float]]:
    """Each server stamp of a move, and the page's, as seconds after the release of the slider."""
    if not trace.exists():
        return {}
    traced = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows: dict[str, list[float]] = {}
    for move in moves:
        # The server's record of this move: the first one received after the release.
        mine = next((t for t in traced if t["events"][0][1] >= move["released"] - 0.05), None)
        if mine is None:
            continue
        stamps = [(label, at) for label, at in mine["events"]]
        stamps += [("single run in the page", move["single in page"]), ("fan in the page", move["fan in page"])]
        for label, at in sorted(stamps, key=lambda x: x[1]):
            rows.setdefault(f"release → {label}", []).append(at - move["released"])
    return rows


def _table(rows: dict[str, list[float]]) -> list[str]:
    lines = ["| stage | median (s) | min (s) | max (s) | n |", "|---|---:|---:|---:|---:|"]
    for k, v in rows.items():
        lines.append(f"| {k} | {statistics.median(v):.3f} | {min(v):.3f} | {max(v):.3f} | {len(v)} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="whole_system_flow")
    parser.add_argument("--slider", default="bed change")
    parser.add_argument("--moves", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--browser-only", action="store_true", help="skip the in-process measurement")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    import sd_engine

    lines = [f"# sdflow app: slider-to-redraw latency ({args.model}, slider `{args.slider}`)", "",
             f"sdflow {sd_engine.__version__}, Python {platform.python_version()}, {os.cpu_count()} cores, "
             f"load average {os.getloadavg()[0]:.1f} at the start "
             "(other jobs share this machine: wall-clock times are pessimistic).", "",
             "## In process (the server's update of a released slider, without a page)", ""]
    if not args.browser_only:
        lines += _table(in_process(args.model, args.slider, args.moves))
    if not args.no_browser:
        lines += ["", "## In the browser (headless Chromium, mouse drag, until the page holds the new data)", ""]
        result = in_browser(args.model, args.slider, args.moves)
        lines += [result] if isinstance(result, str) else _table(result)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
