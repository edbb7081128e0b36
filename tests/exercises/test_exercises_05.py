"""The checks of lesson 05 against a live lab: each failure message, and the passing case.

The sessions are real POP3 sessions (poplib, or a raw socket for pipelining
and SASL) with the lab's POP3 server; the checks read them back from the trace.
"""
from __future__ import annotations

import base64
import poplib
import socket
from typing import Iterator

import pytest
from helpers import check_fails, joe_writes_to_jane, lines_until

import mailcourse.exercises as check
from mailcourse import Lab

JOE, JANE, PASSWORD = "joe@someplace.org", "jane@somewhereelse.com", "jane-password"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=5, retry_intervals=(0.3,)) as lab:
        yield lab


def _login(lab: Lab, device: str = "jane-laptop"):
    p = lab.pop3(device, lab.server("somewhereelse.com").endpoints["pop3"])
    p.user(JANE)
    p.pass_(PASSWORD)
    return p


def _server_lines(lab: Lab) -> list[str]:
    return [line for conn in lab.trace.sessions(protocol="POP3")
            for direction, line in lab.trace.lines(conn) if direction == "s2c"]


# -- reading POP3 sessions back from the trace --------------------------------------------------


def test_exchanges_follow_pipelining_and_a_sasl_challenge(lab: Lab) -> None:
    joe_writes_to_jane(lab, "one", "two")
    plain = base64.b64encode(f"\0{JANE}\0{PASSWORD}".encode())
    with socket.create_connection(lab.server("somewhereelse.com").endpoints["pop3"].address, timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()  # greeting
        sock.sendall(b"AUTH PLAIN\r\n")
        assert reader.readline().startswith(b"+ ")
        sock.sendall(plain + b"\r\n")
        assert reader.readline().startswith(b"+OK")
        sock.sendall(b"STAT\r\nLIST\r\nUIDL 2\r\nTOP 1 0\r\nBOGUS\r\nQUIT\r\n")  # pipelined
        lines_until(reader.readline, b"+OK mail.somewhereelse.com POP3 server signing off")
    conn = lab.trace.sessions(protocol="POP3")[-1]
    assert lab.wait_for(lambda: conn.closed is not None)
    exchanges = lab.trace.exchanges(conn)
    assert [e.verb for e in exchanges] == ["", "AUTH", "STAT", "LIST", "UIDL", "TOP", "BOGUS", "QUIT"]
    assert [e.ok for e in exchanges] == [True, True, True, True, True, True, False, True]
    listing = exchanges[3].data
    assert [line.split()[0] for line in listing] == ["1", "2"]
    assert exchanges[4].data is None and exchanges[4].final.startswith("+OK 2 ")
    assert any(line.startswith("Subject: one") for line in exchanges[5].data)


# -- 1. the size of message 2 -------------------------------------------------------------------


def test_size_line(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not answered yet" in check_fails(check.size_line, lab, ...)
    joe_writes_to_jane(lab, "one", "two", "three")
    p = _login(lab)
    stat = p._shortcmd("STAT").decode()
    _, listing, _ = p.list()
    _, uidls, _ = p.uidl()
    retr, _, _ = p.retr(2)
    one_line = p.list(2).decode()
    p.quit()
    sizes = [line.decode() for line in listing]
    greeting = _server_lines(lab)[0]

    assert "the client sent it" in check_fails(check.size_line, lab, "C: LIST")
    assert "is a command" in check_fails(check.size_line, lab, "LIST")
    assert "answer to STAT" in check_fails(check.size_line, lab, stat)
    assert "about message 1" in check_fails(check.size_line, lab, sizes[0])
    assert "about message 3" in check_fails(check.size_line, lab, "S: " + sizes[2])
    assert "UIDL" in check_fails(check.size_line, lab, uidls[1].decode())
    assert "first line of the answer to RETR" in check_fails(check.size_line, lab, retr.decode())
    assert "greeting" in check_fails(check.size_line, lab, greeting)
    assert "part of a message's text" in check_fails(check.size_line, lab, "Subject: two")
    assert "not a line the server sent" in check_fails(check.size_line, lab, "2 12345678")
    assert "negative response" in check_fails(check.size_line, lab, _refusal(lab))

    check.size_line(lab, sizes[1])
    check.size_line(lab, f" S: {sizes[1]} ")
    check.size_line(lab, one_line)
    assert capsys.readouterr().out.count("✔ Correct:") == 3


def _refusal(lab: Lab) -> str:
    p = _login(lab)
    try:
        p.retr(99)
    except poplib.error_proto as refused:
        return refused.args[0].decode()
    finally:
        p.quit()
    raise AssertionError("RETR 99 should have been refused")


# -- 2. the phone leaves the mail on the server ---------------------------------------------------


def test_phone_keeps_mail(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no device called 'jane-phone'" in check_fails(check.phone_keeps_mail, lab)
    phone = lab.add_client(JANE, "jane-phone")
    assert "has not opened a POP3 session" in check_fails(check.phone_keeps_mail, lab)
    phone.fetch_pop3()
    assert "the maildrop was empty" in check_fails(check.phone_keeps_mail, lab)

    joe_writes_to_jane(lab, "deleted by the phone")
    phone.fetch_pop3()  # download and delete
    assert "sent DELE for 1 and QUIT" in check_fails(check.phone_keeps_mail, lab)

    joe_writes_to_jane(lab, "kept")
    by_hand = _login(lab, "jane-phone")
    by_hand.retr(1)
    assert "still open" in check_fails(check.phone_keeps_mail, lab)
    by_hand.quit()
    assert "no copy of them in its local store" in check_fails(check.phone_keeps_mail, lab)

    phone.fetch_pop3(keep_on_server=True)
    check.phone_keeps_mail(lab)
    assert capsys.readouterr().out.startswith("✔ Correct:")

    lab.client("jane-laptop").fetch_pop3()  # the laptop takes everything away
    assert "gone from it now" in check_fails(check.phone_keeps_mail, lab)


# -- 3. a loop that fetches only what is new ---------------------------------------------------------


def _uidls(lab: Lab) -> dict[int, str]:
    p = _login(lab)
    _, listing, _ = p.uidl()
    p.quit()
    return {int(n): uid for n, uid in (line.decode().split() for line in listing)}


def test_only_new_messages(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    joe_writes_to_jane(lab, "old one", "old two")
    already = set(_uidls(lab).values())
    joe_writes_to_jane(lab, "new one", "new two")  # messages 3 and 4

    start = lab.trace.mark()
    assert "should be the set of UIDLs" in check_fails(check.only_new_messages, lab, "abc", since=start)
    assert "No POP3 session" in check_fails(check.only_new_messages, lab, already, since=start)
    lab.pop3("jane-phone", lab.server("somewhereelse.com").endpoints["pop3"]).quit()
    assert "never logged in" in check_fails(check.only_new_messages, lab, already, since=start)
    _login(lab, "jane-phone").quit()
    assert "never asked for the unique ids" in check_fails(check.only_new_messages, lab, already, since=start)

    def session(*retrieve: int, quit: bool = True, dele: bool = False):
        p = _login(lab, "jane-phone")
        p.uidl()
        for number in retrieve:
            p.retr(number)
            if dele:
                p.dele(number)
        if quit:
            p.quit()
        return p

    session(1, 3, 4)
    assert "message(s) 1, whose UIDL is in `already`" in check_fails(check.only_new_messages, lab, already, since=start)
    session(3)
    assert "Message(s) 4 have a UIDL that is not in `already`" in check_fails(
        check.only_new_messages, lab, already, since=start)
    open_session = session(3, 4, quit=False)
    assert "still open" in check_fails(check.only_new_messages, lab, already, since=start)
    open_session.quit()
    assert "`new_messages` holds 1 item(s)" in check_fails(check.only_new_messages, lab, already, [b"x"], since=start)
    check.only_new_messages(lab, already, [b"three", b"four"], since=start)
    check.only_new_messages(lab, list(already), since=start)
    assert capsys.readouterr().out.count("✔ Correct:") == 2

    session(3, 4, dele=True)
    assert "also deleted some" in check_fails(check.only_new_messages, lab, already, since=start)
    session()  # messages 3 and 4 are gone: nothing is new any more
    assert "nothing new to fetch" in check_fails(check.only_new_messages, lab, already, since=start)
