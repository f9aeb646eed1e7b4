"""``sdflow loops MODEL [--dominance] [--search] [--html out.html]``: list a model's feedback loops.

Registered through the ``sdflow.commands`` entry point group.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine loads when the command runs, not when `sdflow` registers it
    from ..graph import InternalMode

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``loops`` subcommand to the ``sdflow`` argument parser."""
    parser = subparsers.add_parser(
        "loops", help="list a model's feedback loops and, optionally, their dominance over a run",
        description="List the feedback loops of a model (id, polarity, name, variables), shortest first. With "
                    "--dominance, run the model and show which loops dominate when (Loops that Matter).",
    )
    parser.add_argument("model", help="a library model name or a model file")
    parser.add_argument("--dominance", action="store_true", help="run the model and report the dominance phases")
    parser.add_argument("--html", metavar="FILE", help="write an interactive HTML view of the loops")
    parser.add_argument("--max-length", type=int, default=None, metavar="N",
                        help="list only loops of at most N links (a named loop longer than that is left out)")
    parser.add_argument("--cap", type=int, default=None, metavar="N",
                        help="count at most N loops (default 100000); a model with more lists its shortest "
                             "independent loop set instead")
    parser.add_argument("--expand", action="store_true", help="show the internal loops of SMOOTH and DELAY")
    parser.add_argument("--search", action="store_true",
                        help="find the loops that matter along a run with the strongest-path search instead of "
                             "listing every loop (for models with too many loops)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import sd_engine as sd

    from .analysis import dominance_phases, loop_dominance, model_loops
    from .structure import DEFAULT_CAP
    from .views import loops_html

    model = sd.load(args.model)
    internal: InternalMode = "expand" if args.expand else "collapse"
    # Progress bars show on a terminal only, and not under `sdflow --quiet` (sd_engine.progress).
    ds = model.run(progress=True) if args.dominance or args.search else None
    loops = model_loops(model, ds, max_length=args.max_length, cap=args.cap or DEFAULT_CAP, internal=internal,
                        method="search" if args.search else "enumerate", progress=True)
    print(f"{model.spec.name}: {len(loops)} feedback loop(s), cycle rank {loops.cycle_rank}")
    print(loops.table())
    rls = None
    if args.dominance and len(loops):
        rls = loop_dominance(model, ds, loops=loops, progress=True)
        print("\nDominance phases (loops explaining at least half the change):")
        for phase in dominance_phases(rls):
            labels = ", ".join(loops[i].label for i in phase.loops)
            print(f"  {phase.start:g} - {phase.end:g}: {labels}")
    if args.html:
        path = Path(args.html)
        path.write_text("<!doctype html><meta charset='utf-8'>" + loops_html(model.graph(internal=internal), loops, rls),
                        encoding="utf-8")
        print(f"wrote {path}")
    return 0
