"""sdflow's engine: build or load a stock-and-flow model, compile it, run it.

>>> import sd_engine as sd
>>> model = sd.load("teacup")
>>> ds = model.run()
>>> round(float(ds["Teacup Temperature"].sel(time=30)), 3)  # Euler, dt = 0.125, as Vensim
75.374
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import lazy_loader

from ._version import __version__

if TYPE_CHECKING:
    from .app import explore
    from .builder import Model
    from .compile import CompiledModel, compile_model
    from .errors import (
        AlgebraicLoopError,
        DimensionError,
        EquationSyntaxError,
        NonFiniteStateError,
        SDError,
        SimulationError,
        SpecError,
        UnknownVariableError,
        UnsupportedError,
    )
    from .results import Results, RunStatus, open_results, save_results, to_pandas
    from .spec import Dimension, LookupTable, ModelSpec, TimeSettings, Variable

__all__ = [
    "Model",
    "ModelSpec",
    "Variable",
    "Dimension",
    "LookupTable",
    "TimeSettings",
    "CompiledModel",
    "Results",
    "RunStatus",
    "compile_model",
    "load",
    "save_results",
    "open_results",
    "to_pandas",
    "SDError",
    "SpecError",
    "EquationSyntaxError",
    "UnknownVariableError",
    "UnsupportedError",
    "AlgebraicLoopError",
    "DimensionError",
    "SimulationError",
    "NonFiniteStateError",
    "explore",
    "__version__",
]

def load(source: str | Path | ModelSpec | Model, *, data_files: Sequence[str | Path] | None = None,
         files: Mapping[str, str | Path] | None = None, data_root: str | Path | None = None) -> CompiledModel:
    """Load and compile a model: a library name (``"teacup"``), a builder, or a spec.

    Vensim (``.mdl``) and XMILE (``.xmile``, ``.stmx``, ``.itmx``) files are read through
    PySD's parsers into a spec (see the README's support matrix); constructs the engine
    cannot run faithfully raise :class:`UnsupportedError` naming the variable. A name that
    is neither a file nor a library model raises with the closest names.

    For model files, `data_files` are ``.tab``/``.csv`` tables holding the series of data
    variables without an equation, and `files` maps file names used by GET XLS/DIRECT
    functions to other paths (see :func:`sd_engine.io.pysd_import.read_model`). File names
    written in a model file are read only from the model's folder tree, or from the tree of
    `data_root` when given; the paths in `files` and `data_files` are the caller's choice.
    """
    from .builder import Model
    from .compile import compile_model
    from .spec import ModelSpec

    if isinstance(source, Model):
        return source.compile()
    if isinstance(source, ModelSpec):
        return compile_model(source)
    from .io.model_file import MODEL_SUFFIXES

    path = Path(source)
    if path.suffix.lower() in MODEL_SUFFIXES:
        from .io.pysd_import import read_model  # refuses a missing file with a typed error

        return compile_model(read_model(path, data_files=data_files, files=files, data_root=data_root))
    from .library import build

    return build(str(source)).compile()


# The names above load on first use (lazy_loader, SPEC 1), so `import sd_engine` and the
# `sdflow` command's --help and --version do not pay for numpy, scipy and xarray until a model
# is built or run.
__getattr__, _lazy_dir, _ = lazy_loader.attach(__name__, submod_attrs={
    "app": ["explore"],  # the notebook app: Panel loads only when it is called
    "builder": ["Model"],
    "compile": ["CompiledModel", "compile_model"],
    "results": ["Results", "RunStatus", "open_results", "save_results", "to_pandas"],
    "spec": ["ModelSpec", "Variable", "Dimension", "LookupTable", "TimeSettings"],
    "errors": ["SDError", "SpecError", "EquationSyntaxError", "UnknownVariableError", "UnsupportedError",
               "AlgebraicLoopError", "DimensionError", "SimulationError", "NonFiniteStateError"],
})


def __dir__() -> list[str]:
    # The lazy names and what this module defines itself (`load`): what tab completion and the
    # API reference list.
    return sorted(set(_lazy_dir()) | set(globals()) | set(__all__))
