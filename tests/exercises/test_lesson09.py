"""The checks of lesson 09 against a live lab with TLS: each failure message, and the passing case.

The student's code is the standard library's smtplib and imaplib over the lab's
real STARTTLS and implicit-TLS endpoints; the checks read the sessions back
through the lab's key log, and the capture exercise reads a real pcapng file.
"""
from __future__ import annotations

import imaplib
import smtplib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import check_fails

import mailcourse.exercises as check
from mailcourse import Lab, capture, pcapng

JOE, JOE_PASSWORD = "joe@someplace.org", "joe-password"
JANE, JANE_PASSWORD = "jane@somewhereelse.com", "jane-password"
SEALED = "Subject: Sealed\r\n\r\nFor your eyes.\r\n"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=9, relay_tls="opportunistic") as lab:
        yield lab


def _submit(lab: Lab, *, tls: bool = True, login_first: bool = False, text: str = SEALED) -> None:
    with smtplib.SMTP(*lab.endpoint_address(lab.server("someplace.org").submission), timeout=10) as client:
        client.ehlo()
        if login_first:
            client.login(JOE, JOE_PASSWORD)
            assert client.docmd("STARTTLS")[0] == 503  # too late: STARTTLS must come before AUTH
        elif tls:
            client.starttls(context=ssl.create_default_context(cafile=lab.ca_file))
            client.ehlo()
        if not login_first:
            client.login(JOE, JOE_PASSWORD)
        client.sendmail(JOE, [JANE], text)
    time.sleep(0.3)  # the tap closes the session a moment after the client


def test_submitted_over_tls_accepts_starttls_then_login(lab: Lab) -> None:
    start = lab.trace.mark()
    assert "No submission session" in check_fails(check.submitted_over_tls, lab, start)
    _submit(lab, tls=False)
    assert "never said STARTTLS" in check_fails(check.submitted_over_tls, lab, start)
    start = lab.trace.mark()
    _submit(lab, login_first=True)
    assert "before STARTTLS" in check_fails(check.submitted_over_tls, lab, start)
    start = lab.trace.mark()
    _submit(lab, text="Subject: Other\r\n\r\nx\r\n")
    assert "'Sealed'" in check_fails(check.submitted_over_tls, lab, start)
    start = lab.trace.mark()
    _submit(lab)
    check.submitted_over_tls(lab, start)


def _imaps(lab: Lab, context: ssl.SSLContext, *, select: bool = True) -> None:
    address = lab.endpoint_address(lab.server("somewhereelse.com").endpoints["imaps"])
    with imaplib.IMAP4_SSL(*address, ssl_context=context, timeout=10) as box:
        box.login(JANE, JANE_PASSWORD)
        if select:
            box.select("INBOX")
    time.sleep(0.3)


def test_trusted_the_lab_wants_a_verifying_context_and_a_session(lab: Lab) -> None:
    start = lab.trace.mark()
    assert "ssl.SSLContext" in check_fails(check.trusted_the_lab, lab, start, ...)
    careless = ssl.create_default_context(cafile=lab.ca_file)
    careless.check_hostname = False
    careless.verify_mode = ssl.CERT_NONE
    assert "does not check certificates" in check_fails(check.trusted_the_lab, lab, start, careless)
    assert "does not trust the lab's CA" in check_fails(check.trusted_the_lab, lab, start, ssl.create_default_context())
    context = ssl.create_default_context(cafile=lab.ca_file)
    assert "No imaps session" in check_fails(check.trusted_the_lab, lab, start, context)
    _imaps(lab, context, select=False)
    assert "SELECT INBOX" in check_fails(check.trusted_the_lab, lab, start, context)
    _imaps(lab, context)
    check.trusted_the_lab(lab, start, context)


def test_refused_downgrade_wants_the_required_policy(lab: Lab) -> None:
    ours = lab.server("someplace.org")
    assert "'opportunistic'" in check_fails(check.refused_downgrade, lab)
    ours.relay_tls = "none"
    assert "never even tries STARTTLS" in check_fails(check.refused_downgrade, lab)
    ours.relay_tls = "required"
    check.refused_downgrade(lab)


def test_server_name_packets_counts_from_the_file(lab: Lab, tmp_path: Path) -> None:
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as client:
        client.ehlo()
        client.starttls(context=lab.tls.client_context())  # the ClientHello names mail.someplace.org
        client.ehlo()
    time.sleep(0.3)
    [conn] = lab.trace.sessions(service="submission")
    path = tmp_path / "eavesdropper.pcapng"
    lab.trace.to_pcapng(path, connections=[conn], keys=False)
    packets = [n for n, p in enumerate(pcapng.read(path.read_bytes()).packets, start=1)
               if b"mail.someplace.org" in capture.parse_frame(p.data).payload]
    assert len(packets) == 3  # the greeting, the EHLO reply, the ClientHello's server name
    name = "mail.someplace.org"
    assert "list of packet numbers" in check_fails(check.server_name_packets, path, name, ...)
    assert "from 1" in check_fails(check.server_name_packets, path, name, [0] + packets[1:])
    assert "do not carry" in check_fails(check.server_name_packets, path, name, packets + [1])
    assert "1 of the 3 packets" in check_fails(check.server_name_packets, path, name, packets[:1])
    check.server_name_packets(path, name, packets)
