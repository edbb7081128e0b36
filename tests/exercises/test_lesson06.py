"""The checks of lesson 06 against a live lab: each failure message, and the passing case.

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


# -- 1. STAT, LIST and RETR by hand -----------------------------------------------------------------


def test_pop3_by_hand(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    joe_writes_to_jane(lab, "one", "the second", "three")  # sizes that differ
    p = _login(lab)
    stat_total = p.stat()[1]
    sizes = [int(line.split()[1]) for line in p.list()[1]]
    p.quit()
    start = lab.trace.mark()
    assert "No POP3 session" in check_fails(check.pop3_by_hand, lab, None, since=start)
    lab.pop3("jane-laptop", lab.server("somewhereelse.com").endpoints["pop3"]).quit()
    assert "never logged in" in check_fails(check.pop3_by_hand, lab, None, since=start)

    wrong = lab.pop3("jane-laptop", lab.server("somewhereelse.com").endpoints["pop3"])
    wrong.user(JANE)
    with pytest.raises(poplib.error_proto):
        wrong.pass_("jane-pasword")
    wrong.quit()
    assert "[AUTH]" in check_fails(check.pop3_by_hand, lab, None, since=start)

    def session(*steps: str, quit: bool = True):
        p = _login(lab)
        for step in steps:
            verb, _, number = step.partition(" ")
            getattr(p, {"STAT": "stat", "LIST": "list", "RETR": "retr", "DELE": "dele"}[verb])(
                *([int(number)] if number else []))
        if quit:
            p.quit()
        return p

    session("LIST", "RETR 2")
    assert "but no STAT" in check_fails(check.pop3_by_hand, lab, None, since=start)
    session("STAT", "RETR 2")
    assert "but no LIST" in check_fails(check.pop3_by_hand, lab, None, since=start)
    session("STAT", "LIST", "RETR 1")
    assert "never downloaded message 2 (RETR); it retrieved message(s) 1" in check_fails(
        check.pop3_by_hand, lab, None, since=start)
    session("STAT", "RETR 2", "LIST")
    assert "before it asked for the sizes" in check_fails(check.pop3_by_hand, lab, None, since=start)
    open_session = session("STAT", "LIST", "RETR 2", quit=False)
    assert "still open" in check_fails(check.pop3_by_hand, lab, None, since=start)
    open_session.quit()

    assert "put the size of message 2" in check_fails(check.pop3_by_hand, lab, None, since=start)
    assert "a number of octets" in check_fails(check.pop3_by_hand, lab, "big", since=start)
    assert "what STAT answered" in check_fails(check.pop3_by_hand, lab, stat_total, since=start)
    assert "size of message 1" in check_fails(check.pop3_by_hand, lab, sizes[0], since=start)
    assert "not what the server's LIST said" in check_fails(check.pop3_by_hand, lab, 7, since=start)

    session("STAT", "LIST", "RETR 2")
    check.pop3_by_hand(lab, sizes[1], since=start)
    check.pop3_by_hand(lab, str(sizes[1]), since=start)
    assert capsys.readouterr().out.count("✔ Correct:") == 2

    session("STAT", "LIST", "RETR 2", "DELE 2")
    assert "QUIT removed 1 message(s)" in check_fails(check.pop3_by_hand, lab, sizes[1], since=start)


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

    early = _login(lab, "jane-phone")
    early.retr(3)
    early.uidl()
    early.retr(4)
    early.quit()
    assert "before it asked for the UIDL listing" in check_fails(check.only_new_messages, lab, already, since=start)
    session(1, 3, 4)
    assert "message(s) 1, whose UIDL is in `already`" in check_fails(check.only_new_messages, lab, already, since=start)
    session(3)
    assert "Message(s) 4 have a UIDL that is not in `already`" in check_fails(
        check.only_new_messages, lab, already, since=start)
    open_session = session(3, 4, quit=False)
    assert "still open" in check_fails(check.only_new_messages, lab, already, since=start)
    open_session.quit()
    marked = _login(lab, "jane-phone")
    marked.uidl()
    marked.retr(3), marked.retr(4), marked.dele(3), marked.rset()
    marked.quit()
    assert "also sent DELE. This device" in check_fails(check.only_new_messages, lab, already, since=start)
    session(3, 4)
    assert "`new_messages` holds 1 item(s)" in check_fails(check.only_new_messages, lab, already, [b"x"], since=start)
    check.only_new_messages(lab, already, [b"three", b"four"], since=start)
    check.only_new_messages(lab, list(already), since=start)
    assert capsys.readouterr().out.count("✔ Correct:") == 2

    session(3, 4, dele=True)
    assert "also sent DELE (and QUIT removed 2 of them)" in check_fails(check.only_new_messages, lab, already, since=start)
    session()  # messages 3 and 4 are gone: nothing is new any more
    assert "nothing new to fetch" in check_fails(check.only_new_messages, lab, already, since=start)
