"""The shape of a lesson a class can take in one period (issue 11).

* at most 65 cells, about forty minutes;
* at least two exercises in which the student speaks a protocol, checked by a
  check that reads the wire (`mailcourse.exercises.common.reads_the_wire`);
* every exercise cell gives a beginner a scaffold, not only nbgrader's stub.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

import mailcourse.exercises as check
from mailcourse.cli.student import strip_regions

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb"))
LESSONS = {p.name: nbformat.read(p, as_version=4) for p in PATHS}
MAX_CELLS = 65


@pytest.mark.parametrize("name", LESSONS)
def test_a_lesson_fits_a_period(name: str) -> None:
    assert len(LESSONS[name].cells) <= MAX_CELLS, f"{name} has {len(LESSONS[name].cells)} cells"


def _checks(nb: nbformat.NotebookNode) -> list[str]:
    """The check functions the lesson's check cells call, in order."""
    found = []
    for cell in nb.cells:
        if "check" in cell.metadata.get("tags", []):
            found += re.findall(r"\bcheck\.(\w+)\(", cell.source)
    return found


@pytest.mark.parametrize("name", LESSONS)
def test_a_lesson_has_two_exercises_checked_on_the_wire(name: str) -> None:
    names = _checks(LESSONS[name])
    wire = [n for n in names if getattr(getattr(check, n), "reads_the_wire", False)]
    assert len(wire) >= 2, f"{name}: checks {names}, of which only {wire} read the wire"


@pytest.mark.parametrize("name", LESSONS)
def test_every_check_cell_calls_a_check_that_exists(name: str) -> None:
    for n in _checks(LESSONS[name]):
        assert callable(getattr(check, n, None)), f"{name}: check.{n} does not exist"


@pytest.mark.parametrize("name", LESSONS)
def test_an_exercise_stub_is_more_than_raise(name: str) -> None:
    """The student edition of an exercise cell shows what to fill, not a bare NotImplementedError."""
    for cell in LESSONS[name].cells:
        if "exercise" not in cell.metadata.get("tags", []):
            continue
        stub = strip_regions(cell.source)
        scaffold = [line for line in stub.splitlines()
                    if line.strip() and line.strip() not in ("# YOUR CODE HERE", "raise NotImplementedError()")]
        assert scaffold, f"{name}: an exercise cell gives nothing but the stub:\n{cell.source}"
