"""TLS on every mail server: STARTTLS / STLS, implicit TLS, what the tap records, the relay's policy.

The clients are the standard library's, with a context that trusts the
lab's CA (``lab.tls.client_context()``), or one that does not
(``ssl.create_default_context()``), which must refuse the lab's servers by
its own verification. The recorded bytes of every TLS session are searched
for the password and the commands: a wire capture after the handshake shows
neither, and neither does the trace.
"""
from __future__ import annotations

import base64
import imaplib
import poplib
import smtplib
import ssl
import subprocess
import sys
import time

import pytest
from helpers import JANE, JANE_PASSWORD, JOE, JOE_PASSWORD, RawSMTP, raw_message

from mailcourse import Lab, Limits
from mailcourse.protocols.exchanges import CIPHERTEXT, HANDSHAKE
from mailcourse.protocols.smtp_replies import strip_starttls
from mailcourse.trace import C2S, S2C


def recorded(lab: Lab, conn, direction: str | None = None) -> bytes:
    """Every byte the tap recorded for ``conn`` (one direction, or both)."""
    return b"".join(e.data for e in lab.trace.filter(conn, kind="data")
                    if direction is None or e.direction == direction)


def only_session(lab: Lab, service: str):
    time.sleep(0.2)  # the tap closes the session a moment after the client does
    sessions = lab.trace.sessions(service=service)
    assert len(sessions) == 1, sessions
    return sessions[0]


def assert_no_secrets(lab: Lab, conn, *secrets: bytes) -> None:
    wire = recorded(lab, conn)
    for secret in secrets:
        assert secret not in wire, f"{secret!r} crossed in plain text"
    # Nor in base64, as AUTH PLAIN would send it.
    blob = base64.b64encode(b"\0" + JOE.encode() + b"\0" + JOE_PASSWORD.encode())
    assert blob not in wire


@pytest.fixture
def trusting(lab):
    return lab.tls.client_context()


# -- each endpoint, with the standard library's clients --------------------------------------


def test_submission_with_starttls_records_no_password_and_no_mail_from(lab, trusting):
    server = lab.server("someplace.org")
    with smtplib.SMTP(*server.submission.address, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=trusting)
        client.ehlo()
        assert not client.has_extn("starttls")  # offered once, outside TLS only
        client.login(JOE, JOE_PASSWORD)
        client.sendmail(JOE, [JANE], raw_message(JOE, JANE, "Inside TLS"))
    assert lab.wait_for_delivery()
    conn = only_session(lab, "submission")
    assert conn.tls == "starttls"
    assert_no_secrets(lab, conn, JOE_PASSWORD.encode(), b"MAIL FROM", b"Inside TLS")
    assert b"STARTTLS" in recorded(lab, conn, C2S)  # the plain-text part is there, as on a wire
    exchanges = lab.trace.exchanges(conn)
    assert [e.verb for e in exchanges][-2:] == ["STARTTLS", ""]
    assert exchanges[-2].final.startswith("220")
    # The handshake, then the ciphertext (one line per record in the transcript).
    assert [p.kind for p in exchanges[-1].parts][:2] == [HANDSHAKE, CIPHERTEXT]
    assert {p.kind for p in exchanges[-1].parts} == {HANDSHAKE, CIPHERTEXT}
    events = lab.trace.filter(conn, kind="data")
    after = events[next(i for i, e in enumerate(events) if e.data.startswith(b"220 ") and i > 0) + 1:]
    assert after and all(e.tls for e in after)
    transcript = lab.trace.transcript(conn)
    assert "C: [TLS handshake: ClientHello" in transcript and "bytes (encrypted)]" in transcript
    assert "MAIL FROM" not in transcript.upper()
    # With the lab's keys, the dialogue inside: the same reader, the password still masked.
    inside = lab.trace.exchanges(conn, lab.tls.keylog())
    verbs = [e.verb for e in inside]
    assert verbs[verbs.index("STARTTLS") + 1:][:5] == ["", "EHLO", "AUTH", "MAIL", "RCPT"]
    assert [p.kind for p in inside[verbs.index("STARTTLS") + 1].parts] == [HANDSHAKE]
    assert JOE_PASSWORD not in lab.trace.transcript(conn, keylog=lab.tls.keylog())
    # The message says how it came: ESMTPSA, TLS and authenticated (RFC 3848).
    [raw] = [m.as_bytes() for m in lab.server("somewhereelse.com").mailbox("jane")]
    assert b"with ESMTPSA" in raw


def test_submissions_is_tls_from_the_first_byte(lab, trusting):
    server = lab.server("someplace.org")
    with smtplib.SMTP_SSL(*server.endpoints["submissions"].address, context=trusting, timeout=10) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        client.login(JOE, JOE_PASSWORD)
        client.sendmail(JOE, [JANE], raw_message(JOE, JANE, "Implicit TLS"))
    assert lab.wait_for_delivery()
    conn = only_session(lab, "submissions")
    assert conn.tls == "implicit"
    assert_no_secrets(lab, conn, JOE_PASSWORD.encode(), b"MAIL FROM", b"EHLO", b"220 ")
    assert all(e.tls for e in lab.trace.filter(conn, kind="data"))
    [exchange] = lab.trace.exchanges(conn)  # read sensibly: the handshake, then ciphertext, no commands
    assert exchange.verb == "" and [p.kind for p in exchange.parts][:2] == [HANDSHAKE, CIPHERTEXT]
    assert {p.kind for p in exchange.parts} == {HANDSHAKE, CIPHERTEXT}
    assert {p.direction for p in exchange.parts} == {C2S, S2C}


def test_mx_offers_starttls_and_no_auth(lab, trusting):
    mx = lab.server("somewhereelse.com").mx
    with smtplib.SMTP(*mx.address, local_hostname="mail.example.net", timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls") and not client.has_extn("auth")
        client.starttls(context=trusting)
        client.ehlo()
        client.sendmail("ann@example.net", [JANE], raw_message("ann@example.net", JANE, "Relayed"))
    conn = only_session(lab, "mx")
    assert conn.tls == "starttls"
    assert_no_secrets(lab, conn, b"MAIL FROM", b"RCPT TO", b"Relayed")


def test_pop3_stls_and_pop3s_record_no_password(lab, trusting):
    jane = lab.server("somewhereelse.com")
    jane.inject("jane", raw_message(JANE, JANE, "Note to self"))
    pop = poplib.POP3(*jane.endpoints["pop3"].address, timeout=10)
    assert "STLS" in pop.capa()
    pop.stls(trusting)
    assert "STLS" not in pop.capa()  # RFC 2595: not inside TLS
    pop.user(JANE)
    pop.pass_(JANE_PASSWORD)
    assert b"Note to self" in b"\n".join(pop.retr(1)[1])
    pop.quit()
    pop = poplib.POP3_SSL(*jane.endpoints["pop3s"].address, context=trusting, timeout=10)
    assert "STLS" not in pop.capa()
    pop.user(JANE)
    pop.pass_(JANE_PASSWORD)
    assert pop.stat()[0] == 1
    pop.quit()
    time.sleep(0.2)
    stls, = lab.trace.sessions(service="pop3")
    implicit, = lab.trace.sessions(service="pop3s")
    assert (stls.tls, implicit.tls) == ("starttls", "implicit")
    for conn in (stls, implicit):
        assert_no_secrets(lab, conn, JANE_PASSWORD.encode(), b"PASS", b"RETR", b"Note to self")
    assert [e.verb for e in lab.trace.exchanges(stls)][-2:] == ["STLS", ""]


def test_imap_starttls_and_imaps_record_no_password(lab, trusting):
    jane = lab.server("somewhereelse.com")
    jane.inject("jane", raw_message(JANE, JANE, "Note to self"))
    box = imaplib.IMAP4(*jane.endpoints["imap"].address, timeout=10)
    assert "STARTTLS" in box.capabilities and "LOGINDISABLED" not in box.capabilities
    box.starttls(trusting)  # imaplib asks CAPABILITY again inside TLS
    assert "STARTTLS" not in box.capabilities
    box.login(JANE, JANE_PASSWORD)
    box.select("INBOX")
    assert b"Note to self" in box.fetch("1", "(RFC822)")[1][0][1]
    box.logout()
    box = imaplib.IMAP4_SSL(*jane.endpoints["imaps"].address, ssl_context=trusting, timeout=10)
    assert "STARTTLS" not in box.capabilities
    box.login(JANE, JANE_PASSWORD)
    assert box.select("INBOX")[1] == [b"1"]
    box.logout()
    time.sleep(0.2)
    starttls, = lab.trace.sessions(service="imap")
    implicit, = lab.trace.sessions(service="imaps")
    assert (starttls.tls, implicit.tls) == ("starttls", "implicit")
    for conn in (starttls, implicit):
        assert_no_secrets(lab, conn, JANE_PASSWORD.encode(), b"LOGIN", b"Note to self")
    # IMAP's STARTTLS is read as SMTP's and POP3's: the rest is one run of ciphertext.
    exchanges = lab.trace.exchanges(starttls)
    assert [e.verb for e in exchanges][-2:] == ["STARTTLS", ""] and exchanges[-2].ok


def test_the_key_log_holds_the_secrets_of_each_session(lab, trusting):
    assert lab.tls.keylog() == ""
    with smtplib.SMTP_SSL(*lab.server("someplace.org").endpoints["submissions"].address, context=trusting,
                          timeout=10) as client:
        client.noop()
    log = lab.tls.keylog()
    assert "CLIENT_TRAFFIC_SECRET_0" in log and "SERVER_HANDSHAKE_TRAFFIC_SECRET" in log
    assert lab.tls.keylog_file.parent == lab.workspace / "tls"
    assert (lab.tls.keylog_file.stat().st_mode & 0o077) == 0  # the owner's only


def test_a_client_that_does_not_trust_the_lab_ca_refuses_by_its_own_verification(lab):
    jane = lab.server("somewhereelse.com")
    with smtplib.SMTP(*lab.server("someplace.org").submission.address, timeout=10) as client:
        client.ehlo()
        with pytest.raises(ssl.SSLCertVerificationError, match="self.signed|unable to get local issuer"):
            client.starttls(context=ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(*jane.endpoints["imaps"].address, ssl_context=ssl.create_default_context(), timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        poplib.POP3_SSL(*jane.endpoints["pop3s"].address, context=ssl.create_default_context(), timeout=10)
    # The servers go on serving: a refused handshake leaves no error behind.
    with smtplib.SMTP_SSL(*lab.server("someplace.org").endpoints["submissions"].address,
                          context=lab.tls.client_context(), timeout=10) as client:
        assert client.noop()[0] == 250
    assert not jane.errors and not lab.server("someplace.org").errors


def test_a_certificate_proves_a_host_name(lab, trusting):
    """Trusting the CA is not enough: the certificate must name the host the client meant."""
    address = lab.server("somewhereelse.com").endpoints["imaps"].address
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        with trusting.wrap_socket(__import__("socket").create_connection(address, timeout=10),
                                  server_hostname="mail.someplace.org"):
            pass
    with trusting.wrap_socket(__import__("socket").create_connection(address, timeout=10),
                              server_hostname="mail.somewhereelse.com") as tls:
        assert tls.recv(100).startswith(b"* OK")


# -- safe STARTTLS: what came behind it in plain text is never run (CVE-2011-0411) ------------------


def test_smtp_forgets_a_command_pipelined_behind_starttls(lab, trusting):
    with RawSMTP(lab.server("somewhereelse.com").mx.address, timeout=10) as smtp:
        smtp.hello("mail.example.net")
        smtp.send(b"STARTTLS\r\nMAIL FROM:<mallory@evil.example>\r\n")  # one write, one packet
        assert smtp.reply()[0] == 220
        smtp.start_tls(trusting)
        # Had the MAIL FROM run, its reply would come first; the NOOP's comes instead.
        assert smtp.command("NOOP") == (250, ["250 2.0.0 OK"])
        assert smtp.command("RCPT TO:<jane@somewhereelse.com>")[0] == 503  # no transaction was begun
        assert smtp.command("QUIT")[0] == 221
    conn = only_session(lab, "mx")
    smuggled = next(e for e in lab.trace.exchanges(conn) if e.verb == "MAIL")
    assert not smuggled.complete and smuggled.replies == []  # the trace shows it: sent, never answered


def test_pop3_forgets_commands_pipelined_behind_stls(lab, trusting):
    with RawSMTP(lab.server("somewhereelse.com").endpoints["pop3"].address, timeout=10) as pop:
        assert pop.line().startswith("+OK")
        pop.send(f"STLS\r\nUSER {JANE}\r\nPASS {JANE_PASSWORD}\r\n".encode())
        assert pop.line() == "+OK Begin TLS negotiation"
        pop.start_tls(trusting)
        pop.send(b"STAT\r\n")  # logged in only if the smuggled USER and PASS had run
        assert pop.line() == "-ERR STAT is not valid in the AUTHORIZATION state"
        pop.send(b"QUIT\r\n")
        assert pop.line().startswith("+OK")
    conn = only_session(lab, "pop3")
    verbs = [(e.verb, e.complete) for e in lab.trace.exchanges(conn)]
    assert ("USER", False) in verbs and ("PASS", False) in verbs


def test_imap_forgets_commands_pipelined_behind_starttls(lab, trusting):
    with RawSMTP(lab.server("somewhereelse.com").endpoints["imap"].address, timeout=10) as imap:
        assert imap.line().startswith("* OK")
        imap.send(f"a1 STARTTLS\r\na2 LOGIN {JANE} {JANE_PASSWORD}\r\n".encode())
        assert imap.line() == "a1 OK Begin TLS negotiation now"
        imap.start_tls(trusting)
        imap.send(b"a3 SELECT INBOX\r\n")
        assert imap.line() == "a3 BAD SELECT is not valid in the not authenticated state"  # and no a2 reply
        imap.send(b"a4 LOGOUT\r\n")
        assert imap.line().startswith("* BYE")
    conn = only_session(lab, "imap")
    smuggled = next(e for e in lab.trace.exchanges(conn) if e.tag == "a2")
    assert not smuggled.complete


# -- bad input gets proper replies ---------------------------------------------------------------


def test_smtp_starttls_twice_after_auth_in_a_transaction_and_with_an_argument(lab, trusting):
    server = lab.server("someplace.org")
    with RawSMTP(server.submission.address, timeout=10) as smtp:
        smtp.hello()
        assert smtp.command("STARTTLS now")[0] == 501
        assert smtp.command("STARTTLS")[0] == 220
        smtp.start_tls(trusting)
        assert smtp.command("EHLO again")[0] == 250
        assert smtp.command("STARTTLS") == (503, ["503 5.5.1 TLS is already active"])
    with RawSMTP(server.submission.address, timeout=10) as smtp:
        smtp.hello()
        assert smtp.auth_plain(JOE, JOE_PASSWORD)[0] == 235
        assert smtp.command("STARTTLS") == (503, ["503 5.5.1 STARTTLS must come before AUTH"])
    with RawSMTP(lab.server("somewhereelse.com").mx.address, timeout=10) as smtp:
        smtp.hello()
        assert smtp.command("MAIL FROM:<ann@example.net>")[0] == 250
        assert smtp.command("STARTTLS")[1] == ["503 5.5.1 STARTTLS is not allowed in a mail transaction"]
    with smtplib.SMTP_SSL(*server.endpoints["submissions"].address, context=trusting, timeout=10) as client:
        client.ehlo()
        assert client.docmd("STARTTLS") == (503, b"5.5.1 TLS is already active")


def test_pop3_stls_twice_in_transaction_and_on_pop3s(lab, trusting):
    jane = lab.server("somewhereelse.com")
    pop = poplib.POP3(*jane.endpoints["pop3"].address, timeout=10)
    pop.stls(trusting)
    with pytest.raises(poplib.error_proto, match="Command not permitted when TLS active"):
        pop._shortcmd("STLS")
    pop.user(JANE)
    pop.pass_(JANE_PASSWORD)
    with pytest.raises(poplib.error_proto, match="not valid in the TRANSACTION state"):
        pop._shortcmd("STLS")
    pop.quit()
    pop = poplib.POP3_SSL(*jane.endpoints["pop3s"].address, context=trusting, timeout=10)
    with pytest.raises(poplib.error_proto, match="Command not permitted when TLS active"):
        pop._shortcmd("STLS")
    pop.quit()


def test_imap_starttls_twice_after_login_and_on_imaps(lab, trusting):
    jane = lab.server("somewhereelse.com")
    # imaplib's own starttls() refuses a second time, so the command is sent by hand.
    box = imaplib.IMAP4(*jane.endpoints["imap"].address, timeout=10)
    box.starttls(trusting)
    with pytest.raises(imaplib.IMAP4.error, match="TLS is already active"):
        box._simple_command("STARTTLS")
    box.logout()
    with RawSMTP(jane.endpoints["imap"].address, timeout=10) as imap:  # imaplib checks states itself
        imap.line()
        imap.send(f"a1 LOGIN {JANE} {JANE_PASSWORD}\r\na2 STARTTLS\r\n".encode())
        assert imap.line().startswith("a1 OK")
        assert imap.line() == "a2 BAD STARTTLS is not valid in the authenticated state"
    box = imaplib.IMAP4_SSL(*jane.endpoints["imaps"].address, ssl_context=trusting, timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="TLS is already active"):
        box._simple_command("STARTTLS")
    box.logout()


# -- passwords only inside TLS: the switch a lesson turns on --------------------------------------


@pytest.fixture
def strict():
    with Lab.classic(seed=1, limits=Limits(login_requires_tls=True)) as lab:
        yield lab


def test_with_login_requires_tls_submission_offers_auth_only_after_starttls(strict):
    with RawSMTP(strict.server("someplace.org").submission.address, timeout=10) as smtp:
        code, ehlo = smtp.hello()
        assert "250-STARTTLS" in ehlo and not any("AUTH" in line for line in ehlo)
        assert smtp.auth_plain(JOE, JOE_PASSWORD) == (
            538, ["538 5.7.11 Encryption required for requested authentication mechanism"])
        smtp.command("STARTTLS")
        smtp.start_tls(strict.tls.client_context())
        assert any(line.startswith("250-AUTH") for line in smtp.command("EHLO raw-client")[1])
        assert smtp.auth_plain(JOE, JOE_PASSWORD)[0] == 235


def test_with_login_requires_tls_pop3_and_imap_refuse_plain_logins(strict):
    jane, trusting = strict.server("somewhereelse.com"), strict.tls.client_context()
    pop = poplib.POP3(*jane.endpoints["pop3"].address, timeout=10)
    assert "USER" not in pop.capa() and "SASL" not in pop.capa()
    with pytest.raises(poplib.error_proto, match="only inside TLS"):
        pop.user(JANE)
    pop.stls(trusting)
    assert "USER" in pop.capa()
    pop.user(JANE)
    pop.pass_(JANE_PASSWORD)
    pop.quit()
    box = imaplib.IMAP4(*jane.endpoints["imap"].address, timeout=10)
    assert "LOGINDISABLED" in box.capabilities and "AUTH=PLAIN" not in box.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        box.login(JANE, JANE_PASSWORD)
    box.starttls(trusting)
    assert "LOGINDISABLED" not in box.capabilities
    box.login(JANE, JANE_PASSWORD)
    box.logout()


def test_the_lab_own_clients_log_in_over_plain_text_by_default(lab):
    joe = lab.client("joe-laptop")
    joe.compose(JANE, "Plain as ever", "The lessons read this dialogue.")
    joe.send_all()
    assert lab.wait_for_delivery()
    conn = lab.trace.sessions(service="submission")[0]
    assert conn.tls is None and b"MAIL FROM" in recorded(lab, conn)


# -- the relay between servers: none, opportunistic, required; a stripped STARTTLS ------------------


def relay(lab: Lab, subject: str) -> None:
    joe = lab.client("joe-laptop")
    joe.compose(JANE, subject, "Between servers.")
    joe.send_all()


def test_the_relay_uses_starttls_when_offered_and_verifies_the_mx(lab):
    lab.server("someplace.org").relay_tls = "opportunistic"
    relay(lab, "Across in TLS")
    assert lab.wait_for_delivery()
    conn = only_session(lab, "mx")
    assert conn.tls == "starttls" and conn.client == "mail.someplace.org"
    assert_no_secrets(lab, conn, b"MAIL FROM", b"Across in TLS")
    assert any("sent with TLS (TLSv1.3) to mail.somewhereelse.com" in line
               for line in lab.server("someplace.org").queue.log)
    [raw] = [m.as_bytes() for m in lab.server("somewhereelse.com").mailbox("jane")]
    assert b"with ESMTPS" in raw


def test_a_stripped_starttls_sends_in_clear_when_opportunistic(lab):
    sender, receiver = lab.server("someplace.org"), lab.server("somewhereelse.com")
    sender.relay_tls = "opportunistic"
    receiver.faults.strip_starttls = True
    relay(lab, "Downgraded")
    assert lab.wait_for_delivery()
    conn = only_session(lab, "mx")
    assert conn.tls is None
    ehlo = [line for d, line in lab.trace.lines(conn) if d == S2C and line.startswith("250")]
    assert "250-STARTTLS" not in ehlo and "250-SMTPUTF8" in ehlo  # what the client got
    assert b"MAIL FROM:<joe@someplace.org>" in recorded(lab, conn)  # the eavesdropper reads it all
    assert any("sent without TLS: mail.somewhereelse.com did not offer STARTTLS" in line for line in sender.queue.log)


def test_a_stripped_starttls_is_refused_when_required_and_the_mail_waits_then_bounces():
    with Lab.classic(seed=1, retry_intervals=(0.3,), queue_lifetime=2.0, relay_tls="required") as lab:
        sender, receiver = lab.server("someplace.org"), lab.server("somewhereelse.com")
        receiver.faults.strip_starttls = True
        relay(lab, "Only in TLS")
        assert lab.wait_for(lambda: any(i.attempts for i in sender.queue.items.values()))
        [item] = sender.queue.items.values()
        assert item.last_reply[JANE].startswith("4.7.4 TLS is required, but was not offered by mail.somewhereelse.com")
        first = lab.trace.sessions(service="mx")[0]
        sent = recorded(lab, first, C2S)
        assert b"EHLO" in sent and b"MAIL FROM" not in sent and b"QUIT" in sent  # nothing was given away
        assert lab.wait_for_delivery(timeout=10)  # the lifetime ends: it bounces
        assert receiver.mailbox("jane") == []
        [bounce] = sender.mailbox("joe")
        text = bounce.as_string()
        assert "4.4.7" in text and "4.7.4 TLS is required" in text


def test_required_tls_delivers_when_starttls_is_offered(lab):
    lab.server("someplace.org").relay_tls = "required"
    relay(lab, "Required and offered")
    assert lab.wait_for_delivery()
    assert only_session(lab, "mx").tls == "starttls"
    assert len(lab.server("somewhereelse.com").mailbox("jane")) == 1


def test_an_unknown_relay_policy_is_refused(lab):
    from mailcourse import LabError

    with pytest.raises(LabError, match="none, opportunistic, required"):
        lab.server("someplace.org").relay_tls = "maybe"


def test_strip_starttls_removes_the_line_or_blanks_a_last_one():
    assert strip_starttls(b"250-a\r\n250-STARTTLS\r\n250 HELP\r\n") == b"250-a\r\n250 HELP\r\n"
    assert strip_starttls(b"250-a\r\n250 STARTTLS\r\n") == b"250-a\r\n250 XXXXXXXX\r\n"
    assert strip_starttls(b"250-STARTTLSX\r\n") == b"250-STARTTLSX\r\n"


# -- the CA: made when first needed, kept with a kept workspace ------------------------------------


def test_a_lab_that_uses_no_tls_makes_no_ca_and_imports_no_trustme(tmp_path):
    code = ("import sys\nfrom mailcourse import Lab\n"
            f"with Lab.classic(seed=1, workspace={str(tmp_path)!r}) as lab:\n"
            "    joe = lab.client('joe-laptop'); joe.compose('jane@somewhereelse.com', 's', 'b'); joe.send_all()\n"
            "    assert lab.wait_for_delivery()\n"
            "    print('trustme' in sys.modules, 'cryptography' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]
    assert not (tmp_path / "tls").exists()


def test_a_kept_workspace_keeps_its_ca(tmp_path):
    with Lab.classic(workspace=tmp_path) as lab:
        first = lab.tls.ca_pem
        assert b"BEGIN CERTIFICATE" in first and (lab.ca_file.parent / "ca.key").stat().st_mode & 0o077 == 0
    with Lab.classic(workspace=tmp_path) as lab:
        assert lab.tls.ca_pem == first
        context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
        with smtplib.SMTP_SSL(*lab.server("someplace.org").endpoints["submissions"].address, context=context,
                              timeout=10) as client:
            assert client.noop()[0] == 250
