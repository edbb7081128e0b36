"""Figures of the lab: the ladder diagram of sessions, the four-device topology, a message's MIME tree.

    >>> from mailcourse.viz import ladder, mime_tree, topology
    >>> ladder(lab.trace)                       # every session, one arrow per command or reply
    >>> topology(lab, message_id=msg["Message-ID"])   # the hops of one message, numbered
    >>> mime_tree(msg)                          # the parts of a message, numbered as IMAP numbers them

Each returns a `Diagram`: a notebook shows its SVG picture, ``print()``
gives its description in words (the alt text), ``.canvas`` is the drawing
and ``.save(path)`` writes an .svg file. The figures are written as SVG
text by `mailcourse.viz.svg`, with no plotting library: ``import
mailcourse`` does not even load this package, and drawing costs a kernel a
few kilobytes, not the tens of megabytes a plotting library takes.
"""
from __future__ import annotations

from .diagram import Arrow, Diagram, Edge
from .ladder import ladder
from .mime import mime_tree
from .topology import topology

__all__ = ["Arrow", "Diagram", "Edge", "ladder", "mime_tree", "topology"]
