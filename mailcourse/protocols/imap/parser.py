"""Reading IMAP4rev1 commands: bytes in, one event out at a time (RFC 3501, RFC 7888).

Theory of operation
-------------------
An IMAP client sends commands, each one a line that starts with a tag of
the client's choosing (RFC 3501 section 9)::

    command         = tag SP (command-any / command-auth / command-nonauth /
                      command-select) CRLF
    tag             = 1*<any ASTRING-CHAR except "+">

and goes on with arguments made of a handful of data formats (section 4):
atoms, quoted strings, literals and parenthesized lists. A `CommandReader`
turns the bytes into `Command` events::

    >>> reader = CommandReader()
    >>> reader.feed(b'a1 LOGIN jane "jane password"\\r\\na2 SELECT INBOX\\r\\n')
    >>> reader.next_event()
    Command(tag='a1', name='LOGIN', args=[Atom('jane'), b'jane password'])
    >>> reader.next_event()
    Command(tag='a2', name='SELECT', args=[Atom('INBOX')])
    >>> reader.next_event() is None   # None: the reader needs more bytes
    True

It does no I/O (the asyncio server feeds it what the socket gave) and it
does not judge the command: whether LOGIN wants two arguments is the
session's business. It only knows the grammar.

**Literals cut a command into segments.** A string may be sent as a
literal, an octet count in braces at the very end of a line, then exactly
that many octets, then the rest of the command (RFC 3501 section 4.3)::

    C: A003 APPEND saved-messages (\\Seen) {310}
    S: + Ready for literal data
    C: Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)
    C: ...                                        (310 octets in all)
    C:                                            (the CRLF that ends the command)

A literal can hold anything, CRLF included, which is how whole messages
travel. With a *synchronizing* literal ``{310}`` the client waits before it
sends the octets. RFC 3501 section 7.5: "The client is not permitted to
send the octets of the literal unless the server indicates that it is
expected. This permits the server to process commands and reject errors on
a line-by-line basis." So when the reader has read ``{310}`` and the octets
are not there yet, it returns a `ContinuationRequest` and the session sends
``+ ...``. A *non-synchronizing* literal ``{310+}`` (LITERAL+, RFC 7888)
saves that round trip: the octets follow at once and nobody waits::

    literal         = "{" number64 ["+"] "}" CRLF *CHAR8     (RFC 7888 section 8)

**The reader is a buffer and a small state machine** (`_State`): LINE
(waiting for the next complete line of a command), LITERAL (waiting for
the octets of a literal), DISCARD and SKIP (throwing away the rest of a
command that was refused, see below), CLOSED (given up). `feed` only
appends to the buffer; `next_event` does just enough work to produce one
event, never more. That is on purpose: after ``AUTHENTICATE PLAIN`` the
session sends ``+ `` and the client's *next line* is base64, not a command;
after ``IDLE`` the next line is ``DONE``. The session says so with
`expect_line` between two events, and the following line then comes back
as a `RawLine`, unparsed. Had the reader parsed ahead, it would already
have misread that line as a command.

**Errors are events, and the reader resynchronises.** A command the
grammar refuses becomes a `ParseError` for that command (with its tag, so
the session can answer ``<tag> BAD ...``), and reading starts afresh at the
next line. One subtlety: if the refused line ends with a non-synchronizing
literal ``{n+}``, the client is sending those n octets anyway (RFC 7888
section 4 says as much: a server that refuses such a literal must still
read and throw away its octets, or close the connection). Reading them as
commands would let a message body smuggle commands in, so the reader skips
exactly n octets, then the rest of that command, and only then reports the
error. When it cannot count them (the count is not a number below 2**32),
there is no next command to find: the `ParseError` is ``fatal`` and the
session says BYE.

**Limits keep memory bounded**, whatever a client sends: the text of one
command (CRLFs counted, literals not) may be at most ``max_line`` octets, and
its literals together at most ``max_literal`` octets. A line over the
limit is reported at once and then dropped as it arrives, without being
buffered. A literal over the limit gets ``[TOOBIG]`` (the response code of
RFC 4469, used for this by RFC 7888 section 4): for ``{n}`` the client
waits for a ``+`` that never comes, reads the BAD, and sends no octets; for
``{n+}`` the octets are counted and skipped as they come. The buffer thus
holds at most a line, or one accepted literal, plus the last piece fed.
(Call `next_event` until it returns None after each `feed`, as the session
does: `feed` itself only appends.)

How values come out (see `mailcourse.protocols.imap.types`): atoms are
`Atom`, quoted strings and literals are ``bytes``, parenthesized lists are
``list``.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from .types import Atom, Command, ContinuationRequest, Event, ParseError, RawLine, Value

__all__ = ["ATOM_CHARS", "TAG_CHARS", "CommandReader", "parse_line"]

SP, DQUOTE, BACKSLASH, CR = 0x20, 0x22, 0x5C, 0x0D

# RFC 3501 section 9:
#   ATOM-CHAR       = <any CHAR except atom-specials>
#   atom-specials   = "(" / ")" / "{" / SP / CTL / list-wildcards /
#                     quoted-specials / resp-specials
#   list-wildcards  = "%" / "*"
#   quoted-specials = DQUOTE / "\"
#   resp-specials   = "]"
# CHAR is 7-bit ASCII without NUL, and CTL the controls (0-31 and DEL), so
# what is left is the visible ASCII from "!" to "~" minus the specials.
ATOM_CHARS = frozenset(range(0x21, 0x7F)) - frozenset(b'(){%*"\\]')
#   tag             = 1*<any ASTRING-CHAR except "+">
#   ASTRING-CHAR    = ATOM-CHAR / resp-specials
TAG_CHARS = (ATOM_CHARS | {ord("]")}) - {ord("+")}

# Arguments are read more generously than atoms. RFC 3501 has several
# atom-like words besides atoms: flags (``\Seen``, ``\*``), sequence sets
# (``1:*,5``), mailbox patterns (``%``), astrings (``pass]word``) and fetch
# attributes with a section (``BODY[HEADER.FIELDS (FROM TO)]<0.100>``).
# They all come out as one `Atom`, and the command that expects one checks
# it. Only these characters end such a word (outside brackets):
_WORD_ENDS = frozenset(b' (){"')

# RFC 3501 section 9: number = 1*DIGIT ; Unsigned 32-bit integer. A literal
# count that is not below this cannot be honoured, nor (for {n+}) skipped.
_NUMBER_LIMIT = 2**32
# How much of a refused line the reader keeps while it drops the rest:
# enough to see whether it ended with "{4294967295+}".
_TAIL = 32


class _State(enum.Enum):
    LINE = "reading the next line of a command (or, after expect_line, a raw line)"
    LITERAL = "reading the octets of an accepted literal"
    DISCARD = "dropping the rest of a refused line, up to its LF"
    SKIP = "dropping the octets of a refused non-synchronizing literal"
    CLOSED = "given up: the stream cannot be resynchronised"


class _Wait(enum.Enum):
    MORE = "need more data"


@dataclass(frozen=True)
class _Literal:
    """A literal announced at the end of a line: ``{length}`` or ``{length+}``."""

    length: int  # _NUMBER_LIMIT stands for "not a usable number"
    synchronizing: bool


class _Bad(Exception):
    """The grammar refuses the command; ``text`` is what the client is told."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# -- the grammar: one command, a line segment at a time -----------------------------------------

class _CommandScanner:
    """Reads the text of one command, one line segment at a time (a literal ends a segment).

    It remembers what it has read so far (the tag, the name, the open
    parenthesized lists), so that after a literal's octets the next segment
    carries on where the previous one stopped.
    """

    def __init__(self) -> None:
        self.tag: str | None = None
        self.name = ""
        self.lists: list[list[Value]] = [[]]  # the arguments, then one list per "(" not yet closed
        self.after_value = False  # a value was just read: a space, ")" or the end must follow
        self.line_octets = 0  # the command's text so far, literals not counted (max_line)
        self.literal_octets = 0  # its literals so far (max_literal)

    def scan(self, line: bytes) -> _Literal | None:
        """Read one line segment (without its CRLF); return the literal it announces at its end, if any."""
        pos = self._tag_and_name(line) if not self.line_octets else 0
        self.line_octets += len(line) + 2  # CRLF included, so that even empty segments count
        while pos < len(line):
            char = line[pos]
            if char == SP:
                # RFC 3501 wants exactly one SP between values. A few clients put
                # two, or one at the end; refusing that would help nobody.
                self.after_value = False
                pos += 1
            elif char == ord(")"):
                if len(self.lists) == 1:
                    raise _Bad("Unbalanced parentheses: a ')' without its '('")
                closed = self.lists.pop()
                self.lists[-1].append(closed)
                self.after_value = True
                pos += 1
            elif self.after_value:
                raise _Bad("Expected a space between two arguments")
            elif char == ord("("):
                self.lists.append([])
                pos += 1
            elif char == DQUOTE:
                value, pos = _quoted(line, pos)
                self._add(value)
            elif char == ord("{") or line.startswith(b"~{", pos):
                return _literal_spec(line, pos)
            else:
                word, pos = _word(line, pos)
                self._add(word)
        if len(self.lists) > 1:
            raise _Bad("Unbalanced parentheses: a '(' without its ')'")
        return None

    def add_literal(self, octets: bytes) -> None:
        self._add(octets)

    def command(self) -> Command:
        assert self.tag is not None
        return Command(self.tag, self.name, self.lists[0])

    def _add(self, value: Value) -> None:
        self.lists[-1].append(value)
        self.after_value = True

    def _tag_and_name(self, line: bytes) -> int:
        """Read ``tag SP name`` at the start of a command; return where the arguments start."""
        if not line:
            raise _Bad("Empty command line")
        tag, _, _ = line.partition(b" ")
        if not tag or not all(char in TAG_CHARS for char in tag):
            raise _Bad("Missing or invalid tag")
        self.tag = tag.decode("ascii")
        start = len(tag)
        while start < len(line) and line[start] == SP:
            start += 1
        end = start
        while end < len(line) and line[end] in ATOM_CHARS:
            end += 1
        if end == start:
            raise _Bad("Missing command name")
        if end < len(line) and line[end] != SP:
            raise _Bad("Invalid character in the command name")
        self.name = line[start:end].decode("ascii").upper()
        self.after_value = True
        return end


def _quoted(line: bytes, pos: int) -> tuple[bytes, int]:
    """Read a quoted string that starts at ``line[pos]``; return it and the position after it.

    RFC 3501 section 9::

        quoted          = DQUOTE *QUOTED-CHAR DQUOTE
        QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> /
                          "\\" quoted-specials

    TEXT-CHAR is 7-bit, but clients do send UTF-8 here (mailbox names,
    passwords), so 8-bit octets are kept as they are; NUL and CR are not.
    """
    value = bytearray()
    pos += 1
    while pos < len(line):
        char = line[pos]
        if char == DQUOTE:
            return bytes(value), pos + 1
        if char == BACKSLASH:
            escaped = line[pos + 1:pos + 2]
            if escaped not in (b'"', b"\\"):
                raise _Bad('Invalid escape in a quoted string (only \\" and \\\\ are allowed)')
            value += escaped
            pos += 2
        elif char in (0, CR):
            raise _Bad("NUL or CR in a quoted string (send such data as a literal)")
        else:
            value.append(char)
            pos += 1
    raise _Bad("Unterminated quoted string")


def _word(line: bytes, pos: int) -> tuple[Atom, int]:
    """Read an atom-like word at ``line[pos]``, with any ``[...]`` sections in it.

    A fetch attribute names a part of the message in brackets (RFC 3501
    section 9: ``"BODY" section ["<" number "." nz-number ">"]``, section =
    ``"[" [section-spec] "]"``), and a section may hold spaces and a list:
    ``BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>``. So a "[" opens a stretch
    that runs to its matching "]", spaces and parentheses included. A "]"
    with no "[" before it is just a character (ASTRING-CHAR allows it).
    """
    start, depth = pos, 0
    while pos < len(line):
        char = line[pos]
        if depth == 0 and char in _WORD_ENDS:
            break
        if char == DQUOTE:  # only inside brackets: HEADER.FIELDS ("Subject")
            quoted_start = pos
            _, pos = _quoted(line, pos)
            if not line[quoted_start:pos].isascii():
                raise _Bad("8-bit character in a section")
            continue
        if char < 0x20 or char >= 0x7F:
            raise _Bad("8-bit or control character in an atom")
        if char == ord("["):
            depth += 1
        elif char == ord("]") and depth:
            depth -= 1
        pos += 1
    if depth:
        raise _Bad("Unbalanced brackets: a '[' without its ']'")
    return Atom(line[start:pos].decode("ascii")), pos


def _literal_spec(line: bytes, pos: int) -> _Literal:
    """Read ``{n}`` or ``{n+}`` at ``line[pos]``: it must be the last thing on the line."""
    if line.startswith(b"~{", pos):
        raise _Bad("literal8 (~{n}) belongs to BINARY (RFC 3516), which this server does not support")
    spec = line[pos + 1:]
    count = spec[:-1].removesuffix(b"+")
    if not spec.endswith(b"}") or not count.isdigit():
        raise _Bad("Invalid literal: expected {number} or {number+} at the end of the line")
    # int() of a very long digit string is slow (and Python refuses past 4300 digits).
    length = int(count) if len(count) <= 10 else _NUMBER_LIMIT
    return _Literal(min(length, _NUMBER_LIMIT), synchronizing=not spec.endswith(b"+}"))


def _announced_literal(tail: bytes, truncated: bool) -> _Literal | None:
    """The literal that a refused line announces at its end, if it looks like one.

    Only the last `_TAIL` octets of a dropped line are kept (``truncated``
    says the line was longer); a refused line was not parsed, so this looks
    at its end alone. If the ``{`` was cut off, only a count far too big
    for a literal can be that long.
    """
    if not tail.endswith(b"}"):
        return None
    spec = tail[:-1]
    synchronizing = not spec.endswith(b"+")
    spec = spec.removesuffix(b"+")
    brace = spec.rfind(b"{")
    if brace < 0:
        return _Literal(_NUMBER_LIMIT, synchronizing) if truncated and spec.isdigit() else None
    count = spec[brace + 1:]
    if not count.isdigit() or len(count) > 10:
        return _Literal(_NUMBER_LIMIT, synchronizing)  # a count that cannot be read
    return _Literal(min(int(count), _NUMBER_LIMIT), synchronizing)


def _tag_of(prefix: bytes) -> str | None:
    """The tag at the start of a line that is too long to parse, if it has a usable one."""
    tag, space, _ = prefix.partition(b" ")
    if space and tag and all(char in TAG_CHARS for char in tag):
        return tag.decode("ascii")
    return None


# -- the reader: buffering, literals, limits, resynchronisation -----------------------------------

class CommandReader:
    """Turns the bytes a client sends into events, one per `next_event` call.

    Bytes may come in any chunks, several commands in one (a client that
    pipelines) or one octet at a time: the events are the same, except that
    a `ContinuationRequest` appears only when a synchronizing literal's
    octets are not there yet.

    ``max_line`` bounds the text of one command (without its literals, CRLFs
    counted) and of a raw line; ``max_literal`` the octets of one command's
    literals together (the largest message APPEND accepts).
    """

    def __init__(self, max_line: int = 8192, max_literal: int = 10 * 1024 * 1024) -> None:
        self.max_line = max_line
        self.max_literal = max_literal
        self._buffer = bytearray()
        self._searched = 0  # the first _searched octets of the buffer hold no LF (LINE state)
        self._state = _State.LINE
        self._command: _CommandScanner | None = None  # a command read in part (before a literal)
        self._literal: _Literal | None = None  # the accepted literal being read (LITERAL state)
        self._continuation_sent = False
        self._raw_line_wanted = False  # expect_line() was called
        # Refusing a command (DISCARD and SKIP states):
        self._pending: ParseError | None = None  # reported once the rest of the command is gone
        self._refused_tag: str | None = None
        self._follow_literals = True  # False while dropping a raw line: it announces no literals
        self._skip = 0  # octets of a refused literal still to drop
        self._tail = b""  # the last octets of the line being dropped
        self._dropped = 0  # how many octets of that line were dropped

    @property
    def buffered(self) -> int:
        """How many octets the reader holds: at most a line, or one accepted literal, plus the last chunk fed."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Take bytes as they came from the client. Nothing is parsed until `next_event`."""
        if self._state is not _State.CLOSED:
            self._buffer += data

    def expect_line(self) -> None:
        """Return the next complete line as a `RawLine`, without parsing it as a command.

        For the client's answer to a ``+`` continuation (AUTHENTICATE, RFC 3501
        section 6.2.2) and for ``DONE``, which ends IDLE (RFC 2177). Call it
        between two commands, once the last `Command` has been taken.
        """
        if self._command is not None:
            raise RuntimeError("expect_line() is for between commands, not in the middle of one")
        self._raw_line_wanted = True

    def next_event(self) -> Event | None:
        """The next event, or None when the reader needs more bytes.

        Only as much input is read as this one event takes: the rest stays
        in the buffer, so that `expect_line` can still change how the next
        line is read.
        """
        while True:
            if self._state is _State.LINE:
                result = self._read_line()
            elif self._state is _State.LITERAL:
                result = self._read_literal()
            elif self._state is _State.DISCARD:
                result = self._discard_line()
            elif self._state is _State.SKIP:
                result = self._skip_literal()
            else:
                return None  # CLOSED
            if result is _Wait.MORE:
                return None
            if result is not None:
                return result

    # Each state's step returns an event, None (go on: the state has changed)
    # or _Wait.MORE (the buffer does not hold what this state needs).

    def _read_line(self) -> Event | _Wait | None:
        raw = self._raw_line_wanted and self._command is None
        budget = self.max_line - (self._command.line_octets if self._command else 0)
        end = self._buffer.find(b"\n", self._searched)
        if end < 0:
            self._searched = len(self._buffer)
            # The line fits if it ends in CRLF within the budget. Once the buffer
            # holds `budget` octets and no LF, it cannot (one of them may be the
            # CR, but then the LF is still missing).
            return _Wait.MORE if len(self._buffer) < max(budget, 1) else self._line_too_long(budget, raw)
        # RFC 3501 lines end in CRLF; a bare LF is accepted too, as most servers
        # do, and counted as if it were a CRLF.
        length = end - (1 if end and self._buffer[end - 1] == CR else 0)
        if length + 2 > budget:
            return self._line_too_long(budget, raw)
        line = self._take(end + 1)[:length]
        if raw:
            self._raw_line_wanted = False
            return RawLine(line)
        return self._command_line(line)

    def _command_line(self, line: bytes) -> Event | None:
        command = self._command or _CommandScanner()
        self._command = None
        try:
            literal = command.scan(line)
        except _Bad as bad:
            return self._refuse(ParseError(command.tag, bad.text), line)
        if literal is None:
            return command.command()
        if literal.length > self.max_literal - command.literal_octets:
            kind = "Literal" if literal.synchronizing else "Non-synchronizing literal"
            text = f"[TOOBIG] {kind} too big: at most {self.max_literal} octets per command"
            return self._refuse(ParseError(command.tag, text), line)
        command.literal_octets += literal.length
        self._command, self._literal, self._continuation_sent = command, literal, False
        self._state = _State.LITERAL
        return None

    def _read_literal(self) -> Event | _Wait | None:
        literal = self._literal
        assert literal is not None and self._command is not None
        # RFC 3501 section 4.3: "the client MUST wait to receive a command
        # continuation request ... before sending the octet data (and the
        # remainder of the command)." A client that sent them already does not
        # need one (nor does parse_line); an empty buffer means it waits, even
        # for {0}.
        waiting = len(self._buffer) < literal.length or not self._buffer
        if literal.synchronizing and waiting and not self._continuation_sent:
            self._continuation_sent = True
            return ContinuationRequest()
        if len(self._buffer) < literal.length:
            return _Wait.MORE
        # CHAR8 (RFC 3501 section 9) leaves out NUL; the octets are not policed
        # here: they are the client's message, counted, not parsed.
        self._command.add_literal(self._take(literal.length))
        self._literal = None
        self._state = _State.LINE  # the same command goes on after the octets
        return None

    # -- refusing a command and finding the next one --

    def _refuse(self, error: ParseError, line: bytes) -> Event | None:
        """A complete line was refused: report it, once any literal it announced has been skipped."""
        self._pending, self._refused_tag, self._follow_literals = error, error.tag, True
        return self._after_refused_line(line[-_TAIL:], truncated=len(line) > _TAIL)

    def _line_too_long(self, budget: int, raw: bool) -> Event:
        """Report a line over the limit at once (it may never end); then drop it as it comes."""
        if raw:
            self._raw_line_wanted = False
            tag, text = None, f"Line too long (at most {self.max_line} octets with its CRLF)"
        else:
            tag = self._command.tag if self._command else _tag_of(bytes(self._buffer[:budget]))
            text = f"Command line too long (at most {self.max_line} octets, literals not counted)"
        self._command, self._refused_tag, self._follow_literals = None, tag, not raw
        self._start_discarding()
        return ParseError(tag, text)

    def _start_discarding(self) -> None:
        self._state, self._tail, self._dropped = _State.DISCARD, b"", 0

    def _discard_line(self) -> Event | _Wait | None:
        end = self._buffer.find(b"\n")
        dropped = self._take(len(self._buffer) if end < 0 else end + 1)
        if end >= 0:
            dropped = dropped[:-1]
        self._tail = (self._tail + dropped[-_TAIL:])[-_TAIL:]
        self._dropped += len(dropped)
        if end < 0:
            return _Wait.MORE
        truncated = self._dropped > len(self._tail)
        tail = self._tail.removesuffix(b"\r")
        if not self._follow_literals:
            self._state = _State.LINE
            return None
        return self._after_refused_line(tail, truncated)

    def _after_refused_line(self, tail: bytes, truncated: bool) -> Event | None:
        """The line of a refused command has ended: does a literal follow that the client sends anyway?"""
        literal = _announced_literal(tail, truncated)
        if literal is not None and not literal.synchronizing:
            if literal.length >= _NUMBER_LIMIT:
                self._state, self._pending, self._command = _State.CLOSED, None, None
                self._buffer.clear()
                return ParseError(self._refused_tag, "Cannot skip a non-synchronizing literal whose size is "
                                  "not a number below 2**32: closing the connection", fatal=True)
            self._skip, self._state = literal.length, _State.SKIP
            return None
        # No literal, or a synchronizing one: the client waits for a "+" that
        # will not come, so its next line is a new command.
        self._state = _State.LINE
        error, self._pending = self._pending, None
        return error

    def _skip_literal(self) -> _Wait | None:
        # Counted, not buffered: a client may send megabytes here.
        self._skip -= len(self._take(min(self._skip, len(self._buffer))))
        if self._skip:
            return _Wait.MORE
        self._start_discarding()  # then the rest of that line, which may announce another literal
        return None

    def _take(self, count: int) -> bytes:
        taken = bytes(self._buffer[:count])
        del self._buffer[:count]
        self._searched = 0
        return taken


def parse_line(data: bytes) -> Event:
    """The first event that reading ``data`` gives, skipping continuation requests.

    For tests and notebooks: ``data`` is one complete command, CRLF included,
    with any literals inline::

        >>> parse_line(b'a1 LOGIN {4}\\r\\njane {13+}\\r\\njane-password\\r\\n')
        Command(tag='a1', name='LOGIN', args=[b'jane', b'jane-password'])
    """
    reader = CommandReader()
    reader.feed(data)
    while (event := reader.next_event()) is not None:
        if not isinstance(event, ContinuationRequest):
            return event
    raise ValueError(f"not a complete command (does it end with CRLF?): {bytes(data[:60])!r}")
