"""Driving JupyterLab from playwright: open a notebook, run every cell, wait until all have run."""
from __future__ import annotations

KERNEL_STATUS = "window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status"

# True once every non-empty code cell of the open notebook has an execution count and its
# kernel is idle. Read from the notebook *model*: JupyterLab 4 renders only the cells near the
# viewport, so the page's prompts never all show a number on a long notebook.
ALL_CELLS_RAN = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.model.cells;
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type === 'code' && cell.sharedModel.getSource().trim() && !cell.executionCount) return false;
    }
    return panel.sessionContext.session.kernel.status === 'idle';
}"""


# For every code cell: its tags, the names of the errors in its outputs and anything it wrote to stderr.
CELL_ERRORS = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    const found = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        const errors = [];
        for (let j = 0; j < cell.outputs.length; j++) {
            const output = cell.outputs.get(j).toJSON();
            if (output.output_type === 'error') errors.push(output.ename);
            if (output.output_type === 'stream' && output.name === 'stderr') errors.push('stderr: ' + output.text);
        }
        found.push({index: i, tags: cell.getMetadata('tags') || [], errors});
    }
    return found;
}"""


def start_all_cells(page, url: str, name: str) -> None:
    """Open a notebook, clear the committed outputs and press "Run All"; return at once."""
    page.goto(f"{url}/lab/tree/{name}?reset", wait_until="domcontentloaded")
    page.wait_for_function(f"{KERNEL_STATUS} === 'idle'", timeout=90_000)
    # Cleared first, so that an execution count on the page can only come from this run.
    page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_all_cells(page) -> None:
    """Wait until every cell of the notebook `start_all_cells` opened on ``page`` has run."""
    page.wait_for_function(ALL_CELLS_RAN, timeout=180_000)


def run_all_cells(page, url: str, name: str) -> None:
    """Open a notebook, clear the committed outputs, run every cell, wait until all have run."""
    start_all_cells(page, url, name)
    wait_all_cells(page)
