"""Every user-facing error: its type, the builtin a Python user would catch, and its message.

Each test matches the message (what went wrong, the variable in backticks, the fix)
and checks both the sdflow class and its builtin base, so ``except KeyError`` and
``except sd.UnknownVariableError`` both work.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sd_engine as sd
from sd_engine.builder import Model
from sd_engine.expr import Num


def base() -> Model:
    """A model with one stock whose outflow `loss` each test defines (or not)."""
    m = Model("clinic", final_time=2, dt=0.5)
    m.constant("discharge rate", 0.5)
    m.stock("Patients", initial=10, outflows=["discharges"])
    return m


def working() -> Model:
    m = base()
    m.flow("discharges", "patients * discharge_rate")
    return m


def test_every_error_is_an_sderror_and_its_builtin() -> None:
    expected = {
        sd.SpecError: ValueError,
        sd.EquationSyntaxError: SyntaxError,
        sd.UnknownVariableError: KeyError,
        sd.UnsupportedError: NotImplementedError,
        sd.AlgebraicLoopError: ValueError,
        sd.DimensionError: ValueError,
        sd.SimulationError: RuntimeError,
        sd.NonFiniteStateError: FloatingPointError,
    }
    for cls, builtin in expected.items():
        assert issubclass(cls, sd.SDError) and issubclass(cls, builtin), cls
    # KeyError would quote its message; ours read as plain sentences.
    assert str(sd.UnknownVariableError("No `x`.")) == "No `x`."


# -- names -------------------------------------------------------------------------------------------
def test_unknown_variable_in_an_equation_suggests_the_closest_name() -> None:
    m = base()
    m.flow("discharges", "patients * dischrge_rate")
    with pytest.raises(sd.UnknownVariableError, match=r"The equation of `discharges` refers to "
                                                      r"`dischrge_rate`, which is not defined\. "
                                                      r"Did you mean `discharge_rate`") as info:
        m.run()
    assert isinstance(info.value, KeyError)
    assert "discharges = patients * dischrge_rate" in str(info.value)  # the equation as written


def test_unknown_variable_looked_up_in_the_spec() -> None:
    with pytest.raises(KeyError, match=r"Model `clinic` has no variable `patiens`\. Did you mean `patients`\?"):
        working().spec()["patiens"]


def test_unknown_function_suggests_the_closest_builtin() -> None:
    m = base()
    m.flow("discharges", "smoth(patients, 2)")
    with pytest.raises(sd.UnknownVariableError, match=r"calls unknown function `smoth`\. Did you mean `smooth`"):
        m.run()


def test_unknown_library_model() -> None:
    with pytest.raises(KeyError, match=r"There is no library model `teacop`\. Did you mean `teacup`\?"):
        sd.load("teacop")


def test_unknown_dimension() -> None:
    m = working()
    m.dimension("region", ["north", "south"])
    with pytest.raises(ValueError, match=r"`waiting` uses dimension `regoin`, which the model does not define\. "
                                         r"Did you mean `region`\?"):
        m.aux("waiting", "1", dims=["regoin"])
        m.spec()


def test_unknown_subscript_element() -> None:
    m = base()
    m.dimension("region", ["north", "south"])
    m.constant("beds", [10.0, 20.0], dims=["region"])
    m.flow("discharges", "beds['nroth']")
    with pytest.raises(sd.DimensionError, match=r"`nroth` in `discharges` is neither dimension `region` nor one "
                                                r"of its elements \['north', 'south'\]\. Did you mean `north`"):
        m.run()


# -- equation syntax -----------------------------------------------------------------------------------
def test_syntax_error_gives_the_column_and_points_at_it() -> None:
    m = base()
    with pytest.raises(sd.EquationSyntaxError, match=r"Syntax error in the equation of `discharges` at column 12") \
            as info:
        m.flow("discharges", "patients * * discharge_rate")
    err = info.value
    assert isinstance(err, SyntaxError) and isinstance(err, ValueError)
    assert (err.variable, err.offset) == ("discharges", 12)
    assert err.equation == "patients * * discharge_rate"
    lines = str(err).splitlines()
    assert lines[1].strip() == "patients * * discharge_rate"
    assert lines[2].index("^") - lines[1].index("p") == 11  # the caret under column 12


def test_an_equation_that_stops_early_points_past_its_end() -> None:
    with pytest.raises(sd.EquationSyntaxError, match=r"at column 11: the equation ends too early") as info:
        base().flow("discharges", "patients *")
    assert info.value.offset == 11


def test_caret_operator_suggests_the_power_operator() -> None:
    with pytest.raises(sd.EquationSyntaxError, match=r"Unsupported operator \(use `\*\*` for powers\) in the "
                                                     r"equation of `discharges` at column 1"):
        base().flow("discharges", "patients ^ 2")


@pytest.mark.parametrize(("equation", "message"), [
    ("max(patients, key=1)", r"Keyword arguments are not supported"),
    ("lambda x: x", r"Unsupported syntax `lambda x: x`"),
    ("patients.real", r"Unsupported syntax `patients.real`"),
])
def test_unsupported_python_syntax(equation: str, message: str) -> None:
    with pytest.raises(sd.EquationSyntaxError, match=message + r".* in the equation of `discharges` at column"):
        base().flow("discharges", equation)


def test_an_equation_must_be_text_or_a_number() -> None:
    with pytest.raises(sd.EquationSyntaxError, match=r"The equation of `discharges` must be a string or a number, "
                                                     r"not list"):
        base().flow("discharges", [1, 2])  # type: ignore[arg-type]


# -- structure -----------------------------------------------------------------------------------------
def test_undefined_flow_in_a_stock() -> None:
    m = base()
    with pytest.raises(sd.SpecError, match=r"Stock `Patients` lists flow `discharges`, which is not defined\. "
                                           r"Define it with `flow\(\.\.\.\)` or remove it from the stock") as info:
        m.run()
    assert isinstance(info.value, ValueError)


def test_undefined_flow_suggests_a_close_flow() -> None:
    m = working()
    m.stock("Waiting", initial=0, inflows=["dischargs"])
    with pytest.raises(ValueError, match=r"lists flow `dischargs`, which is not defined\. Did you mean `discharges`\? "
                                         r"Define it"):
        m.run()


def test_a_stock_listing_an_aux_as_its_flow() -> None:
    m = base()
    m.aux("discharges", "patients / 2")
    with pytest.raises(sd.SpecError, match=r"Stock `Patients` lists `discharges` as a flow, but it is an aux; "
                                           r"declare it with `flow\(\.\.\.\)`"):
        m.run()


def test_inflows_given_as_a_string() -> None:
    with pytest.raises(sd.SpecError, match=r"Stock `Waiting`: give inflows and outflows as lists of flow names"):
        base().stock("Waiting", initial=0, inflows="discharges")  # type: ignore[arg-type]


def test_algebraic_loop_reports_the_cycle_path() -> None:
    m = base()
    m.flow("discharges", "patients * pressure")
    m.aux("pressure", "occupancy * 2")
    m.aux("occupancy", "pressure / 10")
    with pytest.raises(sd.AlgebraicLoopError, match=r"Algebraic loop.*"
                                                    r"(`pressure` -> `occupancy` -> `pressure`|"
                                                    r"`occupancy` -> `pressure` -> `occupancy`)") as info:
        m.run()
    assert isinstance(info.value, ValueError)
    assert sorted(info.value.cycle) == ["occupancy", "pressure"]
    assert "smooth" in str(info.value)  # how to break it


@pytest.mark.parametrize("name", ["time", "Time", "t", "dt", "TIME STEP"])
def test_reserved_names(name: str) -> None:
    with pytest.raises(sd.SpecError, match=rf"`{name}` is a reserved name \(time and the time step\); "
                                           r"choose another name"):
        base().aux(name, "1")


def test_duplicate_names_in_the_builder() -> None:
    with pytest.raises(sd.SpecError, match=r"`patients` is already defined in model `clinic`; each name is "
                                           r"defined once") as info:
        base().aux("patients", "1")
    assert isinstance(info.value, ValueError)


def test_duplicate_names_in_a_spec_ignore_case_and_spaces() -> None:
    variables = (sd.Variable("Bed Days", "aux", Num(1.0)), sd.Variable("bed_days", "aux", Num(2.0)))
    with pytest.raises(sd.SpecError, match=r"Two variables are named `bed_days` \(names ignore case, spaces and "
                                           r"underscores\); rename one"):
        sd.ModelSpec("m", variables)


def test_empty_and_repeating_dimensions() -> None:
    with pytest.raises(sd.SpecError, match=r"Dimension `region` has no elements; give at least one"):
        base().dimension("region", [])
    with pytest.raises(sd.SpecError, match=r"Dimension `region` repeats an element"):
        base().dimension("region", ["a", "a"])


def test_arrayed_constant_of_the_wrong_size() -> None:
    m = base()
    m.dimension("region", ["north", "south"])
    with pytest.raises(sd.SpecError, match=r"Constant `beds`"):
        m.constant("beds", [1.0, 2.0, 3.0], dims=["region"])
        m.spec()


def test_constant_that_is_not_finite() -> None:
    with pytest.raises(sd.SpecError, match=r"Constant `beds` must be finite, not inf"):
        base().constant("beds", float("inf"))


# -- dimensions -------------------------------------------------------------------------------------------
def test_dimension_mismatch_in_an_equation() -> None:
    m = base()
    m.dimension("region", ["north", "south"])
    m.dimension("age", ["young", "old"])
    m.constant("beds", [10.0, 20.0], dims=["region"])
    m.aux("beds by age", "beds", dims=["age"])
    m.flow("discharges", "0")
    with pytest.raises(sd.DimensionError, match=r"The equation of `beds by age` varies over dimension `region`, "
                                                r"which `beds by age` does not have: `beds`\. Give `beds by age` "
                                                r"that dimension, or reduce over it") as info:
        m.run()
    assert isinstance(info.value, ValueError)


def test_arrayed_flow_into_a_scalar_stock() -> None:
    m = base()
    m.dimension("region", ["north", "south"])
    m.flow("discharges", "1", dims=["region"])
    with pytest.raises(sd.DimensionError, match=r"Flow `discharges` has dimensions \['region'\] that stock "
                                                r"`Patients` \(\[\]\) lacks"):
        m.run()


def test_reducing_a_scalar() -> None:
    m = base()
    m.flow("discharges", "sum(patients)")
    with pytest.raises(sd.DimensionError, match=r"`sum` in `discharges` needs an arrayed argument"):
        m.run()


def test_wrong_number_of_subscripts() -> None:
    m = base()
    m.dimension("region", ["north", "south"])
    m.constant("beds", [10.0, 20.0], dims=["region"])
    m.flow("discharges", "beds['north', 'south']")
    with pytest.raises(sd.DimensionError, match=r"`beds` has 1 dimension\(s\) .* but `discharges` gives 2 "
                                                r"subscript\(s\)"):
        m.run()


# -- calls ------------------------------------------------------------------------------------------------
def test_calling_a_variable_that_is_not_a_lookup() -> None:
    m = base()
    m.flow("discharges", "discharge_rate(patients)")
    with pytest.raises(sd.SpecError, match=r"The equation of `discharges` calls `discharge_rate`, which is a "
                                           r"constant, not a lookup; only lookups can be called"):
        m.run()


def test_using_a_lookup_as_a_value() -> None:
    m = base()
    m.lookup("effect", [(0, 1), (10, 0.5), (20, 0)])
    m.flow("discharges", "patients * effect")
    with pytest.raises(sd.SpecError, match=r"Lookup `effect` is used as a value in `discharges`; call it with an "
                                           r"input, as in `effect\(x\)`"):
        m.run()


@pytest.mark.parametrize(("equation", "message"), [
    ("exp(patients, 2)", r"`exp` in the equation of `discharges` takes 1 argument\(s\), not 2"),
    ("if_then_else(patients > 1, 1)", r"`if_then_else` in the equation of `discharges` takes 3 argument\(s\), "
                                      r"not 2"),
    ("max()", r"`max` in the equation of `discharges` needs at least one argument"),
    ("smooth(patients)", r"`smooth` in the equation of `discharges` takes 2 arguments, not 1"),
    ("delay_fixed(patients, 1)", r"`delay_fixed` in the equation of `discharges` takes 3 arguments, not 2"),
    ("effect(patients, 1)", r"Lookup `effect` takes one input, in `discharges`"),
])
def test_wrong_argument_counts(equation: str, message: str) -> None:
    m = base()
    m.lookup("effect", [(0, 1), (10, 0.5), (20, 0)])
    m.flow("discharges", equation)
    with pytest.raises(sd.SpecError, match=message) as info:
        m.run()
    assert isinstance(info.value, ValueError)


def test_order_of_smooth_n_must_be_known_before_the_run() -> None:
    m = base()
    m.flow("discharges", "smooth_n(patients, 1, 1, discharge_rate)")
    with pytest.raises(sd.UnsupportedError, match=r"The order of `smooth_n` in `discharges` must be a positive "
                                                  r"whole number fixed before the run, not `discharge_rate`") as info:
        m.run()
    assert isinstance(info.value, NotImplementedError)


def test_active_initial_must_be_the_whole_equation() -> None:
    m = base()
    m.flow("discharges", "active_initial(patients, 1) + 1")
    with pytest.raises(sd.SpecError, match=r"`active_initial` must be the whole equation of `discharges`"):
        m.run()


# -- lookups ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("points", "message"), [
    ([(1, 0), (0, 1), (2, 2)], r"Lookup `effect` needs its x values in increasing order; got \[1\.0, 0\.0, 2\.0\]"),
    ([(0, 0), (1, np.nan), (2, 0)], r"Lookup `effect` has a point that is not a finite number"),
    ([1, 2, 3], r"Lookup `effect` needs \(x, y\) pairs such as \[\(0, 1\), \(10, 0\.5\)\], or a pair of x and y "
                r"sequences; got \[1, 2, 3\]"),
    ([(0, 1, 2), (1, 2, 3), (2, 3, 4)], r"Lookup `effect` needs \(x, y\) pairs"),
    ("steep", r"Lookup `effect` needs \(x, y\) pairs"),
])
def test_bad_lookup_points(points: object, message: str) -> None:
    with pytest.raises(sd.SpecError, match=message):
        base().lookup("effect", points)  # type: ignore[arg-type]
    # The same rules when a lookup is overridden in a run.
    m = working()
    m.lookup("effect", [(0, 1), (10, 0.5)])
    with pytest.raises(sd.SpecError, match=message):
        m.run(params={"effect": points})


@pytest.mark.parametrize("points", [
    [(0, 1.0), (10, 0.5)],                      # two (x, y) pairs, as with_lookup reads them
    np.array([(0, 1.0), (10, 0.5)]),
    sd.LookupTable((0.0, 10.0), (1.0, 0.5)),
    pd.Series([1.0, 0.5], index=[0, 10]),
])
def test_two_point_lookups_read_as_pairs_in_every_form(points: object) -> None:
    m = Model("ramp", final_time=10, dt=5)
    m.lookup("effect", points)  # type: ignore[arg-type]
    m.aux("value", "effect(time)")
    assert m.run()["value"].values.tolist() == [1.0, 0.75, 0.5]
    # Overriding with the same points changes nothing; with other points, it changes the run.
    assert m.run(params={"effect": points})["value"].values.tolist() == [1.0, 0.75, 0.5]
    assert m.run(params={"effect": [(0, 0.0), (10, 1.0)]})["value"].values.tolist() == [0.0, 0.5, 1.0]


def test_a_pair_of_x_and_y_sequences() -> None:
    m = Model("ramp", final_time=10, dt=5)
    m.lookup("effect", ([0, 5, 10], [1.0, 0.0, 1.0]))
    m.aux("value", "effect(time)")
    assert m.run()["value"].values.tolist() == [1.0, 0.0, 1.0]


# -- running: parameters --------------------------------------------------------------------------------
def test_unknown_parameter_suggests_the_closest_one_once() -> None:
    with pytest.raises(sd.UnknownVariableError, match=r"Model `clinic` has no parameter `dischage rate`\. "
                                                      r"Did you mean `discharge rate`\?$") as info:
        working().run(params={"dischage rate": 0.2})
    assert isinstance(info.value, KeyError)


@pytest.mark.parametrize(("name", "kind"), [("Patients", "a stock"), ("discharges", "a flow")])
def test_setting_a_variable_that_is_not_a_constant(name: str, kind: str) -> None:
    with pytest.raises(sd.SpecError, match=rf"`{name}` is {kind}, not a constant, so it cannot be set; set the "
                                           r"constants its equation uses instead") as info:
        working().run(params={name: 1.0})
    assert isinstance(info.value, ValueError)


def test_setting_a_computed_constant() -> None:
    m = working()
    m.aux("scaled", "discharge_rate * 2")
    with pytest.raises(sd.SpecError, match=r"`scaled` is an aux, not a constant"):
        m.run(params={"scaled": 1.0})


def test_mismatched_ensemble_lengths() -> None:
    m = working()
    m.constant("beds", 5.0)
    with pytest.raises(sd.SpecError, match=r"Parameter arrays make ensembles of different sizes: `discharge rate` "
                                           r"has 2 runs and `beds` has 3; give every array the same length") as info:
        m.run(params={"discharge rate": [0.1, 0.2], "beds": [1.0, 2.0, 3.0]})
    assert isinstance(info.value, ValueError)


def test_parameter_of_the_wrong_shape() -> None:
    with pytest.raises(sd.SpecError, match=r"Parameter `discharge rate` has shape \(1, 2\); expected a scalar"):
        working().run(params={"discharge rate": [[0.1, 0.2]]})


def test_empty_parameter_array() -> None:
    with pytest.raises(sd.SpecError, match=r"Parameter `discharge rate` is an empty array; give one value per run"):
        working().run(params={"discharge rate": []})


def test_parameter_that_is_not_finite() -> None:
    with pytest.raises(sd.SpecError, match=r"Parameter `discharge rate` must be finite; got nan"):
        working().run(params={"discharge rate": float("nan")})


def test_seeds_of_the_wrong_length() -> None:
    with pytest.raises(sd.SpecError, match=r"`seed` must be one integer or one per run \(2\), not 3 values"):
        working().run(params={"discharge rate": [0.1, 0.2]}, seed=[1, 2, 3])


# -- running: settings ---------------------------------------------------------------------------------------
def test_unknown_method_suggests_the_closest() -> None:
    with pytest.raises(sd.SpecError, match=r"Unknown integration method `rk5`\. Did you mean `rk45` or `rk4`.*\? "
                                           r"Choose one of euler, rk2, rk4, rk45, dop853") as info:
        working().run(method="rk5")
    assert isinstance(info.value, ValueError)
    with pytest.raises(sd.SpecError, match=r"Unknown integration method `5`"):
        working().run(method=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("dt", [0.0, -0.5, float("nan"), float("inf")])
def test_bad_dt_in_run(dt: float) -> None:
    with pytest.raises(sd.SpecError, match=r"`dt` must be a positive number, not"):
        working().run(dt=dt)


@pytest.mark.parametrize("dt", [0.0, -1.0])
def test_bad_dt_in_the_model(dt: float) -> None:
    with pytest.raises(ValueError, match=r"The time step `dt` must be positive"):
        Model("m", dt=dt)


def test_bad_saveper() -> None:
    with pytest.raises(sd.SpecError, match=r"`saveper` must be a positive number, not -1"):
        working().run(saveper=-1.0)
    with pytest.raises(sd.SpecError, match=r"The save interval `saveper` must be positive"):
        Model("m", saveper=0)


def test_final_time_before_initial_time() -> None:
    with pytest.raises(sd.SpecError, match=r"`final_time` \(-1\.0\) must not be before `initial_time` \(0\.0\)"):
        working().run(final_time=-1)
    with pytest.raises(sd.SpecError, match=r"`final_time` \(1\.0\) is before `initial_time` \(2\.0\)"):
        Model("m", initial_time=2, final_time=1)
    with pytest.raises(sd.SpecError, match=r"`initial_time` must be a finite number, not inf"):
        working().run(initial_time=float("inf"))


def test_bad_errors_option() -> None:
    with pytest.raises(sd.SpecError, match=r"`errors` must be \"raise\" or \"mark\", not 'warn'"):
        working().run(errors="warn")  # type: ignore[arg-type]


def test_adaptive_methods_refuse_discrete_states() -> None:
    m = base()
    m.flow("discharges", "delay_fixed(patients, 1, 0)")
    with pytest.raises(sd.UnsupportedError, match=r"Adaptive methods cannot integrate discrete states .* used in "
                                                  r"`discharges`; use a fixed-step method such as `rk4`") as info:
        m.run(method="rk45")
    assert isinstance(info.value, NotImplementedError)


def test_negative_fixed_delay_names_its_variable() -> None:
    m = base()
    m.constant("lag", -1.0)
    m.flow("discharges", "delay_fixed(patients, lag, 0)")
    with pytest.raises(sd.SpecError, match=r"The delay time of `delay_fixed` in `discharges` is -1; it must be a "
                                           r"finite, non-negative number"):
        m.run()
    with pytest.raises(sd.SpecError, match=r"in `discharges` is -2 in run 1"):
        m.run(params={"lag": [1.0, -2.0]})


# -- running: failures -----------------------------------------------------------------------------------------
def test_non_finite_state_names_variable_run_and_time() -> None:
    m = base()
    m.flow("discharges", "1 / (1 - time)")  # time alone: division by zero at t = 1, not a ZeroDivisionError
    with pytest.raises(sd.NonFiniteStateError, match=r"Stock `Patients` became -inf at time 1\.5 in run 0\. Check "
                                                     r"the equations that feed it for division by zero or runaway "
                                                     r"growth, or reduce `dt`") as info:
        m.run()
    err = info.value
    assert (err.variable, err.run, err.time) == ("Patients", 0, 1.5)
    assert isinstance(err, FloatingPointError) and isinstance(err, sd.SimulationError)


def test_non_finite_state_in_an_ensemble_names_the_runs_parameters() -> None:
    with pytest.raises(sd.NonFiniteStateError, match=r"in run 1 \(Characteristic Time=0\)"):
        sd.load("teacup").run(params={"Characteristic Time": [5.0, 0.0]}, errors="raise")


def test_adaptive_solver_failure_names_the_stock() -> None:
    m = base()
    m.flow("discharges", "-patients / (1.2 - time)")
    with pytest.raises(sd.SimulationError, match=r"Stock `Patients` changed too fast for `rk45` .* at time 1\.2 in "
                                                 r"run 0\. .* use a fixed-step method") as info:
        m.run(method="rk45")
    assert isinstance(info.value, RuntimeError)


def test_division_by_zero_in_an_equation_of_numbers_alone() -> None:
    # Folded at compile time with numpy semantics: inf, then a non-finite stock, not a ZeroDivisionError.
    m = base()
    m.aux("ratio", "1 / 0")
    m.flow("discharges", "patients * ratio")
    with pytest.raises(sd.NonFiniteStateError, match=r"`Patients`"):
        m.run()


# -- results ------------------------------------------------------------------------------------------------------
def test_results_series_of_an_unknown_name() -> None:
    from sd_engine.integrate import simulate_results

    results = simulate_results(working().compile())
    with pytest.raises(sd.UnknownVariableError, match=r"Model `clinic` has no variable `patiants`\. Did you mean "
                                                      r"`patients`\?"):
        results.series("patiants")


def test_saving_results_to_an_unknown_format(tmp_path: object) -> None:
    from pathlib import Path

    with pytest.raises(sd.SpecError,
                       match=r"Cannot save results as `run\.json`; use a `\.nc`, `\.csv`, `\.xlsx` or `\.tab` file name"):
        sd.save_results(working().run(), Path(str(tmp_path)) / "run.json")
