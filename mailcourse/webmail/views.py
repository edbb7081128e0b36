"""The pages of the webmail: one handler per route.

================================  =======  ==================================================
path (relative to the webmail)    method   what it does
================================  =======  ==================================================
(root)                            GET      to the inbox, or to the login form
login                             GET      the login form (starts an anonymous session)
login                             POST     check the password; 303 to the inbox, the form again, or 429
logout                            POST     end the session
mailbox/<folder>?page=N           GET      25 messages a page, newest first
message/<folder>/<uid>            GET      one message; sets \\Seen, as opening it in IMAP does
message/<folder>/<uid>/html       GET      its HTML body, cleaned, for the sandboxed iframe
message/<folder>/<uid>/part/<n>   GET      download attachment n
message/<folder>/<uid>/headers    GET      the header as it arrived
message/<folder>/<uid>/raw        GET      the whole message as stored (text/plain)
message/<folder>/<uid>/delete     POST     to Trash; in Trash, removed for good
message/<folder>/<uid>/move       POST     to the folder in the field "to"
message/<folder>/<uid>/flag       POST     set or clear \\Flagged
compose?reply=F/U or forward=F/U  GET      the form, empty or filled in
send                              POST     SMTP submission as the user; a copy in Sent
search?q=..&in=..&folder=..       GET      by sender, subject and/or body text
view/<slug>                       GET      a page added with `Webmail.add_view`
static/webmail.css                GET      the one style sheet
================================  =======  ==================================================

GET changes nothing (RFC 9110 section 9.2.1: GET is "safe"), with one
deliberate exception: showing a message marks it ``\\Seen``. That is what
every mail program does, what the user expects, and what IMAP's ``FETCH
BODY[]`` does too (RFC 3501 section 6.4.5: "The \\Seen flag is implicitly
set"). It is idempotent (RFC 9110 section 9.2.2: asking twice leaves the
same state as asking once), nothing is lost if a prefetching browser does
it, and the user can see it happen. Everything else that changes a mailbox
is a POST with the session's CSRF token, answered with ``303 See Other``
(RFC 9110 section 15.4.4), so that reloading the next page does not repeat it.

Folder names and UIDs from the URL are looked up in the store; a name that
is not one of the user's folders (``..``, ``%2e%2e``, ``a%2Fb``) is simply
"not found". The account always comes from the session, never from the URL.
"""
from __future__ import annotations

import asyncio
import math
import urllib.parse
from functools import partial

from aiohttp import web

from ..store import INBOX
from .app import SESSION, STYLESHEET, WEBMAIL, Webmail, errors, guard, link, relative_root, webmail_of
from .attachments import (
    content_bytes,
    content_disposition,
    download_type,
    is_attachment,
    leaves,
    safe_filename,
)
from .compose import (
    ANSWERED,
    FORWARDED,
    Draft,
    build_message,
    forward_draft,
    recipients,
    reply_draft,
    submit,
)
from .mailbox import (
    FLAGGED,
    SEARCH_FIELDS,
    SEEN,
    MailboxView,
    ReadMessage,
    Summary,
    read_message,
)
from .sanitize import html_document
from .security import DOWNLOAD_CSP, MAIL_CSP, secure_headers
from .sessions import Session, cookie_header, expired_cookie_header

PAGE_SIZE = 25
TRASH = "Trash"
SENT = "Sent"
MAX_QUERY = 200  # characters of a search


def build_app(webmail: Webmail) -> web.Application:
    """The aiohttp application of ``webmail``: the middlewares of `mailcourse.webmail.app`, these routes."""
    # The largest request body accepted: a message of the server's largest size, typed into a form.
    app = web.Application(client_max_size=webmail.limits.max_message_size, middlewares=[errors, guard])
    app[WEBMAIL] = webmail
    add_routes(app)

    async def headers(request: web.Request, response: web.StreamResponse) -> None:
        secure_headers(response)

    app.on_response_prepare.append(headers)
    return app


def add_routes(app: web.Application) -> None:
    message = r"/message/{folder}/{uid:\d{1,10}}"
    app.router.add_get("/", index, name="index")
    app.router.add_get("/login", login_form, name="login_form")
    app.router.add_post("/login", login, name="login")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/mailbox/{folder}", mailbox, name="mailbox")
    app.router.add_get(message, show_message, name="message")
    app.router.add_get(message + "/html", message_html, name="message_html")
    app.router.add_get(message + r"/part/{number:\d{1,4}}", message_part, name="message_part")
    app.router.add_get(message + "/headers", message_headers, name="message_headers")
    app.router.add_get(message + "/raw", message_raw, name="message_raw")
    app.router.add_post(message + "/delete", delete, name="delete")
    app.router.add_post(message + "/move", move, name="move")
    app.router.add_post(message + "/flag", flag, name="flag")
    app.router.add_get("/compose", compose, name="compose")
    app.router.add_post("/send", send, name="send")
    app.router.add_get("/search", search, name="search")
    app.router.add_get("/view/{slug}", extra_view, name="view")
    app.router.add_get("/static/" + STYLESHEET, stylesheet, name="static")


# -- helpers -------------------------------------------------------------------------------

def session_of(request: web.Request) -> Session:
    """The logged-in session (the guard let only those through to these handlers)."""
    return request[SESSION]


def account_of(request: web.Request) -> str:
    return session_of(request).account or ""


def see_other(request: web.Request, *segments: object, query: str = "") -> web.Response:
    """303 to another page of the webmail, by a relative Location (RFC 9110 sections 10.2.2, 15.4.4)."""
    location = link(relative_root(request), *segments) + (f"?{query}" if query else "")
    return web.Response(status=303, headers={"Location": location})


def folder_of(request: web.Request, name: str | None = None) -> str:
    """A folder of this user named in the request, or 404: only names the store lists count."""
    name = request.match_info["folder"] if name is None else name
    folders = webmail_of(request).store.folders(account_of(request))
    if name.upper() == INBOX:
        return INBOX
    if name not in folders:
        raise web.HTTPNotFound(text=f"There is no folder called {name!r} here.")
    return name


def message_ref(request: web.Request) -> tuple[str, int]:
    folder = folder_of(request)
    uid = int(request.match_info["uid"])
    if not any(info.uid == uid for info in webmail_of(request).store.list(account_of(request), folder)):
        raise web.HTTPNotFound(text=f"There is no message {uid} in {folder}.")
    return folder, uid


def parse_ref(request: web.Request, ref: str) -> tuple[str, int]:
    """``"<folder>/<uid>"`` from a query or form (folder names never hold "/")."""
    folder, _, uid = ref.rpartition("/")
    if not uid.isdigit() or len(uid) > 10:
        raise web.HTTPNotFound(text="There is no such message.")
    folder = folder_of(request, folder)
    if not any(i.uid == int(uid) for i in webmail_of(request).store.list(account_of(request), folder)):
        raise web.HTTPNotFound(text=f"There is no message {uid} in {folder}.")
    return folder, int(uid)


def load(request: web.Request, folder: str, uid: int) -> ReadMessage:
    return read_message(webmail_of(request).store.get(account_of(request), uid, folder))


def set_flag(request: web.Request, folder: str, uid: int, flag: str, on: bool = True) -> None:
    store = webmail_of(request).store
    account = account_of(request)
    for info in store.list(account, folder):
        if info.uid == uid and (flag in info.flags) != on:
            store.set_flags(account, uid, info.flags | {flag} if on else info.flags - {flag}, folder)


def form_text(form, name: str, limit: int | None = None) -> str:
    value = form.get(name, "")
    value = value if isinstance(value, str) else ""
    return value if limit is None else value[:limit]


# -- logging in and out ------------------------------------------------------------------------

async def index(request: web.Request) -> web.Response:
    session: Session | None = request[SESSION]
    return see_other(request, "mailbox", INBOX) if session and session.logged_in else see_other(request, "login")


def login_page(request: web.Request, *, status: int = 200, error: str = "", username: str = "",
               retry_after: int | None = None) -> web.Response:
    """The login form, with a (new, anonymous) session for its CSRF token."""
    webmail = webmail_of(request)
    session: Session | None = request[SESSION]
    headers: dict[str, str] = {}
    if session is None or session.logged_in:
        webmail.sessions.drop(session)
        session = webmail.sessions.create()
        request[SESSION] = session
        headers["Set-Cookie"] = cookie_header(webmail.cookie_name, session.token, secure=_secure(request))
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)  # RFC 6585 section 4, RFC 9110 section 10.2.3
    response = webmail.render(request, "login.html", status=status, headers=headers, error=error,
                              username=username, title="Log in")
    return response


def _secure(request: web.Request) -> bool:
    # Over TLS itself (the HTTPS endpoint), or behind a proxy that says the browser came over HTTPS.
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


async def login_form(request: web.Request) -> web.Response:
    session: Session | None = request[SESSION]
    if session is not None and session.logged_in:
        return see_other(request, "mailbox", INBOX)
    return login_page(request)


async def login(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    form = await request.post()
    username = form_text(form, "username", 254).strip()
    password = form_text(form, "password", 1024)
    user = webmail.accounts.address(username)
    client = request.remote or "unknown"
    wait = webmail.throttle.retry_after(user, client)
    if wait is not None:
        return login_page(request, status=429, username=username, retry_after=wait,
                          error=f"Too many failed logins. Wait {wait} seconds, then try again.")
    if webmail.limits.login_requires_tls and not _secure(request):
        # Passwords only inside TLS (`Limits.login_requires_tls`), as the mail ports ask for
        # STARTTLS first: 403, and the form again, whatever the password (RFC 8314 section 3).
        return login_page(request, status=403, username=username,
                          error="This server takes passwords over HTTPS only: open its https:// address.")
    address = webmail.accounts.authenticate(username, password)
    if address is None:
        webmail.throttle.failed(user, client)
        # The form again, with 200 and a message, as most sites answer. Not 401: RFC 9110
        # section 15.5.2 says a 401 MUST carry a WWW-Authenticate challenge, that is HTTP's own
        # authentication (Basic, Bearer...), which a login form does not use.
        return login_page(request, username=username,
                          error="Wrong user name or password. (The lab's logins are printed by the notebook.)")
    webmail.throttle.succeeded(user)
    account = address.partition("@")[0]
    webmail.store.create_special_use_folders(account)  # Sent, Drafts, Trash, as IMAP's LOGIN does
    # A new session for the logged-in user, never the anonymous one: no session fixation.
    webmail.sessions.drop(request[SESSION])
    session = webmail.sessions.create(account, address, password)
    request[SESSION] = session
    response = see_other(request, "mailbox", INBOX)
    response.headers["Set-Cookie"] = cookie_header(webmail.cookie_name, session.token, secure=_secure(request))
    return response


async def logout(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    webmail.sessions.drop(request[SESSION])
    response = see_other(request, "login")
    response.headers["Set-Cookie"] = expired_cookie_header(webmail.cookie_name)
    return response


# -- reading ------------------------------------------------------------------------------------

def page_number(request: web.Request, pages: int) -> int:
    try:
        number = int(request.query.get("page", "1"))
    except ValueError:
        number = 1
    return min(max(number, 1), max(pages, 1))


async def mailbox(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    folder = folder_of(request)
    view = webmail.mailbox(account_of(request))
    total = len(webmail.store.list(account_of(request), folder))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = page_number(request, pages)
    shown, total = view.page(folder, page, PAGE_SIZE)  # newest first
    return webmail.render(request, "mailbox.html", title=folder, folder=folder, messages=shown, page=page,
                          pages=pages, total=total, first=(page - 1) * PAGE_SIZE + 1,
                          current=folder, show_folder=False, show_recipient=folder in (SENT, "Drafts"))


async def show_message(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    folder, uid = message_ref(request)
    message = load(request, folder, uid)
    set_flag(request, folder, uid, SEEN)  # the documented exception to "GET changes nothing"
    flagged = any(i.uid == uid and FLAGGED in i.flags
                  for i in webmail.store.list(account_of(request), folder))
    ref = urllib.parse.quote(f"{folder}/{uid}", safe="/")
    others = [name for name in webmail.store.folders(account_of(request)) if name != folder]
    return webmail.render(request, "message.html", title=message.subject or "(no subject)", folder=folder,
                          uid=uid, message=message, ref=ref, flagged=flagged, others=others, current=folder,
                          in_trash=folder == TRASH)


async def message_html(request: web.Request) -> web.Response:
    folder, uid = message_ref(request)
    message = load(request, folder, uid)
    if message.body_type != "html":
        raise web.HTTPNotFound(text="This message has no HTML text.")
    return web.Response(text=html_document(message.text), content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": MAIL_CSP, "X-Content-Type-Options": "nosniff"})


async def message_part(request: web.Request) -> web.Response:
    folder, uid = message_ref(request)
    message = load(request, folder, uid)
    number = int(request.match_info["number"])
    found = leaves(message.message)
    if not 1 <= number <= len(found):
        raise web.HTTPNotFound(text=f"This message has no part {number}.")
    part, parent = found[number - 1]
    body = message.message.get_body(preferencelist=("html", "plain"))
    if not is_attachment(part, parent, body):  # type: ignore[arg-type]
        raise web.HTTPNotFound(text=f"Part {number} is the text of the message, not an attachment.")
    filename = safe_filename(part.get_filename(), number, part.get_content_type())
    # Never FileResponse/sendfile: the bytes must go through the tap like every other response.
    return web.Response(body=content_bytes(part), headers={
        "Content-Type": download_type(part),
        "Content-Disposition": content_disposition(filename),
        "Content-Security-Policy": DOWNLOAD_CSP,
        "X-Content-Type-Options": "nosniff",
    })


async def message_headers(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    folder, uid = message_ref(request)
    raw = webmail.store.get(account_of(request), uid, folder)
    end = raw.find(b"\r\n\r\n")
    header = raw if end < 0 else raw[:end]
    return webmail.render(request, "headers.html", title="Headers", folder=folder, uid=uid, current=folder,
                          header=header.decode("utf-8", "replace"))


async def message_raw(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    folder, uid = message_ref(request)
    raw = webmail.store.get(account_of(request), uid, folder)
    return web.Response(body=raw, headers={"Content-Type": "text/plain; charset=utf-8",
                                           "X-Content-Type-Options": "nosniff"})


# -- changing the mailbox -------------------------------------------------------------------------

async def delete(request: web.Request) -> web.Response:
    store = webmail_of(request).store
    account = account_of(request)
    folder, uid = message_ref(request)
    if folder == TRASH:
        store.delete(account, uid, folder)  # RFC 3501's \Deleted + EXPUNGE in one step
        session_of(request).notice = "The message was deleted for good."
    else:
        store.create_folder(account, TRASH)  # exists unless somebody deleted it over IMAP
        store.move(account, uid, folder, TRASH)
        session_of(request).notice = "The message was moved to Trash."
    return see_other(request, "mailbox", folder)


async def move(request: web.Request) -> web.Response:
    store = webmail_of(request).store
    folder, uid = message_ref(request)
    target = folder_of(request, form_text(await request.post(), "to", 200))
    if target != folder:
        store.move(account_of(request), uid, folder, target)
        session_of(request).notice = f"The message was moved to {target}."
    return see_other(request, "mailbox", folder)


async def flag(request: web.Request) -> web.Response:
    folder, uid = message_ref(request)
    on = form_text(await request.post(), "flagged") == "1"
    set_flag(request, folder, uid, FLAGGED, on)
    return see_other(request, "message", folder, uid)


# -- writing --------------------------------------------------------------------------------------

async def compose(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    draft = Draft()
    if "reply" in request.query:
        folder, uid = parse_ref(request, request.query["reply"])
        draft = reply_draft(load(request, folder, uid), f"{folder}/{uid}")
    elif "forward" in request.query:
        folder, uid = parse_ref(request, request.query["forward"])
        draft = forward_draft(load(request, folder, uid), f"{folder}/{uid}")
    return webmail.render(request, "compose.html", title="Compose", draft=draft, error="", refused={})


async def send(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    session = session_of(request)
    form = await request.post()
    draft = Draft(to=form_text(form, "to"), cc=form_text(form, "cc"), subject=form_text(form, "subject"),
                  body=form_text(form, "body"), reply=form_text(form, "reply"), forward=form_text(form, "forward"))
    rcpts = recipients(draft.to, draft.cc)
    if not rcpts:
        return webmail.render(request, "compose.html", status=422, title="Compose", draft=draft, refused={},
                              error="Give at least one recipient (To or Cc).")
    # A reply or forward names its original as "<folder>/<uid>"; the headers are taken from the store.
    at = parse_ref(request, draft.reply or draft.forward) if draft.reply or draft.forward else None
    original = load(request, *at) if at is not None else None
    raw = build_message(session.address or "", draft, webmail.new_message_id(), original)
    # smtplib blocks: in a worker thread, while the loop serves everybody else.
    result = await asyncio.get_running_loop().run_in_executor(
        webmail.executor,
        partial(submit, webmail.smtp, webmail.hostname, session.address or "", session.password or "",
                session.address or "", rcpts, raw))
    if not result.sent:
        return webmail.render(request, "compose.html", status=422, title="Compose", draft=draft,
                              refused=result.refused, error=result.error or "The server refused every recipient.")
    webmail.store.create_folder(account_of(request), SENT)
    webmail.store.deliver(account_of(request), raw, SENT, {SEEN})  # our copy, as a mail program APPENDs it
    if at is not None:
        set_flag(request, *at, ANSWERED if draft.reply else FORWARDED)
    notice = f"Message sent to {', '.join(result.accepted)}."
    if result.refused:
        notice += " Refused: " + "; ".join(f"{r}: {why}" for r, why in result.refused.items())
    session.notice = notice
    return see_other(request, "mailbox", INBOX)


# -- finding ---------------------------------------------------------------------------------------

async def search(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    text = request.query.get("q", "").strip()[:MAX_QUERY]
    where = request.query.get("in", "all")
    where = where if where in SEARCH_FIELDS else "all"
    folder_name = request.query.get("folder", "")
    folders = [folder_of(request, folder_name)] if folder_name else None
    results: list[Summary] = []
    if text:
        results = webmail.mailbox(account_of(request)).search(text, where, folders)
    return webmail.render(request, "search.html", title="Search", q=text, where=where, folder=folder_name,
                          fields=SEARCH_FIELDS, messages=results, show_folder=True, show_recipient=False)


async def extra_view(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    slug = request.match_info["slug"]
    view = webmail.view(slug)
    if view is None:
        raise web.HTTPNotFound(text=f"There is no view called {slug!r} (yet). A notebook adds one with "
                                    f"server.webmail.add_view({slug!r}, title, select).")
    mailbox_view: MailboxView = webmail.mailbox(account_of(request))
    try:
        selected = list(view.select(mailbox_view))
        problem = next((f"{item!r} is not a message summary" for item in selected
                        if not all(hasattr(item, a) for a in ("uid", "folder", "flags", "subject", "sender", "date"))),
                       "")
    except Exception as e:  # noqa: BLE001 - a student's function: show what went wrong, keep serving
        selected, problem = [], f"{type(e).__name__}: {e}"
    if problem:
        return webmail.render(request, "error.html", status=500, status_code=500, title="Internal Server Error",
                              reason=f"The function of the view {view.title!r} failed: {problem}")
    return webmail.render(request, "view.html", title=view.title, view=view, messages=selected,
                          show_folder=True, show_recipient=False, current=f"view/{slug}")


async def stylesheet(request: web.Request) -> web.Response:
    webmail = webmail_of(request)
    headers = {"ETag": webmail.stylesheet_etag, "Cache-Control": "public, max-age=86400"}
    if request.headers.get("If-None-Match") == webmail.stylesheet_etag:
        return web.Response(status=304, headers=headers)  # RFC 9110 section 13.1.2: the copy you have is good
    return web.Response(body=webmail.stylesheet, headers={**headers, "Content-Type": "text/css; charset=utf-8"})


