"""Figures of the lab: the ladder diagram of sessions and the four-device topology.

    >>> from mailcourse.viz import ladder, topology
    >>> ladder(lab.trace)                       # every session, one arrow per command or reply
    >>> topology(lab, message_id=msg["Message-ID"])   # the hops of one message, numbered

Both return a `Diagram`: a notebook shows its PNG, ``print()`` gives its
description in words (the alt text), ``.figure`` is the matplotlib figure and
``.save(path)`` writes it to a file. This package imports matplotlib and
networkx; ``import mailcourse`` alone does not, so a lesson that draws
nothing starts quickly.
"""
from __future__ import annotations

from .diagram import Arrow, Diagram, Edge
from .ladder import ladder
from .topology import topology

__all__ = ["Arrow", "Diagram", "Edge", "ladder", "topology"]
