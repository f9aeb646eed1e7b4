"""The model app: sliders, scenarios, live runs and loop dominance in the browser or a notebook.

``sdflow app MODEL`` serves it on a local port (:func:`serve`); ``sd.explore(model)`` shows the
same component in a notebook cell (:func:`explore`). What it computes lives in
:class:`Workbench` (no user interface), which the tests and the benchmark drive directly.

Panel loads only when :func:`explore` or :func:`serve` is called: ``import sd_engine`` and
``sdflow --help`` never load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from .controls import Control, controls_for
    from .session import Workbench
    from .ui import Explorer, explore, serve

__all__ = ["Control", "controls_for", "Workbench", "Explorer", "explore", "serve"]

__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs={
    "controls": ["Control", "controls_for"],
    "session": ["Workbench"],
    "ui": ["Explorer", "explore", "serve"],
})
