"""Loops over the elements of an unrolled model: the same lines, written once per run of elements.

An unrolled model (:mod:`sd_engine.unroll`) writes one line per element, and the elements
of one arrayed variable -- a delay chain's stages, a stock's net flows -- are lines that
differ only in which columns and locals they read and write, each one further along than
the line before. numba (LLVM) compiles a function in time that grows faster than its
length (1,207 elements: 28-43 s of CPU), so the compiled back end writes the ``evaluate``
of a large model with its locals in one array (``_w[j]`` for the local ``vj``) and each run
of such lines as a loop over ``_k``. The loop runs the same lines in the same order, so it
computes the same operations on the same numbers: the results are bit for bit those of the
line-per-element code.

Only the positions of ``_w``, ``y[iy, .]``, ``z[iz, .]``, ``c[ic, .]``, ``K[s, .]``,
``ZN[q, .]`` and ``R[r, .]`` may change along a run (by the same step from line to line);
everything else must be the same text (each line's template is checked to give back the
line). Runs of like loops (a variable over two or three dimensions, with a parameter along
one) become loops around them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LOCALS", "LOOP_GAIN", "LOOP_INDEX", "LOOP_LOCALS", "MAX_DEPTH", "MAX_PERIOD", "MIN_RUN", "array_locals", "loop_body",
           "loop_lines", "syntax_nodes", "code_length"]

#: The array holding the locals, and the loop's index (names the generated code does not use:
#: its locals are ``v0``, ``v1`` ..., its helpers ``sf``, ``sa``, ``_array0``, ``_table0`` ...).
LOCALS = "_w"
LOOP_INDEX = "_k"  # _k0, _k1 ... from the innermost loop out
#: The shortest run of repetitions written as a loop (shorter runs stay lines), the most
#: lines repeated together (a stage's outflow and the flow that copies it, one after the other,
#: element by element), and the most loops nested (a variable over three dimensions).
MIN_RUN = 3
MAX_PERIOD = 4
MAX_DEPTH = 3
#: An unrolled model of more locals than this is written with loops: its line-per-element
#: ``evaluate`` compiles for seconds (531 elements: 3.3 s of CPU, with loops 1.0 s; 1,207:
#: 18-43 s, with loops 3.3 s), while a small model's locals are best left to the registers.
LOOP_LOCALS = 500
#: Loops are written where they shorten the body's code (:func:`code_length`) to at most this
#: fraction: the VECTOR ORDER conformance model, 0.85 with loops, compiles in 8.2 s of CPU
#: instead of 13.5 s; VECTOR SELECT's, 0.997 (each element a whole-array call's own entry, so
#: few lines repeat), would take 14.6 s instead of 12.3 s.
LOOP_GAIN = 0.9

_LOCAL = re.compile(r"\bv(\d+)\b")
# A position that may change along a run: an index of the locals or of the step's arrays.
_POSITION = re.compile(r"\b(_w\[|y\[iy, |z\[iz, |c\[ic, |K\[s, |ZN\[q, |R\[r, )(\d+)\]")
_COMMENT = re.compile(r"  # '.*$|  # \".*$")


def array_locals(lines: Sequence[str]) -> list[str]:
    """`lines` with every local ``vj`` read and written as ``_w[j]``."""
    return [_LOCAL.sub(lambda m: f"{LOCALS}[{m.group(1)}]", line) for line in lines]


@dataclass(frozen=True)
class _Item:
    """A statement (or a loop: its lines joined by newlines) as a template with holes (``{}``)
    for its positions, the positions, and its source line (a loop: the comment of its first)."""

    template: str
    positions: tuple[int, ...]
    source: str
    loopable: bool = True


def _item(line: str) -> _Item:
    """A line as an item; a line that opens a block, or has braces (the templates' holes),
    cannot join a loop."""
    found = _COMMENT.search(line)
    code = line[:found.start()] if found else line
    if code.rstrip().endswith(":") or "{" in code or "}" in code:
        return _Item(line, (), line, loopable=False)
    positions: list[int] = []

    def hole(m: re.Match[str]) -> str:
        positions.append(int(m.group(2)))
        return m.group(1) + "{}]"

    item = _Item(_POSITION.sub(hole, code), tuple(positions), line)
    assert item.template.format(*item.positions) == code, line  # the template gives back the line
    return item


def _position(stride: int, index: str) -> str:
    # A hole of the loop's template: the first repetition's position, moved along the loop.
    return "{}" if stride == 0 else "{} + " + index if stride == 1 else "{} + " + f"{stride} * {index}"


def _repeats(items: Sequence[_Item], i: int, period: int) -> tuple[int, tuple[int, ...]]:
    """How many times the `period` items from `i` repeat (the same templates, each position
    moving by a fixed step from one repetition to the next), and those steps."""
    unit = items[i:i + period]
    if len(unit) < period or not all(u.loopable for u in unit):
        return 1, ()
    strides: tuple[int, ...] | None = None
    count = 1
    while True:
        at = i + count * period
        this = items[at:at + period]
        if len(this) < period or any(not b.loopable or a.template != b.template for a, b in zip(unit, this)):
            break
        step = tuple(b - a for p, n in zip(items[at - period:at], this) for a, b in zip(p.positions, n.positions))
        if strides is not None and step != strides:
            break
        strides = step
        count += 1
    return count, strides or ()


def _loops(items: Sequence[_Item], index: str) -> list[_Item]:
    """One level of loops: each run of at least :data:`MIN_RUN` repetitions of one to
    :data:`MAX_PERIOD` consecutive items becomes one loop item over `index` (its positions
    those of the first repetition, so that runs of like loops make a loop around them)."""
    out: list[_Item] = []
    i = 0
    while i < len(items):
        # The period covering the most lines in runs long enough (the shortest of equals).
        runs = [(p, *_repeats(items, i, p)) for p in range(1, MAX_PERIOD + 1)]
        period, count, strides = max([r for r in runs if r[1] >= MIN_RUN] or [(1, 1, ())],
                                     key=lambda x: (x[0] * x[1], -x[0]))
        if count < MIN_RUN:
            out.append(items[i])
            i += 1
            continue
        unit = items[i:i + period]
        holes = iter(strides)
        body = [u.template.format(*(_position(next(holes), index) for _ in u.positions)) for u in unit]
        lines = [f"for {index} in range({count}):"] + ["    " + x for b in body for x in b.split("\n")]
        out.append(_Item("\n".join(lines), tuple(a for u in unit for a in u.positions), unit[0].source))
        i += period * count
    return out


def loop_lines(lines: Sequence[str]) -> list[str]:
    """`lines` (statements of one block, no indentation) with each run of repeated lines --
    one to :data:`MAX_PERIOD` lines of one template each, repeated at least :data:`MIN_RUN`
    times, every position moving by a fixed step from one repetition to the next -- written as
    a loop (``for _k0 in range(n):`` and its lines, indented by four spaces), and runs of
    such loops as loops around them (``_k1``, up to :data:`MAX_DEPTH` deep). The loops run
    the lines in their order. A line that opens a block stays as it is."""
    items = [_item(line) for line in lines]
    for depth in range(MAX_DEPTH):
        items = _loops(items, f"{LOOP_INDEX}{depth}")
    out: list[str] = []
    for item in items:
        if "\n" not in item.template:
            out.append(item.source)
            continue
        text = item.template.format(*item.positions).split("\n")
        found = _COMMENT.search(item.source)
        out += [text[0] + ("  # from" + found.group(0)[3:] if found else ""), *text[1:]]
    return out


def loop_body(body: Sequence[str], n_locals: int) -> list[str]:
    """A function body (statements, blocks indented by four spaces) with its locals in one
    array of `n_locals` (made first) and each block's runs of lines as loops
    (:func:`loop_lines`)."""
    out = [f"{LOCALS} = np.empty({n_locals})"]
    block: list[str] = []
    indent = ""

    def flush() -> None:
        out.extend(indent + line for line in loop_lines(block))
        block.clear()

    for line in array_locals(body):
        level = line[:len(line) - len(line.lstrip(" "))]
        if line.rstrip().endswith(":"):  # a block opens: its lines are a run of their own
            flush()
            out.append(line)
            indent = level + "    "
            continue
        if level != indent:
            flush()
            indent = level
        block.append(line[len(level):])
    flush()
    return out


def syntax_nodes(lines: Sequence[str]) -> int:
    """The nodes of the syntax tree of `lines` (a function body): the measure of a body's
    compile time that loops shorten."""
    return sum(1 for _ in ast.walk(ast.parse("\n".join(lines))))


def code_length(lines: Sequence[str]) -> int:
    """The characters of `lines` without their comments: a quick measure of a body's length
    (:func:`syntax_nodes` walks a large body's tree in seconds)."""
    return sum(len(_COMMENT.sub("", line).strip()) for line in lines)
