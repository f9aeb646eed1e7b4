"""Every builtin function against values that do not come from the engine.

Each test builds a tiny model with the public builder (:class:`sd_engine.builder.Model`),
runs it and reads the :class:`xarray.Dataset`. Ground truth is one of

* a value worked out by hand (and written down in the test);
* a closed form (exponential and Erlang responses, exact trigonometric values,
  moments of truncated distributions from :mod:`scipy.stats`);
* a plain-Python recurrence, written here, of the *Vensim definition* of a stateful
  function, stepped in Vensim's Euler order: at each time compute the outputs from
  the states, record them, then move every state on by ``dt * rate``;
* published Vensim output (SDXorg test-models, cited where used).

Sections follow the function families: arithmetic, logic, selection, elementary
functions, integer functions, safe division, time inputs, lookups, initial values,
discrete states, smooths, material delays, fixed delays, trend/forecast, random.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from scipy import special, stats

from mc import Z, seed
from sd_engine.builder import Model


# ---------------------------------------------------------------------------------------------
# Helpers: one model per probe, run through the public path
# ---------------------------------------------------------------------------------------------
def at_t0(equation: str, **inputs: Sequence[float]) -> np.ndarray:
    """Evaluate `equation` once (final_time = initial_time) for each set of inputs.

    Every keyword becomes a constant; its values make the run axis, so one compile
    checks a whole column of cases. Returns one value per run.
    """
    m = Model("probe", final_time=0)
    for name in inputs:
        m.constant(name, 0.0)
    m.aux("probe", equation)
    if not inputs:
        return m.run()["probe"].values
    ds = m.run(params={k: np.asarray(v, dtype=float) for k, v in inputs.items()})
    assert ds["probe"].dims == ("run", "time")
    return ds["probe"].values[:, 0]


def series(equation: str, *, final_time: float, dt: float = 1.0, initial_time: float = 0.0,
           auxes: dict[str, str] | None = None, constants: dict[str, float] | None = None,
           **run_kwargs: object) -> tuple[np.ndarray, np.ndarray]:
    """Run a model whose output aux `probe` has `equation`; return (times, values)."""
    m = Model("probe", initial_time=initial_time, final_time=final_time, dt=dt)
    for name, value in (constants or {}).items():
        m.constant(name, value)
    for name, eq in (auxes or {}).items():
        m.aux(name, eq)
    m.aux("probe", equation)
    ds = m.run(**run_kwargs)
    return ds["time"].values, ds["probe"].values


# Vensim definitions as plain-Python recurrences (Euler, Vensim step order) ---------------------
def vensim_smooth_n(x: Sequence[float] | np.ndarray, dt: float, T: float, init: float, n: int) -> np.ndarray:
    """SMOOTH N: `n` first-order stages of time T/n each, every stage starting at `init`.
    SMOOTH is n = 1 with init x(t0); SMOOTHI n = 1; SMOOTH3 n = 3; SMOOTH3I n = 3."""
    stages = [float(init)] * n
    out = []
    for xk in x:
        out.append(stages[-1])
        upstream = [xk] + stages[:-1]
        stages = [s + dt * (u - s) / (T / n) for s, u in zip(stages, upstream)]
    return np.array(out)


def vensim_delay_n(x: Sequence[float] | np.ndarray, dt: float, T: float, init: float, n: int) -> np.ndarray:
    """DELAY N: `n` material stages of time T/n, each holding init*T/n at the start; the
    output is the outflow of the last stage. DELAY1 is n = 1 with init x(t0), DELAY3 n = 3."""
    stages = [init * T / n] * n
    out = []
    for xk in x:
        outflows = [s / (T / n) for s in stages]
        out.append(outflows[-1])
        inflows = [xk] + outflows[:-1]
        stages = [s + dt * (i - o) for s, i, o in zip(stages, inflows, outflows)]
    return np.array(out)


def _zidz(a: float, b: float) -> float:
    return 0.0 if b == 0 else a / b


def vensim_trend(x: Sequence[float], dt: float, T: float, initial_trend: float) -> np.ndarray:
    """TREND(x, T, i0) = ZIDZ(x - S, T*ABS(S)), S = SMOOTHI(x, T, x/(1 + i0*T))."""
    s = x[0] / (1 + initial_trend * T)
    out = []
    for xk in x:
        out.append(_zidz(xk - s, T * abs(s)))
        s = s + dt * (xk - s) / T
    return np.array(out)


def vensim_forecast(x: Sequence[float], dt: float, T: float, horizon: float) -> np.ndarray:
    """FORECAST(x, T, h) = x * (1 + ZIDZ(x - S, T*ABS(S)) * h), S = SMOOTH(x, T)."""
    s = x[0]
    out = []
    for xk in x:
        out.append(xk * (1 + _zidz(xk - s, T * abs(s)) * horizon))
        s = s + dt * (xk - s) / T
    return np.array(out)


#: A time-varying input with a jump, as an equation and as the same function in Python.
INPUT_EQ = "5 + 3 * sin(time / 2) + if_then_else(time >= 6, 4, 0)"


def input_py(t: float) -> float:
    return 5 + 3 * math.sin(t / 2) + (4 if t >= 6 else 0)


# ---------------------------------------------------------------------------------------------
# Arithmetic and precedence
# ---------------------------------------------------------------------------------------------
class TestArithmetic:
    @pytest.mark.parametrize(
        ("equation", "expected"),
        [
            ("2 + 3 * 4", 14.0),
            ("(2 + 3) * 4", 20.0),
            ("10 - 4 - 3", 3.0),  # left associative
            ("12 / 4 / 3", 1.0),  # left associative
            ("2 ** 3 ** 2", 512.0),  # right associative
            ("-2 ** 2", -4.0),  # Python precedence: -(2**2)
            ("2 ** -1", 0.5),
            ("7 % 3", 1.0),
            ("-7 % 3", 2.0),  # `%` is Python's (floored) remainder, unlike MODULO
            ("1 + 2 * 3 ** 2 / 6 - 1", 3.0),
            ("+5 - -5", 10.0),
        ],
    )
    def test_literal_expressions(self, equation: str, expected: float) -> None:
        assert at_t0(equation)[0] == pytest.approx(expected, abs=1e-15)

    # A folded negative literal must stay bracketed in generated code: `-2.0 ** 2.0` is -4.
    @pytest.mark.parametrize(("equation", "expected"), [("(-2) ** 2", 4.0), ("(-3) ** x", 9.0), ("-2 ** 2", -4.0)])
    def test_negative_literal_base_of_a_power(self, equation: str, expected: float) -> None:
        assert at_t0(equation, x=[2.0])[0] == expected

    def test_with_variables_and_ensemble(self) -> None:
        a, b, c, d = [10.0, 1.0], [8.0, 3.0], [2.0, 4.0], [4.0, 0.5]
        got = at_t0("a - b / c * d", a=a, b=b, c=c, d=d)
        assert got.tolist() == [10 - 8 / 2 * 4, 1 - 3 / 4 * 0.5]

    def test_unary_minus_binds_tighter_than_multiplication_looser_than_power(self) -> None:
        assert at_t0("-x * 2", x=[3.0]).tolist() == [-6.0]
        assert at_t0("-x ** 2", x=[3.0]).tolist() == [-9.0]


# ---------------------------------------------------------------------------------------------
# Comparisons and logic (truth values are the numbers 1 and 0)
# ---------------------------------------------------------------------------------------------
class TestLogic:
    X = [1.0, 2.0, 3.0]

    @pytest.mark.parametrize(
        ("op", "expected"),
        [("<", [1, 0, 0]), ("<=", [1, 1, 0]), (">", [0, 0, 1]), (">=", [0, 1, 1]),
         ("==", [0, 1, 0]), ("!=", [1, 0, 1])],
    )
    def test_comparisons(self, op: str, expected: list[int]) -> None:
        assert at_t0(f"x {op} 2", x=self.X).tolist() == expected

    def test_comparison_binds_looser_than_arithmetic(self) -> None:
        # x + 1 > 2 * x  <=>  x < 1
        assert at_t0("x + 1 > 2 * x", x=[0.5, 1.0, 2.0]).tolist() == [1, 0, 0]

    def test_chained_comparison_means_and(self) -> None:
        assert at_t0("1 < x <= 2", x=self.X).tolist() == [0, 1, 0]
        assert at_t0("0 < x < 3 != x", x=self.X).tolist() == [1, 1, 0]

    def test_truth_tables(self) -> None:
        a, b = [0, 0, 1, 1], [0, 1, 0, 1]
        assert at_t0("a and b", a=a, b=b).tolist() == [0, 0, 0, 1]
        assert at_t0("a or b", a=a, b=b).tolist() == [0, 1, 1, 1]
        assert at_t0("not a", a=a, b=b).tolist() == [1, 1, 0, 0]

    def test_any_nonzero_number_is_true(self) -> None:
        assert at_t0("not x", x=[0.0, 2.5, -1.0]).tolist() == [1, 0, 0]
        assert at_t0("x and 1", x=[0.0, 2.5, -1.0]).tolist() == [0, 1, 1]

    def test_precedence_not_and_or(self) -> None:
        # not > and > or:  a or b and c == a or (b and c);  not a and b == (not a) and b
        assert at_t0("a or b and c", a=[1], b=[0], c=[0]).tolist() == [1]
        assert at_t0("not a and b", a=[0], b=[1]).tolist() == [1]
        assert at_t0("not (a and b)", a=[1], b=[0]).tolist() == [1]

    def test_logical_result_is_a_number_in_products(self) -> None:
        assert at_t0("(x > 1 and x < 3) * 10", x=self.X).tolist() == [0, 10, 0]
        assert at_t0("(x > 1) - (x > 2)", x=self.X).tolist() == [0, 1, 0]

    def test_negated_logical(self) -> None:
        assert at_t0("-(x > 1 and x < 3)", x=self.X).tolist() == [0, -1, 0]

    def test_difference_of_logicals(self) -> None:
        assert at_t0("(x > 1 and x < 3) - (x < 2 or x > 2)", x=self.X).tolist() == [-1, 1, -1]


# ---------------------------------------------------------------------------------------------
# Selection: IF THEN ELSE, the conditional expression, MIN, MAX
# ---------------------------------------------------------------------------------------------
class TestSelection:
    def test_if_then_else(self) -> None:
        assert at_t0("if_then_else(x > 0, 10, -10)", x=[-1, 0, 2]).tolist() == [-10, -10, 10]

    def test_if_then_else_condition_is_any_nonzero_number(self) -> None:
        assert at_t0("if_then_else(x, 1, 2)", x=[0, 3, -1]).tolist() == [2, 1, 1]

    def test_python_conditional_expression(self) -> None:
        assert at_t0("10 if x > 0 else -10", x=[-1, 0, 2]).tolist() == [-10, -10, 10]
        assert at_t0("1 if x < 0 else 2 if x < 1 else 3", x=[-1, 0.5, 7]).tolist() == [1, 2, 3]

    def test_untaken_branch_does_not_leak(self) -> None:
        got = at_t0("if_then_else(x == 0, 0, 1 / x)", x=[0.0, 4.0])
        assert got.tolist() == [0.0, 0.25]

    def test_if_then_else_over_time(self) -> None:
        t, v = series("if_then_else(time < 2, time, 2 * time)", final_time=4)
        assert v.tolist() == [0, 1, 4, 6, 8]

    def test_min_max_two_args(self) -> None:
        a, b = [1, 5, -3], [2, 4, -3]
        assert at_t0("min(a, b)", a=a, b=b).tolist() == [1, 4, -3]
        assert at_t0("max(a, b)", a=a, b=b).tolist() == [2, 5, -3]

    def test_min_max_many_args(self) -> None:
        x = [0.0, 2.5, 9.0]
        assert at_t0("min(3, x, 1, 2)", x=x).tolist() == [0, 1, 1]
        assert at_t0("max(3, x, 1, 2)", x=x).tolist() == [3, 3, 9]
        assert at_t0("max(x, -x, 1)", x=[-4, 0.5, 2]).tolist() == [4, 1, 2]


# ---------------------------------------------------------------------------------------------
# Elementary functions: exact values and identities
# ---------------------------------------------------------------------------------------------
class TestElementary:
    @pytest.mark.parametrize(
        ("equation", "expected"),
        [
            ("abs(-3.5)", 3.5), ("abs(2)", 2.0), ("abs(0)", 0.0),
            ("sqrt(16)", 4.0), ("sqrt(2) * sqrt(2)", 2.0), ("sqrt(0)", 0.0),
            ("exp(0)", 1.0), ("exp(1)", math.e), ("exp(-2) * exp(2)", 1.0),
            ("ln(1)", 0.0), ("ln(exp(3))", 3.0), ("ln(0.5)", -math.log(2)),
            ("log(8, 2)", 3.0), ("log(1000, 10)", 3.0), ("log(1/9, 3)", -2.0), ("log(5, 5)", 1.0),
            ("log10(1000)", 3.0), ("log10(0.001)", -3.0), ("log10(1)", 0.0),
        ],
    )
    def test_exact_values(self, equation: str, expected: float) -> None:
        assert at_t0(equation)[0] == pytest.approx(expected, rel=1e-14, abs=1e-14)

    @pytest.mark.parametrize(
        ("equation", "expected"),
        [
            ("sin(pi / 6)", 0.5), ("sin(pi / 2)", 1.0), ("sin(0)", 0.0),
            ("cos(pi / 3)", 0.5), ("cos(0)", 1.0), ("cos(pi)", -1.0),
            ("tan(pi / 4)", 1.0), ("tan(-pi / 4)", -1.0), ("tan(0)", 0.0),
            ("arcsin(1)", math.pi / 2), ("arcsin(0.5)", math.pi / 6), ("arcsin(-1)", -math.pi / 2),
            ("arccos(0.5)", math.pi / 3), ("arccos(1)", 0.0), ("arccos(-1)", math.pi),
            ("arctan(1)", math.pi / 4), ("arctan(0)", 0.0), ("arctan(-1)", -math.pi / 4),
            # Vensim/XMILE spellings
            ("asin(1)", math.pi / 2), ("acos(0)", math.pi / 2), ("atan(1)", math.pi / 4),
        ],
    )
    def test_trigonometry(self, equation: str, expected: float) -> None:
        # `pi` is a constant of the probe model, written out here by hand.
        got = at_t0(equation, pi=[3.141592653589793])[0]
        assert got == pytest.approx(expected, rel=1e-14, abs=1e-15)

    def test_trigonometric_identities_over_time(self) -> None:
        t, s2c2 = series("sin(time) ** 2 + cos(time) ** 2", final_time=10, dt=0.5)
        np.testing.assert_allclose(s2c2, 1.0, rtol=1e-15)
        t, inv = series("arctan(tan(time / 10))", final_time=10, dt=0.5)
        np.testing.assert_allclose(inv, t / 10, rtol=1e-14, atol=1e-15)

    def test_functions_follow_the_run_axis(self) -> None:
        x = [0.25, 1.0, 4.0]
        assert at_t0("sqrt(x)", x=x).tolist() == [0.5, 1.0, 2.0]
        assert at_t0("log(x, 2)", x=x).tolist() == [-2.0, 0.0, 2.0]
        assert at_t0("abs(x - 1)", x=x).tolist() == [0.75, 0.0, 3.0]


# ---------------------------------------------------------------------------------------------
# INTEGER, MODULO, QUANTUM
# ---------------------------------------------------------------------------------------------
#: Rows of SDXorg test-models tests/rounding/output.tab (Vensim DSS 7.3.4, double precision):
#: time, StockA = -10 + Time/10, INTEGER(StockA), MODULO(StockA, 3).
VENSIM_ROUNDING = [
    (0, -10, -10, -1), (1, -9.9, -9, -0.9), (10, -9, -9, 0), (11, -8.9, -8, -2.9),
    (45, -5.5, -5, -2.5), (80, -2, -2, -2), (91, -0.9, 0, -0.9), (99, -0.1, 0, -0.1),
    (100, 0, 0, 0), (105, 0.5, 0, 0.5), (129, 2.9, 2, 2.9), (130, 3, 3, 0), (199, 9.9, 9, 0.9),
]


class TestIntegerFunctions:
    def test_integer_truncates_toward_zero(self) -> None:
        x = [-3.7, -0.5, 0.5, 2.9, 3.0, -9.9, -4.0]
        assert at_t0("integer(x)", x=x).tolist() == [-3, 0, 0, 2, 3, -9, -4]
        assert at_t0("int(x)", x=x).tolist() == [-3, 0, 0, 2, 3, -9, -4]

    def test_modulo_positive(self) -> None:
        got = at_t0("modulo(a, b)", a=[7, 5.5, 6, 0, 1], b=[3, 3, 3, 3, 4])
        np.testing.assert_allclose(got, [1, 2.5, 0, 0, 1], atol=1e-15)

    def test_modulo_takes_the_sign_of_the_dividend(self) -> None:
        # Vensim MODULO(a, b) = a - b * INTEGER(a / b): MODULO(-7, 3) = -1, not Python's 2.
        got = at_t0("modulo(a, b)", a=[-7, -9.5, -6, -1], b=[3, 3, 3, 4])
        np.testing.assert_allclose(got, [-1, -0.5, 0, -1], atol=1e-15)

    def test_integer_and_modulo_match_vensim_output(self) -> None:
        m = Model("rounding", final_time=200, dt=1)
        m.aux("StockA", "-10 + time / 10")
        m.aux("test integer", "integer(stocka)")
        m.aux("test modulo", "modulo(stocka, 3)")
        ds = m.run()
        for time, stock, integer, modulo in VENSIM_ROUNDING:
            row = ds.sel(time=time)
            assert float(row["StockA"]) == pytest.approx(stock, abs=1e-12)
            assert float(row["test integer"]) == integer, time
            assert float(row["test modulo"]) == pytest.approx(modulo, abs=1e-12), time

    def test_quantum(self) -> None:
        # QUANTUM(a, q) = q * INTEGER(a / q); a itself where q <= 0.
        a = [7.5, -7.5, 6, 0.3, 5, 5]
        q = [2, 2, 2, 2, 0, -1]
        assert at_t0("quantum(a, q)", a=a, q=q).tolist() == [6, -6, 6, 0, 5, 5]


# ---------------------------------------------------------------------------------------------
# XIDZ and ZIDZ
# ---------------------------------------------------------------------------------------------
class TestSafeDivision:
    A, B = [3, 3, 0, -4, 1], [2, 0, 0, -8, 2.0**-10]

    def test_xidz(self) -> None:
        got = at_t0("xidz(a, b, 99)", a=self.A, b=self.B)
        assert got.tolist() == [1.5, 99, 99, 0.5, 1024]

    def test_zidz(self) -> None:
        got = at_t0("zidz(a, b)", a=self.A, b=self.B)
        assert got.tolist() == [1.5, 0, 0, 0.5, 1024]

    def test_zero_denominator_over_time_stays_finite(self) -> None:
        t, v = series("zidz(1, time - 2) + xidz(1, time - 2, 5)", final_time=4)
        np.testing.assert_allclose(v, [-1, -2, 5, 2, 1])


# ---------------------------------------------------------------------------------------------
# Time inputs: TIME, DT, STEP, PULSE, PULSE TRAIN, RAMP
# ---------------------------------------------------------------------------------------------
class TestTimeInputs:
    def test_time_names(self) -> None:
        for name in ("time", "t", "time()"):
            t, v = series(name, initial_time=2, final_time=4, dt=0.5)
            assert t.tolist() == [2, 2.5, 3, 3.5, 4]
            assert v.tolist() == t.tolist()
        for name in ("dt", "time_step"):
            assert series(name, initial_time=2, final_time=4, dt=0.5)[1].tolist() == [0.5] * 5

    def test_saveper_thins_the_record_only(self) -> None:
        t, v = series("time * dt", final_time=4, dt=0.5, saveper=1)
        assert t.tolist() == [0, 1, 2, 3, 4]
        assert v.tolist() == [0, 0.5, 1, 1.5, 2]

    def test_step(self) -> None:
        assert series("step(5, 3)", final_time=6)[1].tolist() == [0, 0, 0, 5, 5, 5, 5]

    def test_step_compares_with_half_a_time_step(self) -> None:
        # Vensim switches when TIME + TIME STEP/2 > start: at t = 2 for a start of 2.4.
        assert series("step(1, 2.4)", final_time=4)[1].tolist() == [0, 0, 1, 1, 1]
        assert series("step(1, 2.6)", final_time=4)[1].tolist() == [0, 0, 0, 1, 1]

    def test_step_and_pulse_where_k_dt_misses_start_in_floating_point(self) -> None:
        # 3 * 0.3 = 0.8999999999999999 < 0.9: whether or not the engine snaps its times to
        # the decimals they stand for, the half-step tolerance switches at the third step.
        assert 3 * 0.3 < 0.9
        t, v = series("step(2, 0.9)", final_time=1.5, dt=0.3)
        assert v.tolist() == [0, 0, 0, 2, 2, 2]
        t, v = series("pulse(0.9, 0.6)", final_time=1.5, dt=0.3)
        assert v.tolist() == [0, 0, 0, 1, 1, 0]

    def test_pulse(self) -> None:
        assert series("pulse(2, 3)", final_time=7)[1].tolist() == [0, 0, 1, 1, 1, 0, 0, 0]

    def test_pulse_of_zero_width_lasts_one_time_step(self) -> None:
        assert series("pulse(2, 0)", final_time=4)[1].tolist() == [0, 0, 1, 0, 0]
        t, v = series("pulse(2, 0)", final_time=3, dt=0.25)
        assert t[v == 1].tolist() == [2.0]

    def test_pulse_on_a_floating_point_grid(self) -> None:
        t, v = series("pulse(0.3, 0.2)", final_time=1, dt=0.1)
        assert np.flatnonzero(v).tolist() == [3, 4]

    def test_pulse_integrates_to_height_times_width(self) -> None:
        m = Model("pulse area", final_time=6, dt=0.25)
        m.stock("total", 0, inflows=["inflow"])
        m.flow("inflow", "4 * pulse(2, 1.5)")
        assert float(m.run()["total"][-1]) == 6.0

    def test_pulse_train(self) -> None:
        t, v = series("pulse_train(1, 1, 3, 9)", final_time=12)
        assert t[v == 1].tolist() == [1, 4, 7]
        t, v = series("pulse_train(1, 2, 3, 8.5)", final_time=12)
        assert t[v == 1].tolist() == [1, 2, 4, 5, 7, 8]

    def test_pulse_train_interval_shorter_than_width_is_always_on(self) -> None:
        t, v = series("pulse_train(2, 3, 1, 6.3)", final_time=9)
        assert v.tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0, 0]

    def test_pulse_train_on_a_floating_point_grid(self) -> None:
        # A one-step pulse every 0.9 with dt = 0.1: every 9th step from 0 to 19.8, 23 pulses.
        # In doubles t - start is often a hair short of a whole number of intervals
        # (4.5 mod 0.9 = 0.8999999999999999): the half-step tolerance of STEP and PULSE
        # must apply to every repeat, or pulses go missing.
        t, v = series("pulse_train(0, 0.1, 0.9, 20)", final_time=20, dt=0.1)
        assert np.flatnonzero(v).tolist() == list(range(0, 199, 9))

    def test_ramp(self) -> None:
        assert series("ramp(2, 3, 6)", final_time=8)[1].tolist() == [0, 0, 0, 0, 2, 4, 6, 6, 6]

    def test_ramp_is_zero_before_its_start_even_if_end_comes_first(self) -> None:
        # "0 until the start time": a mis-ordered end must not move the ramp before start.
        t, v = series("ramp(1, 5, 3)", final_time=4)
        assert v.tolist() == [0, 0, 0, 0, 0]

    def test_ramp_between_grid_points(self) -> None:
        t, v = series("ramp(-1, 1.25, 2.25)", final_time=3, dt=0.5)
        assert v.tolist() == [0, 0, 0, -0.25, -0.75, -1, -1]


# ---------------------------------------------------------------------------------------------
# Lookups (graphical functions)
# ---------------------------------------------------------------------------------------------
TABLE = [(0, 0), (1, 10), (3, 20), (4, 0)]
X_PROBES = [-1, 0, 0.5, 1, 2, 2.9, 3, 3.5, 4, 5]


def lookup_probe(mode: str, equation: str = "table(x)") -> np.ndarray:
    m = Model("lookup probe", final_time=0)
    m.lookup("table", TABLE, mode=mode)  # type: ignore[arg-type]
    m.constant("x", 0)
    m.aux("probe", equation)
    return m.run(params={"x": np.array(X_PROBES, dtype=float)})["probe"].values[:, 0]


class TestLookups:
    def test_interpolate_holds_the_end_values(self) -> None:
        expected = [0, 0, 5, 10, 15, 19.5, 20, 10, 0, 0]
        np.testing.assert_allclose(lookup_probe("interpolate"), expected, rtol=1e-14)

    def test_extrapolate_continues_the_end_segments(self) -> None:
        # slopes: 10 before the first point, -20 after the last
        expected = [-10, 0, 5, 10, 15, 19.5, 20, 10, 0, -20]
        np.testing.assert_allclose(lookup_probe("extrapolate"), expected, rtol=1e-14)

    def test_hold_backward_is_a_step_function(self) -> None:
        expected = [0, 0, 0, 10, 10, 10, 20, 20, 0, 0]
        assert lookup_probe("hold_backward").tolist() == expected

    def test_look_forward_takes_the_next_point(self) -> None:
        expected = [0, 0, 10, 10, 20, 20, 20, 0, 0, 0]
        assert lookup_probe("look_forward").tolist() == expected

    def test_named_lookup_calls_override_the_table_mode(self) -> None:
        expected = [-10, 0, 5, 10, 15, 19.5, 20, 10, 0, -20]
        np.testing.assert_allclose(lookup_probe("interpolate", "lookup_extrapolate(table, x)"), expected)
        assert lookup_probe("interpolate", "lookup_backward(table, x)").tolist() == \
            [0, 0, 0, 10, 10, 10, 20, 20, 0, 0]
        assert lookup_probe("interpolate", "lookup_forward(table, x)").tolist() == \
            [0, 0, 10, 10, 20, 20, 20, 0, 0, 0]

    def test_with_lookup_inline_table(self) -> None:
        got = at_t0("with_lookup(x, ((0, 0), (1, 10), (3, 20), (4, 0)))", x=X_PROBES)
        np.testing.assert_allclose(got, [0, 0, 5, 10, 15, 19.5, 20, 10, 0, 0], rtol=1e-14)

    def test_lookup_of_time(self) -> None:
        m = Model("lookup of time", final_time=5)
        m.lookup("profile", [(0, 100), (2, 200), (4, 100)])
        m.aux("demand", "profile(time)")
        assert m.run()["demand"].values.tolist() == [100, 150, 200, 150, 100, 100]

    def test_lookup_can_be_overridden_per_run_call(self) -> None:
        m = Model("lookup override", final_time=0)
        m.lookup("table", TABLE)
        m.aux("probe", "table(2)")
        assert m.run()["probe"].values.tolist() == [15.0]
        assert m.run(params={"table": [(0, 0), (1, 2), (4, 8)]})["probe"].values.tolist() == [4.0]


# ---------------------------------------------------------------------------------------------
# INITIAL and ACTIVE INITIAL
# ---------------------------------------------------------------------------------------------
class TestInitialValues:
    def test_initial_of_time_is_the_initial_time(self) -> None:
        t, v = series("initial(time) + 0 * time", initial_time=3, final_time=6)
        assert v.tolist() == [3, 3, 3, 3]

    def test_initial_freezes_a_changing_stock(self) -> None:
        m = Model("initial", final_time=4)
        m.stock("level", 10, inflows=["growth"])
        m.flow("growth", "2")
        m.aux("start level", "initial(level)")
        m.aux("gain", "level - initial(level)")
        ds = m.run()
        assert ds["level"].values.tolist() == [10, 12, 14, 16, 18]
        assert ds["start level"].values.tolist() == [10] * 5
        assert ds["gain"].values.tolist() == [0, 2, 4, 6, 8]

    def test_active_initial(self) -> None:
        # As SDXorg tests/active_initial: the stock starts from the initial value (45), while the
        # aux itself reports its active equation from the first time on (Time, so 0 at t = 0).
        m = Model("active initial", final_time=3)
        m.aux("value a", "active_initial(time, 45)")
        m.stock("stock a", "value_a", inflows=["flow a"])
        m.flow("flow a", "1")
        ds = m.run()
        assert ds["value a"].values.tolist() == [0, 1, 2, 3]
        assert ds["stock a"].values.tolist() == [45, 46, 47, 48]

    def test_active_initial_breaks_an_initialisation_loop(self) -> None:
        # capacity depends on the stock it initialises; without ACTIVE INITIAL it would be a loop.
        m = Model("capacity", final_time=2)
        m.aux("capacity", "active_initial(staff * 2, 30)")
        m.stock("staff", "capacity / 2", inflows=["hiring"])
        m.flow("hiring", "1")
        ds = m.run()
        assert ds["staff"].values.tolist() == [15, 16, 17]
        assert ds["capacity"].values.tolist() == [30, 32, 34]


# ---------------------------------------------------------------------------------------------
# SAMPLE IF TRUE
# ---------------------------------------------------------------------------------------------
class TestSampleIfTrue:
    def test_holds_the_last_sample(self) -> None:
        t, v = series("sample_if_true(time >= 2 and time < 4 or time >= 7, 10 * time, -1)", final_time=9)
        assert v.tolist() == [-1, -1, 20, 30, 30, 30, 30, 70, 80, 90]

    def test_true_at_the_start_samples_at_once(self) -> None:
        t, v = series("sample_if_true(time < 1 or time == 3, time + 100, -1)", final_time=5)
        assert v.tolist() == [100, 100, 100, 103, 103, 103]

    def test_against_a_recurrence_with_a_stock_input(self) -> None:
        dt = 0.5
        m = Model("sampling", final_time=10, dt=dt)
        m.stock("level", 1, inflows=["growth"])
        m.flow("growth", "0.2 * level")
        m.aux("sampled", "sample_if_true(modulo(time, 3) < 1, level, 0)")
        ds = m.run()
        level, held, expected = 1.0, 0.0, []
        for t in ds["time"].values:
            held = level if math.fmod(t, 3) < 1 else held
            expected.append(held)
            level += dt * 0.2 * level
        np.testing.assert_allclose(ds["sampled"].values, expected, rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# SMOOTH family
# ---------------------------------------------------------------------------------------------
class TestSmooth:
    def test_smooth_of_a_step_by_hand(self) -> None:
        # S(0) = x(0) = 0; S += dt * (x - S) / 2 with x jumping to 10 at t = 1
        assert series("smooth(step(10, 1), 2)", final_time=4)[1].tolist() == [0, 0, 5, 7.5, 8.75]

    def test_smooth3_of_a_step_by_hand(self) -> None:
        # stage time 1 = dt: each stage copies its input one step later
        assert series("smooth3(step(9, 1), 3)", final_time=5)[1].tolist() == [0, 0, 0, 0, 9, 9]

    def test_smooth3i_by_hand(self) -> None:
        assert series("smooth3i(9, 3, 3)", final_time=4)[1].tolist() == [3, 3, 3, 9, 9]

    @pytest.mark.parametrize("equation", ["smooth(7, 3)", "smooth3(7, 3)", "smooth_n(7, 3, 7, 4)",
                                          "smoothi(7, 3, 7)"])
    def test_smooth_of_a_constant_is_the_constant(self, equation: str) -> None:
        assert series(equation, final_time=10, dt=0.25)[1].tolist() == [7.0] * 41

    @pytest.mark.parametrize(
        ("equation", "init", "n"),
        [
            ("smooth(input, 4)", None, 1),
            ("smoothi(input, 4, 2)", 2.0, 1),
            ("smooth3(input, 4)", None, 3),
            ("smooth3i(input, 4, -1)", -1.0, 3),
            ("smooth_n(input, 4, 12, 5)", 12.0, 5),
            ("smooth_n(input, 4, 12, order)", 12.0, 2),
        ],
    )
    def test_against_vensim_recurrence(self, equation: str, init: float | None, n: int) -> None:
        dt = 0.25
        t, v = series(equation, final_time=16, dt=dt, auxes={"input": INPUT_EQ}, constants={"order": 2})
        x = [input_py(tk) for tk in t]
        expected = vensim_smooth_n(x, dt, 4.0, x[0] if init is None else init, n)
        np.testing.assert_allclose(v, expected, rtol=1e-12, atol=1e-12)

    def test_smoothing_time_varies_across_runs(self) -> None:
        dt = 0.5
        m = Model("smooth ensemble", final_time=8, dt=dt)
        m.constant("delay time", 1)
        m.aux("input", INPUT_EQ)
        m.aux("smoothed", "smooth(input, delay_time)")
        times = [1.5, 3.0, 6.0]
        ds = m.run(params={"delay time": np.array(times)})
        x = [input_py(tk) for tk in ds["time"].values]
        for i, T in enumerate(times):
            np.testing.assert_allclose(ds["smoothed"].values[i], vensim_smooth_n(x, dt, T, x[0], 1), rtol=1e-12)

    def test_arrayed_smooth_acts_per_element(self) -> None:
        dt = 0.5
        m = Model("arrayed", final_time=6, dt=dt)
        m.dimension("region", ["north", "south"])
        m.constant("scale", [1.0, -3.0], dims=["region"])
        m.aux("smoothed", "smooth(scale * time, 2)", dims=["region"])
        ds = m.run()
        t = ds["time"].values
        for j, scale in enumerate([1.0, -3.0]):
            expected = vensim_smooth_n(scale * t, dt, 2.0, 0.0, 1)
            np.testing.assert_allclose(ds["smoothed"].values[:, j], expected, rtol=1e-12)

    def test_several_and_nested_smooths_in_one_equation(self) -> None:
        dt = 0.25
        t, v = series("smooth(input, 2) - smooth3(smooth(input, 1), 3)", final_time=12, dt=dt,
                      auxes={"input": INPUT_EQ})
        x = [input_py(tk) for tk in t]
        inner = vensim_smooth_n(x, dt, 1.0, x[0], 1)
        expected = vensim_smooth_n(x, dt, 2.0, x[0], 1) - vensim_smooth_n(inner, dt, 3.0, inner[0], 3)
        np.testing.assert_allclose(v, expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Material delays: DELAY1, DELAY1I, DELAY3, DELAY3I, DELAY N
# ---------------------------------------------------------------------------------------------
class TestMaterialDelays:
    def test_delay1_of_a_step_by_hand(self) -> None:
        # L(0) = x(0)*T = 0; output L/T; L += dt * (x - L/T)
        assert series("delay1(step(10, 1), 2)", final_time=4)[1].tolist() == [0, 0, 5, 7.5, 8.75]

    def test_delay3_with_stage_time_dt_is_a_pipeline(self) -> None:
        assert series("delay3(step(9, 1), 3)", final_time=6)[1].tolist() == [0, 0, 0, 0, 9, 9, 9]

    def test_delay1i_starts_from_its_initial_value(self) -> None:
        # L(0) = 6 * 2 = 12: output 6, then L = 12 + (0 - 6) = 6 -> 3 -> 1.5
        assert series("delay1i(0, 2, 6)", final_time=3)[1].tolist() == [6, 3, 1.5, 0.75]

    @pytest.mark.parametrize("equation", ["delay1(7, 3)", "delay3(7, 3)", "delay_n(7, 3, 7, 4)",
                                          "delay1i(7, 3, 7)", "delay3i(7, 3, 7)"])
    def test_delay_of_a_constant_is_the_constant(self, equation: str) -> None:
        np.testing.assert_allclose(series(equation, final_time=10, dt=0.25)[1], 7.0, rtol=1e-15)

    @pytest.mark.parametrize(
        ("equation", "init", "n"),
        [
            ("delay1(input, 4)", None, 1),
            ("delay1i(input, 4, 2)", 2.0, 1),
            ("delay3(input, 4)", None, 3),
            ("delay3i(input, 4, -1)", -1.0, 3),
            ("delay_n(input, 4, 12, 5)", 12.0, 5),
            ("delay_n(input, 4, 12, order)", 12.0, 2),
        ],
    )
    def test_against_vensim_recurrence(self, equation: str, init: float | None, n: int) -> None:
        dt = 0.25
        t, v = series(equation, final_time=16, dt=dt, auxes={"input": INPUT_EQ}, constants={"order": 2})
        x = [input_py(tk) for tk in t]
        expected = vensim_delay_n(x, dt, 4.0, x[0] if init is None else init, n)
        np.testing.assert_allclose(v, expected, rtol=1e-12, atol=1e-12)

    def test_material_is_conserved(self) -> None:
        # in transit = cumulative inflow - cumulative outflow; everything leaves eventually
        m = Model("conservation", final_time=60, dt=0.25)
        m.aux("arrivals", "pulse(1, 2) * 5")
        m.aux("departures", "delay3(arrivals, 6)")
        m.stock("arrived", 0, inflows=["in"])
        m.stock("departed", 0, inflows=["out"])
        m.flow("in", "arrivals")
        m.flow("out", "departures")
        ds = m.run()
        assert float(ds["arrived"][-1]) == 10.0
        assert float(ds["departed"][-1]) == pytest.approx(10.0, abs=1e-6)


class TestLagsConvergeToClosedForms:
    """For a step of height H at s, DELAY N and SMOOTH N of order n both have the Erlang response
    H * P(n, n (t - s) / T) (P: regularised lower incomplete gamma); n = 1 is 1 - exp(-(t-s)/T).
    Euler is first order: halving dt halves the largest error."""

    H, S, T = 10.0, 2.0, 4.0

    def closed_form(self, t: np.ndarray, n: int) -> np.ndarray:
        return self.H * special.gammainc(n, n * np.maximum(t - self.S, 0) / self.T)

    def max_error(self, equation: str, n: int, dt: float) -> float:
        t, v = series(equation, final_time=20, dt=dt)
        return float(np.max(np.abs(v - self.closed_form(t, n))))

    @pytest.mark.parametrize(
        ("equation", "n"),
        [("delay1(step(10, 2), 4)", 1), ("delay3(step(10, 2), 4)", 3), ("delay_n(step(10, 2), 4, 0, 5)", 5),
         ("smooth(step(10, 2), 4)", 1), ("smooth3(step(10, 2), 4)", 3), ("smooth_n(step(10, 2), 4, 0, 5)", 5)],
    )
    def test_first_order_convergence(self, equation: str, n: int) -> None:
        coarse, fine = self.max_error(equation, n, 1 / 32), self.max_error(equation, n, 1 / 64)
        assert fine < n * self.H * (1 / 64) / self.T
        assert 1.8 < coarse / fine < 2.2

    def test_delay1_closed_form_for_euler(self) -> None:
        # Exactly, in Euler: y(t_k) = H * (1 - (1 - dt/T) ** ((t_k - s) / dt)) after the step.
        dt = 0.5
        t, v = series("delay1(step(10, 2), 4)", final_time=20, dt=dt)
        expected = self.H * (1 - (1 - dt / self.T) ** (np.maximum(t - self.S, 0) / dt))
        np.testing.assert_allclose(v, expected, rtol=1e-12)

    def test_rk4_matches_the_exponential_closely(self) -> None:
        t, v = series("smooth(10 * exp(-time / 3), 4)", final_time=12, dt=0.125, method="rk4")
        # y' = (x - y)/T, y(0) = 10, x = 10 e^{-t/a}:  y = 10 (a e^{-t/a} - T e^{-t/T}) / (a - T)
        a, T = 3.0, 4.0
        expected = 10 * (a * np.exp(-t / a) - T * np.exp(-t / T)) / (a - T)
        np.testing.assert_allclose(v, expected, rtol=1e-7)


# ---------------------------------------------------------------------------------------------
# DELAY FIXED: an exact pipeline
# ---------------------------------------------------------------------------------------------
class TestDelayFixed:
    def test_pipeline_by_hand(self) -> None:
        t, v = series("delay_fixed(time ** 2, 3, -5)", final_time=8)
        assert v.tolist() == [-5, -5, -5, 0, 1, 4, 9, 16, 25]

    @pytest.mark.parametrize(
        ("delay", "steps"),
        # As SDXorg tests/delay_fixed (Vensim): 0.5 -> 1 step, 1.2 -> 1, 1.5 -> 2, 2 -> 2, 3.7 -> 4,
        # and a delay of 0 (DT2 = DELAY FIXED(.., Time/2, ..) at Time 0) -> 1 step.
        [(0.5, 1), (1.2, 1), (1.5, 2), (2, 2), (3.7, 4), (0, 1)],
    )
    def test_delay_time_rounds_to_whole_steps(self, delay: float, steps: int) -> None:
        dt = 1.0
        t, v = series(f"delay_fixed(time ** 2, {delay}, 7)", final_time=12, dt=dt)
        expected = [7.0 if k < steps else (t[k - steps]) ** 2 for k in range(len(t))]
        assert v.tolist() == expected

    def test_pipeline_with_fractional_time_step(self) -> None:
        # T = 0.3 with dt = 0.1 is 3 steps even though 0.3 / 0.1 = 2.9999999999999996.
        dt = 0.1
        t, v = series("delay_fixed(time, 0.3, -1)", final_time=2, dt=dt)
        expected = [-1.0] * 3 + list(t[:-3])
        assert v.tolist() == expected

    def test_against_a_buffer_recurrence(self) -> None:
        dt, T, init = 0.25, 1.75, 2.0
        t, v = series("delay_fixed(input, 1.75, 2)", final_time=12, dt=dt, auxes={"input": INPUT_EQ})
        x = [input_py(tk) for tk in t]
        lag = round(T / dt)
        expected = [init if k < lag else x[k - lag] for k in range(len(t))]
        assert v.tolist() == expected

    def test_delay_time_is_fixed_at_its_initial_value(self) -> None:
        # As SDXorg tests/delay_fixed DST: the delay time 2 + 2 sin(Time) is read once, at Time 0.
        t, v = series("delay_fixed(time ** 2, 2 + 2 * sin(time), 7)", final_time=8)
        assert v.tolist() == [7, 7] + [tk ** 2 for tk in t[:-2]]

    def test_delay_time_varies_across_runs(self) -> None:
        m = Model("fixed ensemble", final_time=6)
        m.constant("lag", 1)
        m.aux("delayed", "delay_fixed(10 * time, lag, -1)")
        ds = m.run(params={"lag": np.array([1.0, 3.0, 2.0])})
        assert ds["delayed"].values.tolist() == [
            [-1, 0, 10, 20, 30, 40, 50],
            [-1, -1, -1, 0, 10, 20, 30],
            [-1, -1, 0, 10, 20, 30, 40],
        ]


# ---------------------------------------------------------------------------------------------
# TREND and FORECAST
# ---------------------------------------------------------------------------------------------
class TestTrendForecast:
    def test_trend_of_steady_geometric_growth_is_the_growth_rate(self) -> None:
        # x_k = 100 (1 + g dt)^k and S(0) = x/(1 + g T) keep x/S = 1 + g T at every Euler step,
        # so TREND(x, T, g) = (x - S) / (T S) = g exactly.
        g, dt = 0.1, 0.25
        t, v = series("trend(100 * (1 + 0.1 * dt) ** (time / dt), 5, 0.1)", final_time=20, dt=dt)
        np.testing.assert_allclose(v, g, rtol=1e-12)

    def test_trend_against_vensim_recurrence(self) -> None:
        dt = 0.25
        t, v = series("trend(input, 3, 0.02)", final_time=16, dt=dt, auxes={"input": INPUT_EQ})
        x = [input_py(tk) for tk in t]
        np.testing.assert_allclose(v, vensim_trend(x, dt, 3.0, 0.02), rtol=1e-12, atol=1e-14)

    def test_trend_of_zero_is_zero_not_nan(self) -> None:
        assert series("trend(0 * time, 5, 0.3)", final_time=3)[1].tolist() == [0, 0, 0, 0]

    def test_forecast_of_a_constant_is_the_constant(self) -> None:
        assert series("forecast(4, 3, 10)", final_time=5, dt=0.5)[1].tolist() == [4.0] * 11

    def test_forecast_against_vensim_recurrence(self) -> None:
        dt = 0.25
        t, v = series("forecast(input, 3, 5)", final_time=16, dt=dt, auxes={"input": INPUT_EQ})
        x = [input_py(tk) for tk in t]
        np.testing.assert_allclose(v, vensim_forecast(x, dt, 3.0, 5.0), rtol=1e-12)

    def test_forecast_by_hand(self) -> None:
        # x = step(10, 1) + 10, T = 2, h = 4; S(0) = 10
        # t=1: x=20, S=10 -> 20 * (1 + 10/(2*10) * 4) = 60;  S -> 15
        # t=2: x=20, S=15 -> 20 * (1 + 5/(2*15) * 4) = 20 + 40/3
        t, v = series("forecast(step(10, 1) + 10, 2, 4)", final_time=2)
        np.testing.assert_allclose(v, [10, 60, 20 + 40 / 3], rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# Random numbers
# ---------------------------------------------------------------------------------------------
class _Truncated:
    """A scipy distribution of `base` restricted to [low, high], with the moments we check."""

    def __init__(self, base: stats.rv_continuous, low: float, high: float) -> None:
        self.base, self.low, self.high = base, low, high
        self.mass = base.cdf(high) - base.cdf(low)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return np.clip((self.base.cdf(x) - self.base.cdf(self.low)) / self.mass, 0, 1)

    def moment(self, f: Callable[[float], float]) -> float:
        return float(self.base.expect(f, lb=self.low, ub=self.high, conditional=True))


def _poisson_lattice(low: float, high: float, mean: float, shift: float,
                     stretch: float) -> tuple[np.ndarray, np.ndarray]:
    """Values shift + stretch*k inside [low, high] and their truncated Poisson probabilities."""
    k = np.arange(math.ceil((low - shift) / stretch), math.floor((high - shift) / stretch) + 1)
    p = stats.poisson.pmf(k, mean)
    return shift + stretch * k, p / p.sum()


RANDOM_CASES = {
    "uniform": ("random_uniform(2, 5, 0)", 2, 5, _Truncated(stats.uniform(2, 3), 2, 5)),
    "normal": ("random_normal(-1, 4, 1, 2, 0)", -1, 4, _Truncated(stats.norm(1, 2), -1, 4)),
    "exponential": ("random_exponential(1, 6, 0.5, 2, 0)", 1, 6, _Truncated(stats.expon(0.5, 2), 1, 6)),
    "poisson": ("random_poisson(2, 15, 3.5, 1, 2, 0)", 2, 15, None),
}

N_RUNS, N_TIMES = 2000, 5  # 10 000 draws in one vectorised run


def draws(equation: str, seed: int | Sequence[int] | None = 0, n_runs: int = N_RUNS) -> np.ndarray:
    m = Model("random probe", final_time=N_TIMES - 1)
    m.constant("k", 0)
    m.aux("probe", f"{equation} + k")
    return m.run(params={"k": np.zeros(n_runs)}, seed=seed)["probe"].values


class TestRandom:
    @pytest.mark.parametrize("case", list(RANDOM_CASES))
    def test_reproducible_with_a_seed_and_different_across_seeds(self, case: str) -> None:
        equation = RANDOM_CASES[case][0]
        a = series(equation, final_time=20, seed=7)[1]
        b = series(equation, final_time=20, seed=7)[1]
        c = series(equation, final_time=20, seed=8)[1]
        assert a.tolist() == b.tolist()
        assert a.tolist() != c.tolist()
        assert len(set(a.tolist())) > 3  # a fresh draw each time step

    def test_function_seed_selects_a_different_stream(self) -> None:
        a = series("random_uniform(0, 1, 1)", final_time=20, seed=7)[1]
        b = series("random_uniform(0, 1, 2)", final_time=20, seed=7)[1]
        assert a.tolist() != b.tolist()

    @pytest.mark.parametrize("case", list(RANDOM_CASES))
    def test_ensemble_equals_single_runs(self, case: str) -> None:
        equation = RANDOM_CASES[case][0]
        seeds = [3, 91, 4, 15]
        ensemble = draws(equation, seed=seeds, n_runs=4)
        for i, s in enumerate(seeds):
            single = series(f"{equation} + k", final_time=N_TIMES - 1, constants={"k": 0}, seed=s)[1]
            assert ensemble[i].tolist() == single.tolist()
        # one integer seed: run i uses seed + i
        shifted = draws(equation, seed=100, n_runs=3)
        for i in range(3):
            single = series(f"{equation} + k", final_time=N_TIMES - 1, constants={"k": 0}, seed=100 + i)[1]
            assert shifted[i].tolist() == single.tolist()

    def test_initial_of_a_draw_is_one_value_per_run(self) -> None:
        # INITIAL(RANDOM ...) is the usual way to give each run its own random parameter.
        x = draws("initial(random_uniform(10, 20))", seed=seed(9), n_runs=50)
        assert (x == x[:, :1]).all()
        assert len(set(x[:, 0].tolist())) == 50
        assert ((10 <= x) & (x < 20)).all()

    def test_arrayed_draws_are_distinct_per_element(self) -> None:
        m = Model("arrayed draws", final_time=3)
        m.dimension("ward", ["a", "b", "c"])
        m.aux("noise", "random_normal(-5, 5, 0, 1)", dims=["ward"])
        x = m.run(seed=4)["noise"].values
        assert x.shape == (4, 3)
        assert len(set(x.ravel().tolist())) == 12

    def test_two_random_variables_are_independent(self) -> None:
        m = Model("two streams", final_time=N_TIMES - 1)
        m.constant("k", 0)
        m.aux("a", "random_uniform(0, 1) + k")
        m.aux("b", "random_uniform(0, 1) + k")
        ds = m.run(params={"k": np.zeros(N_RUNS)}, seed=seed(1))
        r = np.corrcoef(ds["a"].values.ravel(), ds["b"].values.ravel())[0, 1]
        assert abs(r) < Z / math.sqrt(N_RUNS * N_TIMES)  # the sd of r for independent draws is 1/sqrt(n)

    @pytest.mark.parametrize("case", ["uniform", "normal", "exponential"])
    def test_continuous_distribution(self, case: str) -> None:
        equation, low, high, dist = RANDOM_CASES[case]
        assert dist is not None
        x = draws(equation, seed=seed(12345)).ravel()
        n = x.size
        assert low <= x.min() and x.max() <= high
        mean = dist.moment(lambda v: v)
        var = dist.moment(lambda v: (v - mean) ** 2)
        m4 = dist.moment(lambda v: (v - mean) ** 4)
        # Z standard errors of the sample mean and variance; the tests' p-value threshold is the
        # same two-sided normal tail (6e-5), so another seed fails no more often.
        assert abs(x.mean() - mean) < Z * math.sqrt(var / n)
        assert abs(x.var() - var) < Z * math.sqrt((m4 - var**2) / n)
        assert stats.kstest(x, dist.cdf).pvalue > 6e-5

    def test_uniform_excludes_nothing_and_stays_below_high(self) -> None:
        x = draws("random_uniform(2, 5)", seed=seed(3)).ravel()
        assert 2 <= x.min() < 2.01 and 4.99 < x.max() < 5

    def test_normal_without_truncation_bites(self) -> None:
        x = draws("random_normal(-1000, 1000, 10, 3)", seed=seed(5)).ravel()
        n = x.size
        assert abs(x.mean() - 10) < Z * 3 / math.sqrt(n)
        assert abs(x.std() - 3) < Z * 3 / math.sqrt(2 * n)

    def test_poisson(self) -> None:
        equation, low, high, _ = RANDOM_CASES["poisson"]
        x = draws(equation, seed=seed(2024)).ravel()
        n = x.size
        values, p = _poisson_lattice(low, high, 3.5, 1, 2)
        assert np.isin(x, values).all()  # shift + stretch * k, inside [low, high]
        mean = float(np.sum(values * p))
        var = float(np.sum((values - mean) ** 2 * p))
        m4 = float(np.sum((values - mean) ** 4 * p))
        assert abs(x.mean() - mean) < Z * math.sqrt(var / n)
        assert abs(x.var() - var) < Z * math.sqrt((m4 - var**2) / n)
        counts = np.array([(x == v).sum() for v in values])
        assert stats.chisquare(counts, p * n).pvalue > 6e-5


def test_delay_fixed_rounds_a_half_step_delay_up() -> None:
    # 2.5 steps of dt = 1 become 3 whole steps (Vensim, and PySD's `round(order + 1e-6)`).
    m = Model("half", final_time=6)
    m.aux("input", "time")
    m.aux("out", "delay_fixed(input, 2.5, -1)")
    np.testing.assert_array_equal(m.run()["out"].values, [-1, -1, -1, 0, 1, 2, 3])
