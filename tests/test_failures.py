"""Failure modes over real sockets: the reply, what the client does next, and the bounce.

One section per mode of `mailcourse.failures.FAILURE_MODES`, each driven
with smtplib, a raw socket or the lab's `ClientHost`, never through
`provoke`; then `provoke` itself: a report for every mode, the same text on
two runs, and a lab that is as it was afterwards and still serves.

Labs here retry every 0.2 s and give up after one second, so that a test can
watch in a second what takes days on the Internet.
"""
from __future__ import annotations

import email.policy
import smtplib
from email import message_from_bytes
from email.message import EmailMessage

import pytest
from helpers import (ENHANCED, JANE, JOE, JOE_PASSWORD, RawSMTP, assert_still_serves, login,
                     maildir_messages, queue_files, raw_message, submit, subject_of, wait_until)

from mailcourse import Lab, LabError
from mailcourse.failures import FAILURE_MODES, FailureMode, modes_table, provoke
from mailcourse.faults import Faults

NOBODY_THERE = "nobody@somewhereelse.com"
NOBODY_HERE = "nobody@someplace.org"


@pytest.fixture
def lab():
    with Lab.classic(seed=1, retry_intervals=(0.2,), queue_lifetime=1.0) as lab:
        yield lab


def joe_server(lab: Lab):
    return lab.server("someplace.org")


def jane_server(lab: Lab):
    return lab.server("somewhereelse.com")


def jane_subjects(lab: Lab) -> list[str]:
    return [subject_of(m) for m in maildir_messages(jane_server(lab), "jane")]


def bounces_to_joe(lab: Lab) -> list[list[tuple[str, str]]]:
    """For each bounce in joe's INBOX: (Status, Diagnostic-Code) of each failed recipient.

    Read straight from the Maildir with the standard library, as a mail
    program would read a multipart/report (RFC 6522, RFC 3464).
    """
    found = []
    for raw in maildir_messages(joe_server(lab), "joe"):
        msg: EmailMessage = message_from_bytes(raw, policy=email.policy.default)  # type: ignore[assignment]
        if msg.get_content_type() != "multipart/report":
            continue
        assert raw.startswith(b"Return-Path: <>\r\n")  # a bounce has the null sender
        [status_part] = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
        blocks = [b for b in status_part.get_payload() if b["Final-Recipient"]]
        found.append([(str(b["Status"]), " ".join(str(b["Diagnostic-Code"]).split())) for b in blocks])
    return found


def relay_replies(lab: Lab, since: int = 0) -> list[str]:
    """Every reply line jane's MX sent to joe's server's queue."""
    return [line for conn in lab.trace.sessions(service="mx", since=since)
            if conn.client == "mail.someplace.org"
            for d, line in lab.trace.lines(conn) if d == "s2c"]


def queue_entries(lab: Lab, word: str) -> list[str]:
    return [entry for entry in joe_server(lab).queue.log if word in entry]


# -- the switches ------------------------------------------------------------------------------

def test_every_server_has_faults_switched_off():
    faults = Faults()
    assert not faults.active and str(faults) == "no faults"
    faults.mailbox_full.add("Jane@somewhereelse.com")
    faults.temporary_failure = True
    assert faults.is_mailbox_full("jane@somewhereelse.com") and not faults.is_mailbox_full("bob@x")
    assert faults.rcpt_reply(JANE) == f"452 4.2.2 <{JANE}>: Mailbox full, try again later"
    assert faults.data_reply() == "451 4.3.0 Temporary local problem, try again later"
    faults.reset()
    assert not faults.active


# -- syntax error: 500, 501 -----------------------------------------------------------------------

@pytest.mark.parametrize("service", ["submission", "mx"])
def test_syntax_error_gets_500_or_501_and_the_session_goes_on(lab, service):
    server = joe_server(lab) if service == "submission" else jane_server(lab)
    with RawSMTP(server.endpoints[service].address) as s:
        s.greeting()
        code, lines = s.command("EHOL raw-client")  # the verb misspelt
        assert code == 500 and lines[-1].startswith("500 5.5.2")
        s.command("EHLO raw-client")
        if service == "submission":
            assert s.auth_plain(JOE, JOE_PASSWORD)[0] == 235
        code, lines = s.command(f"MAIL FROM {JOE}")  # the colon missing
        assert code == 501 and lines[-1].startswith("501 5.5.4")
        # The client's next action: the same command, written properly.
        assert s.command(f"MAIL FROM:<{JOE}>")[0] == 250
        assert s.command("RSET")[0] == 250
    assert lab.wait_for_delivery()
    assert queue_files(joe_server(lab)) == [] and jane_subjects(lab) == []
    assert bounces_to_joe(lab) == []  # told at once: no bounce


# -- bad sequence: 503 ----------------------------------------------------------------------------

def test_commands_out_of_order_get_503_and_nothing_is_accepted(lab):
    with RawSMTP(jane_server(lab).mx.address) as s:
        s.hello()
        code, lines = s.command(f"RCPT TO:<{JANE}>")
        assert code == 503 and lines[-1].startswith("503 5.5.1")
        assert s.command("DATA")[0] == 503
        assert s.command("MAIL FROM:<a@example.org>")[0] == 250
        code, lines = s.command("DATA")  # still no recipient
        assert code == 503 and ENHANCED.match(lines[-1])
        assert s.command("MAIL FROM:<a@example.org>")[0] == 503  # nested MAIL
        # In the right order, the transaction goes through.
        assert s.command(f"RCPT TO:<{JANE}>")[0] == 250
        assert s.command("DATA")[0] == 354
        assert s.command(b"Subject: in order\r\n\r\nfine\r\n.")[0] == 250
    assert jane_subjects(lab) == ["in order"]
    assert bounces_to_joe(lab) == []


# -- unknown user: 550 5.1.1 ---------------------------------------------------------------------

def test_unknown_user_at_the_remote_server_bounces_at_once_with_5_1_1(lab):
    joe = lab.client("joe-laptop")
    joe.compose(NOBODY_THERE, "Who is there?", "Anybody?")
    [result] = joe.send_all()
    assert result.ok and result.reply.startswith("250 2.")  # joe's server takes it ...
    assert joe.outbox == []
    assert lab.wait_for_delivery()
    # ... and hears the 550 when it relays; a 5yz is final: no retry.
    assert any(line.startswith("550 5.1.1") for line in relay_replies(lab))
    assert queue_entries(lab, "deferred") == []
    [[(status, diagnostic)]] = bounces_to_joe(lab)
    assert status == "5.1.1"
    assert diagnostic.startswith("smtp; 550 5.1.1") and NOBODY_THERE in diagnostic


def test_unknown_user_at_the_own_server_is_refused_at_once_and_stays_in_the_outbox(lab):
    joe = lab.client("joe-laptop")
    joe.compose(NOBODY_HERE, "Who is here?", "Anybody?")
    [result] = joe.send_all()
    assert not result.ok
    assert result.refused[NOBODY_HERE].startswith("550 5.1.1")
    assert [m["Subject"] for m in joe.outbox] == ["Who is here?"]
    assert lab.wait_for_delivery()
    assert bounces_to_joe(lab) == []


# -- mailbox full: 452 4.2.2, retried ------------------------------------------------------------

def test_mailbox_full_is_452_at_rcpt_for_that_user_only(lab):
    lab.add_user("bob@somewhereelse.com", "bob-password")
    jane_server(lab).faults.mailbox_full.add("jane")
    with RawSMTP(jane_server(lab).mx.address) as s:
        s.hello()
        s.command("MAIL FROM:<a@example.org>")
        code, lines = s.command(f"RCPT TO:<{JANE}>")
        assert code == 452
        assert lines == [f"452 4.2.2 <{JANE}>: Mailbox full, try again later"]
        assert s.command("RCPT TO:<bob@somewhereelse.com>")[0] == 250
        assert s.command("DATA")[0] == 354
        assert s.command(b"Subject: for bob\r\n\r\nx\r\n.")[0] == 250
        jane_server(lab).faults.reset()  # applies at once, in the same session
        s.command("MAIL FROM:<a@example.org>")
        assert s.command(f"RCPT TO:<{JANE}>")[0] == 250


def test_mailbox_full_while_relaying_is_retried_then_delivered_when_cleared(lab):
    jane_server(lab).faults.mailbox_full.add("jane")
    assert submit(lab, JOE, [JANE], raw_message(JOE, JANE, "Room for me?")) == {}
    queue = joe_server(lab).queue
    [item] = queue.items.values()
    wait_until(lambda: item.attempts >= 2, what="two delivery attempts")
    assert item.pending == [JANE] and item.last_reply[JANE].startswith("452 4.2.2")
    assert jane_subjects(lab) == []
    jane_server(lab).faults.mailbox_full.clear()
    assert lab.wait_for_delivery()
    assert jane_subjects(lab) == ["Room for me?"]
    assert item.attempts >= 3
    assert relay_replies(lab).count(f"452 4.2.2 <{JANE}>: Mailbox full, try again later") >= 2
    assert bounces_to_joe(lab) == []


def test_mailbox_full_past_the_lifetime_bounces_with_4_4_7(lab):
    jane_server(lab).faults.mailbox_full.add("jane")
    assert submit(lab, JOE, [JANE], raw_message(JOE, JANE, "Never room")) == {}
    assert lab.wait_for_delivery(timeout=10)
    assert len(queue_entries(lab, "deferred")) >= 2  # retried more than once
    assert jane_subjects(lab) == []
    [[(status, diagnostic)]] = bounces_to_joe(lab)
    assert status == "4.4.7"  # delivery time expired (RFC 3463), quoting the last reply:
    assert "delivery time expired" in diagnostic
    assert f"452 4.2.2 <{JANE}>: Mailbox full" in diagnostic


# -- temporary failure: 451 4.3.0 at the end of DATA ---------------------------------------------------

def test_temporary_failure_is_451_after_data_and_nothing_is_stored(lab):
    jane_server(lab).faults.temporary_failure = True
    with RawSMTP(jane_server(lab).mx.address) as s:
        s.hello()
        assert s.command("MAIL FROM:<a@example.org>")[0] == 250
        assert s.command(f"RCPT TO:<{JANE}>")[0] == 250
        assert s.command("DATA")[0] == 354
        code, lines = s.command(b"Subject: not now\r\n\r\nx\r\n.")
        assert code == 451 and lines == ["451 4.3.0 Temporary local problem, try again later"]
        assert s.command("NOOP")[0] == 250
    assert jane_subjects(lab) == []
    assert queue_files(jane_server(lab)) == []


def test_temporary_failure_while_relaying_is_retried_and_delivered_once(lab):
    jane_server(lab).faults.temporary_failure = True
    assert submit(lab, JOE, [JANE], raw_message(JOE, JANE, "Eventually")) == {}
    [item] = joe_server(lab).queue.items.values()
    wait_until(lambda: item.attempts >= 2, what="two delivery attempts")
    assert jane_subjects(lab) == []
    assert item.last_reply[JANE].startswith("451 4.3.0")
    jane_server(lab).faults.temporary_failure = False
    assert lab.wait_for_delivery()
    assert jane_subjects(lab) == ["Eventually"]  # once: no copy was kept after a 451
    assert bounces_to_joe(lab) == []


def test_temporary_failure_past_the_lifetime_bounces_with_4_4_7(lab):
    jane_server(lab).faults.temporary_failure = True
    assert submit(lab, JOE, [JANE], raw_message(JOE, JANE, "Never now")) == {}
    assert lab.wait_for_delivery(timeout=10)
    assert len(queue_entries(lab, "deferred")) >= 2
    [[(status, diagnostic)]] = bounces_to_joe(lab)
    assert status == "4.4.7" and "451 4.3.0" in diagnostic
    assert jane_subjects(lab) == []


def test_temporary_failure_at_submission_keeps_the_message_in_the_outbox(lab):
    joe = lab.client("joe-laptop")
    joe_server(lab).faults.temporary_failure = True
    joe.compose(JANE, "Send me again", "Later is fine.")
    [result] = joe.send_all()
    assert not result.ok
    assert result.refused == {"*": "451 4.3.0 Temporary local problem, try again later"}
    assert [m["Subject"] for m in joe.outbox] == ["Send me again"]
    assert queue_files(joe_server(lab)) == []  # joe's server kept nothing
    # The user presses Send again once the server is well.
    joe_server(lab).faults.reset()
    [result] = joe.send_all()
    assert result.ok and joe.outbox == []
    assert lab.wait_for_delivery()
    assert jane_subjects(lab) == ["Send me again"]
    assert bounces_to_joe(lab) == []


# -- message too large: 552 5.3.4, SIZE in EHLO -------------------------------------------------------

BIG = "A line to make the message larger than jane's server accepts.\n" * 80


def test_too_large_at_the_remote_server_bounces_with_5_3_4(lab):
    jane_server(lab).limits.max_message_size = 2000  # jane's server only
    with lab.smtp("x", jane_server(lab).mx) as client:
        client.ehlo("x")
        assert client.esmtp_features["size"] == "2000"
    with login(lab) as client:
        assert client.esmtp_features["size"] == str(10 * 1024 * 1024)  # joe's is unchanged
    joe = lab.client("joe-laptop")
    joe.compose(JANE, "Holiday photos", BIG)
    [result] = joe.send_all()
    assert result.ok and joe.outbox == []
    assert lab.wait_for_delivery()
    replies = relay_replies(lab)
    assert "250-SIZE 2000" in replies
    assert any(line.startswith("552 5.3.4") for line in replies)
    assert queue_entries(lab, "deferred") == []  # 5yz: no retry
    [[(status, diagnostic)]] = bounces_to_joe(lab)
    assert status == "5.3.4" and diagnostic.startswith("smtp; 552 5.3.4")
    assert jane_subjects(lab) == []


def test_too_large_at_submission_stays_in_the_outbox(lab):
    joe_server(lab).limits.max_message_size = 2000
    joe = lab.client("joe-laptop")
    joe.compose(JANE, "Holiday photos", BIG)
    [result] = joe.send_all()
    assert not result.ok and result.refused["*"].startswith("552 5.3.4")
    assert [m["Subject"] for m in joe.outbox] == ["Holiday photos"]
    assert lab.wait_for_delivery()
    assert bounces_to_joe(lab) == [] and jane_subjects(lab) == []


# -- relay refused: 554 5.7.1 ---------------------------------------------------------------------

def test_relay_without_login_is_refused_at_once(lab):
    mark = lab.trace.mark()
    with lab.smtp("joe-laptop", joe_server(lab).mx) as client:
        client.ehlo("joe-laptop")
        assert client.mail(JOE)[0] == 250
        code, text = client.rcpt(JANE)
        assert (code, text.split()[0]) == (554, b"5.7.1")
        assert client.rcpt(JOE)[0] == 250  # its own domain is welcome
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail(JOE, [JANE], raw_message(JOE, JANE, "Pass it on"))
    assert lab.wait_for_delivery()
    assert [c for c in lab.trace.sessions(since=mark) if c.client == "mail.someplace.org"] == []
    assert queue_files(joe_server(lab)) == [] and bounces_to_joe(lab) == []


# -- authentication required: 530 5.7.0; failed: 535 5.7.8 ---------------------------------------------

def test_mail_without_login_gets_530(lab):
    with lab.smtp("joe-laptop", joe_server(lab).submission) as client:
        client.ehlo("joe-laptop")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(JOE, [JANE], raw_message(JOE, JANE, "No login"))
        assert refused.value.smtp_code == 530
        assert refused.value.smtp_error.startswith(b"5.7.0")
    assert lab.wait_for_delivery()
    assert queue_files(joe_server(lab)) == [] and bounces_to_joe(lab) == []


def test_wrong_password_gets_535_and_the_message_stays_in_the_outbox(lab):
    joe = lab.client("joe-laptop")
    joe.password = "mistyped"
    joe.compose(JANE, "Typo", "Wrong password.")
    with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
        joe.send_all()
    assert failed.value.smtp_code == 535 and failed.value.smtp_error.startswith(b"5.7.8")
    assert [m["Subject"] for m in joe.outbox] == ["Typo"]
    joe.password = JOE_PASSWORD  # the user types it again
    assert [r.ok for r in joe.send_all()] == [True]
    assert lab.wait_for_delivery()
    assert jane_subjects(lab) == ["Typo"] and bounces_to_joe(lab) == []


# -- provoke: every mode, a report that reads the same every time ------------------------------------

EXPECTED = {  # mode -> (bounce Status or None, delivered)
    "syntax_error": (None, False),
    "bad_sequence": (None, False),
    "unknown_user": ("5.1.1", False),
    "mailbox_full": ("4.4.7", False),
    "temporary_failure": ("4.4.7", False),
    "too_large": ("5.3.4", False),
    "relay_refused": (None, False),
    "auth_required": (None, False),
    "auth_failed": (None, False),
}


def test_the_nine_modes_in_course_order():
    assert list(FAILURE_MODES) == list(EXPECTED)
    for name, mode in FAILURE_MODES.items():
        assert isinstance(mode, FailureMode) and mode.name == name
        assert mode.codes and mode.rfc.startswith("RFC") and mode.client_next
    assert modes_table().count("\n") == len(FAILURE_MODES)


@pytest.mark.parametrize("name", list(FAILURE_MODES))
def test_provoke_reports_the_failure_the_same_way_twice(lab, name):
    first = provoke(lab, name, lifetime=0.6)
    second = provoke(lab, name, lifetime=0.6)  # on the same lab: the first put it back
    assert str(first) == str(second)
    report = first
    assert report.mode is FAILURE_MODES[name]
    codes = {code.split()[0] for code in report.mode.codes}
    enhanced = {code.split()[1] for code in report.mode.codes}
    failing = [r for r in report.replies if r[:1] in "45"]
    assert {r[:3] for r in failing} == codes
    assert {r.split()[1] for r in failing} == enhanced
    status, delivered = EXPECTED[name]
    assert report.status == status
    assert (report.bounce is None) == (status is None)
    assert report.delivered is delivered
    assert report.sessions and report.sessions[0].client == "joe-laptop"
    if report.mode.temporary:
        assert report.attempts >= 2 and "deferred" in report.queue_log[0]
    elif report.relayed:
        assert report.attempts == 1
    text = str(report)
    assert "127.0.0.1" not in text and "queued as" not in text
    for server in lab.servers.values():
        assert not server.faults.active and server.errors == []


@pytest.mark.parametrize("name", ["mailbox_full", "temporary_failure"])
def test_provoke_with_the_fault_cleared_delivers_without_a_bounce(lab, name):
    report = provoke(lab, name, lifetime=5, clear_after=2)
    assert report.delivered and report.bounce is None
    assert report.attempts >= 3
    assert jane_subjects(lab) == [{"mailbox_full": "Demo: a full mailbox",
                                   "temporary_failure": "Demo: a temporary failure"}[name]]


@pytest.mark.parametrize("name", ["unknown_user", "too_large", "temporary_failure", "mailbox_full"])
def test_provoke_at_submission_tells_the_client_at_once(lab, name):
    report = provoke(lab, name, at="submission")
    assert report.bounce is None and not report.relayed
    assert report.outbox and len(report.outbox) == 1  # the message was still in the outbox
    assert report.replies[0][:3] == report.mode.codes[0][:3]
    assert report.delivered is report.mode.temporary  # 4yz: Send again worked
    assert lab.client("joe-laptop").outbox == []


@pytest.mark.parametrize("name", list(FAILURE_MODES))
def test_the_lab_keeps_serving_and_loses_nothing_after_each_failure(lab, name):
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "accepted before"))
    assert lab.wait_for_delivery()
    provoke(lab, name, lifetime=0.6)
    assert_still_serves(lab, f"after {name}")
    assert jane_subjects(lab).count("accepted before") == 1
    assert queue_files(joe_server(lab)) == []
    for server in lab.servers.values():
        assert server.errors == []


def test_provoke_puts_the_lab_back_as_it_was(lab):
    joe = lab.client("joe-laptop")
    joe.compose(JANE, "My own draft", "Not part of the demo.")
    jane_server(lab).limits.max_message_size = 50_000
    for name in FAILURE_MODES:
        provoke(lab, name, lifetime=0.6)
    assert [m["Subject"] for m in joe.outbox] == ["My own draft"]
    assert joe.password == JOE_PASSWORD
    assert jane_server(lab).limits.max_message_size == 50_000
    assert joe_server(lab).limits.max_message_size == 10 * 1024 * 1024
    assert joe_server(lab).queue.lifetime == 1.0
    assert all(s.is_online and not s.faults.active for s in lab.servers.values())
    [result] = joe.send_all()
    assert result.ok
    assert lab.wait_for_delivery()
    assert "My own draft" in jane_subjects(lab)


def test_provoke_explains_a_wrong_name_or_option(lab):
    with pytest.raises(LabError, match="mailbox_full"):
        provoke(lab, "disk_on_fire")
    with pytest.raises(LabError, match="clear_after"):
        provoke(lab, "unknown_user", clear_after=2)
    with pytest.raises(LabError, match="submission"):
        provoke(lab, "too_large", at="somewhere")


def test_a_failure_reply_is_paired_with_the_command_it_answers_when_the_client_pipelines():
    # RFC 2920 section 3: MAIL, RCPT, RCPT and DATA go out together, the replies come in that order.
    from types import SimpleNamespace

    from mailcourse.failures import _Stage
    from mailcourse.trace import C2S, S2C, Trace

    trace = Trace()
    conn = trace.open("SMTP", "mx", "mail.somewhereelse.com", ("127.0.0.1", 40000))
    for direction, data in [(S2C, b"220 mx ESMTP\r\n"), (C2S, b"EHLO a\r\n"), (S2C, b"250-mx\r\n250 PIPELINING\r\n"),
                            (C2S, b"MAIL FROM:<joe@someplace.org>\r\nRCPT TO:<nobody@somewhereelse.com>\r\n"
                                  b"RCPT TO:<jane@somewhereelse.com>\r\nDATA\r\n"),
                            (S2C, b"250 2.1.0 Ok\r\n550 5.1.1 <nobody@somewhereelse.com>: User unknown\r\n"
                                  b"250 2.1.5 Ok\r\n354 go ahead\r\n"),
                            (C2S, b"Subject: x\r\n\r\nhi\r\n.\r\n"), (S2C, b"451 4.3.0 try later\r\n")]:
        trace.data(conn, direction, data, len(data))
    stage = SimpleNamespace(lab=SimpleNamespace(trace=trace))
    assert _Stage.exchange(stage, [conn]) == [  # type: ignore[arg-type]
        ("RCPT TO:<nobody@somewhereelse.com>", "550 5.1.1 <nobody@somewhereelse.com>: User unknown"),
        (".", "451 4.3.0 try later")]
