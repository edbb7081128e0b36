"""`Diagram`: one figure, in the forms a notebook needs.

A notebook shows the richest form an object offers. ``Diagram`` offers its
figure as SVG (`mailcourse.viz.svg`: a few kilobytes of text, sharp at any
zoom) and a plain-text description (``__repr__``), which is the figure's alt
text for a screen reader and what a viewer without images prints, so it must
never contain a port, a time or an object address.

The SVG goes out twice in one display (``_repr_mimebundle_``): as
``image/svg+xml``, which GitHub, nbviewer and a trusted notebook show, and
as ``text/html`` holding an ``<img>`` whose source is the same SVG. The
second is for JupyterLab: it renders SVG output only in a trusted notebook
(an SVG may carry script), while HTML output is sanitised and shown always,
and a picture inside ``<img>`` cannot run anything. A student who opens a
lesson someone else executed, or a freshly cloned one, sees the figures.

A diagram keeps the recipe of its figure (``draw``) and draws it when first
shown; the SVG text is kept. What was drawn is kept as data too
(``lifelines`` and ``arrows`` for a ladder, ``nodes``, ``edges`` and
``hops`` for a topology), so that a test or an exercise check can ask
"which arrows are there?" without reading the picture.
"""
from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .svg import Canvas


@dataclass(frozen=True)
class Arrow:
    """One arrow of a ladder diagram: one command, one (folded) reply or one message.

    ``lines`` are the lines on the wire that the arrow stands for; ``label``
    is the text drawn above it. ``kind`` is "command", "reply", "message",
    "pushed" (an IMAP server's news while its client idles), "encrypted" or
    "data". ``session`` counts the diagram's sessions from 1.
    """

    session: int
    src: str
    dst: str
    direction: str  # trace.C2S or trace.S2C
    kind: str
    label: str
    lines: tuple[str, ...]


@dataclass
class Edge:
    """One edge of the topology: a link of the four-device model or one traffic used.

    ``used`` tells whether a session in the trace went this way; ``sessions``
    counts them. ``hops`` holds the numbers (1, 2, ...) of the highlighted
    message's hops that took this edge.
    """

    src: str
    dst: str
    label: str
    family: str  # "SMTP", "retrieval", "local" or "other" (its colour)
    used: bool = False
    sessions: int = 0
    hops: list[int] = field(default_factory=list)

    @property
    def highlighted(self) -> bool:
        return bool(self.hops)


@dataclass(eq=False, repr=False)
class Diagram:
    """A figure plus its text: ``.svg()``, ``.alt``, ``.canvas``, ``save(path)``.

    ``repr(diagram)`` is the alt text, so printing a diagram describes it in
    words. ``draw()`` makes the canvas (a new one each call).
    """

    draw: Callable[[], Canvas]
    alt: str
    kind: str  # "ladder", "topology", "tree" or "chart"
    lifelines: list[str] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    hops: list[Edge] = field(default_factory=list)  # one per hop, in order (an edge may repeat)
    message: str = ""  # how the words name the message whose hops are shown ('"Lunch tomorrow"')
    build_graph: Callable[[], Any] | None = field(default=None, repr=False)  # the topology's networkx graph
    _canvas: Canvas | None = field(default=None, init=False)
    _graph: Any = field(default=None, init=False)
    _svg: str | None = field(default=None, init=False)

    @property
    def canvas(self) -> Canvas:
        """The drawing (its size in inches is ``.width`` and ``.height``), made on first use."""
        if self._canvas is None:
            self._canvas = self.draw()
        return self._canvas

    @property
    def graph(self) -> Any:
        """The topology as a `networkx.DiGraph` (None for other diagrams), built on first use.

        networkx is imported only here: drawing a topology does not need it.
        """
        if self._graph is None and self.build_graph is not None:
            self._graph = self.build_graph()
        return self._graph

    def svg(self) -> str:
        """The figure as an SVG document, made once and kept; its <title> is the alt text's first line."""
        if self._svg is None:
            self._svg = self.canvas.svg(title=self.alt.split("\n", 1)[0])
        return self._svg

    def html(self) -> str:
        """An ``<img>`` showing the SVG, with the alt text: what JupyterLab shows, trusted or not."""
        data = base64.b64encode(self.svg().encode()).decode("ascii")
        width = round(self.canvas.width * 100)
        return (f'<img src="data:image/svg+xml;base64,{data}" width="{width}" '
                f'style="max-width:100%;height:auto" alt="{html.escape(self.alt)}">')

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"image/svg+xml": self.svg(), "text/html": self.html(), "text/plain": self.alt}

    def save(self, path: str | Path) -> Path:
        """Write the figure to ``path`` as SVG (the suffix must be .svg)."""
        path = Path(path)
        if path.suffix.lower() != ".svg":
            raise ValueError(f"a diagram is saved as SVG: name the file ....svg, not {path.name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.svg(), encoding="utf-8")
        return path

    def __repr__(self) -> str:
        return self.alt

    def __str__(self) -> str:
        return self.alt
