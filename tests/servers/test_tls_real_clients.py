"""Real programs verify the lab's certificates against the CA that ``serve --json`` names.

swaks submits with STARTTLS and with implicit TLS, openssl's s_client does
STARTTLS on the MX, curl reads by POP3 with STLS, by pop3s, by IMAP with
STARTTLS and by imaps; each checks the server's certificate against the lab
CA's file (``"ca"``) and fails if it cannot. A program without that file
refuses the lab's servers by its own verification. Under CI=true a missing
program is a failure (.ci/run installs them); elsewhere the test is skipped.
"""
from __future__ import annotations

import smtplib
import ssl
import subprocess
import uuid

import pytest
from helpers import program

JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"


@pytest.fixture(scope="module")
def ca(served_lab) -> str:
    return served_lab.info["ca"]


@pytest.fixture(scope="module")
def jane_has_mail(served_lab, ca) -> bytes:
    """A message in jane's mailbox, sent by smtplib over STARTTLS, for the readers below."""
    subject = f"For the TLS readers {uuid.uuid4().hex[:8]}"
    with smtplib.SMTP(*served_lab.endpoint("someplace.org", "submission"), timeout=10) as client:
        client.starttls(context=ssl.create_default_context(cafile=ca))
        client.login(JOE, served_lab.password(JOE))
        client.sendmail(JOE, [JANE], f"From: {JOE}\r\nTo: {JANE}\r\nSubject: {subject}\r\n\r\nHi.\r\n")
    served_lab.wait_for_message(JANE, subject.encode())
    return subject.encode()


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([program(command[0]), *command[1:]], capture_output=True, text=True, timeout=60,
                          input="")


def swaks(lab, service: str, *options: str) -> subprocess.CompletedProcess[str]:
    host, port = lab.endpoint("someplace.org", service)
    return run("swaks", "--server", f"{host}:{port}", "--helo", "swaks.test", "--timeout", "20",
               "--from", JOE, "--to", JANE, "--auth", "PLAIN", "--auth-user", JOE,
               "--auth-password", lab.password(JOE), *options)


@pytest.mark.parametrize("service, tls", [("submission", "--tls"), ("submissions", "--tlsc")],
                         ids=["starttls", "implicit"])
def test_swaks_submits_over_verified_tls(served_lab, ca, service, tls):
    subject = f"swaks {tls} {uuid.uuid4().hex[:8]}"
    done = swaks(served_lab, service, tls, "--tls-verify", "--tls-ca-path", ca, "--header", f"Subject: {subject}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TLS started" in done.stdout and "250 2.0.0 Ok: queued as" in done.stdout
    if tls == "--tls":
        assert "-> STARTTLS" in done.stdout
    served_lab.wait_for_message(JANE, subject.encode())


def test_swaks_that_does_not_trust_the_lab_ca_gives_up(served_lab):
    done = swaks(served_lab, "submission", "--tls", "--tls-verify")
    assert done.returncode != 0
    assert "AUTH PLAIN" not in done.stdout  # it never got as far as sending the password
    assert "certificate verify failed" in done.stdout + done.stderr


def test_openssl_s_client_starttls_on_the_mx_verifies_the_host_name(served_lab, ca):
    host, port = served_lab.endpoint("somewhereelse.com", "mx")
    done = run("openssl", "s_client", "-starttls", "smtp", "-verify_return_error", "-CAfile", ca,
               "-verify_hostname", "mail.somewhereelse.com", "-connect", f"{host}:{port}", "-crlf")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verify return code: 0 (ok)" in done.stdout
    assert "subject=" in done.stdout
    wrong = run("openssl", "s_client", "-starttls", "smtp", "-verify_return_error", "-CAfile", ca,
                "-verify_hostname", "mail.someplace.org", "-connect", f"{host}:{port}", "-crlf")
    assert wrong.returncode != 0 and "hostname mismatch" in wrong.stdout + wrong.stderr


def curl(lab, service: str, path: str, *options: str) -> subprocess.CompletedProcess[str]:
    host, port = lab.endpoint("somewhereelse.com", service)
    scheme = {"pop3": "pop3", "pop3s": "pop3s", "imap": "imap", "imaps": "imaps"}[service]
    return run("curl", "--silent", "--show-error", "--max-time", "30", *options,
               f"{scheme}://{host}:{port}/{path}", "--user", f"{JANE}:{lab.password(JANE)}")


@pytest.mark.parametrize("service, options", [("pop3", ["--ssl-reqd"]), ("pop3s", [])], ids=["stls", "pop3s"])
def test_curl_reads_by_pop3_over_verified_tls(served_lab, ca, jane_has_mail, service, options):
    listing = curl(served_lab, service, "", *options, "--cacert", ca)
    assert listing.returncode == 0, listing.stderr
    numbers = [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]
    messages = [curl(served_lab, service, n, *options, "--cacert", ca).stdout for n in numbers]
    assert any(jane_has_mail.decode() in m for m in messages)


@pytest.mark.parametrize("service, options", [("imap", ["--ssl-reqd"]), ("imaps", [])], ids=["starttls", "imaps"])
def test_curl_reads_by_imap_over_verified_tls(served_lab, ca, jane_has_mail, service, options):
    found = curl(served_lab, service, "INBOX", *options, "--cacert", ca, "--request", "UID SEARCH ALL")
    assert found.returncode == 0, found.stderr
    uids = found.stdout.split()[2:]  # "* SEARCH 1 2 3"
    assert uids, found.stdout + found.stderr
    messages = [curl(served_lab, service, f"INBOX;UID={uid}", *options, "--cacert", ca) for uid in uids]
    assert any(jane_has_mail.decode() in m.stdout for m in messages), [(m.returncode, m.stderr) for m in messages]


@pytest.mark.parametrize("service, options", [("pop3", ["--ssl-reqd"]), ("imaps", [])], ids=["pop3-stls", "imaps"])
def test_curl_without_the_lab_ca_refuses_the_server(served_lab, service, options):
    done = curl(served_lab, service, "", *options)
    assert done.returncode == 60, done.stderr  # curl's "peer certificate cannot be authenticated"


# -- the webmail over HTTPS ------------------------------------------------------------------------

def test_curl_opens_the_webmail_over_verified_https_and_without_the_ca_refuses_it(served_lab, ca):
    command = served_lab.info["commands"]["curl webmail https"]
    host, port = served_lab.endpoint("somewhereelse.com", "webmails")
    assert command == f"curl --cacert {ca} https://{host}:{port}/login"
    page = run("curl", "--silent", "--show-error", "--max-time", "30", "--cacert", ca, "--include",
               f"https://{host}:{port}/login")
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith("HTTP/1.1 200") and 'name="password"' in page.stdout
    assert "; Secure" in page.stdout  # a cookie set over HTTPS is sent back over HTTPS only (RFC 6265 4.1.2.5)
    refused = run("curl", "--silent", "--show-error", "--max-time", "30", f"https://{host}:{port}/login")
    assert refused.returncode == 60, refused.stderr  # curl's own verification: an unknown CA
    # The plain-HTTP webmail is still there, the same site (the notebook embeds that one).
    host, port = served_lab.endpoint("somewhereelse.com", "webmail")
    plain = run("curl", "--silent", "--show-error", "--max-time", "30", f"http://{host}:{port}/login")
    assert plain.returncode == 0 and 'name="password"' in plain.stdout


# -- serve --require-tls: passwords only inside TLS, relays only over TLS ---------------------------

@pytest.fixture(scope="module")
def strict_lab(strict_served_lab):
    return strict_served_lab


def test_require_tls_refuses_a_pop3_and_imap_login_in_the_clear_and_takes_it_inside_tls(strict_lab):
    assert strict_lab.info["require_tls"] is True
    ca = strict_lab.info["ca"]
    # curl without --ssl-reqd stays in plain text: the servers refuse the login (curl's 67, login denied).
    for service in ("pop3", "imap"):
        clear = curl(strict_lab, service, "")
        assert clear.returncode == 67, (service, clear.returncode, clear.stderr)
    for service, options in (("pop3", ["--ssl-reqd"]), ("imap", ["--ssl-reqd"]), ("pop3s", []), ("imaps", [])):
        inside = curl(strict_lab, service, "", *options, "--cacert", ca)
        assert inside.returncode == 0, (service, inside.stderr)


def test_require_tls_swaks_without_tls_is_offered_no_auth_and_with_starttls_the_mail_relays_over_tls(strict_lab):
    clear = swaks(strict_lab, "submission")
    assert clear.returncode != 0
    assert "250-STARTTLS" in clear.stdout and "AUTH" not in clear.stdout.replace("advertise authentication", "")
    assert "Host did not advertise authentication" in clear.stdout + clear.stderr  # so it never sent the password
    subject = f"strict {uuid.uuid4().hex[:8]}"
    sent = swaks(strict_lab, "submission", "--tls", "--tls-verify", "--tls-ca-path", strict_lab.info["ca"],
                 "--header", f"Subject: {subject}")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    raw = strict_lab.wait_for_message(JANE, subject.encode())
    # Relayed under the required policy, so with STARTTLS: the MX's Received: line says ESMTPS (RFC 3848).
    assert b"by mail.somewhereelse.com (mailcourse) with ESMTPS id" in raw, raw
