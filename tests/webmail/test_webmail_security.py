"""The webmail's defences, over real sockets: sessions, CSRF, escaping, sanitizing, paths, limits.

Each test attacks the way a hostile page, a hostile mail or a curious user
would, then checks that the attack got the proper refusal and changed nothing.
"""
from __future__ import annotations

import email.policy
import socket
import urllib.parse
from email.message import EmailMessage

import pytest
from webmail_browser import Browser

from mailcourse import Lab
from mailcourse import Limits
from mailcourse.webmail.sessions import LoginThrottle, SessionTable

JOE = "joe@someplace.org"
JANE, JANE_PASSWORD = "jane@somewhereelse.com", "jane-password"
PAGE_CSP_PARTS = ("default-src 'self'", "frame-src 'self'", "form-action 'self'",
                  "frame-ancestors 'self' http://127.0.0.1:* http://localhost:*")


@pytest.fixture
def server(lab):
    return lab.server("somewhereelse.com")


@pytest.fixture
def jane(server) -> Browser:
    browser = Browser(server.webmail.url)
    assert browser.login(JANE, JANE_PASSWORD).status == 303
    return browser


def deliver(server, msg: EmailMessage) -> int:
    return server.deliver(JANE, JOE, msg.as_bytes(policy=email.policy.SMTP))


def simple(subject: str = "Hello", sender: str = JOE) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, JANE, subject
    msg.set_content("Hello.\n")
    return msg


def inbox_uids(server) -> list[int]:
    return [i.uid for i in server.store.list("jane")]


# -- sessions and CSRF ----------------------------------------------------------------------------

def test_posts_without_the_csrf_token_are_refused_and_change_nothing(jane, server):
    uid = deliver(server, simple())
    for form in ({}, {"csrf": ""}, {"csrf": "not-the-token"}):
        response = jane.post(f"message/INBOX/{uid}/delete", form, csrf=False)
        assert response.status == 403 and response.has_id("error")
        assert jane.post("send", {"to": JOE, "subject": "forged", "body": "x", **form}, csrf=False).status == 403
        assert jane.post(f"message/INBOX/{uid}/move", {"to": "Trash", **form}, csrf=False).status == 403
        assert jane.post("logout", form, csrf=False).status == 403
    assert inbox_uids(server) == [uid]
    assert server.store.list("jane", "Sent") == [] and server.store.list("jane", "Trash") == []
    assert jane.get("mailbox/INBOX").status == 200  # still logged in
    # The login form has a token too (login CSRF).
    fresh = Browser(server.webmail.url)
    fresh.get("login")
    assert fresh.post("login", {"username": JANE, "password": JANE_PASSWORD}, csrf=False).status == 403


def test_no_session_no_mailbox(server):
    uid = deliver(server, simple())
    for cookies in ({}, {"webmail-somewhereelse.com": "forged-token"}):
        stranger = Browser(server.webmail.url)
        stranger.cookies = dict(cookies)
        for path in ("mailbox/INBOX", f"message/INBOX/{uid}", f"message/INBOX/{uid}/raw",
                     f"message/INBOX/{uid}/part/1", "compose", "search?q=Hello", "view/x"):
            response = stranger.get(path)
            assert response.status == 303 and response.location.endswith("login"), path
            assert "Hello" not in response.text
        response = stranger.post(f"message/INBOX/{uid}/delete", {"csrf": "x"}, csrf=False)
        assert response.status == 403
    assert inbox_uids(server) == [uid] and "\\Seen" not in server.store.list("jane")[0].flags
    # An anonymous (pre-login) session with its own valid token is not a login either.
    anonymous = Browser(server.webmail.url)
    anonymous.get("login")
    assert anonymous.post(f"message/INBOX/{uid}/delete").status == 403
    assert inbox_uids(server) == [uid]


def test_get_never_deletes(jane, server):
    uid = deliver(server, simple())
    assert jane.get(f"message/INBOX/{uid}/delete").status == 405
    assert inbox_uids(server) == [uid]


def test_two_webmails_on_one_host_keep_separate_cookies(lab, server):
    # Cookies ignore ports (RFC 6265 section 8.5): one browser, both servers, two cookie names.
    joe_server = lab.server("someplace.org")
    browser = Browser(server.webmail.url)
    assert browser.login(JANE, JANE_PASSWORD).status == 303
    other = Browser(joe_server.webmail.url)
    other.cookies = browser.cookies  # the same cookie store, as in one browser
    assert other.login(JOE, "joe-password").status == 303
    assert set(browser.cookies) == {"webmail-somewhereelse.com", "webmail-someplace.org"}
    assert browser.get("mailbox/INBOX").status == 200 and other.get("mailbox/INBOX").status == 200


def test_idle_sessions_expire_and_the_table_is_bounded():
    now = [1000.0]
    table = SessionTable(idle_timeout=60, max_sessions=3, clock=lambda: now[0])
    session = table.create("jane", JANE, "pw")
    assert len(session.token) >= 43 and session.token != session.csrf
    now[0] += 59
    assert table.get(session.token) is session  # touched: the idle time starts again
    now[0] += 59
    assert table.get(session.token) is session
    now[0] += 61
    assert table.get(session.token) is None
    tokens = [table.create().token for _ in range(5)]
    assert len(table) == 3 and table.get(tokens[0]) is None and table.get(tokens[-1]) is not None


def test_login_throttle_window():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window=60, clock=lambda: now[0])
    for _ in range(5):
        assert throttle.retry_after("jane@x", "1.2.3.4") is None
        throttle.failed("jane@x", "1.2.3.4")
        now[0] += 1
    assert throttle.retry_after("jane@x", "5.6.7.8") == 56  # by user
    assert throttle.retry_after("joe@x", "1.2.3.4") == 56  # by address
    now[0] += 56
    assert throttle.retry_after("jane@x", "1.2.3.4") is None


# -- what every page says to the browser ----------------------------------------------------------------

def test_every_page_has_the_protective_headers(jane, server):
    uid = deliver(server, simple())
    for path in ("mailbox/INBOX", f"message/INBOX/{uid}", "compose", "mailbox/nope", "search?q=a"):
        response = jane.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert all(part in csp for part in PAGE_CSP_PARTS), (path, csp)
        assert "script-src" not in csp and "'unsafe-inline'" not in csp
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert "<script" not in response.text.lower()  # the webmail itself sends no script at all
        assert "<nav id=\"folders\"" in response.text and 'id="search"' in response.text


# -- hostile mail ---------------------------------------------------------------------------------------

def test_hostile_subjects_senders_and_file_names_are_escaped(jane, server):
    msg = simple("<script>alert('subject')</script>", '"<img src=x onerror=alert(1)>" <evil@example.com>')
    msg.add_attachment(b"x", maintype="text", subtype="plain", filename="<script>alert(2)<\\script>.txt")
    uid = deliver(server, msg)
    server.store.create_folder("jane", '<i>"x"')
    pages = [jane.get("mailbox/INBOX"), jane.get(f"message/INBOX/{uid}"), jane.get("search?q=script&in=subject"),
             jane.get(f"compose?reply=INBOX/{uid}"), jane.get(f"message/INBOX/{uid}/headers")]
    for page in pages:
        assert page.status == 200
        assert "<script" not in page.text and "<img" not in page.text and "<i>" not in page.text
    assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;" in pages[0].text
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[0].text
    assert 'href="../mailbox/%3Ci%3E%22x%22"' in pages[0].text
    assert "&lt;i&gt;&#34;x&#34;" in pages[0].text
    download = jane.get(f"message/INBOX/{uid}/part/2")
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="') and "<" not in disposition.split("filename*")[0]
    assert jane.get("mailbox/" + urllib.parse.quote('<i>"x"', safe="")).status == 200


def test_html_mail_is_sanitized_and_served_sandboxed(jane, server):
    msg = simple("Newsletter")
    msg.add_alternative(
        '<html><head><script>steal()</script><style>body{background:url(https://tracker.example/bg)}</style></head>'
        '<body onload="steal()"><h1>News</h1><p>Read <a href="javascript:steal()">this</a> and '
        '<a href="https://example.org/article">that</a>.</p>'
        '<img src="https://tracker.example/pixel.gif?who=jane" onerror="steal()">'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">'
        '<form action="https://phish.example/"><input name="password"></form>'
        '<iframe src="https://evil.example/"></iframe><a href="../../delete">rel</a></body></html>',
        subtype="html")
    uid = deliver(server, msg)
    page = jane.get(f"message/INBOX/{uid}")
    frames = page.find("iframe")
    assert frames == [{"id": "html-body", "sandbox": "", "src": f"{uid}/html", "title": frames[0]["title"]}]
    html = jane.get(f"message/INBOX/{uid}/html")
    assert html.status == 200 and html.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = html.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox")
    assert html.headers["X-Content-Type-Options"] == "nosniff"
    body = html.text.lower()
    for gone in ("<script", "steal()", "onload", "onerror", "javascript:", "tracker.example", "<form",
                 "phish", "<iframe", "evil.example", "../../delete"):
        assert gone not in body, gone
    assert "<h1>news</h1>" in body and 'href="https://example.org/article"' in body
    assert 'src="data:image/png;base64,ivborw0kggo="' in body  # embedded images stay
    assert jane.get(f"message/INBOX/{uid - 0}/html").status == 200
    plain = deliver(server, simple("Plain only"))
    assert jane.get(f"message/INBOX/{plain}/html").status == 404


# -- paths ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "mailbox/..", "mailbox/%2e%2e", "mailbox/%2E%2E", "mailbox/..%2F..%2Fjoe", "mailbox/%2e%2e%2fjoe",
    "mailbox/INBOX%2F..", "mailbox/.Trash", "mailbox/Trash%2f..%2f..", "mailbox/%00", "message/%2e%2e/1",
    "message/..%2FINBOX/1", "message/INBOX/99", "message/INBOX/1%2F..%2F..%2F2", "message/INBOX/-1",
    "message/INBOX/99999999999", "compose?reply=..%2FINBOX%2F1", "compose?forward=INBOX%2F..%2F1",
    "nothing/here",
])
def test_path_escapes_are_not_found(jane, server, path):
    deliver(server, simple())
    response = jane.get(path)
    assert response.status == 404, (path, response.status)
    assert response.has_id("error")
    assert jane.get("mailbox/INBOX").status == 200  # and the server goes on


def test_dot_segments_in_the_raw_request_line_reach_no_other_account(jane, server, lab):
    lab.server("somewhereelse.com").add_user("ann", "ann-password")
    server.deliver("ann@somewhereelse.com", JOE, simple("Ann's secret").as_bytes(policy=email.policy.SMTP))
    for target in ("/mailbox/../../ann/INBOX", "/mailbox/INBOX/../../../ann", "/message/INBOX/../../ann/1"):
        response = jane.request("GET", target, raw_path=True)
        assert "Ann's secret" not in response.text and response.status in (303, 404), target


# -- limits -----------------------------------------------------------------------------------------------

def test_too_many_connections_get_503(server):
    endpoint = server.endpoints["webmail"]
    endpoint.max_connections = 1
    first = socket.create_connection(endpoint.address, timeout=10)
    try:
        first.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        assert first.recv(100).startswith(b"HTTP/1.1 200 OK")  # kept alive: it holds the one place
        second = socket.create_connection(endpoint.address, timeout=10)
        reply = b""
        while chunk := second.recv(1000):
            reply += chunk
        second.close()
        assert reply.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    finally:
        first.close()


def test_request_bodies_larger_than_a_message_are_refused():
    with Lab.classic(seed=2, limits=Limits(max_message_size=20_000)) as lab:
        server = lab.server("somewhereelse.com")
        browser = Browser(server.webmail.url)
        assert browser.login(JANE, JANE_PASSWORD).status == 303
        response = browser.post("send", {"to": JOE, "subject": "big", "body": "x" * 50_000})
        assert response.status == 413 and response.has_id("error")
        assert server.store.list("jane", "Sent") == []
        assert browser.post("send", {"to": JOE, "subject": "small", "body": "x" * 5_000}).status == 303
