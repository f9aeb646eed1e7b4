"""A scalar fast path for single runs.

numpy pays about a microsecond per operation whatever the array size, so a single run of a
large model (hundreds of equations, thousands of steps) spends its time in that overhead.
For one run, the compiler's code generator is reused to write the same equations over plain
Python floats: ``evaluate_scalar`` has the signature of the generated ``evaluate`` and fills
the same buffers. A model with subscripts is first unrolled into one variable per element
(:mod:`sd_engine.unroll`), when it has few enough elements for floats to pay.

The two paths agree bit for bit: + - * / and comparisons are IEEE operations either way,
the few builtins written here (min, max, abs, conditionals, STEP, PULSE, PULSE TRAIN, RAMP,
XIDZ, ZIDZ and linear lookups) follow numpy's arithmetic exactly, and every other builtin calls the same
numpy implementation. Where Python floats would raise instead of giving numpy's inf or NaN
(division by zero, a square root of a negative number, overflow), ``evaluate_scalar`` returns
False and the integrator evaluates that step with the array code, so the result is the
array path's result.
"""

from __future__ import annotations

import math
import types
import weakref
from bisect import bisect_right
from typing import Any

import numpy as np

from .codegen import CHAIN_OPERATORS, CodeGenerator, chain_operands, check_nesting, comment, net_flow_text
from .expr import Binary, Call, Expr, Num, Ref, Str, Table, Unary, to_text
from .functions import ALIASES, BUILTINS, LOOKUP_FUNCTIONS, LOOKUP_MODES, PIECES, fold
from .program import FUNCTION_NAMESPACE, GeneratedEvaluator, Layout, Program, ProgramLike, as_program, load_functions
from .spec import Variable
from .unroll import NotUnrolled, unroll

__all__ = ["ScalarGenerator", "ScalarPath", "NotScalar", "scalar_path", "SCALAR_ELEMENTS_PER_EQUATION"]

_NAN = float("nan")


class NotScalar(Exception):
    """The model uses something the scalar path does not cover (subscripts, array functions)."""


#: The unrolled scalar path serves a model with subscripts when it has at most this many element
#: equations per arrayed equation of the numpy code: numpy pays about 1.5 us per equation whatever
#: its size, Python floats about 0.2 us per element.
SCALAR_ELEMENTS_PER_EQUATION = 6


# -- scalar builtins, with numpy's semantics --------------------------------------------------
def minimum(*args: float) -> float:
    out = args[0]
    for a in args[1:]:
        if a < out or a != a:  # NaN propagates, as in np.minimum
            out = a
    return out


def maximum(*args: float) -> float:
    out = args[0]
    for a in args[1:]:
        if a > out or a != a:
            out = a
    return out


def power(a: float, b: float) -> float:
    # The array code's power of arrays: on a machine with AVX-512 numpy's vectorised pow differs
    # from the C library's (math.pow, and numpy's on scalars) in the last bit for about one
    # value in twenty. Out of its domain (negative base, 0 ** -1) it gives NaN or inf, as the
    # array code (Python's ** would return a complex number or raise).
    return float(np.power(np.array([a]), np.array([b]))[0])


def square(a: float) -> float:
    return a * a  # numpy's `x ** 2` (np.square)


def xidz(a: float, b: float, x: float) -> float:
    return x if b == 0 else a / b


def zidz(a: float, b: float) -> float:
    return 0.0 if b == 0 else a / b


def step(t: float, dt: float, height: float, start: float) -> float:
    return height if t + dt / 2 > start else 0.0


def pulse(t: float, dt: float, start: float, width: float) -> float:
    tt = t + dt / 2
    return 1.0 if tt > start and tt < start + (dt if width == 0 else width) else 0.0


def pulse_train(t: float, dt: float, start: float, width: float, interval: float, end: float) -> float:
    tt = t + dt / 2
    width = dt if width == 0 else width
    # Python's float % is numpy's np.mod (a floored remainder); the tolerance sits inside it.
    phase = (tt - start) % interval if interval > 0 else tt - start
    return 1.0 if tt > start and t <= end + dt / 2 and phase < width else 0.0


def ramp(t: float, slope: float, start: float, end: float) -> float:
    return 0.0 if t < start else slope * ((t if t < end else end) - start)


def lookup(x: float, xs: list[float], ys: list[float]) -> float:
    """np.interp for one point, with numpy's formula so the result is the same double."""
    if x != x:
        return _NAN
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    j = bisect_right(xs, x) - 1
    slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
    return slope * (x - xs[j]) + ys[j]


_NATIVE = {"min": "minimum", "max": "maximum", "abs": "abs", "xidz": "xidz", "zidz": "zidz",
           "step": "step", "pulse": "pulse", "pulse_train": "pulse_train", "ramp": "ramp"}
_SCALAR = types.SimpleNamespace(minimum=minimum, maximum=maximum, abs=abs, xidz=xidz, zidz=zidz, step=step,
                                pulse=pulse, pulse_train=pulse_train, ramp=ramp, lookup=lookup, power=power,
                                square=square)


class ScalarGenerator(CodeGenerator):
    """The code generator writing the equations over Python floats, for one run.

    It overrides the hooks of :class:`~sd_engine.codegen.CodeGenerator`: expressions are
    written over floats (:meth:`emit`, :meth:`emit_call`, dimensions always None), net flows
    and outflow caps with the scalar builtins (:meth:`net_flow`, :meth:`limit_outflow`), and
    :meth:`generate` writes one function, ``evaluate_scalar``, with the signature of the
    generated ``evaluate`` and returning whether it could take the step. A model with
    subscripts raises :class:`NotScalar`.
    """

    def generate(self, layout: Layout) -> str:
        # The program's own buffers (a program may record more than the default series).
        if self.dims or any(v.dims for v in self.vars.values()):
            raise NotScalar
        ident = self.ident
        lines = [f"# Generated by sdflow from model {self.lowered.name!r}: the scalar path for single runs.", "",
                 "def evaluate_scalar(t, y, z, cs, dt, dy, zn, out):",
                 "    t = float(t)", "    dt = float(dt)", "    yv = y[0].tolist()", "    zv = z[0].tolist()",
                 "    try:"]
        # No subscripts here: every slot is one column, read from the lists yv and zv.
        body = self.read_inputs(layout, True, read=lambda slot, buffer: f"{buffer}v[{slot.start}]",
                                constants="cs", indent="")
        body += self.rate_lines()
        rates = [self.net_flow(self.vars[s.key]) for s in layout.stocks]
        body.append(f"rates = ({', '.join(rates)}{',' if len(rates) == 1 else ''})")
        lines += ["        " + b for b in body]
        lines += ["    except (ArithmeticError, ValueError):",
                  "        return False  # numpy's inf/NaN semantics needed: the array code takes this step"]
        lines.append("    dy[0] = rates")
        nexts = []
        for slot in layout.states:
            var = self.vars[slot.key]
            source = var.inflows[0] if var.update in ("discrete", "pipeline") and var.inflows else slot.key
            nexts.append(ident[source])
        if nexts:
            lines.append(f"    zn[0] = ({', '.join(nexts)},)")
        lines.append("    if out is not None:")
        values = [ident[s.key] for s in layout.series]
        lines.append(f"        out[0] = ({', '.join(values)},)" if values else "        pass")
        lines += ["    return True", ""]
        return "\n".join(lines)

    def net_flow(self, stock: Variable) -> str:
        terms = [f"+ {self.ident[f]}" for f in stock.inflows] + [f"- {self.ident[f]}" for f in stock.outflows]
        return net_flow_text(terms, stock, self.ident[stock.canonical], "sf")

    def rate_lines(self) -> list[str]:
        """The lines computing each auxiliary and flow in order, non-negative flows capped (the
        step body that the scalar path and the compiled back end share)."""
        body = []
        for var in self.rate_order():
            assert var.equation is not None
            if isinstance(var.equation, Call) and var.equation.func == PIECES:
                raise NotScalar
            code = self.emit(var.equation, var)[0]
            if var.kind == "flow" and var.non_negative:
                code = f"sf.maximum({code}, 0.0)"
            body.append(f"{self.ident[var.canonical]} = {check_nesting(code, var)}"
                        + comment(f"{var.name} = {to_text(var.equation)}"))
            if var.kind == "flow":
                body += self.limit_outflow(var)
        return body

    def limit_outflow(self, flow: Variable) -> list[str]:
        lines = []
        for stock, inflows, before in self.draining(flow):
            available = [f"{self.ident[stock.canonical]} / dt"] + [f"+ {self.ident[f]}" for f in inflows]
            available += [f"- {self.ident[f]}" for f in before]
            ident = self.ident[flow.canonical]
            lines.append(f"{ident} = sf.minimum({ident}, sf.maximum(({' '.join(available)}), 0.0))")
        return lines

    def emit(self, expr: Expr, var: Variable) -> tuple[str, None]:
        """The code of `expr` over floats; no dimensions (a subscript raises :class:`NotScalar`)."""
        return self.scalar(expr, var), None

    def emit_call(self, call: Call, var: Variable) -> tuple[str, None]:
        return self.scalar_call(call, var), None

    def scalar(self, expr: Expr, var: Variable) -> str:
        if isinstance(expr, Num):
            v = expr.value
            if not math.isfinite(v):
                return f"float({str(v)!r})"
            return repr(v) if v >= 0 else f"({v!r})"
        if isinstance(expr, Ref):
            if expr.subscripts:
                raise NotScalar
            code, _ = self.emit_ref(expr, var)
            return code
        if isinstance(expr, (Unary, Binary)):
            folded = fold(expr)
            if isinstance(folded, Num):
                return self.scalar(folded, var)
        if isinstance(expr, Unary):
            operand = self.scalar(expr.operand, var)
            return self.logical("not", operand, "") if expr.op == "not" else f"(-{operand})"
        if isinstance(expr, Binary) and expr.op in CHAIN_OPERATORS:
            # One flat chain, as the array code writes it: Python evaluates it left to right.
            first, rest = chain_operands(expr)
            return "(" + self.scalar(first, var) + "".join(f" {op} {self.scalar(e, var)}" for op, e in rest) + ")"
        if isinstance(expr, Binary):
            left, right = self.scalar(expr.left, var), self.scalar(expr.right, var)
            if expr.op in ("and", "or", "==", "!=", "<", "<=", ">", ">="):
                return self.logical(expr.op, left, right)
            if expr.op == "**":
                exponent = fold(expr.right)
                if isinstance(exponent, Num) and exponent.value in (2.0, 0.5, -1.0):
                    return self.literal_power(left, exponent.value)
                return f"sf.power({left}, {right})"
            return f"({left} {expr.op} {right})"
        if isinstance(expr, Call):
            return self.emit_call(expr, var)[0]
        if isinstance(expr, (Str, Table)):
            raise NotScalar
        raise TypeError(expr)

    def scalar_call(self, call: Call, var: Variable) -> str:
        func = ALIASES.get(call.func, call.func)
        if func == "time" and not call.args:
            return "t"
        if func == "with_lookup" and len(call.args) == 2 and isinstance(call.args[1], Table):
            name = self.tables.setdefault(call.args[1], f"_table{len(self.tables)}")
            return self.inline_lookup(self.scalar(call.args[0], var), name, call.args[1])
        if func in self.vars and self.vars[func].kind == "lookup" and len(call.args) == 1:
            table = self.vars[func].lookup
            assert table is not None
            return self.scalar_lookup(func, call.args[0], var, table.mode)
        if func in LOOKUP_FUNCTIONS:
            if len(call.args) == 2 and isinstance(call.args[0], Ref) and call.args[0].name in self.vars:
                return self.scalar_lookup(call.args[0].name, call.args[1], var, LOOKUP_FUNCTIONS[func])
            raise NotScalar
        if func not in BUILTINS:
            raise NotScalar  # reductions and block equations need arrays
        builtin = BUILTINS[func]
        if builtin.nargs is not None and len(call.args) not in builtin.nargs:
            raise NotScalar  # the array compiler reports the error
        args = [self.scalar(a, var) for a in call.args]
        if func == "if_then_else":
            return self.choice(args[0], args[1], args[2])
        return self.builtin_call(func, args, var)

    def logical(self, op: str, left: str, right: str) -> str:
        """The code of a comparison, ``and``/``or`` (on the codes `left`, `right`) or ``not``
        (of `left`) as 1.0 or 0.0; NaN counts as true, as in numpy."""
        if op == "not":
            return f"(0.0 if {left} else 1.0)"
        if op in ("and", "or"):
            return f"(1.0 if ({left} {op} {right}) else 0.0)"
        return f"(1.0 if {left} {op} {right} else 0.0)"

    def choice(self, condition: str, a: str, b: str) -> str:
        """The code of IF THEN ELSE: `a` where `condition` is not 0, else `b`."""
        return f"({a} if {condition} else {b})"

    def literal_power(self, base: str, exponent: float) -> str:
        """The code of `base` ** 2, 0.5 or -1 written as a number: numpy computes an array to
        those powers as its square, square root and reciprocal (exactly rounded), not by pow."""
        if exponent == 2.0:
            return f"sf.square({base})"
        return f"math.sqrt({base})" if exponent == 0.5 else f"(1.0 / {base})"

    def inline_lookup(self, x: str, name: str, table: Table) -> str:
        """The code of a table written inline (WITH LOOKUP) read at `x`; its points are bound as `name` + ``_x``, ``_y``."""
        return f"sf.lookup({x}, {name}_x, {name}_y)"

    def builtin_call(self, func: str, args: list[str], var: Variable) -> str:
        """The code of builtin `func` on the argument codes `args` (a subclass's target language)."""
        builtin = BUILTINS[func]
        prefix = (["t"] if builtin.time else []) + (["dt"] if builtin.dt else [])
        if func in _NATIVE:
            return f"sf.{_NATIVE[func]}({', '.join(prefix + args)})"
        # Everything else: the array implementation itself, on floats.
        return f"float(fn.{func.lstrip('_')}({', '.join(prefix + args)}))"

    def scalar_lookup(self, key: str, arg: Expr, var: Variable, mode: str) -> str:
        x = self.scalar(arg, var)
        ident = self.ident[key]
        if mode == "interpolate":
            return f"sf.lookup({x}, {ident}[0], {ident}[1])"
        impl = LOOKUP_MODES[mode].__name__
        return f"float(fn.{impl}({x}, {ident}[2], {ident}[3]))"


class ScalarPath:
    """The scalar ``evaluate`` of one program and the conversion of its inputs."""

    def __init__(self, program: Program, source: str, tables: dict[Table, str]) -> None:
        self.source = source
        self.n_constants = len(program.layout.constants)
        namespace: dict[str, Any] = {"sf": _SCALAR, "fn": FUNCTION_NAMESPACE, "np": np, "math": math,
                                     "__name__": "sdflow_scalar"}
        for table, name in tables.items():
            namespace[f"{name}_x"] = list(table.xs)
            namespace[f"{name}_y"] = list(table.ys)
        filename = f"<sdflow scalar model {program.spec.name!r} {program.spec.hash()}>"
        self.evaluate = load_functions(source, filename, namespace)["evaluate_scalar"]

    def inputs(self, c: list[Any]) -> list[Any]:
        """Constants as floats, one per element (C order, as the unrolled layout reads them);
        lookup tables as lists (for bisect) and arrays (for numpy)."""
        out: list[Any] = [float(v) for a in c[: self.n_constants] for v in np.asarray(a).reshape(-1)]
        for xs, ys in c[self.n_constants:]:
            out.append((np.asarray(xs).tolist(), np.asarray(ys).tolist(), xs, ys))
        return out


# Built once per program, dropped with it.
_CACHE: weakref.WeakKeyDictionary[Program, ScalarPath | None] = weakref.WeakKeyDictionary()


def scalar_path(model: ProgramLike) -> ScalarPath | None:
    """The scalar path of `model` (built once per program), or None when the program's
    subscripts do not unroll (or into too many elements to pay), or it is not evaluated by the
    generated code (the reference interpreter is kept independent of the code generator)."""
    program = as_program(model)
    if program in _CACHE:
        return _CACHE[program]
    path = None
    if isinstance(program.evaluator, GeneratedEvaluator):
        try:
            unrolled = unroll(program)
            if len(unrolled.spec.variables) <= SCALAR_ELEMENTS_PER_EQUATION * len(program.lowered.variables):
                generator = ScalarGenerator(unrolled.spec)
                path = ScalarPath(program, generator.generate(unrolled.layout), dict(generator.tables))
        except (NotScalar, NotUnrolled):
            path = None
    _CACHE[program] = path
    return path
