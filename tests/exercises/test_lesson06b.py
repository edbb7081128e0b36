"""The checks of lesson 06b against a live lab: each failure message, and the passing case.

Real POP3 sessions (poplib, and a raw socket for APOP) with the lab's POP3
server; the checks read them back from the trace.
"""
from __future__ import annotations

import hashlib
import socket

import pytest
from helpers import check_fails, joe_writes_to_jane
from test_lesson06 import JANE, PASSWORD, _login, lab  # noqa: F401 (lab: the same fixture)

import mailcourse.exercises as check
from mailcourse import Lab


# -- 1. every subject with TOP n 0 --------------------------------------------------------------


def test_headers_only(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    joe_writes_to_jane(lab, "one", "two", "three")
    start = lab.trace.mark()
    assert "No POP3 session" in check_fails(check.headers_only, lab, [], since=start)

    def session(*tops: tuple[int, int], stat: bool = True, retr: int = 0, quit: bool = True):
        p = _login(lab)
        if stat:
            p.stat()
        for number, lines in tops:
            p.top(number, lines)
        if retr:
            p.retr(retr)
        if quit:
            p.quit()
        return p

    session((1, 0), retr=2)
    assert "downloaded message(s) 2 whole (RETR)" in check_fails(check.headers_only, lab, [], since=start)
    session((1, 0), stat=False)
    assert "never asked how many messages" in check_fails(check.headers_only, lab, [], since=start)
    session()
    assert "sent no TOP command" in check_fails(check.headers_only, lab, [], since=start)
    session((1, 0), (2, 0), (3, 5))
    assert "'TOP 3 5': that asks for lines of the body too" in check_fails(check.headers_only, lab, [], since=start)
    session((1, 0), (3, 0))
    assert "never sent TOP for message(s) 2" in check_fails(check.headers_only, lab, [], since=start)
    open_session = session((1, 0), (2, 0), (3, 0), quit=False)
    assert "still open" in check_fails(check.headers_only, lab, [], since=start)
    open_session.quit()

    session((1, 0), (2, 0), (3, 0))
    assert "a list of 3 subjects" in check_fails(check.headers_only, lab, "one", since=start)
    assert "holds 2 item(s)" in check_fails(check.headers_only, lab, ["one", "two"], since=start)
    assert "still starts with 'Subject:'" in check_fails(
        check.headers_only, lab, ["Subject: one", "two", "three"], since=start)
    assert "Item 2 of `subjects` is 'three'" in check_fails(
        check.headers_only, lab, ["one", "three", "two"], since=start)
    check.headers_only(lab, ["one", "two", "three"], since=start)
    check.headers_only(lab, [b"one", b"two ", b"three"], since=start)
    assert capsys.readouterr().out.count("✔ Correct:") == 2


# -- 2. APOP on a raw socket ---------------------------------------------------------------------


_OPEN: list[socket.socket] = []


def _apop(lab: Lab, digest_of=None, *, name: str = JANE, quit: bool = True, before: bytes = b"") -> str:
    """A raw-socket session: greeting, optional lines, APOP with the digest ``digest_of(timestamp)``."""
    sock = socket.create_connection(lab.endpoint_address(lab.server("somewhereelse.com").endpoints["pop3"]),
                                    timeout=10)
    server = sock.makefile("rb")
    greeting = server.readline().decode()
    timestamp = greeting[greeting.index("<"):greeting.index(">") + 1]
    for line in before.splitlines(keepends=True):
        sock.sendall(line)
        server.readline()
    answer = ""
    if digest_of is not None:
        sock.sendall(f"APOP {name} {digest_of(timestamp)}\r\n".encode())
        answer = server.readline().decode()
    if quit:
        sock.sendall(b"QUIT\r\n")
        server.readline()
        sock.close()
    else:
        _OPEN.append(sock)  # left open on purpose; the test closes it
    return answer


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_apop_login(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    start = lab.trace.mark()
    assert "No POP3 session" in check_fails(check.apop_login, lab, since=start)
    _apop(lab, quit=False)
    assert "sent nothing after the greeting, but no APOP" in check_fails(check.apop_login, lab, since=start)
    _apop(lab, before=b"NOOP\r\n")  # not valid before a login: -ERR
    assert "sent NOOP, QUIT, but no APOP" in check_fails(check.apop_login, lab, since=start)

    assert "-ERR" in _apop(lab, lambda ts: _md5(PASSWORD))  # the secret alone
    assert "The server answered '-ERR [AUTH] Invalid login or digest'" in check_fails(
        check.apop_login, lab, since=start)
    assert "-ERR" in _apop(lab, lambda ts: _md5(ts.strip("<>") + PASSWORD))  # without the brackets
    assert "angle brackets included" in check_fails(check.apop_login, lab, since=start)
    _apop(lab, lambda ts: _md5(ts + PASSWORD) + " extra")
    assert "two arguments" in check_fails(check.apop_login, lab, since=start)

    holder = lab.pop3("jane-phone", lab.server("somewhereelse.com").endpoints["pop3"])
    holder.apop(JANE, PASSWORD)  # poplib's APOP: no PASS in the trace
    assert "[IN-USE]" in _apop(lab, lambda ts: _md5(ts + PASSWORD))
    assert "another session holds jane's mailbox" in check_fails(check.apop_login, lab, since=start)
    holder.quit()

    assert _apop(lab, lambda ts: _md5(ts + PASSWORD), quit=False).startswith("+OK")
    assert "still open" in check_fails(check.apop_login, lab, since=start)
    _OPEN.pop().close()

    assert _apop(lab, lambda ts: _md5(ts + PASSWORD), name="jane").startswith("+OK")
    check.apop_login(lab, since=start)
    assert capsys.readouterr().out.startswith("✔ Correct:")

    _login(lab).quit()  # a session with PASS: the password crossed the wire
    assert "sent PASS" in check_fails(check.apop_login, lab, since=start)
