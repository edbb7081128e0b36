"""The webmail over real sockets: logging in, lists, reading, writing, folders, search, add_view.

Every request goes over a TCP connection to the lab's webmail endpoint, through
its tap (see tests/webmail_browser.py for the little browser). What is checked
is what a user or another mail program would see: pages, status codes and
headers, the store, IMAP's flags, the mail that arrives at the other domain,
the lab's trace.
"""
from __future__ import annotations

import email.policy
import email.utils
import http.cookiejar
import os
import re
import urllib.parse
import urllib.request
from email.message import EmailMessage

import pytest
from webmail_browser import Browser, PrefixProxy, is_relative

from mailcourse.webmail import MailboxView, Summary

JOE = "joe@someplace.org"
JANE, JANE_PASSWORD = "jane@somewhereelse.com", "jane-password"


def message(subject: str, body: str = "Hello Jane.\n", sender: str = JOE, *, html: str | None = None,
            attachments: list[tuple[bytes, str, str, str]] = (), message_id: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = JANE
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = message_id or email.utils.make_msgid(domain="someplace.org")
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for data, maintype, subtype, filename in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=email.policy.SMTP)


@pytest.fixture
def server(lab):
    return lab.server("somewhereelse.com")


@pytest.fixture
def deliver(server):
    """Put a message into jane's INBOX (as SMTP's final delivery does); returns its UID."""
    def deliver(subject: str, body: str = "Hello Jane.\n", **kwargs) -> int:
        return server.deliver(JANE, kwargs.get("sender", JOE), message(subject, body, **kwargs))
    return deliver


@pytest.fixture
def browser(server) -> Browser:
    return Browser(server.webmail.url)


@pytest.fixture
def jane(browser) -> Browser:
    """A browser where jane is logged in."""
    assert browser.login(JANE, JANE_PASSWORD).status == 303
    return browser


def flags(server, uid: int, folder: str = "INBOX") -> frozenset[str]:
    return next(i.flags for i in server.store.list("jane", folder) if i.uid == uid)


def uids(server, folder: str = "INBOX") -> list[int]:
    return [i.uid for i in server.store.list("jane", folder)]


# -- logging in ------------------------------------------------------------------------------

def test_login_form_names_the_server_and_sets_a_safe_cookie(browser):
    page = browser.get("login")
    assert page.status == 200
    assert "<title>Log in – mail.somewhereelse.com webmail</title>" in page.text
    assert "<h1>mail.somewhereelse.com webmail</h1>" in page.text
    assert page.find("form", id="login", method="post")
    assert page.find("input", name="username") and page.find("input", name="password", type="password")
    assert page.find("input", type="hidden", name="csrf")[0]["value"]
    cookie = browser.set_cookies[-1]
    name, _, value = cookie.partition(";")[0].partition("=")
    assert name == "webmail-somewhereelse.com" and len(value) >= 43  # 32 random bytes in base64
    attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert "httponly" in attributes and "samesite=strict" in attributes
    assert not any(a.startswith(("path", "expires", "max-age", "domain")) for a in attributes)


def test_login_right_password_gets_a_new_session_and_the_inbox(browser):
    browser.get("login")
    anonymous = browser.cookies["webmail-somewhereelse.com"]
    response = browser.post("login", {"username": JANE, "password": JANE_PASSWORD})
    assert response.status == 303
    assert response.location == "./mailbox/INBOX"
    assert browser.cookies["webmail-somewhereelse.com"] != anonymous  # no session fixation
    inbox = browser.get("mailbox/INBOX")
    assert inbox.status == 200 and inbox.has_id("messages") and inbox.has_id("folders")
    assert JANE in inbox.text
    # A login also accepts the local part alone, as SMTP, POP3 and IMAP do.
    assert Browser(browser_url(browser)).login("jane", JANE_PASSWORD).status == 303


def browser_url(browser: Browser) -> str:
    return f"http://{browser.host}:{browser.port}{browser.prefix}/"


def test_wrong_password_shows_the_form_again(browser):
    response = browser.login(JANE, "not-her-password")
    # 200 and the form, not 401: a 401 must carry WWW-Authenticate (RFC 9110 section 15.5.2).
    assert response.status == 200 and "WWW-Authenticate" not in response.headers
    assert response.has_id("login-error") and "Wrong user name or password" in response.text
    assert response.find("form", id="login")
    assert browser.get("mailbox/INBOX").status == 303  # still not logged in


def test_five_failures_then_429_with_retry_after(browser, server):
    for _ in range(5):
        assert browser.login(JANE, "guess").status == 200
    blocked = browser.login(JANE, JANE_PASSWORD)  # even the right password: not checked now
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.has_id("login-error") and "Too many failed logins" in blocked.text
    # One client address, many users: the address is throttled too.
    assert Browser(server.webmail.url).login("somebody-else", "guess").status == 429


def test_logout_ends_the_session(jane):
    old = dict(jane.cookies)
    response = jane.post("logout")
    assert response.status == 303 and response.location == "./login"
    assert "max-age=0" in jane.set_cookies[-1].lower()
    assert jane.get("mailbox/INBOX").status == 303
    jane.cookies = old  # the old token is dead on the server too
    assert jane.get("mailbox/INBOX").status == 303


# -- lists -------------------------------------------------------------------------------------

def test_list_is_newest_first_25_a_page_with_unread_counts(jane, deliver, server):
    for n in range(30):
        deliver(f"Message number {n + 1}")
    first = jane.get("mailbox/INBOX")
    rows = first.rows()
    assert [uid for uid, _ in rows] == list(range(30, 5, -1))
    assert all(cls == "message unread" for _, cls in rows)
    assert "Message number 30" in first.text and "Message number 5<" not in first.text
    assert first.find("a", href="?page=2")
    assert re.search(r'href="\.\./mailbox/INBOX">INBOX</a> <span class="unread-count">30</span>', first.text)
    second = jane.get("mailbox/INBOX?page=2")
    assert [uid for uid, _ in second.rows()] == [5, 4, 3, 2, 1]
    assert second.find("a", href="?page=1")
    assert jane.get("mailbox/INBOX?page=99").rows() == second.rows()  # past the end: the last page
    # Each row: sender, a link to the message, a date.
    assert first.find("a", href="../message/INBOX/30")
    assert "joe@someplace.org" in first.text
    for folder in ("Sent", "Drafts", "Trash"):  # made at login, as IMAP does
        assert first.find("a", href=f"../mailbox/{folder}")


def test_reading_sets_seen_in_the_store_and_in_imap(jane, deliver, server, lab):
    uid = deliver("Read me", "The text of the message.\nSecond line <b>not bold</b>.\n")
    page = jane.get(f"message/INBOX/{uid}")
    assert page.status == 200
    assert '<pre id="body">The text of the message.\nSecond line &lt;b&gt;not bold&lt;/b&gt;.\n</pre>' in page.text
    assert "\\Seen" in flags(server, uid)
    imap = lab.imap("jane-laptop", server.endpoints["imap"])
    try:
        imap.login(JANE, JANE_PASSWORD)
        imap.select("INBOX", readonly=True)
        _, data = imap.uid("FETCH", str(uid), "(FLAGS)")
        assert b"\\Seen" in data[0]
    finally:
        imap.logout()
    assert jane.get("mailbox/INBOX").rows() == [(uid, "message read")]


def test_pop3_download_with_delete_empties_the_webmail_list(jane, deliver, lab):
    deliver("Fetch me")
    assert len(jane.get("mailbox/INBOX").rows()) == 1
    result = lab.client("jane-laptop").fetch_pop3()  # the classic offline model: delete on the server
    assert result.deleted == 1
    assert jane.get("mailbox/INBOX").rows() == []  # online access sees what is on the server: nothing


# -- writing -----------------------------------------------------------------------------------

def test_send_goes_by_smtp_submission_and_arrives_at_the_other_domain(jane, server, lab):
    mark = lab.trace.mark()
    jane.get("compose")
    response = jane.post("send", {"to": JOE, "cc": "", "subject": "Sent from the web", "body": "Hi Joe,\r\nby HTTP.\r\n"})
    assert response.status == 303 and response.location == "./mailbox/INBOX"
    assert "Message sent to joe@someplace.org" in jane.get("mailbox/INBOX").text
    assert lab.wait_for_delivery()
    joes = lab.server("someplace.org").mailbox(JOE)
    assert [m["Subject"] for m in joes] == ["Sent from the web"]
    assert joes[0].get_content() == "Hi Joe,\nby HTTP.\n"
    assert joes[0]["From"] == JANE and joes[0]["User-Agent"] == "mailcourse webmail"
    # The trace: the browser's HTTP sessions and the webmail's own SMTP submission session.
    smtp = [c for c in lab.trace.sessions(protocol="SMTP", since=mark) if c.client == "webmail.somewhereelse.com"]
    assert len(smtp) == 1 and smtp[0].service == "submission"
    transcript = lab.trace.transcript(smtp[0])
    assert "AUTH PLAIN ********" in transcript and "MAIL FROM:<jane@somewhereelse.com>" in transcript
    http_sessions = lab.trace.sessions(protocol="HTTP", service="webmail", since=mark)
    assert any("POST /send HTTP/1.1" in lab.trace.transcript(c) for c in http_sessions)
    # A copy in Sent, already read.
    sent = server.store.list("jane", "Sent")
    assert len(sent) == 1 and "\\Seen" in sent[0].flags
    assert b"Subject: Sent from the web" in server.store.get("jane", sent[0].uid, "Sent")


def test_a_refused_recipient_gets_a_clear_page_and_nothing_is_saved(jane, server):
    jane.get("compose")
    response = jane.post("send", {"to": "nobody@somewhereelse.com", "subject": "Lost", "body": "?"})
    assert response.status == 422
    assert response.has_id("send-error")
    assert "nobody@somewhereelse.com" in response.text and "550 5.1.1" in response.text
    assert response.find("input", name="subject", value="Lost")  # the form keeps what was typed
    assert server.store.list("jane", "Sent") == []
    assert jane.post("send", {"to": "", "subject": "x", "body": "y"}).status == 422


def test_reply_and_forward_are_prefilled_and_thread(jane, deliver, server, lab):
    uid = deliver("Lunch?", "Shall we have lunch?\nAt noon.\n", message_id="<lunch-1@someplace.org>")
    reply = jane.get(f"compose?reply=INBOX/{uid}")
    assert reply.status == 200
    assert reply.find("input", name="to", value=JOE)
    assert reply.find("input", name="subject", value="Re: Lunch?")
    assert reply.find("input", name="reply", value=f"INBOX/{uid}")
    assert "&gt; Shall we have lunch?\n&gt; At noon." in reply.text
    assert "joe@someplace.org wrote:" in reply.text
    sent = jane.post("send", {"to": JOE, "subject": "Re: Lunch?", "body": "Yes!", "reply": f"INBOX/{uid}"})
    assert sent.status == 303
    assert lab.wait_for_delivery()
    answer = lab.server("someplace.org").mailbox(JOE)[-1]
    assert answer["In-Reply-To"] == "<lunch-1@someplace.org>"
    assert answer["References"] == "<lunch-1@someplace.org>"
    assert "\\Answered" in flags(server, uid)

    forward = jane.get(f"compose?forward=INBOX/{uid}")
    assert forward.find("input", name="subject", value="Fwd: Lunch?")
    assert forward.find("input", name="to", value="")
    assert "---------- Forwarded message ----------" in forward.text and "Shall we have lunch?" in forward.text
    assert jane.get("compose?reply=INBOX/999").status == 404
    assert jane.get("compose?reply=../INBOX/1").status == 404


# -- attachments, headers, raw -------------------------------------------------------------------------

def test_attachments_are_listed_and_download_byte_exact_with_safe_headers(jane, deliver):
    blob = os.urandom(3000) + b"\r\n\x00\xff"
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(100)
    uid = deliver("Files", attachments=[(blob, "application", "x-msdownload", "setup.exe"),
                                        (png, "image", "png", "photo.png"),
                                        (b"notes\n", "text", "plain", "../../etc/passwd")])
    page = jane.get(f"message/INBOX/{uid}")
    items = page.find("li", class_="attachment")
    assert [i["data-part"] for i in items] == ["2", "3", "4"]  # part 1 is the text
    assert "setup.exe" in page.text and "application/x-msdownload" in page.text and "3004 bytes" in page.text

    exe = jane.get(f"message/INBOX/{uid}/part/2")
    assert exe.status == 200 and exe.body == blob
    assert exe.headers["Content-Type"] == "application/octet-stream"  # never run by the browser
    assert exe.headers["Content-Disposition"] == "attachment; filename=\"setup.exe\"; filename*=UTF-8''setup.exe"
    assert exe.headers["X-Content-Type-Options"] == "nosniff"

    image = jane.get(f"message/INBOX/{uid}/part/3")
    assert image.body == png and image.headers["Content-Type"] == "image/png"
    assert image.headers["Content-Disposition"].startswith("attachment;")

    notes = jane.get(f"message/INBOX/{uid}/part/4")
    assert notes.body == b"notes\n"
    assert 'filename="passwd"' in notes.headers["Content-Disposition"]  # no directories
    assert jane.get(f"message/INBOX/{uid}/part/1").status == 404  # the text is not an attachment
    assert jane.get(f"message/INBOX/{uid}/part/9").status == 404


def test_headers_and_raw_source_views(jane, deliver, server):
    uid = deliver("Show me <everything>")
    raw = server.store.get("jane", uid)
    source = jane.get(f"message/INBOX/{uid}/raw")
    assert source.status == 200 and source.body == raw
    assert source.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert source.headers["X-Content-Type-Options"] == "nosniff"
    headers = jane.get(f"message/INBOX/{uid}/headers")
    assert headers.status == 200 and headers.has_id("headers")
    assert "Return-Path: &lt;joe@someplace.org&gt;" in headers.text
    assert "Subject: Show me &lt;everything&gt;" in headers.text
    assert "\\Seen" not in flags(server, uid)  # looking at the header or source is not reading it


# -- folders -----------------------------------------------------------------------------------

def test_delete_moves_to_trash_and_deleting_in_trash_expunges(jane, deliver, server):
    uid = deliver("Delete me")
    jane.get(f"message/INBOX/{uid}")
    response = jane.post(f"message/INBOX/{uid}/delete")
    assert response.status == 303 and response.location == "../../../mailbox/INBOX"
    assert uids(server) == []
    trash = uids(server, "Trash")
    assert len(trash) == 1
    assert "moved to Trash" in jane.get("mailbox/INBOX").text
    assert jane.get("mailbox/Trash").rows() == [(trash[0], "message read")]
    assert jane.post(f"message/Trash/{trash[0]}/delete").status == 303
    assert uids(server, "Trash") == []


def test_move_to_another_folder_and_flag(jane, deliver, server):
    server.store.create_folder("jane", "Archive")
    uid = deliver("Keep me")
    page = jane.get(f"message/INBOX/{uid}")
    assert page.find("option", value="Archive")
    assert jane.post(f"message/INBOX/{uid}/move", {"to": "Nowhere"}).status == 404
    assert jane.post(f"message/INBOX/{uid}/move", {"to": "../joe"}).status == 404
    assert uids(server) == [uid]
    assert jane.post(f"message/INBOX/{uid}/move", {"to": "Archive"}).status == 303
    assert uids(server) == [] and len(uids(server, "Archive")) == 1
    moved = uids(server, "Archive")[0]
    assert jane.post(f"message/Archive/{moved}/flag", {"flagged": "1"}).status == 303
    assert "\\Flagged" in flags(server, moved, "Archive")
    assert jane.post(f"message/Archive/{moved}/flag", {"flagged": "0"}).status == 303
    assert "\\Flagged" not in flags(server, moved, "Archive")


# -- search -----------------------------------------------------------------------------------

def test_search_by_sender_subject_and_body_on_decoded_text(jane, deliver):
    a = deliver("Quarterly report", "Numbers inside.\n")
    b = deliver("Grüße aus Köln", "Der Dom ist schön.\n", sender="Ann Example <ann@example.net>")  # RFC 2047, base64/QP
    c = deliver("Hello", "Let's meet at the café.\n")

    def found(q: str, where: str = "all", folder: str = "") -> list[int]:
        query = urllib.parse.urlencode({"q": q, "in": where, "folder": folder})
        return [uid for uid, _ in jane.get(f"search?{query}").rows()]

    assert found("ann@example", "from") == [b]
    assert found("Ann Example", "from") == [b]
    assert found("köln", "subject") == [b]
    assert found("report", "subject") == [a]
    assert found("CAFÉ", "body") == [c]
    assert found("report", "body") == []
    assert found("schön") == [b]
    assert found("numbers", "all", "INBOX") == [a]
    assert found("numbers", "all", "Trash") == []
    assert jane.get("search?q=x&folder=..").status == 404


# -- the extension hook ------------------------------------------------------------------------------

def test_add_view_adds_a_page_and_a_link(jane, deliver, server):
    assert jane.get("view/flagged").status == 404
    assert "add_view" in jane.get("view/flagged").text
    first, second = deliver("Important"), deliver("Not important")
    jane.post(f"message/INBOX/{first}/flag", {"flagged": "1"})

    def flagged(mailbox: MailboxView) -> list[Summary]:
        return [m for m in mailbox.messages("INBOX") if m.flagged]

    assert server.webmail.add_view("flagged", "Flagged", flagged) == "view/flagged"
    inbox = jane.get("mailbox/INBOX")
    assert inbox.find("a", href="../view/flagged")
    page = jane.get("view/flagged")
    assert page.status == 200 and "<h2>Flagged</h2>" in page.text
    assert page.rows() == [(first, "message unread")]
    assert second not in [uid for uid, _ in page.rows()]
    # The summaries a selection sees.
    summaries = server.webmail.mailbox("jane").messages()
    assert [(s.uid, s.subject, s.folder, s.flagged) for s in summaries] == [
        (second, "Not important", "INBOX", False), (first, "Important", "INBOX", True)]
    # A failing selection is shown, and the server keeps serving.
    server.webmail.add_view("broken", "Broken", lambda mailbox: 1 / 0)
    broken = jane.get("view/broken")
    assert broken.status == 500 and "ZeroDivisionError" in broken.text
    with pytest.raises(ValueError):
        server.webmail.add_view("../x", "Bad", flagged)
    server.webmail.remove_view("flagged")
    assert jane.get("view/flagged").status == 404


# -- the trace ------------------------------------------------------------------------------------

def test_http_sessions_are_in_the_trace_without_the_password(jane, lab):
    sessions = lab.trace.sessions(protocol="HTTP", service="webmail")
    assert sessions and all(c.server == "mail.somewhereelse.com" for c in sessions)
    text = lab.trace.transcript(sessions)
    assert "C: GET /login HTTP/1.1" in text and "S: HTTP/1.1 303 See Other" in text
    assert "password=********" in text and JANE_PASSWORD not in text
    jane.get("mailbox/INBOX")
    last = lab.trace.transcript(lab.trace.sessions(protocol="HTTP")[-1])
    assert "C: GET /mailbox/INBOX HTTP/1.1" in last and "S: HTTP/1.1 200 OK" in last


def test_the_style_sheet_is_small_cached_and_public(browser):
    css = browser.get("static/webmail.css")
    assert css.status == 200 and css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert "max-age" in css.headers["Cache-Control"] and len(css.body) < 8000
    again = browser.get("static/webmail.css", headers={"If-None-Match": css.headers["ETag"]})
    assert again.status == 304 and again.body == b""


# -- under a path prefix, as jupyter-server-proxy serves it ------------------------------------------

def test_every_link_form_and_redirect_is_relative(jane, deliver):
    uid = deliver("Links", html="<p>hi</p>", attachments=[(b"x", "application", "pdf", "a.pdf")])
    pages = [jane.get(p) for p in ("mailbox/INBOX", f"message/INBOX/{uid}", f"message/INBOX/{uid}/headers",
                                   "compose", f"compose?reply=INBOX/{uid}", "search?q=links", "mailbox/Nope",
                                   "mailbox/INBOX?page=2")]
    pages.append(Browser(browser_url(jane)).get("login"))
    checked = 0
    for page in pages:
        for tag, attribute, value in page.links():
            assert is_relative(value) or value == "data:,", (tag, attribute, value)
            checked += 1
    assert checked > 40
    redirects = [jane.post(f"message/INBOX/{uid}/flag", {"flagged": "1"}), Browser(browser_url(jane)).get("mailbox/x")]
    assert all(r.status == 303 and is_relative(r.location) for r in redirects)


def test_the_webmail_works_under_a_proxy_prefix_with_a_real_cookie_jar(server, deliver):
    uid = deliver("Through the proxy", html="<p>Hello <b>Jane</b></p>")
    proxy = PrefixProxy(server.endpoints["webmail"].port, f"/user/jane/proxy/{server.endpoints['webmail'].port}")
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login = opener.open(proxy.url + "login").read().decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
        action = re.search(r'<form id="login" action="([^"]+)"', login).group(1)
        form = urllib.parse.urlencode({"username": JANE, "password": JANE_PASSWORD, "csrf": csrf}).encode()
        inbox = opener.open(urllib.parse.urljoin(proxy.url + "login", action), form)  # follows the 303
        assert inbox.url == proxy.url + "mailbox/INBOX"
        page = inbox.read().decode()
        assert "Through the proxy" in page
        # The browser scoped the cookie to the prefix (no Path: the default path of /.../login).
        assert [c.path for c in jar] == [proxy.prefix]
        for href in re.findall(r'href="([^"]+)"', page):
            if href.startswith("data:"):
                continue
            target = urllib.parse.urljoin(inbox.url, href.replace("&amp;", "&"))
            assert target.startswith(proxy.url), target
            assert opener.open(target).status == 200
        message_url = urllib.parse.urljoin(inbox.url, f"../message/INBOX/{uid}")
        src = re.search(r'<iframe id="html-body" sandbox="" src="([^"]+)"', opener.open(message_url).read().decode())
        html = opener.open(urllib.parse.urljoin(message_url, src.group(1)))
        assert html.url == f"{proxy.url}message/INBOX/{uid}/html" and b"Hello <b>Jane</b>" in html.read()
    finally:
        proxy.close()
