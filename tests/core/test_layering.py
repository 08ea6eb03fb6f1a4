"""Static layering checks over every module of ``harmbench/`` (read with ``ast``, nothing imported).

* No module outside ``harmbench/cli/`` imports ``harmbench.cli``: the CLI is the outermost layer.
* No import cycles among harmbench modules, counting module-level and function-level imports
  (imports under ``if TYPE_CHECKING:`` are for annotations only and are ignored).

An import ``from harmbench.a import b`` is an edge to ``harmbench.a.b`` when that is a module and
to ``harmbench.a`` otherwise; parent packages a dotted import loads implicitly are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import harmbench

ROOT = Path(harmbench.__file__).parent

#: Cycles through modules owned by other work in progress (#20), each in the form
#: :func:`_canonical` gives. Empty this list as they are fixed; the test fails when a listed cycle
#: no longer exists, so the list cannot go stale.
KNOWN_CYCLES_TO_FIX: list[tuple[str, ...]] = []


def _module_name(path: Path, root: Path = ROOT.parent) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The harmbench modules ``tree`` imports anywhere except under ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    found.add(sub)
                elif base in modules:
                    found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def import_graph(package: Path = ROOT) -> dict[str, set[str]]:
    """Module of ``package`` (a folder) -> the modules of ``package`` it imports."""
    modules = {_module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))}
    return {name: _imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), name,
                           path.name == "__init__.py", set(modules))
            for name, path in modules.items()}


def _canonical(cycle: list[str]) -> tuple[str, ...]:
    """A cycle as a tuple starting at its smallest module name (one form per cycle)."""
    i = cycle.index(min(cycle))
    return tuple(cycle[i:] + cycle[:i])


def find_cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """One shortest cycle through each module that lies on a cycle, de-duplicated."""
    cycles: set[tuple[str, ...]] = set()
    for start in sorted(graph):
        # breadth-first search for the shortest path from a successor of ``start`` back to it
        parents: dict[str, str | None] = {start: None}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt = []
            for node in frontier:
                for succ in sorted(graph.get(node, ())):
                    if succ == start:
                        found = node
                        break
                    if succ not in parents:
                        parents[succ] = node
                        nxt.append(succ)
                if found is not None:
                    break
            frontier = nxt
        if found is not None:
            path = [found]
            while parents[path[-1]] is not None:
                path.append(parents[path[-1]])
            cycles.add(_canonical(list(reversed(path))))
    return sorted(cycles)


def _show(cycle: tuple[str, ...]) -> str:
    return " -> ".join(cycle + (cycle[0],))


def test_only_the_cli_imports_the_cli():
    offenders = []
    for name, targets in import_graph().items():
        if name == "harmbench.cli" or name.startswith("harmbench.cli."):
            continue
        bad = sorted(t for t in targets if t == "harmbench.cli" or t.startswith("harmbench.cli."))
        if bad:
            offenders.append(f"{name} imports {', '.join(bad)}")
    assert not offenders, "the core must not import the CLI:\n" + "\n".join(offenders)


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    known = {_canonical(list(c)) for c in KNOWN_CYCLES_TO_FIX}
    new = [c for c in cycles if c not in known]
    fixed = sorted(known - set(cycles))
    message = []
    if new:
        message.append("import cycles:\n" + "\n".join(f"  {_show(c)}" for c in new))
    if fixed:
        message.append("KNOWN_CYCLES_TO_FIX lists cycles that no longer exist; remove them:\n"
                       + "\n".join(f"  {_show(c)}" for c in fixed))
    assert not message, "\n".join(message)


def _graph_of(tmp_path: Path, files: dict[str, str]) -> dict[str, set[str]]:
    """The import graph of a throw-away package ``pkg`` made of ``files`` (path -> source)."""
    for rel, text in files.items():
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return import_graph(tmp_path / "pkg")


def test_graph_counts_function_level_and_relative_imports_but_not_type_checking(tmp_path):
    graph = _graph_of(tmp_path, {
        "pkg/__init__.py": "from pkg.a import thing\n",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n"
                    "def f():\n    from . import c\n",
        "pkg/b.py": "import pkg.sub.d\n",
        "pkg/c.py": "from .sub import d\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/d.py": "from .. import a\nfrom ..b import name\n",
    })
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.c"}, "pkg.b": {"pkg.sub.d"}, "pkg.c": {"pkg.sub.d"},
                     "pkg.sub": set(), "pkg.sub.d": {"pkg.a", "pkg.b"}}
    assert find_cycles(graph) == [("pkg.a", "pkg.c", "pkg.sub.d"), ("pkg.b", "pkg.sub.d")]
    assert _show(("pkg.a", "pkg.c", "pkg.sub.d")) == "pkg.a -> pkg.c -> pkg.sub.d -> pkg.a"


def test_find_cycles_reports_each_cycle_once_from_its_smallest_module():
    graph = {"x": {"y"}, "y": {"z", "x"}, "z": {"y"}, "w": {"x"}}
    assert find_cycles(graph) == [("x", "y"), ("y", "z")]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
