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
                    "print model, format, pass/fail/refused and the largest scaled error. Exits 1 when a model "
                    "fails that is not a documented defect of its file (KNOWN_FAILURES), else 0.",
    )
    parser.add_argument("directory", nargs="?", default="../shared/test-models", metavar="DIR",
                        help="folder of models (default: ../shared/test-models)")
    parser.add_argument("--failures-only", action="store_true", help="list only models that do not pass")
    parser.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    from .conformance import KNOWN_FAILURES, format_table, run_folder

    root = Path(args.directory)
    if not root.is_dir():
        print(f"sdflow conformance: no folder `{root}`; give the folder of test models.")
        return 2
    results = run_folder(root)
    if not results:
        print(f"sdflow conformance: no model with a canonical output (output.tab/output.csv) under `{root}`.")
        return 2
    # A model whose file has a documented defect (KNOWN_FAILURES, keyed relative to the test-models
    # root; DIR may be a folder inside it) is expected not to pass: it is listed, not an error.
    known = {r.model: reason for r in results for key, reason in KNOWN_FAILURES.items()
             if r.status != "pass" and (key == r.model or key.endswith("/" + r.model))}
    unexpected = [r for r in results if r.status not in ("pass", "refused") and r.model not in known]
    shown = [r for r in results if r.status != "pass"] if args.failures_only else results
    if shown:
        print(format_table(shown, width=max([20] + [len(r.model) for r in shown])))
    else:
        print(f"{len(results)} model{'' if len(results) == 1 else 's'}: every one passes.")
    if known or unexpected:
        print(f"\nKnown defects of the files (KNOWN_FAILURES in sd_engine/io/conformance.py): {len(known)}; "
              f"unexpected failures or errors: {len(unexpected)}.")
    for model, reason in known.items():
        print(f"  known: {model}: {reason}")
    return 1 if unexpected else 0
