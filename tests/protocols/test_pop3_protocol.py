"""The POP3 session without a network: lines in, exact bytes out.

Each test is a transcript in the style of the RFC's examples: ``C:`` lines
are fed to a `POP3Session`, and the ``S:`` lines that follow must be exactly
what it answers, CRLF after each. The mail lives in `MemoryBackend`, a few
lines of Python, so what is tested here is the protocol alone.
"""
from __future__ import annotations

import base64
import inspect
import re

import pytest

from mailcourse.protocols.pop3 import (
    CAPABILITIES,
    COMMANDS,
    MAX_COMMAND_LINE,
    TRANSITIONS,
    Message,
    POP3Session,
    Reply,
    State,
    apop_digest,
    byte_stuff,
    top,
)

HOST = "mail.example.org"
STAMP = "<1896.697170952@mail.example.org>"
ONE = b"From: joe@example.net\r\nSubject: one\r\n\r\nHello.\r\n"  # 47 octets
TWO = b"Subject: two\r\n\r\n.\r\n..\r\n.signature\r\nlast\r\n"  # 41 octets


class MemoryBackend:
    """Maildrops in a dict: account -> {key: bytes}; logins are "name" or "name@example.org"."""

    def __init__(self, **maildrops: list[bytes]) -> None:
        self.passwords = {name: f"{name}-password" for name in maildrops}
        self.mail = {name: dict(enumerate(msgs, 1)) for name, msgs in maildrops.items()}
        self.locked: set[str] = set()
        self.broken_disk = False

    def _account(self, login: str) -> str | None:
        local, _, domain = login.partition("@")
        return local if local in self.passwords and domain in ("", "example.org") else None

    def authenticate(self, login: str, password: str) -> str | None:
        account = self._account(login)
        return account if account and self.passwords[account] == password else None

    def shared_secret(self, login: str) -> tuple[str, str] | None:
        account = self._account(login)
        return (account, self.passwords[account]) if account else None

    def lock(self, account: str) -> list[Message] | None:
        if account in self.locked:
            return None
        self.locked.add(account)
        return [Message(key, f"7.{key}", len(raw)) for key, raw in sorted(self.mail[account].items())]

    def unlock(self, account: str) -> None:
        self.locked.discard(account)

    def read(self, account: str, message: Message) -> bytes | None:
        return self.mail[account].get(message.key)

    def delete(self, account: str, messages: list[Message]) -> int:
        if self.broken_disk:
            return len(messages)
        for message in messages:
            self.mail[account].pop(message.key, None)
        return 0


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend(jane=[ONE, TWO], joe=[])


def new_session(backend: MemoryBackend, stamp: str = STAMP) -> POP3Session:
    return POP3Session(backend, HOST, stamp)


def converse(session: POP3Session, transcript: str) -> None:
    """Play a transcript: ``S:`` lines before any ``C:`` line are the greeting; each ``C:``
    line is sent with CRLF and must get exactly the ``S:`` lines after it, CRLF after each."""
    steps: list[tuple[bytes | None, list[str]]] = [(None, [])]
    for line in transcript.splitlines():
        line = line.lstrip()  # only the indentation: a trailing space may be part of the line
        if not line:
            continue
        who, text = line[:2], line[3:]
        if who == "C:":
            steps.append((text.encode(), []))
        elif who == "S:":
            steps[-1][1].append(text)
        else:
            raise ValueError(f"not a transcript line: {line!r}")
    for sent, expected in steps:
        want = "".join(f"{s}\r\n" for s in expected).encode()
        if sent is None:
            if expected:
                assert bytes(session.greeting) == want
            continue
        got = b"".join(bytes(r) for r in session.receive_data(sent + b"\r\n"))
        assert got == want, f"after C: {sent!r}"


def logged_in(backend: MemoryBackend, account: str = "jane") -> POP3Session:
    session = new_session(backend)
    session.receive_data(f"USER {account}\r\nPASS {account}-password\r\n".encode())
    assert session.state is State.TRANSACTION
    return session


# -- the tables ------------------------------------------------------------------------

def test_states_are_named_as_in_rfc_1939():
    assert [s.name for s in State] == ["AUTHORIZATION", "TRANSACTION", "UPDATE"]


def test_every_command_in_the_table_has_its_method_and_no_method_is_missing_from_it():
    methods = {name[4:] for name, _ in inspect.getmembers(POP3Session) if name.startswith("cmd_")}
    assert methods == set(COMMANDS)
    assert set(COMMANDS) == {"USER", "PASS", "APOP", "AUTH", "CAPA", "QUIT", "STAT", "LIST", "RETR",
                             "DELE", "NOOP", "RSET", "TOP", "UIDL", "STLS"}
    for (state, verb, _), after in TRANSITIONS.items():
        assert state in COMMANDS[verb] and after in State


def test_the_transition_table_is_the_rfc_picture():
    arrows = {(s.name, verb, ok, after.name) for (s, verb, ok), after in TRANSITIONS.items()}
    assert arrows == {
        ("AUTHORIZATION", "PASS", True, "TRANSACTION"),
        ("AUTHORIZATION", "APOP", True, "TRANSACTION"),
        ("AUTHORIZATION", "AUTH", True, "TRANSACTION"),
        ("TRANSACTION", "QUIT", True, "UPDATE"),
        ("TRANSACTION", "QUIT", False, "UPDATE"),
    }


# -- a whole session, as in RFC 1939 -----------------------------------------------------

def test_user_pass_stat_list_retr_dele_quit(backend):
    session = new_session(backend)
    converse(session, f"""
        S: +OK {HOST} POP3 server ready {STAMP}
        C: USER jane
        S: +OK send PASS
        C: PASS jane-password
        S: +OK jane's maildrop has 2 messages (88 octets)
        C: STAT
        S: +OK 2 88
        C: LIST
        S: +OK 2 messages (88 octets)
        S: 1 47
        S: 2 41
        S: .
        C: LIST 2
        S: +OK 2 41
        C: RETR 1
        S: +OK 47 octets
        S: From: joe@example.net
        S: Subject: one
        S:
        S: Hello.
        S: .
        C: DELE 1
        S: +OK message 1 deleted
        C: STAT
        S: +OK 1 41
        C: NOOP
        S: +OK
        C: QUIT
        S: +OK {HOST} POP3 server signing off (1 message left)
    """)
    assert session.ended and session.state is State.UPDATE
    assert list(backend.mail["jane"].values()) == [TWO]
    assert backend.locked == set()


def test_byte_stuffing_in_retr_and_top(backend):
    session = logged_in(backend)
    converse(session, """
        C: RETR 2
        S: +OK 41 octets
        S: Subject: two
        S:
        S: ..
        S: ...
        S: ..signature
        S: last
        S: .
        C: TOP 2 2
        S: +OK top of message follows
        S: Subject: two
        S:
        S: ..
        S: ...
        S: .
    """)


def test_capa_lists_the_same_capabilities_in_both_states(backend):
    expected = "S: +OK Capability list follows\n" + "".join(f"S: {c}\n" for c in CAPABILITIES) + "S: .\n"
    session = new_session(backend)
    converse(session, "C: CAPA\n" + expected)
    session.receive_data(b"USER jane\r\nPASS jane-password\r\n")
    converse(session, "C: CAPA\n" + expected)
    assert {"TOP", "UIDL", "USER", "SASL PLAIN", "RESP-CODES", "PIPELINING"} <= set(CAPABILITIES)


def test_uidl_and_top(backend):
    converse(logged_in(backend), """
        C: UIDL
        S: +OK unique-id listing follows
        S: 1 7.1
        S: 2 7.2
        S: .
        C: UIDL 2
        S: +OK 2 7.2
        C: TOP 1 0
        S: +OK top of message follows
        S: From: joe@example.net
        S: Subject: one
        S:
        S: .
        C: DELE 1
        S: +OK message 1 deleted
        C: UIDL
        S: +OK unique-id listing follows
        S: 2 7.2
        S: .
        C: UIDL 1
        S: -ERR message 1 already deleted
    """)


def test_rset_unmarks_and_nothing_is_removed(backend):
    session = logged_in(backend)
    converse(session, """
        C: DELE 1
        S: +OK message 1 deleted
        C: DELE 1
        S: -ERR message 1 already deleted
        C: RETR 1
        S: -ERR message 1 already deleted
        C: LIST
        S: +OK 1 message (41 octets)
        S: 2 41
        S: .
        C: RSET
        S: +OK maildrop has 2 messages (88 octets)
        C: RETR 1
        S: +OK 47 octets
        S: From: joe@example.net
        S: Subject: one
        S:
        S: Hello.
        S: .
        C: QUIT
        S: +OK mail.example.org POP3 server signing off (2 messages left)
    """)
    assert list(backend.mail["jane"].values()) == [ONE, TWO]


def test_quit_after_deleting_everything(backend):
    converse(logged_in(backend), """
        C: DELE 1
        S: +OK message 1 deleted
        C: DELE 2
        S: +OK message 2 deleted
        C: STAT
        S: +OK 0 0
        C: QUIT
        S: +OK mail.example.org POP3 server signing off (maildrop empty)
    """)
    assert backend.mail["jane"] == {}


def test_quit_in_authorization_ends_without_update(backend):
    session = new_session(backend)
    converse(session, """
        C: USER jane
        S: +OK send PASS
        C: QUIT
        S: +OK mail.example.org POP3 server signing off
    """)
    assert session.ended and session.state is State.AUTHORIZATION
    assert session.receive_data(b"NOOP\r\n") == []  # the rest is ignored: the server closes
    with pytest.raises(RuntimeError):
        session.receive_line(b"NOOP")


def test_a_lost_connection_removes_nothing_and_releases_the_lock(backend):
    session = logged_in(backend)
    session.receive_data(b"DELE 1\r\nDELE 2\r\n")
    assert session.deleted == {1, 2}
    session.connection_lost()
    assert session.ended and session.state is State.TRANSACTION  # never reached UPDATE
    assert list(backend.mail["jane"].values()) == [ONE, TWO]
    assert backend.locked == set()


def test_a_failed_removal_says_so_and_still_releases_the_lock(backend):
    session = logged_in(backend)
    backend.broken_disk = True
    converse(session, """
        C: DELE 2
        S: +OK message 2 deleted
        C: QUIT
        S: -ERR some deleted messages not removed (1 of 1)
    """)
    assert session.ended and session.state is State.UPDATE
    assert backend.locked == set()


# -- logging in ---------------------------------------------------------------------------

def test_wrong_password_then_right_one(backend):
    session = new_session(backend)
    converse(session, """
        C: PASS jane-password
        S: -ERR USER first
        C: USER jane
        S: +OK send PASS
        C: PASS nope
        S: -ERR [AUTH] Invalid login or password
        C: PASS jane-password
        S: -ERR USER first
        C: USER nobody
        S: +OK send PASS
        C: PASS nobody-password
        S: -ERR [AUTH] Invalid login or password
        C: USER jane@example.org
        S: +OK send PASS
        C: PASS jane-password
        S: +OK jane's maildrop has 2 messages (88 octets)
    """)
    assert session.account == "jane"


def test_a_password_may_contain_spaces():
    backend = MemoryBackend(ann=[])
    backend.passwords["ann"] = "correct horse battery staple "
    session = new_session(backend)
    converse(session, """
        C: USER ann
        S: +OK send PASS
        C: PASS correct horse battery staple\x20
        S: +OK ann's maildrop has 0 messages (0 octets)
    """)


def test_apop_digest_is_rfc_1939s_example():
    # RFC 1939 section 7, APOP: the timestamp and shared secret of its example.
    assert apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf") == "c4c9334bac560ecc979e58001b3e22fb"


def test_apop_uses_this_sessions_timestamp(backend):
    digest = apop_digest(STAMP, "jane-password")
    session = new_session(backend)
    converse(session, f"""
        C: APOP jane {apop_digest("<other@stamp>", "jane-password")}
        S: -ERR [AUTH] Invalid login or digest
        C: APOP jane {digest[:-1]}
        S: -ERR [AUTH] Invalid login or digest
        C: APOP nobody {digest}
        S: -ERR [AUTH] Invalid login or digest
        C: APOP jane
        S: -ERR Syntax: APOP name digest
        C: APOP jane {digest.upper()}
        S: +OK jane's maildrop has 2 messages (88 octets)
    """)


def plain(login: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{login}\0{password}".encode()).decode()


def test_auth_plain_with_an_initial_response(backend):
    converse(new_session(backend), f"""
        C: AUTH PLAIN {plain("jane", "jane-password")}
        S: +OK jane's maildrop has 2 messages (88 octets)
    """)


def test_auth_plain_after_an_empty_challenge(backend):
    session = new_session(backend)
    converse(session, f"""
        C: AUTH PLAIN
        S: +\x20
        C: {plain("jane@example.org", "jane-password", authzid="jane@example.org")}
        S: +OK jane's maildrop has 2 messages (88 octets)
    """)
    assert session.state is State.TRANSACTION


def test_auth_failures_leave_the_session_in_authorization(backend):
    session = new_session(backend)
    converse(session, f"""
        C: AUTH
        S: -ERR Syntax: AUTH mechanism [initial-response]
        C: AUTH CRAM-MD5
        S: -ERR Unsupported mechanism; this server offers PLAIN
        C: AUTH PLAIN
        S: +\x20
        C: *
        S: -ERR Authentication cancelled
        C: AUTH PLAIN
        S: +\x20
        C: not base64!
        S: -ERR Invalid base64 in the SASL response
        C: AUTH PLAIN =
        S: -ERR [AUTH] A PLAIN response is authzid NUL login NUL password
        C: AUTH PLAIN {plain("jane", "wrong")}
        S: -ERR [AUTH] Invalid login or password
        C: AUTH PLAIN {plain("jane", "jane-password", authzid="joe")}
        S: -ERR [AUTH] The authorization identity must be empty or the login itself
        C: AUTH PLAIN a b
        S: -ERR Syntax: AUTH mechanism [initial-response]
        C: NOOP
        S: -ERR NOOP is not valid in the AUTHORIZATION state
    """)
    assert session.state is State.AUTHORIZATION and backend.locked == set()


def test_a_second_session_finds_the_maildrop_locked(backend):
    first = logged_in(backend)
    second = new_session(backend, "<2.x@mail.example.org>")
    converse(second, """
        C: USER jane
        S: +OK send PASS
        C: PASS jane-password
        S: -ERR [IN-USE] Maildrop already locked: another POP3 session is using it
        C: AUTH PLAIN AGphbmUAamFuZS1wYXNzd29yZA==
        S: -ERR [IN-USE] Maildrop already locked: another POP3 session is using it
    """)
    assert second.state is State.AUTHORIZATION
    first.receive_data(b"DELE 1\r\nQUIT\r\n")
    converse(second, """
        C: USER jane
        S: +OK send PASS
        C: PASS jane-password
        S: +OK jane's maildrop has 1 message (41 octets)
    """)


# -- errors are replies, and the session goes on ------------------------------------------

def test_commands_in_the_wrong_state(backend):
    session = new_session(backend)
    converse(session, """
        C: RETR 1
        S: -ERR RETR is not valid in the AUTHORIZATION state
        C: STAT
        S: -ERR STAT is not valid in the AUTHORIZATION state
    """)
    session.receive_data(b"USER jane\r\nPASS jane-password\r\n")
    converse(session, """
        C: USER jane
        S: -ERR USER is not valid in the TRANSACTION state
        C: PASS jane-password
        S: -ERR PASS is not valid in the TRANSACTION state
        C: AUTH PLAIN
        S: -ERR AUTH is not valid in the TRANSACTION state
        C: STAT
        S: +OK 2 88
    """)


@pytest.mark.parametrize("line, reply", [
    (b"", "-ERR Unknown command"),
    (b"XYZZY", "-ERR Unknown command: XYZZY"),
    (b"\x00\xff\xfe", "-ERR Unknown command"),
    (b"RETR", "-ERR Syntax: RETR msg"),
    (b"RETR 1 2", "-ERR Syntax: RETR msg"),
    (b"RETR 0", "-ERR no such message"),
    (b"RETR 3", "-ERR no such message"),
    (b"RETR -1", "-ERR no such message"),
    (b"RETR x", "-ERR no such message"),
    (b"RETR \xc2\xb2", "-ERR no such message"),  # "²" is a digit to str.isdigit, not to POP3
    (b"RETR 99999999999999999999", "-ERR no such message"),
    (b"LIST 1 2", "-ERR Syntax: LIST [msg]"),
    (b"TOP 1", "-ERR Syntax: TOP msg n"),
    (b"TOP 1 -1", "-ERR Syntax: TOP msg n (n: how many body lines, 0 or more)"),
    (b"DELE", "-ERR Syntax: DELE msg"),
    (b"STAT now", "-ERR Syntax: STAT"),
    (b"NOOP x", "-ERR Syntax: NOOP"),
])
def test_bad_commands_get_err_and_the_session_goes_on(backend, line, reply):
    session = logged_in(backend)
    got = session.receive_data(line + b"\r\nSTAT\r\n")
    assert [bytes(r) for r in got] == [reply.encode() + b"\r\n", b"+OK 2 88\r\n"]


def test_commands_are_case_insensitive_and_bare_lf_is_accepted(backend):
    session = new_session(backend)
    got = session.receive_data(b"user jane\npass jane-password\nstat\r\nlist 2\n")
    assert [bytes(r) for r in got][-2:] == [b"+OK 2 88\r\n", b"+OK 2 41\r\n"]


# -- lines and pipelining ------------------------------------------------------------------

PIPELINE = (b"CAPA\r\nUSER jane\r\nPASS jane-password\r\nSTAT\r\nLIST\r\nUIDL\r\n"
            b"RETR 2\r\nTOP 1 1\r\nDELE 1\r\nQUIT\r\n")


def test_pipelined_commands_get_their_replies_in_order(backend):
    """Ten commands in one piece of data get the ten replies they get one at a time."""
    sequential = new_session(MemoryBackend(jane=[ONE, TWO]))
    one_by_one = b"".join(bytes(r) for line in PIPELINE.splitlines(keepends=True)
                          for r in sequential.receive_data(line))
    together = b"".join(bytes(r) for r in new_session(backend).receive_data(PIPELINE))
    assert together == one_by_one
    assert together.count(b"+OK") == 10
    assert list(backend.mail["jane"].values()) == [TWO]


def test_bytes_may_arrive_one_at_a_time(backend):
    session = new_session(backend)
    replies = [bytes(r) for byte in PIPELINE for r in session.receive_data(bytes([byte]))]
    expected = [bytes(r) for r in new_session(MemoryBackend(jane=[ONE, TWO])).receive_data(PIPELINE)]
    assert replies == expected


def test_line_length_limit_of_rfc_2449(backend):
    session = new_session(backend)
    longest = b"USER " + b"x" * (MAX_COMMAND_LINE - 2 - 5)  # 255 octets with CRLF
    assert [bytes(r) for r in session.receive_data(longest + b"\r\n")] == [b"+OK send PASS\r\n"]
    too_long = longest + b"x"
    assert [bytes(r) for r in session.receive_data(too_long + b"\r\n")] == [
        b"-ERR Line too long (at most 255 octets with CRLF)\r\n"]
    # A huge line in pieces: nothing is kept of it, and one -ERR comes when it ends.
    for _ in range(100):
        assert session.receive_data(b"y" * 1000) == []
    assert len(session._buffer) < MAX_COMMAND_LINE
    got = session.receive_data(b"yyy\r\nUSER jane\r\nPASS jane-password\r\n")
    assert [r.status for r in got] == ["-ERR", "+OK", "+OK"]


# -- the pieces ------------------------------------------------------------------------------

def test_reply_bytes():
    assert bytes(Reply("+OK")) == b"+OK\r\n"
    assert bytes(Reply("+")) == b"+ \r\n"
    assert bytes(Reply("-ERR", "no")) == b"-ERR no\r\n"
    assert bytes(Reply("+OK", "list", b"")) == b"+OK list\r\n.\r\n"
    assert bytes(Reply("+OK", "x", b"a\r\n.b\r\n")) == b"+OK x\r\na\r\n..b\r\n.\r\n"
    assert (Reply("+OK").ok, Reply("-ERR").ok, Reply("+").ok) == (True, False, None)


@pytest.mark.parametrize("body, stuffed", [
    (b"", b""),
    (b".\r\n", b"..\r\n"),
    (b"a\r\n.\r\nb", b"a\r\n..\r\nb\r\n"),  # a last line without CRLF gets one
    (b"a.b\r\n . \r\n", b"a.b\r\n . \r\n"),
    (b".x\n..y\n", b"..x\n...y\n"),
])
def test_byte_stuff(body, stuffed):
    assert byte_stuff(body) == stuffed


def unstuff(wire: bytes) -> bytes:
    """What a client does: drop the final ".", and one "." from lines that begin with one."""
    assert wire.endswith(b".\r\n")
    return re.sub(rb"(?m)^\.", b"", wire[:-3])


@pytest.mark.parametrize("raw", [ONE, TWO, b"..\r\n.\r\n", b"no blank line\r\n.", b"\r\n.\r\n"])
def test_byte_stuffing_round_trips(raw):
    expected = raw if raw.endswith(b"\n") else raw + b"\r\n"
    assert unstuff(byte_stuff(raw) + b".\r\n") == expected


def test_top():
    raw = b"A: 1\r\nB: 2\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
    assert top(raw, 0) == b"A: 1\r\nB: 2\r\n\r\n"
    assert top(raw, 2) == b"A: 1\r\nB: 2\r\n\r\nline 1\r\nline 2\r\n"
    assert top(raw, 99999999) == raw
    assert top(b"A: 1\r\nB: 2\r\n", 0) == b"A: 1\r\nB: 2\r\n"  # all header
    assert top(b"A: 1\r\n\r\nx", 5) == b"A: 1\r\n\r\nx"


def test_words_after_quit_are_ignored(backend):
    session = logged_in(backend)
    converse(session, """
        C: DELE 1
        S: +OK message 1 deleted
        C: QUIT now please
        S: +OK mail.example.org POP3 server signing off (1 message left)
    """)
    assert session.state is State.UPDATE and list(backend.mail["jane"].values()) == [TWO]
