"""The equation parser: Python syntax into the shared expression tree, never eval."""

from __future__ import annotations

import pytest

from sd_engine.errors import EquationSyntaxError
from sd_engine.expr import Binary, Call, Num, Ref, Str, Table, Unary, canonical, parse_equation, references, to_text


def test_canonical_ignores_case_spaces_underscores_and_quotes() -> None:
    assert canonical('  "Patients  in_Beds" ') == "patients_in_beds"


def test_precedence_follows_python() -> None:
    expr = parse_equation("a + b * c ** 2")
    assert expr == Binary("+", Ref("a"), Binary("*", Ref("b"), Binary("**", Ref("c"), Num(2.0))))


def test_negative_literals_fold_and_unary_minus_stays() -> None:
    assert parse_equation("-3") == Num(-3.0)
    assert parse_equation("-x") == Unary("-", Ref("x"))


def test_chained_comparison_becomes_and() -> None:
    expr = parse_equation("0 < x <= 1")
    assert expr == Binary("and", Binary("<", Num(0.0), Ref("x")), Binary("<=", Ref("x"), Num(1.0)))


def test_conditional_expression_is_if_then_else() -> None:
    assert parse_equation("a if t > 5 else b") == Call(
        "if_then_else", (Binary(">", Ref("t"), Num(5.0)), Ref("a"), Ref("b"))
    )


def test_calls_subscripts_tables_and_strings() -> None:
    assert parse_equation('sum(pop["north", age], "age")') == Call(
        "sum", (Ref("pop", ("north", "age")), Str("age"))
    )
    assert parse_equation("with_lookup(x, ((0, 0), (1, 2)))") == Call(
        "with_lookup", (Ref("x"), Table((0.0, 1.0), (0.0, 2.0)))
    )
    assert parse_equation("SMOOTH(Demand, 7)") == Call("smooth", (Ref("demand"), Num(7.0)))


def test_numbers_and_booleans() -> None:
    assert parse_equation(2) == Num(2.0)
    assert parse_equation("True") == Num(1.0)
    assert parse_equation("1e-3") == Num(0.001)


def test_references_lists_names_and_called_lookups() -> None:
    assert references(parse_equation("effect(x / y) + max(z, 1)")) == {"effect", "x", "y", "z", "max"}


@pytest.mark.parametrize(
    "text",
    ["a + b * (c - 1) / d", "-(a ** 2) % 3", "if_then_else(a >= b, 1, 0)", "not a and (b or c)", "a ** -b"],
)
def test_to_text_round_trips(text: str) -> None:
    expr = parse_equation(text)
    assert parse_equation(to_text(expr)) == expr


def test_syntax_error_names_variable_and_column() -> None:
    with pytest.raises(EquationSyntaxError, match=r"`discharges` at column \d+") as info:
        parse_equation("beds / (los", variable="discharges")
    assert isinstance(info.value, SyntaxError) and isinstance(info.value, ValueError)
    assert info.value.variable == "discharges"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a ^ 2", r"use `\*\*` for powers"),
        ("os.system('x')", "Only plain function names"),
        ("lambda: 1", "Unsupported syntax"),
        ("[1, 2][0]", "Only variables can be subscripted"),
        ("f(x=1)", "Keyword arguments"),
        ("a.b", "Unsupported syntax"),
    ],
)
def test_anything_outside_the_subset_is_refused(text: str, message: str) -> None:
    with pytest.raises(EquationSyntaxError, match=message):
        parse_equation(text, variable="v")


def test_unknown_functions_are_refused_by_the_compiler_not_called() -> None:
    from sd_engine.builder import Model
    from sd_engine.errors import UnknownVariableError

    m = Model("hostile")
    m.aux("x", "__import__('os')")
    with pytest.raises(UnknownVariableError, match="unknown function `_import_`"):
        m.compile()
