"""The checks of lesson 07 against a live lab: each failure message, and the passing case.

The browser is `WebmailBrowser` on the lab's real webmail; flags are set with
imaplib and mail is fetched with the devices' own POP3 client. The checks
read the trace, ask the webmail over HTTP, and compare with the store.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import check_fails, joe_writes_to_jane

import mailcourse.exercises as check
from mailcourse import Lab
from mailcourse.viz.webmail import WebmailBrowser

JANE, PASSWORD = "jane@somewhereelse.com", "jane-password"
COOKIE = "webmail-somewhereelse.com"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=7) as lab:
        yield lab


# -- 1. the line that hands out the cookie ----------------------------------------------------------


def test_set_cookie_line(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not answered yet" in check_fails(check.set_cookie_line, lab, ...)
    assert "has set a cookie yet" in check_fails(check.set_cookie_line, lab, f"S: Set-Cookie: {COOKIE}=(secret)")
    web = WebmailBrowser(lab, lab.server("somewhereelse.com"))
    web.login(JANE, PASSWORD)
    token = web.cookies[COOKIE]

    check.set_cookie_line(lab, f"S: Set-Cookie: {COOKIE}=(secret); HttpOnly; SameSite=Strict")
    check.set_cookie_line(lab, f" Set-Cookie: {COOKIE}=(secret); HttpOnly; SameSite=Strict ")
    assert capsys.readouterr().out.count("✔ Correct: Set-Cookie gives the browser its session") == 2

    assert "the browser sent it" in check_fails(check.set_cookie_line, lab, f"C: Cookie: {COOKIE}=(secret)")
    assert "sends the cookie *back*" in check_fails(check.set_cookie_line, lab, f"Cookie: {COOKIE}=(secret)")
    assert "status line" in check_fails(check.set_cookie_line, lab, "S: HTTP/1.1 303 See Other")
    assert "request line" in check_fails(check.set_cookie_line, lab, "POST /login HTTP/1.1")
    assert "Location tells" in check_fails(check.set_cookie_line, lab, "S: Location: ./mailbox/INBOX")
    assert "does not carry the cookie" in check_fails(check.set_cookie_line, lab, "S: Content-Type: text/html")
    assert "a header the browser sent" in check_fails(check.set_cookie_line, lab, "User-Agent: anything")
    assert "has a header called 'X-Mail'" in check_fails(check.set_cookie_line, lab, "X-Mail: yes")
    assert "not a header line" in check_fails(check.set_cookie_line, lab, "hello")
    assert "set no cookie called 'session'" in check_fails(check.set_cookie_line, lab, "Set-Cookie: session=(secret)")

    copied = check_fails(check.set_cookie_line, lab, f"Set-Cookie: {COOKIE}={token}; HttpOnly; SameSite=Strict")
    assert "real session token" in copied and token not in copied  # the check never repeats a secret

    web.logout()
    assert "*forget* the cookie" in check_fails(check.set_cookie_line, lab,
                                           f"Set-Cookie: {COOKIE}=; Max-Age=0; HttpOnly; SameSite=Strict")
    web.close()


# -- 2. the missing page ------------------------------------------------------------------------


def _flag(lab: Lab, subject: str) -> None:
    with lab.imap("jane-phone", lab.server("somewhereelse.com").endpoints["imap"]) as box:
        box.login(JANE, PASSWORD)
        box.select("INBOX")
        _, found = box.uid("SEARCH", "SUBJECT", f'"{subject}"')
        assert box.uid("STORE", found[0].decode(), "+FLAGS", r"(\Flagged)")[0] == "OK"


def test_flagged_view(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    webmail = lab.server("somewhereelse.com").webmail
    joe_writes_to_jane(lab, "one", "two", "three")
    assert "no view of yours yet" in check_fails(check.flagged_view, lab)
    webmail.add_view("flagged", "Flagged", lambda mailbox: mailbox.messages("INBOX"))
    assert "no flagged message" in check_fails(check.flagged_view, lab)
    _flag(lab, "two")

    assert "lists every message" in check_fails(check.flagged_view, lab)
    webmail.add_view("flagged", "Flagged", lambda mailbox: [])
    assert "lists no message at all" in check_fails(check.flagged_view, lab)
    webmail.add_view("flagged", "Flagged", lambda mailbox: [m for m in mailbox.messages() if m.subject == "one"])
    assert "lists UID 1, which is not flagged" in check_fails(check.flagged_view, lab)
    webmail.add_view("flagged", "Flagged", lambda mailbox: [m for m in mailbox.messages() if m.subject == "zero"])
    _flag(lab, "three")
    webmail.add_view("flagged", "Flagged", lambda mailbox: [m for m in mailbox.messages() if m.subject == "two"])
    assert "misses UID 3" in check_fails(check.flagged_view, lab)

    def broken(mailbox: object) -> list:
        raise RuntimeError("oops")

    webmail.add_view("flagged", "Flagged", broken)
    assert "did your select function fail?" in check_fails(check.flagged_view, lab)

    webmail.add_view("flagged", "Flagged", lambda mailbox: [m for m in mailbox.messages("INBOX") if m.flagged])
    check.flagged_view(lab)
    assert capsys.readouterr().out.startswith("✔ Correct: the webmail's view 'Flagged' lists exactly the 2")
    webmail.add_view("starred", "Starred", lambda mailbox: [])  # a wrong view beside a right one is fine
    check.flagged_view(lab)


# -- 3. keep the mail for the webmail ----------------------------------------------------------------


def test_kept_for_webmail(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no device called 'jane-office'" in check_fails(check.kept_for_webmail, lab)
    office = lab.add_client(JANE, "jane-office")
    assert "jane's INBOX is empty" in check_fails(check.kept_for_webmail, lab)
    joe_writes_to_jane(lab, "one", "two")
    assert "2 message(s) wait on the server" in check_fails(check.kept_for_webmail, lab)
    office.fetch_pop3()
    assert "deleted them on the server" in check_fails(check.kept_for_webmail, lab)
    joe_writes_to_jane(lab, "three")
    office.fetch_pop3(keep_on_server=True)
    check.kept_for_webmail(lab)
    assert capsys.readouterr().out.startswith("✔ Correct: jane-office has its copies, and the webmail still "
                                              "lists all 1 message(s)")
    laptop = lab.client("jane-laptop")
    laptop.fetch_pop3()  # another device deletes them after the office PC kept them
    assert "another device deleted it since" in check_fails(check.kept_for_webmail, lab)
