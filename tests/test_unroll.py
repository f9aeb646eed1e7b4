"""Unrolled models (one scalar variable per element) against the numpy array code.

The reference is the numpy back end's generated array code, itself checked against the
interpreter, analytic solutions and canonical outputs. Single runs of the unrolled scalar path
equal it bit for bit (rtol 0): the same IEEE operations on the same elements in the same order,
sums in numpy's pairwise order (checked here against ``np.sum`` itself). The compiled back end
equals it within 1e-12 relative (the C library's exp/log may differ from numpy's in the last bit,
see tests/test_numba.py), and its ensembles equal its single runs bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import sd_engine as sd
from sd_engine import integrate, scalar
from sd_engine import unroll as unroll_module
from sd_engine.builder import Model
from sd_engine.codegen_numba import refusal
from sd_engine.expr import Binary, Call, Expr, Num, Str
from sd_engine.scalar import scalar_path
from sd_engine.testing import assert_ensemble_matches_single_runs, assert_results_close
from sd_engine.unroll import NotUnrolled, numpy_sum, unroll
from zoo import ZOO


def _value(expr: Expr) -> float:
    if isinstance(expr, Num):
        return expr.value
    assert isinstance(expr, Binary) and expr.op == "+"
    return _value(expr.left) + _value(expr.right)


def test_sums_add_in_numpys_order() -> None:
    # Sizes across numpy's three regimes: a loop (< 8), eight partial sums (<= 128), halves.
    rng = np.random.default_rng(11)
    for n in list(range(1, 140)) + [200, 257, 300]:
        a = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 6, n)  # magnitudes that expose the order
        assert _value(numpy_sum([Num(float(x)) for x in a])) == np.sum(a[None, :], axis=1)[0], n
        if n % 10 == 0:  # a reduction over two axes: numpy runs over both in C order
            assert _value(numpy_sum([Num(float(x)) for x in a])) == np.sum(a.reshape(1, 10, -1), axis=(1, 2))[0]


def subranges() -> Model:
    """Block equations, subranges, long sums (numpy's pairwise regimes), per-element draws."""
    m = Model("subranges", final_time=4, dt=0.5)
    m.dimension("region", ["north", "east", "south", "west"])
    m.dimension("coast", ["east", "west"])
    m.dimension("item", [f"i{k}" for k in range(20)])
    m.dimension("cell", [f"c{k}" for k in range(150)])
    m.constant("base", [1.0, 2.0, 3.0, 4.0], dims=["region"])
    m.constant("weights", [1.0 / (k + 1) for k in range(20)], dims=["item"])
    m.constant("grid", [np.sin(k) * 10.0 ** (k % 7 - 3) for k in range(150)], dims=["cell"])
    m.stock("level", initial="_pieces(_at('north'), 10, _at('coast'), base['coast'] * 5, _at('south'), 1)",
            inflows=["change"], dims=["region"])
    m.flow("change", "_pieces(_at('region'), -level * 0.1 + time)", dims=["region"])
    m.aux("coastal", "_pieces(_at('north'), level['north'], _at('coast'), level['coast'] * 2, "
          "_at('south'), 0)", dims=["region"])
    m.aux("coastal total", "sum(coastal['coast'], 'coast')")
    m.stock("stockpile", initial="weights * 3", inflows=["supply"], outflows=["use"], dims=["item"],
            non_negative=True)
    m.flow("supply", "weights * coastal_total / 10", dims=["item"])
    m.flow("use", "stockpile * 0.3 + grid_total / 1000", dims=["item"])
    m.aux("item total", "sum(stockpile) + mean(stockpile) * vmax(weights) - prod(weights * 2)")
    m.aux("grid total", "sum(grid * (1 + time)) + vmin(grid)")  # > 128 terms: pairwise halves
    m.aux("spread", "stockpile * base * (1 + 1e6 * weights * weights * weights) + time / 3", dims=["item", "region"])
    m.aux("powers", "(stockpile + 1) ** (weights * 9)", dims=["item"])  # numpy's pow, not the C library's
    m.aux("spread by region", "sum(spread, 'item')", dims=["region"])  # along the first axis: in order
    m.aux("spread by item", "sum(spread, 'region')", dims=["item"])
    m.aux("spread total", "sum(spread)")
    m.aux("noise", "random_normal(0, 10, base, 1) + random_poisson(0, 20, base * 2, 0, 1)", dims=["region"])
    m.stock("noisy", initial=0, inflows=["noise in"], dims=["region"])
    m.flow("noise in", "noise * level / 100", dims=["region"])
    return m




def test_the_flat_layout_keeps_every_original_column() -> None:
    program = ZOO["arrays"]().compile().program
    flat = unroll(program).layout
    for original, slots in ((program.layout.stocks, flat.stocks), (program.layout.series, flat.series),
                            (program.layout.constants, flat.constants), (program.layout.states, flat.states)):
        assert [s.start for s in slots] == list(range(sum(s.size for s in original)))
        assert all(s.shape == () for s in slots)
    people = next(s for s in program.layout.series if s.key == "people")
    assert [s.name for s in flat.series[people.start:people.start + 2]] == ["people[north, young]",
                                                                          "people[north, old]"]


def test_a_single_run_of_an_unrolled_model_equals_the_array_code(monkeypatch: pytest.MonkeyPatch) -> None:
    # The zoo's arrayed models are checked so in tests/test_scalar.py. The long sums here unroll
    # into more element equations than the scalar path takes by default (numpy's arrays are
    # faster there); allowed here to check their order of additions.
    monkeypatch.setattr(scalar, "SCALAR_ELEMENTS_PER_EQUATION", 100)
    model = subranges().compile()
    assert scalar_path(model) is not None
    for method in ("euler", "rk4"):
        unrolled = model.run(backend="numpy", method=method, seed=4)
        with monkeypatch.context() as patch:
            patch.setattr(integrate, "scalar_path", lambda program: None)  # the array code alone
            arrays = model.run(backend="numpy", method=method, seed=4)
        assert_results_close(unrolled, arrays, rtol=0, atol=0)


def test_big_arrays_keep_the_array_code_for_single_runs() -> None:
    # 150 cells: seven times the element equations of the arrayed ones, where numpy pays.
    assert scalar_path(subranges().compile()) is None


@pytest.mark.parametrize(("equation", "dims", "construct"), [
    ("vector_sort_order(v, 1)", ["k"], "vector_sort_order"),
    ("invert_matrix(m2, 2)", ["k", "k2"], "invert_matrix"),
])
def test_whole_array_functions_unroll_to_one_shared_call_the_scalar_path_does_not_take(
        equation: str, dims: list[str], construct: str) -> None:
    m = Model("vectors", final_time=2)
    m.dimension("k", ["a", "b"])
    m.dimension("k2", ["x", "y"])
    m.constant("v", [3.0, 1.0], dims=["k"])
    m.constant("m2", [[4.0, 7.0], [2.0, 6.0]], dims=["k", "k2"])
    m.aux("result", equation, dims=dims)
    model = m.compile()
    elements = [v.equation for v in unroll(model.program).spec.variables if v.name.startswith("result[")]
    assert len(elements) == (2 if construct == "vector_sort_order" else 4)
    calls = [e for e in elements if isinstance(e, Call) and e.func == unroll_module.ARRAY_ELEMENT]
    assert len(calls) == len(elements)
    assert [c.args[1] for c in calls] == [Num(float(k)) for k in range(len(calls))]  # its own entry each
    assert all(c.args[0] == Str(construct) for c in calls)
    assert all(a is b for c in calls for a, b in zip(c.args[3:], calls[0].args[3:]))  # the same vectors
    assert refusal(model) is None
    assert scalar_path(model) is None
    assert_results_close(model.run(backend="numpy"), model.run(backend="interpreter"), rtol=1e-12, atol=1e-12)


def test_a_model_of_too_many_elements_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    model = ZOO["arrays"]().compile()
    monkeypatch.setattr(unroll_module, "MAX_ELEMENTS", 100)
    with pytest.raises(NotUnrolled, match=r"model `arrays` of 2\d\d elements \(more than 100"):
        unroll(model.program)


pytest.importorskip("numba")


@pytest.fixture(scope="module")
def compiled() -> sd.CompiledModel:
    return subranges().compile()


def test_the_compiled_back_end_runs_unrolled_models_with_the_numpy_results(compiled: sd.CompiledModel) -> None:
    assert refusal(compiled) is None
    for method in ("euler", "rk2", "rk4"):
        expected = compiled.run(backend="numpy", method=method, seed=9)
        actual = compiled.run(backend="numba", method=method, seed=9)
        assert_results_close(actual, expected, rtol=1e-12, atol=1e-12)


def test_compiled_ensembles_of_an_unrolled_model_equal_its_single_runs(compiled: sd.CompiledModel) -> None:
    params = {"base": np.outer(np.linspace(0.5, 3.0, 6), [1.0, 2.0, 3.0, 4.0])}  # an arrayed constant, per run
    assert_ensemble_matches_single_runs(compiled, params, seed=2, backend="numba")


def selections() -> Model:
    """VECTOR SELECT over a `dim!` axis, its action a parameter (every action is computed)."""
    m = Model("selections", final_time=3, dt=0.5)
    m.dimension("k", ["a", "b", "c"])
    m.dimension("j", ["x", "y"])
    m.constant("action", 0)
    m.constant("sel", [[1, 0], [2, 0], [0, 0]], dims=["k", "j"])
    m.stock("level", initial="sel['k', 'x'] + 1.5", inflows=["growth"], dims=["k"])
    m.flow("growth", "level * 0.1", dims=["k"])
    m.aux("picked", "vector_select(sel['k!', 'j'], level['k!'], -1, action, 0, 'k!')", dims=["j"])
    m.aux("checked", "vector_select(sel['k!', 'j'], level['k!'] * 2, -1, 6, 3, 'k!')", dims=["j"])
    return m


@pytest.mark.filterwarnings("ignore::sd_engine.guards.NonFiniteWarning")  # error 3 and action 11 give NaN
def test_vector_select_unrolls_to_the_array_codes_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    model = selections().compile()
    assert scalar_path(model) is not None
    for action in range(12):  # the eleven actions and one that is none (NaN)
        unrolled = model.run({"action": action}, backend="numpy")
        with monkeypatch.context() as patch:
            patch.setattr(integrate, "scalar_path", lambda program: None)
            arrays = model.run({"action": action}, backend="numpy")
        assert_results_close(unrolled, arrays, rtol=0, atol=0)
        assert unrolled["checked"].isnull().all()  # error 3: element y selects nothing, x two
    assert refusal(model) is None
    for action in (0, 5, 10):
        expected = model.run({"action": action}, backend="numpy")
        assert_results_close(model.run({"action": action}, backend="numba"), expected, rtol=1e-12, atol=1e-12)
