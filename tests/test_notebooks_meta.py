"""The committed notebooks are in shape: navigation, outputs, exercises, privacy.

These tests read the .ipynb files and run nothing, so they take a moment.
nbval (see the Makefile) checks that the outputs are what the code prints;
tests/exercises/test_exercises.py checks that the exercises work.
"""
from __future__ import annotations

import importlib.util
import re
import tempfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _load_build_tool():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build_tool()
PATHS = build.lessons(NOTEBOOKS)
LESSONS = {p.name: nbformat.read(p, as_version=4) for p in PATHS}


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.get("tags", [])


def _outputs_text(cell: nbformat.NotebookNode) -> str:
    """Every text an output shows (images excluded)."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        for kind, value in output.get("data", {}).items():
            if kind.startswith("text/"):
                parts.append(value if isinstance(value, str) else "".join(value))
        parts += [output.get("evalue", "")] + output.get("traceback", [])
    return "\n".join(parts)


def test_there_are_lessons() -> None:
    numbers = [p.name.split("_", 1)[0] for p in PATHS]
    core = [n for n in numbers if len(n) == 2]
    assert core == [f"{i:02d}" for i in range(len(core))] and len(core) >= 3
    # A deep dive (05b) comes right after its core lesson (05) or the deep dive before it (05a).
    for before, after in zip(numbers, numbers[1:]):
        assert len(after) == 2 or after[:2] == before[:2], f"{after} does not follow lesson {after[:2]}"


@pytest.mark.parametrize("name", LESSONS)
def test_title_names_the_lesson_number(name: str) -> None:
    first = LESSONS[name].cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {name.split('_', 1)[0]} · ")


def test_navigation_is_up_to_date() -> None:
    fresh = build.add_navigation(PATHS)
    for path in PATHS:
        on_disk = [(c.cell_type, c.source, _tags(c)) for c in LESSONS[path.name].cells]
        rebuilt = [(c.cell_type, c.source, _tags(c)) for c in fresh[path].cells]
        assert on_disk == rebuilt, f"{path.name}: run tools/build_notebooks.py"


@pytest.mark.parametrize("name", LESSONS)
def test_navigation_sits_after_the_title_and_at_the_end(name: str) -> None:
    cells = LESSONS[name].cells
    assert _is_navigation(cells[1]) and _is_navigation(cells[-1])
    assert sum(_is_navigation(c) for c in cells) == 2


def _is_navigation(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "markdown" and build.NAV_TAG in _tags(cell)


def test_navigation_links_are_generated_from_file_names() -> None:
    titles = [("00_a.ipynb", "00 · A"), ("01_b.ipynb", "01 · B"), ("02_c.ipynb", "02 · C")]
    assert build.navigation_text(titles, 0) == "[Contents](../README.md#contents) | [01 · B →](01_b.ipynb)"
    assert build.navigation_text(titles, 1) == (
        "[← 00 · A](00_a.ipynb) | [Contents](../README.md#contents) | [02 · C →](02_c.ipynb)")
    assert build.navigation_text(titles, 2) == "[← 01 · B](01_b.ipynb) | [Contents](../README.md#contents)"


def test_adding_navigation_twice_changes_nothing() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 00 · A\n\npromise"),
                                         nbformat.v4.new_code_cell("x = 1")])
    once = [c.source for c in build.with_navigation(nb, "links").cells]
    twice = [c.source for c in build.with_navigation(nb, "links").cells]
    assert once == twice == ["# 00 · A\n\npromise", "links", "x = 1", "links"]


def test_readme_contents_are_replaced_between_the_markers_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- contents -->\nold\n<!-- /contents -->\noutro\n")
    assert build.update_readme(readme, "| new |")
    assert readme.read_text() == "intro\n<!-- contents -->\n| new |\n<!-- /contents -->\noutro\n"
    plain = tmp_path / "OTHER.md"
    plain.write_text("no markers\n")
    assert not build.update_readme(plain, "| new |") and plain.read_text() == "no markers\n"


@pytest.mark.parametrize("name", LESSONS)
def test_every_code_cell_was_executed_without_error(name: str) -> None:
    for index, cell in enumerate(LESSONS[name].cells):
        if cell.cell_type == "code":
            assert cell.execution_count is not None, f"cell {index} has no output: run tools/build_notebooks.py"
            assert not [o for o in cell.outputs if o.output_type == "error"], f"cell {index} stored an error"


@pytest.mark.parametrize("name", LESSONS)
def test_the_setup_cell_can_run_twice(name: str) -> None:
    setup = next(c for c in LESSONS[name].cells if c.cell_type == "code")
    assert "Lab.stop_all()" in setup.source and "Lab.classic(seed=" in setup.source


@pytest.mark.parametrize("name", LESSONS)
def test_each_exercise_is_followed_by_its_check(name: str) -> None:
    cells = LESSONS[name].cells
    exercises = [i for i, c in enumerate(cells) if "exercise" in _tags(c)]
    assert len(exercises) >= 2
    for i in exercises:
        assert i + 1 < len(cells) and "check" in _tags(cells[i + 1]), f"exercise cell {i} has no check after it"
    for i, cell in enumerate(cells):
        if "check" in _tags(cell):
            assert "exercise" in _tags(cells[i - 1]), f"check cell {i} follows no exercise"
            assert re.fullmatch(r"check\.\w+\([^\n]*\)", cell.source.strip()), cell.source


@pytest.mark.parametrize("name", LESSONS)
def test_solutions_are_marked_and_collapsed_only_when_alone(name: str) -> None:
    for index, cell in enumerate(LESSONS[name].cells):
        if "exercise" not in _tags(cell):
            continue
        lines = [line.strip() for line in cell.source.strip().splitlines()]
        assert "### BEGIN SOLUTION" in lines and "### END SOLUTION" in lines, f"cell {index}"
        pure = lines[0] == "### BEGIN SOLUTION" and lines[-1] == "### END SOLUTION"
        hidden = cell.metadata.get("jupyter", {}).get("source_hidden", False)
        assert hidden == pure, f"cell {index}: collapse a cell if and only if it holds nothing but the solution"


def _private_strings() -> list[str]:
    """Absolute paths of this machine that must never reach a committed output."""
    found = {str(ROOT), tempfile.gettempdir() + "/mailcourse-"}
    home = str(Path.home())
    if home not in ("/", ""):
        found.add(home + "/")
    return sorted(found)


@pytest.mark.parametrize("name", LESSONS)
def test_outputs_show_no_port_and_no_local_path(name: str) -> None:
    for index, cell in enumerate(LESSONS[name].cells):
        text = _outputs_text(cell)
        assert not re.search(r"127\.0\.0\.1:\d+|'127\.0\.0\.1', \d+", text), f"cell {index} shows a port"
        for private in _private_strings():
            assert private not in text, f"cell {index} shows a path of this machine: {private}"


def test_readme_links_for_a_class_open_the_student_edition() -> None:
    """Binder's and nbgitpuller's links (urlpath=lab/tree/...) open a lesson of student/ that exists."""
    from urllib.parse import unquote

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"urlpath=lab/tree/([^\s&`)]+)", unquote(readme))
    assert len(targets) >= 2, "README should give a Binder and an nbgitpuller link"
    for target in targets:
        path = target.removeprefix("mailcourse/")  # nbgitpuller clones into a folder named after the repository
        assert path.startswith("student/") and (ROOT / path).is_file(), target
    for link in re.findall(r"\]\(((?:student|notebooks)/[^)]+\.ipynb)\)", readme):
        assert (ROOT / link).is_file(), link


def test_make_lab_opens_the_student_edition_and_make_instructor_the_other() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipes = dict(re.findall(r"^(\w+):.*\n\t(.*jupyter lab.*)$", makefile, re.M))
    assert recipes["lab"].endswith("student/00_start_here.ipynb")
    assert recipes["instructor"].endswith("notebooks/00_start_here.ipynb")
