"""The front door: compile a :class:`~sd_engine.spec.ModelSpec` and hold the result.

:func:`compile_model` compiles a spec (:func:`sd_engine.codegen.compile_program`) and wraps
the :class:`~sd_engine.program.Program` in a :class:`CompiledModel`, the object users hold.
Every method of it is a one-line delegate to the stage that does the work:

========================  ==================================================
``run``                   :func:`sd_engine.integrate.simulate`
``run(backend="pysd")``   :func:`sd_engine.io.pysd_runtime.run_pysd` (a cross-check)
``graph``                 :func:`sd_engine.graph.model_graph`
``loops``                 :func:`sd_engine.loops.analysis.model_loops`
``loop_dominance``        :func:`sd_engine.loops.analysis.loop_dominance`
``with_backend``          :func:`sd_engine.interpret.interpreted`, or a recompile
``doc``, ``repr``         :func:`sd_engine.describe.describe_model`, :func:`~sd_engine.describe.summary_line`
========================  ==================================================

Nothing beneath this module imports it: the back ends read the program.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx
import pandas as pd
import xarray as xr

from .codegen import compile_program
from .describe import describe_model, doc_html, summary_line
from .errors import SpecError, UnsupportedError
from .graph import InternalMode, View, model_graph
from .integrate import simulate
from .interpret import Interpreter, interpreted
from .io.pysd_runtime import run_pysd
from .loops.analysis import loop_dominance, model_loops
from .loops.structure import LoopSet
from .program import Layout, Program
from .spec import ModelSpec, Variable

__all__ = ["CompiledModel", "compile_model"]


def compile_model(spec: ModelSpec) -> CompiledModel:
    """Compile `spec`: lower, lay out, order and generate code (see :mod:`sd_engine.codegen`).

    Examples
    --------
    >>> from sd_engine.builder import Model
    >>> m = Model("decay", final_time=1, dt=0.5)
    >>> _ = m.stock("x", initial=8, outflows=["loss"])
    >>> _ = m.flow("loss", "x / 2")
    >>> compiled = compile_model(m.spec())
    >>> [float(v) for v in compiled.run()["x"]]
    [8.0, 6.0, 4.5]
    """
    return CompiledModel(compile_program(spec))


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """A compiled model: its specification, state layout and generated numpy source.

    Call :meth:`run` to simulate one run or an ensemble. The object is never mutated
    by a run; parameter overrides are arguments. It holds one
    :class:`~sd_engine.program.Program`, the compiler's output that every back end reads.
    """

    program: Program

    # -- what was compiled --------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        """The model as written."""
        return self.program.spec

    @property
    def lowered(self) -> ModelSpec:
        """The model with its stateful builtins lowered to internal variables."""
        return self.program.lowered

    @property
    def layout(self) -> Layout:
        """Where each stock, state, input and recorded series lives in the buffers."""
        return self.program.layout

    @property
    def source(self) -> str:
        """The generated numpy source of ``initialize`` and ``evaluate``."""
        return self.program.source

    @property
    def backend(self) -> Literal["numpy", "interpreter"]:
        """What evaluates the equations: the generated code, or the reference interpreter."""
        return "interpreter" if isinstance(self.program.evaluator, Interpreter) else "numpy"

    @property
    def initialize(self) -> Callable[..., None]:
        """The program's ``initialize`` (see :class:`~sd_engine.program.Evaluator`)."""
        return self.program.evaluator.initialize

    @property
    def evaluate(self) -> Callable[..., None]:
        """The program's ``evaluate`` (see :class:`~sd_engine.program.Evaluator`)."""
        return self.program.evaluator.evaluate

    @property
    def parameters(self) -> dict[str, Variable]:
        """Constants that can be overridden, by canonical name."""
        return {s.key: self.lowered[s.key] for s in self.layout.constants}

    def resolve(self, name: str) -> Variable:
        """The variable called `name` (display or canonical form), with a suggestion if unknown."""
        return self.spec[name]

    # -- running --------------------------------------------------------------------------------
    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        initial_time: float | None = None,
        final_time: float | None = None,
        dt: float | None = None,
        saveper: float | None = None,
        method: str | None = None,
        seed: int | Sequence[int] | None = None,
        errors: Literal["raise", "mark"] | None = None,
        progress: bool = False,
        rtol: float = 1e-6,
        atol: float = 1e-9,
        backend: Literal["auto", "numba", "numpy", "interpreter", "pysd", "sdflow"] = "auto",
        variables: Sequence[str] | None = None,
    ) -> xr.Dataset:
        """Simulate and return an :class:`xarray.Dataset`.

        Parameters
        ----------
        params : mapping, optional
            Constant overrides by display or canonical name. A scalar applies to all runs;
            1-D arrays of equal length ``n`` make an ensemble of ``n`` runs (a ``run``
            dimension). A lookup is overridden with ``(xs, ys)`` or a sequence of pairs; a
            scalar constant or auxiliary may be given a time series (a pandas Series indexed
            by model time), read as a lookup of time.
        initial_time, final_time, dt, saveper : float, optional
            Override the model's time settings.
        method : {"euler", "rk2", "rk4", "rk45", "dop853"}, optional
            Integration method; the model's own by default (Euler for Vensim models).
            ``"rk45"`` and ``"dop853"`` are scipy's adaptive solvers, with `rtol` and `atol`.
        seed : int or sequence of int, optional
            Seed of the random functions; run ``i`` of an ensemble uses ``seed + i``
            (or ``seed[i]``), so it equals a single run with that seed.
        errors : {"raise", "mark"}, optional
            What a run that becomes non-finite does: raise
            :class:`~sd_engine.errors.NonFiniteStateError`, or be marked failed in the
            ``status`` of the result while the other runs go on. Single runs raise by
            default, ensembles mark.
        progress : bool
            Show a progress bar.
        backend : {"auto", "numba", "numpy", "interpreter", "pysd"}
            What computes the run (:mod:`sd_engine.backends`): ``"auto"`` picks the compiled
            numba kernel when it covers the model and pays (ensembles, long runs, a kernel
            already compiled), else numpy; ``"numba"`` asks for the kernel (a model it does not
            cover runs on numpy, with a warning naming why); ``"interpreter"`` is the slow
            reference. ``"pysd"`` runs an imported model's own file through PySD's runtime
            instead, as a cross-check (Euler only, much slower):
            :func:`sd_engine.io.pysd_runtime.run_pysd`. ``"sdflow"`` means ``"auto"``.
        variables : sequence of str, optional
            Keep only these variables in the result (display or canonical names, as in `params`;
            PySD's ``return_columns``). An unknown name raises
            :class:`~sd_engine.errors.UnknownVariableError` before the run.

        Examples
        --------
        >>> import numpy as np
        >>> from sd_engine.builder import Model
        >>> m = Model("decay", final_time=2)
        >>> _ = m.constant("rate", 0.5)
        >>> _ = m.stock("x", initial=1, outflows=["loss"])
        >>> _ = m.flow("loss", "x * rate")
        >>> ds = m.compile().run(params={"rate": np.array([0.5, 0.25])})
        >>> ds["x"].sel(time=2).values.tolist()
        [0.25, 0.5625]
        """
        if variables is not None:
            keep = list(dict.fromkeys(self.resolve(v).name for v in variables))  # typos fail before the run
            return self.run(params, initial_time=initial_time, final_time=final_time, dt=dt, saveper=saveper,
                            method=method, seed=seed, errors=errors, progress=progress, rtol=rtol, atol=atol,
                            backend=backend)[keep]
        if backend == "pysd":
            if initial_time is not None or seed is not None:
                raise UnsupportedError("`backend=\"pysd\"` takes params, final_time, dt, saveper and method only.")
            return run_pysd(self.program, params, final_time=final_time, dt=dt, saveper=saveper, method=method)
        return simulate(self.program, params, initial_time=initial_time, final_time=final_time, dt=dt,
                        saveper=saveper, method=method, seed=seed, errors=errors, progress=progress, rtol=rtol,
                        atol=atol, backend=backend)

    def with_backend(self, backend: Literal["numpy", "interpreter"]) -> CompiledModel:
        """The same model evaluated by generated code or by the slow reference interpreter."""
        if backend == "numpy":
            return self if self.backend == "numpy" else compile_model(self.spec)
        if backend == "interpreter":
            return CompiledModel(interpreted(self.program))
        raise SpecError(f"Unknown backend `{backend}`; use \"numpy\" or \"interpreter\".")

    # -- feedback loops (sd_engine.graph, sd_engine.loops) ------------------------------------------
    def graph(self, view: View = "full", internal: InternalMode = "collapse") -> nx.DiGraph:
        """The causal graph: a :class:`networkx.DiGraph` of variables (display names) and links.

        Nodes carry ``kind``, ``units``, ``doc``; edges carry ``polarity``. ``view="stock_flow"``
        keeps stocks and flows only; ``internal="expand"`` shows the internal stocks of
        SMOOTH/DELAY. See :func:`sd_engine.graph.causal_graph`.

        Examples
        --------
        >>> from sd_engine.builder import Model
        >>> m = Model("decay")
        >>> _ = m.stock("x", initial=1, outflows=["loss"]); _ = m.flow("loss", "x / 2")
        >>> sorted(m.compile().graph().edges)
        [('loss', 'x'), ('x', 'loss')]
        """
        return model_graph(self.program, view, internal)

    def loops(self, ds: xr.Dataset | None = None, **options: Any) -> LoopSet:
        """The feedback loops: a :class:`~sd_engine.loops.LoopSet` of :class:`~sd_engine.loops.Loop`.

        Each loop has ``id``, ``variables`` (display names), ``polarity`` ("R", "B" or
        "unknown"), ``length`` and ``name``. Options (``max_length``, ``cap``, ``internal``,
        ``names``, ``numeric``, ``method``) are those of :func:`sd_engine.loops.model_loops`.

        Examples
        --------
        >>> from sd_engine.builder import Model
        >>> m = Model("decay")
        >>> _ = m.stock("x", initial=1, outflows=["loss"]); _ = m.flow("loss", "x / 2")
        >>> [(loop.id, loop.polarity) for loop in m.compile().loops()]
        [('B1', 'B')]
        """
        return model_loops(self.program, ds, **options)

    def loop_dominance(self, ds: xr.Dataset | None = None, **options: Any) -> xr.DataArray:
        """Relative loop scores (Loops that Matter) over time, dims ``("loop", "time"[, "run"])``.

        The ``loop`` coordinate is ``Loop.id``. See :func:`sd_engine.loops.loop_dominance`.

        Examples
        --------
        >>> from sd_engine.builder import Model
        >>> m = Model("decay", final_time=2)
        >>> _ = m.stock("x", initial=1, outflows=["loss"]); _ = m.flow("loss", "x / 2")
        >>> model = m.compile()
        >>> model.loop_dominance(model.run()).values.tolist()
        [[-1.0, -1.0, nan]]
        """
        return loop_dominance(self.program, ds, **options)

    # -- documentation (sd_engine.describe) -----------------------------------------------------------
    @property
    def doc(self) -> pd.DataFrame:
        """The documentation table: one row per variable, constants first (what ``sdflow describe`` prints).

        Columns ``kind``, ``units``, ``dimensions``, ``equation``, ``value`` (constants), ``low`` and
        ``high`` (the lab profile's range), ``source`` and ``doc``; see
        :func:`sd_engine.describe.describe_model`.

        Examples
        --------
        >>> from sd_engine.builder import Model
        >>> m = Model("decay")
        >>> _ = m.constant("rate", 0.5, units="1/day", doc="Share lost each day.")
        >>> _ = m.stock("x", initial=1, outflows=["loss"]); _ = m.flow("loss", "x * rate")
        >>> m.compile().doc.loc["rate", ["kind", "units", "value", "doc"]].tolist()
        ['constant', '1/day', 0.5, 'Share lost each day.']
        """
        return describe_model(self)

    def __repr__(self) -> str:
        return summary_line(self)

    def _repr_html_(self) -> str:
        return doc_html(self)
