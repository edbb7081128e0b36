"""Reading recorded traffic back: each command with its reply, sans-I/O.

Theory of operation
-------------------
A tap records what crossed the wire, line by line and direction by
direction (`mailcourse.trace`). To say *what happened*, a reader must pair
each command with the reply that answers it, and that takes each
protocol's own rules:

- SMTP (RFC 5321 section 4.2): a reply may run over several lines
  (``250-`` ... ``250``); replies come in the order of the commands, even
  when a client pipelines them (RFC 2920 section 3); after ``354`` the
  client's lines are the message, up to a line holding only ``.`` (section
  4.1.1.4); a ``334`` asks for a SASL response (RFC 4954 section 4).
- POP3 (RFC 1939 section 3): one status line, ``+OK`` or ``-ERR``; some
  positive responses go on over several lines up to a ``.``; responses come
  in command order, pipelined or not (RFC 2449 section 6.6); a ``+`` line is
  a SASL challenge (RFC 5034 section 4).
- IMAP (RFC 3501 section 2.2.2): untagged ``*`` responses while a command
  runs, and a tagged completion that names the command by its tag; a
  literal is ``{n}`` at the end of a line and n octets after it (section
  4.3), whatever they look like; a ``+`` is a continuation request: send the
  literal, the next SASL response, or (IDLE, RFC 2177 section 3) "I am
  idling" while the server pushes untagged news.
- STARTTLS (SMTP, RFC 3207; IMAP, RFC 3501 section 6.2.1) and STLS (POP3,
  RFC 2595): after the positive reply come the TLS handshake, then
  ciphertext, opaque to us. An implicit-TLS session (RFC 8314: submissions,
  pop3s, imaps, https; ``tls="implicit"``) begins with the handshake. The
  trace gives one line per TLS record (`mailcourse.protocols.tls.record_line`):
  the handshake's records are one `HANDSHAKE` part, each run of the others
  in one direction a `CIPHERTEXT` part. Read with the session's keys
  (``decrypted=True``), the lines after the handshake are the dialogue
  inside, read as any other.
- HTTP (RFC 9112 section 9.3): responses come in the order of the
  requests; a 1xx response is interim and answers nothing yet.
- DNS (RFC 1035 section 4): binary messages, not lines. Over UDP each
  datagram is one message; over TCP each has a two-byte length in front
  (section 4.2.2). `dns_lines` turns each into lines a student can read
  (``query MX example.org``, ``answer MX 10 mail.example.org.``,
  ``answer NXDOMAIN``); an answer carries its query's id, and a lab
  connection holds one query and its answer (UDP) or answers in order (TCP).

This module knows those rules once, for every view that needs them (the
transcript, the ladder, the round-trip counts, the lessons' checks).
`read_exchanges` takes the ``(direction, line)`` pairs of one connection
and gives a list of `Exchange`: the greeting (no command), then each
command with what the server said to it, in the order the commands were
sent. `read_http` does the same for HTTP messages already framed by
`mailcourse.protocols.http`::

    >>> [e.command or e.final for e in read_exchanges("POP3", [
    ...     (S2C, "+OK ready"), (C2S, "STAT"), (C2S, "QUIT"), (S2C, "+OK 1 120"), (S2C, "+OK bye")])]
    ['+OK ready', 'STAT', 'QUIT']

Each exchange keeps its `Part` s, the runs of lines each side sent, with
where each starts among the session's lines, so the ladder can draw them in
the order they crossed even when pipelining interleaves them. It reads a
*recording*: it never refuses anything, and a connection cut in the middle
leaves its last exchange ``complete=False``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import http
from .http import HttpMessage, message_lines
from .tls.recording import HANDSHAKE_LINE

C2S = "c2s"  # client to server
S2C = "s2c"  # server to client

# The kinds of part, each drawn as one arrow of a ladder.
COMMAND = "command"  # a client's command line (with an IMAP literal, the lines that go on after it)
REPLY = "reply"  # a server's reply, response, or an IMAP command's run of responses
CHALLENGE = "challenge"  # a continuation request: SMTP 334, POP3 and IMAP "+"
ANSWER = "answer"  # what the client sent after a continuation request: a SASL response, IDLE's DONE
MESSAGE = "message"  # SMTP: the mail data between 354 and "."
PUSHED = "pushed"  # IMAP: untagged responses sent while the client idles
CIPHERTEXT = "ciphertext"  # after STARTTLS / STLS: one run of opaque lines in one direction
HANDSHAKE = "handshake"  # the TLS handshake's records, both directions: one part


@dataclass
class Part:
    """A run of lines one side sent, of one ``kind``; ``at``: where its first line stands in the session."""

    direction: str
    kind: str
    lines: list[str]
    at: int


@dataclass
class Exchange:
    """One command and what the server said to it; or the greeting; or what followed STARTTLS.

    ``command`` is the client's line as sent ("" for the greeting and for
    ciphertext), ``verb`` its command name in capitals (``"MAIL"``,
    ``"UID FETCH"``: IMAP's UID prefix is kept, RFC 3501 section 6.4.8),
    ``argument`` the rest, ``tag`` the IMAP tag. ``parts`` hold every line
    of the exchange in the order it crossed; the properties read them.
    ``data`` is the dot-terminated text (SMTP: the message between 354 and
    "."; POP3: a multi-line response after its status line), as on the wire
    and without the "."; ``untagged`` and ``pushed`` are an IMAP command's
    untagged responses, each one string with its literals folded in.
    ``complete`` is False while the final reply is missing (the recording
    ends first).
    """

    protocol: str
    command: str = ""
    verb: str = ""
    argument: str = ""
    tag: str = ""
    parts: list[Part] = field(default_factory=list)
    data: list[str] | None = None
    untagged: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    complete: bool = False
    request: HttpMessage | None = None  # HTTP
    response: HttpMessage | None = None  # HTTP: None while no final response came

    @property
    def replies(self) -> list[list[str]]:
        """The lines of each reply, in order (SMTP's DATA has two: 354, then the one after ".")."""
        return [part.lines for part in self.parts if part.kind == REPLY]

    @property
    def final(self) -> str:
        """The line that says how it ended: SMTP's last reply line, POP3's status line, IMAP's tagged line."""
        replies = self.replies
        if not replies:
            return ""
        return replies[-1][0] if self.protocol == "POP3" else replies[-1][-1]

    @property
    def status(self) -> str:
        """The verdict: "250", "+OK" or "-ERR", "OK" / "NO" / "BAD", "303"; "" without a final reply."""
        if self.response is not None:
            return str(self.response.status or "")
        if not self.complete:
            return ""
        words = self.final.split()
        if self.protocol == "SMTP":
            return self.final[:3]
        if self.protocol == "IMAP":  # "a1 OK done", or an untagged "* OK ready"
            return words[1].upper() if len(words) > 1 else ""
        return words[0] if words else ""

    @property
    def text(self) -> str:
        """The rest of the final line after the status (IMAP: ``[APPENDUID 1 4] done``)."""
        if self.protocol == "IMAP" and self.tag:
            words = self.final.split(" ", 2)
            return words[2] if len(words) > 2 else ""
        return self.final.partition(" ")[2]

    @property
    def ok(self) -> bool:
        return self.status in ("+OK", "OK") or self.status[:1] == "2"

    @property
    def continuations(self) -> list[tuple[str, list[str]]]:
        """Each continuation request (334, "+") with what the client sent after it."""
        found: list[tuple[str, list[str]]] = []
        for part in self.parts:
            if part.kind == CHALLENGE:
                found += [(line, []) for line in part.lines]
            elif part.kind in (ANSWER, COMMAND) and found:
                found[-1][1].extend(part.lines)
        return found

    @property
    def last_client_line(self) -> str:
        """The client's last line before the final reply: the command, a SASL response, or the "." of DATA."""
        sent = [part for part in self.parts if part.direction == C2S]
        return sent[-1].lines[-1] if sent else ""


def read_exchanges(protocol: str, lines: Iterable[tuple[str, str]], tls: str | None = None,
                   decrypted: bool = False) -> list[Exchange]:
    """The exchanges of one connection of ``protocol`` ("SMTP", "POP3", "IMAP", "LOCAL") from its lines.

    ``tls="implicit"`` (the connection's ``tls``) says the session was TLS from
    its first byte: then, and after STARTTLS, one exchange with no command
    holds the handshake and the ciphertext. ``decrypted``: the lines after
    the handshake are what the endpoints read (`Trace.lines` with a key log),
    and are read as the protocol's own. HTTP has no line reader (`read_http`),
    except for its ciphertext (``tls="implicit"``).
    """
    protocol = protocol.upper()
    readers = {"SMTP": _SmtpReader, "POP3": _Pop3Reader, "IMAP": _ImapReader, "LOCAL": _LocalReader,
               "DNS": _DnsReader}
    if protocol == "HTTP" and tls == "implicit" and not decrypted:
        readers["HTTP"] = _Reader  # nothing but records
    if protocol not in readers:
        raise ValueError(f"no line reader for {protocol!r}: use read_http for HTTP")
    reader = readers[protocol](protocol)
    if tls == "implicit":
        reader.encrypt()
    for at, (direction, line) in enumerate(lines):
        if reader.encrypted is not None and decrypted and reader.encrypted.parts and not line.startswith(
                HANDSHAKE_LINE):
            reader.encrypted = None  # the handshake is over: the dialogue goes on inside TLS
        if reader.encrypted is not None:
            reader.ciphertext(direction, line, at)
        elif direction == C2S:
            reader.client(line, at)
        else:
            reader.server(line, at)
    return reader.found


def read_http(messages: Iterable[tuple[str, HttpMessage]], at: int = 0) -> list[Exchange]:
    """HTTP: each request with its final response, in order (RFC 9112 section 9.3.2).

    ``messages`` are ``(direction, message)`` in the order they were complete
    (as `Trace` frames them). A 1xx response is interim (RFC 9110 section
    15.2): it stays in the exchange's parts, and the final response follows.
    ``at``: where the first message's first line stands among the session's
    lines (after an HTTPS handshake's).
    """
    found: list[Exchange] = []
    for direction, message in messages:
        lines = message_lines(message)
        if direction == C2S:
            exchange = Exchange("HTTP", message.start, message.method, message.target, request=message)
            exchange.parts.append(Part(C2S, COMMAND, lines, at))
            found.append(exchange)
        else:
            waiting = next((e for e in found if not e.complete), None)
            if waiting is not None:
                waiting.parts.append(Part(S2C, REPLY, lines, at))
                if message.status is None or message.status >= 200:
                    waiting.response, waiting.complete = message, True
        at += len(lines)
    return found


# -- the readers: one per protocol, all fed the same way ----------------------------------


class _Reader:
    """What every reader shares: the exchanges found, the ones waiting, the end in ciphertext."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.found: list[Exchange] = []
        self.waiting: list[Exchange] = []  # sent, not yet answered in full: the oldest first
        self.greeted = False
        self.encrypted: Exchange | None = None  # after a positive answer to STARTTLS / STLS

    def client(self, line: str, at: int) -> None:
        raise NotImplementedError

    def server(self, line: str, at: int) -> None:
        raise NotImplementedError

    def command(self, line: str, at: int, verb: str, argument: str, tag: str = "") -> Exchange:
        exchange = Exchange(self.protocol, line, verb, argument, tag, [Part(C2S, COMMAND, [line], at)])
        self.found.append(exchange)
        self.waiting.append(exchange)
        return exchange

    def unasked(self, line: str, at: int) -> Exchange:
        """A reply no command asked for: the greeting, or a server closing (421, ``* BYE``)."""
        self.greeted = True
        exchange = Exchange(self.protocol, parts=[Part(S2C, REPLY, [line], at)])
        self.found.append(exchange)
        return exchange

    def done(self, exchange: Exchange) -> None:
        exchange.complete = True
        if exchange in self.waiting:
            self.waiting.remove(exchange)
        if exchange.verb in ("STARTTLS", "STLS") and exchange.ok:
            self.encrypt()

    def encrypt(self) -> None:
        """From here on the lines are ciphertext: one exchange holds them all."""
        self.encrypted = Exchange(self.protocol, complete=True)
        self.found.append(self.encrypted)

    def ciphertext(self, direction: str, line: str, at: int) -> None:
        assert self.encrypted is not None
        if not line.startswith(HANDSHAKE_LINE):
            _extend(self.encrypted, direction, CIPHERTEXT, line, at)
            return
        # Both sides take turns in the handshake (RFC 8446 section 2): one part for all of it.
        last = self.encrypted.parts[-1] if self.encrypted.parts else None
        if last is not None and last.kind == HANDSHAKE and last.at + len(last.lines) == at:
            last.lines.append(line)
        else:
            self.encrypted.parts.append(Part(C2S, HANDSHAKE, [line], at))  # the client begins it


def _extend(exchange: Exchange, direction: str, kind: str, line: str, at: int) -> Part:
    """Add a line to the exchange's last part if it is of this kind and right before, else start a part."""
    last = exchange.parts[-1] if exchange.parts else None
    if last is not None and (last.direction, last.kind) == (direction, kind) and last.at + len(last.lines) == at:
        last.lines.append(line)
        return last
    part = Part(direction, kind, [line], at)
    exchange.parts.append(part)
    return part


_SMTP_REPLY = re.compile(r"^(\d{3})([ -]|$)")


class _SmtpReader(_Reader):
    """RFC 5321: replies in command order (RFC 2920), DATA's message, AUTH's 334 (RFC 4954)."""

    def __init__(self, protocol: str) -> None:
        super().__init__(protocol)
        self.reply: tuple[Exchange, Part] | None = None  # a multi-line reply still open
        self.message: Exchange | None = None  # DATA after its 354: the client's lines are the message

    def client(self, line: str, at: int) -> None:
        if self.message is not None:
            _extend(self.message, C2S, MESSAGE, line, at)
            if line == ".":  # the end of the mail data (section 4.1.1.4); the final reply comes next
                self.message = None
            else:
                assert self.message.data is not None
                self.message.data.append(line)
            return
        # While AUTH waits for its final reply, every client line is a SASL response (RFC 4954
        # section 4), even one written before the 334 arrived; "*" cancels, and answers too.
        if self.waiting and self.waiting[-1].verb == "AUTH":
            _extend(self.waiting[-1], C2S, ANSWER, line, at)
            return
        verb, _, argument = line.partition(" ")
        self.command(line, at, verb.upper(), argument)

    def server(self, line: str, at: int) -> None:
        match = _SMTP_REPLY.match(line)
        if self.reply is not None:
            exchange, part = self.reply
            part.lines.append(line)
        else:
            # The server speaks first (section 3.1): its 220 greeting answers no command, even if
            # a client talked early. A reply with no command waiting answers none either (a 421).
            greeting = not self.greeted and line.startswith("220")
            exchange = self.waiting[0] if self.waiting and not greeting else self.unasked(line, at)
            if exchange.parts[-1].at != at:
                kind = CHALLENGE if match and match.group(1) == "334" else REPLY
                exchange.parts.append(Part(S2C, kind, [line], at))
            part = exchange.parts[-1]
        if match and match.group(2) == "-":
            self.reply = exchange, part
            return  # more lines of this reply follow (section 4.2.1)
        self.reply = None
        code = match.group(1) if match else ""
        if part.kind == CHALLENGE:
            return  # the exchange goes on with the client's response
        if exchange.verb == "DATA" and code == "354" and exchange.data is None:
            exchange.data, self.message = [], exchange  # the message comes next, then the final reply
            return
        if exchange.command:
            self.done(exchange)
        else:
            exchange.complete = True


def _pop3_multi_line(exchange: Exchange) -> bool:
    """Does a positive answer to this command go on over several lines?

    RETR and TOP send a message, CAPA a list of capabilities; LIST and UIDL
    send a listing only when asked about every message (RFC 1939 sections
    5 and 7, RFC 2449 section 5). Everything else is one line.
    """
    if exchange.verb in ("RETR", "TOP", "CAPA"):
        return True
    return exchange.verb in ("LIST", "UIDL") and not exchange.argument.strip()


class _Pop3Reader(_Reader):
    """RFC 1939: status lines and multi-line responses, in command order (RFC 2449 section 6.6)."""

    def __init__(self, protocol: str) -> None:
        super().__init__(protocol)
        self.reading: Exchange | None = None  # the multi-line response being read

    def client(self, line: str, at: int) -> None:
        # While AUTH waits for its final response, the client's lines answer its "+" challenges.
        if self.waiting and self.waiting[-1].verb == "AUTH" and any(
                p.kind == CHALLENGE for p in self.waiting[-1].parts):
            _extend(self.waiting[-1], C2S, ANSWER, line, at)
            return
        verb, _, argument = line.partition(" ")
        self.command(line, at, verb.upper(), argument.strip())

    def server(self, line: str, at: int) -> None:
        if self.reading is not None:
            self.reading.parts[-1].lines.append(line)
            if line == ".":
                self.done(self.reading)
                self.reading = None
            else:
                assert self.reading.data is not None
                self.reading.data.append(line)
            return
        if not self.greeted or not self.waiting:
            self.unasked(line, at).complete = True
            return
        exchange = self.waiting[0]
        if line == "+" or line.startswith("+ "):
            exchange.parts.append(Part(S2C, CHALLENGE, [line], at))
            return
        exchange.parts.append(Part(S2C, REPLY, [line], at))
        if line.startswith("+OK") and _pop3_multi_line(exchange):
            exchange.data, self.reading = [], exchange
        else:
            self.done(exchange)


_LITERAL = re.compile(r"\{(\d+)(\+?)\}$")  # a line that announces a literal of n octets (RFC 3501 section 4.3)


class _ImapReader(_Reader):
    """RFC 3501: tags, untagged responses, literals, "+" continuations, IDLE (RFC 2177)."""

    def __init__(self, protocol: str) -> None:
        super().__init__(protocol)
        self.remaining = {C2S: 0, S2C: 0}  # per direction: octets of a literal still to come
        self.sending: Exchange | None = None  # a command whose line goes on after its literal
        self.go_ahead: Exchange | None = None  # the command that waits for "+" to send its literal
        # A server response that goes on after its literal: the exchange, the part's kind, and the
        # list and index of its folded text.
        self.responding: tuple[Exchange, str, list[str], int] | None = None

    def _announced(self, direction: str, line: str) -> re.Match[str] | None:
        announced = _LITERAL.search(line)
        self.remaining[direction] = int(announced.group(1)) if announced else 0
        return announced

    def client(self, line: str, at: int) -> None:
        if self.sending is not None:  # the literal's octets, then the rest of the command's line
            _extend(self.sending, C2S, COMMAND, line, at)
            if self.remaining[C2S] > 0:
                self.remaining[C2S] -= len(line.encode("utf-8")) + 2  # the line and its CRLF
            else:
                self._sent(self.sending, line)
            return
        running = self.waiting[-1] if self.waiting else None
        if running is not None and running.verb in ("AUTHENTICATE", "IDLE") and any(
                part.kind == CHALLENGE for part in running.parts):
            _extend(running, C2S, ANSWER, line, at)  # a SASL response, or the DONE that ends IDLE
            return
        tag, _, rest = line.partition(" ")
        verb, _, argument = rest.partition(" ")
        verb = verb.upper()
        if verb == "UID":
            sub, _, argument = argument.partition(" ")
            verb = f"UID {sub.upper()}"
        self._sent(self.command(line, at, verb, argument, tag), line)

    def _sent(self, exchange: Exchange, line: str) -> None:
        """A line of a command is complete: does a literal follow, and must it wait for "+"?"""
        announced = self._announced(C2S, line)
        self.sending = exchange if announced else None
        if announced and not announced.group(2):  # {n} waits for "+"; {n+} does not (RFC 7888)
            self.go_ahead = exchange

    def server(self, line: str, at: int) -> None:
        if self.responding is not None:  # a literal's octets, then the rest of the response
            exchange, kind, folded, index = self.responding
            _extend(exchange, S2C, kind, line, at)
            if self.remaining[S2C] > 0:
                self.remaining[S2C] -= len(line.encode("utf-8")) + 2
                return
            folded[index] = f"{folded[index]} {line}".rstrip()  # e.g. ")" closing a FETCH response
            if not self._announced(S2C, line):
                self.responding = None
            return
        if line == "+" or line.startswith("+ "):
            # A continuation request: for the command that waits to send a literal, else for the
            # command in progress (AUTHENTICATE's challenge, IDLE's "idling").
            exchange = self.go_ahead or (self.waiting[-1] if self.waiting else None)
            self.go_ahead = None
            if exchange is not None:
                exchange.parts.append(Part(S2C, CHALLENGE, [line], at))
            return
        tag = line.partition(" ")[0]
        if tag == "*" or not self.greeted:
            if not self.greeted or not self.waiting:  # the greeting, or a response no command runs for
                exchange, kind = self.unasked(line, at), REPLY
                exchange.complete, folded = True, exchange.untagged
            else:
                # Untagged responses belong to the oldest command still running; while a client
                # idles they answer nothing: the server pushes them (RFC 2177 section 3).
                exchange = self.waiting[0]
                idling = exchange.verb == "IDLE" and any(p.kind == CHALLENGE for p in exchange.parts)
                kind, folded = (PUSHED, exchange.pushed) if idling else (REPLY, exchange.untagged)
                _extend(exchange, S2C, kind, line, at)
            folded.append(line)
            if self._announced(S2C, line):
                self.responding = exchange, kind, folded, len(folded) - 1
            return
        # A tagged completion names its command (section 2.2.2): pipelined commands end in any order.
        exchange = next((e for e in self.waiting if e.tag == tag), None) or self.unasked(line, at)
        if exchange.command:
            _extend(exchange, S2C, REPLY, line, at)
            self.done(exchange)


class _LocalReader(_Reader):
    """A local hand-over (MailServer.inject): the message itself, in one piece."""

    def client(self, line: str, at: int) -> None:
        if not self.found:
            self.found.append(Exchange(self.protocol, data=[], complete=True))
        exchange = self.found[0]
        assert exchange.data is not None
        exchange.data.append(line)
        _extend(exchange, C2S, MESSAGE, line, at)

    def server(self, line: str, at: int) -> None:
        pass  # nothing answers a hand-over


class _DnsReader(_Reader):
    """DNS, read from `dns_lines`: each query line with the answer lines that follow it.

    The lab's clients and dig ask one question per connection (UDP or TCP),
    so the lines after a query are its answer; a pipelined TCP session would
    need the ids, which the lines leave out.
    """

    def client(self, line: str, at: int) -> None:
        verb, _, argument = line.removeprefix("query ").partition(" ")
        self.command(line, at, verb, argument)

    def server(self, line: str, at: int) -> None:
        exchange = self.found[-1] if self.found else self.unasked(line, at)
        _extend(exchange, S2C, REPLY, line, at)
        self.done(exchange)


def dns_lines(events: Iterable[tuple[float, str, bytes]], framed: bool) -> list[tuple[float, str, str]]:
    """``(time, direction, line)`` for the DNS messages in ``events`` (time, direction, bytes).

    ``framed``: TCP, where each message has a two-byte length in front and
    may arrive in pieces (RFC 1035 section 4.2.2); else UDP, a message per event.
    """
    from .dns import summary  # dnspython, only for a lab that runs DNS

    found: list[tuple[float, str, str]] = []
    buffers: dict[str, bytes] = {}
    for when, direction, data in events:
        if not framed:
            found += [(when, direction, line) for line in summary(data)]
            continue
        buffer = buffers.get(direction, b"") + data
        while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
            size = int.from_bytes(buffer[:2], "big")
            found += [(when, direction, line) for line in summary(buffer[2:2 + size])]
            buffer = buffer[2 + size:]
        buffers[direction] = buffer
    return found


def read_http_bytes(sent: bytes, received: bytes) -> list[http.HttpExchange]:
    """The requests a client sent, each with its response, in order (RFC 9112 section 9.3.2)."""
    requests = http.read_messages(sent, http.REQUEST)
    responses = http.read_messages(received, http.RESPONSE, [r.method for r in requests])
    messages = [(C2S, r) for r in requests] + [(S2C, r) for r in responses]
    return [http.HttpExchange(e.request, e.response) for e in read_http(messages) if e.request is not None]
