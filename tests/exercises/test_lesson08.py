"""The checks of lesson 08 against a live lab: each failure message, and the passing case.

The student's own HTTP is http.client on the lab's real webmail, the lesson's
browser `WebmailBrowser`; flags are set with imaplib and mail is fetched with
poplib as a device. The checks read the trace, ask the webmail over HTTP, and
compare with the store.
"""
from __future__ import annotations

import http.client
import re
import urllib.parse
from collections.abc import Iterator

import pytest
from helpers import check_fails, joe_writes_to_jane

import mailcourse.exercises as check
from mailcourse import Lab
from mailcourse.viz.webmail import WebmailBrowser

JANE, PASSWORD = "jane@somewhereelse.com", "jane-password"
OFFICE = "jane-office"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab.classic(seed=7) as lab:
        yield lab


# -- 1. log in by hand ----------------------------------------------------------------------------

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def _by_hand(lab: Lab, *, cookie: bool = True, csrf: bool = True, password: str = PASSWORD,
             form: bool = True, inbox: str | None = "new") -> None:
    """What a student's http.client code does: GET /login, POST /login, GET /mailbox/INBOX, each step optional."""
    conn = http.client.HTTPConnection(*lab.endpoint_address(lab.server("somewhereelse.com").endpoints["webmail"]))
    conn.request("GET", "/login")
    answer = conn.getresponse()
    anonymous = answer.getheader("Set-Cookie").split(";")[0]
    token = CSRF_FIELD.search(answer.read().decode()).group(1)
    fields = {"username": JANE, "password": password} | ({"csrf": token} if csrf else {})
    headers = {"Content-Type": "application/x-www-form-urlencoded" if form else "text/plain"}
    if cookie:
        headers["Cookie"] = anonymous
    conn.request("POST", "/login", body=urllib.parse.urlencode(fields), headers=headers)
    answer = conn.getresponse()
    answer.read()
    logged_in = (answer.getheader("Set-Cookie") or "").split(";")[0]
    if inbox is not None:
        sent = {"new": {"Cookie": logged_in}, "old": {"Cookie": anonymous}, "none": {}}[inbox]
        conn.request("GET", "/mailbox/INBOX", headers=sent)
        conn.getresponse().read()
    conn.close()


def test_logged_in_by_hand(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    web = WebmailBrowser(lab, lab.server("somewhereelse.com"))
    web.login(JANE, PASSWORD)  # the lesson's browser is not the student's own code
    assert "no HTTP request of your own yet (the ones in it come from browsers)" in check_fails(
        check.logged_in_by_hand, lab)
    _by_hand(lab, cookie=False)
    assert "carried no cookie of the webmail, and got 403" in check_fails(check.logged_in_by_hand, lab)
    _by_hand(lab, form=False)
    assert "could not read your form" in check_fails(check.logged_in_by_hand, lab)
    _by_hand(lab, csrf=False)
    assert "had no csrf field" in check_fails(check.logged_in_by_hand, lab)
    _by_hand(lab, password="not-hers")
    wrong = check_fails(check.logged_in_by_hand, lab)
    assert "answered 200 with the login form again" in wrong and "not-hers" not in wrong
    _by_hand(lab, inbox=None)
    assert "Now do what a browser does with its Location" in check_fails(check.logged_in_by_hand, lab)
    _by_hand(lab, inbox="none")
    assert "GET /mailbox/INBOX carried no cookie" in check_fails(check.logged_in_by_hand, lab)
    _by_hand(lab, inbox="old")
    stale = check_fails(check.logged_in_by_hand, lab)
    assert "sent the cookie of the login page" in stale
    assert not any(token in stale for token in web._secrets)  # a check never repeats a secret
    _by_hand(lab)
    check.logged_in_by_hand(lab)
    assert capsys.readouterr().out.startswith("✔ Correct: you logged jane in by hand")
    web.close()


@pytest.mark.parametrize("cookie, csrf, said", [
    (1, 0, "its csrf field is not the one of the login page that your cookie belongs to"),
    (0, 1, "sent a cookie, but not the one your GET /login was given"),
])
def test_logged_in_by_hand_when_cookie_and_csrf_come_from_two_pages(lab: Lab, cookie: int, csrf: int,
                                                                    said: str) -> None:
    conn = http.client.HTTPConnection(*lab.endpoint_address(lab.server("somewhereelse.com").endpoints["webmail"]))
    pages = []
    for _ in range(2):  # two login pages: two sessions, each with its csrf token
        conn.request("GET", "/login")
        answer = conn.getresponse()
        pages.append((answer.getheader("Set-Cookie").split(";")[0], CSRF_FIELD.search(answer.read().decode())[1]))
    form = urllib.parse.urlencode({"username": JANE, "password": PASSWORD, "csrf": pages[csrf][1]})
    conn.request("POST", "/login", body=form,
                 headers={"Cookie": pages[cookie][0], "Content-Type": "application/x-www-form-urlencoded"})
    conn.getresponse().read()
    conn.close()
    assert said in check_fails(check.logged_in_by_hand, lab)


# -- 2. count the round trips of a task ---------------------------------------------------------------


def _task(lab: Lab) -> int:
    """The lesson's task: log in, open a message, flag it; the mark taken before it."""
    joe_writes_to_jane(lab, "Lunch tomorrow")
    start = lab.trace.mark()
    task = WebmailBrowser(lab, lab.server("somewhereelse.com"), device="jane-laptop")
    task.login(JANE, PASSWORD)
    lunch = task.open("Lunch tomorrow")
    task.post(lunch.url + "/flag", {"flagged": "1"})
    task.close()
    return start


def test_task_round_trips(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not answered yet" in check_fails(check.task_round_trips, lab, 0, ..., ...)
    assert "No HTTP session started since task_start" in check_fails(check.task_round_trips, lab, 0, 1, [])
    earlier = WebmailBrowser(lab, lab.server("somewhereelse.com"))
    earlier.login(JANE, PASSWORD)  # three round trips before the task
    earlier.close()
    start = _task(lab)
    exchanges = [e for c in lab.trace.sessions(protocol="HTTP", since=start) for e in lab.trace.exchanges(c)]
    requests = [(e.request.method, e.request.target, e.response.status) for e in exchanges]
    assert [r[1] for r in requests] == ["/login", "/login", "/mailbox/INBOX", "/message/INBOX/1",
                                        "/message/INBOX/1/flag", "/message/INBOX/1"]

    assert "should be a whole number" in check_fails(check.task_round_trips, lab, start, "6", requests)
    assert "the number of connections" in check_fails(check.task_round_trips, lab, start, 1, requests)
    assert "each request and each response on its own" in check_fails(check.task_round_trips, lab, start, 12,
                                                                       requests)
    assert "after each 303 the browser asked" in check_fails(check.task_round_trips, lab, start, 4, requests)
    assert "every HTTP request of the lesson" in check_fails(check.task_round_trips, lab, start, 9, requests)
    too_few = check_fails(check.task_round_trips, lab, start, 5, requests)
    assert "recorded more round trips for the task than 5" in too_few and "6" not in too_few
    assert "recorded fewer" in check_fails(check.task_round_trips, lab, start, 7, requests)
    assert "holds 5 request(s), but your round_trips says 6" in check_fails(check.task_round_trips, lab, start,
                                                                            6, requests[:-1])
    assert "should be a list" in check_fails(check.task_round_trips, lab, start, 6, "GET /login")
    assert "is not a (method, target, status) triple" in check_fails(
        check.task_round_trips, lab, start, 6, [r[:2] for r in requests])
    swapped = [requests[0], requests[2], requests[1], *requests[3:]]
    assert "Entry 2, ('GET', '/mailbox/INBOX', 200): its method" in check_fails(
        check.task_round_trips, lab, start, 6, swapped)
    no_redirects = [(m, t, 200) for m, t, _ in requests]
    assert "Entry 2" in (m := check_fails(check.task_round_trips, lab, start, 6, no_redirects)) and "status" in m

    check.task_round_trips(lab, start, 6, requests)
    check.task_round_trips(lab, start, 6, [(m, t, str(s)) for m, t, s in requests])  # "303" is 303
    assert capsys.readouterr().out.count("✔ Correct: the tap recorded the same 6 round trips on 1 connection(s), "
                                         "2 of them") == 2


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
    # The relay may deliver the three in any order, so a subject's UID is looked up, not assumed.
    uid = {m.subject: m.uid for m in webmail.mailbox(JANE).messages("INBOX")}
    assert "no view of yours yet" in check_fails(check.flagged_view, lab)
    webmail.add_view("flagged", "Flagged", lambda mailbox: mailbox.messages("INBOX"))
    assert "no flagged message" in check_fails(check.flagged_view, lab)
    _flag(lab, "two")

    assert "lists every message" in check_fails(check.flagged_view, lab)
    webmail.add_view("flagged", "Flagged", lambda mailbox: [])
    assert "lists no message at all" in check_fails(check.flagged_view, lab)
    webmail.add_view("flagged", "Flagged", lambda mailbox: [m for m in mailbox.messages() if m.subject == "one"])
    assert f"lists UID {uid['one']}, which is not flagged" in check_fails(check.flagged_view, lab)
    webmail.add_view("flagged", "Flagged", lambda mailbox: [m for m in mailbox.messages() if m.subject == "zero"])
    _flag(lab, "three")
    webmail.add_view("flagged", "Flagged", lambda mailbox: [m for m in mailbox.messages() if m.subject == "two"])
    assert f"misses UID {uid['three']}" in check_fails(check.flagged_view, lab)

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
    joe_writes_to_jane(lab, "three", "four")
    pop3 = lab.server("somewhereelse.com").endpoints["pop3"]
    box = lab.pop3(OFFICE, pop3)  # by hand, as the lesson's exercise does it
    box.user(JANE)
    box.pass_(PASSWORD)
    box.retr(1)  # only the first of two
    assert "not ended with QUIT" in check_fails(check.kept_for_webmail, lab)
    box.quit()
    assert "did not download 'four'" in check_fails(check.kept_for_webmail, lab)
    box = lab.pop3(OFFICE, pop3)
    box.user(JANE)
    box.pass_(PASSWORD)
    for number in range(1, len(box.list()[1]) + 1):
        box.retr(number)
    box.quit()
    check.kept_for_webmail(lab)
    assert capsys.readouterr().out.startswith("✔ Correct: jane-office has its copies, and the webmail still "
                                              "lists all 2 message(s)")
    laptop = lab.client("jane-laptop")
    laptop.fetch_pop3()  # another device deletes them after the office PC kept them
    assert "another device deleted it since" in check_fails(check.kept_for_webmail, lab)
