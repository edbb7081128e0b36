"""The trace: what crossed the wire in the lab, in order.

Every connection in the lab passes through a tap (see `mailcourse.tap`), and
the tap records `TraceEvent`s here: a connection opened, bytes went one way or
the other, the connection closed. Nothing else writes to the trace, so what
you see is what a packet capture on the loopback interface would show (with
passwords masked, see `CredentialMask`).

A `Trace` renders the classic textbook transcript of a session::

    S: 220 mail.somewhereelse.com ESMTP mailcourse
    C: EHLO mail.someplace.org
    S: 250-mail.somewhereelse.com
    ...

and gives the pieces the figures in `mailcourse.viz` need: the sessions, the
lines of each, and the hops a given message took.

SMTP, POP3 and IMAP are lines of text (RFC 5321 section 2.3.8, RFC 1939
section 3, RFC 3501 section 2.2), and the lines of a session are simply its
bytes cut at each line break. HTTP is not: a message body has no line
structure of its own (a login form's fields end without a line break, and
the next request follows at once), and only the header fields say where it
ends (RFC 9112 section 6). So an HTTP session is first framed into messages
(`mailcourse.protocols.http`), and each message gives its start line, its
header fields, the empty line, and one line for its body::

    C: POST /login HTTP/1.1
    C: Content-Type: application/x-www-form-urlencoded
    C: ...
    C:
    C: username=jane%40somewhereelse.com&password=********&csrf=...
    S: HTTP/1.1 303 See Other
    ...
    S: HTTP/1.1 200 OK
    ...
    S: [body: 2,224 bytes, text/html]
"""
from __future__ import annotations

import bisect
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .protocols import http, tls
from .protocols.exchanges import C2S, S2C, MESSAGE, Exchange, dns_lines, read_exchanges, read_http

if TYPE_CHECKING:
    from .capture import CaptureFile

MASK = b"********"


@dataclass
class Connection:
    """One TCP connection to a lab endpoint, as seen by its tap."""

    id: int
    protocol: str  # "SMTP", "POP3", "IMAP", "HTTP"
    service: str  # "submission", "mx", "pop3", ...
    server: str  # device name of the server end
    client_addr: tuple[str, int]
    opened: float
    closed: float | None = None
    refused: str | None = None  # why the tap closed it unanswered (`Network.refusal`)
    # TLS: None (plain text throughout), "starttls" (plain, then TLS after STARTTLS / STLS) or
    # "implicit" (TLS from the first byte: submissions, pop3s, imaps; RFC 8314).
    tls: str | None = None
    server_addr: tuple[str, int] | None = None  # the endpoint's address and port, as the tap accepted it
    _resolve: Callable[[tuple[str, int]], str | None] | None = field(default=None, repr=False)
    _client: str | None = field(default=None, repr=False)

    @property
    def client(self) -> str:
        """The device name of the client end ("client" for programs outside the lab)."""
        if self._client is None and self._resolve is not None:
            self._client = self._resolve(self.client_addr)
        return self._client or "client"

    @property
    def label(self) -> str:
        label = f"{self.client} -> {self.server} ({self.protocol} {self.service})"
        return label if self.refused is None else f"{label}, {self.refused}"


@dataclass(frozen=True)
class TraceEvent:
    """One thing a tap saw: ``kind`` is "open", "data" or "close"."""

    time: float  # seconds since the lab started
    connection: Connection
    kind: str
    direction: str = C2S  # C2S or S2C, for "data"
    data: bytes = b""  # what crossed, credentials masked
    size: int = 0  # bytes that really crossed
    tls: bool = False  # TLS records (ciphertext), recorded as they are: never masked

    @property
    def src(self) -> str:
        c = self.connection
        return c.client if self.direction == C2S else c.server

    @property
    def dst(self) -> str:
        c = self.connection
        return c.server if self.direction == C2S else c.client

    @property
    def protocol(self) -> str:
        return self.connection.protocol


@dataclass
class TlsView:
    """A connection read twice: as an eavesdropper on the wire, and as its two endpoints.

    ``wire`` is what a capture shows: the plaintext lines before STARTTLS,
    then one bracketed line per TLS record (``[application data, 87 bytes
    (encrypted)]``). ``lines`` is what the endpoints read: the same
    plaintext lines, then the decrypted application data cut into lines, with
    passwords masked as in every other view of the trace. Both are
    ``(direction, line)`` pairs in wire order, as `Trace.lines` gives them.
    ``error`` says why (some of) the session could not be read, or is None.
    """

    wire: list[tuple[str, str]]
    lines: list[tuple[str, str]]
    error: str | None
    session: tls.Session

    def by_direction(self, view: str = "lines") -> dict[str, list[str]]:
        """One view's lines per direction: ``{C2S: [...], S2C: [...]}``."""
        pairs = self.lines if view == "lines" else self.wire
        return {direction: [line for d, line in pairs if d == direction] for direction in (C2S, S2C)}

    def side_by_side(self, width: int = 60) -> str:
        """The two views as two columns of ``C:``/``S:`` lines: the eavesdropper's left, the endpoints' right.

        The rows are paired in order up to STARTTLS (the same lines on both
        sides), then each side runs on at its own length: one TLS record on the
        left may carry several lines of the dialogue on the right.
        """
        def shown(pairs: list[tuple[str, str]]) -> list[str]:
            out = []
            for direction, line in pairs:
                text = f"{'C' if direction == C2S else 'S'}: {line}"
                out.append(text if len(text) <= width else text[: width - 1] + "…")
            return out

        left, right = shown(self.wire), shown(self.lines)
        rows = [f"{'what an eavesdropper sees':<{width}}  what the endpoints see", f"{'-' * width}  {'-' * width}"]
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else ""
            b = right[i] if i < len(right) else ""
            rows.append(f"{a:<{width}}  {b}".rstrip())
        if self.error:
            rows.append(f"({self.error})")
        return "\n".join(rows)


class CredentialMask:
    """Hides passwords as the tap records them, so no view can show one.

    Knows the login commands of SMTP AUTH (RFC 4954), POP3 USER/PASS, APOP
    and AUTH (RFC 1939, RFC 5034) and IMAP LOGIN and AUTHENTICATE (RFC 3501):
    the secret part of the command is replaced by ``********``, and so is any
    client line that answers a server challenge (``334`` in SMTP, ``+`` in
    POP3 and IMAP). A message body is never masked: SMTP's DATA phase is
    followed so that a body line reading "AUTH ..." stays as it was.
    """

    # The optional first word is an IMAP tag; it may not be "AUTH" itself, or SMTP's
    # "AUTH LOGIN <name>" would read as a tag and IMAP's "LOGIN <name>", keeping the name.
    _COMMAND = re.compile(
        rb"^(?P<keep>(?:(?!AUTH )\S+ )?(?:AUTH(?:ENTICATE)? \S+|PASS|APOP \S+|LOGIN \S+))(?P<secret> .*)?$",
        re.IGNORECASE,
    )

    _SASL = re.compile(rb"^(?:\S+ )?AUTH(?:ENTICATE)? ", re.IGNORECASE)

    # IMAP may send LOGIN's arguments as literals (RFC 3501 section 4.3):
    # ``a1 LOGIN jane {13}`` and the password on the next line, after the
    # server's "+". A line that ends in ``{n}`` or ``{n+}`` continues the command.
    _IMAP_LOGIN = re.compile(rb"^\S+ LOGIN ", re.IGNORECASE)
    _LITERAL_FOLLOWS = re.compile(rb"\{\d+\+?\}$")

    def __init__(self) -> None:
        self.authenticating = False  # the client started AUTH / AUTHENTICATE
        self.challenged = False  # ... and the server's last line was a challenge
        self.in_data = False  # inside SMTP DATA: client lines are message text
        self.data_asked = False
        self.login_literal = False  # the next client line is (part of) an IMAP LOGIN's literal

    def client(self, data: bytes) -> bytes:
        out = []
        for line in data.splitlines(keepends=True):
            body = line.rstrip(b"\r\n")
            ending = line[len(body):]
            if self.login_literal:
                out.append(MASK + ending)
                self.login_literal = bool(self._LITERAL_FOLLOWS.search(body))
                continue
            if self.in_data:
                if body == b".":
                    self.in_data = False
                out.append(line)
                continue
            # Every line sent while an AUTH exchange is open is a SASL response,
            # even one a client writes before the server's 334 has arrived.
            if (self.challenged or self.authenticating) and body not in (b"", b"*"):
                out.append(MASK + ending)
                self.challenged = False
                continue
            if body.upper() == b"DATA":
                self.data_asked = True
            if self._SASL.match(body):
                self.authenticating = True
            if self._IMAP_LOGIN.match(body) and self._LITERAL_FOLLOWS.search(body):
                self.login_literal = True
            m = self._COMMAND.match(body)
            if m and m.group("secret"):
                out.append(m.group("keep") + b" " + MASK + ending)
            else:
                out.append(line)
        return b"".join(out)

    def server(self, data: bytes) -> None:
        for line in data.splitlines():
            challenge = line.startswith((b"334 ", b"+ ")) or line in (b"334", b"+")
            self.challenged = self.authenticating and challenge
            self.authenticating = self.challenged
            if line.startswith(b"354") and self.data_asked:
                self.in_data, self.data_asked = True, False
            elif self.data_asked and line[:1] in b"2345":
                self.data_asked = False


class FormPasswordMask(CredentialMask):
    """Hides the value of a ``password`` form field in what an HTTP client sends (the webmail's login)."""

    _FIELD = re.compile(rb"(?<![^&\r\n])password=[^&\r\n]*")

    def client(self, data: bytes) -> bytes:
        return self._FIELD.sub(b"password=" + MASK, data)


class Trace:
    """The ordered events of a lab, with filters, views and subscriptions.

    Taps append from the lab's thread; cells read from the notebook's thread.
    Subscribers are called on the lab's thread: they must be quick and must
    not print (see JUPYTER_NOTES: output from another thread lands in the
    wrong cell). Widgets copy what they need and redraw from the main thread.

    A lesson's lab keeps everything. A lab that runs for hours
    (``python -m mailcourse serve``) passes ``max_connections``: once more
    sessions than that are kept, the oldest finished ones are dropped, each
    with all its events (never half a session; a session still open is
    kept), so that memory stays flat. ``dropped`` counts them; views simply
    no longer see them, as a capture that was rotated.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 max_connections: int | None = None) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be at least 1 (or None: keep everything)")
        self._clock = clock
        self._start = clock()
        self.epoch = time.time()  # the wall-clock time of the start: a capture's packets carry real dates
        # The one hook for TLS keys: a function that returns the NSS key log of the lab's
        # TLS sessions so far (the text `ssl.SSLContext.keylog_filename` writes). A lab whose
        # servers speak TLS sets it; `to_pcapng` then embeds the keys without being asked.
        self.keylog_source: Callable[[], str] | None = None
        self._lock = threading.Lock()
        self.max_connections = max_connections
        self.events: list[TraceEvent] = []
        # The same events by connection: views of one session need not scan a
        # whole class's worth of traffic (``serve`` runs for hours).
        self._by_connection: dict[int, list[TraceEvent]] = {}
        self.connections: list[Connection] = []
        self.opened = 0  # connections opened since the start, dropped ones included
        self.dropped = 0  # sessions dropped to stay under max_connections
        self._subscribers: list[Callable[[TraceEvent], None]] = []

    # -- recording (called by taps) --------------------------------------------

    def now(self) -> float:
        return self._clock() - self._start

    def open(self, protocol: str, service: str, server: str, client_addr: tuple[str, int],
             resolve: Callable[[tuple[str, int]], str | None] | None = None,
             refused: str | None = None, server_addr: tuple[str, int] | None = None) -> Connection:
        with self._lock:
            self.opened += 1
            conn = Connection(self.opened, protocol, service, server, client_addr, self.now(),
                              refused=refused, server_addr=server_addr, _resolve=resolve)
            self.connections.append(conn)
            self._by_connection[conn.id] = []
        self._add(TraceEvent(conn.opened, conn, "open"))
        return conn

    def data(self, conn: Connection, direction: str, data: bytes, size: int, tls: bool = False) -> None:
        self._add(TraceEvent(self.now(), conn, "data", direction, data, size, tls))

    def close(self, conn: Connection) -> None:
        if conn.closed is None:
            conn.closed = self.now()
            self._add(TraceEvent(conn.closed, conn, "close"))

    def _add(self, event: TraceEvent) -> None:
        with self._lock:
            kept = self._by_connection.get(event.connection.id)
            if kept is None:
                return  # a late event of a session dropped already: it would keep a piece of it
            self.events.append(event)
            kept.append(event)
            if event.kind == "close" and self.max_connections is not None:
                self._drop_oldest()
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(event)

    def _drop_oldest(self) -> None:
        """Drop the oldest finished sessions beyond ``max_connections`` (the lock is held).

        In batches of a quarter of the cap, so that rebuilding the list of
        events costs a constant amount for each session recorded.
        """
        assert self.max_connections is not None
        excess = len(self.connections) - self.max_connections
        if excess < max(1, self.max_connections // 4):
            return
        gone = {c.id for c in self.connections if c.closed is not None}
        gone = set(sorted(gone)[:excess])
        if not gone:
            return
        self.connections[:] = [c for c in self.connections if c.id not in gone]
        self.events[:] = [e for e in self.events if e.connection.id not in gone]
        for cid in gone:
            del self._by_connection[cid]
        self.dropped += len(gone)

    # -- reading ---------------------------------------------------------------

    def subscribe(self, callback: Callable[[TraceEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every new event; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def mark(self) -> int:
        """A bookmark: pass it as ``since=`` to see only what happens after now."""
        with self._lock:
            return self.opened

    def sessions(self, protocol: str | None = None, service: str | None = None,
                 device: str | None = None, since: int = 0) -> list[Connection]:
        """Connections in the order they opened, filtered by protocol, service or device.

        ``since`` (a `mark`) keeps those opened after the bookmark. Connection
        ids count from 1 in the order of opening, so a bookmark stays right
        when old sessions have been dropped.
        """
        with self._lock:
            conns = self.connections[bisect.bisect_right(self.connections, since, key=_connection_id):]
        return [
            c for c in conns
            if (protocol is None or c.protocol.upper() == protocol.upper())
            and (service is None or c.service == service)
            and (device is None or device in (c.client, c.server))
        ]

    def filter(self, connection: Connection | int | None = None, protocol: str | None = None,
               kind: str | None = None) -> list[TraceEvent]:
        cid = connection.id if isinstance(connection, Connection) else connection
        with self._lock:
            events = list(self.events if cid is None else self._by_connection.get(cid, ()))
        return [
            e for e in events
            if (protocol is None or e.protocol.upper() == protocol.upper())
            and (kind is None or e.kind == kind)
        ]

    def lines(self, connection: Connection, keylog: str | None = None) -> list[tuple[str, str]]:
        """The session as ``(direction, line)`` pairs, in the order they were complete.

        An HTTP session gives, for each message, its start line, its header
        field lines, the empty line and one line for the body (see the module's docstring).

        A TLS session gives one bracketed line per TLS record after STARTTLS (or
        from the start), as an eavesdropper reads it: ``[TLS handshake: ...]``
        for each record of the handshake, then ``[application data, 34 bytes
        (encrypted)]`` (`protocols.tls.record_line`). With ``keylog`` (an NSS
        key log that holds the session's keys, ``lab.tls.keylog()``) the
        handshake's lines stay, and what follows is the dialogue the endpoints
        read, passwords masked.
        """
        return [(direction, line) for _, direction, line in self._timed(connection, keylog)]

    def line_times(self, connection: Connection, keylog: str | None = None) -> list[float]:
        """When each of ``lines(connection)`` was complete, in seconds since the lab started.

        A line is complete with the event that brought its end (an HTTP
        message's lines, with the event that completed the message). A view
        that draws several sessions on one time axis (`viz.ladder` with
        ``interleave=True``) orders their lines by these.
        """
        return [when for when, _, _ in self._timed(connection, keylog)]

    def _timed(self, connection: Connection, keylog: str | None) -> list[tuple[float, str, str]]:
        events, _ = _shown_events(self.filter(connection, kind="data"), connection, keylog)
        if connection.protocol.upper() == "DNS":  # binary messages, one per datagram or length-prefixed
            return dns_lines(((e.time, e.direction, e.data) for e in events), framed=connection.service != "dns")
        if connection.protocol.upper() != "HTTP":
            return list(_timed_lines(events))
        # HTTPS: the handshake's lines (and records nobody could open), then the messages inside.
        records = [(e.time, e.direction, e.data.decode()) for e in events if e.tls]
        return records + [(when, direction, line) for when, direction, message
                          in _timed_http_messages([e for e in events if not e.tls])
                          for line in http.message_lines(message)]

    def exchanges(self, connection: Connection, keylog: str | None = None) -> list[Exchange]:
        """The session read back: the greeting, then each command with its replies (`protocols.exchanges`).

        An HTTP session gives each request with its response (RFC 9112 section 9.3).
        A TLS session: its handshake, then the ciphertext, as one exchange; or,
        with ``keylog`` (see `lines`), the handshake, then the exchanges inside.
        """
        events, decrypted = _shown_events(self.filter(connection, kind="data"), connection, keylog)
        if connection.protocol.upper() == "HTTP":
            records = [(e.direction, e.data.decode()) for e in events if e.tls]
            found = read_exchanges("HTTP", records, tls="implicit") if records else []
            return found + read_http(_http_messages([e for e in events if not e.tls]), at=len(records))
        if connection.protocol.upper() == "DNS":
            return read_exchanges("DNS", [(direction, line) for _, direction, line in self._timed(connection, None)])
        lines = [(direction, line) for _, direction, line in _timed_lines(events)]
        return read_exchanges(connection.protocol, lines, tls=connection.tls, decrypted=decrypted)

    def http_exchanges(self, connection: Connection) -> list[http.HttpExchange]:
        """The requests of one HTTP session, each with its response, in order (RFC 9112 section 9.3)."""
        return [http.HttpExchange(e.request, e.response) for e in self.exchanges(connection)
                if e.request is not None]

    def transcript(self, sessions: Connection | Iterable[Connection] | None = None,
                   max_body_lines: int | None = None, keylog: str | None = None) -> str:
        """The classic textbook transcript (``C:`` client, ``S:`` server) of sessions.

        ``max_body_lines`` shortens long message bodies (the text between
        SMTP's 354 and its "."); by default every line is shown. A TLS
        session shows a line per record (`lines`); with ``keylog``, the
        dialogue inside instead.
        """
        if sessions is None:
            sessions = self.sessions()
        elif isinstance(sessions, Connection):
            sessions = [sessions]
        blocks = []
        for conn in sessions:
            out = [f"--- session {conn.id}: {conn.label} ---"]
            lines = self.lines(conn, keylog)
            hidden: set[int] = set()  # the places of the message lines left out
            if max_body_lines is not None and conn.protocol.upper() == "SMTP":  # a message after 354
                for exchange in self.exchanges(conn, keylog):
                    text = [part.at + i for part in exchange.parts if part.kind == MESSAGE
                            for i, line in enumerate(part.lines) if line != "."]  # "." ends it
                    hidden.update(text[max_body_lines:])
            for at, (direction, line) in enumerate(lines):
                if at in hidden:
                    if at - 1 not in hidden:
                        out.append("C: ...")
                    continue
                out.append(("C: " if direction == C2S else "S: ") + line)
            blocks.append("\n".join(out))
        return "\n\n".join(blocks)

    def tls_view(self, connection: Connection, keylog: str | None = None) -> TlsView:
        """What an eavesdropper sees of a TLS session, and, with the session's key log, what the endpoints saw.

        ``keylog`` is the text of an NSS key log (``SSLContext.keylog_filename``).
        Without it, or without this session's keys in it, ``lines`` stops where
        the encryption starts and ``error`` says why (`protocols.tls`).
        """
        events = self.filter(connection, kind="data")
        recording = tls.read_recording([(e.direction, e.data) for e in events], keylog)

        def as_events(pieces: list[tls.Piece], mask: CredentialMask | None) -> list[TraceEvent]:
            out = []
            for piece in pieces:
                if piece.data is None:
                    data = f"[{piece.text}]\n".encode()  # a record: one line, bracketed like an HTTP body's
                elif mask is None:
                    data = piece.data
                elif piece.direction == C2S:
                    data = mask.client(piece.data)
                else:
                    data = piece.data
                    mask.server(data)
                out.append(TraceEvent(events[piece.chunk].time, connection, "data", piece.direction, data, len(data)))
            return out

        # Decrypted, a password is as readable as before STARTTLS: masked the same way.
        endpoints = [p for p in recording.endpoints if p.data is not None]
        return TlsView(list(_lines(as_events(recording.wire, None))),
                       list(_lines(as_events(endpoints, _mask_for(connection)))),
                       recording.error, recording.session)

    def to_pcapng(self, path: str | Path, *, connections: Connection | Iterable[Connection | int] | None = None,
                  protocol: str | None = None, since: int | None = None, until: int | None = None, keys: bool = True,
                  keylog: str | None = None, well_known_ports: bool = True) -> CaptureFile:
        """Write the trace, or a part of it, as a pcapng capture file that Wireshark and tshark open.

        Each connection becomes the TCP conversation that carried it (handshake,
        segments, acknowledgements, close; `mailcourse.capture` says how), in
        IPv4 between the two loopback addresses, at the times the tap saw the
        bytes. In Wireshark, "Follow TCP Stream" shows the bytes of the trace.

        The part: ``connections`` (a `Connection`, or several, or their ids),
        ``protocol`` ("SMTP", "IMAP", ...), and the sessions opened after the
        bookmark ``since`` and up to the bookmark ``until`` (two `mark`s).
        Connections are always written whole.

        ``keys``: TLS sessions can be read in Wireshark when the file carries
        their keys (a Decryption Secrets Block with the NSS key log). The key
        log is ``keylog`` if given, else the lab's (`keylog_source`).
        ``keys=False`` leaves them out: then the file is what an eavesdropper captures.

        ``well_known_ports``: Wireshark recognises SMTP, POP3, IMAP and HTTP
        by the server's port, and the lab's ports are random; so each server
        is shown on its service's well-known port (587, 25, 110, 143, 80),
        and the port the lab really used is in the comment of the connection's
        first packet. ``False`` keeps the lab's ports (Wireshark's "Decode As" then names the protocol).

        Passwords stay masked, as in every view of the trace; in the capture
        each mask is as long as what it hides, so that the sequence numbers
        count the bytes that really crossed and HTTP's Content-Length adds up.
        Returns a `capture.CaptureFile`: a notebook shows it as a download link.
        """
        from . import capture  # imported when first used: most lessons write no capture

        if isinstance(connections, Connection):
            connections = [connections]
        chosen = self.sessions(protocol=protocol, since=since or 0)
        if until is not None:
            chosen = [c for c in chosen if c.id <= until]
        if connections is not None:
            wanted = {c.id if isinstance(c, Connection) else c for c in connections}
            chosen = [c for c in chosen if c.id in wanted]
        conversations, used = [], set()
        for conn in chosen:
            if conn.server_addr is None and conn.protocol.upper() not in capture.PROTOCOL_PORTS:
                continue  # no network crossed (a user's sendmail on the server host)
            if conn.protocol.upper() == "DNS" and conn.service == "dns":
                continue  # a UDP datagram: the capture writes TCP segments only (DNS over TCP is kept)
            host, lab_port = conn.server_addr or (conn.client_addr[0], 0)
            port = lab_port
            known = capture.WELL_KNOWN_PORTS.get(conn.service, capture.PROTOCOL_PORTS.get(conn.protocol.upper()))
            # Two servers both shown on port 25 must not make one conversation out of two.
            if (well_known_ports or not port) and known and (tuple(conn.client_addr), known) not in used:
                port = known
            used.add((tuple(conn.client_addr), port))
            events = self.filter(conn, kind="data")
            conversations.append(capture.Conversation(
                tuple(conn.client_addr), (host, port), self.epoch + conn.opened,
                [(self.epoch + e.time, e.direction, _as_sent(e)) for e in events],
                None if conn.closed is None else self.epoch + conn.closed, server_closes=conn.refused is not None,
                comment=f"session {conn.id}: {conn.label}" + (f"; the lab's port {lab_port}" if lab_port else ""),
                number=conn.id))
        if keylog is None and self.keylog_source is not None:
            keylog = self.keylog_source()
        servers = sorted({c.server for c in chosen})
        description = f"the mailcourse lab on 127.0.0.1, recorded by its taps: {', '.join(servers) or 'no server'}"
        packets = capture.frames(conversations)
        with open(path, "wb") as f:
            for block in capture.pcapng_blocks(packets, interface="lo (mailcourse lab)", description=description,
                                               keylog=keylog if keys and keylog else ""):
                f.write(block)
        return capture.CaptureFile(Path(path), len(conversations), len(packets), None if not keylog else keys)

    def bytes_on_wire(self, connection: Connection) -> int:
        return sum(e.size for e in self.filter(connection, kind="data"))

    def hops(self, message_id: str) -> list[Connection]:
        """The connections that carried a message, found by its Message-ID, hop by hop.

        A hop carries the message from client to server (SMTP) or from server
        to client (retrieval). Hops come in the order the message travelled:
        each hop after the one that brought the message to its starting
        device. Hops at the same distance from the sender (one message relayed
        to two domains at once, in sessions that open in either order) are
        sorted by the device they lead to, so the answer is the same on every run.
        """
        needle = message_id.strip().encode()
        carried: list[tuple[Connection, str, str]] = []  # (connection, from device, to device)
        for conn in self.sessions():
            events = self.filter(conn, kind="data")
            if needle in b"".join(e.data for e in events if e.direction == C2S):
                carried.append((conn, conn.client, conn.server))
            elif needle in b"".join(e.data for e in events if e.direction == S2C):
                carried.append((conn, conn.server, conn.client))
        depth: dict[int, int] = {}
        for conn, source, _ in carried:
            before = [depth[c.id] for c, _, dest in carried if c.id in depth and dest == source]
            depth[conn.id] = 1 + max(before) if before else 0
        carried.sort(key=lambda hop: (depth[hop[0].id], hop[2], hop[0].id))
        return [conn for conn, _, _ in carried]

    def clear(self) -> None:
        """Forget every event recorded so far (the connections stay listed, with nothing in them)."""
        with self._lock:
            self.events.clear()
            for events in self._by_connection.values():
                events.clear()


def _shown_events(events: list[TraceEvent], connection: Connection,
                  keylog: str | None) -> tuple[list[TraceEvent], bool]:
    """A session's events as its lines are read; True with them if TLS was opened with ``keylog``.

    A plain session's events are returned as they are. In a TLS session each
    record becomes one event (``tls=True``) whose data is its line
    (`protocols.tls.record_line`); the plaintext before STARTTLS stays as it
    was recorded. With a key log that opens the session, the records after
    the handshake become what they carried (passwords masked as the tap masks
    them), and a record that carried no application data (an alert) is left out.
    """
    if not any(e.tls for e in events):
        return events, False
    recording = tls.read_recording([(e.direction, e.data) for e in events], keylog)
    opened = {(p.direction, p.record): p for p in recording.endpoints if p.record is not None}
    decrypted = keylog is not None and any(not p.handshake for p in opened.values())
    mask = _mask_for(connection)
    out = []
    for piece in recording.wire:
        when = events[piece.chunk].time
        if piece.record is None:  # plaintext before STARTTLS, masked already by the tap
            assert piece.data is not None
            out.append(TraceEvent(when, connection, "data", piece.direction, piece.data, len(piece.data)))
            continue
        inside = opened.get((piece.direction, piece.record)) if decrypted else None
        if inside is not None and not piece.handshake:
            if inside.data:
                data = mask.client(inside.data) if piece.direction == C2S else inside.data
                if piece.direction == S2C:
                    mask.server(data)
                out.append(TraceEvent(when, connection, "data", piece.direction, data, len(inside.data)))
            continue
        line = tls.record_line(recording.session, piece).encode()
        out.append(TraceEvent(when, connection, "data", piece.direction, line, len(line), tls=True))
    return out, decrypted


def _mask_for(connection: Connection) -> CredentialMask:
    """What hides passwords in a connection's decrypted dialogue, as its tap hides them in plain text."""
    return FormPasswordMask() if connection.protocol.upper() == "HTTP" else CredentialMask()


def _as_sent(event: TraceEvent) -> bytes:
    """The recorded bytes with the mask as long as the secret it hides (for a capture; see `Trace.to_pcapng`).

    ``size`` counts the bytes that really crossed. Where one mask hides one
    secret, the difference is that secret's length less the mask's; where a
    chunk holds several, nobody can say how to share it out, and it stays as recorded.
    """
    data = event.data
    if len(data) != event.size and data.count(MASK) == 1:
        data = data.replace(MASK, b"*" * max(0, len(MASK) + event.size - len(data)))
    return data


def _connection_id(conn: Connection) -> int:
    return conn.id


def _lines(events: Iterable[TraceEvent]) -> Iterator[tuple[str, str]]:
    return ((direction, line) for _, direction, line in _timed_lines(events))


def _timed_lines(events: Iterable[TraceEvent]) -> Iterator[tuple[float, str, str]]:
    """``(time, direction, line)``: each line with the time of the event that ended it."""
    buffers = {C2S: b"", S2C: b""}
    last = 0.0
    for event in events:
        last = event.time
        if event.tls:  # one TLS record, already its line (`_shown_events`)
            if buffers[event.direction]:  # plain text cut short by the handshake
                yield last, event.direction, buffers[event.direction].decode("utf-8", "replace")
                buffers[event.direction] = b""
            yield last, event.direction, event.data.decode("utf-8", "replace")
            continue
        buffers[event.direction] += event.data
        *complete, buffers[event.direction] = buffers[event.direction].split(b"\n")
        for raw in complete:
            yield last, event.direction, raw.rstrip(b"\r").decode("utf-8", "replace")
    for direction, rest in buffers.items():
        if rest:
            yield last, direction, rest.decode("utf-8", "replace")


def _http_messages(events: Iterable[TraceEvent]) -> Iterator[tuple[str, http.HttpMessage]]:
    """An HTTP session's messages, each when it was complete, requests and responses interleaved."""
    return ((direction, message) for _, direction, message in _timed_http_messages(events))


def _timed_http_messages(events: Iterable[TraceEvent]) -> Iterator[tuple[float, str, http.HttpMessage]]:
    """``(time, direction, message)``: each message with the time of the event that completed it."""
    requests, responses = http.MessageReader(http.REQUEST), http.MessageReader(http.RESPONSE)
    last = 0.0

    def sent(message: http.HttpMessage) -> tuple[float, str, http.HttpMessage]:
        responses.request_sent(message.method)  # a response to HEAD has no body: the reader must know
        return last, C2S, message

    for event in events:
        last = event.time
        if event.direction == C2S:
            requests.feed(event.data)
            while (message := requests.next_message()) is not None:
                yield sent(message)
            continue
        # The server answers: the request before it is complete as far as the server is
        # concerned, even if shorter than announced (the tap masked a password in it).
        if (message := requests.end_message()) is not None:
            yield sent(message)
        responses.feed(event.data)
        while (message := responses.next_message()) is not None:
            yield last, S2C, message
    if (message := requests.finish()) is not None:
        yield sent(message)
    if (message := responses.finish()) is not None:
        yield last, S2C, message
