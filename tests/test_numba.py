"""The compiled (numba) back end against the numpy back end: the same numbers, or a refusal.

The numpy back end is the independent reference here (itself checked against the interpreter,
analytic solutions and canonical outputs). Each model is compiled once per session: the kernel
cache lives in a session tmp dir (conftest sets ``SDFLOW_CACHE_DIR``). Equal means within
1e-12 relative (a C library's ``exp`` or ``log`` may differ from numpy's in the last bit; the
arithmetic itself is the same operations in the same order), and an ensemble equals its single
runs bit for bit.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import models
import sd_engine as sd
from sd_engine import functions
from sd_engine.backends import BackendWarning, choose_backend, compile_seconds, numpy_seconds, precompile
from sd_engine.builder import Model
from sd_engine.codegen_numba import has_ensemble_driver, is_cached, is_exact, numba_kernel, refusal
from sd_engine.guards import NonFiniteWarning
from sd_engine.io.conformance import data_files_beside, find_cases
from sd_engine.testing import assert_ensemble_matches_single_runs, assert_results_close
from paths import TEST_MODELS
from zoo import RUN_OPTIONS, ZOO

pytest.importorskip("numba")

METHODS = ("euler", "rk2", "rk4")
# What the back end does not cover yet (each refused by name, run on numpy): none of the zoo.
REFUSED_ZOO: set[str] = set()


def _equal(model: sd.CompiledModel, rtol: float = 1e-12, **options: object) -> None:
    expected = model.run(backend="numpy", **options)  # type: ignore[arg-type]
    actual = model.run(backend="numba", **options)  # type: ignore[arg-type]
    assert actual.attrs["status"] == expected.attrs["status"]
    assert_results_close(actual, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_models_run_compiled_with_the_numpy_results_or_are_refused_by_name(name: str) -> None:
    model = ZOO[name]().compile()
    reason = refusal(model)
    if name in REFUSED_ZOO:
        assert reason is not None and ("`" in reason or "subscripts" in reason), reason
        with pytest.warns(BackendWarning, match="runs on numpy"):
            fallback = model.run(backend="numba", **RUN_OPTIONS.get(name, {}))
        assert_results_close(fallback, model.run(backend="numpy", **RUN_OPTIONS.get(name, {})), rtol=0, atol=0)
        return
    assert reason is None
    for method in METHODS:
        _equal(model, method=method, **RUN_OPTIONS.get(name, {}))




@pytest.mark.parametrize("name", models.available())
def test_library_models_run_compiled_with_the_numpy_results(name: str) -> None:
    model = models.build(name).compile()
    assert refusal(model) is None
    # numpy's exp and log (SIMD) and the C library's may differ in the last bit; through the
    # feedback of a long run (the whole-system model: 5,475 steps, 56 exp and 15 log per step)
    # such a difference grows to about 1e-11 relative (7e-12 measured), so runs of more than
    # 1,000 steps get 1e-10. Shorter runs stay within 1e-12.
    time = model.spec.time
    steps = (time.final_time - time.initial_time) / time.dt
    _equal(model, rtol=1e-12 if steps <= 1000 else 1e-10)


def test_what_only_the_record_reads_is_computed_at_saved_times_only_with_the_same_values() -> None:
    m = Model("reported", final_time=10, dt=0.25)
    m.constant("k", 0.3)
    m.lookup("shape", [(0, 0.0), (5, 1.0), (10, 0.5)])
    m.stock("level", initial=4, inflows=["inflow"], outflows=["outflow"])
    m.flow("inflow", "shape(time) + k")
    m.flow("outflow", "level * k")
    m.aux("cost", "exp(outflow / 10) * 3")  # read by nothing but the record
    m.aux("cost per level", "cost / level")
    model = m.compile()
    source = numba_kernel(model).source
    body = source[source.index("def evaluate"):source.index("def ", source.index("def evaluate") + 1)]
    saved = body[body.index("if r >= 0:"):]
    assert "math.exp" in saved and "math.exp" not in body[:body.index("if r >= 0:")], body
    for method in METHODS:
        # Saving every step computes every line every step: the monthly-like record is its sample, bit for bit.
        every = model.run(backend="numba", method=method, saveper=0.25)
        sparse = model.run(backend="numba", method=method, saveper=1.0)
        assert_results_close(sparse, every.sel(time=sparse["time"]), rtol=0, atol=0)
        _equal(model, method=method, saveper=1.0)  # and numpy's numbers (exp: to rounding)
    params = {"k": np.linspace(0.1, 0.5, 9)}
    ens = assert_ensemble_matches_single_runs(model, params, backend="numba", saveper=1.0)
    assert_results_close(ens, model.run(params, backend="numpy", saveper=1.0), rtol=1e-12, atol=1e-12)


def _random_model() -> Model:
    m = Model("random walk", final_time=12, dt=0.25)
    m.constant("spread", 2.0)
    m.stock("level", initial=10, inflows=["noise in"], outflows=["decay"])
    m.flow("noise in", "random_uniform(0, spread) + random_exponential(0, 5, 0, spread, 3)")
    m.flow("decay", "level * 0.1")
    m.aux("held", "sample_if_true(modulo(time, 2) < 0.1, level, 0)")
    m.aux("late", "delay_fixed(level, 1.5, 3)")
    return m


def test_random_draws_pipelines_and_samples_equal_numpy_and_single_runs() -> None:
    model = _random_model().compile()
    assert refusal(model) is None
    for method in METHODS:
        _equal(model, method=method, seed=5)
    spreads = {"spread": np.linspace(0.5, 3.0, 40)}
    ens = assert_ensemble_matches_single_runs(model, spreads, seed=11, backend="numba", method="rk4")
    assert_results_close(ens, model.run(spreads, seed=11, backend="numpy", method="rk4"), rtol=1e-12, atol=1e-12)


def test_ensembles_of_sir_equal_single_runs_and_numpy() -> None:
    model = models.build("sir").compile()
    params = {"Contact Infectivity": np.linspace(0.1, 0.5, 37)}  # not a multiple of the block of runs
    ens = assert_ensemble_matches_single_runs(model, params, backend="numba", final_time=20, dt=0.125)
    assert_results_close(ens, model.run(params, backend="numpy", final_time=20, dt=0.125), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_a_failing_run_is_marked_where_numpy_marks_it(method: str) -> None:
    m = Model("blow up", final_time=3, dt=0.25)
    m.constant("k", 1.0)
    m.stock("x", initial=1, inflows=["growth"])
    m.flow("growth", "x / (2 - time * k)")  # infinite at time 2 / k
    model = m.compile()
    params = {"k": np.array([0.5, 1.0, 2.0])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = model.run(params, backend="numpy", method=method)
        actual = model.run(params, backend="numba", method=method)
    assert list(actual["run_status"].values) == list(expected["run_status"].values)
    assert "failed" in str(actual["run_status"].values[1])
    for name in ("x", "growth"):  # infinities and NaN where numpy has them
        np.testing.assert_allclose(actual[name].values, expected[name].values, rtol=1e-12)


def test_the_kernel_finds_the_largest_saved_magnitude_as_flag_values_does() -> None:
    """Each run's largest saved |value|, found by the kernel as it writes: NaN once a value is
    NaN, so the runs flagged are numpy's (a NaN auxiliary, one beyond the overflow limit)."""
    from sd_engine.backends import run_compiled
    from sd_engine.guards import OVERFLOW, _largest_magnitudes
    from sd_engine.integrate import _State, bind_inputs
    from sd_engine.run_setup import time_axes

    m = Model("flags", final_time=4, dt=0.5)
    m.constant("k", 1.0)
    m.stock("x", initial=1, inflows=["growth"])
    m.flow("growth", "x * k")
    m.aux("root", "sqrt(2 - time * k)")  # NaN from time 2 / k on
    m.aux("huge", "x * 1e300 * k")
    model = m.compile()
    params = {"k": np.array([0.1, 0.5, 1.0, 1e-280])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = model.run(params, backend="numpy")
        actual = model.run(params, backend="numba")
    assert list(actual["run_status"].values) == list(expected["run_status"].values)
    assert sum("flagged" in str(v) for v in actual["run_status"].values) == 3
    # The magnitudes themselves, against the pass over the record that flag_values makes.
    program = model.program
    inputs = bind_inputs(program, params)
    step_times, _, rows = (a.copy() for a in time_axes(0.0, 0.5, 8, 0.5))
    state = _State(program, inputs, np.arange(4), 0.0, 0.5, 8)
    record = np.empty((4, 9, program.layout.n_series))
    with np.errstate(all="ignore"):
        _, _, largest = run_compiled(program, times=step_times, rows=rows, h=0.5, method="euler", y0=state.y,
                                     z0=state.z, c=state.c, record=record, keys=np.zeros((4, 0), dtype=np.uint64),
                                     plen=np.ones((4, 0), dtype=np.int64), pbuf=np.zeros((4, 0, 1)),
                                     disc=state.discrete, pipes=state.pipes, rand=state.random,
                                     fail_step=np.full(4, -1))
    np.testing.assert_array_equal(largest, _largest_magnitudes(record))
    assert np.isnan(largest[2]) and largest[0] > OVERFLOW >= largest[3]


def test_a_builtin_the_back_end_does_not_know_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # A builtin added to the language later stays on numpy until numba_builtins covers it.
    monkeypatch.setitem(functions.BUILTINS, "softsign", functions.Builtin(lambda x: x / (1 + np.abs(x)), (1,)))
    m = Model("new builtin", final_time=2)
    m.stock("x", initial=1, inflows=["f"])
    m.flow("f", "softsign(x)")
    program = m.compile().program
    assert "`softsign` (in `f`)" in str(refusal(program))
    with pytest.warns(BackendWarning, match="softsign"):
        assert choose_backend(program, "numba", method="euler", fixed_step=True, n_runs=1, n_steps=2) == "numpy"


def test_adaptive_methods_stay_on_scipy() -> None:
    model = models.build("teacup").compile()
    with pytest.warns(BackendWarning, match="adaptive"):
        model.run(backend="numba", method="rk45")
    assert choose_backend(model.program, "auto", method="rk45", fixed_step=False, n_runs=10_000, n_steps=10_000) \
        == "numpy"


def test_auto_picks_numba_for_big_calls_and_numpy_for_a_small_one_off() -> None:
    m = _random_model()
    m.constant("unused", 1.0)  # another model than the other tests': nothing compiled yet
    program = m.compile().program
    assert not is_cached(program)
    assert choose_backend(program, "auto", method="euler", fixed_step=True, n_runs=1, n_steps=48) == "numpy"
    assert numpy_seconds(program, 10_000, 5000, "rk4") > compile_seconds(program)
    assert choose_backend(program, "auto", method="rk4", fixed_step=True, n_runs=10_000, n_steps=5000) == "numba"
    with pytest.raises(sd.SDError, match="Unknown backend `numbaa`"):
        choose_backend(program, "numbaa", method="euler", fixed_step=True, n_runs=1, n_steps=1)


def test_a_compiled_kernel_counts_as_cached_and_auto_then_uses_it() -> None:
    model = models.build("teacup").compile()
    numba_kernel(model)
    assert is_cached(model)
    assert choose_backend(model.program, "auto", method="euler", fixed_step=True, n_runs=1, n_steps=10) == "numba"


def test_auto_gives_the_same_numbers_whatever_the_cache_holds() -> None:
    """A model with exp: compiled, its results may differ from numpy's in the last bit, so a
    short call stays on numpy before and after its kernel is compiled (the rule reads the model
    and the call, not the cache); a model of IEEE operations alone may take the cached kernel,
    whose numbers are numpy's bit for bit."""
    m = Model("cooling with exp", final_time=20)
    m.constant("rate", 0.1)
    m.stock("heat", initial=100, outflows=["loss"])
    m.flow("loss", "heat * (1 - exp(-rate))")
    model = m.compile()
    assert not is_exact(model) and is_exact(models.build("teacup").compile())
    before = model.run()
    numba_kernel(model)
    assert is_cached(model)
    assert choose_backend(model.program, "auto", method="euler", fixed_step=True, n_runs=1, n_steps=20) == "numpy"
    after = model.run()
    np.testing.assert_array_equal(after["heat"].values, before["heat"].values)
    m.aux("squared", "heat ** 2")
    assert not is_exact(m.compile())


def test_interpreter_backend_runs_the_reference() -> None:
    model = models.build("teacup").compile()
    ds = model.run(backend="interpreter", final_time=5)
    assert_results_close(ds, model.run(backend="numpy", final_time=5), rtol=1e-12, atol=1e-12)


def test_a_second_process_loads_the_kernel_from_the_disk_cache(caplog: pytest.LogCaptureFixture) -> None:
    model = models.build("sir").compile()
    with caplog.at_level(logging.INFO, logger="sd_engine.numba"):
        numba_kernel(model)
    script = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
              "import sd_engine as sd\n"
              "print(float(sd.load('sir').run(backend='numba', final_time=1)['Infectious'][-1]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ}, cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr
    assert "loaded from the cache" in done.stdout, done.stdout
    expected = float(model.run(backend="numpy", final_time=1)["Infectious"][-1])
    assert float(done.stdout.strip().splitlines()[-1]) == expected


def test_the_models_own_ensemble_drivers_equal_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared driver calls `evaluate` through a pointer; the model's own two, compiled by
    # precompile, inline it (one runs its blocks in turn, the other across cores). Same
    # operations: the same numbers to the last bit.
    from sd_engine import backends

    model = _random_model().compile()
    spreads = {"spread": np.linspace(0.5, 3.0, 20)}
    shared = model.run(spreads, seed=3, backend="numba", method="rk2")
    assert not has_ensemble_driver(model)
    precompile(model)
    assert has_ensemble_driver(model)
    kernel = numba_kernel(model)
    assert kernel.module.run_blocks.signatures and kernel.module.run_parallel.signatures
    assert kernel.lanes  # random draws, a pipeline and a sample in lanes
    own = model.run(spreads, seed=3, backend="numba", method="rk2")  # small: its blocks in turn
    assert_results_close(own, shared, rtol=0, atol=0)
    monkeypatch.setattr(backends, "PARALLEL_SECONDS", 0.0)  # any call spreads across cores
    across = model.run(spreads, seed=3, backend="numba", method="rk2")
    assert_results_close(across, shared, rtol=0, atol=0)


def test_the_lanes_driver_equals_the_shared_one_through_failures_and_blocks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A model without lookups runs its ensembles in lanes (numba_builtins.run_lanes): each
    # equation a vector loop over a block of runs. Same operations per run as the shared
    # driver: the same numbers to the last bit, the same failures (a stock that becomes
    # infinite at a step that differs per run), flags (a NaN auxiliary) and largest values,
    # over more runs than one block holds (the last block partial) and every method.
    from sd_engine import backends
    from sd_engine.numba_builtins import LANES, STREAM_BYTES

    m = Model("lanes", final_time=3, dt=0.25)
    m.constant("k", 1.0)
    m.stock("x", initial=1, inflows=["growth"], outflows=["drain"])
    m.stock("w", initial=2, inflows=["drain"])
    m.flow("growth", "x * k / (2 - time * k)")  # infinite where time * k reaches 2: fails at a run's own step
    m.flow("drain", "if_then_else(x > 3, x * 0.5, 0.1 * w)")
    m.aux("root", "sqrt(1.5 - time * k)")  # NaN from time 1.5 / k: flagged
    model = m.compile()
    params = {"k": np.linspace(0.3, 1.3, LANES + 37)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)
        shared = {method: model.run(params, backend="numba", method=method) for method in METHODS}
        precompile(model)
        assert numba_kernel(model).lanes
        monkeypatch.setattr(backends, "PARALLEL_SECONDS", 0.0)  # the blocks across cores too
        for method in METHODS:
            own = model.run(params, backend="numba", method=method)
            xr.testing.assert_equal(own, shared[method])  # bit for bit, infinities and NaN included
            statuses = list(own["run_status"].values)
            assert statuses == list(shared[method]["run_status"].values)
            assert statuses == list(model.run(params, backend="numpy", method=method)["run_status"].values)
            assert any(s.startswith("failed") for s in statuses) and any(s.startswith("flagged") for s in statuses)
        # A record past STREAM_BYTES is written with streaming stores: the same numbers as numpy's.
        many = {"k": np.linspace(0.3, 1.3, 1100)}
        big = model.run(many, backend="numba", dt=1 / 256)
        assert big["x"].size * 5 * 8 >= STREAM_BYTES
        xr.testing.assert_equal(big, model.run(many, backend="numpy", dt=1 / 256))


CORPUS = find_cases(TEST_MODELS) if TEST_MODELS.exists() else []


@pytest.mark.slow  # the whole shared conformance sample, one kernel per model (~1-2 minutes)
@pytest.mark.parametrize("case", CORPUS, ids=[str(c[0].relative_to(TEST_MODELS)) for c in CORPUS])
def test_conformance_models_run_compiled_with_the_numpy_results(case: tuple[Path, Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's parser warns about encodings and ignored sections
        try:
            model = sd.load(case[0], data_files=data_files_beside(case[0]))
            expected = model.run(backend="numpy", errors="mark")
        except sd.SDError as exc:
            pytest.skip(f"not run on numpy either: {type(exc).__name__}")
    reason = refusal(model)
    if reason is not None:
        assert "`" in reason or "subscripts" in reason or "interpreter" in reason, reason
        pytest.xfail(f"refused: {reason}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)
        actual = model.run(backend="numba", errors="mark")
    assert actual.attrs["status"] == expected.attrs["status"]
    time = model.spec.time
    steps = (time.final_time - time.initial_time) / time.dt
    # As for the library models: transcendental functions may differ in the last bit (see above).
    rtol = 1e-12 if steps <= 1000 else 1e-10
    with np.errstate(invalid="ignore"):
        assert_results_close(actual, expected, rtol=rtol, atol=rtol, check_status=False)


@pytest.mark.parametrize(("name", "cases"), [
    ("truncated_normal", [(0, 10, 5, 2), (-np.inf, np.inf, 0, 1), (3, 4, 0, 1), (0, 10, 5, 0.0), (5, 5, 5, 1),
                          (np.nan, 1, 0, 1), (-40, -39, 0, 1)]),
    ("truncated_poisson", [(0, 12, 4, 0, 1), (-np.inf, np.inf, 3, 0, 1), (2, 8, 30, 0, 1), (0, 100, 0.0, 0, 1),
                           (1, 50, 7, 2, 3), (0, 12, -1, 0, 1), (0, 12, np.nan, 0, 1), (0.5, 0.7, 4, 0, 1),
                           (0, np.inf, 1000, 0, 0.5)]),
])
def test_random_normal_and_poisson_turn_a_draw_into_numpys_numbers(name: str, cases: list[tuple[float, ...]]) -> None:
    # The compiled versions call scipy.special's own C functions (ndtr, ndtri, pdtr, pdtrik) and
    # repeat scipy.stats' handling of the edges (q = 0 or 1, a mean below 0 or NaN, bounds beyond
    # the support), so every draw is the same double: compared exactly, edges included.
    from sd_engine import numba_builtins

    u = np.concatenate([[0.0, 1.0, 0.5, 1e-300, 1 - 2**-53], np.random.default_rng(5).random(500)])
    for args in cases:
        with np.errstate(all="ignore"):
            expected = getattr(functions, name)(u, *map(np.float64, args))
            actual = np.array([getattr(numba_builtins, name)(x, *map(float, args)) for x in u])
        np.testing.assert_array_equal(actual, expected, err_msg=f"{name}{args}")


@pytest.mark.parametrize("n", [1, 2, 7, 16, 17, 100, 1000, 1021])
def test_parallel_blocks_share_the_runs_evenly_between_threads(n: int) -> None:
    # The drivers' blocks cover every run once, hold at most BLOCK runs each, and give each
    # thread (numba deals the blocks out in equal shares) the same number of runs within one
    # block's worth.
    from sd_engine.numba_builtins import BLOCK, THREADS, parallel_blocks

    threads = THREADS
    blocks = parallel_blocks(n, BLOCK)
    bounds = [(i * n // blocks, (i + 1) * n // blocks) for i in range(blocks)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a < b <= a + BLOCK and b == c for (a, b), (c, _) in zip(bounds, bounds[1:] + [(n, n)]))
    if blocks >= threads:
        assert blocks % threads == 0
        share = blocks // threads
        runs = [bounds[(t + 1) * share - 1][1] - bounds[t * share][0] for t in range(threads)]
        assert max(runs) - min(runs) <= share
