"""`Diagram`: one figure, in the two forms a notebook needs.

A notebook shows the richest form an object offers. ``Diagram`` offers a PNG
(``_repr_png_``), which JupyterLab, nbviewer and GitHub all display, and a
plain-text description (``__repr__``), which is the figure's alt text for a
screen reader and the output that nbval compares, so it must never contain a
port, a time or an object address.

The figure is a `matplotlib.figure.Figure` made without `matplotlib.pyplot`.
pyplot keeps a list of open figures and Jupyter's inline backend shows every
one of them at the end of a cell, so a figure made with pyplot and also
returned by the cell would appear twice. A bare ``Figure`` with an Agg
canvas belongs to nobody but this object.

A diagram keeps the recipe of its figure (``draw``), not the figure: the PNG
is drawn when a notebook first shows it, and the figure that drew it is let
go at once. That matters for memory: IPython keeps every value a cell showed
(``Out[7]``), and a drawn ladder with its pixel buffer holds about 7 MB, so a
lesson that kept its figures would grow by that much for each one. The PNG
(a few tens of kB) is kept. Asking for ``.figure`` draws a figure and keeps
it, for whoever wants to work with it.

What was drawn is kept as data too (``lifelines`` and ``arrows`` for a
ladder, ``nodes``, ``edges`` and ``hops`` for a topology), so that a test or
an exercise check can ask "which arrows are there?" without comparing images.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


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
    """A figure plus its text: ``.figure``, ``.alt``, ``_repr_png_()``, ``save(path)``.

    ``repr(diagram)`` is the alt text, so printing a diagram describes it in
    words. ``draw()`` makes the figure (a new one each call).
    """

    draw: Callable[[], Figure]
    alt: str
    kind: str  # "ladder", "topology" or "chart"
    lifelines: list[str] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    hops: list[Edge] = field(default_factory=list)  # one per hop, in order (an edge may repeat)
    message: str = ""  # how the words name the message whose hops are shown ('"Lunch tomorrow"')
    build_graph: Callable[[], Any] | None = field(default=None, repr=False)  # the topology's networkx graph
    _figure: Figure | None = field(default=None, init=False)
    _graph: Any = field(default=None, init=False)
    _png: bytes | None = field(default=None, init=False)

    @property
    def figure(self) -> Figure:
        """The matplotlib figure, drawn on first use and kept from then on."""
        if self._figure is None:
            self._figure = self.draw()
        return self._figure

    @property
    def graph(self) -> Any:
        """The topology as a `networkx.DiGraph` (None for other diagrams), built on first use.

        networkx is imported only here: drawing a topology does not need it.
        """
        if self._graph is None and self.build_graph is not None:
            self._graph = self.build_graph()
        return self._graph

    def png(self) -> bytes:
        """The figure as PNG bytes (100 dpi), made once and kept."""
        if self._png is None:
            figure = self._figure or self.draw()
            buffer = io.BytesIO()
            # No "Software" entry: the bytes then depend on the drawing only.
            figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
            self._png = buffer.getvalue()
            if figure is not self._figure:
                let_go(figure)
        return self._png

    def _repr_png_(self) -> bytes:
        return self.png()

    def save(self, path: str | Path) -> Path:
        """Write the figure to ``path``; the suffix picks the format (.png, .svg, .pdf)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".png":
            path.write_bytes(self.png())
        else:
            figure = self._figure or self.draw()
            figure.savefig(path, dpi=DPI)
            if figure is not self._figure:
                let_go(figure)
        return path

    def __repr__(self) -> str:
        return self.alt

    def __str__(self) -> str:
        return self.alt


def new_figure(width: float, height: float) -> tuple[Figure, Any]:
    """A pyplot-free figure of ``width`` x ``height`` inches and one axes filling it.

    The axes' data units are inches (x to the right, y downwards), which
    makes the layout arithmetic of the figures plain: 0.3 is 0.3 inch.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_axis_off()
    return figure, ax


def let_go(figure: Figure) -> None:
    """Free what a figure nobody uses any more holds, now rather than some time later.

    A figure, its canvas and its artists point at one another, so counting
    references alone never frees them: only Python's cycle collector does,
    and a full collection may be a long way off in a kernel, while the next
    figure is drawn beside it. So the canvas's renderer (the pixel buffer,
    the bulk of it) is dropped and the artists are cleared at once; the
    empty shell that is left is the collector's. (A ``gc.collect()`` here
    freed nothing more in the lessons' kernels and took a tenth of a second.)
    """
    figure.canvas.__dict__.pop("renderer", None)  # FigureCanvasAgg.get_renderer keeps it there
    figure.clear()
