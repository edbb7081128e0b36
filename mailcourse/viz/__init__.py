"""Figures of the lab: the ladder diagram of sessions and the four-device topology.

    >>> from mailcourse.viz import ladder, topology
    >>> ladder(lab.trace)                       # every session, one arrow per command or reply
    >>> topology(lab, message_id=msg["Message-ID"])   # the hops of one message, numbered

Both return a `Diagram`: a notebook shows its SVG picture, ``print()``
gives its description in words (the alt text), ``.canvas`` is the drawing
and ``.save(path)`` writes an .svg file. The figures are written as SVG
text by `mailcourse.viz.svg`, with no plotting library: ``import
mailcourse`` does not even load this package, and drawing costs a kernel a
few kilobytes, not the tens of megabytes a plotting library takes.
"""
from __future__ import annotations

from .diagram import Arrow, Diagram, Edge
from .ladder import ladder
from .topology import topology

__all__ = ["Arrow", "Diagram", "Edge", "ladder", "topology"]
