"""IMAP4rev1 (RFC 3501), server side, as a sans-I/O session: bytes in, bytes out.

Theory of operation
-------------------
An `IMAPSession` is one client's conversation with the IMAP server, without
the network. Feed it what the client sent; it returns everything the server
answers, in order::

    >>> session = IMAPSession(backend, "mail.somewhereelse.com")
    >>> session.greeting
    b'* OK [CAPABILITY IMAP4rev1 ...] mail.somewhereelse.com IMAP4rev1 ready\\r\\n'
    >>> session.receive_data(b'a1 LOGIN jane jane-password\\r\\na2 SELECT INBOX\\r\\n')
    b'a1 OK [CAPABILITY ...] LOGIN completed\\r\\n* FLAGS (...)\\r\\n ... a2 OK [READ-WRITE] SELECT completed\\r\\n'

The asyncio server (`mailcourse.servers.imap`) and the tests drive the same
object the same way; it never touches a socket.

Reading commands is the parser's job (`CommandReader` turns bytes into
`Command` events, literals included). A session takes the events one at a
time and strictly in order, because clients pipeline: mbsync writes several
``UID STORE``, a ``CHECK`` and an ``APPEND {n+}`` before reading any reply.
Two commands wait for a line of their own: AUTHENTICATE (the client answers
the ``+`` challenge) and IDLE (``DONE`` ends it). Everything the client sent
after that line waits in the parser until the line has come.

A session moves through the four states of RFC 3501 section 3::

    NOT_AUTHENTICATED --LOGIN, AUTHENTICATE--> AUTHENTICATED --SELECT, EXAMINE--> SELECTED
                                                            <--CLOSE, UNSELECT--
    any state --LOGOUT--> LOGOUT

`COMMANDS` says in which states each command is valid; it is checked once,
before a ``cmd_<NAME>`` method runs. Errors are replies: ``<tag> NO ...``
when the command was understood but cannot be done, ``<tag> BAD ...`` when it
was not understood (RFC 3501 section 7.1). Inside, a command method raises
`No` or `Bad`, which carry their reply, so that each method reads straight
down.

Several sessions on one mailbox (RFC 3501 sections 5.2 and 7.4.1)
-----------------------------------------------------------------
Every session of a selected mailbox keeps a *snapshot*: the UIDs it has
told its client about (message n is ``uids[n - 1]``) and their flags. At the
end of every command, and at once while the client IDLEs, the snapshot is
compared with the store and the differences are told as untagged responses:
``* n EXPUNGE`` for messages that have gone (highest number first, so that
the numbers still to come stay right), ``* n EXISTS`` and ``* n RECENT`` for
new ones, ``* n FETCH (FLAGS ...)`` for flags changed by someone else.
RFC 3501 section 7.4.1 forbids EXPUNGE during FETCH, STORE and SEARCH (the
client is using the numbers): after those a message that has gone stays in
the snapshot, a "ghost", until a later command may report it. The UID
variants may send EXPUNGE, since they do not use sequence numbers.

\\Recent (RFC 3501 section 2.3.2) is "recent" for exactly one session: the
first one that selects the mailbox, or notices the message while selected.
The backend keeps that in memory (see `Backend.recent`), so after a restart
of the server the messages are recent once more for the first session.

CONDSTORE: what changed since n? (RFC 7162, the CONDSTORE half)
--------------------------------------------------------------
The store numbers every change of a mailbox (see `mailcourse.store`): each
message has the *mod-sequence* of its last change, the mailbox its
HIGHESTMODSEQ. SELECT and EXAMINE always tell HIGHESTMODSEQ (section
3.1.2.1: the store keeps mod-sequences persistently), and so does ``STATUS
(HIGHESTMODSEQ)``. A client that remembers it can ask only for what changed::

    C: a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 42)       section 3.1.4.1
    C: b UID STORE 7 (UNCHANGEDSINCE 45) +FLAGS (\\Seen)   section 3.1.3
    S: b OK [MODIFIED 7] Conditional STORE failed      (someone changed 7 after 45)
    C: c SEARCH MODSEQ 42                              section 3.1.5
    S: * SEARCH 3 4 (MODSEQ 47)

Using any of these, or ``ENABLE CONDSTORE`` (RFC 5161), or ``SELECT box
(CONDSTORE)``, *enables* CONDSTORE for the rest of the connection (section
3.1): from then on every FETCH response the client did not ask for (a
STORE's, a \\Seen set by FETCH, another session's change) carries the UID
and the MODSEQ, so the client always knows how far it is up to date.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import dataclasses
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .fetch import FetchData, parse_fetch_items, render_fetch, sets_seen
from .fetch import needs_message as fetch_needs_message
from .listing import matcher as _matcher
from .listing import parse_list, select
from .mime import Entity, parse_message
from .parser import CommandReader
from .response import astring, flag_list, quoted, render
from .search import Candidate, ModSeq, SearchKey, parse_search
from .sort import Sortable, parse_sort_criteria, sort
from .thread import ALGORITHMS as THREAD_ALGORITHMS
from .thread import render as render_threads
from .thread import thread
from .types import (
    Atom,
    Command,
    ContinuationRequest,
    ParseError,
    RawLine,
    SequenceSet,
    Value,
    text,
)


class State(enum.Enum):
    """The states of an IMAP session (RFC 3501 section 3)."""

    NOT_AUTHENTICATED = "not authenticated"  # the client must log in first
    AUTHENTICATED = "authenticated"  # logged in; no mailbox selected
    SELECTED = "selected"  # a mailbox is selected: its messages can be read and changed
    LOGOUT = "logout"  # the connection is closing


NOT_AUTHENTICATED, AUTHENTICATED, SELECTED, LOGOUT = (
    State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED, State.LOGOUT)

_ANY = frozenset({NOT_AUTHENTICATED, AUTHENTICATED, SELECTED})
_LOGGED_IN = frozenset({AUTHENTICATED, SELECTED})

# Where each command is valid: RFC 3501 section 6 (6.1 any state, 6.2 not
# authenticated, 6.3 authenticated, 6.4 selected; the commands of 6.3 are
# valid in the selected state too) and the extension RFCs named beside them.
COMMANDS: dict[str, frozenset[State]] = {
    "CAPABILITY": _ANY, "NOOP": _ANY, "LOGOUT": _ANY,
    "ID": _ANY,  # RFC 2971 section 3.1
    "LOGIN": frozenset({NOT_AUTHENTICATED}),
    "AUTHENTICATE": frozenset({NOT_AUTHENTICATED}),
    "STARTTLS": frozenset({NOT_AUTHENTICATED}),  # RFC 3501 section 6.2.1
    "SELECT": _LOGGED_IN, "EXAMINE": _LOGGED_IN, "CREATE": _LOGGED_IN, "DELETE": _LOGGED_IN,
    "RENAME": _LOGGED_IN, "SUBSCRIBE": _LOGGED_IN, "UNSUBSCRIBE": _LOGGED_IN, "LIST": _LOGGED_IN,
    "LSUB": _LOGGED_IN, "STATUS": _LOGGED_IN, "APPEND": _LOGGED_IN,
    "IDLE": _LOGGED_IN,  # RFC 2177
    "NAMESPACE": _LOGGED_IN,  # RFC 2342 section 5
    "ENABLE": frozenset({AUTHENTICATED}),  # RFC 5161 section 3.1: before any mailbox is selected
    "CHECK": frozenset({SELECTED}), "CLOSE": frozenset({SELECTED}), "EXPUNGE": frozenset({SELECTED}),
    "SEARCH": frozenset({SELECTED}), "FETCH": frozenset({SELECTED}), "STORE": frozenset({SELECTED}),
    "COPY": frozenset({SELECTED}), "UID": frozenset({SELECTED}),
    "UNSELECT": frozenset({SELECTED}),  # RFC 3691
    "MOVE": frozenset({SELECTED}),  # RFC 6851
    "SORT": frozenset({SELECTED}), "THREAD": frozenset({SELECTED}),  # RFC 5256 sections 3 and 4
}

# Commands whose grammar has no arguments at all (RFC 3501 section 9; RFC 2177 IDLE,
# RFC 2342 NAMESPACE, RFC 3691 UNSELECT). "CLOSE x" is a BAD, not a CLOSE: RFC 3501
# section 7.1.3 asks for BAD on invalid arguments, and a typo must never expunge.
TAKES_NO_ARGUMENTS = frozenset({"CAPABILITY", "NOOP", "LOGOUT", "NAMESPACE", "CHECK", "CLOSE", "UNSELECT",
                                "EXPUNGE", "IDLE", "STARTTLS"})

# What UID may prefix (RFC 3501 section 6.4.8, UID EXPUNGE from RFC 4315, UID MOVE from RFC 6851,
# UID SORT and UID THREAD from RFC 5256 sections 3 and 4).
UID_COMMANDS = ("FETCH", "SEARCH", "STORE", "COPY", "MOVE", "EXPUNGE", "SORT", "THREAD")

# The same list before and after login: mutt and mbsync read only the
# greeting's list, and imaplib-based programs keep the one they asked for
# before logging in. Outside TLS a session adds STARTTLS (RFC 3501 section
# 6.2.1), and LOGINDISABLED (section 6.2.3) only where the server's limits say
# passwords need TLS: by default the lab, on 127.0.0.1 only, lets the lessons'
# imaplib clients log in over plain text, as they did before the lab had TLS.
CAPABILITIES = ("IMAP4rev1", "LITERAL+", "SASL-IR", "AUTH=PLAIN", "ID", "ENABLE", "IDLE", "NAMESPACE",
                "UIDPLUS", "MOVE", "UNSELECT", "SPECIAL-USE", "CHILDREN", "CONDSTORE",
                "SORT", *(f"THREAD={name}" for name in THREAD_ALGORITHMS),  # RFC 5256
                "LIST-EXTENDED", "LIST-STATUS", "ESEARCH")  # RFC 5258, RFC 5819, RFC 4731

# What ENABLE can switch on (RFC 5161 section 3.1): CONDSTORE (RFC 7162 section 3.1).
ENABLEABLE = ("CONDSTORE",)

# RFC 3501 section 2.3.2: the flags a client may set; \Recent belongs to the server.
SETTABLE_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
RECENT = "\\Recent"

# How the parser's [TOOBIG] text names a refused non-synchronizing literal {n+}.
_NON_SYNCHRONIZING = re.compile(r"non-synchronizing", re.IGNORECASE)

# The commands during which RFC 3501 section 7.4.1 forbids EXPUNGE responses.
# SORT and THREAD answer with sequence numbers as SEARCH does (RFC 5256 section 3).
_NO_EXPUNGE_DURING = frozenset({"FETCH", "STORE", "SEARCH", "SORT", "THREAD"})

_STORE_ITEM = re.compile(r"([+-]?)FLAGS(\.SILENT)?\Z", re.IGNORECASE)
_STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ")  # the last: RFC 7162 3.1.2.2
MAX_MODSEQ = 2**63 - 1  # RFC 7162 section 7: mod-sequence-value is 63 bits
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                       "oct", "nov", "dec"), 1)}
_DATE_TIME = re.compile(r"([ 0-9]?[0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})\Z")


INBOX = "INBOX"  # RFC 3501 section 5.1: the one name every account has, in any case


class MailboxError(Exception):
    """What a backend raises for a request it cannot honour (no such mailbox or message, a bad name).

    Its text goes to the client in the NO reply.
    """


class MessageSummary(Protocol):
    """What the backend knows about a message without reading it."""

    uid: int
    flags: frozenset[str]  # without \\Recent, which the session adds
    internaldate: float  # seconds since the epoch (RFC 3501 section 2.3.3)
    size: int  # octets
    modseq: int  # the mod-sequence of its last change (RFC 7162 section 3.1)


class Backend(Protocol):
    """Where the mail is: what a session asks of the server it runs in (`mailcourse.servers.imap.Mailboxes`).

    Every method that names a mailbox raises `MailboxError` when it cannot
    do what is asked. Folder names are as the client sees them; INBOX is
    always spelt "INBOX".
    """

    delimiter: str  # the hierarchy delimiter (RFC 3501 section 5.1.1)
    special_use: dict[str, str]  # folder -> its RFC 6154 attribute, e.g. "Sent" -> "\\Sent"

    def authenticate(self, login: str, password: str) -> str | None:
        """The account a login and password open, or None."""

    def open_account(self, account: str) -> None:
        """Called at each login: make sure the account has what IMAP shows (special-use folders)."""

    def recent(self, account: str, folder: str, uids: list[int], claim: bool) -> set[int]:
        """Which of ``uids`` are \\Recent for this session; ``claim`` makes them not recent for any other."""

    # -- mailboxes --
    def folders(self, account: str) -> list[str]: ...
    def has_folder(self, account: str, folder: str) -> bool: ...
    def create_folder(self, account: str, folder: str, *, exist_ok: bool = True) -> None: ...
    def delete_folder(self, account: str, folder: str) -> None: ...
    def rename_folder(self, account: str, old: str, new: str) -> None: ...
    def subscriptions(self, account: str) -> list[str]: ...
    def subscribe_folder(self, account: str, folder: str) -> None: ...
    def unsubscribe_folder(self, account: str, folder: str) -> None: ...
    def uidvalidity(self, account: str, folder: str) -> int: ...
    def uidnext(self, account: str, folder: str) -> int: ...
    def highestmodseq(self, account: str, folder: str) -> int:
        """HIGHESTMODSEQ (RFC 7162 section 3.1.2): grows with every change, never shrinks."""

    # -- messages --
    def list(self, account: str, folder: str) -> list[MessageSummary]:
        """The messages of a mailbox in UID order."""

    def get(self, account: str, uid: int, folder: str) -> bytes: ...
    def deliver(self, account: str, raw: bytes, folder: str, flags: frozenset[str], internaldate: float | None) -> int: ...
    def set_flags(self, account: str, uid: int, flags: frozenset[str], folder: str,
                  unchanged_since: int | None = None) -> int | None:
        """Set the flags; the message's mod-sequence afterwards, or None if ``unchanged_since`` refused it.

        With ``unchanged_since`` nothing changes if the message's
        mod-sequence is greater (RFC 7162 section 3.1.3), tested and done at once.
        """
    def delete(self, account: str, uid: int, folder: str) -> None: ...
    def copy(self, account: str, uid: int, source: str, target: str) -> int: ...
    def move(self, account: str, uid: int, source: str, target: str) -> int: ...


class No(Exception):
    """The command was understood and cannot be done: ``<tag> NO <text>``."""

    status = "NO"


class Bad(Exception):
    """The command was not understood (syntax, wrong state): ``<tag> BAD <text>``."""

    status = "BAD"


@dataclass
class Snapshot:
    """What this session has told its client about the selected mailbox (see the module docstring)."""

    folder: str
    readonly: bool  # EXAMINE, or SELECT of a mailbox this session may not change
    uidvalidity: int
    uids: list[int] = field(default_factory=list)  # message n is uids[n - 1]
    flags: dict[int, frozenset[str]] = field(default_factory=dict)  # as last reported, without \Recent
    info: dict[int, MessageSummary] = field(default_factory=dict)  # size and internal date
    modseq: dict[int, int] = field(default_factory=dict)  # the mod-sequence that goes with ``flags``
    recent: set[int] = field(default_factory=set)
    highest: int = 0  # the highest UID ever reported: anything above is new
    keywords: frozenset[str] = frozenset()  # as last reported in FLAGS

    def shown_flags(self, uid: int) -> frozenset[str]:
        return self.flags[uid] | {RECENT} if uid in self.recent else self.flags[uid]


class IMAPSession:
    """One IMAP session, server side, without I/O (see the module docstring)."""

    def __init__(self, backend: Backend, hostname: str, *, max_line: int = 8192,
                 max_literal: int = 10 * 1024 * 1024, starttls: bool = False, tls: bool = False,
                 login_requires_tls: bool = False) -> None:
        self.backend = backend
        self.hostname = hostname
        self.max_line = max_line
        self.max_literal = max_literal
        self.reader = CommandReader(max_line=max_line, max_literal=max_literal)
        self.starttls = starttls  # STARTTLS is offered (the server has a certificate)
        self.tls = tls  # the session runs inside TLS (after STARTTLS, or from the first byte: imaps)
        self.tls_requested = False  # STARTTLS was answered OK: the server must do the handshake now
        self.login_requires_tls = login_requires_tls
        self.state = NOT_AUTHENTICATED
        self.account: str | None = None
        self.box: Snapshot | None = None  # the selected mailbox
        self.ended = False  # after LOGOUT or a fatal error: the server closes the connection
        self._waiting: tuple[str, str] | None = None  # (tag, "IDLE" or "AUTHENTICATE") waits for a line
        self.condstore = False  # enabled by a CONDSTORE-enabling command (RFC 7162 section 3.1)
        self._out: list[bytes] = []

    @property
    def greeting(self) -> bytes:
        """What the server says first: OK, with the capabilities in a response code (RFC 3501 7.1)."""
        return f"* OK [CAPABILITY {' '.join(self.capabilities)}] {self.hostname} IMAP4rev1 ready\r\n".encode()

    @property
    def capabilities(self) -> list[str]:
        """CAPABILITIES, with STARTTLS outside TLS, and LOGINDISABLED while a login must wait for TLS."""
        listed = list(CAPABILITIES)
        if not self.tls and self.starttls:
            listed.insert(1, "STARTTLS")
        if not self.tls and self.login_requires_tls:
            # RFC 3501 section 6.2.3: LOGINDISABLED; and no AUTH=PLAIN (section 6.2.2 lets a server
            # refuse a mechanism outside TLS, and a client should not be offered one it cannot use).
            listed = [c for c in listed if c != "AUTH=PLAIN"] + ["LOGINDISABLED"]
        return listed

    # -- input -------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> bytes:
        """Take bytes as they came from the client; return everything the server answers, in order."""
        if self.tls_requested:
            return b""  # bytes before the handshake is done are not commands (see `cmd_STARTTLS`)
        self.reader.feed(data)
        out: list[bytes] = []
        while not self.ended and not self.tls_requested:
            event = self.reader.next_event()
            if event is None:
                break
            self._out = []
            if isinstance(event, Command):
                self._command(event)
            elif isinstance(event, RawLine):
                self._line(event.line)
            elif isinstance(event, ContinuationRequest):
                # RFC 3501 section 7.5: the client may send the literal now.
                self._out.append(b"+ Ready for literal data\r\n")
            elif isinstance(event, ParseError):
                self._parse_error(event)
            out += self._out
        if self.tls_requested:  # what came behind STARTTLS in plain text is dropped, never run
            self.reader = CommandReader(max_line=self.max_line, max_literal=self.max_literal)
        return b"".join(out)

    def tls_started(self) -> None:
        """The server has done the TLS handshake that STARTTLS asked for: commands come inside TLS now."""
        self.tls, self.tls_requested = True, False

    def updates(self) -> bytes:
        """Untagged news to send now, while the client IDLEs (RFC 2177); else nothing.

        Outside IDLE the news waits for the end of the client's next command,
        where RFC 3501 section 7.4.1 allows it.
        """
        if self.ended or self.state is not SELECTED or self._waiting is None or self._waiting[1] != "IDLE":
            return b""
        return b"".join(self._sync(expunge=True))

    def connection_lost(self) -> None:
        """The connection has ended; nothing is expunged (only EXPUNGE, CLOSE and MOVE do that)."""
        self.ended = True
        self.state = LOGOUT

    # -- dispatch ----------------------------------------------------------------------------

    def _command(self, command: Command) -> None:
        name = command.name.upper()
        self._tag = command.tag
        try:
            valid_in = COMMANDS.get(name)
            if valid_in is None:
                raise Bad(f"Unknown command {name}" if name.isalnum() and len(name) < 20 else "Unknown command")
            if self.state not in valid_in:
                raise Bad(f"{name} is not valid in the {self.state.value} state")
            if name in TAKES_NO_ARGUMENTS and command.args:
                raise Bad(f"Syntax: {name} (it takes no arguments)")
            done = getattr(self, f"cmd_{name}")(command.args)
        except (No, Bad) as refused:
            self._finish(command.tag, name, refused.status, str(refused))
            return
        except ValueError as wrong:  # an argument of the wrong kind, e.g. a list where a string belongs
            self._finish(command.tag, name, "BAD", f"Bad arguments: {wrong}")
            return
        if done is not None:  # None: the command waits for a line (IDLE, AUTHENTICATE)
            self._finish(command.tag, name, "OK", done)

    def _finish(self, tag: str, name: str, status: str, words: str) -> None:
        """The tagged reply, after the news about the selected mailbox (RFC 3501 section 5.2)."""
        if self.state is SELECTED and not self.ended:
            self._out += self._sync(expunge=name not in _NO_EXPUNGE_DURING)
        words = words.replace("\r", " ").replace("\n", " ")
        self._out.append(f"{tag} {status} {words}\r\n".encode("utf-8", "replace"))

    def _line(self, line: bytes) -> None:
        """The line that an IDLE or AUTHENTICATE was waiting for."""
        if self._waiting is None:  # the parser gives raw lines only when asked; be safe anyway
            self._out.append(b"* BAD Unexpected line\r\n")
            return
        (tag, name), self._waiting = self._waiting, None
        try:
            if name == "IDLE":
                # RFC 2177 section 3: "The server MUST respond with a tagged BAD if the client sends
                # anything other than DONE."
                if line.strip().upper() != b"DONE":
                    raise Bad("Expected DONE")
                done = "IDLE terminated"
            else:
                done = self._sasl_response(line)
        except (No, Bad) as refused:
            self._finish(tag, name, refused.status, str(refused))
        else:
            self._finish(tag, name, "OK", done)

    def _parse_error(self, error: ParseError) -> None:
        if self._waiting is not None:
            # The line IDLE or AUTHENTICATE waited for could not be read (too long): that
            # ends the command, with a tagged BAD, as any line other than DONE ends IDLE.
            (tag, name), self._waiting = self._waiting, None
            self._finish(tag, name, "BAD", error.text)
            return
        tag = error.tag or "*"
        # A literal over the size limit gets [TOOBIG] (RFC 4469 section 4.2). For a synchronizing
        # one nothing was sent yet: the command cannot be done, a NO, as for a message over
        # APPENDLIMIT (RFC 7889 section 4). A non-synchronizing one was sent anyway and thrown
        # away: RFC 7888 section 4 has the server reject that command with a tagged BAD [TOOBIG].
        too_big = error.text.startswith("[TOOBIG]") and error.tag
        status = "NO" if too_big and not _NON_SYNCHRONIZING.search(error.text) else "BAD"
        self._out.append(f"{tag} {status} {error.text}\r\n".encode("utf-8", "replace"))
        if error.fatal:
            self._out.append(b"* BYE Cannot read the rest of this connection, closing\r\n")
            self.ended, self.state = True, LOGOUT

    # -- any state (RFC 3501 section 6.1) ----------------------------------------------------

    def cmd_CAPABILITY(self, args: list[Value]) -> str:
        self._untagged(f"CAPABILITY {' '.join(self.capabilities)}")
        return "CAPABILITY completed"

    def cmd_NOOP(self, args: list[Value]) -> str:
        # Nothing to do: the news about the selected mailbox is what a client polls for.
        return "NOOP completed"

    def cmd_LOGOUT(self, args: list[Value]) -> str:
        self._untagged(f"BYE {self.hostname} IMAP4rev1 server logging out")
        self.state, self.box, self.ended = LOGOUT, None, True
        return "LOGOUT completed"

    def cmd_ID(self, args: list[Value]) -> str:
        """RFC 2971: the client may say who it is; the server says who it is."""
        if len(args) != 1 or not (isinstance(args[0], list) or _is_nil(args[0])):
            raise Bad("Syntax: ID (name value ...) or ID NIL")
        self._untagged(b"ID " + render([b"name", b"mailcourse"]))
        return "ID completed"

    # -- not authenticated (RFC 3501 section 6.2) --------------------------------------------

    def cmd_STARTTLS(self, args: list[Value]) -> str:
        """STARTTLS (RFC 3501 section 6.2.1): the rest of the connection inside TLS.

        After the tagged OK the client starts the handshake at once. What it
        sent behind STARTTLS before that is forgotten, never run: a command
        smuggled in plain text must not count as one sent inside TLS (the
        injection of CVE-2011-0411; RFC 9051 section 6.2.1 asks clients to
        wait, and servers to discard). The client must then ask CAPABILITY
        again: the list changes (section 6.2.1).
        """
        if self.tls:
            raise Bad("TLS is already active")
        if not self.starttls:
            raise No("TLS is not available on this server")
        self.tls_requested = True
        return "Begin TLS negotiation now"

    def cmd_LOGIN(self, args: list[Value]) -> str:
        if self.login_requires_tls and not self.tls:
            # RFC 3501 section 6.2.3: with LOGINDISABLED, LOGIN gets NO. RFC 5530's code says why.
            raise No("[PRIVACYREQUIRED] LOGIN is disabled outside TLS: use STARTTLS first")
        login, password = (text(a) for a in _arguments(args, 2, "LOGIN userid password"))
        return self._log_in(login, password, "LOGIN")

    def cmd_AUTHENTICATE(self, args: list[Value]) -> str | None:
        """AUTHENTICATE PLAIN (RFC 3501 section 6.2.2, RFC 4616), with or without SASL-IR (RFC 4959)."""
        if not 1 <= len(args) <= 2:
            raise Bad("Syntax: AUTHENTICATE mechanism [initial-response]")
        if self.login_requires_tls and not self.tls:
            raise No("[PRIVACYREQUIRED] Authentication is disabled outside TLS: use STARTTLS first")
        if text(args[0]).upper() != "PLAIN":
            raise No("Unsupported authentication mechanism (only PLAIN)")
        if len(args) == 2:  # RFC 4959: the initial response on the command line; "=" is an empty one
            return self._sasl_response(text(args[1]).encode())
        self._out.append(b"+ \r\n")  # an empty challenge: PLAIN has nothing to say first
        self._wait_for_line("AUTHENTICATE")
        return None

    def _sasl_response(self, line: bytes) -> str:
        line = line.strip()
        if line == b"*":  # RFC 3501 section 6.2.2: the client cancels
            raise Bad("Authentication cancelled")
        try:
            decoded = b"" if line == b"=" else base64.b64decode(line, validate=True)
            authzid, login, password = decoded.decode("utf-8").split("\0")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise Bad("Malformed PLAIN response (base64 of authzid NUL login NUL password)") from None
        # RFC 4616 section 2: authzid empty (act as yourself) or naming yourself; nobody may act as another.
        if authzid and authzid.lower() != login.lower():
            raise No("[AUTHORIZATIONFAILED] You may only act as yourself")
        return self._log_in(login, password, "AUTHENTICATE")

    def _log_in(self, login: str, password: str, how: str) -> str:
        account = self.backend.authenticate(login, password)
        if account is None:
            raise No("[AUTHENTICATIONFAILED] Invalid login or password")  # RFC 5530
        self.account, self.state = account, AUTHENTICATED
        self.backend.open_account(account)
        return f"[CAPABILITY {' '.join(self.capabilities)}] {how} completed"

    # -- authenticated (RFC 3501 section 6.3) ------------------------------------------------

    def cmd_SELECT(self, args: list[Value]) -> str:
        return self._select(args, readonly=False)

    def cmd_EXAMINE(self, args: list[Value]) -> str:
        return self._select(args, readonly=True)

    def _select(self, args: list[Value], readonly: bool) -> str:
        """RFC 3501 sections 6.3.1 and 6.3.2: open a mailbox and say what is in it."""
        if len(args) == 2 and isinstance(args[1], list):
            # select-param (RFC 4466 section 2.1); the one this server knows is CONDSTORE (RFC 7162 3.1.8).
            words = [a.upper() if isinstance(a, Atom) else "" for a in args[1]]
            if words != ["CONDSTORE"]:
                raise Bad("Unknown SELECT parameter (only CONDSTORE)")
            self.condstore = True
            args = args[:1]
        (name,) = _arguments(args, 1, "SELECT mailbox [(CONDSTORE)]")
        folder = _folder(name)
        # "If the client is permitted to modify the mailbox, ... a SELECT failure ... the state
        # is the authenticated state": whatever was selected before is closed first.
        self.state, self.box = AUTHENTICATED, None
        try:
            infos = self.backend.list(self._account, folder)
            box = Snapshot(folder, readonly, self.backend.uidvalidity(self._account, folder))
            uidnext = self.backend.uidnext(self._account, folder)
            highestmodseq = self.backend.highestmodseq(self._account, folder)
        except MailboxError:
            raise No(f"[NONEXISTENT] No such mailbox: {folder}") from None
        for info in infos:
            box.uids.append(info.uid)
            box.flags[info.uid], box.info[info.uid], box.modseq[info.uid] = info.flags, info, info.modseq
        box.highest = box.uids[-1] if box.uids else 0
        # EXAMINE "MUST NOT cause messages to lose the \Recent flag" (RFC 3501 section 6.3.2).
        box.recent = self.backend.recent(self._account, folder, box.uids, claim=not readonly)
        box.keywords = _keywords(box.flags.values())
        self.box, self.state = box, SELECTED
        self._untagged(b"FLAGS " + flag_list(SETTABLE_FLAGS + tuple(box.keywords)))
        permanent = () if readonly else SETTABLE_FLAGS + tuple(box.keywords) + ("\\*",)
        self._untagged(b"OK [PERMANENTFLAGS " + flag_list(permanent) + b"] Flags permitted")
        self._untagged(f"{len(box.uids)} EXISTS")
        self._untagged(f"{len(box.recent)} RECENT")
        unseen = next((n for n, uid in enumerate(box.uids, 1) if "\\Seen" not in box.flags[uid]), None)
        if unseen is not None:
            self._untagged(f"OK [UNSEEN {unseen}] Message {unseen} is the first unseen")
        self._untagged(f"OK [UIDVALIDITY {box.uidvalidity}] UIDs valid")
        self._untagged(f"OK [UIDNEXT {uidnext}] Predicted next UID")
        # RFC 7162 section 3.1.2.1: with every SELECT and EXAMINE, as mod-sequences are kept on disk.
        self._untagged(f"OK [HIGHESTMODSEQ {highestmodseq}] Highest")
        return f"[{'READ-ONLY' if readonly else 'READ-WRITE'}] {'EXAMINE' if readonly else 'SELECT'} completed"

    def cmd_CREATE(self, args: list[Value]) -> str:
        (name,) = _arguments(args, 1, "CREATE mailbox")
        # RFC 3501 section 6.3.3: a trailing delimiter says "I will create names under this one".
        folder = _folder(name).removesuffix(self.backend.delimiter)
        if folder.upper() == INBOX:
            raise No("[ALREADYEXISTS] INBOX always exists")
        try:
            self.backend.create_folder(self._account, folder, exist_ok=False)
        except MailboxError as e:
            code = "[ALREADYEXISTS]" if "exists" in str(e) else "[CANNOT]"
            raise No(f"{code} {e}") from None
        return "CREATE completed"

    def cmd_DELETE(self, args: list[Value]) -> str:
        (name,) = _arguments(args, 1, "DELETE mailbox")
        folder = _folder(name)
        if not self.backend.has_folder(self._account, folder):
            raise No(f"[NONEXISTENT] No such mailbox: {folder}")
        try:
            self.backend.delete_folder(self._account, folder)
        except MailboxError as e:
            raise No(f"[CANNOT] {e}") from None
        return "DELETE completed"

    def cmd_RENAME(self, args: list[Value]) -> str:
        old, new = (_folder(a) for a in _arguments(args, 2, "RENAME mailbox new-name"))
        if not self.backend.has_folder(self._account, old):
            raise No(f"[NONEXISTENT] No such mailbox: {old}")
        try:
            self.backend.rename_folder(self._account, old, new)
        except MailboxError as e:
            code = "[ALREADYEXISTS]" if "exists" in str(e) else "[CANNOT]"
            raise No(f"{code} {e}") from None
        return "RENAME completed"

    def cmd_SUBSCRIBE(self, args: list[Value]) -> str:
        (name,) = _arguments(args, 1, "SUBSCRIBE mailbox")
        folder = _folder(name)
        # RFC 3501 section 6.3.6 lets a server refuse a name that does not exist,
        # and clients (and Dovecot) expect that: a typo is then seen at once.
        if not self.backend.has_folder(self._account, folder):
            raise No(f"[NONEXISTENT] No such mailbox: {folder}")
        try:
            self.backend.subscribe_folder(self._account, folder)
        except MailboxError as e:
            raise No(f"[CANNOT] {e}") from None
        return "SUBSCRIBE completed"

    def cmd_UNSUBSCRIBE(self, args: list[Value]) -> str:
        (name,) = _arguments(args, 1, "UNSUBSCRIBE mailbox")
        try:
            self.backend.unsubscribe_folder(self._account, _folder(name))
        except MailboxError as e:
            raise No(str(e)) from None
        return "UNSUBSCRIBE completed"

    def cmd_LIST(self, args: list[Value]) -> str:
        """RFC 3501 section 6.3.8, extended by RFC 5258 (selection and return options) and RFC 5819 (STATUS).

        Attributes: CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154), always;
        `mailcourse.protocols.imap.listing` chooses the names.
        """
        try:
            request = parse_list(args)
        except ValueError as e:
            raise Bad(f"Bad LIST: {e}") from None
        unknown = [item for item in request.status_items if item not in _STATUS_ITEMS]
        if unknown:
            raise Bad(f"Unknown STATUS item {unknown[0]}")
        if request.patterns == [""] and not request.extended:
            # 'An empty ("" string) mailbox name argument is a special request to return the
            # hierarchy delimiter and the root name of the name given in the reference.'
            self._untagged(b'LIST (\\Noselect) ' + quoted(self.backend.delimiter) + b' ""')
            return "LIST completed"
        entries = select(request, self.backend.folders(self._account), self.backend.subscriptions(self._account),
                         self.backend.special_use, self.backend.delimiter)
        for entry in entries:
            self._list_line("LIST", entry.attributes, entry.name,
                            b' ("CHILDINFO" ("SUBSCRIBED"))' if entry.childinfo else b"")
            if request.status_items and entry.selectable:
                # RFC 5819 section 2: the STATUS response follows the LIST response of its mailbox.
                self._status(entry.name, request.status_items)
        return "LIST completed"

    def cmd_LSUB(self, args: list[Value]) -> str:
        reference, pattern = (text(a) for a in _arguments(args, 2, "LSUB reference mailbox"))
        existing = set(self.backend.folders(self._account))
        matches = _matcher(reference + pattern, self.backend.delimiter)
        for name in self.backend.subscriptions(self._account):
            if matches(name):
                # A subscribed name need not exist (RFC 3501 section 6.3.6): then it cannot be selected.
                self._list_line("LSUB", [] if name in existing else ["\\Noselect"], name)
        return "LSUB completed"

    def _list_line(self, kind: str, attributes: list[str], name: str, extended: bytes = b"") -> None:
        self._untagged(f"{kind} (".encode() + " ".join(attributes).encode() + b") "
                       + quoted(self.backend.delimiter) + b" " + astring(name) + extended)

    def cmd_STATUS(self, args: list[Value]) -> str:
        """RFC 3501 section 6.3.10: counts of a mailbox without selecting it."""
        name, items = _arguments(args, 2, "STATUS mailbox (items)")
        folder = _folder(name)
        wanted = [text(item).upper() for item in (items if isinstance(items, list) else [items])]
        unknown = [item for item in wanted if item not in _STATUS_ITEMS]
        if unknown or not wanted:
            raise Bad(f"Unknown STATUS item {unknown[0] if unknown else '(none given)'}")
        if "HIGHESTMODSEQ" in wanted:
            self.condstore = True  # a CONDSTORE-enabling command (RFC 7162 section 3.1)
        self._status(folder, wanted)
        return "STATUS completed"

    def _status(self, folder: str, wanted: list[str]) -> None:
        try:
            infos = self.backend.list(self._account, folder)
            values = {
                "MESSAGES": len(infos),
                "RECENT": len(self.backend.recent(self._account, folder, [i.uid for i in infos], claim=False)),
                "UIDNEXT": self.backend.uidnext(self._account, folder),
                "UIDVALIDITY": self.backend.uidvalidity(self._account, folder),
                "UNSEEN": sum("\\Seen" not in i.flags for i in infos),
                "HIGHESTMODSEQ": self.backend.highestmodseq(self._account, folder),
            }
        except MailboxError:
            raise No(f"[NONEXISTENT] No such mailbox: {folder}") from None
        answer = " ".join(f"{item} {values[item]}" for item in wanted)
        self._untagged(b"STATUS " + astring(folder) + f" ({answer})".encode())

    def cmd_APPEND(self, args: list[Value]) -> str:
        """RFC 3501 section 6.3.11: add a message to a mailbox; APPENDUID from RFC 4315 section 3."""
        if not 2 <= len(args) <= 4 or not isinstance(args[-1], bytes):
            raise Bad("Syntax: APPEND mailbox [(flags)] [date-time] literal")
        folder = _folder(args[0])
        flags: frozenset[str] = frozenset()
        when: float | None = None
        for extra in args[1:-1]:
            if isinstance(extra, list) and not flags:
                flags = _flags(extra)
            elif isinstance(extra, bytes) and when is None:
                when = _date_time(extra)
            else:
                raise Bad("Syntax: APPEND mailbox [(flags)] [date-time] literal")
        message = args[-1]
        if len(message) > self.max_literal:
            raise No(f"[TOOBIG] Messages are limited to {self.max_literal} octets")
        if not self.backend.has_folder(self._account, folder):
            # RFC 3501: TRYCREATE tells the client that CREATE first would make APPEND work.
            raise No(f"[TRYCREATE] No such mailbox: {folder}")
        try:
            uid = self.backend.deliver(self._account, message, folder, flags - {RECENT}, when)
            validity = self.backend.uidvalidity(self._account, folder)
        except MailboxError as e:
            raise No(f"[CANNOT] {e}") from None
        return f"[APPENDUID {validity} {uid}] APPEND completed"

    def cmd_IDLE(self, args: list[Value]) -> None:
        """RFC 2177: news is pushed as it happens (`updates`) until the client sends DONE."""
        if args:
            raise Bad("Syntax: IDLE")
        self._out.append(b"+ idling\r\n")
        if self.state is SELECTED:
            self._out += self._sync(expunge=True)  # what happened since the last command
        self._wait_for_line("IDLE")

    def cmd_NAMESPACE(self, args: list[Value]) -> str:
        """RFC 2342: one personal namespace, no prefix, "." between levels; no other users', none shared."""
        self._untagged(b"NAMESPACE ((\"\" " + quoted(self.backend.delimiter) + b")) NIL NIL")
        return "NAMESPACE completed"

    def cmd_ENABLE(self, args: list[Value]) -> str:
        """RFC 5161: switch on extensions; ENABLED names those this command switched on.

        CONDSTORE is the one this server has (RFC 7162 section 3.1); other
        names are ignored, as RFC 5161 section 3.1 asks.
        """
        if not args or any(not isinstance(a, Atom) for a in args):
            raise Bad("Syntax: ENABLE capability ...")
        newly = []
        for name in dict.fromkeys(a.upper() for a in args):
            if name == "CONDSTORE" and not self.condstore:
                self.condstore = True
                newly.append(name)
        self._untagged(" ".join(["ENABLED"] + newly))
        return "ENABLE completed"

    # -- selected (RFC 3501 section 6.4) -----------------------------------------------------

    def cmd_CHECK(self, args: list[Value]) -> str:
        # Every change is on disk already (the store writes through): nothing to checkpoint.
        return "CHECK completed"

    def cmd_CLOSE(self, args: list[Value]) -> str:
        """RFC 3501 section 6.4.2: expunge silently (unless read-only), then deselect."""
        box = self._box
        if not box.readonly:
            self._expunge(None)
        self.state, self.box = AUTHENTICATED, None
        return "CLOSE completed"

    def cmd_UNSELECT(self, args: list[Value]) -> str:
        """RFC 3691: deselect without expunging."""
        self.state, self.box = AUTHENTICATED, None
        return "UNSELECT completed"

    def cmd_EXPUNGE(self, args: list[Value], uid: bool = False) -> str:
        """RFC 3501 section 6.4.3; UID EXPUNGE (RFC 4315 section 2.1) removes only the UIDs given."""
        if self._box.readonly:
            raise No("[READ-ONLY] The mailbox is read-only")
        only = None
        if uid:
            (uid_set,) = _arguments(args, 1, "UID EXPUNGE sequence-set")
            only = {u for _, u in self._resolve(uid_set, uid=True)}
        self._expunge(only)
        return "EXPUNGE completed"  # the EXPUNGE responses come from _finish's _sync

    def _expunge(self, only: set[int] | None) -> None:
        box = self._box
        for info in self.backend.list(self._account, box.folder):
            if "\\Deleted" in info.flags and (only is None or info.uid in only):
                try:
                    self.backend.delete(self._account, info.uid, box.folder)
                except MailboxError:
                    pass  # gone already: what was asked for

    def cmd_SEARCH(self, args: list[Value], uid: bool = False) -> str:
        """RFC 3501 section 6.4.4: the numbers (or UIDs) of the messages that match.

        ``SEARCH RETURN (MIN MAX COUNT ALL) keys`` (ESEARCH, RFC 4731 section 3)
        answers with one ``* ESEARCH`` line instead: a client asking "how many
        unseen?" gets ``COUNT 12``, not twelve numbers.
        """
        returns = None
        if len(args) >= 2 and isinstance(args[0], Atom) and args[0].upper() == "RETURN" and isinstance(args[1], list):
            returns = [text(option).upper() for option in args[1]] or ["ALL"]  # "RETURN ()" means ALL (section 3.1)
            if not set(returns) <= set(_ESEARCH_RETURNS):
                raise Bad(f"Bad SEARCH: RETURN options are {' '.join(_ESEARCH_RETURNS)}")
            args = args[2:]
        try:
            key = parse_search(args)
        except ValueError as e:
            raise Bad(f"Bad SEARCH: {e}") from None
        box = self._box
        with_modseq = _uses_modseq(key)
        if with_modseq:
            self.condstore = True  # SEARCH MODSEQ is a CONDSTORE-enabling command (RFC 7162 section 3.1)
        matching = self._matching(key)
        found = [c.uid if uid else c.seq for c in matching]
        highest = max((box.modseq[c.uid] for c in matching), default=0)
        if returns is not None:
            self._untagged(_esearch(self._tag, uid, found, returns, highest if with_modseq else None))
            return "SEARCH completed"
        words = ["SEARCH"] + [str(n) for n in found]
        if with_modseq and found:
            # RFC 7162 section 3.1.5: the highest mod-sequence of the messages found, after them.
            words.append(f"(MODSEQ {highest})")
        self._untagged(" ".join(words))
        return "SEARCH completed"

    def cmd_SORT(self, args: list[Value], uid: bool = False) -> str:
        """RFC 5256 section 3: ``SORT (criteria) charset search-keys``, the matches in that order."""
        if len(args) < 3 or not isinstance(args[0], list):
            raise Bad("SORT needs (sort criteria), a charset and search keys, e.g. SORT (DATE) UTF-8 ALL")
        try:
            criteria = parse_sort_criteria(args[0])
        except ValueError as e:
            raise Bad(f"Bad SORT: {e}") from None
        ordered = sort(self._sortable(args[1], args[2:], uid, "SORT"), criteria)
        self._untagged(" ".join(["SORT"] + [str(m.number) for m in ordered]))
        return "SORT completed"

    def cmd_THREAD(self, args: list[Value], uid: bool = False) -> str:
        """RFC 5256 section 4: ``THREAD algorithm charset search-keys``, the matches as conversations."""
        if len(args) < 3 or not isinstance(args[0], str):
            raise Bad("THREAD needs an algorithm, a charset and search keys, e.g. THREAD REFERENCES UTF-8 ALL")
        algorithm = args[0].upper()
        if algorithm not in THREAD_ALGORITHMS:
            raise Bad(f"Unknown THREAD algorithm {args[0]}; known: {' '.join(THREAD_ALGORITHMS)}")
        threads = thread(self._sortable(args[1], args[2:], uid, "THREAD"), algorithm)
        self._untagged(f"THREAD {render_threads(threads)}".rstrip())
        return "THREAD completed"

    def _sortable(self, charset: Value, keys: list[Value], uid: bool, command: str) -> list[Sortable]:
        """The messages that match the search keys, as SORT and THREAD need them.

        The charset is not optional here, unlike SEARCH's; one the server does
        not know gets NO [BADCHARSET], "not BAD" (RFC 5256 section 3).
        """
        if isinstance(charset, list):
            raise Bad(f"{command} needs a charset, e.g. UTF-8")
        try:
            key = parse_search([Atom("CHARSET"), charset, *keys])
        except ValueError as e:
            if str(e).startswith("[BADCHARSET"):
                raise No(str(e)) from None
            raise Bad(f"Bad {command}: {e}") from None
        found = []
        for c in self._matching(key):
            parsed: list[Entity] = []

            def message(read=c.raw, parsed=parsed) -> Entity:
                if not parsed:  # read and parsed once, however many keys ask
                    parsed.append(parse_message(read()))
                return parsed[0]
            found.append(Sortable(c.seq, c.uid if uid else c.seq, c.internaldate, c.size, message))
        return found

    def cmd_FETCH(self, args: list[Value], uid: bool = False) -> str:
        """RFC 3501 section 6.4.5; a FETCH that sets \\Seen reports the new FLAGS too.

        With CONDSTORE (RFC 7162 section 3.1.4): the MODSEQ item, and the
        ``(CHANGEDSINCE n)`` modifier, which keeps only the messages whose
        mod-sequence is greater than n and adds MODSEQ to what is fetched.
        Like the rest of FETCH it answers from the snapshot; what another
        session changed meanwhile follows at the end of the command, as
        untagged FETCH responses with UID and MODSEQ, so nothing is missed.
        """
        changed_since = None
        if len(args) == 3 and isinstance(args[2], list):
            changed_since = _modifier(args[2], "CHANGEDSINCE", "FETCH")
            args = args[:2]
        sequence, attributes = _arguments(args, 2, "FETCH sequence-set items [(CHANGEDSINCE n)]")
        try:
            items = parse_fetch_items(attributes)
            if changed_since is not None and not any(i.name == "MODSEQ" for i in items):
                items = items + parse_fetch_items(Atom("MODSEQ"))  # section 3.1.4.1: CHANGEDSINCE implies it
        except ValueError as e:
            raise Bad(f"Bad FETCH: {e}") from None
        if any(i.name == "MODSEQ" for i in items):
            self.condstore = True  # a CONDSTORE-enabling command (RFC 7162 section 3.1)
        box = self._box
        marks_seen = sets_seen(items) and not box.readonly  # BODY[] on EXAMINE never sets \Seen
        with_flags = None
        gone = 0
        for seq, message_uid in self._resolve(sequence, uid):
            if changed_since is not None and box.modseq[message_uid] <= changed_since:
                continue
            raw = None
            if fetch_needs_message(items):
                raw = self._reader(message_uid)()
                if raw is None:
                    gone += 1
                    continue
            shown = items
            if marks_seen and "\\Seen" not in box.flags[message_uid]:
                self._set_flags(message_uid, box.flags[message_uid] | {"\\Seen"})
                if with_flags is None:
                    # RFC 7162 section 3.1: once enabled, a \Seen set by FETCH is told with UID and MODSEQ.
                    extra = ["FLAGS", "UID", "MODSEQ"] if self.condstore else ["FLAGS"]
                    with_flags = items + parse_fetch_items([Atom(a) for a in extra])
                shown = with_flags
            info = box.info[message_uid]
            data = FetchData(message_uid, box.shown_flags(message_uid), info.internaldate, info.size, raw,
                             modseq=box.modseq[message_uid])
            self._untagged(b"%d FETCH (" % seq + render_fetch(shown, data, uid=uid) + b")")
        if gone:
            # RFC 5530: the messages were expunged by another session and cannot be read any more.
            raise No(f"[EXPUNGEISSUED] {gone} of the messages have been expunged meanwhile")
        return "FETCH completed"

    def cmd_STORE(self, args: list[Value], uid: bool = False) -> str:
        """RFC 3501 section 6.4.6: FLAGS, +FLAGS, -FLAGS, each optionally .SILENT.

        With CONDSTORE's ``(UNCHANGEDSINCE n)`` (RFC 7162 section 3.1.3) a
        message whose mod-sequence is greater than n is left alone and named
        in ``[MODIFIED set]`` in the tagged OK; every message stored is told
        with its UID and new MODSEQ, even with .SILENT.
        """
        unchanged_since = None
        if len(args) >= 2 and isinstance(args[1], list):
            unchanged_since = _modifier(args[1], "UNCHANGEDSINCE", "STORE")
            self.condstore = True  # a CONDSTORE-enabling command (RFC 7162 section 3.1)
            args = args[:1] + args[2:]
        if len(args) < 3:
            raise Bad("Syntax: STORE sequence-set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] (flags)")
        sequence, item = args[0], text(args[1])
        how = _STORE_ITEM.match(item)
        if how is None:
            raise Bad(f"Unknown STORE item {item}")
        given = args[2] if len(args) == 3 and isinstance(args[2], list) else args[2:]
        flags = _flags(given) - {RECENT}
        messages = self._resolve(sequence, uid)
        box = self._box
        if box.readonly:
            raise No("[READ-ONLY] The mailbox is read-only")
        sign, silent = how.group(1), bool(how.group(2))
        modified = []
        for seq, message_uid in messages:
            old = box.flags[message_uid]
            new = old | flags if sign == "+" else old - flags if sign == "-" else flags
            if unchanged_since is not None:
                # Tested even when nothing would change: "UNCHANGEDSINCE 0" always fails (section 3.1.3).
                stored = self._set_flags(message_uid, new, unchanged_since)
                if stored is None:
                    modified.append(message_uid if uid else seq)
                    continue
                if not stored:
                    continue  # expunged meanwhile by another session: nothing to change
            elif new != old and not self._set_flags(message_uid, new):
                continue  # expunged meanwhile by another session: nothing to change
            if not silent or self.condstore:
                self._out.append(self._fetch_flags(seq, message_uid, with_uid=uid, flags=not silent))
        if modified:
            return f"[MODIFIED {uid_set(sorted(modified))}] Conditional STORE failed for some messages"
        return "STORE completed"

    def cmd_COPY(self, args: list[Value], uid: bool = False) -> str:
        """RFC 3501 section 6.4.7, with COPYUID (RFC 4315 section 3)."""
        code = self._copy(args, uid, move=False)
        return f"{code}COPY completed"

    def cmd_MOVE(self, args: list[Value], uid: bool = False) -> str:
        """RFC 6851: COPYUID in an untagged OK, then the EXPUNGEs, then the tagged OK."""
        if self._box.readonly:
            raise No("[READ-ONLY] The mailbox is read-only")
        code = self._copy(args, uid, move=True)
        if code:
            self._untagged(f"OK {code}Moved")
        return "MOVE completed"

    def _copy(self, args: list[Value], uid: bool, move: bool) -> str:
        sequence, name = _arguments(args, 2, f"{'MOVE' if move else 'COPY'} sequence-set mailbox")
        target = _folder(name)
        messages = self._resolve(sequence, uid)
        if not self.backend.has_folder(self._account, target):
            raise No(f"[TRYCREATE] No such mailbox: {target}")
        box = self._box
        pairs = []
        for _, message_uid in messages:
            try:
                if move:
                    pairs.append((message_uid, self.backend.move(self._account, message_uid, box.folder, target)))
                else:
                    pairs.append((message_uid, self.backend.copy(self._account, message_uid, box.folder, target)))
            except MailboxError:
                continue  # expunged meanwhile by another session
        if not pairs:
            return ""
        validity = self.backend.uidvalidity(self._account, target)
        return f"[COPYUID {validity} {uid_set([a for a, _ in pairs])} {uid_set([b for _, b in pairs])}] "

    def cmd_UID(self, args: list[Value]) -> str:
        """RFC 3501 section 6.4.8: the same commands, with UIDs instead of sequence numbers."""
        if not args or not isinstance(args[0], str) or args[0].upper() not in UID_COMMANDS:
            raise Bad(f"UID must be followed by one of {', '.join(UID_COMMANDS)}")
        return getattr(self, f"cmd_{args[0].upper()}")(args[1:], uid=True)

    # -- the selected mailbox ----------------------------------------------------------------

    @property
    def _account(self) -> str:
        assert self.account is not None, "the state table lets only logged-in sessions here"
        return self.account

    @property
    def _box(self) -> Snapshot:
        assert self.box is not None, "the state table lets only the selected state here"
        return self.box

    def _resolve(self, value: Value, uid: bool) -> list[tuple[int, int]]:
        """(sequence number, UID) of each message a sequence set names, in order."""
        box = self._box
        try:
            numbers = SequenceSet.parse(text(value))
        except ValueError as e:
            raise Bad(f"Bad sequence set: {e}") from None
        if uid:
            largest = box.uids[-1] if box.uids else 0
            return [(seq, u) for seq, u in enumerate(box.uids, 1) if numbers.contains(u, largest)]
        # RFC 3501 section 9: a message number beyond the mailbox is an error, unlike a UID.
        # A range that ends in "*" is not: "1:*" of an empty mailbox is simply no message.
        if any(first is not None and last is not None and max(first, last) > len(box.uids)
               for first, last in numbers.ranges):
            raise Bad("No such message (the sequence set goes beyond the mailbox)")
        return [(seq, box.uids[seq - 1]) for seq in numbers.resolve(range(1, len(box.uids) + 1), len(box.uids))]

    def _matching(self, key: SearchKey) -> list[Candidate]:
        """The messages of the snapshot that match *key* (RFC 3501 section 6.4.4), in mailbox order."""
        box = self._box
        largest_uid = box.uids[-1] if box.uids else 0
        found = []
        for seq, message_uid in enumerate(box.uids, 1):
            info = box.info[message_uid]
            read = self._reader(message_uid)
            candidate = Candidate(seq, message_uid, box.shown_flags(message_uid), info.internaldate, info.size,
                                  len(box.uids), largest_uid, lambda read=read: read() or b"",
                                  modseq=box.modseq[message_uid])
            if key.matches(candidate):
                found.append(candidate)
        return found

    def _reader(self, uid: int) -> Callable[[], bytes | None]:
        def read() -> bytes | None:
            try:
                return self.backend.get(self._account, uid, self._box.folder)
            except MailboxError:
                return None  # expunged by another session, still a "ghost" in this one
        return read

    def _set_flags(self, uid: int, flags: frozenset[str], unchanged_since: int | None = None) -> bool | None:
        """Change a message's flags in the store and in the snapshot (so it is not reported again).

        False: the message was expunged meanwhile; None: ``unchanged_since`` refused the change.
        """
        box = self._box
        try:
            modseq = self.backend.set_flags(self._account, uid, flags, box.folder, unchanged_since)
        except MailboxError as e:
            if "keyword" in str(e):
                raise No(f"[LIMIT] {e}") from None
            return False
        if modseq is None:
            return None
        box.flags[uid], box.modseq[uid] = frozenset(flags), modseq
        return True

    def _fetch_flags(self, seq: int, uid: int, *, with_uid: bool, flags: bool = True) -> bytes:
        """``* n FETCH (UID u FLAGS (...) MODSEQ (m))``: what changed about a message's flags.

        Once CONDSTORE is enabled, UID and MODSEQ are always in it (RFC 7162 section 3.1).
        """
        box = self._box
        parts = [b"UID %d" % uid] if with_uid or self.condstore else []
        if flags:
            parts.append(b"FLAGS " + flag_list(box.shown_flags(uid)))
        if self.condstore:
            parts.append(b"MODSEQ (%d)" % box.modseq[uid])
        return b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n"

    def _sync(self, expunge: bool) -> list[bytes]:
        """Untagged responses for what changed in the store since this session last looked."""
        box = self._box
        try:
            current = {info.uid: info for info in self.backend.list(self._account, box.folder)}
        except MailboxError:
            current = {}  # the mailbox was deleted or renamed: every message has gone
        out = []
        if expunge:
            for seq in range(len(box.uids), 0, -1):  # highest first: the lower numbers stay valid
                gone = box.uids[seq - 1]
                if gone not in current:
                    del box.uids[seq - 1]
                    box.flags.pop(gone)
                    box.info.pop(gone)
                    box.modseq.pop(gone)
                    box.recent.discard(gone)
                    out.append(b"* %d EXPUNGE\r\n" % seq)
        new = [uid for uid in sorted(current) if uid > box.highest]
        for uid in new:
            box.uids.append(uid)
            box.flags[uid], box.info[uid], box.modseq[uid] = current[uid].flags, current[uid], current[uid].modseq
        keywords = _keywords(info.flags for info in current.values()) | box.keywords
        if keywords != box.keywords:  # RFC 3501 section 7.2.6: FLAGS again when new keywords appear
            box.keywords = keywords
            out.append(b"* FLAGS " + flag_list(SETTABLE_FLAGS + tuple(keywords)) + b"\r\n")
        if new:
            box.highest = new[-1]
            box.recent |= self.backend.recent(self._account, box.folder, new, claim=not box.readonly)
            out.append(b"* %d EXISTS\r\n* %d RECENT\r\n" % (len(box.uids), len(box.recent)))
        for seq, uid in enumerate(box.uids, 1):
            info = current.get(uid)
            if info is None or uid in new:
                continue
            # With CONDSTORE a change that ended where it started (set, then cleared) is news too:
            # the client's idea of the message's mod-sequence must move on (RFC 7162 section 3.1).
            if info.flags != box.flags[uid] or (self.condstore and info.modseq != box.modseq[uid]):
                box.flags[uid], box.modseq[uid] = info.flags, info.modseq
                out.append(self._fetch_flags(seq, uid, with_uid=False))
            box.modseq[uid] = info.modseq
        return out

    # -- helpers -----------------------------------------------------------------------------

    def _untagged(self, line: str | bytes) -> None:
        self._out.append(b"* " + (line.encode() if isinstance(line, str) else line) + b"\r\n")

    def _wait_for_line(self, name: str) -> None:
        self._waiting = (self._tag, name)
        self.reader.expect_line()


def _arguments(args: list[Value], count: int, syntax: str) -> list[Value]:
    if len(args) != count:
        raise Bad(f"Syntax: {syntax}")
    return args


def _modifier(values: list[Value], name: str, command: str) -> int:
    """``(CHANGEDSINCE n)`` or ``(UNCHANGEDSINCE n)``: n, a mod-sequence (RFC 7162 sections 3.1.3, 3.1.4)."""
    if len(values) != 2 or not isinstance(values[0], Atom) or values[0].upper() != name:
        raise Bad(f"Unknown {command} modifier (this server knows {name} n)")
    number = values[1]
    if not isinstance(number, Atom) or not number.isdigit() or len(number) > 19 or int(number) > MAX_MODSEQ:
        raise Bad(f"{name} wants a mod-sequence, a number below 2**63")
    return int(number)


def _uses_modseq(key: object) -> bool:
    """Whether a search key has a MODSEQ key anywhere inside (RFC 7162 section 3.1.5)."""
    if isinstance(key, ModSeq):
        return True
    if isinstance(key, (list, tuple)):
        return any(_uses_modseq(k) for k in key)
    if dataclasses.is_dataclass(key):
        return any(_uses_modseq(getattr(key, f.name)) for f in dataclasses.fields(key))
    return False


def _is_nil(value: Value) -> bool:
    return isinstance(value, Atom) and value.upper() == "NIL"


def _folder(value: Value) -> str:
    """A mailbox name as the store knows it: INBOX in any case is INBOX (RFC 3501 section 5.1)."""
    try:
        name = text(value)
    except ValueError:
        raise Bad("A mailbox name was expected") from None
    return INBOX if name.upper() == INBOX else name


def _flags(values: Value | list[Value]) -> frozenset[str]:
    """Flags given by a client: system flags by their names, keywords as atoms (RFC 3501 section 9)."""
    items = values if isinstance(values, list) else [values]
    flags = set()
    for item in items:
        if not isinstance(item, Atom):
            raise Bad("Flags are atoms, such as \\Seen or $Forwarded")
        if item.startswith("\\"):
            known = {f.lower(): f for f in SETTABLE_FLAGS + (RECENT,)}.get(item.lower())
            if known is None:
                raise Bad(f"Unknown system flag {item}")
            flags.add(known)
        else:
            flags.add(str(item))
    return frozenset(flags)


def _keywords(flag_sets) -> frozenset[str]:
    return frozenset(f for flags in flag_sets for f in flags if not f.startswith("\\"))


def _date_time(value: bytes) -> float:
    """An APPEND date-time, ``"17-Jul-1996 02:44:25 -0700"`` (RFC 3501 section 9), as epoch seconds."""
    m = _DATE_TIME.match(value.decode("ascii", "replace"))
    month = _MONTHS.get(m.group(2).lower()) if m else None
    if m is None or month is None:
        raise Bad("Bad date-time, expected e.g. \"17-Jul-1996 02:44:25 -0700\"")
    day, _, year, hour, minute, second, sign, zone_h, zone_m = m.groups()
    try:
        utc = calendar.timegm((int(year), month, int(day), int(hour), int(minute), int(second)))
    except ValueError:
        raise Bad("Bad date-time") from None
    offset = (int(zone_h) * 60 + int(zone_m)) * 60
    return float(utc - offset if sign == "+" else utc + offset)


_ESEARCH_RETURNS = ("MIN", "MAX", "ALL", "COUNT")  # RFC 4731 section 3.1


def _esearch(tag: str, uid: bool, found: list[int], returns: list[str], highest: int | None) -> str:
    """``ESEARCH (TAG "a1") UID MIN 2 COUNT 5`` (RFC 4731 section 3.2); MIN, MAX and ALL only when found."""
    words = [f'ESEARCH (TAG "{tag}")'] + (["UID"] if uid else [])
    if found and "MIN" in returns:
        words.append(f"MIN {min(found)}")
    if found and "MAX" in returns:
        words.append(f"MAX {max(found)}")
    if found and "ALL" in returns:
        words.append(f"ALL {uid_set(sorted(found))}")
    if "COUNT" in returns:
        words.append(f"COUNT {len(found)}")
    if highest is not None and found:
        words.append(f"MODSEQ {highest}")  # RFC 7162 section 3.1.5, as an ESEARCH item
    return " ".join(words)


def uid_set(uids: list[int]) -> str:
    """UIDs as a compact set, ``1:3,7`` (RFC 4315's uid-set), in the order given."""
    parts: list[list[int]] = []
    for uid in uids:
        if parts and uid == parts[-1][1] + 1:
            parts[-1][1] = uid
        else:
            parts.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in parts)
