"""Property: no name runs as code, and a model's numbers do not depend on its names.

Hypothesis draws names from hostile pieces -- line breaks, NUL, quotes, backslashes, ``#``,
triple quotes, code that creates a marker file, Unicode that NFKC folds, Python keywords,
builtins and the names of generated identifiers -- and builds the same small model (a
constant, a stock, a flow) through the spec boundary, the builder, an XMILE file and a
Vensim file. Whatever the names, the marker file never appears, nothing starts a process,
and each load either gives exactly the numbers of the model with plain names or is
refused with a typed :class:`~sd_engine.errors.SDError` (naming the file, for files) --
and refused only when the names call for it.
"""

from __future__ import annotations

import keyword
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from security.hostile import guard, stock_values, vensim_model, xmile_model

import sd_engine as sd
from sd_engine.builder import Model
from sd_engine.errors import SDError, SpecError
from sd_engine.expr import Binary, Num, Ref, canonical
from sd_engine.spec import RESERVED_NAMES, ModelSpec, TimeSettings, Variable

MARKER_DIR = Path(__file__).parent / "__marker__"  # never created unless code runs
MARKER = MARKER_DIR / "MARKER"
_CALL = f"open({str(MARKER)!r}, 'w')"

PIECES = [
    "\r", "\n", "\r\n", "\x00", "\t", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\ufeff",
    "\u200d", '"', "'", '"""', "'''", "\\", "#", " ", "_", "  ", "(", ")", ";", "=", "|", "~", "[", "]", ":", "!",
    "µ", "μ", "ﬁ", "fi", "ｃ", "c", "₂", "²", "½", "ℌ", "é", "e\u0301", "ß", "İ",
    "float", "lambda", "None", "sf", "cs", "_table0", "v0", "v1", "np", "fn", "n", "y", "out", "__import__",
    f"\r    {_CALL}  #", f"\n        {_CALL}  #", f'"""\n{_CALL}\n"""', f"'); {_CALL}; ('", _CALL,
]
names = st.lists(st.one_of(st.sampled_from(PIECES), st.text(min_size=1, max_size=3)), min_size=1, max_size=5).map(
    "".join)
#: Names that may hold anything but the characters names may not hold: these must load.
_VISIBLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp"))
clean_names = st.lists(st.one_of(st.sampled_from([p for p in PIECES if not any(
    unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in p)]), st.text(_VISIBLE, min_size=1, max_size=3)),
    min_size=1, max_size=5).map("".join)
trios = st.one_of(st.tuples(clean_names, clean_names, clean_names), st.tuples(names, names, names))
#: Names a builder equation can spell: Python identifiers, some of which NFKC folds.
IDENTIFIERS = st.lists(st.sampled_from(["µ", "μ", "ﬁ", "fi", "ｃ", "c", "ℌ", "H", "x", "float", "sf", "cs",
                                        "_table0", "v0", "v1", "np", "fn", "n", "y", "out", "__import__", "rate",
                                        "é"]),
                       min_size=1, max_size=3).map("".join)
TIME = TimeSettings(final_time=4, dt=0.5)
PLAIN = stock_values(sd.load(ModelSpec("decay", (
    Variable("k", "constant", Num(0.3)),
    Variable("s", "stock", Num(10.0), outflows=("f",)),
    Variable("f", "flow", Binary("*", Ref("s"), Ref("k"))),
), TIME)).run())
SETTINGS = settings(deadline=None, max_examples=250, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])


def unsafe(name: str) -> bool:
    """Holds a character no name may hold (control, format other than the joiners, separators)."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch not in "\u200c\u200d" for ch in name)


def must_refuse(trio: tuple[str, str, str]) -> bool:
    """Whether the spec must refuse these names: unsafe, empty, reserved or one name twice."""
    keys = [canonical(n) for n in trio]
    return any(unsafe(n) or not n.strip() for n in trio) or len(set(keys)) < 3 \
        or any(k in RESERVED_NAMES for k in keys)


@SETTINGS
@given(trio=trios)
def test_names_at_the_spec_boundary(trio: tuple[str, str, str]) -> None:
    k, s, f = trio
    with guard(MARKER):
        try:
            spec = ModelSpec("decay", (
                Variable(k, "constant", Num(0.3)),
                Variable(s, "stock", Num(10.0), outflows=(canonical(f),)),
                Variable(f, "flow", Binary("*", Ref(canonical(s)), Ref(canonical(k)))),
            ), TIME)
            model = sd.load(spec)
        except SpecError as exc:
            assert must_refuse((k, s, f)), f"refused without cause: {exc}"
            assert "\r" not in str(exc) and "\n" not in str(exc)  # names in messages go through repr
            event("refused")
            return
        event("loaded")
        assert not must_refuse((k, s, f))
        np.testing.assert_array_equal(stock_values(model.run()), PLAIN)
        np.testing.assert_array_equal(stock_values(model.run(params={k: np.array([0.3, 0.3])}))[0], PLAIN)


@SETTINGS
@given(k=IDENTIFIERS, s=IDENTIFIERS, f=IDENTIFIERS)
def test_names_in_builder_equations(k: str, s: str, f: str) -> None:
    if keyword.iskeyword(k) or keyword.iskeyword(s):
        return
    with guard(MARKER):
        m = Model("decay", final_time=4, dt=0.5)
        try:
            m.constant(k, 0.3)
            m.stock(s, 10, outflows=[f])
            m.flow(f, f"{s} * {k}")
            model = m.compile()
        except SpecError as exc:
            assert must_refuse((k, s, f)), f"refused without cause: {exc}"
            event("refused")
            return
        event("loaded")
        assert not must_refuse((k, s, f))
        np.testing.assert_array_equal(stock_values(model.run()), PLAIN)


@SETTINGS
@given(trio=trios, vensim=st.booleans())
def test_names_in_model_files(tmp_path: Path, trio: tuple[str, str, str], vensim: bool) -> None:
    path = tmp_path / ("hostile.mdl" if vensim else "hostile.xmile")
    path.write_text(vensim_model(trio) if vensim else xmile_model(trio), encoding="utf-8")
    with guard(MARKER):
        try:
            model = sd.load(path)
        except SDError as exc:
            assert path.name in str(exc), str(exc)
            event(f"refused {path.suffix}")
            return
        except RecursionError:  # pragma: no cover - reported as the failure it is
            pytest.fail("untyped RecursionError")
        # Loaded: the names were safe (XMILE keeps them as written; Vensim reads line
        # breaks as spaces) and the numbers are the plain model's.
        event(f"loaded {path.suffix}")
        if not vensim:
            assert not any(unsafe(n) for n in trio)
        np.testing.assert_array_equal(stock_values(model.run()), PLAIN)
