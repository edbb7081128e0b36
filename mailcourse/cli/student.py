"""The student edition of the lessons: the same notebooks with every answer taken out.

The notebooks in ``notebooks/`` are the instructor edition: every exercise
cell (tagged ``exercise``) holds its solution between nbgrader's markers::

    ### BEGIN SOLUTION
    joe.compose("jane@somewhereelse.com", ...)
    ### END SOLUTION

`student_notebook` replaces each such region with nbgrader's stub, keeping
its indentation::

    # YOUR CODE HERE
    raise NotImplementedError()

and drops every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``
region. The other cells keep their outputs, so figures and transcripts can be
read before anything runs, except where an output would give an answer away:

* ``exercise`` cells (the solution's output) and ``check`` cells (the
  solution's "✔ Correct"),
* ``quiz`` cells (the quiz's fallback for viewers without a kernel holds the
  answers, folded), and
* cells tagged ``solution-output``: a later cell whose output shows what the
  solution did (a transcript of the solution's own traffic, say).

nbgrader's metadata goes too, and so does the execution count of every cell
left without output. A cell that keeps its output keeps its count: nbval
compares the committed output of a cell that was run, so `make test` checks
that the student edition shows only what a student's own run prints (a
cell whose output depends on the student's exercise is tagged
``solution-output`` and so starts empty). Exercise cells whose
solution was collapsed are shown, so the student sees where to write.
Exercise and check cells get JupyterLab's ``raises-exception`` tag: their
error (the stub's NotImplementedError, a check's "Not yet") is expected, so
"Run All" goes on to the end of the lesson instead of stopping at the first
exercise, and the student can read every demonstration before trying. The
result is what nbgrader's "generate assignment" step would give, without
nbgrader.

The student edition is committed in ``student/``, because a hub or Binder
hands students the repository's files. `write_student_notebooks` writes it
(``make student``, and ``make lab`` when a lesson changed); a test keeps it
in step with ``notebooks/``. From a terminal:
``python -m mailcourse student-notebooks DIR``.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
END_HIDDEN_TESTS = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = ("YOUR ANSWER HERE",)

ROOT = Path(__file__).resolve().parents[2]  # mailcourse/cli/ -> the repository
NOTEBOOKS = ROOT / "notebooks"  # the instructor edition
STUDENT = ROOT / "student"  # the student edition, generated from NOTEBOOKS
# Cells whose output would give an answer away (see the module's docstring).
ANSWER_TAGS = frozenset({"exercise", "check", "quiz", "solution-output"})
RAISES = "raises-exception"  # JupyterLab (and nbval): this cell's error is expected; run on past it
_LESSON = re.compile(r"^\d\d[a-z]?_.*\.ipynb$")  # 05_... then its deep dive 05b_...


def strip_regions(source: str, stub: tuple[str, ...] = CODE_STUB) -> str:
    """Replace each solution region of ``source`` by ``stub`` and drop hidden tests.

    A marker must sit on a line of its own; a region left open raises ValueError
    rather than silently publishing a solution.
    """
    out: list[str] = []
    inside: str | None = None  # the marker of the region we are in
    for line in source.splitlines():
        marker = line.strip()
        if inside is None:
            if marker == BEGIN_SOLUTION:
                indent = line[: len(line) - len(line.lstrip())]
                out += [indent + s for s in stub]
                inside = END_SOLUTION
            elif marker == BEGIN_HIDDEN_TESTS:
                inside = END_HIDDEN_TESTS
            elif marker in (END_SOLUTION, END_HIDDEN_TESTS):
                raise ValueError(f"{marker!r} without its BEGIN line")
            else:
                out.append(line)
        elif marker == inside:
            inside = None
        elif marker in (BEGIN_SOLUTION, BEGIN_HIDDEN_TESTS):
            raise ValueError(f"{marker!r} inside another region")
    if inside is not None:
        raise ValueError(f"a region is never closed: {inside!r} is missing")
    return "\n".join(out)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solutions, hidden tests, or an output that gives an answer away."""
    nb = nbformat.from_dict(nb)  # a deep copy
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        cell.metadata.pop("nbgrader", None)  # nbgrader keeps checksums and points here
        if cell.cell_type == "code":
            cell.source = strip_regions(cell.source, CODE_STUB)
            if tags & ANSWER_TAGS:
                cell.outputs = []
            if not cell.outputs:
                cell.execution_count = None  # nbval then runs the cell and compares nothing
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown":
            cell.source = strip_regions(cell.source, MARKDOWN_STUB)
        if tags & {"exercise", "check"} and RAISES not in tags:
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), RAISES]
        if "exercise" in tags:
            jupyter = cell.metadata.get("jupyter", {})
            jupyter.pop("source_hidden", None)  # the stub is where the student writes
            if not jupyter:
                cell.metadata.pop("jupyter", None)
    return nb


def make_student_version(src_nb_path: str | Path, dst_path: str | Path) -> Path:
    """Write the student version of the notebook ``src_nb_path`` to ``dst_path``."""
    nb = nbformat.read(src_nb_path, as_version=4)
    dst = Path(dst_path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student_notebook(nb), dst)
    return dst


def lessons(src_dir: str | Path = NOTEBOOKS) -> list[Path]:
    """The course's notebooks (``NN_name.ipynb``), in teaching order."""
    return sorted(p for p in Path(src_dir).iterdir() if _LESSON.match(p.name))


def write_student_notebooks(dst_dir: str | Path = STUDENT, src_dir: str | Path = NOTEBOOKS) -> list[Path]:
    """Write the student version of every lesson into ``dst_dir``; returns the paths.

    A lesson in ``dst_dir`` that is no longer in ``src_dir`` (renamed, split)
    is removed, so the edition never offers a lesson that does not exist.
    """
    found = lessons(src_dir)
    if not found:
        raise FileNotFoundError(f"no lessons (NN_name.ipynb) in {src_dir}")
    names = {p.name for p in found}
    if Path(dst_dir).is_dir():
        for stale in lessons(dst_dir):
            if stale.name not in names:
                stale.unlink()
    return [make_student_version(p, Path(dst_dir) / p.name) for p in found]
