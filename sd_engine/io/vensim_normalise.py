"""Vensim text that PySD's grammar stops at, rewritten into what it reads, line for line.

Valid Vensim that PySD's parser rejects:

* a ``{comment}`` inside an equation (``x = 1 {RANDOM NORMAL()} + 2``): blanked, each character
  a space and each line end kept;
* a data variable written with no equation (``A Values[DimA] ~ units ~ doc |``, its values read
  from a data file): given Vensim's default mode, ``:INTERPOLATE:``, at the end of its name;
* a lookup written as its x values then its y values on one line (``t(0, 0.5, 1, 0, 0.7, 1)``, as
  Vensim's DYNAMO translator writes tables): written as points, ``t((0,0),(0.5,0.7),(1,1))``;
* a call of a macro with extra outputs, ``SPLIT(10, 0.3 : rest, twice)``: the outputs after the
  ``:`` blanked (PySD's equation grammar stops at it; it reads the macro's header, outputs and
  all); :func:`macro_call_outputs` gives the names bound at each call, for the converter;
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

from ..expr import canonical
from .model_file import equations_part

__all__ = ["normalise", "sections_grammar", "macro_call_outputs"]

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


#: A macro header with extra outputs: ``:MACRO: NAME(inputs : outputs)``.
_MACRO_OUTPUTS = re.compile(r":MACRO:[ \t]*([^(\n:]+?)[ \t]*\(([^()]*)\)", flags=re.IGNORECASE)
#: Vensim's operators written between colons, which are not the `:` of a macro's outputs.
_COLON_WORD = re.compile(r":(?:AND|OR|NOT|NA):", flags=re.IGNORECASE)


def _macros_with_outputs(text: str) -> list[str]:
    """The names of the macros of `text` whose header declares extra outputs."""
    return [m.group(1).strip() for m in _MACRO_OUTPUTS.finditer(text) if ":" in m.group(2)]


def _output_calls(definition: str, names: list[str]) -> list[tuple[str, int, int]]:
    """Each call in `definition` of a macro in `names` with outputs bound: the macro's name and
    the span from its `:` to (not including) the closing parenthesis. One linear scan per name:
    a call inside an earlier call's span is not scanned again (so nested calls of such a macro are
    left to PySD's parser, which refuses them), and the header is skipped."""
    found: list[tuple[str, int, int]] = []
    for name in names:
        words = [re.escape(w) for w in name.split()]
        call = re.compile(r"(?<![\w])" + r"[ \t_]+".join(words) + r"[ \t]*\(", flags=re.IGNORECASE)
        scanned = 0
        for match in call.finditer(definition):
            if match.start() < scanned or re.search(r":MACRO:[ \t]*\Z", definition[max(0, match.start() - 20):
                                                                                 match.start()], re.IGNORECASE):
                continue
            depth, colon, i = 1, -1, match.end()
            while i < len(definition) and depth:
                ch = definition[i]
                if ch == ":" and depth == 1 and colon < 0:
                    word = _COLON_WORD.match(definition, i)
                    if word:
                        i = word.end()
                        continue
                    colon = i
                depth += (ch == "(") - (ch == ")")
                i += 1
            scanned = i
            if colon >= 0 and depth == 0:
                found.append((name, colon, i - 1))
    return found


def macro_call_outputs(text: str) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """The extra outputs bound at each macro call of the Vensim text `text`: by the canonical
    name of the variable whose equation holds the calls, ``(macro, output names)`` in the order
    of the calls.

    Examples
    --------
    >>> macro_call_outputs(":MACRO: SPLIT(t, s : rest)\\nSPLIT = t * s ~~|\\nrest = t - SPLIT ~~|\\n"
    ...                    ":END OF MACRO:\\npart = SPLIT(10, 0.3 : remainder) ~~|\\n")
    {'part': [('SPLIT', ('remainder',))]}
    """
    body = equations_part(text)
    names = _macros_with_outputs(body)
    calls: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    if not names:
        return calls
    for chunk in body.split("|"):
        definition = _blank_comments(chunk.partition("~")[0])
        spans = _output_calls(definition, names)
        if not spans:
            continue
        end = definition.upper().rfind(":END OF MACRO:")  # the definition after a macro that ends in its chunk
        left = definition[end + len(":END OF MACRO:") if end >= 0 else 0:].split("=", 1)[0]
        owner = canonical(left.split("[", 1)[0].strip().strip('"'))
        for name, start, end in sorted(spans, key=lambda span: span[1]):
            outputs = " ".join(definition[start + 1:end].replace("\\\n", " ").split())
            calls.setdefault(owner, []).append(
                (name, tuple(o.strip() for o in outputs.split(",") if o.strip())))
    return calls


def _blank_outputs(definition: str, names: list[str]) -> str:
    """`definition` with the outputs of each macro call in it made spaces (line ends and the
    backslashes that continue a line kept)."""
    spans = _output_calls(definition, names)
    if not spans:
        return definition
    out = list(definition)
    for _, start, end in spans:
        for k in range(start, end):
            if out[k] != "\n" and not (out[k] == "\\" and definition[k + 1:k + 2] == "\n"):
                out[k] = " "
    return "".join(out)


def normalise(text: str) -> str:
    """`text` (a checked Vensim file, :func:`~sd_engine.io.model_file.vensim_text`) with the
    constructs of the module docstring rewritten; the same number of lines, the sketch untouched.

    Examples
    --------
    >>> normalise("{UTF-8}\\nx = 1 {a note} + 2\\n~~|\\nd[A]\\n~~|\\n")
    '{UTF-8}\\nx = 1          + 2\\n~~|\\nd[A]:INTERPOLATE:\\n~~|\\n'
    """
    body = equations_part(text)
    with_outputs = _macros_with_outputs(body)
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
        if with_outputs:
            cleaned = _blank_outputs(cleaned, with_outputs)
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
