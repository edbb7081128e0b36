"""POP3, the Post Office Protocol (RFC 1939), as a sans-I/O session: bytes in, replies out.

Theory of operation
-------------------
A `POP3Session` is one client's conversation with a POP3 server, without
the network. Feed it what the client sent, get back what the server answers::

    >>> session = POP3Session(backend, "mail.somewhereelse.com", "<1.3F2A@mail.somewhereelse.com>")
    >>> bytes(session.greeting)
    b'+OK mail.somewhereelse.com POP3 server ready <1.3F2A@mail.somewhereelse.com>\\r\\n'
    >>> [bytes(r) for r in session.receive_data(b"USER jane\\r\\nPASS jane-password\\r\\n")]
    [b'+OK send PASS\\r\\n', b"+OK jane's maildrop has 2 messages (320 octets)\\r\\n"]

The asyncio server (`mailcourse.servers.pop3`), a widget's "step" button and
a unit test drive the same object the same way. It never touches a socket.

A session moves through the three states of RFC 1939 section 3::

    AUTHORIZATION --USER+PASS, APOP or AUTH: +OK--> TRANSACTION --QUIT--> UPDATE

`COMMANDS` says in which states each command is valid, and `TRANSITIONS`
which replies move the session on. The session obeys these two tables and
nothing else, so a state chart drawn from them cannot drift from the code.
Each command is a method named after it (``cmd_RETR`` for RETR), found by
name once the table has said the command is allowed now.

Errors are replies: a command the session refuses gets ``-ERR`` and the
session goes on. (Inside, a command method raises `CommandError`, which
carries its own ``-ERR`` reply, so that each method reads straight down.)

Where the mail lives is not this module's business: a `Backend` checks
logins, locks a maildrop and lists, reads and deletes its messages. The lab's
backend is in `mailcourse.servers.pop3`; the tests use one in memory.

What this server offers, and says so in CAPA (RFC 2449): TOP and UIDL
(RFC 1939 section 7), USER/PASS, APOP, SASL PLAIN (RFC 5034, with or
without an initial response), RESP-CODES (``[IN-USE]``), AUTH-RESP-CODE
(``[AUTH]``, ``[SYS/TEMP]``, RFC 3206), PIPELINING, and STLS (RFC 2595).

STLS: the session itself does no TLS. After ``+OK Begin TLS negotiation``
it reads nothing more, and forgets what the client sent after STLS (a
command smuggled in plain text behind STLS must not run as if it had come
inside TLS: the injection of CVE-2011-0411). ``tls_requested`` tells the
server to do the handshake, and `tls_started` that it is done.
"""
from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Protocol


class State(enum.Enum):
    """The states of a POP3 session (RFC 1939 section 3)."""

    AUTHORIZATION = "AUTHORIZATION"  # the client says who it is
    TRANSACTION = "TRANSACTION"  # the maildrop is locked; the client reads and marks messages
    UPDATE = "UPDATE"  # after QUIT: marked messages are removed, the lock released, goodbye


AUTHORIZATION, TRANSACTION, UPDATE = State.AUTHORIZATION, State.TRANSACTION, State.UPDATE

# Where each command is valid: RFC 1939 section 9 (the command summary),
# CAPA from RFC 2449 section 5 and AUTH from RFC 5034 section 4. A command
# outside its states gets -ERR before any command method runs.
COMMANDS: dict[str, frozenset[State]] = {
    "USER": frozenset({AUTHORIZATION}),
    "PASS": frozenset({AUTHORIZATION}),
    "APOP": frozenset({AUTHORIZATION}),
    "AUTH": frozenset({AUTHORIZATION}),
    "CAPA": frozenset({AUTHORIZATION, TRANSACTION}),
    "QUIT": frozenset({AUTHORIZATION, TRANSACTION}),
    "STAT": frozenset({TRANSACTION}),
    "LIST": frozenset({TRANSACTION}),
    "RETR": frozenset({TRANSACTION}),
    "DELE": frozenset({TRANSACTION}),
    "NOOP": frozenset({TRANSACTION}),
    "RSET": frozenset({TRANSACTION}),
    "TOP": frozenset({TRANSACTION}),
    "UIDL": frozenset({TRANSACTION}),
    "STLS": frozenset({AUTHORIZATION}),  # RFC 2595 section 4: "only permitted in AUTHORIZATION state"
}

# The commands that send a password (or its digest). With ``login_requires_tls`` they are
# refused outside TLS, before any command method runs (RFC 2595 section 4 lets a server do so).
LOGIN_COMMANDS = frozenset({"USER", "PASS", "APOP", "AUTH"})

# (state, command, reply was +OK) -> next state. Anything not listed stays where it is.
TRANSITIONS: dict[tuple[State, str, bool], State] = {
    (AUTHORIZATION, "PASS", True): TRANSACTION,
    (AUTHORIZATION, "APOP", True): TRANSACTION,
    (AUTHORIZATION, "AUTH", True): TRANSACTION,
    # RFC 1939 section 6: QUIT from TRANSACTION enters UPDATE, whether or not
    # every marked message could be removed (-ERR says some could not).
    (TRANSACTION, "QUIT", True): UPDATE,
    (TRANSACTION, "QUIT", False): UPDATE,
}
# QUIT from AUTHORIZATION ends the session without UPDATE (RFC 1939 section 4):
# nothing was locked, so there is nothing to remove. `POP3Session.ended` says so.

# CAPA's answer (RFC 2449 section 5). The same list in both states: "Capabilities
# available in the AUTHORIZATION state MUST be announced in both states."
CAPABILITIES = ("TOP", "UIDL", "USER", "SASL PLAIN", "RESP-CODES", "AUTH-RESP-CODE",
                "PIPELINING", "IMPLEMENTATION mailcourse")
SASL_MECHANISMS = ("PLAIN",)

# RFC 2449 section 4: "The maximum length of a command is increased from 47
# characters ... to 255 octets, including the terminating CRLF."
MAX_COMMAND_LINE = 255
# RFC 5034 section 4 keeps the AUTH command itself within that limit: a client
# whose initial response would not fit must wait for the "+ " challenge and
# send it on a line of its own, so such a line may be longer.
MAX_SASL_LINE = 4096

_NUMBER = re.compile(r"[0-9]{1,10}")
_VERB = re.compile(r"[A-Z]{1,8}")


@dataclass(frozen=True)
class Message:
    """One message of a maildrop, as a session sees it."""

    key: int  # the backend's name for it (the store's UID); passed back to read and delete
    unique_id: str  # what UIDL shows: the same in every session (RFC 1939 section 7)
    size: int  # octets, as RETR will send them (before byte-stuffing)


class Backend(Protocol):
    """Where the mail is: what a session asks of the server it runs in."""

    def authenticate(self, login: str, password: str) -> str | None:
        """The account a login and password open, or None."""

    def shared_secret(self, login: str) -> tuple[str, str] | None:
        """(account, secret) for APOP, or None: the server must know the secret itself."""

    def lock(self, account: str) -> list[Message] | None:
        """Lock the maildrop and list its messages, oldest first; None if another session holds it."""

    def unlock(self, account: str) -> None:
        """Release the lock taken by `lock`."""

    def read(self, account: str, message: Message) -> bytes | None:
        """The message's bytes as stored (CRLF line ends), or None if it has gone."""

    def delete(self, account: str, messages: list[Message]) -> int:
        """Remove the messages for good; returns how many could not be removed."""


@dataclass(frozen=True)
class Reply:
    """One server response: a status line, and for a multi-line response its lines.

    ``bytes(reply)`` is what goes on the wire. ``body`` holds the lines of a
    multi-line response (RFC 1939 section 3) as they are, before byte-stuffing.
    """

    status: str  # "+OK", "-ERR", or "+" for a SASL challenge (RFC 5034 section 4)
    text: str = ""
    body: bytes | None = None

    @property
    def ok(self) -> bool | None:
        """True for +OK, False for -ERR, None for a challenge (the command is not finished)."""
        return {"+OK": True, "-ERR": False}.get(self.status)

    def __bytes__(self) -> bytes:
        # A challenge always has its space: an empty one is "+ " (RFC 5034 section 4).
        line = self.status + (" " + self.text if self.text or self.status == "+" else "")
        out = line.encode() + b"\r\n"
        if self.body is not None:
            out += byte_stuff(self.body) + b".\r\n"
        return out


def byte_stuff(body: bytes) -> bytes:
    """The lines of a multi-line response, ready to be followed by the final ``.`` line.

    RFC 1939 section 3: "If any line of the multi-line response begins with
    the termination octet, the line is 'byte-stuffed' by pre-pending the
    termination octet to that line of the response." The client removes it
    again, so a message line ".signature" arrives as it was sent.
    """
    if body and not body.endswith(b"\n"):
        body += b"\r\n"  # the terminating "." must start a line of its own
    return re.sub(rb"(?m)^\.", b"..", body)


def top(raw: bytes, lines: int) -> bytes:
    """The header section, the blank line, and the first ``lines`` lines of the body.

    That is what TOP returns (RFC 1939 section 7). A message without a blank
    line is all header, and is returned whole; so is a message whose body has
    no more than ``lines`` lines (fetchmail asks for ``TOP n 99999999``).
    """
    pieces = raw.split(b"\n")
    kept = [piece + b"\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    for i, line in enumerate(kept):
        if line in (b"\r\n", b"\n"):
            return b"".join(kept[:i + 1 + lines])
    return raw


def apop_digest(timestamp: str, secret: str) -> str:
    """RFC 1939 section 7: MD5 of the greeting's timestamp followed by the shared secret, in hex."""
    return hashlib.md5((timestamp + secret).encode()).hexdigest()


class CommandError(Exception):
    """A command the session refuses; it carries its own ``-ERR`` reply."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.reply = Reply("-ERR", text)


def _ok(text: str = "", body: bytes | None = None) -> Reply:
    return Reply("+OK", text, body)


class POP3Session:
    """One POP3 session, server side, without I/O.

    ``timestamp`` goes in the greeting (``<process-ID.clock@hostname>`` in
    RFC 1939 section 7): it must differ for every session, because APOP's
    digest is made from it and a digest seen once must not work again.
    """

    def __init__(self, backend: Backend, hostname: str, timestamp: str, *, starttls: bool = False,
                 tls: bool = False, login_requires_tls: bool = False) -> None:
        self.backend = backend
        self.hostname = hostname
        self.timestamp = timestamp
        self.starttls = starttls  # STLS is offered (the server has a certificate)
        self.tls = tls  # the session runs inside TLS (after STLS, or from the first byte: pop3s)
        self.tls_requested = False  # STLS was answered +OK: the server must do the handshake now
        self.login_requires_tls = login_requires_tls
        self.state = AUTHORIZATION
        self.ended = False  # after QUIT or a lost connection: the server closes
        self.account: str | None = None
        self.messages: list[Message] = []  # message n is messages[n - 1], for the whole session
        self.deleted: set[int] = set()  # numbers marked by DELE; removed only in UPDATE
        self._user: str | None = None  # USER was given; PASS must come next
        self._sasl: str | None = None  # a SASL mechanism waits for the client's response
        self._locked = False
        self._buffer = b""
        self._too_long = False  # dropping the rest of a line that is over the limit

    @property
    def greeting(self) -> Reply:
        """What the server says first, when the client connects."""
        return _ok(f"{self.hostname} POP3 server ready {self.timestamp}")

    # -- input ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Reply]:
        """Take bytes as they came from the client; return a reply for every complete line.

        Several commands in one piece of data (a client that pipelines,
        RFC 2449 section 6.6) get their replies in order. After QUIT the rest
        is ignored.
        """
        replies: list[Reply] = []
        if self.tls_requested:
            return replies  # bytes before the handshake is done are not commands (see `cmd_STLS`)
        self._buffer += data
        while not self.ended and not self.tls_requested:
            line, newline, rest = self._buffer.partition(b"\n")
            limit = MAX_SASL_LINE if self._sasl else MAX_COMMAND_LINE
            if not newline:
                if len(self._buffer) >= limit:  # this line will be too long: keep none of it
                    self._buffer, self._too_long = b"", True
                break
            self._buffer = rest
            if self._too_long or len(line) + 1 > limit:  # + 1: the LF (line still has its CR)
                self._too_long, self._sasl = False, None
                replies.append(Reply("-ERR", f"Line too long (at most {limit} octets with CRLF)"))
                continue
            replies.append(self.receive_line(line.removesuffix(b"\r")))
        if self.tls_requested:
            self._buffer = b""  # what came behind STLS in plain text is dropped, never run
        return replies

    def tls_started(self) -> None:
        """The server has done the TLS handshake that STLS asked for: commands come inside TLS now."""
        self.tls, self.tls_requested = True, False
        self._buffer, self._too_long = b"", False

    def receive_line(self, line: bytes) -> Reply:
        """Handle one complete line (without its CRLF) and return the reply."""
        if self.ended:
            raise RuntimeError("this POP3 session has ended")
        verb, argument = "AUTH", ""  # a line inside an AUTH exchange belongs to AUTH
        try:
            if self._sasl is not None:
                reply = self._sasl_response(line)
            else:
                verb, _, argument = line.decode("utf-8", "replace").partition(" ")
                verb = verb.upper()
                reply = self._dispatch(verb, argument)
        except CommandError as refused:
            reply = refused.reply
        if reply.ok is not None:
            self.state = TRANSITIONS.get((self.state, verb, reply.ok), self.state)
        return reply

    def _dispatch(self, verb: str, argument: str) -> Reply:
        valid_in = COMMANDS.get(verb)
        if valid_in is None:
            raise CommandError("Unknown command" + (f": {verb}" if _VERB.fullmatch(verb) else ""))
        if self.state not in valid_in:
            raise CommandError(f"{verb} is not valid in the {self.state.value} state")
        if verb in LOGIN_COMMANDS and self.login_requires_tls and not self.tls:
            raise CommandError("Passwords are accepted only inside TLS here: use STLS first")
        return getattr(self, f"cmd_{verb}")(argument)

    def connection_lost(self) -> None:
        """The connection has ended. Without QUIT there is no UPDATE: nothing is removed.

        RFC 1939 section 6: only QUIT from TRANSACTION removes the messages
        marked as deleted. A client that vanishes (or is hung up on) leaves the
        maildrop as it found it; its lock is released for the next session.
        """
        self.ended = True
        self._release()

    # -- AUTHORIZATION (RFC 1939 sections 4 and 7, RFC 5034) -------------------------

    def cmd_USER(self, argument: str) -> Reply:
        """USER name: who is logging in; PASS must follow."""
        name = argument.strip()
        if not name:
            raise CommandError("Syntax: USER name")
        self._user = name
        # The same answer for every name: telling which mailboxes exist would help a guesser.
        return _ok("send PASS")

    def cmd_PASS(self, argument: str) -> Reply:
        """PASS string: the password for the name given by USER."""
        if self._user is None:
            raise CommandError("USER first")
        # RFC 1939 section 7: the argument is the rest of the line, spaces and all.
        login, self._user = self._user, None
        account = self.backend.authenticate(login, argument)
        if account is None:
            raise CommandError("[AUTH] Invalid login or password")
        return self._open_maildrop(account)

    def cmd_APOP(self, argument: str) -> Reply:
        """APOP name digest: log in without sending the password (RFC 1939 section 7).

        The digest is MD5(timestamp + secret), the timestamp being the one in
        this session's greeting. (RFC 1939 suggests that a server offering both
        PASS and APOP allow only one of them per user; this lab allows both,
        so that the lessons can compare them.)
        """
        words = argument.split()
        if len(words) != 2:
            raise CommandError("Syntax: APOP name digest")
        name, digest = words
        found = self.backend.shared_secret(name)
        if found is None or not hmac.compare_digest(apop_digest(self.timestamp, found[1]), digest.lower()):
            raise CommandError("[AUTH] Invalid login or digest")
        return self._open_maildrop(found[0])

    def cmd_AUTH(self, argument: str) -> Reply:
        """AUTH mechanism [initial-response]: SASL authentication (RFC 5034).

        Without an initial response the server sends an empty challenge,
        ``+ ``, and the client's next line is its response (``*`` cancels).
        An empty initial response is sent as ``=``. (Some servers also answer
        ``AUTH`` alone with a list of mechanisms, a habit older than RFC 5034;
        here CAPA's ``SASL`` line says it, and a +OK to AUTH always means
        "logged in".)
        """
        words = _words(argument, "AUTH mechanism [initial-response]", 1, 2)
        mechanism = words[0].upper()
        if mechanism not in SASL_MECHANISMS:
            raise CommandError(f"Unsupported mechanism; this server offers {' '.join(SASL_MECHANISMS)}")
        if len(words) == 1:
            self._sasl = mechanism
            return Reply("+")
        return self._plain("" if words[1] == "=" else words[1])

    def _sasl_response(self, line: bytes) -> Reply:
        self._sasl = None
        response = line.decode("ascii", "replace").strip()
        if response == "*":
            raise CommandError("Authentication cancelled")  # RFC 5034 section 4
        return self._plain(response)

    def _plain(self, response: str) -> Reply:
        """SASL PLAIN (RFC 4616): base64 of ``authzid NUL login NUL password``."""
        try:
            blob = base64.b64decode(response, validate=True)
        except (binascii.Error, ValueError):
            raise CommandError("Invalid base64 in the SASL response") from None
        parts = blob.split(b"\0")
        if len(parts) != 3:
            raise CommandError("[AUTH] A PLAIN response is authzid NUL login NUL password")
        authzid, login, password = (part.decode("utf-8", "replace") for part in parts)
        if authzid and authzid != login:
            raise CommandError("[AUTH] The authorization identity must be empty or the login itself")
        account = self.backend.authenticate(login, password)
        if account is None:
            raise CommandError("[AUTH] Invalid login or password")
        return self._open_maildrop(account)

    def _open_maildrop(self, account: str) -> Reply:
        # RFC 1939 section 4: after a good login the server takes an exclusive
        # lock on the maildrop, so that two sessions cannot delete from it at once.
        messages = self.backend.lock(account)
        if messages is None:
            # RFC 2449 section 8.1.2: [IN-USE] means "the login was right, but not now".
            raise CommandError("[IN-USE] Maildrop already locked: another POP3 session is using it")
        self.account, self.messages, self.deleted, self._locked = account, messages, set(), True
        return _ok(f"{account}'s maildrop has {self._summary()}")

    # -- TRANSACTION (RFC 1939 sections 5 and 7) ----------------------------------------

    def cmd_STAT(self, argument: str) -> Reply:
        """STAT: how many messages, how many octets (messages marked as deleted not counted)."""
        _words(argument, "STAT", 0, 0)
        live = self._live()
        return _ok(f"{len(live)} {sum(m.size for _, m in live)}")

    def cmd_LIST(self, argument: str) -> Reply:
        """LIST [msg]: the size of one message, or of each one."""
        words = _words(argument, "LIST [msg]", 0, 1)
        if words:
            number = self._number(words[0])
            return _ok(f"{number} {self.messages[number - 1].size}")
        listing = "".join(f"{n} {m.size}\r\n" for n, m in self._live())
        return _ok(self._summary(), listing.encode())

    def cmd_RETR(self, argument: str) -> Reply:
        """RETR msg: the whole message, byte-stuffed, ended by a line holding ".".."""
        [word] = _words(argument, "RETR msg", 1, 1)
        number = self._number(word)
        raw = self._read(number)
        return _ok(_plural(len(raw), "octet"), raw)

    def cmd_TOP(self, argument: str) -> Reply:
        """TOP msg n: the header and the first n lines of the body."""
        word, count = _words(argument, "TOP msg n", 2, 2)
        number = self._number(word)
        if not _NUMBER.fullmatch(count):
            raise CommandError("Syntax: TOP msg n (n: how many body lines, 0 or more)")
        return _ok("top of message follows", top(self._read(number), int(count)))

    def cmd_DELE(self, argument: str) -> Reply:
        """DELE msg: mark a message as deleted. It is removed only in UPDATE, after QUIT."""
        [word] = _words(argument, "DELE msg", 1, 1)
        number = self._number(word)
        self.deleted.add(number)
        return _ok(f"message {number} deleted")

    def cmd_NOOP(self, argument: str) -> Reply:
        """NOOP: nothing, but a reply (are you still there?)."""
        _words(argument, "NOOP", 0, 0)
        return _ok()

    def cmd_RSET(self, argument: str) -> Reply:
        """RSET: unmark every message marked as deleted in this session."""
        _words(argument, "RSET", 0, 0)
        self.deleted.clear()
        return _ok(f"maildrop has {self._summary()}")

    def cmd_UIDL(self, argument: str) -> Reply:
        """UIDL [msg]: unique ids that stay the same across sessions (RFC 1939 section 7).

        Message numbers start again at 1 in every session; a unique id does
        not change, so a client that keeps mail on the server can tell which
        messages it has already downloaded.
        """
        words = _words(argument, "UIDL [msg]", 0, 1)
        if words:
            number = self._number(words[0])
            return _ok(f"{number} {self.messages[number - 1].unique_id}")
        listing = "".join(f"{n} {m.unique_id}\r\n" for n, m in self._live())
        return _ok("unique-id listing follows", listing.encode())

    # -- any state ------------------------------------------------------------------------

    @property
    def capabilities(self) -> list[str]:
        """What CAPA lists now: STLS until TLS is on; no USER or SASL while logins must wait for TLS."""
        listed = list(CAPABILITIES)
        if self.login_requires_tls and not self.tls:
            listed = [c for c in listed if c != "USER" and not c.startswith("SASL")]
        if self.starttls and not self.tls:
            listed.insert(listed.index("PIPELINING") + 1, "STLS")
        return listed

    def cmd_CAPA(self, argument: str) -> Reply:
        """CAPA: what this server can do (RFC 2449 section 5)."""
        _words(argument, "CAPA", 0, 0)
        return _ok("Capability list follows", "".join(f"{c}\r\n" for c in self.capabilities).encode())

    def cmd_STLS(self, argument: str) -> Reply:
        """STLS: go on inside TLS (RFC 2595 section 4).

        After the +OK the client starts the TLS handshake at once. The
        session then forgets what the client said before (a USER waiting for
        its PASS); the client must ask CAPA again, since a server may offer
        more inside TLS.
        """
        _words(argument, "STLS", 0, 0)
        if self.tls:
            raise CommandError("Command not permitted when TLS active")  # RFC 2595 section 4's words
        if not self.starttls:
            raise CommandError("TLS is not available on this server")
        self._user = None
        self.tls_requested = True
        return _ok("Begin TLS negotiation")

    def cmd_QUIT(self, argument: str) -> Reply:
        """QUIT: goodbye; from TRANSACTION, remove the marked messages first (UPDATE).

        RFC 1939 section 6: the server "removes all messages marked as deleted
        from the maildrop and replies as to the status of this operation", then
        releases the lock and closes the connection.
        """
        # Words after QUIT are ignored: the client wants out, and so a -ERR to QUIT
        # means one thing only, that some marked messages could not be removed.
        self.ended = True
        if self.state is AUTHORIZATION:
            return _ok(f"{self.hostname} POP3 server signing off")
        assert self.account is not None
        marked = [self.messages[n - 1] for n in sorted(self.deleted)]
        failed = self.backend.delete(self.account, marked) if marked else 0
        self._release()
        if failed:
            raise CommandError(f"some deleted messages not removed ({failed} of {len(marked)})")
        left = len(self.messages) - len(marked)
        after = _plural(left, "message") + " left" if left else "maildrop empty"
        return _ok(f"{self.hostname} POP3 server signing off ({after})")

    # -- helpers ----------------------------------------------------------------------------

    def _live(self) -> list[tuple[int, Message]]:
        """(number, message) of every message not marked as deleted."""
        return [(n, m) for n, m in enumerate(self.messages, 1) if n not in self.deleted]

    def _summary(self) -> str:
        live = self._live()
        return f"{_plural(len(live), 'message')} ({_plural(sum(m.size for _, m in live), 'octet')})"

    def _number(self, word: str) -> int:
        """A message number that names a message of this session not marked as deleted."""
        number = int(word) if _NUMBER.fullmatch(word) else 0
        if not 1 <= number <= len(self.messages):
            raise CommandError("no such message")
        if number in self.deleted:
            raise CommandError(f"message {number} already deleted")
        return number

    def _read(self, number: int) -> bytes:
        assert self.account is not None
        raw = self.backend.read(self.account, self.messages[number - 1])
        if raw is None:
            raise CommandError(f"message {number} has gone from the maildrop")
        return raw

    def _release(self) -> None:
        if self._locked and self.account is not None:
            self._locked = False
            self.backend.unlock(self.account)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _words(argument: str, syntax: str, least: int, most: int) -> list[str]:
    words = argument.split()
    if not least <= len(words) <= most:
        raise CommandError(f"Syntax: {syntax}")
    return words
