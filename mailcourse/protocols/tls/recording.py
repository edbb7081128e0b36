"""A recorded connection whose TLS begins after plaintext lines (STARTTLS), read both ways.

A tap records chunks in the order they crossed the wire. On a mail
connection the first lines may be plaintext, up to STARTTLS or STLS (RFC
3207, RFC 2595) and its positive reply; then each side's TLS starts at the
start of a line, or at the first byte with implicit TLS (RFC 8314):
`tls_start` finds where. `read_recording` reads the TLS part (`session`,
`decryption`) and gives two views, as `Piece` objects in wire order: the
eavesdropper's (the plaintext, then a summary line per record) and the
endpoints' (the plaintext, then what the key log opens). `application_lines`
cuts the endpoints' view back into lines. `mailcourse.trace.Trace.tls_view`
shows both.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .decryption import NO_KEY, Opened, decrypt
from .records import APPLICATION_DATA, C2S, HANDSHAKE, S2C, looks_like_record
from .session import Session, read_session


def tls_start(data: bytes) -> int | None:
    """Where TLS begins in one direction's recorded bytes, or None if it does not.

    At the first byte (implicit TLS, RFC 8314), or at the start of a line
    after STARTTLS / STLS: the first handshake record header found at the
    start of a line. Byte 22 is a control character that no SMTP, POP3 or
    IMAP line starts with.
    """
    at = 0
    while at < len(data):
        if data[at] == HANDSHAKE and looks_like_record(data[at:at + 3]):
            return at
        newline = data.find(b"\n", at)
        if newline < 0:
            return None
        at = newline + 1
    return None


@dataclass(frozen=True)
class Piece:
    """One thing to show, with ``chunk``: the index of the recorded chunk that completed it.

    ``text`` is the eavesdropper's summary of a record ("" for plaintext
    before TLS); ``data`` what the endpoint read (the plaintext before TLS
    or a record's application data; None where nothing was read).
    """

    chunk: int
    direction: str
    text: str
    data: bytes | None
    record: int | None = None  # the record's number among its side's records (None: plaintext)
    handshake: bool = False  # the record carries the handshake (`Session.handshake_records`)


@dataclass
class Recording:
    """A recorded connection read both ways: ``wire`` as an eavesdropper, ``endpoints`` as the ends."""

    session: Session
    wire: list[Piece]
    endpoints: list[Piece]
    errors: list[str]

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None


def read_recording(chunks: Sequence[tuple[str, bytes]], keylog: str | None = None) -> Recording:
    """Read a recorded connection: ``chunks`` are ``(direction, bytes)`` in the order they crossed.

    The plaintext before TLS (up to STARTTLS and its positive reply) is
    passed on as it is, to both views. Each TLS record gives a summary line
    to the eavesdropper's view and, if the key log opens it, its
    application data to the endpoints' view. Each piece names the chunk that
    completed it, so that views can put the two sides' pieces in wire order.
    """
    streams = {direction: b"".join(data for d, data in chunks if d == direction) for direction in (C2S, S2C)}
    starts = {direction: tls_start(stream) for direction, stream in streams.items()}
    session = read_session(*(streams[d][starts[d]:] if starts[d] is not None else b"" for d in (C2S, S2C)))
    errors = list(session.errors)
    opened: dict[tuple[str, int], Opened] = {}
    if starts[C2S] is not None and keylog is None:
        errors.append(NO_KEY)
    elif starts[C2S] is not None and keylog is not None:
        decryption = decrypt(session, keylog)
        errors = decryption.errors
        opened = {(o.direction, o.index): o for o in decryption.opened}

    wire: list[Piece] = []
    endpoints: list[Piece] = []
    seen = {C2S: 0, S2C: 0}  # bytes of each direction up to the end of the current chunk
    next_record = {C2S: 0, S2C: 0}
    for number, (direction, data) in enumerate(chunks):
        before, seen[direction] = seen[direction], seen[direction] + len(data)
        start = starts[direction]
        clear = data if start is None else data[:max(0, start - before)]
        if clear:
            wire.append(Piece(number, direction, "", clear))
            endpoints.append(Piece(number, direction, "", clear))
        if start is None:
            continue
        records = session.records(direction)
        while next_record[direction] < len(records) and start + records[next_record[direction]].end <= seen[direction]:
            index = next_record[direction]
            next_record[direction] += 1
            wire.append(Piece(number, direction, session.summary(direction, index), None, index))
            found = opened.get((direction, index))
            if found is not None and found.encrypted:  # what only the endpoints could read
                data = found.data if found.content_type == APPLICATION_DATA else None
                endpoints.append(Piece(number, direction, found.summary(), data, index))
    handshake = session.handshake_records([(p.direction, p.record) for p in wire if p.record is not None])

    def marked(pieces: list[Piece]) -> list[Piece]:
        return [replace(p, handshake=True) if (p.direction, p.record) in handshake else p for p in pieces]

    return Recording(session, marked(wire), marked(endpoints), errors)


# How a transcript shows a TLS record: one bracketed line, which `mailcourse.protocols.exchanges`
# reads back (a handshake record starts with HANDSHAKE_LINE; any other holds its size).
HANDSHAKE_LINE = "[TLS handshake"
_SIZE = re.compile(r", ([\d,]+) bytes? \(encrypted\)\]$")


def record_line(session: Session, piece: Piece) -> str:
    """The transcript's line for one record: ``[TLS handshake: ...]``, or the eavesdropper's summary.

    No line of the handshake holds a size that changes between runs
    (`Session.handshake_summary`); an application data record's size is
    its plaintext's plus a fixed overhead (RFC 8446 section 5.2: the type
    byte and the AEAD tag; no padding is added), as steady as the dialogue.
    """
    assert piece.record is not None
    if piece.handshake:
        return f"{HANDSHAKE_LINE}: {session.handshake_summary(piece.direction, piece.record)}]"
    return f"[{piece.text}]"


def record_size(line: str) -> int | None:
    """The size a `record_line` of an encrypted record tells (its fragment's bytes), or None."""
    found = _SIZE.search(line)
    return int(found.group(1).replace(",", "")) if found else None


def application_lines(pieces: Sequence[Piece]) -> dict[str, list[str]]:
    """What the endpoints read, cut into lines, per direction: ``{C2S: [...], S2C: [...]}``."""
    lines: dict[str, list[str]] = {}
    for direction in (C2S, S2C):
        data = b"".join(p.data for p in pieces if p.direction == direction and p.data is not None)
        cut = data.split(b"\n")
        if cut[-1] == b"":
            cut.pop()  # the line break that ends the last line starts no new one
        lines[direction] = [line.rstrip(b"\r").decode("utf-8", "replace") for line in cut]
    return lines
