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
                    "print model, format, pass/fail/refused and the largest scaled error. Files whose own "
                    "defects are documented (KNOWN_FAILURES, each checked in the file) are listed apart and "
                    "do not fail the run.",
    )
    parser.add_argument("directory", nargs="?", default="../shared/test-models",
                        help="folder of models (default: ../shared/test-models)")
    parser.add_argument("--failures-only", action="store_true",
                        help="list only models that fail or raise an error (\"all pass\" when none do)")
    parser.add_argument("--cross-check", action="store_true",
                        help="also run each file with PySD's runtime and compare it with the same canonical output")
    parser.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    from .conformance import format_table, run_folder

    root = Path(args.directory)
    if not root.is_dir():
        print(f"sdflow conformance: no folder `{root}`; give the folder of test models.")
        return 2
    results = run_folder(root, cross_check=args.cross_check)
    if not results:
        print(f"sdflow conformance: no model with a canonical output (output.tab/output.csv) under `{root}`.")
        return 2
    print(format_table(results, width=max([20] + [len(r.model) for r in results]), failures_only=args.failures_only))
    return 0 if all(r.status in ("pass", "refused", "known") for r in results) else 1
