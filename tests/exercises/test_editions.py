"""The two editions: notebooks/ (the instructor's) and student/ (generated, committed).

A hub or Binder gives students the repository's files, so the student edition
in student/ must be exactly what `mailcourse.cli.student` makes of
notebooks/ today, and must give nothing away: no solution, no hidden test,
no quiz answer, no output that shows what a solution did.
"""
from __future__ import annotations

import ast
import io
import json
import re
import tokenize

import nbformat
import pytest

from mailcourse.cli.student import (ANSWER_TAGS, BEGIN_SOLUTION, END_SOLUTION, NOTEBOOKS, STUDENT, lessons,
                                    student_notebook)
from mailcourse.quizzes import banks

INSTRUCTOR = {p.name: nbformat.read(p, as_version=4) for p in lessons(NOTEBOOKS)}


def _student_text(name: str) -> str:
    return (STUDENT / name).read_text(encoding="utf-8")


def test_the_student_edition_has_exactly_the_lessons() -> None:
    assert [p.name for p in lessons(STUDENT)] == list(INSTRUCTOR)


@pytest.mark.parametrize("name", INSTRUCTOR)
def test_the_committed_student_edition_is_in_step_with_the_lessons(name: str) -> None:
    fresh = nbformat.writes(student_notebook(INSTRUCTOR[name]))
    assert _student_text(name) == fresh + "\n" or _student_text(name) == fresh, (
        f"student/{name} is out of date: run `make student` and commit student/")


def _solution_regions(source: str) -> list[str]:
    return re.findall(rf"{re.escape(BEGIN_SOLUTION)}\n(.*?)\n[ \t]*{re.escape(END_SOLUTION)}", source, re.S)


def _literals(code: str) -> set[str]:
    """The string literals of a piece of code (six characters or more)."""
    found = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.STRING:
                try:
                    value = ast.literal_eval(token.string)
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, str) and len(value.strip()) >= 6:
                    found.add(value.strip())
    except (tokenize.TokenError, IndentationError):
        pass
    return found


def _giveaways(nb: nbformat.NotebookNode) -> set[str]:
    """What only a solution contains: its literals and long lines that appear nowhere else in the lesson."""
    solutions, elsewhere = [], []
    for cell in nb.cells:
        regions = _solution_regions(cell.source)
        solutions += regions
        rest = cell.source
        for region in regions:
            rest = rest.replace(region, "")
        elsewhere.append(rest)
    other = "\n".join(elsewhere)
    found = set()
    for region in solutions:
        found |= {s for s in _literals(region) if s not in other}
        found |= {line.strip() for line in region.splitlines() if len(line.strip()) >= 24 and line.strip() not in other}
    return found


@pytest.mark.parametrize("name", INSTRUCTOR)
def test_the_student_edition_gives_no_solution_away(name: str) -> None:
    text = _student_text(name)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "nbgrader"):
        assert marker not in text, f"student/{name} holds {marker!r}"
    student = json.loads(text)
    for literal in sorted(_giveaways(INSTRUCTOR[name])):
        assert json.dumps(literal)[1:-1] not in text and literal not in text, (
            f"student/{name} shows a piece of a solution: {literal!r} (tag the cell whose output "
            "shows it 'solution-output')")
    for cell in student["cells"]:
        if set(cell["metadata"].get("tags", [])) & ANSWER_TAGS and cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"student/{name}: an exercise, check or quiz cell kept its output"


@pytest.mark.parametrize("name", INSTRUCTOR)
def test_the_student_edition_holds_no_quiz_answer(name: str) -> None:
    text = _student_text(name)
    lesson = name.split("_", 1)[0]
    bank = {b.lesson: b for b in banks()}[lesson]
    for item in bank.items:
        if item.explain and len(item.explain) > 30:
            assert item.explain not in text, f"student/{name} shows the explanation of {item.prompt!r}"


@pytest.mark.parametrize("name", INSTRUCTOR)
def test_the_student_edition_keeps_what_students_read_before_running(name: str) -> None:
    """Figures and transcripts stay: cells that give nothing away keep their outputs."""
    instructor = INSTRUCTOR[name]
    student = nbformat.reads(_student_text(name), as_version=4)
    kept = [i for i, cell in enumerate(instructor.cells)
            if cell.cell_type == "code" and cell.outputs and not set(cell.metadata.get("tags", [])) & ANSWER_TAGS]
    assert kept, f"{name} shows no output at all"
    for index in kept:
        assert len(student.cells[index].outputs) == len(instructor.cells[index].outputs), (name, index)
