"""The checks of lesson 07 (Webmail)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .common import _correct, _wrong
from .lesson05 import _deleted_at_quit, _ended, _answered, _retrieved, _server_line
from .lesson06 import JANE_ACCOUNT

if TYPE_CHECKING:
    from ..lab import Lab
    from ..trace import Connection

__all__ = ["set_cookie_line", "flagged_view", "kept_for_webmail"]


WEB_USER, WEB_PASSWORD = "jane@somewhereelse.com", "jane-password"
WEB_DOMAIN = "somewhereelse.com"
OFFICE = "jane-office"  # the old PC that fetches jane's mail by POP3


def _http_sessions(lab: Lab) -> list[Connection]:
    return lab.trace.sessions(protocol="HTTP")


def _set_cookies(lab: Lab) -> list[str]:
    """Every Set-Cookie value the webmail sent, in order (RFC 6265 section 4.1)."""
    found = []
    for conn in _http_sessions(lab):
        for exchange in lab.trace.exchanges(conn):
            if exchange.response is not None:
                found += [v for k, v in exchange.response.headers if k.lower() == "set-cookie"]
    return found


def _header_names(lab: Lab) -> tuple[set[str], set[str]]:
    """The header field names the browser sent, and those the webmail sent, lower case."""
    sent: set[str] = set()
    got: set[str] = set()
    for conn in _http_sessions(lab):
        for exchange in lab.trace.exchanges(conn):
            if exchange.request is not None:
                sent.update(k.lower() for k, _ in exchange.request.headers)
            if exchange.response is not None:
                got.update(k.lower() for k, _ in exchange.response.headers)
    return sent, got


def set_cookie_line(lab: Lab, answer: Any) -> None:
    """Exercise: copy the header line with which the webmail gives the browser its session cookie.

    The transcript masks every token; a line with a real token in it is
    refused, and the check never repeats it.
    """
    line = _server_line(answer, "the transcript", "the browser sent it. The cookie comes from the server first.")
    cookies = _set_cookies(lab)
    if not cookies:
        _wrong("No webmail response in the trace has set a cookie yet: run the cells that log jane in.")
    name, colon, value = line.partition(":")
    name, value = name.strip().lower(), value.strip()
    if re.match(r"^HTTP/\d\.\d \d{3}", line):
        _wrong("That is a status line: it says how the request went. The cookie travels in a header field "
               "of a response, on a line of its own below it.")
    if re.match(r"^(GET|POST|HEAD|PUT|DELETE) \S+", line):
        _wrong("That is a request line: the browser sent it. The cookie comes from the server.")
    if not colon:
        _wrong(f"{line!r} is not a header line (a header line is 'Name: value'). Copy one line of the "
               "transcript as it is printed.")
    sent, got = _header_names(lab)
    if name == "cookie":
        _wrong("Close: with the Cookie header the browser sends the cookie *back*, with every request after the "
               "login. Which header of the server's response gave it to the browser in the first place?")
    if name != "set-cookie":
        if name == "location":
            _wrong("Location tells the browser where to go next (the redirect after the login). The cookie "
                   "comes in another header field of the same response.")
        if name in got:
            _wrong(f"The server did send a {line.partition(':')[0].strip()} header, but it does not carry the "
                   "cookie. Look for the one whose name says so.")
        if name in sent:
            _wrong(f"{line.partition(':')[0].strip()} is a header the browser sent. The cookie comes from the server.")
        _wrong(f"No response in the trace has a header called {line.partition(':')[0].strip()!r}. Copy one line "
               "of the transcript exactly as it is printed.")
    cookie, _, rest = value.partition(";")
    cookie_name, _, token = cookie.partition("=")
    real = {c.partition(";")[0].partition("=")[2].strip() for c in cookies} - {""}
    if token.strip() in real:
        _wrong("That line holds a real session token: whoever has it is logged in as jane, as with her "
               "password. Never copy a token anywhere. Copy the line as the transcript prints it, masked.")
    names = {c.partition("=")[0].strip() for c in cookies}
    if cookie_name.strip() not in names:
        _wrong(f"The webmail set no cookie called {cookie_name.strip()!r}. Copy the line as the transcript prints it.")
    if not token.strip() or re.search(r"max-age\s*=\s*0", rest, re.IGNORECASE):
        _wrong("That Set-Cookie has no value and Max-Age=0: it tells the browser to *forget* the cookie, at "
               "log out. Find the one that gives the browser a session.")
    _correct("Set-Cookie gives the browser its session; from then on the browser sends it back in a Cookie "
             "header with every request, and that is how a stateless protocol remembers that jane is logged in.")


def _jane_browser(lab: Lab) -> Any:
    from ..clients.browser import WebmailBrowser

    web = WebmailBrowser(lab, lab.server(WEB_DOMAIN), device="jane-laptop")
    page = web.login(WEB_USER, WEB_PASSWORD)
    if page.status != 200:
        web.close()
        _wrong(f"The check could not log in to jane's webmail ({page.status} {page.reason}). "
               "Run the set-up cell again?")
    return web


def _views(lab: Lab) -> dict[str, str]:
    """The views added to jane's webmail: slug -> title."""
    webmail = getattr(lab.server(WEB_DOMAIN), "webmail", None)
    views = getattr(webmail, "views", None) or {}
    if isinstance(views, dict):
        return {str(slug): str(getattr(view, "title", view)) for slug, view in views.items()}
    return {str(getattr(v, "slug", v)): str(getattr(v, "title", v)) for v in views}


def flagged_view(lab: Lab) -> None:
    """Exercise: add a "Flagged" view to the webmail that lists exactly jane's flagged INBOX messages.

    The check asks the webmail for the page of each view over HTTP, as a
    browser would, and compares its rows with the server's store.
    """
    views = _views(lab)
    if not views:
        _wrong("The webmail has no view of yours yet: add one with theirs.webmail.add_view(slug, title, select).")
    store = lab.server(WEB_DOMAIN).store
    inbox = {info.uid: info.flags for info in store.list(JANE_ACCOUNT)}
    flagged = {uid for uid, flags in inbox.items() if "\\Flagged" in flags}
    if not flagged:
        _wrong("jane has no flagged message in her INBOX now: run the cell that flags one by IMAP.")
    web = _jane_browser(lab)
    try:
        verdicts = []
        for slug, title in views.items():
            page = web.get(f"view/{slug}")
            if page.status != 200:
                verdicts.append((3, (f"The page of your view {title!r} (view/{slug}) answered {page.status} "
                                    f"{page.reason}: did your select function fail? Try it on "
                                    "a MailboxView by hand.")))
                continue
            shown = {(row.folder or "INBOX", row.uid) for row in page.messages}
            in_inbox = {uid for folder, uid in shown if folder == "INBOX"}
            others = {(folder, uid) for folder, uid in shown if folder != "INBOX"}
            unflagged = sorted(in_inbox - flagged) + sorted(
                uid for folder, uid in others
                if "\\Flagged" not in next((i.flags for i in store.list(JANE_ACCOUNT, folder) if i.uid == uid), set()))
            missing = sorted(flagged - in_inbox)
            if not unflagged and not missing:
                verdicts.append((0, title))
            elif not shown:
                verdicts.append((2, (f"Your view {title!r} lists no message at all, but jane has "
                                    f"{len(flagged)} flagged one(s) in her INBOX. Which flag does your selection "
                                    "look for? (A Summary has .flags, a set such as {'\\\\Seen'}, and .flagged.)")))
            elif in_inbox >= set(inbox) and len(inbox) > len(flagged):
                verdicts.append((1, (f"Your view {title!r} lists every message of the INBOX: it selects nothing. "
                                    "Keep only the messages with the \\Flagged flag.")))
            elif unflagged:
                verdicts.append((1, (f"Your view {title!r} lists UID {', '.join(map(str, unflagged))}, which "
                                    "is not flagged. Keep only the messages with the \\Flagged flag.")))
            else:
                verdicts.append((1, (f"Your view {title!r} misses UID {', '.join(map(str, missing))}, flagged in "
                                    "jane's INBOX. Look at every message of the INBOX.")))
    finally:
        web.close()
    best = min(verdicts, key=lambda v: v[0])
    if best[0]:
        _wrong(best[1])
    _correct(f"the webmail's view {best[1]!r} lists exactly the {len(flagged)} flagged message(s) of jane's INBOX, "
             "read from the same store that IMAP changed: the feature was missing, not the data.")


def kept_for_webmail(lab: Lab) -> None:
    """Exercise: jane's office PC fetches by POP3 and leaves the mail on the server, so the webmail still shows it."""
    office = lab.clients.get(OFFICE)
    if office is None:
        _wrong(f"The lab has no device called {OFFICE!r}. Run the cell that gives jane her office PC.")
    sessions = [conn for conn in lab.trace.sessions(protocol="POP3") if conn.client == OFFICE]
    fetched = [exchanges for conn in sessions if _retrieved(exchanges := _answered(lab, conn))]
    if not fetched:
        waiting = len(lab.server(WEB_DOMAIN).mailbox(JANE_ACCOUNT))
        _wrong(f"{OFFICE} has downloaded nothing by POP3 yet: "
               + ("jane's INBOX is empty. Run the cell where joe writes to her first."
                  if not waiting else f"{waiting} message(s) wait on the server. Fetch them with the PC."))
    exchanges = fetched[-1]
    if _deleted_at_quit(exchanges):
        _wrong(f"{OFFICE} downloaded the messages and then deleted them on the server (DELE, then QUIT): the "
               "webmail has nothing left to show. Let joe write again, and fetch so that the mail stays on "
               "the server.")
    if not _ended(exchanges):
        _wrong(f"{OFFICE}'s POP3 session has not ended with QUIT yet.")
    subjects = []
    for exchange in _retrieved(exchanges):
        lines = exchange.data or []
        header = lines[: lines.index("")] if "" in lines else lines
        subjects += [line.split(":", 1)[1].strip() for line in header if line.lower().startswith("subject:")]
    web = _jane_browser(lab)
    try:
        listed = {row.subject for row in web.get("mailbox/INBOX").messages}
    finally:
        web.close()
    gone = [s for s in subjects if s not in listed]
    if gone:
        _wrong(f"{OFFICE} kept the mail on the server, but the webmail's INBOX does not list "
               f"{', '.join(map(repr, gone))}: another device deleted it since. Let joe write again and fetch once more.")
    _correct(f"{OFFICE} has its copies, and the webmail still lists all {len(subjects)} message(s): "
             "the mailbox on the server is what the webmail shows.")
