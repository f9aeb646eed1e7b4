"""Vensim text that PySD's grammar stops at, rewritten into what it reads, line for line.

Valid Vensim that PySD's parser rejects:

* a ``{comment}`` inside an equation (``x = 1 {RANDOM NORMAL()} + 2``): blanked, each character
  a space and each line end kept;
* a data variable written with no equation (``A Values[DimA] ~ units ~ doc |``, its values read
  from a data file): given Vensim's default mode, ``:INTERPOLATE:``, at the end of its name;
* a lookup written as its x values then its y values on one line (``t(0, 0.5, 1, 0, 0.7, 1)``, as
  Vensim's DYNAMO translator writes tables): written as points, ``t((0,0),(0.5,0.7),(1,1))``;
* two macros after main-model text: PySD's file grammar ends the main part at the *last*
  ``:MACRO:`` and reads the macros before it as equations (:func:`sections_grammar` ends it at
  the first one instead; that is a grammar, not a text rewrite).

A rewrite inserts or blanks characters within a line, so every line keeps its number, and
messages that quote the user's file (which always read the original text) stay right. Model
text is untrusted: the rewrites only insert fixed tokens or spaces, and the patterns are
linear-time (no nested quantifiers).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from .model_file import equations_part

__all__ = ["normalise", "sections_grammar"]

#: A definition's left-hand side that is a name alone: letters, digits, spaces and the
#: punctuation Vensim names use, or a quoted name, with optional subscripts.
_BARE_NAME = re.compile(r'\s*(?:"[^"\n]*"|[^\W\d][^=:(){}~*"\[\]|<>!^+\-/,;]*?)\s*(?:\[[^\]\[]*\])?\s*\Z')
_NUMBER = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"
#: A lookup written as its x values then its y values, ``t(0, 0.5, 1, 0, 0.7, 1)`` (as Vensim's
#: DYNAMO translator writes TABLE functions).
_FLAT_LOOKUP = re.compile(rf"(?P<name>[^\W\d][^=:(){{}}~*\"\[\]|]*?)\s*\((?P<values>{_NUMBER}(?:,{_NUMBER})+)\)\s*\Z")


def _blank_comments(text: str) -> str:
    """`text` with each ``{comment}`` (Vensim's nest) made spaces, line ends kept; an unclosed
    brace and what follows it stay as they are. One pass, linear in the length."""
    out = list(text)
    depth, start = 0, -1
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                for k in range(start, i + 1):
                    if out[k] != "\n":
                        out[k] = " "
    return "".join(out)


def _pairs(match: re.Match[str]) -> str | None:
    """The flat lookup `match` as Vensim's ``name((x1,y1),(x2,y2),...)``, or None when its x
    values do not rise (then it is not a lookup of that form)."""
    values = [v.strip() for v in match["values"].split(",")]
    half = len(values) // 2
    if len(values) % 2 or half < 2:
        return None
    xs = [float(v) for v in values[:half]]
    if any(b < a for a, b in zip(xs, xs[1:])):
        return None
    points = ",".join(f"({x},{y})" for x, y in zip(values[:half], values[half:]))
    return f"{match['name']}({points})"


def normalise(text: str) -> str:
    """`text` (a checked Vensim file, :func:`~sd_engine.io.model_file.vensim_text`) with the
    constructs of the module docstring rewritten; the same number of lines, the sketch untouched.

    Examples
    --------
    >>> normalise("{UTF-8}\\nx = 1 {a note} + 2\\n~~|\\nd[A]\\n~~|\\n")
    '{UTF-8}\\nx = 1          + 2\\n~~|\\nd[A]:INTERPOLATE:\\n~~|\\n'
    """
    body = equations_part(text)
    header = re.match(r"[ \t\n]*\{[^{}\n]{1,40}\}", body)
    start = header.end() if header else 0
    out = [body[:start]]
    in_macro = False
    for index, chunk in enumerate(body[start:].split("|")):
        if index:
            out.append("|")
        definition, tilde, rest = chunk.partition("~")
        if re.search(r":END OF MACRO:", definition, flags=re.IGNORECASE):
            in_macro = False
        if re.search(r":MACRO:", definition, flags=re.IGNORECASE):
            in_macro = True
        if not tilde:
            out.append(chunk)
            continue
        cleaned = _blank_comments(definition)
        if not in_macro and _BARE_NAME.match(cleaned) and cleaned.strip() and not cleaned.lstrip().startswith("*"):
            end = len(cleaned.rstrip())
            cleaned = cleaned[:end] + ":INTERPOLATE:" + cleaned[end:]
        elif "=" not in cleaned and "(" in cleaned:
            # Continued lines (`\` at a line end) join; the lines they took stay, empty.
            core = cleaned.strip()
            flat = _FLAT_LOOKUP.match(re.sub(r"\\?\n", " ", core))
            pairs = _pairs(flat) if flat else None
            if pairs is not None:
                lead = cleaned[:len(cleaned) - len(cleaned.lstrip())]
                trail = cleaned[len(cleaned.rstrip()):]
                cleaned = lead + pairs + "\n" * core.count("\n") + trail
        out.append(cleaned + tilde + rest)
    return "".join(out) + text[len(body):]


@functools.cache
def sections_grammar() -> Any:
    """PySD's grammar of a file's sections with the main part ending at the first ``:MACRO:``,
    so that main-model text followed by several macros keeps them as macros (PySD's own
    pattern is greedy and runs to the last one)."""
    import parsimonious
    from pysd.translators.vensim import vensim_utils

    source = vensim_utils.Grammar._read_grammar("file_sections")
    greedy = '~r".+(?=:MACRO:)"'
    if greedy not in source:  # another PySD version: its own grammar, unchanged
        return vensim_utils.Grammar.get("file_sections")
    return parsimonious.Grammar(source.replace(greedy, '~r".+?(?=:MACRO:)"'))
