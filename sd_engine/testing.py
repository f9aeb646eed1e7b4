"""Assertions for tests of models and of the engine, as :mod:`xarray.testing` is for datasets.

Use them in your own tests: a model run against a reference output, an ensemble against its
single runs, one back end against another. A failure names the first variable, element, run and
time where the results part, rather than printing two arrays.

>>> import sd_engine as sd
>>> from sd_engine.testing import assert_results_close
>>> model = sd.load("teacup")
>>> assert_results_close(model.run(), model.with_backend("interpreter").run())
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

    from .compile import CompiledModel

__all__ = ["assert_results_close", "assert_ensemble_matches_single_runs"]


def assert_results_close(
    actual: xr.Dataset,
    expected: xr.Dataset,
    *,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    key: Callable[[str], str] = str,
    check_status: bool = True,
) -> None:
    """Assert that two results hold the same variables with values equal within tolerance.

    Parameters
    ----------
    actual, expected : xarray.Dataset
        Results of :meth:`~sd_engine.compile.CompiledModel.run` (or read back from a file).
    rtol, atol : float
        ``|actual - expected| <= atol + rtol * |expected|`` everywhere; NaN must meet NaN.
        ``rtol=atol=0`` asks for the same numbers to the last bit.
    key : callable
        Maps a variable name to the key names are matched by, for results whose formats
        spell names differently (``sd_engine.expr.canonical`` matches ``hare_density`` with
        ``hare density``).
    check_status : bool
        Also compare the run status (``attrs["status"]``, or the ``run_status`` coordinate).

    Raises
    ------
    AssertionError
        Naming the variables one side lacks, or the first variable and the element, run and
        time of its largest difference.
    """
    left = {key(str(k)): v for k, v in actual.data_vars.items()}
    right = {key(str(k)): v for k, v in expected.data_vars.items()}
    if sorted(left) != sorted(right):
        raise AssertionError(f"Different variables: only in actual {sorted(set(left) - set(right))}, "
                             f"only in expected {sorted(set(right) - set(left))}.")
    for name in right:
        a, e = left[name], right[name]
        if a.dims != e.dims or a.shape != e.shape:
            raise AssertionError(f"`{name}`: dims {a.dims} {a.shape} in actual, {e.dims} {e.shape} in expected.")
        x, y = np.asarray(a.values, dtype=float), np.asarray(e.values, dtype=float)
        bad = ~((np.abs(x - y) <= atol + rtol * np.abs(y)) | (np.isnan(x) & np.isnan(y)))
        if bad.any():
            excess = np.where(bad, np.nan_to_num(np.abs(x - y), nan=np.inf), -1.0)
            where = np.unravel_index(int(np.argmax(excess)), x.shape)
            at = ", ".join(f"{dim}={a[dim].values[i].item()!r}" if dim in a.coords else f"{dim}={i}"
                           for dim, i in zip(a.dims, where))
            raise AssertionError(f"`{name}` differs at {int(bad.sum())} of {bad.size} values; the largest "
                                 f"difference is at {at}: actual {x[where].item()!r}, expected {y[where].item()!r} "
                                 f"(rtol={rtol}, atol={atol}).")
    if check_status:
        statuses = [ds["run_status"].values.tolist() if "run_status" in ds.coords else ds.attrs.get("status")
                    for ds in (actual, expected)]
        if statuses[0] != statuses[1]:
            raise AssertionError(f"Run status differs: actual {statuses[0]!r}, expected {statuses[1]!r}.")


def assert_ensemble_matches_single_runs(model: CompiledModel, params: Mapping[str, Any], *, seed: int = 0,
                                        **run_options: Any) -> xr.Dataset:
    """Run `params` as one ensemble and run by run; assert every run equals its single run exactly.

    Run ``i`` of the ensemble uses seed ``seed + i``, so random functions draw the same numbers.
    Returns the ensemble.
    """
    arrays = {k: np.asarray(v) for k, v in params.items()}
    ens = model.run(params=arrays, seed=seed, **run_options)
    for i in range(ens.sizes["run"]):
        single = model.run(params={k: v[i] for k, v in arrays.items()}, seed=seed + i, **run_options)
        assert_results_close(ens.isel(run=i, drop=True)[list(single.data_vars)], single, rtol=0, atol=0,
                             check_status=False)
        if str(ens["run_status"].values[i]) != str(single.attrs.get("status", "ok")):
            raise AssertionError(f"Run {i}: status {ens['run_status'].values[i]!r} in the ensemble, "
                                 f"{single.attrs.get('status')!r} alone.")
    return ens
