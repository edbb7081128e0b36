"""The MX endpoint (RFC 5321: mail for our own domain only) and final delivery.

The MX endpoint is where other servers hand over mail. It must accept mail
for its own domain and refuse everything else: a server that accepts mail
for any domain is an open relay. Delivery tests follow a message from joe's
submission, across the relay, into jane's Maildir, and compare bytes.
"""
from __future__ import annotations

import email.utils

import smtplib

import pytest
from helpers import (ENHANCED, JANE, JOE, RawSMTP, header_names, maildir_messages, plain_blob,
                     queue_files, raw_message, split_message, submit, subject_of)

from mailcourse import Lab


def jane_mx(lab: Lab) -> tuple[str, int]:
    return lab.server("somewhereelse.com").mx.address


def jane_files(lab: Lab) -> list[bytes]:
    return maildir_messages(lab.server("somewhereelse.com"), "jane")


# -- who may send what to the MX ------------------------------------------------------

def test_mx_accepts_mail_for_its_own_user_without_auth(lab):
    with lab.smtp("mail.someplace.org", lab.server("somewhereelse.com").mx) as client:
        client.ehlo("mail.someplace.org")
        refused = client.sendmail("anyone@example.org", [JANE], raw_message("anyone@example.org", JANE, "hi"))
        assert refused == {}
        assert client.data_reply.startswith("250 2.")
    assert [subject_of(m) for m in jane_files(lab)] == ["hi"]


def test_mx_does_not_offer_auth(lab):
    with lab.smtp("mail.someplace.org", lab.server("somewhereelse.com").mx) as client:
        client.ehlo("mail.someplace.org")
        assert "auth" not in client.esmtp_features
        assert not client.has_extn("auth")
    with RawSMTP(jane_mx(lab)) as s:
        code, lines = s.hello()
        assert not any("AUTH" in line.upper() for line in lines)
        code, lines = s.command(f"AUTH PLAIN {plain_blob(JANE, 'jane-password')}")
        assert 500 <= code < 600
        assert ENHANCED.match(lines[-1])


def test_unknown_local_user_is_refused_at_rcpt_before_data(lab):
    with RawSMTP(jane_mx(lab)) as s:
        s.hello()
        assert s.command("MAIL FROM:<someone@example.org>")[0] == 250
        code, lines = s.command("RCPT TO:<nobody@somewhereelse.com>")
        assert code == 550
        assert lines[-1].startswith("550 5.1.1")
        code, _ = s.command("DATA")
        assert code == 503  # no valid recipient, so no DATA at all
    assert jane_files(lab) == []


@pytest.mark.parametrize("rcpt", [
    "someone@example.com",  # a domain the lab has never heard of
    JOE,  # the other lab domain: still not ours
    "jane@somewhereelse.com.evil.example",
    "jane@somewhereelse.com.",  # a trailing dot is another name to us
    "jane%example.com@somewhereelse.com",  # the "percent hack"
    "example.com!jane@somewhereelse.com",  # UUCP bang path
    '"jane@example.com"@somewhereelse.com',  # a quoted local part holding an address
    "@somewhereelse.com:someone@example.com",  # a source route through us (RFC 5321 C)
    "@somewhereelse.com,@mail.somewhereelse.com:joe@someplace.org",
    "jane@[127.0.0.1]",  # an address literal
])
def test_mx_is_never_an_open_relay(lab, rcpt):
    with RawSMTP(jane_mx(lab)) as s:
        s.hello("spammer.example")
        assert s.command("MAIL FROM:<spammer@example.net>")[0] == 250
        code, lines = s.command(f"RCPT TO:<{rcpt}>")
        assert 500 <= code < 600, lines
        assert ENHANCED.match(lines[-1])
        assert s.command("DATA")[0] == 503
        # The session goes on, and mail for jane is still welcome.
        assert s.command(f"RCPT TO:<{JANE}>")[0] == 250
        assert s.command("DATA")[0] == 354
        assert s.command(b"Subject: ok\r\n\r\nfor jane\r\n.")[0] == 250
    for server in lab.servers.values():
        assert queue_files(server) == []
        assert server.queue.items == {}
    assert [subject_of(m) for m in jane_files(lab)] == ["ok"]
    assert lab.server("someplace.org").mailbox("joe") == []
    # The MX never opened a connection of its own to pass anything on.
    assert all(c.client != "mail.somewhereelse.com" for c in lab.trace.sessions())


def test_relay_denied_is_554_5_7_1(lab):
    with lab.smtp("mail.someplace.org", lab.server("somewhereelse.com").mx) as client:
        client.ehlo("x.example")
        client.mail("a@example.org")
        code, text = client.rcpt("b@example.com")
        assert code == 554
        assert text.startswith(b"5.7.1")
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("a@example.org", ["b@example.com"], b"Subject: x\r\n\r\nx\r\n")


@pytest.mark.parametrize("rcpt", ["jane@SOMEWHEREELSE.COM", "Jane@SomewhereElse.Com", "JANE@somewhereelse.com"])
def test_own_domain_in_any_case_is_accepted(lab, rcpt):
    with lab.smtp("mail.someplace.org", lab.server("somewhereelse.com").mx) as client:
        client.ehlo("mail.someplace.org")
        assert client.sendmail("a@example.org", [rcpt], raw_message("a@example.org", rcpt, "case")) == {}
    assert [subject_of(m) for m in jane_files(lab)] == ["case"]


def test_every_mx_reply_after_ehlo_has_an_enhanced_status_code(lab):
    with RawSMTP(jane_mx(lab)) as s:
        s.hello()
        for command in ["NOOP", "RCPT TO:<jane@somewhereelse.com>", "MAIL FROM:<a@example.org>",
                        "RCPT TO:<x@example.com>", "RCPT TO:<nobody@somewhereelse.com>",
                        "RCPT TO:<jane@somewhereelse.com>", "VRFY jane", "RSET", "BOGUS", "QUIT"]:
            code, lines = s.command(command)
            assert all(ENHANCED.match(line) for line in lines), (command, lines)


# -- delivery --------------------------------------------------------------------------

def test_return_path_and_one_received_per_hop(lab):
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "Hops"))
    assert lab.wait_for_delivery()
    [copy] = jane_files(lab)
    names = header_names(copy)
    assert names[0] == "Return-Path"
    assert copy.startswith(b"Return-Path: <joe@someplace.org>\r\n")
    assert names.count("Return-Path") == 1
    assert names.count("Received") == 2  # joe-laptop -> someplace.org -> somewhereelse.com
    head, _ = split_message(copy)
    received = head.split(b"Received: ")[1:]
    assert b"by mail.somewhereelse.com" in received[0]  # the newest hop is on top
    assert b"by mail.someplace.org" in received[1]
    assert b"with ESMTPA" in received[1]  # the authenticated submission
    # Each ends in its time, in UTC said as "+0000" (RFC 5322 section 3.3: "-0000" means
    # "zone unknown"), and parses back to an aware date.
    for field in email.message_from_bytes(copy).get_all("Received"):
        assert field.endswith(" +0000"), field
        assert email.utils.parsedate_to_datetime(field.rsplit(";", 1)[1]).utcoffset().total_seconds() == 0


def test_local_delivery_has_one_received(lab):
    submit(lab, JOE, [JOE], raw_message(JOE, JOE, "Note to self"))
    [copy] = maildir_messages(lab.server("someplace.org"), "joe")
    assert header_names(copy).count("Received") == 1
    assert copy.startswith(b"Return-Path: <joe@someplace.org>\r\n")


def test_bcc_recipients_get_the_message_but_nobody_sees_bcc(lab):
    lab.add_user("bob@somewhereelse.com", "bob-password")
    joe = lab.client("joe-laptop")
    joe.compose(JANE, "Surprise", "Don't tell Bob.", bcc=["bob@somewhereelse.com", JOE])
    assert all(r.ok for r in joe.send_all())
    assert lab.wait_for_delivery()
    copies = {
        "jane": maildir_messages(lab.server("somewhereelse.com"), "jane"),
        "bob": maildir_messages(lab.server("somewhereelse.com"), "bob"),
        "joe": maildir_messages(lab.server("someplace.org"), "joe"),
    }
    for who, files in copies.items():
        assert [subject_of(f) for f in files] == ["Surprise"], who
        assert b"bcc" not in files[0].lower(), who
    # Nor does a Received: "for <...>" clause tell jane who else got it.
    jane_head = split_message(copies["jane"][0])[0]
    assert b"bob@" not in jane_head
    assert b"for <joe@" not in jane_head


DOTTY = b"".join(line + b"\r\n" for line in [
    b"first", b".", b"..", b".leading dot", b"..double", b"...", b". space", b"end.", b".",
])


@pytest.mark.parametrize("body", [DOTTY, b".\r\n", b"..\r\n.\r\n..\r\n"])
def test_dot_stuffing_round_trips_exactly(lab, body):
    raw = raw_message(JOE, JANE, "Dots", body=body)
    assert submit(lab, JOE, [JANE], raw) == {}
    assert lab.wait_for_delivery()
    [copy] = jane_files(lab)
    assert split_message(copy)[1] == body
    # On the wire the lines were stuffed (RFC 5321 section 4.5.2) ...
    relay = lab.trace.sessions(service="mx")[-1]
    sent = b"".join(e.data for e in lab.trace.filter(relay, kind="data") if e.direction == "c2s")
    assert b"\r\n..leading dot\r\n" in sent or body != DOTTY
    # ... and the message did not end early at a lone dot.
    assert copy.endswith(body)


def test_8bit_utf8_body_arrives_intact(lab):
    body = "Grüße aus Köln! Ça va? Ελληνικά, 日本語, emoji 📬\r\nnaïve café\r\n".encode()
    raw = raw_message(JOE, JANE, "Umlauts",
                      extra=b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                            b"Content-Transfer-Encoding: 8bit\r\n", body=body)
    assert submit(lab, JOE, [JANE], raw, mail_options=["BODY=8BITMIME"]) == {}
    assert lab.wait_for_delivery()
    [copy] = jane_files(lab)
    assert split_message(copy)[1] == body
    [parsed] = lab.server("somewhereelse.com").mailbox("jane")
    assert "日本語" in parsed.get_content()
    submission = lab.trace.sessions(service="submission")[-1]
    assert any("BODY=8BITMIME" in line.upper() for d, line in lab.trace.lines(submission) if d == "c2s")


def test_message_via_mx_keeps_its_bytes(lab):
    """Apart from the trace headers on top, the recipient gets exactly what was sent."""
    raw = raw_message("a@example.org", JANE, "Exact",
                      extra=b"X-Folded: one\r\n\ttwo\r\nX-Odd:no-space\r\n", body=b"a\r\n\r\n\r\nb  \r\n")
    with lab.smtp("mail.someplace.org", lab.server("somewhereelse.com").mx) as client:
        client.ehlo("mail.someplace.org")
        client.sendmail("a@example.org", [JANE], raw)
    [copy] = jane_files(lab)
    assert copy.endswith(raw)
    assert header_names(copy)[:2] == ["Return-Path", "Received"]
