"""``sdflow conformance``: documented file defects are expected, not errors; an all-pass folder says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from paths import TEST_MODELS
from sd_engine.cli import main


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder laid out like the test-models root: teacup (passes) and Roessler (a known defect)."""
    (tmp_path / "samples" / "teacup").mkdir(parents=True)
    for name in ("teacup.mdl", "output.csv"):
        shutil.copy(TEST_MODELS / "samples" / "teacup" / name, tmp_path / "samples" / "teacup" / name)
    shutil.copytree(TEST_MODELS / "samples" / "Roessler_Chaos", tmp_path / "samples" / "Roessler_Chaos")
    return tmp_path


def test_a_known_file_defect_is_listed_and_the_exit_status_is_0(corpus: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "known: samples/Roessler_Chaos/roessler_chaos.mdl: chaotic" in out
    assert "unexpected failures or errors: 0" in out
    # The same from a folder inside the corpus: the key is matched by its tail.
    assert main(["conformance", str(corpus / "samples"), "--failures-only"]) == 0
    assert "known: Roessler_Chaos/roessler_chaos.mdl" in capsys.readouterr().out


def test_an_unexpected_failure_exits_1(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = corpus / "samples" / "teacup" / "output.csv"
    table = pd.read_csv(path)
    table["Teacup Temperature"] += 1.0  # a canonical output the model no longer matches
    table.to_csv(path, index=False)
    assert main(["conformance", str(corpus)]) == 1
    assert "unexpected failures or errors: 1" in capsys.readouterr().out


def test_failures_only_on_an_all_pass_folder_says_every_one_passes(corpus: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", str(corpus / "samples" / "teacup"), "--failures-only"]) == 0
    out = capsys.readouterr().out
    assert out == "1 model: every one passes.\n"
