"""Runs of like lines as loops (``sd_engine.numba_loops``) against the lines they replace.

The reference is the line-per-element code itself: both forms are executed by Python on the
same random arrays and must leave the same numbers in every array, bit for bit (a loop runs
the same statements in the same order). Then an unrolled model written with loops runs on
the compiled back end with the numpy back end's numbers exactly (its equations are + - * /
and comparisons, which numba and numpy round alike), and its ensemble equals its single runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from sd_engine import codegen_numba
from sd_engine.builder import Model
from sd_engine.codegen_numba import numba_kernel, refusal
from sd_engine.numba_loops import array_locals, loop_body, loop_lines, syntax_nodes
from sd_engine.testing import assert_ensemble_matches_single_runs, assert_results_close

RNG = np.random.default_rng(31)


def _execute(body: list[str]) -> dict[str, np.ndarray]:
    """Run `body` (a function body over the step's arrays) on fixed random arrays; the arrays
    and the locals after it (unwritten locals zero)."""
    rng = np.random.default_rng(5)
    arrays = {name: rng.normal(size=(1, 60)) for name in ("y", "z", "c", "K", "ZN", "R")}
    namespace: dict[str, object] = {"np": np, "iy": 0, "iz": 0, "ic": 0, "s": 0, "q": 0, "r": 0, **arrays}
    lines = [line.replace("np.empty(", "np.zeros(") for line in body]
    source = "def step():\n" + "\n".join("    " + line for line in lines) + "\n    return _w\n"
    exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102 -- the test's own lines
    return {**arrays, "_w": namespace["step"]()}  # type: ignore[operator]


def _lines() -> list[str]:
    """Line-per-element code as the generator writes it: stocks read, a parameter broadcast
    along an axis of 4 x 5 elements, a stage and the flow copying it element by element
    (period two), a transposition, net flows, a block of record lines, and lines that do not
    repeat."""
    lines = [f"v{j} = y[iy, {j}]  # 'stock[{j}]'" for j in range(20)]
    lines += [f"v{20 + j} = c[ic, {j}]  # 'delay[{j}]'" for j in range(4)]
    for a in range(4):
        for b in range(5):
            k = 5 * a + b
            lines.append(f"v{30 + k} = (v{k} / (v{20 + a} / 3.0))  # 'outflow[{a}, {b}]'")
            lines.append(f"v{50 + k} = v{30 + k}  # 'copy[{a}, {b}]'")
    lines += [f"v{70 + 4 * b + a} = (v{50 + 5 * a + b} * 2.0)  # 'transposed[{b}, {a}]'"
              for a in range(4) for b in range(5)]
    lines += ["v90 = ((v1 > v2) * 1.0)  # 'odd one'", "v91 = v3  # 'x'", "v92 = v9  # 'y'", "v93 = v4  # 'z'"]
    lines += [f"K[s, {j}] = v{30 + j} - v{50 + j}  # 'net flow of stock[{j}]'" for j in range(20)]
    lines += ["if r >= 0:"] + [f"    R[r, {j}] = v{70 + j}  # 'series {j}'" for j in range(20)] + ["    pass"]
    return lines


def test_loops_leave_the_numbers_of_the_lines_they_replace() -> None:
    lines = _lines()
    looped = loop_body(lines, 100)
    plain = ["_w = np.empty(100)", *array_locals(lines)]
    assert sum(line.lstrip().startswith("for _k") for line in looped) >= 5
    assert any(line.lstrip().startswith("for _k1 in range(4):") for line in looped)  # broadcast: nested
    assert syntax_nodes(looped) < syntax_nodes(plain) / 3
    expected, actual = _execute(plain), _execute(looped)
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def test_lines_that_do_not_repeat_by_a_fixed_step_stay_lines() -> None:
    scattered = [f"v{j} = y[iy, {p}]" for j, p in enumerate([0, 1, 2, 4, 9, 3])]  # no fixed step after three
    out = loop_lines(array_locals(scattered))
    assert out[0] == "for _k0 in range(3):" and out[1] == "    _w[0 + _k0] = y[iy, 0 + _k0]"
    assert out[2:] == ["_w[3] = y[iy, 4]", "_w[4] = y[iy, 9]", "_w[5] = y[iy, 3]"]
    two = ["v0 = y[iy, 0]", "v1 = y[iy, 1]"]  # shorter than a run
    assert loop_lines(two) == two
    other = ["v0 = sf.step(t, dt, 5.0, 10.0)", "v1 = sf.step(t, dt, 5.0, 11.0)", "v2 = sf.step(t, dt, 5.0, 12.0)"]
    assert loop_lines(other) == other  # numbers other than positions must be the same text


def arrays_of_delays() -> Model:
    """Delays of order 1, 3 and N over 3 x 4 elements, their times a parameter along one axis."""
    m = Model("arrays of delays", final_time=12, dt=0.25)
    m.dimension("site", ["a", "b", "c"])
    m.dimension("kind", ["w", "x", "y", "z"])
    m.constant("lag", [2.0, 3.0, 5.0], dims=["site"])
    m.aux("arrivals", "step(4, 1) + pulse(3, 2) * 2", dims=["site", "kind"])
    m.aux("first", "delay1(arrivals, lag)", dims=["site", "kind"])
    m.aux("third", "delay3(arrivals, lag)", dims=["site", "kind"])
    m.aux("nth", "delay_n(arrivals, lag, 0, 4)", dims=["site", "kind"])
    m.stock("waiting", initial=1, inflows=["come"], outflows=["go"], dims=["site", "kind"])
    m.flow("come", "arrivals", dims=["site", "kind"])
    m.flow("go", "waiting / lag", dims=["site", "kind"])
    return m


def test_a_model_written_with_loops_runs_compiled_with_the_numpy_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codegen_numba, "LOOP_LOCALS", 50)  # a small model, written as a large one is
    model = arrays_of_delays().compile()
    assert refusal(model) is None
    source = numba_kernel(model).source
    assert "_w = np.empty(" in source and "for _k1 in range(3):" in source
    for method in ("euler", "rk4"):
        expected = model.run(backend="numpy", method=method)
        actual = model.run(backend="numba", method=method)
        assert_results_close(actual, expected, rtol=0, atol=0)
    assert_ensemble_matches_single_runs(model, {"lag": [[2.0, 3.0, 5.0], [1.0, 4.0, 0.5], [7.0, 2.5, 3.0]]},
                                        backend="numba")


def test_a_step_too_long_to_compile_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codegen_numba, "MAX_NODES", 500)
    reason = refusal(arrays_of_delays().compile())
    assert reason is not None and "model `arrays of delays`, whose step is" in reason and "more than 500" in reason


def test_the_stocks_a_flow_drains_are_the_code_generators() -> None:
    # NumbaGenerator indexes them once (the base class searches every variable per flow).
    from sd_engine.codegen import CodeGenerator
    from sd_engine.codegen_numba import NumbaGenerator
    from zoo import ZOO

    lowered = ZOO["non_negative"]().compile().program.lowered
    base, numba = CodeGenerator(lowered), NumbaGenerator(lowered)
    flows = [v for v in lowered.variables if v.kind == "flow"]
    assert any(base.draining(f) for f in flows)
    for flow in flows:
        assert numba.draining(flow) == base.draining(flow), flow.name
