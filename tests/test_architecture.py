"""The house in rooms: imports between changenote's modules only point down, in no circle.

Every import between changenote modules is read from the source (AST: module level,
inside functions and under ``TYPE_CHECKING`` alike, since each is a dependency a reader
has to follow). The layer order is written here, once:

    cli  →  wiki, monitor  →  notebook  →  measure, store, service  →  the foundation

A module may import its own room and any room in a layer below; never a room above, and
never a sibling room of its own layer. The package root holds only the foundation.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "changenote"

#: Top to bottom. "" is the foundation: the modules at the package root.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("wiki", "monitor"),
    ("notebook",),
    ("measure", "store", "service"),
    ("",),
)
#: What the package root may hold: the foundation every room uses.
FOUNDATION = {
    "__init__",  # the version
    "__main__",  # ``python -m changenote``: the entry point, counted with cli
    "config",
    "errors",
    "files",
    "formatting",
    "gitinfo",
    "redact",
    "render",
    "specs",
    "steps",
}
ENTRY_POINTS = {"changenote.__main__": "cli"}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports(path: Path, known: Iterable[str], package: str = "changenote") -> set[str]:
    """The changenote modules ``path`` imports; ``from pkg import sub`` counts as ``pkg.sub``."""
    known = set(known)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != package and not node.module.startswith(package + "."):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    found = modules(root)
    package = root.name
    return {
        name: {d for d in imports(path, found, package) if d != name}
        for name, path in found.items()
    }


def room(module: str) -> str:
    """The room a module lives in ("" for the foundation at the package root)."""
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and _is_room(parts[1])) else ""


def _is_room(name: str) -> bool:
    return any(name in layer for layer in LAYERS)


def layer(module: str) -> int:
    where = room(module)
    return next(i for i, names in enumerate(LAYERS) if where in names)


def climbing(edges: dict[str, set[str]]) -> list[str]:
    """Imports of a room above, or of a sibling room in the same layer."""
    bad = []
    for src, deps in sorted(edges.items()):
        for dst in sorted(deps):
            if room(src) != room(dst) and layer(dst) <= layer(src):
                bad.append(f"{src} ({room(src) or 'foundation'}) imports {dst} "
                           f"({room(dst) or 'foundation'})")  # fmt: skip
    return bad


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(edges.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_import_circle_anywhere() -> None:
    assert circles(graph()) == []


def test_imports_only_point_down() -> None:
    assert climbing(graph()) == []


def test_the_package_root_holds_only_the_foundation() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")}
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert top == FOUNDATION
    assert rooms == {name for names in LAYERS for name in names if name}


@pytest.mark.parametrize("name", [n for names in LAYERS for n in names if n])
def test_every_room_says_what_lives_there_and_what_it_may_import(name: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
    assert doc and len(doc.split()) >= 30, f"{name}/__init__.py needs a paragraph"
    assert "import" in doc, f"{name}/__init__.py should say what it may import"


def test_walking_baseline_touches_each_layer_once_downward() -> None:
    """cli.record → notebook.workflow → measure.probes and store.db → the foundation."""
    edges = graph()
    path = ["changenote.cli.record", "changenote.notebook.workflow", "changenote.store.db"]
    for src, dst in itertools.pairwise(path):
        assert dst in edges[src]
    assert "changenote.measure.probes" in edges["changenote.notebook.workflow"]
    assert [layer(m) for m in path] == sorted({layer(m) for m in path})


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "changenote"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checks_catch_a_circle_and_a_climb(tmp_path: Path) -> None:
    """The two checks are not vacuous: a planted circle and planted climbs are found."""
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "errors.py": "",
            "store/__init__.py": "",
            "store/db.py": "from changenote.notebook import workflow\n",
            "notebook/__init__.py": "",
            "notebook/workflow.py": "def f():\n    from changenote.store.db import X\n",
            "notebook/notes.py": "import changenote.wiki.pages\n",
            "wiki/__init__.py": "",
            "wiki/pages.py": "from changenote.monitor import checks\n",
            "monitor/__init__.py": "",
            "monitor/checks.py": "from changenote import errors\n",
        },
    )
    edges = graph(root)
    assert circles(edges) == [["changenote.notebook.workflow", "changenote.store.db"]]
    assert climbing(edges) == [
        "changenote.notebook.notes (notebook) imports changenote.wiki.pages (wiki)",
        "changenote.store.db (store) imports changenote.notebook.workflow (notebook)",
        "changenote.wiki.pages (wiki) imports changenote.monitor.checks (monitor)",
    ]
