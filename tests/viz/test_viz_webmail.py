"""mailcourse.viz.webmail and mailcourse.clients.browser: the webmail's address, the kernel-side browser, HTTP read back.

The browser tests drive the lab's real webmail over loopback and read the
outcome where it lives: the trace (which device opened what, which
requests crossed) and the server's store (which flags the webmail set).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin
from dataclasses import dataclass

import pytest

from mailcourse import Lab, ports
from mailcourse.trace import C2S, S2C, Trace
from mailcourse.viz.access import (
    ReadingRun,
    compare_reading,
    http_cycles,
    reading_table,
    round_trips,
)
from mailcourse.viz.webmail import (
    SECRET,
    http_transcript,
    scope_css,
    snapshot,
    webmail_url,
)
from mailcourse.clients.browser import Page, WebmailBrowser

JANE, PASSWORD = "jane@somewhereelse.com", "jane-password"


# -- where the student's browser finds the webmail ----------------------------------------------------


@dataclass
class _Endpoint:
    address: tuple[str, int]


def test_on_a_laptop_the_url_goes_through_the_proxy_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # jupyter-server-proxy is a dependency of the course, so it is installed here.
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    assert webmail_url(_Endpoint(("127.0.0.1", 8123)), "login") == "/proxy/8123/login"


def test_without_the_proxy_the_url_is_the_loopback_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    monkeypatch.setattr("mailcourse.viz.webmail.proxy_installed", lambda: False)  # a kernel in an env of its own
    assert webmail_url(_Endpoint(("127.0.0.1", 8123))) == "http://127.0.0.1:8123/"
    assert webmail_url(_Endpoint(("127.0.0.1", 8123)), "/mailbox/INBOX") == "http://127.0.0.1:8123/mailbox/INBOX"


@pytest.mark.parametrize("prefix", ["/user/jane/", "/user/jane"])
def test_on_a_hub_the_url_goes_through_jupyter_server_proxy(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", prefix)
    assert webmail_url(_Endpoint(("127.0.0.1", 8123)), "login") == "/user/jane/proxy/8123/login"
    assert webmail_url(_Endpoint(("127.0.0.1", 8123))) == "/user/jane/proxy/8123/"


# -- pages, parsed and snapshotted (no server needed) ------------------------------------------------------

PAGE = """<!doctype html><html><head><title>Inbox · Webmail</title>
<link rel="stylesheet" href="static/webmail.css"><style>body { color: red } td.subject { font-weight: bold }</style>
<script>alert("hi")</script></head>
<body><nav><a href="INBOX">Inbox</a> <a href="../compose">Write</a></nav>
<form id="logout" method="post" action="../logout"><input type="hidden" name="csrf" value="TOKEN1234567">
<button>Log out</button></form>
<table id="messages"><thead><tr><th>From</th><th>Subject</th><th>Date</th></tr></thead><tbody>
<tr class="message unread" data-uid="3"><td class="from">joe@someplace.org</td>
<td class="subject"><a href="../message/INBOX/3">Lunch   tomorrow</a></td><td class="date">Sun, 29 Nov 2026 00:55:11 GMT</td></tr>
<tr class="message read" data-uid="4"><td>ann@example.org</td><td><a href="../message/INBOX/4">Minutes</a></td><td>today</td></tr>
</tbody></table>
<iframe sandbox src="message/INBOX/3/html"></iframe>
<p>Session SESSIONID-abcdef is yours.</p></body></html>"""


def _page(html: str = PAGE) -> Page:
    return Page(200, "OK", "/mailbox/INBOX", [("Content-Type", "text/html")], html,
                secrets=("TOKEN1234567", "SESSIONID-abcdef"), css="body { margin: 0 } .nav a { color: blue }")


def test_a_page_knows_its_text_links_forms_and_message_rows() -> None:
    page = _page()
    assert page.title == "Inbox · Webmail"
    assert "alert" not in page.text and "color: red" not in page.text
    assert page.text.splitlines()[0] == "Inbox Write"
    assert [link.href for link in page.links][:2] == ["INBOX", "../compose"]
    assert page.form("logout").fields == {"csrf": "TOKEN1234567"}
    assert page.form(action="/logout").id == "logout"
    rows = page.messages
    assert [(r.uid, r.sender, r.subject, r.unread, r.href) for r in rows] == [
        (3, "joe@someplace.org", "Lunch tomorrow", True, "../message/INBOX/3"),
        (4, "ann@example.org", "Minutes", False, "../message/INBOX/4"),  # found by the column headings
    ]


def test_a_snapshot_keeps_the_look_and_drops_every_secret_and_action() -> None:
    shown = snapshot(_page())
    assert "TOKEN1234567" not in shown and "SESSIONID-abcdef" not in shown and SECRET in shown
    assert "<script" not in shown and "alert" not in shown and "<iframe" not in shown
    assert not re.search(r"\s(href|src|action)=", shown)
    assert "disabled" in shown and "Lunch   tomorrow" in shown
    assert "29 Nov 2026" not in shown  # an HTTP date is the clock: masked
    style = re.search(r"<style>(.*?)</style>", shown, re.DOTALL).group(1)
    scope = ".mailcourse-webmail-snapshot .mc-page"
    assert f"{scope} {{margin: 0}}" in style and f"{scope} td.subject" in style
    assert all(line.startswith(scope) for line in style.splitlines())  # nothing leaks out of the box
    assert shown.endswith("Webmail: /mailbox/INBOX  (200 OK)</figcaption></figure>")


def test_scope_css_handles_media_blocks_and_lists_of_selectors() -> None:
    css = "/* c */ html, body { x: 1 } a, .b > i { y: 2 } @media (max-width: 40em) { nav { z: 3 } }"
    assert scope_css(css, ".s") == ".s, .s {x: 1}\n.s a, .s .b > i {y: 2}\n@media (max-width: 40em) {\n.s nav {z: 3}\n}"


# -- HTTP read back from a trace --------------------------------------------------------------------------


def _fake_session(client_bytes: list[bytes], server_bytes: list[bytes]) -> tuple[Trace, object]:
    trace = Trace()
    conn = trace.open("HTTP", "webmail", "mail.example.org", ("127.0.0.1", 40000), lambda _: "jane-laptop")
    for c, s in zip(client_bytes, server_bytes):
        trace.data(conn, C2S, c, len(c))
        trace.data(conn, S2C, s, len(s))
    trace.close(conn)
    return trace, conn


def test_http_exchanges_frame_by_length_and_by_chunks_and_resync_after_a_masked_body() -> None:
    login = (b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: 40\r\n\r\nusername=jane&password=********&csrf=abc")  # 5 bytes shorter than sent
    inbox = b"GET /mailbox/INBOX HTTP/1.1\r\nHost: x\r\nCookie: webmail-x=SECRETTOKEN\r\n\r\n"
    redirect = (b"HTTP/1.1 303 See Other\r\nLocation: mailbox/INBOX\r\nDate: Sun, 29 Nov 2026 00:55:11 GMT\r\n"
                b"Set-Cookie: webmail-x=SECRETTOKEN; HttpOnly; SameSite=Strict\r\nContent-Length: 0\r\n\r\n")
    page = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\n<p>hi\r\n5\r\n</p>\n\r\n0\r\n\r\n")
    trace, conn = _fake_session([login, inbox], [redirect, page])
    found = trace.http_exchanges(conn)
    assert [(e.method, e.target, e.status) for e in found] == [("POST", "/login", 303), ("GET", "/mailbox/INBOX", 200)]
    assert found[1].response.body == b"<p>hi</p>\n"
    text = http_transcript(trace, conn)
    assert "SECRETTOKEN" not in text and "abc" not in text and "2026" not in text
    assert "C: username=jane&password=(secret)&csrf=(secret)" in text
    assert "S: Set-Cookie: webmail-x=(secret); HttpOnly; SameSite=Strict" in text
    assert "C: Cookie: webmail-x=(secret)" in text and "S: Date: (date)" in text
    assert "S: [body: 10 bytes, text/html, chunked]" in text
    assert round_trips(trace, conn) == 2


def test_the_reading_table_and_chart() -> None:
    runs = [ReadingRun("webmail", 2, 8, 30_000, "8 more round trips"), ReadingRun("IMAP", 1, 7, 9_000, "1 session"),
            ReadingRun("POP3", 1, 5, 4_000, "nothing: on the device")]
    table = reading_table(runs).splitlines()
    assert table[0].split() == ["webmail", "IMAP", "POP3"]
    assert table[2].split()[-3:] == ["8", "7", "5"] and "30,000" in table[3]
    chart = compare_reading(runs, title="Reading three messages")
    assert "Round trips: webmail 8, IMAP 7, POP3 5." in repr(chart)
    assert "Round trips (request and answer)" in {text for text, _ in chart.canvas.texts}


# -- the browser, against a real lab --------------------------------------------------------------------


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=7) as lab:
        joe = lab.client("joe-laptop")
        for subject in ("Lunch tomorrow", "Train times"):
            joe.compose(JANE, subject, f"About {subject}.\nJoe")
        joe.send_all()
        assert lab.wait_for_delivery()
        yield lab


def test_the_browser_logs_in_lists_and_reads_as_its_device(lab: Lab) -> None:
    theirs = lab.server("somewhereelse.com")
    start = lab.trace.mark()
    web = WebmailBrowser(lab, theirs, device="jane-laptop")
    login = web.get("login")
    assert login.status == 200 and login.form("login") is not None
    wrong = web.post("login", {"username": JANE, "password": "nope"})
    assert wrong.status == 200 and wrong.element("login-error")  # the form again (RFC 9110 section 15.5.2)
    inbox = web.login(JANE, PASSWORD)
    assert inbox.status == 200 and inbox.redirected_from and inbox.redirected_from[-1][0] == 303
    assert [(r.subject, r.unread) for r in inbox.messages] == [("Train times", True), ("Lunch tomorrow", True)] \
        or [(r.subject, r.unread) for r in inbox.messages] == [("Lunch tomorrow", True), ("Train times", True)]
    message = web.open("Lunch tomorrow")
    assert message.status == 200 and "About Lunch tomorrow." in message.text
    lunch = next(r for r in inbox.messages if r.subject == "Lunch tomorrow")
    flags = {info.uid: info.flags for info in theirs.store.list("jane")}
    assert "\\Seen" in flags[lunch.uid]  # reading on the web marked it read on the server
    assert not any("\\Seen" in f for uid, f in flags.items() if uid != lunch.uid)
    web.close()

    sessions = lab.trace.sessions(protocol="HTTP", since=start)
    assert sessions and {c.client for c in sessions} == {"jane-laptop"}
    # Its sockets are bound before they connect, but never on a port-0 port: those are the
    # ephemeral range's, where a starting kernel's ports come from (mailcourse.ports).
    low = int(ports.EPHEMERAL_RANGE.read_text().split()[0])
    assert all(c.client_addr[1] < low for c in sessions), [c.client_addr for c in sessions]
    assert {c.server for c in sessions} == {"mail.somewhereelse.com"}
    counted = http_cycles(lab, since=start, device="jane-laptop")
    assert counted.cycles == len(web.history) + sum(len(p.redirected_from) for p in web.history)
    assert counted.requests[:2] == ("GET /login -> 200", "POST /login -> 200")
    assert counted.bytes_on_wire == sum(lab.trace.bytes_on_wire(c) for c in sessions)
    everything = "\n".join(http_transcript(lab.trace, c) for c in sessions)
    for secret in [*web._secrets, PASSWORD]:
        assert secret not in everything


def test_a_snapshot_is_the_same_after_logging_in_again(lab: Lab) -> None:
    theirs = lab.server("somewhereelse.com")
    shown = []
    for _ in range(2):
        with WebmailBrowser(lab, theirs) as web:
            web.login(JANE, PASSWORD)
            page = web.get("mailbox/INBOX")
            html = snapshot(page)
            assert page.secrets and not any(secret in html for secret in page.secrets)
            shown.append(html)
            web.logout()
    assert shown[0] == shown[1]


def test_post_sends_the_csrf_token_of_the_page_and_logout_forgets_the_cookie(lab: Lab) -> None:
    web = WebmailBrowser(lab, lab.server("somewhereelse.com"))
    web.login(JANE, PASSWORD)
    logged_in = set(web.cookies.values())
    assert logged_in
    start = lab.trace.mark()
    web.logout()
    # The session is gone; the login page it leads to starts a new, anonymous one (for its CSRF token).
    assert not logged_in & set(web.cookies.values())
    conn = lab.trace.sessions(protocol="HTTP", since=start)
    sent = [e for c in (conn or web.connections[-1:]) for e in lab.trace.http_exchanges(c)]
    posts = [e for e in sent if e.method == "POST"]
    assert posts and b"csrf=" in posts[-1].request.body
    again = web.get("mailbox/INBOX")
    assert again.form("login") is not None  # logged out: the webmail asks for the password again
    web.close()


def test_a_flagged_message_keeps_its_subject_and_still_opens(lab: Lab) -> None:
    web = WebmailBrowser(lab, lab.server("somewhereelse.com"), device="jane-laptop")
    web.login(JANE, PASSWORD)
    message = web.open("Train times")
    form = next(f for f in message.forms if f.action.endswith("/flag"))
    flagged = web.post(urljoin(message.url, form.action), dict(form.fields))  # press "Flag"
    rows = {r.subject: r.flagged for r in web.get("mailbox/INBOX").messages}
    assert rows == {"Train times": True, "Lunch tomorrow": False}, (flagged.status, rows)
    assert "About Train times." in web.open("Train times").text  # the star is not part of the subject
    web.close()
