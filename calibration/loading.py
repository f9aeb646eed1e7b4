"""Models by name for the command line and calibration files: library models, calibration's
examples, or a Python file whose ``build()`` returns a model."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from .errors import CalibrationError

__all__ = ["load_model", "EXAMPLES"]

#: calibration's example models, by the name the command line takes.
EXAMPLES = {"flu": "calibration.examples.flu", "dtoc": "calibration.examples.dtoc", "ae": "calibration.examples.ae"}


def load_model(name: str) -> Any:
    """A builder or compiled model from a library name, an example name or a ``.py`` file."""
    import sd_engine as sd

    path = Path(name)
    if path.suffix == ".py":
        if not path.exists():
            raise CalibrationError(f"There is no model file `{path}`.")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "build"):
            raise CalibrationError(f"`{path.name}` must define build() returning an sd_engine Model.")
        return module.build()
    if name.lower() in EXAMPLES:
        return importlib.import_module(EXAMPLES[name.lower()]).build()  # type: ignore[attr-defined]
    return sd.load(name)
