"""Small, documented models and data loaders used by calibration's tests, README and benchmarks.

* :mod:`calibration.examples.flu` -- the 1978 boarding-school influenza outbreak (SIR, N = 763);
* :mod:`calibration.examples.dtoc` -- England's monthly delayed transfers of care;
* :mod:`calibration.examples.ae` -- England's monthly type-1 A&E attendances with seasonality.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

__all__ = ["shared_data"]


def shared_data(name: str) -> Path:
    """Path of a file in the project's shared data folder (``$SDFLOW_DATA`` or ``../shared/data``)."""
    roots = [Path(os.environ["SDFLOW_DATA"])] if "SDFLOW_DATA" in os.environ else []
    here = Path(__file__).resolve()
    roots += [p / "shared" / "data" for p in here.parents]
    for root in roots:
        if (root / name).exists():
            return root / name
    raise DataError(f"Cannot find the data file `{name}`; set SDFLOW_DATA to the folder that holds it.")
