"""The package's layers, checked from its import statements (see docs/architecture.md, "Layers").

No import circle anywhere; services know nothing of HTTP; storage backends see only the storage
interface; route modules never import the app factory. The graph is read with `ast` (every
import, even those under TYPE_CHECKING or inside functions), then confirmed at run time by
importing every module in dependency order in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import lite

ROOT = Path(lite.__file__).parent
# The HTTP side: the app factory, its entry points and the route modules.
HTTP_SIDE = ("lite.app", "lite.asgi", "lite.cli", "lite.__main__", "lite.http")
# Both sides: the registry the services count in, and its ASGI middleware (starlette's type
# aliases only).
SHARED = {"lite.metrics"}
PACKAGES = {"lite", "lite.storage", "lite.http"}  # empty __init__ modules


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, package: str) -> set[str]:
    """Every module named by an import in the tree, absolute."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        names = imported(ast.parse(path.read_text()), package)
        edges[name] = {n for n in names if n in modules and n != name}
    return edges


def external(name: str) -> set[str]:
    path = ROOT.parent / (name.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT.parent / name.replace(".", "/") / "__init__.py"
    return {n.split(".")[0] for n in imported(ast.parse(path.read_text()), name)}


def test_there_is_no_import_circle() -> None:
    try:
        order = list(TopologicalSorter(graph()).static_order())
    except CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")
    assert "lite.errors" in order and "lite.app" in order


def on_http_side(name: str) -> bool:
    return any(name == side or name.startswith(side + ".") for side in HTTP_SIDE)


def test_services_know_nothing_of_http() -> None:
    edges = graph()
    for name in sorted(edges):
        if on_http_side(name) or name in SHARED:
            continue
        assert not any(on_http_side(dep) for dep in edges[name]), (name, edges[name])
        assert "starlette" not in external(name), name


def test_route_modules_never_import_the_app_factory() -> None:
    for name, deps in graph().items():
        if name.startswith("lite.http"):
            assert "lite.app" not in deps, name


def test_storage_backends_see_only_the_storage_interface() -> None:
    allowed = {"lite.errors", "lite.settings"} | PACKAGES
    for name, deps in graph().items():
        if name.startswith("lite.storage"):
            outside = {d for d in deps if not d.startswith("lite.storage.")} - allowed
            assert not outside, (name, outside)


PURE = ["lite.errors", "lite.ids", "lite.keys", "lite.ranges", "lite.wav", "lite.tokens"]
PURE += ["lite.settings_table", "lite.settings_checks", "lite.backend_choice", "lite.budget"]
# WebM: EBML elements, the facts of a stream, its one-pass scan and the seekable layout.
PURE += ["lite.ebml", "lite.webmfacts", "lite.webmblocks", "lite.webmscan", "lite.webmmaster"]
# The OpenAPI document: Python data, one module an area of the API.
PURE += ["lite.openapi", "lite.openapi.build", "lite.openapi.schemas", "lite.openapi.paths"]
PURE += [f"lite.openapi.{area}_paths" for area in ("recording", "ingest", "admin", "site")]


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_only_pure_modules(name: str) -> None:
    deps = graph()[name] - PACKAGES
    assert deps <= set(PURE), (name, deps - set(PURE))


IMPORT_IN_ORDER = """
import importlib, json, sys
loaded = []
for name in json.loads(sys.argv[1]):
    before = {m for m in sys.modules if m == "lite" or m.startswith("lite.")}
    importlib.import_module(name)
    after = {m for m in sys.modules if m == "lite" or m.startswith("lite.")}
    loaded.append([name, sorted(after - before - {name})])
print(json.dumps(loaded))
"""


def test_every_module_imports_in_dependency_order() -> None:
    """Each module, imported after its dependencies, pulls in no other module of the package:
    the graph above is the whole truth, and no module needs another imported first."""
    order = [n for n in TopologicalSorter(graph()).static_order() if n not in ("lite.__main__",)]
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_IN_ORDER, json.dumps(order)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    edges = graph()
    extra = {
        name: unexpected
        for name, more in json.loads(done.stdout)
        if (unexpected := set(more) - with_packages(name, edges))
    }
    assert extra == {}


def with_packages(name: str, edges: dict[str, set[str]]) -> set[str]:
    """The packages above a module and what their `__init__` modules import: Python loads them
    before the module itself."""
    found: set[str] = set()
    todo = [".".join(name.split(".")[:n]) for n in range(1, name.count(".") + 1)]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(edges.get(current, ()))
    return found
