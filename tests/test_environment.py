"""environment.yml (conda, Binder, JupyterHub) and pyproject.toml name the same packages.

conda cannot be reached from the machines this course is built on, so instead
of building the conda environment, this test compares the two lists: a
package added to one file and forgotten in the other fails here.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name_and_spec(requirement: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$", requirement)
    assert m, requirement
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_name_and_spec(r) for r in project["dependencies"])
    listed = {}
    section = None
    for line in (ROOT / "environment.yml").read_text().splitlines():
        top = re.match(r"^([A-Za-z_]+):", line)
        if top:
            section = top.group(1)
            continue
        m = re.match(r"^\s*-\s+([^#\s][^#]*)$", line)  # conda items and the pip: sub-list alike
        if section == "dependencies" and m and not m.group(1).strip().endswith(":"):
            name, spec = _name_and_spec(m.group(1))
            if name not in ("python", "pip"):
                listed[name] = spec
    assert listed == wanted


def test_environment_python_matches_requires_python() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"python{project['requires-python']}" in (ROOT / "environment.yml").read_text()
