"""The documented defects of SDEverywhere's test models (``SDE_FILE_DEFECTS``): each kind is found
in small files written here with the defect, and not in the same files without it; where the
corpus is at hand (``SDFLOW_SDE_MODELS``, Simlin's copy of the ``models/`` folder), every listed
file shows its defect and sdflow does not run it as if it had none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sd_engine as sd
from sd_engine.io.conformance_sde import SDE_FILE_DEFECTS, sde_defect_evidence

XMILE = """<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
<header><vendor>Ventana Systems, xmutil</vendor></header>
<sim_specs><start>0</start><stop>1</stop><dt>1</dt></sim_specs>
<dimensions><dim name="DimA"><elem name="A1"/><elem name="A2"/></dim></dimensions>
<model><variables>
BODY
</variables></model></xmile>
"""


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(XMILE.replace("BODY", body))
    return path


def test_internal_series_are_found_in_the_dat(tmp_path: Path) -> None:
    model = tmp_path / "d.mdl"
    model.write_text("x = DELAY3(1, 2) ~~|\n")
    (tmp_path / "d.dat").write_text("x\n0\t1\n#x>DELAY3>LV1#\n0\t2\n")
    assert sde_defect_evidence(model, "internal series", "DELAY3") == \
        "d.dat holds 1 series named only by Vensim, the first `#x>DELAY3>LV1#` at line 3"
    (tmp_path / "d.dat").write_text("x\n0\t1\n")
    assert sde_defect_evidence(model, "internal series", "DELAY3") is None


def test_a_lost_mapping_is_found_against_the_mdl(tmp_path: Path) -> None:
    (tmp_path / "m.mdl").write_text("DimB: B1, B2 -> DimA ~~|\n")
    model = write(tmp_path, "m.xmile", '<aux name="b"><eqn>1</eqn></aux>')
    assert sde_defect_evidence(model, "mapping lost", "DimB") == "m.mdl maps `DimB` at line 1; m.xmile has no mapping"
    (tmp_path / "m.mdl").write_text("DimB: B1, B2 ~~|\n")
    assert sde_defect_evidence(model, "mapping lost", "DimB") is None


def test_a_duplicate_element_is_found_and_refused(tmp_path: Path) -> None:
    body = ('<aux name="z"><element subscript="A1"><eqn>1</eqn></element><element subscript="A2"><eqn>2</eqn>'
            '</element>\n<element subscript="A2"><eqn>3</eqn></element><dimensions><dim name="DimA"/></dimensions>'
            '</aux>')
    model = write(tmp_path, "z.xmile", body)
    assert sde_defect_evidence(model, "duplicate element", "z") == "z.xmile defines `z[A2]` twice, again at line 7"
    with pytest.raises(sd.SDError, match=r"defines `z\[A2\]`.*sdflow will not pick one"):
        sd.load(model)
    fixed = write(tmp_path, "ok.xmile", body.replace('<element subscript="A2"><eqn>3</eqn></element>', ""))
    assert sde_defect_evidence(fixed, "duplicate element", "z") is None


def test_an_undefined_variable_is_found_and_refused(tmp_path: Path) -> None:
    model = write(tmp_path, "u.xmile", '<aux name="e"><eqn>inputA*10</eqn></aux>')
    assert sde_defect_evidence(model, "undefined variable", "inputA") == \
        "u.xmile reads `inputA` at line 6 and does not define it"
    with pytest.raises(sd.UnknownVariableError, match=r"refers to `inputa`, which is not defined"):
        sd.load(model)
    defined = write(tmp_path, "d.xmile", '<aux name="e"><eqn>inputA*10</eqn></aux><aux name="inputA"><eqn>1</eqn></aux>')
    assert sde_defect_evidence(defined, "undefined variable", "inputA") is None


def test_untranslated_functions_and_placeholders_are_found(tmp_path: Path) -> None:
    model = write(tmp_path, "a.xmile", '<aux name="s"><eqn>{Untranslated function used}ALLOCATE AVAILABLE(1, 2, 3)</eqn>'
                                       '</aux>\n<aux name="b"><eqn> ??? </eqn></aux>')
    assert sde_defect_evidence(model, "untranslated", "ALLOCATE AVAILABLE") == \
        "line 6 of a.xmile has xmutil's `{Untranslated function used}`"
    assert sde_defect_evidence(model, "placeholder", "???") == "line 7 of a.xmile has `???` in place of an equation"
    with pytest.raises(ValueError, match="unknown defect kind"):
        sde_defect_evidence(model, "other", "")


CORPUS = os.environ.get("SDFLOW_SDE_MODELS", "")


@pytest.mark.skipif(not CORPUS or not Path(CORPUS).is_dir(), reason="set SDFLOW_SDE_MODELS to Simlin's copy of "
                    "SDEverywhere's models/ folder")
@pytest.mark.parametrize("key", sorted(SDE_FILE_DEFECTS))
def test_each_listed_file_shows_its_defect(key: str) -> None:
    kind, detail = SDE_FILE_DEFECTS[key]
    assert sde_defect_evidence(Path(CORPUS) / key, kind, detail) is not None
