"""The lab opens its own TLS sessions: what the eavesdropper sees beside what the endpoints saw.

The servers write their session keys to the lab's key log; `Lab.tls_view`
decrypts the recorded ciphertext with them (`mailcourse.protocols.tls`).
The check is against what the endpoints really said: the replies the
standard library's clients received, and the commands they sent.
"""
from __future__ import annotations

import imaplib
import poplib
import smtplib
import time

from helpers import JANE, JANE_PASSWORD, JOE, JOE_PASSWORD, raw_message

from mailcourse.trace import C2S, S2C


def _session(lab, service):
    time.sleep(0.2)  # the tap closes the session a moment after the client does
    [conn] = lab.trace.sessions(service=service)
    return conn


def test_a_starttls_submission_decrypts_to_the_dialogue_the_client_had(lab):
    server = lab.server("someplace.org")
    with smtplib.SMTP(*server.submission.address, timeout=10) as client:
        client.ehlo()
        client.starttls(context=lab.tls.client_context())
        code, ehlo = client.ehlo()
        client.login(JOE, JOE_PASSWORD)
        refused = client.sendmail(JOE, [JANE], raw_message(JOE, JANE, "Seen by two"))
        code, queued = client.noop()
    assert refused == {}
    view = lab.tls_view(_session(lab, "submission"))
    assert view.error is None
    sent, heard = view.by_direction()[C2S], view.by_direction()[S2C]
    # The endpoints' view: every command in order, the password masked as in every trace view.
    verbs = [line.split()[0].upper() for line in sent if line and line.split()[0].isalpha()]
    at = verbs.index("STARTTLS")
    assert verbs[at - 1] == "EHLO" and verbs[at + 1: at + 5] == ["EHLO", "AUTH", "MAIL", "RCPT"]
    assert any(line.upper().startswith(f"MAIL FROM:<{JOE.upper()}>") for line in sent)
    assert any(line.upper() == f"RCPT TO:<{JANE.upper()}>" for line in sent) and "Subject: Seen by two" in sent
    assert any(line.startswith("AUTH PLAIN ********") for line in sent)
    assert JOE_PASSWORD not in "\n".join(sent)
    # ...and the replies are exactly those smtplib received inside TLS.
    assert [f"250-{line}" for line in ehlo.decode().splitlines()[:-1]] == [
        line for line in heard if line.startswith("250-")][-len(ehlo.decode().splitlines()) + 1:]
    assert any(line.startswith("250 2.0.0 Ok: queued as") for line in heard)
    # The eavesdropper's view: the same until STARTTLS, then only records.
    wire = [line for _, line in view.wire]
    at = wire.index("STARTTLS")
    assert [line for _, line in view.lines][: at + 2] == wire[: at + 2]  # STARTTLS and its 220
    after = wire[at + 2:]
    assert after and all(line.startswith("[") for line in after)
    assert not any("MAIL FROM" in line or "Seen by two" in line for line in after)
    table = view.side_by_side()
    assert table.splitlines()[0].startswith("what an eavesdropper sees")
    assert "TO:<jane@somewhereelse.com>" in table and "(encrypted)" in table


def test_implicit_tls_pop3_and_imap_decrypt_too(lab):
    theirs = lab.server("somewhereelse.com")
    context = lab.tls.client_context()
    lab.server("someplace.org").inject("joe", raw_message(JOE, JANE, "For two views"), [JANE])
    assert lab.wait_for_delivery()
    pop = poplib.POP3_SSL(*theirs.endpoints["pop3s"].address, context=context, timeout=10)
    pop.user(JANE)
    pop.pass_(JANE_PASSWORD)
    listing = pop.list()[1]
    pop.quit()
    imap = imaplib.IMAP4_SSL(*theirs.endpoints["imaps"].address, ssl_context=context, timeout=10)
    imap.login(JANE, JANE_PASSWORD)
    imap.select("INBOX")
    imap.logout()
    for service, said in (("pop3s", "LIST"), ("imaps", "SELECT INBOX")):
        view = lab.tls_view(_session(lab, service))
        assert view.error is None, service
        assert all(line.startswith("[") for _, line in view.wire), service  # ciphertext from the first byte
        lines = view.by_direction()
        assert any(said in line for line in lines[C2S]), (service, lines[C2S])
        assert JANE_PASSWORD not in "\n".join(lines[C2S])
    pop_view = lab.tls_view(_session(lab, "pop3s")).by_direction()[S2C]
    assert [line.decode() for line in listing] == [line for line in pop_view if line[:1].isdigit()]


def test_without_the_key_log_the_view_stops_where_encryption_starts(lab):
    server = lab.server("someplace.org")
    with smtplib.SMTP(*server.submission.address, timeout=10) as client:
        client.starttls(context=lab.tls.client_context())
        client.ehlo()
    conn = _session(lab, "submission")
    view = lab.trace.tls_view(conn, keylog="")
    assert view.error and "no key" in view.error
    said = [line for _, line in view.lines]
    assert said[-1].startswith("220")  # the answer to STARTTLS is the last line anyone can read
    assert said.count("STARTTLS") == 1 and said.index("STARTTLS") == len(said) - 2
