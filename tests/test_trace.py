"""The trace: what crossed the wire, with passwords masked in every view.

The tap masks credentials as it records, so the secret never reaches the
trace at all: the tests search the recorded bytes, every event's repr, the
line view and the transcript for the password and for the base64 forms in
which SMTP AUTH carries it (RFC 4954, RFC 4616).
"""
from __future__ import annotations

import re

from helpers import (
    JANE,
    JOE,
    JOE_PASSWORD,
    RawSMTP,
    b64,
    login,
    plain_blob,
    raw_message,
    wait_until,
)

from mailcourse import Lab

SECRETS = [
    JOE_PASSWORD,
    b64(JOE_PASSWORD),
    plain_blob(JOE, JOE_PASSWORD),
    plain_blob(JOE, JOE_PASSWORD, authzid=JOE),
    plain_blob("joe", JOE_PASSWORD),
    "joe-passwrd",  # a wrong password is often a near miss of the right one
    b64("joe-passwrd"),
    plain_blob(JOE, "joe-passwrd"),
]


def every_view(lab: Lab) -> list[str]:
    """Everything a student could look at: raw event bytes, reprs, lines, transcripts."""
    trace = lab.trace
    views = [e.data.decode("utf-8", "replace") for e in trace.events]
    views.append(repr(trace.events))
    views.append(repr(trace.connections))
    for conn in trace.sessions():
        views += [line for _, line in trace.lines(conn)]
        views.append(trace.transcript(conn))
    views.append(trace.transcript())
    views.append(trace.transcript(max_body_lines=1))
    return views


def assert_no_secret(lab: Lab) -> None:
    views = every_view(lab)
    for secret in SECRETS:
        for view in views:
            assert secret not in view, f"{secret!r} visible in the trace: {view[:300]!r}"


def client_lines(lab: Lab, service: str = "submission") -> list[str]:
    conn = lab.trace.sessions(service=service)[-1]
    return [line for d, line in lab.trace.lines(conn) if d == "c2s"]


def test_auth_plain_with_initial_response_is_masked(lab):
    with login(lab):  # smtplib sends AUTH PLAIN <base64> in one line
        pass
    assert any(line.upper().startswith("AUTH PLAIN ********") for line in client_lines(lab))
    assert_no_secret(lab)


def test_auth_plain_after_334_is_masked(lab):
    with RawSMTP(lab.server("someplace.org").submission.address) as s:
        s.hello()
        assert s.command("AUTH PLAIN")[0] == 334
        assert s.command(plain_blob(JOE, JOE_PASSWORD))[0] == 235
    lines = client_lines(lab)
    assert "AUTH PLAIN" in lines and "********" in lines
    assert_no_secret(lab)


def test_auth_plain_with_authzid_is_masked(lab):
    with RawSMTP(lab.server("someplace.org").submission.address) as s:
        s.hello()
        assert s.command(f"auth PLAIN {plain_blob(JOE, JOE_PASSWORD, authzid=JOE)}")[0] == 235
    assert_no_secret(lab)


def test_auth_login_is_masked(lab):
    with RawSMTP(lab.server("someplace.org").submission.address) as s:
        s.hello()
        assert s.command("AUTH LOGIN")[0] == 334
        assert s.command(b64(JOE))[0] == 334
        assert s.command(b64(JOE_PASSWORD))[0] == 235
    assert client_lines(lab)[-3:] == ["AUTH LOGIN", "********", "********"]
    assert_no_secret(lab)


def test_auth_login_with_initial_response_is_masked(lab):
    with lab.smtp("joe-laptop", lab.server("someplace.org").submission) as client:
        client.ehlo("joe-laptop")
        client.user, client.password = JOE, JOE_PASSWORD
        assert client.auth("LOGIN", client.auth_login)[0] == 235  # AUTH LOGIN <user>, 334, <password>
    assert_no_secret(lab)
    # The initial response is masked as AUTH PLAIN's is, although "LOGIN <word>" is also how
    # IMAP's LOGIN begins: the name in base64 is the first half of the credentials.
    assert client_lines(lab)[-3:-1] == ["AUTH LOGIN ********", "********"]


def test_failed_attempts_are_masked_too(lab):
    with RawSMTP(lab.server("someplace.org").submission.address) as s:
        s.hello()
        assert s.command(f"AUTH PLAIN {plain_blob(JOE, 'joe-passwrd')}")[0] == 535
        assert s.command("AUTH LOGIN")[0] == 334
        assert s.command(b64(JOE))[0] == 334
        assert s.command(b64("joe-passwrd"))[0] == 535
        assert s.command("AUTH PLAIN")[0] == 334
        assert s.command(plain_blob(JOE, JOE_PASSWORD))[0] == 235
    assert_no_secret(lab)


def test_auth_response_written_together_with_the_command_is_masked(lab):
    """A client that does not wait for the 334 before sending its response."""
    with RawSMTP(lab.server("someplace.org").submission.address) as s:
        s.hello()
        s.send(f"AUTH PLAIN\r\n{plain_blob(JOE, JOE_PASSWORD)}\r\n")
        assert s.reply()[0] == 334
        assert s.reply()[0] == 235
        assert s.command(f"MAIL FROM:<{JOE}>")[0] == 250
    assert_no_secret(lab)
    assert f"MAIL FROM:<{JOE}>" in client_lines(lab)  # masking stops when AUTH is over


def test_auth_abort_ends_the_masking(lab):
    with RawSMTP(lab.server("someplace.org").submission.address) as s:
        s.hello()
        assert s.command("AUTH LOGIN")[0] == 334
        assert s.command("*")[0] == 501  # the client gives up (RFC 4954 section 4)
        assert s.command("NOOP")[0] == 250
    assert client_lines(lab)[-2:] == ["*", "NOOP"]


def test_body_lines_that_look_like_auth_are_not_masked(lab):
    body = b"AUTH PLAIN abc\r\nAUTH LOGIN\r\nPASS hunter2\r\nUSER joe\r\na1 LOGIN joe secret\r\n"
    with login(lab) as client:
        client.sendmail(JOE, [JANE], raw_message(JOE, JANE, "Looks like AUTH", body=body))
    assert lab.wait_for_delivery()
    for service in ("submission", "mx"):
        lines = client_lines(lab, service)
        for expected in ("AUTH PLAIN abc", "AUTH LOGIN", "PASS hunter2", "a1 LOGIN joe secret"):
            assert expected in lines, (service, expected)
    assert "C: AUTH PLAIN abc" in lab.trace.transcript()
    assert_no_secret(lab)


def test_transcript_shows_the_dialogue(lab):
    with login(lab) as client:
        client.sendmail(JOE, [JANE], raw_message(JOE, JANE, "Transcript", body=b"Hello, Jane.\r\n"))
    submission = lab.trace.sessions(service="submission")[-1]
    assert submission.client == "joe-laptop" and submission.server == "mail.someplace.org"
    text = lab.trace.transcript(submission)
    lines = text.splitlines()
    assert lines[1].startswith("S: 220 mail.someplace.org")
    order = [
        next(i for i, l in enumerate(lines) if l.upper().startswith("C: MAIL FROM:<JOE@SOMEPLACE.ORG>")),
        next(i for i, l in enumerate(lines) if l.startswith("S: 354")),
        lines.index("C: Hello, Jane."),
        lines.index("C: ."),
        next(i for i, l in enumerate(lines) if l.startswith("S: 250 2.0.0 Ok: queued as")),
    ]
    assert order == sorted(order)
    assert lines[-1].startswith("S: 221")


def test_trace_records_sizes_of_what_really_crossed(lab):
    with login(lab):
        pass
    conn = lab.trace.sessions(service="submission")[-1]
    auth = next(e for e in lab.trace.filter(conn, kind="data") if e.data.upper().startswith(b"AUTH"))
    real = f"AUTH PLAIN {plain_blob(JOE, JOE_PASSWORD)}\r\n"
    assert auth.size == len(real)  # the size is the real one; only the shown bytes are masked
    assert auth.data == b"AUTH PLAIN ********\r\n"


def test_subscribers_see_every_event_and_can_leave(lab):
    seen = []
    unsubscribe = lab.trace.subscribe(seen.append)
    with login(lab):
        pass
    wait_until(lambda: any(e.kind == "close" for e in seen), what="the close event")
    unsubscribe()
    count = len(seen)
    assert count and {e.kind for e in seen} >= {"open", "data", "close"}
    with login(lab):
        pass
    assert len(seen) == count


def _imap_exchange(lab: Lab, lines: list[bytes]) -> list[bytes]:
    """Send IMAP client lines one by one on a raw socket, waiting for "+" after a synchronizing literal."""
    import socket

    server = lab.server("someplace.org")
    with socket.create_connection(server.endpoints["imap"].reachable_address(), timeout=5) as s:
        f = s.makefile("rb")
        got = [f.readline()]  # the greeting
        for line in lines:
            s.sendall(line)
            if line.rstrip().endswith(b"}") and not line.rstrip().endswith(b"+}"):
                got.append(f.readline())  # "+ Ready for literal data"
        s.sendall(b"z LOGOUT\r\n")
        got += f.readlines()
    return got


def test_imap_login_with_literals_is_masked(lab):
    # RFC 3501 section 4.3: any string argument may be a literal, the password
    # too; it then crosses on a line of its own, after the server's "+".
    got = _imap_exchange(lab, [b"a LOGIN joe {12}\r\n", JOE_PASSWORD.encode() + b"\r\n",
                               b"b LOGIN {3+}\r\njoe {11+}\r\njoe-passwrd\r\n"])
    assert any(line.startswith(b"a OK") for line in got)  # the first login worked: the test is real
    assert any(line.startswith((b"b BAD", b"b NO")) for line in got)
    assert_no_secret(lab)
    imap_lines = [line for d, line in lab.trace.lines(lab.trace.sessions(protocol="IMAP")[-1]) if d == "c2s"]
    assert imap_lines[:2] == ["a LOGIN joe ********", "********"]  # even the length is hidden
    assert imap_lines[2:5] == ["b LOGIN {3+}", "********", "********"]


# -- HTTP: lines are messages, not bytes cut at line breaks -------------------------------------


def _web_login(lab: Lab):
    """jane logs in to her webmail from her laptop; returns the HTTP session in the trace."""
    from mailcourse.clients.browser import WebmailBrowser

    start = lab.trace.mark()
    with WebmailBrowser(lab, lab.server("somewhereelse.com"), device="jane-laptop") as web:
        assert web.login(JANE, "jane-password").status == 200
    return lab.trace.sessions(protocol="HTTP", since=start)[0]


def test_http_lines_give_each_message_its_start_line_fields_and_one_line_of_body(lab):
    conn = _web_login(lab)
    lines = lab.trace.lines(conn)
    starts = [line for _, line in lines if line.startswith(("GET ", "POST ", "HTTP/1.1 "))]
    assert starts == ["GET /login HTTP/1.1", "HTTP/1.1 200 OK", "POST /login HTTP/1.1", "HTTP/1.1 303 See Other",
                      "GET /mailbox/INBOX HTTP/1.1", "HTTP/1.1 200 OK"]
    # The form body ends without a line break and is shorter than announced (the password is masked):
    # it is a line of its own, and the next request line is whole.
    post = lines.index(("c2s", "POST /login HTTP/1.1"))
    body = lines[lines.index(("c2s", ""), post) + 1]
    assert body[0] == "c2s" and body[1].startswith("username=jane%40somewhereelse.com&password=********&csrf=")
    assert "GET" not in body[1]
    pages = [line for d, line in lines if d == "s2c" and line.startswith("[body:")]
    assert len(pages) == 2 and all(re.fullmatch(r"\[body: [\d,]+ bytes, text/html\]", p) for p in pages)
    transcript = lab.trace.transcript(conn)
    assert "C: GET /mailbox/INBOX HTTP/1.1" in transcript and "<html" not in transcript.lower()
    assert "jane-password" not in transcript


def test_http_exchanges_pair_requests_and_responses(lab):
    conn = _web_login(lab)
    found = lab.trace.http_exchanges(conn)
    assert [(e.method, e.target, e.status) for e in found] == [
        ("GET", "/login", 200), ("POST", "/login", 303), ("GET", "/mailbox/INBOX", 200)]
    assert b"password=********" in found[1].request.body  # masked as recorded, never the real one
    recorded = sum(len(e.data) for e in lab.trace.filter(conn, kind="data"))
    assert sum(e.request.size + e.response.size for e in found) == recorded  # every byte in one message
