"""``sdflow calibrate``: fit a model to data from the command line.

Registered through the ``sdflow.commands`` entry point (sd_engine never imports this
package)::

    sdflow calibrate flu --data flu.csv --observe Infected=in_bed \\
        --param beta=0.1:5 --param gamma=0.05:2 --likelihood negbin --out fit.nc

MODEL is a library model name, one of calibration's examples (``flu``, ``dtoc``, ``ae``)
or a Python file whose ``build()`` returns a builder ``Model``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sd_engine.errors import SDError

from .errors import CalibrationError

__all__ = ["register", "run", "parse_param", "parse_observe", "load_model"]

_EXAMPLES = {"flu": "calibration.examples.flu", "dtoc": "calibration.examples.dtoc", "ae": "calibration.examples.ae"}


def register(subparsers: Any) -> None:
    """Add the ``calibrate`` subcommand to the ``sdflow`` parser."""
    p = subparsers.add_parser(
        "calibrate", help="fit model parameters to data (maximum likelihood or posterior)",
        description="Fit model parameters to historical data by maximum likelihood, or sample their posterior.",
    )
    p.add_argument("model", help="library model name, calibration example (flu, dtoc, ae) or a .py file with build()")
    p.add_argument("--data", required=True, help="CSV file: a time column (first, or --time) and data columns")
    p.add_argument("--observe", action="append", required=True, metavar="VAR=COLUMN[:AGGREGATE]",
                   help="compare model variable VAR with data column COLUMN (aggregate: point, total or mean)")
    p.add_argument("--param", action="append", required=True, metavar="NAME=LO:HI[:START]",
                   help="a free parameter with its bounds, or NAME=VALUE to fix it")
    p.add_argument("--likelihood", default="normal", help="normal, lognormal, poisson, negbin or wsse")
    p.add_argument("--time", help="the data's time column (default: the first column)")
    p.add_argument("--origin", help="the date at the model's initial time, when the data are dated")
    p.add_argument("--window", metavar="FIRST:LAST", help="calibrate on rows labelled in this range")
    p.add_argument("--exclude", action="append", default=[], metavar="FIRST:LAST",
                   help="leave rows labelled in this range out of the fit (repeatable)")
    p.add_argument("--score", metavar="FIRST:LAST",
                   help="print fit statistics for the rows labelled in this range (an out-of-sample score)")
    p.add_argument("--method", default="multistart", choices=["multistart", "de", "least_squares"])
    p.add_argument("--ci", default="curvature", choices=["curvature", "profile", "none"])
    p.add_argument("--derived", action="append", default=[], metavar="NAME=EXPR",
                   help="a derived quantity, e.g. R0=beta/gamma")
    p.add_argument("--posterior", action="store_true", help="also sample the posterior with emcee")
    p.add_argument("--prior", action="append", default=[], metavar="NAME=DIST:ARGS",
                   help="prior for --posterior, e.g. beta=normal:2:1, phi_inv=exponential:5 (rate), "
                        "gamma=uniform:0:2 (default: uniform over the bounds)")
    p.add_argument("--draws", type=int, default=4000, help="posterior draws kept (default 4000)")
    p.add_argument("--walkers", type=int, default=32)
    p.add_argument("--tune", type=int, default=500, help="steps discarded at the start (default 500)")
    p.add_argument("--checkpoint", help="HDF5 file to checkpoint the sampler to (an existing one is resumed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the fit (or the posterior) to this netCDF file")
    p.add_argument("--plot", help="save the fit plot to this image file")
    p.set_defaults(handler=run)


def _split(text: str, what: str) -> tuple[str, str]:
    if "=" not in text:
        raise CalibrationError(f"`{text}` is not {what}; write it as NAME=VALUE.")
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
        raise CalibrationError(f"`--param {text}`: the bounds must be numbers, as in beta=0.1:5.") from None
    if len(nums) == 1:
        return name, nums[0]
    if len(nums) in (2, 3):
        return name, tuple(nums)
    raise CalibrationError(f"`--param {text}`: give NAME=LO:HI, NAME=LO:HI:START or NAME=VALUE.")


def parse_observe(text: str) -> tuple[str, Any]:
    """``VAR=COLUMN[:AGGREGATE]`` -> (variable, Observe)."""
    from .observations import Observe

    var, value = _split(text, "an observation")
    column, _, aggregate = value.partition(":")
    return var, Observe(column, aggregate=aggregate or None)  # type: ignore[arg-type]


def parse_prior(text: str) -> tuple[str, Any]:
    """``NAME=normal:MU:SD``, ``exponential:RATE``, ``uniform:LO:HI``, ``lognormal:MU:SD``,
    ``halfnormal:SD``, ``gamma:SHAPE:RATE`` -> a frozen scipy.stats distribution."""
    from scipy import stats

    name, value = _split(text, "a prior")
    dist, *args_s = value.split(":")
    try:
        args = [float(a) for a in args_s]
    except ValueError:
        raise CalibrationError(f"`--prior {text}`: the arguments must be numbers.") from None
    makers = {
        "normal": (2, lambda a: stats.norm(a[0], a[1])),
        "exponential": (1, lambda a: stats.expon(scale=1 / a[0])),
        "uniform": (2, lambda a: stats.uniform(a[0], a[1] - a[0])),
        "lognormal": (2, lambda a: stats.lognorm(s=a[1], scale=float(__import__("math").exp(a[0])))),
        "halfnormal": (1, lambda a: stats.halfnorm(scale=a[0])),
        "gamma": (2, lambda a: stats.gamma(a[0], scale=1 / a[1])),
    }
    if dist.lower() not in makers or len(args) != makers[dist.lower()][0]:
        raise CalibrationError(f"`--prior {text}`: use normal:MU:SD, exponential:RATE, uniform:LO:HI, "
                               "lognormal:MU:SD, halfnormal:SD or gamma:SHAPE:RATE.")
    return name, makers[dist.lower()][1](args)


def _range(text: str) -> tuple[Any, Any]:
    first, sep, last = text.partition(":") if text.count(":") == 1 else text.partition("..")
    if not sep:
        raise CalibrationError(f"`{text}` is not a range; write FIRST:LAST (dates or numbers).")

    def conv(v: str) -> Any:
        v = v.strip()
        if not v:
            return None
        try:
            return float(v)
        except ValueError:
            return v

    return conv(first), conv(last)


def load_model(name: str) -> Any:
    """A builder or compiled model from a library name, an example name or a ``.py`` file."""
    import importlib

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
    if name.lower() in _EXAMPLES:
        return importlib.import_module(_EXAMPLES[name.lower()]).build()  # type: ignore[attr-defined]
    return sd.load(name)


def run(args: argparse.Namespace) -> int:
    """Handle ``sdflow calibrate``; returns the exit status."""
    import warnings

    from .fit import fit

    try:
        model = load_model(args.model)
        params = dict(parse_param(p) for p in args.param)
        observe = dict(parse_observe(o) for o in args.observe)
        derived = dict(_split(d, "a derived quantity") for d in args.derived)
        options: dict[str, Any] = {
            "time": args.time, "origin": args.origin,
            "window": _range(args.window) if args.window else None,
            "exclude": [_range(e) for e in args.exclude],
        }
        print(f"fitting {len(params)} parameter(s) of `{args.model}` to {args.data} ...", file=sys.stderr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # listed in the report instead
            result = fit(model, args.data, params, observe, args.likelihood, method=args.method, ci=args.ci,
                         derived=derived, seed=args.seed, **options)
        print(result.report())
        if args.score:
            print()
            print(f"Score on {args.score}")
            print(result.score(_range(args.score)).to_string(float_format=lambda v: f"{v:.4g}"))
        if args.plot:
            result.plot().savefig(args.plot, dpi=120, bbox_inches="tight")
            print(f"wrote {args.plot}", file=sys.stderr)
        if args.posterior:
            from .posterior import sample

            priors: dict[str, Any] = dict(params)
            for name, dist in (parse_prior(p) for p in args.prior):
                bounds = params.get(name)
                # a prior on a bounded parameter is truncated to its bounds
                priors[name] = (bounds[0], bounds[1], dist) if isinstance(bounds, tuple) else dist
            idata = sample(model, args.data, priors=priors, observe=observe, likelihood=args.likelihood,
                           draws=args.draws, walkers=args.walkers, tune=args.tune, checkpoint=args.checkpoint, seed=args.seed,
                           derived=derived, start=result, progress=True, **options)
            from .posterior import _arviz

            az = _arviz()

            print()
            print(az.summary(idata, kind="all", round_to=4).to_string())
            if args.out:
                idata.to_netcdf(args.out)
                print(f"wrote {args.out}", file=sys.stderr)
        elif args.out:
            result.to_dataset().to_netcdf(args.out, engine="h5netcdf")
            print(f"wrote {args.out}", file=sys.stderr)
    except (SDError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sdflow calibrate`` on its own (as the sdflow command does)."""
    parser = argparse.ArgumentParser(prog="sdflow")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.handler(args))
