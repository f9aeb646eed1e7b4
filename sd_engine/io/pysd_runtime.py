"""A cross-check: run an imported model's file with PySD's own runtime.

``model.run(..., backend="pysd")`` translates the model's source file with PySD's code
generator and runs it with PySD, then returns an :class:`xarray.Dataset` shaped like
sdflow's own result (same variable names, dimensions and ``run`` axis), so the two can be
compared directly. It is much slower and only for testing and users' confidence; the
normal path never touches PySD's runtime.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UnsupportedError
from ..expr import canonical

if TYPE_CHECKING:
    import xarray as xr

    from ..compile import CompiledModel

__all__ = ["run_pysd", "translate"]


def run_pysd(model: CompiledModel, params: Mapping[str, Any] | None = None, *,
             final_time: float | None = None, dt: float | None = None, saveper: float | None = None,
             method: str | None = None) -> xr.Dataset:
    """Run `model`'s source file with PySD and return a Dataset like :meth:`CompiledModel.run`.

    Parameters
    ----------
    model : CompiledModel
        A model loaded from a ``.mdl`` or XMILE file (its ``spec.source``).
    params : mapping, optional
        Constant overrides by name; 1-D arrays of equal length make a ``run`` axis, run by
        run through PySD.
    final_time, dt, saveper : float, optional
        Time overrides, as in :meth:`CompiledModel.run`.
    method : str, optional
        PySD integrates with Euler only; anything else is refused.

    Examples
    --------
    >>> import sd_engine as sd  # doctest: +SKIP
    >>> m = sd.load("teacup.mdl")  # doctest: +SKIP
    >>> m.run(backend="pysd")["Teacup Temperature"]  # doctest: +SKIP
    """
    import xarray as xr

    source = Path(model.spec.source) if model.spec.source else None
    if source is None or not source.is_file() or source.suffix.lower() not in (".mdl", ".xmile", ".xml", ".stmx",
                                                                                ".itmx"):
        raise UnsupportedError(
            f"`backend=\"pysd\"` runs a model's Vensim or XMILE file, and model `{model.spec.name}` was not loaded "
            "from one; use the default backend."
        )
    wanted = (method or model.spec.time.method).lower()
    if wanted != "euler":
        raise UnsupportedError(f"PySD integrates with Euler only, not `{wanted}`; pass method=\"euler\".")
    pysd_model = translate(source)
    params = dict(params or {})
    sizes = {len(np.atleast_1d(v)) for v in params.values() if np.ndim(v) == 1}
    if len(sizes) > 1:
        raise ValueError("Parameter arrays of an ensemble must all have the same length.")
    n_runs = sizes.pop() if sizes else 0
    time_args: dict[str, float] = {}
    if final_time is not None:
        time_args["final_time"] = float(final_time)
    if dt is not None:
        time_args["time_step"] = float(dt)
    if saveper is not None:
        time_args["saveper"] = float(saveper)
    runs = []
    for i in range(max(n_runs, 1)):
        values = {_pysd_name(model, k): (float(np.atleast_1d(v)[i]) if np.ndim(v) == 1 else v)
                  for k, v in params.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pysd_model.run(params=values, **time_args)
        runs.append(_to_dataset(model, frame))
    if n_runs:
        ds = xr.concat(runs, dim="run")
        return ds.assign_coords(run=np.arange(n_runs))
    return runs[0]


def translate(source: Path) -> Any:
    """PySD's own model of the file `source` (``pysd.read_vensim``/``read_xmile``), translated
    from a copy in a temporary folder so PySD's generated module never lands beside the file."""
    import pysd

    # PySD writes its generated module next to the model file: translate a copy.
    folder = Path(tempfile.mkdtemp(prefix="sdflow-pysd-"))
    copy = folder / source.name
    shutil.copy(source, copy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if source.suffix.lower() == ".mdl":
            return pysd.read_vensim(str(copy))
        return pysd.read_xmile(str(copy))


def _pysd_name(model: CompiledModel, name: str) -> str:
    return model.resolve(name).name


def _to_dataset(model: CompiledModel, frame: Any) -> xr.Dataset:
    import xarray as xr

    columns = {canonical(str(c)): c for c in frame.columns}
    times = np.asarray(frame.index, dtype=float)
    data: dict[str, Any] = {}
    coords: dict[str, Any] = {"time": times}
    for var in model.spec.variables:
        if var.internal or var.kind == "lookup":
            continue
        if not var.dims:
            column = columns.get(var.canonical)
            if column is not None:
                data[var.name] = ("time", frame[column].to_numpy(dtype=float))
            continue
        dims = [model.spec.dimension(d) for d in var.dims]
        shape = tuple(len(d.elements) for d in dims)
        values = np.full((len(times),) + shape, np.nan)
        found = False
        for index in np.ndindex(*shape):
            label = f"{var.name}[{','.join(d.elements[i] for d, i in zip(dims, index))}]"
            column = columns.get(canonical(label))
            if column is not None:
                values[(slice(None),) + index] = frame[column].to_numpy(dtype=float)
                found = True
        if found:
            data[var.name] = (("time",) + tuple(d.name for d in dims), values)
            for d in dims:
                coords[d.name] = list(d.elements)
    return xr.Dataset(data, coords=coords, attrs={"backend": "pysd"})
