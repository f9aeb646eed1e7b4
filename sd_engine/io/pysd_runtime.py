"""A cross-check: run an imported model's file with PySD's own runtime.

``model.run(..., backend="pysd")`` translates the model's source file with PySD's code
generator and runs it with PySD, then returns an :class:`xarray.Dataset` shaped like
sdflow's own result (same variable names, dimensions and ``run`` axis), so the two can be
compared directly. It is much slower and only for testing and users' confidence; the
normal path never touches PySD's runtime.

PySD's code generator writes model text into the Python module it then imports: names in
quotes (``'%s'``), documentation in docstrings (``\"\"\"...\"\"\"``), file names in raw
strings. A model file is untrusted, so before PySD builds anything:

* the file is read as :func:`~sd_engine.io.pysd_import.read_model` reads it (a regular
  file, strictly decoded, checked), into a temporary folder under a fixed name;
* documentation loses its double quotes and control characters (it cannot end its
  docstring), and a file whose names or strings hold a single quote (PySD writes them
  into ``'...'``), a control character or a final backslash -- text that could end a
  string in the generated module -- is refused
  (:class:`~sd_engine.errors.UnsupportedError`: use the default backend);
* the generated module is parsed with :mod:`ast` and refused if it imports anything but
  PySD's own dependencies or names anything that runs or reads outside the model
  (``exec``, ``eval``, ``open``, ``__import__``, dunder attributes ...);
* the temporary folder is removed when the runs are over (or when a model returned by
  :func:`translate` is garbage-collected), whatever happens.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import shutil
import tempfile
import unicodedata
import warnings
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import SDError, UnsupportedError
from ..expr import canonical
from ..program import Program, ProgramLike, as_program
from .model_file import read_model_bytes, vensim_file, vensim_text
from .xml_safety import check_xmile
from .xmile_modules import xmile_file


__all__ = ["run_pysd", "translate", "translated"]


def run_pysd(model: ProgramLike, params: Mapping[str, Any] | None = None, *,
             final_time: float | None = None, dt: float | None = None, saveper: float | None = None,
             method: str | None = None) -> xr.Dataset:
    """Run `model`'s source file with PySD and return a Dataset like :meth:`CompiledModel.run`.

    Parameters
    ----------
    model : CompiledModel or Program
        A model loaded from a ``.mdl`` or XMILE file (its ``spec.source``).
    params : mapping, optional
        Constant overrides by name; 1-D arrays of equal length make a ``run`` axis, run by
        run through PySD.
    final_time, dt, saveper : float, optional
        Time overrides, as in :meth:`CompiledModel.run`.
    method : str, optional
        PySD integrates with Euler only; anything else is refused.

    Examples
    --------
    >>> import sd_engine as sd  # doctest: +SKIP
    >>> m = sd.load("teacup.mdl")  # doctest: +SKIP
    >>> m.run(backend="pysd")["Teacup Temperature"]  # doctest: +SKIP
    """
    program = as_program(model)
    source = Path(program.spec.source) if program.spec.source else None
    if source is None or not source.is_file() or source.suffix.lower() not in (".mdl", ".xmile", ".xml", ".stmx",
                                                                                ".itmx"):
        raise UnsupportedError(
            f"`backend=\"pysd\"` runs a model's Vensim or XMILE file, and model `{program.spec.name}` was not loaded "
            "from one; use the default backend."
        )
    wanted = (method or program.spec.time.method).lower()
    if wanted != "euler":
        raise UnsupportedError(f"PySD integrates with Euler only, not `{wanted}`; pass method=\"euler\".")
    with translated(source) as pysd_model:
        return _run(program, pysd_model, params, final_time, dt, saveper)


def _run(model: Program, pysd_model: Any, params: Mapping[str, Any] | None, final_time: float | None,
         dt: float | None, saveper: float | None) -> xr.Dataset:
    params = dict(params or {})
    sizes = {len(np.atleast_1d(v)) for v in params.values() if np.ndim(v) == 1}
    if len(sizes) > 1:
        raise ValueError("Parameter arrays of an ensemble must all have the same length.")
    n_runs = sizes.pop() if sizes else 0
    time_args: dict[str, float] = {}
    if final_time is not None:
        time_args["final_time"] = float(final_time)
    if dt is not None:
        time_args["time_step"] = float(dt)
    if saveper is not None:
        time_args["saveper"] = float(saveper)
    runs = []
    for i in range(max(n_runs, 1)):
        values = {_pysd_name(model, k): (float(np.atleast_1d(v)[i]) if np.ndim(v) == 1 else v)
                  for k, v in params.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pysd_model.run(params=values, **time_args)
        runs.append(_to_dataset(model, frame))
    if n_runs:
        ds = xr.concat(runs, dim="run")
        return ds.assign_coords(run=np.arange(n_runs))
    return runs[0]


def translate(source: Path) -> Any:
    """PySD's own model of the file `source`, checked and translated in a temporary folder
    (so PySD's generated module never lands beside the file) that is removed when the
    returned model is garbage-collected, or at exit. Prefer :func:`translated`, which
    removes it at once."""
    folder = Path(tempfile.mkdtemp(prefix="sdflow-pysd-"))
    try:
        model = _translate_in(folder, Path(source))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(model, shutil.rmtree, str(folder), True)
    return model


@contextlib.contextmanager
def translated(source: Path) -> Iterator[Any]:
    """PySD's own model of the file `source` for the duration of a ``with`` block; its
    temporary folder is removed at the end of the block, whatever happens in it."""
    folder = Path(tempfile.mkdtemp(prefix="sdflow-pysd-"))
    try:
        yield _translate_in(folder, Path(source))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _translate_in(folder: Path, source: Path) -> Any:
    """Check `source`, build PySD's module of it in `folder`, check the module, load it."""
    # PySD's runtime is for this cross-check only: it loads here, never on the normal path.
    import pysd
    from parsimonious.exceptions import ParsimoniousError
    from pysd.builders.python.python_model_builder import ModelBuilder

    raw = read_model_bytes(source)
    # PySD writes the file name into the module: the copy has a fixed name.
    copy = folder / ("model.mdl" if source.suffix.lower() == ".mdl" else "model.xmile")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if source.suffix.lower() == ".mdl":
                parsed = vensim_file(copy, vensim_text(source, raw))
            else:
                check_xmile(source, raw)  # then parsed without entities or network, as read_model does
                parsed = xmile_file(copy, raw)
            parsed.parse()
            abstract = parsed.get_abstract_model()
        except SDError:
            raise
        except (ValueError, KeyError, IndexError, AttributeError, TypeError, RecursionError, ParsimoniousError) as exc:
            raise UnsupportedError(f"PySD cannot translate `{source.name}` ({type(exc).__name__}: "
                                   f"{str(exc)[:200]!r}); use the default backend.") from None
        _make_safe(abstract, source.name)
        try:
            module = ModelBuilder(abstract).build_model()
        except Exception as exc:  # PySD's builder (and black) raise anything on odd input
            raise UnsupportedError(f"PySD cannot translate `{source.name}` ({type(exc).__name__}); use the default "
                                   "backend.") from None
        for generated in sorted(folder.rglob("*.py")):
            _check_module(generated, source.name)
        try:
            return pysd.load(str(module))
        except Exception as exc:  # PySD initialises the model: missing data files, bad values ...
            raise UnsupportedError(f"PySD cannot load its translation of `{source.name}` ({type(exc).__name__}: "
                                   f"{str(exc)[:200]!r}); use the default backend.") from None


#: The quote PySD writes model text between (`'%s'`); documentation goes between `\"\"\"`.
_QUOTES = ("'",)


def _make_safe(abstract: Any, filename: str) -> None:
    """Make the abstract model safe for PySD's code generator, in place: documentation loses
    what could end its docstring; any other text that could end a string is refused."""
    stack: list[Any] = [abstract]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            for item in dataclasses.fields(node):
                value = getattr(node, item.name)
                if item.name == "documentation" and isinstance(value, str):
                    object.__setattr__(node, item.name, _safe_doc(value))
                else:
                    stack.append(value)
        elif isinstance(node, str):
            if any(q in node for q in _QUOTES) or node.endswith("\\") or not node.isprintable():
                raise UnsupportedError(
                    f"`backend=\"pysd\"` will not translate `{filename}`: the text {node[:60]!r} holds a quote, a "
                    "control character or a final backslash, which PySD's code generator would write into Python "
                    "code unescaped. Use the default backend."
                )
        elif isinstance(node, dict):
            stack += list(node.keys()) + list(node.values())
        elif isinstance(node, (list, tuple, set, frozenset)):
            stack += list(node)


def _safe_doc(doc: str) -> str:
    # PySD writes documentation as `\"\"\"\n{doc}\n\"\"\"` with backslashes made line ends: without
    # double quotes and control characters it cannot end the docstring or the module.
    kept = (ch for ch in doc.replace('"', "'") if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return "".join(kept)


#: Modules PySD's generated code imports.
_IMPORTS = {"pathlib", "numpy", "xarray", "scipy", "pysd"}
#: Names no generated model has a reason to use: they run code or reach outside the model.
_FORBIDDEN = {"exec", "eval", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals",
              "locals", "vars", "breakpoint", "input", "help", "exit", "quit", "os", "sys", "subprocess",
              "importlib", "builtins", "__builtins__", "system", "popen", "memoryview", "type", "object"}


def _check_module(path: Path, filename: str) -> None:
    """Refuse a module PySD generated from `filename` that does more than a model does."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise UnsupportedError(f"PySD's translation of `{filename}` is not valid Python ({type(exc).__name__}); "
                               "use the default backend.") from None
    for node in ast.walk(tree):
        bad = ""
        if isinstance(node, ast.Import):
            bad = next((a.name for a in node.names if a.name.split(".")[0] not in _IMPORTS), "")
        elif isinstance(node, ast.ImportFrom):
            bad = "" if node.level == 0 and (node.module or "").split(".")[0] in _IMPORTS else f"from {node.module}"
        elif isinstance(node, ast.Name) and (node.id in _FORBIDDEN or _dunder(node.id)):
            bad = node.id
        elif isinstance(node, ast.Attribute) and (node.attr in _FORBIDDEN or _dunder(node.attr)):
            bad = node.attr
        if bad:
            raise UnsupportedError(
                f"`backend=\"pysd\"` will not run PySD's translation of `{filename}`: it uses `{bad}` (line "
                f"{getattr(node, 'lineno', '?')}), which no model needs; the file may hide code. Use the default "
                "backend."
            )


def _dunder(name: str) -> bool:
    # PySD's modules use `__data`, `__file__` and `__pysd_version__`; nothing else with underscores.
    return name.startswith("__") and name not in ("__data", "__file__", "__pysd_version__")


def _pysd_name(model: Program, name: str) -> str:
    return model.spec[name].name


def _to_dataset(model: Program, frame: Any) -> xr.Dataset:
    columns = {canonical(str(c)): c for c in frame.columns}
    times = np.asarray(frame.index, dtype=float)
    data: dict[str, Any] = {}
    coords: dict[str, Any] = {"time": times}
    for var in model.spec.variables:
        if var.internal or var.kind == "lookup":
            continue
        if not var.dims:
            column = columns.get(var.canonical)
            if column is not None:
                data[var.name] = ("time", frame[column].to_numpy(dtype=float))
            continue
        dims = [model.spec.dimension(d) for d in var.dims]
        shape = tuple(len(d.elements) for d in dims)
        values = np.full((len(times),) + shape, np.nan)
        found = False
        for index in np.ndindex(*shape):
            label = f"{var.name}[{','.join(d.elements[i] for d, i in zip(dims, index))}]"
            column = columns.get(canonical(label))
            if column is not None:
                values[(slice(None),) + index] = frame[column].to_numpy(dtype=float)
                found = True
        if found:
            data[var.name] = (("time",) + tuple(d.name for d in dims), values)
            for d in dims:
                coords[d.name] = list(d.elements)
    return xr.Dataset(data, coords=coords, attrs={"backend": "pysd"})
