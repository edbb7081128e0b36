"""Random bytes and random chunkings to the IMAP command parser (hypothesis).

What must hold whatever a client sends:

- nothing raises out of ``feed`` or ``next_event``, and the buffer stays
  within the limits;
- cutting the same bytes into other pieces gives the same events (apart from
  continuation requests, which depend on what has arrived);
- N lines of junk without literals give exactly N events, one per line;
- a valid command after any junk is read exactly (resynchronisation), and a
  command built from random values comes back as those values.
"""
from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from mailcourse.protocols.imap.parser import ATOM_CHARS, TAG_CHARS, CommandReader
from mailcourse.protocols.imap.types import (
    Atom,
    Command,
    ContinuationRequest,
    Event,
    ParseError,
    RawLine,
    Value,
)

FAST = settings(max_examples=300, deadline=None, database=None)  # under a second each; no files on disk

MAX_LINE, MAX_LITERAL = 64, 40

# Pieces that steer random input into the parser's corners: literals of every
# kind, quotes and escapes, parentheses, brackets, long numbers.
TOKENS = [b"a1 ", b"LOGIN ", b"FETCH 1 ", b"APPEND INBOX ", b" ", b"(", b")", b"[", b"]", b'"', b"\\", b"\\\"",
          b"{", b"}", b"{3}\r\n", b"{2+}\r\n", b"{0}\r\n", b"{41+}\r\n", b"{41}\r\n", b"~{2+}\r\n", b"{x+}\r\n",
          b"{99999999999+}\r\n", b"BODY[HEADER.FIELDS (A B)]", b"\r\n", b"\n", b"\r", b"\x00", b"\xff", b"x" * 70]
# Lines of about max_line octets (CRLF included), where "too long" begins.
near_the_limit = st.integers(MAX_LINE - 3, MAX_LINE + 2).map(lambda n: b"a1 X " + b"y" * (n - 7) + b"\r\n")
stream = st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8), near_the_limit),
                  max_size=40).map(b"".join)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` cut at the given points (taken modulo its length)."""
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def read(pieces: list[bytes], reader: CommandReader | None = None, wants_raw: list[bool] | None = None) -> list[Event]:
    """Feed the pieces, draining events after each; check the invariants on the way."""
    reader = reader or CommandReader(max_line=MAX_LINE, max_literal=MAX_LITERAL)
    raw_choices = iter(wants_raw or [])
    events: list[Event] = []
    for piece in pieces:
        reader.feed(piece)
        while (event := reader.next_event()) is not None:
            assert isinstance(event, (Command, ContinuationRequest, RawLine, ParseError))
            assert not any(getattr(e, "fatal", False) for e in events), "an event after a fatal error"
            events.append(event)
            if isinstance(event, Command) and next(raw_choices, False):
                reader.expect_line()  # as the session does after IDLE or AUTHENTICATE
        # Drained: what is left is a part of a line or of an accepted literal, never more.
        assert reader.buffered <= max(reader.max_line, reader.max_literal)
    return events


def without_continuations(events: list[Event]) -> list[Event]:
    return [e for e in events if not isinstance(e, ContinuationRequest)]


@FAST
@given(data=stream, points=st.lists(st.integers(min_value=0), max_size=20),
       wants_raw=st.lists(st.booleans(), max_size=10))
def test_arbitrary_bytes_in_arbitrary_chunks_never_raise(data, points, wants_raw):
    events = read(cut(data, points), wants_raw=wants_raw)
    for event in events:
        if isinstance(event, ParseError):
            assert event.tag is None or (event.tag and all(ord(c) in TAG_CHARS for c in event.tag))
            assert event.text.isascii() and "\r" not in event.text and "\n" not in event.text


@FAST
@given(data=stream, points=st.lists(st.integers(min_value=0), max_size=20))
def test_chunking_does_not_change_the_events(data, points):
    assert without_continuations(read(cut(data, points))) == without_continuations(read([data]))


# Junk lines: any octets but LF (which would end the line) and braces (which
# could announce a literal, whose octets are not lines).
junk_line = st.binary(max_size=2 * MAX_LINE).map(lambda b: b.translate(None, b"\n{}"))
junk_lines = st.lists(st.one_of(junk_line, st.sampled_from([b"", b"a1 NOOP", b"a1 (", b'a1 "x', b"\xff"])),
                      max_size=12)


@FAST
@given(lines=junk_lines, ending=st.sampled_from([b"\r\n", b"\n"]), points=st.lists(st.integers(min_value=0)))
def test_n_junk_lines_give_n_events(lines, ending, points):
    events = read(cut(b"".join(line + ending for line in lines), points))
    assert len(events) == len(lines)
    assert all(isinstance(e, (Command, ParseError)) and not getattr(e, "fatal", False) for e in events)


# -- a valid command, built from random values ------------------------------------------------------

# Atoms, flags, wildcards, "]"; but no "[", which would open a section (tested on its own).
atom = st.text(alphabet=sorted(chr(c) for c in (ATOM_CHARS | set(b"\\%*]+")) - {ord("[")}),
               min_size=1, max_size=8).map(Atom)
quoted = st.binary(max_size=8).map(lambda b: b.translate(None, b"\r\n\x00"))
literal = st.binary(max_size=10)
values = st.recursive(st.one_of(atom, quoted, st.tuples(literal, st.booleans())),
                      lambda inner: st.lists(inner, max_size=3), max_leaves=6)


def render(value) -> tuple[bytes, Value]:
    """The wire form of a value, and what the parser should give for it."""
    if isinstance(value, Atom):
        return value.encode(), value
    if isinstance(value, bytes):
        return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"', value
    if isinstance(value, tuple):  # a literal: (octets, synchronizing)
        octets, synchronizing = value
        return b"{%d%s}\r\n%s" % (len(octets), b"" if synchronizing else b"+", octets), octets
    parts = [render(v) for v in value]
    return b"(" + b" ".join(w for w, _ in parts) + b")", [p for _, p in parts]


@st.composite
def commands(draw) -> tuple[bytes, Command]:
    tag = draw(st.text(alphabet=sorted(chr(c) for c in TAG_CHARS), min_size=1, max_size=6))
    name = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8))
    args = [render(v) for v in draw(st.lists(values, max_size=4))]
    wire = b" ".join([tag.encode(), name.encode(), *(w for w, _ in args)]) + b"\r\n"
    return wire, Command(tag, name.upper(), [p for _, p in args])


@FAST
@given(garbage=junk_lines, command=commands(), points=st.lists(st.integers(min_value=0), max_size=20))
def test_a_valid_command_after_garbage_is_read_exactly(garbage, command, points):
    wire, expected = command
    data = b"".join(line + b"\r\n" for line in garbage) + wire
    reader = CommandReader(max_line=4096, max_literal=MAX_LITERAL * 10)
    events = without_continuations(read(cut(data, points), reader))
    assert len(events) == len(garbage) + 1
    assert events[-1] == expected
