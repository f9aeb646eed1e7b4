"""``sdflow app MODEL``: the model app on a local port, for a library model, a model file or a lab profile.

Examples
--------
.. code-block:: console

    $ sdflow app whole_system_flow
    $ sdflow app ../shared/test-models/samples/teacup/teacup.mdl --port 5007
    $ sdflow app my_model.mdl --profile my_lab.toml --scenario-dir my_scenarios

The app listens on 127.0.0.1 only (this machine); open the printed address in a browser.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import SpecError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``app`` subcommand to the ``sdflow`` argument parser (Panel loads only when it runs)."""
    p = subparsers.add_parser(
        "app", help="explore a model in the browser: sliders, scenarios, live runs and feedback loops",
        description="Serve an interactive app for MODEL on http://127.0.0.1:PORT/: sliders for its levers and "
                    "uncertain parameters, a scenario picker and 'save as scenario', live plots of a run and a "
                    "100-run ensemble against the baseline, the outcome scorecard and the dominant feedback loops.")
    p.add_argument("model", metavar="MODEL",
                   help="a library model (e.g. whole_system_flow), a Vensim/XMILE model file, or a lab profile file "
                        "(.toml/.json) naming its model")
    p.add_argument("--profile", metavar="FILE", default=None,
                   help="a lab profile (outcome metrics, uncertain parameters) for a model that has none")
    p.add_argument("--port", type=int, default=5006, help="local port (default 5006)")
    p.add_argument("--scenario-dir", type=Path, default=Path("scenarios"), metavar="DIR",
                   help="where 'save as scenario' writes TOML files (default ./scenarios)")
    p.add_argument("--runs", type=int, default=100, metavar="N", help="runs in the ensemble fan (default 100)")
    p.add_argument("--show", action="store_true", help="open the page in the default browser")
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise SpecError(f"`--port` must be between 1 and 65535, not {args.port}.")
    if args.runs < 2:
        raise SpecError(f"`--runs` must be at least 2, not {args.runs}.")
    from .ui import serve

    def ready(wb: Any) -> None:
        print(f"sdflow app: `{wb.model_name}` with {len(wb.controls)} sliders at http://127.0.0.1:{args.port}/ "
              "(Ctrl-C to stop)", file=sys.stderr, flush=True)

    serve(args.model, port=args.port, profile=args.profile, show=args.show, scenario_dir=args.scenario_dir,
          n_runs=args.runs, ready=ready)
    return 0
