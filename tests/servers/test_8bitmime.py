"""8-bit and international mail across the relay, over real sockets (RFC 6152, RFC 6531-6533).

Joe's server relays to three kinds of receiver:

* somewhereelse.com (jane): today's server, offers 8BITMIME and SMTPUTF8;
* halfway.net: 8BITMIME but no SMTPUTF8, as many servers still are;
* oldplace.net: neither, a server from before 1994 (``Limits`` switches both off).

Each test asserts what crossed the wire (the relay's MAIL FROM and DATA, as
the tap recorded them) and what arrived on disk (the Maildir files, or the
bounce in the sender's mailbox, parsed with the standard library).
"""
from __future__ import annotations

import email.policy
import json
from email import message_from_bytes
from email.message import EmailMessage

import pytest
from helpers import JANE, JOE, RawSMTP, maildir_messages, raw_message, split_message, submit

from mailcourse import Lab, Limits, corpus
from mailcourse.eightbit import is_8bit
from mailcourse.queue import OutgoingQueue, QueueItem, plan_transfer

ZOE_AT_JANES = "zoë@somewhereelse.com"
HALF, ANN, TIM, ZOE_AT_HALF = "halfway.net", "ann@halfway.net", "tim@halfway.net", "zoë@halfway.net"
OLD, TOM, ZOE_AT_OLD = "oldplace.net", "tom@oldplace.net", "zoë@oldplace.net"
ZOE = "zoë@someplace.org"  # a sender outside ASCII, on joe's server

# Mostly ASCII, as most European text is: quoted-printable when converted (eightbit.to_7bit).
GERMAN = "Grüße aus Zürich!\r\nThe weather is fine, the lake is calm; back on Monday.\r\nJoe\r\n".encode()
EIGHT_BIT = (b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n")


@pytest.fixture(scope="module")
def lab():
    lab = Lab(seed=8, retry_intervals=(0.2, 0.5), queue_lifetime=30.0)
    try:
        for address in (JOE, JANE, ZOE_AT_JANES, ZOE):
            lab.add_user(address, "pw")
        lab.add_server(HALF, limits=Limits(offer_smtputf8=False))
        lab.add_server(OLD, limits=Limits(offer_8bitmime=False, offer_smtputf8=False))
        for address in (ANN, TIM, ZOE_AT_HALF, TOM, ZOE_AT_OLD):
            lab.add_user(address, "pw")
        yield lab
    finally:
        lab.stop()


def mailbox(lab: Lab, address: str) -> list[bytes]:
    local, _, domain = address.partition("@")
    return maildir_messages(lab.server(domain), local)


def relay_to(lab: Lab, domain: str, since: int) -> list[tuple[list[str], bytes]]:
    """Each session of joe's relay to ``domain``'s MX: (its client lines, the bytes it sent)."""
    out = []
    for conn in lab.trace.sessions(service="mx", device=lab.server(domain).hostname, since=since):
        if conn.client != lab.server("someplace.org").hostname:
            continue
        lines = [line for d, line in lab.trace.lines(conn) if d == "c2s"]
        sent = b"".join(e.data for e in lab.trace.filter(conn, kind="data") if e.direction == "c2s")
        out.append((lines, sent))
    return out


def mail_from(lines: list[str]) -> list[str]:
    return [line for line in lines if line.upper().startswith("MAIL FROM:")]


def send(lab: Lab, rcpt: str, raw: bytes, **kwargs: object) -> None:
    assert submit(lab, JOE, [rcpt], raw, password="pw", **kwargs) == {}
    assert lab.wait_for_delivery(timeout=10)


def parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def bounce_blocks(raw: bytes) -> tuple[EmailMessage, list]:
    """(the bounce, its per-recipient delivery-status blocks), checked to be a DSN (RFC 3464)."""
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    status = [p for p in msg.iter_parts() if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1
    return msg, status[0].get_payload()[1:]  # the first block is per message


def new_mail(lab: Lab, address: str, before: int) -> list[bytes]:
    return mailbox(lab, address)[before:]


# -- 8-bit bodies ---------------------------------------------------------------------------

def test_an_8bit_body_goes_with_body_8bitmime_and_arrives_byte_for_byte(lab):
    raw = raw_message(JOE, JANE, "Greetings", extra=EIGHT_BIT, body=GERMAN)
    mark, before = lab.trace.mark(), len(mailbox(lab, JANE))
    send(lab, JANE, raw, mail_options=["BODY=8BITMIME"])
    [(lines, sent)] = relay_to(lab, "somewhereelse.com", mark)
    [command] = mail_from(lines)
    assert command.upper().endswith(" BODY=8BITMIME")  # passed on (RFC 6152 section 3)
    assert "SMTPUTF8" not in command.upper()  # an 8-bit body needs 8BITMIME only
    assert GERMAN in sent
    [arrived] = new_mail(lab, JANE, before)
    assert split_message(arrived)[1] == GERMAN  # the bytes, unchanged


def test_an_8bit_body_is_converted_for_a_receiver_without_8bitmime(lab):
    raw = raw_message(JOE, TOM, "Greetings", extra=EIGHT_BIT, body=GERMAN)
    mark, before = lab.trace.mark(), len(mailbox(lab, TOM))
    send(lab, TOM, raw, mail_options=["BODY=8BITMIME"])
    [(lines, sent)] = relay_to(lab, OLD, mark)
    assert "8BITMIME" not in " ".join(lines).upper()  # the old server did not offer it
    assert not any(" BODY=" in line.upper() for line in mail_from(lines))
    assert not is_8bit(sent)  # every byte the relay sent was 7-bit
    [arrived] = new_mail(lab, TOM, before)
    assert not is_8bit(arrived)
    assert parse(arrived)["Content-Transfer-Encoding"] == "quoted-printable"
    assert parse(arrived).get_content() == GERMAN.decode()  # the same text, CRLF and all
    assert any("converted to 7 bit for mail.oldplace.net" in entry
               for entry in lab.server("someplace.org").queue.log)


def test_a_multipart_sample_is_converted_part_by_part(lab):
    forwarded = corpus.load("malformed")  # 8-bit bytes in a part, a bare LF, no closing boundary
    mark, before = lab.trace.mark(), len(mailbox(lab, TOM))
    send(lab, TOM, forwarded)
    [(_, sent)] = relay_to(lab, OLD, mark)
    assert not is_8bit(sent)
    [arrived] = new_mail(lab, TOM, before)
    original = [p.get_payload(decode=True) for p in parse(forwarded).walk() if not p.is_multipart()]
    assert [p.get_payload(decode=True) for p in parse(arrived).walk() if not p.is_multipart()] == original


def test_a_body_that_cannot_be_converted_bounces_with_5_6_3(lab):
    # 8-bit bytes in a header field that are not UTF-8: no SMTPUTF8 helps, no encoding either.
    raw = raw_message(JOE, TOM, "Caf\xe9", extra=EIGHT_BIT, body=GERMAN).replace(b"Caf\xc3\xa9", b"Caf\xe9")
    before, tom_before = len(mailbox(lab, JOE)), len(mailbox(lab, TOM))
    send(lab, TOM, raw, mail_options=["BODY=8BITMIME"])
    assert new_mail(lab, TOM, tom_before) == []
    [bounce] = new_mail(lab, JOE, before)
    _, [block] = bounce_blocks(bounce)
    assert block["Final-Recipient"] == f"rfc822; {TOM}"
    assert block["Status"] == "5.6.3"  # conversion required but not possible (RFC 3463)
    assert "8BITMIME" in block["Diagnostic-Code"] and "header field" in block["Diagnostic-Code"]


def test_7bit_mail_carries_no_parameter(lab):
    mark = lab.trace.mark()
    send(lab, JANE, raw_message(JOE, JANE, "Plain", body=b"Hello.\r\n"))
    [(lines, _)] = relay_to(lab, "somewhereelse.com", mark)
    [command] = mail_from(lines)
    assert "BODY=" not in command.upper() and "SMTPUTF8" not in command.upper()


# -- SMTPUTF8 -------------------------------------------------------------------------------

def test_a_utf8_address_goes_with_smtputf8_and_arrives(lab):
    raw = raw_message(JOE, ZOE_AT_JANES, "Hi Zoë", extra=EIGHT_BIT, body=GERMAN)
    mark, before = lab.trace.mark(), len(mailbox(lab, ZOE_AT_JANES))
    send(lab, ZOE_AT_JANES, raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    [(lines, sent)] = relay_to(lab, "somewhereelse.com", mark)
    [command] = mail_from(lines)
    assert command.upper().endswith(" BODY=8BITMIME SMTPUTF8")
    assert f"RCPT TO:<{ZOE_AT_JANES}>" in lines  # in UTF-8 on the wire (RFC 6531 section 3.3)
    assert f"<{ZOE_AT_JANES}>".encode() in sent
    [arrived] = new_mail(lab, ZOE_AT_JANES, before)
    assert split_message(arrived)[1] == GERMAN
    # RFC 6531 section 3.7.3: the Received field of each hop says UTF8SMTP; joe's, authenticated, UTF8SMTPA.
    received = parse(arrived).get_all("Received")
    assert " with UTF8SMTP id " in received[0] and " with UTF8SMTPA id " in received[1]


def test_a_utf8_address_for_a_receiver_without_smtputf8_bounces_with_5_6_7(lab):
    before, zoe_before = len(mailbox(lab, JOE)), len(mailbox(lab, ZOE_AT_HALF))
    send(lab, ZOE_AT_HALF, raw_message(JOE, ZOE_AT_HALF, "Hi", body=b"Hello.\r\n"), mail_options=["SMTPUTF8"])
    assert new_mail(lab, ZOE_AT_HALF, zoe_before) == []
    [bounce] = new_mail(lab, JOE, before)
    msg, [block] = bounce_blocks(bounce)
    # RFC 6533 section 3: the "utf-8" address type, non-ASCII as \x{...} in this ASCII part.
    assert block["Final-Recipient"] == "utf-8; zo\\x{EB}@halfway.net"
    assert block["Status"] == "5.6.7"  # non-ASCII addresses not permitted for that recipient
    assert "SMTPUTF8" in block["Diagnostic-Code"]
    [text] = [p for p in msg.iter_parts() if p.get_content_type() == "text/plain"]
    assert f"<{ZOE_AT_HALF}>" in text.get_content()  # the person reads it as it is


def test_of_two_recipients_only_the_utf8_one_bounces(lab):
    joe_before, ann_before = len(mailbox(lab, JOE)), len(mailbox(lab, ANN))
    assert submit(lab, JOE, [ANN, ZOE_AT_HALF], raw_message(JOE, ANN, "Two"),
                  password="pw", mail_options=["SMTPUTF8"]) == {}
    assert lab.wait_for_delivery(timeout=10)
    assert len(new_mail(lab, ANN, ann_before)) == 1  # ASCII all through: it needs no SMTPUTF8
    [bounce] = new_mail(lab, JOE, joe_before)
    _, blocks = bounce_blocks(bounce)
    assert [b["Final-Recipient"] for b in blocks] == ["utf-8; zo\\x{EB}@halfway.net"]


def test_a_utf8_sender_gets_its_bounce_and_the_bounce_parses(lab):
    # Zoë sends from joe's server itself (local injection: smtplib cannot log in as zoë).
    server = lab.server("someplace.org")
    before = len(mailbox(lab, ZOE))
    server.inject("zoë", raw_message(ZOE, TOM, "From Zoë", body=b"Hello.\r\n"), [TOM])
    assert lab.wait_for_delivery(timeout=10)
    [bounce] = new_mail(lab, ZOE, before)
    msg, [block] = bounce_blocks(bounce)
    assert msg["To"] == ZOE  # in UTF-8 (RFC 6532), as the sender's own address
    assert block["Final-Recipient"] == f"rfc822; {TOM}"
    assert block["Status"] == "5.6.7" and "sender address" in block["Diagnostic-Code"]


def test_utf8_header_fields_without_smtputf8_bounce_with_5_6_9(lab):
    # utf8-headers.eml has raw UTF-8 in From: and Subject: (RFC 6532), from an ASCII sender.
    # No conversion: see queue.plan_transfer for why RFC 2047 is not tried.
    sample = corpus.load("utf8-headers")
    before, tim_before, mark = len(mailbox(lab, JOE)), len(mailbox(lab, TIM)), lab.trace.mark()
    send(lab, TIM, sample, mail_options=["SMTPUTF8"])
    assert new_mail(lab, TIM, tim_before) == []
    assert all(mail_from(lines) == [] for lines, _ in relay_to(lab, HALF, mark))  # not even tried
    [bounce] = new_mail(lab, JOE, before)
    _, [block] = bounce_blocks(bounce)
    assert block["Final-Recipient"] == f"rfc822; {TIM}"
    assert block["Status"] == "5.6.9" and "header" in block["Diagnostic-Code"]


def test_utf8_header_fields_go_with_smtputf8_where_it_is_offered(lab):
    sample = corpus.load("utf8-headers")
    mark, before = lab.trace.mark(), len(mailbox(lab, JANE))
    send(lab, JANE, sample)  # the client did not say SMTPUTF8; the relay sees what the header needs
    [(lines, _)] = relay_to(lab, "somewhereelse.com", mark)
    assert mail_from(lines)[0].upper().endswith(" BODY=8BITMIME SMTPUTF8")
    [arrived] = new_mail(lab, JANE, before)
    assert arrived.endswith(sample.partition(b"\r\n\r\n")[2])
    assert "Grüße aus Zürich" == parse(arrived)["Subject"]


# -- the servers themselves -------------------------------------------------------------------

def test_ehlo_offers_8bitmime_and_smtputf8_as_the_limits_say(lab):
    for domain, offered in [("somewhereelse.com", {"8BITMIME", "SMTPUTF8"}), (HALF, {"8BITMIME"}), (OLD, set())]:
        with RawSMTP(lab.server(domain).mx.address) as s:
            code, lines = s.hello()
        assert code == 250
        assert {line[4:] for line in lines} & {"8BITMIME", "SMTPUTF8"} == offered, domain


def test_bad_mail_from_parameters_get_5yz_and_the_session_goes_on(lab):
    with RawSMTP(lab.server("somewhereelse.com").mx.address) as s:
        s.hello()
        code, lines = s.command("MAIL FROM:<a@example.org> BODY=bogus")
        assert code == 501 and lines[-1].startswith("501 5.5.4")  # RFC 6152: 7BIT or 8BITMIME only
        code, lines = s.command("MAIL FROM:<a@example.org> SMTPUTF8=yes")
        assert code == 501  # SMTPUTF8 takes no value (RFC 6531 section 3.4)
        code, lines = s.command(f"MAIL FROM:<{ZOE}>")
        assert code == 553 and lines[-1].startswith("553 5.6.7")  # UTF-8 without SMTPUTF8 (RFC 6531 3.5)
        assert s.command("MAIL FROM:<a@example.org>")[0] == 250
        code, lines = s.command(f"RCPT TO:<{ZOE_AT_JANES}>")
        assert code == 553 and lines[-1].startswith("553 5.6.7")
        assert s.command(f"RCPT TO:<{JANE}>")[0] == 250
        assert s.command("RSET")[0] == 250
    with RawSMTP(lab.server(OLD).mx.address) as s:
        s.hello()
        code, lines = s.command("MAIL FROM:<a@example.org> BODY=8BITMIME")
        assert code == 555 and lines[-1].startswith("555 5.5.4")  # not offered here
        code, lines = s.command("MAIL FROM:<a@example.org> SMTPUTF8")
        assert code == 501
        assert s.command("MAIL FROM:<a@example.org>")[0] == 250


# -- the plan, without a network (queue.plan_transfer is pure) ------------------------------------

def item(mail_from: str = JOE, **kwargs: object) -> QueueItem:
    return QueueItem("q1", mail_from, [JANE], 0.0, 0.0, **kwargs)  # type: ignore[arg-type]


def test_the_plan_passes_on_converts_or_refuses():
    eight = raw_message(JOE, JANE, "x", extra=EIGHT_BIT, body=GERMAN)
    plan = plan_transfer(item(), eight, [JANE], ["8bitmime", "smtputf8", "size"])
    assert (plan.rcpts, plan.mail_options, plan.data is eight, plan.converted) == ([JANE], ["BODY=8BITMIME"], True, False)
    plan = plan_transfer(item(), eight, [JANE], ["size"])
    assert plan.mail_options == [] and plan.converted and not is_8bit(plan.data)
    plan = plan_transfer(item(body="8BITMIME"), b"Subject: 7-bit after all\r\n\r\nhi\r\n", [JANE], [])
    assert plan.mail_options == [] and not plan.converted  # declared 8BITMIME, but nothing to convert
    plan = plan_transfer(item(smtputf8=True), b"Subject: x\r\n\r\nhi\r\n", [JANE], ["8BITMIME", "SMTPUTF8"])
    assert plan.mail_options == ["SMTPUTF8"]  # what the client said is passed on
    plan = plan_transfer(item(smtputf8=True), b"Subject: x\r\n\r\nhi\r\n", [JANE], ["8bitmime"])
    assert plan.rcpts == [JANE] and plan.mail_options == []  # ... and dropped where nothing needs it
    plan = plan_transfer(item(), b"Subject: x\r\n\r\nhi\r\n", [JANE, ZOE_AT_JANES], ["8bitmime"], "mx.example")
    assert plan.rcpts == [JANE] and list(plan.refused) == [ZOE_AT_JANES]
    assert plan.refused[ZOE_AT_JANES].startswith("5.6.7 mx.example does not offer SMTPUTF8")


def test_old_queue_files_without_the_new_fields_still_load(lab, tmp_path):
    queue_dir = tmp_path / "queue"
    queue_dir.mkdir()
    old = {"id": "OLD1", "mail_from": JOE, "pending": [JANE], "created": 0.0, "next_attempt": 9e12,
           "attempts": 0, "last_reply": {}}
    raw = raw_message(JOE, JANE, "Old", body=b"Queued long ago.\r\n")
    (queue_dir / "OLD1.queued").write_bytes(json.dumps(dict(old, size=len(raw))).encode() + b"\n" + raw)
    reloaded = OutgoingQueue(lab.server("someplace.org"), queue_dir, (1.0,), 30.0, lab.relay_executor)
    assert reloaded.items["OLD1"].body == "7BIT" and reloaded.items["OLD1"].smtputf8 is False
    assert reloaded.raw(reloaded.items["OLD1"]) == raw
