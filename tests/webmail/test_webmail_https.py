"""The webmail over HTTPS: curl verifies it against the lab's CA; the tap records only ciphertext.

``Lab(webmail_https=True)`` gives each server a second webmail endpoint,
"webmails", TLS from the first byte (RFC 9110 section 4.2.2). curl is the
browser here: it logs in and sends a message over TLS. The recorded bytes
hold neither the password nor the form; the lab's keys open them as HTTP.
With ``login_requires_tls`` the plain-HTTP webmail refuses to log anyone in.
"""
from __future__ import annotations

import re
import subprocess
import time

import pytest
from helpers import JANE, JANE_PASSWORD, JOE, program
from webmail_browser import Browser

from mailcourse import Lab, Limits
from mailcourse.protocols.exchanges import CIPHERTEXT, HANDSHAKE
from mailcourse.trace import C2S
from mailcourse.viz import ladder


def curl(lab: Lab, jar, path: str, *options: str) -> subprocess.CompletedProcess[str]:
    """curl to jane's webmail over HTTPS, trusting the lab's CA, keeping cookies in ``jar``."""
    host, port = lab.server("somewhereelse.com").endpoints["webmails"].address
    return subprocess.run([program("curl"), "--silent", "--show-error", "--max-time", "30", "--include",
                           "--cacert", str(lab.ca_file), "--cookie", str(jar), "--cookie-jar", str(jar),
                           *options, f"https://{host}:{port}/{path}"],
                          capture_output=True, text=True, timeout=60)


def log_in(lab: Lab, jar) -> subprocess.CompletedProcess[str]:
    form = curl(lab, jar, "login")
    assert form.returncode == 0, form.stderr
    [csrf] = re.findall(r'name="csrf" value="([^"]+)"', form.stdout)
    return curl(lab, jar, "login", "--data-urlencode", f"username={JANE}",
                "--data-urlencode", f"password={JANE_PASSWORD}", "--data-urlencode", f"csrf={csrf}")


@pytest.fixture
def lab():
    with Lab.classic(seed=1, webmail_https=True) as lab:
        yield lab


def test_curl_logs_in_over_https_and_the_tap_records_only_ciphertext(lab, tmp_path):
    done = log_in(lab, tmp_path / "jar")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("HTTP/1.1 303") and "mailbox/INBOX" in done.stdout
    assert "; Secure" in done.stdout  # the session cookie, set over HTTPS, goes back over HTTPS only
    refused = subprocess.run([program("curl"), "--silent", "--show-error", "--max-time", "30",
                              "https://{}:{}/login".format(*lab.server("somewhereelse.com").endpoints["webmails"].address)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 60, refused.stderr  # no CA given: curl's own verification refuses
    time.sleep(0.3)  # the tap closes the sessions a moment after curl does
    login = lab.trace.sessions(service="webmails")[1]
    assert login.tls == "implicit" and login.protocol == "HTTP"
    events = lab.trace.filter(login, kind="data")
    wire = b"".join(e.data for e in events)
    assert events and all(e.tls for e in events)
    for secret in (JANE_PASSWORD.encode(), b"POST /login", b"username=", b"csrf="):
        assert secret not in wire
    # What an eavesdropper reads: the handshake, then records.
    [exchange] = lab.trace.exchanges(login)
    assert [p.kind for p in exchange.parts][:2] == [HANDSHAKE, CIPHERTEXT]
    # What the endpoints read, with the lab's keys: the request and its answer, the password masked.
    view = lab.tls_view(login)
    assert view.error is None
    sent = view.by_direction()[C2S]
    assert "POST /login HTTP/1.1" in sent
    assert any(line.startswith("username=") and "password=********" in line for line in sent)
    assert JANE_PASSWORD not in "\n".join(line for _, line in view.lines)
    inside = lab.trace.exchanges(login, lab.tls.keylog())
    posts = [e for e in inside if e.request is not None and e.request.method == "POST"]
    assert [e.status for e in posts] == ["303"]
    labels = [a.label for a in ladder(lab.trace, login, keys=True).arrows]
    assert labels[0] == "TLS handshake (TLS 1.3)" and "POST /login (form: username, password, csrf)" in labels
    assert not any("POST" in a.label for a in ladder(lab.trace, login).arrows)


def test_login_requires_tls_refuses_the_plain_http_login_and_takes_the_https_one(tmp_path):
    with Lab.classic(seed=1, webmail_https=True, limits=Limits(login_requires_tls=True)) as lab:
        server = lab.server("somewhereelse.com")
        page = Browser(server.webmail.url).login(JANE, JANE_PASSWORD)
        assert page.status == 403 and "over HTTPS only" in page.text
        jar = tmp_path / "jar"
        assert log_in(lab, jar).stdout.startswith("HTTP/1.1 303")
        # Sending from the webmail: it submits by SMTP, with STARTTLS first, as the server asks.
        compose = curl(lab, jar, "compose")
        csrf = re.findall(r'name="csrf" value="([^"]+)"', compose.stdout)[0]  # the same token in each form
        sent = curl(lab, jar, "send", "--data-urlencode", f"to={JOE}", "--data-urlencode", "subject=Over TLS",
                    "--data-urlencode", "body=Hi Joe.", "--data-urlencode", f"csrf={csrf}")
        assert sent.returncode == 0 and sent.stdout.startswith("HTTP/1.1 303"), sent.stdout[:500]
        assert lab.wait_for(lambda: any(m["Subject"] == "Over TLS" for m in lab.server("someplace.org").mailbox(JOE)))
        [submission] = [c for c in lab.trace.sessions(service="submission")]
        assert submission.tls == "starttls"
