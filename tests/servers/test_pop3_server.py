"""The POP3 endpoint over real sockets: poplib (and a bare socket where poplib is too polite).

Mail reaches jane's maildrop as it does in the lab, by SMTP or straight into
the store with exact bytes; the tests read it with the standard library's
POP3 client and look at what is left on disk afterwards.
"""
from __future__ import annotations

import poplib
import socket
import struct

import pytest
from helpers import JANE, JOE, listening_here, maildir_messages, plain_blob, raw_message, submit, wait_until

from mailcourse import Lab, Limits
from mailcourse.protocols.pop3 import CAPABILITIES, apop_digest

JANE_PASSWORD = "jane-password"


def jane_server(lab: Lab):
    return lab.server("somewhereelse.com")


def deliver(lab: Lab, *messages: bytes) -> None:
    """Put exact bytes into jane's maildrop, as local delivery does."""
    for raw in messages:
        jane_server(lab).store.deliver("jane", raw)


def pop(lab: Lab, login: str | None = "jane", password: str = JANE_PASSWORD) -> poplib.POP3:
    """poplib connected to jane's server; logged in with USER/PASS unless ``login`` is None."""
    client = poplib.POP3(*jane_server(lab).endpoints["pop3"].address, timeout=5)
    if login is not None:
        client.user(login)
        client.pass_(password)
    return client


def on_disk(lab: Lab) -> list[bytes]:
    return maildir_messages(jane_server(lab), "jane")


class RawPOP3:
    """A POP3 client on a bare socket: sends exactly what it is given, reads replies as bytes."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.file = self.sock.makefile("rb")

    def __enter__(self) -> RawPOP3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def line(self) -> bytes:
        return self.file.readline()

    def multiline(self) -> list[bytes]:
        lines = []
        while (line := self.line()) != b".\r\n":
            assert line, "connection closed inside a multi-line response"
            lines.append(line)
        return lines

    def command(self, line: bytes | str) -> bytes:
        self.sock.sendall((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.line()

    def read_to_end(self) -> bytes:
        """Everything until the server closes the connection."""
        chunks = []
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    def login(self) -> None:
        assert self.line().startswith(b"+OK")
        assert self.command("USER jane").startswith(b"+OK")
        assert self.command(f"PASS {JANE_PASSWORD}").startswith(b"+OK")


def can_log_in(lab: Lab) -> bool:
    """True once jane's maildrop is free again (another session's lock released)."""
    try:
        client = pop(lab)
    except poplib.error_proto as e:
        assert b"[IN-USE]" in e.args[0]
        return False
    client.quit()
    return True


# -- the endpoint ------------------------------------------------------------------------

def test_every_mail_server_has_a_pop3_endpoint_behind_a_tap(lab):
    for server in lab.servers.values():
        endpoint = server.endpoints["pop3"]
        assert (endpoint.protocol, endpoint.service, endpoint.device) == ("POP3", "pop3", server.hostname)
        host, port = endpoint.address
        assert host == "127.0.0.1" and port > 0
    client = pop(lab)
    client.quit()
    [conn] = lab.trace.sessions(protocol="POP3")
    assert conn.server == "mail.somewhereelse.com"
    lines = [line for _, line in lab.trace.lines(conn)]
    assert "USER jane" in lines and "PASS ********" in lines  # the tap masks the password
    assert JANE_PASSWORD not in lab.trace.transcript(conn)


def test_smtp_delivers_and_pop3_serves_the_same_bytes(lab):
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "over SMTP", body=b"Line one.\r\n.Line two.\r\n"))
    assert lab.wait_for_delivery()
    [stored] = on_disk(lab)
    client = pop(lab)
    response, lines, _ = client.retr(1)
    assert response == f"+OK {len(stored)} octets".encode()
    assert b"\r\n".join(lines) + b"\r\n" == stored  # CRLF as stored, the stuffed "." removed again
    client.quit()


# -- every command ---------------------------------------------------------------------------

ONE = raw_message(JOE, JANE, "one", body=b"First body line.\r\nSecond.\r\nThird.\r\n")
TWO = raw_message(JOE, JANE, "two", body=b"Short.\r\n")


def test_capa_user_pass_stat_list_retr_top_uidl_noop_dele_quit(lab):
    deliver(lab, ONE, TWO)
    store = jane_server(lab).store
    uids = [f"{store.uidvalidity('jane')}.{m.uid}".encode() for m in store.list("jane")]
    client = pop(lab, login=None)
    assert client.getwelcome().startswith(b"+OK mail.somewhereelse.com POP3 server ready <")
    listed = [c.split()[0] for c in CAPABILITIES]
    assert list(client.capa()) == listed[:listed.index("PIPELINING") + 1] + ["STLS", "IMPLEMENTATION"]
    assert client.capa()["SASL"] == ["PLAIN"]
    assert client.user("jane").startswith(b"+OK")
    assert client.pass_(JANE_PASSWORD).startswith(b"+OK jane's maildrop has 2 messages")
    assert client.stat() == (2, len(ONE) + len(TWO))
    resp, listing, _ = client.list()
    assert listing == [f"1 {len(ONE)}".encode(), f"2 {len(TWO)}".encode()]
    assert client.list(2) == f"+OK 2 {len(TWO)}".encode()
    assert client.uidl()[1] == [b"1 " + uids[0], b"2 " + uids[1]]
    assert client.uidl(2) == b"+OK 2 " + uids[1]
    assert b"\r\n".join(client.retr(1)[1]) + b"\r\n" == ONE
    head, body = ONE.split(b"\r\n\r\n")
    assert client.top(1, 0)[1] == head.split(b"\r\n") + [b""]
    assert client.top(1, 2)[1] == head.split(b"\r\n") + [b"", b"First body line.", b"Second."]
    assert client.noop() == b"+OK"
    assert client.dele(1) == b"+OK message 1 deleted"
    assert client.stat() == (1, len(TWO))
    assert client.quit().endswith(b"(1 message left)")
    assert on_disk(lab) == [TWO]


def test_apop_with_the_banners_timestamp(lab):
    client = pop(lab, login=None)
    stamp = client.getwelcome().split()[-1].decode()
    assert stamp.startswith("<") and stamp.endswith("@mail.somewhereelse.com>")  # RFC 1939 section 7
    assert client.apop("jane@somewhereelse.com", JANE_PASSWORD).startswith(b"+OK")
    client.quit()
    other = pop(lab, login=None)
    assert other.getwelcome().split()[-1].decode() != stamp  # a new timestamp for every session
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        other.apop("jane", "wrong-password")
    other.quit()
    with RawPOP3(jane_server(lab).endpoints["pop3"].address) as s:  # a digest seen once does not work again
        s.line()
        assert s.command(f"APOP jane {apop_digest(stamp, JANE_PASSWORD)}").startswith(b"-ERR [AUTH]")


def test_auth_plain_with_an_initial_response_and_after_a_continuation(lab):
    deliver(lab, ONE)
    address = jane_server(lab).endpoints["pop3"].address
    with RawPOP3(address) as s:  # SASL-IR, RFC 5034: the response on the AUTH line
        s.line()
        assert s.command(f"AUTH PLAIN {plain_blob(JANE, JANE_PASSWORD)}") == \
            b"+OK jane's maildrop has 1 message (%d octets)\r\n" % len(ONE)
        assert s.command("QUIT").startswith(b"+OK")
    with RawPOP3(address) as s:  # the empty challenge "+ ", then the response on a line of its own
        s.line()
        assert s.command("AUTH PLAIN") == b"+ \r\n"
        assert s.command(plain_blob("jane", JANE_PASSWORD)).startswith(b"+OK jane's maildrop")
        assert s.command("STAT") == b"+OK 1 %d\r\n" % len(ONE)
        assert s.command("QUIT").startswith(b"+OK")
    with RawPOP3(address) as s:  # wrong password, cancel: still AUTHORIZATION
        s.line()
        assert s.command(f"AUTH PLAIN {plain_blob(JANE, 'nope')}").startswith(b"-ERR [AUTH]")
        assert s.command("AUTH PLAIN") == b"+ \r\n"
        assert s.command("*") == b"-ERR Authentication cancelled\r\n"
        assert s.command(f"USER {JANE}").startswith(b"+OK")
        assert s.command(f"PASS {JANE_PASSWORD}").startswith(b"+OK")
    transcript = lab.trace.transcript(lab.trace.sessions(protocol="POP3"))
    assert "C: AUTH PLAIN ********" in transcript and "C: ********" in transcript
    assert plain_blob(JANE, JANE_PASSWORD) not in transcript  # the tap masks SASL responses too


def test_wrong_login_gets_err_and_the_session_goes_on(lab):
    client = pop(lab, login=None)
    client.user("jane")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        client.pass_("wrong")
    client.user("jane")
    assert client.pass_(JANE_PASSWORD).startswith(b"+OK")
    client.quit()


# -- the lock --------------------------------------------------------------------------------

def test_a_second_session_gets_in_use_while_the_first_holds_the_maildrop(lab):
    deliver(lab, ONE, TWO)
    first = pop(lab)
    second = pop(lab, login=None)
    second.user("jane@somewhereelse.com")  # the same maildrop under its other login
    with pytest.raises(poplib.error_proto) as refused:
        second.pass_(JANE_PASSWORD)
    assert refused.value.args[0].startswith(b"-ERR [IN-USE]")  # RFC 2449 RESP-CODES
    assert second.quit().startswith(b"+OK")  # QUIT from AUTHORIZATION: goodbye, nothing else
    with RawPOP3(jane_server(lab).endpoints["pop3"].address) as s:  # AUTH finds it locked too
        s.line()
        assert s.command(f"AUTH PLAIN {plain_blob(JANE, JANE_PASSWORD)}").startswith(b"-ERR [IN-USE]")
    first.dele(1)
    first.quit()
    assert can_log_in(lab)
    assert on_disk(lab) == [TWO]


def test_rset_undoes_dele(lab):
    deliver(lab, ONE, TWO)
    client = pop(lab)
    client.dele(1)
    client.dele(2)
    assert client.stat() == (0, 0)
    with pytest.raises(poplib.error_proto, match="already deleted"):
        client.retr(1)
    assert client.rset() == f"+OK maildrop has 2 messages ({len(ONE) + len(TWO)} octets)".encode()
    assert client.retr(2)[1][-1] == b"Short."
    client.quit()
    assert on_disk(lab) == [ONE, TWO]


def test_quit_commits_the_deletions(lab):
    deliver(lab, ONE, TWO)
    client = pop(lab)
    client.dele(2)
    assert on_disk(lab) == [ONE, TWO]  # marked, not removed: that happens in UPDATE
    assert client.quit().endswith(b"signing off (1 message left)")
    assert on_disk(lab) == [ONE]
    assert [m.size for m in jane_server(lab).store.list("jane")] == [len(ONE)]


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_dropped_connection_commits_nothing_and_releases_the_lock(lab, how):
    deliver(lab, ONE, TWO)
    s = RawPOP3(jane_server(lab).endpoints["pop3"].address)
    s.login()
    assert s.command("DELE 1").startswith(b"+OK")
    assert s.command("DELE 2").startswith(b"+OK")
    if how == "reset":  # abortive close: the server sees a TCP reset
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    wait_until(lambda: can_log_in(lab), what="the maildrop lock to be released")
    assert on_disk(lab) == [ONE, TWO]


def test_new_mail_waits_for_the_next_session(lab):
    deliver(lab, ONE)
    client = pop(lab)
    deliver(lab, TWO)  # arrives while the maildrop is open
    assert client.stat() == (1, len(ONE))  # message numbers are fixed for the session
    client.dele(1)
    client.quit()
    client = pop(lab)
    assert client.stat() == (1, len(TWO))
    client.quit()


def test_uidl_is_stable_across_sessions_and_restarts(tmp_path):
    with Lab.classic(seed=1, workspace=tmp_path) as lab:
        deliver(lab, ONE, TWO, ONE)
        client = pop(lab)
        before = client.uidl()[1]
        client.dele(1)
        client.quit()
        client = pop(lab)
        after_dele = client.uidl()[1]
        client.quit()
    with Lab.classic(seed=1, workspace=tmp_path) as lab:
        client = pop(lab)
        after_restart = client.uidl()[1]
        client.quit()
    ids = [line.split()[1] for line in before]
    assert len(set(ids)) == 3
    assert [line.split()[1] for line in after_dele] == ids[1:]  # numbers change, unique ids do not
    assert after_restart == after_dele


# -- byte-stuffing -----------------------------------------------------------------------------

DOTS = (b"Subject: dots\r\n\r\n.\r\n..\r\n...\r\n.leading\r\n. space\r\nmiddle.dot\r\n"
        b"\r\n.\r\nlast line.\r\n")


def test_lines_that_begin_with_a_dot_round_trip_exactly(lab):
    deliver(lab, DOTS, b"Subject: no final newline\r\n\r\n.end")
    client = pop(lab)
    assert b"\r\n".join(client.retr(1)[1]) + b"\r\n" == DOTS
    assert b"\r\n".join(client.top(1, 99999999)[1]) + b"\r\n" == DOTS
    assert client.retr(2)[1] == [b"Subject: no final newline", b"", b".end"]
    client.quit()
    [conn] = lab.trace.sessions(protocol="POP3")
    sent = [line for direction, line in lab.trace.lines(conn) if direction == "s2c"]
    assert sent.count("..leading") == 2 and "...." in sent  # stuffed on the wire
    assert on_disk(lab)[0] == DOTS


# -- pipelining -------------------------------------------------------------------------------

def test_pipelined_commands_are_answered_in_order(lab):
    deliver(lab, ONE, TWO)
    commands = [b"CAPA", b"USER jane", f"PASS {JANE_PASSWORD}".encode(), b"STAT", b"LIST", b"UIDL",
                b"RETR 1", b"TOP 2 0", b"LIST 2", b"DELE 1", b"NOOP", b"RSET", b"QUIT"]
    address = jane_server(lab).endpoints["pop3"].address
    with RawPOP3(address) as s:
        s.line()
        s.sock.sendall(b"".join(c + b"\r\n" for c in commands))  # one write
        together = s.read_to_end()
    with RawPOP3(address) as s:
        s.line()
        one_by_one = b""
        for command in commands:
            s.sock.sendall(command + b"\r\n")
            reply = s.line()
            one_by_one += reply
            if command in (b"CAPA", b"LIST", b"UIDL", b"RETR 1", b"TOP 2 0"):
                one_by_one += b"".join(s.multiline()) + b".\r\n"
    assert together == one_by_one
    assert together.count(b"\r\n+OK") + together.startswith(b"+OK") == len(commands)
    assert on_disk(lab) == [ONE, TWO]


# -- errors are replies ---------------------------------------------------------------------------

BEFORE_LOGIN = [b"RETR 1", b"STAT", b"PASS x", b"XYZZY", b"", b"\x00\xff\xfe", b"USER", b"APOP jane",
                b"AUTH", b"AUTH GSSAPI", b"TOP 1 1", b"UIDL", b"DELE 1", b"RSET", b"NOOP"]
AFTER_LOGIN = [b"USER jane", b"PASS x", b"APOP a b", b"AUTH PLAIN", b"RETR", b"RETR 0", b"RETR 99",
               b"RETR one", b"TOP 1", b"TOP 1 x", b"DELE x", b"LIST 1 2", b"UIDL 7", b"STAT 1",
               b"NOOP please", b"\xc3\xa9TAT", b"   "]


def test_bad_commands_and_wrong_states_get_err_and_the_session_goes_on(lab):
    deliver(lab, ONE)
    with RawPOP3(jane_server(lab).endpoints["pop3"].address) as s:
        s.line()
        for line in BEFORE_LOGIN:
            assert s.command(line).startswith(b"-ERR "), line
            assert s.command("CAPA").startswith(b"+OK")  # still serving
            s.multiline()
        assert s.command("USER jane").startswith(b"+OK")
        assert s.command(f"PASS {JANE_PASSWORD}").startswith(b"+OK")
        for line in AFTER_LOGIN:
            assert s.command(line).startswith(b"-ERR "), line
            assert s.command("STAT") == b"+OK 1 %d\r\n" % len(ONE)
        assert s.command("QUIT").startswith(b"+OK")
    assert on_disk(lab) == [ONE]


# -- limits --------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [256, 2000, 100_000])
def test_a_command_line_over_255_octets_gets_err_and_the_session_goes_on(lab, length):
    with RawPOP3(jane_server(lab).endpoints["pop3"].address) as s:
        s.line()
        reply = s.command(b"USER " + b"x" * (length - 7))  # length octets with CRLF
        assert reply == b"-ERR Line too long (at most 255 octets with CRLF)\r\n"
        assert s.command(b"USER " + b"x" * (255 - 7)) == b"+OK send PASS\r\n"  # 255 is fine (RFC 2449)
        assert s.command("USER jane") == b"+OK send PASS\r\n"
        assert s.command(f"PASS {JANE_PASSWORD}").startswith(b"+OK")


def test_an_idle_client_is_hung_up_on_without_update():
    with Lab.classic(seed=1, limits=Limits(idle_timeout=0.5)) as lab:
        deliver(lab, ONE)
        with RawPOP3(jane_server(lab).endpoints["pop3"].address, timeout=10) as s:
            s.login()
            assert s.command("DELE 1").startswith(b"+OK")
            assert s.read_to_end() == b""  # RFC 1939 section 3: closed, without a word
        assert can_log_in(lab)  # the lock went with the connection
        assert on_disk(lab) == [ONE]  # and no UPDATE happened


def test_too_many_connections_get_err_and_the_others_keep_working():
    with Lab.classic(seed=1, limits=Limits(max_connections=2)) as lab:
        deliver(lab, ONE)
        first, second = pop(lab), pop(lab, login=None)
        with pytest.raises(poplib.error_proto, match=r"-ERR \[SYS/TEMP\] Too many connections"):
            pop(lab, login=None)
        assert first.stat() == (1, len(ONE))
        assert second.capa()["SASL"] == ["PLAIN"]
        first.quit()
        second.quit()
        endpoint = jane_server(lab).endpoints["pop3"]
        wait_until(lambda: not endpoint.active, what="connections to close")
        assert can_log_in(lab)


def test_an_offline_server_refuses_pop3_too(lab):
    server = jane_server(lab)
    endpoint = server.endpoints["pop3"]
    server.go_offline()
    # Its port is given back (another program may have it by now, so nobody connects there to see) ...
    assert not listening_here(endpoint.address)
    with pytest.raises(ConnectionRefusedError):  # ... and a lab device is refused at once
        lab.pop3("jane-phone", endpoint)
    server.go_online()
    assert can_log_in(lab)
