"""A very small browser for the webmail tests, on the standard library's http.client.

It keeps cookies by name (as a browser does for one site), never follows a
redirect by itself (so a test sees the 303 and its Location), remembers the
CSRF token of the last page that had one, and parses each HTML page into its
start tags, which is enough to find rows, links and forms. Plus a tiny
reverse proxy that serves the webmail under a path prefix and strips it, as
jupyter-server-proxy does.
"""
from __future__ import annotations

import http.client
import http.server
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        """Start tags with these attribute values (``class_`` for class)."""
        want = {k.rstrip("_"): v for k, v in attrs.items()}
        return [a for t, a in self.tags if (tag is None or t == tag) and all(a.get(k) == v for k, v in want.items())]

    def has_id(self, element_id: str) -> bool:
        return bool(self.find(id=element_id))

    def rows(self) -> list[tuple[int, str]]:
        """(uid, class) of every message row of the list, in page order."""
        return [(int(a["data-uid"]), a["class"]) for t, a in self.tags
                if t == "tr" and a.get("class", "").startswith("message")]

    def links(self) -> Iterator[tuple[str, str, str]]:
        """(tag, attribute, value) of every href, src and action."""
        for tag, attrs in self.tags:
            for name in ("href", "src", "action"):
                if name in attrs:
                    yield tag, name, attrs[name]


def is_relative(url: str) -> bool:
    """A relative reference: no scheme, no authority, no leading "/" (RFC 3986 section 4.2)."""
    return not url.startswith("/") and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url)


class Browser:
    """Requests to one webmail, as one browser with its cookies."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")  # "" or "/user/x/proxy/1234"
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []  # every Set-Cookie seen, as sent
        self.csrf = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, raw_path: bool = False) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        target = path if raw_path else f"{self.prefix}/{path}"
        try:
            conn.request(method, target, body=body, headers=sent)
            reply = conn.getresponse()
            data = reply.read()
        finally:
            conn.close()
        for value in reply.headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(value)
            name, _, rest = value.partition("=")
            token = rest.split(";", 1)[0]
            if "max-age=0" in value.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = token
        response = Response(reply.status, reply.headers, data)
        if reply.headers.get_content_type() == "text/html":
            parser = _Tags()
            parser.feed(response.text)
            response.tags = parser.tags
            token = response.find("input", name="csrf")
            if token:
                self.csrf = token[0]["value"]
        return response

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, form: dict[str, str] | None = None, *, csrf: bool = True, **kwargs) -> Response:
        form = dict(form or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        return self.request("POST", path, form=form, **kwargs)

    def login(self, username: str, password: str) -> Response:
        """The login form, then the POST; after a 303 the inbox too (for its CSRF token), as a browser would."""
        self.get("login")
        response = self.post("login", {"username": username, "password": password})
        if response.status == 303:
            self.get(urllib.parse.urljoin("login", response.location))
        return response


# -- a reverse proxy that serves the webmail under a prefix, as jupyter-server-proxy does ---------

class PrefixProxy:
    """``http://127.0.0.1:P/<prefix>/...`` -> ``http://127.0.0.1:<port>/...``, headers passed unchanged."""

    def __init__(self, port: int, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")
        target_port = port
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _relay(self) -> None:
                if not self.path.startswith(outer.prefix + "/"):
                    self.send_error(404, "outside the proxied prefix")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers["X-Forwarded-Prefix"] = outer.prefix
                conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=10)
                conn.request(self.command, self.path[len(outer.prefix):], body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                conn.close()
                self.send_response(reply.status, reply.reason)
                for name, value in reply.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _relay

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
