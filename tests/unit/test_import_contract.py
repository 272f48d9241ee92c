"""The import contract (DESIGN section 2): no import circle, and the layers hold.

Read from the source with :mod:`ast`, so an import inside a function counts as
much as one at the top of a module (a function-level import hides a circle from
Python at start-up, not from a reader). Imports under ``TYPE_CHECKING`` count too.

- No two modules of ``cashserver`` import each other, directly or around a circle.
- The core (:data:`CORE`) imports nothing of the package but the core.
- The core, ``rpc/`` and ``front/`` never import ``store/`` or SQLAlchemy: the accept
  path has no database in it.
- Nothing imports ``cli/`` but ``cli/`` itself: the command line is the top.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "cashserver"
CORE = frozenset(
    f"cashserver.{name}"
    for name in (
        "domain",
        "rules",
        "validate",
        "reconcile",
        "money",
        "clock",
        "durable",
        "config",
        "config_values",
        "config_sections",
        "log",
        "metrics",
    )
)
NO_DATABASE = ("cashserver.rpc", "cashserver.front")
DATABASE = ("cashserver.store", "sqlalchemy", "alembic", "psycopg")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def imports_of(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of the package and every module name it imports, anywhere in it
    (the package's own names resolved to its modules, others as written)."""
    files = {
        _module_name(path, root): path
        for path in root.rglob("*.py")
        if "_generated" not in path.parts
    }

    def own(name: str) -> str:
        """The package's module that ``name`` is, or is in (``a.b.Thing`` -> ``a.b``)."""
        while name not in files and "." in name:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        names = {own(n) if _within(n, "cashserver") else n for n in found}
        graph[module] = {n for n in names if n != module and (n in files or "." not in n)}
        graph[module] |= {n for n in names if not _within(n, "cashserver")}
    return graph


def internal(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {n for n in found if n in graph} for m, found in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle among the package's modules (``[a, b, ..., a]``), or None."""
    edges = internal(graph)
    for start in sorted(edges):
        came_from: dict[str, str] = {}
        queue = deque([start])
        while queue:
            module = queue.popleft()
            for target in sorted(edges[module]):
                if target == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start] if module != start else [start]
                if target not in came_from:
                    came_from[target] = module
                    queue.append(target)
    return None


def test_no_module_imports_itself_back_around_a_circle() -> None:
    cycle = find_cycle(imports_of())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_core_imports_only_the_core() -> None:
    graph = internal(imports_of())
    wrong = {m: sorted(graph[m] - CORE) for m in CORE if graph[m] - CORE}
    assert wrong == {}


def test_the_accept_path_never_imports_the_database() -> None:
    graph = imports_of()
    accept_path = [m for m in graph if m in CORE or any(_within(m, p) for p in NO_DATABASE)]
    wrong = {
        m: sorted(n for n in graph[m] if any(_within(n, d) for d in DATABASE)) for m in accept_path
    }
    assert {m: found for m, found in wrong.items() if found} == {}


def test_nothing_imports_the_command_line() -> None:
    graph = internal(imports_of())
    wrong = {
        m: sorted(n for n in found if _within(n, "cashserver.cli"))
        for m, found in graph.items()
        if not _within(m, "cashserver.cli")
    }
    assert {m: found for m, found in wrong.items() if found} == {}


def test_a_circle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    """The checker itself: a circle closed by a function-level import is named."""
    root = tmp_path / "cashserver"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "a.py").write_text("from cashserver.sub.b import thing\n")
    (root / "sub" / "b.py").write_text("def thing():\n    from ..a import other\n")
    (root / "c.py").write_text("import cashserver.a\n")
    assert find_cycle(imports_of(root)) == ["cashserver.a", "cashserver.sub.b", "cashserver.a"]
