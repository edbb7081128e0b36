"""The outgoing queue: one session per destination, retry, expiry, bounces; local injection.

Labs here retry quickly (``retry_intervals=(0.2, 0.5)``) and give up after a
second or two, so that a test can watch what takes days on the Internet.
"""
from __future__ import annotations

import email.policy
import time
from email import message_from_bytes
from email.message import EmailMessage

import pytest
from helpers import (JANE, JOE, header_names, login, maildir_messages, make_message, queue_files,
                     raw_message, submit, subject_of, wait_until)

from mailcourse import Lab, LabError

TOM = "tom@thirdplace.net"


def build_lab(lifetime: float = 30.0, seed: int = 1) -> Lab:
    lab = Lab(seed=seed, retry_intervals=(0.2, 0.5), queue_lifetime=lifetime)
    try:
        lab.add_user(JOE, "joe-password")
        lab.add_user(JANE, "jane-password")
        lab.add_client(JOE, "joe-laptop")
        lab.add_server("thirdplace.net")
        lab.add_user(TOM, "tom-password")
    except BaseException:
        lab.stop()
        raise
    return lab


@pytest.fixture
def lab():
    with build_lab() as lab:
        yield lab


@pytest.fixture
def short_lab():
    """Gives up on a message after one second."""
    with build_lab(lifetime=1.0) as lab:
        yield lab


def inbox(lab: Lab, address: str) -> list[bytes]:
    local, _, domain = address.partition("@")
    return maildir_messages(lab.server(domain), local)


def parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def bounce_parts(raw: bytes) -> tuple[EmailMessage, list, str]:
    """(the bounce, its delivery-status blocks, its text/rfc822-headers text)."""
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    blocks = parts[1].get_payload()
    return msg, blocks, parts[2].get_payload(decode=True).decode()


# -- relaying -------------------------------------------------------------------------

def test_two_destination_domains_make_two_sessions(lab):
    mark = lab.trace.mark()
    raw = raw_message(JOE, f"{JANE}, {TOM}", "To both")
    assert submit(lab, JOE, [JANE, TOM], raw) == {}
    assert lab.wait_for_delivery()
    relays = lab.trace.sessions(service="mx", since=mark)
    assert len(relays) == 2
    assert sorted(c.server for c in relays) == ["mail.somewhereelse.com", "mail.thirdplace.net"]
    assert all(c.client == "mail.someplace.org" for c in relays)
    assert [subject_of(m) for m in inbox(lab, JANE)] == ["To both"]
    assert [subject_of(m) for m in inbox(lab, TOM)] == ["To both"]


def test_messages_due_together_share_one_session():
    lab = Lab.classic(seed=1, retry_intervals=(60,))  # nothing is retried by itself in this test
    with lab:
        lab.server("somewhereelse.com").go_offline()
        for i in range(3):
            submit(lab, JOE, [JANE], raw_message(JOE, JANE, f"batch {i}"))
        queue = lab.server("someplace.org").queue
        wait_until(lambda: all(i.attempts == 1 for i in queue.items.values()), what="first attempts")
        assert len(queue_files(lab.server("someplace.org"))) == 3
        mark = lab.trace.mark()
        lab.server("somewhereelse.com").go_online()
        queue.flush()  # like Postfix's "postqueue -f": everything is due now
        assert lab.wait_for_delivery()
        relays = lab.trace.sessions(service="mx", since=mark)
        assert len(relays) == 1
        mails = [line for d, line in lab.trace.lines(relays[0]) if line.upper().startswith("MAIL FROM")]
        assert len(mails) == 3
        assert sorted(subject_of(m) for m in inbox(lab, JANE)) == ["batch 0", "batch 1", "batch 2"]


def test_mail_to_one_destination_arrives_in_the_order_it_was_queued(lab):
    """Attempts overlap, but one server gets one session at a time, in queue order."""
    subjects = [f"number {i}" for i in range(12)]
    with login(lab, "someplace.org", JOE, "joe-password", "joe-laptop") as client:
        for subject in subjects:
            # Queued one by one while earlier ones are being relayed.
            assert client.sendmail(JOE, [JANE], raw_message(JOE, JANE, subject)) == {}
    assert lab.wait_for_delivery()
    store = lab.server("somewhereelse.com").store
    assert [subject_of(store.get("jane", info.uid)) for info in store.list("jane")] == subjects


def test_offline_destination_is_retried_then_delivered(lab):
    joe_server, jane_server = lab.server("someplace.org"), lab.server("somewhereelse.com")
    jane_server.go_offline()
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "Patience"))
    [queued] = queue_files(joe_server)
    assert b"Subject: Patience" in queued.read_bytes()
    [item] = joe_server.queue.items.values()
    wait_until(lambda: item.attempts >= 3, what="three delivery attempts")
    assert queued.exists()
    assert item.pending == [JANE]
    assert "refused" in item.last_reply[JANE]
    assert inbox(lab, JANE) == []
    jane_server.go_online()
    assert lab.wait_for_delivery()
    assert [subject_of(m) for m in inbox(lab, JANE)] == ["Patience"]
    assert queue_files(joe_server) == []
    assert inbox(lab, JOE) == []  # no bounce


def test_expired_message_bounces_with_4_4_7(short_lab):
    lab = short_lab
    lab.server("somewhereelse.com").go_offline()
    original = make_message(JOE, JANE, "Never arrives", Message_ID="<expire-me@someplace.org>")
    submit(lab, JOE, [JANE], original)
    assert lab.wait_for_delivery(timeout=10)
    [raw] = inbox(lab, JOE)
    assert raw.startswith(b"Return-Path: <>\r\n")
    msg, blocks, headers = bounce_parts(raw)
    assert msg["To"] == JOE
    assert "MAILER-DAEMON" in msg["From"]
    assert [b["Status"] for b in blocks[1:]] == ["4.4.7"]
    assert blocks[1]["Action"] == "failed"
    assert JANE in blocks[1]["Final-Recipient"]
    assert "Subject: Never arrives" in headers
    assert "Message-ID: <expire-me@someplace.org>" in headers
    assert "Hello." not in headers  # the header only, not the body
    assert queue_files(lab.server("someplace.org")) == []
    # Back online later: nothing arrives, the message was given up for good.
    lab.server("somewhereelse.com").go_online()
    lab.server("someplace.org").queue.flush()
    assert lab.wait_for_delivery()
    assert inbox(lab, JANE) == []


def test_permanent_refusal_at_relay_bounces_with_5_1_1(lab):
    refused = submit(lab, JOE, ["nobody@somewhereelse.com"],
                     raw_message(JOE, "nobody@somewhereelse.com", "Who?"))
    assert refused == {}  # the submission server accepts any remote recipient ...
    assert lab.wait_for_delivery()  # ... its MX says 550 when the queue relays
    [raw] = inbox(lab, JOE)
    assert raw.startswith(b"Return-Path: <>\r\n")
    _, blocks, headers = bounce_parts(raw)
    [block] = blocks[1:]
    assert block["Status"] == "5.1.1"
    assert "550" in block["Diagnostic-Code"]
    assert "nobody@somewhereelse.com" in block["Final-Recipient"]
    assert "Subject: Who?" in headers
    # The relay really was refused on the wire, at RCPT.
    relay = lab.trace.sessions(service="mx")[-1]
    assert any(d == "s2c" and line.startswith("550 5.1.1") for d, line in lab.trace.lines(relay))


def test_partial_failure_bounces_only_the_failed_recipient(lab):
    submit(lab, JOE, [JANE, "nobody@somewhereelse.com"],
           raw_message(JOE, JANE, "Half"))
    assert lab.wait_for_delivery()
    assert [subject_of(m) for m in inbox(lab, JANE)] == ["Half"]
    [raw] = inbox(lab, JOE)
    _, blocks, _ = bounce_parts(raw)
    assert [b["Final-Recipient"] for b in blocks[1:]] == ["rfc822; nobody@somewhereelse.com"]


def test_unknown_domain_bounces_at_once(lab):
    submit(lab, JOE, ["someone@nowhere.example"], raw_message(JOE, "someone@nowhere.example", "Lost"))
    assert lab.wait_for_delivery()
    [raw] = inbox(lab, JOE)
    _, blocks, _ = bounce_parts(raw)
    assert blocks[1]["Status"].startswith("5.")


def test_undeliverable_bounce_is_dropped_not_bounced_again(lab):
    joe_server = lab.server("someplace.org")
    original = raw_message("ghost@somewhereelse.com", JOE, "Original")
    mark = lab.trace.mark()
    # A bounce for a sender who does not exist: the MX refuses it with 550.
    joe_server.send_bounce("ghost@somewhereelse.com", original, {JOE: "550 5.1.1 made up"},
                           time.time(), "testing")
    assert lab.wait_for_delivery()
    relay = lab.trace.sessions(service="mx", since=mark)
    assert len(relay) == 1
    lines = lab.trace.lines(relay[0])
    assert any(d == "c2s" and line.upper().startswith("MAIL FROM:<>") for d, line in lines)
    assert any(d == "s2c" and line.startswith("550") for d, line in lines)
    assert any("cannot be bounced; dropped" in entry for entry in joe_server.queue.log)
    # Nobody got anything, and no further message was made of it.
    assert inbox(lab, JOE) == []
    assert inbox(lab, JANE) == []
    assert queue_files(joe_server) == []
    assert lab.trace.sessions(service="mx", since=mark) == relay


def test_bounce_to_an_unknown_domain_is_dropped(lab):
    joe_server = lab.server("someplace.org")
    joe_server.send_bounce("ghost@nowhere.example", raw_message("ghost@nowhere.example", JOE, "x"),
                           {JOE: "550 5.1.1 made up"}, time.time(), "testing")
    assert lab.wait_for_delivery()
    assert any("cannot be bounced; dropped" in entry for entry in joe_server.queue.log)
    assert inbox(lab, JOE) == []
    assert queue_files(joe_server) == []


def test_expired_bounce_is_dropped(short_lab):
    lab = short_lab
    lab.server("thirdplace.net").go_offline()
    joe_server = lab.server("someplace.org")
    joe_server.send_bounce(TOM, raw_message(TOM, JOE, "x"), {JOE: "550 5.1.1 made up"},
                           time.time(), "testing")
    assert lab.wait_for_delivery(timeout=10)
    assert any("cannot be bounced; dropped" in entry for entry in joe_server.queue.log)
    assert inbox(lab, JOE) == []
    lab.server("thirdplace.net").go_online()
    assert inbox(lab, TOM) == []


# -- local injection ----------------------------------------------------------------------

def test_local_injection_goes_through_the_queue_and_shows_as_a_local_hop(lab):
    lab.add_user("bob@somewhereelse.com", "bob-password")
    msg = make_message(JOE, JANE, "From the shell", Bcc="bob@somewhereelse.com",
                       Message_ID="<injected@someplace.org>")
    queue_id = lab.server("someplace.org").inject("joe", msg)
    assert queue_id
    assert lab.wait_for_delivery()
    for who in (JANE, "bob@somewhereelse.com"):
        [copy] = inbox(lab, who)
        assert subject_of(copy) == "From the shell"
        assert b"bcc" not in copy.lower()
        assert copy.startswith(b"Return-Path: <joe@someplace.org>\r\n")
        assert header_names(copy).count("Received") == 2
    hops = lab.trace.hops("<injected@someplace.org>")
    assert [(h.protocol, h.server) for h in hops] == [
        ("local", "mail.someplace.org"), ("SMTP", "mail.somewhereelse.com")]
    assert hops[0].client.startswith("joe")
    assert hops[1].client == "mail.someplace.org"
    # Nothing went through a submission port.
    assert lab.trace.sessions(service="submission") == []


def test_local_injection_for_a_local_recipient(lab):
    msg = make_message(JOE, JOE, "Reminder")
    lab.server("someplace.org").inject("joe@someplace.org", msg)
    [copy] = inbox(lab, JOE)
    assert subject_of(copy) == "Reminder"
    assert header_names(copy).count("Received") == 1


def test_local_injection_refuses_unknown_users_and_empty_envelopes(lab):
    server = lab.server("someplace.org")
    with pytest.raises(LabError):
        server.inject("nobody", make_message("nobody@someplace.org", JANE, "x"))
    msg = EmailMessage()
    msg["Subject"] = "to no one"
    msg.set_content("x")
    with pytest.raises(LabError):
        server.inject("joe", msg)
    assert queue_files(server) == []


@pytest.mark.parametrize("count", [4, 10])
def test_many_destinations_at_once(lab, count):
    """Relays to many servers run side by side; none waits for another to finish."""
    domains = [f"d{i}.example" for i in range(count)]
    for domain in domains:
        lab.add_user(f"user@{domain}", "pw")
    rcpts = [f"user@{d}" for d in domains]
    mark = lab.trace.mark()
    assert submit(lab, JOE, rcpts, raw_message(JOE, ", ".join(rcpts), "Everyone")) == {}
    assert lab.wait_for_delivery(timeout=3)
    for rcpt in rcpts:
        assert [subject_of(m) for m in inbox(lab, rcpt)] == ["Everyone"]
    assert len(lab.trace.sessions(service="mx", since=mark)) == len(domains)
    assert inbox(lab, JOE) == []


EIGHT_BIT = (b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n")


def test_the_relay_declares_an_8bit_body_and_only_then(lab):
    # RFC 6152 section 3: 8-bit data goes with BODY=8BITMIME to a receiver that offers 8BITMIME.
    mark = lab.trace.mark()
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "Greetings", body="Gr\u00fc\u00dfe, Jo\u00eb\r\n".encode(),
                                           extra=EIGHT_BIT))
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "Plain", body=b"Hello.\r\n"))
    assert lab.wait_for_delivery()
    mail_from = [line for conn in lab.trace.sessions(service="mx", since=mark)
                 for d, line in lab.trace.lines(conn) if d == "c2s" and line.upper().startswith("MAIL FROM:")]
    assert sorted(line.upper().endswith(" BODY=8BITMIME") for line in mail_from) == [False, True], mail_from
    assert any("Gr\u00fc\u00dfe".encode() in raw for raw in maildir_messages(lab.server("somewhereelse.com"), "jane"))
