"""``sdflow conformance [DIR]``: run model files against their canonical outputs.

Registered through the ``sdflow.commands`` entry point group; the engine and the corpus runner
(:mod:`sd_engine.io.conformance`) load only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sdflow conformance [DIR]`` to the command line."""
    parser = subparsers.add_parser(
        "conformance",
        help="run Vensim/XMILE models against their canonical outputs",
        description="Run every model file with a canonical output (output.tab or output.csv) in DIR and "
                    "print model, format, pass/fail/refused and the largest scaled error.",
    )
    parser.add_argument("directory", nargs="?", default="../shared/test-models", metavar="DIR",
                        help="folder of models (default: ../shared/test-models)")
    parser.add_argument("--failures-only", action="store_true", help="list only models that do not pass")
    parser.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    from .conformance import format_table, run_folder

    root = Path(args.directory)
    if not root.is_dir():
        print(f"sdflow conformance: no folder `{root}`; give the folder of test models.")
        return 2
    results = run_folder(root)
    if not results:
        print(f"sdflow conformance: no model with a canonical output (output.tab/output.csv) under `{root}`.")
        return 2
    shown = [r for r in results if r.status != "pass"] if args.failures_only else results
    print(format_table(shown, width=max([20] + [len(r.model) for r in shown])))
    return 0 if all(r.status in ("pass", "refused") for r in results) else 1
