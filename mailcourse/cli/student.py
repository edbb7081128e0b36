"""Student versions of the notebooks: the same lessons with the solutions taken out.

The notebooks in ``notebooks/`` are the instructor's version: every exercise
cell (tagged ``exercise``) holds its solution between nbgrader's markers::

    ### BEGIN SOLUTION
    joe.compose("jane@somewhereelse.com", ...)
    ### END SOLUTION

`make_student_version` replaces each such region with nbgrader's stub,
keeping its indentation::

    # YOUR CODE HERE
    raise NotImplementedError()

drops every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region,
clears outputs and execution counts, and shows exercise cells whose solution
was collapsed, so the student sees where to write. The result is what
nbgrader's "generate assignment" step would give, without nbgrader.

From a terminal: ``python -m mailcourse student-notebooks DIR`` (it calls
`write_student_notebooks`).
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

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"  # mailcourse/cli/ -> the repository
_LESSON = re.compile(r"^\d\d_.*\.ipynb$")


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
    """A copy of ``nb`` with solutions replaced, hidden tests dropped and outputs cleared."""
    nb = nbformat.from_dict(nb)  # a deep copy
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_regions(cell.source, CODE_STUB)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown":
            cell.source = strip_regions(cell.source, MARKDOWN_STUB)
        if "exercise" in cell.metadata.get("tags", []):
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


def write_student_notebooks(dst_dir: str | Path, src_dir: str | Path = NOTEBOOKS) -> list[Path]:
    """Write the student version of every lesson into ``dst_dir``; returns the paths."""
    found = lessons(src_dir)
    if not found:
        raise FileNotFoundError(f"no lessons (NN_name.ipynb) in {src_dir}")
    return [make_student_version(p, Path(dst_dir) / p.name) for p in found]
