"""The submission endpoint (RFC 6409, RFC 4954) and the client host that uses it.

Every test talks to a real server on 127.0.0.1 with smtplib, or with a raw
socket where the client has to do something smtplib would not.
"""
from __future__ import annotations

import smtplib

import pytest
from helpers import (ENHANCED, JANE, JOE, JOE_PASSWORD, RawSMTP, b64, login, maildir_messages,
                     plain_blob, raw_message, submit, subject_of)

from mailcourse import ClientHost, Lab, LabError


def joe_submission(lab: Lab) -> tuple[str, int]:
    return lab.server("someplace.org").submission.address


# -- what the endpoint offers -------------------------------------------------------

def test_ehlo_advertises_auth_and_the_extensions(lab):
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as client:
        code, _ = client.ehlo("joe-laptop")
        assert code == 250
        features = client.esmtp_features
        assert set(features["auth"].upper().split()) >= {"PLAIN", "LOGIN"}
        for name in ("pipelining", "enhancedstatuscodes", "size", "8bitmime"):
            assert name in features, name


def test_mail_before_auth_gets_530(lab):
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as client:
        client.ehlo("joe-laptop")
        code, text = client.mail(JOE)
        assert code == 530
        assert text.startswith(b"5.7.0")


def test_wrong_password_gets_535(lab):
    with RawSMTP(joe_submission(lab)) as s:
        s.hello()
        code, lines = s.auth_plain(JOE, "not-the-password")
        assert code == 535
        assert ENHANCED.match(lines[-1])
        # ... and the session goes on: the right password works next.
        assert s.auth_plain(JOE, JOE_PASSWORD)[0] == 235


def test_smtplib_login_with_wrong_password_raises(lab):
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as client:
        client.ehlo("joe-laptop")
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.login(JOE, "wrong")
        assert err.value.smtp_code == 535


# -- AUTH PLAIN and AUTH LOGIN ---------------------------------------------------------

def test_auth_plain_with_initial_response(lab):
    with RawSMTP(joe_submission(lab)) as s:
        s.hello()
        code, lines = s.command(f"AUTH PLAIN {plain_blob(JOE, JOE_PASSWORD)}")
        assert code == 235
        assert lines[-1].startswith("235 2.7.0")
        assert s.command(f"MAIL FROM:<{JOE}>")[0] == 250


def test_auth_plain_after_empty_challenge(lab):
    with RawSMTP(joe_submission(lab)) as s:
        s.hello()
        code, lines = s.command("AUTH PLAIN")
        assert (code, lines) == (334, ["334 "])  # an empty challenge keeps its space (RFC 4954)
        code, _ = s.command(plain_blob(JOE, JOE_PASSWORD))
        assert code == 235


def test_auth_plain_with_authzid_equal_to_login(lab):
    with RawSMTP(joe_submission(lab)) as s:
        s.hello()
        assert s.command(f"AUTH PLAIN {plain_blob(JOE, JOE_PASSWORD, authzid=JOE)}")[0] == 235


@pytest.mark.parametrize("authzid", [JANE, "admin", "joe"])
def test_auth_plain_with_another_authzid_is_refused(lab, authzid):
    with RawSMTP(joe_submission(lab)) as s:
        s.hello()
        code, lines = s.command(f"AUTH PLAIN {plain_blob(JOE, JOE_PASSWORD, authzid=authzid)}")
        assert code == 535
        assert ENHANCED.match(lines[-1])
        assert s.command(f"MAIL FROM:<{JOE}>")[0] == 530  # still not logged in


def test_auth_login(lab):
    with RawSMTP(joe_submission(lab)) as s:
        s.hello()
        assert s.command("AUTH LOGIN")[0] == 334
        assert s.command(b64(JOE))[0] == 334
        code, _ = s.command(b64(JOE_PASSWORD))
        assert code == 235
        assert s.command(f"MAIL FROM:<{JOE}>")[0] == 250


def test_auth_login_with_smtplib(lab):
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as client:
        client.ehlo("joe-laptop")
        client.user, client.password = JOE, JOE_PASSWORD
        code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        assert code == 235


@pytest.mark.parametrize("name", ["joe@someplace.org", "joe", "JOE@SomePlace.org"])
def test_login_is_the_address_or_its_local_part(lab, name):
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as client:
        client.ehlo("joe-laptop")
        code, _ = client.login(name, JOE_PASSWORD)
        assert code == 235
        assert client.mail(JOE)[0] == 250


def test_a_user_of_another_server_cannot_log_in_here(lab):
    with RawSMTP(joe_submission(lab)) as s:
        s.hello()
        assert s.auth_plain(JANE, "jane-password")[0] == 535


# -- the envelope --------------------------------------------------------------------

@pytest.mark.parametrize("rcpt", ["someone@example.net", JANE, "nobody@somewhereelse.com",
                                  "JOE@someplace.org"])
def test_an_authenticated_user_may_send_to_any_domain(lab, rcpt):
    with login(lab) as client:
        assert client.mail(JOE)[0] == 250
        code, text = client.rcpt(rcpt)
        assert code == 250
        assert text.startswith(b"2.1.5")
        client.rset()


@pytest.mark.parametrize("sender", [JANE, "joe@example.com", "boss@someplace.org", ""])
def test_mail_from_another_address_gets_553(lab, sender):
    with login(lab) as client:
        code, text = client.mail(sender)
        assert code == 553
        assert text.startswith(b"5.7.1")
        assert client.mail(JOE)[0] == 250  # the session goes on


def test_unknown_local_recipient_is_refused_at_rcpt(lab):
    with login(lab) as client:
        client.mail(JOE)
        code, text = client.rcpt("nobody@someplace.org")
        assert code == 550
        assert text.startswith(b"5.1.1")


# -- what the server does to the message -------------------------------------------------

def test_bcc_header_is_removed_from_every_copy(lab):
    lab.add_user("bob@somewhereelse.com", "bob-password")
    raw = raw_message(JOE, JANE, "Secret party",
                      extra=b"Bcc: bob@somewhereelse.com,\r\n joe@someplace.org\r\n")
    assert submit(lab, JOE, [JANE, "bob@somewhereelse.com", JOE], raw) == {}
    assert lab.wait_for_delivery()
    copies = (maildir_messages(lab.server("somewhereelse.com"), "jane")
              + maildir_messages(lab.server("somewhereelse.com"), "bob")
              + maildir_messages(lab.server("someplace.org"), "joe"))
    assert [subject_of(c) for c in copies] == ["Secret party"] * 3
    for copy in copies:
        assert b"bcc" not in copy.lower()
        assert b"\r\n joe@someplace.org" not in copy  # the folded continuation went too
    # Not even the relay between the two servers carried it.
    relay = lab.trace.sessions(service="mx")
    assert relay and all(b"bcc" not in e.data.lower()
                         for c in relay for e in lab.trace.filter(c, kind="data"))


def test_submission_adds_date_and_message_id_when_missing(lab):
    submit(lab, JOE, [JANE], raw_message(JOE, JANE, "Bare"))
    assert lab.wait_for_delivery()
    [copy] = lab.server("somewhereelse.com").mailbox("jane")
    assert copy["Date"] and copy["Message-ID"]


# -- pipelining and enhanced status codes ----------------------------------------------------

def test_pipelined_commands_in_one_write_are_answered_in_order(lab):
    with RawSMTP(joe_submission(lab)) as s:
        s.hello()
        assert s.auth_plain(JOE, JOE_PASSWORD)[0] == 235
        s.send(f"MAIL FROM:<{JOE}>\r\nRCPT TO:<{JANE}>\r\nRCPT TO:<nobody@someplace.org>\r\nDATA\r\n")
        replies = [s.reply() for _ in range(4)]
        assert [code for code, _ in replies] == [250, 250, 550, 354]
        assert replies[0][1][-1].startswith("250 2.1.0")
        assert replies[1][1][-1].startswith("250 2.1.5")
        assert replies[2][1][-1].startswith("550 5.1.1")
        s.send(b"Subject: piped\r\n\r\nIn one go.\r\n.\r\n")
        assert s.reply()[0] == 250
        s.command("QUIT")
    assert lab.wait_for_delivery()
    assert [m["Subject"] for m in lab.server("somewhereelse.com").mailbox("jane")] == ["piped"]


def test_every_reply_after_ehlo_has_an_enhanced_status_code(lab):
    commands = [
        "NOOP", "HELP", "HELP MAIL", "VRFY joe", "VRFY", "FROB", f"MAIL FROM:<{JOE}>",
        "DATA", "AUTH PLAIN bm90IGJhc2U2NA", "AUTH CRAM-MD5", f"AUTH PLAIN {plain_blob(JOE, 'bad')}",
        f"AUTH PLAIN {plain_blob(JOE, JOE_PASSWORD)}", f"AUTH PLAIN {plain_blob(JOE, JOE_PASSWORD)}",
        "HELP", "HELP MAIL", "HELP FROB", "VRFY joe", "VRFY", "EXPN staff",
        "MAIL FROM:<jane@somewhereelse.com>", "MAIL FROM:", f"MAIL FROM:<{JOE}> FROB=1",
        "RCPT TO:<jane@somewhereelse.com>", f"MAIL FROM:<{JOE}>", f"MAIL FROM:<{JOE}>",
        "RCPT TO:", "RCPT TO:<nobody@someplace.org>", "RCPT TO:<jane@somewhereelse.com>",
        "DATA extra", "RSET", "DATA", "NOOP", "", "NOOP " + "x" * 600, "MAIL FROM:<jöe@someplace.org>",
    ]
    seen = []
    with RawSMTP(joe_submission(lab)) as s:
        assert s.hello()[0] == 250
        for command in commands:
            code, lines = s.command(command)
            seen.append((command, code))
            for line in lines:
                assert ENHANCED.match(line), f"{command!r} -> {line!r}"
        s.command(f"MAIL FROM:<{JOE}>")
        s.command(f"RCPT TO:<{JANE}>")
        code, lines = s.command("DATA")
        assert code == 354 and not ENHANCED.match(lines[0])  # 354 goes without (RFC 2034)
        code, lines = s.command(b"Subject: codes\r\n\r\nbody\r\n.")
        assert code == 250 and ENHANCED.match(lines[0])
        code, lines = s.command("QUIT")
        assert code == 221 and ENHANCED.match(lines[0])
    # The script did meet the replies it meant to check.
    codes = {code for _, code in seen}
    assert {250, 500, 501, 503, 504, 530, 535, 235, 553, 550, 252} <= codes, seen


# -- the client host: compose offline, spool on disk, send in one session ---------------------

def test_client_host_spools_offline_and_sends_in_one_session(tmp_path):
    workspace = tmp_path / "ws"
    subjects = ["one", "two", "three"]
    with Lab.classic(workspace=workspace, seed=2) as lab:
        joe = lab.client("joe-laptop")
        joe.go_offline()
        joe.compose(JANE, "one", "First.")
        joe.compose([JANE], "two", "Second.", cc="joe@someplace.org")
        joe.compose(JANE, "three", "Third.", bcc=["joe@someplace.org"])
        spooled = sorted(p.name for p in joe.outbox_path.iterdir())
        assert len([n for n in spooled if n.endswith(".eml")]) == 3
        assert joe.outbox_path.is_relative_to(workspace)
        with pytest.raises(LabError):
            joe.send_all()
        assert len(joe.outbox) == 3  # nothing left the spool
        # Another ClientHost object on the same workspace sees the same spool.
        again = ClientHost(lab, "joe-laptop", JOE, JOE_PASSWORD)
        assert [m["Subject"] for m in again.outbox] == subjects

    # A whole new lab on the same workspace: the spool survived on disk.
    with Lab.classic(workspace=workspace, seed=3) as lab:
        joe = lab.client("joe-laptop")
        assert [m["Subject"] for m in joe.outbox] == subjects
        mark = lab.trace.mark()
        results = joe.send_all()
        assert [r.subject for r in results] == subjects
        assert all(r.ok and r.reply.startswith("250") for r in results)
        assert joe.outbox == []
        sessions = lab.trace.sessions(service="submission", since=mark)
        assert len(sessions) == 1
        assert sessions[0].client == "joe-laptop"
        mails = [line for d, line in lab.trace.lines(sessions[0]) if line.upper().startswith("MAIL FROM:")]
        assert len(mails) == 3
        assert lab.wait_for_delivery()
        assert [m["Subject"] for m in lab.client("jane-laptop").read_mailbox()] == subjects
        at_joe = lab.client("joe-laptop").read_mailbox()
        assert sorted(m["Subject"] for m in at_joe) == ["three", "two"]  # the Cc and the Bcc copy
        for copy in lab.server("somewhereelse.com").mailbox("jane") + at_joe:
            assert "Bcc" not in copy
            assert b"bcc" not in copy.as_bytes().lower()


def test_send_all_with_an_empty_outbox_opens_no_connection(lab):
    mark = lab.trace.mark()
    assert lab.client("joe-laptop").send_all() == []
    assert lab.trace.sessions(since=mark) == []


def test_recipients_refused_for_now_stay_in_the_outbox(lab):
    """One recipient accepted, one refused with 4yz: only the second is sent again."""
    jane_server = lab.server("somewhereelse.com")
    joe_server = lab.server("someplace.org")
    joe_server.faults.mailbox_full.add("joe")  # joe's own mailbox: refused for now at submission
    joe = lab.client("joe-laptop")
    joe.compose(["jane@somewhereelse.com", "joe@someplace.org"], "Half now", "half later")
    (result,) = joe.send_all()
    assert result.accepted == ["jane@somewhereelse.com"]
    assert result.refused["joe@someplace.org"].startswith("452 4.2.2")
    assert [m["Subject"] for m in joe.outbox] == ["Half now"]
    joe_server.faults.reset()
    (again,) = joe.send_all()
    assert again.accepted == ["joe@someplace.org"] and not again.refused
    assert joe.outbox == []
    lab.wait_for_delivery()
    assert [m["Subject"] for m in jane_server.mailbox("jane")] == ["Half now"]  # once, not twice
    assert [m["Subject"] for m in joe_server.mailbox("joe")] == ["Half now"]


@pytest.mark.parametrize("rcpt", ["<>", "<nodomain>", "<@somewhereelse.com>"])
def test_malformed_recipient_gets_501(lab, rcpt):
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as client:
        client.login("joe@someplace.org", "joe-password")
        client.mail("joe@someplace.org")
        code, text = client.docmd(f"RCPT TO:{rcpt}")
        assert code in (501, 553), text  # aiosmtpd itself refuses some forms with 553 5.1.3
        assert client.rcpt("jane@somewhereelse.com")[0] == 250  # and the session goes on
