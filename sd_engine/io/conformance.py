"""Conformance: run Vensim/XMILE models and compare them with their canonical outputs.

The SDXorg test-models layout is one folder per model concept, holding the model in one
or more formats and the canonical output of Vensim or Stella (``output.tab`` or
``output.csv``). :func:`run_folder` runs every model file that has a canonical output
and compares every canonical column at every canonical time with the tolerance
``|a - e| <= 1e-5 + 1e-5 |e|`` (Vensim and Stella print six significant digits).

``sdflow conformance DIR`` prints the resulting table.
"""

from __future__ import annotations

import re
import time as _time
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import UnsupportedError
from ..expr import canonical
from .pysd_import import TIME_STEP_SERIES

__all__ = [
    "RTOL",
    "ATOL",
    "MODEL_SUFFIXES",
    "KNOWN_FAILURES",
    "DEFECT_EVIDENCE",
    "defect_evidence",
    "known_failure",
    "TOLERANCES",
    "tolerance",
    "CaseResult",
    "find_cases",
    "read_canonical",
    "compare",
    "run_case",
    "data_files_beside",
    "run_folder",
    "format_table",
]

RTOL = 1e-5
ATOL = 1e-5
MODEL_SUFFIXES = (".mdl", ".xmile", ".stmx", ".itmx")

#: Model files (relative to the test-models root) compared with a wider tolerance than
#: ``ATOL``/``RTOL``, with the documented reason: (atol, rtol, reason).
TOLERANCES: dict[str, tuple[float, float, str]] = {
    'tests/allocate_available/test_allocate_available.mdl': (
        1e-4, 1e-4,
        "Vensim searches for ALLOCATE AVAILABLE's common priority level only to about 1e-5: its allocations "
        'do not add up to the supply (79.9989 of 80 for `allocation3` at t = 4, 19 times what six printed '
        'digits explain); sdflow solves to machine precision, so results differ by up to 8 times the '
        'default tolerance, 4e-5 relative at worst (test_allocate_available_within_vensim_search_tolerance)'
    ),
}

#: Model files (relative to the test-models root) whose canonical output cannot be matched
#: because of a defect of the file itself, with the reason. The conformance test expects
#: these to fail; anything else must pass or be refused by name.
KNOWN_FAILURES: dict[str, str] = {
    'samples/Query_file/Query_file.mdl': (
        "the output depends on Vensim's own random number generator (RANDOM UNIFORM(0.23, 0.53, 1) in "
        '`kWhPerStovePerDay`), which no other engine reproduces; the draws stay within their bounds '
        '(test_query_file_random_draws_within_bounds)'
    ),
    'samples/Roessler_Chaos/roessler_chaos.mdl': (
        "chaotic: the difference starts at the output's six printed digits (within tolerance up to t = "
        "30) and grows at the attractor's Lyapunov rate, about 0.07 per time unit "
        '(test_roessler_error_grows_from_round_off)'
    ),
    'tests/active_initial/test_active_initial.stmx': (
        "output.tab is Vensim's run of the .mdl, whose ACTIVE INITIAL starts `Stock A` at 45; the XMILE "
        'file has no ACTIVE INITIAL, and its own Stella output (output_stella.csv) is matched exactly '
        '(test_active_initial_xmile_matches_its_stella_output)'
    ),
    'tests/active_initial/test_active_initial.xmile': (
        "output.tab is Vensim's run of the .mdl, whose ACTIVE INITIAL starts `Stock A` at 45; the XMILE "
        'file has no ACTIVE INITIAL, and its own Stella output (output_stella.csv) is matched exactly '
        '(test_active_initial_xmile_matches_its_stella_output)'
    ),
    'tests/data_from_other_model/model_to_generate_data.mdl': (
        'output.tab in this folder is the output of test_data_from_other_model.mdl (TIME STEP 0.5), not '
        'of this model (TIME STEP 1)'
    ),
    'tests/get_time_value/test_get_time_value.mdl': (
        "output.tab in this folder is the output of test_get_time_value_simple.mdl (the folder's README "
        'calls this file a "future model"): it has only `get time 0 dim 0`, none of the relativeto 1 '
        'and measure 1-10 cases this file adds, which sdflow refuses by name as PySD does '
        '(test_get_time_value_output_belongs_to_the_simple_model)'
    ),
    'tests/logicals/test_logicals.stmx': (
        'invalid equation `IF false_input not THEN 1 ELSE 0` (a postfix `not`); the .xmile of the same '
        'test has `IF not false_input` and passes'
    ),
    'tests/macro_expression/test_macro_expression.stmx': (
        'calls EXPRESSION MACRO, which the XMILE file does not define (the macro is only in the .mdl)'
    ),
    'tests/macro_expression/test_macro_expression.xmile': (
        'calls EXPRESSION MACRO, which the XMILE file does not define (the macro is only in the .mdl)'
    ),
    'tests/macro_stock/test_macro_stock.stmx': (
        'calls EXPRESSION MACRO, which the XMILE file does not define (the macro is only in the .mdl)'
    ),
    'tests/macro_stock/test_macro_stock.xmile': (
        'calls EXPRESSION MACRO, which the XMILE file does not define (the macro is only in the .mdl)'
    ),
    'tests/non_negative_flows/test_non_negative_flows.xmile': (
        'malformed XML: a <flow> element is never closed (a strict XML parser stops at line 45/49)'
    ),
    'tests/non_negative_flows/test_non_negative_flows_behavior.xmile': (
        'malformed XML: a <flow> element is never closed (a strict XML parser stops at line 45/49)'
    ),
    'tests/smooth_and_stock/test_smooth_and_stock.stmx': (
        'output.tab belongs to the .mdl: it has `Input`, `Smoothed Input` and `Smoothing Time`, which the'
        ' XMILE file does not define; every column the file does define is matched '
        '(test_smooth_and_stock_xmile_matches_its_own_columns)'
    ),
    'tests/smooth_and_stock/test_smooth_and_stock.xmile': (
        'output.tab belongs to the .mdl: it has `Input`, `Smoothed Input` and `Smoothing Time`, which the'
        ' XMILE file does not define; every column the file does define is matched '
        '(test_smooth_and_stock_xmile_matches_its_own_columns)'
    ),
    'tests/subscript_constant_call/test_subscript_constant_call.stmx': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_constant_call/test_subscript_constant_call.xmile': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_mixed_assembly/test_subscript_mixed_assembly.stmx': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_mixed_assembly/test_subscript_mixed_assembly.xmile': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_multiples/test_multiple_subscripts.stmx': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_multiples/test_multiple_subscripts.xmile': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_subranges_equal/test_subscript_subrange_equal.stmx': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_subranges_equal/test_subscript_subrange_equal.xmile': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_updimensioning/test_subscript_updimensioning.stmx': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_updimensioning/test_subscript_updimensioning.xmile': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscripted_flows/test_subscripted_flows.stmx': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscripted_flows/test_subscripted_flows.xmile': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_1d_arrays/test_subscript_1d_arrays.stmx': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_1d_arrays/test_subscript_1d_arrays.xmile': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_subranges/test_subscript_subrange.stmx': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/subscript_subranges/test_subscript_subrange.xmile': (
        'the file has `???` in place of equations (an unfinished export); no engine can run it'
    ),
    'tests/macro_multi_expression/test_macro_multi_expression.stmx': (
        'calls EXPRESSION MACRO, which the XMILE file does not define (the macro is only in the .mdl)'
    ),
    'tests/macro_multi_expression/test_macro_multi_expression.xmile': (
        'calls EXPRESSION MACRO, which the XMILE file does not define (the macro is only in the .mdl)'
    ),
    'tests/macro_multi_macros/test_macro_multi_macros.stmx': (
        'calls EXPRESSION MACRO and SECOND MACRO, which the XMILE file does not define (the macros are only in '
        'the .mdl)'
    ),
    'tests/macro_multi_macros/test_macro_multi_macros.xmile': (
        'calls EXPRESSION MACRO and SECOND MACRO, which the XMILE file does not define (the macros are only in '
        'the .mdl)'
    ),
    'tests/zeroled_decimals/test_zeroled_decimals.xmile': (
        'the file asks for RK4 (sim_specs method="RK4", a Vensim export) but output.tab is Vensim\'s Euler'
        ' run; with method="euler" it matches (test_zeroled_decimals_xmile_matches_with_euler)'
    ),
}

#: What proves a file defect of ``KNOWN_FAILURES`` in the file itself, checked whenever the file
#: is run (:func:`defect_evidence`): ``("placeholder", "???")`` for an equation left as ``???``,
#: ``("undefined macro", NAME)`` for a call of a macro the file does not define.
DEFECT_EVIDENCE: dict[str, tuple[str, str]] = {
    **{key: ("placeholder", "???") for key, reason in KNOWN_FAILURES.items() if "`???`" in reason},
    **{key: ("undefined macro", "EXPRESSION MACRO") for key, reason in KNOWN_FAILURES.items()
       if reason.startswith("calls EXPRESSION MACRO")},
    'tests/macro_multi_macros/test_macro_multi_macros.stmx': ("undefined macro", "SECOND MACRO"),
    'tests/macro_multi_macros/test_macro_multi_macros.xmile': ("undefined macro", "SECOND MACRO"),
}

Status = Literal["pass", "fail", "refused", "error", "known"]


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one model file against its canonical output."""

    model: str
    format: str
    status: Status
    max_error: float  # largest |a - e| / (ATOL + RTOL |e|); <= 1 passes; nan when not run
    message: str = ""
    seconds: float = 0.0
    #: Another engine's outcome on the same file (``--cross-check``): e.g. ``"pysd pass 0.02"``.
    cross_check: str = ""


def find_cases(root: str | Path) -> list[tuple[Path, Path]]:
    """Every model file under `root` with a canonical output in its folder, sorted."""
    root = Path(root)
    cases = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in MODEL_SUFFIXES or not path.is_file():
            continue
        for name in ("output.tab", "output.csv"):
            canonical_path = path.parent / name
            if canonical_path.exists():
                cases.append((path, canonical_path))
                break
    return cases


def read_canonical(path: str | Path) -> pd.DataFrame:
    """A canonical output as a DataFrame indexed by time, one column per series."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    # Some canonical outputs were written with old Mac line ends (CR only).
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    from io import StringIO

    sep = "\t" if path.suffix == ".tab" else ","
    frame = pd.read_csv(StringIO(text), sep=sep, index_col=False, dtype=str)
    frame.columns = [str(c).strip().strip('"').strip() for c in frame.columns]
    first = frame.columns[0]
    if len(frame.columns) > 1 and not pd.to_numeric(pd.Series(frame.columns[1:]), errors="coerce").isna().any():
        # Vensim can write a table with one row per variable (the header row holds the times);
        # turn it round. Stella names the time column by its units (``Months``), so the name of
        # the first column does not tell.
        frame = frame.set_index(first).T.reset_index().rename(columns={"index": "Time"})
        first = "Time"
    raw_times = frame[first]
    frame = frame.apply(lambda s: pd.to_numeric(s.str.strip() if s.dtype == object else s, errors="coerce"))
    frame = frame.dropna(subset=[first]).set_index(first)
    frame.index.name = "time"
    # Half a unit of the last printed decimal of the times: Stella 10 prints times to three
    # decimals (0.031 for a dt of 1/32), which must still find their result time.
    # Times printed without a decimal point are whole numbers and keep the strict rule.
    decimals = [len(t.partition(".")[2]) for t in raw_times.dropna().astype(str).str.strip() if "." in t]
    frame.attrs["time_resolution"] = 0.5 * 10.0 ** -max(decimals) if decimals else 0.0
    return frame.dropna(axis=1, how="all")


_COLUMN = re.compile(r"^(?P<name>.*?)\[(?P<subs>[^\]]*)\]$")


def compare(ds: object, expected: pd.DataFrame, dt: float | None = None, *, atol: float = ATOL,
            rtol: float = RTOL) -> tuple[float, str]:
    """The worst scaled error ``|a - e| / (atol + rtol |e|)`` over every canonical column and
    time, and the column where it is."""
    import xarray as xr

    assert isinstance(ds, xr.Dataset)
    times = ds["time"].values
    wanted_times = expected.index.values.astype(float)
    # Nearest result time: canonical times are printed to six significant digits.
    position = np.clip(np.searchsorted(times, wanted_times), 1, max(len(times) - 1, 1))
    if len(times) > 1:
        left = np.abs(times[position - 1] - wanted_times) <= np.abs(times[position] - wanted_times)
        position = np.where(left, position - 1, position)
    else:
        position = np.zeros(len(wanted_times), dtype=int)
    resolution = float(expected.attrs.get("time_resolution", 0.0))
    close = np.abs(times[position] - wanted_times) <= np.maximum(1e-5 * np.maximum(1.0, np.abs(wanted_times)),
                                                                 resolution * (1 + 1e-9))
    if not close.all():
        missing = expected.index.values[~close][0]
        return float("inf"), f"no result at canonical time {missing:g}"
    if expected.empty:
        # Nothing compared is no evidence: an unreadable canonical output must not pass.
        return float("inf"), "no canonical values to compare"
    by_key = {canonical(str(name)): name for name in ds.data_vars}
    worst, where = 0.0, ""
    for column in expected.columns:
        match = _COLUMN.match(column)
        name, subs = (match["name"], [s.strip() for s in match["subs"].split(",")]) if match else (column, [])
        key = canonical(name)
        values: np.ndarray
        if key == "time_step" and canonical(TIME_STEP_SERIES) in by_key:
            key = canonical(TIME_STEP_SERIES)  # a TIME STEP that changes during the run
        if key == "time_step" and key not in by_key and dt is not None:
            values = np.full(len(position), dt)
        elif key not in by_key:
            return float("inf"), f"no series `{column}`"
        else:
            data = ds[by_key[key]]
            if subs:
                dims = [d for d in data.dims if d not in ("time", "run")]
                if len(dims) != len(subs):
                    return float("inf"), f"`{column}` has {len(subs)} subscripts, the result {len(dims)}"
                selection = {}
                for dim, sub in zip(dims, subs):
                    labels = [canonical(str(v)) for v in data[dim].values]
                    if canonical(sub) not in labels:
                        return float("inf"), f"no element `{sub}` in `{column}`"
                    selection[dim] = labels.index(canonical(sub))
                data = data.isel(selection)
            array = np.asarray(data.values, dtype=float)
            values = np.broadcast_to(array[position] if array.ndim else array, (len(position),))
        wanted = expected[column].to_numpy(dtype=float)
        ok = np.isfinite(wanted)
        with np.errstate(invalid="ignore", over="ignore"):
            scaled = np.abs(values[ok] - wanted[ok]) / (atol + rtol * np.abs(wanted[ok]))
        scaled = np.where(np.isnan(scaled), np.inf, scaled)
        if scaled.size and scaled.max() > worst:
            worst, where = float(scaled.max()), column
    return worst, where


def data_files_beside(model_path: str | Path) -> list[Path]:
    """The data tables next to a model (``.tab``/``.csv`` other than the canonical output):
    where data variables without an equation find their series, as in PySD's test suite."""
    folder = Path(model_path).parent
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in (".tab", ".csv") and not p.stem.lower().startswith("output"))


def run_case(model_path: str | Path, canonical_path: str | Path, root: str | Path | None = None, *,
             cross_check: bool = False) -> CaseResult:
    """Load, run and compare one model file; refusals and errors become statuses.

    A file listed in ``KNOWN_FAILURES`` that does not pass is ``"known"`` when its documented
    defect is found in it (``DEFECT_EVIDENCE``), ``"fail"`` when it is not. With `cross_check`,
    the file is also run with PySD's runtime and compared with the same canonical output.
    """
    from .. import load

    model_path = Path(model_path)
    label = str(model_path.relative_to(root)) if root is not None else model_path.name
    fmt = model_path.suffix.lstrip(".").lower()
    start = _time.perf_counter()
    cross = ""
    try:
        expected = read_canonical(canonical_path)
        model = load(model_path, data_files=data_files_beside(model_path))
        ds = model.run(errors="raise")
        atol, rtol = tolerance(model_path)
        error, where = compare(ds, expected, model.spec.time.dt, atol=atol, rtol=rtol)
        if cross_check:
            cross = _cross_check(model, expected, atol, rtol)
    except UnsupportedError as exc:
        result = CaseResult(label, fmt, "refused", float("nan"), str(exc), _time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 -- one broken model must not stop the table
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        result = CaseResult(label, fmt, "error", float("nan"), f"{type(exc).__name__}: {message}",
                            _time.perf_counter() - start)
    else:
        status: Status = "pass" if error <= 1.0 else "fail"
        message = "" if status == "pass" else f"worst at `{where}`"
        if (atol, rtol) != (ATOL, RTOL):
            message = f"{message}; " if message else ""
            message += f"documented tolerance atol={atol:g}, rtol={rtol:g} (TOLERANCES)"
        result = CaseResult(label, fmt, status, error, message, _time.perf_counter() - start, cross)
    return _with_known_failure(result, model_path)


def _cross_check(model: object, expected: pd.DataFrame, atol: float, rtol: float) -> str:
    """PySD's outcome on the model's file against the same canonical output."""
    try:
        other = model.run(backend="pysd")  # type: ignore[attr-defined]
        error, _ = compare(other, expected, model.spec.time.dt, atol=atol, rtol=rtol)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 -- the other engine's failure is a result, not ours
        return f"pysd error: {type(exc).__name__}"
    return f"pysd {'pass' if error <= 1.0 else 'fail'} {error:.3g}"


def known_failure(model_path: str | Path) -> tuple[str, str] | None:
    """The ``KNOWN_FAILURES`` key and reason of a model file (matched by the end of its path)."""
    posix = Path(model_path).as_posix()
    for key, reason in KNOWN_FAILURES.items():
        if posix.endswith(key):
            return key, reason
    return None


def defect_evidence(model_path: str | Path, kind: str, detail: str) -> str | None:
    """Where file `model_path` shows the defect (`kind`, `detail`) of ``DEFECT_EVIDENCE``, as a
    short sentence naming the line; None when the file does not show it.

    ``("placeholder", "???")``: an equation that is ``???``. ``("undefined macro", NAME)``: a
    call ``NAME(`` (spaces and underscores alike, any case) in a file that defines no macro of
    that name (``<macro name="NAME">`` in XMILE, ``:MACRO: NAME(`` in Vensim).
    """
    text = Path(model_path).read_bytes().decode("utf-8", errors="replace")
    lines = text.splitlines()
    if kind == "placeholder":
        for number, line in enumerate(lines, 1):
            if re.search(r"(<eqn>|=)\s*\?\?\?\s*(</eqn>|$)", line):
                return f"line {number} has `???` in place of an equation"
        return None
    if kind == "undefined macro":
        words = [re.escape(w) for w in detail.split()]
        name = r"[\s_]+".join(words)
        defined = re.search(rf"<macro\s+name\s*=\s*[\"']{name}[\"']|:MACRO:\s*{name}\s*\(", text, re.IGNORECASE)
        if defined:
            return None
        for number, line in enumerate(lines, 1):
            if re.search(rf"(?<![\w]){name}\s*\(", line, re.IGNORECASE):
                return f"line {number} calls `{detail}`, which the file does not define"
        return None
    raise ValueError(f"unknown defect kind `{kind}`")


def _with_known_failure(result: CaseResult, model_path: Path) -> CaseResult:
    """`result` with a documented file defect as status ``"known"`` (see :func:`run_case`)."""
    listed = known_failure(model_path)
    if listed is None:
        return result
    key, reason = listed
    if result.status == "pass":
        return dataclasses.replace(result, message=f"passes although listed in KNOWN_FAILURES ({reason[:60]}...)")
    if key in DEFECT_EVIDENCE:
        kind, detail = DEFECT_EVIDENCE[key]
        found = defect_evidence(model_path, kind, detail)
        if found is None:
            return dataclasses.replace(result, status="fail",
                                       message=f"the documented defect ({kind} `{detail}`) is not in the file")
        reason = f"{reason} ({found})"
    return dataclasses.replace(result, status="known", message=reason)


def tolerance(model_path: str | Path) -> tuple[float, float]:
    """The (atol, rtol) a model file is compared with: its entry in ``TOLERANCES`` or the defaults."""
    posix = Path(model_path).as_posix()
    for key, (atol, rtol, _) in TOLERANCES.items():
        if posix.endswith(key):
            return atol, rtol
    return ATOL, RTOL


def run_folder(root: str | Path, *, cross_check: bool = False) -> list[CaseResult]:
    """Run every model with a canonical output under `root` (and with PySD too: `cross_check`)."""
    return [run_case(m, c, root, cross_check=cross_check) for m, c in find_cases(root)]


def format_table(results: Sequence[CaseResult], *, width: int = 60, failures_only: bool = False) -> str:
    """A plain-text table: model, format, status, max scaled error, and why for non-passes;
    documented file defects (status ``"known"``) are listed apart, after the table.

    With `failures_only`, only the models that fail or raise an error are listed (``all pass``
    when there are none), then the counts.
    """
    cross = any(r.cross_check for r in results)

    def row(r: CaseResult) -> str:
        err = "-" if np.isnan(r.max_error) else f"{r.max_error:10.3g}"
        note = (r.message.splitlines()[0] if r.message else "")[:110]
        other = f" {r.cross_check:<18}" if cross else ""
        return f"{r.model:<{width}} {r.format:<6} {r.status:<8} {err:>10}{other}  {note}"

    header = f"{'model':<{width}} {'format':<6} {'status':<8} {'max error':>10}" + (
        f" {'other engine':<18}" if cross else "") + "  note"
    known = [r for r in results if r.status == "known"]
    if failures_only:
        shown = [r for r in results if r.status in ("fail", "error")]
        lines = [header, *map(row, shown)] if shown else ["all pass"]
    else:
        lines = [header, *(row(r) for r in results if r.status != "known")]
        if known:
            lines += ["", f"Documented file defects (KNOWN_FAILURES), not counted as failures ({len(known)}):"]
            lines += [f"  {r.model}: {r.message.splitlines()[0] if r.message else ''}" for r in known]
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "refused", "error", "known")}
    lines.append("")
    lines.append(f"{len(results)} models: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    lines.append("max error is the worst |a - e| / (1e-5 + 1e-5 |e|) over canonical columns and times (or the "
                 "model's documented tolerance); <= 1 passes. known: a documented defect of the file itself, "
                 "found in it.")
    return "\n".join(lines)


# -- command line -------------------------------------------------------------------------------
