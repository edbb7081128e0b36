"""mailcourse/protocols does no I/O: no module there imports a network or thread library.

The protocol state machines are "sans-I/O" (see STYLE.md, like h11): bytes or
lines in, replies out. The asyncio server, a widget's "step" button and a
unit test drive the same object. This test reads the source with `ast`, so it
also catches an import hidden inside a function.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mailcourse

PROTOCOLS = Path(mailcourse.__file__).parent / "protocols"
FORBIDDEN = {"asyncio", "socket", "selectors", "threading"}
MODULES = sorted(PROTOCOLS.rglob("*.py"))


def imported_modules(source: str) -> list[tuple[int, str, int]]:
    """(line, module, relative level) of every import in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", node.level))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                found.append((node.lineno, str(node.args[0].value), 0))
    return found


def test_there_are_protocol_modules():
    assert PROTOCOLS.is_dir()
    assert any(p.name != "__init__.py" for p in MODULES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PROTOCOLS)))
def test_protocol_module_imports_no_io_library(path):
    bad = [(line, name) for line, name, level in imported_modules(path.read_text())
           if level == 0 and name.split(".")[0] in FORBIDDEN]
    assert bad == [], f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PROTOCOLS)))
def test_protocol_module_imports_nothing_from_the_io_layers(path):
    """A relative import may stay inside protocols/; above it are servers, taps and the lab."""
    depth = len(path.relative_to(PROTOCOLS).parts)  # 1 for protocols/x.py
    bad = [(line, "." * level + name) for line, name, level in imported_modules(path.read_text())
           if level > depth or (level == 0 and name.split(".")[0] == "mailcourse"
                                and not name.startswith("mailcourse.protocols"))]
    assert bad == [], f"{path.name} reaches outside protocols/: {bad}"


def test_the_checker_sees_imports():
    sample = "import asyncio\nfrom socket import socket\ndef f():\n    import threading\nfrom ..tap import x\n"
    found = sorted((name, level) for _, name, level in imported_modules(sample))
    assert found == [("asyncio", 0), ("socket", 0), ("tap", 2), ("threading", 0)]
    assert sorted(name for _, name, _ in imported_modules("__import__('selectors')")) == ["selectors"]
