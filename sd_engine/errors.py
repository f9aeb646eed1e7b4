"""Typed errors for sdflow.

Every error raised to users derives from :class:`SDError` and from the builtin
exception a Python user would expect to catch (``KeyError`` for an unknown name,
``ValueError`` for a bad specification ...). Messages are one or two plain
sentences naming the variable in backticks and saying how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "SDError",
    "SpecError",
    "EquationSyntaxError",
    "UnknownVariableError",
    "UnsupportedError",
    "AlgebraicLoopError",
    "DimensionError",
    "SimulationError",
    "NonFiniteStateError",
    "did_you_mean",
    "excerpt",
]


class SDError(Exception):
    """Base class of every error sdflow raises on purpose."""

    def __str__(self) -> str:
        # KeyError quotes its message with repr(); keep messages readable instead.
        return str(self.args[0]) if self.args else ""


class SpecError(SDError, ValueError):
    """The model specification is invalid (missing flow, duplicate name, bad value ...)."""


class EquationSyntaxError(SpecError, SyntaxError):
    """An equation string cannot be parsed."""

    def __init__(self, message: str, *, variable: str, equation: str, offset: int | None) -> None:
        super().__init__(message)
        self.variable = variable
        self.equation = equation
        self.offset = offset


class UnknownVariableError(SDError, KeyError):
    """A name does not refer to any variable of the model."""


class UnsupportedError(SDError, NotImplementedError):
    """A construct exists in the modelling language but the engine refuses to run it."""


class AlgebraicLoopError(SpecError):
    """Auxiliaries depend on each other in a cycle that no stock breaks."""

    def __init__(self, message: str, *, cycle: list[str]) -> None:
        super().__init__(message)
        self.cycle = cycle


class DimensionError(SpecError):
    """Subscript dimensions of an equation do not match."""


class SimulationError(SDError, RuntimeError):
    """A simulation failed."""


class NonFiniteStateError(SimulationError, FloatingPointError):
    """A stock became NaN or infinite during a run."""

    def __init__(self, message: str, *, variable: str, run: int, time: float) -> None:
        super().__init__(message)
        self.variable = variable
        self.run = run
        self.time = time


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return a " Did you mean `x`?" suffix for an unknown `name`, or ``""``."""
    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(f"`{m}`" for m in matches) + "?"


def excerpt(text: object, limit: int = 20) -> str:
    """At most `limit` printable characters of `text`, for quoting file contents in a message.

    A cell or a name from a file may hold anything: control and other non-printable characters
    become ``?`` and backticks ``'``, so a quoted excerpt can neither carry terminal escapes
    nor break the message's layout, nor show more than a glimpse of the file.

    Examples
    --------
    >>> excerpt("  ok  "), excerpt("a\x1b[2J`b"), excerpt("x" * 30)
    ('ok', "a?[2J'b", 'xxxxxxxxxxxxxxxxxxxx…')
    """
    shown = "".join(ch if ch.isprintable() else "?" for ch in str(text).strip()).replace("`", "'")
    return shown if len(shown) <= limit else shown[:limit] + "…"
