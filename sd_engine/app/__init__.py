"""The model app: sliders, scenarios, live runs and loop dominance in the browser or a notebook.

``sdflow app MODEL`` serves it on a local port (:func:`sd_engine.app.serve`); ``sd.explore(model)`` shows the
same component in a notebook cell (:func:`sd_engine.app.explore`). What it computes lives in
:class:`~sd_engine.app.session.Workbench` (no user interface), which the tests and the benchmark drive directly.

Panel loads only when :func:`~sd_engine.app.explore` or :func:`~sd_engine.app.serve` is *called*: ``import sd_engine``,
``sd.explore`` itself and ``sdflow --help`` never load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import lazy_loader

if TYPE_CHECKING:
    from ..compile import CompiledModel
    from .controls import Control, controls_for
    from .session import Workbench
    from .ui import Explorer

__all__ = ["Control", "controls_for", "Workbench", "Explorer", "explore", "serve"]

__getattr__, _lazy_dir, _ = lazy_loader.attach(__name__, submod_attrs={
    "controls": ["Control", "controls_for"],
    "session": ["Workbench"],
    "ui": ["Explorer"],
})


def __dir__() -> list[str]:
    # lazy_loader's own listing leaves out what this module defines (`explore`, `serve`), which
    # tab completion and the API reference read.
    return sorted(set(_lazy_dir()) | set(globals()) | set(__all__))


def explore(model: CompiledModel | str | Path, *, profile: Any = None, scenario_dir: str | Path = "scenarios",
            n_runs: int = 100) -> Explorer:
    """The model app as a notebook component: ``sd.explore(model)`` as the last line of a cell shows it.

    Parameters
    ----------
    model : CompiledModel, library name or file
        A compiled model, or what ``sdflow app`` takes (a library name, a Vensim/XMILE file, a
        lab profile file).
    profile : LabProfile or path, optional
        A lab profile (library models find their own).
    scenario_dir : path
        Where "Save as scenario" writes TOML files.
    n_runs : int
        Runs in the ensemble fan.

    Returns
    -------
    sd_engine.app.ui.Explorer
        A Panel component (``Explorer.__panel__()`` is its layout).
    """
    from .ui import explore as _explore

    return _explore(model, profile=profile, scenario_dir=scenario_dir, n_runs=n_runs)


def serve(source: str | Path, **options: Any) -> Any:
    """Serve the app for `source` on ``http://127.0.0.1:<port>/`` (see :func:`sd_engine.app.ui.serve`)."""
    from .ui import serve as _serve

    return _serve(source, **options)
