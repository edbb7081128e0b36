"""The exercise machinery: the checks, the student versions, and the inverted test.

Three layers, quickest first:

1. `mailcourse.cli.student` on small made-up notebooks: solutions become the
   nbgrader stub, hidden tests vanish, outputs that give an answer away go.
2. Each check of `mailcourse.exercises` against a live lab: it fails before
   the task is done, explains in words, and passes once it is done.
3. The inverted test (the idea of ``nbgrader validate --invert``): the
   committed student edition of every lesson runs with every check cell
   failing and every other cell working (the lessons at once, each in its own
   kernel); the committed instructor edition shows every check passing.
"""
from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import nbformat
import pytest

from mailcourse import Lab
from mailcourse.exercises import ExerciseError
from mailcourse.cli.student import STUDENT, lessons, strip_regions, student_notebook, write_student_notebooks

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"


# -- 1. student versions ---------------------------------------------------------------


def test_a_solution_region_becomes_the_stub_with_its_indentation() -> None:
    source = "def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\nprint('kept')"
    assert strip_regions(source) == (
        "def answer():\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint('kept')")


def test_hidden_tests_are_dropped_and_visible_lines_kept() -> None:
    source = "check.x(lab)\n### BEGIN HIDDEN TESTS\nassert secret\n### END HIDDEN TESTS\ndone()"
    assert strip_regions(source) == "check.x(lab)\ndone()"


@pytest.mark.parametrize("source", [
    "### BEGIN SOLUTION\nx = 1",  # never closed: would publish the solution
    "x = 1\n### END SOLUTION",
    "### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION",
])
def test_broken_markers_are_refused(source: str) -> None:
    with pytest.raises(ValueError):
        strip_regions(source)


def test_student_notebook_clears_the_answers_outputs_and_shows_the_stub() -> None:
    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nsecret = 1\n### END SOLUTION", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", text="hi\n")])
    cell.metadata.update(tags=["exercise"], jupyter={"source_hidden": True})
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_markdown_cell("# Title")])
    shown = nbformat.v4.new_code_cell("print('a transcript')", execution_count=4,
                                      outputs=[nbformat.v4.new_output("stream", text="a transcript\n")])
    nb.cells.append(shown)
    student = student_notebook(nb)
    out = student.cells[0]
    assert out.source == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert out.outputs == [] and out.execution_count is None
    # A cell that gives nothing away keeps its output, to be read before running.
    # A kept output keeps its count: nbval compares only the outputs of a cell that was run.
    assert student.cells[2].outputs[0].text == "a transcript\n" and student.cells[2].execution_count == 4
    assert "jupyter" not in out.metadata and out.metadata["tags"] == ["exercise", "raises-exception"]
    assert nb.cells[0].source.startswith("### BEGIN SOLUTION")  # the original is untouched
    nbformat.validate(student)


@pytest.mark.parametrize("tag", ["check", "quiz", "solution-output"])
def test_a_cell_whose_output_gives_an_answer_away_is_cleared(tag: str) -> None:
    cell = nbformat.v4.new_code_cell("check.quiz('02')", execution_count=7,
                                     outputs=[nbformat.v4.new_output("stream", text="the answer\n")])
    cell.metadata.update(tags=[tag], nbgrader={"grade": True, "checksum": "abc"})
    out = student_notebook(nbformat.v4.new_notebook(cells=[cell])).cells[0]
    assert out.outputs == [] and "nbgrader" not in out.metadata and out.source == "check.quiz('02')"


def test_a_lesson_gone_from_the_source_leaves_the_student_edition(tmp_path: Path) -> None:
    (tmp_path / "05_split_away.ipynb").write_text("{}")
    written = write_student_notebooks(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == sorted(p.name for p in written)


def test_write_student_notebooks_writes_every_lesson(tmp_path: Path) -> None:
    written = write_student_notebooks(tmp_path)
    assert [p.name for p in written] == [p.name for p in lessons(NOTEBOOKS)]
    for path in written:
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "YOUR CODE HERE" in text


# -- the set-up cell of every lesson --------------------------------------------------------


def test_stop_all_frees_the_labs_of_earlier_runs() -> None:
    """What a lesson's set-up cell relies on to be safe to run twice."""
    first, second = Lab.classic(seed=1), Lab.classic(seed=2)
    assert Lab.stop_all() >= 2
    assert "stopped" in repr(first) and "stopped" in repr(second)
    assert Lab.stop_all() == 0


# -- 2. the checks, against a live lab ---------------------------------------------------------


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=5, retry_intervals=(1,)) as lab:
        yield lab


def _fails(call: Callable[..., None], *args: object) -> str:
    with pytest.raises(ExerciseError) as failure:
        call(*args)
    return str(failure.value)


# The checks of lessons 00 and 01 are tested in test_lesson00.py and test_lesson01.py.


# Lesson 02's checks are tested in test_lesson02.py.


def test_a_failed_check_shows_one_plain_line_in_ipython() -> None:
    lines = ExerciseError("jane's inbox is empty.")._render_traceback_()
    assert len(lines) == 1 and lines[0].endswith("Not yet:\x1b[0m jane's inbox is empty.")


# -- 3. the inverted test: every lesson of the student edition ----------------------------------


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.get("tags", [])


def _errors(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


async def _run_all(jobs: list[tuple[Path, Path]]) -> list[nbformat.NotebookNode]:
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    async def run(path: Path, cwd: Path) -> nbformat.NotebookNode:
        # Sixteen kernels start at once, and their labs bind ephemeral ports. jupyter_client
        # chooses a kernel's TCP ports by binding and releasing them, so now and then another
        # kernel's mail server takes one in between ("Address already in use") and the new
        # kernel dies before it runs a cell. Such a start is tried again; errors in cells are
        # kept (allow_errors) and never retried.
        for attempt in range(3):
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                                    record_timing=False, resources={"metadata": {"path": str(cwd)}})
            try:
                await client.async_execute()
                return nb
            except (DeadKernelError, RuntimeError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    return list(await asyncio.gather(*(run(path, cwd) for path, cwd in jobs)))


def _wanted(name: str) -> bool:
    """Whether to run this lesson: all of them, or those in $MAILCOURSE_LESSONS ("02,06b") while one works on them."""
    chosen = os.environ.get("MAILCOURSE_LESSONS", "")
    return not chosen or name.split("_", 1)[0] in chosen.split(",")


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, nbformat.NotebookNode]:
    """Every lesson of the committed student edition, run in a copy of its folder.

    (The instructor edition is run by nbval under `make test`, which compares
    every output, each check's "✔ Correct" included, with the committed one.)
    """
    student = tmp_path_factory.mktemp("course") / "student"
    shutil.copytree(STUDENT, student, ignore=shutil.ignore_patterns(".ipynb_checkpoints", ".built"))
    names = [p.name for p in lessons(NOTEBOOKS) if _wanted(p.name)]
    results = asyncio.run(_run_all([(student / name, student) for name in names]))
    return dict(zip(names, results))


LESSONS = [p.name for p in lessons(NOTEBOOKS) if _wanted(p.name)]
# The first test to ask for `executed` waits while every lesson runs twice (a minute on two
# cores; each cell may take nbclient's 120 s): more than the default timeout in pyproject.toml.
RUNS_EVERY_LESSON = pytest.mark.timeout(900)


@RUNS_EVERY_LESSON
@pytest.mark.parametrize("name", LESSONS)
def test_student_version_fails_every_check_and_nothing_else(
        executed: dict[str, nbformat.NotebookNode], name: str) -> None:
    nb = executed[name]
    checks = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors, where = _errors(cell), f"{name}, cell {index}:\n{cell.source}"
        if "check" in _tags(cell):
            checks += 1
            assert [e.ename for e in errors] == ["ExerciseError"], f"this check passes without a solution: {where}"
            assert len(errors[0].traceback) == 1, f"a failed check should show one plain line: {where}"
        elif "exercise" in _tags(cell):
            if "raise NotImplementedError()" in cell.source:
                assert [e.ename for e in errors] == ["NotImplementedError"], where
        else:
            assert not errors, f"a lesson cell fails when the exercises are not done: {where}\n{errors}"
    assert checks >= 2


@pytest.mark.parametrize("name", LESSONS)
def test_instructor_edition_shows_each_check_passing_once(name: str) -> None:
    """The committed instructor edition (what nbval compares with): no error, and each check's one line."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for index, cell in enumerate(nb.cells):
        assert not _errors(cell), f"{name}, cell {index} fails:\n{cell.source}\n{_errors(cell)}"
        if "check" in _tags(cell):
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert printed.startswith("✔ Correct: ") and printed.count("\n") == 1, (name, index, printed)