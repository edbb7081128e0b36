"""Every lesson runs in JupyterLab in a real browser, in both editions, as it is used in class.

Each notebook is opened, its outputs cleared, "Run All" pressed, and the test
waits until every cell has run. The instructor edition (notebooks/) must run
without one error. The student edition (student/) must run to its end as well:
its exercise cells raise (the stub) and its check cells say "Not yet", and
nothing else fails; their ``raises-exception`` tag lets "Run All" go on past
them. JupyterLab serves a copy of both editions, so that its autosave can
never write into the committed notebooks. Screenshots go to test-output/browser/
(``instructor-NN_....png``, ``student-NN_....png`` and one per figure) for a
person to look at.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lab_page import CELL_ERRORS, KERNEL_STATUS, run_all_cells

from mailcourse.cli.student import NOTEBOOKS, STUDENT, lessons

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
EDITIONS = {"instructor": NOTEBOOKS, "student": STUDENT}
RUNS = [(edition, p.name) for edition, folder in EDITIONS.items() for p in lessons(folder)]


@pytest.mark.parametrize(("edition", "name"), RUNS, ids=[f"{e}-{n[:3].rstrip('_')}" for e, n in RUNS])
def test_lesson_runs_in_jupyterlab(course_lab: str, page, edition: str, name: str) -> None:
    run_all_cells(page, course_lab, f"{EDITIONS[edition].name}/{name}")
    stem = f"{edition}-{Path(name).stem}"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{stem}.png"))
    figures = page.locator(".jp-OutputArea-output img")
    for i in range(figures.count() if edition == "instructor" else 0):  # the same figures in both
        figures.nth(i).scroll_into_view_if_needed()
        page.wait_for_timeout(300)  # the notebook renders cells as they scroll into view
        page.screenshot(path=str(OUTPUT / f"{stem}-figure{i + 1}.png"))
    # The quiz, and in the student edition the first "Not yet", for a person to look at.
    quiz = page.locator(".mc-quiz")
    if quiz.count():
        quiz.first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
        page.screenshot(path=str(OUTPUT / f"{stem}-quiz.png"))
    cells = page.evaluate(CELL_ERRORS)
    failed = {c["index"]: c["errors"] for c in cells if c["errors"]}
    if edition == "instructor":
        assert failed == {}, f"{name}: cells fail in the instructor edition: {failed}"
    else:
        expected = {c["index"]: ["ExerciseError"] for c in cells if "check" in c["tags"]}
        for c in cells:
            if "exercise" in c["tags"] and c["errors"]:
                expected[c["index"]] = ["NotImplementedError"]
        assert failed == expected, f"{name}: the student edition fails where it should not, or a check passes"
        first = page.locator(".jp-OutputArea-output", has_text="Not yet:").first
        first.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(300)
        page.screenshot(path=str(OUTPUT / f"{stem}-not-yet.png"))
        assert len(expected) >= 2
    assert figures.count() >= 1  # every lesson draws at least one figure


# A figure's <img> from the committed outputs, once the browser has decoded its SVG.
FIGURES_DRAWN = """() => [...document.querySelectorAll('.jp-OutputArea-output img')]
    .filter(img => img.src.startsWith('data:image/svg+xml') && img.complete && img.naturalWidth > 0).length"""


@pytest.mark.parametrize("edition", EDITIONS)
def test_committed_figures_show_in_an_untrusted_notebook(course_lab: str, page, edition: str) -> None:
    """A lesson as cloned, not run and not trusted, shows its figures (SVG inside an <img>).

    JupyterLab renders SVG output only in a trusted notebook, and a notebook
    someone else executed is not trusted; HTML output is sanitised and shown
    always. A student opening lesson 03 before running it sees the ladder.
    """
    name = next(p.name for p in lessons(EDITIONS[edition]) if p.name.startswith("03_"))
    page.goto(f"{course_lab}/lab/tree/{EDITIONS[edition].name}/{name}?reset", wait_until="domcontentloaded")
    page.wait_for_function(f"{KERNEL_STATUS} === 'idle'", timeout=90_000)
    trusted = page.evaluate("window.jupyterapp.shell.currentWidget.content.model.cells.get(0).trusted")
    assert trusted is False  # as a student finds it
    figure = page.locator(".jp-OutputArea-output img[src^='data:image/svg+xml']").first
    figure.scroll_into_view_if_needed(timeout=30_000)
    page.wait_for_function(f"({FIGURES_DRAWN})() >= 1", timeout=30_000)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{edition}-{Path(name).stem}-as-committed.png"))
    box = figure.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100  # drawn at its size, not a broken-image icon
