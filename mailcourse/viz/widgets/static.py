"""`StaticView`: what a widget showed, in a form every notebook viewer can display.

A widget lives in a running kernel. A notebook read on GitHub or nbviewer has
no kernel, so its widget outputs show nothing (at best "Loading widget...").
Every widget of the course therefore has a ``.static()`` method that returns
a `StaticView`: plain text (what happened, in words and transcripts) and, where
a picture helps, figures as SVG. A lesson puts ``stepper.static()`` in the
cell after the one that displays the widget; that cell's output is committed
with the notebook and compared by nbval, so the text must be the same on
every run: no ports, no times, no object addresses.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from ..diagram import Diagram


class StaticView:
    """Text plus figures; ``str()`` is the text, displaying it shows the text then each figure.

    ``markdown``, when given, is what a notebook shows instead of the plain
    text (the plain text stays as its text/plain form, which nbval compares).
    """

    def __init__(self, text: str, figures: Sequence[Diagram] = (), markdown: str | None = None) -> None:
        self.text = text
        self.figures = list(figures)
        self.markdown = markdown

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _ipython_display_(self) -> None:
        # Several outputs, not one bundle: a bundle holding text and a figure is
        # shown as the figure alone, and the transcript would be hidden.
        from IPython.display import display

        bundle = {"text/plain": self.text}
        if self.markdown is not None:
            bundle["text/markdown"] = self.markdown
        display(bundle, raw=True)
        for figure in self.figures:
            display(figure)
