"""The API reference builds from the docstrings with warnings as errors, and documents the API.

The build runs ``sphinx-build -W --keep-going -b html`` in a subprocess in which compiling or
running a model raises, so a module that simulates at import time fails the build too.
"""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Sphinx builds of the reference (about half a minute): CI runs them; `-m 'not slow'` skips them.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytest.importorskip("sphinx")

# Runs sphinx-build with model compilation and simulation forbidden: importing a module
# for autodoc must never run a model.
_GUARDED_BUILD = """
import functools
import sys

from sd_engine.compile import CompiledModel


def forbid(method):
    # wraps keeps the name, signature and docstring that autodoc documents.
    @functools.wraps(method)
    def forbidden(*args, **kwargs):
        raise RuntimeError("the documentation build compiled or ran a model")
    return forbidden


CompiledModel.__init__ = forbid(CompiledModel.__init__)
CompiledModel.run = forbid(CompiledModel.run)
from sphinx.cmd.build import main

sys.exit(main(sys.argv[1:]))
"""


def sphinx_build(source: Path, out: Path, *options: str, env: dict[str, str] | None = None,
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _GUARDED_BUILD, "-W", "--keep-going", "-q", "-b", "html", *options,
         str(source), str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env=env,
    )


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    result = sphinx_build(DOCS, out, "-E")
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stderr}"
    return out


def test_docs_build_without_warnings(html: Path) -> None:
    assert (html / "index.html").exists()
    assert (html / "api" / "engine.html").exists()


@pytest.mark.parametrize(("page", "anchor"), [
    ("engine", "sd_engine.Model"),
    ("engine", "sd_engine.Model.stock"),
    ("engine", "sd_engine.load"),
    ("engine", "sd_engine.CompiledModel"),
    ("engine", "sd_engine.CompiledModel.run"),
    ("engine", "sd_engine.ModelSpec"),
    ("engine", "sd_engine.UnknownVariableError"),
    ("results", "sd_engine.results.save"),
    ("ensemble", "sd_engine.ensemble.run_ensemble"),
    ("ensemble", "sd_engine.sensitivity.sample"),
    ("io", "sd_engine.io.pysd_import.read_model"),
    ("io", "sd_engine.io.conformance.run_folder"),
    ("loops", "sd_engine.graph.causal_graph"),
    ("loops", "sd_engine.loops.loop_dominance"),
    ("lab", "sd_engine.lab.run_experiment"),
    ("calibration", "calibration.fit"),
    ("calibration", "calibration.sample"),
    ("calibration", "calibration.FitResult"),
    ("engine", "sd_engine.scenario.Scenario"),  # moved from models.scenarios, which re-exports it
])
def test_key_objects_documented(html: Path, page: str, anchor: str) -> None:
    assert f'id="{anchor}"' in (html / "api" / f"{page}.html").read_text(encoding="utf-8")


def test_every_library_model_has_its_documentation_and_constants(html: Path) -> None:
    import models

    import html as markup

    text = markup.unescape((html / "api" / "models.html").read_text(encoding="utf-8"))
    for name in models.available():
        assert f'id="module-models.{name}"' in text, f"model `{name}` is missing from docs/api/models.rst"
        summary = models.describe(name)
        assert summary.split(":")[0] in text
        constants = [v for v in models.build(name).spec().variables if v.kind == "constant" and not v.internal]
        assert all(v.name in text for v in constants), name


def test_reexported_objects_link_to_their_public_name(html: Path) -> None:
    # Model.run's docstring refers to sd_engine.compile.CompiledModel.run, which the
    # reference documents as sd_engine.CompiledModel.run.
    text = (html / "api" / "engine.html").read_text(encoding="utf-8")
    start = text.index('id="sd_engine.Model.run"')
    assert 'href="#sd_engine.CompiledModel.run"' in text[start:start + 2000]


def test_index_links_the_readme_and_every_notebook(html: Path) -> None:
    text = (html / "index.html").read_text(encoding="utf-8")
    assert 'href="README.md"' in text and (html / "README.md").exists()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f'href="notebooks/{notebook.name}"' in text, notebook.name
        assert (html / "notebooks" / notebook.name).exists()


def test_broken_sdflow_reference_fails_the_build(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.rst").write_text(
        "Test\n====\n\n:func:`sd_engine.lod` and :class:`numpy.ndarray`.\n", encoding="utf-8")
    result = sphinx_build(source, tmp_path / "out", "-c", str(DOCS))
    assert result.returncode != 0
    assert "sd_engine.lod" in result.stderr
    # Names outside sdflow cannot be linked offline and are not errors.
    assert "numpy" not in result.stderr


def test_module_that_runs_a_model_at_import_fails_the_build(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (tmp_path / "runs_at_import.py").write_text(
        '"""A module that simulates when imported."""\nimport sd_engine\n\nDS = sd_engine.load("teacup").run()\n',
        encoding="utf-8")
    (source / "index.rst").write_text("Test\n====\n\n.. automodule:: runs_at_import\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = sphinx_build(source, tmp_path / "out", "-c", str(DOCS), env=env)
    assert result.returncode != 0
    assert "compiled or ran a model" in result.stderr


def test_getting_started_examples_run() -> None:
    failures, tried = doctest.testfile(str(DOCS / "getting_started.rst"), module_relative=False,
                                       optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert tried > 5
    assert failures == 0
