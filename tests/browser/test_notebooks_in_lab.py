"""Every lesson runs in JupyterLab in a real browser, as a student would run it.

Opens each notebook, runs all cells, waits until every cell has run, and
checks that the page shows no error output. Screenshots go to
test-output/browser/ for a person to look at.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lab_page import run_all_cells


pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(jupyterlab: str, page, name: str) -> None:
    run_all_cells(page, jupyterlab, name)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    stem = Path(name).stem
    page.screenshot(path=str(OUTPUT / f"{stem}.png"))
    # One more screenshot per figure, scrolled into view, for a person to look at.
    figures = page.locator(".jp-OutputArea-output img")
    for i in range(figures.count()):
        figures.nth(i).scroll_into_view_if_needed()
        page.wait_for_timeout(500)  # the notebook renders cells as they scroll into view
        page.screenshot(path=str(OUTPUT / f"{stem}-figure{i + 1}.png"))
    assert tracebacks.count() == 0, tracebacks.first.inner_text()
    assert errors.count() == 0, errors.first.inner_text()
    # The figures are there: at least one image output per lesson.
    assert page.locator(".jp-OutputArea-output img").count() >= 1
