"""The checks of lesson 08 (Webmail)."""
from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from .common import JANE_ACCOUNT, _correct, _from_outside, _wrong, reads_the_wire
from .pop3_sessions import _answered, _deleted_at_quit, _ended, _retrieved

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange
    from ..trace import Connection

__all__ = ["logged_in_by_hand", "task_round_trips", "flagged_view", "kept_for_webmail"]


WEB_USER, WEB_PASSWORD = "jane@somewhereelse.com", "jane-password"
WEB_DOMAIN = "somewhereelse.com"
OFFICE = "jane-office"  # the old PC that fetches jane's mail by POP3
# Browsers that announce themselves: the lesson's own (WebmailBrowser) and a real one in the frame.
BROWSERS = ("mailcourse-browser", "Mozilla/")


# -- 1. log in by hand -------------------------------------------------------------------------


def _exchanges(lab: Lab, conns: list[Connection]) -> list[Exchange]:
    """The requests of these HTTP sessions, each with its response, in order (RFC 9112 section 9.3.2)."""
    return [e for conn in conns for e in lab.trace.exchanges(conn) if e.request is not None]


def _by_a_browser(lab: Lab, conn: Connection) -> bool:
    """Did a browser send this session (its User-Agent says so), rather than the student's own code?"""
    return any(any(b in (e.request.header("User-Agent") or "") for b in BROWSERS) for e in _exchanges(lab, [conn]))


def _cookie(message: Any, header: str) -> str | None:
    """The ``name=value`` of the webmail's cookie in a Set-Cookie (response) or Cookie (request) field.

    RFC 6265 section 4.1: Set-Cookie's first pair is the cookie, the rest
    are attributes; section 4.2: a Cookie field holds ``name=value`` pairs
    separated by "; ".
    """
    cookie_name = f"webmail-{WEB_DOMAIN}"
    for key, value in message.headers:
        if key.lower() != header.lower():
            continue
        pairs = value.split(";")[:1] if header.lower() == "set-cookie" else value.split(";")
        for pair in pairs:
            name, _, token = pair.strip().partition("=")
            if name == cookie_name:
                return token
    return None


def _form(exchange: Exchange) -> dict[str, str]:
    """The fields of a request's form body (URL-encoded, the password masked by the tap)."""
    text = exchange.request.body.decode("utf-8", "replace")
    return {k: v[0] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}


def _path(exchange: Exchange) -> str:
    return urllib.parse.urlsplit(exchange.request.target).path


def _judge_login(lab: Lab, exchanges: list[Exchange]) -> None:
    """Say what is wrong with one attempt: GET /login, POST /login, GET /mailbox/INBOX."""
    pages = [i for i, e in enumerate(exchanges) if e.request.method == "GET" and _path(e) == "/login"]
    if not pages:
        _wrong("Your connection asked for no login page. Start where a browser starts: GET /login gives "
               "you the session cookie (in Set-Cookie) and the form with its csrf field.")
    exchanges = exchanges[pages[-1]:]  # the last attempt
    page = exchanges[0]
    if page.response is None or page.response.status != 200:
        _wrong("Your GET /login got no 200 answer. Did you read the response (getresponse, then read) "
               "before sending the next request?")
    anonymous = _cookie(page.response, "Set-Cookie")
    posts = [e for e in exchanges if e.request.method == "POST" and _path(e) == "/login"]
    if not posts:
        _wrong("You fetched the login page (200), but sent no form back: POST /login with the fields "
               "username, password and csrf.")
    post = posts[-1]
    sent_cookie = _cookie(post.request, "Cookie")
    fields = _form(post)
    status = post.response.status if post.response is not None else None
    if status != 303:
        if sent_cookie is None:
            _wrong(f"Your POST /login carried no cookie of the webmail, and got {status}. HTTP remembers nothing "
                   "between requests: send back, in a Cookie header, the name=value part of the Set-Cookie "
                   "that the login page gave you. That is how the server finds the session its csrf token "
                   "belongs to.")
        if sent_cookie != anonymous:
            _wrong(f"Your POST /login sent a cookie, but not the one your GET /login was given, and got {status}. "
                   "Send back the name=value part of that Set-Cookie, as it came.")
        if not post.request.is_form or not fields:
            _wrong(f"The server could not read your form (it answered {status}): the body must be the fields, "
                   "URL-encoded (urllib.parse.urlencode), with Content-Type: application/x-www-form-urlencoded.")
        if "csrf" not in fields:
            _wrong(f"Your form had no csrf field, so the server refused it ({status}): copy the value of the "
                   "hidden csrf field of the login page into the form you send.")
        if status == 403:
            _wrong("The server refused your form with 403: its csrf field is not the one of the login page "
                   "that your cookie belongs to. Take both from the same GET /login.")
        if status == 429:
            _wrong("Too many failed logins: the server answered 429 Too Many Requests. Wait the seconds its "
                   "Retry-After header says, then try again with jane's user name and password.")
        if status == 200:
            _wrong(f"The server answered 200 with the login form again: it did not accept the user name "
                   f"{fields.get('username', '')!r} with that password. Use jane's login from the lesson.")
        _wrong(f"Your POST /login got {status or 'no answer'}, not the 303 See Other of a login that worked.")
    logged_in = _cookie(post.response, "Set-Cookie")
    after = exchanges[exchanges.index(post) + 1:]
    inbox = [e for e in after if e.request.method == "GET" and _path(e).startswith("/mailbox/")]
    if not inbox:
        _wrong("The login worked (303 See Other). Now do what a browser does with its Location: "
               "GET /mailbox/INBOX, with the cookie that this answer set.")
    last = inbox[-1]
    if last.response is not None and last.response.status == 200:
        return
    cookie = _cookie(last.request, "Cookie")
    if cookie is None:
        _wrong("Your GET /mailbox/INBOX carried no cookie, so the server sent you to the login page again "
               "(303): it does not know who asks. Send the cookie in a Cookie header with every request.")
    if cookie == anonymous:
        _wrong("Your GET /mailbox/INBOX sent the cookie of the login page, and was sent back to log in. The "
               "answer to your POST /login set a new one (a fresh session, so that nobody who knew the old "
               "token is logged in as jane): send that one.")
    if cookie != logged_in:
        _wrong("Your GET /mailbox/INBOX sent a cookie that is not the one your login was given.")
    _wrong(f"Your GET /mailbox/INBOX got {last.response.status if last.response else 'no answer'}, not 200.")


@reads_the_wire
def logged_in_by_hand(lab: Lab) -> None:
    """Exercise: log jane in by hand with http.client: GET /login, POST /login, GET /mailbox/INBOX.

    The check reads the student's own HTTP connections back from the trace
    (those no browser sent: the lesson's browser and a real one say who they
    are in User-Agent, RFC 9110 section 10.1.5) and follows the attempt:
    the cookie of Set-Cookie sent back in Cookie (RFC 6265 sections 4.1,
    4.2), the form with its csrf field, 303 with a new cookie, then the
    inbox with it.
    """
    http = lab.trace.sessions(protocol="HTTP")
    mine = [conn for conn in http if _from_outside(conn) and not _by_a_browser(lab, conn)]
    exchanges = _exchanges(lab, mine)
    if not exchanges:
        _wrong("The trace holds no HTTP request of your own yet"
               + (" (the ones in it come from browsers)" if http else "")
               + ": send the requests with http.client, on the connection the exercise opens.")
    _judge_login(lab, exchanges)
    _correct("you logged jane in by hand: the login page gave you a cookie and a csrf token, the form sent "
             "them back and got 303 with a new cookie, and that cookie, sent with GET /mailbox/INBOX, is "
             "what told the server that the request came from jane.")


# -- 2. count the round trips of a task ----------------------------------------------------------------


def _redirected(exchanges: list[Exchange]) -> int:
    """How many requests were a browser following a redirect (the request after a 3xx with Location)."""
    return sum(1 for before in exchanges[:-1]
               if before.response is not None and 300 <= (before.response.status or 0) < 400
               and before.response.header("Location"))


def _recorded(exchange: Exchange) -> tuple[str, str, str]:
    status = exchange.response.status if exchange.response is not None else None
    return exchange.request.method, exchange.request.target, str(status)


@reads_the_wire
def task_round_trips(lab: Lab, since: Any, round_trips: Any, requests: Any) -> None:
    """Exercise: count the HTTP round trips of a task, and list them, by reading the trace.

    The check reads the same sessions from the tap (every HTTP session
    opened after the mark ``since``) and compares: one round trip is one
    request and the response to it (RFC 9110 section 3.4).
    """
    if round_trips is ... or requests is ...:
        _wrong("You have not answered yet: replace each ... with what you read from task_sessions.")
    if not isinstance(since, int):
        _wrong("The first argument should be task_start, the mark the task cell took with lab.trace.mark(): "
               "run the task cell again.")
    conns = lab.trace.sessions(protocol="HTTP", since=since)
    if not conns:
        _wrong("No HTTP session started since task_start: run the task cell, then your cell again.")
    exchanges = _exchanges(lab, conns)
    count = len(exchanges)
    if isinstance(round_trips, bool) or not isinstance(round_trips, int):
        _wrong(f"round_trips should be a whole number (an int), not {type(round_trips).__name__}.")
    if round_trips != count:
        everything = len(_exchanges(lab, lab.trace.sessions(protocol="HTTP")))
        if round_trips == len(conns) and count > 1:
            _wrong(f"{round_trips} is the number of connections. A persistent connection carries many "
                   "requests, one after the other (RFC 9112 section 9.3): count the exchanges of each.")
        if round_trips == 2 * count:
            _wrong("That counts each request and each response on its own. A round trip is the pair: one "
                   "request, and the response that answers it.")
        if round_trips == count - _redirected(exchanges) and _redirected(exchanges):
            _wrong("That counts the steps of the task's code. But after each 303 the browser asked, by itself, "
                   "for the page in Location: those requests crossed the wire too.")
        if round_trips == everything and everything != count:
            _wrong("That counts every HTTP request of the lesson so far. Count only the task's: the sessions "
                   "opened since task_start.")
        _wrong(f"The tap recorded {'more' if round_trips < count else 'fewer'} round trips for the task than "
               f"{round_trips}. Count the exchanges that lab.trace.exchanges gives for each session of the task.")
    if not isinstance(requests, (list, tuple)):
        _wrong(f"requests should be a list of (method, target, status), one per round trip, not "
               f"{type(requests).__name__}.")
    if len(requests) != count:
        _wrong(f"Your list holds {len(requests)} request(s), but your round_trips says {round_trips}: "
               "one entry per round trip.")
    for number, (yours, wire) in enumerate(zip(requests, map(_recorded, exchanges)), start=1):
        if not isinstance(yours, (list, tuple)) or len(yours) != 3:
            _wrong(f"Entry {number} of your list, {yours!r}, is not a (method, target, status) triple.")
        for part, mine, recorded in zip(("method", "target", "status code"), yours, wire):
            if str(mine).strip() != recorded:
                _wrong(f"Entry {number}, {tuple(yours)!r}: its {part} is not what the tap recorded for "
                       f"request {number}. Read it from that exchange's request (or, for the status, its "
                       "response).")
    followed = _redirected(exchanges)
    _correct(f"the tap recorded the same {count} round trips on {len(conns)} connection(s), {followed} of them "
             "a page the browser asked for by itself after a 303: every click costs at least one request and "
             "its response, and every form a second.")


# -- 3. the missing page -------------------------------------------------------------------------------


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


@reads_the_wire
def kept_for_webmail(lab: Lab) -> None:
    """Exercise: with poplib, jane's office PC downloads the new mail and leaves it on the server.

    The check reads the PC's last POP3 session that retrieved something
    (RETR answered +OK, no DELE before QUIT: RFC 1939 section 6) and asks
    the webmail over HTTP for jane's inbox.
    """
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
    waiting = [str(m["Subject"]) for m in lab.server(WEB_DOMAIN).mailbox(JANE_ACCOUNT)]
    missed = [s for s in waiting if s not in subjects]
    if missed:
        _wrong(f"{OFFICE}'s last POP3 session did not download {', '.join(map(repr, missed))}: "
               f"{'it waits' if len(missed) == 1 else 'they wait'} in jane's INBOX. Retrieve every message "
               "the server lists (RETR), then QUIT.")
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
