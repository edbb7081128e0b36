"""A web browser that runs in the kernel, for the lab's webmail: `WebmailBrowser` and its `Page`.

The lab's other clients are the standard library's, labelled with the
device that uses them (`mailcourse.clients.smtp`, `.pop3`,
`.imap`). This one is too: `http.client.HTTPConnection` on a socket
that a lab device owns, so the trace says "jane-laptop ->
mail.somewhereelse.com". Around it, `WebmailBrowser` does what a browser does
for a webmail and nothing more:

- one keep-alive HTTP/1.1 connection, opened again if the server closed it
  (RFC 9112 section 9.3);
- cookies kept and sent back: the server sends ``Set-Cookie`` once, the
  browser returns it in a ``Cookie`` header with every later request
  (RFC 6265 sections 4.1 and 4.2); that is how the webmail knows who is
  logged in;
- redirects followed (RFC 9110 section 15.4; a 303 turns a POST into a GET);
- each form's hidden CSRF token sent back with the form.

It runs no scripts and loads no images or style sheets, so the trace shows
exactly one request for each page. Each response becomes a `Page`, which
knows its visible text, its links, its forms and its message table (read
with the standard library's `html.parser`). In a notebook a page shows as a
snapshot with every secret masked (`mailcourse.viz.webmail.snapshot`).
"""
from __future__ import annotations

import html
import http.client
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode, urljoin, urlsplit

from .. import ports
from ..errors import LabError
from ..servers import WEBMAIL
from ..trace import Connection

if TYPE_CHECKING:
    from ..lab import Lab

CSRF_FIELD = "csrf"  # the hidden field of every form of the webmail


def webmail_endpoint(server_or_endpoint: Any) -> Any:
    """The webmail endpoint of a `MailServer`, or the endpoint itself."""
    endpoints = getattr(server_or_endpoint, "endpoints", None)
    if isinstance(endpoints, Mapping):
        if WEBMAIL not in endpoints:
            name = getattr(server_or_endpoint, "hostname", server_or_endpoint)
            raise LabError(f"{name} has no webmail endpoint")
        return endpoints[WEBMAIL]
    return server_or_endpoint



# -- HTML pages, parsed ------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A link of a page: its visible text and where it points (relative, as the page says)."""

    text: str
    href: str


@dataclass(frozen=True)
class MessageRow:
    """One row of a page's message table (``table#messages``, ``tr.message``)."""

    uid: int
    sender: str
    subject: str
    date: str
    unread: bool
    href: str | None  # the link that opens the message
    folder: str | None = None
    flagged: bool = False  # the row shows the flag mark (its star is not part of the subject)


@dataclass
class Form:
    """A form of a page: where it goes, how, and its fields with their values (hidden ones too)."""

    id: str
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


_BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "form",
           "header", "footer", "nav", "section", "article", "main", "pre", "dt", "dd", "dl", "hr", "aside",
           "blockquote", "thead", "tbody", "caption", "figure", "figcaption", "label"}
_HIDDEN = {"script", "style", "head", "template", "iframe", "noscript", "title"}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}
_SENDER_WORDS = ("sender", "from")


class _PageParser(HTMLParser):
    """One pass over a page: visible text, links, forms, the message table, the title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[Link] = []
        self.forms: list[Form] = []
        self.title = ""
        self.rows: list[MessageRow] = []
        self._hidden = 0  # depth inside elements whose text is not shown
        self._in_title = False
        self._link: tuple[str, list[str]] | None = None  # (href, text) of the open <a>
        self._table_depth = 0  # > 0 inside table#messages (counts nested tables)
        self._headers: list[str] = []  # the table's column names (th), lower case
        self._in_th = False
        self._row: dict[str, Any] | None = None
        self._cell: dict[str, Any] | None = None
        self._in_flag = False  # inside a row's flag mark (span.flag)

    # The parser hands every tag to one of these three methods.

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        classes = a.get("class", "").split()
        if tag in _HIDDEN and tag not in _VOID:
            self._hidden += 1
            self._in_title = self._in_title or tag == "title"
        if tag in _BLOCKS:
            self.text.append("\n")
        if tag == "a" and "href" in a:
            self._link = (a["href"], [])
        elif tag == "form":
            self.forms.append(Form(a.get("id", ""), a.get("action", ""), a.get("method", "get").lower()))
        elif tag in ("input", "textarea", "select", "button") and self.forms and a.get("name"):
            if tag != "button" and a.get("type", "") not in ("checkbox", "radio") or "checked" in a:
                self.forms[-1].fields.setdefault(a["name"], a.get("value", ""))
        elif tag == "table":
            if self._table_depth or a.get("id") == "messages":
                self._table_depth += 1
        elif self._table_depth == 1:
            if tag == "th":
                self._in_th = True
                self._headers.append("")
            elif tag == "tr" and "message" in classes:
                self._row = {"uid": a.get("data-uid", ""), "folder": a.get("data-folder"),
                             "unread": "unread" in classes, "cells": [], "href": None}
            elif tag == "td" and self._row is not None:
                self._cell = {"classes": classes, "text": []}
            elif tag == "span" and "flag" in classes and self._row is not None:
                self._row["flagged"], self._in_flag = True, True
        if tag == "a" and self._row is not None and self._row["href"] is None and "href" in a:
            self._row["href"] = a["href"]

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self._hidden:
            self._hidden -= 1
            if tag == "title":
                self._in_title = False
        if tag in _BLOCKS:
            self.text.append("\n")
        if tag == "a" and self._link is not None:
            href, words = self._link
            self.links.append(Link(" ".join("".join(words).split()), href))
            self._link = None
        elif tag == "table" and self._table_depth:
            self._table_depth -= 1
        elif tag == "th":
            self._in_th = False
        elif tag == "span" and self._in_flag:
            self._in_flag = False
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row["cells"].append((self._cell["classes"], " ".join("".join(self._cell["text"]).split())))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._finish_row(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._hidden:
            return
        self.text.append(data)
        if self._link is not None:
            self._link[1].append(data)
        if self._in_th and self._headers:
            self._headers[-1] += data.strip().lower()
        if self._cell is not None and not self._in_flag:
            self._cell["text"].append(data)

    def _finish_row(self, row: dict[str, Any]) -> None:
        cells: list[tuple[list[str], str]] = row["cells"]

        def column(*words: str) -> str:
            for classes, text in cells:  # a cell's class says what it holds...
                if any(word in classes for word in words):
                    return text
            for index, name in enumerate(self._headers):  # ... or its column's heading does
                if any(word in name for word in words) and index < len(cells):
                    return cells[index][1]
            return ""

        uid = row["uid"]
        self.rows.append(MessageRow(int(uid) if str(uid).isdigit() else 0, column(*_SENDER_WORDS),
                                    column("subject"), column("date", "received"), row["unread"],
                                    row["href"], row["folder"], row.get("flagged", False)))


def _visible_text(parts: list[str]) -> str:
    lines = [" ".join(line.split()) for line in "".join(parts).splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


@dataclass(eq=False)
class Page:
    """One response of the webmail, as a browser got it.

    ``url`` is the path asked for (after redirects), ``status`` the HTTP
    status code (RFC 9110 section 15), ``headers`` the response's header
    fields, ``html`` the page. Parsed on demand: ``text`` (what a reader
    sees), ``links``, ``forms``, ``messages`` (the rows of the message
    table), ``title``. In a notebook a page shows as a snapshot with every
    secret masked (see `WebmailBrowser`).
    """

    status: int
    reason: str
    url: str
    headers: list[tuple[str, str]]
    html: str
    secrets: tuple[str, ...] = ()  # session ids and CSRF tokens known when the page came
    css: str = ""  # the webmail's style sheet, for the snapshot
    redirected_from: list[tuple[int, str]] = field(default_factory=list)  # (status, url) of each redirect
    _parsed: _PageParser | None = field(default=None, repr=False)

    def _parse(self) -> _PageParser:
        if self._parsed is None:
            self._parsed = _PageParser()
            self._parsed.feed(self.html)
            self._parsed.close()
        return self._parsed

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The text a reader sees, one line per block, without markup, scripts or styles."""
        return _visible_text(self._parse().text)

    @property
    def title(self) -> str:
        return " ".join(self._parse().title.split())

    @property
    def links(self) -> list[Link]:
        return list(self._parse().links)

    @property
    def forms(self) -> list[Form]:
        return list(self._parse().forms)

    @property
    def messages(self) -> list[MessageRow]:
        """The rows of the page's message table, top to bottom (empty if it has none)."""
        return list(self._parse().rows)

    def form(self, form_id: str | None = None, action: str | None = None) -> Form | None:
        """The form with this id, or the one that posts to ``action`` (a path, resolved like a link)."""
        for form in self.forms:
            if form_id is not None and form.id == form_id:
                return form
            if action is not None and urlsplit(urljoin(self.url, form.action)).path == urlsplit(action).path:
                return form
        return None

    def header(self, name: str) -> str | None:
        """The first header field called ``name`` (any case), or None."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def element(self, element_id: str) -> bool:
        """Does the page hold an element with this id?"""
        return re.search(rf'\bid\s*=\s*["\']?{re.escape(element_id)}["\'\s>]', self.html) is not None

    def __repr__(self) -> str:
        return f"<Page {self.status} {self.reason} {self.url}: {self.title or 'untitled'}>"

    def _repr_html_(self) -> str:
        from .snapshot import snapshot  # a picture of the page: no scripts, no live links, no secrets

        return snapshot(self)


# -- a browser in the kernel --------------------------------------------------------------------------------


class _DeviceConnection(http.client.HTTPConnection):
    """`http.client.HTTPConnection` from a socket that a lab device owns.

    The socket is bound and claimed for the device *before* it connects, so
    the tap names the connection after the device from its first byte.
    """

    def __init__(self, host: str, port: int, device: str, claim: Any, timeout: float,
                 opened: list[tuple[str, int]]) -> None:
        super().__init__(host, port, timeout=timeout)
        self.device = device
        self._claim = claim
        self._opened = opened  # the browser's list of the client addresses it connected from

    def connect(self) -> None:
        sock = ports.client_socket("127.0.0.1")  # not port 0: see mailcourse.ports
        try:
            self._claim(sock, self.device)
            sock.settimeout(self.timeout)
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._opened.append(sock.getsockname()[:2])
        self.sock = sock


_REDIRECTS = {301, 302, 303, 307, 308}


class WebmailBrowser:
    """A web browser that runs in the kernel, on behalf of one lab device.

    It does what a browser does for a webmail, and nothing more: one
    keep-alive HTTP/1.1 connection (opened again if the server closes it),
    cookies kept and sent back (RFC 6265), redirects followed (RFC 9110
    section 15.4; a 303 turns a POST into a GET), and each form's hidden
    CSRF token sent back with the form. It runs no scripts and loads no
    images or style sheets, so the trace shows exactly one request for
    each page.

        >>> web = WebmailBrowser(lab, lab.server("somewhereelse.com"))
        >>> inbox = web.login("jane@somewhereelse.com", "jane-password")
        >>> [row.subject for row in inbox.messages]
        >>> web.open("Lunch tomorrow")             # the page of that message

    A path such as "login" or "mailbox/INBOX" starts at the webmail's root;
    one that starts with "./" or "../", as the webmail's own links do, starts
    at the page shown now, as in a browser.
    """

    def __init__(self, lab: Lab, server: Any, device: str = "jane-laptop", timeout: float = 10.0) -> None:
        self.lab = lab
        self.server = server
        self.device = device
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.page: Page | None = None  # the page the browser shows now
        self.history: list[Page] = []
        self._secrets: set[str] = set()
        self._http: _DeviceConnection | None = None
        self._opened: list[tuple[str, int]] = []  # where each of its connections came from

    # -- the connection ----------------------------------------------------------------------

    def _connection(self) -> _DeviceConnection:
        client = self.lab.clients.get(self.device)
        if client is not None and not client.online:
            raise LabError(f"{self.device} is offline: a webmail needs a connection to the server")
        host, port = self.lab.endpoint_address(webmail_endpoint(self.server))
        if self._http is None or (self._http.host, self._http.port) != (host, port):
            self.close()
            self._http = _DeviceConnection(host, port, self.device, self.lab.network.claim, self.timeout,
                                           self._opened)
        return self._http

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connections(self) -> list[Connection]:
        """The HTTP sessions this browser opened, from the trace (by the address each came from)."""
        mine = set(self._opened)
        return [c for c in self.lab.trace.sessions(protocol="HTTP") if tuple(c.client_addr) in mine]

    def requests(self) -> list[str]:
        """What this browser asked and was answered, from the trace: "POST /send -> 303", in order."""
        return [f"{e.method} {urlsplit(e.target).path} -> {e.status or 'no response'}"
                for conn in self.connections for e in self.lab.trace.http_exchanges(conn)]

    # -- requests ----------------------------------------------------------------------------------

    def _path(self, path: str) -> str:
        """Where ``path`` leads: "mailbox/INBOX" from the webmail's root, "../x" or "./x" from the page shown."""
        if path.startswith(("./", "../", "?")) and self.page is not None:
            return urljoin(self.page.url, path)
        return urljoin("/", path.removeprefix("./"))

    def _send(self, method: str, path: str, body: bytes | None = None,
              content_type: str | None = None) -> tuple[int, str, list[tuple[str, str]], bytes]:
        headers = {"Accept": "text/html", "User-Agent": f"mailcourse-browser ({self.device})"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = content_type or "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed the kept-alive connection meanwhile: a browser opens a new one.
                self.close()
                if attempt == 2:
                    raise
        fields = list(response.getheaders())
        for name, value in fields:
            if name.lower() == "set-cookie":
                self._take_cookie(value)
        if response.will_close:
            self.close()
        return response.status, response.reason, fields, data

    def _take_cookie(self, header: str) -> None:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            gone = morsel["max-age"] in ("0", "-1") or (morsel["expires"] and "1970" in morsel["expires"])
            if gone or morsel.value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value
                self._secrets.add(morsel.value)

    def _request(self, method: str, path: str, fields: Mapping[str, str] | None = None,
                 follow: bool = True) -> Page:
        url = self._path(path)
        body = urlencode(list(fields.items())).encode() if fields is not None else None
        redirects: list[tuple[int, str]] = []
        while True:
            status, reason, headers, data = self._send(method, url, body)
            location = next((v for k, v in headers if k.lower() == "location"), None)
            if not (follow and status in _REDIRECTS and location) or len(redirects) >= 10:
                break
            redirects.append((status, url))
            url = urljoin(url, location)
            if status in (301, 302, 303) and method == "POST":
                method, body = "GET", None
        charset = "utf-8"
        for key, value in headers:
            if key.lower() == "content-type" and "charset=" in value:
                charset = value.split("charset=", 1)[1].split(";")[0].strip()
        text = data.decode(charset, "replace")
        for token in re.findall(r"""name\s*=\s*["']?csrf["']?[^>]*?\svalue\s*=\s*["']?([^"'\s>]+)""", text):
            self._secrets.add(html.unescape(token))
        page = Page(status, reason, url, headers, text, tuple(sorted(self._secrets)), self._css(),
                    redirects)
        self.page = page
        self.history.append(page)
        return page

    def _css(self) -> str:
        """The webmail's style sheet, read where the server keeps it (no request, so no extra trace)."""
        webmail = getattr(self.server, WEBMAIL, None)
        for name in ("stylesheet", "css"):
            value = getattr(webmail, name, None)
            value = value() if callable(value) else value
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str):
                return value
        try:
            from importlib.resources import files

            static = files("mailcourse.webmail").joinpath("static")
            return "\n".join(p.read_text(encoding="utf-8") for p in sorted(static.iterdir(), key=lambda p: p.name)
                             if p.name.endswith(".css"))
        except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, OSError):
            return ""

    def get(self, path: str = "", follow: bool = True) -> Page:
        """GET ``path`` and show the result (see the class's docstring for where a path starts)."""
        return self._request("GET", path or "/", follow=follow)

    def post(self, path: str, fields: Mapping[str, str] | None = None, follow: bool = True) -> Page:
        """POST a form to ``path``, with the CSRF token of the page it came from.

        The token is taken from the form of the current page that posts to
        ``path`` (or from any form of it that has one), as a browser sends
        the hidden fields of the form you submit.
        """
        fields = dict(fields or {})
        if CSRF_FIELD not in fields and self.page is not None:
            form = self.page.form(action=self._path(path))
            if form is not None and CSRF_FIELD in form.fields:
                fields[CSRF_FIELD] = form.fields[CSRF_FIELD]
        return self._request("POST", path, fields, follow=follow)

    # -- what a user does ----------------------------------------------------------------------------

    def login(self, user: str, password: str) -> Page:
        """Fill in the login form and send it; returns the page it leads to (the inbox).

        The login page is fetched first unless the browser shows it already.
        """
        if self.page is None or self.page.form("login") is None:
            self.get("login")
        return self.post("login", {"username": user, "password": password})

    def logout(self) -> Page:
        """Press the page's "Log out" button (a form, so that it carries the CSRF token)."""
        form = self.page.form("logout") if self.page is not None else None
        return self.post(form.action if form is not None else "/logout")

    def open(self, subject: str) -> Page:
        """Click the message called ``subject`` in the message list shown now (the first if several)."""
        if self.page is None:
            raise LabError("the browser shows no page yet: log in first")
        rows = self.page.messages
        wanted = " ".join(subject.split()).casefold()
        row = next((r for r in rows if r.subject.casefold() == wanted), None)
        if row is None:
            shown = ", ".join(repr(r.subject) for r in rows) or "no message"
            raise LabError(f"no message called {subject!r} in the list shown ({shown})")
        if row.href is None:
            raise LabError(f"the row of {subject!r} has no link")
        return self.get(row.href)

    def __repr__(self) -> str:
        where = self.page.url if self.page is not None else "no page"
        return f"<WebmailBrowser of {self.device}: {where}>"
