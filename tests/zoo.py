"""A zoo of small builder models that together use every feature the engine simulates.

Each entry of :data:`ZOO` builds a fresh :class:`~sd_engine.builder.Model`. Between
them they call every builtin in :data:`sd_engine.functions.BUILTINS` (and its
aliases), every stateful builtin in :data:`sd_engine.lower.STATEFUL`,
``active_initial``, lookups in all four modes and the ways of calling them, arrayed
variables (broadcasting across two dimensions, transposed dimensions, element
selection, reductions), non-negative flows and stocks, and the library models.

The models are short (a few dozen steps) because the reference interpreter they
are run against is slow. Each one's first scalar constant is a good parameter to
vary in an ensemble. ``tests/test_interpreter.py`` checks that the zoo really
covers :data:`BUILTINS` and :data:`STATEFUL`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import models
from sd_engine.builder import Model

__all__ = ["ZOO", "RUN_OPTIONS"]


def teacup() -> Model:
    return models.build("teacup")


def sir() -> Model:
    return models.build("sir")


def math_builtins() -> Model:
    """Every non-time builtin, on inputs that move with a stock, kept inside their domains."""
    m = Model("math builtins", final_time=6, dt=0.5)
    m.constant("a", 0.4)
    m.constant("b", 2.5)
    m.stock("s", initial=1, inflows=["growth"])
    # A wobbling input, so each function is seen over a range of values and on RK stages.
    m.flow("growth", "0.08 * s * (1 + 0.5 * sin(time)) + 0.001 * total")
    m.aux("x", "s / 10")  # stays in (0, 1) for arcsin and arccos
    m.aux("absolute", "abs(-x) + abs(x - 0.15)")
    m.aux("root", "sqrt(x)")
    m.aux("exponential", "exp(x)")
    m.aux("natural log", "ln(x)")
    m.aux("log ten", "log10(x)")
    m.aux("log base", "log(s * 3, b)")
    m.aux("trig", "sin(x) + cos(x) + tan(x)")
    m.aux("inverse trig", "arcsin(x) + arccos(x) + arctan(s)")
    m.aux("inverse trig aliases", "asin(x) * acos(x) - atan(-s)")
    m.aux("hyperbolic", "sinh(x) + cosh(x) * tanh(x - 0.2)")
    m.aux("log gamma", "gamma_ln(s * 2.5)")
    m.aux("whole", "integer(s * 3.7) + integer(-s * 3.7) * 10 + int(s * 1.3) * 100")
    m.aux("remainder", "modulo(s * 7, 3) + mod(-s * 7, 3) + (s * 5) % 2")
    m.aux("quantised", "quantum(s * 10, 0.75) + quantum(s, 0) + quantum(s, -1)")
    m.aux("safe division", "xidz(a, x - x, 9) + xidz(a, x, 9) + zidz(a, 0) + zidz(s, a)")
    m.aux("extremes", "min(a, x, b) + max(x, a) * 10 + min(s) + max(s, 1.5, b)")
    m.aux("choice", "if_then_else(x > 0.14, a, b) + (1 if s < 1.5 else 2)")
    m.aux("logic", "(x > 0.1 and x < 0.2) + 2 * (s > 1.4 or s < 1.1) + 4 * (not s > 1.3) + 8 * (x == x)"
                   " + 16 * (s != 1) + 32 * (s >= 1.2) + 64 * (s <= 1.2)")
    m.aux("negated logic", "-(x > 0.12 and x < 0.2) - (not x > 0.12)")
    m.aux("chained comparison", "0.1 < x < 0.16")
    m.aux("arithmetic", "-s ** 2 + (s - a) * b / (1 + x) - (-a)")
    m.aux("total", "absolute + root + exponential + natural_log + log_ten + log_base + trig + inverse_trig"
                   " + inverse_trig_aliases + hyperbolic + whole + remainder + quantised + safe_division"
                   " + extremes + choice + logic + negated_logic + chained_comparison + arithmetic")
    return m


def time_functions() -> Model:
    """STEP, PULSE, PULSE TRAIN and RAMP, switching on and off within the run; the names of time."""
    m = Model("time functions", final_time=8, dt=0.25)
    m.constant("height", 3)
    m.constant("start", 2)
    m.aux("stepped", "step(height, start) + step(1, 5.1)")
    m.aux("pulsed", "pulse(start, 1.5) + 10 * pulse(4, 0)")
    m.aux("train", "pulse_train(1, 0.5, 2, 6) + 10 * pulse_train(start, 0, 1.5, 7) + 100 * pulse_train(3, 1, 0, 8)")
    m.aux("ramped", "ramp(0.5, start, 6) + ramp(-1, 3, 20)")
    m.aux("clock", "time + t * 10 + time() * 100 + dt * 1000 + time_step * 10000")
    m.stock("accumulated", initial=0, inflows=["input"])
    m.flow("input", "stepped + pulsed + train + ramped")
    return m


def smooths() -> Model:
    """Every SMOOTH, TREND and FORECAST, of an input with a jump and a slope."""
    m = Model("smooths", final_time=8, dt=0.5)
    m.constant("tau", 2)
    m.constant("order", 4)
    m.aux("signal", "10 + step(5, 2) + ramp(1, 3, 6)")
    m.aux("first order", "smooth(signal, tau)")
    m.aux("first order initialised", "smoothi(signal, tau, 5)")
    m.aux("third order", "smooth3(signal, tau)")
    m.aux("third order initialised", "smooth3i(signal, tau * 1.5, 2)")
    m.aux("nth order", "smooth_n(signal, tau, 1, order)")
    m.aux("nth order literal", "smooth_n(signal, 3, signal * 2, 2)")
    m.aux("trend of signal", "trend(signal, tau, 0.1)")
    m.aux("forecast of signal", "forecast(signal, tau, 3)")
    m.aux("two smooths", "smooth(signal, tau) - smooth(signal * 2, 1)")
    m.aux("present value of signal", "npv(signal, 0.05, 1, 2)")
    return m


def delays() -> Model:
    """Every material delay and DELAY FIXED, of an input that changes over the run."""
    m = Model("delays", final_time=8, dt=0.5)
    m.constant("delay time", 3)
    m.aux("signal", "5 + step(10, 1) + pulse(3, 1) * 4")
    m.aux("first order", "delay1(signal, delay_time)")
    m.aux("first order initialised", "delay1i(signal, delay_time, 2)")
    m.aux("third order", "delay3(signal, delay_time)")
    m.aux("third order initialised", "delay3i(signal, delay_time / 2, 1)")
    m.aux("nth order", "delay_n(signal, delay_time, 3, 5)")
    m.aux("fixed", "delay_fixed(signal, delay_time, 1)")
    m.aux("fixed short", "delay_fixed(signal * 2 + time, 1.5, signal)")
    m.aux("material", "delay_material(signal, delay_time, 1, 0)")  # DELAY FIXED for a fixed delay time
    m.stock("received", initial=0, inflows=["arriving"])
    m.flow("arriving", "delay3(signal, 2) + delay_fixed(signal, 1, 0)")
    return m


def discrete_states() -> Model:
    """SAMPLE IF TRUE, INITIAL and ACTIVE INITIAL."""
    m = Model("discrete states", final_time=6, dt=0.5)
    m.constant("threshold", 2)
    m.stock("level", initial=1, inflows=["filling"])
    m.flow("filling", "0.3 * level")
    m.aux("sampled", "sample_if_true(level > threshold, level, -1)")
    m.aux("sampled every other step", "sample_if_true(modulo(time, 1) < 0.25, level * 2, level)")
    m.aux("initial level", "initial(level)")
    m.aux("initial time", "initial(time + 3)")
    m.aux("growth since start", "level - initial(level)")
    m.aux("level a step ago", "previous(level, -1) + previous(filling)")
    # ACTIVE INITIAL breaks the initial-value loop capacity -> target -> capacity.
    m.aux("target", "active_initial(capacity * 1.1, 4)")
    m.stock("capacity", initial="target / 2", inflows=["building"])
    m.flow("building", "(target - capacity) / 3")
    return m


def random_draws() -> Model:
    """Every RANDOM function, with and without a seed argument, scalar and arrayed."""
    m = Model("random draws", final_time=5, dt=0.5)
    m.dimension("ward", ["a", "b", "c"])
    m.constant("spread", 2)
    m.aux("uniform", "random_uniform(1, 1 + spread)")
    m.aux("uniform seeded", "random_uniform(0, 1, 7)")
    m.aux("normal", "random_normal(0, 10, 5, spread)")
    m.aux("normal seeded", "random_normal(-1, 1, 0, 3, 11)")
    m.aux("exponential", "random_exponential(0, 8, 1, spread)")
    m.aux("exponential seeded", "random_exponential(0, 100, 0, 1, 5)")
    m.aux("poisson", "random_poisson(0, 12, 4, 0, 1)")
    m.aux("poisson seeded", "random_poisson(1, 30, 3, 1, spread, 9)")
    m.aux("ward noise", "random_uniform(0, spread * 2)", dims=["ward"])
    m.stock("queue", initial=3, inflows=["arrivals"], outflows=["departures"], dims=["ward"])
    m.flow("arrivals", "poisson + ward_noise", dims=["ward"])
    m.flow("departures", "queue / normal", dims=["ward"])
    return m


def lookups() -> Model:
    """Lookups in all four modes, called by name, through ``lookup_*(table, x)`` and ``with_lookup``."""
    m = Model("lookups", final_time=10, dt=0.5)
    m.constant("gain", 1.5)
    points = [(1, 0), (2, 3), (4, 4), (6, 1)]
    m.lookup("interpolated", points)
    m.lookup("extrapolated", points, mode="extrapolate")
    m.lookup("backward", points, mode="hold_backward")
    m.lookup("forward", points, mode="look_forward")
    m.lookup("single point", [(2, 5), (2, 5)])
    # The input runs from before the first point to past the last.
    m.aux("input", "time * 0.8 - 1 + gain * 0")
    m.aux("by name", "interpolated(input) + 10 * extrapolated(input) + 100 * backward(input)"
                     " + 1000 * forward(input)")
    m.aux("by function", "lookup(extrapolated, input) + 10 * lookup_extrapolate(interpolated, input)"
                         " + 100 * lookup_backward(forward, input) + 1000 * lookup_forward(backward, input)")
    m.aux("literal", "with_lookup(input, ((0, 1), (3, 2), (5, 0))) + single_point(input)")
    m.aux("time as input", "interpolated(time) + with_lookup(t, ((0, 0), (10, 2)))")
    m.stock("level", initial=0, inflows=["inflow"])
    m.flow("inflow", "gain * extrapolated(level / 4 + 1)")
    return m


def arrays() -> Model:
    """Arrayed constants, stocks and flows: broadcasting by name, transposes, selection, reductions."""
    m = Model("arrays", final_time=5, dt=0.5)
    m.dimension("region", ["north", "south", "east"])
    m.dimension("age", ["young", "old"])
    m.constant("base rate", 0.1)
    m.constant("population", [[100, 50], [80, 70], [60, 30]], dims=["region", "age"])
    m.constant("regional rate", [0.1, 0.2, 0.05], dims=["region"])
    m.constant("age weight", [1.0, 2.5], dims=["age"])
    m.constant("filled", 4, dims=["region"])  # a scalar filled over a dimension
    m.lookup("effect", [(0, 1), (100, 0.5), (200, 0.2)])
    m.stock("people", initial="population", inflows=["births", "moving in"], outflows=["deaths"],
            dims=["region", "age"])
    # regional_rate[region] * age_weight[age] broadcasts across both dimensions.
    m.flow("deaths", "people * regional_rate * age_weight * base_rate", dims=["region", "age"])
    m.flow("births", "sum(people, \"age\") * 0.05 * effect(sum(people, \"age\"))", dims=["region"])
    m.flow("moving in", "filled * age_weight / mean(age_weight) + base_rate", dims=["region", "age"])
    m.aux("by age then region", "people * 2", dims=["age", "region"])  # transposed
    m.aux("round trip", "by_age_then_region / 2 - people", dims=["region", "age"])
    m.aux("mixed order", "by_age_then_region[\"age\", \"region\"] + people[\"region\", \"age\"]",
          dims=["region", "age"])
    m.aux("north young", "people[\"north\", \"young\"]")
    m.aux("north by age", "people[\"north\", \"age\"]", dims=["age"])
    m.aux("old by region", "people[\"region\", \"old\"] - people[\"region\", \"young\"]", dims=["region"])
    m.aux("transposed selection", "by_age_then_region[\"old\", \"region\"]", dims=["region"])
    m.aux("total", "sum(people)")
    m.aux("by region", "sum(people, \"age\")", dims=["region"])
    m.aux("by age", "sum(people, \"region\")", dims=["age"])
    m.aux("product", "prod(age_weight) + prod(regional_rate * 10, \"region\")")
    m.aux("smallest", "vmin(people) + vmin(people, \"region\")", dims=["age"])
    m.aux("largest", "vmax(people, \"age\") - vmax(people)", dims=["region"])
    m.aux("average", "mean(people) + mean(by_age_then_region, \"age\")", dims=["region"])
    m.aux("share", "people / sum(people, \"region\")", dims=["region", "age"])
    m.aux("outer", "regional_rate * age_weight", dims=["age", "region"])
    m.aux("capped", "min(people, population * 0.99) + max(regional_rate * 500, age_weight * 30)",
          dims=["region", "age"])
    m.aux("selected scalar", "if_then_else(people[\"south\", \"old\"] > 70, regional_rate, age_weight[\"old\"])",
          dims=["region"])
    m.aux("arrayed lookup", "effect(people)", dims=["region", "age"])
    m.aux("arrayed smooth", "smooth(people, 2)", dims=["region", "age"])
    m.aux("arrayed delay", "delay_fixed(by_region, 1.5, 0)", dims=["region"])
    m.aux("arrayed delay3", "delay3(people * 0.1, 2)", dims=["region", "age"])
    m.aux("arrayed sample", "sample_if_true(time > 2, people, 0)", dims=["region", "age"])
    m.aux("arrayed initial", "initial(people)", dims=["region", "age"])
    m.aux("broadcast scalar", "base_rate * 3", dims=["region", "age"])
    return m


def non_negative() -> Model:
    """Non-negative flows and stocks: outflows capped in order by what the stock holds."""
    m = Model("non-negative", final_time=6, dt=0.5)
    m.constant("demand", 30)
    m.constant("supply", 4)
    m.stock("beds", initial=10, inflows=["admissions", "transfers in"], outflows=["discharges", "transfers out"],
            non_negative=True)
    m.flow("admissions", "supply")
    m.flow("transfers in", "2 * sin(time)", non_negative=True)  # negative half the time: clipped to 0
    m.flow("discharges", "demand * 0.5")
    m.flow("transfers out", "demand - 20")
    m.stock("elsewhere", initial=0, inflows=["transfers out"], outflows=["leaving"], non_negative=True)
    m.flow("leaving", "elsewhere / 0.4 + 1")
    m.aux("seen by others", "discharges + transfers_out")  # sees the capped values
    m.flow("signed", "time - 3", non_negative=True)
    m.stock("ordinary", initial=1, outflows=["draining"])  # may go negative: no cap
    m.flow("draining", "demand / 10")
    return m


def non_negative_arrays() -> Model:
    """An arrayed non-negative stock drained by a flow whose dimensions are in the other order."""
    m = Model("non-negative arrays", final_time=4, dt=0.5)
    m.dimension("site", ["a", "b"])
    m.dimension("shift", ["day", "night"])
    m.constant("pressure", 3)
    m.constant("staff", [[5, 1], [2, 8]], dims=["site", "shift"])
    m.constant("site pull", [1, 6], dims=["site"])
    m.stock("rota", initial="staff", inflows=["hiring"], outflows=["leavers", "moves"], dims=["site", "shift"],
            non_negative=True)
    m.flow("hiring", "site_pull * 0.5", dims=["site"])
    # Square dimensions: aligning by position instead of by name would pass silently.
    m.flow("leavers", "pressure * site_pull + staff[\"site\", \"night\"] * 0 + 1", dims=["shift", "site"])
    m.flow("moves", "pressure", dims=["site", "shift"])
    return m


def blocks() -> Model:
    """Arrayed equations given block by block, subranges, matrix inversion, a varying DELAY N."""
    m = Model("blocks", final_time=4, dt=0.5)
    m.dimension("region", ["north", "east", "south", "west"])
    m.dimension("coast", ["east", "west"])
    m.dimension("row", ["r1", "r2"])
    m.dimension("col", ["c1", "c2"])
    m.constant("base", [1.0, 2.0, 3.0, 4.0], dims=["region"])
    m.constant("matrix", [[4.0, 7.0], [2.0, 6.0]], dims=["row", "col"])
    m.stock("level", initial="_pieces(_at('north'), 10, _at('coast'), base['coast'] * 5, _at('south'), 1)",
            inflows=["change"], dims=["region"])
    m.flow("change", "_pieces(_at('region'), -level * 0.1 + time)", dims=["region"])
    m.aux("coastal", "_pieces(_at('north'), level['north'], _at('coast'), level['coast'] * 2, "
          "_at('south'), 0)", dims=["region"])
    m.aux("coastal total", "sum(coastal['coast'], 'coast')")
    m.aux("inverse", "invert_matrix(matrix * (1 + time / 10), 2)", dims=["row", "col"])
    m.aux("varying delay", "delay_n(coastal_total, 1 + step(1, 2), 5, 3)")
    return m


ZOO: dict[str, Callable[[], Model]] = {
    "teacup": teacup,
    "sir": sir,
    "math_builtins": math_builtins,
    "time_functions": time_functions,
    "smooths": smooths,
    "delays": delays,
    "discrete_states": discrete_states,
    "random_draws": random_draws,
    "lookups": lookups,
    "arrays": arrays,
    "non_negative": non_negative,
    "non_negative_arrays": non_negative_arrays,
    "blocks": blocks,
}

#: Time overrides for models whose own settings take too many steps for the interpreter.
RUN_OPTIONS: dict[str, dict[str, Any]] = {
    "sir": {"final_time": 25, "dt": 0.25},
    "teacup": {"final_time": 15},
}
