"""Driving JupyterLab from playwright: open a notebook, run every cell, wait until all have run."""
from __future__ import annotations

KERNEL_STATUS = "window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status"


def run_all_cells(page, url: str, name: str) -> None:
    """Open a notebook, clear the committed outputs, run every cell, wait until all have run."""
    page.goto(f"{url}/lab/tree/{name}?reset", wait_until="domcontentloaded")
    page.wait_for_function(f"{KERNEL_STATUS} === 'idle'", timeout=90_000)
    # Cleared first, so that an execution count on the page can only come from this run.
    page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const cells = panel.content.model.cells;
            for (let i = 0; i < cells.length; i++) {
                const cell = cells.get(i);
                if (cell.type === 'code' && cell.sharedModel.getSource().trim() && !cell.executionCount) return false;
            }
            return panel.sessionContext.session.kernel.status === 'idle';
        }""",
        timeout=180_000,
    )
