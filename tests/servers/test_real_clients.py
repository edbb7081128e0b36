"""Real SMTP clients, not Python's, against ``python -m mailcourse serve``.

swaks (the "Swiss Army Knife for SMTP") and curl are what an instructor types
in a terminal; each submits as joe to jane through joe's provider, and the
message must then lie in jane's Maildir with the trace headers a relay adds
(Return-Path:, two Received:) and without the Bcc: header (RFC 6409 section 8).
Under CI=true a missing program is a failure (.ci/run installs both);
elsewhere the test is skipped.
"""
from __future__ import annotations

import subprocess
import uuid

import pytest
from helpers import program

JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"


def swaks(lab, *options: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    host, port = lab.endpoint("someplace.org", "submission")
    auth = [] if password is None else ["--auth-user", JOE, "--auth-password", password]
    return subprocess.run(
        [program("swaks"), "--server", f"{host}:{port}", "--helo", "swaks.test", "--timeout", "20",
         "--from", JOE, "--to", JANE, *auth, *options],
        capture_output=True, text=True, timeout=60)


def assert_delivered_as_relayed_mail(raw: bytes) -> None:
    header = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    assert header.startswith(b"Return-Path: <joe@someplace.org>")
    names = [line.split(b":", 1)[0].lower() for line in header.splitlines() if line[:1] not in (b" ", b"\t")]
    assert names.count(b"received") == 2
    assert b"bcc" not in names


@pytest.mark.parametrize("options", [["--auth", "PLAIN"], ["--auth", "LOGIN"], ["--auth", "PLAIN", "--pipeline"]],
                         ids=["plain", "login", "pipeline"])
def test_swaks_submits_to_jane(served_lab, options):
    subject = f"swaks {' '.join(options)} {uuid.uuid4().hex[:8]}"
    done = swaks(served_lab, *options, "--header", f"Subject: {subject}",
                 "--add-header", "Bcc: secret@somewhereelse.com", password=served_lab.password(JOE))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"AUTH {options[1]}" in done.stdout
    assert "Bcc: secret@somewhereelse.com" in done.stdout  # sent, so its absence below is the server's doing
    assert "250 2.0.0 Ok: queued as" in done.stdout
    if "--pipeline" in options:
        assert "PIPELINING" in done.stdout
    raw = served_lab.wait_for_message(JANE, subject.encode())
    assert_delivered_as_relayed_mail(raw)


def test_curl_submits_to_jane(served_lab, tmp_path):
    host, port = served_lab.endpoint("someplace.org", "submission")
    subject = f"curl {uuid.uuid4().hex[:8]}"
    message = tmp_path / "message.eml"
    message.write_bytes(
        f"From: {JOE}\r\nTo: {JANE}\r\nBcc: secret@somewhereelse.com\r\nSubject: {subject}\r\n\r\n"
        "Sent with curl.\r\n".encode())
    done = subprocess.run(
        [program("curl"), "--silent", "--show-error", "--max-time", "30", f"smtp://{host}:{port}",
         "--mail-from", JOE, "--mail-rcpt", JANE, "--user", f"{JOE}:{served_lab.password(JOE)}",
         "--upload-file", str(message)],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    raw = served_lab.wait_for_message(JANE, subject.encode())
    assert_delivered_as_relayed_mail(raw)


def test_swaks_with_a_wrong_password_gets_535(served_lab):
    done = swaks(served_lab, "--auth", "PLAIN", password="not-the-password")
    assert done.returncode != 0
    assert "535 5.7.8" in done.stdout


def test_swaks_without_auth_gets_530(served_lab):
    done = swaks(served_lab)
    assert done.returncode != 0
    assert "530 5.7.0" in done.stdout
