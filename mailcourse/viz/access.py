"""The three mailbox access models side by side: one mailbox, several views, one chart.

RFC 1733 names three ways of using a mailbox from a client: *online* (work
where the mail lives: direct access on the server host, or IMAP used
online), *offline* (download and delete: POP3) and *disconnected* (keep
copies, change them without a network, synchronise later: IMAP). Lesson 07
compares them on the same mailbox; this module holds the two views it needs:

- `side_by_side`: one account's folders as the server's store holds them
  and as each device's IMAP cache shows them, flag by flag, in one table.
  After every device has synced, the columns agree (``views.identical``).
- `AccessRun`, `access_table` and `compare_access`: what one way of reading
  did (messages on the device, bytes on the wire, what is left on the
  server), as a plain-text table and as a bar chart (a `Diagram`).

Lesson 08 adds the webmail, a fourth way in, and compares reading the same
messages on the web, by IMAP and by POP3 in round trips and bytes:

- `round_trips` and `http_cycles`: how many times a client asked and
  waited, counted in the trace (HTTP requests; POP3, IMAP or SMTP commands);
- `ReadingRun`, `reading_table` and `compare_reading`: the comparison, as a
  table and as a bar chart.

Apart from those two counts, nothing here measures anything: the lesson
takes the numbers from the lab (the trace's ``bytes_on_wire``, the store,
the device's cache) in its own cells, where the reader sees where each one
comes from. The charts are SVG (`mailcourse.viz.chart`), drawn when shown.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..message import parse
from ..trace import Connection, Trace
from . import style
from .chart import Series, panel
from .diagram import Diagram
from .svg import Canvas

if TYPE_CHECKING:
    from ..lab import Lab

INBOX = "INBOX"
NO_FLAGS = "(none)"  # the message is there, with no flag set
ABSENT = "—"  # the message is not there at all


def flags_text(flags: frozenset[str] | set[str]) -> str:
    """Flags as a reader writes them: ``\\Flagged \\Seen``, or ``(none)``.

    System flags first, then keywords, each group in name order, as the
    server lists them (RFC 3501 section 2.3.2).
    """
    ordered = sorted(f for f in flags if f.startswith("\\")) + sorted(f for f in flags if not f.startswith("\\"))
    return " ".join(ordered) or NO_FLAGS


# -- one account, seen from the server and from each device ----------------------------


@dataclass
class Views:
    """One account's messages: a row per (folder, UID, subject), a column per viewer.

    ``columns`` names the viewers ("server" first, then each device);
    ``rows`` holds ``(folder, uid, subject, [flags text per column])``, where
    a device that lacks the message shows ``—``. ``identical`` tells whether
    every device shows exactly what the server holds. ``repr()`` is the table.
    """

    columns: list[str]
    rows: list[tuple[str, int, str, list[str]]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return all(len(set(cells)) == 1 for _, _, _, cells in self.rows)

    def __repr__(self) -> str:
        headers = ["folder", "UID", "subject", *self.columns]
        body = [[folder, str(uid), subject, *cells] for folder, uid, subject, cells in self.rows]
        widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]
        lines = []
        for line in [headers, *body]:
            cells = [text.rjust(w) if i == 1 else text.ljust(w) for i, (text, w) in enumerate(zip(line, widths))]
            lines.append("  ".join(cells).rstrip())
        if not body:
            lines.append("(no messages)")
        return "\n".join(lines)

    __str__ = __repr__


def side_by_side(lab: Lab, address: str, devices: Sequence[str], folders: Sequence[str] | None = None) -> Views:
    """The account ``address`` in the server's store and in each device's IMAP cache, flag by flag.

    ``folders`` defaults to every folder that holds a message somewhere
    (empty folders make empty rows). The devices' caches are read without a
    network, so a device that has not synced yet shows what it saw last.
    """
    local, _, domain = address.lower().partition("@")
    server = lab.server(domain)
    store = server.store
    on_server: dict[tuple[str, int], tuple[str, str]] = {}  # (folder, uid) -> (subject, flags)
    for folder in store.folders(local):
        for info in store.list(local, folder):
            subject = str(parse(store.get(local, info.uid, folder)).get("Subject", ""))
            on_server[(folder, info.uid)] = (subject, flags_text(info.flags))
    cached = []
    for name in devices:
        mailbox = lab.client(name).imap
        seen: dict[tuple[str, int], tuple[str, str]] = {}
        for folder in mailbox.folders():
            for message in mailbox.messages(folder):
                seen[(folder, message.uid)] = (message.subject, flags_text(message.flags))
        cached.append(seen)
    keys = set(on_server).union(*cached)
    wanted = set(folders) if folders is not None else {folder for folder, _ in keys}
    order = sorted((k for k in keys if k[0] in wanted), key=lambda k: (k[0] != INBOX, k[0], k[1]))
    views = Views(["server", *devices])
    for key in order:
        subject = next(view[key][0] for view in (on_server, *cached) if key in view)
        cells = [view[key][1] if key in view else ABSENT for view in (on_server, *cached)]
        views.rows.append((key[0], key[1], subject, cells))
    return views


# -- the three models compared ---------------------------------------------------------


@dataclass(frozen=True)
class AccessRun:
    """What one way of reading a mailbox did, measured in the lab.

    ``model`` is the access model ("online", "offline", "disconnected"),
    ``how`` the way it was done ("direct access", "POP3", "IMAP").
    ``connections`` and ``bytes_on_wire`` come from the trace (a direct
    access opens none: it reads the files on the server host), the counts
    of messages from the device and from the server's store.
    """

    model: str
    how: str
    device: str
    on_device: int  # messages the device holds afterwards
    offline: str  # what the device can do with no network
    connections: int
    bytes_on_wire: int
    left_on_server: int  # messages the server still holds afterwards


_ROWS = (
    ("access model", lambda r: r.model),
    ("device", lambda r: r.device),
    ("messages on the device", lambda r: str(r.on_device)),
    ("without a network", lambda r: r.offline),
    ("connections", lambda r: str(r.connections)),
    ("bytes on the wire", lambda r: f"{r.bytes_on_wire:,}"),
    ("left on the server", lambda r: str(r.left_on_server)),
)


def access_table(runs: Sequence[AccessRun]) -> str:
    """The runs as a plain-text table: one column per way of reading, one row per measure."""
    return _table(runs, _ROWS)


def _table(runs: Sequence[Any], rows: Sequence[tuple[str, Callable[[Any], str]]]) -> str:
    """One column per run (headed by its ``how``), one row per ``(label, value of a run)``."""
    names = [run.how for run in runs]
    label_width = max(len(label) for label, _ in rows)
    widths = [max([len(name)] + [len(value(run)) for _, value in rows]) for name, run in zip(names, runs)]
    lines = ["  ".join([" " * label_width] + [name.ljust(w) for name, w in zip(names, widths)]).rstrip()]
    for label, value in rows:
        cells = [value(run).ljust(w) for run, w in zip(runs, widths)]
        lines.append("  ".join([label.ljust(label_width)] + cells).rstrip())
    return "\n".join(lines)


# Colour is never the only clue: each measure also has its own hatch, and every bar its number.
_DEVICE = {"colour": style.ORANGE, "hatch": "/"}
_SERVER = {"colour": style.BLUE, "hatch": None}  # plain: two measures side by side, one hatched
_WIRE = {"colour": style.PURPLE, "hatch": "x"}


def compare_access(runs: Sequence[AccessRun], *, title: str | None = None) -> Diagram:
    """Two bar charts of the runs: bytes on the wire, and where the messages are afterwards.

    Left, one bar per way of reading: the bytes that crossed the network.
    Right, two bars per way: messages on the device and messages left on
    the server. Every bar carries its number, so the chart reads without
    colour too; ``repr()`` gives the same numbers in words (the alt text).
    """
    return Diagram(functools.partial(_draw_access, list(runs), title), _alt(runs, title), "chart")


def _draw_access(runs: Sequence[AccessRun], title: str | None) -> Canvas:
    names = [run.how for run in runs]
    canvas = Canvas(9.0, 3.4)
    top = 0.35 if title else 0.05
    if title:
        canvas.text(4.5, 0.08, title, size=style.FONT + 1, colour=style.TEXT, anchor="middle", baseline="top")
    left_width = (9.0 - 0.2) / 2.15
    panel(canvas, 0.1, top, left_width, 3.35 - top, title="Bytes on the wire", groups=names,
          series=[Series("bytes", [r.bytes_on_wire for r in runs], **_WIRE)], headroom=1.18)
    panel(canvas, 0.1 + left_width + 0.1, top, 9.0 - 0.3 - left_width, 3.35 - top, title="Messages afterwards",
          groups=names, headroom=1.3, integer=True, legend=True,  # messages come whole
          series=[Series("on the device", [r.on_device for r in runs], **_DEVICE),
                  Series("left on the server", [r.left_on_server for r in runs], **_SERVER)])
    return canvas


def _alt(runs: Sequence[AccessRun], title: str | None) -> str:
    heading = f"{title}: b" if title else "B"
    parts = [(f"{heading}ar charts comparing {len(runs)} ways of reading the same mailbox "
              f"({', '.join(run.how for run in runs)}).")]
    parts.append("Bytes on the wire: " + ", ".join(f"{run.how} {run.bytes_on_wire:,}" for run in runs) + ".")
    parts.append("Messages afterwards, on the device and left on the server: "
                 + ", ".join(f"{run.how} {run.on_device} and {run.left_on_server}" for run in runs) + ".")
    return "\n".join(parts)


# -- round trips: how often a client asked and waited -----------------------------------


@dataclass(frozen=True)
class HttpCount:
    """HTTP traffic of one device: connections, request/response cycles, and bytes both ways."""

    connections: int
    cycles: int
    bytes_on_wire: int
    requests: tuple[str, ...]  # "GET /mailbox/INBOX -> 200", one per cycle, in order


def http_cycles(lab: Lab, since: int = 0, device: str | None = None) -> HttpCount:
    """Count the HTTP request/response cycles in the trace since a `Trace.mark`, for one device or all.

    A kept-alive connection carries several cycles (RFC 9112 section 9.3),
    so cycles, not connections, are what a reader waits for: each is one
    round trip across the network.
    """
    conns = [c for c in lab.trace.sessions(protocol="HTTP", since=since) if device is None or c.client == device]
    said: list[str] = []
    for conn in conns:
        for exchange in lab.trace.http_exchanges(conn):
            target = urlsplit(exchange.target).path
            said.append(f"{exchange.method} {target} -> {exchange.status or 'no response'}")
    return HttpCount(len(conns), len(said), sum(lab.trace.bytes_on_wire(c) for c in conns), tuple(said))


def round_trips(trace: Trace, conn: Connection) -> int:
    """How many times the client asked and waited in one session: HTTP requests, POP3 or IMAP commands.

    HTTP counts requests. POP3 and IMAP count the client's command lines,
    leaving out what only continues a command (the literal of an IMAP
    command, the ``DONE`` that ends IDLE, a SASL response); SMTP counts its
    commands and each message once.
    """
    found = trace.exchanges(conn)
    asked = sum(1 for exchange in found if exchange.command)
    # The message that follows SMTP's 354 is one more round trip, answered by the final reply.
    return asked + sum(1 for exchange in found if conn.protocol.upper() == "SMTP" and exchange.data is not None)


# -- three ways to read the same messages (lesson 08) -----------------------------------


@dataclass(frozen=True)
class ReadingRun:
    """One way of reading some messages, measured in the lab's trace.

    ``how`` names it ("webmail", "IMAP", "POP3, then offline"), ``sessions``
    and ``round_trips`` count connections and request/response cycles,
    ``bytes_on_wire`` both directions, and ``reading_later`` says what
    reading the messages once more would cost.
    """

    how: str
    sessions: int
    round_trips: int
    bytes_on_wire: int
    reading_later: str


_READING_ROWS = (
    ("connections", lambda r: str(r.sessions)),
    ("round trips", lambda r: str(r.round_trips)),
    ("bytes on the wire", lambda r: f"{r.bytes_on_wire:,}"),
    ("reading them again", lambda r: r.reading_later),
)


def reading_table(runs: Sequence[ReadingRun]) -> str:
    """The runs as a plain-text table: one column per way of reading."""
    return _table(runs, _READING_ROWS)


_TRIPS = {"colour": style.ORANGE, "hatch": "/"}
_BYTES = {"colour": style.PURPLE, "hatch": "x"}


def compare_reading(runs: Sequence[ReadingRun], *, title: str | None = None) -> Diagram:
    """Two bar charts of the runs: round trips, and bytes on the wire.

    Every bar carries its number and each measure its own hatch, so the
    chart reads without colour; ``repr()`` gives the numbers in words.
    """
    names = [run.how for run in runs]
    heading = f"{title}: b" if title else "B"
    alt = "\n".join([
        f"{heading}ar charts comparing {len(runs)} ways of reading the same messages ({', '.join(names)}).",
        "Round trips: " + ", ".join(f"{r.how} {r.round_trips:,}" for r in runs) + ".",
        "Bytes on the wire: " + ", ".join(f"{r.how} {r.bytes_on_wire:,}" for r in runs) + ".",
    ])
    return Diagram(functools.partial(_draw_reading, list(runs), title), alt, "chart")


def _draw_reading(runs: Sequence[ReadingRun], title: str | None) -> Canvas:
    names = [run.how for run in runs]
    canvas = Canvas(9.0, 3.2)
    top = 0.35 if title else 0.05
    if title:
        canvas.text(4.5, 0.08, title, size=style.FONT + 1, colour=style.TEXT, anchor="middle", baseline="top")
    half = (9.0 - 0.3) / 2
    panel(canvas, 0.1, top, half, 3.15 - top, title="Round trips (request and answer)", groups=names,
          integer=True, series=[Series("round trips", [r.round_trips for r in runs], **_TRIPS)])
    panel(canvas, 0.2 + half, top, half, 3.15 - top, title="Bytes on the wire", groups=names,
          series=[Series("bytes", [r.bytes_on_wire for r in runs], **_BYTES)])
    return canvas
