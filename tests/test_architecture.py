"""The package's layers, as ../shared/DESIGN.md draws them, checked from the source with `ast`.

    exercises/, cli/          the course and the terminal
    viz/                      figures and widgets: read traces, never servers
    lab, mailserver, clienthost, queue, clients/   the miniature internet
    tap, trace                the wire
    servers/, webmail/        asyncio adapters, given narrow parts
    protocols/                sans-I/O (tests/protocols/test_protocols_pure.py)
    store, message, errors, limits, ...   leaves

Two rules are checked here: no module imports another that (directly or
through others) imports it back, at run time (imports under
``if TYPE_CHECKING:`` are for type checkers only and do not count; imports
inside functions do: they run); and each lesson's exercise module stays
small enough to read in one sitting.
"""
from __future__ import annotations

import ast
from pathlib import Path

import mailcourse

PACKAGE = Path(mailcourse.__file__).parent
MODULES = {".".join(("mailcourse", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): p
           for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _run_time_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def imports_of(name: str, source: str, modules: set[str]) -> set[str]:
    """The package's modules that module ``name`` imports when it runs."""
    is_package = name in modules and MODULES.get(name, Path()).name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _run_time_imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = here.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            # "from . import x" imports the submodule x if there is one, else a name of the package.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        out |= {t for t in targets if t in modules and t != name}
    return out


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    modules = set(sources)
    return {name: imports_of(name, text, modules) for name, text in sources.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle once, as the list of modules around it (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _without_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # A module that imports its own package (``from . import WEBMAIL``) while the package's
    # __init__ imports the module back is how packages re-export their parts; Python
    # handles it because the package is already in sys.modules. Only other cycles count.
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def test_there_is_no_import_cycle():
    graph = _without_parents(import_graph({name: path.read_text() for name, path in MODULES.items()}))
    assert cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle_through_a_function_and_ignores_type_checking():
    sources = {
        "mailcourse.a": "from .b import x\n",
        "mailcourse.b": "def f():\n    from .c import y\n",
        "mailcourse.c": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import z\nimport mailcourse.a\n",
        "mailcourse.d": "from .c import w\n",
    }
    graph = import_graph(sources)
    assert graph["mailcourse.c"] == {"mailcourse.a"}  # the TYPE_CHECKING import does not count
    assert cycles(graph) == [["mailcourse.a", "mailcourse.b", "mailcourse.c"]]


def test_each_lesson_has_its_own_small_exercise_module():
    lessons = sorted(p for p in (PACKAGE / "exercises").glob("lesson*.py"))
    notebooks = sorted((PACKAGE.parent / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    assert [p.stem.removeprefix("lesson") for p in lessons] == [n.name.split("_", 1)[0] for n in notebooks]
    too_long = {p.name: n for p in (PACKAGE / "exercises").glob("*.py")
                if (n := len(p.read_text().splitlines())) >= 500}
    assert too_long == {}


def test_every_check_a_notebook_calls_is_in_the_exercises_all():
    import re

    import mailcourse.exercises as check

    called = set()
    for notebook in (PACKAGE.parent / "notebooks").glob("*.ipynb"):
        called |= set(re.findall(r"\bcheck\.([A-Za-z_]\w*)\(", notebook.read_text()))
    assert called and called <= set(check.__all__)
    assert all(callable(getattr(check, name)) for name in check.__all__)


def test_viz_reads_traces_never_servers():
    """Figures and widgets draw what the trace recorded; they never reach into a server's parts."""
    modules = set(MODULES)
    servers_side = ("mailcourse.servers.", "mailcourse.webmail", "mailcourse.mailserver", "mailcourse.store",
                    "mailcourse.queue")
    reached = {name: sorted(t for t in imports_of(name, path.read_text(), modules) if t.startswith(servers_side))
               for name, path in MODULES.items() if name.startswith("mailcourse.viz")}
    assert {name: found for name, found in reached.items() if found} == {}
