"""`sd.explore(model)` in a notebook cell: the component renders as a Panel output in a real kernel."""

from __future__ import annotations

import pytest


def test_explore_renders_in_a_notebook_cell() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import sd_engine as sd\napp = sd.explore('teacup', n_runs=10)\napp"),
                nbformat.v4.new_code_cell("sorted(app.sliders), round(float(app.last['single']"
                                          "['Teacup Temperature'][-1]), 3)")]
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    shown = nb.cells[0].outputs[-1]
    assert shown["output_type"] == "execute_result"
    # Panel's notebook output: its own mimetype for the live component, with an HTML fallback.
    assert "application/vnd.holoviews_exec.v0+json" in shown["data"] and "text/html" in shown["data"]
    text = nb.cells[1].outputs[-1]["data"]["text/plain"]
    assert text == "(['Characteristic Time', 'Room Temperature'], 75.374)"  # the model's own run at minute 30
