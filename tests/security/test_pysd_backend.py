"""The PySD cross-check (``backend="pysd"``) runs no code hidden in a model file.

Issue #13, item 10: PySD's code generator writes documentation into docstrings and names
into quoted strings of a module it then imports. A Vensim comment that closes the
docstring ran code; the temporary folders of the translations were left behind.
"""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import numpy as np
import pytest
from security.hostile import guard, stock_values, vensim_model

import sd_engine as sd
from sd_engine.errors import UnsupportedError
from sd_engine.io import pysd_runtime
from sd_engine.io.pysd_runtime import translate


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of its own, to see what the translations leave behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def with_doc(doc: str) -> str:
    return vensim_model(["k", "s", "f"]).replace("\t~\t1/Month\n\t~\t|", f"\t~\t1/Month\n\t~\t{doc}\n\t|", 1)


def test_code_in_a_vensim_comment_does_not_run(tmp_path: Path, private_tmp: Path) -> None:
    marker = tmp_path / "MARKER"
    call = f"open({str(marker)!r}, 'w')"
    # PySD makes each backslash of a comment a line break: `"""\open(...)\"""` closed the
    # docstring and put the call on a line of its own, in the body of a model function (it ran
    # before this fix, from the model's first run).
    docs = ['Rate."""\\' + call + '\\"""', f'Rate.\n"""\n{call}\n"""', f'Rate """; {call}; """',
            f'"""{call}"""\\', 'ends with a quote"', '\\\\"""\\' + call + '\\"""\\']
    with guard(marker):
        for doc in docs:
            path = tmp_path / "doc.mdl"
            path.write_text(with_doc(doc), encoding="utf-8")
            model = sd.load(path)
            assert model.spec["k"].doc  # the documentation is read, as written
            theirs = model.run(backend="pysd")
            ours = model.run()
            np.testing.assert_allclose(theirs['"s"'].values, ours['"s"'].values, rtol=1e-12)
    assert list(private_tmp.iterdir()) == []


def test_text_that_would_end_a_string_is_refused(tmp_path: Path, private_tmp: Path) -> None:
    marker = tmp_path / "MARKER"
    with guard(marker):
        path = tmp_path / "quote.mdl"
        path.write_text(vensim_model(["k", f"s'); open({str(marker)!r}, 'w'); ('", "f"]), encoding="utf-8")
        model = sd.load(path)  # sdflow itself reads the name as the name it is
        np.testing.assert_array_equal(stock_values(model.run()), stock_values(sd.load(
            _written(tmp_path / "plain.mdl", vensim_model(["k", "s", "f"]))).run()))
        with pytest.raises(UnsupportedError, match=r"`backend=\"pysd\"` will not translate `quote.mdl`: the text "
                                                   r".* holds a quote"):
            model.run(backend="pysd")
    assert list(private_tmp.iterdir()) == []


def _written(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_generated_module_that_does_more_than_a_model_is_refused(tmp_path: Path) -> None:
    # The last line of defence: whatever the builder wrote, a module that imports or names
    # what no model needs is not imported.
    for body, bad in (("import os\n", "os"), ("from subprocess import run\n", "from subprocess"),
                      ("x = open('f')\n", "open"), ("__import__('os')\n", "__import__"),
                      ("y = ().__class__.__bases__\n", "__bases__"), ("exec('1')\n", "exec")):
        module = tmp_path / "model.py"
        module.write_text("import numpy as np\nfrom pysd.py_backend.statefuls import Integ\n" + body)
        with pytest.raises(UnsupportedError, match=rf"it uses `{bad}`"):
            pysd_runtime._check_module(module, "m.mdl")
    module.write_text("import numpy as np\n__data = {'time': lambda: 0}\n_root = __file__\n")
    pysd_runtime._check_module(module, "m.mdl")


def test_translation_folders_are_removed(tmp_path: Path, private_tmp: Path, test_models: Path) -> None:
    source = test_models / "samples" / "teacup" / "teacup.mdl"
    model = translate(source)
    assert len(list(private_tmp.iterdir())) == 1  # alive while the PySD model is
    frame = model.run()
    assert frame["Teacup Temperature"].iloc[-1] == pytest.approx(sd.load(source).run()["Teacup Temperature"][-1])
    del model, frame
    gc.collect()
    assert list(private_tmp.iterdir()) == []
    # A file PySD cannot translate leaves nothing behind either.
    broken = tmp_path / "broken.mdl"
    broken.write_text(vensim_model(["k", "s", "f"]).replace('"s" * "k"', '"s" * * "k"'), encoding="utf-8")
    with pytest.raises(UnsupportedError, match="`broken.mdl`"):
        translate(broken)
    assert list(private_tmp.iterdir()) == []
