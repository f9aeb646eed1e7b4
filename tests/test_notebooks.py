"""Every notebook runs top to bottom; the assertions inside them check the key numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

# Every notebook, top to bottom (about two minutes): CI runs them; `-m 'not slow'` skips them.
pytestmark = pytest.mark.slow

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # A failing cell (an error or a false assertion) raises CellExecutionError here.
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
