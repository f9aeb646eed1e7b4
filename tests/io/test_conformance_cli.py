"""``sdflow conformance``: documented file defects are found in the files, listed apart, and do
not fail the run; ``--failures-only`` and ``--cross-check``.

The folders are written here: a model with its own hand-computed canonical output, and files
with the defects ``KNOWN_FAILURES`` documents (``???`` equations, calls of undefined macros)
under the paths the table names.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sd_engine.cli import main
from sd_engine.io.conformance import DEFECT_EVIDENCE, KNOWN_FAILURES, defect_evidence, known_failure, run_case

MODELS = Path(__file__).parent / "models"

PLACEHOLDER = """<?xml version="1.0" encoding="UTF-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
    <header><vendor>sdflow tests</vendor><product version="1.0">hand-written</product></header>
    <sim_specs><start>0</start><stop>4</stop><dt>0.5</dt></sim_specs>
    <model>
        <variables>
            <aux name="Remaining">
                <eqn> ??? </eqn>
            </aux>
        </variables>
    </model>
</xmile>
"""

UNDEFINED_MACRO = PLACEHOLDER.replace("<eqn> ??? </eqn>", "<eqn>EXPRESSION MACRO(1, 2) + SECOND_MACRO(3, 4)</eqn>")


def folder(tmp_path: Path, defect: str = PLACEHOLDER) -> Path:
    """A test-models-like tree: decay.mdl with its hand-computed output, and one file with a
    documented defect at the path KNOWN_FAILURES names."""
    good = tmp_path / "tests" / "decay"
    good.mkdir(parents=True)
    shutil.copy(MODELS / "decay.mdl", good / "decay.mdl")
    shutil.copy(MODELS / "decay_controls.tab", good / "output.tab")
    bad = tmp_path / "tests" / "subscript_1d_arrays"
    bad.mkdir(parents=True)
    (bad / "test_subscript_1d_arrays.xmile").write_text(defect)
    shutil.copy(MODELS / "decay_controls.tab", bad / "output.csv")
    (bad / "output.csv").write_text((bad / "output.csv").read_text().replace("\t", ","))
    return tmp_path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_documented_defects_are_listed_apart_and_do_not_fail(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    root = folder(tmp_path)
    code, out = run_cli(capsys, "conformance", str(root))
    assert code == 0
    table, _, rest = out.partition("Documented file defects (KNOWN_FAILURES), not counted as failures (1):")
    assert "tests/decay/decay.mdl" in table and " pass " in table
    assert "subscript_1d_arrays" not in table
    assert "tests/subscript_1d_arrays/test_subscript_1d_arrays.xmile: the file has `???` in place of equations" in rest
    assert "(line 8 has `???` in place of an equation)" in rest
    assert "2 models: 1 pass, 0 fail, 0 refused, 0 error, 1 known" in rest
    code, out = run_cli(capsys, "conformance", str(root), "--failures-only")
    assert code == 0 and out.splitlines()[0] == "all pass"


def test_a_listed_file_without_its_defect_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The file at a listed path no longer has `???`: the table's reason is stale, and it says so.
    root = folder(tmp_path, PLACEHOLDER.replace("<eqn> ??? </eqn>", "<eqn>Time + </eqn>"))
    code, out = run_cli(capsys, "conformance", str(root), "--failures-only")
    assert code == 1
    assert out.splitlines()[1].startswith("tests/subscript_1d_arrays/test_subscript_1d_arrays.xmile")
    assert "the documented defect (placeholder `???`) is not in the file" in out


def test_a_failing_model_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = folder(tmp_path)
    table = root / "tests" / "decay" / "output.tab"
    table.write_text(table.read_text().replace("\t75\t", "\t76\t"))
    code, out = run_cli(capsys, "conformance", str(root), "--failures-only")
    assert code == 1
    assert "tests/decay/decay.mdl" in out and "worst at `Remaining`" in out
    assert "subscript_1d_arrays" not in out.splitlines()[1]


def test_cross_check_runs_pysd_on_the_same_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = folder(tmp_path)
    code, out = run_cli(capsys, "conformance", str(root), "--cross-check")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("tests/decay/decay.mdl"))
    assert " pass " in row and "pysd pass" in row


def test_a_file_without_the_defects_shows_none() -> None:
    assert defect_evidence(MODELS / "decay.mdl", "placeholder", "???") is None
    assert defect_evidence(MODELS / "decay.mdl", "undefined macro", "EXPRESSION MACRO") is None


def test_undefined_macro_is_found_and_a_defined_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "m.xmile"
    path.write_text(UNDEFINED_MACRO)
    assert defect_evidence(path, "undefined macro", "EXPRESSION MACRO") == \
        "line 8 calls `EXPRESSION MACRO`, which the file does not define"
    assert defect_evidence(path, "undefined macro", "SECOND MACRO") == \
        "line 8 calls `SECOND MACRO`, which the file does not define"
    defined = UNDEFINED_MACRO.replace("<model>", '<macro name="SECOND_MACRO"><eqn>a</eqn></macro>\n    <model>')
    path.write_text(defined)
    assert defect_evidence(path, "undefined macro", "SECOND MACRO") is None


def test_every_documented_defect_has_evidence_in_the_sample_files(test_models: Path) -> None:
    # Each KNOWN_FAILURES entry of an unfinished export or an undefined macro names what proves
    # it, and the files of the shared sample show it.
    for key, reason in KNOWN_FAILURES.items():
        if "`???`" in reason or reason.startswith("calls "):
            assert key in DEFECT_EVIDENCE, key
    checked = 0
    for key, (kind, detail) in DEFECT_EVIDENCE.items():
        if (test_models / key).exists():
            assert defect_evidence(test_models / key, kind, detail), key
            result = run_case(test_models / key, next((test_models / key).parent.glob("output.*")), test_models)
            assert result.status == "known", (key, result.message)
            checked += 1
    assert checked >= 12


def test_known_failure_matches_by_the_end_of_the_path() -> None:
    key = "tests/subscript_1d_arrays/test_subscript_1d_arrays.xmile"
    assert known_failure(Path("/anywhere") / key) == (key, KNOWN_FAILURES[key])
    assert known_failure(Path("/anywhere/tests/decay/decay.mdl")) is None
