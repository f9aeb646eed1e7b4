"""The ``sdflow`` command line: run a model, list the model library.

Examples
--------
.. code-block:: console

    $ sdflow models
    $ sdflow run teacup --set "Characteristic Time=12" --out teacup.nc
    $ sdflow run sir --set "Contact Infectivity=0.2,0.3,0.4" --method rk4 --out sir.csv

``--set NAME=VALUE`` may repeat. A comma-separated VALUE (``0.2,0.3,0.4``) makes an
ensemble, one run per value; several lists must have the same length. The summary
printed to stdout gives each stock's final value, or for an ensemble its mean and
5-95 % range over the runs. Progress goes to stderr. Errors the user can fix
(unknown model or parameter, bad values) are reported as ``sdflow: error: ...`` with
exit status 2 and no traceback. A run that finishes with values that are not finite (NaN,
infinite, or beyond ``sd_engine.integrate.OVERFLOW``), or an ensemble with such runs or
failed runs, exits with status 3 after printing the summary and writing ``--out``, unless
``--allow-nonfinite`` is given (then a single run that fails is marked, not an error).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import shtab

from .errors import SDError, SpecError
from .progress import QUIET_VARIABLE

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

# numpy, xarray and the engine load inside the commands that use them: `sdflow --help` and
# `sdflow --version` answer without them.

__all__ = ["main", "parse_assignment", "parse_file_map"]

_PROG = "sdflow"
#: Kept in step with ``sd_engine.integrate.METHODS`` (checked in the tests); spelled out here
#: so ``sdflow --help`` does not import the engine.
_METHODS = ("euler", "rk2", "rk4", "rk45", "dop853")
#: File types ``sd_engine.save_results`` writes (``sd_engine.results.SAVE_SUFFIXES``, checked in the tests).
_OUT_SUFFIXES = (".nc", ".nc4", ".netcdf", ".csv", ".tab", ".xlsx")


def parse_file_map(text: str) -> tuple[str, Path]:
    """Parse one ``--file`` argument: ``NAME=PATH``, a spreadsheet a model file calls NAME.

    Examples
    --------
    >>> parse_file_map("data.xls = inputs/data.xlsx")
    ('data.xls', PosixPath('inputs/data.xlsx'))
    """
    name, sep, path = text.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        raise SpecError(f"`--file {text}` is not of the form NAME=PATH; for example `--file data.xls=my_data.xlsx`.")
    return name, Path(path)


def parse_assignment(text: str) -> tuple[str, float | np.ndarray]:
    """Parse one ``--set`` argument: ``NAME=VALUE`` or ``NAME=V1,V2,...`` (an ensemble).

    Examples
    --------
    >>> parse_assignment("Characteristic Time=12")
    ('Characteristic Time', 12.0)
    >>> name, values = parse_assignment("beta = 0.1, 0.2")
    >>> name, values.tolist()
    ('beta', [0.1, 0.2])
    """
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise SpecError(
            f"`--set {text}` is not of the form NAME=VALUE; for example "
            "`--set \"Characteristic Time=12\"` or `--set \"Characteristic Time=5,10,15\"` for an ensemble."
        )
    import numpy as np

    items = [item.strip() for item in value.split(",")]
    numbers = []
    for item in items:
        try:
            numbers.append(float(item))
        except ValueError:
            raise SpecError(
                f"`--set {text}`: `{item}` is not a number; give a number or comma-separated numbers."
            ) from None
    if "," in value:
        return name, np.asarray(numbers)
    return name, numbers[0]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Run system-dynamics models with sdflow.",
    )
    parser.add_argument("-V", "--version", action="store_true", help="print the sdflow version and exit")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars (they show only on a terminal anyway)")
    # Shell completion scripts from the parser itself, every plugin command included:
    # `sdflow --print-completion bash > ~/.local/share/bash-completion/completions/sdflow`.
    shtab.add_argument_to(parser, ["--print-completion"], help="print a completion script for this shell")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="simulate a model and summarise its stocks",
        description="Simulate MODEL (a library name such as `teacup`, or a model file) and print the final "
                    "value of each stock (of each flow and auxiliary for a model without stocks) -- or, for an "
                    "ensemble, the mean and 5-95% range over the runs.",
    )
    run.add_argument("model", metavar="MODEL", help="library model name (see `sdflow models`) or model file")
    run.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                     help="override a constant; repeatable. A comma-separated list of numbers "
                          "(e.g. 5,10,15) makes an ensemble with one run per value")
    run.add_argument("--initial-time", type=float, metavar="T", help="start time (model's own by default)")
    run.add_argument("--final-time", type=float, metavar="T", help="final time (model's own by default)")
    run.add_argument("--dt", type=float, metavar="DT", help="time step")
    run.add_argument("--saveper", type=float, metavar="S", help="save interval (off the dt grid: the first step at or after each multiple)")
    run.add_argument("--method", choices=_METHODS, help="integration method (model's own by default)")
    run.add_argument("--seed", type=int, metavar="N", help="seed of random functions; run i uses N + i")
    run.add_argument("--out", type=Path, metavar="FILE",
                     help="write results to FILE: .nc (netCDF, everything), .csv or .xlsx (a table: one row per "
                          "time, or per run and time with the run's varied parameters and run_status), or .tab "
                          "(Vensim's layout, one row per variable; single runs)")
    run.add_argument("--data-file", dest="data_files", action="append", default=[], type=Path, metavar="FILE",
                     help="a .tab/.csv table with the series of a model file's data variables (repeatable)")
    run.add_argument("--file", dest="file_maps", action="append", default=[], metavar="NAME=PATH",
                     help="read the spreadsheet a model file's GET XLS/DIRECT functions call NAME from PATH "
                          "(repeatable)")
    run.add_argument("--data-root", type=Path, metavar="DIR",
                     help="let file names written in the model file reach data files anywhere under DIR "
                          "(by default only under the model file's own folder)")
    run.add_argument("--no-progress", action="store_true", help="do not show a progress bar on stderr")
    run.add_argument("--allow-nonfinite", action="store_true",
                     help="exit with status 0 even when runs fail or finish with NaN, infinite or overflowing "
                          "values (they are marked in the results' status)")

    commands.add_parser("models", help="list the library models", description="List the library models.")
    describe = commands.add_parser(
        "describe", help="print a model's parameters and variables with units, values, ranges and documentation",
        description="Print the documentation table of MODEL (the same as `model.doc` in Python): every "
                    "variable, constants first, with kind, units, dimensions, equation, default value, the range "
                    "the policy lab varies it over, where it is defined and its documentation.")
    describe.add_argument("model", metavar="MODEL", help="library model name or model file")
    describe.add_argument("--kind", action="append", choices=("constant", "lookup", "stock", "flow", "aux"),
                          help="show only variables of this kind (repeatable); e.g. --kind constant for the "
                               "parameters --set can change")
    describe.add_argument("--width", type=int, default=60, metavar="N", help="cut cells at N characters (default 60)")
    for register in _plugins():
        register(commands)
    return parser


def _plugins() -> list[Callable[[Any], None]]:
    """Subcommands other packages add through the ``sdflow.commands`` entry point group.

    Each entry point names a ``register(subparsers)`` function that adds its subparser and
    sets ``handler=`` (a function of ``args`` returning the exit status) as its default.
    This is how ``calibration`` adds ``sdflow calibrate`` without sd_engine importing it.
    """
    from importlib.metadata import entry_points

    registrars = []
    for ep in sorted(entry_points(group="sdflow.commands"), key=lambda ep: ep.name):
        try:
            registrars.append(ep.load())
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not take down `sdflow run`
            print(f"{_PROG}: warning: command `{ep.name}` is unavailable ({type(exc).__name__}: {exc}).",
                  file=sys.stderr)
    return registrars


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sdflow`` command line with `argv` (``sys.argv[1:]`` by default); return the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and the message (or --help)
        return exc.code if isinstance(exc.code, int) else 2
    if args.quiet:
        os.environ[QUIET_VARIABLE] = "1"  # read by every progress bar (sd_engine.progress)
    if args.version:
        from ._version import __version__

        print(f"{_PROG} {__version__}")
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.command == "models":
            return _list_models(sys.stdout)
        if args.command == "describe":
            return _describe(args, sys.stdout)
        if args.command == "run":
            return _run(args, sys.stdout)
        return int(args.handler(args))
    except (SDError, OSError) as exc:
        # FileNotFoundError and the like are the user's to fix, as are SDErrors: no traceback.
        print(f"{_PROG}: error: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, SDError) and exc.strerror and exc.filename:
        return f"{exc.strerror}: `{exc.filename}`."
    return str(exc)


def _list_models(stream: TextIO) -> int:
    from .library import available, describe

    names = available()
    width = max((len(n) for n in names), default=0)
    for name in names:
        stream.write(f"{name:<{width}}  {describe(name)}\n")
    return 0


def _describe(args: argparse.Namespace, stream: TextIO) -> int:
    from . import load
    from .describe import describe_model, format_doc, summary_line

    model = load(args.model)
    stream.write(summary_line(model) + "\n")
    stream.write(format_doc(describe_model(model, tuple(args.kind) if args.kind else None), width=args.width))
    return 0


def _run(args: argparse.Namespace, stream: TextIO) -> int:
    # Parse --set before loading, so a typo is reported without waiting for a compile.
    from .expr import canonical

    params: dict[str, float | np.ndarray] = {}
    seen: dict[str, str] = {}
    for text in args.assignments:
        name, value = parse_assignment(text)
        if canonical(name) in seen:
            raise SpecError(f"`{name}` is set twice with --set (also as `{seen[canonical(name)]}`); give it once "
                            "(a comma-separated list makes an ensemble).")
        seen[canonical(name)] = name
        params[name] = value
    if args.out is not None and args.out.suffix.lower() not in _OUT_SUFFIXES:
        # Checked before the run (sd_engine.save_results checks too) so a long run is not wasted.
        raise SpecError(f"Cannot save results as `{args.out.name}`; use a `.nc`, `.csv`, `.xlsx` or `.tab` "
                        "file name.")
    if args.out is not None and args.out.suffix.lower() == ".tab" and any(not isinstance(v, float) for v in params.values()):
        raise SpecError(f"`{args.out.name}`: a `.tab` file holds one run (Vensim's layout, one row per variable); "
                        "save an ensemble as `.csv`, `.xlsx` or `.nc`.")

    from . import load, save_results
    from .io.model_file import MODEL_SUFFIXES

    # Paths on the command line are relative to the working directory, not to the model file.
    files = {name: path.resolve() for name, path in map(parse_file_map, args.file_maps)}
    data_files = [path.resolve() for path in args.data_files]
    data_root = args.data_root.resolve() if args.data_root is not None else None
    is_file = Path(args.model).suffix.lower() in MODEL_SUFFIXES
    if (data_files or files) and not is_file:
        raise SpecError("`--data-file` and `--file` apply to Vensim and XMILE model files; "
                        f"`{args.model}` is not one.")
    if data_root is not None and not is_file:
        raise SpecError(f"`--data-root` applies to Vensim and XMILE model files; `{args.model}` is not one.")
    model = load(args.model, data_files=data_files or None, files=files or None, data_root=data_root)
    from .guards import NonFiniteWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)  # reported below, with the exit status
        ds = model.run(
            params=params,
            initial_time=args.initial_time,
            final_time=args.final_time,
            dt=args.dt,
            saveper=args.saveper,
            method=args.method,
            seed=args.seed,
            progress=not args.no_progress,
            errors="mark" if args.allow_nonfinite else None,
        )
    stream.write(summarise(ds))
    if args.out is not None:
        path = save_results(ds, args.out)
        print(f"{_PROG}: wrote {path}", file=sys.stderr)
    labels = [str(v) for v in ds["run_status"].values] if "run_status" in ds.coords else [ds.attrs.get("status", "ok")]
    bad = [i for i, label in enumerate(labels) if label != "ok"]
    if bad and not args.allow_nonfinite:
        which = "The run is" if len(labels) == 1 else f"{len(bad)} of {len(labels)} runs are not ok; run {bad[0]} is"
        print(f"{_PROG}: error: {which} {labels[bad[0]]}. Check the model's equations or reduce `--dt`, or pass "
              "--allow-nonfinite to accept such results.", file=sys.stderr)
        return 3
    return 0


# ---------------------------------------------------------------------------------------------
def summarise(ds: xr.Dataset) -> str:
    """A plain-text table of the stocks' final values (ensembles: mean and 5-95 % range).

    A model without stocks (data variables, auxiliaries of time) shows its other variables
    over time instead, so the summary always says what the run computed.
    """
    import numpy as np

    ensemble = "run" in ds.dims
    t_end = float(ds["time"].values[-1]) if ds.sizes.get("time") else math.nan
    time_units = ds["time"].attrs.get("units", "")
    header = f"{ds.attrs.get('model', 'model')}: {ds.attrs.get('method', '')}, dt={ds.attrs.get('dt', '')}"
    if ensemble:
        statuses = ds["run_status"].values if "run_status" in ds.coords else np.array(["ok"] * ds.sizes["run"])
        n_failed = sum(str(s).startswith("failed") for s in statuses)
        n_flagged = int(np.sum(statuses != "ok")) - n_failed
        counts = [f"{n} {what}" for n, what in ((n_failed, "failed"), (n_flagged, "flagged")) if n]
        header += f", {ds.sizes['run']} runs" + (f" ({', '.join(counts)}, excluded below)" if counts else "")
    over_time = [n for n, v in ds.data_vars.items() if "time" in v.dims]
    kinds = ("stock",) if any(ds[n].attrs.get("kind") == "stock" for n in over_time) else ("flow", "aux")
    what = "stocks" if kinds == ("stock",) else "variables (the model has no stocks)"
    lines = [header, f"{what} at time {t_end:g}{' ' + time_units if time_units else ''}:"]

    rows: list[list[str]] = []
    for name, var in ds.data_vars.items():
        if var.attrs.get("kind") not in kinds or "time" not in var.dims:
            continue
        final = var.isel(time=-1)
        if ensemble and "run_status" in ds.coords:
            final = final.where(ds["run_status"] == "ok")
        sub_dims = [str(d) for d in final.dims if d != "run"]
        for label, cell in _cells(str(name), final, sub_dims):
            units = var.attrs.get("units", "")
            if ensemble:
                values = np.asarray(cell.values, dtype=float)
                finite = values[np.isfinite(values)]
                mean = p5 = p95 = math.nan
                if finite.size:
                    mean = float(finite.mean())
                    p5, p95 = (float(v) for v in np.percentile(finite, [5, 95]))
                rows.append([label, _fmt(mean), _fmt(p5), _fmt(p95), units])
            else:
                rows.append([label, _fmt(float(cell.values)), units])
    label = "stock" if kinds == ("stock",) else "variable"
    if ensemble:
        table = [[label, "mean", "p5", "p95", "units"]] + rows
    else:
        table = [[label, "final", "units"]] + rows
    if not rows:
        lines.append("  (the model computes nothing over time)")
        return "\n".join(lines) + "\n"
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    numeric = [False] + [True] * (len(table[0]) - 2) + [False]
    for row in table:
        cells = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _cells(name: str, final: xr.DataArray, sub_dims: list[str]) -> list[tuple[str, xr.DataArray]]:
    if not sub_dims:
        return [(name, final)]
    stacked = final.stack(_element=sub_dims)
    out = []
    for i in range(stacked.sizes["_element"]):
        cell = stacked.isel(_element=i)
        element = ",".join(str(cell[d].values) for d in sub_dims)
        out.append((f"{name}[{element}]", cell))
    return out


def _fmt(value: float) -> str:
    # Eight significant digits: enough to compare with a run, short enough to read.
    return "nan" if math.isnan(value) else f"{value:.8g}"


if __name__ == "__main__":
    raise SystemExit(main())
