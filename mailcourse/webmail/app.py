"""The webmail of one mail server: an aiohttp application, and its extension hook.

`Webmail` holds what lives as long as the server: the session table, the
login throttle, the cache of parsed headers, the templates, and the extra
pages a notebook adds with `Webmail.add_view`, and the parts of its mail
server it uses (accounts, store, limits, a Message-ID source, a way to the
submission port), never the mail server itself. `mailcourse.webmail.views.build_app`
makes the aiohttp `web.Application` from it; `mailcourse.servers.webmail`
serves that behind the lab's tap, so every request and response is in
``lab.trace``. (This module does not import the views: they import it.)

A request goes through, in order:

1. ``errors`` (outermost): any refusal (403, 404, 413...) becomes a small
   page of the webmail with the same status, in words a person understands;
2. ``guard``: finds the session from the cookie; a page that needs a login
   gets a redirect to ``login`` (GET) or 403 (POST); every POST must carry
   the session's CSRF token (see `mailcourse.webmail.sessions`);
3. the handler in `mailcourse.webmail.views`;
4. on the way out, `mailcourse.webmail.security.secure_headers`.

Relative links only
-------------------
jupyter-server-proxy shows the webmail at ``<base>/proxy/<port>/`` and
strips that prefix before the request arrives, so the application cannot
know where it lives in the browser's address bar. Every link, form action
and redirect (RFC 9110 section 10.2.2 allows a relative ``Location``) is
therefore written *relative to the page it appears on*: on
``/message/INBOX/7`` the inbox is ``../../mailbox/INBOX``. `relative_root`
computes the ``../../`` part from the request's path.
"""
from __future__ import annotations

import hashlib
import re
import smtplib
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from aiohttp import web

from ..store import StoreError
from .mailbox import MailboxView, Summary, SummaryCache
from .sessions import LoginThrottle, Session, SessionTable

if TYPE_CHECKING:
    from ..accounts import Accounts
    from ..limits import Limits
    from ..store import MailStore
    from ..tap import Endpoint

HERE = Path(__file__).resolve().parent
STYLESHEET = "webmail.css"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}\Z")
PUBLIC_ROUTES = frozenset({"index", "login_form", "login", "static"})  # reachable without a login

# request[SESSION] -> Session | None. aiohttp 3.13 added typed keys for request storage; older ones take a str.
SESSION = web.RequestKey("session", object) if hasattr(web, "RequestKey") else "webmail.session"


@dataclass(frozen=True)
class ExtraView:
    """A page added by `Webmail.add_view`."""

    slug: str
    title: str
    select: Callable[[MailboxView], list[Summary]]


_templates: jinja2.Environment | None = None
_templates_lock = threading.Lock()


def templates() -> jinja2.Environment:
    """The jinja2 environment, autoescape on: every ``{{ value }}`` is HTML-escaped."""
    global _templates
    with _templates_lock:
        if _templates is None:
            _templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                            autoescape=True, undefined=jinja2.StrictUndefined,
                                            trim_blocks=True, lstrip_blocks=True)
        return _templates


def relative_root(request: web.Request) -> str:
    """The relative path from this request's page back to the webmail's root: "./", "../", "../../"."""
    depth = request.raw_path.split("?", 1)[0].count("/") - 1
    return "../" * depth if depth > 0 else "./"


def link(root: str, *segments: object) -> str:
    """A relative link: each segment percent-encoded (a folder name may hold spaces, "&", "%")."""
    return root + "/".join(urllib.parse.quote(str(s), safe="") for s in segments)


class Webmail:
    """The webmail of one mail server; reach it as ``server.webmail``.

    It is given what it uses: the server's ``hostname``, its ``accounts``
    (the login form), its ``store`` (every page), its ``limits`` (the largest
    request), ``new_message_id`` for the mail it writes, ``submission``
    (``device -> smtplib.SMTP`` connected to the server's own submission
    port: the webmail sends as a mail program does, see
    `mailcourse.webmail.compose`) and an ``executor`` for that blocking
    client.

    Extension hook for notebooks::

        def flagged(mailbox):                      # a MailboxView
            return [m for m in mailbox.messages("INBOX") if m.flagged]

        server.webmail.add_view("flagged", "Flagged", flagged)
        # now in the folder list of every page, at view/flagged

    ``select`` runs on the lab's loop for every request of that page: keep it
    quick, and do not print (see JUPYTER_NOTES: threads' output lands in the
    wrong cell). An exception it raises is shown on the page.
    """

    def __init__(self, hostname: str, accounts: Accounts, store: MailStore, limits: Limits, *,
                 new_message_id: Callable[[], str], submission: Callable[[str], smtplib.SMTP],
                 executor: Executor | None = None, session_idle_timeout: float = 1800.0) -> None:
        self.hostname = hostname
        self.accounts = accounts
        self.store = store
        self.limits = limits
        self.new_message_id = new_message_id
        self.executor = executor  # None: the loop's default pool
        self._submission = submission
        self.title = f"{hostname} webmail"
        self.device = f"webmail.{accounts.domain}"  # how its SMTP client appears in the trace
        self.cookie_name = f"webmail-{accounts.domain}"  # per domain: cookies ignore ports (RFC 6265 8.5)
        self.sessions = SessionTable(session_idle_timeout)
        self.throttle = LoginThrottle()
        self.summaries = SummaryCache()
        self.endpoint: Endpoint | None = None  # set by mailcourse.servers.webmail
        self._views: dict[str, ExtraView] = {}
        self.stylesheet = (HERE / "static" / STYLESHEET).read_bytes()
        self.stylesheet_etag = '"' + hashlib.sha256(self.stylesheet).hexdigest()[:16] + '"'

    def __repr__(self) -> str:
        return f"<Webmail {self.title} at {self.url or 'not started'}>"

    @property
    def url(self) -> str:
        """Where a browser on this machine opens it: ``http://127.0.0.1:PORT/`` ("" before it listens)."""
        if self.endpoint is None or not self.endpoint.port:
            return ""
        host, port = self.endpoint.address
        return f"http://{host}:{port}/"

    # -- the extension hook ------------------------------------------------------------

    def add_view(self, slug: str, title: str, select: Callable[[MailboxView], list[Summary]]) -> str:
        """Add a page listing the messages ``select(mailbox)`` returns; returns its path, ``view/<slug>``.

        ``slug`` is the last part of its URL (lower-case letters, digits and
        "-"), ``title`` its name in the folder list. Adding a slug again
        replaces the old view.
        """
        if not isinstance(slug, str) or not SLUG.match(slug):
            raise ValueError(f"slug {slug!r}: use lower-case letters, digits and '-', at most 32, e.g. 'flagged'")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("a view needs a title, e.g. 'Flagged'")
        if not callable(select):
            raise TypeError("select must be a function that takes a MailboxView and returns a list of messages")
        self._views = {**self._views, slug: ExtraView(slug, title.strip(), select)}  # a new dict: no lock needed
        return f"view/{slug}"

    def remove_view(self, slug: str) -> None:
        """Take a view added by `add_view` away again (unknown slugs are ignored)."""
        self._views = {k: v for k, v in self._views.items() if k != slug}

    @property
    def views(self) -> list[ExtraView]:
        return list(self._views.values())

    def view(self, slug: str) -> ExtraView | None:
        return self._views.get(slug)

    def mailbox(self, account: str) -> MailboxView:
        """The `MailboxView` of one account ("jane" or "jane@<domain>"): try a selection in a cell first."""
        return MailboxView(self.store, account.partition("@")[0].lower(), self.summaries)

    def smtp(self) -> smtplib.SMTP:
        """An SMTP client connected to the server's submission port, as this webmail's device (blocking)."""
        return self._submission(self.device)

    # -- pages --------------------------------------------------------------------------

    def render(self, request: web.Request, template: str, *, status: int = 200,
               headers: dict[str, str] | None = None, **context: Any) -> web.Response:
        """A page of the webmail: the template with what every page shows (nav, user, notice)."""
        session: Session | None = request.get(SESSION)
        root = relative_root(request)
        folders: list[tuple[str, int]] = []
        if session is not None and session.logged_in:
            mailbox = self.mailbox(session.account or "")
            try:
                folders = [(name, mailbox.unread(name)) for name in mailbox.folders()]
            except StoreError:
                folders = []
        common = {
            "webmail_title": self.title,
            "link": lambda *segments: link(root, *segments),
            "root": root,
            "user": session.address if session is not None and session.logged_in else None,
            "csrf": session.csrf if session is not None else "",
            "folders": folders,
            "views": self.views,
            "notice": session.take_notice() if session is not None else None,
            "current": context.pop("current", None),
        }
        html = templates().get_template(template).render(**common, **context)
        return web.Response(text=html, content_type="text/html", charset="utf-8", status=status, headers=headers)


WEBMAIL = web.AppKey("webmail", Webmail)  # request.app[WEBMAIL] -> the Webmail


def webmail_of(request: web.Request) -> Webmail:
    return request.app[WEBMAIL]


REASONS = {
    400: "The request was not understood.",
    403: "This action needs a valid session: reload the page (or log in again) and try once more.",
    404: "There is no such page, folder or message here.",
    405: "This page cannot be used that way.",
    413: "That was more than this server accepts in one request.",
}


@web.middleware
async def errors(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Refusals become pages of the webmail (status kept), so a person sees what happened."""
    try:
        return await handler(request)
    except StoreError:
        status, reason = 404, REASONS[404]
    except web.HTTPException as e:
        if e.status < 400:
            raise
        status, reason = e.status, (e.text if e.text and not e.text.startswith(f"{e.status}:") else
                                    REASONS.get(e.status, e.reason))
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return webmail_of(request).render(request, "error.html", status=status, status_code=status,
                                      reason=reason, title=title)


@web.middleware
async def guard(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Sessions, logins and CSRF, checked once for every route (see the module docstring)."""
    webmail = webmail_of(request)
    session = webmail.sessions.get(request.cookies.get(webmail.cookie_name))
    request[SESSION] = session
    route = request.match_info.route.name
    if request.method == "POST":
        form = await request.post()  # at most client_max_size bytes, else 413
        presented = form.get("csrf")
        if session is None or not session.csrf_ok(presented if isinstance(presented, str) else None):
            # OWASP: a state-changing request without the session's token is refused and changes nothing.
            raise web.HTTPForbidden(text=REASONS[403])
    if route not in PUBLIC_ROUTES and (session is None or not session.logged_in):
        if request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(relative_root(request) + "login")
        raise web.HTTPForbidden(text=REASONS[403])
    return await handler(request)
