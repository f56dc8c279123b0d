"""No circle among the project's imports, and every import between layers points down the layers
docs/architecture.md lists.

Every ``import`` statement of every project module counts, wherever it stands: at the top, under
``if TYPE_CHECKING:``, or inside a function. A function-level import that closes a circle still makes
each module depend on the other; it only hides the circle until the function runs. A package's
``__init__`` is a module like any other: ``from plugins import X`` in a module of ``plugins`` is an
arrow to ``plugins/__init__.py``. Importing ``a.b`` is not counted as importing the package ``a``
(every module of a package would otherwise meet its ``__init__`` in a circle)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("plugins", "policies", "handlers", "components", "sandbox", "cli", "benchmarks")
TESTS = ROOT / "tests"


def module_name(path: Path) -> str:
    """``cli/main.py`` → ``cli.main``; a package's ``__init__.py`` → the package; a test module by its
    own name (the tests import each other's helpers as top-level modules)."""
    parts = path.relative_to(TESTS if path.is_relative_to(TESTS) else ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    paths = [ROOT / "__main__.py", *TESTS.glob("*.py")]
    paths += [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    return {module_name(path): path for path in paths}


def imported(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``module`` imports, each the most specific one a statement names."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {module: imported(module, path, modules) for module, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules, as one circle through it
    (``a → b → a``), found by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [circle_through(graph, group) for group in groups]


def circle_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest way from the group's first module back to itself, within the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for other in sorted(graph[node] & group):
                if other == start:
                    return paths[node] + [start]
                if other not in paths:
                    paths[other] = paths[node] + [other]
                    following.append(other)
        frontier = following
    raise AssertionError(f"no circle through {start}")  # a strongly connected group always has one


def layers() -> list[str]:
    """The layers of docs/architecture.md, bottom first: the first column of its Layers table."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([\w./]+)` \|", section, flags=re.MULTILINE)


def layer_of(path: str, order: list[str]) -> str | None:
    """The most specific layer a file belongs to (``handlers/runtime/state/items.py`` → ``handlers/runtime/``)."""
    found = [layer for layer in order if path == layer or (layer.endswith("/") and path.startswith(layer))]
    return max(found, key=len) if found else None


def upward(graph: dict[str, set[str]], files: dict[str, str], order: list[str]) -> list[str]:
    """Every import whose target lies in a higher layer than the importer (``files``: module → its path)."""
    rank = {layer: i for i, layer in enumerate(order)}
    wrong = []
    for module, targets in sorted(graph.items()):
        here = layer_of(files[module], order)
        for target in sorted(targets):
            there = layer_of(files[target], order)
            if here and there and rank[there] > rank[here]:
                wrong.append(f"{module} ({here}) imports {target} ({there})")
    return wrong


def test_no_import_circle():
    found = circles(import_graph())
    assert not found, "import circles (a shared name belongs in a leaf module both import):\n" + "\n".join(
        " → ".join(circle) for circle in found)


def test_every_import_points_down_the_layers():
    order = layers()
    assert order == ["plugins/", "policies/", "handlers/runtime/", "handlers/", "components/", "sandbox/", "cli/",
                     "__main__.py", "benchmarks/", "tests/"]
    files = {module: path.relative_to(ROOT).as_posix() for module, path in project_modules().items()}
    unplaced = sorted(path for path in files.values() if layer_of(path, order) is None)
    assert not unplaced, f"files in no layer of docs/architecture.md: {unplaced}"
    wrong = upward(import_graph(), files, order)
    assert not wrong, "imports that point up the layers of docs/architecture.md:\n" + "\n".join(wrong)


def test_the_checks_see_a_circle_and_an_upward_import():
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "b": {"a.x"}, "c": set()}
    assert circles(graph) == [["a.x", "a.y", "a.z", "a.x"]]
    files = {"plugins.facts": "plugins/facts.py", "plugins": "plugins/__init__.py",
             "handlers.runtime.aws": "handlers/runtime/aws.py", "handlers.detect": "handlers/detect.py"}
    graph = {"plugins.facts": {"handlers.runtime.aws"}, "handlers.detect": {"plugins", "handlers.runtime.aws"},
             "plugins": set(), "handlers.runtime.aws": set()}
    assert upward(graph, files, ["plugins/", "handlers/runtime/", "handlers/"]) == [
        "plugins.facts (plugins/) imports handlers.runtime.aws (handlers/runtime/)"]


def test_function_level_and_relative_imports_are_read(tmp_path):
    modules = {"pkg": tmp_path / "pkg" / "__init__.py", "pkg.a": tmp_path / "pkg" / "a.py",
               "pkg.b": tmp_path / "pkg" / "b.py", "pkg.sub": tmp_path / "pkg" / "sub" / "__init__.py",
               "pkg.sub.c": tmp_path / "pkg" / "sub" / "c.py"}
    for path in modules.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    modules["pkg.a"].write_text("def later():\n    from .b import thing\n    from pkg.sub import c\n")
    modules["pkg.sub.c"].write_text("from .. import a\nfrom ..b import other\nimport os\n")
    assert imported("pkg.a", modules["pkg.a"], modules) == {"pkg.b", "pkg.sub.c"}
    assert imported("pkg.sub.c", modules["pkg.sub.c"], modules) == {"pkg.a", "pkg.b"}
