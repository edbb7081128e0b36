"""Limits, and clients that misbehave: the server says no, and goes on serving.

Each limit of `mailcourse.Limits` gets its own lab. After each bad input a
normal client still sends mail that arrives, and mail accepted before is
still where it was (`helpers.assert_still_serves`).
"""
from __future__ import annotations

import socket

import pytest
from helpers import (ENHANCED, JANE, JOE, JOE_PASSWORD, RawSMTP, assert_still_serves, login,
                     maildir_messages, raw_message, submit, subject_of, wait_until)

from mailcourse import Lab, Limits


def endpoints(lab: Lab):
    return [lab.server("someplace.org").submission, lab.server("somewhereelse.com").mx]


def jane_subjects(lab: Lab) -> list[str]:
    return [subject_of(m) for m in maildir_messages(lab.server("somewhereelse.com"), "jane")]


# -- command lines -----------------------------------------------------------------------

@pytest.mark.parametrize("length", [513, 2000, 100_000])
def test_command_line_too_long_gets_500_and_the_session_goes_on(lab, length):
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "before"))
    with RawSMTP(lab.server("someplace.org").submission.address) as s:
        s.hello()
        line = "NOOP " + "x" * (length - 5)
        code, lines = s.command(line)
        assert code == 500
        assert ENHANCED.match(lines[-1])
        assert s.command("NOOP")[0] == 250
        assert s.auth_plain(JOE, JOE_PASSWORD)[0] == 235
        code, _ = s.command(f"MAIL FROM:<{JOE}> " + "X" * 600)
        assert code == 500
        assert s.command(f"MAIL FROM:<{JOE}>")[0] == 250
        assert s.command(f"RCPT TO:<{JANE}>")[0] == 250
        assert s.command("DATA")[0] == 354
        assert s.command(b"Subject: after long line\r\n\r\nok\r\n.")[0] == 250
    assert lab.wait_for_delivery()
    assert sorted(jane_subjects(lab)) == ["after long line", "before"]
    assert_still_serves(lab, "normal client")


def test_a_line_of_exactly_512_is_fine(lab):
    with RawSMTP(lab.server("somewhereelse.com").mx.address) as s:
        s.hello()
        assert s.command("NOOP " + "x" * (510 - 5))[0] == 250  # 510 + CRLF = 512 (RFC 5321 4.5.3.1.4)


# -- message size --------------------------------------------------------------------------

@pytest.fixture
def small_lab():
    with Lab.classic(seed=1, limits=Limits(max_message_size=2000)) as lab:
        yield lab


def test_size_is_advertised(small_lab):
    for endpoint in endpoints(small_lab):
        with small_lab.smtp("joe-laptop", endpoint) as client:
            client.ehlo("joe-laptop")
            assert client.esmtp_features["size"] == "2000"


def test_mail_size_too_big_gets_552(small_lab):
    lab = small_lab
    with login(lab) as client:
        code, text = client.mail(JOE, ["SIZE=5000"])
        assert code == 552
        assert text.startswith(b"5.3.4")
        assert client.mail(JOE, ["SIZE=1000"])[0] == 250  # the session goes on
    assert_still_serves(lab, "small one")


def test_data_too_big_gets_552_and_nothing_is_kept(small_lab):
    lab = small_lab
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "before"))
    with RawSMTP(lab.server("someplace.org").submission.address) as s:
        s.hello()
        s.auth_plain(JOE, JOE_PASSWORD)
        assert s.command(f"MAIL FROM:<{JOE}>")[0] == 250  # no SIZE= given: the lie shows in DATA
        assert s.command(f"RCPT TO:<{JANE}>")[0] == 250
        assert s.command("DATA")[0] == 354
        code, lines = s.command(raw_message(JOE, JANE, "huge", body=b"y" * 70 + b"\r\n") * 40 + b".")
        assert code == 552
        assert ENHANCED.match(lines[-1])
        assert s.command("NOOP")[0] == 250
    with lab.smtp("x", lab.server("somewhereelse.com").mx) as client:
        client.ehlo("x")
        big = raw_message("a@example.org", JANE, "huge at mx", body=(b"z" * 70 + b"\r\n") * 50)
        assert client.mail("a@example.org")[0] == 250
        assert client.rcpt(JANE)[0] == 250
        code, _ = client.data(big)
        assert code == 552
    assert lab.wait_for_delivery()
    assert jane_subjects(lab) == ["before"]
    assert lab.server("someplace.org").queue.items == {}
    assert_still_serves(lab, "small one")


# -- recipients -----------------------------------------------------------------------------

def test_too_many_recipients_get_452():
    with Lab.classic(seed=1, limits=Limits(max_recipients=3)) as lab:
        for name in ("bob", "carol", "dave"):
            lab.add_user(f"{name}@somewhereelse.com", "pw")
        with lab.smtp("mail.someplace.org", lab.server("somewhereelse.com").mx) as client:
            client.ehlo("mail.someplace.org")
            client.mail("a@example.org")
            for rcpt in ("jane", "bob", "carol"):
                assert client.rcpt(f"{rcpt}@somewhereelse.com")[0] == 250
            code, text = client.rcpt("dave@somewhereelse.com")
            assert code == 452
            assert text.startswith(b"4.5.3")
            assert client.data(b"Subject: three\r\n\r\nonly three of us\r\n")[0] == 250
            # The next transaction has its own count: dave gets his copy now.
            assert client.sendmail("a@example.org", ["dave@somewhereelse.com"],
                                   b"Subject: for dave\r\n\r\nx\r\n") == {}
        server = lab.server("somewhereelse.com")
        for name in ("jane", "bob", "carol"):
            assert [subject_of(m) for m in maildir_messages(server, name)] == ["three"]
        assert [subject_of(m) for m in maildir_messages(server, "dave")] == ["for dave"]
        # The submission port counts too.
        with login(lab) as client:
            client.mail(JOE)
            codes = [client.rcpt(f"r{i}@example.net")[0] for i in range(4)]
            assert codes == [250, 250, 250, 452]
        assert_still_serves(lab, "after many recipients")


# -- idle clients ---------------------------------------------------------------------------

def test_idle_client_is_disconnected():
    with Lab.classic(seed=1, limits=Limits(idle_timeout=0.5)) as lab:
        for endpoint in endpoints(lab):
            with RawSMTP(endpoint.address, timeout=10) as s:
                s.hello()
                # We said nothing more: the server says why (RFC 5321 section 4.2.3), then hangs up.
                assert s.line().startswith("421 4.4.2 ")
                assert s.closed_by_server()
        with RawSMTP(lab.server("somewhereelse.com").mx.address, timeout=10) as s:
            s.hello()
            s.command("MAIL FROM:<a@example.org>")
            s.command(f"RCPT TO:<{JANE}>")
            s.command("DATA")
            s.send(b"Subject: half\r\n\r\nand then silence")
            assert s.line().startswith("421 4.4.2 ")
            assert s.closed_by_server()
        assert jane_subjects(lab) == []  # half a message is no message
        assert_still_serves(lab, "after the idle ones")


# -- connections ----------------------------------------------------------------------------

def test_too_many_connections_get_421_and_the_others_keep_working():
    with Lab.classic(seed=1, limits=Limits(max_connections=3)) as lab:
        address = lab.server("someplace.org").submission.address
        first = [RawSMTP(address) for _ in range(3)]
        try:
            for s in first:
                assert s.greeting()[0] == 220
            with RawSMTP(address) as extra:
                code, lines = extra.reply()
                assert code == 421
                assert ENHANCED.match(lines[-1])
                assert extra.closed_by_server()
            for i, s in enumerate(first):
                assert s.command("EHLO still-here")[0] == 250
                assert s.auth_plain(JOE, JOE_PASSWORD)[0] == 235
                assert s.command(f"MAIL FROM:<{JOE}>")[0] == 250
                assert s.command(f"RCPT TO:<{JANE}>")[0] == 250
                assert s.command("DATA")[0] == 354
                assert s.command(f"Subject: kept {i}\r\n\r\nx\r\n.".encode())[0] == 250
        finally:
            for s in first:
                s.close()
        assert lab.wait_for_delivery()
        assert sorted(jane_subjects(lab)) == ["kept 0", "kept 1", "kept 2"]
        # Once they have gone, a new client is welcome again.
        wait_until(lambda: not lab.server("someplace.org").submission.active, what="connections to close")
        assert_still_serves(lab, "after the crowd")


# -- other misbehaviour ------------------------------------------------------------------------

@pytest.mark.parametrize("garbage", [
    b"\x00\x01\x02\xff\xfe\r\n",
    b"\xc3\xa9HLO x\r\n",
    b"MAIL FROM:<\xff@x>\r\n",
    b"\r\n",
    b"   \r\n",
    b"EHLO\r\n",
    b"RCPT TO:<jane@somewhereelse.com>\r\n",
    b"DATA\r\n",
    b"QUIT extra args\r\n",
    b"HELO\r\n",
    b"STARTTLS extra\r\n",  # STARTTLS itself is offered: tests/servers/test_tls.py
    b"BDAT 10 LAST\r\n",
])
def test_garbage_gets_a_5xx_reply_not_a_crash(lab, garbage):
    for endpoint in endpoints(lab):
        with RawSMTP(endpoint.address) as s:
            s.greeting()
            s.send(garbage)
            code, lines = s.reply()
            assert 400 <= code < 600 or garbage.startswith(b"QUIT"), lines
            if not garbage.startswith(b"QUIT"):
                assert s.command("NOOP")[0] == 250
    for server in lab.servers.values():
        assert server.errors == []
    assert_still_serves(lab, "after garbage")


def test_client_that_vanishes_mid_data_leaves_nothing_behind(lab):
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "before"))
    s = RawSMTP(lab.server("someplace.org").submission.address)
    s.hello()
    s.auth_plain(JOE, JOE_PASSWORD)
    s.command(f"MAIL FROM:<{JOE}>")
    s.command(f"RCPT TO:<{JANE}>")
    s.command("DATA")
    s.send(b"Subject: cut off\r\n\r\nhalf of it\r\n")
    s.sock.shutdown(socket.SHUT_RDWR)
    s.close()
    assert_still_serves(lab, "after the vanishing client")
    assert "cut off" not in jane_subjects(lab)


def test_bare_lf_dot_does_not_end_data(lab):
    """SMTP smuggling: only CRLF.CRLF ends the message (aiosmtpd 1.4.5+)."""
    with RawSMTP(lab.server("somewhereelse.com").mx.address) as s:
        s.hello()
        s.command("MAIL FROM:<a@example.org>")
        s.command(f"RCPT TO:<{JANE}>")
        s.command("DATA")
        code, _ = s.command(b"Subject: outer\r\n\r\nline\n.\nMAIL FROM:<evil@example.org>\r\n.")
        assert code == 250
    [copy] = maildir_messages(lab.server("somewhereelse.com"), "jane")
    assert b"MAIL FROM:<evil@example.org>" in copy
    assert jane_subjects(lab) == ["outer"]


def test_data_line_over_1000_characters_gets_500_and_nothing_is_kept(lab):
    with RawSMTP(lab.server("somewhereelse.com").mx.address) as s:
        s.hello()
        s.command("MAIL FROM:<a@example.org>")
        s.command(f"RCPT TO:<{JANE}>")
        s.command("DATA")
        code, lines = s.command(b"Subject: wide\r\n\r\n" + b"w" * 1200 + b"\r\n.")
        assert code == 500  # RFC 5321 section 4.5.3.1.6: 1000 octets per line, CRLF included
        assert ENHANCED.match(lines[-1])
        assert s.command("NOOP")[0] == 250
    assert jane_subjects(lab) == []
    assert_still_serves(lab, "after the wide one")
