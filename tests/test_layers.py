"""The layering rules of DESIGN.md ("Layers"), checked on the source so they cannot erode.

Every import between the project's modules is read from the syntax tree: imports inside
functions count (they run too), imports under ``if TYPE_CHECKING:`` do not, and
``importlib.import_module("...")`` / ``__import__("...")`` with a literal name count as
imports. ``from package import name`` imports the package and, when `name` is a submodule,
that module as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sd_engine", "calibration", "models")
MAX_LINES = 900


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FILES = {_module(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """Each import of module `name` as ``(module imported, names taken from it)``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
                   for n in ast.walk(node)}
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            found.append((".".join(base + ([node.module] if node.module else [])), [a.name for a in node.names]))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__"):
            found.append((str(node.args[0].value), []))
    return found


def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for name, path in FILES.items():
        graph.add_node(name)
        for target, names in _imports(name, path):
            for module in [target] + [f"{target}.{n}" for n in names]:
                if module in FILES and module != name:
                    graph.add_edge(name, module)
    return graph


def test_no_import_circles_among_the_project_modules() -> None:
    circles = [sorted(c) for c in nx.strongly_connected_components(_graph()) if len(c) > 1]
    assert not circles, f"import circles: {circles}"


def test_no_module_imports_another_modules_private_names() -> None:
    private = [f"{name} imports `{n}` from {target}" for name, path in FILES.items()
               for target, names in _imports(name, path) if target != name and target.split(".")[0] in PACKAGES
               for n in names if n.startswith("_") and not n.startswith("__") and f"{target}.{n}" not in FILES]
    assert not private, "private names imported across modules:\n" + "\n".join(private)


def test_the_engine_never_imports_the_model_library_or_calibration() -> None:
    upward = [f"{name} imports {target}" for name, path in FILES.items() if name.startswith("sd_engine")
              for target, _ in _imports(name, path) if target.split(".")[0] in ("models", "calibration")]
    assert not upward, "the engine reaches up:\n" + "\n".join(upward)


def test_no_source_file_is_over_the_size_limit() -> None:
    sizes = {path.relative_to(ROOT): path.read_text(encoding="utf-8").count("\n") + 1 for path in FILES.values()}
    large = [f"{path} has {n} lines" for path, n in sizes.items() if n > MAX_LINES]
    assert not large, f"over {MAX_LINES} lines (split along the seams):\n" + "\n".join(large)


def test_the_checks_see_what_they_check() -> None:
    # The graph holds the engine's known edges, so an empty result above is not a blind parser.
    graph = _graph()
    assert graph.has_edge("sd_engine.compile", "sd_engine.codegen")
    assert graph.has_edge("sd_engine.codegen", "sd_engine.program")
    assert len(FILES) > 60 and graph.number_of_edges() > 200
