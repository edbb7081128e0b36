"""Every lesson runs in JupyterLab in a real browser, as a student would run it.

Opens each notebook, runs all cells, waits until every cell has run, and
checks that the page shows no error output. Screenshots go to
test-output/browser/ for a person to look at.
"""
from __future__ import annotations

from pathlib import Path

import pytest


pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

KERNEL_STATUS = "window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status"


def run_all_cells(page, url: str, name: str) -> None:
    page.goto(f"{url}/lab/tree/{name}?reset", wait_until="domcontentloaded")
    page.wait_for_function(f"{KERNEL_STATUS} === 'idle'", timeout=90_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # Every code cell's prompt shows a number once it has run ("[ ]:" before, "[*]:" while running).
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=180_000,
    )
    page.wait_for_function(f"{KERNEL_STATUS} === 'idle'", timeout=60_000)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(jupyterlab: str, page, name: str) -> None:
    run_all_cells(page, jupyterlab, name)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{Path(name).stem}.png"), full_page=False)
    assert tracebacks.count() == 0, tracebacks.first.inner_text()
    assert errors.count() == 0, errors.first.inner_text()
    # The figures are there: at least one image output per lesson.
    assert page.locator(".jp-OutputArea-output img").count() >= 1
