"""The layers, read from the source with `ast`: protocols/ does no I/O; servers/ knows no lab.

The protocol state machines are "sans-I/O" (see STYLE.md, like h11): bytes or
lines in, replies out. The asyncio server, a widget's "step" button and a
unit test drive the same object. No module there imports a network or thread
library.

One layer up, the adapters in servers/ and the webmail are given the narrow
parts they use (a Host, Accounts, a MailStore, Limits, Faults), never a whole
mail server (DESIGN.md, "Layers"): they import nothing from the device layer
and above, and do not even name its classes, in code, docstrings or comments.

Reading the source with `ast` also catches an import hidden inside a function
or under ``if TYPE_CHECKING:``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import mailcourse

PACKAGE = Path(mailcourse.__file__).parent
PROTOCOLS = PACKAGE / "protocols"
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


# -- servers/ and webmail/: given narrow parts, never the device layer -----------------------------

NARROW = sorted((PACKAGE / "servers").rglob("*.py")) + sorted((PACKAGE / "webmail").rglob("*.py"))
DEVICE_LAYER = {f"mailcourse.{name}" for name in
                ("mailserver", "lab", "clienthost", "queue", "clients", "viz", "exercises", "cli")}
DEVICE_CLASSES = re.compile(r"\b(MailServer|Lab|ClientHost)\b")


def absolute_imports(source: str, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every module ``source``, a module of ``package``, imports.

    Relative imports are resolved; ``from .. import lab`` counts as
    ``mailcourse.lab``: each imported name is listed as a module too, as it may be one.
    """
    parts = package.split(".")
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = parts[:len(parts) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found += [(node.lineno, module)] + [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


def narrow_id(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def device_layer_imports(path: Path) -> list[tuple[int, str]]:
    package = ".".join(["mailcourse", *path.relative_to(PACKAGE).parent.parts])
    return [(line, name) for line, name in absolute_imports(path.read_text(), package)
            if any(name == layer or name.startswith(layer + ".") for layer in DEVICE_LAYER)]


def device_class_names(source: str) -> list[tuple[int, str]]:
    return [(source.count("\n", 0, m.start()) + 1, m.group()) for m in DEVICE_CLASSES.finditer(source)]


@pytest.mark.parametrize("path", NARROW, ids=narrow_id)
def test_server_module_imports_nothing_from_the_device_layer(path):
    assert device_layer_imports(path) == [], f"{narrow_id(path)} reaches up into the device layer"


@pytest.mark.parametrize("path", NARROW, ids=narrow_id)
def test_server_module_does_not_name_the_device_classes(path):
    """Not as a type, not under TYPE_CHECKING, not in a docstring or comment: the text is read."""
    assert device_class_names(path.read_text()) == [], f"{narrow_id(path)} names a class of the device layer"


def test_the_layer_checker_sees_relative_and_hidden_imports():
    sample = ("from . import POP3\nfrom ..store import MailStore\nfrom .. import queue\n"
              "if TYPE_CHECKING:\n    from ..mailserver import MailServer\n"
              "def f():\n    import mailcourse.clients.smtp\n")
    names = {name for _, name in absolute_imports(sample, "mailcourse.servers")}
    assert {"mailcourse.servers.POP3", "mailcourse.store", "mailcourse.queue", "mailcourse.mailserver",
            "mailcourse.clients.smtp"} <= names
    assert device_class_names(sample) == [(5, "MailServer")]
    assert device_class_names("# the lab's loop; LabSMTP; a Labrador\n") == []
