"""`LiveTrace`: watch the lab's traffic as it happens.

    >>> live = LiveTrace(lab)          # in a notebook: displays, then keeps itself up to date
    >>> live.static()                  # what it showed, for readers without a kernel

The view shows the four-device topology with the hops of one message
highlighted and numbered (the latest hop has the highest number), and the
transcript of every session since the view was created, growing as the
servers talk. It is made for what happens *after* a cell has finished: a
message waiting in a server's queue is retried in the background
(RFC 5321 section 4.5.4.1), and each attempt appears here when it happens.

By default the message followed is the latest one seen on the wire (found by
its Message-ID); pass ``message_id`` to follow one message.

The trace calls its subscribers on the lab's thread. This view does not
touch its widgets from there: see `pump.MainThreadPump`, which brings the
news to the kernel's main thread a few times a second, while the kernel is
idle.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...trace import C2S, Connection, TraceEvent
from .common import WidgetView, classed, image, pre, show
from .pump import MainThreadPump
from .static import StaticView

if TYPE_CHECKING:
    from ...lab import Lab
    from ..diagram import Diagram

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class LiveTrace(WidgetView):
    """A view of the lab's trace that follows new events (``since``: a `Trace.mark`)."""

    def __init__(self, lab: Lab, message_id: str | None = None, *, since: int | None = None,
                 interval: float = 0.3, max_body_lines: int = 3) -> None:
        self.lab = lab
        self.message_id = message_id
        self.since = lab.trace.mark() if since is None else since
        self.max_body_lines = max_body_lines
        self.events_seen = 0  # events delivered to this view so far
        self.updates = 0  # times the view was redrawn
        self.pump: MainThreadPump[TraceEvent] = MainThreadPump(self._update, interval,
                                                               alive=lambda: not lab.loop.is_closed())
        self._unsubscribe = lab.trace.subscribe(self.pump.put)  # runs on the lab's thread: only queue
        self._build()
        self.refresh()

    # -- updating ------------------------------------------------------------------------

    def _displayed(self) -> None:
        self.pump.start()  # on the kernel's loop; a second display does not start a second one

    def _update(self, events: list[TraceEvent]) -> None:
        """Called on the main thread with the events that arrived since the last update."""
        self.events_seen += len(events)
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the trace as it is now (main thread only)."""
        self.updates += 1
        diagram = self.topology()
        show(self.topology_view, diagram)
        self.status.value = pre(self._status(diagram))
        # Newest first: a widget cannot scroll itself, and the news is what you are watching for.
        self.transcript_view.value = pre(self.transcript(newest_first=True) or "(no traffic yet)")

    def close(self) -> None:
        """Stop following the trace and close the widget."""
        self._unsubscribe()
        self.pump.stop()
        super().close()

    # -- what it shows ---------------------------------------------------------------------

    def sessions(self) -> list[Connection]:
        return self.lab.trace.sessions(since=self.since)

    def followed(self) -> str | None:
        """The Message-ID whose hops are highlighted: the given one, or the latest seen."""
        if self.message_id:
            return self.message_id
        for conn in reversed(self.sessions()):
            sent = b"".join(e.data for e in self.lab.trace.filter(conn, kind="data") if e.direction == C2S)
            found = _MESSAGE_ID.findall(sent)
            if found:
                return found[-1].decode("ascii", "replace")
        return None

    def topology(self) -> Diagram:
        from ..topology import topology

        return topology(self.lab, self.followed())

    def transcript(self, newest_first: bool = False) -> str:
        """The sessions since the view opened, in order (or the newest first, as the live view shows them)."""
        sessions = self.sessions()
        if newest_first:
            sessions.reverse()
        return self.lab.trace.transcript(sessions, max_body_lines=self.max_body_lines) if sessions else ""

    def _hops(self, diagram: Diagram) -> list[str]:
        return [f"{n}. {e.src} -> {e.dst}, {e.label}" for n, e in enumerate(diagram.hops, start=1)]

    def _status(self, diagram: Diagram) -> str:
        count = len(self.sessions())
        lines = [f"{count} session{'s' if count != 1 else ''} since this view opened."]
        hops = self._hops(diagram)
        if hops:
            lines.append(f"Latest hop of {diagram.message}: {hops[-1]}")
        for server in self.lab.servers.values():
            items = list(server.queue.items.values())
            for item in items:
                last = "; ".join(f"<{r}>: {why}" for r, why in item.last_reply.items())
                lines.append(f"Queue of {server.hostname}: {item.id} for {', '.join(item.pending)}, "
                             f"{item.attempts} attempt{'s' if item.attempts != 1 else ''} so far"
                             + (f", last reply {last}" if last else ""))
        return "\n".join(lines)

    def static(self) -> StaticView:
        """The hops and the transcript so far as text, and the topology (SVG).

        No queue state and no times: those depend on the moment you look.
        How many times a server retried depends on timing too, so a session
        that repeats the one before it word for word (a retry that failed the
        same way) is not printed again: one line says how many repeats there
        were, in the form "(2 sessions)" that the notebooks' sanitizer
        replaces (tests/nbval_sanitize.cfg, "session-counts").
        """
        diagram = self.topology()
        followed = self.followed()
        sessions = self.sessions()
        lines = [f"Live trace ({len(sessions)} session{'s' if len(sessions) != 1 else ''})."]
        if followed:
            hops = self._hops(diagram)
            lines.append(f"Hops of {diagram.message}:" if hops else f"No hop of {diagram.message} yet.")
            lines += [f"  {hop}" for hop in hops]
        blocks: list[str] = []
        previous: tuple[str, str, list[tuple[str, str]]] | None = None
        repeats = 0
        for conn in sessions + [None]:  # None: flush the last run of repeats
            said = (conn.client, conn.label, self.lab.trace.lines(conn)) if conn is not None else None
            if said is not None and said == previous:
                repeats += 1
                continue
            if repeats:
                blocks[-1] += f"\n(... and the same session again ({repeats} session{'s' if repeats != 1 else ''}))"
            repeats = 0
            if conn is not None:
                blocks.append(self.lab.trace.transcript(conn, max_body_lines=self.max_body_lines))
            previous = said
        if blocks:
            lines += ["", "\n\n".join(blocks)]
        return StaticView("\n".join(lines), [diagram])

    # -- the widget -------------------------------------------------------------------------

    def _build(self) -> None:
        import ipywidgets as w

        self.status = classed(w.HTML(), "mc-live-status")
        self.topology_view = image(css_class="mc-live-topology")
        self.transcript_view = classed(w.HTML(layout=w.Layout(max_height="320px", overflow="auto",
                                                              border="1px solid #ddd", padding="4px")),
                                       "mc-live-transcript")
        self.widget = classed(w.VBox([w.HTML("<b>Live trace</b>"), self.status, self.topology_view,
                                      w.HTML("<b>Transcript</b>, newest session first"), self.transcript_view]),
                              "mc-live")
