"""Export a model to XMILE 1.0, so Stella, Vensim and other XMILE tools can open it.

The writer renders the model's :class:`~sd_engine.spec.ModelSpec` (not the lowered spec:
stateful builtins stay as the XMILE builtins ``SMTH1``, ``DELAY3``, ``DELAY``, ``TREND``
...) as an OASIS XMILE 1.0 document: the header, ``sim_specs`` (start, stop, dt, method,
time units), ``dimensions``, and one ``stock``, ``flow``, ``aux`` or ``gf`` element per
variable with its equation, inflows and outflows, ``non_negative`` flag, units and
documentation. Arrayed constants are written element by element.

Builder equations use Vensim's semantics, and a few constructs have no XMILE builtin;
they are written as equivalent XMILE structure:

* ``pulse`` and ``pulse_train`` become ``IF ... THEN 1 ELSE 0`` tests of ``TIME`` with the
  same half-step tolerance as the engine;
* ``sample_if_true(c, x, init)`` becomes a helper stock (``<var> sampled state``) updated by
  a flow of ``(value - state) / DT`` when ``c`` holds, exact under Euler integration;
* ``with_lookup(x, table)`` becomes a graphical function of its own (``<var> lookup N``);
* ``xidz`` / ``zidz`` become ``SAFEDIV``; ``log(x, b)`` becomes ``LN(x) / LN(b)``.

XMILE 1.0 has no save interval, so a model's ``saveper`` is not written: tools that open
the file save every ``dt``.

What XMILE cannot express faithfully is refused with
:class:`~sd_engine.errors.UnsupportedError` naming the variable: the random functions
(another random stream), ``active_initial``, and ``look_forward`` lookups.

Examples
--------
>>> import sd_engine as sd
>>> text = to_xmile(sd.load("teacup").spec)
>>> "<stock name=\\"Teacup Temperature\\">" in text
True
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UnsupportedError
from ..expr import Binary, Call, Expr, Num, Ref, Str, Table, Unary, canonical
from ..spec import LookupTable, ModelSpec, Variable

__all__ = ["XMILE_NS", "to_xmile", "write_xmile"]

#: The XMILE 1.0 namespace.
XMILE_NS = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"

_METHODS = {"euler": "Euler", "rk2": "RK2", "rk4": "RK4", "rk45": "RK45", "dop853": "RK45"}
_GF_TYPES = {"interpolate": "continuous", "extrapolate": "extrapolate", "hold_backward": "discrete"}
_FUNCTIONS = {
    "abs": "ABS", "sqrt": "SQRT", "exp": "EXP", "ln": "LN", "log10": "LOG10", "sin": "SIN", "cos": "COS",
    "tan": "TAN", "arcsin": "ARCSIN", "arccos": "ARCCOS", "arctan": "ARCTAN", "asin": "ARCSIN",
    "acos": "ARCCOS", "atan": "ARCTAN", "integer": "INT", "int": "INT", "step": "STEP", "ramp": "RAMP",
    "initial": "INIT",
}
_RANDOM = ("random_uniform", "random_normal", "random_exponential", "random_poisson")
_PREC = {"OR": 1, "AND": 2, "=": 4, "<>": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6,
         "mod": 6, "^": 8}
_OPS = {"==": "=", "!=": "<>", "and": "AND", "or": "OR", "**": "^", "%": "mod"}


def _ident(name: str) -> str:
    """An XMILE identifier for canonical `name`: underscores stand for spaces; quote odd names."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _num(value: float) -> str:
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


class _Writer:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.extra: list[ET.Element] = []  # helper stocks, flows and graphical functions
        self.counter: dict[str, int] = {}

    # -- expressions -----------------------------------------------------------------------------
    def expr(self, e: Expr, var: Variable, parent: int = 0) -> str:
        if isinstance(e, Num):
            text = _num(e.value)
            return f"({text})" if e.value < 0 and parent > 0 else text
        if isinstance(e, Ref):
            if e.name in ("time", "t") and e.name not in self.spec:
                return "TIME"
            if e.name in ("dt", "time_step") and e.name not in self.spec:
                return "DT"
            if e.subscripts:
                return f"{_ident(e.name)}[{', '.join(_ident(canonical(s)) for s in e.subscripts)}]"
            return _ident(e.name)
        if isinstance(e, Unary):
            inner = self.expr(e.operand, var, 7)
            text = f"NOT {inner}" if e.op == "not" else f"-{inner}"
            return f"({text})" if parent > 0 else text
        if isinstance(e, Binary):
            op = _OPS.get(e.op, e.op)
            prec = _PREC[op]
            left = self.expr(e.left, var, prec if op != "^" else prec + 1)
            right = self.expr(e.right, var, prec + 1)
            text = f"{left} {op} {right}"
            return f"({text})" if prec < parent or (parent and op in ("AND", "OR", "=", "<>", "<", "<=", ">", ">=")) \
                else text
        if isinstance(e, Call):
            return self.call(e, var)
        if isinstance(e, (Str, Table)):
            raise UnsupportedError(f"`{var.name}` uses a table or a string where XMILE expects a number.")
        raise TypeError(e)

    def call(self, c: Call, var: Variable) -> str:
        f = c.func
        a: Callable[[int], str] = lambda i: self.expr(c.args[i], var)  # noqa: E731
        n = len(c.args)
        if f in self.spec and self.spec[f].kind == "lookup":
            return f"{_ident(f)}({a(0)})"
        if f == "if_then_else":
            return f"(IF {a(0)} THEN {a(1)} ELSE {a(2)})"
        if f in ("min", "max"):
            if n == 1:
                return f"{f.upper()}({a(0)})"
            text = a(0)
            for i in range(1, n):
                text = f"{f.upper()}({text}, {a(i)})"
            return text
        if f in _FUNCTIONS:
            return f"{_FUNCTIONS[f]}({', '.join(a(i) for i in range(n))})"
        if f == "log":
            return f"(LN({a(0)}) / LN({a(1)}))"
        if f in ("modulo", "mod"):
            return f"(({a(0)}) mod ({a(1)}))"
        if f == "xidz":
            return f"SAFEDIV({a(0)}, {a(1)}, {a(2)})"
        if f == "zidz":
            return f"SAFEDIV({a(0)}, {a(1)})"
        if f == "time":
            return "TIME"
        if f == "quantum":
            return f"(IF {a(1)} <= 0 THEN {a(0)} ELSE {a(1)} * INT({a(0)} / {a(1)}))"
        if f == "pulse":
            width = f"(IF {a(1)} = 0 THEN DT ELSE {a(1)})"
            return f"(IF (TIME + DT / 2 > {a(0)}) AND (TIME + DT / 2 < {a(0)} + {width}) THEN 1 ELSE 0)"
        if f == "pulse_train":
            start, width, interval, end = (a(i) for i in range(4))
            width = f"(IF {width} = 0 THEN DT ELSE {width})"
            phase = f"(IF {interval} > 0 THEN ((TIME + DT / 2 - {start}) mod ({interval})) ELSE TIME + DT / 2 - {start})"
            return (f"(IF (TIME + DT / 2 > {start}) AND (TIME <= {end} + DT / 2) AND ({phase} < {width}) "
                    "THEN 1 ELSE 0)")
        stateful = {"smooth": ("SMTH1", 2), "smoothi": ("SMTH1", 3), "smooth3": ("SMTH3", 2), "smooth3i": ("SMTH3", 3),
                    "delay1": ("DELAY1", 2), "delay1i": ("DELAY1", 3), "delay3": ("DELAY3", 2),
                    "delay3i": ("DELAY3", 3), "delay_fixed": ("DELAY", 3), "trend": ("TREND", 3),
                    "forecast": ("FORCST", 3)}
        if f in stateful:
            name, count = stateful[f]
            return f"{name}({', '.join(a(i) for i in range(count))})"
        if f in ("smooth_n", "delay_n"):
            return f"{'SMTHN' if f == 'smooth_n' else 'DELAYN'}({a(0)}, {a(1)}, {a(3)}, {a(2)})"
        if f in ("sum", "prod", "vmin", "vmax", "mean"):
            return self.reduction(c, var)
        if f == "with_lookup":
            table = c.args[1]
            assert isinstance(table, Table)
            name = self.helper_name(var, "lookup")
            self.extra.append(self.gf(name, LookupTable(table.xs, table.ys), "", f"Table of `{var.name}`."))
            return f"{_ident(canonical(name))}({a(0)})"
        if f == "lookup_extrapolate" and isinstance(c.args[0], Ref):
            target = self.spec[c.args[0].name]
            if target.lookup is not None and target.lookup.mode == "extrapolate":
                return f"{_ident(target.canonical)}({a(1)})"
            raise UnsupportedError(
                f"`{var.name}` extrapolates lookup `{target.name}`, which XMILE would clamp; declare the lookup "
                "with mode=\"extrapolate\" to export it.")
        if f == "sample_if_true":
            return self.sample_if_true(c, var)
        if f in _RANDOM:
            raise UnsupportedError(
                f"`{var.name}` uses `{f}`, which XMILE tools would draw from another random stream; export a "
                "model without random functions, or replace them by a time series lookup.")
        raise UnsupportedError(f"`{var.name}` uses `{f}`, which has no XMILE equivalent in this exporter.")

    def reduction(self, c: Call, var: Variable) -> str:
        func = {"sum": "SUM", "prod": "PROD", "vmin": "MIN", "vmax": "MAX", "mean": "MEAN"}[c.func]
        arg = c.args[0]
        if not isinstance(arg, Ref) or arg.name not in self.spec:
            raise UnsupportedError(f"`{var.name}` reduces an expression; XMILE reduces a variable, `{c.func}(x[*])`.")
        dims = [canonical(d) for d in self.spec[arg.name].dims]
        reduce = {canonical(c.args[1].value)} if len(c.args) == 2 and isinstance(c.args[1], Str) else set(dims)
        subs = ["*" if d in reduce else _ident(d) for d in dims]
        return f"{func}({_ident(arg.name)}[{', '.join(subs)}])"

    def helper_name(self, var: Variable, what: str) -> str:
        key = f"{var.canonical}:{what}"
        self.counter[key] = self.counter.get(key, 0) + 1
        return f"{var.name} {what} {self.counter[key]}"

    def sample_if_true(self, c: Call, var: Variable) -> str:
        cond, x, init = (self.expr(a, var) for a in c.args)
        base = self.helper_name(var, "sampled state")
        state, update = canonical(base), canonical(base + " update")
        stock = ET.Element("stock", name=base)
        ET.SubElement(stock, "eqn").text = init
        ET.SubElement(stock, "inflow").text = _ident(update)
        ET.SubElement(stock, "doc").text = f"State of SAMPLE IF TRUE in `{var.name}`: holds its last sampled value."
        flow = ET.Element("flow", name=base + " update")
        ET.SubElement(flow, "eqn").text = f"(IF {cond} THEN ({x} - {_ident(state)}) / DT ELSE 0)"
        ET.SubElement(flow, "doc").text = "Moves the state to the sampled value in one time step (exact under Euler)."
        self.extra += [stock, flow]
        return f"(IF {cond} THEN {x} ELSE {_ident(state)})"

    # -- elements -------------------------------------------------------------------------------------
    def gf(self, name: str, table: LookupTable, units: str, doc: str) -> ET.Element:
        if table.mode not in _GF_TYPES:
            raise UnsupportedError(
                f"Lookup `{name}` reads the next point (look_forward), which XMILE graphical functions cannot; "
                "use interpolate, extrapolate or hold_backward.")
        el = ET.Element("gf", name=name, type=_GF_TYPES[table.mode])
        xs = table.xs
        even = len(xs) > 1 and all(abs((xs[i] - xs[0]) - i * (xs[-1] - xs[0]) / (len(xs) - 1)) <= 1e-12 * (1 + abs(xs[-1]))
                                   for i in range(len(xs)))
        # XMILE gives x either as an even scale or as explicit points; readers such as PySD
        # take the scale when both are present, so write exactly one of them.
        if even:
            ET.SubElement(el, "xscale", min=_num(xs[0]), max=_num(xs[-1]))
        else:
            ET.SubElement(el, "xpts").text = ",".join(_num(x) for x in xs)
        ET.SubElement(el, "yscale", min=_num(min(table.ys)), max=_num(max(table.ys)))
        ET.SubElement(el, "ypts").text = ",".join(_num(y) for y in table.ys)
        self.describe(el, units, doc)
        return el

    @staticmethod
    def describe(el: ET.Element, units: str, doc: str) -> None:
        if units:
            ET.SubElement(el, "units").text = units
        if doc:
            ET.SubElement(el, "doc").text = doc.strip()

    def dims(self, el: ET.Element, var: Variable) -> None:
        if var.dims:
            dims = ET.SubElement(el, "dimensions")
            for d in var.dims:
                ET.SubElement(dims, "dim", name=self.spec.dimension(d).name)

    def variable(self, var: Variable) -> ET.Element:
        if var.kind == "lookup":
            assert var.lookup is not None
            return self.gf(var.name, var.lookup, var.units, var.doc)
        if var.init_equation is not None:
            raise UnsupportedError(
                f"`{var.name}` has an ACTIVE INITIAL value, which XMILE cannot express; give it a plain equation.")
        tag = {"stock": "stock", "flow": "flow", "aux": "aux", "constant": "aux"}[var.kind]
        el = ET.Element(tag, name=var.name)
        self.dims(el, var)
        if var.values is not None:
            shapes = [self.spec.dimension(d).elements for d in var.dims]
            index: list[tuple[str, ...]] = [()]  # the C-order product of the elements
            for elements in shapes:
                index = [i + (e,) for i in index for e in elements]
            for subs, value in zip(index, var.values):
                element = ET.SubElement(el, "element", subscript=", ".join(subs))
                ET.SubElement(element, "eqn").text = _num(value)
        else:
            assert var.equation is not None
            ET.SubElement(el, "eqn").text = self.expr(var.equation, var)
        if var.kind == "stock":
            for f in var.inflows:
                ET.SubElement(el, "inflow").text = _ident(f)
            for f in var.outflows:
                ET.SubElement(el, "outflow").text = _ident(f)
        if var.non_negative:
            ET.SubElement(el, "non_negative")
        self.describe(el, var.units, var.doc)
        return el

    def document(self) -> ET.Element:
        spec = self.spec
        ET.register_namespace("", XMILE_NS)
        root = ET.Element("xmile", version="1.0", xmlns=XMILE_NS)
        header = ET.SubElement(root, "header")
        ET.SubElement(header, "vendor").text = "sdflow"
        from .._version import __version__

        ET.SubElement(header, "product", version=__version__, lang="en").text = "sdflow"
        ET.SubElement(header, "name").text = spec.name
        time = spec.time
        method = _METHODS.get(time.method.lower())
        if method is None:
            raise UnsupportedError(f"Integration method `{time.method}` has no XMILE name; use euler, rk2 or rk4.")
        sim = ET.SubElement(root, "sim_specs", method=method, time_units=time.units)
        ET.SubElement(sim, "start").text = _num(time.initial_time)
        ET.SubElement(sim, "stop").text = _num(time.final_time)
        ET.SubElement(sim, "dt").text = _num(time.dt)
        if spec.dimensions:
            dims = ET.SubElement(root, "dimensions")
            for d in spec.dimensions:
                dim = ET.SubElement(dims, "dim", name=d.name)
                for e in d.elements:
                    ET.SubElement(dim, "elem", name=e)
        # XMILE has no element for a model's documentation; the variables keep theirs.
        model = ET.SubElement(root, "model")
        variables = ET.SubElement(model, "variables")
        for var in spec.variables:
            if not var.internal:
                variables.append(self.variable(var))
        for el in self.extra:
            variables.append(el)
        return root


def to_xmile(model: ModelSpec | Any) -> str:
    """The XMILE 1.0 text of `model` (a ModelSpec, builder Model, CompiledModel or library name).

    Raises
    ------
    UnsupportedError
        For a construct XMILE cannot express faithfully; the message names the variable.
    """
    spec = _spec_of(model)
    root = _Writer(spec).document()
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_xmile(model: ModelSpec | Any, path: str | Path) -> Path:
    """Write `model` to the XMILE file `path` and return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_xmile("sir", pathlib.Path(tempfile.mkdtemp()) / "sir.xmile")
    >>> out.read_text().count("<stock ")
    3
    """
    path = Path(path)
    path.write_text(to_xmile(model), encoding="utf-8")
    return path


def _spec_of(model: Any) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        from ..library import build

        return build(model).spec()
    spec = getattr(model, "spec")
    return spec() if callable(spec) else spec  # type: ignore[no-any-return]
