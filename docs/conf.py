"""Sphinx configuration for the sdflow API reference (``make docs``)."""

from __future__ import annotations

import importlib
import inspect
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The packages import from the checkout (an editable install does the same); the local
# extension that tabulates library models' parameters lives in _ext.
sys.path[:0] = [str(ROOT), str(HERE / "_ext")]

import sd_engine  # noqa: E402
from sphinx.util.nodes import make_refnode  # noqa: E402

project = "sdflow"
author = "the sdflow developers"
copyright = "the sdflow developers, MIT licence"
release = version = sd_engine.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "sdflow_models",
]

# numpydoc-style sections through napoleon; the docstrings do not use Google style.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
# Type hints go into the description, not into long signatures; aliases keep them readable.
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True
# Tables only: no stub pages are written into the source tree.
autosummary_generate = False

# The reference builds offline (no intersphinx), so names from numpy, xarray, pandas and the
# standard library cannot be linked. Nitpicky mode is on for sdflow's own names only:
# `_resolve_elsewhere` links an sdflow object documented under another
# name (``sd_engine.compile.CompiledModel`` is documented as ``sd_engine.CompiledModel``) and
# settles every other missing target as plain text, so a reference to an sdflow object that
# the reference does not document, or a qualified sdflow name that does not exist (a typo, a
# renamed function), fails the build under -W, while `numpy.ndarray` or "optional" in a
# parameter type does not.
nitpicky = True
_PACKAGES = ("sd_engine", "calibration", "models")


def _find(dotted: str) -> tuple[bool, Any]:
    """Import the sdflow object `dotted` names: (found, object)."""
    parts = dotted.split(".")
    if parts[0] not in _PACKAGES:
        return False, None
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False, None
        return True, obj
    return False, None


def _is_ours(obj: Any) -> bool:
    # A module attribute may be an import from elsewhere (`pd`, `Path`): judge by origin.
    origin = obj.__name__ if inspect.ismodule(obj) else getattr(obj, "__module__", None)
    return origin is None or str(origin).split(".")[0] in _PACKAGES


_DOCUMENTED: dict[str, Any] = {}


def _documented(env: Any) -> dict[int, str]:
    """Documented sdflow objects by identity, so a re-exported object is found under any name."""
    objects = env.get_domain("py").objects
    cache = _DOCUMENTED
    if len(cache.get("names", ())) != len(objects):
        index = {}
        for name, entry in objects.items():
            found, obj = _find(name)
            # Only objects with an identity of their own: small ints and strings are shared.
            if found and (inspect.isroutine(obj) or inspect.isclass(obj) or inspect.ismodule(obj)):
                index.setdefault(id(obj), name)
        cache.update(names=tuple(objects), index=index)
    return cache["index"]


def _resolve_elsewhere(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Link an sdflow object documented under another name; leave other names as text."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip(".~")
    module, cls = node.get("py:module") or "", node.get("py:class") or ""
    scopes = [f"{module}.{cls}.", f"{module}.", ""] if cls else [f"{module}.", ""]
    for scope in scopes:
        found, obj = _find(scope.lstrip(".") + target)
        if found and _is_ours(obj):
            name = _documented(env).get(id(obj))
            if name is None:
                return None  # an sdflow object the reference does not document: nitpicky reports it
            entry = env.get_domain("py").objects[name]
            return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)
    if target.split(".")[0] in _PACKAGES:
        return None  # a qualified sdflow name that does not exist: a typo or a renamed object
    return contnode


def _copy_readme_and_notebooks(app: Any, exception: Exception | None) -> None:
    """Put the README and the notebooks beside the pages, so the index's links work offline."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    shutil.copy2(ROOT / "README.md", out / "README.md")
    (out / "notebooks").mkdir(exist_ok=True)
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy2(notebook, out / "notebooks" / notebook.name)


def setup(app: Any) -> None:
    app.connect("missing-reference", _resolve_elsewhere)
    app.connect("build-finished", _copy_readme_and_notebooks)


templates_path: list[str] = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = f"sdflow {release}"
html_static_path: list[str] = []
html_theme_options = {"description": "System dynamics for health and social care", "fixed_sidebar": True}
