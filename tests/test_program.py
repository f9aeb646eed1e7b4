"""The compiled program is the contract every back end reads: an evaluator plugged into it runs."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.builder import Model
from sd_engine.codegen import compile_program
from sd_engine.errors import SpecError
from sd_engine.integrate import simulate, simulate_results
from sd_engine.interpret import Interpreter
from sd_engine.program import GeneratedEvaluator, Program, as_program


class Counting:
    """An evaluator of its own: another evaluator's values, with its calls counted."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, {"initialize": 0, "evaluate": 0}

    def initialize(self, *args: Any) -> None:
        self.calls["initialize"] += 1
        self.inner.initialize(*args)

    def evaluate(self, *args: Any) -> None:
        self.calls["evaluate"] += 1
        self.inner.evaluate(*args)


@pytest.mark.parametrize(("method", "stages"), [("euler", 1), ("rk2", 2), ("rk4", 4)])
def test_an_evaluator_plugged_into_a_program_is_all_the_integrator_calls(method: str, stages: int) -> None:
    program = sd.load("teacup").program
    counting = Counting(Interpreter(program.lowered, program.layout))
    plugged = dataclasses.replace(program, evaluator=counting)
    ds = simulate(plugged, final_time=2, method=method)  # dt 0.125: 16 steps
    # One initialize; per step the first stage and the solver's other stages; the last saved time.
    assert counting.calls == {"initialize": 1, "evaluate": 16 * stages + 1}
    expected = simulate(program, final_time=2, method=method)
    np.testing.assert_allclose(ds["Teacup Temperature"].values, expected["Teacup Temperature"].values,
                               rtol=1e-13)


def test_a_program_pickles_and_its_generated_code_is_rebuilt_from_its_source() -> None:
    program = sd.load("sir").program
    copy = pickle.loads(pickle.dumps(program))
    assert isinstance(copy.evaluator, GeneratedEvaluator) and copy.source == program.source
    np.testing.assert_array_equal(simulate_results(copy).data, simulate_results(program).data)


def test_record_all_adds_the_internal_stocks_with_their_own_values() -> None:
    m = Model("smoothed", final_time=2, dt=1)
    m.aux("x", "time")
    m.aux("s", "smooth(x, 2)")
    spec = m.spec()
    every = simulate_results(compile_program(spec, record="all"))
    assert [slot.name for slot in compile_program(spec).layout.series] == ["x", "s"]
    internal = next(slot for slot in every.program.layout.series if slot.internal and slot.kind == "stock")
    # Euler with dt 1: S(0) = x(0) = 0, S(1) = 0 + (0 - 0) / 2, S(2) = 0 + (1 - 0) / 2.
    np.testing.assert_array_equal(every.block(internal)[0], [0.0, 0.0, 0.5])
    with pytest.raises(SpecError, match="`record` must be"):
        compile_program(spec, record="some")  # type: ignore[arg-type]


def test_back_ends_take_a_program_or_what_holds_one() -> None:
    model = sd.load("teacup")
    assert as_program(model) is model.program and as_program(model.program) is model.program
    assert isinstance(model.program, Program) and model.backend == "numpy"
    with pytest.raises(SpecError, match="Unknown backend `fast`"):
        model.with_backend("fast")  # type: ignore[arg-type]
