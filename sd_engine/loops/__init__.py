"""Feedback loops: enumeration, polarity, Loops-that-Matter dominance, and views.

>>> import sd_engine as sd
>>> model = sd.load("teacup")
>>> [loop.id for loop in model.loops()]
['B1']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from .analysis import (
        DOMINANCE_THRESHOLD,
        DominancePhase,
        dominance_phases,
        dominance_probability,
        dominant,
        loop_dominance,
        model_graph,
        model_loops,
    )
    from .discovery import discover_loops, strongest_path_loops
    from .scores import (
        Trajectories,
        link_score_array,
        link_scores,
        loop_scores,
        numeric_polarities,
        relative_loop_scores,
        settle_along_run,
        trajectories,
    )
    from .structure import (
        DEFAULT_CAP,
        Loop,
        LoopSet,
        TooManyLoopsWarning,
        complete_digraph_cycle_count,
        cycle_partitions,
        cycle_rank,
        find_loops,
        independent_loops,
        library_loop_names,
        shortest_independent_loops,
    )

__all__ = [
    "Loop",
    "LoopSet",
    "TooManyLoopsWarning",
    "DEFAULT_CAP",
    "DOMINANCE_THRESHOLD",
    "DominancePhase",
    "Trajectories",
    "find_loops",
    "cycle_rank",
    "cycle_partitions",
    "shortest_independent_loops",
    "independent_loops",
    "complete_digraph_cycle_count",
    "model_graph",
    "model_loops",
    "settle_along_run",
    "discover_loops",
    "strongest_path_loops",
    "library_loop_names",
    "trajectories",
    "link_scores",
    "loop_scores",
    "relative_loop_scores",
    "numeric_polarities",
    "link_score_array",
    "loop_dominance",
    "dominant",
    "dominance_probability",
    "dominance_phases",
]

# Submodules load on first use (lazy_loader, SPEC 1): the `sdflow` command registers its
# subcommands without importing what they run.
__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs={
    "analysis": ["DOMINANCE_THRESHOLD", "DominancePhase", "dominance_phases", "dominance_probability", "dominant",
                 "loop_dominance", "model_graph", "model_loops"],
    "discovery": ["discover_loops", "strongest_path_loops"],
    "scores": ["Trajectories", "link_score_array", "link_scores", "loop_scores", "numeric_polarities",
               "relative_loop_scores", "settle_along_run", "trajectories"],
    "structure": ["DEFAULT_CAP", "Loop", "LoopSet", "TooManyLoopsWarning", "complete_digraph_cycle_count",
                  "cycle_partitions", "cycle_rank", "find_loops", "independent_loops", "library_loop_names",
                  "shortest_independent_loops"],
})
