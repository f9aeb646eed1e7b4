"""The expression tree shared by every front end, and the parser of builder equations.

Builder equations are strings in Python expression syntax. They are parsed with
:mod:`ast` and converted node by node into the small tree below; anything outside
the accepted subset is refused with an :class:`~sd_engine.errors.EquationSyntaxError`
naming the variable and the position. Model text never reaches ``eval``.

Model files are untrusted, so the tree has two documented limits:

* an equation nests at most :data:`MAX_DEPTH` levels (a chain of ``n`` additions is ``n``
  levels); deeper trees are refused at the spec boundary, because every stage that walks
  the tree (code generation, hashing, pickling to Dask workers) recurses over it;
* a sum of more than :data:`CHAIN_LIMIT` terms is built as sums of consecutive groups of
  terms (:func:`chain`), so that it stays far below that depth; shorter chains are
  evaluated strictly left to right, as Vensim does.

Names are compared in canonical form (:func:`canonical`), which applies Unicode NFKC as
Python does to identifiers, so ``µ`` and ``μ`` or a full-width ``ｃ`` and ``c`` are one
name everywhere. :func:`forbidden_character` finds the characters no name may hold.
"""

from __future__ import annotations

import ast
import functools
import re
import unicodedata
from collections.abc import Iterator, Sequence
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
    "forbidden_character",
    "parse_equation",
    "walk",
    "references",
    "to_text",
    "depth",
    "unknown_operator",
    "chain",
    "MAX_DEPTH",
    "CHAIN_LIMIT",
    "TIME_NAMES",
]

#: The deepest expression tree an equation may have. Every stage that walks the tree
#: recurses (code generation, the interpreter, hashing, pickling to Dask workers, the
#: graph); at this depth all of them stay well inside Python's default recursion limit
#: (1,000 frames) even when called from deep inside a notebook or a worker.
MAX_DEPTH = 150
#: Sums of more terms than this are built as sums of groups of `_GROUP` terms (see :func:`chain`).
CHAIN_LIMIT = 100
_GROUP = 32
#: The names equations use for time and the time step, each with the argument of the generated
#: functions (and of every evaluator) that holds its value. No variable may take these names.
TIME_NAMES = {"time": "t", "t": "t", "dt": "dt", "time_step": "dt"}


@functools.lru_cache(maxsize=1 << 16)
def canonical(name: str) -> str:
    """Return the canonical form of a variable name.

    Case, surrounding quotes, runs of spaces or underscores and Unicode compatibility
    forms do not matter: ``"Patients in beds"``, ``"patients_in_beds"`` and
    ``"PATIENTS  IN BEDS"`` all give ``"patients_in_beds"``. Names are NFKC-normalised,
    as Python normalises identifiers, so an equation that writes ``µ`` (micro sign) reads
    the variable named ``μ`` (Greek mu), and ``ｃ`` (full width) is ``c``: two variables
    whose names differ only so are one name, which the spec refuses as a duplicate.

    Examples
    --------
    >>> canonical(" Teacup  Temperature ")
    'teacup_temperature'
    >>> canonical("ﬁx rate") == canonical("fix rate")
    True
    """
    name = unicodedata.normalize("NFKC", name).strip().strip('"').strip()
    # Lower-casing can leave text that NFKC changes again (rarely): normalise once more.
    return re.sub(r"[\s_]+", "_", unicodedata.normalize("NFKC", name.lower()))


#: Characters with a name of their own in messages about forbidden characters.
_CHARACTER_NAMES = {"\r": "a carriage return", "\n": "a line feed", "\x00": "a NUL character",
                    "\t": "a tab", "\x0b": "a vertical tab", "\x0c": "a form feed",
                    "\u2028": "a line separator", "\u2029": "a paragraph separator",
                    "\ufeff": "a byte order mark", "\x85": "a next-line character"}
#: Format characters that scripts need inside words (Persian, Indic): zero-width (non-)joiners.
_JOINERS = {"\u200c", "\u200d"}


def forbidden_character(name: str) -> str | None:
    """Describe the first character `name` may not contain, or return None.

    Names may not hold control characters (line breaks, NUL, tabs ...), invisible
    format characters (bidirectional overrides, byte order marks; the zero-width
    joiners some scripts need are allowed), line or paragraph separators, or lone
    surrogates: such a name cannot be shown, written to a file or compared safely, and
    line breaks in names are how a model file would smuggle code into generated source.

    Examples
    --------
    >>> forbidden_character("Teacup Temperature") is None
    True
    >>> forbidden_character("a\\rb")
    'a carriage return (U+000D)'
    """
    for ch in name:
        kind = unicodedata.category(ch)
        if kind in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch not in _JOINERS:
            label = _CHARACTER_NAMES.get(ch) or {
                "Cc": "a control character", "Cs": "a lone surrogate",
            }.get(kind) or "the invisible character " + unicodedata.name(ch, "")
            return f"{label.rstrip()} (U+{ord(ch):04X})"
    return None


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
    except (RecursionError, MemoryError):
        raise _too_deep(variable, source) from None
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
    try:
        return _Converter(source, variable).convert(tree.body)
    except RecursionError:
        # Sums and products are converted without recursion; only other nesting gets here.
        raise _too_deep(variable, source) from None


def _too_deep(variable: str, source: str) -> EquationSyntaxError:
    return EquationSyntaxError(
        f"The equation of `{variable}` nests too deeply to read (at most {MAX_DEPTH} levels); split it into "
        "auxiliaries.",
        variable=variable, equation=source[:200], offset=None,
    )


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
            top = self.operator(node)
            if top == "**":
                return Binary(top, self.convert(node.left), self.convert(node.right))
            # A left-associative chain (`a + b - c + ...`) is read along its left spine without
            # recursion, so sums of thousands of terms convert; `chain` keeps the tree shallow.
            group = ("+", "-") if top in ("+", "-") else (top,) if top == "%" else ("*", "/")
            rest: list[tuple[str, Expr]] = []
            spine: ast.AST = node
            while isinstance(spine, ast.BinOp) and self.operator(spine) in group:
                rest.append((self.operator(spine), self.convert(spine.right)))
                spine = spine.left
            rest.reverse()
            return chain(self.convert(spine), rest)
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
                comparison = _CMPOPS.get(type(op_node))
                if comparison is None:
                    raise self.fail(node, "Unsupported comparison")
                right = self.convert(right_node)
                parts.append(Binary(comparison, left, right))
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

    def operator(self, node: ast.BinOp) -> str:
        op = _BINOPS.get(type(node.op))
        if op is None:
            hint = " (use `**` for powers)" if isinstance(node.op, ast.BitXor) else ""
            raise self.fail(node, f"Unsupported operator{hint}")
        return op

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


def chain(first: Expr, rest: Sequence[tuple[str, Expr]]) -> Expr:
    """The left-associative chain ``first op1 x1 op2 x2 ...`` as a tree.

    Up to :data:`CHAIN_LIMIT` operations the tree is the plain left fold, evaluated left to
    right exactly as written. A longer sum (``+`` and ``-`` only) is built as a sum of
    consecutive groups of terms, each group again a left fold, so that its depth grows
    with the logarithm of its length and a sum of any length stays far below
    :data:`MAX_DEPTH`; only the rounding of such a sum differs from strict left to right,
    as numpy's pairwise summation does. Long products are left as written and fall under
    the depth limit.

    Examples
    --------
    >>> to_text(chain(Ref("a"), [("-", Ref("b")), ("+", Ref("c"))]))
    'a - b + c'
    >>> depth(chain(Num(0), [("+", Num(i)) for i in range(1, 10_000)])) < MAX_DEPTH
    True
    """
    rest = list(rest)
    if len(rest) <= CHAIN_LIMIT or any(op not in ("+", "-") for op, _ in rest):
        return _left_fold(first, rest)
    terms: list[tuple[str, Expr]] = [("+", first)] + rest
    while len(terms) > _GROUP:
        grouped: list[tuple[str, Expr]] = []
        for start in range(0, len(terms), _GROUP):
            (sign, head), *others = terms[start:start + _GROUP]
            # s1*t1 + s2*t2 + ... = s1 * (t1 + (s1*s2)*t2 + ...): the group carries its first sign.
            flip = {"+": "-", "-": "+"} if sign == "-" else {"+": "+", "-": "-"}
            grouped.append((sign, _left_fold(head, [(flip[op], e) for op, e in others])))
        terms = grouped  # the first term's sign stays "+" at every level
    return _left_fold(terms[0][1], terms[1:])


def _left_fold(first: Expr, rest: Sequence[tuple[str, Expr]]) -> Expr:
    result = first
    for op, operand in rest:
        result = Binary(op, result, operand)
    return result


def depth(expr: Expr) -> int:
    """The number of levels of the tree `expr` (a number or a name is 1), without recursion.

    Examples
    --------
    >>> depth(parse_equation("a + b * c"))
    3
    """
    deepest = 0
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, Unary):
            stack.append((node.operand, level + 1))
        elif isinstance(node, Binary):
            stack += [(node.left, level + 1), (node.right, level + 1)]
        elif isinstance(node, Call):
            stack += [(arg, level + 1) for arg in node.args]
    return deepest


#: The operators a tree may hold (the code generator writes them into code as they are).
BINARY_OPERATORS = frozenset({"+", "-", "*", "/", "**", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"})
UNARY_OPERATORS = frozenset({"-", "not"})


def unknown_operator(expr: Expr) -> str | None:
    """The first operator of `expr` that is not one of the engine's, or None (without recursion).

    The front ends only build the operators above; a tree built by hand could hold any
    string, and the code generator writes operators into code.

    Examples
    --------
    >>> unknown_operator(Binary("+", Num(1), Num(2))) is None
    True
    >>> unknown_operator(Binary("+ __import__('os') +", Num(1), Num(2)))
    "+ __import__('os') +"
    """
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Unary):
            if node.op not in UNARY_OPERATORS:
                return node.op
            stack.append(node.operand)
        elif isinstance(node, Binary):
            if node.op not in BINARY_OPERATORS:
                return node.op
            stack += [node.left, node.right]
        elif isinstance(node, Call):
            stack += list(node.args)
    return None


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
