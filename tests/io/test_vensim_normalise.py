"""Valid Vensim that PySD's grammar stops at, read through the normalised text: comments inside
equations, data variables with no equation, several macros after the main text, lookups written
as x values then y values, random seeds named by constants. Each model's values are checked by
hand, and every rewrite keeps each line where it was."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import sd_engine as sd
from sd_engine.errors import UnsupportedError
from sd_engine.io.model_file import ModelFileError
from sd_engine.io.vensim_normalise import normalise

CONTROL = """
FINAL TIME = 4 ~~|
INITIAL TIME = 0 ~~|
SAVEPER = 1 ~~|
TIME STEP = 1 ~~|
"""


def mdl(tmp_path: Path, body: str, name: str = "m.mdl") -> Path:
    path = tmp_path / name
    path.write_text("{UTF-8}\n" + body + CONTROL)
    return path


def test_comments_inside_equations_nest_and_are_ignored(tmp_path: Path) -> None:
    body = """
hours=
  8760
  {
  We ignore leap years; in leap years use:
  IF THEN ELSE(MODULO(Time, 4) = 0, 8784 {leap year}, 8760 {normal year})
  }
  ~  hours
  ~  Hours in a year.
  |
e = 41 {first part} + 1 {second part} ~~|
"""
    ds = sd.load(mdl(tmp_path, body)).run()
    assert ds["hours"].item() == 8760 and ds["e"].item() == 42


def test_data_variable_with_no_equation_reads_its_data_file(tmp_path: Path) -> None:
    body = "A Values[DimA]\n  ~ widgets\n  ~ from the data file |\nDimA: A1, A2 ~~|\ntotal = SUM(A Values[DimA!]) ~~|\n"
    (tmp_path / "data.tab").write_text("Time\tA Values[A1]\tA Values[A2]\n0\t1\t10\n4\t5\t30\n")
    path = mdl(tmp_path, body)
    ds = sd.load(path, data_files=["data.tab"]).run()
    # Vensim's default for data is to interpolate between the points: 1 + t and 10 + 5 t.
    np.testing.assert_allclose(ds["total"].values, [11 + 6 * t for t in range(5)])
    with pytest.raises(UnsupportedError, match=r"`A Values` is a data variable with no equation"):
        sd.load(path)


def test_macros_after_the_main_text(tmp_path: Path) -> None:
    body = """
x = Time ~~|
:MACRO: POS(INPUT)
POS=MAX(INPUT,1e-010)
	~	INPUT
	~		|

:END OF MACRO:
:MACRO: CLIP(true,false,a,b)
CLIP=IF THEN ELSE(a>=b,true,false)
	~	true
	~		|

:END OF MACRO:
y = POS(x - 2) + CLIP(100, 0, x, 3) ~~|
"""
    ds = sd.load(mdl(tmp_path, body)).run()
    # By hand: max(t - 2, 1e-10) + (100 if t >= 3 else 0).
    np.testing.assert_allclose(ds["y"].values, [1e-10, 1e-10, 1e-10, 101, 102], rtol=1e-12, atol=0)


def test_lookup_written_as_x_values_then_y_values(tmp_path: Path) -> None:
    body = """
flat(0,2,4,\\
   0,10,30)
  ~  ~  |
points((0,0),(2,10),(4,30)) ~~|
a = flat(Time) ~~|
b = points(Time) ~~|
"""
    ds = sd.load(mdl(tmp_path, body)).run()
    np.testing.assert_array_equal(ds["a"].values, [0, 5, 10, 20, 30])
    np.testing.assert_array_equal(ds["a"].values, ds["b"].values)


def test_random_seed_named_by_a_constant_is_its_number(tmp_path: Path) -> None:
    named = sd.load(mdl(tmp_path, "seed = 7 ~~|\nr = RANDOM UNIFORM(0, 1, seed) ~~|\n", "a.mdl")).run()
    literal = sd.load(mdl(tmp_path, "seed = 7 ~~|\nr = RANDOM UNIFORM(0, 1, 7) ~~|\n", "b.mdl")).run()
    other = sd.load(mdl(tmp_path, "seed = 7 ~~|\nr = RANDOM UNIFORM(0, 1, 8) ~~|\n", "c.mdl")).run()
    np.testing.assert_array_equal(named["r"].values, literal["r"].values)
    assert not np.array_equal(named["r"].values, other["r"].values)
    with pytest.raises(UnsupportedError, match=r"The seed of a random function in `r` must be a number"):
        sd.load(mdl(tmp_path, "s = Time ~~|\nr = RANDOM UNIFORM(0, 1, s) ~~|\n", "t.mdl")).run()


def test_an_error_after_a_rewrite_names_the_line_of_the_file(tmp_path: Path) -> None:
    body = "a = 1 {note} ~~|\nd\n~~|\nbad = ??? ~~|\n"
    with pytest.raises(ModelFileError, match=r"at line 5, in the equation of `bad`"):
        sd.load(mdl(tmp_path, body))


def test_normalise_keeps_every_line_and_the_sketch() -> None:
    rng = random.Random(18)
    pieces = ["{", "}", "|", "~", "\n", "\\\n", "x", "(", ")", ",", "1", "=", ":MACRO:", ":END OF MACRO:", " ",
              "[a]", '"q"', "*"]
    for _ in range(2000):
        text = "{UTF-8}\n" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        text += "\n\\\\\\---/// Sketch information\n{keep} x\n"
        out = normalise(text)
        assert out.count("\n") == text.count("\n")
        assert out.endswith("\\\\\\---/// Sketch information\n{keep} x\n")


def test_xmile_spellings_pysd_does_not_read() -> None:
    # `\n` in a name (a line break: a space, as Stella's output names it), flows with punctuation
    # named unquoted in <inflow>/<outflow>, and the wildcard `Demand[*]` for the whole array.
    ds = sd.load(Path(__file__).parent / "models" / "xmile_spellings.xmile").run()
    waiting = [10.0]
    for _ in range(3):
        waiting.append(waiting[-1] + 3 - waiting[-1] / 2)
    np.testing.assert_allclose(ds["Waiting with   Line Break"].values, waiting, rtol=1e-12)
    np.testing.assert_allclose(ds["Seen*today"].values, np.array(waiting) / 2, rtol=1e-12)
    np.testing.assert_array_equal(ds["Total demand"].values, 10.0)


def test_invert_matrix_of_one_range_in_two_places_is_refused(tmp_path: Path) -> None:
    # SDEverywhere's invertmatrixio reads `m[d, d]`; a matrix over one range in both places is
    # not what INVERT MATRIX inverts here, so it is refused by name rather than failing in numpy.
    body = ("d: a, b ~~|\ne: d ~~|\nm[d, e] = IF THEN ELSE(d = e, 2, 1) ~~|\n"
            "inv[d, e] = INVERT MATRIX(m[d, d], 2) ~~|\n")
    with pytest.raises(UnsupportedError, match=r"INVERT MATRIX in `inv` reads `m\[d, d\]`, one range in two places"):
        sd.load(mdl(tmp_path, body))
