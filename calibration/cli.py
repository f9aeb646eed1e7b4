"""``sdflow calibrate``: fit a model to data from the command line.

Registered through the ``sdflow.commands`` entry point (sd_engine never imports this
package)::

    sdflow calibrate flu --data flu.csv --observe Infected=in_bed \\
        --param beta=0.1:5 --param gamma=0.05:2 --likelihood negbin --out fit.nc

    sdflow calibrate whole_system_flow --data local.csv --origin 2018-04-01 --population 1200000 \\
        --observe "ED attendances=attendances_type1:total;likelihood=negbin" \\
        --observe "ED attendances * (1 - four hour performance)=breaches_type1:total;weight=0.5" \\
        --observe "occupancy=occupancy_ga:mean;frequency=quarterly;likelihood=normal" \\
        --param "attendance level=0.8:1.1" --param "median time non admitted=1.2:3.2" --holdout 2018-04-01:2019-03-01

    sdflow calibrate --config local_calibration.toml      # a calibration file (calibration.config)
    sdflow calibrate --template whole_system_flow         # a CSV and a calibration file to fill in

MODEL is a library model name, one of calibration's examples (``flu``, ``dtoc``, ``ae``)
or a Python file whose ``build()`` returns a builder ``Model``.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from sd_engine.errors import SDError, excerpt

from .errors import CalibrationError
from .loading import load_model

__all__ = ["register", "run", "parse_param", "parse_observe", "parse_input", "load_model"]

_OBSERVE_OPTIONS = ("likelihood", "weight", "frequency", "sigma")


def register(subparsers: Any) -> None:
    """Add the ``calibrate`` subcommand to the ``sdflow`` parser."""
    p = subparsers.add_parser(
        "calibrate", help="fit model parameters to data (maximum likelihood or posterior)",
        description="Fit model parameters to historical data by maximum likelihood, or sample their posterior.",
    )
    p.add_argument("model", nargs="?",
                   help="library model name, calibration example (flu, dtoc, ae), Vensim/XMILE model file or a .py "
                        "file with build()")
    p.add_argument("--config", help="a calibration file (.toml or .json) with the model, data, parameters and "
                                    "observations; other options override it")
    p.add_argument("--template", metavar="MODEL",
                   help="write MODEL_data.csv and MODEL_calibration.toml to fill in (into --out, a folder)")
    p.add_argument("--data", help="CSV file: a time column (first, or --time) and data columns")
    p.add_argument("--observe", action="append", default=[],
                   metavar="VAR=COLUMN[:AGGREGATE][;likelihood=L][;weight=W][;frequency=F]",
                   help="compare model variable or expression VAR with data column COLUMN (aggregate: point, "
                        "total or mean); repeatable, each with its own likelihood, weight and frequency")
    p.add_argument("--param", action="append", default=[], metavar="NAME=LO:HI[:START]",
                   help="a free parameter with its bounds, or NAME=VALUE to fix it")
    p.add_argument("--input", action="append", default=[], metavar="NAME=EQUATION|NAME=@FILE.csv:COLUMN",
                   help="an event or time-varying input replacing a constant: an equation of time "
                        "(step(0.1, date('2017-04-01'))) or a column of a CSV file")
    p.add_argument("--likelihood", help="default for the series: normal, lognormal, poisson, negbin or wsse")
    p.add_argument("--time", help="the data's time column (default: the first column)")
    p.add_argument("--origin", help="the date at the model's initial time, when the data are dated")
    p.add_argument("--population", type=float, help="people in the local footprint (the model's population)")
    p.add_argument("--warmup", type=float, help="model time simulated before the initial time and not compared")
    p.add_argument("--window", metavar="FIRST:LAST", help="calibrate on rows labelled in this range")
    p.add_argument("--holdout", metavar="FIRST:LAST",
                   help="rows held out of the fit and scored out of sample (default: the rows after --window)")
    p.add_argument("--exclude", action="append", default=[], metavar="FIRST:LAST",
                   help="leave rows labelled in this range out of the fit (repeatable)")
    p.add_argument("--score", metavar="FIRST:LAST",
                   help="also print fit statistics for the rows labelled in this range")
    p.add_argument("--method", choices=["multistart", "de", "least_squares"],
                   help="optimiser: local fits from several starts (default), differential evolution, or least "
                        "squares")
    p.add_argument("--starts", type=int, help="local optimisations of multistart (default 4)")
    p.add_argument("--ci", choices=["curvature", "profile", "none"],
                   help="confidence intervals from the curvature of the likelihood (default), from profile "
                        "likelihoods (a fit per parameter and point), or none")
    p.add_argument("--derived", action="append", default=[], metavar="NAME=EXPR",
                   help="a derived quantity, e.g. R0=beta/gamma")
    p.add_argument("--posterior", action="store_true", help="also sample the posterior with emcee")
    p.add_argument("--prior", action="append", default=[], metavar="NAME=DIST:ARGS",
                   help="prior for --posterior, e.g. beta=normal:2:1, phi_inv=exponential:5 (rate), "
                        "gamma=uniform:0:2 (default: uniform over the bounds)")
    p.add_argument("--draws", type=int, default=4000,
                   help="posterior draws kept after tuning, over all walkers (default 4000)")
    p.add_argument("--walkers", type=int, default=32, help="emcee walkers of --posterior (default 32)")
    p.add_argument("--tune", type=int, default=500, help="steps discarded at the start (default 500)")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="a .npz file (the suffix is added if missing) the sampler of --posterior saves to every 50 "
                        "steps; an existing checkpoint of the same set-up is resumed, one of another is refused")
    p.add_argument("--seed", type=int, help="seed of the optimiser's starts and of the sampler (default 0)")
    p.add_argument("--out", help="write the fit to this netCDF file (with --posterior, the posterior as arviz "
                                 "InferenceData); with --template, the folder")
    p.add_argument("--plot", help="save the fit plot to this image file")
    p.set_defaults(handler=run)


def _split(text: str, what: str) -> tuple[str, str]:
    if "=" not in text:
        raise CalibrationError(f"`{excerpt(text, 60)}` is not {what}; write it as NAME=VALUE.")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


def parse_param(text: str) -> tuple[str, Any]:
    """``NAME=LO:HI[:START]`` -> bounds; ``NAME=VALUE`` -> a fixed value.

    Examples
    --------
    >>> parse_param("beta=0.1:5")
    ('beta', (0.1, 5.0))
    >>> parse_param("N=763")
    ('N', 763.0)
    """
    name, value = _split(text, "a parameter setting")
    parts = value.split(":")
    try:
        nums = [float(v) if v not in ("", "inf", "+inf", "-inf") else
                (float("-inf") if v == "-inf" or (v == "" and i == 0) else float("inf")) for i, v in enumerate(parts)]
    except ValueError:
        raise CalibrationError(f"`--param {excerpt(text, 60)}`: the bounds must be numbers, as in beta=0.1:5.") \
            from None
    if len(nums) == 1:
        return name, nums[0]
    if len(nums) in (2, 3):
        return name, tuple(nums)
    raise CalibrationError(f"`--param {excerpt(text, 60)}`: give NAME=LO:HI, NAME=LO:HI:START or NAME=VALUE.")


def parse_observe(text: str) -> Any:
    """``VAR=COLUMN[:AGGREGATE][;likelihood=L][;weight=W][;frequency=F][;sigma=S]`` -> an Observe.

    ``VAR`` is a model variable or an expression over variables; the column is what follows
    the last ``=`` before the first ``;``.

    Examples
    --------
    >>> o = parse_observe("ED attendances * (1 - four hour performance)=breaches:total;likelihood=negbin;weight=0.5")
    >>> o.variable, o.column, o.aggregate, o.likelihood, o.weight
    ('ED attendances * (1 - four hour performance)', 'breaches', 'total', 'negbin', 0.5)
    """
    from .observations import Observe

    head, *options = text.split(";")
    _split(head, "an observation")  # VAR=COLUMN, or a plain error
    variable, value = head.rsplit("=", 1)
    column, _, aggregate = value.strip().partition(":")
    settings: dict[str, Any] = {}
    for option in options:
        if not option.strip():
            continue
        key, val = _split(option, "an observation option")
        if key not in _OBSERVE_OPTIONS:
            from sd_engine.errors import did_you_mean

            raise CalibrationError(f"`--observe {excerpt(text, 60)}`: unknown option `{excerpt(key)}`."
                                   + did_you_mean(key, _OBSERVE_OPTIONS) + f" Use {', '.join(_OBSERVE_OPTIONS)}.")
        if key in ("weight", "sigma"):
            try:
                settings[key] = float(val)
            except ValueError:
                raise CalibrationError(f"`--observe {excerpt(text, 60)}`: `{key}` must be a number.") from None
        elif key == "frequency":
            try:
                number = float(val)
                settings[key] = number if math.isfinite(number) else val
            except ValueError:
                settings[key] = val
        else:
            settings[key] = val
    return Observe(column.strip(), aggregate=aggregate.strip() or None, variable=variable.strip(),  # type: ignore[arg-type]
                   **settings)


def parse_input(text: str) -> tuple[str, Any]:
    """``NAME=EQUATION`` or ``NAME=@FILE.csv:COLUMN`` -> (name, equation text or series).

    Examples
    --------
    >>> parse_input("min transfer time=min transfer time * (1 - 0.1 * step(1, 365))")
    ('min transfer time', 'min transfer time * (1 - 0.1 * step(1, 365))')
    """
    from .inputs import read_input

    name, value = _split(text, "an input")
    if value.startswith("@"):
        path, sep, column = value[1:].rpartition(":")
        if not sep or not path:
            raise CalibrationError(f"`--input {excerpt(text, 60)}`: read a file's column as NAME=@FILE.csv:COLUMN.")
        return name, read_input(path, column)
    try:
        return name, float(value)
    except ValueError:
        return name, value


def parse_prior(text: str) -> tuple[str, Any]:
    """``NAME=normal:MU:SD``, ``exponential:RATE``, ``uniform:LO:HI``, ``lognormal:MU:SD``,
    ``halfnormal:SD``, ``gamma:SHAPE:RATE`` -> a frozen scipy.stats distribution."""
    from scipy import stats

    name, value = _split(text, "a prior")
    dist, *args_s = value.split(":")
    try:
        args = [float(a) for a in args_s]
    except ValueError:
        raise CalibrationError(f"`--prior {excerpt(text, 60)}`: the arguments must be numbers.") from None
    makers = {
        "normal": (2, lambda a: stats.norm(a[0], a[1])),
        "exponential": (1, lambda a: stats.expon(scale=1 / a[0])),
        "uniform": (2, lambda a: stats.uniform(a[0], a[1] - a[0])),
        "lognormal": (2, lambda a: stats.lognorm(s=a[1], scale=math.exp(a[0]))),
        "halfnormal": (1, lambda a: stats.halfnorm(scale=a[0])),
        "gamma": (2, lambda a: stats.gamma(a[0], scale=1 / a[1])),
    }
    if dist.lower() not in makers or len(args) != makers[dist.lower()][0]:
        raise CalibrationError(f"`--prior {excerpt(text, 60)}`: use normal:MU:SD, exponential:RATE, uniform:LO:HI, "
                               "lognormal:MU:SD, halfnormal:SD or gamma:SHAPE:RATE.")
    return name, makers[dist.lower()][1](args)


def _range(text: str) -> tuple[Any, Any]:
    first, sep, last = text.partition(":") if text.count(":") == 1 else text.partition("..")
    if not sep:
        raise CalibrationError(f"`{excerpt(text, 60)}` is not a range; write FIRST:LAST (dates or numbers).")

    def conv(v: str) -> Any:
        v = v.strip()
        if not v:
            return None
        try:
            return float(v)
        except ValueError:
            return v

    return conv(first), conv(last)


def _setup(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any], list[Any], dict[str, Any], dict[str, Any],
                                             dict[str, Path]]:
    """Model, data, params, observations, inputs, fit options and outputs from a calibration file
    (if any) and the command line, the command line winning."""
    from .config import load

    params: dict[str, Any] = {}
    observe: list[Any] = []
    inputs: dict[str, Any] = {}
    options: dict[str, Any] = {}
    outputs: dict[str, Path] = {}
    model_name, data = args.model, args.data
    if args.config:
        config = load(args.config)
        model_name = model_name or config.model
        data = data or config.data
        params.update(config.params)
        observe.extend(config.observe)
        inputs.update(config.inputs)
        options.update(config.options)
        outputs.update(config.output)
    if not model_name:
        raise CalibrationError("Name the model to calibrate (a library model, flu, dtoc, ae or a .py file), or give "
                               "--config FILE or --template MODEL.")
    if data is None:
        raise CalibrationError("Give the data with --data FILE.csv (or `data` in the calibration file).")
    params.update(dict(parse_param(p) for p in args.param))
    given = [parse_observe(o) for o in args.observe]
    columns = {o.column for o in given}
    observe = [o for o in observe if o.column not in columns] + given
    if not params or not observe:
        raise CalibrationError("Give at least one --param NAME=LO:HI and one --observe VAR=COLUMN (or a --config "
                               "file that has them).")
    inputs.update(dict(parse_input(i) for i in args.input))
    cli = {"likelihood": args.likelihood, "time": args.time, "origin": args.origin, "population": args.population,
           "warmup": args.warmup, "method": args.method, "starts": args.starts, "ci": args.ci, "seed": args.seed,
           "window": _range(args.window) if args.window else None,
           "holdout": _range(args.holdout) if args.holdout else None}
    options.update({k: v for k, v in cli.items() if v is not None})
    if args.exclude:
        options["exclude"] = [_range(e) for e in args.exclude]
    if args.derived:
        options["derived"] = {**options.get("derived", {}), **dict(_split(d, "a derived quantity")
                                                                  for d in args.derived)}
    for key, value in (("netcdf", args.out), ("plot", args.plot)):
        if value:
            outputs[key] = Path(value)
    return load_model(str(model_name)), data, params, observe, inputs, options, outputs


def run(args: argparse.Namespace) -> int:
    """Handle ``sdflow calibrate``; returns the exit status."""
    from .fit import fit

    try:
        if args.template:
            from .templates import write_template

            for path in write_template(args.template, args.out or "."):
                print(f"wrote {path}", file=sys.stderr)
            return 0
        model, data, params, observe, inputs, options, outputs = _setup(args)
        print(f"fitting {len(params)} parameter(s) to {data} ...", file=sys.stderr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # listed in the report instead
            result = fit(model, data, params, observe, inputs=inputs or None, progress=True, **options)
        report = result.report()
        print(report)
        if args.score:
            print()
            print(f"Score on {args.score}")
            print(result.score(_range(args.score)).to_string(float_format=lambda v: f"{v:.4g}"))
        if "report" in outputs:
            outputs["report"].write_text(report + "\n", encoding="utf-8")
            print(f"wrote {outputs['report']}", file=sys.stderr)
        if "plot" in outputs:
            result.plot().savefig(outputs["plot"], dpi=120, bbox_inches="tight")
            print(f"wrote {outputs['plot']}", file=sys.stderr)
        if args.posterior:
            _posterior(args, model, data, params, observe, inputs, options, outputs, result)
        elif "netcdf" in outputs:
            result.to_dataset().to_netcdf(outputs["netcdf"], engine="h5netcdf")
            print(f"wrote {outputs['netcdf']}", file=sys.stderr)
    except (SDError, FileNotFoundError) as err:
        print(f"sdflow: error: {err}", file=sys.stderr)
        return 2
    return 0


def _posterior(args: argparse.Namespace, model: Any, data: Any, params: dict[str, Any], observe: list[Any],
               inputs: dict[str, Any], options: dict[str, Any], outputs: dict[str, Path], result: Any) -> None:
    from .posterior import sample

    if inputs or options.get("warmup") or options.get("population") is not None:
        raise CalibrationError("--posterior does not take inputs, a warm-up or --population yet; fix those "
                               "constants with --param, or sample without them.")
    priors: dict[str, Any] = dict(params)
    for name, dist in (parse_prior(p) for p in args.prior):
        bounds = params.get(name)
        # a prior on a bounded parameter is truncated to its bounds
        priors[name] = (bounds[0], bounds[1], dist) if isinstance(bounds, tuple) else dist
    keys = ("time", "origin", "period", "label", "window", "exclude", "run_options")
    # sample() reads a list of Observe like fit() (its annotation names the mapping form only)
    idata = sample(model, data, priors=priors, observe=cast(Any, observe), likelihood=options.get("likelihood", "normal"),
                   draws=args.draws, walkers=args.walkers, tune=args.tune, checkpoint=args.checkpoint,
                   seed=options.get("seed", 0), derived=options.get("derived"), start=result, progress=True,
                   **{k: options[k] for k in keys if k in options})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arviz announces its 1.0 refactor on import
        import arviz as az

    az.Numba.disable_numba()  # arviz's numba path fails with numpy 2 (see calibration.posterior._arviz)
    print()
    print(az.summary(idata, kind="all", round_to=4).to_string())
    if "netcdf" in outputs:
        idata.to_netcdf(str(outputs["netcdf"]))
        print(f"wrote {outputs['netcdf']}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sdflow calibrate`` on its own (as the sdflow command does)."""
    parser = argparse.ArgumentParser(prog="sdflow")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.handler(args))

