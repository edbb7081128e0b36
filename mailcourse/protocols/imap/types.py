"""The values that pass between the IMAP parser, the session and the renderer.

RFC 3501 section 4 names the data formats of IMAP: atoms, numbers, strings
(quoted or literal), parenthesized lists and NIL. The parser turns a client's
command into these Python values:

========================  ==========================================================
IMAP                      Python
========================  ==========================================================
atom, number, ``\\Seen``  `Atom` (a ``str``): ``Atom("FLAGS")``, ``Atom("1:*")``
quoted string, literal    ``bytes``: what the client meant, quotes and escapes undone
parenthesized list        ``list`` of these values (nested lists for nested parens)
========================  ==========================================================

``NIL`` is just ``Atom("NIL")``: only the command knows whether it means "no
value". A fetch attribute such as ``BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>``
is one `Atom`, brackets and all, because RFC 3501's grammar makes the section a
part of the attribute's name; the FETCH code takes it apart.

The parser hands the session one *event* at a time (`Command`,
`ContinuationRequest`, `RawLine`, `ParseError`); this is the h11 style of
"bytes in, events out", with no socket anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class Atom(str):
    """An IMAP atom (RFC 3501 section 4.1): a word without quotes, e.g. ``FETCH``, ``1:*``, ``\\Seen``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Atom({str(self)!r})"


Value = Atom | bytes | list  # list items are Values again


def text(value: Value) -> str:
    """An astring argument (atom, quoted string or literal) as text, e.g. a login or a mailbox name.

    Bytes that are not UTF-8 survive as surrogates, so nothing a client sent is lost.
    """
    if isinstance(value, list):
        # ValueError, not TypeError: it is the client's mistake, and the session answers it with BAD.
        raise ValueError("a parenthesized list where a string was expected")  # noqa: TRY004
    return value if isinstance(value, str) else value.decode("utf-8", "surrogateescape")


# -- events the parser gives the session ---------------------------------------------------

@dataclass
class Command:
    """One complete command line (literals included): ``tag``, ``name`` (upper case) and its ``args``.

    ``UID FETCH 1:* FLAGS`` arrives as name ``"UID"`` and args
    ``[Atom("FETCH"), Atom("1:*"), Atom("FLAGS")]``; the session dispatches
    the UID variants itself.
    """

    tag: str
    name: str
    args: list[Value] = field(default_factory=list)


@dataclass
class ContinuationRequest:
    """The client announced a synchronizing literal ``{n}`` and waits for ``+ ...`` (RFC 3501 section 7.5).

    The session answers with a continuation line; the literal's bytes follow.
    Non-synchronizing literals ``{n+}`` (RFC 7888, LITERAL+) never produce this.
    """


@dataclass
class RawLine:
    """A line that is not a command: the client's answer to a continuation (AUTHENTICATE), or ``DONE`` ending IDLE.

    The parser returns lines this way only after the session has asked for
    one with `CommandReader.expect_line` (see the parser).
    """

    line: bytes  # without the CRLF


@dataclass
class ParseError:
    """A line the parser could not read as a command.

    ``tag`` is the tag when the line had a usable one (the session answers
    ``<tag> BAD <text>``), else ``None`` (the session answers ``* BAD <text>``).
    ``fatal`` means the stream cannot be resynchronised (the session says BYE
    and closes): a non-synchronizing literal ``{n+}`` whose length cannot be
    counted (not a number, or 2**32 and more), so the reader cannot know where
    the client's next command starts. (A literal that is merely too big is
    skipped by counting its octets, and refused with a non-fatal error.)
    """

    tag: str | None
    text: str
    fatal: bool = False


Event = Command | ContinuationRequest | RawLine | ParseError


# -- sequence sets (RFC 3501 section 9, "sequence-set") ------------------------------------

@dataclass(frozen=True)
class SequenceSet:
    """A set of message numbers or UIDs such as ``1:4,7,9:*``.

    ``*`` stands for the largest number in use (the number of messages, or
    the highest UID), so it is resolved only when that is known: `contains`
    and `resolve` take it as ``largest``. A range may be written backwards
    (``5:2`` is ``2:5``); ``None`` in `ranges` stands for ``*``.
    """

    ranges: tuple[tuple[int | None, int | None], ...]

    @classmethod
    def parse(cls, value: str) -> SequenceSet:
        """Read ``1:4,7,9:*``; raise ``ValueError`` for anything else (0 is not a valid number)."""
        ranges = []
        for part in value.split(","):
            first, sep, last = part.partition(":")
            ends = [_number(first), _number(last) if sep else _number(first)]
            ranges.append((ends[0], ends[1]))
        return cls(tuple(ranges))

    def contains(self, number: int, largest: int) -> bool:
        for first, last in self.ranges:
            low, high = sorted((largest if first is None else first, largest if last is None else last))
            if low <= number <= high:
                return True
        return False

    def resolve(self, candidates: list[int] | range, largest: int | None = None) -> list[int]:
        """The members of ``candidates`` in this set, in order (``largest`` defaults to the last candidate)."""
        candidates = list(candidates)
        if largest is None:
            largest = candidates[-1] if candidates else 0
        return [n for n in candidates if self.contains(n, largest)]

    def __str__(self) -> str:
        def one(n: int | None) -> str:
            return "*" if n is None else str(n)
        return ",".join(one(a) if a == b else f"{one(a)}:{one(b)}" for a, b in self.ranges)


def _number(value: str) -> int | None:
    if value == "*":
        return None
    # nz-number: digits without a leading zero, at most 2^32 - 1 (RFC 3501 section 9)
    if not value.isascii() or not value.isdigit() or value.startswith("0") or int(value) > 0xFFFFFFFF:
        raise ValueError(f"not a sequence number: {value!r}")
    return int(value)
