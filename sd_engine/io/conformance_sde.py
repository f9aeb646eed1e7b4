"""Documented defects of SDEverywhere's test models and their canonical outputs.

SDEverywhere's ``models/`` tree pairs each Vensim model ``X.mdl`` with Vensim's output ``X.dat``;
Simlin's copy adds ``X.xmile``, translated from the ``.mdl`` by xmutil, compared with the same
``X.dat``. Some of those pairs cannot match for a reason in the files themselves: the output holds
series only Vensim names, or xmutil lost part of the model. :data:`SDE_FILE_DEFECTS` lists them
(paths relative to the ``models/`` folder, as in both copies) with the kind of defect, which
:func:`sde_defect_evidence` finds in the files whenever they are at hand, naming the line.

Kinds of defect:

``internal series``
    The ``.dat`` holds series named ``#...#`` (``#d10>DELAY3>LV1#``): Vensim's own names for the
    stocks inside a DELAY3, SMOOTH or NPV call, which no model variable has, so no other tool's
    results can hold them (sdflow matches every other column of these files).
``mapping lost``
    The ``.mdl`` maps one subscript range onto another (``DimA: A1, A2 -> DimB``); XMILE has no
    subscript mappings and xmutil drops them, so the ``.xmile`` reads a range its variable does not
    have, which sdflow refuses (DimensionError) rather than guess a mapping.
``duplicate element``
    xmutil wrote an ``:EXCEPT:`` equation as every element of the range after the elements
    already defined, so the ``.xmile`` defines an element twice, which sdflow refuses.
``undefined variable``
    The ``.xmile`` reads a variable it does not define (xmutil dropped a constant written with
    a leading ``+``).
``untranslated``
    xmutil left ``{Untranslated function used}`` in an equation.
``placeholder``
    An equation is ``???``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["SDE_FILE_DEFECTS", "sde_defect_evidence"]

#: Model files (relative to SDEverywhere's ``models/``) that cannot match their ``.dat``: the kind
#: of defect (see the module's documentation) and its detail.
SDE_FILE_DEFECTS: dict[str, tuple[str, str]] = {
    "delay/delay.mdl": ("internal series", "DELAY3"),
    "delay/delay.xmile": ("internal series", "DELAY3"),
    "npv/npv.mdl": ("internal series", "NPV"),
    "npv/npv.xmile": ("internal series", "NPV"),
    "smooth/smooth.mdl": ("internal series", "SMOOTH"),
    "smooth/smooth.xmile": ("mapping lost", "DimA"),
    "mapping/mapping.xmile": ("mapping lost", "DimB"),
    "multimap/multimap.xmile": ("mapping lost", "DimA"),
    "subscript/subscript.xmile": ("mapping lost", "DimB"),
    "except/except.xmile": ("duplicate element", "z"),
    "except2/except2.xmile": ("duplicate element", "z"),
    "directconst/directconst.xmile": ("duplicate element", "f"),
    "arrays_cname/arrays_cname.xmile": ("undefined variable", "inputA"),
    "arrays_varname/arrays_varname.xmile": ("undefined variable", "inputA"),
    "allocate/allocate.xmile": ("untranslated", "ALLOCATE AVAILABLE"),
    "directsubs/directsubs.xmile": ("placeholder", "???"),
}


def sde_defect_evidence(model_path: str | Path, kind: str, detail: str) -> str | None:
    """Where the files of `model_path` (the model, its ``.dat``, and for XMILE the ``.mdl`` beside
    it) show the defect (`kind`, `detail`) of :data:`SDE_FILE_DEFECTS`, as a short sentence naming
    the line; None when they do not."""
    path = Path(model_path)
    if kind == "internal series":
        lines = _lines(path.with_suffix(".dat"))
        named = [(n, row) for n, row in enumerate(lines, 1) if re.fullmatch(r"#[^#]+#.*", row)]
        if not any(detail in row for _, row in named):
            return None
        return (f"{path.with_suffix('.dat').name} holds {len(named)} series named only by Vensim, the first "
                f"`{named[0][1]}` at line {named[0][0]}")
    lines = _lines(path)
    if kind == "mapping lost":
        mdl = _lines(path.with_suffix(".mdl"))
        mapped = next((n for n, row in enumerate(mdl, 1)
                       if re.match(rf"\s*{re.escape(detail)}\s*:[^~|]*->", row, re.IGNORECASE)), None)
        if mapped is None or any("->" in row or "<map" in row for row in lines):
            return None
        return (f"{path.with_suffix('.mdl').name} maps `{detail}` at line {mapped}; {path.name} has no mapping")
    if kind == "duplicate element":
        text = "\n".join(lines)
        found = re.search(rf'<(aux|flow|stock)\s+name="{re.escape(detail)}"[^>]*>(.*?)</\1>', text, re.DOTALL)
        if found is None:
            return None
        seen: dict[str, int] = {}
        for element in re.finditer(r'<element\s+subscript="([^"]*)"', found.group(2)):
            key = re.sub(r"\s+", "", element.group(1)).lower()
            if key in seen:
                line = text.count("\n", 0, found.start(2) + element.start()) + 1
                return f"{path.name} defines `{detail}[{element.group(1)}]` twice, again at line {line}"
            seen[key] = 1
        return None
    if kind == "undefined variable":
        name = re.escape(detail).replace(r"\ ", "[ _]")
        if any(re.search(rf'name="{name}"', row, re.IGNORECASE) for row in lines):
            return None
        used = next((n for n, row in enumerate(lines, 1)
                     if "<eqn>" in row and re.search(rf"(?<![\w]){name}(?![\w])", row, re.IGNORECASE)), None)
        return None if used is None else f"{path.name} reads `{detail}` at line {used} and does not define it"
    if kind == "untranslated":
        used = next((n for n, row in enumerate(lines, 1) if "{Untranslated function used}" in row and detail in row),
                    None)
        return None if used is None else f"line {used} of {path.name} has xmutil's `{{Untranslated function used}}`"
    if kind == "placeholder":
        used = next((n for n, row in enumerate(lines, 1) if re.search(r"(<eqn>|=)\s*\?\?\?\s*(</eqn>|$)", row)), None)
        return None if used is None else f"line {used} of {path.name} has `???` in place of an equation"
    raise ValueError(f"unknown defect kind `{kind}`")


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return path.read_bytes().decode("utf-8", errors="replace").splitlines()
