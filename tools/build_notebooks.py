"""Build the course's notebooks: navigation, fresh outputs, the README's contents.

    python tools/build_notebooks.py              # everything
    python tools/build_notebooks.py --no-execute # navigation and contents only (quick)
    python tools/build_notebooks.py notebooks/01_email_model.ipynb   # run just one lesson

Three steps, each safe to repeat:

1. Navigation. Every lesson gets a "← previous | contents | next →" cell
   right after its title and another at its very end, both tagged
   ``navigation`` and generated from the file names (``NN_name.ipynb``, in
   order) and the lessons' titles. Old navigation cells are replaced, never
   added to. (The Python Data Science Handbook's ``tools/add_navigation.py``
   does the same.)
2. Execution. Each notebook runs top to bottom in a fresh ``python3`` kernel,
   with notebooks/ as its working folder, and is saved with its outputs, so
   the committed outputs are what the code really prints. A cell that fails
   stops the build. nbval then checks that a second run prints the same.
3. Contents. If README.md has the markers ``<!-- contents -->`` and
   ``<!-- /contents -->``, the list of lessons between them is rewritten.
   Nothing else in the README is touched.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
NAV_TAG = "navigation"
CONTENTS_BEGIN, CONTENTS_END = "<!-- contents -->", "<!-- /contents -->"
_LESSON = re.compile(r"^\d\d[a-z]?_.*\.ipynb$")  # 05_... then its deep dive 05b_...


def lessons(folder: Path = NOTEBOOKS) -> list[Path]:
    """The lessons, ``NN_name.ipynb``, in teaching order."""
    return sorted(p for p in folder.iterdir() if _LESSON.match(p.name))


def title_and_promise(nb: nbformat.NotebookNode, path: Path) -> tuple[str, str]:
    """The lesson's title (its ``# `` heading) and the one-line promise under it."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
            return lines[0][2:].strip(), (lines[1] if len(lines) > 1 else "")
    return path.stem.replace("_", " "), ""


# -- 1. navigation -------------------------------------------------------------------


def navigation_text(titles: list[tuple[str, str]], index: int) -> str:
    """The links of lesson ``index``: ``titles`` holds (file name, title) of every lesson."""
    links = []
    if index > 0:
        name, title = titles[index - 1]
        links.append(f"[← {title}]({name})")
    links.append("[Contents](../README.md#contents)")
    if index + 1 < len(titles):
        name, title = titles[index + 1]
        links.append(f"[{title} →]({name})")
    return " | ".join(links)


def with_navigation(nb: nbformat.NotebookNode, text: str) -> nbformat.NotebookNode:
    """``nb`` with its navigation cells (re)written: one after the title, one at the end."""
    cells = [c for c in nb.cells if NAV_TAG not in c.metadata.get("tags", [])]

    def nav(cell_id: str) -> nbformat.NotebookNode:
        cell = nbformat.v4.new_markdown_cell(text, metadata={"tags": [NAV_TAG]})
        cell.id = cell_id  # fixed ids keep the diff of a rebuild empty
        return cell

    after_title = 1 if cells and cells[0].cell_type == "markdown" and cells[0].source.startswith("# ") else 0
    nb.cells = cells[:after_title] + [nav("navigation-top")] + cells[after_title:] + [nav("navigation-bottom")]
    return nb


def add_navigation(paths: list[Path]) -> dict[Path, nbformat.NotebookNode]:
    """Read every lesson and return it with fresh navigation (nothing is written)."""
    notebooks = {p: nbformat.read(p, as_version=4) for p in paths}
    titles = [(p.name, title_and_promise(nb, p)[0]) for p, nb in notebooks.items()]
    return {p: with_navigation(nb, navigation_text(titles, i)) for i, (p, nb) in enumerate(notebooks.items())}


# -- 2. execution ----------------------------------------------------------------------


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 120) -> nbformat.NotebookNode:
    """Run every cell in a fresh python3 kernel whose working folder is ``cwd``."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return without_widget_state(nb)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_HINT = "(An interactive widget: run this cell to use it. The cell below shows what it showed.)"


def without_widget_state(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Replace saved widget views by a one-line hint, and drop the saved widget state.

    A saved view needs the saved state of every widget model (tens of
    kilobytes, with new random ids on every run: a huge diff per build), and
    it is not live until the cell runs again anyway. A widget that carries
    its own fallback for viewers without a kernel (the quiz: its questions
    as HTML, each answer folded) keeps that fallback; any other widget cell
    is followed by a compared cell with its static rendering, which is what
    a reader on GitHub or nbviewer sees.
    """
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                fallback = {kind: value for kind, value in data.items() if kind != WIDGET_VIEW}
                output["data"] = fallback if "text/html" in fallback else {"text/plain": WIDGET_HINT}
    return nb


# -- 3. the README's contents ----------------------------------------------------------------


def contents_markdown(paths: list[Path], notebooks: dict[Path, nbformat.NotebookNode]) -> str:
    """A table: number, title linked to the student edition, the one-line promise, the instructor edition."""
    lines = ["| # | Lesson (student edition) | What you do | With solutions |", "|---|---|---|---|"]
    for p in paths:
        title, promise = title_and_promise(notebooks[p], p)
        number, _, name = title.partition(" · ")
        if not name:
            number, name = p.name.split("_", 1)[0], title
        lines.append(f"| {number} | [{name}](student/{p.name}) | {promise} | [{number}]({p.relative_to(ROOT).as_posix()}) |")
    return "\n".join(lines)


def update_readme(readme: Path, contents: str) -> bool:
    """Rewrite what lies between the contents markers; False if the README has none."""
    if not readme.exists():
        return False
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(CONTENTS_BEGIN), text.find(CONTENTS_END)
    if start < 0 or end < start:
        return False
    new = text[: start + len(CONTENTS_BEGIN)] + "\n" + contents + "\n" + text[end:]
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="lessons to execute (default: all); navigation is always rebuilt for all")
    parser.add_argument("--no-execute", action="store_true", help="do not run the notebooks")
    args = parser.parse_args(argv)

    paths = lessons()
    notebooks = add_navigation(paths)
    chosen = {p.resolve() for p in args.notebooks} or set(paths)
    for path, nb in notebooks.items():
        if not args.no_execute and path in chosen:
            print(f"running {path.relative_to(ROOT)} ...", flush=True)
            execute(nb, NOTEBOOKS)
        nbformat.validate(nb)
        nbformat.write(nb, path)
    if update_readme(README, contents_markdown(paths, notebooks)):
        print("README.md: contents table written")
    else:
        print(f"README.md: no {CONTENTS_BEGIN} ... {CONTENTS_END} markers; contents not written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
