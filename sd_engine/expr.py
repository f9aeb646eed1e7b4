"""The expression tree shared by every front end, and the parser of builder equations.

Builder equations are strings in Python expression syntax. They are parsed with
:mod:`ast` and converted node by node into the small tree below; anything outside
the accepted subset is refused with an :class:`~sd_engine.errors.EquationSyntaxError`
naming the variable and the position. Model text never reaches ``eval``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import EquationSyntaxError

__all__ = [
    "Expr",
    "Num",
    "Str",
    "Ref",
    "Unary",
    "Binary",
    "Call",
    "Table",
    "canonical",
    "parse_equation",
    "walk",
    "references",
    "to_text",
]


def canonical(name: str) -> str:
    """Return the canonical form of a variable name.

    Case, surrounding quotes and runs of spaces or underscores do not matter:
    ``"Patients in beds"``, ``"patients_in_beds"`` and ``"PATIENTS  IN BEDS"``
    all give ``"patients_in_beds"``.

    Examples
    --------
    >>> canonical(" Teacup  Temperature ")
    'teacup_temperature'
    """
    name = name.strip().strip('"').strip()
    return re.sub(r"[\s_]+", "_", name.lower())


@dataclass(frozen=True)
class Num:
    value: float

    def __post_init__(self) -> None:
        # Always a float, so equal numbers make equal (and equally hashed) trees.
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class Str:
    """A string argument: a dimension name for reductions (``sum(x, "region")``)."""

    value: str


@dataclass(frozen=True)
class Ref:
    """A reference to a variable; ``subscripts`` selects elements (``x["north"]``)."""

    name: str
    subscripts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+", "not"
    operand: Expr


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / ** % == != < <= > >= and or
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    func: str  # canonical builtin name, or the canonical name of a lookup variable
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Table:
    """A literal graphical function, as in ``with_lookup(x, ((0, 0), (1, 2)))``."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]


Expr = Num | Str | Ref | Unary | Binary | Call | Table

_BINOPS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.Mod: "%",
}
_CMPOPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}


def parse_equation(text: str | float | int, *, variable: str = "?") -> Expr:
    """Parse a builder equation (Python expression syntax) into an expression tree.

    Examples
    --------
    >>> parse_equation("beds / average_los")
    Binary(op='/', left=Ref(name='beds', subscripts=()), right=Ref(name='average_los', subscripts=()))
    """
    if isinstance(text, bool):
        return Num(float(text))
    if isinstance(text, (int, float)):
        return Num(float(text))
    if not isinstance(text, str):
        raise EquationSyntaxError(
            f"The equation of `{variable}` must be a string or a number, not {type(text).__name__}.",
            variable=variable,
            equation=repr(text),
            offset=None,
        )
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        col, msg = exc.offset, exc.msg
        if not col or (exc.lineno or 1) > 1 or col > len(source) + 1:
            # Python reports an equation that stops too early at column 0 of the next line.
            col, msg = len(source) + 1, "the equation ends too early"
        raise EquationSyntaxError(
            f"Syntax error in the equation of `{variable}` at column {col}: {msg}.\n"
            f"    {source}\n    {' ' * ((col or 1) - 1)}^",
            variable=variable,
            equation=source,
            offset=col,
        ) from None
    return _Converter(source, variable).convert(tree.body)


class _Converter:
    def __init__(self, source: str, variable: str) -> None:
        self.source = source
        self.variable = variable

    def fail(self, node: ast.AST, what: str) -> EquationSyntaxError:
        col = getattr(node, "col_offset", 0) + 1
        return EquationSyntaxError(
            f"{what} in the equation of `{self.variable}` at column {col}.\n"
            f"    {self.source}\n    {' ' * (col - 1)}^",
            variable=self.variable,
            equation=self.source,
            offset=col,
        )

    def convert(self, node: ast.AST) -> Expr:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return Num(float(node.value))
            if isinstance(node.value, (int, float)):
                return Num(float(node.value))
            if isinstance(node.value, str):
                return Str(node.value)
            raise self.fail(node, f"Unsupported constant {node.value!r}")
        if isinstance(node, ast.Name):
            return Ref(canonical(node.id))
        if isinstance(node, ast.UnaryOp):
            operand = self.convert(node.operand)
            if isinstance(node.op, ast.USub):
                if isinstance(operand, Num):
                    return Num(-operand.value)
                return Unary("-", operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            if isinstance(node.op, ast.Not):
                return Unary("not", operand)
            raise self.fail(node, "Unsupported unary operator")
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                hint = " (use `**` for powers)" if isinstance(node.op, ast.BitXor) else ""
                raise self.fail(node, f"Unsupported operator{hint}")
            return Binary(op, self.convert(node.left), self.convert(node.right))
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            values = [self.convert(v) for v in node.values]
            result = values[0]
            for value in values[1:]:
                result = Binary(op, result, value)
            return result
        if isinstance(node, ast.Compare):
            # a < b < c means (a < b) and (b < c), as in Python.
            parts: list[Expr] = []
            left = self.convert(node.left)
            for op_node, right_node in zip(node.ops, node.comparators):
                op = _CMPOPS.get(type(op_node))
                if op is None:
                    raise self.fail(node, "Unsupported comparison")
                right = self.convert(right_node)
                parts.append(Binary(op, left, right))
                left = right
            result = parts[0]
            for part in parts[1:]:
                result = Binary("and", result, part)
            return result
        if isinstance(node, ast.IfExp):
            return Call(
                "if_then_else",
                (self.convert(node.test), self.convert(node.body), self.convert(node.orelse)),
            )
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise self.fail(node, "Only plain function names can be called")
            if node.keywords:
                raise self.fail(node, "Keyword arguments are not supported")
            name = canonical(node.func.id)
            args = tuple(self.convert_arg(name, i, a) for i, a in enumerate(node.args))
            return Call(name, args)
        if isinstance(node, ast.Subscript):
            if not isinstance(node.value, ast.Name):
                raise self.fail(node, "Only variables can be subscripted")
            index = node.slice
            items = index.elts if isinstance(index, ast.Tuple) else [index]
            subs = []
            for item in items:
                if isinstance(item, ast.Constant) and isinstance(item.value, str):
                    subs.append(item.value)
                elif isinstance(item, ast.Name):
                    subs.append(item.id)
                else:
                    raise self.fail(item, "Subscripts must be element or dimension names")
            return Ref(canonical(node.value.id), tuple(subs))
        raise self.fail(node, f"Unsupported syntax `{ast.unparse(node)}`")

    def convert_arg(self, func: str, position: int, node: ast.AST) -> Expr:
        # A literal table of points is only meaningful as a graphical function.
        if isinstance(node, (ast.Tuple, ast.List)):
            try:
                points = [tuple(float(ast.literal_eval(p)) for p in pt.elts) for pt in node.elts]  # type: ignore[attr-defined]
            except (ValueError, AttributeError, TypeError):
                raise self.fail(node, "A table must be a sequence of (x, y) number pairs") from None
            if not points or any(len(p) != 2 for p in points):
                raise self.fail(node, "A table must be a sequence of (x, y) number pairs")
            xs, ys = zip(*points)
            return Table(tuple(xs), tuple(ys))
        return self.convert(node)


def walk(expr: Expr) -> Iterator[Expr]:
    """Yield `expr` and all its sub-expressions, depth first."""
    yield expr
    if isinstance(expr, Unary):
        yield from walk(expr.operand)
    elif isinstance(expr, Binary):
        yield from walk(expr.left)
        yield from walk(expr.right)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from walk(arg)


def references(expr: Expr) -> set[str]:
    """Canonical names of the variables `expr` reads, lookups called by name included."""
    names: set[str] = set()
    for node in walk(expr):
        if isinstance(node, Ref):
            names.add(node.name)
        elif isinstance(node, Call):
            names.add(node.func)
    return names


_PREC = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
         "+": 5, "-": 5, "*": 6, "/": 6, "%": 6, "**": 8}


def to_text(expr: Expr, _parent: int = 0) -> str:
    """Render `expr` back as a builder equation (used in messages and exports)."""
    if isinstance(expr, Num):
        v = expr.value
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(expr, Str):
        return repr(expr.value)
    if isinstance(expr, Ref):
        if expr.subscripts:
            return f"{expr.name}[{', '.join(repr(s) for s in expr.subscripts)}]"
        return expr.name
    if isinstance(expr, Table):
        return "(" + ", ".join(f"({x!r}, {y!r})" for x, y in zip(expr.xs, expr.ys)) + ")"
    if isinstance(expr, Unary):
        inner = to_text(expr.operand, 7)
        text = f"not {inner}" if expr.op == "not" else f"-{inner}"
        return f"({text})" if _parent > 7 else text
    if isinstance(expr, Binary):
        prec = _PREC[expr.op]
        right_prec = prec + 1 if expr.op != "**" else prec
        left_prec = prec if expr.op != "**" else prec + 1
        text = f"{to_text(expr.left, left_prec)} {expr.op} {to_text(expr.right, right_prec)}"
        return f"({text})" if prec < _parent else text
    if isinstance(expr, Call):
        return f"{expr.func}({', '.join(to_text(a) for a in expr.args)})"
    raise TypeError(expr)
